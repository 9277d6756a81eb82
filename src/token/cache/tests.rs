//! The in-process cache: keys, hits, single flight, proactive refresh, users bounded.

use super::*;

fn never() -> Deadline {
    Deadline::after(std::time::Duration::from_secs(60))
}

#[test]
fn bound_tokens_have_their_own_keys_and_are_forgotten_with_their_certificate() {
    let scopes = vec!["api://a/.default".to_string()];
    let bearer = CacheKey::new("https://x/", "c", "t", &scopes, "Bearer");
    let pop = CacheKey::new("https://x/", "c", "t", &scopes, "mtls_pop");
    let old = pop.clone().bound("AA11");
    let new = pop.clone().bound("BB22");
    assert!(bearer != pop && old != new && old != pop);
    let cache = TokenCache::default();
    for (key, token) in [(&bearer, "b"), (&old, "o"), (&new, "n")] {
        let fetched = cache.get_or_fetch(key, Lookup::UseCache, never(), |_| {
            Ok((
                AccessToken {
                    token: token.to_string(),
                    expires_on: unix_now() + 3600,
                },
                None,
            ))
        });
        assert_eq!(fetched.unwrap().token, token);
    }
    cache.forget_bound_to("AA11");
    let again = |key: &CacheKey| {
        cache
            .get_or_fetch(key, Lookup::UseCache, never(), |_| {
                Ok((
                    AccessToken {
                        token: "refetched".into(),
                        expires_on: unix_now() + 3600,
                    },
                    None,
                ))
            })
            .unwrap()
            .token
    };
    assert_eq!(again(&bearer), "b");
    assert_eq!(again(&new), "n");
    assert_eq!(again(&old), "refetched");
}
use std::sync::atomic::{AtomicUsize, Ordering};

fn token(name: &str, lifetime: i64) -> AccessToken {
    AccessToken {
        token: name.to_string(),
        expires_on: unix_now() + lifetime,
    }
}

#[test]
fn hits_do_not_fetch_and_short_tokens_are_refetched() {
    let cache = TokenCache::default();
    let key = CacheKey::new("a", "c", "t", &["s".into()], "Bearer");
    let fetches = AtomicUsize::new(0);
    let fetch = |lifetime| {
        fetches.fetch_add(1, Ordering::SeqCst);
        Ok((token("t", lifetime), None))
    };
    cache
        .get_or_fetch(&key, Lookup::UseCache, never(), |_| fetch(3600))
        .unwrap();
    cache
        .get_or_fetch(&key, Lookup::UseCache, never(), |_| fetch(3600))
        .unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    cache
        .get_or_fetch(&key, Lookup::Bypass, never(), |_| fetch(200))
        .unwrap();
    // 200 s left is inside the five-minute margin: not handed out again.
    cache
        .get_or_fetch(&key, Lookup::UseCache, never(), |_| fetch(3600))
        .unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 3);
}

#[test]
fn a_panicking_fetch_does_not_strand_its_flight() {
    let cache = TokenCache::default();
    let key = CacheKey::new("a", "c", "t", &["s".into()], "Bearer");
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cache.get_or_fetch(&key, Lookup::UseCache, never(), |_| {
            panic!("fetch failed hard")
        })
    }));
    assert!(unwound.is_err());
    let token = cache.get_or_fetch(&key, Lookup::UseCache, never(), |_| {
        Ok((token("next", 3600), None))
    });
    assert_eq!(token.unwrap().token, "next");
}

#[test]
fn a_failed_proactive_refresh_keeps_the_old_token_and_backs_off() {
    let cache = TokenCache::default();
    let key = CacheKey::new("a", "c", "t", &["s".into()], "Bearer");
    // Refresh is due now, the token is valid for an hour.
    let refresh_now = Some(unix_now() - 1);
    cache
        .get_or_fetch(&key, Lookup::Bypass, never(), |_| {
            Ok((token("old", 3600), refresh_now))
        })
        .unwrap();
    let mut urgency = None;
    let token = cache.get_or_fetch(&key, Lookup::UseCache, never(), |u| {
        urgency = Some(u);
        Err(Error::new(ErrorKind::TokenAcquisition, "throttled"))
    });
    assert_eq!(token.unwrap().token, "old");
    assert_eq!(urgency, Some(Urgency::Proactive));
    // Backing off: the next call neither fetches nor fails.
    let token = cache.get_or_fetch(&key, Lookup::UseCache, never(), |_| {
        unreachable!("backing off")
    });
    assert_eq!(token.unwrap().token, "old");
}

#[test]
fn user_tokens_are_bounded_and_the_least_recently_used_go_first() {
    let cache = TokenCache::new(None, 10);
    let user = |n: usize| {
        CacheKey::new("a", "c", "t", &["s".into()], "Bearer").for_user("user", &n.to_string())
    };
    let fetch = |_| Ok((token("t", 3600), None));
    for n in 0..10 {
        cache
            .get_or_fetch(&user(n), Lookup::UseCache, never(), fetch)
            .unwrap();
    }
    // User 0 is used again; user 1 is now the least recently used.
    cache
        .get_or_fetch(&user(0), Lookup::UseCache, never(), |_| unreachable!())
        .unwrap();
    cache
        .get_or_fetch(&user(10), Lookup::UseCache, never(), fetch)
        .unwrap();
    let kept = |n| cache.fresh_with(&user(n), |_| ()).is_some();
    assert!(kept(0) && kept(10) && !kept(1));
    let users = cache.user_tokens.load(Ordering::Relaxed);
    assert!((8..=10).contains(&users), "{users}");
    // App tokens are not counted nor evicted.
    let app = CacheKey::new("a", "c", "t", &["app".into()], "Bearer");
    cache
        .get_or_fetch(&app, Lookup::UseCache, never(), fetch)
        .unwrap();
    assert_eq!(cache.user_tokens.load(Ordering::Relaxed), users);
}

#[test]
fn a_waiter_gives_up_at_its_own_deadline_not_the_leaders() {
    let cache = Arc::new(TokenCache::default());
    let key = CacheKey::new("a", "c", "t", &["slow".into()], "Bearer");
    let (release, released) = std::sync::mpsc::channel::<()>();
    let leader = {
        let (cache, key) = (cache.clone(), key.clone());
        std::thread::spawn(move || {
            cache.get_or_fetch(&key, Lookup::UseCache, never(), |_| {
                let _ = released.recv();
                Ok((token("late", 3600), None))
            })
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let started = std::time::Instant::now();
    let soon = Deadline::after(std::time::Duration::from_millis(100));
    let waited = cache.get_or_fetch(&key, Lookup::UseCache, soon, |_| unreachable!());
    assert_eq!(waited.unwrap_err().kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    release.send(()).unwrap();
    assert_eq!(leader.join().unwrap().unwrap().token, "late");
}

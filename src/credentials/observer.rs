//! Credential events, as Id.Web's `ICredentialsObserver` sees them — which certificate was selected,
//! deselected after a rejection, or successfully used for a call — and how they are delivered:
//! on the calling thread, with no internal lock held, and held back while a token request that
//! other threads wait for is in flight (see [`deferring_events`]).

use std::cell::RefCell;
use std::sync::Arc;

/// What happened to a credential (Id.Web's `CredentialDescription` events, plus expiry warnings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A credential became the one in use (first use, or after a rotation).
    Selected,
    /// The credential in use was rejected and dropped; `error` says why.
    Deselected,
    /// A call authenticated with the credential succeeded.
    SuccessfullyUsed,
    /// The certificate in use expires within `AzureAd.CertificateExpiryWarningDays`; raised at
    /// most once a day per certificate. `days_left` says how soon.
    ExpiringSoon,
}

/// What an observer receives. Borrowed: copy what you keep.
#[derive(Debug, Clone, Copy)]
pub struct CredentialEvent<'a> {
    /// What happened.
    pub kind: EventKind,
    /// SHA-1 thumbprint of the certificate, upper-case hex (empty for a secret).
    pub thumbprint: &'a str,
    /// The certificate's subject, e.g. "CN=orders-client".
    pub subject: &'a str,
    /// Which `ClientCredentials` entry, e.g. "ClientCredentials\[0\] (Path)".
    pub source: &'a str,
    /// "MTLS", "Bearer", ...
    pub protocol: &'a str,
    /// The URL called, with its query and user information redacted.
    pub api_url: &'a str,
    /// Why the credential was deselected: with `Deselected` only.
    pub error: Option<&'a str>,
    /// Whole days until the certificate expires: with `ExpiringSoon` only.
    pub days_left: Option<i64>,
}

/// A callback receiving credential events ([`DownstreamApi::add_observer`](crate::DownstreamApi::add_observer)),
/// on the calling thread with no internal lock held.
pub type Observer = Arc<dyn Fn(&CredentialEvent) + Send + Sync>;

/// The call a credential event belongs to (its URL is redacted when an event is emitted).
#[derive(Debug, Clone, Copy)]
pub struct Usage<'a> {
    pub protocol: &'a str,
    pub api_url: &'a str,
}

/// An observer event kept, with its observers, until it can be delivered.
pub(super) struct PendingEvent {
    pub(super) observers: Vec<Observer>,
    pub(super) kind: EventKind,
    pub(super) thumbprint: String,
    pub(super) subject: String,
    pub(super) source: Arc<str>,
    pub(super) protocol: String,
    pub(super) api_url: String,
    pub(super) error: Option<String>,
    pub(super) days_left: Option<i64>,
}

impl PendingEvent {
    /// Delivers the event now, or queues it when this thread is inside [`deferring_events`].
    pub(super) fn emit(self) {
        let held_back = DEFERRED.with(|queue| match queue.borrow_mut().as_mut() {
            Some(queue) => {
                queue.push(self);
                None
            }
            None => Some(self),
        });
        if let Some(event) = held_back {
            event.deliver();
        }
    }

    fn deliver(self) {
        let event = CredentialEvent {
            kind: self.kind,
            thumbprint: &self.thumbprint,
            subject: &self.subject,
            source: &self.source,
            protocol: &self.protocol,
            api_url: &self.api_url,
            error: self.error.as_deref(),
            days_left: self.days_left,
        };
        for observer in &self.observers {
            observer(&event);
        }
    }
}

thread_local! {
    /// Events raised on this thread inside [`deferring_events`], not yet delivered.
    static DEFERRED: RefCell<Option<Vec<PendingEvent>>> = const { RefCell::new(None) };
}

/// Runs `body`, holding back the observer events it raises on this thread until it returns. Used
/// around work that others may be waiting for (a token request in flight), so that an observer
/// calling back into the library does not wait for the very work that is notifying it.
pub fn deferring_events<T>(body: impl FnOnce() -> T) -> T {
    let outermost = DEFERRED.with(|queue| {
        let mut queue = queue.borrow_mut();
        let outermost = queue.is_none();
        if outermost {
            *queue = Some(Vec::new());
        }
        outermost
    });
    if !outermost {
        return body();
    }
    /// Ends the deferral even if `body` unwinds (its events are then dropped).
    struct EndDeferral;
    impl Drop for EndDeferral {
        fn drop(&mut self) {
            DEFERRED.with(|queue| queue.borrow_mut().take());
        }
    }
    let end = EndDeferral;
    let result = body();
    let pending = DEFERRED
        .with(|queue| queue.borrow_mut().take())
        .unwrap_or_default();
    drop(end);
    for event in pending {
        event.deliver();
    }
    result
}

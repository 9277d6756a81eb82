//! The circuit breaker in front of Redis: after a failure, Redis is skipped (calls go straight to
//! the token endpoint, paying nothing) for a pause that doubles with each failure in a row, from
//! 250 ms up to 2 s; then one operation tries again. An outage is reported once at its start, as
//! a warning, and once at its end.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Breaker {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    open_until: Option<Instant>,
    failures_in_a_row: u32,
}

impl Breaker {
    /// Whether an operation may be tried now.
    pub fn allows(&self) -> bool {
        self.state
            .lock()
            .open_until
            .is_none_or(|until| Instant::now() >= until)
    }

    /// Records a failure; `describe` says what failed (no secret in it), reported at the start
    /// of an outage.
    pub fn failed(&self, describe: impl FnOnce() -> String) {
        let mut state = self.state.lock();
        let pause = FIRST_PAUSE
            .saturating_mul(1 << state.failures_in_a_row.min(8))
            .min(LONGEST_PAUSE);
        state.open_until = Some(Instant::now() + pause);
        state.failures_in_a_row += 1;
        if state.failures_in_a_row == 1 {
            drop(state);
            crate::log::warn(|| {
                format!(
                    "{}; the shared token cache is skipped (tokens come from the token endpoint) \
                     until Redis answers again",
                    describe()
                )
            });
        }
    }

    /// Records a success, ending an outage.
    pub fn succeeded(&self) {
        let mut state = self.state.lock();
        if state.failures_in_a_row > 0 {
            let failures = state.failures_in_a_row;
            *state = State::default();
            drop(state);
            crate::log::warn(|| {
                format!(
                    "Redis answers again after {failures} failed attempt(s): the shared token cache is used again"
                )
            });
        }
    }

    /// Whether Redis is being skipped (for tests and benchmarks).
    pub fn is_open(&self) -> bool {
        !self.allows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_and_a_success_closes_it() {
        let breaker = Breaker::default();
        assert!(breaker.allows());
        breaker.failed(|| "down".to_string());
        assert!(!breaker.allows());
        std::thread::sleep(FIRST_PAUSE + Duration::from_millis(20));
        assert!(breaker.allows());
        breaker.failed(|| "down".to_string());
        std::thread::sleep(FIRST_PAUSE + Duration::from_millis(20));
        assert!(!breaker.allows(), "the second pause is twice as long");
        breaker.succeeded();
        assert!(breaker.allows());
    }
}

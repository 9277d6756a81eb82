//! The circuit breaker in front of Redis: after a failure, Redis is skipped (calls go straight to
//! the token endpoint, paying nothing) for a pause that doubles with each failure in a row, from
//! 250 ms up to 2 s; then one operation, and only one at a time, probes it. An outage is reported
//! once at its start, as a warning, and once at its end.

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
    /// During an outage: when the next probe may go.
    open_until: Option<Instant>,
    failures_in_a_row: u32,
    /// A probe is in flight: others keep skipping Redis until it ends.
    probing: bool,
}

/// What an operation may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Redis is healthy.
    Go,
    /// Redis failed; this operation is the one probing whether it is back.
    Probe,
    /// Skip Redis.
    Skip,
}

impl Breaker {
    /// Whether an operation may be tried now; during an outage, one probe after each pause.
    pub fn permit(&self) -> Permit {
        let mut state = self.state.lock();
        match state.open_until {
            None => Permit::Go,
            Some(until) if Instant::now() >= until && !state.probing => {
                state.probing = true;
                Permit::Probe
            }
            Some(_) => Permit::Skip,
        }
    }

    /// Whether Redis failed and has not answered since.
    pub fn in_outage(&self) -> bool {
        self.state.lock().open_until.is_some()
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
        state.probing = false;
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

    /// A probe that could not run (no connection free in time): the next operation probes.
    pub fn probe_abandoned(&self) {
        self.state.lock().probing = false;
    }

    /// Records a success, ending an outage.
    pub fn succeeded(&self) {
        let mut state = self.state.lock();
        if state.open_until.is_some() {
            let failures = state.failures_in_a_row;
            *state = State::default();
            drop(state);
            crate::log::warn(|| {
                format!(
                    "Redis answers again after {failures} failed attempt(s): the shared token \
                     cache is used again"
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_after_each_pause_and_a_success_closes_it() {
        let breaker = Breaker::default();
        assert_eq!(breaker.permit(), Permit::Go);
        breaker.failed(|| "down".to_string());
        assert_eq!(breaker.permit(), Permit::Skip);
        assert!(breaker.in_outage());
        std::thread::sleep(FIRST_PAUSE + Duration::from_millis(50));
        assert_eq!(breaker.permit(), Permit::Probe);
        assert_eq!(breaker.permit(), Permit::Skip, "one probe at a time");
        breaker.failed(|| "still down".to_string());
        assert_eq!(breaker.permit(), Permit::Skip, "a new pause");
        assert!(breaker.in_outage());
        breaker.succeeded();
        assert_eq!(breaker.permit(), Permit::Go);
        assert!(!breaker.in_outage());
    }
}

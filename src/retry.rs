//! The one retry driver. Each path makes one attempt and says what should happen next: done, or
//! retry with a named [`Remedy`] (and what to return if that retry is not granted), or fail (an
//! `Err`). The driver grants a remedy while its budget lasts and its wait ends before the deadline,
//! waits, logs the retry once and runs the next attempt, which applies the remedy it was granted.
//! It is the only retry loop in the library; the model is ureq's `run.rs`.

use std::time::Duration;

use crate::clock::Deadline;
use crate::error::Result;
use crate::remedy::{Budget, Remedy};

/// What one attempt came to, when it did not fail outright.
pub enum Step<T> {
    Done(T),
    Retry(Retry<T>),
}

/// A retry an attempt asks for.
pub struct Retry<T> {
    pub remedy: Remedy,
    /// Why, for the log line and for the remedy (the rejection a certificate reload reports).
    pub reason: String,
    /// The wait the server asked for; `None`: the remedy's own schedule.
    pub wait: Option<Duration>,
    /// What the call returns when the retry is not granted: the response or error as it is.
    pub otherwise: Result<T>,
}

impl<T> Step<T> {
    /// A retry with `remedy` for `reason`, on the remedy's own schedule; `otherwise` is returned
    /// when it is not granted.
    pub fn retry(remedy: Remedy, reason: String, otherwise: Result<T>) -> Step<T> {
        Step::Retry(Retry {
            remedy,
            reason,
            wait: None,
            otherwise,
        })
    }

    /// A retry for an error that names its remedy (and perhaps the server's wait); an error
    /// naming none fails the call.
    pub fn retry_error(error: crate::error::Error) -> Result<Step<T>> {
        match error.remedy() {
            Some(remedy) => Ok(Step::Retry(Retry {
                remedy,
                reason: error.message().to_string(),
                wait: error.retry_after(),
                otherwise: Err(error),
            })),
            None => Err(error),
        }
    }
}

/// The retry the driver granted, handed to the next attempt to apply.
#[derive(Debug)]
pub struct Granted {
    pub remedy: Remedy,
    pub reason: String,
}

/// One run of retries: a deadline, and whether waiting is allowed at all (a proactive refresh
/// holding a valid token does not sleep on a server's `Retry-After`).
pub struct Driver<'a> {
    deadline: Deadline,
    may_wait: bool,
    spent: [u32; Remedy::ALL.len()],
    /// What is being retried, for the log line (made only when a retry is logged).
    subject: Option<&'a dyn Fn() -> String>,
}

impl<'a> Driver<'a> {
    pub fn new(deadline: Deadline) -> Driver<'a> {
        Driver {
            deadline,
            may_wait: true,
            spent: [0; Remedy::ALL.len()],
            subject: None,
        }
    }

    /// No retry that needs a wait is granted.
    pub fn without_waits(mut self) -> Driver<'a> {
        self.may_wait = false;
        self
    }

    /// Names what is retried in the log lines (such as the API's redacted URL).
    pub fn about(mut self, subject: &'a dyn Fn() -> String) -> Driver<'a> {
        self.subject = Some(subject);
        self
    }

    /// Runs `attempt` until it is done or fails, or asks for a retry that is not granted. The
    /// loop ends: every remedy has a budget, and the one without a count is bounded by time.
    pub fn run<T>(
        mut self,
        mut attempt: impl FnMut(Option<&Granted>) -> Result<Step<T>>,
    ) -> Result<T> {
        let mut granted = None;
        loop {
            let retry = match attempt(granted.as_ref())? {
                Step::Done(value) => return Ok(value),
                Step::Retry(retry) => retry,
            };
            match self.grant(retry) {
                Ok(next) => granted = Some(next),
                Err(outcome) => return outcome,
            }
        }
    }

    /// Grants `retry` (after its wait) or returns what the call ends with instead.
    fn grant<T>(&mut self, retry: Retry<T>) -> std::result::Result<Granted, Result<T>> {
        let remedy = retry.remedy;
        let slot = Remedy::ALL.iter().position(|r| *r == remedy).unwrap_or(0);
        let nth = self.spent[slot];
        let within_budget = match remedy.budget() {
            Budget::Times(times) => nth < times,
            Budget::WhileTimeLeft => true,
        };
        if !within_budget {
            return Err(match (retry.otherwise, remedy.spent_context()) {
                (Err(error), Some(context)) => Err(error.context(context)),
                (otherwise, _) => otherwise,
            });
        }
        let wait = retry.wait.unwrap_or_else(|| remedy.default_wait(nth));
        let wait_allowed = wait.is_zero() || (self.may_wait && self.deadline.allows(wait));
        if !wait_allowed {
            return Err(match retry.otherwise {
                Err(error) if self.may_wait => Err(error.context(format!(
                    "not retrying after {:.1} s: that would exceed the call's timeout",
                    wait.as_secs_f32()
                ))),
                otherwise => otherwise,
            });
        }
        self.spent[slot] += 1;
        crate::metrics::retry(slot);
        log_retry(self.subject, &retry.reason, remedy, (nth + 1, wait));
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        Ok(Granted {
            remedy,
            reason: retry.reason,
        })
    }
}

fn log_retry(
    subject: Option<&dyn Fn() -> String>,
    reason: &str,
    remedy: Remedy,
    (nth, wait): (u32, Duration),
) {
    let line = || {
        let count = match remedy.budget() {
            Budget::Times(times) => format!("retry {nth} of {times}"),
            Budget::WhileTimeLeft => "retrying".to_string(),
        };
        let subject = subject.map(|s| s() + ": ").unwrap_or_default();
        format!(
            "{subject}{reason}; {count} in {:.1} s: {} ({remedy})",
            wait.as_secs_f32(),
            remedy.action()
        )
    };
    if remedy.logs_every_grant() {
        crate::log::info(line);
    } else if nth == 1 {
        crate::log::debug(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, ErrorKind};

    fn soon() -> Deadline {
        Deadline::after(Duration::from_secs(30))
    }

    fn refused(remedy: Remedy) -> Error {
        Error::new(ErrorKind::TokenAcquisition, "refused").calling_for(remedy, None)
    }

    #[test]
    fn a_remedy_is_granted_within_its_budget_then_the_error_is_returned() {
        let mut attempts = 0;
        let outcome: Result<()> = Driver::new(soon()).run(|_| {
            attempts += 1;
            Step::retry_error(refused(Remedy::RotateTokenCertificate))
        });
        assert_eq!(attempts, 2);
        assert_eq!(outcome.unwrap_err().message(), "refused");
    }

    #[test]
    fn the_granted_remedy_reaches_the_next_attempt() {
        let mut seen = Vec::new();
        let outcome = Driver::new(soon()).run(|granted| {
            seen.push(granted.map(|g| g.remedy));
            match granted {
                None => Step::retry_error(refused(Remedy::ArcChallenge)),
                Some(_) => Ok(Step::Done(7)),
            }
        });
        assert_eq!(outcome.unwrap(), 7);
        assert_eq!(seen, [None, Some(Remedy::ArcChallenge)]);
    }

    #[test]
    fn an_ungranted_retry_returns_what_the_attempt_said_otherwise() {
        let outcome = Driver::new(soon()).run(|_| {
            Ok(Step::Retry(Retry {
                remedy: Remedy::ClaimsChallenge,
                reason: "401".into(),
                wait: None,
                otherwise: Ok("the response as it is"),
            }))
        });
        assert_eq!(outcome.unwrap(), "the response as it is");
    }

    #[test]
    fn a_wait_past_the_deadline_is_not_taken() {
        let started = std::time::Instant::now();
        let outcome: Result<()> = Driver::new(Deadline::after(Duration::from_secs(1))).run(|_| {
            Step::retry_error(
                Error::new(ErrorKind::TokenAcquisition, "busy")
                    .calling_for(Remedy::TokenEndpointBusy, Some(Duration::from_secs(5))),
            )
        });
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(
            outcome
                .unwrap_err()
                .message()
                .contains("not retrying after 5.0 s")
        );
    }

    #[test]
    fn without_waits_only_immediate_retries_are_granted() {
        let mut attempts = 0;
        let outcome: Result<()> = Driver::new(soon()).without_waits().run(|_| {
            attempts += 1;
            Step::retry_error(refused(Remedy::TokenEndpointBusy))
        });
        assert_eq!((attempts, outcome.unwrap_err().message()), (1, "refused"));
    }

    #[test]
    fn a_certificate_rejected_twice_says_so() {
        let outcome: Result<()> =
            Driver::new(soon()).run(|_| Step::retry_error(refused(Remedy::ReloadCertificate)));
        assert_eq!(
            outcome.unwrap_err().message(),
            "rejected again after reloading: refused"
        );
    }

    #[test]
    fn waits_without_a_count_end_at_the_deadline() {
        let mut attempts = 0;
        let outcome = Driver::new(Deadline::after(Duration::from_millis(200))).run(|_| {
            attempts += 1;
            Ok(Step::Retry(Retry {
                remedy: Remedy::FleetLockWait,
                reason: "held".into(),
                wait: None,
                otherwise: Ok("gave up"),
            }))
        });
        assert_eq!(outcome.unwrap(), "gave up");
        assert!(
            (5..=11).contains(&attempts),
            "{attempts} polls of 20 ms in 200 ms"
        );
    }
}

//! What the provider tells observers and the log: a selection, a rejection, a successful use, and
//! a certificate about to expire. Always with none of the provider's locks held, since an
//! observer or the log sink may call back into the library (`observer.rs` delivers the events).

use super::credential::Selection;
use super::observer::{EventKind, Observer, PendingEvent, Usage};
use super::provider::CredentialsProvider;
use super::state::rank;
use crate::encoding::redact_url;
use crate::error::Result;

/// What an event says beyond its kind, the selection and the call.
pub(super) struct EventDetails<'a> {
    /// Why a credential was deselected.
    pub(super) error: Option<&'a str>,
    /// How soon the certificate expires (`ExpiringSoon`).
    pub(super) days_left: Option<i64>,
}

impl EventDetails<'_> {
    pub(super) const NONE: EventDetails<'static> = EventDetails {
        error: None,
        days_left: None,
    };

    pub(super) fn error(reason: &str) -> EventDetails<'_> {
        EventDetails {
            error: Some(reason),
            days_left: None,
        }
    }
}

/// The log sink at Info, which may call back into the library: never under our locks.
pub(super) fn log_info(message: impl FnOnce() -> String) {
    rank::assert_none_held();
    crate::log::info(message);
}

/// The log sink at Warn, which may call back into the library: never under our locks.
pub(super) fn log_warn(message: impl FnOnce() -> String) {
    rank::assert_none_held();
    crate::log::warn(message);
}

impl CredentialsProvider {
    pub fn add_observer(&self, observer: Observer) {
        self.state.write().observers.push(observer);
    }

    /// Reports a successful use of `selection`.
    pub fn used(&self, selection: &Selection, usage: &Usage) {
        self.notify(
            selection,
            EventKind::SuccessfullyUsed,
            usage,
            &EventDetails::NONE,
        );
        self.warn_if_expiring(selection, usage);
    }

    /// Tells of a selection that is news (`is_new`, from selection or rotation).
    pub(super) fn announce(&self, result: &Result<Selection>, is_new: bool, usage: &Usage) {
        if let (Ok(selection), true) = (result, is_new) {
            log_info(|| format!("selected {}", selection.describe()));
            self.notify(selection, EventKind::Selected, usage, &EventDetails::NONE);
            self.warn_if_expiring(selection, usage);
        }
    }

    /// A warning and an `ExpiringSoon` event when the selected certificate expires within the
    /// configured days, at most once a (UTC) day per certificate: checked when it is selected and
    /// when it is used, so a long-running process hears of it too.
    pub(super) fn warn_if_expiring(&self, selection: &Selection, usage: &Usage) {
        let Some(certificate) = selection.certificate() else {
            return;
        };
        let now = crate::clock::unix_now();
        // Never negative: an expired certificate still in use (no later one is valid) is at 0.
        let days_left = certificate.facts.days_left(now).max(0);
        if self.expiry_warning_days == 0 || days_left >= self.expiry_warning_days {
            return;
        }
        let today = now.div_euclid(86_400);
        let thumbprint = &certificate.facts.thumbprint;
        // Every call with an expiring certificate comes here: the write lock once a day only.
        if self.state.read().expiry_warned.get(thumbprint) == Some(&today) {
            return;
        }
        {
            let mut state = self.state.write();
            if state.expiry_warned.get(thumbprint) == Some(&today) {
                return;
            }
            state.expiry_warned.insert(thumbprint.clone(), today);
        }
        log_warn(|| {
            format!(
                "{} expires in {days_left} day(s): renew it (AzureAd.CertificateExpiryWarningDays \
                 is {})",
                selection.describe(),
                self.expiry_warning_days
            )
        });
        let details = EventDetails {
            error: None,
            days_left: Some(days_left),
        };
        self.notify(selection, EventKind::ExpiringSoon, usage, &details);
    }

    /// Sends an event about `selection` to every observer, now or when this thread leaves
    /// [`deferring_events`](super::observer::deferring_events).
    pub(super) fn notify(
        &self,
        selection: &Selection,
        kind: EventKind,
        usage: &Usage,
        details: &EventDetails,
    ) {
        let observers = self.state.read().observers.clone();
        if observers.is_empty() {
            return;
        }
        rank::assert_none_held();
        let (thumbprint, subject) = match selection.certificate() {
            Some(certificate) => (
                certificate.facts.thumbprint.clone(),
                certificate.facts.subject.clone(),
            ),
            None => (String::new(), String::new()),
        };
        let event = PendingEvent {
            observers,
            kind,
            thumbprint,
            subject,
            source: selection.source.clone(),
            protocol: usage.protocol.to_string(),
            // Query strings may carry keys (SAS signatures, function keys).
            api_url: redact_url(usage.api_url),
            error: details.error.map(str::to_string),
            days_left: details.days_left,
        };
        event.emit();
    }
}

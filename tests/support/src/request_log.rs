//! What a fake endpoint received and what it found wrong, kept the same way by the fake token
//! endpoint (`token_server.rs`) and the fake managed-identity endpoints (`identity_endpoint.rs`):
//! the requests in the order they arrived, and a failure for each request the real service would
//! refuse. Tests read the requests back and end with `assert_no_failures`, proving the library
//! sent what the service demands.

use std::sync::{Mutex, MutexGuard};

/// The requests a fake received (`T`: how that fake records one) and the failures it found.
#[derive(Debug)]
pub struct RequestLog<T> {
    requests: Vec<T>,
    failures: Vec<String>,
}

impl<T: Clone> RequestLog<T> {
    pub fn new() -> RequestLog<T> {
        RequestLog {
            requests: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Records a request; returns its index, to complete it while it is being processed.
    pub fn record(&mut self, request: T) -> usize {
        self.requests.push(request);
        self.requests.len() - 1
    }

    /// The request recorded at `index`.
    pub fn at(&mut self, index: usize) -> &mut T {
        &mut self.requests[index]
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The requests so far, in order.
    pub fn requests(&self) -> Vec<T> {
        self.requests.clone()
    }

    /// Records why a request was refused.
    pub fn fail(&mut self, why: impl Into<String>) {
        self.failures.push(why.into());
    }

    /// Why requests were refused, in order.
    pub fn failures(&self) -> Vec<String> {
        self.failures.clone()
    }
}

impl<T: Clone> Default for RequestLog<T> {
    fn default() -> RequestLog<T> {
        RequestLog::new()
    }
}

/// Panics with `failures` when there are any: "{what} failures: [...]".
pub fn assert_no_failures(what: &str, failures: &[String]) {
    assert!(failures.is_empty(), "{what} failures: {failures:#?}");
}

/// Locks a fake's state; a test that panicked while holding it does not poison the others.
pub fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

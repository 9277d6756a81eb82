//! What a call to an API needs that does not change from one call to the next, made once per
//! configured API when the client is created (and per call only for calls with overrides): the
//! URL, the URL as messages show it, and the fixed request headers with and without a body.

use std::borrow::Cow;
use std::sync::OnceLock;

use super::request::{build_url, request_headers};
use crate::config::ApiOptions;
use crate::encoding::redact_url;
use crate::metrics::ApiCalls;
use crate::token::CacheKey;

#[derive(Clone)]
pub(super) struct Prepared {
    pub url: String,
    /// Redacted: no user information, query values hidden.
    pub shown_url: String,
    headers: Vec<(String, String)>,
    headers_with_body: Vec<(String, String)>,
    /// The app token's cache key, when it is fixed (see `TokenProvider::app_key`), made on the
    /// first call that asks.
    pub token_key: OnceLock<Option<CacheKey>>,
}

impl Prepared {
    pub fn new(options: &ApiOptions) -> Prepared {
        let url = build_url(options);
        Prepared {
            shown_url: redact_url(&url),
            url,
            headers: request_headers(options, b""),
            headers_with_body: request_headers(options, b"a body"),
            token_key: OnceLock::new(),
        }
    }

    /// The headers of a request carrying `body` (`Content-Type` only with one).
    pub fn headers(&self, body: &[u8]) -> &[(String, String)] {
        match body.is_empty() {
            true => &self.headers,
            false => &self.headers_with_body,
        }
    }
}

/// An API's options for one call, what the client prepared for it when the call has no
/// overrides (a call with overrides prepares its own, when it needs it), and its call counters.
pub(super) struct Resolved<'a> {
    pub options: Cow<'a, ApiOptions>,
    pub prepared: Option<&'a Prepared>,
    pub calls: &'a ApiCalls,
}

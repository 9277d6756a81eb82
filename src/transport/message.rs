//! What goes over the wire: a request as the upper layers build it (kept whole so that a retry
//! resends the same bytes) and a response of any HTTP status.

use std::borrow::Cow;

use ureq::http::{HeaderMap, HeaderName, HeaderValue};

/// A request as the downstream layer built it; kept whole so a retry resends the same bytes.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A response of any HTTP status.
#[derive(Clone, Default)]
pub struct Response {
    /// The HTTP status, e.g. 200.
    pub status: u16,
    /// As received (names in lower case, repeated names adjacent): kept as ureq parsed them, so a
    /// call that reads no header pays nothing for them.
    headers: HeaderMap,
    /// The body, as received.
    pub body: Vec<u8>,
    /// The API call it answers, as wrappers show it (.NET's `RequestMessage`); set by
    /// `DownstreamApi::call`, empty on token endpoint answers.
    pub request: RequestLine,
}

/// The method and URL of a request, the URL redacted as messages show it (no user information,
/// query values hidden).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestLine {
    pub method: String,
    pub url: String,
}

// A token endpoint's body holds the token: Debug shows its size only.
impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers.len())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Response {
    /// A response of `status` with `headers` (as received) and `body`.
    pub fn new(status: u16, headers: HeaderMap, body: Vec<u8>) -> Response {
        Response {
            status,
            headers,
            body,
            request: RequestLine::default(),
        }
    }

    /// The same response with one more header (a name or value HTTP does not allow is left out):
    /// for tests and callers that build responses.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.append(name, value);
        }
        self
    }

    /// Every header, in received order (repeated names adjacent), names in lower case; a value
    /// that is not UTF-8 has its invalid bytes replaced.
    pub fn headers(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes())))
    }

    /// How many headers (a repeated name counts each time).
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// Every header named `name`, ignoring ASCII case, in received order; values that are not
    /// visible ASCII are left out.
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        // A `&str` is looked up without an allocation (and an invalid name finds nothing).
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
    }

    /// The first header named `name`, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }
}

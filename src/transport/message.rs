//! What goes over the wire: a request as the upper layers build it (kept whole so that a retry
//! resends the same bytes) and a response of any HTTP status.

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
    pub status: u16,
    pub headers: Vec<(String, String)>,
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
    /// Every header named `name`, ignoring ASCII case, in received order.
    pub fn headers_named<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first header named `name`, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }
}

//! HTTP/1.1 requests read from a buffer that grows as bytes arrive (heads parsed by `httparse`,
//! bodies framed by Content-Length or chunked), and responses written as bytes. Every size is
//! bounded; a request that breaks a bound is answered with its status and the connection closed.

use std::fmt::Write as _;

/// The bounds of one request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The request line and headers together, in bytes.
    pub max_head_bytes: usize,
    /// Header fields in one request.
    pub max_headers: usize,
    /// The body, in bytes (after chunked decoding).
    pub max_body_bytes: usize,
}

/// One request, its body complete.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path, still percent-encoded.
    pub path: String,
    /// What follows '?', still encoded ("" without one).
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
}

impl Request {
    /// The first value of header `name` (any case) as text, if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// What the bytes received so far hold.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole request yet. `expects_continue`: the head is complete and asks for
    /// `100 Continue` before its body.
    Incomplete { expects_continue: bool },
    /// A request, and how many bytes of the buffer it took.
    Complete(Box<Request>, usize),
    /// A request this server refuses: the status to answer with, and why.
    Refused(u16, &'static str),
}

/// Reads one request from the start of `buffer`.
pub fn parse(buffer: &[u8], limits: &Limits) -> Parsed {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut head = httparse::Request::new(&mut fields);
    let head_len = match head.parse(buffer) {
        Ok(httparse::Status::Complete(len)) if len <= limits.max_head_bytes => len,
        Ok(httparse::Status::Complete(_)) => {
            return Parsed::Refused(431, "the request head is too large");
        }
        Ok(httparse::Status::Partial) if buffer.len() > limits.max_head_bytes => {
            return Parsed::Refused(431, "the request head is too large");
        }
        Ok(httparse::Status::Partial) => {
            return Parsed::Incomplete {
                expects_continue: false,
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(431, "the request has too many header fields");
        }
        Err(_) => return Parsed::Refused(400, "the request is not HTTP/1.1"),
    };
    let version = head.version.unwrap_or(1);
    let target = head.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: head.method.unwrap_or("GET").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: head
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        body: Vec::new(),
        keep_alive: version == 1,
    };
    finish(request, &buffer[head_len..], head_len, limits)
}

/// Reads the body after the head (`rest`) as the head frames it.
fn finish(mut request: Request, rest: &[u8], head_len: usize, limits: &Limits) -> Parsed {
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    if connection.split(',').any(|t| t.trim() == "close") {
        request.keep_alive = false;
    } else if connection.split(',').any(|t| t.trim() == "keep-alive") {
        request.keep_alive = true;
    }
    let chunked = request
        .header("transfer-encoding")
        .map(|te| te.to_ascii_lowercase());
    let length = request.header("content-length").map(str::trim);
    let expects_continue = request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    let framed = match (chunked.as_deref(), length) {
        (Some(_), Some(_)) => {
            return Parsed::Refused(400, "Content-Length and Transfer-Encoding together");
        }
        (Some("chunked"), None) => dechunk(rest, limits.max_body_bytes),
        (Some(_), None) => return Parsed::Refused(501, "a transfer coding other than chunked"),
        (None, Some(length)) => match length.parse::<usize>() {
            Ok(n) if n > limits.max_body_bytes => {
                return Parsed::Refused(413, "the request body is too large");
            }
            Ok(n) if rest.len() >= n => Body::Complete(rest[..n].to_vec(), n),
            Ok(_) => Body::Incomplete,
            Err(_) => return Parsed::Refused(400, "Content-Length is not a number"),
        },
        (None, None) => Body::Complete(Vec::new(), 0),
    };
    match framed {
        Body::Complete(body, used) => {
            request.body = body;
            Parsed::Complete(Box::new(request), head_len + used)
        }
        Body::Incomplete => Parsed::Incomplete { expects_continue },
        Body::TooLarge => Parsed::Refused(413, "the request body is too large"),
        Body::Malformed => Parsed::Refused(400, "the chunked body is malformed"),
    }
}

enum Body {
    Complete(Vec<u8>, usize),
    Incomplete,
    TooLarge,
    Malformed,
}

/// A chunked body from the start of `rest`: the data and the bytes it took, trailers skipped.
fn dechunk(rest: &[u8], max: usize) -> Body {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&rest[at..]) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Body::Incomplete,
            Err(_) => return Body::Malformed,
        };
        at += used;
        let Ok(size) = usize::try_from(size) else {
            return Body::TooLarge;
        };
        if size == 0 {
            return skip_trailers(rest, at, body);
        }
        if body.len().saturating_add(size) > max {
            return Body::TooLarge;
        }
        if rest.len() < at + size + 2 {
            return Body::Incomplete;
        }
        if &rest[at + size..at + size + 2] != b"\r\n" {
            return Body::Malformed;
        }
        body.extend_from_slice(&rest[at..at + size]);
        at += size + 2;
    }
}

/// After the last chunk: trailer lines up to an empty one.
fn skip_trailers(rest: &[u8], mut at: usize, body: Vec<u8>) -> Body {
    loop {
        let Some(end) = rest[at..].windows(2).position(|w| w == b"\r\n") else {
            return if rest.len() - at > 8192 {
                Body::Malformed
            } else {
                Body::Incomplete
            };
        };
        at += end + 2;
        if end == 0 {
            return Body::Complete(body, at);
        }
    }
}

/// An answer: status, header fields (Content-Length and Connection are added) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(
            status,
            "application/json; charset=utf-8",
            value.to_string().into_bytes(),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The bytes on the wire; `head_only` for an answer to HEAD.
    pub fn to_bytes(&self, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let _ = write!(
            head,
            "Content-Length: {}\r\nConnection: {}\r\n\r\n",
            self.body.len(),
            if keep_alive { "keep-alive" } else { "close" }
        );
        let mut bytes = head.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// The reason phrase of the statuses this server answers with (any other: "Status").
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;

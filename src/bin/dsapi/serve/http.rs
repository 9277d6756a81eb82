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

/// Reads one request from the start of `buffer` (all its bytes at once).
#[cfg(test)]
pub fn parse(buffer: &[u8], limits: &Limits) -> Parsed {
    Reader::default().advance(buffer, limits)
}

/// Reads a connection's requests as their bytes arrive, keeping what it learnt between reads so
/// that each byte is looked at a bounded number of times: a head is parsed only once the bytes
/// hold an empty line, a chunked body is decoded from where the last read stopped.
#[derive(Default)]
pub struct Reader {
    stage: Stage,
    /// How many bytes of the head were looked at for its end.
    looked: usize,
}

#[derive(Default)]
enum Stage {
    #[default]
    Head,
    Body(Box<Request>, Framing),
}

/// Where a request's body ends, and how far it was read.
struct Framing {
    head_len: usize,
    expects_continue: bool,
    kind: Frame,
}

enum Frame {
    Length(usize),
    Chunked(Dechunker),
}

impl Reader {
    /// What `buffer` (every byte of this connection not taken by an earlier request) holds now.
    pub fn advance(&mut self, buffer: &[u8], limits: &Limits) -> Parsed {
        if let Stage::Head = self.stage {
            let from = self.looked.saturating_sub(3);
            self.looked = buffer.len();
            let ended = buffer[from..].windows(2).any(|w| w == b"\n\n")
                || buffer[from..].windows(3).any(|w| w == b"\n\r\n");
            if !ended {
                return if buffer.len() > limits.max_head_bytes {
                    Parsed::Refused(431, "the request head is too large")
                } else {
                    Parsed::Incomplete {
                        expects_continue: false,
                    }
                };
            }
            match parse_head(buffer, limits) {
                Ok(Some((request, framing))) => self.stage = Stage::Body(request, framing),
                Ok(None) => {
                    return Parsed::Incomplete {
                        expects_continue: false,
                    };
                }
                Err((status, why)) => return Parsed::Refused(status, why),
            }
        }
        self.body(buffer, limits)
    }

    fn body(&mut self, buffer: &[u8], limits: &Limits) -> Parsed {
        let Stage::Body(_, framing) = &mut self.stage else {
            unreachable!("body() follows a head");
        };
        let rest = &buffer[framing.head_len..];
        let read = match &mut framing.kind {
            Frame::Length(n) if rest.len() >= *n => Body::Complete(rest[..*n].to_vec(), *n),
            Frame::Length(_) => Body::Incomplete,
            Frame::Chunked(chunks) => chunks.feed(rest, limits.max_body_bytes),
        };
        let expects_continue = framing.expects_continue;
        match read {
            Body::Incomplete => Parsed::Incomplete { expects_continue },
            Body::Complete(body, used) => {
                let Stage::Body(mut request, framing) = std::mem::take(&mut self.stage) else {
                    unreachable!("in the body stage");
                };
                self.looked = 0;
                request.body = body;
                Parsed::Complete(request, framing.head_len + used)
            }
            Body::TooLarge => Parsed::Refused(413, "the request body is too large"),
            Body::Malformed => Parsed::Refused(400, "the chunked body is malformed"),
        }
    }
}

/// The head at the start of `buffer`: `None` while incomplete, or the status refusing it.
type Head = Result<Option<(Box<Request>, Framing)>, (u16, &'static str)>;

fn parse_head(buffer: &[u8], limits: &Limits) -> Head {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut head = httparse::Request::new(&mut fields);
    let head_len = match head.parse(buffer) {
        Ok(httparse::Status::Complete(len)) if len <= limits.max_head_bytes => len,
        Ok(httparse::Status::Partial) if buffer.len() <= limits.max_head_bytes => return Ok(None),
        Ok(_) => return Err((431, "the request head is too large")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err((431, "the request has too many header fields"));
        }
        Err(_) => return Err((400, "the request is not HTTP/1.1")),
    };
    let target = head.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: head.method.unwrap_or("GET").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: head
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        body: Vec::new(),
        keep_alive: head.version.unwrap_or(1) == 1,
    };
    let http_1_0 = head.version == Some(0);
    let framing = framing(&mut request, (head_len, http_1_0), limits)?;
    Ok(Some((Box::new(request), framing)))
}

/// How the head frames its body (refusing what would let two readers disagree on where it ends),
/// and whether the connection stays open.
fn framing(
    request: &mut Request,
    (head_len, http_1_0): (usize, bool),
    limits: &Limits,
) -> Result<Framing, (u16, &'static str)> {
    let connection = request
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    if connection.split(',').any(|t| t.trim() == "close") {
        request.keep_alive = false;
    } else if connection.split(',').any(|t| t.trim() == "keep-alive") {
        request.keep_alive = true;
    }
    let count = |name: &str| {
        request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    };
    // A framing header that is not text would be "absent" to `header()`: refuse it instead.
    let framing_text = ["content-length", "transfer-encoding"]
        .iter()
        .all(|name| count(name) == 0 || request.header(name).is_some());
    if !framing_text {
        return Err((400, "Content-Length or Transfer-Encoding is not text"));
    }
    if count("content-length") > 1 || count("transfer-encoding") > 1 {
        return Err((400, "Content-Length or Transfer-Encoding given twice"));
    }
    let chunked = request
        .header("transfer-encoding")
        .map(|te| te.trim().to_ascii_lowercase());
    let length = request.header("content-length").map(str::trim);
    let kind = match (chunked.as_deref(), length) {
        (Some(_), Some(_)) => return Err((400, "Content-Length and Transfer-Encoding together")),
        // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing.
        (Some(_), None) if http_1_0 => {
            return Err((400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        (Some("chunked"), None) => Frame::Chunked(Dechunker::default()),
        (Some(_), None) => return Err((501, "a transfer coding other than chunked")),
        (None, Some(length))
            if !length.bytes().all(|b| b.is_ascii_digit()) || length.is_empty() =>
        {
            return Err((400, "Content-Length is not a number"));
        }
        (None, Some(length)) => match length.parse::<usize>() {
            Ok(n) if n > limits.max_body_bytes => {
                return Err((413, "the request body is too large"));
            }
            Ok(n) => Frame::Length(n),
            Err(_) => return Err((400, "Content-Length is not a number")),
        },
        (None, None) => Frame::Length(0),
    };
    let expects_continue = request
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    Ok(Framing {
        head_len,
        expects_continue,
        kind,
    })
}

enum Body {
    Complete(Vec<u8>, usize),
    Incomplete,
    TooLarge,
    Malformed,
}

/// A chunked body decoded as it arrives: `at` is where the next chunk's size line starts.
#[derive(Default)]
struct Dechunker {
    at: usize,
    body: Vec<u8>,
}

impl Dechunker {
    /// Decodes the chunks of `rest` (the bytes after the head) from where it stopped.
    fn feed(&mut self, rest: &[u8], max: usize) -> Body {
        loop {
            let (used, size) = match httparse::parse_chunk_size(&rest[self.at..]) {
                Ok(httparse::Status::Complete(found)) => found,
                Ok(httparse::Status::Partial) if rest.len() - self.at > 1024 => {
                    return Body::Malformed;
                }
                Ok(httparse::Status::Partial) => return Body::Incomplete,
                Err(_) => return Body::Malformed,
            };
            let Ok(size) = usize::try_from(size) else {
                return Body::TooLarge;
            };
            let data = self.at + used;
            if size == 0 {
                return match trailers_end(rest, data) {
                    Some(Ok(end)) => Body::Complete(std::mem::take(&mut self.body), end),
                    Some(Err(())) => Body::Malformed,
                    None => Body::Incomplete,
                };
            }
            if self.body.len().saturating_add(size) > max {
                return Body::TooLarge;
            }
            if rest.len() < data + size + 2 {
                return Body::Incomplete;
            }
            if &rest[data + size..data + size + 2] != b"\r\n" {
                return Body::Malformed;
            }
            self.body.extend_from_slice(&rest[data..data + size]);
            self.at = data + size + 2;
        }
    }
}

/// After the last chunk: where the trailer lines end (the empty line), at most 8 KiB of them;
/// `None` while they are still arriving.
fn trailers_end(rest: &[u8], mut at: usize) -> Option<Result<usize, ()>> {
    let start = at;
    loop {
        let Some(end) = rest[at..].windows(2).position(|w| w == b"\r\n") else {
            return (rest.len() - start > 8192).then_some(Err(()));
        };
        at += end + 2;
        if end == 0 {
            return Some(Ok(at));
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

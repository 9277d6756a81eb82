//! Text as it goes on the wire or into messages: percent-encoding (and decoding) for URLs and form bodies
//! (RFC 3986), URLs redacted for messages, and byte search in bodies and files.

/// RFC 3986 unreserved characters: never encoded.
const UNRESERVED: &[u8] = b"-._~";

/// Encodes everything but unreserved characters: for query parameters and form fields.
pub fn percent_encode(text: &str) -> String {
    encode_except(text, UNRESERVED)
}

/// Decodes `%XX` escapes (user information in proxy and Redis URLs); a malformed escape is
/// kept as written, and bytes that are not UTF-8 are replaced.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes only what may not appear in a URL path or query (spaces, quotes, `#`, non-ASCII, ...),
/// as .NET's `Uri` does, leaving delimiters and existing escapes alone.
pub fn encode_unsafe_url_characters(url: &str) -> String {
    encode_except(url, b"-._~!$&'()*+,;=:@/?[]%")
}

/// A URL fit for messages, logs and observer events: query strings (SAS signatures, function keys)
/// and user:password are replaced by `…`.
pub fn redact_url(url: &str) -> String {
    let (scheme, authority, path_and_more) = split_url(url);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => authority.to_string(),
    };
    let (path, query) = match path_and_more.find(['?', '#']) {
        Some(at) => (&path_and_more[..at], "?…"),
        None => (path_and_more, ""),
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{scheme}{host}{path}{query}")
}

/// Splits a URL into its scheme (empty without `://`), its authority (`user@host:port`: what
/// stands before the first `/`, `?` or `#`) and the rest (path, query, fragment).
pub fn split_url(url: &str) -> (&str, &str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, rest) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    (scheme, authority, rest)
}

/// How much of a caller's value a message echoes.
const ECHO_CHARACTERS: usize = 100;
/// How many items of a list a message names.
const ECHO_ITEMS: usize = 5;

/// A caller's value quoted for a message, cut after 100 characters so that a huge value cannot
/// make a huge message: `'value'`, or `'valu…' (1048576 bytes)`.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARACTERS) {
        None => format!("'{text}'"),
        Some((cut, _)) => format!("'{}…' ({} bytes)", &text[..cut], text.len()),
    }
}

/// A list of names for a message: the first few, quoted, and how many more there are.
pub fn list_some<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    join_some(items.into_iter().map(quote), ", ")
}

/// The first few of `items` (messages, say) joined with `separator`, and how many more there are.
pub fn join_some(items: impl IntoIterator<Item = impl AsRef<str>>, separator: &str) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut more = 0;
    for item in items {
        if shown.len() < ECHO_ITEMS {
            shown.push(item.as_ref().to_string());
        } else {
            more += 1;
        }
    }
    let mut text = shown.join(separator);
    if more > 0 {
        text.push_str(&format!("{separator}and {more} more"));
    }
    text
}

/// True when `needle` occurs in `haystack` (a PEM marker in a file, a phrase in a body).
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn encode_except(text: &str, keep: &[u8]) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || keep.contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_queries_and_user_information() {
        assert_eq!(
            redact_url("https://h/p/a?sig=secret&x=1"),
            "https://h/p/a?…"
        );
        assert_eq!(redact_url("https://user:pw@h:8443/p"), "https://…@h:8443/p");
        assert_eq!(redact_url("https://h"), "https://h");
    }

    #[test]
    fn encodes_what_urls_cannot_hold() {
        assert_eq!(
            encode_unsafe_url_characters("/a b#c?d=é"),
            "/a%20b%23c?d=%C3%A9"
        );
        assert_eq!(percent_encode("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn echoes_are_cut() {
        assert_eq!(quote("short"), "'short'");
        let long = "é".repeat(200);
        let quoted = quote(&long);
        assert!(
            quoted.starts_with(&format!("'{}…'", "é".repeat(100))),
            "{quoted}"
        );
        assert!(quoted.ends_with("(400 bytes)"), "{quoted}");
        let names: Vec<String> = (0..180_000).map(|i| format!("api{i}")).collect();
        let listed = list_some(names.iter().map(String::as_str));
        assert_eq!(
            listed,
            "'api0', 'api1', 'api2', 'api3', 'api4', and 179995 more"
        );
    }
}

//! Percent-encoding for URLs and form bodies (RFC 3986).

/// RFC 3986 unreserved characters: never encoded.
const UNRESERVED: &[u8] = b"-._~";

/// Encodes everything but unreserved characters: for query parameters and form fields.
pub fn percent_encode(text: &str) -> String {
    encode_except(text, UNRESERVED)
}

/// Encodes only what may not appear in a URL (spaces, quotes, non-ASCII, ...), as .NET's `Uri`
/// does, leaving delimiters and existing escapes alone.
pub fn encode_unsafe_url_characters(url: &str) -> String {
    encode_except(url, b"-._~!$&'()*+,;=:@/?#[]%")
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

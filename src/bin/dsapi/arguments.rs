//! `call`'s `-H`, `-q` and `-X` values, checked here as the library checks its overrides, so that
//! a malformed one is a bad argument (exit 2, naming the option, with usage) and not a
//! configuration error naming `overrides.*`. Messages never repeat a header or query value (it may
//! be a key); a method or header name is shown short and escaped.

use crate::exit::Failure;

/// How many characters of an argument a message shows.
const SHOWN_CHARACTERS: usize = 40;

/// Headers the library writes itself to frame the body (it refuses them in overrides).
const FRAMING_HEADERS: &[&str] = &["Content-Length", "Transfer-Encoding"];

/// `text` quoted for a message: control characters and quotes escaped, cut after 40 characters
/// with the length in bytes: `'GE T'`, `'GET\r\nX'`, `'AAAA…' (10004 bytes)`.
pub fn shown(text: &str) -> String {
    let cut: String = text.chars().take(SHOWN_CHARACTERS).collect();
    let escaped: String = cut.chars().flat_map(char::escape_debug).collect();
    if cut.len() == text.len() {
        format!("'{escaped}'")
    } else {
        format!("'{escaped}…' ({} bytes)", text.len())
    }
}

/// The `-H` values as (name, value) pairs.
pub fn headers(texts: &[String]) -> Result<Vec<(String, String)>, Failure> {
    parse_all(texts, parse_header)
}

/// The `-q` values as (name, value) pairs.
pub fn query(texts: &[String]) -> Result<Vec<(String, String)>, Failure> {
    parse_all(texts, parse_query)
}

/// The `-X` value in upper case, as the library sends it: an RFC 9110 token other than `CONNECT`
/// (extension methods such as `PROPFIND` are methods too).
pub fn method(text: Option<&str>) -> Result<Option<String>, Failure> {
    let Some(text) = text else {
        return Ok(None);
    };
    let error = |why: String| {
        Err(crate::argument_error(
            "call",
            &format!("-X/--request: {why}"),
        ))
    };
    let method = text.to_ascii_uppercase();
    if method.is_empty() {
        return error("the method is empty".to_string());
    }
    if let Some(why) = not_a_token(&method) {
        return error(format!("{} is not an HTTP method: it {why}", shown(text)));
    }
    if method == "CONNECT" {
        return error("CONNECT opens a tunnel, which an API call cannot use".to_string());
    }
    Ok(Some(method))
}

fn parse_all(
    texts: &[String],
    parse: fn(&str) -> Result<(String, String), String>,
) -> Result<Vec<(String, String)>, Failure> {
    texts
        .iter()
        .map(|text| parse(text).map_err(|message| crate::argument_error("call", &message)))
        .collect()
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let error = |why: String| format!("-H/--header: {why}");
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| error("a header is 'Name: value', and this one has no ':'".into()))?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err(error("the header has no name before its ':'".into()));
    }
    // The name is not shown until it is known to be a name: it might be a value typed wrongly.
    if let Some(why) = not_a_token(name) {
        return Err(error(format!("the header name {why}")));
    }
    if let Some((position, character)) = value
        .chars()
        .enumerate()
        .find(|&(_, c)| c.is_ascii_control() && c != '\t')
    {
        return Err(error(format!(
            "the value of {} holds a control character ({}, character {}), which a header \
             cannot carry",
            shown(name),
            character.escape_debug(),
            position + 1
        )));
    }
    if FRAMING_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Err(error(format!(
            "{} is set by the library from the body; it cannot be given",
            shown(name)
        )));
    }
    Ok((name.to_string(), value.to_string()))
}

fn parse_query(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or("-q/--query: a query parameter is name=value, and this one has no '='")?;
    if name.is_empty() {
        return Err("-q/--query: the query parameter has no name before its '='".to_string());
    }
    Ok((name.to_string(), value.to_string()))
}

/// Why `text` is not an RFC 9110 token (what method and header names are made of), naming the
/// first character that does not belong; `None` when it is one.
fn not_a_token(text: &str) -> Option<String> {
    let (position, character) = text
        .chars()
        .enumerate()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)))?;
    Some(format!(
        "holds '{}' (character {}), where only letters, digits and !#$%&'*+-.^_`|~ may stand",
        character.escape_debug(),
        position + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(shown("GE T"), "'GE T'");
        assert_eq!(shown("GET\r\nX"), r"'GET\r\nX'");
        let long = "é".repeat(50);
        assert_eq!(shown(&long), format!("'{}…' (100 bytes)", "é".repeat(40)));
    }

    #[test]
    fn headers_are_checked_like_overrides() {
        assert_eq!(
            parse_header(" X-Trace :  a\tb "),
            Ok(("X-Trace".into(), "a\tb".into()))
        );
        let error = parse_header("X-Key: secret\rmore").unwrap_err();
        assert!(error.contains(r"(\r, character 7)"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        let error = parse_header("X Key: secret").unwrap_err();
        assert!(error.contains("' ' (character 2)"), "{error}");
        assert!(!error.contains("X Key"), "{error}");
        assert!(parse_header("content-length: 1").is_err());
        assert!(parse_header("X-Unicode: é").is_ok());
    }
}

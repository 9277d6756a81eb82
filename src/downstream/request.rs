//! What a call sends: the URL (`BaseUrl` joined with `RelativePath`, then `ExtraQueryParameters`)
//! and the headers (`Accept`, `Content-Type` with a body, `ExtraHeaderParameters`).

use crate::config::ApiOptions;
use crate::encoding::{encode_unsafe_url_characters, percent_encode};

/// An empty `AcceptHeader` or `ContentType` sends no such header (Id.Web's null).
pub(super) fn request_headers(options: &ApiOptions, body: &[u8]) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if !options.accept_header.is_empty() {
        headers.push(("Accept".to_string(), options.accept_header.clone()));
    }
    if !body.is_empty() && !options.content_type.is_empty() {
        headers.push(("Content-Type".to_string(), options.content_type.clone()));
    }
    headers.extend(options.extra_headers.iter().cloned());
    headers
}

/// `BaseUrl` without trailing `/` + `/` + `RelativePath` without leading `/`, then
/// `ExtraQueryParameters` percent-encoded.
pub(crate) fn build_url(options: &ApiOptions) -> String {
    let base = options
        .base_url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/');
    let relative = options.relative_path.trim_start_matches('/');
    let mut url = encode_unsafe_url_characters(&format!("{base}/{relative}"));
    for (name, value) in &options.extra_query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&percent_encode(name));
        url.push('=');
        url.push_str(&percent_encode(value));
    }
    url
}

/// Sets header `name` (compared ignoring ASCII case) to `value`, replacing an existing one, so a
/// resend swaps the token wherever `Authorization` stands.
pub(super) fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    match headers
        .iter_mut()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
    {
        Some(header) => header.1 = value,
        None => headers.push((name.to_string(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_urls_like_id_web() {
        let options = ApiOptions {
            base_url: Some("https://host/api/".into()),
            relative_path: "/v1/items".into(),
            extra_query: vec![("q".into(), "a b&c".into()), ("n".into(), "1".into())],
            ..ApiOptions::default()
        };
        assert_eq!(
            build_url(&options),
            "https://host/api/v1/items?q=a%20b%26c&n=1"
        );
        let spaced = ApiOptions {
            base_url: Some("https://host".into()),
            relative_path: "files/my report é.txt".into(),
            ..ApiOptions::default()
        };
        assert_eq!(
            build_url(&spaced),
            "https://host/files/my%20report%20%C3%A9.txt"
        );
        let bare = ApiOptions {
            base_url: Some("https://host/".into()),
            ..ApiOptions::default()
        };
        assert_eq!(build_url(&bare), "https://host/");
    }

    #[test]
    fn empty_accept_and_content_type_send_no_header() {
        let options = ApiOptions {
            extra_headers: vec![("X-A".into(), "1".into())],
            ..ApiOptions::default()
        };
        let names = |options: &ApiOptions, body: &[u8]| -> Vec<String> {
            request_headers(options, body)
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert_eq!(names(&options, b"x"), ["Accept", "Content-Type", "X-A"]);
        assert_eq!(names(&options, b""), ["Accept", "X-A"]);
        let empty = ApiOptions {
            accept_header: String::new(),
            content_type: String::new(),
            ..options
        };
        assert_eq!(names(&empty, b"x"), ["X-A"]);
    }

    #[test]
    fn set_header_replaces_by_name_wherever_it_stands() {
        let mut headers = vec![
            ("authorization".to_string(), "Bearer old".to_string()),
            ("X-After".to_string(), "1".to_string()),
        ];
        set_header(&mut headers, "Authorization", "Bearer new".to_string());
        assert_eq!(headers[0].1, "Bearer new");
        assert_eq!(headers.len(), 2);
        set_header(&mut headers, "X-New", "2".to_string());
        assert_eq!(headers[2], ("X-New".to_string(), "2".to_string()));
    }
}

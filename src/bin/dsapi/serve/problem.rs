//! RFC 7807 problem details, as ASP.NET Core writes them (`application/problem+json`, `type`
//! linking the status's section of RFC 9110, `title` its reason phrase, `status`, `detail`).

use serde_json::json;

use super::http::{Response, reason};

pub struct Problem {
    pub status: u16,
    pub title: String,
    pub detail: String,
}

impl Problem {
    /// A problem whose title is the status's reason phrase.
    pub fn new(status: u16, detail: &str) -> Problem {
        Problem {
            status,
            title: reason(status).to_string(),
            detail: detail.to_string(),
        }
    }

    pub fn titled(status: u16, title: &str, detail: &str) -> Problem {
        Problem {
            status,
            title: title.to_string(),
            detail: detail.to_string(),
        }
    }

    pub fn response(&self) -> Response {
        let body = json!({
            "type": type_link(self.status),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        Response::new(
            self.status,
            "application/problem+json",
            body.to_string().into_bytes(),
        )
    }
}

/// ASP.NET Core's `type` for a status: its section of RFC 9110.
fn type_link(status: u16) -> String {
    let section = match status {
        400 => "15.5.1",
        401 => "15.5.2",
        403 => "15.5.4",
        404 => "15.5.5",
        405 => "15.5.6",
        408 => "15.5.9",
        413 => "15.5.14",
        431 => "15.5.20",
        500 => "15.6.1",
        501 => "15.6.2",
        502 => "15.6.3",
        503 => "15.6.4",
        504 => "15.6.5",
        _ => return "about:blank".to_string(),
    };
    format!("https://tools.ietf.org/html/rfc9110#section-{section}")
}

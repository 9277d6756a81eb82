//! `dsapi credentials` and `dsapi check`: what each credential loaded into, and whether each API
//! can be called. The text form is rendered from the same JSON that `--json` and the C ABI give,
//! so the three never disagree.

use std::io::Write;

use downstream_api::{DownstreamApi, LoadState};
use serde_json::Value;

use crate::exit::Failure;

pub fn credentials(api: &DownstreamApi, json: bool, out: &mut impl Write) -> Result<(), Failure> {
    let described = api.credentials_json();
    let text = if json {
        format!("{described}\n")
    } else {
        let entries: Vec<Value> = serde_json::from_str(&described).unwrap_or_default();
        if entries.is_empty() {
            "AzureAd.ClientCredentials has no entries\n".to_string()
        } else {
            entries.iter().map(describe_entry).collect()
        }
    };
    out.write_all(text.as_bytes()).map_err(Failure::Output)
}

/// One entry as an indented block, e.g.
/// `[0] Path /etc/certs/orders.pem: certificate, selected for MTLS, token` and its facts.
fn describe_entry(entry: &Value) -> String {
    let field = |name: &str| entry[name].as_str().unwrap_or("").to_string();
    let mut head = format!("[{}] {}", entry["index"], field("sourceType"));
    if let Some(location) = entry["location"].as_str() {
        head += &format!(" {location}");
    }
    let state = if entry["skipped"] == true {
        "skipped".to_string()
    } else if let Some(error) = entry["error"].as_str() {
        format!("not loaded: {error}")
    } else {
        match entry["kind"].as_str() {
            Some("clientSecret") => "client secret".to_string(),
            Some("signedAssertionFile") => "signed assertion file".to_string(),
            Some(kind) => kind.to_string(),
            None => "unknown".to_string(),
        }
    };
    let selected: Vec<&str> = entry["selectedFor"]
        .as_array()
        .map(|purposes| purposes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut text = format!("{head}: {state}");
    if !selected.is_empty() {
        text += &format!(", selected for {}", selected.join(", "));
    }
    text.push('\n');
    if let Some(version) = entry["version"].as_str() {
        text += &format!("    version     {version}\n");
    }
    if entry["kind"] == "certificate" {
        text += &format!(
            "    thumbprint  {} (SHA-1)\n                {} (SHA-256)\n    subject     {}\n    \
             issuer      {}\n    valid       {} to {} ({} days left)\n",
            field("thumbprint"),
            field("thumbprintSha256"),
            field("subject"),
            field("issuer"),
            field("notBefore"),
            field("notAfter"),
            entry["daysLeft"]
        );
    }
    text
}

pub fn check(api: &DownstreamApi, out: &mut impl Write) -> Result<(), Failure> {
    let reports = api.credentials();
    let mut text = String::new();
    let usable = reports.iter().filter(|r| r.loaded()).count();
    let in_use = reports.iter().filter(|r| !r.skipped).count();
    text += &format!("credentials: {usable} of {in_use} loaded\n");
    for report in &reports {
        if let LoadState::Failed(reason) = &report.state {
            text += &format!("  ClientCredentials[{}]: {reason}\n", report.index);
        }
    }
    let apis = api.check();
    if apis.is_empty() {
        text += "DownstreamApis has no entries\n";
    }
    let width = apis.iter().map(|a| a.name.len()).max().unwrap_or(0);
    let mut ready = true;
    for readiness in &apis {
        let verdict = match &readiness.problem {
            None => "ok".to_string(),
            Some(problem) => {
                ready = false;
                format!("FAILED: {}", problem.message())
            }
        };
        text += &format!(
            "{:width$}  {:8} {}  {verdict}\n",
            readiness.name, readiness.protocol, readiness.url
        );
    }
    out.write_all(text.as_bytes()).map_err(Failure::Output)?;
    if ready {
        Ok(())
    } else {
        Err(Failure::NotReady)
    }
}

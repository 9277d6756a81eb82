//! `dsapi call`: curl's habits for a configured API. The arguments become the per-call overrides
//! of `DownstreamApi::call` (the same JSON a C host passes), so a call here is the call the library
//! makes for any host.

use std::io::Write;

use clap::Args;
use downstream_api::DownstreamApi;
use serde_json::{Map, Value, json};

use crate::exit::Failure;
use crate::{arguments, body, identity};

#[derive(Args)]
pub struct CallArgs {
    /// The API's name in DownstreamApis
    api: String,
    /// The HTTP method, instead of the API's configured HttpMethod
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// The RelativePath, instead of the configured one
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// An extra request header (repeatable); Content-Type and Accept replace the configured ones
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// An extra query parameter (repeatable)
    #[arg(short = 'q', long = "query", value_name = "NAME=VALUE")]
    query: Vec<String>,
    /// The request body: text, @FILE for a file's bytes, or - (or @-) for standard input
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        conflicts_with = "json"
    )]
    data: Option<String>,
    /// A JSON request body (text, @FILE or -); sets Content-Type and Accept to application/json
    #[arg(long, value_name = "JSON")]
    json: Option<String>,
    /// The largest body -d or --json may give, in bytes (64 MiB by default): a file or standard
    /// input is read no further, and a larger body exits with 2
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = body::DEFAULT_MAX_BODY_BYTES
    )]
    max_body_bytes: u64,
    #[command(flatten)]
    identity: identity::IdentityArgs,
    /// Print the status line and the response headers before the body
    #[arg(short = 'i', long)]
    include: bool,
    /// Exit with 22, printing no body, when the HTTP status is 400 or above
    #[arg(short = 'f', long)]
    fail: bool,
}

/// Checks the arguments and reads the body, then makes the client (`client`) and the call.
pub fn run(
    args: &CallArgs,
    client: impl FnOnce() -> downstream_api::Result<DownstreamApi>,
    verbose: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    // Parsed here rather than by clap, whose message would repeat the value (it may be a key).
    let headers = arguments::headers(&args.headers)?;
    let query = arguments::query(&args.query)?;
    let method = arguments::method(args.method.as_deref())?;
    let agent = args.identity.agent_options("call")?;
    let overrides = overrides(args, method, &headers, &query, agent);
    let body_source = args.data.as_ref().or(args.json.as_ref());
    if let Some(value) = &args.identity.user_token
        && is_stdin(value)
        && body_source.is_some_and(|data| is_stdin(data))
    {
        return Err(crate::argument_error(
            "call",
            "--user-token: standard input is already the body (-d - or --json -); give the token \
             as @FILE",
        ));
    }
    let user_token = args.identity.user_token("call")?;
    let body = match (&args.data, &args.json) {
        (Some(data), _) => body::read("-d/--data", data, args.max_body_bytes)?,
        (None, Some(json)) => body::read("--json", json, args.max_body_bytes)?,
        (None, None) => Vec::new(),
    };
    let client = client()?;
    let response = match &user_token {
        Some(token) => client.call_for_user(&args.api, token, Some(&overrides), &body)?,
        None => client.call(&args.api, Some(&overrides), &body)?,
    };
    if verbose {
        eprintln!(
            "* HTTP {} from API '{}', {} bytes",
            response.status,
            args.api,
            response.body.len()
        );
    }
    if args.fail && response.status >= 400 {
        return Err(Failure::HttpStatus(response.status));
    }
    let mut text = Vec::new();
    if args.include {
        text.extend(format!("HTTP/1.1 {}\r\n", response.status).bytes());
        for (name, value) in response.headers() {
            text.extend(format!("{name}: {value}\r\n").bytes());
        }
        text.extend(b"\r\n");
    }
    text.extend(&response.body);
    out.write_all(&text)
        .and_then(|()| out.flush())
        .map_err(Failure::Output)
}

/// Whether a `-d`, `--json` or `--user-token` value reads standard input.
fn is_stdin(value: &str) -> bool {
    value == "-" || value == "@-"
}

/// The per-call overrides: only what the arguments change; `agent` is the `AcquireTokenOptions`
/// of `--agent` and `--agent-user`.
fn overrides(
    args: &CallArgs,
    method: Option<String>,
    headers: &[(String, String)],
    query: &[(String, String)],
    agent: Option<Value>,
) -> String {
    let mut options = Map::new();
    if let Some(agent) = agent {
        options.insert("AcquireTokenOptions".into(), agent);
    }
    if let Some(method) = method {
        options.insert("HttpMethod".into(), json!(method));
    }
    if let Some(path) = &args.path {
        options.insert("RelativePath".into(), json!(path));
    }
    if args.json.is_some() {
        options.insert("ContentType".into(), json!("application/json"));
        options.insert("AcceptHeader".into(), json!("application/json"));
    }
    let mut extra_headers = Map::new();
    for (name, value) in headers {
        let replaces = match name.to_ascii_lowercase().as_str() {
            "content-type" => Some("ContentType"),
            "accept" => Some("AcceptHeader"),
            _ => None,
        };
        match replaces {
            Some(option) => options.insert(option.into(), json!(value)),
            None => extra_headers.insert(name.clone(), json!(value)),
        };
    }
    if !extra_headers.is_empty() {
        options.insert("ExtraHeaderParameters".into(), Value::Object(extra_headers));
    }
    if !query.is_empty() {
        let query: Map<String, Value> = query
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect();
        options.insert("ExtraQueryParameters".into(), Value::Object(query));
    }
    Value::Object(options).to_string()
}

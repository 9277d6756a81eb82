//! What each route does once it is known and its caller checked: the overrides it may take, the
//! library call, and the answer in the original's shapes (`{"authorizationHeader"}`,
//! `{"statusCode","headers","content"}`, `{"protocol","token","claims"}`), or ours for the raw
//! routes (the downstream answer as it came). Errors are problem details with the original's
//! statuses: 400 for an unknown API, 401 when no token could be had, 500 for anything else.

use downstream_api::{DownstreamApi, Error, ErrorKind};
use serde_json::{Map, Value, json};

use super::http::{Request, Response};
use super::overrides;
use super::problem::Problem;
use super::routes::State;
use super::settings::Route;

/// The original's detail for an API it cannot find (it looks for the API's scopes).
fn unknown_api(api: &str) -> String {
    format!(
        "No scopes found for the API '{api}' or in optionsOverride. 'scopes' needs to be either a \
         single value or a list of values."
    )
}

/// The original's title for a 500.
const ERROR_TITLE: &str = "An error occurred while processing your request.";

pub fn handle(
    state: &State,
    route: Route,
    api: &str,
    request: &Request,
    caller: Option<&str>,
) -> Response {
    let (mut overrides, agent) = requested_options(state, route, request);
    let client = &state.client;
    // The request's body goes downstream with its own type.
    if let Some(content_type) = request.header("content-type") {
        overrides.insert("ContentType".into(), json!(content_type));
    }
    let overrides = Value::Object(overrides).to_string();
    // An agent's token is the agent's (or its user's), never the caller's on-behalf-of token.
    let caller = if agent { None } else { caller };
    if caller.is_none()
        && !agent
        && !route.authenticated()
        && let Some(refusal) = needs_a_user(client, api, &overrides)
    {
        return refusal;
    }
    let result = match route {
        Route::AuthorizationHeader | Route::AuthorizationHeaderUnauthenticated => {
            header(client, api, &overrides, caller)
        }
        Route::DownstreamApi | Route::DownstreamApiUnauthenticated => {
            call(client, api, &overrides, request, caller).map(|r| envelope(&r))
        }
        Route::DownstreamApiRaw | Route::DownstreamApiRawUnauthenticated => {
            call(client, api, &overrides, request, caller).map(raw)
        }
    };
    result.unwrap_or_else(|error| match error.kind() {
        ErrorKind::UnknownApi => Problem::new(400, &unknown_api(api)).response(),
        _ => problem_for(&error),
    })
}

/// The overrides JSON this route takes from the query (gated by `Sidecar.AllowOverrides`), and
/// whether it names an agent.
fn requested_options(state: &State, route: Route, request: &Request) -> (Map<String, Value>, bool) {
    let requested = overrides::parse(&request.query);
    if !requested.ignored.is_empty() {
        eprintln!(
            "warning dsapi serve: ignored on {}: {} (not taken by the sidecar's interface)",
            route.setting(),
            requested.ignored.join(", ")
        );
    }
    if !state.settings.allows_overrides(route) {
        if requested.has_overrides() || requested.has_agent() {
            eprintln!(
                "warning dsapi serve: optionsOverride.* and agent parameters ignored on {}: \
                 set Sidecar.AllowOverrides.{} to true to allow them",
                route.setting(),
                route.setting()
            );
        }
        return (Map::new(), false);
    }
    let agent = requested.has_agent();
    let mut options = requested.overrides;
    if agent {
        let token = options
            .entry("AcquireTokenOptions")
            .or_insert_with(|| json!({}));
        if let Some(token) = token.as_object_mut() {
            token.extend(requested.agent);
        }
    }
    (options, agent)
}

/// On a route without a caller, an API configured for a user's token cannot be served (the
/// original answers 401 "No account or login hint was passed").
fn needs_a_user(client: &DownstreamApi, api: &str, overrides: &str) -> Option<Response> {
    let options: Value = match client.api_options(api, Some(overrides)) {
        Ok(options) => serde_json::from_str(&options.to_json()).ok()?,
        Err(error) if error.kind() == ErrorKind::UnknownApi => {
            return Some(Problem::new(400, &unknown_api(api)).response());
        }
        Err(error) => return Some(problem_for(&error)),
    };
    let bearer = options["ProtocolScheme"]
        .as_str()
        .is_none_or(|s| s.eq_ignore_ascii_case("Bearer"));
    let app = options["RequestAppToken"].as_bool().unwrap_or(false);
    let session = options["AcquireTokenOptions"]["LongRunningWebApiSessionKey"].is_string();
    (bearer && !app && !session).then(|| {
        Problem::new(
            401,
            &format!(
                "No account or login hint was passed: the API '{api}' is configured for a user's \
                 token (RequestAppToken is not true) and this route has no user. Call \
                 /AuthorizationHeader or /DownstreamApi with the user's token, or set \
                 RequestAppToken"
            ),
        )
        .response()
    })
}

fn header(
    client: &DownstreamApi,
    api: &str,
    overrides: &str,
    caller: Option<&str>,
) -> Result<Response, Error> {
    let header = match caller {
        Some(token) => client.authorization_header_for_user(api, token, Some(overrides))?,
        None => client.authorization_header(api, Some(overrides))?,
    };
    Ok(Response::json(200, &json!({"authorizationHeader": header})))
}

/// The downstream call: the request's body as it came.
fn call(
    client: &DownstreamApi,
    api: &str,
    overrides: &str,
    request: &Request,
    caller: Option<&str>,
) -> Result<downstream_api::Response, Error> {
    match caller {
        Some(token) => client.call_for_user(api, token, Some(overrides), &request.body),
        None => client.call(api, Some(overrides), &request.body),
    }
}

/// The original's content headers: the only ones its envelope carries.
const CONTENT_HEADERS: [&str; 11] = [
    "allow",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "expires",
    "last-modified",
];

/// `{"statusCode", "headers", "content"}`: always a 200, the downstream status inside.
fn envelope(response: &downstream_api::Response) -> Response {
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        if CONTENT_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            let values = headers.entry(canonical(name)).or_insert_with(|| json!([]));
            if let Some(values) = values.as_array_mut() {
                values.push(json!(value));
            }
        }
    }
    let content = (!response.body.is_empty()).then(|| String::from_utf8_lossy(&response.body));
    Response::json(
        200,
        &json!({"statusCode": response.status, "headers": headers, "content": content}),
    )
}

/// The raw routes' answer: the downstream status, headers and bytes (hop-by-hop headers and the
/// length, which this server writes itself, left out).
fn raw(response: downstream_api::Response) -> Response {
    // A 1xx (or a status no client knows) relayed as the final answer would leave the caller's
    // connection expecting another; 2xx to 5xx pass as they came.
    if !(200..=599).contains(&response.status) {
        return Problem::new(
            502,
            &format!(
                "the API answered HTTP {}, which cannot be relayed as a final answer",
                response.status
            ),
        )
        .response();
    }
    const HOP_BY_HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "content-length",
    ];
    let headers = response
        .headers()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()))
        .map(|(name, value)| (name.to_string(), value.into_owned()))
        .collect();
    Response {
        status: response.status,
        headers,
        body: response.body,
    }
}

/// A library error as the original reports it: 401 when no token could be had (with the claims
/// challenge, ours, when the user must act), 400 for what the request asked wrongly, else 500.
pub fn problem_for(error: &Error) -> Response {
    let response = match error.kind() {
        ErrorKind::UserInteractionRequired | ErrorKind::TokenAcquisition => {
            Problem::new(401, error.message()).response()
        }
        ErrorKind::Config | ErrorKind::InvalidArgument | ErrorKind::Unsupported => {
            Problem::new(400, error.message()).response()
        }
        _ => return server_problem(error),
    };
    match error.claims_challenge() {
        Some(claims) => with_member(response, "claims", claims),
        None => response,
    }
}

/// A 500 problem: the server could not do what was asked (a network, TLS or endpoint failure).
pub fn server_problem(error: &Error) -> Response {
    Problem::titled(500, ERROR_TITLE, error.message()).response()
}

/// A header name as .NET writes it (`Content-Type`): HTTP/2-style lower-case names from the
/// library become the casing the original's clients look up.
fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// A problem with one more member (RFC 7807 extensions).
fn with_member(mut response: Response, name: &str, value: &str) -> Response {
    if let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&response.body) {
        body.insert(name.to_string(), json!(value));
        response.body = Value::Object(body).to_string().into_bytes();
    }
    response
}

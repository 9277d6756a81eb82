//! Starts the loopback servers that the Python and C# wrapper tests call, writes an
//! appsettings.json describing them, prints `READY <path>`, and runs until its standard input
//! closes (so a test harness that dies never leaves it behind).
//!
//! APIs in the written configuration:
//! - `Mtls`: an MTLS API answering "hello <client CN>".
//! - `Echo`: the same server, answering with the request's method, target and body.
//! - `Inspect`: the same server, answering with a JSON object of the request's method, target,
//!   headers (lower-case names) and body; configured with an extra query parameter and header,
//!   and `ContentType: text/plain`.
//!   On the same server, `/status/<code>` answers with that status, `/slow/<ms>` waits that
//!   long before answering, and `/big-head` answers with a head over the library's limit.
//! - `Renewed`: the same server, accepting only the renewed certificate (CN
//!   `wrapper-client-renewed`, written to `renewed.pem`) and answering others with HTTP 495, as a
//!   server does once it trusts only a rotated certificate. `foreign.pem` is a client certificate
//!   of another CA, which the server refuses in the TLS handshake.
//! - `Bearer`: a Bearer API accepting tokens from the fake Entra token endpoint (scope
//!   `api://wrapper-resource/.default`), which verifies the client assertion signed with the
//!   same certificate. The endpoint is the mTLS one (it asks for a client certificate).
//! - `Pop`: an MTLS_POP API (same scope) accepting `mtls_pop` tokens only on a connection
//!   presenting the certificate they are bound to.
//! - `Vault`: a Bearer API (scope `api://wrapper-vault/.default`) whose token comes from the
//!   managed identity (`AcquireTokenOptions.ManagedIdentity`): a fake App Service endpoint,
//!   selected by the variables written to `managed-identity-environment.json`, which a test sets
//!   in its process before creating a client. The API answers "<identity> <resource>".
//!
//! Run: `cargo run --example loopback_servers -- <directory for the configuration>`

use std::io::Read;
use std::sync::Arc;

use test_support::identity_endpoint::{IdentityEndpoint, Platform};
use test_support::json_str;
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, Handler, Reply, Seen, TestServer};
use test_support::token_server::{
    MFA_CLAIMS_JSON, MfaPolicy, TokenIssuer, TokenServer, UserToken, bearer_resource_handler,
    bound_resource_handler, identity_resource_handler,
};

fn main() {
    let directory = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: loopback_servers <directory>");
        std::process::exit(2);
    });
    let directory = std::path::PathBuf::from(directory);
    std::fs::create_dir_all(&directory).expect("create the configuration directory");
    let write = |name: &str, contents: &str| {
        let path = directory.join(name);
        std::fs::write(&path, contents).expect("write a file");
        path.to_string_lossy().into_owned()
    };

    let ca = TestCa::new("Wrapper Test CA");
    let client = ca.client("wrapper-client", Validity::CURRENT);
    let renewed = ca.client("wrapper-client-renewed", Validity::CURRENT);
    write("renewed.pem", &renewed.bundle_pem());
    let foreign_ca = TestCa::new("Foreign CA");
    write(
        "foreign.pem",
        &foreign_ca
            .client("wrapper-client", Validity::CURRENT)
            .bundle_pem(),
    );
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        mtls_handler(),
    );
    let issuer = TokenIssuer::new("wrapper-app");
    issuer.set_certificate(Some(client.cert_der.as_ref()));
    // Bearer tokens (no certificate presented) and MTLS_POP tokens (over mTLS) from one endpoint.
    let token_server = TokenServer::start_mtls(&ca, issuer.clone());
    let bearer_server = TestServer::start(
        ca.server(),
        ClientAuth::None,
        bearer_resource_handler(issuer.clone()),
    );
    let pop_server = TestServer::start(
        ca.server(),
        ClientAuth::Optional(std::slice::from_ref(&ca.cert_der)),
        bound_resource_handler(issuer.clone(), "mtls_pop"),
    );
    let users_server = users_and_agents(&issuer, &ca, &write);
    let identity = Arc::new(IdentityEndpoint::start(Platform::AppService, &ca));
    let vault_server = TestServer::start(
        ca.server(),
        ClientAuth::None,
        IdentityEndpoint::resource_handler(identity.clone(), "api://wrapper-vault"),
    );
    let environment: serde_json::Map<String, serde_json::Value> = identity
        .environment()
        .into_iter()
        .map(|(name, value)| (name, value.into()))
        .collect();
    write(
        "managed-identity-environment.json",
        &serde_json::Value::Object(environment).to_string(),
    );
    let config = appsettings(&Appsettings {
        certificate: write("client.pem", &client.bundle_pem()),
        ca: write("ca.pem", &ca.cert_pem),
        instance: token_server.instance(),
        mtls_url: server.url(),
        bearer_url: bearer_server.url(),
        pop_url: pop_server.url(),
        vault_url: vault_server.url(),
        users_url: users_server.url(),
    });
    let config_path = write("appsettings.json", &config);
    println!("READY {config_path}");
    // Serve until the parent closes our standard input.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// The "Users" API's server, answering whom its token is for, and what the wrappers' tests of
/// users and agents need: the incoming tokens of two users (`user-token-alice.txt`,
/// `user-token-bob.txt`) and of one whose Conditional Access wants MFA (`user-token-mfa.txt`: the
/// token endpoint answers it with a claims challenge), an expired one (`user-token-expired.txt`),
/// all for the configuration's app to validate, and an agent with a user (`agents.json`).
fn users_and_agents(
    issuer: &Arc<TokenIssuer>,
    ca: &TestCa,
    write: &dyn Fn(&str, &str) -> String,
) -> TestServer {
    for (name, oid) in [
        ("alice", "alice-oid"),
        ("bob", "bob-oid"),
        ("mfa", "mfa-oid"),
    ] {
        let upn = format!("{name}@wrapper.example");
        let token = issuer.mint_user_token(&UserToken::new(oid, &upn, "wrapper-tenant"));
        write(&format!("user-token-{name}.txt"), &token);
    }
    // Validated by the configuration's own app (its ClientId is the tokens' audience): one token
    // that expired an hour ago, for the wrappers' refusals.
    let expired = UserToken::new("expired-oid", "expired@wrapper.example", "wrapper-tenant");
    let token = issuer.mint_user_token(&expired.expires_in(-3600));
    write("user-token-expired.txt", &token);
    issuer.set_mfa_policy(MfaPolicy::Users(vec!["mfa-oid".to_string()]));
    issuer.add_agent_user(AGENT, "agent-user-oid", "agent.user@wrapper.example");
    let agents = serde_json::json!({
        "agent": AGENT,
        "agent_user_upn": "agent.user@wrapper.example",
        "agent_user_oid": "agent-user-oid",
        "mfa_claims": MFA_CLAIMS_JSON,
    });
    write("agents.json", &agents.to_string());
    TestServer::start(
        ca.server(),
        ClientAuth::None,
        identity_resource_handler(issuer.clone()),
    )
}

/// The agent identity the wrappers' tests call as (its blueprint is "wrapper-app").
const AGENT: &str = "00000000-0000-0000-0000-0000000a9e17";

/// The MTLS server's answers: `/status/<code>`, `/slow/<ms>`, `/renewed` (495 unless the renewed
/// certificate), `/big-head`, `/inspect…`, `/echo…`, and "hello <client CN>" otherwise.
fn mtls_handler() -> Handler {
    Arc::new(|seen: &Seen| {
        let path = seen.target.split('?').next().unwrap_or_default();
        if let Some(code) = path.strip_prefix("/status/") {
            return Reply::text(code.parse().unwrap_or(400), &format!("status {code}"));
        }
        if let Some(millis) = path.strip_prefix("/slow/") {
            let millis = millis.parse().unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(millis));
            return Reply::text(200, &format!("after {millis} ms"));
        }
        let who = seen
            .client_cert
            .as_ref()
            .map(test_support::server::subject_cn)
            .unwrap_or_default();
        if path == "/renewed" && who != "wrapper-client-renewed" {
            return Reply::text(495, "SSL Certificate Error");
        }
        if path == "/big-head" {
            // Over the library's 64 KiB limit for a response head.
            let mut reply = Reply::text(200, "too big");
            reply.headers.push(("X-Big".into(), "a".repeat(70_000)));
            return reply;
        }
        if seen.target.starts_with("/inspect") {
            return inspect(seen);
        }
        if seen.target.starts_with("/echo") {
            let mut body = format!("{} {}\n", seen.method, seen.target).into_bytes();
            body.extend_from_slice(&seen.body);
            return Reply {
                status: 200,
                headers: vec![("X-Echo".into(), "yes".into())],
                body,
            };
        }
        Reply::text(200, &format!("hello {who}"))
    })
}

/// The request as a JSON object: method, target, headers (lower-case names) and body.
fn inspect(seen: &Seen) -> Reply {
    let headers: serde_json::Map<String, serde_json::Value> = seen
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone().into()))
        .collect();
    let inspected = serde_json::json!({
        "method": seen.method,
        "target": seen.target,
        "headers": headers,
        "body": String::from_utf8_lossy(&seen.body),
    });
    Reply {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: inspected.to_string().into_bytes(),
    }
}

/// What the written appsettings.json names: the certificate and CA files, the token endpoint's
/// instance and the servers.
struct Appsettings {
    certificate: String,
    ca: String,
    instance: String,
    mtls_url: String,
    bearer_url: String,
    pop_url: String,
    vault_url: String,
    users_url: String,
}

fn appsettings(names: &Appsettings) -> String {
    format!(
        r#"{{
  "AzureAd": {{ "Instance": "{instance}", "TenantId": "wrapper-tenant", "ClientId": "wrapper-app",
               "ClientCredentials": [ {{ "SourceType": "Path", "CertificateDiskPath": {cert} }} ] }},
  "DownstreamApis": {{
    "Mtls": {{ "BaseUrl": "{url}", "RelativePath": "hello", "ProtocolScheme": "MTLS" }},
    "Echo": {{ "BaseUrl": "{url}", "RelativePath": "echo", "ProtocolScheme": "MTLS" }},
    "Renewed": {{ "BaseUrl": "{url}", "RelativePath": "renewed", "ProtocolScheme": "MTLS" }},
    "Inspect": {{ "BaseUrl": "{url}", "RelativePath": "inspect", "ProtocolScheme": "MTLS", "ContentType": "text/plain",
                 "ExtraQueryParameters": {{ "configured": "yes" }},
                 "ExtraHeaderParameters": {{ "X-Configured": "yes" }} }},
    "Bearer": {{ "BaseUrl": "{bearer_url}", "RelativePath": "me", "Scopes": ["api://wrapper-resource/.default"] }},
    "Pop": {{ "BaseUrl": "{pop_url}", "RelativePath": "orders", "ProtocolScheme": "MTLS_POP", "RequestAppToken": true,
             "Scopes": ["api://wrapper-resource/.default"] }},
    "Vault": {{ "BaseUrl": "{vault_url}", "RelativePath": "secrets", "Scopes": ["api://wrapper-vault/.default"],
               "RequestAppToken": true, "AcquireTokenOptions": {{ "ManagedIdentity": {{ }} }} }},
    "Users": {{ "BaseUrl": "{users_url}", "RelativePath": "me", "Scopes": ["api://wrapper-users/.default"] }}
  }},
  "Http": {{ "CaBundlePath": {ca} }}
}}"#,
        cert = json_str(&names.certificate),
        url = names.mtls_url,
        instance = names.instance,
        bearer_url = names.bearer_url,
        pop_url = names.pop_url,
        vault_url = names.vault_url,
        users_url = names.users_url,
        ca = json_str(&names.ca),
    )
}

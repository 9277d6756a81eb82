//! Tokens for users and agents against the fake Entra endpoint, which verifies each grant
//! strictly (`support/token_server/grants.rs`): on-behalf-of for the user whose token the call
//! brings (two users in 16 threads never get each other's token, one request per user), a
//! long-running session renewed with its refresh token, the user needed (MFA) as its own error
//! with the claims challenge, an agent's token and its user's by UPN and by object id (each leg
//! cached), and misconfigurations. The resource answers whom the token it received is for.

mod agents;
mod c_abi;
mod cpp;
mod guide;
// The C programs' compiler and runner, shared with the C ABI's tests (which use all of it).
#[path = "../c_abi/program.rs"]
#[allow(dead_code)]
mod program;
mod shared_cache;
mod users;

use downstream_api::DownstreamApi;
use test_support::pki::TestCa;
use test_support::server::{ClientAuth, TestServer};
use test_support::token_server::{TokenIssuer, TokenServer, UserToken, identity_resource_handler};
use test_support::{TempDir, json_str};

const CLIENT_ID: &str = "web-api-client-id";
const TENANT: &str = "contoso-tenant";
const SECRET: &str = "web-api-secret";
const SCOPE: &str = "api://downstream/.default";
const AGENT: &str = "00000000-0000-0000-0000-00000000a9e1";

struct Setup {
    tokens: TokenServer,
    resource: TestServer,
    dir: TempDir,
    ca_path: String,
}

fn setup() -> Setup {
    let ca = TestCa::new("Users CA");
    let issuer = TokenIssuer::new(CLIENT_ID);
    issuer.set_client_secret(Some(SECRET));
    let tokens = TokenServer::start(&ca, issuer.clone());
    let resource = TestServer::start(
        ca.server(),
        ClientAuth::None,
        identity_resource_handler(issuer),
    );
    let dir = TempDir::new("users");
    let ca_path = dir.write("ca.pem", &ca.cert_pem);
    Setup {
        tokens,
        resource,
        dir,
        ca_path,
    }
}

impl Setup {
    fn issuer(&self) -> &TokenIssuer {
        &self.tokens.issuer
    }

    /// "Graph" (Bearer, `SCOPE`) and "Mtls" on the resource server.
    fn client(&self) -> DownstreamApi {
        DownstreamApi::from_json(&self.config()).expect("client")
    }

    fn config(&self) -> String {
        self.config_with(&test_support::credentials::client_secret(SECRET))
    }

    /// The configuration with `credential` as the app's (the agents' blueprint's) only one.
    fn config_with(&self, credential: &str) -> String {
        format!(
            r#"{{"AzureAd": {{"Instance": {instance}, "TenantId": "{TENANT}", "ClientId": "{CLIENT_ID}",
                  "ClientCredentials": [{credential}]}},
                "DownstreamApis": {{
                  "Graph": {{"BaseUrl": {url}, "RelativePath": "/me", "Scopes": ["{SCOPE}"]}},
                  "Mtls": {{"BaseUrl": {url}, "ProtocolScheme": "MTLS"}}}},
                "Http": {{"CaBundlePath": {ca}, "TimeoutSeconds": 20}}}}"#,
            instance = json_str(&self.tokens.instance()),
            url = json_str(&self.resource.url()),
            ca = json_str(&self.ca_path),
        )
    }

    /// A user's incoming token for this web API.
    fn user_token(&self, oid: &str) -> String {
        let upn = format!("{oid}@contoso.example");
        self.issuer()
            .mint_user_token(&UserToken::new(oid, &upn, TENANT))
    }
}

/// The resource's answer to a call: whom the token it received is for.
fn answer(response: downstream_api::Response) -> String {
    let text = String::from_utf8_lossy(&response.body).into_owned();
    assert_eq!(response.status, 200, "{text}");
    text
}

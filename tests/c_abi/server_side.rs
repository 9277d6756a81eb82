//! What the servers must have seen after a run of the C program: the configured or pushed
//! certificate on every MTLS request, nothing over plain http, each thread's calls once, the
//! requests the sections made, the PFX server's handshakes, and one token request per scope.

use test_support::server::{Seen, subject_cn};

use crate::fixture::Fixture;
use crate::{
    APP_CLIENT_ID, CLIENT_SECRET, PFX_CN, RESOURCE_SCOPE, TENANT, THREADS_SCOPE, WRONG_SECRET,
};

/// What the servers must have seen after a run with `threads` × `calls`.
pub(crate) fn check_server_side(fixture: &Fixture, threads: usize, calls: usize, output: &str) {
    let check = ServerSide {
        fixture,
        seen: fixture.server.seen(),
        output,
    };
    check.managed_identity();
    check.mtls_requests_carry_the_configured_or_pushed_certificate();
    check.nothing_went_over_plain_http_or_to_an_unknown_api();
    check.each_threads_calls_arrived_once(threads, calls);
    check.requests_arrived_as_the_sections_made_them();
    check.pfx_server();
    check.tokens();
}

/// The requests the servers recorded, checked against what the C program did.
struct ServerSide<'a> {
    fixture: &'a Fixture,
    /// The requests on the MTLS server.
    seen: Vec<Seen>,
    /// The program's output, shown with any failure.
    output: &'a str,
}

impl ServerSide<'_> {
    fn context(&self) -> String {
        format!("\nffi_test output:\n{}", self.output)
    }

    /// Requests on the MTLS server for `target`.
    fn count(&self, target: &str) -> usize {
        self.seen.iter().filter(|r| r.target == target).count()
    }

    /// The managed-identity endpoint verified each request, and issued one token: the call's,
    /// which dsapi_client_acquire_token then found cached.
    fn managed_identity(&self) {
        let identity = &self.fixture.identity;
        identity.assert_no_failures();
        assert!(
            identity.issued().len() == 1,
            "managed identity tokens issued: {:?}{}",
            identity.issued(),
            self.context()
        );
        assert!(
            self.fixture.identity_resource.requests() >= 1,
            "{}",
            self.context()
        );
    }

    /// One request came with the certificate pushed by dsapi_client_set_credential; every other
    /// request on the MTLS server came with the configured certificate, and none with a token.
    fn mtls_requests_carry_the_configured_or_pushed_certificate(&self) {
        let pushed = |request: &&Seen| {
            request
                .client_cert
                .as_ref()
                .is_some_and(|cert| subject_cn(cert) == "pushed-client")
        };
        assert_eq!(
            self.seen.iter().filter(pushed).count(),
            1,
            "pushed calls{}",
            self.context()
        );
        for request in self.seen.iter().filter(|request| !pushed(request)) {
            assert_eq!(
                request.client_cert.as_ref(),
                Some(&self.fixture.client.cert_der),
                "request {} {} without the configured client certificate{}",
                request.method,
                request.target,
                self.context()
            );
            assert_eq!(
                request.header("authorization"),
                None,
                "Authorization header on an MTLS call to {}{}",
                request.target,
                self.context()
            );
        }
    }

    /// Nothing was attempted over plain http:// (the "Plain" API and the http BaseUrl override
    /// point at this TLS server's port: a plaintext request would be a failed handshake), and a
    /// call to an unknown API sent nothing.
    fn nothing_went_over_plain_http_or_to_an_unknown_api(&self) {
        assert_eq!(
            self.fixture.server.failed_handshakes(),
            0,
            "failed handshakes: something spoke plain HTTP to the TLS port{}",
            self.context()
        );
        assert!(
            !self.seen.iter().any(|r| r.target.contains("insecure")),
            "a request for the http:// API reached the server{}",
            self.context()
        );
        assert!(
            !self.seen.iter().any(|r| r.target.contains("missing")),
            "a call to an unknown API sent a request{}",
            self.context()
        );
    }

    /// One client used from `threads` threads: each thread's calls arrived exactly once.
    fn each_threads_calls_arrived_once(&self, threads: usize, calls: usize) {
        for thread in 0..threads {
            for call in 0..calls {
                let target = format!("/api/threads/{thread}/{call}");
                let hits: Vec<&Seen> = self.seen.iter().filter(|r| r.target == target).collect();
                assert_eq!(hits.len(), 1, "requests for {target}{}", self.context());
                assert_eq!(hits[0].method, "GET");
                assert_eq!(
                    hits[0].header("x-thread"),
                    Some(thread.to_string().as_str())
                );
            }
        }
        let threaded = self
            .seen
            .iter()
            .filter(|r| r.target.starts_with("/api/threads/"))
            .count();
        assert_eq!(
            threaded,
            threads * calls,
            "threaded requests{}",
            self.context()
        );
    }

    /// The POST with overrides as sent, one retry after a 401 and none after a 403, no injected
    /// header, the call from inside an observer, and the large body unaltered.
    fn requests_arrived_as_the_sections_made_them(&self) {
        let posts: Vec<&Seen> = self
            .seen
            .iter()
            .filter(|r| r.target.starts_with("/api/echo/post"))
            .collect();
        assert_eq!(posts.len(), 1, "POST requests{}", self.context());
        let post = posts[0];
        assert_eq!(post.method, "POST");
        // JSON object order is not kept by the configuration parser, so either order is fine.
        assert!(
            post.target == "/api/echo/post?q=a%20b%26c&n=1"
                || post.target == "/api/echo/post?n=1&q=a%20b%26c",
            "POST target {}",
            post.target
        );
        assert_eq!(post.header("x-custom"), Some("custom-value"));
        assert_eq!(post.header("content-type"), Some("application/x-test"));
        assert_eq!(post.header("accept"), Some("text/plain"));
        assert_eq!(post.body, b"{\"n\":1}\x00\xffend");

        // 401 on MTLS is a certificate rejection: exactly one retry. 403 is not: no retry.
        let context = self.context();
        assert_eq!(
            self.count("/api/status/401"),
            2,
            "401 requests (one retry){context}"
        );
        assert_eq!(
            self.count("/api/status/403"),
            1,
            "403 requests (no retry){context}"
        );
        assert_eq!(self.count("/api/status/404"), 1, "404 requests{context}");

        // Header injection attempts were refused, not sent.
        assert!(
            !self
                .seen
                .iter()
                .any(|r| r.header("x-injected").is_some() || r.header("bad name").is_some()),
            "an injected header reached the server{context}"
        );
        // A call made from inside an observer callback went out.
        assert_eq!(self.count("/api/reentrant"), 1, "re-entrant call{context}");
        let big = self
            .seen
            .iter()
            .find(|r| r.target == "/api/echo/big")
            .unwrap_or_else(|| panic!("no large POST{context}"));
        assert_eq!(big.body.len(), 300 * 1024);
        assert!(
            big.body
                .iter()
                .enumerate()
                .all(|(i, b)| *b == ((i * 31 + 7) & 0xff) as u8),
            "the large body arrived altered"
        );
    }

    /// The PFX server saw only the fixture certificate opened with the right password, once; the
    /// untrusted-server call (1) and the rejected certificate with its single retry (2) failed
    /// their handshakes.
    fn pfx_server(&self) {
        let pfx_seen = self.fixture.pfx_server.seen();
        assert_eq!(
            pfx_seen.len(),
            1,
            "requests on the PFX server{}",
            self.context()
        );
        let presented = pfx_seen[0].client_cert.as_ref().map(|c| subject_cn(c));
        assert_eq!(presented.as_deref(), Some(PFX_CN));
        assert_eq!(pfx_seen[0].header("authorization"), None);
        assert_eq!(
            self.fixture.pfx_server.failed_handshakes(),
            3,
            "failed handshakes on the PFX server (untrusted server 1 + rejected certificate 2){}",
            self.context()
        );
    }

    /// Tokens: one request per scope however many callers (cache, single flight across the 8
    /// threads); the wrong secret was refused once; the secret went only to the token endpoint.
    /// MTLS_POP: one bound token for the call and the header, verified by the mTLS endpoint; the
    /// resource saw it with the client certificate.
    fn tokens(&self) {
        let context = self.context();
        let issuer = &self.fixture.tokens.issuer;
        let issued = issuer.issued();
        let issued_for = |scope: &str| issued.iter().filter(|t| t.scope == scope).count();
        assert_eq!(
            issued_for(RESOURCE_SCOPE),
            1,
            "tokens for {RESOURCE_SCOPE}{context}"
        );
        assert_eq!(
            issued_for(THREADS_SCOPE),
            1,
            "tokens for {THREADS_SCOPE}{context}"
        );
        let failures = issuer.failures();
        assert!(
            failures.len() == 1 && failures[0].contains("AADSTS7000215"),
            "token endpoint failures: {failures:?}{context}"
        );
        for request in issuer.token_requests() {
            assert_eq!(request.tenant.as_deref(), Some(TENANT));
            assert_eq!(request.param("client_id"), Some(APP_CLIENT_ID));
        }
        let pop_issuer = &self.fixture.pop_tokens.issuer;
        pop_issuer.assert_no_failures();
        assert_eq!(
            pop_issuer.token_request_count(),
            1,
            "MTLS_POP token requests{context}"
        );
        let pop_seen = self.fixture.pop_resource.seen();
        assert_eq!(pop_seen.len(), 1, "MTLS_POP calls{context}");
        assert!(
            pop_seen[0]
                .header("authorization")
                .is_some_and(|a| a.starts_with("mtls_pop "))
                && pop_seen[0].client_cert.is_some(),
            "the MTLS_POP call presented the certificate and the bound token"
        );
        let resource_seen = self.fixture.resource.seen();
        assert_eq!(resource_seen.len(), 1, "Bearer calls{context}");
        let authorization = resource_seen[0].header("authorization").unwrap_or_default();
        assert!(
            authorization.starts_with("Bearer tok-"),
            "Authorization on the Bearer call: {authorization:?}"
        );
        let pfx_seen = self.fixture.pfx_server.seen();
        for request in self.seen.iter().chain(&pfx_seen).chain(&resource_seen) {
            let text = format!(
                "{:?}{}",
                request.headers,
                String::from_utf8_lossy(&request.body)
            );
            assert!(
                !text.contains(CLIENT_SECRET) && !text.contains(WRONG_SECRET),
                "a client secret reached an API server"
            );
        }
    }
}

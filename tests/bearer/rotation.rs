//! Certificate rotation on the token path: the identity provider answering AADSTS700027 costs
//! one reload and one retry, a renewed certificate on disk is picked up, and one the provider never
//! accepts costs exactly two requests.

use std::sync::{Arc, Mutex};

use downstream_api::{CredentialEvent, DownstreamApi, ErrorKind, EventKind};
use test_support::credentials::certificate_file;
use test_support::fixture;
use test_support::pki::{Issued, Validity};
use test_support::token_server::FakeAnswer;

use crate::{Idp, OTHER_SCOPE, authorization, setup};

fn rsa_fixture_key_pem() -> String {
    let text = std::fs::read_to_string(fixture("rsa-client.pkcs8.pem")).unwrap();
    let start = text
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("PKCS#8 key in fixture");
    text[start..].to_string()
}

/// A new certificate for the RSA fixture's key (what a renewal with the same key gives):
/// another DER, so another thumbprint, subject `CN=rotated-client, O=Contoso`.
fn renewed_rsa_certificate() -> Issued {
    use rcgen::{CertificateParams, DnType, KeyPair};
    let key_pem = rsa_fixture_key_pem();
    let key = KeyPair::from_pem(&key_pem).expect("rcgen reads the RSA fixture key");
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Contoso");
    params
        .distinguished_name
        .push(DnType::CommonName, "rotated-client");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let cert = params.self_signed(&key).unwrap();
    Issued {
        cert_pem: cert.pem(),
        key_pem,
        cert_der: cert.der().clone(),
    }
}

type Events = Arc<Mutex<Vec<(EventKind, String, String)>>>;

/// Records (kind, subject, protocol) of every credential event.
fn record_events(api: &DownstreamApi) -> Events {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        sink.lock().unwrap().push((
            event.kind,
            event.subject.to_string(),
            event.protocol.to_string(),
        ));
    }));
    events
}

/// The Selected / Deselected events, as (kind, subject).
fn selections(events: &Events) -> Vec<(EventKind, String)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 != EventKind::SuccessfullyUsed)
        .map(|e| (e.0, e.1.clone()))
        .collect()
}

#[test]
fn a_certificate_rotated_at_the_identity_provider_is_reloaded_and_retried_once() {
    let setup = setup();
    let cert_path = setup.dir.write(
        "client.pem",
        std::fs::read(fixture("rsa-client.pkcs8.pem")).unwrap(),
    );
    let api = setup.api(Idp::Entra, &certificate_file(&cert_path));
    let events = record_events(&api);
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");

    // The app registration now holds the renewed certificate, and the file on disk is replaced.
    let renewed = renewed_rsa_certificate();
    setup.issuer().set_certificate(Some(&renewed.cert_der));
    std::fs::write(&cert_path, renewed.bundle_pem()).unwrap();

    let response = api.call("Other", None, b"").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, OTHER_SCOPE.as_bytes());
    let requests = setup.issuer().token_requests();
    assert_eq!(requests.len(), 3, "one request, one rejected, one retried");
    assert_eq!(requests[1].status, 401);
    assert_eq!(requests[2].status, 200);
    let failures = setup.issuer().failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("AADSTS700027"), "{failures:?}");

    let selections = selections(&events);
    let expected = [
        (EventKind::Selected, "CN=rsa-fixture-client"),
        (EventKind::Deselected, "CN=rsa-fixture-client"),
        (EventKind::Selected, "CN=rotated-client"),
    ];
    assert_eq!(selections.len(), expected.len(), "{selections:?}");
    for ((kind, subject), (expected_kind, cn)) in selections.iter().zip(expected) {
        assert_eq!(*kind, expected_kind, "{selections:?}");
        assert!(subject.contains(cn), "{selections:?}");
    }
    let events = events.lock().unwrap();
    assert!(events.iter().all(|e| e.2 == "Bearer"), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e.0 == EventKind::SuccessfullyUsed && e.1.contains("CN=rotated-client")),
        "{events:?}"
    );
}

#[test]
fn an_aadsts700027_answer_costs_one_reload_and_one_retry() {
    let setup = setup();
    setup.issuer().push_answer(FakeAnswer::InvalidClientCert);
    let api = setup.entra_rsa();
    let events = record_events(&api);
    assert_eq!(authorization(&api, "Graph"), "Bearer tok-1");
    assert_eq!(setup.issuer().token_request_count(), 2);
    let kinds: Vec<EventKind> = selections(&events).into_iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Selected,
            EventKind::Deselected,
            EventKind::Selected
        ]
    );
    setup.issuer().assert_no_failures();
}

#[test]
fn a_certificate_the_identity_provider_never_accepts_costs_exactly_two_requests() {
    let setup = setup();
    let stranger = setup.ca.client("stranger", Validity::CURRENT);
    setup.issuer().set_certificate(Some(&stranger.cert_der));
    let api = setup.entra_rsa();
    let events = record_events(&api);
    let error = api.call("Graph", None, b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TokenAcquisition, "{error}");
    assert!(error.message().contains("invalid_client"), "{error}");
    assert!(error.message().contains("AADSTS700027"), "{error}");
    assert_eq!(setup.issuer().token_request_count(), 2);
    assert!(setup.resource.seen().is_empty());
    let deselected = selections(&events)
        .iter()
        .filter(|e| e.0 == EventKind::Deselected)
        .count();
    assert_eq!(deselected, 1);
}

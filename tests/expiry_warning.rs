//! Expiry warnings (issue 14): a certificate in use that expires within
//! `AzureAd.CertificateExpiryWarningDays` (default 14) raises one `ExpiringSoon` event, with the
//! days left, and one warning, however many calls use it that day; a later certificate does not.

use std::sync::{Arc, Mutex};

use downstream_api::{CredentialEvent, DownstreamApi, EventKind};
use test_support::pki::{TestCa, Validity};
use test_support::server::{ClientAuth, TestServer};
use test_support::{TempDir, json_str};

/// Events as (kind, subject, days_left).
type Seen = Arc<Mutex<Vec<(EventKind, String, Option<i64>)>>>;

fn client_for(
    validity: Validity,
    azure_ad_extra: &str,
) -> (DownstreamApi, TestServer, Seen, TempDir) {
    let ca = TestCa::new("Expiry CA");
    let client = ca.client("expiring-client", validity);
    let server = TestServer::start(
        ca.server(),
        ClientAuth::Required(std::slice::from_ref(&ca.cert_der)),
        TestServer::echo_handler(),
    );
    let dir = TempDir::new("expiry");
    let config = format!(
        r#"{{"AzureAd": {{"ClientCredentials": [{{"SourceType": "Path", "CertificateDiskPath": {cert}}}]{azure_ad_extra}}},
            "DownstreamApis": {{"Api": {{"BaseUrl": {url}, "ProtocolScheme": "MTLS"}}}},
            "Http": {{"CaBundlePath": {ca}}}}}"#,
        cert = json_str(&dir.write("client.pem", client.bundle_pem())),
        url = json_str(&server.url()),
        ca = json_str(&dir.write("ca.pem", &ca.cert_pem)),
    );
    let api = DownstreamApi::from_json(&config).unwrap();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    api.add_observer(Arc::new(move |event: &CredentialEvent| {
        sink.lock()
            .unwrap()
            .push((event.kind, event.subject.to_string(), event.days_left));
    }));
    (api, server, seen, dir)
}

fn expiring(seen: &Seen) -> Vec<(EventKind, String, Option<i64>)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(kind, _, _)| *kind == EventKind::ExpiringSoon)
        .cloned()
        .collect()
}

#[test]
fn a_certificate_expiring_in_3_days_raises_expiring_soon_once() {
    let in_3_days = Validity {
        from_days: -30,
        to_days: 3,
    };
    let (api, _server, seen, _dir) = client_for(in_3_days, "");
    for _ in 0..5 {
        assert_eq!(api.call("Api", None, b"").unwrap().status, 200);
    }
    let warnings = expiring(&seen);
    assert_eq!(warnings.len(), 1, "{:?}", seen.lock().unwrap());
    let (_, subject, days_left) = &warnings[0];
    assert!(subject.contains("expiring-client"), "{subject}");
    // Issued to expire 3 days from now, give or take the seconds since.
    assert!(matches!(days_left, Some(2 | 3)), "{days_left:?}");
    // Selected first, then the warning.
    let kinds: Vec<EventKind> = seen.lock().unwrap().iter().map(|(k, _, _)| *k).collect();
    assert_eq!(kinds[0], EventKind::Selected);
    assert_eq!(kinds[1], EventKind::ExpiringSoon);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|(kind, _, days)| (*kind == EventKind::ExpiringSoon) == days.is_some())
    );
}

#[test]
fn no_warning_beyond_the_configured_days_or_when_turned_off() {
    let in_20_days = Validity {
        from_days: -1,
        to_days: 20,
    };
    let (api, _server, seen, _dir) = client_for(in_20_days, "");
    api.call("Api", None, b"").unwrap();
    assert!(expiring(&seen).is_empty(), "20 days left, 14 by default");

    let (api, _server, seen, _dir) =
        client_for(in_20_days, r#", "CertificateExpiryWarningDays": 30"#);
    api.call("Api", None, b"").unwrap();
    assert_eq!(expiring(&seen).len(), 1, "20 days left, warned from 30");

    let in_3_days = Validity {
        from_days: -1,
        to_days: 3,
    };
    let (api, _server, seen, _dir) =
        client_for(in_3_days, r#", "CertificateExpiryWarningDays": 0"#);
    api.call("Api", None, b"").unwrap();
    assert!(expiring(&seen).is_empty(), "0 turns it off");

    let error = DownstreamApi::from_json(r#"{"AzureAd": {"CertificateExpiryWarningDays": -1}}"#)
        .err()
        .unwrap();
    assert!(
        error
            .message()
            .starts_with("AzureAd.CertificateExpiryWarningDays:"),
        "{error}"
    );
}

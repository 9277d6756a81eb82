//! Certificates for tests: a test CA (ECDSA P-256, which rcgen can generate with ring) issuing
//! server and client certificates, with chosen validity.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
}

/// A certificate with its key, PEM-encoded.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
}

impl Issued {
    /// Certificate followed by key, the layout `CertificateDiskPath` accepts for PEM.
    pub fn bundle_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    pub fn sha1_thumbprint(&self) -> String {
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

/// Validity window of an issued certificate, in days relative to now.
#[derive(Clone, Copy)]
pub struct Validity {
    pub from_days: i64,
    pub to_days: i64,
}

impl Validity {
    pub const CURRENT: Validity = Validity {
        from_days: -1,
        to_days: 365,
    };
    pub const EXPIRED: Validity = Validity {
        from_days: -30,
        to_days: -1,
    };
    pub const NOT_YET_VALID: Validity = Validity {
        from_days: 10,
        to_days: 40,
    };
}

fn rcgen_time(days: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(days)
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = dn(&[(DnType::CommonName, name)]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA cert");
        TestCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn server(&self) -> Issued {
        self.server_for(&["localhost", "127.0.0.1"])
    }

    /// A server certificate for these names (DNS names or IP addresses) only.
    pub fn server_for(&self, names: &[&str]) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name = dn(&[(DnType::CommonName, names[0])]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, Validity::CURRENT)
    }

    /// A client certificate with subject `CN=<cn>, O=Contoso`.
    pub fn client(&self, cn: &str, validity: Validity) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = dn(&[
            (DnType::OrganizationName, "Contoso"),
            (DnType::CommonName, cn),
        ]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, validity)
    }

    fn issue(&self, mut params: CertificateParams, validity: Validity) -> Issued {
        params.not_before = rcgen_time(validity.from_days);
        params.not_after = rcgen_time(validity.to_days);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
        }
    }
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for (kind, value) in parts {
        name.push(kind.clone(), *value);
    }
    name
}

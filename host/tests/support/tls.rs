//! Test TLS material made with rcgen: a peer CA with a server certificate
//! and client certificates, and a foreign CA with a client certificate.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate with its key.
pub struct Leaf {
    pub cert: CertificateDer<'static>,
    pub key: Vec<u8>,
    /// PEM of the certificate and of the key, for configuration files.
    pub cert_pem: String,
    pub key_pem: String,
}

impl Leaf {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }

    /// The connector pin of this certificate.
    pub fn pin(&self) -> String {
        hex::encode(sam_host::api::certificate_pin(self.cert.as_ref()))
    }
}

/// A CA that issues server and client certificates.
pub struct Ca {
    pub cert: CertificateDer<'static>,
    pub cert_pem: String,
    params: CertificateParams,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let signed = params.self_signed(&key).unwrap();
        Self {
            cert: signed.der().clone(),
            cert_pem: signed.pem(),
            params,
            key,
        }
    }

    fn issue(&self, cn: &str, server: bool) -> Leaf {
        self.issue_with(cn, server, |_| {})
    }

    fn issue_with(
        &self,
        cn: &str,
        server: bool,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let sans = if server {
            vec!["localhost".to_string()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if server {
            params
                .subject_alt_names
                .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        adjust(&mut params);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let signed = params.signed_by(&key, &issuer).unwrap();
        Leaf {
            cert: signed.der().clone(),
            cert_pem: signed.pem(),
            key: key.serialize_der(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn server(&self) -> Leaf {
        self.issue("localhost", true)
    }

    pub fn client(&self, cn: &str) -> Leaf {
        self.issue(cn, false)
    }

    /// A client certificate from this CA whose validity ended in 2021.
    pub fn expired_client(&self, cn: &str) -> Leaf {
        self.issue_with(cn, false, |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
    }
}

//! DEV-ONLY signing CA: end-entity certificates for signer keys from
//! PKCS#10 requests.

use crate::{DEV_ORGANIZATION, DevPkiError, rand, unix_now};
use der::{Decode, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use sam_client::verify::{KeyKind, verify_message};
use sam_docsign::tsp::asn1::ID_KP_TIME_STAMPING;
use sam_proto::asn1::signature_hash;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use x509_cert::Certificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::profile::cabf::Root;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, Version};
use x509_cert::time::{Time, Validity};

/// How long a signer certificate is valid: one year.
pub const SIGNER_CERT_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

/// A DEV-ONLY certificate authority for signer certificates (`ca.pem`):
/// an ECDSA P-256 key and its self-signed root certificate.
pub struct DevCa {
    key: SigningKey,
    key_pem: String,
    cert: Certificate,
}

impl fmt::Debug for DevCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCa")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl DevCa {
    /// A new CA: fresh key, self-signed root valid for ten years.
    pub fn generate() -> Result<Self, DevPkiError> {
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let key = SigningKey::from_pkcs8_der(pair.serialized_der())
            .map_err(|e| DevPkiError::Crypto(format!("CA key: {e}")))?;
        let subject = Name::from_str(&format!(
            "CN=SAM DEV-ONLY Signing CA,O={DEV_ORGANIZATION},C=DE"
        ))?;
        let spki = spki::SubjectPublicKeyInfoOwned::from_key(key.verifying_key())
            .map_err(|e| DevPkiError::Crypto(format!("CA public key: {e}")))?;
        let profile = Root::new(false, subject)?;
        let validity = validity(unix_now(), Duration::from_secs(3650 * 86_400))?;
        let cert = CertificateBuilder::new(profile, rand::serial()?, validity, spki)?
            .build::<_, DerSignature>(&key)?;
        dev_info!("generated the signing CA key and certificate");
        Ok(Self {
            key,
            key_pem: pair.serialize_pem(),
            cert,
        })
    }

    /// The CA of a PEM certificate and its PEM (PKCS#8) key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, DevPkiError> {
        let key = p256_key(key_pem)?;
        let cert = Certificate::from_der(&crate::pki::pem_certificate(cert_pem)?)?;
        check_key_fits(&key, &cert).map_err(|_| {
            DevPkiError::Crypto("the CA key does not belong to the CA certificate".into())
        })?;
        Ok(Self {
            key,
            key_pem: key_pem.to_owned(),
            cert,
        })
    }

    /// The CA of the PEM files `cert` and `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, DevPkiError> {
        Self::from_pem(&crate::pki::read(cert)?, &crate::pki::read(key)?)
    }

    /// The DER root certificate.
    pub fn certificate_der(&self) -> Result<Vec<u8>, DevPkiError> {
        Ok(self.cert.to_der()?)
    }

    /// The PEM root certificate.
    pub fn certificate_pem(&self) -> Result<String, DevPkiError> {
        Ok(self.cert.to_pem(der::pem::LineEnding::LF)?)
    }

    /// The PKCS#8 PEM of the key.
    pub fn key_pem(&self) -> String {
        self.key_pem.clone()
    }

    /// An end-entity certificate (DER) for the key and subject of the
    /// PKCS#10 request `csr_der`, valid from now for
    /// [`SIGNER_CERT_VALIDITY`].
    ///
    /// The request must be DER, version 1, signed with a supported
    /// algorithm that fits its key (ECDSA P-256/P-384 or RSA PKCS#1 v1.5
    /// with SHA-256/384/512), the signature must verify (proof of
    /// possession), and the subject must not be empty. Requested
    /// extensions are ignored: the certificate gets basicConstraints
    /// `CA:FALSE`, keyUsage `digitalSignature, nonRepudiation` (critical),
    /// and subject and authority key identifiers.
    pub fn issue_from_csr(&self, csr_der: &[u8]) -> Result<Vec<u8>, DevPkiError> {
        self.issue_from_csr_at(csr_der, unix_now())
    }

    /// [`Self::issue_from_csr`] with the validity starting at `now` (Unix
    /// seconds).
    pub fn issue_from_csr_at(&self, csr_der: &[u8], now: u64) -> Result<Vec<u8>, DevPkiError> {
        let csr = CertReq::from_der(csr_der)?;
        if csr.info.version != Version::V1 {
            return Err(DevPkiError::Refused("the CSR is not version 1".into()));
        }
        let (hash, scheme) = signature_hash(&csr.algorithm)
            .map_err(|_| DevPkiError::Refused("unsupported CSR signature algorithm".into()))?;
        let spki = csr.info.public_key.to_der()?;
        let kind = KeyKind::of_spki(&spki)?;
        if scheme != Some(kind.scheme()) {
            return Err(DevPkiError::Refused(
                "the CSR's signature algorithm does not fit its key".into(),
            ));
        }
        let signature = csr
            .signature
            .as_bytes()
            .ok_or_else(|| DevPkiError::Refused("the CSR signature has unused bits".into()))?;
        verify_message(&spki, hash, &csr.info.to_der()?, signature)
            .map_err(|_| DevPkiError::Refused("the CSR signature does not verify".into()))?;
        if csr.info.subject.is_empty() {
            return Err(DevPkiError::Refused("the CSR subject is empty".into()));
        }
        let subject = csr.info.subject.clone();
        let cert = self.issue(
            csr.info.public_key,
            subject.clone(),
            validity(now, SIGNER_CERT_VALIDITY)?,
            false,
        )?;
        dev_info!("issued a signer certificate for {subject} ({kind:?} key)");
        Ok(cert.to_der()?)
    }
}

impl DevCa {
    /// A time-stamping certificate (DER) for `spki` and `subject`, valid
    /// from `now` (Unix seconds) for [`crate::TSA_CERT_VALIDITY`]: the
    /// signer profile with keyUsage `digitalSignature` alone and the
    /// critical extended key usage `id-kp-timeStamping` that RFC 3161
    /// §2.3 requires.
    pub fn issue_time_stamping(
        &self,
        spki: spki::SubjectPublicKeyInfoOwned,
        subject: Name,
        now: u64,
    ) -> Result<Vec<u8>, DevPkiError> {
        let cert = self.issue(
            spki,
            subject.clone(),
            validity(now, crate::TSA_CERT_VALIDITY)?,
            true,
        )?;
        dev_info!("issued a time-stamping certificate for {subject}");
        Ok(cert.to_der()?)
    }

    fn issue(
        &self,
        spki: spki::SubjectPublicKeyInfoOwned,
        subject: Name,
        validity: Validity,
        time_stamping: bool,
    ) -> Result<Certificate, DevPkiError> {
        let profile = EndEntity {
            issuer: self.cert.tbs_certificate().subject().clone(),
            subject,
            time_stamping,
        };
        Ok(
            CertificateBuilder::new(profile, rand::serial()?, validity, spki)?
                .build::<_, DerSignature>(&self.key)?,
        )
    }
}

/// The P-256 signing key of a PKCS#8 PEM.
pub(crate) fn p256_key(key_pem: &str) -> Result<SigningKey, DevPkiError> {
    let pair = KeyPair::from_pem(key_pem)?;
    SigningKey::from_pkcs8_der(pair.serialized_der())
        .map_err(|e| DevPkiError::Crypto(format!("key (P-256 expected): {e}")))
}

/// Refuses a key that is not the one of `cert`.
pub(crate) fn check_key_fits(key: &SigningKey, cert: &Certificate) -> Result<(), DevPkiError> {
    let spki = cert.tbs_certificate().subject_public_key_info().to_der()?;
    let own = spki::SubjectPublicKeyInfoOwned::from_key(key.verifying_key())
        .map_err(|e| DevPkiError::Crypto(format!("public key: {e}")))?
        .to_der()?;
    if spki != own {
        return Err(DevPkiError::Crypto(
            "the key does not belong to the certificate".into(),
        ));
    }
    Ok(())
}

/// From five minutes before `now` for `length`.
fn validity(now: u64, length: Duration) -> Result<Validity, DevPkiError> {
    let at = |secs: u64| {
        der::DateTime::from_unix_duration(Duration::from_secs(secs))
            .map(Time::from)
            .map_err(DevPkiError::from)
    };
    Ok(Validity::new(
        at(now.saturating_sub(300))?,
        at(now.saturating_add(length.as_secs()))?,
    ))
}

/// The profile of a signer or time-stamping certificate.
struct EndEntity {
    issuer: Name,
    subject: Name,
    time_stamping: bool,
}

impl BuilderProfile for EndEntity {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: spki::SubjectPublicKeyInfoRef<'_>,
        issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        // Each extension is made with the ones before it in view, as
        // `ToExtension` asks.
        let mut extensions: Vec<Extension> = Vec::new();
        let basic = BasicConstraints {
            ca: false,
            path_len_constraint: None,
        }
        .to_extension(tbs.subject(), &extensions)?;
        extensions.push(basic);
        let usages = if self.time_stamping {
            KeyUsages::DigitalSignature.into()
        } else {
            KeyUsages::DigitalSignature | KeyUsages::NonRepudiation
        };
        let usage = KeyUsage(usages).to_extension(tbs.subject(), &extensions)?;
        extensions.push(usage);
        if self.time_stamping {
            // x509-cert marks extendedKeyUsage non-critical; RFC 3161
            // §2.3 wants it critical.
            let mut eku = ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING])
                .to_extension(tbs.subject(), &extensions)?;
            eku.critical = true;
            extensions.push(eku);
        }
        let ski = SubjectKeyIdentifier::try_from(spk)?.to_extension(tbs.subject(), &extensions)?;
        extensions.push(ski);
        let aki = AuthorityKeyIdentifier::try_from(issuer_spk)?
            .to_extension(tbs.subject(), &extensions)?;
        extensions.push(aki);
        Ok(extensions)
    }
}

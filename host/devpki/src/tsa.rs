//! DEV-ONLY time-stamp authority (RFC 3161): answers any well-formed
//! request with a token signed by a P-256 key in a plain file.
//!
//! It exists so that the `-B-T` levels and the time-stamp client can be
//! run and tested on one machine. Its tokens carry the policy
//! [`DEV_TSA_POLICY`], which no relying party outside development should
//! ever accept, and its certificate says `DEV-ONLY` like every other one
//! of this crate.

use crate::{DEV_ORGANIZATION, DevCa, DevPkiError, rand};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Int, OctetString, SetOfVec};
use der::{Any, DateTime, Decode, Encode, EncodePem};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use sam_client::cms::{
    EssCertIdV2, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
    ID_SIGNING_TIME, SigningCertificateV2,
};
use sam_client::verify::digest;
use sam_docsign::tsp::asn1::{
    Accuracy, FAIL_BAD_ALG, FAIL_BAD_DATA_FORMAT, FAIL_BAD_REQUEST, FAIL_UNACCEPTED_EXTENSION,
    FAIL_UNACCEPTED_POLICY, GenTime, ID_CT_TST_INFO, PkiStatusInfo, TimeStampReq, TimeStampResp,
    TstInfo, attribute, status,
};
use sam_proto::asn1::{
    IssuerSerial, Oid, SchemeKind, digest_algorithm, signature_algorithm, signature_hash,
};
use sam_proto::ids::HashAlgorithm;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::Certificate;
use x509_cert::name::Name;
use x509_cert::time::Time;

/// The policy of every development token: the registration-free arc
/// `2.25.<UUID>` (ITU-T X.667) of the random UUID
/// `538a96eb-484b-452a-94f7-3edcb76a7e29`, drawn once for this purpose,
/// i.e. `2.25.111045521619058479038828749659382119977`. It means "made
/// by sam-devpki; worthless outside development".
pub const DEV_TSA_POLICY: Oid = Oid::from_uuid(0x538a96eb_484b_452a_94f7_3edcb76a7e29);

/// How long a development TSA certificate is valid: two years.
pub const TSA_CERT_VALIDITY: Duration = Duration::from_secs(2 * 365 * 86_400);

/// A deliberate misbehaviour, for testing that clients refuse what a
/// broken or hostile TSA sends. Never set one outside tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsaFault {
    /// The token's imprint is of other data than the request's.
    WrongImprint,
    /// The token's nonce is not the request's.
    WrongNonce,
    /// Every request is rejected (status rejection, failInfo
    /// `badRequest`).
    Reject,
}

/// A DEV-ONLY time-stamp authority: a P-256 key and its certificate with
/// the critical extended key usage `id-kp-timeStamping`.
pub struct DevTsa {
    key: SigningKey,
    key_pem: String,
    cert: Certificate,
    cert_der: Vec<u8>,
    chain: Vec<Certificate>,
    fault: Option<TsaFault>,
}

impl fmt::Debug for DevTsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevTsa")
            .field(
                "subject",
                &self.cert.tbs_certificate().subject().to_string(),
            )
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

impl DevTsa {
    /// A new TSA: fresh key, certificate issued by `ca` (the signing CA)
    /// valid for [`TSA_CERT_VALIDITY`].
    pub fn generate(ca: &DevCa) -> Result<Self, DevPkiError> {
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let key_pem = pair.serialize_pem();
        let key = crate::ca::p256_key(&key_pem)?;
        let spki = spki::SubjectPublicKeyInfoOwned::from_key(key.verifying_key())
            .map_err(|e| DevPkiError::Crypto(format!("TSA public key: {e}")))?;
        let subject = Name::from_str(&format!(
            "CN=SAM DEV-ONLY Time-Stamping Authority,O={DEV_ORGANIZATION},C=DE"
        ))?;
        let cert_der = ca.issue_time_stamping(spki, subject, crate::unix_now())?;
        dev_info!("generated the time-stamping key and certificate");
        Self::from_parts(key, key_pem, &cert_der, &[])
    }

    /// The TSA of a PEM certificate and its PEM (PKCS#8) P-256 key; the
    /// certificate is used as it is (a test may give one without the
    /// time-stamping usage, to see it refused).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, DevPkiError> {
        let cert_der = crate::pki::pem_certificate(cert_pem)?;
        Self::from_parts(
            crate::ca::p256_key(key_pem)?,
            key_pem.to_owned(),
            &cert_der,
            &[],
        )
    }

    /// The TSA of the PEM files `cert` and `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, DevPkiError> {
        Self::from_pem(&crate::pki::read(cert)?, &crate::pki::read(key)?)
    }

    fn from_parts(
        key: SigningKey,
        key_pem: String,
        cert_der: &[u8],
        chain: &[Vec<u8>],
    ) -> Result<Self, DevPkiError> {
        let cert = Certificate::from_der(cert_der)?;
        crate::ca::check_key_fits(&key, &cert)?;
        let chain = chain
            .iter()
            .map(|c| Certificate::from_der(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            key,
            key_pem,
            cert,
            cert_der: cert_der.to_vec(),
            chain,
            fault: None,
        })
    }

    /// This TSA with the CA certificates `chain` (DER) carried in every
    /// token after its own.
    pub fn with_chain(mut self, chain: &[Vec<u8>]) -> Result<Self, DevPkiError> {
        self.chain = chain
            .iter()
            .map(|c| Certificate::from_der(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self)
    }

    /// This TSA misbehaving as `fault` (tests only).
    pub fn with_fault(mut self, fault: TsaFault) -> Self {
        dev_warn!("the development TSA misbehaves on purpose: {fault:?}");
        self.fault = Some(fault);
        self
    }

    /// The DER certificate.
    pub fn certificate_der(&self) -> Vec<u8> {
        self.cert_der.clone()
    }

    /// The PEM certificate.
    pub fn certificate_pem(&self) -> Result<String, DevPkiError> {
        Ok(self.cert.to_pem(der::pem::LineEnding::LF)?)
    }

    /// The PKCS#8 PEM of the key.
    pub fn key_pem(&self) -> String {
        self.key_pem.clone()
    }

    /// The DER `TimeStampResp` to the DER `TimeStampReq` `request`, made
    /// now. A request that does not decode, names a hash other than
    /// SHA-256/384/512, another policy or any extension is answered with
    /// a rejection (`badDataFormat`, `badAlg`, `unacceptedPolicy`,
    /// `unacceptedExtension`); an error is only a failure to sign or
    /// encode.
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>, DevPkiError> {
        self.respond_at(request, SystemTime::now())
    }

    /// [`Self::respond`] with the token's time `now`.
    pub fn respond_at(&self, request: &[u8], now: SystemTime) -> Result<Vec<u8>, DevPkiError> {
        let answer = match self.grant(request, now) {
            Ok(token) => TimeStampResp {
                status: PkiStatusInfo {
                    status: status::GRANTED,
                    status_string: None,
                    fail_info: None,
                },
                time_stamp_token: Some(Any::from_der(&token)?),
            },
            Err(Refusal::Reject(bit, text)) => {
                dev_info!("time-stamp request rejected: {text}");
                TimeStampResp {
                    status: PkiStatusInfo::rejection(bit, &text)
                        .map_err(|e| DevPkiError::Asn1(e.to_string()))?,
                    time_stamp_token: None,
                }
            }
            Err(Refusal::Failed(e)) => return Err(e),
        };
        Ok(answer.to_der()?)
    }

    /// The DER token for `request`, or why not.
    fn grant(&self, request: &[u8], now: SystemTime) -> Result<Vec<u8>, Refusal> {
        let reject = |bit, text: &str| Refusal::Reject(bit, format!("[DEV-ONLY TSA] {text}"));
        let req = TimeStampReq::from_der(request)
            .map_err(|e| reject(FAIL_BAD_DATA_FORMAT, &format!("not a TimeStampReq: {e}")))?;
        if self.fault == Some(TsaFault::Reject) {
            return Err(reject(
                FAIL_BAD_REQUEST,
                "rejecting on purpose (test fault)",
            ));
        }
        if req.version != 1 {
            return Err(reject(FAIL_BAD_DATA_FORMAT, "version is not 1"));
        }
        let hash = match signature_hash(&req.message_imprint.hash_algorithm) {
            Ok((h, None)) => h,
            _ => {
                return Err(reject(
                    FAIL_BAD_ALG,
                    "the hash must be SHA-256, -384 or -512",
                ));
            }
        };
        if req.message_imprint.hashed_message.as_bytes().len() != hash.output_len() {
            return Err(reject(
                FAIL_BAD_DATA_FORMAT,
                "the imprint's length does not fit its hash",
            ));
        }
        if req.req_policy.is_some_and(|p| p != DEV_TSA_POLICY) {
            return Err(reject(
                FAIL_UNACCEPTED_POLICY,
                "only the development policy",
            ));
        }
        if req.extensions.is_some() {
            return Err(reject(FAIL_UNACCEPTED_EXTENSION, "no extensions"));
        }
        let mut imprint = req.message_imprint;
        if self.fault == Some(TsaFault::WrongImprint) {
            imprint.hashed_message =
                OctetString::new(digest(hash, b"something else")).map_err(fail)?;
        }
        let mut nonce = req.nonce;
        if self.fault == Some(TsaFault::WrongNonce) {
            nonce = Some(Int::new(&[0x01, 0x02, 0x03]).map_err(fail)?);
        }
        let serial = rand::bytes::<16>().map_err(Refusal::Failed)?;
        let mut serial = serial.to_vec();
        if let Some(b) = serial.first_mut() {
            *b = (*b & 0x7f) | 0x40;
        }
        let gen_time = UNIX_EPOCH
            + Duration::from_secs(
                now.duration_since(UNIX_EPOCH)
                    .map_err(|_| Refusal::Failed(DevPkiError::Crypto("clock".into())))?
                    .as_secs(),
            );
        let tst = TstInfo {
            version: 1,
            policy: DEV_TSA_POLICY,
            message_imprint: imprint,
            serial_number: Int::new(&serial).map_err(fail)?,
            gen_time: GenTime(gen_time),
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce,
            tsa: None,
            extensions: None,
        };
        self.token(&tst.to_der().map_err(fail)?, gen_time, req.cert_req)
            .map_err(Refusal::Failed)
    }

    /// The `ContentInfo` of a `SignedData` over `tst_der`, SHA-256 and
    /// ECDSA, with the signed attributes `openssl ts -verify` requires.
    fn token(
        &self,
        tst_der: &[u8],
        gen_time: SystemTime,
        with_certificates: bool,
    ) -> Result<Vec<u8>, DevPkiError> {
        let hash = HashAlgorithm::Sha256;
        let tbs = self.cert.tbs_certificate();
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(digest(HashAlgorithm::Sha256, &self.cert_der))?,
                issuer_serial: Some(IssuerSerial::new(tbs.issuer(), tbs.serial_number())?),
            }],
            policies: None,
        };
        let since = gen_time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| DevPkiError::Crypto("clock".into()))?;
        let time = Time::from(DateTime::from_unix_duration(since)?);
        let attrs =
            |r: Result<_, sam_docsign::DocError>| r.map_err(|e| DevPkiError::Asn1(e.to_string()));
        let signed_attrs = SetOfVec::try_from(vec![
            attrs(attribute(ID_CONTENT_TYPE, &ID_CT_TST_INFO))?,
            attrs(attribute(
                ID_MESSAGE_DIGEST,
                &OctetString::new(digest(hash, tst_der))?,
            ))?,
            attrs(attribute(ID_SIGNING_TIME, &time))?,
            attrs(attribute(ID_AA_SIGNING_CERTIFICATE_V2, &ess))?,
        ])?;
        let signature: DerSignature = self
            .key
            .sign_prehash(&digest(hash, &signed_attrs.to_der()?))
            .map_err(|e| DevPkiError::Crypto(format!("TSA signature: {e}")))?;
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: digest_algorithm(hash),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: signature_algorithm(hash, SchemeKind::Ecdsa),
            signature: OctetString::new(signature.as_bytes())?,
            unsigned_attrs: None,
        };
        let mut certificates = SetOfVec::new();
        if with_certificates {
            for cert in std::iter::once(&self.cert).chain(&self.chain) {
                certificates.insert(CertificateChoices::Certificate(cert.clone()))?;
            }
        }
        let mut digest_algorithms = SetOfVec::new();
        digest_algorithms.insert(digest_algorithm(hash))?;
        let signed_data = SignedData {
            // RFC 5652 §5.1: 3 when the content is not id-data.
            version: CmsVersion::V3,
            digest_algorithms,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(Any::encode_from(&OctetString::new(tst_der)?)?),
            },
            certificates: (!certificates.is_empty()).then_some(CertificateSet(certificates)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
        };
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        }
        .to_der()?)
    }
}

/// Why no token: a rejection to answer, or a failure of this TSA.
enum Refusal {
    Reject(usize, String),
    Failed(DevPkiError),
}

fn fail(e: der::Error) -> Refusal {
    Refusal::Failed(e.into())
}

//! CMS `SignedData` (RFC 5652) around a signature made by the SAM.
//!
//! The SAM signs hashes, never documents. So a CMS signature is made in
//! two steps:
//!
//! 1. [`prepare`] hashes the document and builds the signed attributes
//!    (content-type `id-data`, message-digest, signing-time and
//!    signing-certificate-v2 of RFC 5035 naming the signer's certificate
//!    by its SHA-256 hash and issuer/serial); their DER, as a `SET OF`
//!    (RFC 5652 §5.4), is hashed into [`Prepared::to_be_signed_hash`];
//! 2. that hash goes through the SAM (a [`crate::SignRequest`], see
//!    [`Prepared::sign_request`]), and [`Prepared::finish`] checks the
//!    signature against the signer's certificate and wraps everything
//!    into a DER `ContentInfo` with the certificate and its chain.
//!
//! The signature value is what the SAM returns: the DER `Ecdsa-Sig-Value`
//! for an EC key, the raw PKCS#1 v1.5 signature for RSA. The content is
//! detached (`eContent` absent), as for `openssl cms -sign -binary`
//! without `-nodetach`:
//!
//! ```text
//! openssl cms -verify -binary -inform DER -in doc.p7s -content doc.txt -CAfile ca.pem
//! ```
//!
//! [`prepare_with`] is the general form the document formats of
//! `sam-docsign` build on: the signing-time attribute optional (PAdES
//! forbids it), the content detached or encapsulated (`eContent`, CAdES
//! enveloping), and [`Prepared::finish_with`] adds unsigned attributes
//! such as the signature time-stamp of [`signature_time_stamp_attribute`].
//!
//! [`hash_signature`] is the other form, the one samd's `/signing`
//! returns (seed §7.2 Table 24): no signed attributes, so the signature
//! is directly over the document's hash (RFC 5652 §5.4), which is the hash
//! the SAD named. It needs only what samd has: the hash algorithm, the
//! SAM's signature and the key's certificate (or, without one, its public
//! key, named by a subjectKeyIdentifier, see [`subject_key_identifier`]).
//!
//! Every structure is a typed value of the RustCrypto `cms` / `x509-cert`
//! crates or a `der`-derived type of this module; no DER is written by
//! hand.

use crate::verify::{KeyKind, digest, spki_der, verify_prehash};
use crate::{ClientError, SignRequest};
use ::cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use ::cms::content_info::{CmsVersion, ContentInfo};
use ::cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos, UnsignedAttributes,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, DateTime, Decode, Encode, EncodeValue, Sequence, Tagged};
use sam_proto::asn1::{IssuerSerial, digest_algorithm, signature_algorithm};
use sam_proto::ids::{HashAlgorithm, KeyId};
use spki::AlgorithmIdentifierOwned;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

/// `id-data` (RFC 5652 §4).
pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData` (RFC 5652 §5.1).
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// `id-contentType` (RFC 5652 §11.1).
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` (RFC 5652 §11.2).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime` (RFC 5652 §11.3).
pub const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// `id-aa-signingCertificateV2` (RFC 5035 §3).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// `id-aa-signatureTimeStampToken` (RFC 3161 Appendix A): the unsigned
/// attribute of a `-B-T` signature whose value is an RFC 3161
/// `TimeStampToken` over the signature value.
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// ```text
/// ESSCertIDv2 ::= SEQUENCE {
///     hashAlgorithm  AlgorithmIdentifier DEFAULT {algorithm id-sha256},
///     certHash       Hash,
///     issuerSerial   IssuerSerial OPTIONAL }
/// ```
///
/// (RFC 5035 §4). DER omits a DEFAULT value, so `hash_algorithm` is `None`
/// for SHA-256, the only hash this module uses.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct EssCertIdV2 {
    /// The hash algorithm of `cert_hash`; `None` means SHA-256.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// The hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// The certificate's issuer and serial number (RFC 5035's
    /// `IssuerSerial`: `issuer GeneralNames, serialNumber`, the
    /// `issuerUID`-less form of [`IssuerSerial`]).
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// ```text
/// SigningCertificateV2 ::= SEQUENCE {
///     certs     SEQUENCE OF ESSCertIDv2,
///     policies  SEQUENCE OF PolicyInformation OPTIONAL }
/// ```
///
/// (RFC 5035 §3); `policies` is never set here.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signer's certificate first.
    pub certs: Vec<EssCertIdV2>,
    /// Policies (absent).
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// A CMS signature waiting for the SAM's signature over
/// [`Prepared::to_be_signed_hash`].
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The hash the SAM must sign: [`Prepared::hash_algorithm`] over the
    /// DER of the signed attributes (a `SET OF Attribute`).
    pub to_be_signed_hash: Vec<u8>,
    hash: HashAlgorithm,
    kind: KeyKind,
    signer: Certificate,
    signer_spki: Vec<u8>,
    chain: Vec<Certificate>,
    signed_attrs: SignedAttributes,
    /// The encapsulated content (`eContent`), `None` when detached.
    content: Option<OctetString>,
}

/// What [`prepare_with`] puts into the `SignedData` besides the
/// attributes every signature has (content-type `id-data`,
/// message-digest, signing-certificate-v2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The signing-time attribute; `None` leaves it out (a PAdES baseline
    /// signature must not have one: its time is the signature
    /// dictionary's `/M`, ETSI EN 319 142-1 §5.2.2).
    pub signing_time: Option<SystemTime>,
    /// The document itself as `eContent` (an enveloping signature);
    /// `None` is a detached signature. It must hash to the digest given
    /// to [`prepare_with`].
    pub content: Option<Vec<u8>>,
}

/// Prepares a detached CMS signature over `document` by the holder of the
/// certificate `signer_cert` (DER), carrying the certificates of `chain`
/// (DER, intermediate CAs; the root may be left out), hashing with
/// `hash`; signing-time is now.
pub fn prepare(
    document: &[u8],
    signer_cert: &[u8],
    chain: &[Vec<u8>],
    hash: HashAlgorithm,
) -> Result<Prepared, ClientError> {
    prepare_digest(
        &digest(hash, document),
        signer_cert,
        chain,
        hash,
        SystemTime::now(),
    )
}

/// Like [`prepare`] with the document's digest already computed (large
/// documents hashed in a stream) and an explicit signing time.
pub fn prepare_digest(
    document_digest: &[u8],
    signer_cert: &[u8],
    chain: &[Vec<u8>],
    hash: HashAlgorithm,
    signing_time: SystemTime,
) -> Result<Prepared, ClientError> {
    prepare_with(
        document_digest,
        signer_cert,
        chain,
        hash,
        Options {
            signing_time: Some(signing_time),
            content: None,
        },
    )
}

/// The general form of [`prepare_digest`]: the signing-time attribute
/// optional and the content detached or encapsulated, as `options` say.
/// An encapsulated content whose `hash` digest is not `document_digest` is
/// [`ClientError::InvalidInput`].
pub fn prepare_with(
    document_digest: &[u8],
    signer_cert: &[u8],
    chain: &[Vec<u8>],
    hash: HashAlgorithm,
    options: Options,
) -> Result<Prepared, ClientError> {
    if document_digest.len() != hash.output_len() {
        return Err(ClientError::InvalidInput(format!(
            "a {hash:?} digest has {} bytes, not {}",
            hash.output_len(),
            document_digest.len()
        )));
    }
    let signer = Certificate::from_der(signer_cert)?;
    let chain = chain
        .iter()
        .map(|c| Certificate::from_der(c))
        .collect::<Result<Vec<_>, _>>()?;
    let signer_spki = spki_der(signer.tbs_certificate().subject_public_key_info())?;
    let kind = KeyKind::of_spki(&signer_spki)?;

    let tbs = signer.tbs_certificate();
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(digest(HashAlgorithm::Sha256, &signer.to_der()?))?,
            issuer_serial: Some(IssuerSerial::new(tbs.issuer(), tbs.serial_number())?),
        }],
        policies: None,
    };
    let content = match options.content {
        Some(content) => {
            if digest(hash, &content) != document_digest {
                return Err(ClientError::InvalidInput(
                    "the encapsulated content does not hash to the document digest".into(),
                ));
            }
            Some(OctetString::new(content)?)
        }
        None => None,
    };
    let mut attrs = vec![
        attribute(ID_CONTENT_TYPE, &ID_DATA)?,
        attribute(ID_MESSAGE_DIGEST, &OctetString::new(document_digest)?)?,
    ];
    if let Some(signing_time) = options.signing_time {
        let since_epoch = signing_time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ClientError::InvalidInput("signing time before 1970".into()))?;
        // UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5652 §11.3).
        let time = Time::from(DateTime::from_unix_duration(since_epoch)?);
        attrs.push(attribute(ID_SIGNING_TIME, &time)?);
    }
    attrs.push(attribute(ID_AA_SIGNING_CERTIFICATE_V2, &ess)?);
    let signed_attrs: SignedAttributes = SetOfVec::try_from(attrs)?;
    let to_be_signed_hash = digest(hash, &signed_attrs.to_der()?);
    Ok(Prepared {
        to_be_signed_hash,
        hash,
        kind,
        signer,
        signer_spki,
        chain,
        signed_attrs,
        content,
    })
}

/// An attribute with the single value `value`.
fn attribute<T: Tagged + EncodeValue>(
    oid: ObjectIdentifier,
    value: &T,
) -> Result<Attribute, ClientError> {
    let mut values = SetOfVec::new();
    values.insert(Any::encode_from(value)?)?;
    Ok(Attribute { oid, values })
}

impl Prepared {
    /// The digest algorithm of the document, the signed attributes and the
    /// signature.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }

    /// The DER of the signed attributes (`SET OF Attribute`), the bytes
    /// whose hash is signed.
    pub fn signed_attributes_der(&self) -> Result<Vec<u8>, ClientError> {
        Ok(self.signed_attrs.to_der()?)
    }

    /// A request to sign [`Self::to_be_signed_hash`] with the SAM key
    /// `key_id`.
    pub fn sign_request(&self, key_id: KeyId) -> SignRequest {
        SignRequest::single(key_id, self.hash, self.to_be_signed_hash.clone())
    }

    /// The DER `ContentInfo` of the detached `SignedData`, with
    /// `signature` (from the SAM) over the signed attributes. A signature
    /// that does not verify with the signer certificate's key is
    /// [`ClientError::BadSignature`].
    pub fn finish(&self, signature: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.finish_with(signature, Vec::new())
    }

    /// [`Self::finish`] with the unsigned attributes `unsigned_attrs` in
    /// the `SignerInfo` (none: the field is absent), for example
    /// [`signature_time_stamp_attribute`].
    pub fn finish_with(
        &self,
        signature: &[u8],
        unsigned_attrs: Vec<Attribute>,
    ) -> Result<Vec<u8>, ClientError> {
        self.verify(signature)?;
        self.encode(signature, unsigned_attrs)
    }

    /// Checks that `signature` is the signer's over the signed
    /// attributes ([`ClientError::BadSignature`] if not), as
    /// [`Self::finish`] does.
    pub fn verify(&self, signature: &[u8]) -> Result<(), ClientError> {
        let signed_hash = digest(self.hash, &self.signed_attrs.to_der()?);
        verify_prehash(&self.signer_spki, self.hash, &signed_hash, signature)
    }

    /// The signature value's largest possible length for the signer's key
    /// (a DER `Ecdsa-Sig-Value` or the RSA modulus length).
    pub fn max_signature_len(&self) -> Result<usize, ClientError> {
        Ok(match self.kind {
            // SEQUENCE of two INTEGERs of up to 32 (48) bytes plus a
            // leading zero each.
            KeyKind::P256 => 2 + 2 * (2 + 33),
            KeyKind::P384 => 3 + 2 * (2 + 49),
            KeyKind::Rsa => {
                use rsa::traits::PublicKeyParts;
                use spki::DecodePublicKey;
                let key = rsa::RsaPublicKey::from_public_key_der(&self.signer_spki)
                    .map_err(|e| ClientError::InvalidInput(format!("RSA key: {e}")))?;
                key.size()
            }
        })
    }

    /// An upper bound of the length of what [`Self::finish_with`] returns
    /// when its unsigned attributes encode to at most
    /// `unsigned_attrs_len` bytes (DER `Attribute`s, all together): the
    /// length of a container with a signature of
    /// [`Self::max_signature_len`], plus the attributes and the growth of
    /// the enclosing length fields. A PDF signer reserves this much.
    pub fn encoded_len_bound(&self, unsigned_attrs_len: usize) -> Result<usize, ClientError> {
        let placeholder = vec![0xffu8; self.max_signature_len()?];
        let len = self.encode(&placeholder, Vec::new())?.len();
        // The [1] SET header (at most 6 bytes) and up to 4 more length
        // bytes in each of the 6 enclosing TLVs (SignerInfo, SignerInfos,
        // SignedData, [0], ContentInfo, one spare).
        let growth = if unsigned_attrs_len == 0 {
            0
        } else {
            6 + 6 * 4
        };
        Ok(len + unsigned_attrs_len + growth)
    }

    /// The DER `ContentInfo` with `signature`, unchecked.
    fn encode(
        &self,
        signature: &[u8],
        unsigned_attrs: Vec<Attribute>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut certificates = vec![self.signer.clone()];
        certificates.extend(self.chain.iter().cloned());
        let unsigned_attrs = if unsigned_attrs.is_empty() {
            None
        } else {
            Some(SetOfVec::try_from(unsigned_attrs)?)
        };
        signed_data(SignedDataParts {
            hash: self.hash,
            kind: self.kind,
            sid: issuer_and_serial(&self.signer),
            signed_attrs: Some(self.signed_attrs.clone()),
            unsigned_attrs,
            content: self.content.clone(),
            signature,
            certificates: &certificates,
        })
    }
}

/// The unsigned attribute `id-aa-signatureTimeStampToken` (RFC 3161
/// Appendix A, ETSI EN 319 122-1 §5.3) whose value is `token`, the DER
/// `TimeStampToken` (a `ContentInfo`). Only its outer structure is checked
/// here: a `ContentInfo` of `id-signedData`.
pub fn signature_time_stamp_attribute(token: &[u8]) -> Result<Attribute, ClientError> {
    let ci = ContentInfo::from_der(token)?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(ClientError::InvalidInput(format!(
            "a time-stamp token is a signedData ContentInfo, not {}",
            ci.content_type
        )));
    }
    let mut values = SetOfVec::new();
    values.insert(Any::encode_from(&ci)?)?;
    Ok(Attribute {
        oid: ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
        values,
    })
}

/// How [`hash_signature`] names the signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerRef<'a> {
    /// The signer's DER certificate: the `SignerInfo` names it by issuer
    /// and serial number, and the CMS carries it.
    Certificate(&'a [u8]),
    /// Only the signer's DER `SubjectPublicKeyInfo` (a key without a
    /// registered certificate): the `SignerInfo` names it by a
    /// subjectKeyIdentifier computed with [`subject_key_identifier`], and
    /// the CMS carries no certificate. A verifier must get the
    /// certificate elsewhere (`openssl cms -verify -certfile`).
    PublicKey(&'a [u8]),
}

/// The detached CMS `SignedData` (DER `ContentInfo`) of a signature made
/// directly over a document's hash: what samd's `/signing` returns.
///
/// Without signed attributes, RFC 5652 §5.4 has the signature computed
/// over the message digest of the content itself, which is exactly the
/// hash the SAD named (`document_digest`, made with `hash`). So the CMS
/// needs nothing the SAM did not sign: the digest algorithm, the
/// signature value (`signature`: DER `Ecdsa-Sig-Value` or raw PKCS#1
/// v1.5), and who signed (`signer`). The signature is verified against the
/// signer's public key first: a mismatch is [`ClientError::BadSignature`]
/// rather than a CMS nobody can verify. For many signatures by one signer,
/// [`HashSigner`] reads the certificate once.
pub fn hash_signature(
    hash: HashAlgorithm,
    document_digest: &[u8],
    signature: &[u8],
    signer: SignerRef<'_>,
) -> Result<Vec<u8>, ClientError> {
    HashSigner::new(signer)?.cms(hash, document_digest, signature)
}

/// A signer of [`hash_signature`] CMS, its certificate (or public key)
/// read once.
#[derive(Debug, Clone)]
pub struct HashSigner {
    spki: Vec<u8>,
    kind: KeyKind,
    sid: SignerIdentifier,
    certificates: Vec<Certificate>,
}

impl HashSigner {
    /// The signer `signer`: its certificate is parsed (or its SKI
    /// computed) here.
    pub fn new(signer: SignerRef<'_>) -> Result<Self, ClientError> {
        let (spki, sid, certificates) = match signer {
            SignerRef::Certificate(der) => {
                let cert = Certificate::from_der(der)?;
                let spki = spki_der(cert.tbs_certificate().subject_public_key_info())?;
                (spki, issuer_and_serial(&cert), vec![cert])
            }
            SignerRef::PublicKey(spki) => (
                spki.to_vec(),
                SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(OctetString::new(
                    subject_key_identifier(spki)?,
                )?)),
                Vec::new(),
            ),
        };
        let kind = KeyKind::of_spki(&spki)?;
        Ok(Self {
            spki,
            kind,
            sid,
            certificates,
        })
    }

    /// The CMS of `signature` over `document_digest` (see
    /// [`hash_signature`]).
    pub fn cms(
        &self,
        hash: HashAlgorithm,
        document_digest: &[u8],
        signature: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        // verify_prehash refuses a digest of the wrong length.
        verify_prehash(&self.spki, hash, document_digest, signature)?;
        signed_data(SignedDataParts {
            hash,
            kind: self.kind,
            sid: self.sid.clone(),
            signed_attrs: None,
            unsigned_attrs: None,
            content: None,
            signature,
            certificates: &self.certificates,
        })
    }
}

/// The subjectKeyIdentifier of a DER `SubjectPublicKeyInfo` by RFC 7093
/// §2 method 1: the leftmost 160 bits of the SHA-256 hash of the
/// `subjectPublicKey` BIT STRING's value (tag, length and unused-bits
/// octet excluded). Chosen over RFC 5280's SHA-1 method to need no SHA-1;
/// a certificate issued for the key with the same method carries the same
/// identifier.
pub fn subject_key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, ClientError> {
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki_der)?;
    let mut id = digest(HashAlgorithm::Sha256, spki.subject_public_key.raw_bytes());
    id.truncate(20);
    Ok(id)
}

/// The `sid` of a certificate: its issuer and serial number.
fn issuer_and_serial(cert: &Certificate) -> SignerIdentifier {
    let tbs = cert.tbs_certificate();
    SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: tbs.serial_number().clone(),
    })
}

/// What one `SignerInfo`'s `SignedData` is made of.
struct SignedDataParts<'a> {
    hash: HashAlgorithm,
    kind: KeyKind,
    sid: SignerIdentifier,
    signed_attrs: Option<SignedAttributes>,
    unsigned_attrs: Option<UnsignedAttributes>,
    /// `eContent` (`None`: detached).
    content: Option<OctetString>,
    signature: &'a [u8],
    certificates: &'a [Certificate],
}

/// The DER `ContentInfo` of a `SignedData` with one `SignerInfo`, detached
/// unless `parts.content` is set.
/// Versions follow RFC 5652 §5.1 and §5.3: 1 for an issuer-and-serial
/// `sid`, 3 for a subjectKeyIdentifier.
fn signed_data(parts: SignedDataParts<'_>) -> Result<Vec<u8>, ClientError> {
    let version = match parts.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    let signer_info = SignerInfo {
        version,
        sid: parts.sid,
        digest_alg: digest_algorithm(parts.hash),
        signed_attrs: parts.signed_attrs,
        signature_algorithm: signature_algorithm(parts.hash, parts.kind.scheme()),
        signature: OctetString::new(parts.signature)?,
        unsigned_attrs: parts.unsigned_attrs,
    };
    let mut certificates = SetOfVec::new();
    for cert in parts.certificates {
        let choice = CertificateChoices::Certificate(cert.clone());
        if !certificates.iter().any(|c| c == &choice) {
            certificates.insert(choice)?;
        }
    }
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(digest_algorithm(parts.hash))?;
    let signed_data = SignedData {
        version,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: parts.content.as_ref().map(Any::encode_from).transpose()?,
        },
        certificates: (!certificates.is_empty()).then_some(CertificateSet(certificates)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use sam_testkeys::{SadKey, SigningCa, sign_prehash};

    const NOW: i64 = 1_800_000_000;

    /// The `SignerInfo` of a `hash_signature` CMS.
    fn signer_info(der: &[u8]) -> (SignedData, SignerInfo) {
        let ci = ContentInfo::from_der(der).unwrap();
        assert_eq!(ci.content_type, ID_SIGNED_DATA);
        let sd: SignedData = ci.content.decode_as().unwrap();
        let si = sd.signer_infos.0.get(0).unwrap().clone();
        (sd, si)
    }

    #[test]
    fn prepare_with_leaves_out_signing_time_and_encapsulates_the_content() {
        let key = SadKey::new(9);
        let ca = SigningCa::new(2);
        let cert = ca.issue_now(&key.spki(), NOW);
        let doc = b"enveloped";
        let hash = HashAlgorithm::Sha256;
        let options = Options {
            signing_time: None,
            content: Some(doc.to_vec()),
        };
        let prepared = prepare_with(&digest(hash, doc), &cert, &[], hash, options).unwrap();
        let sig = sign_prehash(&key.key, &prepared.to_be_signed_hash);
        let der = prepared.finish(&sig).unwrap();
        let (sd, si) = signer_info(&der);
        let oids: Vec<_> = si.signed_attrs.unwrap().iter().map(|a| a.oid).collect();
        assert!(!oids.contains(&ID_SIGNING_TIME), "{oids:?}");
        assert_eq!(oids.len(), 3);
        let econtent: OctetString = sd.encap_content_info.econtent.unwrap().decode_as().unwrap();
        assert_eq!(econtent.as_bytes(), doc);
        assert!(si.unsigned_attrs.is_none());
        // The bound holds for the largest signature and some attributes.
        assert!(prepared.encoded_len_bound(0).unwrap() >= der.len());
        let attr = Attribute {
            oid: ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
            values: SetOfVec::try_from(vec![
                Any::encode_from(&OctetString::new(vec![7; 300]).unwrap()).unwrap(),
            ])
            .unwrap(),
        };
        let attr_len = usize::try_from(attr.encoded_len().unwrap()).unwrap();
        let with = prepared.finish_with(&sig, vec![attr]).unwrap();
        assert!(prepared.encoded_len_bound(attr_len).unwrap() >= with.len());
        assert!(signer_info(&with).1.unsigned_attrs.is_some());

        // Content that is not the digested document.
        let options = Options {
            signing_time: None,
            content: Some(b"other".to_vec()),
        };
        assert!(matches!(
            prepare_with(&digest(hash, doc), &cert, &[], hash, options),
            Err(ClientError::InvalidInput(_))
        ));
        // A token that is not a signedData ContentInfo.
        assert!(signature_time_stamp_attribute(&cert).is_err());
    }

    #[test]
    fn a_hash_signature_names_the_certificate_and_has_no_signed_attributes() {
        let key = SadKey::new(5);
        let ca = SigningCa::new(1);
        let cert = ca.issue_now(&key.spki(), NOW);
        let hash = digest(HashAlgorithm::Sha256, b"document");
        let sig = sign_prehash(&key.key, &hash);
        let der = hash_signature(
            HashAlgorithm::Sha256,
            &hash,
            &sig,
            SignerRef::Certificate(&cert),
        )
        .unwrap();
        let (sd, si) = signer_info(&der);
        assert_eq!(sd.version, CmsVersion::V1);
        assert!(sd.encap_content_info.econtent.is_none());
        assert_eq!(sd.certificates.unwrap().0.len(), 1);
        assert!(si.signed_attrs.is_none());
        assert_eq!(si.signature.as_bytes(), sig.as_slice());
        let c = Certificate::from_der(&cert).unwrap();
        match si.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => {
                assert_eq!(&ias.serial_number, c.tbs_certificate().serial_number());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_a_certificate_the_signer_is_named_by_rfc7093_method_1() {
        let key = SadKey::new(6);
        let spki = key.spki();
        let hash = digest(HashAlgorithm::Sha256, b"memo");
        let sig = sign_prehash(&key.key, &hash);
        let der = hash_signature(
            HashAlgorithm::Sha256,
            &hash,
            &sig,
            SignerRef::PublicKey(&spki),
        )
        .unwrap();
        let (sd, si) = signer_info(&der);
        assert_eq!((sd.version, si.version), (CmsVersion::V3, CmsVersion::V3));
        assert!(sd.certificates.is_none());
        // The P-256 point is the SPKI's last 65 bytes.
        let expected = &digest(HashAlgorithm::Sha256, &spki[spki.len() - 65..])[..20];
        match si.sid {
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                assert_eq!(ski.0.as_bytes(), expected);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_signature_that_does_not_verify_or_a_bad_digest_is_refused() {
        let key = SadKey::new(7);
        let spki = key.spki();
        let hash = digest(HashAlgorithm::Sha256, b"one");
        let other = digest(HashAlgorithm::Sha256, b"two");
        let sig = sign_prehash(&key.key, &other);
        let signer = SignerRef::PublicKey(&spki);
        assert!(matches!(
            hash_signature(HashAlgorithm::Sha256, &hash, &sig, signer),
            Err(ClientError::BadSignature)
        ));
        assert!(matches!(
            hash_signature(HashAlgorithm::Sha384, &hash, &sig, signer),
            Err(ClientError::InvalidInput(_))
        ));
        let wrong_key = SadKey::new(8).spki();
        let sig = sign_prehash(&key.key, &hash);
        assert!(matches!(
            hash_signature(
                HashAlgorithm::Sha256,
                &hash,
                &sig,
                SignerRef::PublicKey(&wrong_key)
            ),
            Err(ClientError::BadSignature)
        ));
    }
}

//! The checks of a time-stamp token before anyone relies on it.
//!
//! A token is worth only what its TSA's signature and certificate are
//! worth: every check of RFC 3161 §2.4.2 and §2.3 that a relying party
//! can make without revocation data is made here, and each failure names
//! its reason.

use super::asn1::{ID_CE_EXT_KEY_USAGE, ID_CT_TST_INFO, ID_KP_TIME_STAMPING, TstInfo};
use crate::DocError;
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use sam_client::cms::{
    EssCertIdV2, ID_AA_SIGNING_CERTIFICATE_V2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
    SigningCertificateV2,
};
use sam_client::verify::{KeyKind, digest, verify_prehash};
use sam_proto::asn1::{SchemeKind, signature_hash};
use sam_proto::ids::HashAlgorithm;
use std::time::SystemTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectKeyIdentifier};

/// `rsaEncryption`, which OpenSSL and others put in a `SignerInfo`'s
/// `signatureAlgorithm` for PKCS#1 v1.5 (RFC 5754 §3.2 allows it): the
/// hash is then the `digestAlgorithm`.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfoSummary {
    /// When the TSA says it saw the imprint.
    pub gen_time: SystemTime,
    /// The token's serial number (two's-complement big-endian, as in DER).
    pub serial: Vec<u8>,
    /// The TSA's policy, dotted.
    pub policy: String,
    /// The DER certificate of the TSA that signed.
    pub tsa_certificate: Vec<u8>,
    /// The nonce the token echoes, if any.
    pub(crate) nonce: Option<Int>,
}

fn refuse(reason: impl Into<String>) -> DocError {
    DocError::Timestamp(reason.into())
}

/// Verifies the DER `TimeStampToken` `token` for the digest `digest`
/// (made with `hash`) against the DER CA certificates `trust_anchors`:
///
/// * a CMS `SignedData` with one `SignerInfo` over an `id-ct-TSTInfo`
///   whose message imprint is `hash` / `digest`;
/// * content-type and message-digest signed attributes that match, a
///   signing-certificate-v2 attribute (when present) that names the
///   signer's certificate, and a signature over the signed attributes
///   that verifies with that certificate;
/// * the certificate (from the token, or one of `trust_anchors` itself)
///   has a critical extended key usage of `id-kp-timeStamping` alone, is
///   a trust anchor or signed by one directly or through one CA
///   certificate of the token, and every certificate of that path was
///   valid at the token's `genTime`.
///
/// Revocation is not checked (no CRL or OCSP here).
pub fn verify_token(
    token: &[u8],
    hash: HashAlgorithm,
    digest: &[u8],
    trust_anchors: &[Vec<u8>],
) -> Result<TstInfoSummary, DocError> {
    let anchors = trust_anchors
        .iter()
        .map(|a| Certificate::from_der(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            refuse(format!(
                "a configured trust anchor is not a certificate: {e}"
            ))
        })?;
    verify_parsed(token, hash, digest, &anchors)
}

pub(crate) fn verify_parsed(
    token: &[u8],
    hash: HashAlgorithm,
    expected_digest: &[u8],
    anchors: &[Certificate],
) -> Result<TstInfoSummary, DocError> {
    let content_info = ContentInfo::from_der(token)
        .map_err(|e| refuse(format!("the token is not a CMS ContentInfo: {e}")))?;
    if content_info.content_type != ID_SIGNED_DATA {
        return Err(refuse("the token is not a CMS SignedData"));
    }
    let signed: SignedData = content_info
        .content
        .decode_as()
        .map_err(|e| refuse(format!("the token's SignedData does not decode: {e}")))?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(refuse("the token's content is not a TSTInfo"));
    }
    let tst_der = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| refuse("the token carries no TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(|e| refuse(format!("the token's eContent is not an OCTET STRING: {e}")))?;
    let tst = TstInfo::from_der(tst_der.as_bytes())
        .map_err(|e| refuse(format!("the TSTInfo does not decode: {e}")))?;
    if tst.version != 1 {
        return Err(refuse(format!("TSTInfo version {}", tst.version)));
    }
    let imprint_hash = signature_hash(&tst.message_imprint.hash_algorithm)
        .map_err(|_| refuse("the token's imprint has an unsupported hash algorithm"))?;
    if imprint_hash != (hash, None) {
        return Err(refuse(format!(
            "the token's imprint is {:?}, not {hash:?}",
            imprint_hash.0
        )));
    }
    if tst.message_imprint.hashed_message.as_bytes() != expected_digest {
        return Err(refuse(
            "the token's message imprint is not the digest that was time-stamped",
        ));
    }

    let mut infos = signed.signer_infos.0.iter();
    let (Some(si), None) = (infos.next(), infos.next()) else {
        return Err(refuse("the token must have exactly one SignerInfo"));
    };
    // RFC 5652 §5.1 and §5.3: the versions follow from the content type
    // and the signer identifier, and digestAlgorithms lists what the
    // signers use. None of it is signed: checked to refuse a token that
    // disagrees with itself.
    let si_version = match si.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if si.version != si_version
        || !matches!(
            signed.version,
            CmsVersion::V3 | CmsVersion::V4 | CmsVersion::V5
        )
    {
        return Err(refuse("the token's CMS versions do not fit its content"));
    }
    if !signed.digest_algorithms.iter().any(|a| a == &si.digest_alg) {
        return Err(refuse(
            "the token's digestAlgorithms do not list its signer's digest algorithm",
        ));
    }
    let candidates: Vec<Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(cert) => Some(cert.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let tsa = candidates
        .iter()
        .chain(anchors)
        .find(|c| names_signer(&si.sid, c))
        .ok_or_else(|| {
            refuse("the TSA's certificate is neither in the token nor among the trust anchors")
        })?
        .clone();
    let tsa_der = tsa.to_der()?;
    check_signer_info(si, &tst_der, &tsa, &tsa_der)?;

    // RFC 3161 §2.4.2: a TSA name, when given, names the signer.
    if let Some(GeneralName::DirectoryName(name)) = &tst.tsa
        && name != tsa.tbs_certificate().subject()
    {
        return Err(refuse(
            "the TSTInfo's tsa name is not the subject of the TSA's certificate",
        ));
    }
    let gen_time = tst.gen_time.0;
    check_time_stamping_usage(&tsa)?;
    check_path(&tsa, &tsa_der, &candidates, anchors, gen_time)?;

    Ok(TstInfoSummary {
        gen_time,
        serial: tst.serial_number.as_bytes().to_vec(),
        policy: tst.policy.to_string(),
        tsa_certificate: tsa_der,
        nonce: tst.nonce,
    })
}

fn names_signer(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            &ias.issuer == tbs.issuer() && &ias.serial_number == tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(tbs.get_extension::<SubjectKeyIdentifier>(), Ok(Some((_, own))) if own == *ski)
        }
    }
}

/// The signed attributes and the signature of the token's `SignerInfo`.
fn check_signer_info(
    si: &SignerInfo,
    tst_der: &OctetString,
    tsa: &Certificate,
    tsa_der: &[u8],
) -> Result<(), DocError> {
    let (hash, scheme) = signature_hash(&si.digest_alg)
        .map_err(|_| refuse("the token's digest algorithm is not supported"))?;
    if scheme.is_some() {
        return Err(refuse(
            "the token's digest algorithm is a signature algorithm",
        ));
    }
    let spki = tsa.tbs_certificate().subject_public_key_info().to_der()?;
    let key_scheme = KeyKind::of_spki(&spki)
        .map_err(|e| refuse(format!("the TSA's key: {e}")))?
        .scheme();
    let algorithm_ok = if si.signature_algorithm.oid == RSA_ENCRYPTION {
        key_scheme == SchemeKind::RsaPkcs1v15
    } else {
        signature_hash(&si.signature_algorithm) == Ok((hash, Some(key_scheme)))
    };
    if !algorithm_ok {
        return Err(refuse(
            "the token's signature algorithm is not supported or does not fit its digest algorithm and the TSA's key",
        ));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| refuse("the token's SignerInfo has no signed attributes"))?;
    let single = |oid: ObjectIdentifier| {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => Ok(a.values.get(0)),
            (None, _) => Ok(None),
            _ => Err(refuse(format!(
                "the token's signed attribute {oid} is not single-valued"
            ))),
        }
    };
    let content_type = single(ID_CONTENT_TYPE)?
        .ok_or_else(|| refuse("the token has no content-type attribute"))?
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| refuse(format!("content-type attribute: {e}")))?;
    if content_type != ID_CT_TST_INFO {
        return Err(refuse(
            "the token's content-type attribute is not id-ct-TSTInfo",
        ));
    }
    let message_digest = single(ID_MESSAGE_DIGEST)?
        .ok_or_else(|| refuse("the token has no message-digest attribute"))?
        .decode_as::<OctetString>()
        .map_err(|e| refuse(format!("message-digest attribute: {e}")))?;
    if message_digest.as_bytes() != digest(hash, tst_der.as_bytes()) {
        return Err(refuse(
            "the token's message-digest attribute is not the hash of its TSTInfo",
        ));
    }
    if let Some(value) = single(ID_AA_SIGNING_CERTIFICATE_V2)? {
        let ess: SigningCertificateV2 = value
            .decode_as()
            .map_err(|e| refuse(format!("signing-certificate-v2 attribute: {e}")))?;
        let first = ess
            .certs
            .first()
            .ok_or_else(|| refuse("the signing-certificate-v2 attribute names no certificate"))?;
        if !names_certificate(first, tsa, tsa_der)? {
            return Err(refuse(
                "the signing-certificate-v2 attribute names another certificate than the signer's",
            ));
        }
    }
    let signed_hash = digest(hash, &attrs.to_der()?);
    verify_prehash(&spki, hash, &signed_hash, si.signature.as_bytes())
        .map_err(|_| refuse("the token's signature does not verify with the TSA's certificate"))
}

/// Whether an `ESSCertIDv2` names `cert`.
fn names_certificate(
    id: &EssCertIdV2,
    cert: &Certificate,
    cert_der: &[u8],
) -> Result<bool, DocError> {
    let hash = match &id.hash_algorithm {
        None => HashAlgorithm::Sha256,
        Some(alg) => match signature_hash(alg) {
            Ok((h, None)) => h,
            _ => return Err(refuse("signing-certificate-v2 uses an unsupported hash")),
        },
    };
    if id.cert_hash.as_bytes() != digest(hash, cert_der) {
        return Ok(false);
    }
    Ok(match &id.issuer_serial {
        None => true,
        Some(is) => {
            let tbs = cert.tbs_certificate();
            &is.serial == tbs.serial_number() && is.directory_name() == Some(tbs.issuer())
        }
    })
}

/// RFC 3161 §2.3: the TSA's certificate has exactly one extended key
/// usage, `id-kp-timeStamping`, and the extension is critical.
fn check_time_stamping_usage(tsa: &Certificate) -> Result<(), DocError> {
    let eku = tsa
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .ok_or_else(|| {
            refuse("the TSA's certificate has no extendedKeyUsage (id-kp-timeStamping required)")
        })?;
    if !eku.critical {
        return Err(refuse(
            "the TSA's certificate has a non-critical extendedKeyUsage",
        ));
    }
    let usages = ExtendedKeyUsage::from_der(eku.extn_value.as_bytes())
        .map_err(|e| refuse(format!("the TSA's extendedKeyUsage: {e}")))?;
    if usages.0 != [ID_KP_TIME_STAMPING] {
        return Err(refuse(
            "the TSA's extendedKeyUsage is not id-kp-timeStamping alone",
        ));
    }
    Ok(())
}

/// The TSA certificate is an anchor, or is signed by one, or by a CA
/// certificate of the token that an anchor signed; all valid at
/// `at`.
fn check_path(
    tsa: &Certificate,
    tsa_der: &[u8],
    intermediates: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
) -> Result<(), DocError> {
    check_valid_at(tsa, at, "the TSA's certificate")?;
    for anchor in anchors {
        if anchor.to_der()? == tsa_der {
            return Ok(());
        }
    }
    for anchor in anchors {
        if signed_by(tsa, anchor)? {
            return check_valid_at(anchor, at, "the trust anchor");
        }
    }
    for ca in intermediates {
        if !is_ca(ca) || !signed_by(tsa, ca)? {
            continue;
        }
        for anchor in anchors {
            if signed_by(ca, anchor)? {
                check_valid_at(ca, at, "the TSA's issuing CA certificate")?;
                return check_valid_at(anchor, at, "the trust anchor");
            }
        }
    }
    Err(refuse(
        "the TSA's certificate does not chain to a configured trust anchor",
    ))
}

fn check_valid_at(cert: &Certificate, at: SystemTime, what: &str) -> Result<(), DocError> {
    let validity = cert.tbs_certificate().validity();
    if at < validity.not_before.to_system_time() || at > validity.not_after.to_system_time() {
        return Err(refuse(format!(
            "{what} was not valid at the token's genTime"
        )));
    }
    Ok(())
}

fn is_ca(cert: &Certificate) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<BasicConstraints>(),
        Ok(Some((_, BasicConstraints { ca: true, .. })))
    )
}

/// Whether `issuer`'s key made the signature on `cert` (and names match).
fn signed_by(cert: &Certificate, issuer: &Certificate) -> Result<bool, DocError> {
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Ok(false);
    }
    let Ok((hash, Some(_))) = signature_hash(cert.signature_algorithm()) else {
        return Ok(false);
    };
    let Some(signature) = cert.signature().as_bytes() else {
        return Ok(false);
    };
    let spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()?;
    let tbs = cert.tbs_certificate().to_der()?;
    Ok(verify_prehash(&spki, hash, &digest(hash, &tbs), signature).is_ok())
}

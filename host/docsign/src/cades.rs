//! CAdES baseline signatures (ETSI EN 319 122-1): `-B-B` and `-B-T`,
//! detached or enveloping.
//!
//! A CAdES baseline signature is a CMS `SignedData` (RFC 5652) with one
//! `SignerInfo` whose signed attributes are content-type (`id-data`),
//! message-digest, signing-time and signing-certificate-v2 (RFC 5035,
//! naming the signer's certificate by its SHA-256 hash and issuer/serial)
//! (EN 319 122-1 §5.2). The `-B-T` level adds the unsigned attribute
//! signature-time-stamp (`id-aa-signatureTimeStampToken`,
//! 1.2.840.113549.1.9.16.2.14), an RFC 3161 `TimeStampToken` over the
//! signature value (§5.3).
//!
//! The CMS itself is built by sam-client's [`sam_client::cms`] module
//! ([`cms::prepare_with`]); this module adds the levels, the time-stamp
//! attribute and the [`Prepared`] contract. PAdES
//! ([`crate::pades`]) uses the same building block without the
//! signing-time attribute.
//!
//! What openssl checks:
//!
//! ```text
//! openssl cms -verify -binary -inform DER -in doc.p7s -content doc -CAfile ca.pem -purpose any
//! openssl cms -verify -binary -inform DER -in doc.p7m -CAfile ca.pem -purpose any   # enveloping
//! ```

use crate::{DocError, Level, Packaging, Prepared, SignerCert};
use ::cms::content_info::ContentInfo;
use ::cms::signed_data::SignedData;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Reader, Sequence, SliceReader};
use sam_client::cms;
use sam_client::verify::digest;
use sam_proto::asn1::signature_hash;
use sam_proto::ids::HashAlgorithm;
use spki::AlgorithmIdentifierOwned;
use std::time::SystemTime;

/// `id-ct-TSTInfo` (RFC 3161 §2.4.2): the content type of a time-stamp
/// token's `SignedData`.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// A CAdES signature waiting for the SAM's signature.
#[derive(Clone)]
pub struct CadesPrepared {
    cms: CmsPrepared,
}

/// Without the content of an enveloping signature: a prepared batch may
/// be logged.
impl std::fmt::Debug for CadesPrepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CadesPrepared")
            .field("level", &self.cms.level)
            .field("hash", &self.cms.inner.hash_algorithm())
            .field(
                "to_be_signed_hash",
                &hex::encode(self.cms.to_be_signed_hash()),
            )
            .finish_non_exhaustive()
    }
}

/// Prepares a CAdES signature of the document whose `hash` digest is
/// `document_digest` by `signer`, with the signing-time attribute
/// `signing_time`. `content` is the document itself for an enveloping
/// signature (it travels as `eContent` and must hash to
/// `document_digest`), `None` for a detached one.
pub fn prepare(
    document_digest: &[u8],
    content: Option<&[u8]>,
    signer: &SignerCert,
    hash: HashAlgorithm,
    level: Level,
    signing_time: SystemTime,
) -> Result<CadesPrepared, DocError> {
    let cms = prepare_cms(
        document_digest,
        signer,
        hash,
        level,
        cms::Options {
            signing_time: Some(signing_time),
            content: content.map(<[u8]>::to_vec),
        },
    )?;
    Ok(CadesPrepared { cms })
}

/// [`prepare`] of a whole document: hashed here, and carried in the
/// signature for [`Packaging::Enveloping`]. [`Packaging::Enveloped`] is
/// not a CAdES packaging ([`DocError::InvalidInput`]).
pub fn prepare_document(
    document: &[u8],
    packaging: Packaging,
    signer: &SignerCert,
    hash: HashAlgorithm,
    level: Level,
    signing_time: SystemTime,
) -> Result<CadesPrepared, DocError> {
    let content = match packaging {
        Packaging::Detached => None,
        Packaging::Enveloping => Some(document),
        Packaging::Enveloped => {
            return Err(DocError::InvalidInput(
                "CAdES is detached or enveloping, not enveloped".into(),
            ));
        }
    };
    prepare(
        &digest(hash, document),
        content,
        signer,
        hash,
        level,
        signing_time,
    )
}

impl CadesPrepared {
    /// The baseline level the signature was prepared for.
    pub fn level(&self) -> Level {
        self.cms.level
    }

    /// The DER of the signed attributes (`SET OF Attribute`): what
    /// [`Prepared::to_be_signed_hash`] is the hash of.
    pub fn signed_attributes_der(&self) -> Result<Vec<u8>, DocError> {
        Ok(self.cms.inner.signed_attributes_der()?)
    }
}

impl Prepared for CadesPrepared {
    fn to_be_signed_hash(&self) -> &[u8] {
        self.cms.to_be_signed_hash()
    }

    fn timestamped_data(&self, signature: &[u8]) -> Result<Vec<u8>, DocError> {
        Ok(signature.to_vec())
    }

    fn finish(&self, signature: &[u8], timestamp: Option<&[u8]>) -> Result<Vec<u8>, DocError> {
        self.cms.finish(signature, timestamp)
    }
}

/// The CMS building block of CAdES and PAdES: the signed attributes as
/// `options` say (PAdES leaves out signing-time), the level, and the
/// finishing with or without a signature time-stamp.
#[derive(Debug, Clone)]
pub(crate) struct CmsPrepared {
    inner: cms::Prepared,
    level: Level,
}

/// The [`CmsPrepared`] of a document digest.
pub(crate) fn prepare_cms(
    document_digest: &[u8],
    signer: &SignerCert,
    hash: HashAlgorithm,
    level: Level,
    options: cms::Options,
) -> Result<CmsPrepared, DocError> {
    if document_digest.len() != hash.output_len() {
        return Err(DocError::InvalidInput(format!(
            "a {hash:?} digest has {} bytes, not {}",
            hash.output_len(),
            document_digest.len()
        )));
    }
    let inner = cms::prepare_with(
        document_digest,
        &signer.certificate,
        &signer.chain,
        hash,
        options,
    )
    .map_err(|e| match DocError::from(e) {
        // A certificate that does not parse is the caller's input.
        DocError::Encoding(m) => DocError::InvalidInput(format!("signer certificate: {m}")),
        other => other,
    })?;
    Ok(CmsPrepared { inner, level })
}

impl CmsPrepared {
    pub(crate) fn to_be_signed_hash(&self) -> &[u8] {
        &self.inner.to_be_signed_hash
    }

    /// An upper bound of the DER length of [`Self::finish`]'s container
    /// when the time-stamp token has at most `timestamp_len` bytes (unused
    /// for `-B-B`).
    pub(crate) fn encoded_len_bound(&self, timestamp_len: usize) -> Result<usize, DocError> {
        let unsigned = match self.level {
            Level::BB => 0,
            // Attribute SEQUENCE { OID (11 + 2), SET { token } }, headers
            // of at most 4 bytes each.
            Level::BT => timestamp_len + 13 + 2 * 4,
        };
        Ok(self.inner.encoded_len_bound(unsigned)?)
    }

    /// The DER `ContentInfo`: `signature` checked against the signer's
    /// certificate, `timestamp` (required for `-B-T`, refused for `-B-B`)
    /// checked to be a time-stamp token over `signature`.
    pub(crate) fn finish(
        &self,
        signature: &[u8],
        timestamp: Option<&[u8]>,
    ) -> Result<Vec<u8>, DocError> {
        // The signature first: a wrong one is BadSignature, whatever the
        // token.
        self.inner.verify(signature)?;
        let unsigned = match (self.level, timestamp) {
            (Level::BB, None) => Vec::new(),
            (Level::BB, Some(_)) => {
                return Err(DocError::InvalidInput(
                    "a -B-B signature carries no time-stamp".into(),
                ));
            }
            (Level::BT, None) => {
                return Err(DocError::InvalidInput(
                    "a -B-T signature needs the signature time-stamp token".into(),
                ));
            }
            (Level::BT, Some(token)) => {
                check_timestamp_covers(token, signature)?;
                vec![
                    cms::signature_time_stamp_attribute(token)
                        .map_err(|e| DocError::Timestamp(e.to_string()))?,
                ]
            }
        };
        Ok(self.inner.finish_with(signature, unsigned)?)
    }
}

/// ```text
/// MessageImprint ::= SEQUENCE {
///     hashAlgorithm  AlgorithmIdentifier,
///     hashedMessage  OCTET STRING }
/// ```
/// (RFC 3161 §2.4.1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// Checks that `token` is an RFC 3161 `TimeStampToken` whose message
/// imprint is the hash of `signature`. The token's own signature and its
/// TSA's certificate are the time-stamp client's to verify; this guards
/// against putting a token over something else into the container.
pub(crate) fn check_timestamp_covers(token: &[u8], signature: &[u8]) -> Result<(), DocError> {
    let bad = |m: String| DocError::Timestamp(m);
    let ci = ContentInfo::from_der(token)
        .map_err(|e| bad(format!("the token is not a ContentInfo: {e}")))?;
    if ci.content_type != cms::ID_SIGNED_DATA {
        return Err(bad(format!(
            "the token is a {} ContentInfo, not signedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| bad(format!("the token's SignedData: {e}")))?;
    let eci = sd.encap_content_info;
    if eci.econtent_type != ID_CT_TST_INFO {
        return Err(bad(format!(
            "the token's content is {}, not id-ct-TSTInfo",
            eci.econtent_type
        )));
    }
    let tst_info = eci
        .econtent
        .ok_or_else(|| bad("the token has no TSTInfo".into()))?
        .decode_as::<OctetString>()
        .map_err(|e| bad(format!("the token's eContent: {e}")))?;
    let imprint = message_imprint(tst_info.as_bytes())
        .map_err(|e| bad(format!("the token's TSTInfo: {e}")))?;
    let (hash, _) = signature_hash(&imprint.hash_algorithm).map_err(|_| {
        bad(format!(
            "the token's imprint hash {} is not SHA-256/384/512",
            imprint.hash_algorithm.oid
        ))
    })?;
    if imprint.hashed_message.as_bytes() != digest(hash, signature).as_slice() {
        return Err(bad(
            "the time-stamp token is not over this signature value".into()
        ));
    }
    Ok(())
}

/// The `messageImprint` of a DER `TSTInfo` (RFC 3161 §2.4.2: `version`,
/// `policy`, `messageImprint`, then fields not needed here).
fn message_imprint(tst_info: &[u8]) -> Result<MessageImprint, der::Error> {
    let mut reader = SliceReader::new(tst_info)?;
    let imprint = reader.sequence(|r| {
        let _version: der::asn1::Int = r.decode()?;
        // Any OID, also one under a `2.25.<UUID>` arc (the development
        // TSA's), which `ObjectIdentifier` cannot hold.
        let _policy: der::Any = r.decode()?;
        let imprint: MessageImprint = r.decode()?;
        let rest = r.remaining_len();
        r.read_slice(rest)?;
        Ok::<_, der::Error>(imprint)
    })?;
    reader.finish()?;
    Ok(imprint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn an_enveloped_cades_is_refused() {
        let signer = SignerCert {
            certificate: Vec::new(),
            chain: Vec::new(),
        };
        let err = prepare_document(
            b"doc",
            Packaging::Enveloped,
            &signer,
            HashAlgorithm::Sha256,
            Level::BB,
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(err, DocError::InvalidInput(_)), "{err:?}");
    }

    #[test]
    fn a_digest_of_the_wrong_length_or_a_bad_certificate_is_invalid_input() {
        let signer = SignerCert {
            certificate: b"not a certificate".to_vec(),
            chain: Vec::new(),
        };
        for digest in [&[0u8; 31][..], &[0u8; 32][..]] {
            let err = prepare(
                digest,
                None,
                &signer,
                HashAlgorithm::Sha256,
                Level::BB,
                SystemTime::now(),
            )
            .unwrap_err();
            assert!(matches!(err, DocError::InvalidInput(_)), "{err:?}");
        }
    }

    #[test]
    fn a_token_that_is_not_one_is_a_timestamp_error() {
        for token in [&b"junk"[..], &[0x30, 0x00][..]] {
            let err = check_timestamp_covers(token, b"sig").unwrap_err();
            assert!(matches!(err, DocError::Timestamp(_)), "{err:?}");
        }
    }
}

//! One document of a request: decoded within the size limit, and
//! prepared in its container format.

use crate::wire::Document;
use crate::{ContainerFormat, DocError, Packaging, Prepared, SignerCert};
use crate::{cades, pades, smime, xades};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_proto::ids::HashAlgorithm;
use std::time::SystemTime;

/// Decodes the base64 `data` of `doc`, refusing more than `limit` bytes
/// before decoding anything.
pub fn decode(doc: &Document, limit: usize) -> Result<Vec<u8>, DocError> {
    decode_base64(&doc.data, limit).map_err(|e| match e {
        DocError::InvalidInput(m) => {
            DocError::InvalidInput(format!("document {:?}: data {m}", doc.id))
        }
        other => other,
    })
}

/// Decodes the base64 `text`, refusing more than `limit` bytes before
/// decoding anything.
pub fn decode_base64(text: &str, limit: usize) -> Result<Vec<u8>, DocError> {
    let too_large = || DocError::TooLarge {
        limit: u64::try_from(limit).unwrap_or(u64::MAX),
    };
    // Four base64 characters carry three bytes.
    let most = text.len().div_ceil(4).saturating_mul(3);
    if most > limit.saturating_add(2) {
        return Err(too_large());
    }
    let data = STANDARD
        .decode(text.trim())
        .map_err(|e| DocError::InvalidInput(format!("is not base64 ({e})")))?;
    if data.len() > limit {
        return Err(too_large());
    }
    Ok(data)
}

/// How many decoded bytes [`scan_base64`] keeps of a document's start:
/// what the checker's type detection looks at ([`crate::checker::may_refuse`]).
pub const HEAD_BYTES: usize = 1024;

/// One pass over a base64 document that keeps none of it but its first
/// [`HEAD_BYTES`]: its decoded length and start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The decoded length.
    pub len: usize,
    /// The first (up to) [`HEAD_BYTES`] decoded bytes.
    pub head: Vec<u8>,
}

/// A streaming decoder of the base64 `text` (the same alphabet and
/// padding rules as [`decode_base64`]): 64 KiB pieces at a time.
fn base64_reader(text: &str) -> impl std::io::Read + '_ {
    base64::read::DecoderReader::new(text.trim().as_bytes(), &STANDARD)
}

fn not_base64(e: &std::io::Error) -> DocError {
    DocError::InvalidInput(format!("is not base64 ({e})"))
}

/// Checks that the base64 `text` decodes to at most `limit` bytes
/// without holding the decoded document: a bounded buffer only.
pub fn scan_base64(text: &str, limit: usize) -> Result<Scan, DocError> {
    use std::io::Read as _;
    let too_large = || DocError::TooLarge {
        limit: u64::try_from(limit).unwrap_or(u64::MAX),
    };
    if text.len().div_ceil(4).saturating_mul(3) > limit.saturating_add(2) {
        return Err(too_large());
    }
    let mut reader = base64_reader(text);
    let mut buf = vec![0u8; 64 * 1024];
    let mut scan = Scan {
        len: 0,
        head: Vec::with_capacity(HEAD_BYTES),
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(not_base64(&e)),
        };
        let piece = buf.get(..n).unwrap_or_default();
        let room = HEAD_BYTES.saturating_sub(scan.head.len()).min(n);
        scan.head
            .extend_from_slice(piece.get(..room).unwrap_or_default());
        scan.len = scan.len.saturating_add(n);
    }
    if scan.len > limit {
        return Err(too_large());
    }
    Ok(scan)
}

/// The `hash` digest of the document the base64 `text` encodes, decoded
/// and hashed in a stream (bounded memory).
pub fn digest_base64(text: &str, hash: HashAlgorithm) -> Result<Vec<u8>, DocError> {
    sam_client::verify::digest_reader(hash, base64_reader(text)).map_err(|e| not_base64(&e))
}

/// Prepares `document` (named `file_name`) in `format` for the signer of
/// `signer`, signing time `signing_time`.
pub fn prepare(
    format: ContainerFormat,
    document: &[u8],
    file_name: &str,
    signer: &SignerCert,
    hash: HashAlgorithm,
    signing_time: SystemTime,
) -> Result<Box<dyn Prepared>, DocError> {
    Ok(match format {
        ContainerFormat::Cades(packaging, level) => {
            let digest = sam_client::verify::digest(hash, document);
            let content = (packaging == Packaging::Enveloping).then_some(document);
            Box::new(cades::prepare(
                &digest,
                content,
                signer,
                hash,
                level,
                signing_time,
            )?)
        }
        ContainerFormat::Pades(level) => {
            Box::new(pades::prepare(document, signer, hash, level, signing_time)?)
        }
        ContainerFormat::Xades(packaging, level) => Box::new(xades::prepare(
            document,
            file_name,
            signer,
            hash,
            packaging,
            level,
            signing_time,
        )?),
        ContainerFormat::Smime => Box::new(smime::prepare(document, signer, hash, signing_time)?),
    })
}

/// The hash algorithm a SAK `HashAlgorithm` names (an OID, a name, or
/// both in agreement).
pub fn hash_algorithm(oid: Option<&str>, name: Option<&str>) -> Result<HashAlgorithm, DocError> {
    const TABLE: [(&str, &str, HashAlgorithm); 3] = [
        ("2.16.840.1.101.3.4.2.1", "SHA-256", HashAlgorithm::Sha256),
        ("2.16.840.1.101.3.4.2.2", "SHA-384", HashAlgorithm::Sha384),
        ("2.16.840.1.101.3.4.2.3", "SHA-512", HashAlgorithm::Sha512),
    ];
    let by_oid = oid.map(|o| {
        TABLE
            .iter()
            .find(|(t, _, _)| *t == o.trim())
            .map(|(_, _, h)| *h)
            .ok_or_else(|| DocError::InvalidInput(format!("unsupported hash algorithm OID {o}")))
    });
    let by_name = name.map(|n| {
        let n = n.trim().replace(['-', '_'], "");
        TABLE
            .iter()
            .find(|(_, t, _)| t.replace('-', "").eq_ignore_ascii_case(&n))
            .map(|(_, _, h)| *h)
            .ok_or_else(|| DocError::InvalidInput(format!("unsupported hash algorithm {n}")))
    });
    match (by_oid.transpose()?, by_name.transpose()?) {
        (Some(a), Some(b)) if a != b => Err(DocError::InvalidInput(
            "hashAlgorithm: the OID and the name disagree".into(),
        )),
        (Some(h), _) | (None, Some(h)) => Ok(h),
        (None, None) => Err(DocError::InvalidInput(
            "hashAlgorithm needs an oid or a name".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_algorithms_by_oid_name_or_both() {
        assert_eq!(
            hash_algorithm(Some("2.16.840.1.101.3.4.2.1"), None),
            Ok(HashAlgorithm::Sha256)
        );
        assert_eq!(
            hash_algorithm(None, Some("sha384")),
            Ok(HashAlgorithm::Sha384)
        );
        assert_eq!(
            hash_algorithm(None, Some("SHA-512")),
            Ok(HashAlgorithm::Sha512)
        );
        assert!(hash_algorithm(Some("2.16.840.1.101.3.4.2.1"), Some("SHA-384")).is_err());
        assert!(hash_algorithm(None, Some("MD5")).is_err());
        assert!(hash_algorithm(None, None).is_err());
    }

    #[test]
    fn a_streamed_document_has_the_length_start_and_digest_of_the_decoded_one() {
        // Not a multiple of the 64 KiB pieces, with padding.
        let data: Vec<u8> = (0..200_001u32).map(|i| (i * 7 % 251) as u8).collect();
        let text = STANDARD.encode(&data);
        let scan = scan_base64(&text, data.len()).unwrap();
        assert_eq!(scan.len, data.len());
        assert_eq!(scan.head, data[..HEAD_BYTES]);
        for h in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
            assert_eq!(
                digest_base64(&text, h).unwrap(),
                sam_client::verify::digest(h, &data)
            );
        }
        assert_eq!(
            scan_base64(&text, data.len() - 1),
            Err(DocError::TooLarge {
                limit: data.len() as u64 - 1
            })
        );
        // What decode_base64 refuses, the stream refuses.
        for bad in ["aGVsbG8", "aGV=sbG8=", "aGVsbG8=!", "a\nGVsbG8="] {
            assert_eq!(
                decode_base64(bad, 100).is_err(),
                scan_base64(bad, 100).is_err(),
                "{bad}"
            );
            assert!(scan_base64(bad, 100).is_err(), "{bad}");
        }
        assert_eq!(scan_base64("", 10).unwrap().len, 0);
    }

    #[test]
    fn a_document_at_the_default_limit_streams_and_one_byte_more_is_refused() {
        let limit = crate::SakConfig::default().max_document_bytes;
        let data: Vec<u8> = (0..limit).map(|i| (i % 253) as u8).collect();
        let text = STANDARD.encode(&data);
        let scan = scan_base64(&text, limit).unwrap();
        assert_eq!(scan.len, limit);
        assert_eq!(
            digest_base64(&text, HashAlgorithm::Sha256).unwrap(),
            sam_client::verify::digest(HashAlgorithm::Sha256, &data)
        );
        let over = STANDARD.encode([data.as_slice(), b"x"].concat());
        assert_eq!(
            scan_base64(&over, limit),
            Err(DocError::TooLarge {
                limit: limit as u64
            })
        );
    }

    #[test]
    fn documents_over_the_limit_are_refused_before_decoding() {
        let doc = |data: &str| Document {
            id: "1".into(),
            file_name: String::new(),
            data: data.into(),
            signature_container_format: None,
        };
        assert_eq!(decode(&doc("aGVsbG8="), 5), Ok(b"hello".to_vec()));
        assert_eq!(
            decode(&doc("aGVsbG8="), 4),
            Err(DocError::TooLarge { limit: 4 })
        );
        assert_eq!(
            decode(&doc(&"A".repeat(400)), 10),
            Err(DocError::TooLarge { limit: 10 })
        );
        assert!(matches!(
            decode(&doc("not base64!"), 100),
            Err(DocError::InvalidInput(_))
        ));
    }
}

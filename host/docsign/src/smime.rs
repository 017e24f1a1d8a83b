//! S/MIME v4 (RFC 8551) `multipart/signed` of a MIME entity.
//!
//! The signature is a detached CMS `SignedData` with signed attributes
//! (sam-client's [`sam_client::cms`]) over the entity in canonical form:
//! its line endings made CRLF (RFC 8551 §3.1.1), every other byte kept,
//! so that an 8-bit or binary body is signed as given (a relay that needs
//! 7-bit transport must encode the entity before [`prepare`]). The
//! message is
//!
//! ```text
//! MIME-Version: 1.0
//! Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="..."
//!
//! --...
//! <the entity>
//! --...
//! Content-Type: application/pkcs7-signature; name=smime.p7s
//! Content-Transfer-Encoding: base64
//! Content-Disposition: attachment; filename=smime.p7s
//!
//! <the CMS, base64 in lines of 76>
//! ----
//! ```
//!
//! with CRLF line endings throughout. [`Prepared::finish`] returns that
//! whole message; a mail relay that writes its own top-level header
//! block (`From`, `To`, `Subject`, ...) takes [`SmimePrepared::finish_parts`]
//! instead: the two top-level MIME headers separately, and the body that
//! follows the blank line.

use crate::{DocError, Prepared, SignerCert};
use base64::Engine as _;
use sam_client::verify::digest;
use sam_proto::ids::HashAlgorithm;
use std::time::SystemTime;

/// The MIME headers that make a message S/MIME signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmimeMessage {
    /// `(name, value)`: `MIME-Version` and `Content-Type`, to go into the
    /// message's top-level header block.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line that ends the header block: the
    /// two parts, CRLF line endings.
    pub body: Vec<u8>,
}

/// An entity prepared for signing.
#[derive(Debug, Clone)]
pub struct SmimePrepared {
    cms: sam_client::cms::Prepared,
    entity: Vec<u8>,
    boundary: String,
    micalg: &'static str,
}

/// Prepares the S/MIME signature of the MIME entity `entity` (its header
/// fields, a blank line and its body, as it is to be shown to the
/// recipient) by `signer`, hashing with `hash`.
pub fn prepare(
    entity: &[u8],
    signer: &SignerCert,
    hash: HashAlgorithm,
    signing_time: SystemTime,
) -> Result<SmimePrepared, DocError> {
    let entity = canonical(entity);
    let cms = sam_client::cms::prepare_digest(
        &digest(hash, &entity),
        &signer.certificate,
        &signer.chain,
        hash,
        signing_time,
    )?;
    let boundary = boundary_for(&entity)?;
    // RFC 8551 §3.5.3.
    let micalg = match hash {
        HashAlgorithm::Sha256 => "sha-256",
        HashAlgorithm::Sha384 => "sha-384",
        HashAlgorithm::Sha512 => "sha-512",
    };
    Ok(SmimePrepared {
        cms,
        entity,
        boundary,
        micalg,
    })
}

impl SmimePrepared {
    /// The entity as signed (CRLF line endings).
    pub fn canonical_entity(&self) -> &[u8] {
        &self.entity
    }

    /// The top-level headers and the body of the signed message;
    /// `signature` as for [`Prepared::finish`].
    pub fn finish_parts(&self, signature: &[u8]) -> Result<SmimeMessage, DocError> {
        let p7s = self.cms.finish(signature)?;
        let b = &self.boundary;
        let mut body = Vec::with_capacity(self.entity.len() + p7s.len() * 2 + 512);
        body.extend_from_slice(b"This is an S/MIME signed message.\r\n\r\n");
        body.extend_from_slice(format!("--{b}\r\n").as_bytes());
        body.extend_from_slice(&self.entity);
        body.extend_from_slice(format!("\r\n--{b}\r\n").as_bytes());
        body.extend_from_slice(
            b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n\
              Content-Transfer-Encoding: base64\r\n\
              Content-Disposition: attachment; filename=smime.p7s\r\n\r\n",
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(p7s);
        for line in b64.as_bytes().chunks(76) {
            body.extend_from_slice(line);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        Ok(SmimeMessage {
            headers: vec![
                ("MIME-Version".into(), "1.0".into()),
                (
                    "Content-Type".into(),
                    format!(
                        "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg={}; boundary=\"{b}\"",
                        self.micalg
                    ),
                ),
            ],
            body,
        })
    }
}

impl Prepared for SmimePrepared {
    fn to_be_signed_hash(&self) -> &[u8] {
        &self.cms.to_be_signed_hash
    }

    fn timestamped_data(&self, _signature: &[u8]) -> Result<Vec<u8>, DocError> {
        Err(DocError::InvalidInput(
            "S/MIME has no -B-T level: no signature time-stamp".into(),
        ))
    }

    fn finish(&self, signature: &[u8], timestamp: Option<&[u8]>) -> Result<Vec<u8>, DocError> {
        if timestamp.is_some() {
            return Err(DocError::InvalidInput(
                "S/MIME has no -B-T level: no signature time-stamp".into(),
            ));
        }
        let message = self.finish_parts(signature)?;
        let mut out = Vec::with_capacity(message.body.len() + 256);
        for (name, value) in &message.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&message.body);
        Ok(out)
    }
}

/// `entity` with every line ending (CRLF, a lone LF or a lone CR) made
/// CRLF.
pub fn canonical(entity: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entity.len() + entity.len() / 32 + 2);
    let mut bytes = entity.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\r' => {
                if bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
                out.extend_from_slice(b"\r\n");
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            other => out.push(other),
        }
    }
    out
}

/// A random boundary that does not occur in `entity` (RFC 2046 §5.1.1:
/// the delimiter must not appear inside the encapsulated part).
fn boundary_for(entity: &[u8]) -> Result<String, DocError> {
    for _ in 0..8 {
        let mut random = [0u8; 18];
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(&mut random)
            .map_err(|_| DocError::Encoding("the random generator failed".into()))?;
        // base64url's alphabet is within RFC 2046's bchars.
        let boundary = format!(
            "sam-smime-{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );
        if !contains(entity, boundary.as_bytes()) {
            return Ok(boundary);
        }
    }
    Err(DocError::Encoding(
        "no MIME boundary that the entity does not contain".into(),
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_become_crlf_and_nothing_else_changes() {
        assert_eq!(
            canonical(b"a\nb\r\nc\rd\xff\r\n\n"),
            b"a\r\nb\r\nc\r\nd\xff\r\n\r\n"
        );
        assert_eq!(canonical(b""), b"");
        assert_eq!(canonical(b"\r"), b"\r\n");
    }
}

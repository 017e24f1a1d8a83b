//! XAdES baseline signatures (ETSI EN 319 132-1), levels B-B and B-T,
//! enveloped in the signed XML or detached beside any document.
//!
//! The SAM signs the hash of the canonical `ds:SignedInfo`. Every
//! canonical form is libxml2's and is taken from the signature in its
//! final place: the document with the signature spliced in is parsed and
//! the element canonicalized there, as a verifier will. The document's
//! own bytes are kept as they came; the signature is inserted before the
//! closing tag of the document element, with nothing around it, so the
//! enveloped-signature transform gives back exactly the parsed original.

mod c14n;
mod markup;

use crate::{DocError, Level, Packaging, Prepared, SignerCert};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use c14n::Method;
use der::{Decode, Encode, Sequence, asn1::UintRef};
use markup::{DataReference, Properties, Skeleton, signature_path};
use sam_client::verify::{KeyKind, digest, verify_prehash};
use sam_proto::asn1::IssuerSerial;
use sam_proto::ids::HashAlgorithm;
use std::time::SystemTime;
use x509_cert::Certificate;

/// The largest XML document signed enveloped: it is parsed a few times
/// and kept until the SAM has signed.
pub const MAX_XML_BYTES: usize = 32 * 1024 * 1024;

/// A XAdES signature waiting for the SAM's signature over the hash of its
/// canonical `ds:SignedInfo`.
#[derive(Debug, Clone)]
pub struct XadesPrepared {
    hash: HashAlgorithm,
    kind: KeyKind,
    level: Level,
    spki: Vec<u8>,
    to_be_signed_hash: Vec<u8>,
    signed_info: String,
    signed_info_c14n: String,
    skeleton: Skeleton,
    host: Host,
}

/// Where the `ds:Signature` goes.
#[derive(Debug, Clone)]
enum Host {
    /// Into the document: between `before` and `after`, the original text
    /// cut before the closing tag of the document element (for an empty
    /// element `<a/>`, rewritten as `<a>` and `</a>`).
    Enveloped { before: String, after: String },
    /// Alone, as the root of its own XML document.
    Detached,
}

impl Host {
    fn assemble(&self, signature: &str) -> String {
        match self {
            Self::Enveloped { before, after } => {
                let mut out = String::with_capacity(before.len() + signature.len() + after.len());
                out.push_str(before);
                out.push_str(signature);
                out.push_str(after);
                out
            }
            Self::Detached => format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{signature}\n"),
        }
    }
}

/// Prepares a XAdES signature of `xml_or_document` by the holder of
/// `signer`, hashing with `hash`, signed at `signing_time`.
///
/// Enveloped, the document must be well-formed UTF-8 XML of at most
/// [`MAX_XML_BYTES`] without a DTD (entities and attribute defaults would
/// make what is signed differ from what the bytes show), and `file_name`
/// is not used. Detached, any bytes are signed and `file_name` is the
/// name the signature refers to them by: a verifier looks for that file
/// next to the signature.
pub fn prepare(
    xml_or_document: &[u8],
    file_name: &str,
    signer: &SignerCert,
    hash: HashAlgorithm,
    packaging: Packaging,
    level: Level,
    signing_time: SystemTime,
) -> Result<XadesPrepared, DocError> {
    if packaging == Packaging::Enveloping {
        return Err(not_enveloping());
    }
    let cert = Certificate::from_der(&signer.certificate)
        .map_err(|e| DocError::InvalidInput(format!("signer certificate: {e}")))?;
    for (i, c) in signer.chain.iter().enumerate() {
        Certificate::from_der(c)
            .map_err(|e| DocError::InvalidInput(format!("chain certificate {i}: {e}")))?;
    }
    let tbs = cert.tbs_certificate();
    let spki = tbs.subject_public_key_info().to_der()?;
    let kind = KeyKind::of_spki(&spki)?;

    let (host, data, data_digest, mime_type) = match packaging {
        Packaging::Enveloped => {
            let (host, canonical) = enveloped_host(xml_or_document)?;
            let d = digest(hash, canonical.as_bytes());
            (host, DataReference::Enveloped, d, "text/xml")
        }
        Packaging::Detached => {
            if file_name.is_empty() || file_name == "." || file_name == ".." {
                return Err(DocError::InvalidInput(format!(
                    "a detached XAdES signature names its document; {file_name:?} is no file name"
                )));
            }
            let uri = markup::file_uri(file_name);
            let d = digest(hash, xml_or_document);
            (
                Host::Detached,
                DataReference::Detached { uri },
                d,
                mime_type(file_name),
            )
        }
        Packaging::Enveloping => return Err(not_enveloping()),
    };

    let time = xsd_date_time(signing_time)?;
    let issuer_serial = IssuerSerial::new(tbs.issuer(), tbs.serial_number())
        .map_err(|e| DocError::Encoding(format!("IssuerSerial: {e:?}")))?
        .to_der()?;
    // Unique per document, certificate and instant; the digest of the
    // document changes with every signature already in it.
    let mut seed = data_digest.clone();
    seed.extend_from_slice(&signer.certificate);
    seed.extend_from_slice(time.as_bytes());
    let id: String = digest(HashAlgorithm::Sha256, &seed)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let id = format!("xades-{id}");
    let certificates: Vec<String> = std::iter::once(&signer.certificate)
        .chain(&signer.chain)
        .map(|c| B64.encode(c))
        .collect();
    let skeleton = Skeleton::new(
        &id,
        &certificates,
        &Properties {
            signing_time: &time,
            hash,
            cert_digest: &B64.encode(digest(hash, &signer.certificate)),
            issuer_serial: &B64.encode(issuer_serial),
            mime_type,
        },
    );

    // The signed properties in place (they do not depend on SignedInfo).
    let draft = host.assemble(&skeleton.render("", "", ""));
    let props = c14n::element(
        &c14n::parse(draft.as_bytes())?,
        &signature_path(
            &id,
            "ds:Object/xades:QualifyingProperties/xades:SignedProperties",
        ),
        Method::Exclusive,
    )?;
    let signed_info = skeleton.signed_info(
        kind,
        hash,
        &data,
        &B64.encode(&data_digest),
        &B64.encode(digest(hash, props.as_bytes())),
    );
    // Then SignedInfo in place, with the empty signature value.
    let draft = host.assemble(&skeleton.render(&signed_info, "", ""));
    let signed_info_c14n = c14n::element(
        &c14n::parse(draft.as_bytes())?,
        &signature_path(&id, "ds:SignedInfo"),
        Method::Exclusive,
    )?;
    Ok(XadesPrepared {
        hash,
        kind,
        level,
        spki,
        to_be_signed_hash: digest(hash, signed_info_c14n.as_bytes()),
        signed_info,
        signed_info_c14n,
        skeleton,
        host,
    })
}

fn not_enveloping() -> DocError {
    DocError::InvalidInput("XAdES is enveloped or detached here, not enveloping".into())
}

/// The document cut at the point the signature goes, and its canonical
/// form (what the enveloped reference covers).
fn enveloped_host(xml: &[u8]) -> Result<(Host, String), DocError> {
    if xml.len() > MAX_XML_BYTES {
        return Err(DocError::TooLarge {
            limit: MAX_XML_BYTES as u64,
        });
    }
    let text = std::str::from_utf8(xml).map_err(|_| {
        DocError::InvalidDocument("an enveloped XAdES signature goes into UTF-8 XML".into())
    })?;
    // roxmltree finds where the document element ends in the bytes
    // (libxml2 does not tell), and refuses a DTD and undeclared prefixes.
    let tree = roxmltree::Document::parse(text)
        .map_err(|e| DocError::InvalidDocument(format!("not well-formed XML: {e}")))?;
    let range = tree.root_element().range();
    let bad_range = || DocError::InvalidDocument("the document element has no end".into());
    let element = text.get(range.clone()).ok_or_else(bad_range)?;
    let prefix = text.get(..range.start).ok_or_else(bad_range)?;
    let suffix = text.get(range.end..).ok_or_else(bad_range)?;
    let host = if let Some(open) = element.strip_suffix("/>") {
        // `<a x="1"/>` becomes `<a x="1">` + signature + `</a>`.
        let qname: String = element
            .chars()
            .skip(1)
            .take_while(|c| !c.is_whitespace() && *c != '/' && *c != '>')
            .collect();
        Host::Enveloped {
            before: format!("{prefix}{open}>"),
            after: format!("</{qname}>{suffix}"),
        }
    } else {
        // Markup cannot hold `</` but in an end tag, a comment, CDATA or a
        // processing instruction, and the element's own end tag is last.
        let cut = element.rfind("</").ok_or_else(bad_range)?;
        let (content, end_tag) = element.split_at(cut);
        Host::Enveloped {
            before: format!("{prefix}{content}"),
            after: format!("{end_tag}{suffix}"),
        }
    };
    let canonical = c14n::document(&c14n::parse(xml)?, Method::Inclusive)?;
    Ok((host, canonical))
}

/// A `MimeType` for the detached document, from the usual extensions.
fn mime_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("xml") => "text/xml",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// `time` as an `xsd:dateTime` in UTC, to the second.
fn xsd_date_time(time: SystemTime) -> Result<String, DocError> {
    let t = der::DateTime::from_system_time(time)
        .map_err(|e| DocError::InvalidInput(format!("signing time: {e}")))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    ))
}

/// `Ecdsa-Sig-Value` (RFC 3279 §2.2.3), as the SAM returns it.
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// The DER `Ecdsa-Sig-Value` `der` as `r || s`, each left-padded to
/// `width` bytes.
fn ecdsa_raw(der: &[u8], width: usize) -> Result<Vec<u8>, DocError> {
    let v = EcdsaSigValue::from_der(der)
        .map_err(|e| DocError::BadSignature(format!("ECDSA signature: {e}")))?;
    let mut raw = Vec::with_capacity(2 * width);
    for n in [v.r.as_bytes(), v.s.as_bytes()] {
        let pad = width.checked_sub(n.len()).ok_or_else(|| {
            DocError::BadSignature("an ECDSA integer longer than the curve".into())
        })?;
        raw.resize(raw.len() + pad, 0);
        raw.extend_from_slice(n);
    }
    Ok(raw)
}

impl XadesPrepared {
    /// The checked signature as `ds:SignatureValue` content: XML-DSig 1.1
    /// §6.4.3 wants ECDSA as `r || s`, each the size of the curve's
    /// order, where the SAM answers DER.
    fn signature_value(&self, signature: &[u8]) -> Result<String, DocError> {
        verify_prehash(&self.spki, self.hash, &self.to_be_signed_hash, signature)?;
        let width = match self.kind {
            KeyKind::Rsa => return Ok(B64.encode(signature)),
            KeyKind::P256 => 32,
            KeyKind::P384 => 48,
        };
        Ok(B64.encode(ecdsa_raw(signature, width)?))
    }

    fn canonical_in_place(&self, xml: &str, below: &str) -> Result<String, DocError> {
        let doc = c14n::parse(xml.as_bytes())?;
        c14n::element(
            &doc,
            &signature_path(&self.skeleton.id, below),
            Method::Exclusive,
        )
    }
}

impl Prepared for XadesPrepared {
    fn to_be_signed_hash(&self) -> &[u8] {
        &self.to_be_signed_hash
    }

    fn timestamped_data(&self, signature: &[u8]) -> Result<Vec<u8>, DocError> {
        let value = self.signature_value(signature)?;
        let xml = self
            .host
            .assemble(&self.skeleton.render(&self.signed_info, &value, ""));
        Ok(self
            .canonical_in_place(&xml, "ds:SignatureValue")?
            .into_bytes())
    }

    fn finish(&self, signature: &[u8], timestamp: Option<&[u8]>) -> Result<Vec<u8>, DocError> {
        let value = self.signature_value(signature)?;
        let unsigned = match (self.level, timestamp) {
            (Level::BB, None) => String::new(),
            (Level::BT, Some(token)) if !token.is_empty() => {
                self.skeleton.unsigned_properties(&B64.encode(token))
            }
            (Level::BB, Some(_)) => {
                return Err(DocError::InvalidInput(
                    "a XAdES-B-B signature carries no time-stamp".into(),
                ));
            }
            (Level::BT, _) => {
                return Err(DocError::Timestamp(
                    "XAdES-B-T needs the signature time-stamp token".into(),
                ));
            }
        };
        let xml = self
            .host
            .assemble(&self.skeleton.render(&self.signed_info, &value, &unsigned));
        // What a verifier will canonicalize must still be what was signed.
        if self.canonical_in_place(&xml, "ds:SignedInfo")? != self.signed_info_c14n {
            return Err(DocError::Encoding(
                "the assembled signature's SignedInfo differs from the signed one".into(),
            ));
        }
        Ok(xml.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_integers_are_padded_to_the_curve_size() {
        // SEQUENCE { INTEGER 0x00ff (positive, so a leading zero), INTEGER 1 }
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        let raw = ecdsa_raw(&der, 4).unwrap();
        assert_eq!(raw, [0, 0, 0, 0xff, 0, 0, 0, 1]);
        assert!(matches!(ecdsa_raw(&der, 0), Err(DocError::BadSignature(_))));
        assert!(matches!(
            ecdsa_raw(&der[..5], 4),
            Err(DocError::BadSignature(_))
        ));
    }

    #[test]
    fn enveloping_is_not_a_xades_packaging_here() {
        let signer = SignerCert {
            certificate: vec![],
            chain: vec![],
        };
        let r = prepare(
            b"<a/>",
            "",
            &signer,
            HashAlgorithm::Sha256,
            Packaging::Enveloping,
            Level::BB,
            SystemTime::now(),
        );
        let Err(DocError::InvalidInput(m)) = r else {
            panic!("{r:?}")
        };
        assert!(m.contains("not enveloping"), "{m}");
    }
}

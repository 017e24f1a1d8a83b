//! The trusted checker (seed §7.3.6): looks at each document before it
//! is signed and says what it is and whether it may be signed, in a
//! report the service authenticates so that `create-signature(s)` can
//! tell it was not altered on its way through the client.
//!
//! What is refused, and why a signer should not sign it:
//! * a PDF that is encrypted (what is shown is not what is hashed), has
//!   JavaScript or launch actions (what is shown can change after
//!   signing), embedded files (content the viewer may not show), or
//!   does not parse;
//! * XML that is not well-formed or has a document type declaration
//!   (entities expand into content the signer did not see);
//! * an empty document.
//!
//! Anything else is accepted with its detected MIME type. The PDF is
//! parsed with `lopdf` and the XML with `roxmltree`; nothing here parses
//! by hand.
//!
//! The report's `signature` is HMAC-SHA-256 under a key the service
//! makes at start: only this service instance can make or check it (a
//! service behind a load balancer needs a shared key; not built). It is
//! not a security boundary of the SAM — the firmware signs only what
//! the signer's SAD names — but a policy check of the service.

use crate::DocError;
use crate::wire::{CheckDocument, ProofReport};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The MIME types the checker tells apart.
pub mod mime {
    /// `%PDF-` within the first KiB (ISO 32000-1 §7.5.2).
    pub const PDF: &str = "application/pdf";
    /// Starts with `<` after an optional BOM and white space.
    pub const XML: &str = "application/xml";
    /// Valid UTF-8 that is neither.
    pub const TEXT: &str = "text/plain";
    /// Everything else.
    pub const BINARY: &str = "application/octet-stream";
}

/// What the checker found about one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The detected MIME type.
    pub mime_type: &'static str,
    /// Why it must not be signed; `None`: it may.
    pub refusal: Option<String>,
}

/// Detects the type of `data` and checks it.
pub fn check(data: &[u8]) -> Finding {
    let mime_type = detect(data);
    let refusal = if data.is_empty() {
        Some("the document is empty".to_owned())
    } else {
        match mime_type {
            mime::PDF => check_pdf(data).err(),
            mime::XML => check_xml(data).err(),
            _ => None,
        }
    };
    Finding { mime_type, refusal }
}

/// Whether [`check`] could refuse a document that starts with `head`
/// (its first [`crate::documents::HEAD_BYTES`] bytes or all of it) and is
/// `len` bytes long: an empty document, a PDF or XML (which the checker
/// parses) by [`detect`]'s rules. When not, the document never needs to
/// be held whole for the check.
pub fn may_refuse(head: &[u8], len: usize) -> bool {
    if len == 0 || head.windows(5).any(|w| w == b"%PDF-") {
        return true;
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) => *b == b'<',
        // Only whitespace so far: the first character may still be `<`.
        None => true,
    }
}

/// The MIME type by content (never by file name, which the client
/// chooses).
pub fn detect(data: &[u8]) -> &'static str {
    let head = data.get(..1024).unwrap_or(data);
    if head.windows(5).any(|w| w == b"%PDF-") {
        return mime::PDF;
    }
    let text = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    match (first, std::str::from_utf8(data)) {
        (Some(b'<'), Ok(_)) => mime::XML,
        (_, Ok(_)) => mime::TEXT,
        _ => mime::BINARY,
    }
}

fn check_pdf(data: &[u8]) -> Result<(), String> {
    let doc = lopdf::Document::load_mem(data).map_err(|e| {
        // lopdf may fail on an encrypted file it cannot decrypt; say why.
        if data.windows(8).any(|w| w == b"/Encrypt") {
            "the PDF is encrypted".to_owned()
        } else {
            format!("not a readable PDF: {e}")
        }
    })?;
    if doc.trailer.has(b"Encrypt") || doc.is_encrypted() {
        return Err("the PDF is encrypted".into());
    }
    doc.objects
        .values()
        .try_for_each(|o| check_pdf_object(o, 0))
}

/// Nesting deeper than this is refused rather than followed.
const MAX_PDF_NESTING: usize = 64;

/// Checks one object and the dictionaries and arrays inside it (direct
/// objects; indirect ones are checked as objects of the document).
fn check_pdf_object(object: &lopdf::Object, depth: usize) -> Result<(), String> {
    if depth > MAX_PDF_NESTING {
        return Err("the PDF nests objects too deeply".into());
    }
    let dict = match object {
        lopdf::Object::Dictionary(d) => d,
        lopdf::Object::Stream(s) => &s.dict,
        lopdf::Object::Array(items) => {
            return items
                .iter()
                .try_for_each(|o| check_pdf_object(o, depth + 1));
        }
        _ => return Ok(()),
    };
    if dict.has(b"JS") || dict.has(b"JavaScript") {
        return Err("the PDF has JavaScript".into());
    }
    let action = dict.get(b"S").ok().and_then(|s| s.as_name().ok());
    if action == Some(b"Launch".as_slice()) {
        return Err("the PDF has a launch action".into());
    }
    if action == Some(b"JavaScript".as_slice()) {
        return Err("the PDF has JavaScript".into());
    }
    let kind = dict.get(b"Type").ok().and_then(|t| t.as_name().ok());
    if dict.has(b"EmbeddedFiles") || kind == Some(b"EmbeddedFile".as_slice()) {
        return Err("the PDF has embedded files".into());
    }
    dict.iter()
        .try_for_each(|(_, v)| check_pdf_object(v, depth + 1))
}

fn check_xml(data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|_| "the XML is not UTF-8".to_owned())?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    // roxmltree refuses a DTD unless allowed: entity expansion stays out.
    roxmltree::Document::parse(text)
        .map(|_| ())
        .map_err(|e| format!("the XML is not well-formed or has a DTD: {e}"))
}

/// SHA-256 of `data`, lowercase hex: a report's `hashValue`.
pub fn hash_value(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The bytes a report's tag covers: its entries and time, in the order
/// of the JSON fields (serde_json writes them deterministically).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Covered<'a> {
    checked_documents: &'a [CheckDocument],
    creation_time: u64,
}

/// Makes and checks the reports of one service instance.
#[derive(Clone)]
pub struct Checker {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker").finish_non_exhaustive()
    }
}

impl Checker {
    /// A checker with the report key `key`.
    pub fn new(key: &[u8; 32]) -> Result<Self, DocError> {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .map_err(|_| DocError::InvalidInput("the report key is unusable".into()))?;
        Ok(Self { mac })
    }

    /// A checker with a fresh random key (the service's, made at start).
    pub fn random() -> Result<Self, DocError> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        rustls::crypto::aws_lc_rs::default_provider()
            .secure_random
            .fill(key.as_mut_slice())
            .map_err(|_| DocError::InvalidInput("the RNG failed".into()))?;
        Self::new(&key)
    }

    fn mac_over(&self, entries: &[CheckDocument], creation_time: u64) -> Hmac<Sha256> {
        let covered = serde_json::to_vec(&Covered {
            checked_documents: entries,
            creation_time,
        })
        .unwrap_or_default();
        let mut mac = self.mac.clone();
        mac.update(&covered);
        mac
    }

    /// The signed report on `documents` (id, data) at `now`.
    pub fn report<'a>(
        &self,
        documents: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        now: u64,
    ) -> ProofReport {
        let checked_documents: Vec<CheckDocument> = documents
            .into_iter()
            .map(|(id, data)| {
                let f = check(data);
                CheckDocument {
                    document_id: id.to_owned(),
                    error_message: f.refusal.clone().unwrap_or_default(),
                    hash_value: hash_value(data),
                    mime_type: f.mime_type.to_owned(),
                    proof_result: f.refusal.is_none(),
                }
            })
            .collect();
        let tag = self
            .mac_over(&checked_documents, now)
            .finalize()
            .into_bytes();
        ProofReport {
            checked_documents,
            creation_time: now,
            signature: STANDARD.encode(tag),
        }
    }

    /// Whether `report` was made by this checker (the tag is compared in
    /// constant time).
    pub fn authentic(&self, report: &ProofReport) -> bool {
        let Ok(tag) = STANDARD.decode(&report.signature) else {
            return false;
        };
        self.mac_over(&report.checked_documents, report.creation_time)
            .verify_slice(&tag)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use lopdf::{Dictionary, Document, Object, dictionary};

    #[test]
    fn what_may_refuse_says_no_to_the_checker_never_refuses() {
        let js = pdf(|c| {
            c.set(
                "OpenAction",
                dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("x") },
            );
        });
        let padded_xml = [vec![b' '; 2000], b"<!DOCTYPE a><a/>".to_vec()].concat();
        let samples: [&[u8]; 8] = [
            b"",
            b"plain text",
            b"\xEF\xBB\xBF<a>",
            b"\xff\xfe binary",
            b"<not xml",
            &js,
            &padded_xml,
            b"  \n\t",
        ];
        for data in samples {
            let head = data.get(..crate::documents::HEAD_BYTES).unwrap_or(data);
            if !may_refuse(head, data.len()) {
                assert_eq!(check(data).refusal, None, "{data:?}");
            } else if data.len() > 1 {
                assert!(check(data).refusal.is_some() || detect(data) != mime::BINARY);
            }
        }
        assert!(may_refuse(&js, js.len()) && check(&js).refusal.is_some());
        assert!(may_refuse(&padded_xml[..1024], padded_xml.len()));
        assert!(check(&padded_xml).refusal.is_some());
        assert!(!may_refuse(b"plain text", 10));
        assert!(may_refuse(b"", 0));
    }

    /// A one-page PDF written by lopdf, `extra` added to its catalog.
    fn pdf(extra: impl FnOnce(&mut Dictionary)) -> Vec<u8> {
        pdf_with(extra, |_| {})
    }

    fn pdf_with(
        extra: impl FnOnce(&mut Dictionary),
        trailer: impl FnOnce(&mut Dictionary),
    ) -> Vec<u8> {
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => vec![page_id.into()],
                "Count" => 1,
            }),
        );
        let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
        extra(&mut catalog);
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", catalog_id);
        trailer(&mut doc.trailer);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    #[test]
    fn types_are_detected_by_content() {
        assert_eq!(detect(&pdf(|_| {})), mime::PDF);
        assert_eq!(detect(b"\xEF\xBB\xBF  <a/>"), mime::XML);
        assert_eq!(detect(b"hello"), mime::TEXT);
        assert_eq!(detect(&[0xff, 0xfe, 0x00]), mime::BINARY);
    }

    #[test]
    fn dangerous_documents_are_refused_with_a_reason() {
        let js = pdf(|c| {
            c.set(
                "OpenAction",
                dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)") },
            );
        });
        let launch = pdf(|c| {
            c.set(
                "OpenAction",
                dictionary! { "S" => "Launch", "F" => Object::string_literal("calc.exe") },
            );
        });
        let embedded = pdf(|c| {
            c.set(
                "Names",
                dictionary! { "EmbeddedFiles" => dictionary! { "Names" => Vec::<Object>::new() } },
            );
        });
        let encrypted = pdf_with(
            |_| {},
            |t| {
                t.set(
                    "Encrypt",
                    dictionary! {
                        "Filter" => "Standard", "V" => 1, "R" => 2, "P" => -4,
                        "O" => Object::string_literal(vec![0u8; 32]),
                        "U" => Object::string_literal(vec![0u8; 32]),
                    },
                );
            },
        );
        let cases: [(&[u8], &str); 7] = [
            (&encrypted, "encrypted"),
            (&js, "JavaScript"),
            (&launch, "launch"),
            (&embedded, "embedded"),
            (b"<a><b></a>", "well-formed"),
            (b"<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", "DTD"),
            (b"", "empty"),
        ];
        for (doc, why) in cases {
            let f = check(doc);
            let refusal = f.refusal.unwrap_or_default();
            assert!(refusal.contains(why), "{why}: {refusal:?}");
        }
        assert_eq!(check(&pdf(|_| {})).refusal, None);
        assert_eq!(check(b"<a>ok</a>").refusal, None);
    }

    #[test]
    fn a_report_is_authentic_until_a_field_changes() {
        let checker = Checker::new(&[7; 32]).unwrap();
        let report = checker.report([("1", b"hello".as_slice()), ("2", b"<a/>")], 1_700_000_000);
        assert!(checker.authentic(&report));
        assert_eq!(report.checked_documents[0].hash_value, hash_value(b"hello"));
        let mut flipped = report.clone();
        flipped.checked_documents[1].proof_result = false;
        assert!(!checker.authentic(&flipped));
        let mut later = report.clone();
        later.creation_time += 1;
        assert!(!checker.authentic(&later));
        let other = Checker::new(&[8; 32]).unwrap();
        assert!(!other.authentic(&report));
    }
}

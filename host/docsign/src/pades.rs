//! PAdES baseline signatures (ETSI EN 319 142-1): `-B-B` and `-B-T`,
//! SubFilter `ETSI.CAdES.detached`.
//!
//! The signature goes into an incremental update of the PDF (ISO 32000-1
//! §7.5.6): the input's bytes stay unchanged as the prefix of the signed
//! file, followed by
//!
//! * a signature dictionary (`/Type /Sig /Filter /Adobe.PPKLite /SubFilter
//!   /ETSI.CAdES.detached /ByteRange /Contents /M`, ISO 32000-1 §12.8.1);
//! * an invisible signature field, merged with its widget annotation
//!   (`/FT /Sig`, `/Rect [0 0 0 0]`, on page 1);
//! * page 1 with the widget added to its `/Annots`, and the catalog's
//!   `/AcroForm` with the field in `/Fields` and `/SigFlags 3`;
//! * a cross-reference section and trailer whose `/Prev` is the input's.
//!
//! The PDF is read and the objects are written by `lopdf`
//! ([`lopdf::IncrementalDocument`]); no PDF syntax is parsed here. What is
//! done by position, as every PDF signer does, is filling the two
//! fixed-size placeholders of the written bytes: `/ByteRange` (the whole
//! file but the `/Contents` hex string) once the file's length is known,
//! then `/Contents` (the DER CMS, hex, zero-padded) once the SAM has
//! signed. Both are found by unique markers in the appended part only, and
//! every size is checked.
//!
//! The CMS is CAdES's ([`crate::cades`]) without the signing-time
//! attribute, which a PAdES baseline signature must not have (EN 319 142-1
//! §5.2.2: the time is the dictionary's `/M`); its message-digest is the
//! hash of the byte range, `eContent` absent. `-B-T` adds the signature
//! time-stamp as an unsigned attribute, as in CAdES; `/Contents` reserves
//! [`PadesOptions::timestamp_reserve`] bytes for the token.

use crate::cades::{CmsPrepared, prepare_cms};
use crate::{DocError, Level, Prepared, SignerCert};
use lopdf::{Dictionary, IncrementalDocument, Object, ObjectId, StringFormat};
use sam_client::cms;
use sam_proto::ids::HashAlgorithm;
use sha2::Digest;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

/// The bytes `/Contents` reserves by default for the time-stamp token of
/// a `-B-T` signature (a token with its TSA's certificate chain is
/// typically 2 to 8 KiB).
pub const DEFAULT_TIMESTAMP_RESERVE: usize = 16 * 1024;

/// The first bytes of the `/Contents` placeholder: how the written
/// placeholder is found in the appended part (then overwritten with
/// zeros).
const CONTENTS_MARKER: &[u8; 32] = b"SAM-DOCSIGN PADES CONTENTS HOLE!";

/// The placeholder numbers of `/ByteRange`: ten digits each, wider than
/// the offsets of any document this accepts.
const BYTE_RANGE_MARKERS: [i64; 3] = [9_999_999_901, 9_999_999_902, 9_999_999_903];

/// How the PDF signature is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PadesOptions {
    /// The bytes reserved in `/Contents` for the time-stamp token
    /// (`-B-T` only): [`PadesPrepared::finish`] refuses a token that does
    /// not fit.
    pub timestamp_reserve: usize,
}

impl Default for PadesOptions {
    fn default() -> Self {
        Self {
            timestamp_reserve: DEFAULT_TIMESTAMP_RESERVE,
        }
    }
}

/// A PDF whose signature dictionary and byte range are fixed, waiting for
/// the SAM's signature.
#[derive(Clone)]
pub struct PadesPrepared {
    cms: CmsPrepared,
    /// The updated PDF, `/ByteRange` filled, `/Contents` all zeros.
    pdf: Vec<u8>,
    /// The hex digits of `/Contents` (between `<` and `>`).
    contents: Range<usize>,
    field_name: String,
    level: Level,
}

/// Prepares a PAdES signature of `pdf` by `signer` hashing with `hash`,
/// `/M` = `signing_time`, with the default [`PadesOptions`].
///
/// Not a PDF, an encrypted PDF, a PDF that does not parse or whose
/// cross-reference data had to be rebuilt (an incremental update needs a
/// sound previous one), or without pages, is
/// [`DocError::InvalidDocument`].
pub fn prepare(
    pdf: &[u8],
    signer: &SignerCert,
    hash: HashAlgorithm,
    level: Level,
    signing_time: SystemTime,
) -> Result<PadesPrepared, DocError> {
    prepare_with(
        pdf,
        signer,
        hash,
        level,
        signing_time,
        &PadesOptions::default(),
    )
}

/// [`prepare`] with `options`.
pub fn prepare_with(
    pdf: &[u8],
    signer: &SignerCert,
    hash: HashAlgorithm,
    level: Level,
    signing_time: SystemTime,
    options: &PadesOptions,
) -> Result<PadesPrepared, DocError> {
    let invalid = |m: String| DocError::InvalidDocument(m);
    // ISO 32000-1 §7.5.2: the header; readers accept it within the first
    // 1024 bytes.
    let head = pdf.get(..pdf.len().min(1024)).unwrap_or_default();
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(invalid("not a PDF (no %PDF- header)".into()));
    }
    let mut doc = load(pdf)?;

    // The CMS size depends on the key, the certificates and the level,
    // not on the digest: a stand-in fixes how much /Contents reserves.
    let none = || cms::Options {
        signing_time: None,
        content: None,
    };
    let stand_in = prepare_cms(&vec![0; hash.output_len()], signer, hash, level, none())?;
    let reserve = stand_in
        .encoded_len_bound(options.timestamp_reserve)?
        .next_multiple_of(256);

    let field_name = add_signature(&mut doc, reserve, signing_time)?;
    let mut out = Vec::with_capacity(pdf.len() + 2 * reserve + 4096);
    doc.save_to(&mut out)
        .map_err(|e| DocError::Encoding(format!("writing the incremental update: {e}")))?;
    if out.get(..pdf.len()) != Some(pdf) {
        return Err(DocError::Encoding(
            "the incremental update did not keep the original bytes".into(),
        ));
    }

    // The placeholders, in the appended part only.
    let appended = pdf.len();
    let marker_hex = hex_upper(CONTENTS_MARKER);
    let mut needle = vec![b'<'];
    needle.extend_from_slice(&marker_hex);
    let open = unique(&out, appended, &needle, "/Contents")?;
    let contents = open + 1..open + 1 + 2 * reserve;
    let close = contents.end;
    if out.get(close) != Some(&b'>')
        || out
            .get(contents.start + marker_hex.len()..contents.end)
            .is_none_or(|z| z.iter().any(|&b| b != b'0'))
    {
        return Err(DocError::Encoding(
            "the /Contents placeholder is not where it was written".into(),
        ));
    }
    if let Some(digits) = out.get_mut(contents.start..contents.start + marker_hex.len()) {
        digits.fill(b'0');
    }
    let [m1, m2, m3] = BYTE_RANGE_MARKERS;
    let ph = format!("[0 {m1} {m2} {m3}]");
    let at = unique(&out, appended, ph.as_bytes(), "/ByteRange")?;
    let (a, b) = (open, close + 1);
    let c = out.len() - b;
    let mut filled = format!("[0 {a} {b} {c}").into_bytes();
    if filled.len() >= ph.len() {
        return Err(DocError::Encoding("the /ByteRange does not fit".into()));
    }
    filled.resize(ph.len() - 1, b' ');
    filled.push(b']');
    if let Some(slot) = out.get_mut(at..at + ph.len()) {
        slot.copy_from_slice(&filled);
    }

    let (before, after) = (
        out.get(..a).unwrap_or_default(),
        out.get(b..).unwrap_or_default(),
    );
    let document_digest = digest_ranges(hash, &[before, after]);
    let cms = prepare_cms(&document_digest, signer, hash, level, none())?;
    if cms.encoded_len_bound(options.timestamp_reserve)? > reserve {
        return Err(DocError::Encoding("the CMS outgrew its reservation".into()));
    }
    tracing::debug!(
        field = %field_name,
        len = out.len(),
        reserve,
        "PAdES prepared"
    );
    Ok(PadesPrepared {
        cms,
        pdf: out,
        contents,
        field_name,
        level,
    })
}

/// Without the PDF's bytes: a prepared batch may be logged.
impl std::fmt::Debug for PadesPrepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PadesPrepared")
            .field("level", &self.level)
            .field("field_name", &self.field_name)
            .field("pdf_len", &self.pdf.len())
            .field("byte_range", &self.byte_range())
            .field(
                "to_be_signed_hash",
                &hex::encode(self.cms.to_be_signed_hash()),
            )
            .finish_non_exhaustive()
    }
}

impl PadesPrepared {
    /// The name (`/T`) of the signature field added.
    pub fn field_name(&self) -> &str {
        &self.field_name
    }

    /// The bytes reserved for the DER CMS in `/Contents`.
    pub fn reserved(&self) -> usize {
        self.contents.len() / 2
    }

    /// The `/ByteRange` the signature covers: everything but the
    /// `/Contents` hex string, angle brackets included.
    pub fn byte_range(&self) -> [usize; 4] {
        let (a, b) = (self.contents.start - 1, self.contents.end + 1);
        [0, a, b, self.pdf.len() - b]
    }
}

impl Prepared for PadesPrepared {
    fn to_be_signed_hash(&self) -> &[u8] {
        self.cms.to_be_signed_hash()
    }

    fn timestamped_data(&self, signature: &[u8]) -> Result<Vec<u8>, DocError> {
        Ok(signature.to_vec())
    }

    /// The signed PDF.
    fn finish(&self, signature: &[u8], timestamp: Option<&[u8]>) -> Result<Vec<u8>, DocError> {
        let der = self.cms.finish(signature, timestamp)?;
        if der.len() > self.reserved() {
            let m = format!(
                "the signature container has {} bytes, over the {} bytes reserved in /Contents",
                der.len(),
                self.reserved()
            );
            return Err(match self.level {
                Level::BT => DocError::Timestamp(format!(
                    "{m}: the time-stamp token is larger than PadesOptions::timestamp_reserve"
                )),
                Level::BB => DocError::Encoding(m),
            });
        }
        let mut out = self.pdf.clone();
        let hex = hex_upper(&der);
        match out.get_mut(self.contents.start..self.contents.start + hex.len()) {
            Some(slot) => slot.copy_from_slice(&hex),
            None => return Err(DocError::Encoding("/Contents out of range".into())),
        }
        Ok(out)
    }
}

/// The PDF as an incremental document, refused if it cannot take an
/// incremental update.
fn load(pdf: &[u8]) -> Result<IncrementalDocument, DocError> {
    let invalid = |m: String| DocError::InvalidDocument(m);
    let doc: IncrementalDocument = pdf.try_into().map_err(|e: lopdf::Error| match e {
        lopdf::Error::Decryption(_) | lopdf::Error::InvalidPassword => {
            invalid("the PDF is encrypted".into())
        }
        other => invalid(format!("the PDF does not parse: {other}")),
    })?;
    let prev = doc.get_prev_documents();
    if prev.trailer.has(b"Encrypt") || prev.encryption_state.is_some() {
        return Err(invalid("the PDF is encrypted".into()));
    }
    if prev.xref_start == 0
        || matches!(
            prev.xref_recovery,
            Some(lopdf::xref::XrefRecovery::Reconstructed)
        )
    {
        return Err(invalid(
            "the PDF's cross-reference data is damaged (it had to be rebuilt), so it cannot \
             take an incremental update"
                .into(),
        ));
    }
    Ok(doc)
}

/// Adds the signature dictionary (placeholders of `reserve` bytes), the
/// invisible field and its widget on page 1 to `doc`; the field's name.
fn add_signature(
    doc: &mut IncrementalDocument,
    reserve: usize,
    signing_time: SystemTime,
) -> Result<String, DocError> {
    let invalid = |m: String| DocError::InvalidDocument(m);
    let prev = doc.get_prev_documents();
    let root_id = prev
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|e| invalid(format!("no catalog: {e}")))?;
    let catalog = prev
        .get_dictionary(root_id)
        .map_err(|e| invalid(format!("the catalog: {e}")))?;
    refuse_if_certified_without_changes(prev, catalog)?;
    let page_id = prev
        .page_iter()
        .next()
        .ok_or_else(|| invalid("the PDF has no pages".into()))?;

    // The AcroForm: in the catalog or an object of its own.
    let acroform_ref = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => Some(*id),
        _ => None,
    };
    let acroform = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => Some(
            prev.get_dictionary(*id)
                .map_err(|e| invalid(format!("the AcroForm: {e}")))?
                .clone(),
        ),
        Ok(Object::Dictionary(d)) => Some(d.clone()),
        Ok(Object::Null) | Err(_) => None,
        Ok(other) => {
            return Err(invalid(format!(
                "the AcroForm is a {}, not a dictionary",
                other.enum_variant()
            )));
        }
    };
    let (fields_ref, existing_fields) = match acroform.as_ref().map(|d| d.get(b"Fields")) {
        Some(Ok(Object::Reference(id))) => {
            let fields = prev
                .get_object(*id)
                .and_then(Object::as_array)
                .map_err(|e| invalid(format!("the AcroForm's /Fields: {e}")))?;
            (Some(*id), fields.clone())
        }
        Some(Ok(Object::Array(a))) => (None, a.clone()),
        _ => (None, Vec::new()),
    };
    let field_name = free_field_name(prev, &existing_fields);
    let page_annots = prev
        .get_dictionary(page_id)
        .map_err(|e| invalid(format!("page 1: {e}")))?
        .get(b"Annots")
        .ok()
        .cloned();

    let sig_id = doc.new_document.new_object_id();
    let widget_id = doc.new_document.new_object_id();
    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    let mut range = vec![Object::Integer(0)];
    range.extend(BYTE_RANGE_MARKERS.map(Object::Integer));
    sig.set("ByteRange", Object::Array(range));
    let mut placeholder = CONTENTS_MARKER.to_vec();
    placeholder.resize(reserve, 0);
    sig.set(
        "Contents",
        Object::String(placeholder, StringFormat::Hexadecimal),
    );
    sig.set("M", Object::string_literal(pdf_date(signing_time)?));
    doc.new_document.set_object(sig_id, Object::Dictionary(sig));

    let mut widget = Dictionary::new();
    widget.set("Type", Object::Name(b"Annot".to_vec()));
    widget.set("Subtype", Object::Name(b"Widget".to_vec()));
    widget.set("FT", Object::Name(b"Sig".to_vec()));
    widget.set("T", Object::string_literal(field_name.as_bytes()));
    widget.set("V", Object::Reference(sig_id));
    widget.set("P", Object::Reference(page_id));
    widget.set("Rect", Object::Array(vec![Object::Integer(0); 4]));
    // Print and Locked (ISO 32000-1 §12.5.3).
    widget.set("F", Object::Integer(132));
    doc.new_document
        .set_object(widget_id, Object::Dictionary(widget));

    // Page 1's /Annots: in the page or an array object of its own.
    match page_annots {
        Some(Object::Reference(annots_id)) => {
            clone(doc, annots_id)?;
            array_of(doc, annots_id)?.push(Object::Reference(widget_id));
        }
        other => {
            let mut annots = match other {
                Some(Object::Array(a)) => a,
                _ => Vec::new(),
            };
            annots.push(Object::Reference(widget_id));
            clone(doc, page_id)?;
            dict_of(doc, page_id)?.set("Annots", Object::Array(annots));
        }
    }

    // The field in /Fields, /SigFlags 3 (SignaturesExist | AppendOnly).
    let mut fields = existing_fields;
    fields.push(Object::Reference(widget_id));
    if let Some(fields_id) = fields_ref {
        clone(doc, fields_id)?;
        array_of(doc, fields_id)?.push(Object::Reference(widget_id));
    }
    let update = |form: &mut Dictionary| {
        if fields_ref.is_none() {
            form.set("Fields", Object::Array(fields.clone()));
        }
        form.set("SigFlags", Object::Integer(3));
    };
    match acroform_ref {
        Some(form_id) => {
            clone(doc, form_id)?;
            update(dict_of(doc, form_id)?);
        }
        None => {
            let mut form = acroform.unwrap_or_default();
            update(&mut form);
            clone(doc, root_id)?;
            dict_of(doc, root_id)?.set("AcroForm", Object::Dictionary(form));
        }
    }
    Ok(field_name)
}

/// A document certified with DocMDP permission 1 (ISO 32000-1 §12.8.2.2)
/// allows no change at all, a new signature included.
fn refuse_if_certified_without_changes(
    prev: &lopdf::Document,
    catalog: &Dictionary,
) -> Result<(), DocError> {
    let deref = |o: &Object| -> Option<Object> { prev.dereference(o).ok().map(|(_, o)| o.clone()) };
    let Some(Object::Dictionary(perms)) = catalog.get(b"Perms").ok().and_then(deref) else {
        return Ok(());
    };
    let Some(Object::Dictionary(sig)) = perms.get(b"DocMDP").ok().and_then(deref) else {
        return Ok(());
    };
    let references = match sig.get(b"Reference").ok().and_then(deref) {
        Some(Object::Array(a)) => a,
        _ => Vec::new(),
    };
    for r in &references {
        let Some(Object::Dictionary(r)) = deref(r) else {
            continue;
        };
        let p = match r.get(b"TransformParams").ok().and_then(deref) {
            Some(Object::Dictionary(params)) => params.get(b"P").and_then(Object::as_i64).ok(),
            _ => None,
        };
        if p == Some(1) {
            return Err(DocError::InvalidDocument(
                "the PDF is certified with no changes permitted (DocMDP P 1)".into(),
            ));
        }
    }
    Ok(())
}

/// `Signature1`, or the first `SignatureN` that no top-level field of
/// `fields` is named.
fn free_field_name(prev: &lopdf::Document, fields: &[Object]) -> String {
    let names: Vec<Vec<u8>> = fields
        .iter()
        .filter_map(|f| prev.dereference(f).ok())
        .filter_map(|(_, f)| f.as_dict().ok())
        .filter_map(|d| d.get(b"T").and_then(Object::as_str).ok())
        .map(<[u8]>::to_vec)
        .collect();
    (1..)
        .map(|n| format!("Signature{n}"))
        .find(|n| !names.iter().any(|t| t == n.as_bytes()))
        .unwrap_or_else(|| "Signature".into())
}

/// Copies object `id` of the input into the update, to be changed there.
fn clone(doc: &mut IncrementalDocument, id: ObjectId) -> Result<(), DocError> {
    doc.opt_clone_object_to_new_document(id)
        .map_err(|e| DocError::InvalidDocument(format!("object {} {}: {e}", id.0, id.1)))
}

fn dict_of(doc: &mut IncrementalDocument, id: ObjectId) -> Result<&mut Dictionary, DocError> {
    doc.new_document
        .get_object_mut(id)
        .and_then(Object::as_dict_mut)
        .map_err(|e| DocError::InvalidDocument(format!("object {} {}: {e}", id.0, id.1)))
}

fn array_of(doc: &mut IncrementalDocument, id: ObjectId) -> Result<&mut Vec<Object>, DocError> {
    doc.new_document
        .get_object_mut(id)
        .and_then(Object::as_array_mut)
        .map_err(|e| DocError::InvalidDocument(format!("object {} {}: {e}", id.0, id.1)))
}

/// The only position of `needle` in `bytes[from..]`; none or several is
/// an error (a document that happens to contain the marker is refused
/// rather than signed at the wrong place).
fn unique(bytes: &[u8], from: usize, needle: &[u8], what: &str) -> Result<usize, DocError> {
    let tail = bytes.get(from..).unwrap_or_default();
    let mut found = tail
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| from + i);
    match (found.next(), found.next()) {
        (Some(at), None) => Ok(at),
        (None, _) => Err(DocError::Encoding(format!(
            "the {what} placeholder is not in the written update"
        ))),
        (Some(_), Some(_)) => Err(DocError::InvalidDocument(format!(
            "the {what} placeholder occurs more than once in the update"
        ))),
    }
}

/// `hash` over the concatenation of `parts`.
fn digest_ranges(hash: HashAlgorithm, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().to_vec()
    }
    match hash {
        HashAlgorithm::Sha256 => run::<sha2::Sha256>(parts),
        HashAlgorithm::Sha384 => run::<sha2::Sha384>(parts),
        HashAlgorithm::Sha512 => run::<sha2::Sha512>(parts),
    }
}

fn hex_upper(bytes: &[u8]) -> Vec<u8> {
    hex::encode_upper(bytes).into_bytes()
}

/// A PDF date (ISO 32000-1 §7.9.4) in UTC: `D:YYYYMMDDHHmmSS+00'00'`.
fn pdf_date(t: SystemTime) -> Result<String, DocError> {
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| DocError::InvalidInput("signing time before 1970".into()))?;
    let dt = der::DateTime::from_unix_duration(since)
        .map_err(|e| DocError::InvalidInput(format!("signing time: {e}")))?;
    Ok(format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}+00'00'",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_pdf_date_is_utc() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        assert_eq!(pdf_date(t).unwrap(), "D:20270115080000+00'00'");
    }

    #[test]
    fn what_is_not_a_pdf_is_refused() {
        let signer = SignerCert {
            certificate: Vec::new(),
            chain: Vec::new(),
        };
        for junk in [&b""[..], b"hello", b"%PDF-1.7\n garbage without trailer"] {
            let err = prepare(
                junk,
                &signer,
                HashAlgorithm::Sha256,
                Level::BB,
                SystemTime::now(),
            )
            .unwrap_err();
            // The document is looked at before the certificate.
            assert!(matches!(err, DocError::InvalidDocument(_)), "{err:?}");
        }
    }
}

//! Sample documents for the demo, the tests and the benchmark of
//! document signing: PDFs written by the same PDF library the SAK reads
//! them with (no hand-made PDF bytes whose cross-references could be
//! off).

pub use lopdf;

use crate::{HarnessError, Result};
use lopdf::{Dictionary, Document, Object, Stream, dictionary};

/// An A4 PDF with one page per entry of `pages` (each showing that line
/// of text); `catalog` may add entries to the document catalog (an
/// `/OpenAction`, `/Names`, ...).
pub fn pdf_with(pages: &[&str], catalog: impl FnOnce(&mut Dictionary)) -> Result<Vec<u8>> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut kids = Vec::new();
    for line in pages {
        let content = format!("BT /F1 16 Tf 72 760 Td ({line}) Tj ET");
        let content = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font } },
        })));
    }
    let count = i64::try_from(kids.len()).unwrap_or(i64::MAX);
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let mut root = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
    catalog(&mut root);
    let root = doc.add_object(root);
    doc.trailer.set("Root", root);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| HarnessError::new(format!("sample PDF: {e}")))?;
    Ok(out)
}

/// [`pdf_with`] without catalog additions.
pub fn pdf(pages: &[&str]) -> Result<Vec<u8>> {
    pdf_with(pages, |_| {})
}

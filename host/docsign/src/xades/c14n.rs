//! Canonical XML from libxml2, through the maintained `libxml` binding.
//!
//! Canonicalization decides what the SAM's signature covers, so it is not
//! written here: libxml2's `xmlC14NExecute` is the implementation behind
//! xmlsec1 and most XML-DSig verifiers, and a form that differs from
//! theirs by one byte makes a signature nobody accepts.

use crate::DocError;
use libxml::parser::{Parser, ParserOptions};
use libxml::tree::Document;
use libxml::tree::c14n::{CanonicalizationMode, CanonicalizationOptions};

use super::markup::{DS, XADES};

/// Which canonicalization a form is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// Canonical XML 1.0 without comments: for the signed document, whose
    /// namespace declarations may matter to QNames in its content, which
    /// exclusive canonicalization would leave unsigned.
    Inclusive,
    /// Exclusive XML canonicalization 1.0 without comments: for the
    /// signature's own elements, so that their form does not depend on the
    /// namespaces of the document they sit in.
    Exclusive,
}

fn options(method: Method) -> CanonicalizationOptions {
    CanonicalizationOptions {
        mode: match method {
            Method::Inclusive => CanonicalizationMode::Canonical1_0,
            Method::Exclusive => CanonicalizationMode::ExclusiveCanonical1_0,
        },
        with_comments: false,
        inclusive_ns_prefixes: Vec::new(),
    }
}

/// Parses `xml` strictly: no recovery from errors, no network access,
/// libxml2's size limits on, nothing printed.
pub(crate) fn parse(xml: &[u8]) -> Result<Document, DocError> {
    let options = ParserOptions {
        recover: false,
        no_net: true,
        ..ParserOptions::default()
    };
    Parser::default()
        .parse_string_with_options(xml, options)
        .map_err(|e| DocError::InvalidDocument(format!("libxml2 refuses the XML: {e}")))
}

/// The canonical form of the whole of `doc`: what a `Reference URI=""`
/// with the enveloped-signature transform covers once the signature is
/// removed again.
pub(crate) fn document(doc: &Document, method: Method) -> Result<String, DocError> {
    let out = doc
        .canonicalize(options(method), None)
        .map_err(|()| DocError::InvalidDocument("libxml2 cannot canonicalize the XML".into()))?;
    checked(out)
}

/// The canonical form of the element that `xpath` (prefixes `ds` and
/// `xades`) selects in `doc`, as a same-document reference or the
/// signature-time-stamp sees it: the element's subtree in its place.
pub(crate) fn element(doc: &Document, xpath: &str, method: Method) -> Result<String, DocError> {
    let missing = || DocError::Encoding(format!("no element at {xpath}"));
    let root = doc.get_root_element().ok_or_else(missing)?;
    let mut node = root
        .at_xpath(xpath, &[("ds", DS), ("xades", XADES)])
        .map_err(|()| DocError::Encoding(format!("XPath {xpath} fails")))?
        .ok_or_else(missing)?;
    let out = node
        .canonicalize(options(method))
        .map_err(|()| DocError::Encoding(format!("libxml2 cannot canonicalize {xpath}")))?;
    checked(out)
}

/// The binding hands libxml2's output over in pieces, each decoded as
/// UTF-8 on its own, so a character split between two pieces would come
/// out as U+FFFD and the digest would be over the wrong text. Such an
/// output is refused rather than signed (a document that really holds
/// U+FFFD is refused too: rare, and never silently wrong).
fn checked(out: String) -> Result<String, DocError> {
    if out.contains('\u{FFFD}') {
        return Err(DocError::InvalidDocument(
            "the canonical form holds U+FFFD (a replacement character); refused".into(),
        ));
    }
    Ok(out)
}

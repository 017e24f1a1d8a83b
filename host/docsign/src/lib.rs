//! `sam-docsign`: documents in, signed documents out.
//!
//! The SAM signs hashes, never documents. This crate is the untrusted
//! half that turns a document into the hash the firmware signs and the
//! firmware's signature back into a signed document. Every format works
//! in the same two steps, so that one SAD can cover a batch of documents
//! in different formats:
//!
//! 1. a `prepare` function of the format's module builds what the
//!    signature covers (CMS signed attributes, a PDF signature dictionary
//!    and its byte range, XAdES `SignedInfo`) and returns a [`Prepared`]
//!    whose [`Prepared::to_be_signed_hash`] goes into the SAD;
//! 2. once the firmware has signed that hash, [`Prepared::finish`] checks
//!    the signature against the signer's certificate and builds the
//!    container, with an RFC 3161 time-stamp over
//!    [`Prepared::timestamped_data`] for the `-B-T` levels.
//!
//! The formats: [`cades`] (CMS `SignedData`, detached or enveloping) and
//! [`pades`] (a CAdES-detached signature in an incremental update of the
//! PDF), both `-B-B` and `-B-T`.
//!
//! [`signdoc`] serves CSC `signatures/signDoc` with the same code,
//! under a handle of the CSC service.
//!
//! Nothing here can make a signature: a compromised service can build a
//! wrong container, but the firmware signs only the hashes of a SAD that
//! the signer's environment made.
#![forbid(unsafe_code)]

pub mod cades;
pub mod checker;
pub mod client;
pub mod config;
pub mod documents;
pub mod error;
pub mod format;
pub mod pades;
pub mod process;
pub mod service;
pub mod signdoc;
pub mod smime;
pub mod tsp;
pub mod wire;
pub mod xades;

pub use config::SakConfig;
pub use error::DocError;
pub use format::{ContainerFormat, Level, Packaging};
pub use service::{Sak, SakError, SakReply, SakRequest};

/// The signer's certificate and the CA certificates a container carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerCert {
    /// DER certificate of the SAM key that signs.
    pub certificate: Vec<u8>,
    /// DER certificates of the chain (intermediates; the root may be
    /// left out), in order from the issuer up.
    pub chain: Vec<Vec<u8>>,
}

/// A document prepared for signing, waiting for the SAM's signature.
///
/// Implemented by each format. `Send + Sync` because a prepared batch
/// waits in the service between the SAD-TBS and the SAD signature.
pub trait Prepared: Send + Sync + std::fmt::Debug {
    /// The hash the firmware must sign (what the SAD names), in the hash
    /// algorithm the document was prepared with.
    fn to_be_signed_hash(&self) -> &[u8];

    /// The bytes an RFC 3161 time-stamp covers for the `-B-T` level,
    /// given the signature value from the SAM: the signature value itself
    /// for CMS (ETSI EN 319 122-1 §5.3, signature-time-stamp), the
    /// canonicalized `ds:SignatureValue` element for XAdES (EN 319 132-1
    /// §5.3).
    fn timestamped_data(&self, signature: &[u8]) -> Result<Vec<u8>, DocError>;

    /// The finished container: `signature` is the SAM's signature over
    /// [`Self::to_be_signed_hash`] (checked here against the signer's
    /// certificate), `timestamp` the DER `TimeStampToken` (a CMS
    /// `ContentInfo`) over [`Self::timestamped_data`] when the level is
    /// `-B-T`, already verified by the time-stamp client.
    fn finish(&self, signature: &[u8], timestamp: Option<&[u8]>) -> Result<Vec<u8>, DocError>;
}

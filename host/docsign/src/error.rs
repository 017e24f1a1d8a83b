//! The errors of document signing: one enum for the crate, each variant
//! a refusal a caller can act on.

use std::fmt;

/// Why a document could not be prepared, signed or time-stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocError {
    /// The request is malformed or names something unsupported (unknown
    /// container format, a hash the format cannot carry, ...).
    InvalidInput(String),
    /// The document is not what its format requires (not a PDF, not
    /// well-formed XML, an encrypted PDF, ...).
    InvalidDocument(String),
    /// The document is larger than the configured limit.
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The signature from the SAM does not verify with the signer's
    /// certificate, or the certificate is unusable.
    BadSignature(String),
    /// The time-stamp authority could not be reached, refused, or
    /// answered a token that does not verify.
    Timestamp(String),
    /// Building the container failed (encoding).
    Encoding(String),
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::InvalidDocument(m) => write!(f, "invalid document: {m}"),
            Self::TooLarge { limit } => {
                write!(f, "the document is over the limit of {limit} bytes")
            }
            Self::BadSignature(m) => write!(f, "bad signature: {m}"),
            Self::Timestamp(m) => write!(f, "time-stamp: {m}"),
            Self::Encoding(m) => write!(f, "encoding: {m}"),
        }
    }
}

impl std::error::Error for DocError {}

impl From<der::Error> for DocError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e.to_string())
    }
}

impl From<sam_client::ClientError> for DocError {
    fn from(e: sam_client::ClientError) -> Self {
        match e {
            sam_client::ClientError::BadSignature => Self::BadSignature(
                "the SAM's signature does not verify with the signer's certificate".into(),
            ),
            sam_client::ClientError::InvalidInput(m) => Self::InvalidInput(m),
            other => Self::Encoding(other.to_string()),
        }
    }
}

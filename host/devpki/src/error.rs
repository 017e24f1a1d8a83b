//! The one error type of the development PKI.

use std::fmt;
use std::path::Path;

/// Why a development PKI operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DevPkiError {
    /// A file could not be read or written, or already exists.
    Io(String),
    /// A key or certificate could not be made or read.
    Crypto(String),
    /// A DER structure could not be built or read.
    Asn1(String),
    /// The input was refused (a CSR whose signature does not verify, a
    /// token of another IdP, a non-loopback listen address, ...).
    Refused(String),
}

impl DevPkiError {
    pub(crate) fn io(path: &Path, e: impl fmt::Display) -> Self {
        Self::Io(format!("{}: {e}", path.display()))
    }
}

impl fmt::Display for DevPkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(m) => write!(f, "[DEV-ONLY] I/O: {m}"),
            Self::Crypto(m) => write!(f, "[DEV-ONLY] key or certificate: {m}"),
            Self::Asn1(m) => write!(f, "[DEV-ONLY] DER: {m}"),
            Self::Refused(m) => write!(f, "[DEV-ONLY] refused: {m}"),
        }
    }
}

impl std::error::Error for DevPkiError {}

impl From<rcgen::Error> for DevPkiError {
    fn from(e: rcgen::Error) -> Self {
        Self::Crypto(e.to_string())
    }
}

impl From<der::Error> for DevPkiError {
    fn from(e: der::Error) -> Self {
        Self::Asn1(e.to_string())
    }
}

impl From<sam_proto::asn1::Asn1Error> for DevPkiError {
    fn from(e: sam_proto::asn1::Asn1Error) -> Self {
        Self::Asn1(e.to_string())
    }
}

impl From<x509_cert::builder::Error> for DevPkiError {
    fn from(e: x509_cert::builder::Error) -> Self {
        Self::Crypto(e.to_string())
    }
}

impl From<sam_client::ClientError> for DevPkiError {
    fn from(e: sam_client::ClientError) -> Self {
        Self::Refused(e.to_string())
    }
}

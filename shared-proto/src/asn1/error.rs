//! The one error type of the ASN.1 layer.

use core::fmt;

/// Why a DER structure of this module could not be read, built or used.
///
/// The firmware maps every variant to one of the seed's error types
/// (`MessageParseError`, `AuthenticationError`, `InvalidAlgorithm`, ...);
/// the variants only say *why*, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asn1Error {
    /// The `der` crate refused the input (bad tag, bad length, truncated,
    /// wrong string type, ...) or could not encode a value.
    Der(der::ErrorKind),
    /// Bytes followed the outermost DER value.
    TrailingData,
    /// The input decoded, but its re-encoding differs from the input: it
    /// was not the one canonical DER encoding (for example an unsorted
    /// `SET OF`, which `der` silently sorts while decoding).
    NotCanonical,
    /// The input is longer than the limit for its type
    /// ([`crate::command::MAX_TOKEN_LEN`], [`crate::command::MAX_SAD_LEN`]).
    TooLong,
    /// A SAD carries no hash value, or more than
    /// [`crate::command::MAX_HASHES`]: the count is part of the message
    /// type, so both ends of the range are the same parse error.
    HashValueCount,
    /// An `AlgorithmIdentifier` that is not one of the supported digest or
    /// signature algorithms, or whose parameters are not the allowed ones.
    UnsupportedAlgorithm,
    /// Two extensions of one `CompactExtensions` set carry the same OID.
    DuplicateExtension,
    /// An extension's data is not the strict DER of the type its OID
    /// demands.
    BadExtension,
    /// The token's `signer` is not of the supported `IssuerSerial` profile
    /// (exactly one `directoryName`, no `issuerUID`).
    UnsupportedIssuer,
    /// The token's optional `type` is present and is not
    /// [`super::oids::IDENTITY_TOKEN_TYPE`].
    UnsupportedTokenType,
    /// An OBJECT IDENTIFIER that is malformed, has an arc above 2^128-1 or
    /// is longer than [`super::MAX_OID_LEN`] bytes.
    InvalidOid,
    /// A value given to a builder is out of range (validity window
    /// reversed, time not representable as GeneralizedTime, ...).
    InvalidValue,
}

impl From<der::Error> for Asn1Error {
    fn from(e: der::Error) -> Self {
        match e.kind() {
            der::ErrorKind::TrailingData { .. } => Self::TrailingData,
            kind => Self::Der(kind),
        }
    }
}

impl fmt::Display for Asn1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Der(kind) => write!(f, "DER error: {kind}"),
            Self::TrailingData => f.write_str("trailing data after the DER value"),
            Self::NotCanonical => f.write_str("not the canonical DER encoding"),
            Self::TooLong => f.write_str("input longer than allowed"),
            Self::HashValueCount => f.write_str("no hash value, or too many"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported algorithm identifier"),
            Self::DuplicateExtension => f.write_str("duplicate extension OID"),
            Self::BadExtension => f.write_str("malformed extension data"),
            Self::UnsupportedIssuer => f.write_str("unsupported IssuerSerial form"),
            Self::UnsupportedTokenType => f.write_str("unsupported identity token type"),
            Self::InvalidOid => f.write_str("invalid object identifier"),
            Self::InvalidValue => f.write_str("value out of range"),
        }
    }
}

impl core::error::Error for Asn1Error {}

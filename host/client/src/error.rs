//! [`ClientError`]: everything that can go wrong, with samd's refusals kept
//! under the seed's error type names.

use crate::wire::error::ErrorAnswer;
use sam_proto::ErrorType;
use sam_proto::asn1::Asn1Error;
use std::fmt;

/// An error of this library.
///
/// A refusal by samd keeps what samd said: a seed error type
/// ([`ClientError::Sam`], with [`ErrorType::name`] giving the seed's name
/// such as `InvalidAuthentication` or `ReplayedSad`) or one of samd's own
/// HTTP-layer errors ([`ClientError::Host`]: `Forbidden`, `RouteNotFound`,
/// `MethodNotAllowed`, `PayloadTooLarge`). Use
/// [`ClientError::error_type`] to branch on the seed type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// samd answered `{"error": {"type", "code", "detail"}}` with a seed
    /// error type.
    Sam {
        /// The seed error type.
        error: ErrorType,
        /// The HTTP status.
        status: u16,
        /// samd's detail text.
        detail: String,
    },
    /// samd answered with one of its HTTP-layer errors (code 1000 and up).
    Host {
        /// The `type` name (`Forbidden`, `RouteNotFound`, ...).
        kind: String,
        /// The `code`.
        code: u16,
        /// The HTTP status.
        status: u16,
        /// samd's detail text.
        detail: String,
    },
    /// The IdP refused `POST /id-token/sad` (seed §7.5.1: 400 invalid
    /// request data, 404 no authenticated session, 500 internal error).
    Idp {
        /// The HTTP status.
        status: u16,
        /// The IdP's detail text (or its raw body).
        detail: String,
    },
    /// An answer that does not follow the protocol (unexpected status
    /// without an error body, a body that is not the documented JSON, a
    /// signature count that differs from the hash count).
    Protocol(String),
    /// Connecting, the TLS handshake or the HTTP exchange failed, or took
    /// longer than the configured timeout.
    Transport(String),
    /// The configuration is unusable (URL, PEM files, TLS settings).
    Config(String),
    /// The input was refused locally before anything was sent (a hash of
    /// the wrong length, no hashes, a token without this SAD key, ...).
    InvalidInput(String),
    /// A DER structure could not be built or read.
    Asn1(Asn1Error),
    /// A signature does not verify with the certificate's public key (for
    /// example the SAM's signature given to [`crate::cms::Prepared::finish`]).
    BadSignature,
    /// A local cryptographic operation failed (RNG, key, signing).
    Crypto(String),
}

impl ClientError {
    /// The seed error type of a samd refusal, `None` for anything else.
    pub fn error_type(&self) -> Option<ErrorType> {
        match self {
            Self::Sam { error, .. } => Some(*error),
            _ => None,
        }
    }

    /// The HTTP status of a refusal by samd or the IdP.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Sam { status, .. } | Self::Host { status, .. } | Self::Idp { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The error of a samd answer with a non-success `status` and `body`.
    ///
    /// A body of the documented shape `{"error": {"type", "code",
    /// "detail"}}` becomes [`ClientError::Sam`] when `code` is a seed code
    /// whose name is `type` ([`ErrorType::from_code`]), and
    /// [`ClientError::Host`] otherwise; any other body is
    /// [`ClientError::Protocol`].
    pub fn from_samd_answer(status: u16, body: &[u8]) -> Self {
        match crate::wire::strict::from_slice::<ErrorAnswer>(body) {
            Ok(ErrorAnswer { error }) => match ErrorType::from_code(error.code) {
                Some(e) if e.name() == error.kind => Self::Sam {
                    error: e,
                    status,
                    detail: error.detail,
                },
                _ => Self::Host {
                    kind: error.kind,
                    code: error.code,
                    status,
                    detail: error.detail,
                },
            },
            Err(_) => Self::Protocol(format!(
                "HTTP {status} without an error body: {}",
                printable(body)
            )),
        }
    }
}

/// At most 200 characters of `body`, lossily decoded, for messages.
pub(crate) fn printable(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().nth(200).is_some() {
        out.push_str("...");
    }
    out
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sam {
                error,
                status,
                detail,
            } => write!(f, "samd refused ({error}, HTTP {status}): {detail}"),
            Self::Host {
                kind,
                code,
                status,
                detail,
            } => write!(f, "samd refused ({kind} {code}, HTTP {status}): {detail}"),
            Self::Idp { status, detail } => write!(f, "the IdP refused (HTTP {status}): {detail}"),
            Self::Protocol(m) => write!(f, "protocol error: {m}"),
            Self::Transport(m) => write!(f, "transport error: {m}"),
            Self::Config(m) => write!(f, "configuration error: {m}"),
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Asn1(e) => write!(f, "DER error: {e}"),
            Self::BadSignature => f.write_str("the signature does not verify"),
            Self::Crypto(m) => write!(f, "cryptographic error: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<Asn1Error> for ClientError {
    fn from(e: Asn1Error) -> Self {
        Self::Asn1(e)
    }
}

impl From<der::Error> for ClientError {
    fn from(e: der::Error) -> Self {
        Self::Asn1(Asn1Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn every_seed_error_maps_to_its_type() {
        for e in ErrorType::ALL {
            let body = serde_json::json!({
                "error": {"type": e.name(), "code": e.code(), "detail": "why"}
            });
            let err = ClientError::from_samd_answer(400, body.to_string().as_bytes());
            assert_eq!(err.error_type(), Some(e));
            assert_eq!(err.http_status(), Some(400));
            assert!(err.to_string().contains(e.name()));
        }
    }

    #[test]
    fn host_errors_and_garbage_are_not_seed_errors() {
        let body = br#"{"error":{"type":"Forbidden","code":1001,"detail":"no connector"}}"#;
        match ClientError::from_samd_answer(403, body) {
            ClientError::Host { kind, code, .. } => {
                assert_eq!(kind, "Forbidden");
                assert_eq!(code, 1001);
            }
            other => panic!("{other:?}"),
        }
        // A seed code under another name is not trusted as that seed type.
        let body = br#"{"error":{"type":"Forbidden","code":13,"detail":""}}"#;
        assert_eq!(ClientError::from_samd_answer(403, body).error_type(), None);
        assert!(matches!(
            ClientError::from_samd_answer(502, b"<html>bad gateway</html>"),
            ClientError::Protocol(_)
        ));
    }
}

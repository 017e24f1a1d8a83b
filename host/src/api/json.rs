//! JSON helpers: base64 fields, bounded lists, UUIDs, request bodies.

use super::error::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_client::wire::strict;
use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::codes::Cause;
use sam_proto::ids::Uuid;
use serde::de::DeserializeOwned;

/// Standard base64 (with padding) of `bytes`.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub use sam_client::wire::B64;

/// Parses a request body as JSON into `T`: a body that is not one JSON
/// object (or gives a key twice) is a ContainerParseError, JSON that does
/// not fit `T` a MessageParseError.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = strict::value_from_slice(body).map_err(|e| {
        ApiError::seed(
            ErrorType::ContainerParseError,
            format!("the body is not JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::seed(
            ErrorType::ContainerParseError,
            "the body is not a JSON object",
        ));
    }
    parse_params(value)
}

/// Converts parameters into `T`, a MessageParseError if they do not fit.
///
/// The audit cause tells the usual mistakes apart by serde's message: the
/// wire types' base64 fields say "invalid base64", `deny_unknown_fields`
/// says "unknown field"; anything else is a missing or mistyped field.
pub fn parse_params<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let cause = if text.contains("invalid base64") {
            Cause::HostBadBase64
        } else if text.contains("unknown field") {
            Cause::HostUnknownField
        } else {
            Cause::HostParamsMismatch
        };
        ApiError::refused(
            ErrorType::MessageParseError,
            cause,
            format!("the parameters do not fit the message type: {text}"),
        )
    })
}

/// A UUID field (UserID, KeyID) in canonical text form.
pub fn uuid(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse(text).map_err(|_| {
        ApiError::refused(
            ErrorType::MessageParseError,
            Cause::HostBadUuid,
            format!("{what} is not a UUID: {text:?}"),
        )
    })
}

/// A list of base64 blobs as a bounded list, MessageParseError if it
/// exceeds either bound.
pub fn blobs<const N: usize, const M: usize>(
    items: &[B64],
    what: &str,
) -> Result<List<Blob<N>, M>, ApiError> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(Blob::new(&item.0).map_err(|_| {
            ApiError::refused(
                ErrorType::MessageParseError,
                Cause::HostTooLong,
                format!("{what}[{i}] is longer than {N} bytes"),
            )
        })?);
    }
    List::from_vec(out).map_err(|_| {
        ApiError::refused(
            ErrorType::MessageParseError,
            Cause::HostTooLong,
            format!("more than {M} {what}"),
        )
    })
}

/// One bounded blob, MessageParseError if too long.
pub fn blob<const N: usize>(bytes: &[u8], what: &str) -> Result<Blob<N>, ApiError> {
    Blob::new(bytes).map_err(|_| {
        ApiError::refused(
            ErrorType::MessageParseError,
            Cause::HostTooLong,
            format!("{what} is longer than {N} bytes"),
        )
    })
}

//! The error answer of every endpoint: `{"error": {"type", "code",
//! "detail"}}`.

use serde::{Deserialize, Serialize};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorAnswer {
    /// What went wrong.
    pub error: ErrorBody,
}

/// The body of an [`ErrorAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The seed's error type name, or one of samd's HTTP-layer errors.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its stable number (`sam_proto::ErrorType` codes; 1000 and up for
    /// samd's own).
    pub code: u16,
    /// A readable explanation. Stable per cause; internal details (store
    /// or transport messages) stay in samd's log.
    #[serde(default)]
    pub detail: String,
}

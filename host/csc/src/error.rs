//! CSC errors: `{"error": "...", "error_description": "..."}` with the
//! specification's codes (CSC v2.0.0.2 §11.1, the OAuth 2.0 codes of
//! RFC 6749 §5.2 and RFC 6750 §3.1) and HTTP statuses.

use serde::Serialize;

/// An error answer of the CSC service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CscError {
    /// HTTP status.
    pub status: u16,
    /// The `error` code.
    pub error: &'static str,
    /// The `error_description`.
    pub description: String,
}

/// The JSON body of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// The code.
    pub error: String,
    /// Human-readable description.
    pub error_description: String,
}

impl CscError {
    /// Every `error` code the service answers, with its HTTP statuses
    /// (documented in `host/csc/openapi.yaml`).
    pub const ALL: [(&'static str, u16); 9] = [
        ("invalid_request", 400),
        ("invalid_request", 404),
        ("invalid_request", 405),
        ("invalid_request", 413),
        ("invalid_token", 401),
        ("invalid_grant", 400),
        ("temporarily_unavailable", 429),
        ("temporarily_unavailable", 503),
        ("server_error", 500),
    ];

    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    /// 400 `invalid_request`: a missing, malformed or mismatching
    /// parameter (CSC: "Invalid parameter X", "Missing ... parameter X").
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    /// 400 `invalid_request` naming the parameter, in the specification's
    /// words.
    pub fn invalid_parameter(name: &str) -> Self {
        Self::invalid_request(format!("Invalid parameter {name}"))
    }

    /// 401 `invalid_token`: no usable bearer token.
    pub fn invalid_token(description: impl Into<String>) -> Self {
        Self::new(401, "invalid_token", description)
    }

    /// 400 `invalid_grant` (OAuth2 token endpoint).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    /// 404 `invalid_request`: no such endpoint.
    pub fn not_found(path: &str) -> Self {
        Self::new(404, "invalid_request", format!("no endpoint {path}"))
    }

    /// 405 `invalid_request`: the endpoint exists, not with this method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            405,
            "invalid_request",
            format!("{method} is not allowed on {path}"),
        )
    }

    /// 413 `invalid_request`: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "invalid_request",
            format!("the body exceeds {limit} bytes"),
        )
    }

    /// 429 `temporarily_unavailable`: too many open handles.
    pub fn busy(description: impl Into<String>) -> Self {
        Self::new(429, "temporarily_unavailable", description)
    }

    /// 503 `temporarily_unavailable`: samd or the firmware is not
    /// operational.
    pub fn unavailable(description: impl Into<String>) -> Self {
        Self::new(503, "temporarily_unavailable", description)
    }

    /// 413 `invalid_request`: one document of a request over the
    /// document limit (`[sak] max_document_bytes`).
    pub fn document_too_large(what: &str, limit: u64) -> Self {
        Self::new(
            413,
            "invalid_request",
            format!(
                "Invalid parameter {what}: the document is over {limit} bytes (max_document_bytes)"
            ),
        )
    }

    /// 500 `server_error`.
    pub fn server_error(description: impl Into<String>) -> Self {
        Self::new(500, "server_error", description)
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.error.into(),
            error_description: self.description.clone(),
        }
    }
}

impl From<crate::backend::BackendError> for CscError {
    /// A refusal below the service keeps its seed error type in the
    /// description (`ReplayedSad: ...`), so a client and a test can tell
    /// the firmware's refusals apart.
    fn from(e: crate::backend::BackendError) -> Self {
        use sam_proto::ErrorType as E;
        let description = format!("{}: {}", e.error.name(), e.detail);
        match e.error {
            E::NotOperational => Self::unavailable(description),
            E::UnexpectedError => Self::server_error(description),
            _ => Self::invalid_request(description),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CscError;

    #[test]
    fn every_constructor_is_in_the_table() {
        for e in [
            CscError::invalid_request("x"),
            CscError::invalid_parameter("x"),
            CscError::invalid_token("x"),
            CscError::invalid_grant("x"),
            CscError::not_found("/x"),
            CscError::method_not_allowed("GET", "/x"),
            CscError::too_large(1),
            CscError::document_too_large("x", 1),
            CscError::busy("x"),
            CscError::unavailable("x"),
            CscError::server_error("x"),
        ] {
            assert!(
                CscError::ALL.contains(&(e.error, e.status)),
                "{} {}",
                e.error,
                e.status
            );
        }
    }
}

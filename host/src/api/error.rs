//! The HTTP face of every error: `{"error": {"type", "code", "detail"}}`.
//!
//! Seed error types keep their seed names and their stable numeric codes
//! from `sam_proto::ErrorType`; the HTTP status is chosen per type by
//! [`http_status`] (the table is in `host/README.md` and the OpenAPI
//! document). A few errors exist only at the HTTP layer (no connector for
//! the client certificate, unknown route); they use codes from 1000 up so
//! that they can never collide with a seed code.

use super::container::ContainerError;
use super::response::{Reply, json_response};
use crate::store::StoreError;
use crate::transport::FirmwareRefusal;
use hyper::StatusCode;
use sam_client::wire::error::{ErrorAnswer, ErrorBody};
use sam_proto::ErrorType;
use sam_proto::codes::Cause;

/// Errors that exist only at the HTTP layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The connector may not call this operation (an unpinned client
    /// certificate already fails the TLS handshake).
    Forbidden,
    /// No such path.
    RouteNotFound,
    /// The path exists, not with this method.
    MethodNotAllowed,
    /// The request body exceeds the configured limit.
    PayloadTooLarge,
    /// A bearer-token endpoint (the key manager's queries) got no
    /// `Authorization: Bearer` identity token, or one that does not verify
    /// against `[tokens] idp_certificates` (untrusted issuer, bad
    /// signature, expired, not yet valid, level too low, malformed).
    Unauthorized,
}

impl HostError {
    /// Every host-only error.
    pub const ALL: [HostError; 5] = [
        Self::Forbidden,
        Self::RouteNotFound,
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::Unauthorized,
    ];

    /// The name in the `type` field.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Forbidden => "Forbidden",
            Self::RouteNotFound => "RouteNotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::PayloadTooLarge => "PayloadTooLarge",
            Self::Unauthorized => "Unauthorized",
        }
    }

    /// The number in the `code` field.
    pub const fn code(self) -> u16 {
        match self {
            Self::Forbidden => 1001,
            Self::RouteNotFound => 1002,
            Self::MethodNotAllowed => 1003,
            Self::PayloadTooLarge => 1004,
            Self::Unauthorized => 1005,
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
        }
    }
}

/// The HTTP status of a seed error type.
///
/// | type | status |
/// | --- | --- |
/// | ContainerParseError, MessageParseError, UnknownMessageType, UnknownCredentialType, InvalidInput, InvalidAlgorithm | 400 |
/// | AuthenticationError, InvalidAuthentication, InvalidSignature | 401 |
/// | NotAuthorized | 403 |
/// | UnknownUser, NotFound | 404 |
/// | ReplayedSad | 409 |
/// | UnexpectedError | 500 |
/// | NotOperational | 503 |
pub const fn http_status(e: ErrorType) -> StatusCode {
    match e {
        ErrorType::ContainerParseError
        | ErrorType::MessageParseError
        | ErrorType::UnknownMessageType
        | ErrorType::UnknownCredentialType
        | ErrorType::InvalidInput
        | ErrorType::InvalidAlgorithm => StatusCode::BAD_REQUEST,
        ErrorType::AuthenticationError
        | ErrorType::InvalidAuthentication
        | ErrorType::InvalidSignature => StatusCode::UNAUTHORIZED,
        ErrorType::NotAuthorized => StatusCode::FORBIDDEN,
        ErrorType::UnknownUser | ErrorType::NotFound => StatusCode::NOT_FOUND,
        ErrorType::ReplayedSad => StatusCode::CONFLICT,
        ErrorType::UnexpectedError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorType::NotOperational => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// What a seed error means, for the `detail` of a firmware refusal (the
/// firmware does not say which check failed, on purpose; the logs and
/// the audit record are where operators look).
pub const fn describe(e: ErrorType) -> &'static str {
    match e {
        ErrorType::ContainerParseError => "the input cannot be parsed into a message container",
        ErrorType::MessageParseError => {
            "the input cannot be parsed into the specified message type"
        }
        ErrorType::UnknownMessageType => "the message type is not known",
        ErrorType::UnknownCredentialType => "the credential type is not known",
        ErrorType::AuthenticationError => "the credential could not be validated",
        ErrorType::UnknownUser => "the credential could not be associated with a user",
        ErrorType::NotAuthorized => "the acting user is not authorized to perform the operation",
        ErrorType::NotOperational => "a component (firmware, database) is not operational",
        ErrorType::UnexpectedError => "an unexpected error occurred",
        ErrorType::InvalidInput => "the input is not acceptable",
        ErrorType::NotFound => "no key exists for the given KeyID",
        ErrorType::InvalidAlgorithm => "the algorithm does not fit the key or the hashes",
        ErrorType::InvalidAuthentication => "the identity token in the SAD is not acceptable",
        ErrorType::InvalidSignature => "the SAD signature does not verify",
        ErrorType::ReplayedSad => "the SAD (its identity token) was already used",
    }
}

/// The kind of an [`ApiError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A seed error type.
    Seed(ErrorType),
    /// An HTTP-layer error.
    Host(HostError),
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// What kind.
    pub kind: ErrorKind,
    /// Human-readable detail, sent to the client: stable per cause.
    pub detail: String,
    /// What only the log gets: the store's or the transport's own
    /// message (SQLite text, file names), which means nothing to a client
    /// and tells an attacker about the deployment.
    pub log_detail: Option<String>,
    /// Why samd refused, for the audit record of a refusal it reports
    /// (always a host cause, [`Cause::reported_by_host`]); `None` gives
    /// [`Cause::HostOther`].
    pub cause: Option<Cause>,
    /// Whether the audit trail already accounts for this outcome: the
    /// firmware decided (and audited, unless the type is exempt), or the
    /// firmware's own record of the operation exists. samd reports every
    /// other audited-type error with Report_Refusal before it answers.
    pub accounted: bool,
}

impl ApiError {
    /// A seed error with `detail`.
    pub fn seed(e: ErrorType, detail: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Seed(e),
            detail: detail.into(),
            log_detail: None,
            cause: None,
            accounted: false,
        }
    }

    /// A seed error samd decided, with its audit cause.
    pub fn refused(e: ErrorType, cause: Cause, detail: impl Into<String>) -> Self {
        Self {
            cause: Some(cause),
            ..Self::seed(e, detail)
        }
    }

    /// A host-only error with `detail`.
    pub fn host(e: HostError, detail: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Host(e),
            detail: detail.into(),
            log_detail: None,
            cause: None,
            accounted: false,
        }
    }

    /// The same error, marked as already in the audit trail.
    pub fn accounted(self) -> Self {
        Self {
            accounted: true,
            ..self
        }
    }

    /// The seed error samd must report to the firmware before answering,
    /// if any: an audited type the trail does not hold yet.
    pub fn unreported(&self) -> Option<ErrorType> {
        match self.kind {
            ErrorKind::Seed(e) if e.is_audited() && !self.accounted => Some(e),
            _ => None,
        }
    }

    /// The `type` name.
    pub fn name(&self) -> &'static str {
        match self.kind {
            ErrorKind::Seed(e) => e.name(),
            ErrorKind::Host(h) => h.name(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::Seed(e) => http_status(e),
            ErrorKind::Host(h) => h.status(),
        }
    }

    /// The response.
    pub fn into_response(self) -> Reply {
        let code = match self.kind {
            ErrorKind::Seed(e) => e.code(),
            ErrorKind::Host(h) => h.code(),
        };
        let challenge = self.kind == ErrorKind::Host(HostError::Unauthorized);
        let mut reply = json_response(
            self.status(),
            &ErrorAnswer {
                error: ErrorBody {
                    kind: self.name().into(),
                    code,
                    detail: self.detail,
                },
            },
        );
        // RFC 6750 §3: a 401 names the scheme the client must use.
        if challenge {
            reply.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer realm=\"samd key manager\""),
            );
        }
        reply
    }
}

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> Self {
        let cause = match e.error {
            ErrorType::UnknownMessageType => Cause::HostUnknownOperation,
            _ => Cause::HostOther,
        };
        Self::refused(e.error, cause, e.detail)
    }
}

impl From<FirmwareRefusal> for ApiError {
    fn from(r: FirmwareRefusal) -> Self {
        let detail = if r.by_firmware {
            format!("{}: {}", r.detail, describe(r.error))
        } else {
            r.detail
        };
        Self {
            accounted: r.by_firmware,
            ..Self::refused(r.error, Cause::HostFirmwareUnreachable, detail)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (kind, detail) = match &e {
            StoreError::Fatal(_) | StoreError::Closed | StoreError::Open(_) => (
                ErrorType::NotOperational,
                "the store is out of service; see samd's log",
            ),
            StoreError::Unavailable(_) => (
                ErrorType::NotOperational,
                "the store cannot be reached now; try again later",
            ),
            // The same answer as the firmware's own replay refusal: for
            // the client it makes no difference which module saw the
            // token first.
            StoreError::Replayed(_) => (
                ErrorType::ReplayedSad,
                "the SAD (its identity token) was already used",
            ),
            StoreError::Read(_) => (
                ErrorType::NotOperational,
                "the store could not be read; see samd's log",
            ),
            StoreError::Conflict(_) => (
                ErrorType::InvalidInput,
                "the request conflicts with a stored record",
            ),
            StoreError::Corrupt(_) => (
                ErrorType::UnexpectedError,
                "a stored record is corrupt; run samctl integrity data",
            ),
        };
        let cause = match e {
            StoreError::Conflict(_) => Cause::HostOther,
            StoreError::Replayed(_) => Cause::TokenReplayed,
            _ => Cause::HostStoreFailure,
        };
        Self {
            log_detail: Some(e.to_string()),
            ..Self::refused(kind, cause, detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_error_has_a_status_and_a_description() {
        for e in ErrorType::ALL {
            let s = http_status(e);
            assert!(s.is_client_error() || s.is_server_error(), "{e}");
            assert!(!describe(e).is_empty());
        }
        assert_eq!(http_status(ErrorType::ReplayedSad), StatusCode::CONFLICT);
        assert_eq!(http_status(ErrorType::NotFound), StatusCode::NOT_FOUND);
    }

    #[test]
    fn store_messages_stay_in_the_log() {
        let sqlite = "UNIQUE constraint failed: users.user_id in /srv/sam/samd.db";
        for e in [
            StoreError::Fatal(sqlite.into()),
            StoreError::Conflict(sqlite.into()),
            StoreError::Corrupt(sqlite.into()),
            StoreError::Read(sqlite.into()),
            StoreError::Open(sqlite.into()),
            StoreError::Replayed(sqlite.into()),
            StoreError::Unavailable(sqlite.into()),
        ] {
            let api = ApiError::from(e);
            assert!(!api.detail.contains("UNIQUE"), "{}", api.detail);
            assert!(api.log_detail.as_deref().unwrap_or("").contains(sqlite));
            let body = format!("{:?}", api.clone().into_response().into_body());
            assert!(!body.contains("UNIQUE"), "{body}");
            assert!(body.contains(api.name()), "{body}");
        }
    }

    #[test]
    fn a_token_the_store_saw_used_is_the_firmwares_replay_refusal() {
        let api = ApiError::from(StoreError::Replayed("token abcd".into()));
        assert_eq!(api.name(), "ReplayedSad");
        let unavailable = ApiError::from(StoreError::Unavailable("connection refused".into()));
        assert_eq!(unavailable.name(), "NotOperational");
    }

    #[test]
    fn host_codes_do_not_collide_with_seed_codes() {
        for h in HostError::ALL {
            assert!(ErrorType::from_code(h.code()).is_none(), "{}", h.name());
        }
    }
}

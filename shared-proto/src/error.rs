//! The error vocabulary of the SAM Peering Interface.
//!
//! The names are exactly the seed's (integration guide §7.1), because the
//! host shows them to integrators; the numeric codes are ours and stable:
//! they travel in the firmware's status word and in the host's JSON errors,
//! so a code, once published, is never reused for another meaning. Inside
//! postcard bodies (an audit record's cause, say) the type travels as its
//! variant index, like every enum there; `tests/golden.rs` freezes those
//! indexes, so reordering the variants fails a test instead of silently
//! changing the format.

use serde::{Deserialize, Serialize};

/// One error type of seed §7.1, plus [`ErrorType::ReplayedSad`].
///
/// The firmware returns the code as its status; the host maps it to an HTTP
/// status. Detail about *why* (which check failed) goes to logs and to the
/// audit record's cause, never into a different code, so that an attacker
/// probing the interface learns no more than the seed allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u16)]
pub enum ErrorType {
    /// The input cannot be parsed into a message container (host side).
    ContainerParseError = 1,
    /// The input cannot be parsed into the specified message type.
    MessageParseError = 2,
    /// The message type is not known (unknown sub-function code).
    UnknownMessageType = 3,
    /// The credential type is not known.
    UnknownCredentialType = 4,
    /// The credential could not be validated.
    AuthenticationError = 5,
    /// The credential could not be associated with a user.
    UnknownUser = 6,
    /// The acting user may not perform the operation.
    NotAuthorized = 7,
    /// A component (firmware, HSM, database) is not operational.
    NotOperational = 8,
    /// An error condition that was not anticipated.
    UnexpectedError = 9,
    /// The input is well-formed but not acceptable (for example an empty
    /// certificate set).
    InvalidInput = 10,
    /// No key exists for the given KeyID.
    NotFound = 11,
    /// The signature or hash algorithm does not fit the key or the hashes.
    InvalidAlgorithm = 12,
    /// The identity token in the SAD is not acceptable (signature, validity,
    /// identification level, UserID).
    InvalidAuthentication = 13,
    /// The SAD signature does not verify with the key in the token.
    InvalidSignature = 14,
    /// The SAD was already used once; single use is enforced by the
    /// firmware. Not in the seed, which leaves replay to the SAM.
    ReplayedSad = 15,
}

impl ErrorType {
    /// Every error type, in code order. Tests iterate over it.
    pub const ALL: [ErrorType; 15] = [
        Self::ContainerParseError,
        Self::MessageParseError,
        Self::UnknownMessageType,
        Self::UnknownCredentialType,
        Self::AuthenticationError,
        Self::UnknownUser,
        Self::NotAuthorized,
        Self::NotOperational,
        Self::UnexpectedError,
        Self::InvalidInput,
        Self::NotFound,
        Self::InvalidAlgorithm,
        Self::InvalidAuthentication,
        Self::InvalidSignature,
        Self::ReplayedSad,
    ];

    /// The stable numeric code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The error type for a code, `None` for a code we never issued.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The seed's name, as integrators see it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::ContainerParseError => "ContainerParseError",
            Self::MessageParseError => "MessageParseError",
            Self::UnknownMessageType => "UnknownMessageType",
            Self::UnknownCredentialType => "UnknownCredentialType",
            Self::AuthenticationError => "AuthenticationError",
            Self::UnknownUser => "UnknownUser",
            Self::NotAuthorized => "NotAuthorized",
            Self::NotOperational => "NotOperational",
            Self::UnexpectedError => "UnexpectedError",
            Self::InvalidInput => "InvalidInput",
            Self::NotFound => "NotFound",
            Self::InvalidAlgorithm => "InvalidAlgorithm",
            Self::InvalidAuthentication => "InvalidAuthentication",
            Self::InvalidSignature => "InvalidSignature",
            Self::ReplayedSad => "ReplayedSad",
        }
    }

    /// Whether a failure with this error produces an audit record.
    ///
    /// Seed §7.1: ContainerParseError, UnknownCredentialType,
    /// AuthenticationError and UnknownUser "emit regular log messages, but no
    /// audit log entries", because no acting user is known yet.
    pub const fn is_audited(self) -> bool {
        !matches!(
            self,
            Self::ContainerParseError
                | Self::UnknownCredentialType
                | Self::AuthenticationError
                | Self::UnknownUser
        )
    }
}

impl core::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::error::Error for ErrorType {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, e) in ErrorType::ALL.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i + 1, "{e} is out of order");
            assert_eq!(ErrorType::from_code(e.code()), Some(*e));
        }
        assert_eq!(ErrorType::from_code(0), None);
        assert_eq!(ErrorType::from_code(16), None);
    }

    #[test]
    fn exactly_four_errors_are_exempt_from_audit() {
        let exempt: alloc::vec::Vec<_> = ErrorType::ALL
            .iter()
            .filter(|e| !e.is_audited())
            .map(|e| e.name())
            .collect();
        assert_eq!(
            exempt,
            [
                "ContainerParseError",
                "UnknownCredentialType",
                "AuthenticationError",
                "UnknownUser"
            ]
        );
    }
}

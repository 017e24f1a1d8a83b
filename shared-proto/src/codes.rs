//! The numeric code tables of the contract: the firmware's sub-function
//! codes and the seed's error types.
//!
//! Both are a list of `Variant = code => "name"` rows, written once through
//! `code_table!` so that the enum, its `ALL` list, its code and its name
//! cannot disagree. Neither table needs anything else from the crate: the
//! request types (`command`) and the stored records (`records`) both use
//! these codes, and this module uses neither of them.
//!
//! The names are exactly the seed's (integration guide §7.1), because the
//! host shows them to integrators; the numeric codes are ours and stable:
//! they travel in the firmware's status word and in the host's JSON errors,
//! so a code, once published, is never reused for another meaning. Inside
//! postcard bodies (an audit record's action and cause, say) a code travels
//! as its variant index, like every enum there; `tests/golden.rs` freezes
//! those indexes, so reordering the rows fails a test instead of silently
//! changing the format.

use serde::{Deserialize, Serialize};

/// Declares a `#[repr(u16)]` enum from `Variant = code => "name"` rows,
/// with `ALL` (every variant, in row order), `code`, `from_code` and `name`.
///
/// The attributes before `pub enum` (derives, docs) are passed through, so
/// each table keeps its own derives and the serde encoding of a plain
/// derived enum: the variant index in postcard, the variant name in JSON.
macro_rules! code_table {
    (
        $(#[$attr:meta])*
        pub enum $name:ident {
            $($(#[$row_attr:meta])* $variant:ident = $code:literal => $text:literal,)*
        }
    ) => {
        $(#[$attr])*
        #[repr(u16)]
        pub enum $name {
            $($(#[$row_attr])* $variant = $code,)*
        }

        impl $name {
            /// Every variant, in row order (the postcard variant index).
            /// Tests iterate over it.
            pub const ALL: [Self; [$($code),*].len()] = [$(Self::$variant),*];

            /// The stable numeric code.
            pub const fn code(self) -> u16 {
                self as u16
            }

            /// The variant for a code, `None` for a code we never issued.
            pub const fn from_code(code: u16) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The name as the seed writes it, for integrators, logs and
            /// audit exports.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
    };
}

code_table! {
    /// The firmware's sub-function codes, one per request type of the
    /// `command` module (each variant is named after its request type).
    ///
    /// Codes are stable; a retired code is never reused.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum SubFunction {
        /// `GetStatus`.
        GetStatus = 0x0001 => "Get_Status",
        /// `GetChallenge`.
        GetChallenge = 0x0002 => "Get_Challenge",
        /// `InitFirmware` (seed §5.7 "Initialize SAM Firmware").
        InitFirmware = 0x0010 => "Initialize_SAM_Firmware",
        /// `SetIdpKeys` (seed §5.7 "Set IdP Public Keys").
        SetIdpKeys = 0x0011 => "Set_IdP_Public_Keys",
        /// `EnrolPrivilegedUser`: the first Privileged User, by two
        /// administrators.
        EnrolPrivilegedUser = 0x0012 => "Enrol_Privileged_User",
        /// `CreatePrivilegedUser` (seed §7.1.1).
        CreatePrivilegedUser = 0x0020 => "Create_New_Privileged_User",
        /// `CreateSigner` (seed §7.1.2).
        CreateSigner = 0x0021 => "Create_New_Signer",
        /// `SignerMaintenance` (seed §7.1.3).
        SignerMaintenance = 0x0022 => "Signer_Maintenance",
        /// `GenerateKeyPair` (seed §7.1.4).
        GenerateKeyPair = 0x0023 => "Generate_Signer_Key_Pair",
        /// `SignCertificationRequest` (seed §7.1.4, the certificate request).
        SignCertificationRequest = 0x0024 => "Sign_Certification_Request",
        /// `DeleteKeyPair` (seed §7.1.5).
        DeleteKeyPair = 0x0025 => "Delete_Signer_Key_Pair",
        /// `Signing` (seed §7.1.6).
        Signing = 0x0026 => "Signing",
        /// `VerifyDataIntegrity` (seed §5.7 "Check Data Integrity").
        VerifyDataIntegrity = 0x0030 => "Check_Data_Integrity",
        /// `SyncAudit`: the host acknowledges stored audit records and
        /// fetches the ones it may lack after a crash.
        SyncAudit = 0x0031 => "Sync_Audit",
        // Rows below were added after the first release. They are appended,
        // not sorted into their code range, because inside a postcard body a
        // sub-function travels as its row index (see `tests/golden.rs`).
        /// `SetPolicy`: the maximum identity-token lifetime and the signing
        /// CAs, by two administrators.
        SetPolicy = 0x0013 => "Set_Policy",
        /// `RegisterCertificate`: a signer key's certificate, checked and
        /// registered by the firmware (the key becomes active).
        RegisterCertificate = 0x0027 => "Register_Certificate",
    }
}

code_table! {
    /// One error type of seed §7.1, plus [`ErrorType::ReplayedSad`].
    ///
    /// The firmware returns the code as its status; the host maps it to an
    /// HTTP status. Detail about *why* (which check failed) goes to logs and
    /// to the audit record's cause, never into a different code, so that an
    /// attacker probing the interface learns no more than the seed allows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    pub enum ErrorType {
        /// The input cannot be parsed into a message container (host side).
        ContainerParseError = 1 => "ContainerParseError",
        /// The input cannot be parsed into the specified message type.
        MessageParseError = 2 => "MessageParseError",
        /// The message type is not known (unknown sub-function code).
        UnknownMessageType = 3 => "UnknownMessageType",
        /// The credential type is not known.
        UnknownCredentialType = 4 => "UnknownCredentialType",
        /// The credential could not be validated.
        AuthenticationError = 5 => "AuthenticationError",
        /// The credential could not be associated with a user.
        UnknownUser = 6 => "UnknownUser",
        /// The acting user may not perform the operation.
        NotAuthorized = 7 => "NotAuthorized",
        /// A component (firmware, HSM, database) is not operational.
        NotOperational = 8 => "NotOperational",
        /// An error condition that was not anticipated.
        UnexpectedError = 9 => "UnexpectedError",
        /// The input is well-formed but not acceptable (for example an empty
        /// certificate set).
        InvalidInput = 10 => "InvalidInput",
        /// No key exists for the given KeyID.
        NotFound = 11 => "NotFound",
        /// The signature or hash algorithm does not fit the key or the
        /// hashes.
        InvalidAlgorithm = 12 => "InvalidAlgorithm",
        /// The identity token in the SAD is not acceptable (signature,
        /// validity, identification level, UserID).
        InvalidAuthentication = 13 => "InvalidAuthentication",
        /// The SAD signature does not verify with the key in the token.
        InvalidSignature = 14 => "InvalidSignature",
        /// The SAD was already used once; single use is enforced by the
        /// firmware. Not in the seed, which leaves replay to the SAM.
        ReplayedSad = 15 => "ReplayedSad",
    }
}

impl ErrorType {
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
    fn sub_function_codes_round_trip_and_are_unique() {
        for (i, a) in SubFunction::ALL.iter().enumerate() {
            for b in SubFunction::ALL.iter().skip(i + 1) {
                assert_ne!(a.code(), b.code(), "{a:?} and {b:?} share a code");
            }
        }
        for s in SubFunction::ALL {
            assert_eq!(SubFunction::from_code(s.code()), Some(s));
        }
        assert_eq!(SubFunction::from_code(0), None);
        assert_eq!(SubFunction::from_code(0x7777), None);
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

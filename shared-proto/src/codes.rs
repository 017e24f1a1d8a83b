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
        /// `ReportRefusal`: samd reports a request it refused before any
        /// firmware command, and the firmware audits it.
        ReportRefusal = 0x0040 => "Report_Refusal",
        /// `SetPolicy`: the maximum identity-token lifetime and the signing
        /// CAs, by two administrators.
        SetPolicy = 0x0013 => "Set_Policy",
        /// `RegisterCertificate`: a signer key's certificate, checked and
        /// registered by the firmware (the key becomes active).
        RegisterCertificate = 0x0027 => "Register_Certificate",
        /// `GetAuditCheckpoint`: a checkpoint of the audit chain as it is
        /// now, signed with the attestation key.
        GetAuditCheckpoint = 0x0032 => "Get_Audit_Checkpoint",
    }
}

code_table! {
    /// Requests samd serves without a firmware command (the Key Manager of
    /// seed §7.4). They appear in the audit trail only as refusals that
    /// samd reports with [`SubFunction::ReportRefusal`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum HostOperation {
        /// `GET /private-keys`, `GET /objects` (seed §7.4.1, §7.4.2).
        KeyManagerQuery = 0x0101 => "Key_Manager_Query",
        /// `POST /objects` (seed §7.4.3).
        KeyManagerRegister = 0x0102 => "Key_Manager_Register",
    }
}

code_table! {
    /// The brief description of why an operation failed, which seed §7.1
    /// asks every failure's audit record to carry. The error type says
    /// what the caller is told; the cause says which check refused, for
    /// the auditor only.
    ///
    /// Ranges: `0x00xx` firmware causes shared by several operations,
    /// `0x01xx` the rows of the Signing check table (`0x0100 + row`, see
    /// the firmware's `ops::signing`), `0x02xx` causes samd reports for
    /// requests it refused itself ([`Cause::reported_by_host`]); the
    /// firmware accepts only these in a report, so a host cannot pass off
    /// its own refusal as a firmware check.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum Cause {
        /// A request body that does not decode (firmware).
        MalformedRequest = 0x0001 => "the request does not decode as its message type",
        /// A sub-function code that names no operation.
        UnknownSubFunction = 0x0002 => "the sub-function code is not known",
        /// A platform service failed.
        PlatformFailure = 0x0003 => "a platform service (clock, random source, storage) failed",
        /// An internal step failed that should not.
        InternalFailure = 0x0004 => "an internal step failed unexpectedly",
        /// Input the operation does not accept, with no finer cause.
        InputRejected = 0x0005 => "the input is not acceptable",
        /// The acting user's role may not perform the operation.
        RoleNotAllowed = 0x0010 => "the acting user's role may not perform this operation",
        /// A Signer acted on another user's key.
        NotOwnKey = 0x0011 => "a Signer may act only on its own keys",
        /// The acting user may not act on this user.
        NotOwnUser = 0x0012 => "the acting user may not act on this user",
        /// Dual control not satisfied.
        ApprovalsRefused = 0x0013 => "the administrator approvals are missing, repeated, unknown or invalid",
        /// A second initialization.
        AlreadyInitialized = 0x0014 => "the firmware is already initialized",
        /// No IdP certificate where one is required.
        NoCertificates = 0x0020 => "no IdP certificate was given",
        /// A certificate the firmware cannot use.
        BadCertificate = 0x0021 => "a certificate does not parse or holds an unusable key",
        /// A target user record that fails its tag.
        TargetRecordInvalid = 0x0022 => "the target user's record fails its firmware tag",
        /// A key operation for a user who is not a Signer.
        TargetNotSigner = 0x0023 => "the target user is not a Signer",
        /// Self-maintenance without the IdP of the request's own token.
        LockoutPrevented = 0x0024 => "self-maintenance must keep the IdP certificate of this request's token",
        /// The wrapped key fails its tag.
        WrappedKeyInvalid = 0x0025 => "the wrapped key fails its firmware tag",
        /// No wrapped key for the KeyID.
        KeyNotFound = 0x0026 => "no wrapped key was given for the KeyID",
        /// A CertificationRequestInfo the firmware will not sign.
        BadRequestInfo = 0x0027 => "the certification request info is not strict DER, not v1, or not for this key",
        /// A counter or field at its limit.
        LimitReached = 0x0028 => "a counter or list of the record is at its limit",
        /// A report of a refusal that may not be reported.
        ReportNotAuditable = 0x0029 => "the reported refusal is exempt, a success, or not a host cause",
        /// Signing check 1: the SAD does not parse.
        SadMalformed = 0x0101 => "check 1: the SAD is not strict DER of SAD",
        /// Signing check 1: hash count outside 1..=128.
        SadHashCount = 0x0111 => "check 1: the SAD carries no hash value, or more than 128",
        /// Signing check 2: the token's signer is no trusted IdP.
        TokenUntrustedIssuer = 0x0102 => "check 2: the identity token names no trusted IdP certificate",
        /// Signing check 2: the token's signature algorithm does not fit the IdP key.
        TokenAlgorithmMismatch = 0x0112 => "check 2: the token's signature algorithm does not fit the IdP key",
        /// Signing check 2: the IdP signature does not verify.
        TokenBadSignature = 0x0122 => "check 2: the IdP signature over the token does not verify",
        /// Signing check 2: a token field cannot be used.
        TokenMalformed = 0x0132 => "check 2: a field of the identity token cannot be used",
        /// Signing check 3: notBefore in the future.
        TokenNotYetValid = 0x0103 => "check 3: the identity token is not yet valid",
        /// Signing check 3: notAfter in the past.
        TokenExpired = 0x0113 => "check 3: the identity token has expired",
        /// Signing check 4: identification level.
        TokenLevelTooLow = 0x0104 => "check 4: the identification level is missing or below substantial",
        /// Signing check 4a: credential and SAD token name different users.
        CredentialUserMismatch = 0x0105 => "check 4a: the credential's UserID differs from the SAD token's UserID",
        /// Signing check 7: record and token disagree.
        SignerRecordMismatch = 0x0107 => "check 7: the signer's record is another user's or does not list the token's IdP",
        /// Signing check 8: the user is not a Signer.
        NotASigner = 0x0108 => "check 8: the user is not a Signer",
        /// Signing check 9: the token is not a signing authorization.
        TokenNotForSigning = 0x0109 => "check 9: the token has no SAD public key or no signing scope",
        /// Signing check 10: the SAD signature.
        SadSignature = 0x010a => "check 10: the SAD signature does not verify with the token's SAD key",
        /// Signing check 11: token older than this boot.
        TokenBeforeBoot = 0x010b => "check 11: the token was issued before the firmware's last boot",
        /// Signing check 12: no wrapped key for the SAD's keyid.
        SadKeyNotFound = 0x010c => "check 12: no wrapped key was given for the SAD's keyid",
        /// Signing check 13: the wrapped key fails its tag.
        SadWrappedKeyInvalid = 0x010d => "check 13: the wrapped key fails its firmware tag",
        /// Signing check 14: the key is another user's.
        SadNotOwnKey = 0x010e => "check 14: the key belongs to another user",
        /// Signing check 15: hash algorithm and key.
        HashAlgorithmUnfit = 0x010f => "check 15: the key does not sign with the SAD's hash algorithm",
        /// Signing check 16: hash length and algorithm.
        HashLengthUnfit = 0x0110 => "check 16: a hash value's length does not fit the hash algorithm",
        /// Signing check 17: replay.
        TokenReplayed = 0x0120 => "check 17: the identity token was already used for signing",
        /// Signing check 18: replay set full.
        ReplaySetFull = 0x0121 => "check 18: the replay set is full",
        /// samd: a base64 field does not decode.
        HostBadBase64 = 0x0201 => "samd: a base64 field does not decode",
        /// samd: a field the message type does not have.
        HostUnknownField = 0x0202 => "samd: the parameters carry a field the message type does not have",
        /// samd: a missing or mistyped field.
        HostParamsMismatch = 0x0203 => "samd: a field of the parameters is missing or of the wrong type",
        /// samd: a UserID or KeyID that is no UUID.
        HostBadUuid = 0x0204 => "samd: a UserID or KeyID is not a UUID",
        /// samd: a field over its bound.
        HostTooLong = 0x0205 => "samd: a field exceeds its bound",
        /// samd: an unsupported key algorithm.
        HostUnknownAlgorithm = 0x0206 => "samd: the key algorithm name or its parameters are not supported",
        /// samd: an unknown container operation.
        HostUnknownOperation = 0x0207 => "samd: the container names no known operation",
        /// samd: no record for the target user.
        HostNoSuchUser = 0x0208 => "samd: no user record for the target UserID",
        /// samd: the UserID is taken.
        HostUserExists = 0x0209 => "samd: a user with this UserID already exists",
        /// samd: its store failed.
        HostStoreFailure = 0x020a => "samd: its store failed",
        /// samd: the firmware could not be reached.
        HostFirmwareUnreachable = 0x020b => "samd: the firmware could not be reached",
        /// samd: a malformed key manager query.
        HostBadQuery = 0x020c => "samd: the key manager query is malformed",
        /// samd: a certificate it will not register.
        HostCertificateRefused = 0x020d => "samd: the certificate cannot be registered for this key",
        /// samd: any other refusal; the record's note says more.
        HostOther = 0x02ff => "samd: another refusal (see the note)",
        // Rows below were added later; appended because a cause travels as
        // its row index inside a postcard body (see `tests/golden.rs`).
        /// A signer certificate the firmware does not accept.
        CertificateRefused = 0x002a => "the certificate is not from a signing CA of the policy, not valid now, lacks the key usage, or is for another key",
        /// Signing check 3: a token lived longer than the policy allows.
        TokenTooLongLived = 0x0123 => "check 3: the identity token's lifetime exceeds the policy's maximum",
        /// Signing check 14a: the key is not in the firmware's registry.
        SadKeyNotRegistered = 0x011e => "check 14a: the key is not registered in the firmware (deleted or never generated here)",
        /// Signing check 14b: the key has no valid certificate.
        SadKeyNotActive = 0x012e => "check 14b: the key has no registered certificate valid now",
    }
}

impl Cause {
    /// Whether samd may report this cause ([`SubFunction::ReportRefusal`]).
    pub const fn reported_by_host(self) -> bool {
        self.code() >> 8 == 0x02
    }

    /// The cause recorded when a refusal site names none: the most
    /// general cause of each error type. Every site where one error type
    /// has several causes within an operation names its own.
    pub const fn default_for(error: ErrorType) -> Self {
        match error {
            ErrorType::MessageParseError | ErrorType::ContainerParseError => Self::MalformedRequest,
            ErrorType::UnknownMessageType => Self::UnknownSubFunction,
            ErrorType::NotOperational => Self::PlatformFailure,
            ErrorType::NotAuthorized => Self::RoleNotAllowed,
            ErrorType::NotFound => Self::KeyNotFound,
            ErrorType::InvalidAlgorithm => Self::HashAlgorithmUnfit,
            ErrorType::InvalidAuthentication => Self::TokenBadSignature,
            ErrorType::InvalidSignature => Self::SadSignature,
            ErrorType::ReplayedSad => Self::TokenReplayed,
            ErrorType::InvalidInput => Self::InputRejected,
            ErrorType::UnexpectedError
            | ErrorType::UnknownCredentialType
            | ErrorType::AuthenticationError
            | ErrorType::UnknownUser => Self::InternalFailure,
        }
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

//! One request type per firmware sub-function, each tied to its response.
//!
//! The [`Command`] trait pairs a request with its sub-function code and its
//! response type, as yubihsm.rs and trussed pair theirs: a caller cannot
//! send a `Signing` request and decode a `UserIssued` answer. The
//! [`SubFunction`] enum is the single list of codes; a test in the firmware
//! checks that its dispatch table covers exactly this list.

use crate::bounded::{Blob, List};
pub use crate::codes::SubFunction;
use crate::codes::{Cause, ErrorType};
use crate::ids::{KeyAlgorithm, KeyId, UserId};
use crate::records::{
    Action, AuditCheckpoint, AuditRecord, CertFingerprint, DEFAULT_CHECKPOINT_INTERVAL,
    MAX_CERT_LEN, MAX_IDP_CERTS, MAX_NOTE_LEN, SealedUserRecord, WrappedKey,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Largest DER identity token inside a credential or a SAD.
pub const MAX_TOKEN_LEN: usize = 8192;
/// Largest credential value (a token, or a technical signature).
pub const MAX_CREDENTIAL_LEN: usize = MAX_TOKEN_LEN;
/// Most hashes one SAD may carry (batch signing).
pub const MAX_HASHES: usize = 128;
/// Largest DER SAD: a token plus `MAX_HASHES` SHA-512 hashes and headroom.
pub const MAX_SAD_LEN: usize = MAX_TOKEN_LEN + MAX_HASHES * 66 + 1024;
/// Largest signature the firmware returns (RSA-4096).
pub const MAX_SIGNATURE_LEN: usize = 512;
/// Administrators the firmware can enrol.
pub const MAX_ADMINS: usize = 8;
/// IdP trust anchors the firmware keeps.
pub const MAX_IDP_KEYS: usize = 8;
/// Largest DER CertificationRequestInfo a key's owner may propose.
pub const MAX_CRI_LEN: usize = 4096;
/// Largest DER subject Name of a certification request made at key
/// generation.
pub const MAX_SUBJECT_LEN: usize = 1024;
/// Largest DER PKCS#10 request the firmware returns.
pub const MAX_CSR_LEN: usize = MAX_CRI_LEN + 1024;
/// Records one VerifyDataIntegrity batch may carry, per kind.
pub const MAX_INTEGRITY_BATCH: usize = 16;
/// Audit records one VerifyDataIntegrity batch may carry.
pub const MAX_AUDIT_BATCH: usize = 256;
/// Audit records one SyncAudit exchange acknowledges or returns.
pub const MAX_OUTBOX_BATCH: usize = 64;
/// Signing CAs the policy may name (certificates of signer keys must be
/// issued by one of them).
pub const MAX_SIGNING_CAS: usize = 8;
/// Length of an uncompressed SEC1 P-256 point (administrator keys).
pub const ADMIN_KEY_LEN: usize = 65;
/// Largest DER ECDSA P-256 signature.
pub const MAX_ADMIN_SIG_LEN: usize = 72;
/// Longest HSM operator (user) name in an [`OperatorLogon`].
pub const MAX_OPERATOR_NAME_LEN: usize = 32;
/// Largest operator logon response: room for the HSM's strongest logon
/// mechanism (an RSA-4096 signature), not only the simulator's HMAC.
pub const MAX_OPERATOR_RESPONSE_LEN: usize = 512;

/// A request the firmware understands.
pub trait Command: Serialize + DeserializeOwned + core::fmt::Debug {
    /// Its sub-function code.
    const CODE: SubFunction;
    /// Largest postcard encoding of the request body.
    const MAX_SIZE: usize;
    /// The answer on success.
    type Response: Serialize + DeserializeOwned + core::fmt::Debug;
}

/// The credential of a peering request: `{type, value}` as in the seed's
/// message container. The type stays a number here so that the firmware,
/// not the decoder, answers `UnknownCredentialType` for one it does not know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// One of the `Credential::*` kind constants.
    pub kind: u16,
    /// DER `SignedIdentityToken`, or postcard [`TechnicalSignature`].
    pub value: Blob<MAX_CREDENTIAL_LEN>,
}

impl Credential {
    /// `value` is a DER `SignedIdentityToken` (seed §8.2).
    pub const IDENTITY_TOKEN: u16 = 1;
    /// `value` is a postcard [`TechnicalSignature`] of a Privileged User
    /// Technical.
    pub const TECHNICAL_SIGNATURE: u16 = 2;
    /// Largest encoding.
    pub const MAX_SIZE: usize = 3 + Blob::<MAX_CREDENTIAL_LEN>::MAX_SIZE;
}

/// A Privileged User Technical's signature over a firmware challenge and the
/// request (see the firmware's `auth` module for the exact message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TechnicalSignature {
    /// A challenge from [`GetChallenge`], single use.
    pub challenge: [u8; 32],
    /// Signature with the key of the registered certificate.
    pub signature: Blob<MAX_SIGNATURE_LEN>,
}

/// The proof that the holder of an identity token asked for this very
/// request: a signature by the SAD key bound in the token over the
/// request's [`crate::intent::Intent`] and a firmware challenge, under
/// [`crate::approval::TOKEN_REQUEST`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestProof {
    /// A challenge from [`GetChallenge`], single use.
    pub challenge: [u8; 32],
    /// Signature with the token's SAD key (ECDSA DER, or RSA PKCS#1 v1.5,
    /// SHA-256).
    pub signature: Blob<MAX_SIGNATURE_LEN>,
}

impl RequestProof {
    /// Largest encoding.
    pub const MAX_SIZE: usize = 32 + Blob::<MAX_SIGNATURE_LEN>::MAX_SIZE;
}

/// Who is asking: the credential and the acting user's record, which the
/// host looked up (for a token, by the token's userId) and the firmware
/// checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// The credential.
    pub credential: Credential,
    /// The acting user's record, `None` when the host found none (the
    /// firmware answers `UnknownUser`).
    pub actor: Option<SealedUserRecord>,
    /// With an identity token: the token holder's proof for this request
    /// (required; a token alone authorizes nothing). `None` with a
    /// technical signature, which carries its own challenge.
    pub proof: Option<RequestProof>,
}

impl Authentication {
    /// Largest encoding.
    pub const MAX_SIZE: usize =
        Credential::MAX_SIZE + 1 + SealedUserRecord::MAX_SIZE + 1 + RequestProof::MAX_SIZE;
}

/// One administrator's approval of a management command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The administrator's P-256 key, uncompressed SEC1.
    pub admin: Blob<ADMIN_KEY_LEN>,
    /// DER ECDSA-SHA-256 signature over the approval message.
    pub signature: Blob<MAX_ADMIN_SIG_LEN>,
}

/// The approvals of a dual-control command: each administrator signs
/// `"sam/admin-approval/v1" ‖ challenge ‖ code (u16 BE) ‖
/// SHA-256(postcard(params))`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approvals {
    /// A challenge from [`GetChallenge`], single use.
    pub challenge: [u8; 32],
    /// At least two, from distinct administrators.
    pub approvals: List<Approval, MAX_ADMINS>,
}

impl Approvals {
    /// Largest encoding.
    pub const MAX_SIZE: usize = 32
        + List::<Approval, MAX_ADMINS>::max_size(
            Blob::<ADMIN_KEY_LEN>::MAX_SIZE + Blob::<MAX_ADMIN_SIG_LEN>::MAX_SIZE,
        );
}

/// An answer that carries only the audit record of the operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audited {
    /// The audit record to store.
    pub audit: AuditRecord,
}

/// The answer body of any failed command: the audit record, unless the
/// error is one of the four the seed exempts from auditing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// The audit record of the failure.
    pub audit: Option<AuditRecord>,
}

impl ErrorAnswer {
    /// Largest encoding.
    pub const MAX_SIZE: usize = 1 + AuditRecord::MAX_SIZE;
}

/// A user record created or updated by the firmware.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserIssued {
    /// The record to store in the SAM DB.
    pub record: SealedUserRecord,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Lifecycle of the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FirmwareState {
    /// No administrators enrolled yet; only GetStatus, GetChallenge and
    /// InitFirmware are served.
    Uninitialized,
    /// Initialized and self-tests passed.
    Operational,
    /// A self-test or the platform failed; everything answers NotOperational.
    Failed,
}

/// Ask for the firmware's state. No credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetStatus;

/// The firmware's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Firmware version, `major << 8 | minor`.
    pub firmware_version: u16,
    /// Lifecycle state.
    pub state: FirmwareState,
    /// Boot counter.
    pub boot: u32,
    /// The `seq` the next audit record will carry.
    pub next_audit_seq: u64,
    /// Chain hash of the last audit record issued.
    pub audit_head: [u8; 32],
    /// The attestation public key (uncompressed SEC1 P-256), once initialized.
    pub attestation_key: Option<Blob<ADMIN_KEY_LEN>>,
    /// Administrators enrolled.
    pub admins: u8,
    /// IdP trust anchors imported.
    pub idp_keys: u8,
}

/// Ask for a single-use challenge for approvals and technical signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetChallenge;

/// A fresh challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeIssued {
    /// The challenge.
    pub challenge: [u8; 32],
    /// Unix seconds after which it is no longer accepted.
    pub expires: i64,
}

/// Initialize the firmware: derive keys from the MBK, enrol administrators.
///
/// Seed `manageFW init LogonPass=<user>,<credential> <MBK slot id>`: the
/// HSM authenticates its operator ([`OperatorLogon`], checked by the
/// platform) before the firmware enrols anyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitFirmware {
    /// What the administrators approve.
    pub params: InitParams,
    /// The HSM operator's logon, bound to `params` and to
    /// `approvals.challenge` (see [`crate::approval::OPERATOR_LOGON`]).
    pub operator: OperatorLogon,
    /// Approvals by at least two of `params.admins`.
    pub approvals: Approvals,
}

/// Parameters of [`InitFirmware`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitParams {
    /// The administrators to enrol (P-256, uncompressed SEC1), at least two.
    pub admins: List<Blob<ADMIN_KEY_LEN>, MAX_ADMINS>,
    /// The HSM's MBK slot the module keys are derived from, now and at
    /// every boot.
    pub mbk_slot: u8,
}

/// An HSM operator's logon for [`InitFirmware`]: a challenge-response, so
/// that the host that relays it never holds a reusable secret. The
/// platform, not the firmware, knows the operator's credential and checks
/// the response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorLogon {
    /// The HSM user name.
    pub user: Blob<MAX_OPERATOR_NAME_LEN>,
    /// The response over the logon message (simulator: HMAC-SHA-256 under
    /// the operator's secret).
    pub response: Blob<MAX_OPERATOR_RESPONSE_LEN>,
}

impl OperatorLogon {
    /// Largest encoding.
    pub const MAX_SIZE: usize =
        Blob::<MAX_OPERATOR_NAME_LEN>::MAX_SIZE + Blob::<MAX_OPERATOR_RESPONSE_LEN>::MAX_SIZE;
}

/// The firmware is initialized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Initialized {
    /// The attestation public key (uncompressed SEC1 P-256).
    pub attestation_key: Blob<ADMIN_KEY_LEN>,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Replace the IdP trust anchors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetIdpKeys {
    /// What the administrators approve.
    pub params: IdpKeysParams,
    /// Approvals by two enrolled administrators.
    pub approvals: Approvals,
}

/// Parameters of [`SetIdpKeys`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpKeysParams {
    /// DER X.509 certificates of the IdP keys (P-256, P-384 or RSA).
    pub certificates: List<Blob<MAX_CERT_LEN>, MAX_IDP_KEYS>,
}

/// The trust anchors now in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpKeysSet {
    /// SHA-256 of each imported certificate, in input order.
    pub fingerprints: List<CertFingerprint, MAX_IDP_KEYS>,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Create the first Privileged User, approved by two administrators (there
/// is no Privileged User yet who could do it through the peering interface).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolPrivilegedUser {
    /// What the administrators approve.
    pub params: NewUser,
    /// Approvals by two enrolled administrators.
    pub approvals: Approvals,
}

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// The new UserID.
    pub user_id: UserId,
    /// IdP certificates that may sign this user's identity tokens (DER).
    pub certificates: List<Blob<MAX_CERT_LEN>, MAX_IDP_CERTS>,
}

/// Create a Privileged User (seed §7.1.1). With `technical_certificate`, the
/// new user is a Privileged User Technical authenticated by that
/// certificate's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePrivilegedUser {
    /// Who asks.
    pub auth: Authentication,
    /// The new user.
    pub user: NewUser,
    /// For a Privileged User Technical: its X.509 certificate (DER).
    pub technical_certificate: Option<Blob<MAX_CERT_LEN>>,
}

/// Create a Signer (seed §7.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSigner {
    /// Who asks: a Privileged User (token) or a Privileged User Technical
    /// (technical signature).
    pub auth: Authentication,
    /// The new signer.
    pub user: NewUser,
}

/// Replace a Signer's IdP certificates (seed §7.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerMaintenance {
    /// Who asks.
    pub auth: Authentication,
    /// The signer's current record; `None` if the host has none.
    pub target: Option<SealedUserRecord>,
    /// The new IdP certificates (DER), at least one.
    pub certificates: List<Blob<MAX_CERT_LEN>, MAX_IDP_CERTS>,
}

/// Generate a signer key pair (seed §7.1.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateKeyPair {
    /// Who asks.
    pub auth: Authentication,
    /// The signer who will own the key; `None` if the host has none.
    pub target: Option<SealedUserRecord>,
    /// Key type and size.
    pub algorithm: KeyAlgorithm,
    /// The subject (DER Name) of a PKCS#10 request that the firmware
    /// builds around the new key and signs with it in the same operation;
    /// `None` for no request.
    pub subject: Option<Blob<MAX_SUBJECT_LEN>>,
}

/// The new key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPairGenerated {
    /// The wrapped key, with its KeyID and public key.
    pub wrapped: WrappedKey,
    /// ECDSA-SHA-256 (DER) by the attestation key over
    /// `"sam/attest/v1" ‖ key_id ‖ user_id ‖ algorithm ‖ SHA-256(spki)`.
    pub attestation: Blob<MAX_ADMIN_SIG_LEN>,
    /// The DER PKCS#10 request for `subject` and the new key, signed by
    /// it, if the request asked for one.
    pub csr: Option<Blob<MAX_CSR_LEN>>,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Sign a PKCS#10 request for an existing signer key, by its owner only
/// (a Signer acting on its own key). The client proposes the
/// CertificationRequestInfo; the firmware signs it only if it carries
/// exactly the key's public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignCertificationRequest {
    /// Who asks.
    pub auth: Authentication,
    /// The key.
    pub wrapped: WrappedKey,
    /// DER CertificationRequestInfo (RFC 2986).
    pub request_info: Blob<MAX_CRI_LEN>,
}

/// The signed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificationRequestSigned {
    /// DER CertificationRequest.
    pub csr: Blob<MAX_CSR_LEN>,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Delete a signer key pair (seed §7.1.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteKeyPair {
    /// Who asks.
    pub auth: Authentication,
    /// The KeyID to delete.
    pub key_id: KeyId,
    /// The stored wrapped key; `None` if the host has none (NotFound).
    pub wrapped: Option<WrappedKey>,
}

/// Sign hashes with a signer key (seed §7.1.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signing {
    /// DER `SAD` (seed §8.1).
    pub sad: Blob<MAX_SAD_LEN>,
    /// The container's credential, if the caller sent one. The firmware
    /// verifies it as an identity token and refuses the SAD when the two
    /// tokens name different users (seed §7.1.6, InvalidAuthentication).
    pub credential: Option<Credential>,
    /// The signer's record, looked up by the token's userId.
    pub signer: Option<SealedUserRecord>,
    /// The wrapped key named by the SAD's keyid.
    pub wrapped: Option<WrappedKey>,
}

/// samd reports a request it refused before any firmware command reached
/// the firmware (bad base64, an unknown field, an unsupported algorithm
/// name, an unknown operation...), so that the refusal is audited like
/// one of the firmware's (seed §7.1: only four error types are exempt).
///
/// The firmware records it as a failure of `action` with `error`, `cause`
/// and `note`, no actor (samd's word about who asked is not evidence). It
/// refuses (InvalidInput, audited as a failed Report_Refusal) an exempt
/// error type, a cause outside the host range ([`Cause::reported_by_host`]),
/// and a note that is not UTF-8. What a compromised host can do with it:
/// append refusals; it cannot record a success, remove or change a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRefusal {
    /// The operation samd refused.
    pub action: Action,
    /// The error type samd answered with.
    pub error: ErrorType,
    /// Why, from the host range of [`Cause`].
    pub cause: Cause,
    /// samd's short description (UTF-8, truncated by samd).
    pub note: Blob<MAX_NOTE_LEN>,
}

/// The signatures, one per hash of the SAD, in SAD order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// Raw RSA signatures or DER ECDSA signatures.
    pub signatures: List<Blob<MAX_SIGNATURE_LEN>, MAX_HASHES>,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Register the certificate of a signer key (seed §7.4.3, checked by the
/// firmware): the key owner or a Privileged User asks; the firmware checks
/// the certificate against the policy's signing CAs and the key, and the
/// key becomes active. Until then the key cannot sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterCertificate {
    /// Who asks.
    pub auth: Authentication,
    /// The key.
    pub key_id: KeyId,
    /// The stored wrapped key; `None` if the host has none (NotFound).
    pub wrapped: Option<WrappedKey>,
    /// DER X.509 certificate for the key.
    pub certificate: Blob<MAX_CERT_LEN>,
}

/// The key is active with this certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRegistered {
    /// SHA-256 of the certificate DER.
    pub fingerprint: CertFingerprint,
    /// Start of the certificate's validity, Unix seconds.
    pub not_before: i64,
    /// End of the certificate's validity, Unix seconds: the key signs
    /// until then.
    pub not_after: i64,
    /// The audit record.
    pub audit: AuditRecord,
}

/// Set the policy: approved by two enrolled administrators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPolicy {
    /// What the administrators approve.
    pub params: PolicyParams,
    /// Approvals by two enrolled administrators.
    pub approvals: Approvals,
}

/// The firmware's policy, kept in its configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyParams {
    /// Longest validity (`notAfter - notBefore`, seconds) an identity token
    /// may have, for a credential or inside a SAD. At least 1.
    pub max_token_lifetime: u32,
    /// DER certificates of the CAs that issue signer certificates.
    pub signing_cas: List<Blob<MAX_CERT_LEN>, MAX_SIGNING_CAS>,
    /// Audit records between two checkpoints the firmware signs of its
    /// own accord (at least 1; [`DEFAULT_CHECKPOINT_INTERVAL`] until set).
    /// Smaller bounds what an offline verifier may miss at the tail;
    /// larger costs fewer attestation signatures.
    pub checkpoint_interval: u32,
}

impl PolicyParams {
    /// The maximum token lifetime before the administrators set one: one
    /// hour.
    pub const DEFAULT_MAX_TOKEN_LIFETIME: u32 = 3600;
}

impl Default for PolicyParams {
    /// One hour for tokens and no signing CA, so that no key can be
    /// activated before the administrators chose the CAs.
    fn default() -> Self {
        Self {
            max_token_lifetime: Self::DEFAULT_MAX_TOKEN_LIFETIME,
            signing_cas: List::default(),
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
        }
    }
}

/// Where an audit verification stopped, authenticated by the firmware so
/// the host can continue in the next batch without being trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCursor {
    /// The `seq` the next record must carry.
    pub next_seq: u64,
    /// The chain hash the next record's `prev` must equal.
    pub chain: [u8; 32],
    /// HMAC-SHA-256 under the audit key.
    pub mac: [u8; 32],
}

/// Check host-stored data (seed §5.7 "Check Data Integrity").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyDataIntegrity {
    /// User records to check.
    pub users: List<SealedUserRecord, MAX_INTEGRITY_BATCH>,
    /// Wrapped keys to check.
    pub keys: List<WrappedKey, MAX_INTEGRITY_BATCH>,
    /// Consecutive audit records to check.
    pub audit: List<AuditRecord, MAX_AUDIT_BATCH>,
    /// Where the previous batch stopped; `None` starts at the first record.
    pub cursor: Option<AuditCursor>,
}

/// The verdict on one batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityReport {
    /// Indexes of user records whose MAC failed.
    pub bad_users: List<u16, MAX_INTEGRITY_BATCH>,
    /// Indexes of wrapped keys that failed to open.
    pub bad_keys: List<u16, MAX_INTEGRITY_BATCH>,
    /// Index of the first audit record that breaks the chain, if any.
    pub audit_break: Option<u16>,
    /// Where this batch ended (continue from here).
    pub cursor: AuditCursor,
    /// True when `cursor` reaches the last record the firmware issued: the
    /// store holds the whole chain, its tail included.
    pub audit_complete: bool,
}

/// Acknowledge audit records the host has stored, and optionally fetch the
/// records the firmware still keeps for it (its audit outbox).
///
/// The firmware keeps every record it issues until the host acknowledges
/// it, in the same durable slot as the audit counters. A host that crashed
/// between the firmware's answer and its own commit (or a firmware that
/// crashed before its answer left) therefore loses no record: after a
/// restart or reconnect the host fetches what the outbox holds, stores it,
/// and acknowledges it. The outbox is a recovery aid, not a security
/// control: a host that acknowledges without storing only creates the gap
/// that the integrity check reports anyway, because the firmware's counter
/// runs ahead of the stored chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAudit {
    /// `seq` of records the host has made durable.
    pub stored: List<u64, MAX_OUTBOX_BATCH>,
    /// Return the kept records with `seq >= fetch_from`, oldest first;
    /// `None` only acknowledges.
    pub fetch_from: Option<u64>,
}

/// What the outbox holds after a [`SyncAudit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditOutbox {
    /// Kept records from `fetch_from` on, oldest first, with their MACs.
    pub records: List<AuditRecord, MAX_OUTBOX_BATCH>,
    /// More kept records follow the last one returned (ask again from
    /// its `seq + 1`).
    pub more: bool,
    /// Records still kept after the acknowledgement.
    pub kept: u32,
    /// The `seq` the next audit record will carry.
    pub next_seq: u64,
    /// The last checkpoint the firmware signed of its own accord (every
    /// [`crate::records::DEFAULT_CHECKPOINT_INTERVAL`] records), so that
    /// the host collects them without asking; `None` before the first
    /// since boot.
    pub checkpoint: Option<AuditCheckpoint>,
}

/// Ask for a checkpoint of the audit chain as it is now (samd asks before
/// an export, so that the exported trail ends at a signed checkpoint). Not
/// audited: auditing it would move the head it signs. No credential: it
/// reveals only what GetStatus already does, signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetAuditCheckpoint;

macro_rules! commands {
    ($($req:ident => $resp:ty, $max:expr;)*) => {
        $(impl Command for $req {
            const CODE: SubFunction = SubFunction::$req;
            const MAX_SIZE: usize = $max;
            type Response = $resp;
        })*
    };
}

commands! {
    GetStatus => Status, 0;
    GetChallenge => ChallengeIssued, 0;
    InitFirmware => Initialized,
        List::<Blob<ADMIN_KEY_LEN>, MAX_ADMINS>::max_size(Blob::<ADMIN_KEY_LEN>::MAX_SIZE)
            + 1 + OperatorLogon::MAX_SIZE + Approvals::MAX_SIZE;
    SetIdpKeys => IdpKeysSet,
        List::<Blob<MAX_CERT_LEN>, MAX_IDP_KEYS>::max_size(Blob::<MAX_CERT_LEN>::MAX_SIZE)
            + Approvals::MAX_SIZE;
    EnrolPrivilegedUser => UserIssued, NEW_USER_MAX + Approvals::MAX_SIZE;
    CreatePrivilegedUser => UserIssued,
        Authentication::MAX_SIZE + NEW_USER_MAX + 1 + Blob::<MAX_CERT_LEN>::MAX_SIZE;
    CreateSigner => UserIssued, Authentication::MAX_SIZE + NEW_USER_MAX;
    SignerMaintenance => UserIssued,
        Authentication::MAX_SIZE + 1 + SealedUserRecord::MAX_SIZE
            + List::<Blob<MAX_CERT_LEN>, MAX_IDP_CERTS>::max_size(Blob::<MAX_CERT_LEN>::MAX_SIZE);
    GenerateKeyPair => KeyPairGenerated,
        Authentication::MAX_SIZE + 1 + SealedUserRecord::MAX_SIZE + 1
            + 1 + Blob::<MAX_SUBJECT_LEN>::MAX_SIZE;
    SignCertificationRequest => CertificationRequestSigned,
        Authentication::MAX_SIZE + WrappedKey::MAX_SIZE + Blob::<MAX_CRI_LEN>::MAX_SIZE;
    DeleteKeyPair => Audited, Authentication::MAX_SIZE + 16 + 1 + WrappedKey::MAX_SIZE;
    Signing => Signed,
        Blob::<MAX_SAD_LEN>::MAX_SIZE + 1 + Credential::MAX_SIZE
            + 1 + SealedUserRecord::MAX_SIZE + 1 + WrappedKey::MAX_SIZE;
    VerifyDataIntegrity => IntegrityReport,
        List::<SealedUserRecord, MAX_INTEGRITY_BATCH>::max_size(SealedUserRecord::MAX_SIZE)
            + List::<WrappedKey, MAX_INTEGRITY_BATCH>::max_size(WrappedKey::MAX_SIZE)
            + List::<AuditRecord, MAX_AUDIT_BATCH>::max_size(AuditRecord::MAX_SIZE)
            + 1 + 10 + 32 + 32;
    SyncAudit => AuditOutbox, List::<u64, MAX_OUTBOX_BATCH>::max_size(10) + 1 + 10;
    ReportRefusal => Audited, 4 + 3 + 3 + Blob::<MAX_NOTE_LEN>::MAX_SIZE;
    SetPolicy => Audited,
        5 + 5 + List::<Blob<MAX_CERT_LEN>, MAX_SIGNING_CAS>::max_size(Blob::<MAX_CERT_LEN>::MAX_SIZE)
            + Approvals::MAX_SIZE;
    RegisterCertificate => CertificateRegistered,
        Authentication::MAX_SIZE + 16 + 1 + WrappedKey::MAX_SIZE + Blob::<MAX_CERT_LEN>::MAX_SIZE;
    GetAuditCheckpoint => AuditCheckpoint, 0;
}

const NEW_USER_MAX: usize =
    16 + List::<Blob<MAX_CERT_LEN>, MAX_IDP_CERTS>::max_size(Blob::<MAX_CERT_LEN>::MAX_SIZE);

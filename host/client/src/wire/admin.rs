//! The management endpoints under `/admin` (seed §5.7), used by samctl.
//!
//! The dual-control commands carry the approvals of two administrators
//! over a challenge; samd relays them and the firmware verifies them.

use super::B64;
use serde::{Deserialize, Serialize};

/// One administrator's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The administrator's key: uncompressed SEC1 P-256 point.
    pub admin: B64,
    /// DER ECDSA-SHA-256 over the approval digest.
    pub signature: B64,
}

/// The approvals of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// The challenge from `POST /admin/challenge` (32 bytes).
    pub challenge: B64,
    /// One per administrator.
    pub approvals: Vec<Approval>,
}

/// The HSM operator's logon for `POST /admin/init` (seed `manageFW init
/// LogonPass=<user>,<credential>`): a response bound to the approvals'
/// challenge and the parameters, checked by the HSM, so samd relays it
/// without holding a reusable secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorLogon {
    /// The HSM user name.
    pub user: String,
    /// The logon response (simulator: HMAC-SHA-256 under the operator's
    /// secret of the logon message).
    pub response: B64,
}

/// `POST /admin/init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// The administrators' keys (uncompressed SEC1 P-256 points).
    pub admins: Vec<B64>,
    /// The HSM's MBK slot the module keys are derived from.
    pub mbk_slot: u8,
    /// The HSM operator's logon.
    pub operator: OperatorLogon,
    /// Their approvals.
    pub approvals: Approvals,
}

/// The answer to `POST /admin/init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitAnswer {
    /// The SAM's attestation public key (DER SubjectPublicKeyInfo).
    pub attestation_key: B64,
    /// The audit sequence number.
    pub audit_seq: u64,
}

/// `POST /admin/idp-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpKeysRequest {
    /// The IdP certificates (DER) that become the trust anchors.
    pub certificates: Vec<B64>,
    /// The approvals.
    pub approvals: Approvals,
}

/// The answer to `POST /admin/idp-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpKeysAnswer {
    /// Hex SHA-256 of each certificate, in the order given.
    pub fingerprints: Vec<String>,
    /// The audit sequence number.
    pub audit_seq: u64,
}

/// `POST /admin/policy`: the firmware's policy, approved by two
/// administrators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// Longest identity-token validity the firmware accepts, seconds.
    pub max_token_lifetime: u32,
    /// Certificates (DER) of the CAs that issue signer certificates.
    pub signing_cas: Vec<B64>,
    /// Audit records between two checkpoints the firmware signs of its
    /// own accord; absent means the default (128).
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval: u32,
    /// The approvals.
    pub approvals: Approvals,
}

/// What an absent `checkpoint_interval` means.
pub const fn default_checkpoint_interval() -> u32 {
    sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL
}

/// The answer to `POST /admin/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyAnswer {
    /// The audit sequence number.
    pub audit_seq: u64,
}

/// `POST /admin/enrol-privileged-user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The first Privileged User.
    pub userid: String,
    /// Its IdP certificates (DER).
    pub certificates: Vec<B64>,
    /// The approvals.
    pub approvals: Approvals,
}

/// The answer to `POST /admin/enrol-privileged-user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolAnswer {
    /// The user.
    pub userid: String,
    /// `PrivilegedUser`.
    pub role: String,
    /// The audit sequence number.
    pub audit_seq: u64,
}

/// `GET /admin/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusAnswer {
    /// What the firmware said, or why it could not be asked.
    pub firmware: FirmwareStatus,
    /// `inprocess` or `socket`.
    pub transport: String,
    /// The store.
    pub store: StoreStatus,
}

/// The firmware part of [`StatusAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FirmwareStatus {
    /// The firmware answered GetStatus.
    Reachable(ReachableFirmware),
    /// It did not.
    Unreachable(UnreachableFirmware),
}

/// A firmware that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachableFirmware {
    /// Always true.
    pub reachable: bool,
    /// `major.minor`.
    pub version: String,
    /// `Uninitialized`, `Operational` or `Failed`.
    pub state: String,
    /// The boot epoch.
    pub boot: u32,
    /// The sequence number of the next audit record.
    pub next_audit_seq: u64,
    /// Hex chain hash of the last audit record.
    pub audit_head: String,
    /// The attestation public key, once initialized.
    pub attestation_key: Option<B64>,
    /// Number of administrators.
    pub admins: u8,
    /// Number of IdP trust anchors.
    pub idp_keys: u8,
}

/// A firmware that could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnreachableFirmware {
    /// Always false.
    pub reachable: bool,
    /// The error type name.
    pub error: String,
    /// Why.
    pub detail: String,
}

/// The store part of [`StatusAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreStatus {
    /// The database file.
    pub path: String,
    /// A commit failed; the store is out of service until restart.
    pub failed: bool,
    /// User records.
    pub users: u64,
    /// Managed objects.
    pub objects: u64,
    /// Audit records.
    pub audit_records: u64,
    /// The highest stored audit sequence number.
    pub last_audit_seq: Option<u64>,
}

/// `GET /admin/audit`: one page of the stored trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditPage {
    /// In sequence order.
    pub records: Vec<AuditRow>,
    /// The stored checkpoints that fall within this page: those whose
    /// `next_seq - 1` is the `seq` of one of its records (the checkpoint
    /// follows that record), in order; on the first page also one with
    /// `next_seq` 0.
    pub checkpoints: Vec<Checkpoint>,
    /// The `after` of the next page; null on the last page.
    pub next_after: Option<i64>,
}

/// An audit checkpoint signed by the firmware's attestation key
/// (`docs/audit-export.md` says what the signature covers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Records the chain held when signed (`seq` 0 to `next_seq - 1`).
    pub next_seq: u64,
    /// Hex chain hash of the record `next_seq - 1` (zeros if none).
    pub head: String,
    /// The firmware's boot counter.
    pub boot: u32,
    /// Firmware time, Unix seconds.
    pub time: i64,
    /// DER ECDSA P-256 signature.
    pub signature: B64,
}

/// One stored audit record.
// A page holds at most 1,000 rows, nearly all decoded: boxing the large
// variant would cost an allocation per row to save space on the rare one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AuditRow {
    /// A record that decodes (not verified: `POST /admin/integrity` does
    /// that).
    Decoded(DecodedAudit),
    /// A row that does not decode, returned raw so that an export shows
    /// the damage instead of hiding it.
    Undecodable(UndecodableAudit),
}

/// The fields of a decoded audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodedAudit {
    /// Sequence number.
    pub seq: u64,
    /// Unix seconds (firmware clock).
    pub time: i64,
    /// Boot epoch.
    pub boot: u32,
    /// The seed's action name.
    pub action: String,
    /// `ok` or the error type name.
    pub outcome: String,
    /// For a failure: the brief description of its cause (seed §7.1).
    pub cause: Option<String>,
    /// For a refusal samd reported: samd's own note.
    pub note: Option<String>,
    /// The acting user.
    pub actor: Option<String>,
    /// The target user.
    pub target_user: Option<String>,
    /// The key.
    pub key_id: Option<String>,
    /// Hex chain hash of the previous record.
    pub prev: String,
    /// Hex firmware MAC.
    pub mac: String,
    /// The stored postcard record.
    pub record: B64,
}

/// A row that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndecodableAudit {
    /// The stored sequence number.
    pub seq: i64,
    /// Why it does not decode.
    pub error: String,
    /// The stored bytes.
    pub record: B64,
}

/// `POST /admin/integrity`: the data-integrity report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrityReport {
    /// Nothing bad, and the stored chain reaches the firmware's last
    /// record.
    pub ok: bool,
    /// User records.
    pub users: Checked,
    /// Wrapped keys.
    pub keys: Checked,
    /// The audit chain.
    pub audit: AuditCheck,
}

/// How many records of one kind were checked, and which were bad.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checked {
    /// Checked.
    pub checked: u64,
    /// The ids of the bad ones.
    pub bad: Vec<String>,
}

/// The audit part of [`IntegrityReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditCheck {
    /// Records checked.
    pub checked: u64,
    /// Where the chain first broke.
    #[serde(rename = "break")]
    pub chain_break: Option<ChainBreak>,
    /// The chain reaches the firmware's last record.
    pub complete: bool,
    /// The next sequence number the firmware expects.
    pub next_seq: Option<u64>,
}

/// Where an audit chain broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainBreak {
    /// The stored sequence number of the first bad record.
    pub seq: i64,
    /// The sequence number the chain expected there.
    pub expected_seq: u64,
}

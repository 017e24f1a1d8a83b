//! What the firmware hands the host to store: user records, wrapped keys and
//! audit records.
//!
//! The host keeps these and gives them back, but it is not trusted with them.
//! Every type here therefore carries a firmware-made authenticator (a MAC,
//! an AEAD tag, a hash chain). The host may read the clear fields to index
//! its database, yet the firmware never believes them without checking the
//! authenticator first.

use crate::bounded::{Blob, List};
use crate::codes::{Cause, ErrorType, HostOperation, SubFunction};
use crate::ids::{KeyAlgorithm, KeyId, Role, UserId};
use serde::{Deserialize, Serialize};

/// Largest DER X.509 certificate we accept anywhere.
pub const MAX_CERT_LEN: usize = 4096;
/// Largest DER SubjectPublicKeyInfo (RSA-4096 needs 550 bytes).
pub const MAX_SPKI_LEN: usize = 1024;
/// Largest sealed private key: PKCS#8 DER of an RSA-4096 key plus the tag.
pub const MAX_SEALED_KEY_LEN: usize = 2560;
/// IdP certificates one user may list (seed: several, for rollover).
pub const MAX_IDP_CERTS: usize = 4;

/// SHA-256 of a DER certificate.
pub type CertFingerprint = [u8; 32];

/// A user entry of the SAM DB, `{UserID, Role, Certificates}` (seed §7.1.1).
///
/// Certificates are kept as SHA-256 fingerprints: the firmware only needs to
/// recognise them, the host stores the certificates themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Layout version, [`UserRecord::VERSION`].
    pub version: u8,
    /// The user.
    pub user_id: UserId,
    /// The role, decided by the firmware at creation.
    pub role: Role,
    /// IdP certificates whose keys may sign identity tokens for this user.
    pub idp_certs: List<CertFingerprint, MAX_IDP_CERTS>,
    /// For a Privileged User Technical: the SubjectPublicKeyInfo of its
    /// registered certificate, with which its request signatures verify.
    pub technical_key: Option<Blob<MAX_SPKI_LEN>>,
    /// Incremented by each Signer_Maintenance; lets the host keep the newest.
    pub generation: u32,
}

impl UserRecord {
    /// The current layout.
    pub const VERSION: u8 = 1;
}

/// A [`UserRecord`] with the firmware's HMAC-SHA-256 over its postcard
/// encoding, under the record key derived from the MBK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedUserRecord {
    /// The record, readable by the host.
    pub record: UserRecord,
    /// HMAC-SHA-256(record key, "sam/user-record/v1" ‖ postcard(record)).
    pub mac: [u8; 32],
}

impl SealedUserRecord {
    /// Largest postcard encoding.
    pub const MAX_SIZE: usize = 1
        + 16
        + 1
        + List::<CertFingerprint, MAX_IDP_CERTS>::max_size(32)
        + 1
        + Blob::<MAX_SPKI_LEN>::MAX_SIZE
        + 5
        + 32;
}

/// A signer key as the host stores it: `{CMwrappedKey, KeyID, Metadata}`
/// (seed §7.1.4).
///
/// Layout, version 1 (postcard, field by field):
///
/// | field | bytes | meaning |
/// | --- | --- | --- |
/// | `version` | 1 | `1` |
/// | `key_id` | 16 | KeyID chosen by the firmware |
/// | `user_id` | 16 | owner |
/// | `algorithm` | 1 | [`KeyAlgorithm`] variant index |
/// | `created` | 1–10 | varint Unix seconds of generation |
/// | `public_key` | ≤ 1026 | length-prefixed DER SubjectPublicKeyInfo |
/// | `nonce` | 12 | AES-GCM nonce, random per wrap |
/// | `sealed` | ≤ 2562 | length-prefixed AES-256-GCM ciphertext of the PKCS#8 private key, tag appended |
///
/// The associated data of the AEAD is `"sam/wrapped-key/v1"` followed by
/// the postcard encoding of every field before `nonce`. A changed KeyID,
/// owner, algorithm, date or public key therefore fails to open exactly like
/// a changed ciphertext: the firmware cannot tell them apart and does not
/// try to (one error, no oracle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Layout version, [`WrappedKey::VERSION`].
    pub version: u8,
    /// The KeyID.
    pub key_id: KeyId,
    /// The owner.
    pub user_id: UserId,
    /// Key type and size.
    pub algorithm: KeyAlgorithm,
    /// Unix seconds when the firmware generated the key.
    pub created: i64,
    /// DER SubjectPublicKeyInfo of the key.
    pub public_key: Blob<MAX_SPKI_LEN>,
    /// AES-GCM nonce.
    pub nonce: [u8; 12],
    /// AES-256-GCM ciphertext and tag of the PKCS#8 DER private key.
    pub sealed: Blob<MAX_SEALED_KEY_LEN>,
}

impl WrappedKey {
    /// The current layout.
    pub const VERSION: u8 = 1;
    /// Largest postcard encoding.
    pub const MAX_SIZE: usize = 1
        + 16
        + 16
        + 1
        + 10
        + Blob::<MAX_SPKI_LEN>::MAX_SIZE
        + 12
        + Blob::<MAX_SEALED_KEY_LEN>::MAX_SIZE;
}

/// Largest note samd may attach to a refusal it reports.
pub const MAX_NOTE_LEN: usize = 64;

/// What an audit record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// A firmware sub-function (served, refused by the firmware, or
    /// refused by samd and reported).
    Command(SubFunction),
    /// A request samd serves itself, refused by samd and reported.
    Host(HostOperation),
    /// A code that names neither: an unknown sub-function code that
    /// reached the firmware, as it arrived; or `0` for a request samd
    /// could not name (a container with an unknown operation).
    Unknown(u16),
}

impl Action {
    /// The seed's action name, or `unknown(0x....)` for a code that names
    /// nothing.
    pub fn name(self) -> alloc::borrow::Cow<'static, str> {
        match self {
            Self::Command(s) => s.name().into(),
            Self::Host(h) => h.name().into(),
            Self::Unknown(code) => alloc::format!("unknown({code:#06x})").into(),
        }
    }

    /// The action a reported or received code stands for: a sub-function,
    /// a host operation, otherwise the raw code.
    pub const fn from_code(code: u16) -> Self {
        if let Some(s) = SubFunction::from_code(code) {
            Self::Command(s)
        } else if let Some(h) = HostOperation::from_code(code) {
            Self::Host(h)
        } else {
            Self::Unknown(code)
        }
    }
}

impl From<SubFunction> for Action {
    fn from(s: SubFunction) -> Self {
        Self::Command(s)
    }
}

/// The content of one audit record (seed §7.1: acting UserID, time, action,
/// outcome, target UserID, KeyID, cause).
///
/// Layout, postcard field by field (the chain hash covers all of it):
///
/// | field | bytes | meaning |
/// | --- | --- | --- |
/// | `seq` | 1–10 | varint position in the chain |
/// | `prev` | 32 | chain hash of the previous record |
/// | `time` | 1–10 | zigzag varint Unix seconds |
/// | `boot` | 1–5 | varint boot counter |
/// | `action` | 2–4 | [`Action`] variant index, then its sub-function or host operation index, or the varint raw code |
/// | `failure` | 1–2 | `00`, or `01` and the [`ErrorType`] variant index |
/// | `cause` | 1–2 | `00`, or `01` and the [`Cause`] variant index |
/// | `note` | 1–66 | `00`, or `01`, a length and at most [`MAX_NOTE_LEN`] bytes of UTF-8 |
/// | `actor`, `target_user`, `key_id` | 1 or 17 each | `00`, or `01` and 16 bytes |
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain; the firmware keeps the counter.
    pub seq: u64,
    /// Chain hash of the previous record (all zero before the first).
    pub prev: [u8; 32],
    /// Platform time, Unix seconds.
    pub time: i64,
    /// Firmware boot counter, so that restarts are visible in the chain.
    pub boot: u32,
    /// The operation.
    pub action: Action,
    /// `None` for success, otherwise the error type of the failure.
    pub failure: Option<ErrorType>,
    /// For a failure, which check refused (seed: "a brief description of
    /// the cause of the failure"); `None` for success.
    pub cause: Option<Cause>,
    /// For a refusal samd reported: its own short description. The
    /// firmware only bounds it (and checks it is UTF-8); it is samd's word.
    pub note: Option<Blob<MAX_NOTE_LEN>>,
    /// The acting user, when the firmware established one.
    pub actor: Option<UserId>,
    /// The user the action was about (new user, key owner, signer).
    pub target_user: Option<UserId>,
    /// The key the action was about.
    pub key_id: Option<KeyId>,
}

/// An [`AuditEntry`] with its chain hash authenticated by the firmware.
///
/// `chain = SHA-256("sam/audit/v1" ‖ postcard(entry))`, and the next
/// entry's `prev` is this `chain`; `mac = HMAC-SHA-256(audit key, chain)`.
/// Editing a record breaks its MAC, dropping or reordering records breaks
/// `prev`, and cutting the tail is caught because the firmware remembers the
/// last `seq` it issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// What happened.
    pub entry: AuditEntry,
    /// HMAC-SHA-256 over the chain hash.
    pub mac: [u8; 32],
}

impl AuditRecord {
    /// Largest postcard encoding.
    ///
    /// seq, prev, time, boot; action (variant and a u16 varint); failure
    /// and cause (tag and an index varint each); note; the three ids; mac.
    pub const MAX_SIZE: usize = 10
        + 32
        + 10
        + 5
        + (1 + 3)
        + (1 + 3)
        + (1 + 3)
        + (1 + Blob::<MAX_NOTE_LEN>::MAX_SIZE)
        + 17
        + 17
        + 17
        + 32;
}

/// The label of the audit chain hash: a record's chain hash is
/// `SHA-256(AUDIT_CHAIN_LABEL ‖ postcard(entry))` (see [`AuditRecord`]).
pub const AUDIT_CHAIN_LABEL: &[u8] = b"sam/audit/v1";

/// The label of an audit checkpoint's digest.
pub const CHECKPOINT_LABEL: &[u8] = b"sam/audit-checkpoint/v1";

/// Largest DER ECDSA P-256 signature of a checkpoint.
pub const MAX_CHECKPOINT_SIG_LEN: usize = 72;

/// How many audit records the firmware issues at most between two
/// checkpoints it signs of its own accord, until the administrators set
/// another interval (SetPolicy). One P-256 signature per 128 records costs well under
/// 2 % of what those records cost to make (each one is at least a store of
/// the counters; a Signing record also carries a signature of its own).
pub const DEFAULT_CHECKPOINT_INTERVAL: u32 = 128;

/// A statement by the firmware, signed with the SAM's attestation key
/// (ECDSA P-256), that its audit chain held exactly `next_seq` records
/// (`seq` 0 to `next_seq - 1`) and that the last of them has the chain
/// hash `head` (all zero when `next_seq` is 0).
///
/// Unlike the records' MACs, anyone holding the attestation public key can
/// check it, without the firmware: a trail that ends at a checkpoint is
/// complete up to that point, and one that ends before its last checkpoint
/// has lost its tail. The signature covers [`checkpoint_digest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// Records the chain held: the `seq` of the next record.
    pub next_seq: u64,
    /// Chain hash of the record `next_seq - 1`.
    pub head: [u8; 32],
    /// The firmware's boot counter when it signed.
    pub boot: u32,
    /// Platform time when it signed, Unix seconds.
    pub time: i64,
    /// DER ECDSA P-256 signature over [`checkpoint_digest`] (the digest is
    /// the message hash: it is signed as a SHA-256 prehash).
    pub signature: Blob<MAX_CHECKPOINT_SIG_LEN>,
}

impl AuditCheckpoint {
    /// Largest postcard encoding.
    pub const MAX_SIZE: usize = 10 + 32 + 5 + 10 + Blob::<MAX_CHECKPOINT_SIG_LEN>::MAX_SIZE;

    /// The digest this checkpoint's signature must cover.
    pub fn digest(&self, sha256: impl FnMut(&[&[u8]]) -> [u8; 32]) -> [u8; 32] {
        checkpoint_digest(self.next_seq, &self.head, self.boot, self.time, sha256)
    }
}

/// What a checkpoint's signature covers, in fixed-width big-endian fields
/// so that a verifier needs no postcard decoder:
/// `SHA-256("sam/audit-checkpoint/v1" ‖ next_seq (8 bytes) ‖ head (32) ‖
/// boot (4) ‖ time (8, two's complement))`.
pub fn checkpoint_digest(
    next_seq: u64,
    head: &[u8; 32],
    boot: u32,
    time: i64,
    mut sha256: impl FnMut(&[&[u8]]) -> [u8; 32],
) -> [u8; 32] {
    sha256(&[
        CHECKPOINT_LABEL,
        &next_seq.to_be_bytes(),
        head,
        &boot.to_be_bytes(),
        &time.to_be_bytes(),
    ])
}

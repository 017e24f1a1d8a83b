//! What the store holds: the key manager's managed objects with their
//! types and states (seed §7.4), and the writes an operation makes.

use sam_proto::records::{AuditCheckpoint, AuditRecord};
use std::fmt;

/// Type of a managed object. The names are the seed's `objecttype` values
/// (§7.4.1): the wrapped signer key is the `PRIVATE_KEY` (it is the only
/// form in which a private key exists outside the firmware), the PKCS#10
/// request is the `CERTIFICATE_REQUEST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// A firmware-wrapped signer key (postcard `WrappedKey`).
    PrivateKey,
    /// Its DER SubjectPublicKeyInfo, with the SAM's attestation.
    PublicKey,
    /// A DER PKCS#10 request signed by the key.
    CertificateRequest,
    /// A DER X.509 certificate for the key.
    Certificate,
}

impl ObjectType {
    /// Every type, in the order of the seed's list.
    pub const ALL: [ObjectType; 4] = [
        Self::Certificate,
        Self::CertificateRequest,
        Self::PrivateKey,
        Self::PublicKey,
    ];

    /// The seed's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PrivateKey => "PRIVATE_KEY",
            Self::PublicKey => "PUBLIC_KEY",
            Self::CertificateRequest => "CERTIFICATE_REQUEST",
            Self::Certificate => "CERTIFICATE",
        }
    }

    /// The type for a seed name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// State of a managed object (seed §7.4.1, the KMIP lifecycle).
///
/// A new key is `PRE_ACTIVE` until a certificate for it is registered
/// (`POST /objects`), then `ACTIVE`; deletion makes it `DESTROYED` (or
/// `DESTROYED_COMPROMISED` from `COMPROMISED`) and removes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjectState {
    /// Generated, not yet certified.
    PreActive,
    /// Certified and usable.
    Active,
    /// No longer to be used (e.g. a replaced certificate).
    Deactivated,
    /// Known or suspected to be compromised.
    Compromised,
    /// Deleted; the value is gone.
    Destroyed,
    /// Deleted after being compromised.
    DestroyedCompromised,
}

impl ObjectState {
    /// Every state, in lifecycle order.
    pub const ALL: [ObjectState; 6] = [
        Self::PreActive,
        Self::Active,
        Self::Deactivated,
        Self::Compromised,
        Self::Destroyed,
        Self::DestroyedCompromised,
    ];

    /// The seed's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PreActive => "PRE_ACTIVE",
            Self::Active => "ACTIVE",
            Self::Deactivated => "DEACTIVATED",
            Self::Compromised => "COMPROMISED",
            Self::Destroyed => "DESTROYED",
            Self::DestroyedCompromised => "DESTROYED_COMPROMISED",
        }
    }

    /// The state for a seed name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether a signer key in this state is handed to the firmware for
    /// signing. Withholding it makes the firmware answer (and audit)
    /// `NotFound`.
    pub const fn usable_for_signing(self) -> bool {
        matches!(self, Self::PreActive | Self::Active)
    }
}

impl fmt::Display for ObjectState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One managed object as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedObject {
    /// Object identifier: the KeyID for the private key,
    /// `<keyid>/public-key`, `<keyid>/csr`, `<keyid>/certificate/<n>`.
    pub id: String,
    /// Type.
    pub object_type: ObjectType,
    /// State.
    pub state: ObjectState,
    /// The signer key this object belongs to.
    pub key_id: String,
    /// The key's owner.
    pub user_id: String,
    /// The value (see [`ObjectType`]); `None` once destroyed.
    pub value: Option<Vec<u8>>,
    /// Attributes, a JSON object.
    pub attributes: serde_json::Value,
    /// Unix seconds (host clock).
    pub created: i64,
    /// Unix seconds (host clock).
    pub updated: i64,
}

/// A link between two managed objects (seed Table 45).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// From this object...
    pub from_id: String,
    /// ...to this one...
    pub to_id: String,
    /// ...which is of this kind (the target's object type name).
    pub kind: String,
}

/// A user record to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// UserID, canonical text.
    pub user_id: String,
    /// The role, for queries only (the firmware reads it from the record).
    pub role: String,
    /// The record's generation: a maintained record replaces an older one,
    /// never a newer one.
    pub generation: u32,
    /// Postcard `SealedUserRecord`.
    pub record: Vec<u8>,
}

/// One change an operation makes.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// A new user; refused if the UserID exists.
    InsertUser(UserRow),
    /// A maintained user; refused unless it exists with an older generation.
    UpdateUser(UserRow),
    /// A new managed object; refused if the id exists.
    InsertObject(ManagedObject),
    /// A new link.
    InsertLink(Link),
    /// Registers a certificate for a key: the key (and its public key)
    /// become `ACTIVE`, earlier active certificates `DEACTIVATED`. Refused
    /// unless the key is `PRE_ACTIVE` or `ACTIVE`.
    ActivateCertificate {
        /// The signer key.
        key_id: String,
        /// The certificate object.
        certificate: ManagedObject,
    },
    /// After the firmware authorized deletion: every object of the key
    /// becomes `DESTROYED` (`DESTROYED_COMPROMISED` if compromised) and
    /// loses its value. Refused if the key is already destroyed.
    DestroyKey {
        /// The signer key.
        key_id: String,
    },
    /// A signed audit checkpoint, kept for offline verification (not
    /// checked here: the verifier does that). One per `next_seq`; a later
    /// one for the same `next_seq` is redundant and ignored.
    InsertCheckpoint(AuditCheckpoint),
    /// Records that a signing used the identity token with this digest
    /// (SHA-256 of the token's signed bytes, the firmware's replay-set
    /// key). Refused with [`StoreError::Replayed`](super::StoreError) if
    /// a stored signing used it already: the single-use check across the
    /// HSMs that share this store, which no module's replay set can make.
    UseToken {
        /// SHA-256 of the DER of the SAD's CompactIdentityToken.
        digest: [u8; 32],
    },
    /// Forgets the used tokens stored before `used_before` (Unix seconds
    /// of the host clock). Only tokens that every module refuses anyway as
    /// expired may go, so the caller keeps them longer than the longest
    /// token lifetime the firmware's policy allows (`[store]
    /// used_tokens_keep_secs`); without this the table grows by a row per
    /// signing forever.
    ForgetUsedTokens {
        /// Rows whose `used` is older than this are deleted.
        used_before: i64,
    },
}

/// The durable effect of one operation: the firmware's audit records and
/// the host's changes, committed together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    /// Audit records, stored even if `ops` are refused.
    pub audit: Vec<AuditRecord>,
    /// Changes, applied all or none.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// A batch that only stores audit records.
    pub fn audit_only(audit: impl IntoIterator<Item = AuditRecord>) -> Self {
        Self {
            audit: audit.into_iter().collect(),
            ops: Vec::new(),
        }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.ops.is_empty()
    }
}

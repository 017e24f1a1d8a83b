//! The registry: which users and keys are live, kept by the firmware in
//! the platform's secure storage ([`Slot::Registry`]).
//!
//! The host stores user records and wrapped keys, and each of them carries
//! a firmware authenticator, but an authenticator only says "the firmware
//! once made this". It cannot say "and has not replaced or deleted it
//! since". The registry says that:
//!
//! * **Users**: UserID → the MAC of its current sealed record. A record
//!   whose MAC is valid but is not the registered one (an older record from
//!   before a Signer_Maintenance) is superseded and refused, and a second
//!   user with a registered UserID cannot be created.
//! * **Keys**: KeyID → lifecycle state. A key is inserted PRE_ACTIVE when
//!   generated, becomes ACTIVE when the firmware registered a certificate
//!   for it, and is removed when deleted: a retained copy of a deleted
//!   wrapped key then names no registered key and gets NotFound.
//!
//! # Why a list and not a Merkle root or counters
//!
//! A per-user counter or an authenticated tree would keep the platform
//! storage at a few bytes, but every check would then need a proof from the
//! host, and every request type would grow a field for it. A plain list is
//! the smallest code (the TCB grows by this module, not by a proof
//! verifier) and keeps the signing path free of storage writes and of
//! host-supplied proofs. Its cost is storage: see the bound below.
//!
//! # Bound and cost
//!
//! One entry per live user plus one per live key, at most
//! [`crate::platform::Platform::registry_capacity`] (65536 by default);
//! deleting a key frees its entry, so storage follows the live population,
//! not the history. Users are never deleted (the seed has no such
//! operation). A full registry refuses new users and keys with
//! NotOperational. An entry is at most [`ENTRY_MAX_SIZE`] bytes, so a full
//! default registry is about 4 MiB of slot; each user or key management
//! operation rewrites the whole slot (one atomic platform store of the
//! postcard image), which is O(entries) work and the main cost of those
//! operations at scale. Signing only reads the copy in RAM.
//!
//! A key generated while the host lost the answer (crash before its commit)
//! leaves an orphan PRE_ACTIVE entry: the firmware cannot tell it from a
//! key the host simply has not certified yet. It is not reclaimed
//! automatically; it costs one entry of the capacity, and an operator who
//! knows the KeyID (it is in the audit record of the generation) can
//! reclaim it with DeleteKeyPair once the host has the wrapped key, which it
//! never will. The residual risk is capacity, not security.
//!
//! # Rollback of the whole storage
//!
//! The registry lives in the module's secure storage, like the audit
//! counters. Restoring an older image of the *whole* HSM storage (registry
//! and counters together) is outside what the firmware can detect; it is
//! the HSM's tamper protection that rules it out (SECURITY.md limitations).

use crate::core::mac_eq;
use crate::keys::ModuleKeys;
use crate::platform::{Platform, PlatformError, Slot};
use crate::sealing::Tampered;
use alloc::collections::BTreeMap;
use sam_proto::ErrorType;
use sam_proto::frame::decode_exact;
use sam_proto::ids::{KeyId, UserId};
use sam_proto::records::CertFingerprint;
use sam_proto::records::{SealedUserRecord, UserRecord};
use serde::{Deserialize, Serialize};

/// Largest postcard encoding of one entry: a 16-byte id and a key state of
/// a tag, a fingerprint and two varint times (a user's 32-byte MAC is
/// smaller).
pub const ENTRY_MAX_SIZE: usize = 16 + 1 + 32 + 10 + 10;

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Generated; no certificate registered yet. Cannot sign.
    PreActive,
    /// A certificate issued by a signing CA of the policy is registered.
    /// Signs while the platform time is inside `not_before..=not_after`.
    Active {
        /// SHA-256 of the registered certificate.
        fingerprint: CertFingerprint,
        /// Start of the certificate's validity, Unix seconds.
        not_before: i64,
        /// End of the certificate's validity, Unix seconds.
        not_after: i64,
    },
}

/// One change to the registry, applied and stored as a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Register `mac` as the user's current record.
    PutUser(UserId, [u8; 32]),
    /// Set a key's state (insert or replace).
    PutKey(KeyId, KeyState),
    /// Forget a deleted key.
    RemoveKey(KeyId),
}

/// Why a change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// The change would add an entry beyond the capacity.
    Full,
    /// The platform could not store the new registry (it is unchanged).
    Storage,
}

/// The live users and keys.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    users: BTreeMap<UserId, [u8; 32]>,
    keys: BTreeMap<KeyId, KeyState>,
    #[serde(skip)]
    capacity: usize,
}

impl Registry {
    /// An empty registry of `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Reads the registry slot (empty if never written). The stored image
    /// is kept even if it holds more entries than `capacity` (a platform
    /// that lowered its capacity): nothing is forgotten, only new entries
    /// are refused.
    pub fn load<P: Platform>(p: &P, capacity: usize) -> Result<Self, PlatformError> {
        let mut registry = match p.load(Slot::Registry)? {
            None => Self::default(),
            // The bytes come from the module's own secure storage, so the
            // decode bound is their length; the canonical check still
            // refuses a damaged image.
            Some(bytes) => decode_exact(&bytes, bytes.len()).map_err(|_| PlatformError)?,
        };
        registry.capacity = capacity;
        Ok(registry)
    }

    /// The MAC of the user's current record.
    pub fn user(&self, id: &UserId) -> Option<&[u8; 32]> {
        self.users.get(id)
    }

    /// The state of a live key.
    pub fn key(&self, id: &KeyId) -> Option<&KeyState> {
        self.keys.get(id)
    }

    /// Live users plus live keys.
    pub fn len(&self) -> usize {
        self.users.len().saturating_add(self.keys.len())
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies `change` and stores the result atomically; on any failure
    /// the registry in RAM is left as it was, like the slot.
    pub fn commit<P: Platform>(&mut self, p: &P, change: Change) -> Result<(), RegistryError> {
        let grows = match change {
            Change::PutUser(id, _) => !self.users.contains_key(&id),
            Change::PutKey(id, _) => !self.keys.contains_key(&id),
            Change::RemoveKey(_) => false,
        };
        if grows && self.len() >= self.capacity {
            return Err(RegistryError::Full);
        }
        let undo = self.apply(change);
        let stored = postcard::to_allocvec(&*self)
            .map_err(|_| PlatformError)
            .and_then(|bytes| p.store(Slot::Registry, &bytes));
        if stored.is_err() {
            self.undo(undo);
            return Err(RegistryError::Storage);
        }
        Ok(())
    }

    /// Applies a change in RAM; returns what restores the previous state.
    fn apply(&mut self, change: Change) -> Undo {
        match change {
            Change::PutUser(id, mac) => Undo::User(id, self.users.insert(id, mac)),
            Change::PutKey(id, state) => Undo::Key(id, self.keys.insert(id, state)),
            Change::RemoveKey(id) => Undo::Key(id, self.keys.remove(&id)),
        }
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::User(id, Some(mac)) => {
                self.users.insert(id, mac);
            }
            Undo::User(id, None) => {
                self.users.remove(&id);
            }
            Undo::Key(id, Some(state)) => {
                self.keys.insert(id, state);
            }
            Undo::Key(id, None) => {
                self.keys.remove(&id);
            }
        }
    }
}

/// The previous value of the entry a change touched.
enum Undo {
    User(UserId, Option<[u8; 32]>),
    Key(KeyId, Option<KeyState>),
}

impl<P: Platform> crate::core::Firmware<P> {
    /// Whether `sealed` is its user's registered current record (its MAC is
    /// not checked here: see [`Self::open_current`]).
    pub(crate) fn is_current(&self, sealed: &SealedUserRecord) -> bool {
        self.registry
            .read()
            .user(&sealed.record.user_id)
            .is_some_and(|mac| mac_eq(mac, &sealed.mac))
    }

    /// Opens a user record and requires it to be the current one: a
    /// superseded record (MAC-valid, but replaced since) and a record of an
    /// unregistered user fail exactly like a tampered one, so each caller
    /// keeps its seed error type for a bad record.
    pub(crate) fn open_current<'a>(
        &self,
        keys: &ModuleKeys,
        sealed: &'a SealedUserRecord,
    ) -> Result<&'a UserRecord, Tampered> {
        let record = self.open_record(keys, sealed)?;
        if self.is_current(sealed) {
            Ok(record)
        } else {
            Err(Tampered)
        }
    }

    /// Registers a user just created. A UserID already registered is
    /// InvalidInput ("user exists"), unless its current record is exactly
    /// `sealed`: then this is the host retrying a creation whose answer it
    /// lost (records are deterministic, so the same request gives the same
    /// MAC), and the record is issued again without a change. That leaks
    /// nothing: the caller was authorized for this creation and chose every
    /// field of the record, so it learns only what its first answer said.
    pub(crate) fn register_new_user(&self, sealed: &SealedUserRecord) -> Result<(), ErrorType> {
        let id = sealed.record.user_id;
        let mut registry = self.registry.write();
        match registry.user(&id) {
            Some(mac) if mac_eq(mac, &sealed.mac) => Ok(()),
            Some(_) => Err(ErrorType::InvalidInput),
            None => registry
                .commit(&self.platform, Change::PutUser(id, sealed.mac))
                .map_err(registry_error),
        }
    }

    /// The state of a live key; NotFound for a KeyID the registry does not
    /// hold (never generated here, or deleted).
    pub(crate) fn key_state(&self, id: &KeyId) -> Result<KeyState, ErrorType> {
        self.registry
            .read()
            .key(id)
            .copied()
            .ok_or(ErrorType::NotFound)
    }

    /// Registers a new key as PRE_ACTIVE. A KeyID already live (a drawn
    /// KeyID repeating, 2^-64 after 2^32 keys) is refused rather than
    /// overwritten: UnexpectedError.
    pub(crate) fn register_new_key(&self, id: KeyId) -> Result<(), ErrorType> {
        let mut registry = self.registry.write();
        if registry.key(&id).is_some() {
            return Err(ErrorType::UnexpectedError);
        }
        registry
            .commit(&self.platform, Change::PutKey(id, KeyState::PreActive))
            .map_err(registry_error)
    }

    /// Replaces a live key's state (`Some`) or forgets the key (`None`),
    /// checking under the same lock that it is still live (NotFound
    /// otherwise): a registration racing a deletion cannot bring the key
    /// back.
    pub(crate) fn update_key(&self, id: KeyId, state: Option<KeyState>) -> Result<(), ErrorType> {
        let mut registry = self.registry.write();
        if registry.key(&id).is_none() {
            return Err(ErrorType::NotFound);
        }
        let change = match state {
            Some(s) => Change::PutKey(id, s),
            None => Change::RemoveKey(id),
        };
        registry
            .commit(&self.platform, change)
            .map_err(registry_error)
    }
}

/// A full registry or a failed store: the module cannot take the change.
pub(crate) fn registry_error(_: RegistryError) -> ErrorType {
    ErrorType::NotOperational
}

//! What the firmware needs from the device it runs on.
//!
//! The firmware has no clock, no RNG, no storage and no crypto engine of its
//! own: a CP5 module gets them from the HSM's operating system and crypto
//! modules, the simulator from the host OS and aws-lc-rs, tests from the
//! deterministic [`crate::testing`] platform. The firmware decides; the
//! platform computes and remembers.

use crate::crypto::Crypto;
use alloc::vec::Vec;

/// The replay capacity of a platform that does not choose one
/// ([`Platform::replay_capacity`]). It is defined with the trait, not with
/// the replay set, so that the platform interface does not depend on the
/// state it bounds: `state` uses `platform`, never the other way round.
pub const DEFAULT_REPLAY_CAPACITY: usize = 1 << 16;

/// The registry capacity of a platform that does not choose one
/// ([`Platform::registry_capacity`]).
pub const DEFAULT_REGISTRY_CAPACITY: usize = 1 << 16;

/// A platform service failed. The firmware answers `NotOperational`: a
/// device that cannot tell the time or draw randomness must not sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformError;

/// Secure persistent storage slots. Each slot holds one small blob that the
/// platform writes atomically (all of the new value or all of the old).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Administrators, IdP trust anchors, initialization flag. Written only
    /// by the dual-control management commands.
    Config,
    /// Boot counter and the audit chain head. Written by every audited
    /// operation.
    Counters,
    /// The registry of live users and keys: each user's current record MAC,
    /// each key's lifecycle state (see `crate::registry`). Written by the
    /// user and key management operations, never while signing.
    Registry,
}

/// The services of the device.
///
/// Implementations must be usable from several threads at once: the
/// firmware serves requests in parallel and keeps its own shared state
/// behind short locks.
pub trait Platform: Send + Sync {
    /// The crypto engine.
    type Crypto: Crypto;

    /// The crypto engine.
    fn crypto(&self) -> &Self::Crypto;

    /// Fills `buf` from a cryptographically secure RNG.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PlatformError>;

    /// The time, in Unix seconds. Validity windows of identity tokens are
    /// checked against it, so it must come from a clock the host cannot set.
    fn now(&self) -> Result<i64, PlatformError>;

    /// The 32-byte Master Backup Key in the HSM's MBK slot `slot` (chosen at
    /// InitFirmware and kept in the configuration). All module keys
    /// (wrapping, MAC, audit, attestation) are derived from it, so two
    /// devices loaded with the same MBK serve the same users and keys.
    /// `Ok(false)`: the HSM has no MBK in that slot.
    fn master_key(&self, slot: u8, out: &mut [u8; 32]) -> Result<bool, PlatformError>;

    /// Authenticates an HSM operator (the CP5's own user logon for custom
    /// modules; seed `manageFW init LogonPass=<user>,<credential>`):
    /// whether `response` proves that `user` holds its HSM credential for
    /// `message`, a fresh single-use digest the firmware computed
    /// (`sam_proto::approval::OPERATOR_LOGON`). The credential lives in the
    /// HSM's user store, never in the firmware or the host; an unknown
    /// user is `Ok(false)`. Implementations compare in constant time.
    fn verify_operator(
        &self,
        user: &[u8],
        message: &[u8; 32],
        response: &[u8],
    ) -> Result<bool, PlatformError>;

    /// Reads a slot; `Ok(None)` if it was never written.
    fn load(&self, slot: Slot) -> Result<Option<Vec<u8>>, PlatformError>;

    /// Replaces a slot's content atomically and durably before returning.
    fn store(&self, slot: Slot, data: &[u8]) -> Result<(), PlatformError>;

    /// Blocks the calling thread until [`Platform::notify_store`] has
    /// announced more than `finished` finished stores, or returns early.
    ///
    /// The audit counters' group commit calls it while another thread
    /// stores the counters (see `persist_through` in `audit.rs`):
    /// `finished` is the count of finished stores the caller saw. A
    /// notification that comes between the firmware's look and this call
    /// must not be lost, so an implementation keeps the largest count
    /// announced and returns at once if it is above `finished`; the
    /// firmware checks its own state again after every return, so an
    /// early (spurious) return costs a loop, never correctness.
    ///
    /// The default returns at once (a spin), which is right for a
    /// platform without threads, where no caller ever has to wait. A
    /// platform with threads blocks here (a condition variable, a futex,
    /// an event of the HSM's OS), so that waiters neither spin against
    /// the storing thread nor poll it with sleeps.
    fn wait_for_store(&self, finished: u64) {
        let _ = finished;
        core::hint::spin_loop();
    }

    /// Announces that `finished` counters stores have finished (durably or
    /// not) and wakes every thread in [`Platform::wait_for_store`] whose
    /// `finished` is below it. Counts only grow; an implementation keeps
    /// the largest it was given. The default does nothing (see
    /// `wait_for_store`).
    fn notify_store(&self, finished: u64) {
        let _ = finished;
    }

    /// How many used identity tokens the firmware remembers at once (its
    /// replay set of single-use SADs). Signing is refused with
    /// NotOperational while the set is full of unexpired tokens, so this
    /// bounds the sustained rate to capacity / token lifetime; an entry
    /// costs about 64 bytes of RAM.
    fn replay_capacity(&self) -> usize {
        DEFAULT_REPLAY_CAPACITY
    }

    /// How many live users plus live keys the firmware's registry holds
    /// (`crate::registry`). When it is full, new users and keys are refused
    /// with NotOperational; deleting a key frees its entry. An entry costs
    /// about 64 bytes of RAM and of the [`Slot::Registry`] slot, which is
    /// rewritten whole by every user or key management operation.
    fn registry_capacity(&self) -> usize {
        DEFAULT_REGISTRY_CAPACITY
    }
}

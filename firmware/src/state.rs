//! What the firmware remembers: persistent configuration and counters in
//! the platform's secure storage, and short-lived sets in RAM.

use crate::platform::{Platform, PlatformError, Slot};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use sam_proto::bounded::{Blob, List, varint_len};
use sam_proto::command::{ADMIN_KEY_LEN, MAX_ADMINS, MAX_IDP_KEYS, MAX_SIGNING_CAS, PolicyParams};
use sam_proto::frame::decode_exact;
use sam_proto::records::{AuditEntry, AuditRecord, MAX_CERT_LEN};

/// Largest postcard encoding of an [`AuditEntry`]: its record without the MAC.
const ENTRY_MAX_SIZE: usize = AuditRecord::MAX_SIZE - 32;
use serde::{Deserialize, Serialize};

/// The configuration written by the dual-control commands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Enrolled administrators (uncompressed SEC1 P-256 points).
    pub admins: List<Blob<ADMIN_KEY_LEN>, MAX_ADMINS>,
    /// IdP certificates whose keys may sign identity tokens (DER).
    pub idp_certs: List<Blob<MAX_CERT_LEN>, MAX_IDP_KEYS>,
    /// The HSM MBK slot chosen at InitFirmware: every boot derives the
    /// module keys from this slot, not from whatever slot is first.
    pub mbk_slot: u8,
    /// Token lifetime and signing CAs (SetPolicy); the default until the
    /// administrators set one.
    pub policy: PolicyParams,
}

impl Config {
    /// Largest encoding.
    const MAX_SIZE: usize = 1
        + MAX_ADMINS * (ADMIN_KEY_LEN + 1)
        + 1
        + MAX_IDP_KEYS * Blob::<MAX_CERT_LEN>::MAX_SIZE
        + 1
        + Self::POLICY_MAX_SIZE;

    /// Largest encoding of the policy field.
    const POLICY_MAX_SIZE: usize = 5 + 5 + 1 + MAX_SIGNING_CAS * Blob::<MAX_CERT_LEN>::MAX_SIZE;

    /// Reads the config slot; `None` means not initialized.
    pub fn load<P: Platform>(p: &P) -> Result<Option<Self>, PlatformError> {
        match p.load(Slot::Config)? {
            None => Ok(None),
            Some(bytes) => decode_exact(&bytes, Self::MAX_SIZE)
                .map(Some)
                .map_err(|_| PlatformError),
        }
    }

    /// Writes the config slot.
    pub fn store<P: Platform>(&self, p: &P) -> Result<(), PlatformError> {
        let bytes = postcard::to_allocvec(self).map_err(|_| PlatformError)?;
        p.store(Slot::Config, &bytes)
    }
}

/// Counters that must survive a restart, and the audit outbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Incremented at every boot.
    pub boot: u32,
    /// The `seq` of the next audit record.
    pub next_seq: u64,
    /// Chain hash of the last audit record.
    pub head: [u8; 32],
    /// Records issued and not yet acknowledged as stored by the host,
    /// oldest first (see [`sam_proto::command::SyncAudit`]). Kept in the
    /// same slot as the counter so that one store makes both durable: a
    /// record is never covered by the counter without also being kept.
    pub outbox: Vec<AuditEntry>,
}

impl Counters {
    /// Most records the outbox keeps. A host that does not acknowledge
    /// loses the oldest ones from the outbox (they stay in the chain, and
    /// the integrity check reports them missing if the host never stored
    /// them); the firmware does not stop serving because of a lazy host.
    pub const OUTBOX_CAPACITY: usize = 1024;

    const MAX_SIZE: usize =
        5 + 10 + 32 + varint_len(Self::OUTBOX_CAPACITY) + Self::OUTBOX_CAPACITY * ENTRY_MAX_SIZE;

    /// Reads the counters slot (zero if never written).
    pub fn load<P: Platform>(p: &P) -> Result<Self, PlatformError> {
        match p.load(Slot::Counters)? {
            None => Ok(Self::default()),
            Some(bytes) => {
                let c: Self = decode_exact(&bytes, Self::MAX_SIZE).map_err(|_| PlatformError)?;
                if c.outbox.len() > Self::OUTBOX_CAPACITY {
                    return Err(PlatformError);
                }
                Ok(c)
            }
        }
    }

    /// Keeps `entry` for the host, dropping the oldest kept one when full.
    pub fn keep(&mut self, entry: AuditEntry) {
        if self.outbox.len() >= Self::OUTBOX_CAPACITY {
            self.outbox.remove(0);
        }
        self.outbox.push(entry);
    }

    /// Writes the counters slot.
    pub fn store<P: Platform>(&self, p: &P) -> Result<(), PlatformError> {
        let bytes = postcard::to_allocvec(self).map_err(|_| PlatformError)?;
        p.store(Slot::Counters, &bytes)
    }
}

/// Outstanding single-use challenges for approvals and technical
/// signatures.
#[derive(Debug, Default)]
pub struct Challenges {
    open: BTreeMap<[u8; 32], i64>,
}

impl Challenges {
    /// How long a challenge stays valid, in seconds.
    pub const LIFETIME: i64 = 300;
    /// Most challenges outstanding; the oldest is dropped beyond that.
    pub const CAPACITY: usize = 64;

    /// Remembers a new challenge that expires at `expires`.
    pub fn issue(&mut self, challenge: [u8; 32], expires: i64) {
        if self.open.len() >= Self::CAPACITY {
            let oldest = self.open.iter().min_by_key(|(_, e)| **e).map(|(c, _)| *c);
            if let Some(c) = oldest {
                self.open.remove(&c);
            }
        }
        self.open.insert(challenge, expires);
    }

    /// Consumes a challenge: true if it was outstanding and not expired.
    /// Either way it cannot be used again.
    pub fn consume(&mut self, challenge: &[u8; 32], now: i64) -> bool {
        matches!(self.open.remove(challenge), Some(expires) if now <= expires)
    }
}

/// Why a SAD was not admitted to the replay set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// Seen before.
    Replayed,
    /// The set is full of unexpired entries.
    Full,
}

/// SADs already used, each kept until its token expires.
///
/// Single use must hold without writing to storage on the signing path, so
/// the set lives in RAM and the firmware refuses, after a restart, any
/// token issued before that restart (see `ops::signing`). Together the two
/// rules mean a SAD can never be used twice: before a restart the set
/// remembers it, after one its token is too old.
///
/// The capacity bounds the sustained signing rate to capacity divided by
/// the tokens' lifetime, so the platform chooses it for its memory
/// ([`crate::platform::Platform::replay_capacity`]).
#[derive(Debug)]
pub struct ReplaySet {
    seen: BTreeMap<[u8; 32], i64>,
    capacity: usize,
    /// No entry expires before this: when the set is full and `now` has
    /// not passed it, nothing can be evicted and the scan is skipped, so a
    /// full set refuses in O(log n) instead of O(n) per request.
    earliest_expiry: i64,
    /// Expired entries are also swept, before the set is full, at most
    /// once per [`Self::SWEEP_INTERVAL`]: memory then follows the live
    /// tokens (rate × lifetime) instead of climbing to the capacity and
    /// staying there, at the price of one O(n) scan per interval.
    next_sweep: i64,
}

impl ReplaySet {
    /// Capacity when the platform does not choose one. There is no
    /// `Default`: a set made without the platform's capacity would ignore
    /// the platform's memory budget.
    pub const CAPACITY: usize = crate::platform::DEFAULT_REPLAY_CAPACITY;

    /// Seconds between sweeps of expired entries while the set is not
    /// full.
    pub const SWEEP_INTERVAL: i64 = 16;

    /// An empty set that remembers at most `capacity` SADs. When full of
    /// unexpired entries, new SADs are refused rather than old ones
    /// forgotten.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            seen: BTreeMap::new(),
            capacity,
            earliest_expiry: i64::MAX,
            next_sweep: i64::MIN,
        }
    }

    /// Admits a SAD digest valid until `not_after`, or refuses it.
    pub fn admit(
        &mut self,
        digest: [u8; 32],
        not_after: i64,
        now: i64,
    ) -> Result<(), ReplayRefusal> {
        if self.seen.contains_key(&digest) {
            return Err(ReplayRefusal::Replayed);
        }
        let full = self.seen.len() >= self.capacity;
        if (full || now >= self.next_sweep) && now > self.earliest_expiry {
            // Expired tokens are refused by the validity check before
            // they reach this set, so forgetting them is safe.
            self.seen.retain(|_, expiry| *expiry >= now);
            self.earliest_expiry = self.seen.values().copied().min().unwrap_or(i64::MAX);
            self.next_sweep = now.saturating_add(Self::SWEEP_INTERVAL);
        }
        if self.seen.len() >= self.capacity {
            return Err(ReplayRefusal::Full);
        }
        self.seen.insert(digest, not_after);
        self.earliest_expiry = self.earliest_expiry.min(not_after);
        Ok(())
    }

    /// Number of SADs remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo holding an uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The SPKI of an administrator's SEC1 P-256 point.
pub fn admin_spki(sec1: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(P256_SPKI_PREFIX.len() + sec1.len());
    v.extend_from_slice(&P256_SPKI_PREFIX);
    v.extend_from_slice(sec1);
    v
}

/// The SEC1 point of a P-256 SPKI (inverse of [`admin_spki`]).
pub fn p256_point(spki: &[u8]) -> Option<&[u8]> {
    spki.strip_prefix(&P256_SPKI_PREFIX[..])
        .filter(|p| p.len() == ADMIN_KEY_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_set_refuses_a_second_use_and_refuses_when_full() {
        let mut s = ReplaySet::with_capacity(ReplaySet::CAPACITY);
        assert_eq!(s.admit([1; 32], 100, 0), Ok(()));
        assert_eq!(s.admit([1; 32], 100, 0), Err(ReplayRefusal::Replayed));
        for i in 1..ReplaySet::CAPACITY {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            d[31] = 9;
            assert_eq!(s.admit(d, 100, 0), Ok(()));
        }
        assert_eq!(s.admit([2; 32], 100, 0), Err(ReplayRefusal::Full));
        // Once the entries have expired, room is made.
        assert_eq!(s.admit([2; 32], 300, 200), Ok(()));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_full_set_evicts_only_expired_entries() {
        let mut s = ReplaySet::with_capacity(3);
        assert_eq!(s.admit([1; 32], 10, 0), Ok(()));
        assert_eq!(s.admit([2; 32], 20, 0), Ok(()));
        assert_eq!(s.admit([3; 32], 30, 0), Ok(()));
        // Full, nothing expired yet (an entry is live through its expiry).
        assert_eq!(s.admit([4; 32], 40, 10), Err(ReplayRefusal::Full));
        // At 11 the first entry has expired: exactly it goes.
        assert_eq!(s.admit([4; 32], 40, 11), Ok(()));
        assert_eq!(s.len(), 3);
        assert_eq!(s.admit([2; 32], 20, 11), Err(ReplayRefusal::Replayed));
        assert_eq!(s.admit([3; 32], 30, 11), Err(ReplayRefusal::Replayed));
        assert_eq!(s.admit([4; 32], 40, 11), Err(ReplayRefusal::Replayed));
        // Full again; the earliest expiry is now 20.
        assert_eq!(s.admit([5; 32], 50, 20), Err(ReplayRefusal::Full));
        assert_eq!(s.admit([5; 32], 50, 21), Ok(()));
        assert_eq!(s.admit([3; 32], 30, 21), Err(ReplayRefusal::Replayed));
    }

    #[test]
    fn expired_entries_are_swept_before_the_set_fills() {
        let mut s = ReplaySet::with_capacity(100);
        assert_eq!(s.admit([1; 32], 10, 0), Ok(()));
        assert_eq!(s.admit([2; 32], 100, 0), Ok(()));
        // At 11 the first entry has expired and no sweep has run: it goes.
        assert_eq!(s.admit([3; 32], 100, 11), Ok(()));
        assert_eq!(s.len(), 2);
        assert_eq!(s.admit([2; 32], 100, 11), Err(ReplayRefusal::Replayed));
        assert_eq!(s.admit([4; 32], 12, 12), Ok(()));
        // The next sweep is due at 11 + SWEEP_INTERVAL, not before.
        let due = 11 + ReplaySet::SWEEP_INTERVAL;
        assert_eq!(s.admit([5; 32], 100, due - 1), Ok(()));
        assert_eq!(s.len(), 4);
        assert_eq!(s.admit([6; 32], 100, due), Ok(()));
        assert_eq!(s.len(), 4, "entry 4 (expired at 12) is swept at {due}");
        assert_eq!(s.admit([5; 32], 100, due), Err(ReplayRefusal::Replayed));
    }

    #[test]
    fn the_outbox_drops_its_oldest_entry_when_full() {
        let entry = |seq| AuditEntry {
            seq,
            prev: [0; 32],
            time: 0,
            boot: 1,
            action: sam_proto::command::SubFunction::Signing.into(),
            failure: Some(sam_proto::ErrorType::InvalidInput),
            cause: Some(sam_proto::codes::Cause::HostOther),
            note: Some(
                sam_proto::bounded::Blob::from_vec(
                    alloc::vec![b'x'; sam_proto::records::MAX_NOTE_LEN],
                )
                .unwrap(),
            ),
            actor: None,
            target_user: None,
            key_id: None,
        };
        let mut c = Counters::default();
        let n = Counters::OUTBOX_CAPACITY as u64;
        for seq in 0..=n {
            c.keep(entry(seq));
        }
        assert_eq!(c.outbox.len(), Counters::OUTBOX_CAPACITY);
        assert_eq!(c.outbox.first().map(|e| e.seq), Some(1));
        assert_eq!(c.outbox.last().map(|e| e.seq), Some(n));
        // A full outbox of the largest entries still fits the slot bound.
        let bytes = postcard::to_allocvec(&c).unwrap();
        assert!(bytes.len() <= Counters::MAX_SIZE);
    }

    #[test]
    fn challenges_are_single_use_and_expire() {
        let mut c = Challenges::default();
        c.issue([1; 32], 10);
        assert!(c.consume(&[1; 32], 5));
        assert!(!c.consume(&[1; 32], 5));
        c.issue([2; 32], 10);
        assert!(!c.consume(&[2; 32], 11));
        assert!(!c.consume(&[3; 32], 0));
    }
}

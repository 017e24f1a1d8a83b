//! A deterministic platform for tests (feature `test-platform`).
//!
//! Its RNG is a hash counter from a fixed seed, its clock is set by the
//! test, its MBKs are constants (slots [`TEST_MBK_SLOTS`]), its one HSM
//! operator ([`TEST_OPERATOR`]) has a constant secret and its storage is
//! RAM: everything a test needs to be repeatable, and everything a
//! production platform must not be. No production build enables this feature (the HSM target build in
//! `cargo xtask ci` does not).
//!
//! Storage is shared between clones, so a test can "restart" the firmware
//! by booting a new instance on [`TestPlatform::restarted`] and see what
//! survived. Faults can be switched on: a failing RNG, clock or storage.

use crate::crypto::Crypto;
use crate::crypto::portable::Portable;
use crate::platform::{Platform, PlatformError, Slot};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use sam_proto::ids::HashAlgorithm;
use spin::Mutex;

/// Deterministic, fault-injectable platform for tests.
#[derive(Debug)]
pub struct TestPlatform {
    seed: [u8; 32],
    // Mutexes, not 64-bit atomics: 32-bit PowerPC (the CP5's kind of CPU)
    // has no 64-bit atomics.
    counter: Mutex<u64>,
    clock: Arc<Mutex<i64>>,
    slots: Arc<Mutex<BTreeMap<u8, Vec<u8>>>>,
    /// Make `fill_random` fail.
    pub fail_random: AtomicBool,
    /// Make `now` fail.
    pub fail_clock: AtomicBool,
    /// Make `store` fail.
    pub fail_store: AtomicBool,
    /// The registry capacity this platform reports (shared between
    /// restarts, like the storage).
    registry_capacity: Arc<Mutex<usize>>,
}

/// The clock at which a fresh test platform starts: 2026-01-01T00:00:00Z.
pub const START_TIME: i64 = 1_767_225_600;

/// The MBK slots the test platform holds (0 and 1, with different MBKs).
pub const TEST_MBK_SLOTS: [u8; 2] = [0, 1];

/// The one HSM operator the test platform knows.
pub const TEST_OPERATOR: &[u8] = b"operator";

/// That operator's secret: its logon response is HMAC-SHA-256 under this
/// key of the logon message, as on the simulator.
pub const TEST_OPERATOR_SECRET: [u8; 32] = [0x0b; 32];

/// The MBK of a test slot.
fn test_mbk(slot: u8) -> Option<[u8; 32]> {
    TEST_MBK_SLOTS
        .contains(&slot)
        .then(|| [0x4d_u8.wrapping_add(slot); 32])
}

impl TestPlatform {
    /// A platform whose RNG stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        Self {
            seed: s,
            counter: Mutex::new(0),
            clock: Arc::new(Mutex::new(START_TIME)),
            slots: Arc::new(Mutex::new(BTreeMap::new())),
            fail_random: AtomicBool::new(false),
            fail_clock: AtomicBool::new(false),
            fail_store: AtomicBool::new(false),
            registry_capacity: Arc::new(Mutex::new(crate::platform::DEFAULT_REGISTRY_CAPACITY)),
        }
    }

    /// Sets the registry capacity the platform reports from the next boot
    /// on (to test a full registry without 65536 users).
    pub fn set_registry_capacity(&self, capacity: usize) {
        *self.registry_capacity.lock() = capacity;
    }

    /// The same device after a power cycle: same storage, MBK and clock,
    /// a fresh RNG stream, no faults.
    pub fn restarted(&self) -> Self {
        let mut seed = self.seed;
        seed[31] = seed[31].wrapping_add(1);
        Self {
            seed,
            counter: Mutex::new(0),
            clock: self.clock.clone(),
            slots: self.slots.clone(),
            fail_random: AtomicBool::new(false),
            fail_clock: AtomicBool::new(false),
            fail_store: AtomicBool::new(false),
            registry_capacity: self.registry_capacity.clone(),
        }
    }

    /// Sets the clock (Unix seconds).
    pub fn set_time(&self, t: i64) {
        *self.clock.lock() = t;
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: i64) {
        let mut c = self.clock.lock();
        *c = c.saturating_add(seconds);
    }

    /// The clock.
    pub fn time(&self) -> i64 {
        *self.clock.lock()
    }

    /// Raw contents of a storage slot.
    pub fn slot(&self, slot: Slot) -> Option<Vec<u8>> {
        self.slots.lock().get(&(slot as u8)).cloned()
    }

    /// Overwrites a storage slot (to test corrupted storage).
    pub fn put_slot(&self, slot: Slot, data: &[u8]) {
        self.slots.lock().insert(slot as u8, data.to_vec());
    }
}

impl Platform for TestPlatform {
    type Crypto = Portable;

    fn crypto(&self) -> &Portable {
        &Portable
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PlatformError> {
        if self.fail_random.load(Ordering::SeqCst) {
            return Err(PlatformError);
        }
        for chunk in buf.chunks_mut(32) {
            let n = {
                let mut c = self.counter.lock();
                *c = c.wrapping_add(1);
                *c
            };
            let block = Portable.digest(HashAlgorithm::Sha256, &[&self.seed, &n.to_be_bytes()]);
            let src = block.as_bytes().get(..chunk.len()).ok_or(PlatformError)?;
            chunk.copy_from_slice(src);
        }
        Ok(())
    }

    fn now(&self) -> Result<i64, PlatformError> {
        if self.fail_clock.load(Ordering::SeqCst) {
            return Err(PlatformError);
        }
        Ok(self.time())
    }

    fn master_key(&self, slot: u8, out: &mut [u8; 32]) -> Result<bool, PlatformError> {
        match test_mbk(slot) {
            Some(mbk) => {
                *out = mbk;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn verify_operator(
        &self,
        user: &[u8],
        message: &[u8; 32],
        response: &[u8],
    ) -> Result<bool, PlatformError> {
        let expected = Portable.hmac_sha256(&TEST_OPERATOR_SECRET, &[message]);
        let user_ok: bool = subtle::ConstantTimeEq::ct_eq(user, TEST_OPERATOR).into();
        let response_ok: bool = subtle::ConstantTimeEq::ct_eq(response, &expected[..]).into();
        Ok(user_ok & response_ok)
    }

    fn load(&self, slot: Slot) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.slot(slot))
    }

    fn store(&self, slot: Slot, data: &[u8]) -> Result<(), PlatformError> {
        if self.fail_store.load(Ordering::SeqCst) {
            return Err(PlatformError);
        }
        self.put_slot(slot, data);
        Ok(())
    }

    fn registry_capacity(&self) -> usize {
        *self.registry_capacity.lock()
    }
}

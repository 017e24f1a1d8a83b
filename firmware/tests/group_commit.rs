//! The audit counters' group commit (`persist_through` in `audit.rs`):
//! under contention every record is answered only after a store that
//! covers it, stores are shared, waiters block instead of polling, and a
//! failed store wakes every waiter with NotOperational.
//!
//! The firmware runs on [`Recording`], the deterministic test platform
//! wrapped so that it counts the counters stores, remembers the `next_seq`
//! of the last one that succeeded (decoded from the bytes it was given,
//! not from what the firmware says) and implements the wait/notify pair
//! with a std mutex and condition variable, as the simulator does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use sam_firmware::Firmware;
use sam_firmware::abi::serve_into;
use sam_firmware::crypto::portable::Portable;
use sam_firmware::platform::{Platform, PlatformError, Slot};
use sam_firmware::state::Counters;
use sam_firmware::testing::TestPlatform;
use sam_proto::ErrorType;
use sam_proto::command::{ErrorAnswer, FirmwareState, SubFunction};
use sam_proto::frame::{MAX_BODY_LEN, decode_exact};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use support::Bench;

/// FOR TESTING ONLY: [`TestPlatform`] with counted, slow or failing
/// counters stores and a blocking `wait_for_store`.
#[derive(Debug)]
struct Recording {
    inner: TestPlatform,
    /// Counters stores that succeeded.
    stores: AtomicUsize,
    /// The `next_seq` of the last counters store that succeeded.
    durable: Mutex<u64>,
    /// How long a counters store takes (a slow disk makes contention).
    delay: Duration,
    /// Block counters stores until `gate` opens.
    gated: AtomicBool,
    gate: Mutex<bool>,
    gate_opened: Condvar,
    /// Make counters stores fail.
    fail: AtomicBool,
    /// `wait_for_store` blocks (false: the trait's default, a spin).
    block: bool,
    /// The largest count of finished stores announced.
    finished: Mutex<u64>,
    finished_grew: Condvar,
    /// Calls of `wait_for_store`, and threads inside it now.
    waits: AtomicUsize,
    waiting: AtomicUsize,
}

impl Recording {
    fn new(inner: TestPlatform, delay: Duration, block: bool) -> Self {
        Self {
            inner,
            stores: AtomicUsize::new(0),
            durable: Mutex::new(0),
            delay,
            gated: AtomicBool::new(false),
            gate: Mutex::new(false),
            gate_opened: Condvar::new(),
            fail: AtomicBool::new(false),
            block,
            finished: Mutex::new(0),
            finished_grew: Condvar::new(),
            waits: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        }
    }

    fn durable(&self) -> u64 {
        *self.durable.lock().unwrap()
    }

    fn open_gate(&self) {
        *self.gate.lock().unwrap() = true;
        self.gate_opened.notify_all();
    }
}

impl Platform for Recording {
    type Crypto = Portable;

    fn crypto(&self) -> &Portable {
        self.inner.crypto()
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PlatformError> {
        self.inner.fill_random(buf)
    }

    fn now(&self) -> Result<i64, PlatformError> {
        self.inner.now()
    }

    fn master_key(&self, slot: u8, out: &mut [u8; 32]) -> Result<bool, PlatformError> {
        self.inner.master_key(slot, out)
    }

    fn verify_operator(
        &self,
        user: &[u8],
        message: &[u8; 32],
        response: &[u8],
    ) -> Result<bool, PlatformError> {
        self.inner.verify_operator(user, message, response)
    }

    fn load(&self, slot: Slot) -> Result<Option<Vec<u8>>, PlatformError> {
        self.inner.load(slot)
    }

    fn store(&self, slot: Slot, data: &[u8]) -> Result<(), PlatformError> {
        if slot != Slot::Counters {
            return self.inner.store(slot, data);
        }
        if self.gated.load(Ordering::SeqCst) {
            let open = self.gate.lock().unwrap();
            drop(self.gate_opened.wait_while(open, |o| !*o).unwrap());
        }
        std::thread::sleep(self.delay);
        if self.fail.load(Ordering::SeqCst) {
            return Err(PlatformError);
        }
        let next_seq = postcard::from_bytes::<Counters>(data).unwrap().next_seq;
        self.inner.store(slot, data)?;
        let mut durable = self.durable.lock().unwrap();
        assert!(next_seq >= *durable, "a store went back to older counters");
        *durable = next_seq;
        self.stores.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn wait_for_store(&self, finished: u64) {
        self.waits.fetch_add(1, Ordering::SeqCst);
        if !self.block {
            core::hint::spin_loop();
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let seen = self.finished.lock().unwrap();
        drop(
            self.finished_grew
                .wait_while(seen, |f| *f <= finished)
                .unwrap(),
        );
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    fn notify_store(&self, finished: u64) {
        let mut f = self.finished.lock().unwrap();
        *f = (*f).max(finished);
        self.finished_grew.notify_all();
    }
}

/// An initialized firmware on a [`Recording`] platform (the bench's
/// storage, booted again).
fn recording_firmware(delay: Duration, block: bool) -> Firmware<Recording> {
    let b = Bench::ready();
    let fw = Firmware::boot(Recording::new(b.fw.platform().restarted(), delay, block));
    assert_eq!(fw.state(), FirmwareState::Operational);
    fw
}

/// One audited refusal (a CreateSigner body that does not decode): the
/// status and the audit record's seq, if it came with one.
fn audited_refusal(fw: &Firmware<Recording>) -> (u32, Option<u64>) {
    let mut answer = vec![0u8; MAX_BODY_LEN];
    let (status, len) = serve_into(
        fw,
        SubFunction::CreateSigner.code(),
        &[0xff, 0xff],
        &mut answer,
    );
    let ea: ErrorAnswer = decode_exact(&answer[..len], ErrorAnswer::MAX_SIZE).unwrap();
    (status, ea.audit.map(|a| a.entry.seq))
}

/// `threads` threads issue `each` records at once; every record must be
/// covered by a durable store when its answer returns, and they must share
/// stores.
fn contended(block: bool) {
    const THREADS: usize = 16;
    const EACH: usize = 12;
    let fw = recording_firmware(Duration::from_millis(2), block);
    let p = fw.platform();
    let stores_before = p.stores.load(Ordering::SeqCst);
    let returned: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    (0..EACH)
                        .map(|_| {
                            let (status, seq) = audited_refusal(&fw);
                            let durable_at_return = p.durable();
                            assert_ne!(status, 0, "a refusal");
                            (seq.expect("an audited refusal"), durable_at_return)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let records = returned.len();
    assert_eq!(records, THREADS * EACH);
    for (seq, durable) in &returned {
        assert!(
            seq < durable,
            "record {seq} answered while the counters were durable only below {durable}"
        );
    }
    let mut seqs: Vec<u64> = returned.iter().map(|r| r.0).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), records, "every record has its own seq");
    let stores = p.stores.load(Ordering::SeqCst) - stores_before;
    assert!(
        stores * 2 <= records,
        "{stores} stores for {records} records: the stores were not shared"
    );
    if block {
        // A blocked waiter returns once per finished store at most: no
        // polling.
        let waits = p.waits.load(Ordering::SeqCst);
        assert!(
            waits <= stores * THREADS,
            "{waits} waits for {stores} stores of {THREADS} threads"
        );
    }
}

#[test]
fn contended_records_return_only_after_a_store_that_covers_them() {
    contended(true);
}

/// The same on a platform that keeps the trait's default (a spin): the
/// group commit is correct without a blocking primitive, only slower.
#[test]
fn contended_records_are_durable_with_the_default_spin() {
    contended(false);
}

/// Detached threads, not scoped ones: a waiter that hangs must fail the
/// test (the receive times out), not hang it at the end of a scope.
#[test]
fn a_failed_store_wakes_every_waiter_with_an_error() {
    const THREADS: usize = 8;
    let fw = Arc::new(recording_firmware(Duration::ZERO, true));
    let p = fw.platform();
    let durable_before = p.durable();
    p.gated.store(true, Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..THREADS {
        let (tx, fw) = (tx.clone(), Arc::clone(&fw));
        std::thread::spawn(move || tx.send(audited_refusal(&fw)));
    }
    // One leader blocks in the gated store, everyone else waits for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.waiting.load(Ordering::SeqCst) < THREADS - 1 {
        assert!(Instant::now() < deadline, "the waiters never queued");
        std::thread::sleep(Duration::from_millis(1));
    }
    p.fail.store(true, Ordering::SeqCst);
    p.open_gate();
    for i in 0..THREADS {
        let (status, seq) = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("waiter {i} hangs after the failed store"));
        assert_eq!(status, u32::from(ErrorType::NotOperational.code()));
        assert_eq!(seq, None, "no record leaves without a durable store");
    }
    assert_eq!(fw.state(), FirmwareState::Failed);
    assert_eq!(p.durable(), durable_before);
    // A later caller does not wait for anything: it is refused at once.
    assert_eq!(
        audited_refusal(&fw).0,
        u32::from(ErrorType::NotOperational.code())
    );
}

//! The firmware's [`Platform`] in software: what a CP5 gives its module.
//!
//! | service | CP5 | simulator |
//! | --- | --- | --- |
//! | MBK slots | the HSM's MBK slots | slot 0 `<state-dir>/mbk.key`, slot N `<state-dir>/mbk-N.key`, 32 bytes, mode 0600 |
//! | operator logon | the HSM's user store and logon | `<state-dir>/operators/<name>.key` ([`crate::operators`]) |
//! | storage | the module's secure store | `<state-dir>/state.bin` (format in `state_file.rs`) |
//! | clock | the HSM's clock | the system clock |
//! | RNG | the HSM's TRNG | the OS, through aws-lc's DRBG |
//! | crypto | the HSM's crypto modules | [`SimCrypto`]: aws-lc-rs or portable |
//!
//! A state directory belongs to one simulator at a time: the platform holds
//! an exclusive lock on `<state-dir>/lock` for its lifetime, because two
//! instances writing one state file would fork the audit counter. (Several
//! HSMs sharing one MBK each have their own state directory, made with
//! `init --import-mbk`.)

use crate::crypto::{CryptoBackend, SimCrypto};
use crate::faults::Faults;
use crate::state_file::{OpenError, Slots, StateFile};
use crate::{LOCK_FILE, MBK_FILE, STATE_FILE, SimError};
use sam_firmware::platform::{Platform, PlatformError, Slot};
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// The simulator's replay-set capacity (see [`SimPlatform::replay_capacity`]).
pub const SIM_REPLAY_CAPACITY: usize = 1 << 20;

/// What the state file held when the platform opened it.
#[derive(Debug)]
enum Stored {
    /// Parsed; kept in memory and written through on every store.
    Good { slots: Slots, file: StateFile },
    /// A store failed. The file's state is then unknown to us (after a
    /// failed `fdatasync` Linux may drop the dirty pages and report the
    /// next flush as a success), so no later store is trusted: stores fail
    /// until the state directory is opened again, which reads back what is
    /// really on disk. Loads still answer from memory, which holds the
    /// last durable value.
    Stopped(Slots),
    /// Missing or corrupt: every load and store fails, so the firmware
    /// boots Failed and the evidence on disk stays untouched.
    Bad,
}

/// The simulated HSM platform of one state directory.
pub struct SimPlatform {
    crypto: SimCrypto,
    /// The MBK of each slot that has one.
    mbks: std::collections::BTreeMap<u8, Zeroizing<[u8; 32]>>,
    dir: PathBuf,
    stored: Mutex<Stored>,
    faults: Arc<Faults>,
    /// The largest count of finished counters stores the firmware announced
    /// ([`Platform::notify_store`]), and the threads waiting for it to grow.
    stores_finished: Mutex<u64>,
    store_finished: Condvar,
    /// Held for the platform's lifetime; dropping it releases the lock.
    _lock: File,
}

impl core::fmt::Debug for SimPlatform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimPlatform")
            .field("dir", &self.dir)
            .field("backend", &self.crypto.backend())
            .finish_non_exhaustive()
    }
}

/// How long to wait for a state-directory lock that is held: a simulator
/// that is just exiting, or a child process forked by the holder in the
/// instant before its `exec` closes the inherited descriptor, holds it
/// briefly.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Takes the exclusive lock of a state directory, waiting up to
/// [`LOCK_WAIT`] for a brief holder to let go.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, SimError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match try_lock_dir(dir) {
            Err(SimError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// One attempt at the lock.
fn try_lock_dir(dir: &Path) -> Result<File, SimError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| SimError::io(format!("cannot open {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(SimError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => {
            Err(SimError::io(format!("cannot lock {}", path.display()), e))
        }
    }
}

/// The file of MBK slot `slot` in a state directory: `mbk.key` for slot 0
/// (the file every state directory has had), `mbk-N.key` for slot N.
pub fn mbk_file(slot: u8) -> String {
    if slot == 0 {
        MBK_FILE.to_owned()
    } else {
        format!("mbk-{slot}.key")
    }
}

/// Reads and checks the MBK of every slot that has a file.
fn read_mbks(dir: &Path) -> Result<std::collections::BTreeMap<u8, Zeroizing<[u8; 32]>>, SimError> {
    let mut out = std::collections::BTreeMap::new();
    for slot in 0..=u8::MAX {
        if let Some(mbk) = read_mbk(&dir.join(mbk_file(slot)))? {
            out.insert(slot, mbk);
        }
    }
    if out.is_empty() {
        return Err(SimError::NoMbk {
            dir: dir.to_path_buf(),
        });
    }
    Ok(out)
}

/// Reads and checks one MBK file; `None` if it does not exist.
fn read_mbk(path: &Path) -> Result<Option<Zeroizing<[u8; 32]>>, SimError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SimError::io(format!("cannot read {}", path.display()), e)),
    };
    let mbk = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| SimError::BadMbk {
        path: path.to_path_buf(),
        reason: format!(
            "a Master Backup Key file holds 32 bytes, this one {}",
            bytes.len()
        ),
    })?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", meta.mode() & 0o777),
            "the MBK file is readable by group or others; it should be 0600"
        );
    }
    Ok(Some(Zeroizing::new(mbk)))
}

/// Opens `<dir>/state.bin` (rewriting a version-1 file as version 2).
/// Missing counts as corrupt: `init` writes the file, so a directory with
/// an MBK and no state lost its state.
fn read_state(dir: &Path) -> Stored {
    let path = dir.join(STATE_FILE);
    match StateFile::open(dir, STATE_FILE) {
        Ok((file, slots, notes)) => {
            if notes.migrated {
                tracing::info!(path = %path.display(), "state file rewritten in format version 2");
            }
            for slot in notes.fell_back {
                tracing::warn!(path = %path.display(), ?slot, "the newest copy of a slot is damaged (a write torn by a crash, or later damage); using the previous one");
            }
            Stored::Good { slots, file }
        }
        Err(OpenError::Corrupt(why)) => {
            tracing::error!(path = %path.display(), %why, "state file is corrupt; the firmware will boot in the Failed state");
            Stored::Bad
        }
        Err(OpenError::Io(e)) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the state file; the firmware will boot in the Failed state");
            Stored::Bad
        }
    }
}

impl SimPlatform {
    /// Opens the platform of a state directory made by
    /// [`crate::Simulator::init`]: locks it, reads the MBK and the state
    /// file. A corrupt or missing state file is not an error here (the
    /// firmware reports it by booting Failed); a missing or malformed MBK
    /// and a directory locked by another simulator are.
    pub fn open(dir: &Path, backend: CryptoBackend, faults: Arc<Faults>) -> Result<Self, SimError> {
        if !dir.join(STATE_FILE).exists() && !dir.join(MBK_FILE).exists() {
            return Err(SimError::NoMbk {
                dir: dir.to_path_buf(),
            });
        }
        let lock = lock_dir(dir)?;
        let mbks = read_mbks(dir)?;
        let stored = read_state(dir);
        Ok(Self {
            crypto: SimCrypto::new(backend),
            mbks,
            dir: dir.to_path_buf(),
            stored: Mutex::new(stored),
            faults,
            stores_finished: Mutex::new(0),
            store_finished: Condvar::new(),
            _lock: lock,
        })
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// The crypto back-end.
    pub fn backend(&self) -> CryptoBackend {
        self.crypto.backend()
    }

    /// The fault switches.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Platform for SimPlatform {
    type Crypto = SimCrypto;

    fn crypto(&self) -> &SimCrypto {
        &self.crypto
    }

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), PlatformError> {
        aws_lc_rs::rand::fill(buf).map_err(|_| {
            tracing::error!("the OS random source failed");
            PlatformError
        })
    }

    fn now(&self) -> Result<i64, PlatformError> {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| PlatformError)?;
        i64::try_from(since.as_secs()).map_err(|_| PlatformError)
    }

    fn master_key(&self, slot: u8, out: &mut [u8; 32]) -> Result<bool, PlatformError> {
        match self.mbks.get(&slot) {
            Some(mbk) => {
                out.copy_from_slice(mbk.as_slice());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Looks the operator up in `<state-dir>/operators` and checks the
    /// HMAC-SHA-256 response in constant time ([`crate::operators`]).
    fn verify_operator(
        &self,
        user: &[u8],
        message: &[u8; 32],
        response: &[u8],
    ) -> Result<bool, PlatformError> {
        let ok = crate::operators::verify(&self.dir, user, message, response).map_err(|e| {
            tracing::error!(error = %e, "cannot read the operator store");
            PlatformError
        })?;
        tracing::info!(
            operator = %String::from_utf8_lossy(user),
            accepted = ok,
            "HSM operator logon"
        );
        Ok(ok)
    }

    fn load(&self, slot: Slot) -> Result<Option<Vec<u8>>, PlatformError> {
        match &*self.stored.lock().map_err(|_| PlatformError)? {
            Stored::Good { slots, .. } | Stored::Stopped(slots) => Ok(slots.get(slot).cloned()),
            Stored::Bad => Err(PlatformError),
        }
    }

    /// Writes the slot through to disk (one in-place write and one
    /// `fdatasync`, see `state_file.rs`) before returning. The state lock
    /// is held across the write, so writes are serialized and the memory
    /// copy never runs ahead of the disk. A failed write stops all later
    /// stores (see [`Stored::Stopped`]).
    fn store(&self, slot: Slot, data: &[u8]) -> Result<(), PlatformError> {
        {
            let mut stored = self.stored.lock().map_err(|_| PlatformError)?;
            let Stored::Good { slots, file } = &mut *stored else {
                return Err(PlatformError);
            };
            if let Err(e) = file.store(slot, data, slots) {
                tracing::error!(dir = %self.dir.display(), error = %e, ?slot, "state write failed; no further state writes until restart");
                let slots = core::mem::take(slots);
                *stored = Stored::Stopped(slots);
                return Err(PlatformError);
            }
            slots.set(slot, data);
        }
        if slot == Slot::Counters && self.faults.take_abort_after_store() {
            tracing::error!("fault injection: aborting right after a durable counters write");
            std::process::abort();
        }
        Ok(())
    }

    /// 2^20 SADs instead of the firmware's default 2^16. The simulator
    /// stands for an HSM in a host with RAM to spare, and the replay set
    /// bounds the sustained Signing rate to capacity ÷ token lifetime:
    /// 65,536 entries allow only ~218 SAD/s with 300 s tokens, less than
    /// samd serves on loopback, so a long run (the soak test, `cargo xtask
    /// soak`) would be refused with NotOperational once the set is full of
    /// unexpired tokens. 2^20 allows ~3,500 SAD/s at 300 s.
    ///
    /// The set is a `BTreeMap` that grows as SADs are admitted (nothing is
    /// preallocated, ≈ 64 bytes per entry, measured) and sweeps expired
    /// entries every 16 s, so it holds about rate × (token lifetime + 16 s)
    /// entries; full, it would take about 64 MiB, which with samd's ~45–50
    /// MiB under load stays under the 150 MiB the bench allows.
    fn replay_capacity(&self) -> usize {
        SIM_REPLAY_CAPACITY
    }

    /// Another request is making the audit counters durable (one
    /// `fdatasync`): block on a condition variable until the firmware
    /// announces that the store has finished. The count is compared under
    /// the mutex, so an announcement made before this call is not lost.
    /// A poisoned mutex (a thread panicked while holding it, which the
    /// code below cannot do) is taken over: the count is a plain number.
    fn wait_for_store(&self, finished: u64) {
        let seen = self
            .stores_finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        drop(
            self.store_finished
                .wait_while(seen, |f| *f <= finished)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Wakes every waiter of [`Self::wait_for_store`]: those whose record
    /// the store covered return, the others find the next store to lead
    /// or to wait for.
    fn notify_store(&self, finished: u64) {
        {
            let mut f = self
                .stores_finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            *f = (*f).max(finished);
        }
        self.store_finished.notify_all();
    }
}

//! `sam-simulator`: a software stand-in for the Utimaco CP5 HSM that hosts
//! the SAM firmware.
//!
//! It runs the real firmware ([`sam_firmware::Firmware`]) through the
//! C-ABI module's entry for in-process callers
//! ([`sam_firmware::abi::serve_owned`]) on a software
//! [`Platform`](sam_firmware::platform::Platform), so what CI tests is what
//! a CP5 would run (DESIGN §3). Two ways to use it:
//!
//! * **in-process**: [`Simulator::open`] a state directory and
//!   [`Simulator::call`] the firmware from any thread;
//! * **as its own process**: `sam-simulator serve` listens on a Unix or
//!   TCP socket and speaks the frames of [`sam_proto::frame`], as a CP5
//!   sits on the LAN; [`client::SocketClient`] is the matching client.
//!
//! A state directory holds `mbk.key` (the Master Backup Key of MBK slot 0,
//! made by `sam-simulator init`; `mbk-N.key` for slot N), `state.bin` (the
//! firmware's secure storage), `operators/` (the HSM operators who may
//! log on for InitFirmware, [`operators`]) and `lock`. Faults can be injected through [`Simulator::faults`].
//!
//! Modules: [`crypto`] (aws-lc-rs engine and the back-end switch),
//! [`platform`] (MBK, storage, clock, RNG), `state_file` (the storage
//! format and atomic writes; private, its format is documented there),
//! [`faults`], [`server`] and [`client`] (the socket transport).

pub mod client;
pub mod crypto;
mod error;
pub mod faults;
pub mod operators;
pub mod platform;
pub mod server;
mod state_file;

pub use crate::crypto::{AwsLcCrypto, CryptoBackend, SimCrypto};
pub use crate::error::SimError;
pub use crate::faults::Faults;
pub use crate::platform::SimPlatform;
pub use crate::server::{ListenAddr, serve};

use sam_firmware::Firmware;
use sam_firmware::abi::{refusal, serve_owned};
use sam_proto::ErrorType;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

/// The MBK file in a state directory.
pub const MBK_FILE: &str = "mbk.key";
/// The storage file in a state directory.
pub const STATE_FILE: &str = "state.bin";
/// The lock file in a state directory.
pub const LOCK_FILE: &str = "lock";

/// One simulated HSM: a booted firmware on a [`SimPlatform`].
#[derive(Debug)]
pub struct Simulator {
    firmware: Firmware<SimPlatform>,
    faults: Arc<Faults>,
}

/// The firmware's [`refusal`] as the status and body that
/// [`Simulator::call`] returns: for refusals the simulator makes on the
/// firmware's behalf (faults, a server without workers).
pub(crate) fn refused(error: ErrorType) -> (u16, Vec<u8>) {
    let answer = refusal(error);
    (answer.status, answer.body)
}

impl Simulator {
    /// Makes a new state directory with a fresh random MBK (from the OS)
    /// and empty storage. Creates the directory (mode 0700) if needed.
    ///
    /// Refuses if the directory already holds an MBK or a state file: a
    /// new MBK would orphan every key and record made under the old one.
    pub fn init(dir: &Path) -> Result<(), SimError> {
        let mut mbk = zeroize::Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(mbk.as_mut_slice()).map_err(|_| {
            SimError::io(
                "cannot draw a random MBK",
                std::io::Error::other("OS RNG failed"),
            )
        })?;
        Self::init_with_mbk(dir, &mbk)
    }

    /// Makes a new state directory that shares `mbk` with another one: a
    /// second HSM of the same deployment serves the same users and keys
    /// (DESIGN §5, scale-out). Otherwise as [`Simulator::init`].
    pub fn init_with_mbk(dir: &Path, mbk: &[u8; 32]) -> Result<(), SimError> {
        Self::init_in_slot(dir, 0, mbk)
    }

    /// [`Simulator::init_with_mbk`] with the MBK in MBK slot `slot`
    /// (InitFirmware names the slot).
    pub fn init_in_slot(dir: &Path, slot: u8, mbk: &[u8; 32]) -> Result<(), SimError> {
        let mbk_file = platform::mbk_file(slot);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| SimError::io(format!("cannot create {}", dir.display()), e))?;
        let _lock = platform::lock_dir(dir)?;
        for name in [MBK_FILE, &mbk_file, STATE_FILE] {
            let path = dir.join(name);
            if path.exists() {
                return Err(SimError::AlreadyInitialized { path });
            }
        }
        // MBK first: a crash before the state file is written leaves a
        // directory that boots Failed (state missing), never one whose
        // state belongs to no MBK.
        state_file::write_atomic(dir, &mbk_file, mbk).map_err(|e| {
            SimError::io(format!("cannot write {}", dir.join(&mbk_file).display()), e)
        })?;
        let empty = state_file::encode(&state_file::Slots::default());
        state_file::write_atomic(dir, STATE_FILE, &empty).map_err(|e| {
            SimError::io(
                format!("cannot write {}", dir.join(STATE_FILE).display()),
                e,
            )
        })?;
        tracing::info!(dir = %dir.display(), "state directory initialized");
        Ok(())
    }

    /// Creates HSM operator `name` in the state directory `dir` (see
    /// [`operators`]) and returns its secret, for the operator's copy. The
    /// operator's logon is what InitFirmware requires.
    pub fn add_operator(dir: &Path, name: &str) -> Result<zeroize::Zeroizing<[u8; 32]>, SimError> {
        let _lock = platform::lock_dir(dir)?;
        operators::create(dir, name)
    }

    /// Opens a state directory and boots the firmware on it with the given
    /// crypto back-end. Booting runs the self-tests and writes the boot
    /// counter; if the state file is missing or corrupt the firmware boots
    /// in the Failed state (visible through GetStatus) rather than failing
    /// here.
    pub fn open(dir: &Path, backend: CryptoBackend) -> Result<Simulator, SimError> {
        let faults = Arc::new(Faults::default());
        let platform = SimPlatform::open(dir, backend, faults.clone())?;
        let firmware = Firmware::boot(platform);
        tracing::info!(dir = %dir.display(), %backend, state = ?firmware.state(), "firmware booted");
        Ok(Simulator { firmware, faults })
    }

    /// Runs one command: sub-function code and request body in, status and
    /// answer body out, as a CP5 host library returns them. Thread-safe;
    /// the firmware serves calls from many threads in parallel.
    ///
    /// The status is 0 or an [`ErrorType`] code. The ABI's own failure
    /// (an answer longer than `MAX_BODY_LEN`, which the firmware's bounds
    /// rule out) is reported as `UnexpectedError` with an empty
    /// [`ErrorAnswer`](sam_proto::command::ErrorAnswer) body, so every
    /// non-zero status comes with a decodable `ErrorAnswer`
    /// ([`sam_firmware::abi::serve_owned`]).
    ///
    /// Faults apply: the configured latency is slept first, and with
    /// `not_operational` on the firmware is not called at all.
    ///
    /// The call blocks its thread (crypto, and an fsync for every audited
    /// operation); async callers run it on a blocking pool
    /// (`tokio::task::spawn_blocking`), as the socket server does.
    pub fn call(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>) {
        let latency = self.faults.latency();
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        self.execute(sub_function, body)
    }

    /// [`Simulator::call`] without the latency fault: the server waits
    /// that out asynchronously before handing the call to a worker.
    pub(crate) fn execute(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>) {
        if self.faults.not_operational() {
            return refused(ErrorType::NotOperational);
        }
        let answer = serve_owned(&self.firmware, sub_function, body);
        (answer.status, answer.body)
    }

    /// The fault switches.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The firmware instance (for its state and its platform).
    pub fn firmware(&self) -> &Firmware<SimPlatform> {
        &self.firmware
    }
}

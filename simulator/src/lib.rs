//! `sam-simulator`: a software stand-in for the Utimaco CP5 HSM that hosts
//! the SAM firmware.
//!
//! It runs the real firmware ([`sam_firmware::Firmware`]) through the real
//! C-ABI entry ([`sam_firmware::abi::serve_into`]) on a software
//! [`Platform`](sam_firmware::platform::Platform), so what CI tests is what
//! a CP5 would run (DESIGN §3). Two ways to use it:
//!
//! * **in-process**: [`Simulator::open`] a state directory and
//!   [`Simulator::call`] the firmware from any thread;
//! * **as its own process**: `sam-simulator serve` listens on a Unix or
//!   TCP socket and speaks the frames of [`sam_proto::frame`], as a CP5
//!   sits on the LAN; [`client::SocketClient`] is the matching client.
//!
//! A state directory holds `mbk.key` (the Master Backup Key, made by
//! `sam-simulator init`), `state.bin` (the firmware's secure storage) and
//! `lock`. Faults can be injected through [`Simulator::faults`].
//!
//! Modules: [`crypto`] (aws-lc-rs engine and the back-end switch),
//! [`platform`] (MBK, storage, clock, RNG), `state_file` (the storage
//! format and atomic writes; private, its format is documented there),
//! [`faults`], [`server`] and [`client`] (the socket transport).

pub mod client;
pub mod crypto;
mod error;
pub mod faults;
pub mod platform;
pub mod server;
mod state_file;

pub use crate::crypto::{AwsLcCrypto, CryptoBackend, SimCrypto};
pub use crate::error::SimError;
pub use crate::faults::Faults;
pub use crate::platform::SimPlatform;
pub use crate::server::{ListenAddr, serve};

use sam_firmware::Firmware;
use sam_firmware::abi::serve_into;
use sam_proto::ErrorType;
use sam_proto::command::ErrorAnswer;
use sam_proto::frame::{MAX_BODY_LEN, encode_body};
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

/// Serves one call and copies out exactly the answer. The 160 KiB buffer
/// lives only for the call: kept alive (truncated, not shrunk) with the
/// answer through the caller's response path, it left 160 KiB per request
/// in flight for the allocator to fragment (the soak test saw samd's RSS
/// climb while heaptrack showed its heap flat at 25 MiB), and one buffer
/// per thread instead costs 160 KiB for each of samd's ~190 blocking
/// threads.
fn serve_copy(firmware: &Firmware<SimPlatform>, sub_function: u16, body: &[u8]) -> (u32, Vec<u8>) {
    let mut buf = vec![0u8; MAX_BODY_LEN];
    let (status, len) = serve_into(firmware, sub_function, body, &mut buf);
    (
        status,
        buf.get(..len).map(<[u8]>::to_vec).unwrap_or_default(),
    )
}

/// The answer body of a refusal that carries no audit record.
fn unaudited_error_body() -> Vec<u8> {
    // Postcard of `ErrorAnswer { audit: None }` is the one byte 0; the
    // fallback only guards an encoder that cannot fail here.
    encode_body(&ErrorAnswer { audit: None }).unwrap_or_else(|_| vec![0])
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
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| SimError::io(format!("cannot create {}", dir.display()), e))?;
        let _lock = platform::lock_dir(dir)?;
        for name in [MBK_FILE, STATE_FILE] {
            let path = dir.join(name);
            if path.exists() {
                return Err(SimError::AlreadyInitialized { path });
            }
        }
        // MBK first: a crash before the state file is written leaves a
        // directory that boots Failed (state missing), never one whose
        // state belongs to no MBK.
        state_file::write_atomic(dir, MBK_FILE, mbk).map_err(|e| {
            SimError::io(format!("cannot write {}", dir.join(MBK_FILE).display()), e)
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
    /// The status is the low 16 bits of the C-ABI status: 0 or an
    /// [`ErrorType`] code. The ABI's own failure (the answer did not fit
    /// the `MAX_BODY_LEN` buffer, which the firmware's bounds rule out) is
    /// reported as `UnexpectedError` with an empty [`ErrorAnswer`] body,
    /// so every non-zero status comes with a decodable `ErrorAnswer`.
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
            return (ErrorType::NotOperational.code(), unaudited_error_body());
        }
        let (status, answer) = serve_copy(&self.firmware, sub_function, body);
        match u16::try_from(status) {
            Ok(status) => (status, answer),
            Err(_) => {
                tracing::error!(sub_function, status, "firmware ABI error");
                (ErrorType::UnexpectedError.code(), unaudited_error_body())
            }
        }
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

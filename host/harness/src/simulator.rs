//! The simulated HSM: its state directory (`sam-simulator init`) and, for
//! the socket transport, `sam-simulator serve` as a child process.

use crate::{Binaries, Crypto, FirmwareLink, HarnessError, Process, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Where a simulator keeps its state, listens and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatorSpec {
    /// The state directory (Master Backup Key, firmware storage).
    pub state_dir: PathBuf,
    /// The Unix socket `serve` listens on.
    pub socket: PathBuf,
    /// The log of `serve`, appended.
    pub log: PathBuf,
}

/// The HSM operator every harness simulator has: the one who logs on for
/// `samctl fw init`.
pub const OPERATOR: &str = "hsm-operator";

impl SimulatorSpec {
    /// The HSM operator's copy of its secret: `<state_dir>.operator.key`,
    /// beside the state directory (the operator's, not the HSM's).
    pub fn operator_key(&self) -> PathBuf {
        let mut name = self
            .state_dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".operator.key");
        self.state_dir.with_file_name(name)
    }

    /// `sam-simulator init --state-dir DIR --operator OPERATOR
    /// --operator-key FILE`: a fresh simulated HSM and its operator.
    pub fn init(&self, bins: &Binaries) -> Result<()> {
        self.init_with(bins, &[])
    }

    /// [`SimulatorSpec::init`] of another HSM of `other`'s key domain:
    /// `--import-mbk` of `other`'s `mbk.key` (MBK slot 0), so that both
    /// derive the same module keys (attestation, sealing, wrapping).
    pub fn init_sharing_mbk(&self, bins: &Binaries, other: &SimulatorSpec) -> Result<()> {
        let mbk = other.state_dir.join("mbk.key");
        self.init_with(bins, &["--import-mbk".as_ref(), mbk.as_os_str()])
    }

    fn init_with(&self, bins: &Binaries, extra: &[&std::ffi::OsStr]) -> Result<()> {
        let out = Command::new(bins.simulator())
            .arg("init")
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(["--operator", OPERATOR, "--operator-key"])
            .arg(self.operator_key())
            .args(extra)
            .output()
            .map_err(HarnessError::context("cannot run sam-simulator"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(HarnessError::new(format!(
                "`sam-simulator init` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// samd's firmware link to this simulator's `serve`.
    pub fn socket_link(&self, reconnect_ms: Option<(u64, u64)>) -> FirmwareLink {
        FirmwareLink::Socket {
            address: format!("unix:{}", self.socket.display()),
            reconnect_ms,
        }
    }

    /// samd's firmware link running this simulator's firmware in-process.
    pub fn in_process_link(&self, crypto: Crypto) -> FirmwareLink {
        FirmwareLink::InProcess {
            state_dir: self.state_dir.clone(),
            crypto,
        }
    }

    /// Starts `sam-simulator serve` and returns it once its socket accepts
    /// (within `within`).
    pub fn serve(&self, bins: &Binaries, within: Duration) -> Result<Simulator> {
        let mut cmd = Command::new(bins.simulator());
        cmd.arg("serve")
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--listen")
            .arg(format!("unix:{}", self.socket.display()))
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        let mut process = Process::spawn("sam-simulator", cmd, &self.log)?;
        let socket = self.socket.clone();
        process.wait_until(within, || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        })?;
        Ok(Simulator {
            process,
            // The firmware boots before the socket is bound.
            booted_by: sam_devpki::unix_now(),
        })
    }
}

/// A running `sam-simulator serve`, SIGKILLed when dropped.
#[derive(Debug)]
pub struct Simulator {
    process: Process,
    booted_by: u64,
}

impl Simulator {
    /// The Unix second by which its firmware had booted (identity tokens
    /// must start after it).
    pub fn booted_by(&self) -> u64 {
        self.booted_by
    }

    /// The process.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// SIGKILL and reap: a power cut of the HSM.
    pub fn kill(&mut self) -> Result<()> {
        self.process.kill()
    }

    /// An error if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        self.process.check_alive()
    }
}

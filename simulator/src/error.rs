//! The simulator's one error type.
//!
//! Messages are written for the operator who sees them on a terminal: they
//! name the file or address involved and, where there is one, the command
//! that fixes the problem.

use std::path::PathBuf;

/// Anything that can go wrong outside the firmware.
///
/// The firmware itself never fails this way: its refusals are status codes
/// in answers. A corrupt state file is not a `SimError` either; the
/// firmware boots in the Failed state and says so through GetStatus, as a
/// CP5 with damaged storage would.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The state directory has no MBK.
    #[error(
        "state directory {} has no mbk.key; run `sam-simulator init --state-dir {}` first",
        .dir.display(),
        .dir.display()
    )]
    NoMbk {
        /// The state directory.
        dir: PathBuf,
    },

    /// `init` found an existing MBK or state file.
    #[error(
        "{} already exists; refusing to replace a Master Backup Key or the state that depends on it",
        .path.display()
    )]
    AlreadyInitialized {
        /// The file that exists.
        path: PathBuf,
    },

    /// The MBK file is not what `init` writes.
    #[error("{}: {reason}", .path.display())]
    BadMbk {
        /// The MBK file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Another simulator (process or in-process instance) holds the state
    /// directory. Two instances on one state file would fork the audit
    /// counter.
    #[error(
        "state directory {} is in use by another simulator (lock on {} is held)",
        .dir.display(),
        .dir.join(crate::LOCK_FILE).display()
    )]
    Locked {
        /// The state directory.
        dir: PathBuf,
    },

    /// A file-system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },

    /// A `--listen` / `--connect` address that does not parse.
    #[error(
        "bad address {0:?}: expected `unix:/path/to/socket` or `tcp:HOST:PORT` (e.g. `tcp:127.0.0.1:7000`)"
    )]
    BadAddress(String),

    /// An HSM operator name that is not 1 to 32 of `A-Z a-z 0-9 _ . -`.
    #[error("bad operator name {0:?}: 1 to 32 of A-Z a-z 0-9 _ . -, not starting with a dot")]
    BadOperator(String),

    /// A listening address refused because nothing would authenticate the
    /// host on it.
    #[error("refusing to listen on {addr}: {reason}")]
    Insecure {
        /// The address.
        addr: String,
        /// Why, and what to do instead.
        reason: String,
    },

    /// A `--crypto` value that does not parse.
    #[error("unknown crypto back-end {0:?}: expected `aws-lc` or `portable`")]
    BadBackend(String),

    /// The peer sent bytes that are not a frame, or not the frame expected.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The connection to the simulator is gone; calls in flight on it were
    /// not answered (whether they ran is unknown).
    #[error("connection to the simulator lost: {0}")]
    Disconnected(String),
}

impl SimError {
    /// A [`SimError::Io`]: `what` was being done (name the path) when `source` happened.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

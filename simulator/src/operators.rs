//! The HSM operators of a state directory: the simulator's stand-in for
//! the CP5's user store, and the logon check the firmware asks the
//! platform for before InitFirmware.
//!
//! A CP5 authenticates its users itself (password/HMAC or signature
//! logon) and tells a custom module who logged on; the simulator keeps
//! one 32-byte secret per operator in `<state-dir>/operators/<name>.key`
//! (directory 0700, files 0600, as `mbk.key`), made by `sam-simulator
//! init --operator NAME`, which also hands the operator a copy. The
//! operator's client (samctl) answers the logon message with
//! HMAC-SHA-256 under that secret; samd only relays the answer, which is
//! bound to one challenge and one set of parameters, so it never holds a
//! reusable secret.

use crate::SimError;
use crate::state_file::write_atomic;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The operators' directory in a state directory.
pub const OPERATORS_DIR: &str = "operators";

/// Longest operator name (the firmware's `MAX_OPERATOR_NAME_LEN`).
pub const MAX_NAME_LEN: usize = sam_proto::command::MAX_OPERATOR_NAME_LEN;

/// An operator name is 1 to 32 of `A-Z a-z 0-9 _ . -`, not starting with
/// a dot: it names a file, so it can never climb out of the directory.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.first() != Some(&b'.')
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn key_file(name: &str) -> String {
    format!("{name}.key")
}

/// Creates operator `name` in the state directory `dir` with a fresh
/// random secret, and returns the secret for the operator's own copy.
/// Refuses an invalid name and an operator that exists.
pub fn create(dir: &Path, name: &str) -> Result<Zeroizing<[u8; 32]>, SimError> {
    if !valid_name(name.as_bytes()) {
        return Err(SimError::BadOperator(name.to_owned()));
    }
    let ops = dir.join(OPERATORS_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ops)
        .map_err(|e| SimError::io(format!("cannot create {}", ops.display()), e))?;
    let path = ops.join(key_file(name));
    if path.exists() {
        return Err(SimError::AlreadyInitialized { path });
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    random(secret.as_mut_slice())?;
    write_atomic(&ops, &key_file(name), secret.as_slice())
        .map_err(|e| SimError::io(format!("cannot write {}", path.display()), e))?;
    tracing::info!(operator = name, "HSM operator created");
    Ok(secret)
}

/// The stored secret of operator `name`, `None` if there is no such
/// operator (or the name is not one).
pub fn secret(dir: &Path, name: &[u8]) -> std::io::Result<Option<Zeroizing<[u8; 32]>>> {
    if !valid_name(name) {
        return Ok(None);
    }
    let name = String::from_utf8_lossy(name);
    let path: PathBuf = dir.join(OPERATORS_DIR).join(key_file(&name));
    match std::fs::read(&path) {
        Ok(b) => {
            let b = Zeroizing::new(b);
            Ok(<[u8; 32]>::try_from(b.as_slice()).ok().map(Zeroizing::new))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The logon response the simulator accepts: HMAC-SHA-256 under the
/// operator's secret of the firmware's logon message (for clients).
pub fn response(secret: &[u8; 32], message: &[u8; 32]) -> [u8; 32] {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, message);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `response` is operator `name`'s answer to `message`, compared
/// in constant time.
pub fn verify(
    dir: &Path,
    name: &[u8],
    message: &[u8; 32],
    response: &[u8],
) -> std::io::Result<bool> {
    let Some(secret) = secret(dir, name)? else {
        return Ok(false);
    };
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_slice());
    Ok(aws_lc_rs::hmac::verify(&key, message, response).is_ok())
}

/// Fills `buf` from the OS RNG (through aws-lc).
pub fn random(buf: &mut [u8]) -> Result<(), SimError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| {
        SimError::io(
            "cannot draw random bytes",
            std::io::Error::other("OS RNG failed"),
        )
    })
}

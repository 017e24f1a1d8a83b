//! The firmware's secure storage, as one file: `<state-dir>/state.bin`.
//!
//! Both storage slots live in one file so that one atomic replace covers
//! them: the file on disk is always a state the firmware wrote, never a mix
//! of two. A write goes to `state.bin.tmp`, is fsynced, renamed over
//! `state.bin`, and the directory is fsynced so that the rename itself is
//! durable; only then does [`sam_firmware::platform::Platform::store`]
//! return, and only then does the firmware let an answer leave.
//!
//! Format (all integers big-endian):
//!
//! ```text
//! magic "SAMSIMST" (8) | version u16 = 1 | slot count u8 = 2
//! per slot, Config then Counters: present u8 (0|1) | length u32 | bytes
//! SHA-256 of everything above (32)
//! ```
//!
//! The checksum catches a truncated or damaged file (it is not a MAC: the
//! simulator's disk plays the part of the HSM's protected storage). A file
//! that fails any check is reported as corrupt; the firmware then boots in
//! the Failed state instead of trusting it, and nothing overwrites it.

use sam_firmware::platform::Slot;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const MAGIC: &[u8; 8] = b"SAMSIMST";
const VERSION: u16 = 1;
const SLOT_COUNT: u8 = 2;
const CHECKSUM_LEN: usize = 32;
/// Largest slot accepted when reading. The firmware's own bounds are far
/// smaller (its config is at most a few tens of KiB); this only stops a
/// damaged length field from asking for gigabytes.
const MAX_SLOT_LEN: usize = 1 << 20;

/// The content of both slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slots {
    pub config: Option<Vec<u8>>,
    pub counters: Option<Vec<u8>>,
}

impl Slots {
    pub fn get(&self, slot: Slot) -> Option<&Vec<u8>> {
        match slot {
            Slot::Config => self.config.as_ref(),
            Slot::Counters => self.counters.as_ref(),
        }
    }

    pub fn set(&mut self, slot: Slot, data: &[u8]) {
        let v = Some(data.to_vec());
        match slot {
            Slot::Config => self.config = v,
            Slot::Counters => self.counters = v,
        }
    }
}

/// Why a state file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Corrupt {
    #[error("shorter than its header and checksum")]
    Short,
    #[error("checksum mismatch (truncated or damaged)")]
    Checksum,
    #[error("not a simulator state file (bad magic)")]
    Magic,
    #[error("state file version {0}, this simulator reads version {VERSION}")]
    Version(u16),
    #[error("bad slot table")]
    Slots,
    #[error("bytes after the last slot")]
    Trailing,
}

/// Serializes both slots with header and checksum.
pub(crate) fn encode(slots: &Slots) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64 + slots.config.as_ref().map_or(0, Vec::len)
            + slots.counters.as_ref().map_or(0, Vec::len),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.push(SLOT_COUNT);
    for slot in [&slots.config, &slots.counters] {
        match slot {
            None => {
                out.push(0);
                out.extend_from_slice(&0u32.to_be_bytes());
            }
            Some(data) => {
                out.push(1);
                // Slots are bounded far below 4 GiB by the firmware; a
                // length that did not fit would fail the read-back check.
                let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(data);
            }
        }
    }
    let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    out
}

/// A cursor over the body of a state file.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if self.0.len() < n {
            return Err(Corrupt::Slots);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| Corrupt::Slots)
    }
}

/// Parses a state file, checksum first.
pub(crate) fn decode(bytes: &[u8]) -> Result<Slots, Corrupt> {
    let body_len = bytes
        .len()
        .checked_sub(CHECKSUM_LEN)
        .ok_or(Corrupt::Short)?;
    let (body, sum) = bytes.split_at(body_len);
    if body.len() < MAGIC.len() + 3 {
        return Err(Corrupt::Short);
    }
    let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    if aws_lc_rs::constant_time::verify_slices_are_equal(want.as_ref(), sum).is_err() {
        return Err(Corrupt::Checksum);
    }
    let mut r = Reader(body);
    if r.take(MAGIC.len())? != MAGIC {
        return Err(Corrupt::Magic);
    }
    let version = u16::from_be_bytes(r.array()?);
    if version != VERSION {
        return Err(Corrupt::Version(version));
    }
    if r.array::<1>()? != [SLOT_COUNT] {
        return Err(Corrupt::Slots);
    }
    let mut slot = || -> Result<Option<Vec<u8>>, Corrupt> {
        let [present] = r.array::<1>()?;
        let len = usize::try_from(u32::from_be_bytes(r.array()?)).map_err(|_| Corrupt::Slots)?;
        if len > MAX_SLOT_LEN {
            return Err(Corrupt::Slots);
        }
        match present {
            0 if len == 0 => Ok(None),
            1 => Ok(Some(r.take(len)?.to_vec())),
            _ => Err(Corrupt::Slots),
        }
    };
    let config = slot()?;
    let counters = slot()?;
    if !r.0.is_empty() {
        return Err(Corrupt::Trailing);
    }
    Ok(Slots { config, counters })
}

/// Replaces `dir/name` with `bytes` atomically and durably: write a temp
/// file (mode 0600), fsync it, rename it over the target, fsync the
/// directory. Any failure is returned; none is retried or ignored.
///
/// The temp name is fixed, so callers serialize writes to one target (the
/// platform holds its state lock across the call; the directory lock keeps
/// other processes out).
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, &dst)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Slots {
        Slots {
            config: Some(b"config bytes".to_vec()),
            counters: Some(vec![1, 2, 3]),
        }
    }

    #[test]
    fn round_trips_every_slot_combination() {
        for slots in [
            Slots::default(),
            sample(),
            Slots {
                config: None,
                counters: Some(Vec::new()),
            },
        ] {
            assert_eq!(decode(&encode(&slots)), Ok(slots));
        }
    }

    #[test]
    fn every_truncation_and_every_bit_flip_is_refused() {
        let good = encode(&sample());
        for n in 0..good.len() {
            assert!(decode(&good[..n]).is_err(), "truncated to {n} accepted");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "flip at byte {i} accepted");
        }
    }

    /// A body with a correct checksum but a bad structure is still refused
    /// (the checksum is not the only check).
    #[test]
    fn structural_errors_behind_a_valid_checksum_are_refused() {
        fn seal(mut body: Vec<u8>) -> Vec<u8> {
            let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body);
            body.extend_from_slice(sum.as_ref());
            body
        }
        let good = encode(&sample());
        let body = good[..good.len() - CHECKSUM_LEN].to_vec();

        let mut magic = body.clone();
        magic[0] = b'X';
        assert_eq!(decode(&seal(magic)), Err(Corrupt::Magic));

        let mut version = body.clone();
        version[9] = 2;
        assert_eq!(decode(&seal(version)), Err(Corrupt::Version(2)));

        let mut trailing = body.clone();
        trailing.push(0);
        assert_eq!(decode(&seal(trailing)), Err(Corrupt::Trailing));

        let mut present = body.clone();
        present[11] = 7;
        assert_eq!(decode(&seal(present)), Err(Corrupt::Slots));

        let mut long = body;
        long[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode(&seal(long)), Err(Corrupt::Slots));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("sam-sim-unit-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        write_atomic(&dir, "x.bin", b"one")?;
        write_atomic(&dir, "x.bin", b"two")?;
        assert_eq!(fs::read(dir.join("x.bin"))?, b"two");
        assert!(!dir.join("x.bin.tmp").exists());
        fs::remove_dir_all(&dir)
    }
}

//! The firmware's secure storage, as one file: `<state-dir>/state.bin`.
//!
//! # Why this layout
//!
//! The firmware lets no answer leave before [`Platform::store`] has made
//! the audit counters durable, so the store sits on the path of every
//! audited request. Version 1 of this file rewrote the whole file on each
//! store (temp file, fsync, rename, fsync of the directory: four syscalls
//! and two flushes, ≈ 0.5 ms on the development machine, more than the
//! signature itself). Version 2 keeps the same guarantees with one write
//! and one flush per store:
//!
//! * each slot owns **two fixed-capacity areas**; a store writes the slot's
//!   new value, with a generation number one above the current one, into
//!   the area that does *not* hold the current value (`pwrite`), then
//!   flushes it (`fdatasync`). The area holding the last acknowledged value
//!   is never touched while it is the newest, so a crash or power loss in
//!   the middle of a store leaves either the old or the new value, never a
//!   mix;
//! * each area carries a **SHA-256** over its slot number, generation and
//!   content, so a torn or damaged area is recognized; the loader takes,
//!   per slot, the valid area with the highest generation. A torn write of
//!   the newer area therefore falls back to the older one, which is the
//!   value before the store that never returned (nothing was answered on
//!   the strength of the torn one);
//! * the file's size never changes on this path and its blocks were
//!   written (zeros) when it was made, so `fdatasync` has no metadata to
//!   commit: one data flush;
//! * a slot whose new value outgrows its areas is rare (the counters slot
//!   grows with the list of unacknowledged audit entries). Then the whole
//!   file is rewritten with larger areas the version-1 way (temp file,
//!   fsync, rename, fsync of the directory), which is atomic for every
//!   slots at once. Capacities only grow.
//!
//! Version 3 adds a third slot, the firmware's registry of live users and
//! keys (`Slot::Registry`, at most about 64 bytes per entry, so about
//! 4 MiB at the firmware's default capacity of 65536 entries; its areas
//! grow like the counters' do). A version-2 file (two slots) still loads,
//! with an empty registry, and is rewritten as version 3 on open.
//!
//! A store changes one slot; slots are independent, each a sequence of
//! atomic single-slot updates, so after a crash the file holds the result
//! of every acknowledged store, plus possibly the one in flight.
//!
//! # Format (all integers big-endian)
//!
//! ```text
//! header, HEADER_LEN (4096) bytes:
//!   magic "SAMSIMST" (8) | version u16 = 3 | slot count u8 = 3 | 0 u8
//!   | capacity of a Config area u32 | capacity of a Counters area u32
//!   | capacity of a Registry area u32
//!   | SHA-256 of the 24 bytes above (32) | zeros up to 4096
//! Config area 0, Config area 1, Counters area 0, Counters area 1,
//! Registry area 0, Registry area 1, each
//! of its slot's capacity (a power of two, at least 4096, so every area
//! starts on a page boundary):
//!   generation u64 (0: never written) | present u8 (0|1) | length u32
//!   | SHA-256 over (slot number u8 | generation | present | length | bytes)
//!   | bytes | unused up to the capacity
//! ```
//!
//! The file's length must be exactly the header plus the six areas.
//! (Version 2 is the same with two slots: no registry capacity, a 20-byte
//! checksummed header body, four areas.)
//!
//! # What is refused
//!
//! The checksums catch truncation and damage (they are not MACs: the
//! simulator's disk plays the part of the HSM's protected storage). A bad
//! header, a wrong length, or a slot with no valid area makes the whole
//! file corrupt; the firmware then boots Failed instead of trusting it, and
//! nothing overwrites it. One limit is inherent to double buffering and
//! documented rather than hidden: damage to the *newest* area after it was
//! acknowledged looks exactly like a torn write and rolls that slot back one
//! store (logged as a warning when the damaged area claims the higher
//! generation). For the counters slot the audit chain then forks at that
//! sequence number, which the host's chain verification reports.
//!
//! # Version 1
//!
//! A version-1 file (one checksummed image of both slots, written by older
//! simulators) still loads; [`StateFile::open`] then rewrites it as version
//! 2 (atomically, before the firmware sees it). A damaged version-1 file is
//! refused like any other.
//!
//! [`Platform::store`]: sam_firmware::platform::Platform::store

use sam_firmware::platform::Slot;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SAMSIMST";
/// The format written.
const VERSION: u16 = 3;
/// The two-slot format of version 2, still read (and migrated).
const VERSION_2: u16 = 2;
/// The older format still read (and migrated).
const VERSION_1: u16 = 1;
/// Slots in the format written.
const SLOT_COUNT: u8 = 3;
/// Slots in the format written, as a length.
const N: usize = SLOT_COUNT as usize;
/// Slots of versions 1 and 2 (Config, Counters).
const OLD_SLOT_COUNT: u8 = 2;
const CHECKSUM_LEN: usize = 32;
/// Header size: one page, so that the areas are page-aligned.
const HEADER_LEN: usize = 4096;
/// The checksummed part of the header of a file with `slots` slots.
const fn header_body(slots: usize) -> usize {
    12 + 4 * slots
}
/// Generation, present flag, length and checksum in front of an area's
/// bytes.
const AREA_HEAD: usize = 8 + 1 + 4 + CHECKSUM_LEN;
/// Capacity of a fresh file's areas: the firmware's config is a few KiB
/// (tens at most) and its counters usually a few KiB.
const DEFAULT_CAPACITY: usize = 64 * 1024;
/// Smallest area (one page).
const MIN_CAPACITY: usize = 4096;
/// Largest area accepted or made. The firmware's slots are far smaller
/// (the counters slot at most a few hundred KiB); this stops a damaged
/// header, or a runaway caller, from asking for gigabytes.
const MAX_CAPACITY: usize = 64 << 20;
/// Largest slot of a version-1 file.
const MAX_SLOT_LEN_V1: usize = 1 << 20;

/// The slots in file order.
const SLOTS: [Slot; N] = [Slot::Config, Slot::Counters, Slot::Registry];

fn slot_index(slot: Slot) -> usize {
    match slot {
        Slot::Config => 0,
        Slot::Counters => 1,
        Slot::Registry => 2,
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The content of every slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slots {
    pub config: Option<Vec<u8>>,
    pub counters: Option<Vec<u8>>,
    pub registry: Option<Vec<u8>>,
}

impl Slots {
    pub fn get(&self, slot: Slot) -> Option<&Vec<u8>> {
        match slot {
            Slot::Config => self.config.as_ref(),
            Slot::Counters => self.counters.as_ref(),
            Slot::Registry => self.registry.as_ref(),
        }
    }

    /// Replaces one slot's value, reusing its allocation (the counters
    /// slot is stored on every audited request).
    pub fn set(&mut self, slot: Slot, data: &[u8]) {
        let target = match slot {
            Slot::Config => &mut self.config,
            Slot::Counters => &mut self.counters,
            Slot::Registry => &mut self.registry,
        };
        match target {
            Some(v) => {
                v.clear();
                v.extend_from_slice(data);
            }
            None => *target = Some(data.to_vec()),
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
    #[error("state file version {0}, this simulator reads versions {VERSION_1} to {VERSION}")]
    Version(u16),
    #[error("bad slot table")]
    Slots,
    #[error("bytes after the last slot")]
    Trailing,
    #[error("header checksum mismatch or bad area capacities")]
    Header,
    #[error("file length {0} does not match its header")]
    Length(usize),
    #[error("no valid copy of the {0:?} slot (both areas damaged)")]
    NoValidArea(Slot),
}

/// Where each slot's current value is, and the areas' capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// Capacity of one area, per slot.
    capacity: [usize; N],
    /// Generation of the current value, per slot.
    generation: [u64; N],
    /// Which area (0 or 1) holds the current value, per slot.
    area: [usize; N],
}

impl Layout {
    fn file_len(&self) -> usize {
        HEADER_LEN + 2 * self.capacity.iter().sum::<usize>()
    }

    /// Byte offset of area `area` of slot number `slot`.
    fn offset(&self, slot: usize, area: usize) -> usize {
        let before: usize = self.capacity.iter().take(slot).sum();
        HEADER_LEN + 2 * before + area * self.capacity.get(slot).copied().unwrap_or(0)
    }
}

/// The smallest capacity (power of two, at least [`MIN_CAPACITY`]) that
/// holds `len` bytes with room to double.
fn capacity_for(len: usize) -> Option<usize> {
    let need = AREA_HEAD.checked_add(len)?.checked_mul(2)?;
    let cap = need.checked_next_power_of_two()?.max(MIN_CAPACITY);
    (cap <= MAX_CAPACITY).then_some(cap)
}

/// The area header and bytes of one slot value: what a store writes.
fn encode_area(out: &mut Vec<u8>, slot: usize, generation: u64, data: Option<&[u8]>) {
    let (present, bytes): (u8, &[u8]) = match data {
        Some(d) => (1, d),
        None => (0, &[]),
    };
    // Areas are bounded by MAX_CAPACITY, far below 4 GiB; callers check
    // the length against the capacity first.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes();
    let gen_bytes = generation.to_be_bytes();
    let slot_byte = [u8::try_from(slot).unwrap_or(u8::MAX)];
    let sum = sha256(&[&slot_byte, &gen_bytes, &[present], &len, bytes]);
    out.clear();
    out.extend_from_slice(&gen_bytes);
    out.push(present);
    out.extend_from_slice(&len);
    out.extend_from_slice(&sum);
    out.extend_from_slice(bytes);
}

fn encode_header(capacity: [usize; N]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_be_bytes());
    h.push(SLOT_COUNT);
    h.push(0);
    for c in capacity {
        h.extend_from_slice(&u32::try_from(c).unwrap_or(u32::MAX).to_be_bytes());
    }
    let sum = sha256(&[&h]);
    h.extend_from_slice(&sum);
    h.resize(HEADER_LEN, 0);
    h
}

/// A whole version-2 file: `slots` in area 0 of each slot at the given
/// generations, area 1 never written.
fn encode_image(slots: &Slots, capacity: [usize; N], generation: [u64; N]) -> Vec<u8> {
    let layout = Layout {
        capacity,
        generation,
        area: [0; N],
    };
    let mut out = encode_header(capacity);
    out.resize(layout.file_len(), 0);
    let mut area = Vec::new();
    for (i, slot) in SLOTS.into_iter().enumerate() {
        encode_area(
            &mut area,
            i,
            generation.get(i).copied().unwrap_or(1),
            slots.get(slot).map(Vec::as_slice),
        );
        let at = layout.offset(i, 0);
        if let Some(dst) = out.get_mut(at..at + area.len()) {
            dst.copy_from_slice(&area);
        }
    }
    out
}

/// Capacities that hold `slots`: the default, or larger.
fn capacities_for(slots: &Slots, at_least: [usize; N]) -> Option<[usize; N]> {
    let mut cap = at_least;
    for (i, slot) in SLOTS.into_iter().enumerate() {
        let len = slots.get(slot).map_or(0, Vec::len);
        let c = cap.get_mut(i)?;
        if AREA_HEAD + len > *c {
            *c = capacity_for(len)?.max(*c);
        }
    }
    Some(cap)
}

/// A fresh state file holding `slots` (version 2, default capacities or
/// larger). `init` writes it with [`write_atomic`].
pub(crate) fn encode(slots: &Slots) -> Vec<u8> {
    let cap = capacities_for(slots, [DEFAULT_CAPACITY; N]).unwrap_or([MAX_CAPACITY; N]);
    encode_image(slots, cap, [1; N])
}

/// A cursor over bytes.
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

/// A parsed state file.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    slots: Slots,
    layout: Layout,
    /// The version read; below [`VERSION`] the file must be rewritten.
    version: u16,
    /// Slots whose other area claims a newer generation but is damaged
    /// (a torn write, or damage after the fact): reported by the caller.
    fell_back: Vec<Slot>,
}

/// Parses a state file of either version.
fn decode_any(bytes: &[u8]) -> Result<Decoded, Corrupt> {
    let head = bytes.get(..MAGIC.len() + 2).ok_or(Corrupt::Short)?;
    let (magic, version) = head.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(Corrupt::Magic);
    }
    let version = u16::from_be_bytes(<[u8; 2]>::try_from(version).map_err(|_| Corrupt::Short)?);
    match version {
        VERSION => decode_v2(bytes, N),
        VERSION_2 => {
            // Two slots; the registry's areas are added by the rewrite.
            let mut d = decode_v2(bytes, OLD_SLOT_COUNT as usize)?;
            let capacity = capacities_for(&d.slots, d.layout.capacity).ok_or(Corrupt::Slots)?;
            d.layout = Layout {
                capacity,
                generation: [1; N],
                area: [0; N],
            };
            d.version = VERSION_2;
            Ok(d)
        }
        VERSION_1 => {
            let slots = decode_v1(bytes)?;
            let capacity = capacities_for(&slots, [DEFAULT_CAPACITY; N]).ok_or(Corrupt::Slots)?;
            Ok(Decoded {
                slots,
                layout: Layout {
                    capacity,
                    generation: [1; N],
                    area: [0; N],
                },
                version: VERSION_1,
                fell_back: Vec::new(),
            })
        }
        v => Err(Corrupt::Version(v)),
    }
}

/// Parses a state file; what `SimPlatform` used to call, kept for tests.
#[cfg(test)]
fn decode(bytes: &[u8]) -> Result<Slots, Corrupt> {
    decode_any(bytes).map(|d| d.slots)
}

/// One area, if valid: (generation, value).
fn read_area(
    bytes: &[u8],
    slot: usize,
    capacity: usize,
) -> Result<(u64, Option<Vec<u8>>), Option<u64>> {
    let mut r = Reader(bytes);
    let generation = u64::from_be_bytes(r.array().map_err(|_| None)?);
    let claimed = Some(generation);
    let [present] = r.array::<1>().map_err(|_| claimed)?;
    let len_bytes = r.array::<4>().map_err(|_| claimed)?;
    let sum = r.take(CHECKSUM_LEN).map_err(|_| claimed)?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| claimed)?;
    if generation == 0 || len > capacity.saturating_sub(AREA_HEAD) {
        return Err(claimed);
    }
    let data = r.take(len).map_err(|_| claimed)?;
    let slot_byte = [u8::try_from(slot).map_err(|_| claimed)?];
    let want = sha256(&[
        &slot_byte,
        &generation.to_be_bytes(),
        &[present],
        &len_bytes,
        data,
    ]);
    if aws_lc_rs::constant_time::verify_slices_are_equal(&want, sum).is_err() {
        return Err(claimed);
    }
    match present {
        0 if len == 0 => Ok((generation, None)),
        1 => Ok((generation, Some(data.to_vec()))),
        _ => Err(claimed),
    }
}

/// Parses a file of `count` slots (3 for version 3, 2 for version 2).
/// The slots it does not have are left empty, with a default capacity for
/// the rewrite.
fn decode_v2(bytes: &[u8], count: usize) -> Result<Decoded, Corrupt> {
    let header = bytes.get(..HEADER_LEN).ok_or(Corrupt::Short)?;
    let (body, rest) = header.split_at(header_body(count));
    let sum = rest.get(..CHECKSUM_LEN).ok_or(Corrupt::Short)?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(&sha256(&[body]), sum).is_err() {
        return Err(Corrupt::Header);
    }
    let mut r = Reader(body);
    r.take(MAGIC.len() + 2)?;
    if r.array::<2>()? != [u8::try_from(count).map_err(|_| Corrupt::Header)?, 0] {
        return Err(Corrupt::Header);
    }
    let mut capacity = [0usize; N];
    for c in capacity.iter_mut().take(count) {
        let v = usize::try_from(u32::from_be_bytes(r.array()?)).map_err(|_| Corrupt::Header)?;
        if !v.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&v) {
            return Err(Corrupt::Header);
        }
        *c = v;
    }
    let mut layout = Layout {
        capacity,
        generation: [0; N],
        area: [0; N],
    };
    if bytes.len() != layout.file_len() {
        return Err(Corrupt::Length(bytes.len()));
    }
    let mut slots = Slots::default();
    let mut fell_back = Vec::new();
    for (i, slot) in SLOTS.into_iter().enumerate().take(count) {
        let cap = capacity.get(i).copied().ok_or(Corrupt::Header)?;
        let area = |a: usize| {
            let at = layout.offset(i, a);
            bytes
                .get(at..at + cap)
                .map_or(Err(None), |b| read_area(b, i, cap))
        };
        let (a0, a1) = (area(0), area(1));
        let (chosen, value, other) = match (a0, a1) {
            (Ok((g0, v0)), Ok((g1, v1))) => match g0.cmp(&g1) {
                core::cmp::Ordering::Greater => (0, (g0, v0), Ok(g1)),
                core::cmp::Ordering::Less => (1, (g1, v1), Ok(g0)),
                // Two stores never write one generation.
                core::cmp::Ordering::Equal => return Err(Corrupt::NoValidArea(slot)),
            },
            (Ok(v0), Err(claim)) => (0, v0, Err(claim)),
            (Err(claim), Ok(v1)) => (1, v1, Err(claim)),
            (Err(_), Err(_)) => return Err(Corrupt::NoValidArea(slot)),
        };
        let (generation, data) = value;
        if let Err(Some(claim)) = other
            && claim > generation
        {
            fell_back.push(slot);
        }
        if let (Some(g), Some(a)) = (layout.generation.get_mut(i), layout.area.get_mut(i)) {
            *g = generation;
            *a = chosen;
        }
        match slot {
            Slot::Config => slots.config = data,
            Slot::Counters => slots.counters = data,
            Slot::Registry => slots.registry = data,
        }
    }
    for c in capacity.iter_mut().skip(count) {
        *c = DEFAULT_CAPACITY;
    }
    layout.capacity = capacity;
    Ok(Decoded {
        slots,
        layout,
        version: VERSION,
        fell_back,
    })
}

/// Parses a version-1 file (one image, checksum last).
///
/// ```text
/// magic "SAMSIMST" (8) | version u16 = 1 | slot count u8 = 2
/// per slot, Config then Counters: present u8 (0|1) | length u32 | bytes
/// SHA-256 of everything above (32)
/// ```
fn decode_v1(bytes: &[u8]) -> Result<Slots, Corrupt> {
    let body_len = bytes
        .len()
        .checked_sub(CHECKSUM_LEN)
        .ok_or(Corrupt::Short)?;
    let (body, sum) = bytes.split_at(body_len);
    if body.len() < MAGIC.len() + 3 {
        return Err(Corrupt::Short);
    }
    if aws_lc_rs::constant_time::verify_slices_are_equal(&sha256(&[body]), sum).is_err() {
        return Err(Corrupt::Checksum);
    }
    let mut r = Reader(body);
    if r.take(MAGIC.len())? != MAGIC {
        return Err(Corrupt::Magic);
    }
    let version = u16::from_be_bytes(r.array()?);
    if version != VERSION_1 {
        return Err(Corrupt::Version(version));
    }
    if r.array::<1>()? != [OLD_SLOT_COUNT] {
        return Err(Corrupt::Slots);
    }
    let mut slot = || -> Result<Option<Vec<u8>>, Corrupt> {
        let [present] = r.array::<1>()?;
        let len = usize::try_from(u32::from_be_bytes(r.array()?)).map_err(|_| Corrupt::Slots)?;
        if len > MAX_SLOT_LEN_V1 {
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
    Ok(Slots {
        config,
        counters,
        registry: None,
    })
}

/// Why [`StateFile::open`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("cannot read or rewrite the state file: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
}

/// An open version-2 state file, written in place.
#[derive(Debug)]
pub(crate) struct StateFile {
    dir: PathBuf,
    name: String,
    file: File,
    layout: Layout,
    /// The area being written, reused between stores.
    scratch: Vec<u8>,
}

/// What [`StateFile::open`] found besides the slots.
#[derive(Debug, Default)]
pub(crate) struct OpenNotes {
    /// The file was version 1 and has been rewritten as version 2.
    pub migrated: bool,
    /// Slots that fell back to their older area (see the module doc).
    pub fell_back: Vec<Slot>,
}

impl StateFile {
    /// Opens and checks `dir/name`; a version-1 file is rewritten as
    /// version 2 first. Nothing is written to a file that fails a check.
    pub fn open(dir: &Path, name: &str) -> Result<(Self, Slots, OpenNotes), OpenError> {
        let path = dir.join(name);
        let bytes = fs::read(&path)?;
        let decoded = decode_any(&bytes)?;
        let mut notes = OpenNotes {
            migrated: false,
            fell_back: decoded.fell_back,
        };
        let file = if decoded.version != VERSION {
            notes.migrated = true;
            let image = encode_image(
                &decoded.slots,
                decoded.layout.capacity,
                decoded.layout.generation,
            );
            write_atomic_keep(dir, name, &image)?
        } else {
            OpenOptions::new().read(true).write(true).open(&path)?
        };
        Ok((
            Self {
                dir: dir.to_path_buf(),
                name: name.to_owned(),
                file,
                layout: decoded.layout,
                scratch: Vec::new(),
            },
            decoded.slots,
            notes,
        ))
    }

    /// Makes `slot = data` durable; `current` is what every slot holds now
    /// (read only if the file must grow). One `pwrite` and one `fdatasync`
    /// unless `data` outgrows its areas. On error, the caller must not
    /// store again through this handle (see `SimPlatform::store`).
    pub fn store(&mut self, slot: Slot, data: &[u8], current: &Slots) -> io::Result<()> {
        let i = slot_index(slot);
        let cap = self.layout.capacity.get(i).copied().unwrap_or(0);
        let current_gen = self.layout.generation.get(i).copied().unwrap_or(0);
        let generation = current_gen
            .checked_add(1)
            .ok_or_else(|| io::Error::other("generation counter exhausted"))?;
        if AREA_HEAD + data.len() > cap {
            let mut next = current.clone();
            next.set(slot, data);
            return self.grow(&next, i, generation);
        }
        let area = 1 - self.layout.area.get(i).copied().unwrap_or(1).min(1);
        encode_area(&mut self.scratch, i, generation, Some(data));
        let at = u64::try_from(self.layout.offset(i, area)).map_err(io::Error::other)?;
        self.file.write_all_at(&self.scratch, at)?;
        self.file.sync_data()?;
        if let (Some(g), Some(a)) = (
            self.layout.generation.get_mut(i),
            self.layout.area.get_mut(i),
        ) {
            *g = generation;
            *a = area;
        }
        Ok(())
    }

    /// The rare path: rewrites the whole file with areas large enough for
    /// `all`, slot `grown` at `generation`, atomically (temp, fsync,
    /// rename, fsync directory), and continues on the new file.
    fn grow(&mut self, all: &Slots, grown: usize, generation: u64) -> io::Result<()> {
        let capacity = capacities_for(all, self.layout.capacity)
            .ok_or_else(|| io::Error::other("a slot is larger than a state file area can be"))?;
        let mut generations = self.layout.generation;
        if let Some(g) = generations.get_mut(grown) {
            *g = generation;
        }
        let image = encode_image(all, capacity, generations);
        let file = write_atomic_keep(&self.dir, &self.name, &image)?;
        tracing::info!(
            config_area = capacity.first().copied().unwrap_or(0),
            counters_area = capacity.get(1).copied().unwrap_or(0),
            registry_area = capacity.get(2).copied().unwrap_or(0),
            "state file grown"
        );
        self.file = file;
        self.layout = Layout {
            capacity,
            generation: generations,
            area: [0; N],
        };
        Ok(())
    }
}

/// Replaces `dir/name` with `bytes` atomically and durably: write a temp
/// file (mode 0600), fsync it, rename it over the target, fsync the
/// directory. Any failure is returned; none is retried or ignored.
///
/// The temp name is fixed, so callers serialize writes to one target (the
/// platform holds its state lock across the call; the directory lock keeps
/// other processes out).
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    write_atomic_keep(dir, name, bytes).map(drop)
}

/// [`write_atomic`], returning the new file open for reading and writing.
fn write_atomic_keep(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<File> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, &dst)?;
    File::open(dir)?.sync_all()?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Slots {
        Slots {
            config: Some(b"config bytes".to_vec()),
            counters: Some(vec![1, 2, 3]),
            registry: None,
        }
    }

    /// A version-1 file as older simulators wrote it.
    fn encode_v1(slots: &Slots) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION_1.to_be_bytes());
        out.push(OLD_SLOT_COUNT);
        for slot in [&slots.config, &slots.counters] {
            match slot {
                None => {
                    out.push(0);
                    out.extend_from_slice(&0u32.to_be_bytes());
                }
                Some(data) => {
                    out.push(1);
                    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
                    out.extend_from_slice(data);
                }
            }
        }
        let sum = sha256(&[&out]);
        out.extend_from_slice(&sum);
        out
    }

    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Self {
            let d = std::env::temp_dir().join(format!(
                "sam-sim-unit-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            Self(d)
        }

        fn file(&self) -> PathBuf {
            self.0.join("s.bin")
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn open(d: &Dir) -> Result<(StateFile, Slots, OpenNotes), OpenError> {
        StateFile::open(&d.0, "s.bin")
    }

    /// Stores through `f` and keeps `all` in step, as the platform does.
    fn store(f: &mut StateFile, all: &mut Slots, slot: Slot, data: &[u8]) {
        f.store(slot, data, all).unwrap();
        all.set(slot, data);
    }

    #[test]
    fn round_trips_every_slot_combination() {
        for slots in [
            Slots::default(),
            sample(),
            Slots {
                config: None,
                counters: Some(Vec::new()),
                registry: None,
            },
        ] {
            assert_eq!(decode(&encode(&slots)), Ok(slots.clone()));
            assert_eq!(decode(&encode_v1(&slots)), Ok(slots));
        }
    }

    #[test]
    fn the_registry_slot_round_trips_and_survives_reopen() {
        let slots = Slots {
            registry: Some(b"registry".to_vec()),
            ..sample()
        };
        assert_eq!(decode(&encode(&slots)), Ok(slots.clone()));
        let d = Dir::new("registry");
        write_atomic(&d.0, "s.bin", &encode(&sample())).unwrap();
        let (mut f, mut all, _) = open(&d).unwrap();
        store(&mut f, &mut all, Slot::Registry, b"users and keys");
        store(&mut f, &mut all, Slot::Counters, b"counters after");
        drop(f);
        let (_, again, _) = open(&d).unwrap();
        assert_eq!(again.registry.as_deref(), Some(&b"users and keys"[..]));
        assert_eq!(again.counters.as_deref(), Some(&b"counters after"[..]));
        assert_eq!(again.config, sample().config);
    }

    #[test]
    fn stores_survive_reopen_and_alternate_areas() {
        let d = Dir::new("reopen");
        write_atomic(&d.0, "s.bin", &encode(&sample())).unwrap();
        let len = fs::metadata(d.file()).unwrap().len();
        let (mut f, mut all, notes) = open(&d).unwrap();
        assert!(!notes.migrated && notes.fell_back.is_empty());
        assert_eq!(all, sample());
        for i in 0..5u8 {
            store(&mut f, &mut all, Slot::Counters, &[i; 100]);
            assert_eq!(f.layout.area[1], usize::from(i % 2 == 0));
            assert_eq!(f.layout.generation[1], u64::from(i) + 2);
        }
        store(&mut f, &mut all, Slot::Config, b"new config");
        drop(f);
        let (f, back, _) = open(&d).unwrap();
        assert_eq!(back.counters, Some(vec![4; 100]));
        assert_eq!(back.config, Some(b"new config".to_vec()));
        assert_eq!(f.layout.generation, [2, 6, 1]);
        assert_eq!(fs::metadata(d.file()).unwrap().len(), len, "in place");
        assert!(!d.0.join("s.bin.tmp").exists());
    }

    /// A torn write of the newer area (its bytes damaged) falls back to
    /// the older valid one; the next store goes into the damaged area.
    #[test]
    fn a_torn_newer_area_falls_back_to_the_older_one() {
        let d = Dir::new("torn");
        write_atomic(&d.0, "s.bin", &encode(&sample())).unwrap();
        let (mut f, mut all, _) = open(&d).unwrap();
        store(&mut f, &mut all, Slot::Counters, b"older");
        store(&mut f, &mut all, Slot::Counters, b"newer");
        let newer_at = f.layout.offset(1, f.layout.area[1]);
        drop(f);
        for damage in [AREA_HEAD + 2, 9, AREA_HEAD - 1] {
            let mut bytes = fs::read(d.file()).unwrap();
            bytes[newer_at + damage] ^= 0x10;
            let decoded = decode_any(&bytes).unwrap();
            assert_eq!(decoded.slots.counters, Some(b"older".to_vec()), "{damage}");
            assert_eq!(decoded.slots.config, sample().config);
        }
        // On disk: damage, reopen, store again.
        let mut bytes = fs::read(d.file()).unwrap();
        bytes[newer_at + AREA_HEAD] ^= 0x10;
        fs::write(d.file(), &bytes).unwrap();
        let (mut f, mut all, notes) = open(&d).unwrap();
        assert_eq!(notes.fell_back, vec![Slot::Counters]);
        assert_eq!(all.counters, Some(b"older".to_vec()));
        store(&mut f, &mut all, Slot::Counters, b"again");
        drop(f);
        let (_, back, notes) = open(&d).unwrap();
        assert_eq!(back.counters, Some(b"again".to_vec()));
        assert!(notes.fell_back.is_empty());
    }

    #[test]
    fn both_areas_damaged_is_corrupt_and_never_rewritten() {
        let d = Dir::new("both");
        write_atomic(&d.0, "s.bin", &encode(&sample())).unwrap();
        let (mut f, mut all, _) = open(&d).unwrap();
        store(&mut f, &mut all, Slot::Counters, b"second");
        let layout = f.layout;
        drop(f);
        let mut bytes = fs::read(d.file()).unwrap();
        for area in 0..2 {
            bytes[layout.offset(1, area) + AREA_HEAD] ^= 1;
        }
        fs::write(d.file(), &bytes).unwrap();
        assert!(matches!(
            open(&d),
            Err(OpenError::Corrupt(Corrupt::NoValidArea(Slot::Counters)))
        ));
        assert_eq!(fs::read(d.file()).unwrap(), bytes);
        // A config slot with no valid area at all is refused the same way.
        let mut bytes = encode(&sample());
        bytes[HEADER_LEN] ^= 1;
        assert_eq!(decode(&bytes), Err(Corrupt::NoValidArea(Slot::Config)));
    }

    #[test]
    fn header_length_and_version_damage_is_refused() {
        let good = encode(&sample());
        for i in 0..header_body(N) + CHECKSUM_LEN {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "flip at header byte {i} accepted");
        }
        for n in [0, 5, 10, HEADER_LEN, good.len() - 1] {
            assert!(decode(&good[..n]).is_err(), "truncated to {n} accepted");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(Corrupt::Length(good.len() + 1)));
        let mut v4 = good;
        v4[9] = 4;
        assert_eq!(decode(&v4), Err(Corrupt::Version(4)));
    }

    #[test]
    fn a_slot_outgrowing_its_area_grows_the_file() {
        let d = Dir::new("grow");
        write_atomic(&d.0, "s.bin", &encode(&sample())).unwrap();
        let (mut f, mut all, _) = open(&d).unwrap();
        store(&mut f, &mut all, Slot::Counters, b"small");
        let big = vec![7u8; DEFAULT_CAPACITY + 1000];
        store(&mut f, &mut all, Slot::Counters, &big);
        assert!(f.layout.capacity[1] > DEFAULT_CAPACITY);
        assert_eq!(f.layout.capacity[0], DEFAULT_CAPACITY);
        // Later stores go in place into the new file.
        store(&mut f, &mut all, Slot::Counters, b"after growth");
        store(&mut f, &mut all, Slot::Config, b"config after growth");
        drop(f);
        let (f, back, _) = open(&d).unwrap();
        assert_eq!(back.counters, Some(b"after growth".to_vec()));
        assert_eq!(back.config, Some(b"config after growth".to_vec()));
        assert_eq!(f.layout.generation, [2, 4, 1]);
        assert!(!d.0.join("s.bin.tmp").exists());
        // Beyond the largest area: an error, nothing changed.
        let (mut f, all, _) = open(&d).unwrap();
        let huge = vec![0u8; MAX_CAPACITY];
        let before = fs::read(d.file()).unwrap();
        assert!(f.store(Slot::Counters, &huge, &all).is_err());
        assert_eq!(fs::read(d.file()).unwrap(), before);
    }

    /// Older simulators' files load and are rewritten as version 2; a
    /// damaged version-1 file is refused and left alone.
    #[test]
    fn a_version_1_file_is_migrated() {
        let d = Dir::new("v1");
        fs::write(d.file(), encode_v1(&sample())).unwrap();
        let (mut f, mut all, notes) = open(&d).unwrap();
        assert!(notes.migrated);
        assert_eq!(all, sample());
        store(&mut f, &mut all, Slot::Counters, b"v2 now");
        drop(f);
        let bytes = fs::read(d.file()).unwrap();
        assert_eq!(&bytes[8..10], &VERSION.to_be_bytes());
        let (_, back, notes) = open(&d).unwrap();
        assert!(!notes.migrated);
        assert_eq!(back.counters, Some(b"v2 now".to_vec()));

        let mut bad = encode_v1(&sample());
        let last = bad.len() - 1;
        bad[last] ^= 1;
        fs::write(d.file(), &bad).unwrap();
        assert!(matches!(
            open(&d),
            Err(OpenError::Corrupt(Corrupt::Checksum))
        ));
        assert_eq!(fs::read(d.file()).unwrap(), bad);
    }

    #[test]
    fn every_v1_truncation_and_every_bit_flip_is_refused() {
        let good = encode_v1(&sample());
        for n in 0..good.len() {
            assert!(decode(&good[..n]).is_err(), "truncated to {n} accepted");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "flip at byte {i} accepted");
        }
    }

    /// A v1 body with a correct checksum but a bad structure is still
    /// refused (the checksum is not the only check).
    #[test]
    fn v1_structural_errors_behind_a_valid_checksum_are_refused() {
        fn seal(mut body: Vec<u8>) -> Vec<u8> {
            let sum = sha256(&[&body]);
            body.extend_from_slice(&sum);
            body
        }
        let good = encode_v1(&sample());
        let body = good[..good.len() - CHECKSUM_LEN].to_vec();

        let mut magic = body.clone();
        magic[0] = b'X';
        assert_eq!(decode(&seal(magic)), Err(Corrupt::Magic));

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
        let d = Dir::new("atomic");
        write_atomic(&d.0, "x.bin", b"one")?;
        write_atomic(&d.0, "x.bin", b"two")?;
        assert_eq!(fs::read(d.0.join("x.bin"))?, b"two");
        assert!(!d.0.join("x.bin.tmp").exists());
        Ok(())
    }
}

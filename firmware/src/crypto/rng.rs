//! The platform RNG in the shape RustCrypto wants.

use crate::platform::PlatformError;
use core::convert::Infallible;
use rand_core::{TryCryptoRng, TryRng};

/// Draws from the platform RNG.
///
/// RustCrypto's key generation wants an infallible RNG, but a platform RNG
/// can fail. So a failure is remembered here: [`FirmwareRng::failed`] turns
/// true, and the firmware discards whatever the crypto computed and answers
/// `NotOperational`. Nothing made with a failed draw ever leaves the
/// firmware. The bytes handed out after a failure come from a plain
/// xorshift stream rather than zeros, only so that a prime search that
/// keeps drawing still terminates; they are never secret and never used.
pub struct FirmwareRng<'a> {
    source: &'a (dyn Fn(&mut [u8]) -> Result<(), PlatformError> + Sync),
    failed: bool,
    filler: u64,
}

impl core::fmt::Debug for FirmwareRng<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FirmwareRng")
            .field("failed", &self.failed)
            .finish()
    }
}

impl<'a> FirmwareRng<'a> {
    /// Wraps a platform RNG function.
    pub fn new(source: &'a (dyn Fn(&mut [u8]) -> Result<(), PlatformError> + Sync)) -> Self {
        Self {
            source,
            failed: false,
            filler: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Whether any draw failed.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Fills `buf`, reporting failure directly (for the firmware's own use).
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<(), PlatformError> {
        let r = if self.failed {
            Err(PlatformError)
        } else {
            (self.source)(buf)
        };
        if r.is_err() {
            self.failed = true;
            for b in buf.iter_mut() {
                self.filler ^= self.filler << 13;
                self.filler ^= self.filler >> 7;
                self.filler ^= self.filler << 17;
                *b = self.filler.to_le_bytes()[0];
            }
        }
        r
    }
}

impl TryRng for FirmwareRng<'_> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        let _ = self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        let _ = self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let _ = self.fill(dst);
        Ok(())
    }
}

impl TryCryptoRng for FirmwareRng<'_> {}

//! Randomness from the aws-lc-rs provider that rustls uses.

use crate::DevPkiError;
use x509_cert::serial_number::SerialNumber;

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], DevPkiError> {
    let mut out = [0u8; N];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut out)
        .map_err(|_| DevPkiError::Crypto("the RNG failed".into()))?;
    Ok(out)
}

/// A random positive 16-byte certificate serial number.
pub(crate) fn serial() -> Result<SerialNumber, DevPkiError> {
    let mut b = bytes::<16>()?;
    // Positive, and no leading zero octet to strip.
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&b)?)
}

//! Module keys, derived from the Master Backup Key.
//!
//! Nothing here is stored: every boot re-derives the keys from the MBK slot,
//! so the only long-term secret is the MBK itself, which the HSM protects.
//! Each key has its own HKDF label, so a key compromised in one role (say
//! the record MAC key) says nothing about the others.

use crate::crypto::{Crypto, CryptoError, SymmetricKey};
use alloc::vec::Vec;
use zeroize::Zeroizing;

/// HKDF salt: fixed, names the scheme and its version.
const SALT: &[u8] = b"sam/module-keys/v1";

/// The keys the firmware works with.
pub struct ModuleKeys {
    /// AES-256-GCM key that wraps signer keys.
    pub wrap: SymmetricKey,
    /// HMAC key of user records.
    pub record: SymmetricKey,
    /// HMAC key of audit records and audit cursors.
    pub audit: SymmetricKey,
    /// PKCS#8 of the P-256 attestation key.
    pub attestation_private: Zeroizing<Vec<u8>>,
    /// SPKI of the attestation key.
    pub attestation_spki: Vec<u8>,
}

impl core::fmt::Debug for ModuleKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ModuleKeys(..)")
    }
}

/// HKDF-SHA-256 (RFC 5869) with one output block, computed with the
/// platform's HMAC so that the MBK never meets a second HMAC
/// implementation.
fn hkdf<C: Crypto + ?Sized>(crypto: &C, mbk: &[u8; 32], label: &[u8]) -> SymmetricKey {
    let salt = crate::crypto::sha256(crypto, &[SALT]);
    let prk = Zeroizing::new(crypto.hmac_sha256(&salt, &[mbk]));
    Zeroizing::new(crypto.hmac_sha256(&prk, &[label, &[1]]))
}

impl ModuleKeys {
    /// Derives every module key from the MBK.
    pub fn derive<C: Crypto + ?Sized>(crypto: &C, mbk: &[u8; 32]) -> Result<Self, CryptoError> {
        let attestation_seed = hkdf(crypto, mbk, b"attestation");
        let attestation = crypto.derive_p256(&attestation_seed)?;
        Ok(Self {
            wrap: hkdf(crypto, mbk, b"wrap"),
            record: hkdf(crypto, mbk, b"user-record"),
            audit: hkdf(crypto, mbk, b"audit"),
            attestation_private: attestation.private_pkcs8,
            attestation_spki: attestation.public_spki,
        })
    }
}

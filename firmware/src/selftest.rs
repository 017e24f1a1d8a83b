//! Power-on self-tests (known answers), run by [`crate::core::Firmware::boot`].
//!
//! A failure puts the firmware in the Failed state for the life of the
//! process: every request is then answered NotOperational. The answers are
//! published test vectors (FIPS 180-2 "abc", RFC 4231 case 2, the GCM
//! spec's zero-key case with added associated data, recomputed with an
//! independent library); the signature test is a pairwise consistency test
//! on a key derived from a fixed seed, with a corrupted-digest negative.

use crate::crypto::{Crypto, FirmwareRng};
use crate::platform::PlatformError;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};

/// A self-test gave a wrong answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfTestFailed(pub &'static str);

const SHA256_ABC: [u8; 32] = [
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
];
const HMAC_JEFE: [u8; 32] = [
    0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
    0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
];
/// AES-256-GCM, zero key and nonce, 16 zero bytes, AAD "sam": ciphertext ‖ tag.
const GCM_ZERO: [u8; 32] = [
    0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e, 0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18,
    0x33, 0x1c, 0x60, 0x5b, 0x39, 0x84, 0x30, 0x32, 0xb5, 0x3a, 0x07, 0x2e, 0x3f, 0x31, 0x70, 0x3a,
];

fn check(ok: bool, what: &'static str) -> Result<(), SelfTestFailed> {
    if ok {
        Ok(())
    } else {
        Err(SelfTestFailed(what))
    }
}

/// Runs every known-answer test against `crypto`.
pub fn run<C: Crypto + ?Sized>(crypto: &C) -> Result<(), SelfTestFailed> {
    let d = crypto.digest(HashAlgorithm::Sha256, &[b"a", b"bc"]);
    check(d.as_bytes() == SHA256_ABC, "SHA-256")?;

    let mut key = [0u8; 32];
    key[..4].copy_from_slice(b"Jefe");
    let mac = crypto.hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"]);
    check(mac == HMAC_JEFE, "HMAC-SHA-256")?;

    let ct = crypto
        .aead_seal(&[0; 32], &[0; 12], b"sam", &[0; 16])
        .map_err(|_| SelfTestFailed("AES-GCM seal"))?;
    check(ct == GCM_ZERO, "AES-GCM seal")?;
    let pt = crypto
        .aead_open(&[0; 32], &[0; 12], b"sam", &ct)
        .map_err(|_| SelfTestFailed("AES-GCM open"))?;
    check(pt.as_slice() == [0u8; 16], "AES-GCM open")?;
    check(
        crypto.aead_open(&[0; 32], &[0; 12], b"sAm", &ct).is_err(),
        "AES-GCM tag",
    )?;

    let pair = crypto
        .derive_p256(&[7; 32])
        .map_err(|_| SelfTestFailed("P-256 derive"))?;
    let fixed = |buf: &mut [u8]| -> Result<(), PlatformError> {
        buf.iter_mut().for_each(|b| *b = 0x5a);
        Ok(())
    };
    let mut rng = FirmwareRng::new(&fixed);
    let sig = crypto
        .sign(
            &pair.private_pkcs8,
            KeyAlgorithm::EcP256,
            HashAlgorithm::Sha256,
            &SHA256_ABC,
            &mut rng,
        )
        .map_err(|_| SelfTestFailed("ECDSA sign"))?;
    check(
        crypto
            .verify(&pair.public_spki, HashAlgorithm::Sha256, &SHA256_ABC, &sig)
            .is_ok(),
        "ECDSA verify",
    )?;
    check(
        crypto
            .verify(&pair.public_spki, HashAlgorithm::Sha256, &HMAC_JEFE, &sig)
            .is_err(),
        "ECDSA verify rejects",
    )?;
    Ok(())
}

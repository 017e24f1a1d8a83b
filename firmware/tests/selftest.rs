#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The boot self-tests catch an engine that is wrong in any one primitive.
//!
//! Each case wraps the portable engine and breaks exactly one of its
//! answers (a flipped bit, or a refusal); the known-answer tests must
//! fail and name the primitive. The firmware then stays in the Failed
//! state (`Firmware::boot` turns any self-test failure into it).

use sam_firmware::crypto::portable::Portable;
use sam_firmware::crypto::{Crypto, CryptoError, Digest, FirmwareRng, GeneratedKey};
use sam_firmware::selftest::{SelfTestFailed, run};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use zeroize::Zeroizing;

/// Which primitive to break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Digest,
    Hmac,
    Seal,
    Open,
    OpenAcceptsAnything,
    Derive,
    Sign,
    Verify,
    VerifyAcceptsAnything,
}

struct Faulty(Fault);

fn flip(mut v: Vec<u8>) -> Vec<u8> {
    if let Some(b) = v.last_mut() {
        *b ^= 1;
    }
    v
}

impl Crypto for Faulty {
    fn digest(&self, alg: HashAlgorithm, parts: &[&[u8]]) -> Digest {
        let d = Portable.digest(alg, parts);
        if self.0 == Fault::Digest {
            Digest::new(&flip(d.as_bytes().to_vec())).unwrap()
        } else {
            d
        }
    }

    fn hmac_sha256(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = Portable.hmac_sha256(key, parts);
        if self.0 == Fault::Hmac {
            m[0] ^= 0x80;
        }
        m
    }

    fn aead_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let ct = Portable.aead_seal(key, nonce, aad, plaintext)?;
        Ok(if self.0 == Fault::Seal { flip(ct) } else { ct })
    }

    fn aead_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match self.0 {
            Fault::Open => Err(CryptoError),
            Fault::OpenAcceptsAnything => Ok(Zeroizing::new(vec![0; 16])),
            _ => Portable.aead_open(key, nonce, aad, ciphertext),
        }
    }

    fn verify(
        &self,
        spki: &[u8],
        hash: HashAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        match self.0 {
            Fault::Verify => Err(CryptoError),
            Fault::VerifyAcceptsAnything => Ok(()),
            _ => Portable.verify(spki, hash, digest, signature),
        }
    }

    fn generate(
        &self,
        alg: KeyAlgorithm,
        rng: &mut FirmwareRng<'_>,
    ) -> Result<GeneratedKey, CryptoError> {
        Portable.generate(alg, rng)
    }

    fn sign(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digest: &[u8],
        rng: &mut FirmwareRng<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        let sig = Portable.sign(private_pkcs8, alg, hash, digest, rng)?;
        Ok(if self.0 == Fault::Sign {
            flip(sig)
        } else {
            sig
        })
    }

    fn derive_p256(&self, seed: &[u8; 32]) -> Result<GeneratedKey, CryptoError> {
        if self.0 == Fault::Derive {
            return Err(CryptoError);
        }
        Portable.derive_p256(seed)
    }
}

#[test]
fn a_sound_engine_passes() {
    assert_eq!(run(&Faulty(Fault::None)), Ok(()));
    assert_eq!(run(&Portable), Ok(()));
}

#[test]
fn every_broken_primitive_fails_the_self_test_and_is_named() {
    for (fault, named) in [
        (Fault::Digest, "SHA-256"),
        (Fault::Hmac, "HMAC-SHA-256"),
        (Fault::Seal, "AES-GCM seal"),
        (Fault::Open, "AES-GCM open"),
        (Fault::OpenAcceptsAnything, "AES-GCM tag"),
        (Fault::Derive, "P-256 derive"),
        (Fault::Sign, "ECDSA verify"),
        (Fault::Verify, "ECDSA verify"),
        (Fault::VerifyAcceptsAnything, "ECDSA verify rejects"),
    ] {
        assert_eq!(run(&Faulty(fault)), Err(SelfTestFailed(named)), "{fault:?}");
    }
}

//! The crypto interface the firmware calls, and its portable implementation.
//!
//! Every primitive goes through [`Crypto`] so that a real HSM can plug in its
//! accelerated engine. The interface is deliberately narrow: keys cross it as
//! DER (SubjectPublicKeyInfo, PKCS#8), hashes as prehashed bytes. Whatever
//! engine is plugged in must pass the same known-answer and Wycheproof
//! tests as [`portable::Portable`].

pub mod portable;
pub mod rng;

use alloc::vec::Vec;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use zeroize::Zeroizing;

pub use rng::FirmwareRng;

/// A crypto operation failed. Deliberately without detail: a bad tag, a bad
/// key and a bad signature look the same to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CryptoError;

/// A digest, at most 64 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    bytes: [u8; 64],
    len: usize,
}

impl Digest {
    /// Copies a digest of at most 64 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut d = Self {
            bytes: [0; 64],
            len: bytes.len(),
        };
        d.bytes
            .get_mut(..bytes.len())
            .ok_or(CryptoError)?
            .copy_from_slice(bytes);
        Ok(d)
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// A symmetric 256-bit key (AEAD or MAC), zeroized on drop.
pub type SymmetricKey = Zeroizing<[u8; 32]>;

/// A freshly generated key pair.
#[derive(Debug)]
pub struct GeneratedKey {
    /// PKCS#8 DER of the private key, zeroized on drop.
    pub private_pkcs8: Zeroizing<Vec<u8>>,
    /// DER SubjectPublicKeyInfo.
    pub public_spki: Vec<u8>,
}

/// The primitives the firmware uses.
pub trait Crypto: Send + Sync {
    /// A digest of the concatenation of `parts`.
    fn digest(&self, alg: HashAlgorithm, parts: &[&[u8]]) -> Digest;

    /// HMAC-SHA-256 of the concatenation of `parts`.
    fn hmac_sha256(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32];

    /// AES-256-GCM encryption; the tag is appended.
    fn aead_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// AES-256-GCM decryption of ciphertext with the tag appended.
    fn aead_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError>;

    /// Verifies `signature` over the prehashed `digest` (made with `hash`)
    /// with the key in `spki` (DER SubjectPublicKeyInfo).
    ///
    /// EC keys (P-256, P-384) take DER ECDSA signatures; RSA keys (2048 to
    /// 4096 bits) take PKCS#1 v1.5 signatures whose DigestInfo must name
    /// `hash`.
    fn verify(
        &self,
        spki: &[u8],
        hash: HashAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError>;

    /// Generates a key pair.
    fn generate(
        &self,
        alg: KeyAlgorithm,
        rng: &mut FirmwareRng<'_>,
    ) -> Result<GeneratedKey, CryptoError>;

    /// Signs the prehashed `digest` with a PKCS#8 key of type `alg`: DER
    /// ECDSA for EC keys, PKCS#1 v1.5 for RSA, always with RSA blinding.
    fn sign(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digest: &[u8],
        rng: &mut FirmwareRng<'_>,
    ) -> Result<Vec<u8>, CryptoError>;

    /// Signs every digest of `digests` (each prehashed with `hash`) with
    /// one PKCS#8 key of type `alg`, handing the signatures to `out` in the
    /// order of `digests`; the first error stops the batch and is returned.
    ///
    /// This is how the signing operation signs a SAD's 1 to 128 hashes:
    /// one call per request. An engine that parses and checks the key on
    /// every [`Crypto::sign`] can parse it once here instead and sign the
    /// whole batch with it, which saves `n - 1` parses for `n` hashes.
    ///
    /// Security: the parsed key exists only inside this call, that is
    /// inside the one request that unwrapped (activated) it, and must be
    /// dropped, wiped where the engine's types allow it, before this
    /// returns; the caller then wipes the PKCS#8 bytes before any answer is
    /// built. That is the same lifetime the key had when each hash was
    /// signed by its own [`Crypto::sign`]: nothing survives the request, and
    /// nothing is cached between requests or between users.
    ///
    /// `out` is where the caller enforces its own bounds (the firmware
    /// pushes into a list of at most 128 signatures and refuses more). The
    /// default implementation calls [`Crypto::sign`] once per digest, so
    /// an engine that does not override it behaves exactly as before.
    #[allow(clippy::too_many_arguments)]
    fn sign_many(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digests: &[&[u8]],
        rng: &mut FirmwareRng<'_>,
        out: &mut dyn FnMut(Vec<u8>) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        for digest in digests {
            out(self.sign(private_pkcs8, alg, hash, digest, rng)?)?;
        }
        Ok(())
    }

    /// Derives a P-256 key from 32 bytes of key material and returns its
    /// PKCS#8 and SPKI (the attestation key is derived from the MBK).
    fn derive_p256(&self, seed: &[u8; 32]) -> Result<GeneratedKey, CryptoError>;
}

/// SHA-256 of the concatenation of `parts`, as a fixed array: the form
/// every MAC input, fingerprint and approval digest of the firmware uses.
pub fn sha256<C: Crypto + ?Sized>(crypto: &C, parts: &[&[u8]]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Some(src) = crypto
        .digest(HashAlgorithm::Sha256, parts)
        .as_bytes()
        .get(..32)
    {
        out.copy_from_slice(src);
    }
    out
}

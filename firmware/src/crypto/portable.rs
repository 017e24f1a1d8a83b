//! The reference crypto engine: RustCrypto, pure Rust, runs anywhere.
//!
//! RSA comes from the `rsa` 0.10 line, whose arithmetic is constant-time
//! (the 0.9 line is affected by RUSTSEC-2023-0071, the Marvin timing attack).
//! Signing always goes through `sign_with_rng`, which blinds the private
//! operation; without an RNG the crate would not blind.

use super::{Crypto, CryptoError, Digest, FirmwareRng, GeneratedKey};
use crate::signing_alg::{SpkiKind, spki_kind};
use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use alloc::vec::Vec;
use crypto_common::Generate;
use hmac::{Hmac, Mac};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use sha2::{Sha256, Sha384, Sha512};
use signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use zeroize::Zeroizing;

/// Smallest RSA modulus accepted for verification (identity tokens, SADs).
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted anywhere.
const MAX_RSA_BITS: usize = 4096;

/// A parsed signer key. Each variant wipes its secret on drop: the ecdsa
/// crate's `SigningKey` zeroizes its scalar, and `rsa`'s `RsaPrivateKey`
/// zeroizes its private exponent, primes and CRT values.
enum SignerKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(RsaPrivateKey),
}

impl SignerKey {
    /// Parses a PKCS#8 key of type `alg`; an RSA key must be exactly the
    /// size its metadata claims.
    fn parse(pkcs8: &[u8], alg: KeyAlgorithm) -> Result<Self, CryptoError> {
        Ok(match alg {
            KeyAlgorithm::EcP256 => {
                Self::P256(p256::ecdsa::SigningKey::from_pkcs8_der(pkcs8).map_err(|_| CryptoError)?)
            }
            KeyAlgorithm::EcP384 => {
                Self::P384(p384::ecdsa::SigningKey::from_pkcs8_der(pkcs8).map_err(|_| CryptoError)?)
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let key = RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|_| CryptoError)?;
                if Some(modulus_bits(&key)) != alg.rsa_bits() {
                    return Err(CryptoError);
                }
                Self::Rsa(key)
            }
        })
    }

    /// Signs one prehashed `digest` made with `hash`: DER ECDSA, or
    /// PKCS#1 v1.5 with blinding.
    fn sign(
        &self,
        hash: HashAlgorithm,
        digest: &[u8],
        rng: &mut FirmwareRng<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        if digest.len() != hash.output_len() {
            return Err(CryptoError);
        }
        match self {
            Self::P256(key) => {
                let sig: p256::ecdsa::DerSignature = key
                    .sign_prehash_with_rng(rng, digest)
                    .map_err(|_| CryptoError)?;
                Ok(sig.as_bytes().to_vec())
            }
            Self::P384(key) => {
                let sig: p384::ecdsa::DerSignature = key
                    .sign_prehash_with_rng(rng, digest)
                    .map_err(|_| CryptoError)?;
                Ok(sig.as_bytes().to_vec())
            }
            Self::Rsa(key) => key
                .sign_with_rng(rng, pkcs1v15(hash), digest)
                .map_err(|_| CryptoError),
        }
    }
}

/// The portable engine. Stateless.
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

fn pkcs1v15(hash: HashAlgorithm) -> Pkcs1v15Sign {
    match hash {
        HashAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        HashAlgorithm::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
        HashAlgorithm::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
    }
}

/// The bit length of an RSA modulus.
///
/// Not `n_bits_precision`: that is the limb-aligned storage width, so a
/// 1985- to 2047-bit modulus reads as 2048 and would pass the policy.
fn modulus_bits<K: rsa::traits::PublicKeyParts>(key: &K) -> usize {
    key.n().bits() as usize
}

fn rsa_public(spki: &[u8]) -> Result<RsaPublicKey, CryptoError> {
    let key = RsaPublicKey::from_public_key_der(spki).map_err(|_| CryptoError)?;
    let bits = modulus_bits(&key);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(CryptoError);
    }
    Ok(key)
}

fn feed<D: sha2::Digest>(parts: &[&[u8]]) -> Result<Digest, CryptoError> {
    let mut h = D::new();
    for p in parts {
        h.update(p);
    }
    Digest::new(&h.finalize())
}

impl Crypto for Portable {
    fn digest(&self, alg: HashAlgorithm, parts: &[&[u8]]) -> Digest {
        let d = match alg {
            HashAlgorithm::Sha256 => feed::<Sha256>(parts),
            HashAlgorithm::Sha384 => feed::<Sha384>(parts),
            HashAlgorithm::Sha512 => feed::<Sha512>(parts),
        };
        // Every output is at most 64 bytes, so `Digest::new` cannot fail.
        d.unwrap_or(Digest {
            bytes: [0; 64],
            len: 0,
        })
    }

    fn hmac_sha256(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts any key length, so this cannot fail for 32 bytes.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
            return [0; 32];
        };
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    fn aead_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        Aes256Gcm::new(key.into())
            .encrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError)
    }

    fn aead_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Aes256Gcm::new(key.into())
            .decrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError)
    }

    fn verify(
        &self,
        spki: &[u8],
        hash: HashAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if digest.len() != hash.output_len() {
            return Err(CryptoError);
        }
        match spki_kind(spki)? {
            SpkiKind::P256 => {
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki)
                    .map_err(|_| CryptoError)?;
                let sig =
                    p256::ecdsa::DerSignature::try_from(signature).map_err(|_| CryptoError)?;
                key.verify_prehash(digest, &sig).map_err(|_| CryptoError)
            }
            SpkiKind::P384 => {
                let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki)
                    .map_err(|_| CryptoError)?;
                let sig =
                    p384::ecdsa::DerSignature::try_from(signature).map_err(|_| CryptoError)?;
                key.verify_prehash(digest, &sig).map_err(|_| CryptoError)
            }
            SpkiKind::Rsa => rsa_public(spki)?
                .verify(pkcs1v15(hash), digest, signature)
                .map_err(|_| CryptoError),
        }
    }

    fn generate(
        &self,
        alg: KeyAlgorithm,
        rng: &mut FirmwareRng<'_>,
    ) -> Result<GeneratedKey, CryptoError> {
        match alg {
            KeyAlgorithm::EcP256 => {
                let key = <p256::ecdsa::SigningKey as Generate>::generate_from_rng(rng);
                ec_pair(&key, key.verifying_key())
            }
            KeyAlgorithm::EcP384 => {
                let key = <p384::ecdsa::SigningKey as Generate>::generate_from_rng(rng);
                ec_pair(&key, key.verifying_key())
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits = alg.rsa_bits().ok_or(CryptoError)?;
                let key = RsaPrivateKey::new(rng, bits).map_err(|_| CryptoError)?;
                let private_pkcs8 = Zeroizing::new(
                    key.to_pkcs8_der()
                        .map_err(|_| CryptoError)?
                        .as_bytes()
                        .to_vec(),
                );
                let public_spki = key
                    .to_public_key()
                    .to_public_key_der()
                    .map_err(|_| CryptoError)?
                    .into_vec();
                Ok(GeneratedKey {
                    private_pkcs8,
                    public_spki,
                })
            }
        }
    }

    fn sign(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digest: &[u8],
        rng: &mut FirmwareRng<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        if digest.len() != hash.output_len() {
            return Err(CryptoError);
        }
        SignerKey::parse(private_pkcs8, alg)?.sign(hash, digest, rng)
    }

    /// Parses the key once for the whole batch (an RSA parse checks the
    /// key and precomputes its CRT values, dearer than a signature). The
    /// parsed key is a local of this call, dropped and wiped (see
    /// [`SignerKey`]) before it returns, on success and on error alike.
    fn sign_many(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digests: &[&[u8]],
        rng: &mut FirmwareRng<'_>,
        out: &mut dyn FnMut(Vec<u8>) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        if digests.iter().any(|d| d.len() != hash.output_len()) {
            return Err(CryptoError);
        }
        let key = SignerKey::parse(private_pkcs8, alg)?;
        for digest in digests {
            out(key.sign(hash, digest, rng)?)?;
        }
        drop(key);
        Ok(())
    }

    fn derive_p256(&self, seed: &[u8; 32]) -> Result<GeneratedKey, CryptoError> {
        let key = p256::ecdsa::SigningKey::from_slice(seed).map_err(|_| CryptoError)?;
        ec_pair(&key, key.verifying_key())
    }
}

fn ec_pair<K: EncodePrivateKey, V: EncodePublicKey>(
    key: &K,
    public: &V,
) -> Result<GeneratedKey, CryptoError> {
    let private_pkcs8 = Zeroizing::new(
        key.to_pkcs8_der()
            .map_err(|_| CryptoError)?
            .as_bytes()
            .to_vec(),
    );
    let public_spki = public
        .to_public_key_der()
        .map_err(|_| CryptoError)?
        .into_vec();
    Ok(GeneratedKey {
        private_pkcs8,
        public_spki,
    })
}

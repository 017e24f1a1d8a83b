//! The simulator's crypto engine: aws-lc-rs, or the firmware's portable one.
//!
//! A CP5 module calls the HSM's accelerated crypto instead of carrying its
//! own (DESIGN §1). The simulator plays that part with aws-lc-rs, the
//! provider rustls uses, and keeps a switch to the firmware's portable
//! RustCrypto engine so that either can be run behind the same firmware.
//!
//! The two engines are interchangeable, not merely similar: keys cross the
//! [`Crypto`] interface as DER (SubjectPublicKeyInfo, PKCS#8 v1) in the
//! same conventions, so a key generated and wrapped under one engine opens
//! and signs under the other, and the MBK-derived attestation key is the
//! same on both (`derive_p256` is the portable engine's on both). The tests
//! in `tests/crypto_equivalence.rs` and `tests/wycheproof_awslc.rs` hold
//! them to that.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest::{self as lc_digest, SHA256, SHA384, SHA512};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as lc_sig, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use der::Decode;
use sam_firmware::crypto::portable::Portable;
use sam_firmware::crypto::{Crypto, CryptoError, Digest, FirmwareRng, GeneratedKey};
use sam_firmware::signing_alg::{SpkiKind, spki_kind};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use zeroize::Zeroizing;

/// Smallest RSA modulus accepted for verification, as in the portable
/// engine (`firmware/src/crypto/portable.rs`).
const MIN_RSA_BITS: u32 = 2048;
/// Largest RSA modulus accepted anywhere. aws-lc's own PKCS#1 parameters
/// accept up to 8192 bits, so the firmware's policy is enforced here.
const MAX_RSA_BITS: u32 = 4096;

/// Which crypto engine the simulated HSM uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CryptoBackend {
    /// aws-lc-rs: the accelerated engine, standing in for the HSM's.
    #[default]
    AwsLc,
    /// The firmware's portable RustCrypto engine (the reference).
    Portable,
}

impl CryptoBackend {
    /// The name used on the command line and in logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AwsLc => "aws-lc",
            Self::Portable => "portable",
        }
    }
}

impl core::fmt::Display for CryptoBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl core::str::FromStr for CryptoBackend {
    type Err = crate::SimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aws-lc" => Ok(Self::AwsLc),
            "portable" => Ok(Self::Portable),
            other => Err(crate::SimError::BadBackend(other.to_owned())),
        }
    }
}

/// The crypto engine of a [`crate::SimPlatform`]: one of the two back-ends.
#[derive(Clone, Copy, Debug)]
pub enum SimCrypto {
    /// aws-lc-rs.
    AwsLc(AwsLcCrypto),
    /// The firmware's portable engine.
    Portable(Portable),
}

impl SimCrypto {
    /// The engine for `backend`.
    pub fn new(backend: CryptoBackend) -> Self {
        match backend {
            CryptoBackend::AwsLc => Self::AwsLc(AwsLcCrypto),
            CryptoBackend::Portable => Self::Portable(Portable),
        }
    }

    /// Which back-end this is.
    pub fn backend(&self) -> CryptoBackend {
        match self {
            Self::AwsLc(_) => CryptoBackend::AwsLc,
            Self::Portable(_) => CryptoBackend::Portable,
        }
    }

    fn engine(&self) -> &dyn Crypto {
        match self {
            Self::AwsLc(c) => c,
            Self::Portable(c) => c,
        }
    }
}

impl Crypto for SimCrypto {
    fn digest(&self, alg: HashAlgorithm, parts: &[&[u8]]) -> Digest {
        self.engine().digest(alg, parts)
    }

    fn hmac_sha256(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        self.engine().hmac_sha256(key, parts)
    }

    fn aead_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.engine().aead_seal(key, nonce, aad, plaintext)
    }

    fn aead_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.engine().aead_open(key, nonce, aad, ciphertext)
    }

    fn verify(
        &self,
        spki: &[u8],
        hash: HashAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.engine().verify(spki, hash, digest, signature)
    }

    fn generate(
        &self,
        alg: KeyAlgorithm,
        rng: &mut FirmwareRng<'_>,
    ) -> Result<GeneratedKey, CryptoError> {
        self.engine().generate(alg, rng)
    }

    fn sign(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digest: &[u8],
        rng: &mut FirmwareRng<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        self.engine().sign(private_pkcs8, alg, hash, digest, rng)
    }

    // Forwarded, not left to the default: the default would call
    // `SimCrypto::sign` per digest and so bypass the engine's batch path.
    fn sign_many(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digests: &[&[u8]],
        rng: &mut FirmwareRng<'_>,
        out: &mut dyn FnMut(Vec<u8>) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        self.engine()
            .sign_many(private_pkcs8, alg, hash, digests, rng, out)
    }

    fn derive_p256(&self, seed: &[u8; 32]) -> Result<GeneratedKey, CryptoError> {
        self.engine().derive_p256(seed)
    }
}

/// The aws-lc-rs engine. Stateless.
///
/// Randomness: aws-lc draws key-generation and ECDSA nonces from its own
/// DRBG, seeded from the OS, and ignores the firmware's [`FirmwareRng`].
/// That is the same source the simulator's platform RNG reads
/// (`aws_lc_rs::rand`), so nothing weaker is used; it is also what an HSM
/// engine does (its RNG is the HSM's own). RSA private operations are
/// blinded by aws-lc by default.
#[derive(Clone, Copy, Debug, Default)]
pub struct AwsLcCrypto;

fn digest_alg(hash: HashAlgorithm) -> &'static lc_digest::Algorithm {
    match hash {
        HashAlgorithm::Sha256 => &SHA256,
        HashAlgorithm::Sha384 => &SHA384,
        HashAlgorithm::Sha512 => &SHA512,
    }
}

/// The verification algorithm for an EC key and a hash. aws-lc checks the
/// curve of the key against it.
fn ecdsa_verify_alg(
    kind: SpkiKind,
    hash: HashAlgorithm,
) -> Option<&'static lc_sig::EcdsaVerificationAlgorithm> {
    Some(match (kind, hash) {
        (SpkiKind::P256, HashAlgorithm::Sha256) => &lc_sig::ECDSA_P256_SHA256_ASN1,
        (SpkiKind::P256, HashAlgorithm::Sha384) => &lc_sig::ECDSA_P256_SHA384_ASN1,
        (SpkiKind::P256, HashAlgorithm::Sha512) => &lc_sig::ECDSA_P256_SHA512_ASN1,
        (SpkiKind::P384, HashAlgorithm::Sha256) => &lc_sig::ECDSA_P384_SHA256_ASN1,
        (SpkiKind::P384, HashAlgorithm::Sha384) => &lc_sig::ECDSA_P384_SHA384_ASN1,
        (SpkiKind::P384, HashAlgorithm::Sha512) => &lc_sig::ECDSA_P384_SHA512_ASN1,
        (SpkiKind::Rsa, _) => return None,
    })
}

fn rsa_verify_alg(hash: HashAlgorithm) -> &'static lc_sig::RsaParameters {
    match hash {
        HashAlgorithm::Sha256 => &lc_sig::RSA_PKCS1_2048_8192_SHA256,
        HashAlgorithm::Sha384 => &lc_sig::RSA_PKCS1_2048_8192_SHA384,
        HashAlgorithm::Sha512 => &lc_sig::RSA_PKCS1_2048_8192_SHA512,
    }
}

fn rsa_sign_alg(hash: HashAlgorithm) -> &'static lc_sig::RsaSignatureEncoding {
    match hash {
        HashAlgorithm::Sha256 => &lc_sig::RSA_PKCS1_SHA256,
        HashAlgorithm::Sha384 => &lc_sig::RSA_PKCS1_SHA384,
        HashAlgorithm::Sha512 => &lc_sig::RSA_PKCS1_SHA512,
    }
}

/// The key bits of a SubjectPublicKeyInfo: the SEC1 point of an EC key,
/// the PKCS#1 `RSAPublicKey` of an RSA key. aws-lc gets only these, after
/// the SPKI itself was parsed strictly by the same code as the portable
/// engine's, so both engines accept exactly the same SPKI envelopes.
fn spki_key_bits(spki: &[u8]) -> Result<&[u8], CryptoError> {
    spki::SubjectPublicKeyInfoRef::from_der(spki)
        .map_err(|_| CryptoError)?
        .subject_public_key
        .as_bytes()
        .ok_or(CryptoError)
}

/// The exact bit length of a PKCS#1 `RSAPublicKey` modulus.
fn rsa_bits(pkcs1: &[u8]) -> Result<u32, CryptoError> {
    lc_sig::RsaParameters::public_modulus_len(pkcs1).map_err(|_| CryptoError)
}

/// A prehashed digest brought to the length of an EC curve's order, so that
/// aws-lc (whose ECDSA signing algorithms each name one hash) can sign a
/// digest of any of the three hashes.
///
/// ECDSA uses the leftmost `n` bits of the digest (`n` the order's bit
/// length, 256 or 384 here, both byte multiples). A longer digest is
/// therefore cut to `n` bits, and a shorter one is left-padded with zeros,
/// which keeps its integer value: both give exactly the integer that ECDSA
/// over the original digest uses, so the signature verifies under the
/// original hash (the equivalence tests check this for every combination).
fn ecdsa_digest(
    digest: &[u8],
    curve_alg: &'static lc_digest::Algorithm,
) -> Result<lc_digest::Digest, CryptoError> {
    let n = curve_alg.output_len();
    let mut buf = [0u8; 64];
    let padded = buf.get_mut(..n).ok_or(CryptoError)?;
    if digest.len() >= n {
        padded.copy_from_slice(digest.get(..n).ok_or(CryptoError)?);
    } else {
        let start = n - digest.len();
        padded
            .get_mut(start..)
            .ok_or(CryptoError)?
            .copy_from_slice(digest);
    }
    lc_digest::Digest::import_less_safe(padded, curve_alg).map_err(|_| CryptoError)
}

fn pkcs8_of<K: AsDer<Pkcs8V1Der<'static>>>(key: &K) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let der = key.as_der().map_err(|_| CryptoError)?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

fn spki_of<K: AsDer<PublicKeyX509Der<'static>>>(key: &K) -> Result<Vec<u8>, CryptoError> {
    Ok(key.as_der().map_err(|_| CryptoError)?.as_ref().to_vec())
}

/// An aws-lc EC key pair as PKCS#8 v1 and SPKI. aws-lc writes the
/// `ECPrivateKey` with the public key and without the redundant curve
/// parameters, as RustCrypto does (checked byte for byte by the tests).
fn ec_generate(alg: &'static lc_sig::EcdsaSigningAlgorithm) -> Result<GeneratedKey, CryptoError> {
    let key = EcdsaKeyPair::generate(alg).map_err(|_| CryptoError)?;
    let private_pkcs8 =
        Zeroizing::new(key.to_pkcs8v1().map_err(|_| CryptoError)?.as_ref().to_vec());
    let public_spki = spki_of(key.public_key())?;
    Ok(GeneratedKey {
        private_pkcs8,
        public_spki,
    })
}

/// A signer key parsed and checked by aws-lc, ready to sign any number of
/// digests.
///
/// It lives only inside one [`Crypto::sign`] or [`Crypto::sign_many`] call
/// and is dropped before that call returns. Dropping it frees aws-lc's
/// `EVP_PKEY`; aws-lc's `OPENSSL_free` overwrites every allocation with
/// `OPENSSL_cleanse` before releasing it (crypto/mem.c, with the default
/// allocator, which aws-lc-rs does not replace), so the private scalar or
/// the RSA private exponent and CRT factors are wiped on drop. aws-lc-rs
/// itself keeps no Rust-side copy of the key material.
enum LcSigner {
    /// An EC key and the digest algorithm of its curve's order length.
    Ec(EcdsaKeyPair, &'static lc_digest::Algorithm),
    /// An RSA key of exactly the size its metadata claims.
    Rsa(RsaKeyPair),
}

#[cfg(test)]
thread_local! {
    /// How many keys this thread parsed: lets the tests see that a batch
    /// parses its key once. Per thread, as the tests run in parallel.
    static PARSES: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

impl LcSigner {
    /// Parses and checks a PKCS#8 key of type `alg`.
    fn parse(pkcs8: &[u8], alg: KeyAlgorithm) -> Result<Self, CryptoError> {
        #[cfg(test)]
        PARSES.with(|p| p.set(p.get() + 1));
        let ec = |sign_alg, curve_digest| {
            EcdsaKeyPair::from_pkcs8(sign_alg, pkcs8)
                .map(|k| Self::Ec(k, curve_digest))
                .map_err(|_| CryptoError)
        };
        match alg {
            KeyAlgorithm::EcP256 => ec(&lc_sig::ECDSA_P256_SHA256_ASN1_SIGNING, &SHA256),
            KeyAlgorithm::EcP384 => ec(&lc_sig::ECDSA_P384_SHA384_ASN1_SIGNING, &SHA384),
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let key = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError)?;
                // The key must be exactly the size its metadata claims, as
                // in the portable engine.
                let bits = usize::try_from(rsa_bits(key.public_key().as_ref())?)
                    .map_err(|_| CryptoError)?;
                if Some(bits) != alg.rsa_bits() {
                    return Err(CryptoError);
                }
                Ok(Self::Rsa(key))
            }
        }
    }

    /// Signs one prehashed `digest` made with `hash`.
    fn sign(&self, hash: HashAlgorithm, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if digest.len() != hash.output_len() {
            return Err(CryptoError);
        }
        match self {
            Self::Ec(key, curve_digest) => {
                let sig = key
                    .sign_digest(&ecdsa_digest(digest, curve_digest)?)
                    .map_err(|_| CryptoError)?;
                Ok(sig.as_ref().to_vec())
            }
            Self::Rsa(key) => {
                let digest = lc_digest::Digest::import_less_safe(digest, digest_alg(hash))
                    .map_err(|_| CryptoError)?;
                let mut sig = vec![0u8; key.public_modulus_len()];
                key.sign_digest(rsa_sign_alg(hash), &digest, &mut sig)
                    .map_err(|_| CryptoError)?;
                Ok(sig)
            }
        }
    }
}

impl Crypto for AwsLcCrypto {
    fn digest(&self, alg: HashAlgorithm, parts: &[&[u8]]) -> Digest {
        let mut ctx = lc_digest::Context::new(digest_alg(alg));
        for p in parts {
            ctx.update(p);
        }
        match Digest::new(ctx.finish().as_ref()) {
            Ok(d) => d,
            // Unreachable: every SHA-2 output fits `Digest`. The trait has
            // no error path, so answer what the reference would.
            Err(_) => Portable.digest(alg, parts),
        }
    }

    fn hmac_sha256(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        // A SHA-256 tag is always 32 bytes; the fallback mirrors the
        // portable engine's unreachable branch.
        <[u8; 32]>::try_from(ctx.sign().as_ref()).unwrap_or([0; 32])
    }

    fn aead_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError)?);
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| CryptoError)?;
        Ok(buf)
    }

    fn aead_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError)?);
        // Zeroizing from the start: the buffer holds plaintext once opened.
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = key
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| CryptoError)?
            .len();
        buf.truncate(len);
        Ok(buf)
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
        let kind = spki_kind(spki)?;
        let key = spki_key_bits(spki)?;
        let digest = lc_digest::Digest::import_less_safe(digest, digest_alg(hash))
            .map_err(|_| CryptoError)?;
        match ecdsa_verify_alg(kind, hash) {
            Some(alg) => lc_sig::UnparsedPublicKey::new(alg, key)
                .verify_digest(&digest, signature)
                .map_err(|_| CryptoError),
            None => {
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&rsa_bits(key)?) {
                    return Err(CryptoError);
                }
                lc_sig::UnparsedPublicKey::new(rsa_verify_alg(hash), key)
                    .verify_digest(&digest, signature)
                    .map_err(|_| CryptoError)
            }
        }
    }

    fn generate(
        &self,
        alg: KeyAlgorithm,
        _rng: &mut FirmwareRng<'_>,
    ) -> Result<GeneratedKey, CryptoError> {
        let size = match alg {
            KeyAlgorithm::EcP256 => return ec_generate(&lc_sig::ECDSA_P256_SHA256_ASN1_SIGNING),
            KeyAlgorithm::EcP384 => return ec_generate(&lc_sig::ECDSA_P384_SHA384_ASN1_SIGNING),
            KeyAlgorithm::Rsa2048 => KeySize::Rsa2048,
            KeyAlgorithm::Rsa3072 => KeySize::Rsa3072,
            KeyAlgorithm::Rsa4096 => KeySize::Rsa4096,
        };
        let key = RsaKeyPair::generate(size).map_err(|_| CryptoError)?;
        Ok(GeneratedKey {
            private_pkcs8: pkcs8_of(&key)?,
            public_spki: spki_of(key.public_key())?,
        })
    }

    fn sign(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digest: &[u8],
        _rng: &mut FirmwareRng<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        if digest.len() != hash.output_len() {
            return Err(CryptoError);
        }
        LcSigner::parse(private_pkcs8, alg)?.sign(hash, digest)
    }

    /// Parses the key once and signs every digest with it: aws-lc's PKCS#8
    /// parse and key check (for RSA, the consistency check of the private
    /// key) cost more than an ECDSA signature, and a SAD carries up to 128
    /// hashes. The parsed key is a local of this call and is dropped, and
    /// wiped by aws-lc (see [`LcSigner`]), before it returns, on success
    /// and on error alike: still "activate, sign, deactivate" within the
    /// one request.
    fn sign_many(
        &self,
        private_pkcs8: &[u8],
        alg: KeyAlgorithm,
        hash: HashAlgorithm,
        digests: &[&[u8]],
        _rng: &mut FirmwareRng<'_>,
        out: &mut dyn FnMut(Vec<u8>) -> Result<(), CryptoError>,
    ) -> Result<(), CryptoError> {
        // The lengths first, so that a malformed batch parses no key.
        if digests.iter().any(|d| d.len() != hash.output_len()) {
            return Err(CryptoError);
        }
        let key = LcSigner::parse(private_pkcs8, alg)?;
        for digest in digests {
            out(key.sign(hash, digest)?)?;
        }
        drop(key);
        Ok(())
    }

    /// The portable engine's derivation, so that the attestation key
    /// derived from an MBK is the same whichever engine a device runs
    /// (aws-lc has no "scalar from these bytes, or fail" primitive with
    /// the portable engine's exact acceptance rule). It runs once per boot.
    fn derive_p256(&self, seed: &[u8; 32]) -> Result<GeneratedKey, CryptoError> {
        Portable.derive_p256(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_round_trip() {
        for b in [CryptoBackend::AwsLc, CryptoBackend::Portable] {
            assert_eq!(b.to_string().parse::<CryptoBackend>().ok(), Some(b));
            assert_eq!(SimCrypto::new(b).backend(), b);
        }
        assert!("awslc".parse::<CryptoBackend>().is_err());
        assert_eq!(CryptoBackend::default(), CryptoBackend::AwsLc);
    }

    fn parses() -> usize {
        PARSES.with(|p| p.get())
    }

    fn os_rng(buf: &mut [u8]) -> Result<(), sam_firmware::platform::PlatformError> {
        aws_lc_rs::rand::fill(buf).map_err(|_| sam_firmware::platform::PlatformError)
    }

    /// The batch path parses the key once for the whole batch, where one
    /// `sign` per digest parses it every time, and its signatures verify
    /// against their own digests. Through `SimCrypto` too, which must
    /// forward the batch rather than fall back to the per-digest default.
    #[test]
    fn sign_many_parses_the_key_once() {
        let src = os_rng;
        for (alg, hash) in [
            (KeyAlgorithm::EcP256, HashAlgorithm::Sha256),
            (KeyAlgorithm::EcP384, HashAlgorithm::Sha384),
            (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256),
        ] {
            let mut rng = FirmwareRng::new(&src);
            let key = AwsLcCrypto.generate(alg, &mut rng).unwrap();
            let digests: Vec<Digest> = (0u8..7)
                .map(|i| AwsLcCrypto.digest(hash, &[&[i]]))
                .collect();
            let refs: Vec<&[u8]> = digests.iter().map(|d| d.as_bytes()).collect();
            for engine in [
                &AwsLcCrypto as &dyn Crypto,
                &SimCrypto::new(CryptoBackend::AwsLc),
            ] {
                let before = parses();
                let mut sigs = Vec::new();
                engine
                    .sign_many(&key.private_pkcs8, alg, hash, &refs, &mut rng, &mut |s| {
                        sigs.push(s);
                        Ok(())
                    })
                    .unwrap();
                assert_eq!(parses() - before, 1, "{alg:?}: one parse per batch");
                assert_eq!(sigs.len(), refs.len());
                for (d, s) in refs.iter().zip(&sigs) {
                    assert!(AwsLcCrypto.verify(&key.public_spki, hash, d, s).is_ok());
                }
            }
            let before = parses();
            for d in &refs {
                AwsLcCrypto
                    .sign(&key.private_pkcs8, alg, hash, d, &mut rng)
                    .unwrap();
            }
            assert_eq!(parses() - before, refs.len(), "{alg:?}: one parse per sign");
        }
    }

    /// A batch with a digest of the wrong length parses no key and emits
    /// no signature.
    #[test]
    fn sign_many_checks_lengths_before_parsing() {
        let src = os_rng;
        let mut rng = FirmwareRng::new(&src);
        let key = AwsLcCrypto
            .generate(KeyAlgorithm::EcP256, &mut rng)
            .unwrap();
        let before = parses();
        let mut emitted = 0;
        let r = AwsLcCrypto.sign_many(
            &key.private_pkcs8,
            KeyAlgorithm::EcP256,
            HashAlgorithm::Sha256,
            &[&[1u8; 32], &[2u8; 48]],
            &mut rng,
            &mut |_| {
                emitted += 1;
                Ok(())
            },
        );
        assert_eq!(r, Err(CryptoError));
        assert_eq!((parses() - before, emitted), (0, 0));
    }

    #[test]
    fn ecdsa_digest_truncates_and_pads() {
        let long = [7u8; 64];
        let d = ecdsa_digest(&long, &SHA256).ok();
        assert_eq!(d.as_ref().map(|d| d.as_ref().to_vec()), Some(vec![7u8; 32]));
        let short = [9u8; 32];
        let d = ecdsa_digest(&short, &SHA384).ok();
        let mut want = vec![0u8; 16];
        want.extend_from_slice(&short);
        assert_eq!(d.map(|d| d.as_ref().to_vec()), Some(want));
    }
}

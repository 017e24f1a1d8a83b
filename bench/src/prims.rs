//! Section 1: the crypto primitives the firmware uses, through the
//! firmware's [`Crypto`] trait, on both back-ends.

use crate::stats::Runs;
use crate::{Budget, time_ops};
use sam_firmware::crypto::portable::Portable;
use sam_firmware::crypto::{Crypto, FirmwareRng, GeneratedKey};
use sam_firmware::platform::PlatformError;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use sam_simulator::AwsLcCrypto;

/// The OS RNG (through aws-lc), as the simulator's platform draws it.
pub fn os_random(buf: &mut [u8]) -> Result<(), PlatformError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| PlatformError)
}

/// A crypto back-end under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The firmware's portable RustCrypto engine.
    Portable,
    /// aws-lc-rs, the simulator's engine.
    AwsLc,
}

impl Backend {
    /// Both, portable first.
    pub const ALL: [Backend; 2] = [Backend::Portable, Backend::AwsLc];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::AwsLc => "aws-lc",
        }
    }

    fn crypto(self) -> &'static dyn Crypto {
        match self {
            Self::Portable => &Portable,
            Self::AwsLc => &AwsLcCrypto,
        }
    }
}

/// The signer-key algorithms of the benchmark, with the hash each signs.
pub const KEY_ALGS: [(KeyAlgorithm, HashAlgorithm); 4] = [
    (KeyAlgorithm::EcP256, HashAlgorithm::Sha256),
    (KeyAlgorithm::EcP384, HashAlgorithm::Sha384),
    (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256),
    (KeyAlgorithm::Rsa3072, HashAlgorithm::Sha256),
];

/// A short name of a key algorithm.
pub fn alg_name(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::EcP256 => "P-256",
        KeyAlgorithm::EcP384 => "P-384",
        KeyAlgorithm::Rsa2048 => "RSA-2048",
        KeyAlgorithm::Rsa3072 => "RSA-3072",
        KeyAlgorithm::Rsa4096 => "RSA-4096",
    }
}

/// One primitive's throughput on one back-end.
#[derive(Clone, Debug)]
pub struct PrimResult {
    /// Back-end.
    pub backend: Backend,
    /// `sign P-256`, `verify RSA-2048`, `aes-gcm open P-256 key`, ...
    pub name: String,
    /// Operations per second, one value per run.
    pub ops: Runs,
}

impl PrimResult {
    /// Seconds per operation (from the median).
    pub fn cost(&self) -> f64 {
        1.0 / self.ops.median()
    }
}

/// Name of the sign primitive of `alg`.
pub fn sign_name(alg: KeyAlgorithm) -> String {
    format!("sign {}", alg_name(alg))
}

/// Name of the verify primitive of `alg`.
pub fn verify_name(alg: KeyAlgorithm) -> String {
    format!("verify {}", alg_name(alg))
}

/// Name of the AEAD-open primitive for a wrapped key of `alg`.
pub fn open_name(alg: KeyAlgorithm) -> String {
    format!("aes-gcm open {} key", alg_name(alg))
}

/// Measures every primitive on both back-ends.
pub fn run(budget: &Budget) -> Result<Vec<PrimResult>, String> {
    let rng_fn = os_random;
    let mut rng = FirmwareRng::new(&rng_fn);
    // Keys come from aws-lc (fast RSA key generation); the PKCS#8 and SPKI
    // conventions are the same on both engines.
    let mut keys: Vec<(KeyAlgorithm, HashAlgorithm, GeneratedKey)> = Vec::new();
    for (alg, hash) in KEY_ALGS {
        let k = AwsLcCrypto
            .generate(alg, &mut rng)
            .map_err(|_| format!("cannot generate a {} key", alg_name(alg)))?;
        keys.push((alg, hash, k));
    }
    let aead_key = [7u8; 32];
    let nonce = [9u8; 12];
    let aad = [5u8; 64];
    let mut out = Vec::new();
    for backend in Backend::ALL {
        let crypto = backend.crypto();
        for (alg, hash, key) in &keys {
            let digest = crypto.digest(*hash, &[b"the document"]);
            let digest = digest.as_bytes();
            let sig = crypto
                .sign(&key.private_pkcs8, *alg, *hash, digest, &mut rng)
                .map_err(|_| format!("{} sign failed", backend.name()))?;
            let ops = time_ops(budget, || {
                crypto
                    .sign(&key.private_pkcs8, *alg, *hash, digest, &mut rng)
                    .map(drop)
                    .map_err(|_| "sign failed".to_string())
            })?;
            out.push(PrimResult {
                backend,
                name: sign_name(*alg),
                ops,
            });
            let ops = time_ops(budget, || {
                crypto
                    .verify(&key.public_spki, *hash, digest, &sig)
                    .map_err(|_| "verify failed".to_string())
            })?;
            out.push(PrimResult {
                backend,
                name: verify_name(*alg),
                ops,
            });
            let sealed = crypto
                .aead_seal(&aead_key, &nonce, &aad, &key.private_pkcs8)
                .map_err(|_| "seal failed".to_string())?;
            let ops = time_ops(budget, || {
                crypto
                    .aead_open(&aead_key, &nonce, &aad, &sealed)
                    .map(drop)
                    .map_err(|_| "open failed".to_string())
            })?;
            out.push(PrimResult {
                backend,
                name: open_name(*alg),
                ops,
            });
        }
    }
    Ok(out)
}

/// The median cost in seconds of primitive `name` on `backend`.
pub fn cost_of(prims: &[PrimResult], backend: Backend, name: &str) -> f64 {
    prims
        .iter()
        .find(|p| p.backend == backend && p.name == name)
        .map(PrimResult::cost)
        .unwrap_or(f64::NAN)
}

//! Algorithm OIDs of the CSC requests and answers (dotted text).

use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};

/// `id-sha256`, `id-sha384`, `id-sha512` (RFC 5754).
const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const SHA384: &str = "2.16.840.1.101.3.4.2.2";
const SHA512: &str = "2.16.840.1.101.3.4.2.3";
/// `ecdsa-with-SHA256/384/512` (RFC 5758).
const ECDSA: [&str; 3] = [
    "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3",
    "1.2.840.10045.4.3.4",
];
/// `sha256/384/512WithRSAEncryption` (RFC 4055).
const RSA: [&str; 3] = [
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
];
/// `id-ecPublicKey`: "ECDSA, the hash given separately" (CSC allows it).
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// `rsaEncryption`: "PKCS#1 v1.5, the hash given separately".
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// The curves.
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

const HASHES: [HashAlgorithm; 3] = [
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha384,
    HashAlgorithm::Sha512,
];

/// The hash algorithm of a dotted `id-sha*` OID.
pub fn hash_from_oid(oid: &str) -> Option<HashAlgorithm> {
    match oid.trim() {
        SHA256 => Some(HashAlgorithm::Sha256),
        SHA384 => Some(HashAlgorithm::Sha384),
        SHA512 => Some(HashAlgorithm::Sha512),
        _ => None,
    }
}

/// The dotted OID of a hash algorithm.
pub fn hash_oid(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => SHA256,
        HashAlgorithm::Sha384 => SHA384,
        HashAlgorithm::Sha512 => SHA512,
    }
}

fn is_ec(key: KeyAlgorithm) -> bool {
    key.rsa_bits().is_none()
}

/// The hash algorithms the firmware lets `key` sign (its
/// `signing_alg::key_accepts`): an EC key only hashes as long as its
/// curve order (P-256 with SHA-256, P-384 with SHA-384), an RSA key
/// SHA-256, SHA-384 and SHA-512. Stating them here only lets the service
/// advertise and refuse early; the firmware's rule is the one enforced.
pub fn key_hashes(key: KeyAlgorithm) -> &'static [HashAlgorithm] {
    match key {
        KeyAlgorithm::EcP256 => &[HashAlgorithm::Sha256],
        KeyAlgorithm::EcP384 => &[HashAlgorithm::Sha384],
        _ => &HASHES,
    }
}

/// The signature algorithms `key` signs with (`credentials/info`'s
/// `key.algo`): ECDSA or RSA PKCS#1 v1.5 with each of [`key_hashes`].
pub fn key_algos(key: KeyAlgorithm) -> Vec<String> {
    let list = if is_ec(key) { ECDSA } else { RSA };
    list.iter()
        .zip(HASHES)
        .filter(|(_, h)| key_hashes(key).contains(h))
        .map(|(s, _)| (*s).to_owned())
        .collect()
}

/// Key length in bits and, for EC, the curve OID.
pub fn key_len_curve(key: KeyAlgorithm) -> (u32, Option<String>) {
    match key {
        KeyAlgorithm::EcP256 => (256, Some(P256.into())),
        KeyAlgorithm::EcP384 => (384, Some(P384.into())),
        _ => (
            key.rsa_bits()
                .and_then(|b| u32::try_from(b).ok())
                .unwrap_or(0),
            None,
        ),
    }
}

/// What a `signAlgo` says, for a key that can do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlgo {
    /// `ecdsa-with-SHA*` / `sha*WithRSAEncryption`: the hash is fixed.
    WithHash(HashAlgorithm),
    /// The bare key OID: the hash is given separately.
    KeyOnly,
}

/// Checks `sign_algo` against the key; `None` for anything the key
/// cannot do.
pub fn sign_algo_hash(sign_algo: &str, key: KeyAlgorithm) -> Option<SignAlgo> {
    let oid = sign_algo.trim();
    let (list, bare) = if is_ec(key) {
        (ECDSA, EC_PUBLIC_KEY)
    } else {
        (RSA, RSA_ENCRYPTION)
    };
    if oid == bare {
        return Some(SignAlgo::KeyOnly);
    }
    list.iter()
        .zip(HASHES)
        .find(|(o, h)| **o == oid && key_hashes(key).contains(h))
        .map(|(_, h)| SignAlgo::WithHash(h))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sign_algorithms_fit_the_key() {
        let ec = KeyAlgorithm::EcP256;
        assert_eq!(
            sign_algo_hash("1.2.840.10045.4.3.2", ec),
            Some(SignAlgo::WithHash(HashAlgorithm::Sha256))
        );
        assert_eq!(sign_algo_hash(EC_PUBLIC_KEY, ec), Some(SignAlgo::KeyOnly));
        assert_eq!(sign_algo_hash("1.2.840.113549.1.1.11", ec), None);
        let rsa = KeyAlgorithm::Rsa2048;
        assert_eq!(
            sign_algo_hash("1.2.840.113549.1.1.12", rsa),
            Some(SignAlgo::WithHash(HashAlgorithm::Sha384))
        );
        assert_eq!(sign_algo_hash("1.2.840.10045.4.3.2", rsa), None);
        assert_eq!(key_len_curve(rsa), (2048, None));
        assert_eq!(key_algos(ec), ["1.2.840.10045.4.3.2"]);
        assert_eq!(key_algos(KeyAlgorithm::EcP384), ["1.2.840.10045.4.3.3"]);
        assert_eq!(key_algos(rsa).len(), 3);
        assert_eq!(sign_algo_hash("1.2.840.10045.4.3.3", ec), None);
        for h in HASHES {
            assert_eq!(hash_from_oid(hash_oid(h)), Some(h));
        }
        assert_eq!(hash_from_oid("1.2.3"), None);
    }
}

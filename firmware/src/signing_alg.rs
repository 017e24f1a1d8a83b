//! Which signature schemes and hashes go with which keys, and what kind of
//! key a DER SubjectPublicKeyInfo holds.
//!
//! The decision code (identity-token issuers, SAD keys, trust anchors)
//! reads a key's kind here before any engine is asked to verify, so that
//! deciding does not depend on the crypto engine plugged in.

use crate::crypto::CryptoError;
use const_oid::ObjectIdentifier;
use der::Decode;
use sam_proto::asn1::SchemeKind;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// The kind of key an SPKI holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpkiKind {
    /// EC P-256.
    P256,
    /// EC P-384.
    P384,
    /// RSA.
    Rsa,
}

/// Reads the algorithm of a DER SubjectPublicKeyInfo.
pub fn spki_kind(spki: &[u8]) -> Result<SpkiKind, CryptoError> {
    let info = spki::SubjectPublicKeyInfoRef::from_der(spki).map_err(|_| CryptoError)?;
    if info.algorithm.oid == RSA_ENCRYPTION {
        return Ok(SpkiKind::Rsa);
    }
    if info.algorithm.oid != EC_PUBLIC_KEY {
        return Err(CryptoError);
    }
    let curve: ObjectIdentifier = info
        .algorithm
        .parameters
        .ok_or(CryptoError)?
        .decode_as()
        .map_err(|_| CryptoError)?;
    match curve {
        c if c == SECP256R1 => Ok(SpkiKind::P256),
        c if c == SECP384R1 => Ok(SpkiKind::P384),
        _ => Err(CryptoError),
    }
}

/// Whether a signature-algorithm identifier fits a verification key. A
/// plain digest identifier (no scheme) fits any key.
pub fn scheme_fits(scheme: Option<SchemeKind>, kind: SpkiKind) -> bool {
    match scheme {
        None => true,
        Some(SchemeKind::Ecdsa) => matches!(kind, SpkiKind::P256 | SpkiKind::P384),
        Some(SchemeKind::RsaPkcs1v15) => kind == SpkiKind::Rsa,
    }
}

/// Whether a signer key may sign hashes of `hash` under `scheme`.
///
/// EC keys sign only hashes as long as their curve order (P-256 with
/// SHA-256, P-384 with SHA-384): a longer hash would be truncated, a shorter
/// one weakens the signature. RSA keys sign SHA-256, SHA-384 and SHA-512.
pub fn key_accepts(alg: KeyAlgorithm, hash: HashAlgorithm, scheme: Option<SchemeKind>) -> bool {
    match alg {
        KeyAlgorithm::EcP256 => {
            hash == HashAlgorithm::Sha256 && matches!(scheme, None | Some(SchemeKind::Ecdsa))
        }
        KeyAlgorithm::EcP384 => {
            hash == HashAlgorithm::Sha384 && matches!(scheme, None | Some(SchemeKind::Ecdsa))
        }
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            matches!(scheme, None | Some(SchemeKind::RsaPkcs1v15))
        }
    }
}

/// The hash with which a SAD's own signature is made, fixed by the type of
/// the SAD key in the identity token (seed §8.1 gives the SAD signature no
/// algorithm field): SHA-384 for P-384 keys, SHA-256 otherwise.
pub fn sad_signature_hash(kind: SpkiKind) -> HashAlgorithm {
    match kind {
        SpkiKind::P384 => HashAlgorithm::Sha384,
        SpkiKind::P256 | SpkiKind::Rsa => HashAlgorithm::Sha256,
    }
}

/// The hash with which the firmware signs a PKCS#10 request for a key.
pub fn csr_hash(alg: KeyAlgorithm) -> HashAlgorithm {
    match alg {
        KeyAlgorithm::EcP384 => HashAlgorithm::Sha384,
        _ => HashAlgorithm::Sha256,
    }
}

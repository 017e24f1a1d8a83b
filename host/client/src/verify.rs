//! Signature checks with a `SubjectPublicKeyInfo`: the key types the SAM
//! generates (ECDSA P-256 / P-384 with DER signatures, RSA PKCS#1 v1.5).
//!
//! Used by [`crate::cms::Prepared::finish`] to refuse a signature that
//! does not belong to the certificate before it is wrapped into CMS, and
//! by the development CA to check proof of possession in a PKCS#10
//! request.

use crate::ClientError;
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use sam_proto::asn1::SchemeKind;
use sam_proto::ids::HashAlgorithm;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::SubjectPublicKeyInfoRef;

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// The kind of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA over P-256.
    P256,
    /// ECDSA over P-384.
    P384,
    /// RSA (any modulus size the `rsa` crate accepts).
    Rsa,
}

impl KeyKind {
    /// The kind of the DER `SubjectPublicKeyInfo` `spki_der`.
    pub fn of_spki(spki_der: &[u8]) -> Result<Self, ClientError> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)?;
        match spki.algorithm.oid {
            RSA_ENCRYPTION => Ok(Self::Rsa),
            ID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .map(|p| p.decode_as::<ObjectIdentifier>())
                    .transpose()?;
                match curve {
                    Some(SECP256R1) => Ok(Self::P256),
                    Some(SECP384R1) => Ok(Self::P384),
                    _ => Err(ClientError::InvalidInput(
                        "EC key on a curve other than P-256 or P-384".into(),
                    )),
                }
            }
            other => Err(ClientError::InvalidInput(format!(
                "unsupported public key algorithm {other}"
            ))),
        }
    }

    /// The signature scheme of this key type.
    pub fn scheme(self) -> SchemeKind {
        match self {
            Self::P256 | Self::P384 => SchemeKind::Ecdsa,
            Self::Rsa => SchemeKind::RsaPkcs1v15,
        }
    }
}

/// The digest of `data` with `hash`.
pub fn digest(hash: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    match hash {
        HashAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// The `hash` digest of everything `reader` yields, read in 64 KiB pieces:
/// memory stays bounded whatever the size of the document.
pub fn digest_reader<R: std::io::Read>(hash: HashAlgorithm, reader: R) -> std::io::Result<Vec<u8>> {
    fn run<D: Digest, R: std::io::Read>(mut d: D, mut reader: R) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(d.finalize().to_vec()),
                Ok(n) => d.update(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    match hash {
        HashAlgorithm::Sha256 => run(Sha256::new(), reader),
        HashAlgorithm::Sha384 => run(Sha384::new(), reader),
        HashAlgorithm::Sha512 => run(Sha512::new(), reader),
    }
}

/// Checks `signature` over the digest `prehash` (made with `hash`) with the
/// key `spki_der`: a DER `Ecdsa-Sig-Value` for an EC key, a PKCS#1 v1.5
/// signature (DigestInfo of `hash`) for RSA. Anything that does not verify
/// is [`ClientError::BadSignature`].
pub fn verify_prehash(
    spki_der: &[u8],
    hash: HashAlgorithm,
    prehash: &[u8],
    signature: &[u8],
) -> Result<(), ClientError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::pkcs8::DecodePublicKey;
    if prehash.len() != hash.output_len() {
        return Err(ClientError::InvalidInput(format!(
            "a {hash:?} digest has {} bytes, not {}",
            hash.output_len(),
            prehash.len()
        )));
    }
    let bad = |_| ClientError::BadSignature;
    match KeyKind::of_spki(spki_der)? {
        KeyKind::P256 => {
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|e| ClientError::InvalidInput(format!("P-256 key: {e}")))?;
            let sig = p256::ecdsa::DerSignature::from_bytes(signature).map_err(bad)?;
            key.verify_prehash(prehash, &sig).map_err(bad)
        }
        KeyKind::P384 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                .map_err(|e| ClientError::InvalidInput(format!("P-384 key: {e}")))?;
            let sig = p384::ecdsa::DerSignature::from_bytes(signature).map_err(bad)?;
            key.verify_prehash(prehash, &sig).map_err(bad)
        }
        KeyKind::Rsa => {
            let key = rsa::RsaPublicKey::from_public_key_der(spki_der)
                .map_err(|e| ClientError::InvalidInput(format!("RSA key: {e}")))?;
            let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(bad)?;
            match hash {
                HashAlgorithm::Sha256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
                    .verify_prehash(prehash, &sig)
                    .map_err(bad),
                HashAlgorithm::Sha384 => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key)
                    .verify_prehash(prehash, &sig)
                    .map_err(bad),
                HashAlgorithm::Sha512 => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key)
                    .verify_prehash(prehash, &sig)
                    .map_err(bad),
            }
        }
    }
}

/// Checks `signature` over `message` with `spki_der`, hashing with `hash`
/// first (see [`verify_prehash`]).
pub fn verify_message(
    spki_der: &[u8],
    hash: HashAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), ClientError> {
    verify_prehash(spki_der, hash, &digest(hash, message), signature)
}

/// DER of a `SubjectPublicKeyInfo` given by reference.
pub(crate) fn spki_der(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<Vec<u8>, ClientError> {
    Ok(spki.to_der()?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_digest_equals_the_one_shot_digest() {
        // Longer than one 64 KiB read, and not a multiple of it.
        let data: Vec<u8> = (0..200_001u32).map(|i| (i % 251) as u8).collect();
        for hash in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let streamed = digest_reader(hash, data.as_slice()).unwrap();
            assert_eq!(streamed, digest(hash, &data));
            assert_eq!(streamed.len(), hash.output_len());
        }
        assert_eq!(
            digest_reader(HashAlgorithm::Sha256, &b""[..]).unwrap(),
            digest(HashAlgorithm::Sha256, b"")
        );
    }
}

//! Development keys and documents: administrators, an IdP with a
//! self-signed certificate, identity tokens, a signer's SAD key and SADs.
//! Adapted from the firmware's test bench; keys come from fixed seeds.

use der::{Decode, Encode};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use sam_firmware::auth::{approval_digest, technical_digest};
use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_proto::asn1::{
    CompactIdentityToken, IdentificationLevel, IssuerSerial, Sad, SadTbs, SchemeKind,
    SignedIdentityToken, digest_algorithm, signature_algorithm,
};
use sam_proto::command::SubFunction;
use sam_proto::ids::{HashAlgorithm, UserId};
use signature::hazmat::{PrehashSigner, PrehashVerifier};
use std::str::FromStr;
use std::time::Duration;
use x509_cert::builder::{Builder, CertificateBuilder, profile::cabf::Root};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

/// A P-256 key from a small seed.
pub fn p256_key(seed: u8, domain: u8) -> SigningKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 0x11;
    bytes[30] = domain;
    bytes[31] = seed;
    SigningKey::from_slice(&bytes).unwrap()
}

/// DER SubjectPublicKeyInfo of a P-256 key.
pub fn spki(key: &VerifyingKey) -> Vec<u8> {
    key.to_public_key_der().unwrap().as_bytes().to_vec()
}

pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    Portable
        .digest(HashAlgorithm::Sha256, parts)
        .as_bytes()
        .to_vec()
}

pub fn sign_prehash(key: &SigningKey, digest: &[u8]) -> Vec<u8> {
    let sig: DerSignature = key.sign_prehash(digest).unwrap();
    sig.as_bytes().to_vec()
}

/// Verifies a DER ECDSA P-256 signature over a prehashed digest with the
/// key of a DER SubjectPublicKeyInfo.
pub fn verify_p256(spki_der: &[u8], digest: &[u8], sig: &[u8]) -> bool {
    let key = VerifyingKey::from_public_key_der(spki_der).unwrap();
    let Ok(sig) = p256::ecdsa::DerSignature::from_bytes(sig) else {
        return false;
    };
    let sig: p256::ecdsa::Signature = sig.try_into().unwrap();
    key.verify_prehash(digest, &sig).is_ok()
}

/// A firmware administrator (dual control); its key lives with samctl,
/// never with samd.
pub struct Admin {
    pub key: SigningKey,
}

impl Admin {
    pub fn new(seed: u8) -> Self {
        Self {
            key: p256_key(seed, 1),
        }
    }

    /// The uncompressed SEC1 point the firmware enrols.
    pub fn point(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }

    /// A DER signature approving `code` with `params` under `challenge`.
    pub fn approve(&self, code: SubFunction, challenge: &[u8; 32], params: &[u8]) -> Vec<u8> {
        let digest = approval_digest(&Portable, code, challenge, params);
        sign_prehash(&self.key, &digest)
    }
}

/// A Privileged User Technical's signature over a request's parameters.
pub fn technical_signature(
    key: &SigningKey,
    code: SubFunction,
    challenge: &[u8; 32],
    params: &[u8],
) -> Vec<u8> {
    let digest = technical_digest(&Portable, code, challenge, params);
    sign_prehash(key, &digest)
}

/// A development IdP: a P-256 key and its self-signed certificate.
pub struct Idp {
    pub key: SigningKey,
    pub cert: Vec<u8>,
    pub name: Name,
    pub serial: SerialNumber,
}

impl Idp {
    pub fn p256(seed: u8) -> Self {
        let key = p256_key(seed, 2);
        let name =
            Name::from_str(&format!("CN=SAM Test IdP {seed},O=SAM Development,C=DE")).unwrap();
        let serial = SerialNumber::from(u32::from(seed) + 1000);
        let pk = spki::SubjectPublicKeyInfoOwned::from_der(&spki(key.verifying_key())).unwrap();
        let profile = Root::new(false, name.clone()).unwrap();
        let validity = Validity::from_now(Duration::from_secs(3650 * 86400)).unwrap();
        let builder = CertificateBuilder::new(profile, serial.clone(), validity, pk).unwrap();
        let cert = builder
            .build::<_, DerSignature>(&key)
            .unwrap()
            .to_der()
            .unwrap();
        Self {
            key,
            cert,
            name,
            serial,
        }
    }

    /// A signed identity token for `user`, valid `nb..=na` (Unix seconds),
    /// with a SAD key and the scope "signing" if `sad_key` is given.
    pub fn token(&self, user: UserId, nb: i64, na: i64, sad_key: Option<&[u8]>) -> Vec<u8> {
        let mut data = CompactIdentityToken::new(&user.to_string(), nb as u64, na as u64)
            .unwrap()
            .with_identification_level(IdentificationLevel::Substantial)
            .unwrap();
        if let Some(k) = sad_key {
            data = data
                .with_sad_public_key(k)
                .unwrap()
                .with_signing_scope("signing")
                .unwrap();
        }
        let digest = sha256(&[&data.to_der().unwrap()]);
        SignedIdentityToken {
            data,
            signer: IssuerSerial::new(&self.name, &self.serial).unwrap(),
            signature_algorithm: signature_algorithm(HashAlgorithm::Sha256, SchemeKind::Ecdsa),
            signature: der::asn1::OctetString::new(sign_prehash(&self.key, &digest)).unwrap(),
            token_type: None,
        }
        .to_der()
        .unwrap()
    }
}

/// The signer's temporary SAD key, made by the signing client.
pub struct SadKey {
    pub key: SigningKey,
}

impl SadKey {
    pub fn new(seed: u8) -> Self {
        Self {
            key: p256_key(seed, 3),
        }
    }

    pub fn spki(&self) -> Vec<u8> {
        spki(self.key.verifying_key())
    }

    /// A SAD over `hashes` (SHA-256) for `key_id`, with `token`.
    pub fn sad(&self, token: &[u8], key_id: &str, hashes: &[Vec<u8>]) -> Vec<u8> {
        let tbs = SadTbs {
            identity_token: SignedIdentityToken::from_der(token).unwrap(),
            key_id: key_id.to_owned(),
            hash_algorithm: digest_algorithm(HashAlgorithm::Sha256),
            tbs_hash_values: hashes
                .iter()
                .map(|h| der::asn1::OctetString::new(h.clone()).unwrap())
                .collect(),
        };
        let digest = sha256(&[&tbs.to_der().unwrap()]);
        Sad {
            tbs,
            signature: der::asn1::OctetString::new(sign_prehash(&self.key, &digest)).unwrap(),
        }
        .to_der()
        .unwrap()
    }
}

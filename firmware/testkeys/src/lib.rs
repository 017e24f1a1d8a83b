//! # `sam-testkeys` — TESTS ONLY
//!
//! Development keys and documents for the firmware's and the host's
//! tests: administrators, an IdP with a self-signed certificate, identity
//! tokens, a signer's temporary SAD key and SADs, technical signatures.
//! Keys come from fixed seeds so runs repeat. One copy for both test
//! suites, so that the host's tests sign exactly what the firmware's tests
//! check. Everything here is pure Rust: the firmware's tests run on 32-bit
//! big-endian PowerPC under qemu too.
//!
//! Not part of the trusted computing base: only `[dev-dependencies]` name
//! this crate, and `cargo xtask tcb` counts `firmware/src` and
//! `shared-proto/src` alone.
#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_debug_implementations
)]

use der::{Decode, Encode};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use sam_firmware::crypto::portable::Portable;
use sam_proto::approval::{ADMIN_APPROVAL, OPERATOR_LOGON, TECHNICAL, TOKEN_REQUEST, bound_digest};
use sam_proto::asn1::{
    CompactIdentityToken, IdentificationLevel, IssuerSerial, Sad, SadTbs, SchemeKind,
    SignedIdentityToken, digest_algorithm, signature_algorithm,
};
use sam_proto::bounded::Blob;
use sam_proto::command::{
    Approval, Authentication, Command, CreatePrivilegedUser, CreateSigner, Credential,
    DeleteKeyPair, GenerateKeyPair, OperatorLogon, RegisterCertificate, RequestProof,
    SignCertificationRequest, SignerMaintenance, SubFunction,
};
use sam_proto::ids::{HashAlgorithm, UserId};
use sam_proto::intent::Intent;
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

/// SHA-256.
pub fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    use sam_firmware::crypto::Crypto;
    Portable
        .digest(HashAlgorithm::Sha256, parts)
        .as_bytes()
        .to_vec()
}

/// A DER ECDSA signature over a prehashed digest.
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

/// A Privileged User Technical's signature over a request's intent
/// (postcard bytes in `params`).
pub fn technical_signature(
    key: &SigningKey,
    code: SubFunction,
    challenge: &[u8; 32],
    params: &[u8],
) -> Vec<u8> {
    let digest = technical_digest(code, challenge, params);
    sign_prehash(key, &digest)
}

/// A deterministic random stream: SHA-256 of (seed, counter) blocks.
pub fn counter_stream(
    seed: u8,
) -> impl Fn(&mut [u8]) -> Result<(), sam_firmware::platform::PlatformError> + Sync {
    // A mutex, not an AtomicU64: 32-bit PowerPC has no 64-bit atomics.
    let counter = std::sync::Mutex::new(0u64);
    move |buf: &mut [u8]| {
        for chunk in buf.chunks_mut(32) {
            let n = {
                let mut c = counter.lock().unwrap();
                *c += 1;
                *c
            };
            let block = sha256(&[&[seed], &n.to_be_bytes()]);
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
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
    pub fn point(&self) -> Blob<{ sam_proto::command::ADMIN_KEY_LEN }> {
        Blob::new(self.key.verifying_key().to_sec1_point(false).as_bytes()).unwrap()
    }

    pub fn approve(&self, code: SubFunction, challenge: &[u8; 32], params: &[u8]) -> Approval {
        let digest = approval_digest(code, challenge, params);
        Approval {
            admin: self.point(),
            signature: Blob::from_vec(sign_prehash(&self.key, &digest)).unwrap(),
        }
    }
}

/// The key an IdP signs tokens with.
pub enum IdpKey {
    P256(SigningKey),
    /// PKCS#8 of an RSA-2048 key.
    Rsa(Vec<u8>),
}

/// A development IdP: a key and its self-signed certificate.
pub struct Idp {
    pub key: IdpKey,
    pub cert: Vec<u8>,
    pub name: Name,
    pub serial: SerialNumber,
    /// The identification level put in tokens.
    pub level: IdentificationLevel,
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
            key: IdpKey::P256(key),
            cert,
            name,
            serial,
            level: IdentificationLevel::Substantial,
        }
    }

    /// An IdP with an RSA-2048 key (generated by the firmware's portable
    /// crypto from a fixed random stream).
    pub fn rsa2048(seed: u8) -> Self {
        use rsa::pkcs8::DecodePrivateKey;
        use sam_firmware::crypto::{Crypto, FirmwareRng};
        let stream = counter_stream(seed);
        let mut rng = FirmwareRng::new(&stream);
        let generated = Portable
            .generate(sam_proto::ids::KeyAlgorithm::Rsa2048, &mut rng)
            .unwrap();
        let private = rsa::RsaPrivateKey::from_pkcs8_der(&generated.private_pkcs8).unwrap();
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private);
        let name = Name::from_str(&format!(
            "CN=SAM Test RSA IdP {seed},O=SAM Development,C=DE"
        ))
        .unwrap();
        let serial = SerialNumber::from(u32::from(seed) + 2000);
        let pk = spki::SubjectPublicKeyInfoOwned::from_der(&generated.public_spki).unwrap();
        let profile = Root::new(false, name.clone()).unwrap();
        let validity = Validity::from_now(Duration::from_secs(3650 * 86400)).unwrap();
        let builder = CertificateBuilder::new(profile, serial.clone(), validity, pk).unwrap();
        let cert = builder
            .build::<_, rsa::pkcs1v15::Signature>(&signer)
            .unwrap()
            .to_der()
            .unwrap();
        Self {
            key: IdpKey::Rsa(generated.private_pkcs8.to_vec()),
            cert,
            name,
            serial,
            level: IdentificationLevel::Substantial,
        }
    }

    /// The P-256 key (panics for an RSA IdP).
    pub fn p256_key(&self) -> &SigningKey {
        match &self.key {
            IdpKey::P256(k) => k,
            IdpKey::Rsa(_) => panic!("not a P-256 IdP"),
        }
    }

    /// A signed identity token for `user`, valid `nb..=na` (Unix seconds),
    /// carrying a SAD key and the scope "signing" if `sad_key` is given.
    pub fn token(&self, user: UserId, nb: i64, na: i64, sad_key: Option<&[u8]>) -> Vec<u8> {
        let mut data = CompactIdentityToken::new(&user.to_string(), nb as u64, na as u64)
            .unwrap()
            .with_identification_level(self.level)
            .unwrap();
        if let Some(k) = sad_key {
            data = data
                .with_sad_public_key(k)
                .unwrap()
                .with_signing_scope("signing")
                .unwrap();
        }
        self.sign_token(data)
    }

    /// Signs token data as this IdP.
    pub fn sign_token(&self, data: CompactIdentityToken) -> Vec<u8> {
        let digest = sha256(&[&data.to_der().unwrap()]);
        let (scheme, signature) = match &self.key {
            IdpKey::P256(k) => (SchemeKind::Ecdsa, sign_prehash(k, &digest)),
            IdpKey::Rsa(pkcs8) => {
                use sam_firmware::crypto::{Crypto, FirmwareRng};
                let stream = counter_stream(0x42);
                let mut rng = FirmwareRng::new(&stream);
                let sig = Portable
                    .sign(
                        pkcs8,
                        sam_proto::ids::KeyAlgorithm::Rsa2048,
                        HashAlgorithm::Sha256,
                        &digest,
                        &mut rng,
                    )
                    .unwrap();
                (SchemeKind::RsaPkcs1v15, sig)
            }
        };
        let token = SignedIdentityToken {
            data,
            signer: IssuerSerial::new(&self.name, &self.serial).unwrap(),
            signature_algorithm: signature_algorithm(HashAlgorithm::Sha256, scheme),
            signature: der::asn1::OctetString::new(signature).unwrap(),
            token_type: None,
        };
        token.to_der().unwrap()
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

    /// A SAD over `hashes` for `key_id`, with `token`, signed by this key.
    pub fn sad(
        &self,
        token: &[u8],
        key_id: &str,
        hash: HashAlgorithm,
        hashes: &[Vec<u8>],
    ) -> Vec<u8> {
        let tbs = SadTbs {
            identity_token: SignedIdentityToken::from_der(token).unwrap(),
            key_id: key_id.to_owned(),
            hash_algorithm: digest_algorithm(hash),
            tbs_hash_values: hashes
                .iter()
                .map(|h| der::asn1::OctetString::new(h.clone()).unwrap())
                .collect(),
        };
        self.sign_tbs(tbs)
    }

    /// Signs a SADTBS.
    pub fn sign_tbs(&self, tbs: SadTbs) -> Vec<u8> {
        let digest = sha256(&[&tbs.to_der().unwrap()]);
        Sad {
            tbs,
            signature: der::asn1::OctetString::new(sign_prehash(&self.key, &digest)).unwrap(),
        }
        .to_der()
        .unwrap()
    }
}

/// SHA-256 of the concatenated `parts`, with the `sha2` crate: the tests
/// hash the approval layout independently of the firmware's engine.
fn sha256_array(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    parts.iter().for_each(|p| h.update(p));
    h.finalize().into()
}

/// What an administrator signs to approve command `code` with the
/// postcard parameters `params` under `challenge` (the layout of
/// [`sam_proto::approval`]).
pub fn approval_digest(code: SubFunction, challenge: &[u8; 32], params: &[u8]) -> [u8; 32] {
    bound_digest(ADMIN_APPROVAL, code, challenge, params, sha256_array)
}

/// What a Privileged User Technical signs for command `code` with the
/// request's intent (postcard) in `params`.
pub fn technical_digest(code: SubFunction, challenge: &[u8; 32], params: &[u8]) -> [u8; 32] {
    bound_digest(TECHNICAL, code, challenge, params, sha256_array)
}

/// What the SAD key bound in an identity token signs to authorize one
/// peering request: [`sam_proto::approval::TOKEN_REQUEST`] over the
/// request's intent (postcard) and `challenge`.
pub fn request_digest(code: SubFunction, challenge: &[u8; 32], intent: &[u8]) -> [u8; 32] {
    bound_digest(TOKEN_REQUEST, code, challenge, intent, sha256_array)
}

/// The proof of a token holder for the request `intent` of command
/// `code`, signed by `key` (the token's SAD key) under `challenge`.
pub fn request_proof(
    key: &SigningKey,
    code: SubFunction,
    challenge: &[u8; 32],
    intent: &Intent<'_>,
) -> RequestProof {
    let digest = request_digest(code, challenge, &postcard::to_allocvec(intent).unwrap());
    RequestProof {
        challenge: *challenge,
        signature: Blob::from_vec(sign_prehash(key, &digest)).unwrap(),
    }
}

/// A credential placeholder, for a request whose authentication is
/// filled in by [`Peering::auth_mut`] once its intent is signed.
pub fn unsigned() -> Authentication {
    Authentication {
        credential: Credential {
            kind: Credential::IDENTITY_TOKEN,
            value: Blob::default(),
        },
        actor: None,
        proof: None,
    }
}

/// A token-authorized peering request: what its client signs (computed
/// here from the client's side of the request, independently of the
/// firmware) and where its authentication goes.
pub trait Peering: Command {
    /// The request's intent when `actor` acts (the effective target of a
    /// request without target record).
    fn intent(&self, actor: UserId) -> Intent<'_>;
    /// Its authentication.
    fn auth_mut(&mut self) -> &mut Authentication;
}

impl Peering for CreatePrivilegedUser {
    fn intent(&self, _: UserId) -> Intent<'_> {
        Intent::CreatePrivilegedUser {
            user: &self.user,
            technical_certificate: self.technical_certificate.as_ref(),
        }
    }
    fn auth_mut(&mut self) -> &mut Authentication {
        &mut self.auth
    }
}

impl Peering for CreateSigner {
    fn intent(&self, _: UserId) -> Intent<'_> {
        Intent::CreateSigner { user: &self.user }
    }
    fn auth_mut(&mut self) -> &mut Authentication {
        &mut self.auth
    }
}

impl Peering for SignerMaintenance {
    fn intent(&self, actor: UserId) -> Intent<'_> {
        Intent::SignerMaintenance {
            target: self.target.as_ref().map_or(actor, |t| t.record.user_id),
            certificates: &self.certificates,
        }
    }
    fn auth_mut(&mut self) -> &mut Authentication {
        &mut self.auth
    }
}

impl Peering for GenerateKeyPair {
    fn intent(&self, actor: UserId) -> Intent<'_> {
        Intent::GenerateKeyPair {
            target: self.target.as_ref().map_or(actor, |t| t.record.user_id),
            algorithm: self.algorithm,
            subject: self.subject.as_ref(),
        }
    }
    fn auth_mut(&mut self) -> &mut Authentication {
        &mut self.auth
    }
}

impl Peering for SignCertificationRequest {
    fn intent(&self, _: UserId) -> Intent<'_> {
        Intent::SignCertificationRequest {
            key_id: self.wrapped.key_id,
            request_info: &self.request_info,
        }
    }
    fn auth_mut(&mut self) -> &mut Authentication {
        &mut self.auth
    }
}

impl Peering for DeleteKeyPair {
    fn intent(&self, _: UserId) -> Intent<'_> {
        Intent::DeleteKeyPair {
            key_id: self.key_id,
        }
    }
    fn auth_mut(&mut self) -> &mut Authentication {
        &mut self.auth
    }
}

impl Peering for RegisterCertificate {
    fn intent(&self, _: UserId) -> Intent<'_> {
        Intent::RegisterCertificate {
            key_id: self.key_id,
            certificate: &self.certificate,
        }
    }
    fn auth_mut(&mut self) -> &mut Authentication {
        &mut self.auth
    }
}

/// The message an HSM operator's logon answers for InitFirmware with the
/// postcard parameters `params` under `challenge`.
pub fn operator_logon_digest(challenge: &[u8; 32], params: &[u8]) -> [u8; 32] {
    bound_digest(
        OPERATOR_LOGON,
        SubFunction::InitFirmware,
        challenge,
        params,
        sha256_array,
    )
}

/// An HSM operator's logon as the simulator and the test platform check
/// it: HMAC-SHA-256 under the operator's secret of
/// [`operator_logon_digest`] (RustCrypto's `hmac`, not the firmware's).
pub fn operator_logon(
    user: &[u8],
    secret: &[u8; 32],
    challenge: &[u8; 32],
    params: &[u8],
) -> OperatorLogon {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(&operator_logon_digest(challenge, params));
    OperatorLogon {
        user: Blob::new(user).unwrap(),
        response: Blob::new(&mac.finalize().into_bytes()).unwrap(),
    }
}

/// The key usages a test certificate may carry.
pub use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

/// A signing CA: issues signer certificates for keys the firmware
/// generated, with a validity and key usage the test chooses.
pub struct SigningCa {
    pub key: SigningKey,
    pub cert: Vec<u8>,
    pub name: Name,
}

/// A validity from `nb` to `na` (Unix seconds).
pub fn validity(nb: i64, na: i64) -> Validity {
    let at = |secs: i64| {
        x509_cert::time::Time::from(
            der::DateTime::from_unix_duration(Duration::from_secs(secs as u64)).unwrap(),
        )
    };
    Validity::new(at(nb), at(na))
}

impl SigningCa {
    /// A CA with a self-signed root from `seed`, valid for ten years from
    /// 2020 (before any test clock).
    pub fn new(seed: u8) -> Self {
        let key = p256_key(seed, 7);
        let name = Name::from_str(&format!(
            "CN=SAM Test Signing CA {seed},O=SAM Development,C=DE"
        ))
        .unwrap();
        let pk = spki::SubjectPublicKeyInfoOwned::from_der(&spki(key.verifying_key())).unwrap();
        let profile = Root::new(false, name.clone()).unwrap();
        let v = validity(1_577_836_800, 1_577_836_800 + 20 * 365 * 86_400);
        let cert = CertificateBuilder::new(
            profile,
            SerialNumber::from(3000u32 + u32::from(seed)),
            v,
            pk,
        )
        .unwrap()
        .build::<_, DerSignature>(&key)
        .unwrap()
        .to_der()
        .unwrap();
        Self { key, cert, name }
    }

    /// A certificate for the key `spki_der`, valid `nb..=na`, with the key
    /// usages `usage` (no keyUsage extension for `None`).
    pub fn issue(&self, spki_der: &[u8], nb: i64, na: i64, usage: Option<KeyUsage>) -> Vec<u8> {
        self.issue_as(&self.name, spki_der, nb, na, usage)
    }

    /// [`Self::issue`] with another issuer name (a forgery that names a
    /// trusted CA but is signed with this CA's key).
    pub fn issue_as(
        &self,
        issuer: &Name,
        spki_der: &[u8],
        nb: i64,
        na: i64,
        usage: Option<KeyUsage>,
    ) -> Vec<u8> {
        let profile = EndEntity {
            issuer: issuer.clone(),
            subject: Name::from_str("CN=Test Signer,O=SAM Development,C=DE").unwrap(),
            usage,
        };
        let pk = spki::SubjectPublicKeyInfoOwned::from_der(spki_der).unwrap();
        CertificateBuilder::new(profile, SerialNumber::from(4242u32), validity(nb, na), pk)
            .unwrap()
            .build::<_, DerSignature>(&self.key)
            .unwrap()
            .to_der()
            .unwrap()
    }

    /// A certificate valid from an hour before `now` for a year, for
    /// digitalSignature and nonRepudiation: what a CA issues.
    pub fn issue_now(&self, spki_der: &[u8], now: i64) -> Vec<u8> {
        self.issue(
            spki_der,
            now - 3600,
            now + 365 * 86_400,
            Some(KeyUsage(
                KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            )),
        )
    }
}

struct EndEntity {
    issuer: Name,
    subject: Name,
    usage: Option<KeyUsage>,
}

impl x509_cert::builder::profile::BuilderProfile for EndEntity {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::certificate::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<x509_cert::ext::Extension>> {
        use x509_cert::ext::ToExtension;
        let mut extensions = Vec::new();
        if let Some(usage) = self.usage {
            let ext = usage.to_extension(tbs.subject(), &extensions)?;
            extensions.push(ext);
        }
        Ok(extensions)
    }
}

//! The signer's temporary SAD key and the Signature Activation Data it
//! signs (seed §5.6, §8.1).

use crate::ClientError;
use der::Encode;
use der::asn1::OctetString;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use sam_proto::approval::{TOKEN_REQUEST, bound_digest};
use sam_proto::asn1::{Sad, SadTbs, SignedIdentityToken, digest_algorithm};
use sam_proto::command::{MAX_HASHES, MAX_SAD_LEN, SubFunction};
use sam_proto::ids::{HashAlgorithm, KeyId};
use std::fmt;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// The scope value the firmware requires in a signing token.
pub const SIGNING_SCOPE: &str = "signing";

/// What to sign: the signer key, the digest algorithm and the hashes
/// (batch signing: one signature per hash, in this order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// The KeyID of the signer key in the SAM.
    pub key_id: KeyId,
    /// The digest algorithm of every hash in `hashes`.
    pub hash_algorithm: HashAlgorithm,
    /// The hashes, each [`HashAlgorithm::output_len`] bytes, 1 to
    /// [`MAX_HASHES`] of them.
    pub hashes: Vec<Vec<u8>>,
}

impl SignRequest {
    /// A request for one hash.
    pub fn single(key_id: KeyId, hash_algorithm: HashAlgorithm, hash: Vec<u8>) -> Self {
        Self {
            key_id,
            hash_algorithm,
            hashes: vec![hash],
        }
    }

    /// Checks count and lengths, as the firmware will.
    pub fn check(&self) -> Result<(), ClientError> {
        if self.hashes.is_empty() || self.hashes.len() > MAX_HASHES {
            return Err(ClientError::InvalidInput(format!(
                "a SAD carries 1 to {MAX_HASHES} hashes, not {}",
                self.hashes.len()
            )));
        }
        let want = self.hash_algorithm.output_len();
        if let Some((i, h)) = self
            .hashes
            .iter()
            .enumerate()
            .find(|(_, h)| h.len() != want)
        {
            return Err(ClientError::InvalidInput(format!(
                "hash {i} has {} bytes; a {:?} hash has {want}",
                h.len(),
                self.hash_algorithm
            )));
        }
        Ok(())
    }
}

/// The signer's temporary SAD key: an ECDSA P-256 key made for one
/// signing transaction. Its public key goes to the IdP, which embeds it in
/// the identity token ([`crate::IdpClient::embed_sad_key`]); the private
/// key signs the SAD and is then dropped. The secret scalar is wiped on
/// drop (`ZeroizeOnDrop`), and so is the random seed it was made from.
///
/// The SAD signature is ECDSA with SHA-256 over DER(`SADTBS`), DER
/// encoded, as the firmware expects for a P-256 SAD key.
pub struct SadKey {
    key: SigningKey,
}

impl ZeroizeOnDrop for SadKey {}

impl fmt::Debug for SadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SadKey").finish_non_exhaustive()
    }
}

impl SadKey {
    /// A fresh key from the operating system's RNG (through the aws-lc-rs
    /// provider that rustls uses).
    pub fn generate() -> Result<Self, ClientError> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        // A uniformly random 32-byte string is a valid scalar except with
        // probability ~2^-32; retry in that case.
        for _ in 0..8 {
            let mut seed = Zeroizing::new([0u8; 32]);
            provider
                .secure_random
                .fill(seed.as_mut_slice())
                .map_err(|_| ClientError::Crypto("the RNG failed".into()))?;
            if let Ok(key) = SigningKey::from_slice(seed.as_slice()) {
                return Ok(Self { key });
            }
        }
        Err(ClientError::Crypto(
            "no valid P-256 scalar from the RNG".into(),
        ))
    }

    /// A key from a given 32-byte scalar (big-endian). For tests and for
    /// integrators with their own key source.
    pub fn from_scalar(bytes: &[u8]) -> Result<Self, ClientError> {
        SigningKey::from_slice(bytes)
            .map(|key| Self { key })
            .map_err(|_| ClientError::InvalidInput("not a P-256 scalar".into()))
    }

    /// The private key as DER PKCS#8, wiped on drop: for a command-line
    /// client (samctl `--token-key`) that keeps the key of a login token
    /// in a file for the token's lifetime.
    pub fn private_key_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        use p256::pkcs8::EncodePrivateKey;
        self.key
            .to_pkcs8_der()
            .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|e| ClientError::Crypto(format!("SAD private key: {e}")))
    }

    /// The DER `SubjectPublicKeyInfo` of the public key, as the IdP embeds
    /// it in the token.
    pub fn public_key_der(&self) -> Result<Vec<u8>, ClientError> {
        self.key
            .verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| ClientError::Crypto(format!("SAD public key: {e}")))
    }

    /// The proof, for a peering request, that the holder of the identity
    /// token binding this key asked for it: ECDSA P-256 (DER) over
    /// [`request_digest`] of command `code`, the firmware's `challenge`
    /// and the request's postcard intent (see [`crate::intent`]).
    pub fn sign_request(
        &self,
        code: SubFunction,
        challenge: &[u8; 32],
        intent: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let digest = request_digest(code, challenge, intent);
        let sig: DerSignature = self
            .key
            .sign_prehash(&digest)
            .map_err(|e| ClientError::Crypto(format!("request proof: {e}")))?;
        Ok(sig.as_bytes().to_vec())
    }

    /// Builds and signs a SAD for `request` with the identity token
    /// `token_der` (DER `SignedIdentityToken` from the IdP).
    ///
    /// The token is checked to carry this key and the scope `"signing"`
    /// (the firmware would refuse it anyway, with less detail); the
    /// request's hashes are checked for count and length.
    pub fn sign_sad(
        &self,
        token_der: &[u8],
        request: &SignRequest,
    ) -> Result<Vec<u8>, ClientError> {
        request.check()?;
        let token = SignedIdentityToken::from_der_strict(token_der)?;
        let embedded = token
            .data
            .sad_public_key()?
            .ok_or_else(|| ClientError::InvalidInput("the token carries no SAD key".into()))?;
        if embedded.to_der()? != self.public_key_der()? {
            return Err(ClientError::InvalidInput(
                "the token carries another SAD key".into(),
            ));
        }
        if token.data.signing_scope()?.as_deref() != Some(SIGNING_SCOPE) {
            return Err(ClientError::InvalidInput(
                "the token's scope is not \"signing\"".into(),
            ));
        }
        let tbs = build_sad_tbs(token, request)?;
        let der = self.sign_tbs(tbs)?.to_der()?;
        if der.len() > MAX_SAD_LEN {
            return Err(ClientError::InvalidInput(format!(
                "the SAD has {} bytes, more than {MAX_SAD_LEN}",
                der.len()
            )));
        }
        Ok(der)
    }

    /// Signs a `SADTBS` as it is (no checks): ECDSA P-256 with SHA-256
    /// over its DER.
    pub fn sign_tbs(&self, tbs: SadTbs) -> Result<Sad, ClientError> {
        let tbs_der = tbs.to_der()?;
        let sig: DerSignature = self
            .key
            .try_sign(&tbs_der)
            .map_err(|e| ClientError::Crypto(format!("SAD signature: {e}")))?;
        Ok(Sad {
            tbs,
            signature: OctetString::new(sig.as_bytes())?,
        })
    }
}

/// What a token's SAD key signs to authorize one peering request (the
/// layout of `sam_proto::approval` under `TOKEN_REQUEST`).
pub fn request_digest(code: SubFunction, challenge: &[u8; 32], intent: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    bound_digest(TOKEN_REQUEST, code, challenge, intent, |parts| {
        let mut h = sha2::Sha256::new();
        parts.iter().for_each(|p| h.update(p));
        h.finalize().into()
    })
}

/// The `SADTBS` for `request` with `token` (no signature checks).
pub fn build_sad_tbs(
    token: SignedIdentityToken,
    request: &SignRequest,
) -> Result<SadTbs, ClientError> {
    let tbs_hash_values = request
        .hashes
        .iter()
        .map(|h| OctetString::new(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SadTbs {
        identity_token: token,
        key_id: request.key_id.to_string(),
        hash_algorithm: digest_algorithm(request.hash_algorithm),
        tbs_hash_values,
    })
}

/// Decodes a SAD strictly, as the firmware does (for checks and tests).
pub fn parse_sad(der: &[u8]) -> Result<Sad, ClientError> {
    Ok(Sad::from_der_strict(der)?)
}

/// Decodes an identity token strictly.
pub fn parse_token(der: &[u8]) -> Result<SignedIdentityToken, ClientError> {
    Ok(SignedIdentityToken::from_der_strict(der)?)
}

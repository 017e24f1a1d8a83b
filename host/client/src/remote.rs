//! The Remote Signature API of seed §6.7 and §7.6: what a signer's
//! environment calls to sign hashes with its key in the SAM.
//!
//! ```text
//! let signer = RemoteSignatureApi::new(sam, idp).login(id_token).await?;  // §7.6 login
//! let cms = signer.sign(HashAlgorithm::Sha256, key_id, vec![hash]).await?; // §7.6 sign
//! // cms["0"]: DER detached CMS SignedData over the document whose hash it was
//! ```
//!
//! `login` makes the temporary SAD key ([`SadKey`], wiped on drop) and has
//! the IdP embed its public key in the user's identity token
//! ([`IdpClient::embed_sad_key`], seed §7.5.1). `sign` makes the SAD
//! (seed §8.1) for the hashes with that key and token and sends it to
//! samd's `POST /signing` asking for CMS containers (seed §7.2 Table 24).
//!
//! The firmware accepts each identity token in one SAD only (a replayed
//! token is `ReplayedSad`). So a [`RemoteSigner`] uses the SAD key of its
//! login for the first SAD, and for every later one first makes a fresh
//! SAD key and has the IdP bind it again, with the login token it was
//! given. Batch several hashes into one `sign` to spend one IdP round trip
//! and one firmware signing for all.
//!
//! Errors are [`ClientError`]s, as everywhere in this crate: the IdP's
//! refusal is [`ClientError::Idp`], the SAM's [`ClientError::Sam`] with the
//! seed's error type, transport and answer problems their own variants.

use crate::ClientError;
use crate::idp::{IdpClient, IdpLogin};
use crate::sad::{SadKey, SignRequest};
use crate::samd::SamClient;
use crate::wire::signing::SignatureFormat;
use sam_proto::ids::{HashAlgorithm, KeyId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The entry of the Remote Signature API: samd and the IdP.
#[derive(Debug, Clone)]
pub struct RemoteSignatureApi {
    sam: Arc<SamClient>,
    idp: Arc<IdpClient>,
}

impl RemoteSignatureApi {
    /// The API over samd `sam` (mutual TLS with an SSA connector) and the
    /// IdP `idp`.
    pub fn new(sam: Arc<SamClient>, idp: Arc<IdpClient>) -> Self {
        Self { sam, idp }
    }

    /// Seed §7.6 `login`: a signer session for the user of the DER
    /// identity token `id_token` (the token the user logged in with).
    pub async fn login(&self, id_token: Vec<u8>) -> Result<RemoteSigner, ClientError> {
        Ok(RemoteSigner {
            sam: Arc::clone(&self.sam),
            sads: SadMaker::login(Arc::clone(&self.idp), IdpLogin::IdToken(id_token)).await?,
        })
    }
}

/// A logged-in signer (seed §7.6): signs hashes with the signer's keys.
#[derive(Debug)]
pub struct RemoteSigner {
    sam: Arc<SamClient>,
    sads: SadMaker,
}

impl RemoteSigner {
    /// Seed §7.6 `sign`: signs `hashes` (each `hash_algorithm`'s length,
    /// 1 to [`sam_proto::command::MAX_HASHES`]) with the key `key_id` in one SAD.
    /// The answer maps each hash's zero-based position (`"0"`, `"1"`, ...)
    /// to its DER detached CMS `SignedData`, as samd's `/signing` returns
    /// it (no signed attributes; the signer's certificate inside).
    pub async fn sign(
        &mut self,
        hash_algorithm: HashAlgorithm,
        key_id: KeyId,
        hashes: Vec<Vec<u8>>,
    ) -> Result<BTreeMap<String, Vec<u8>>, ClientError> {
        let n = hashes.len();
        let sad = self.sads.sad(hash_algorithm, key_id, hashes).await?;
        let signed = self.sam.signing(&sad, SignatureFormat::Cms).await?;
        if signed.signatures.len() != n {
            return Err(ClientError::Protocol(format!(
                "{} signatures for {n} hashes",
                signed.signatures.len()
            )));
        }
        Ok(signed
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, cms)| (i.to_string(), cms))
            .collect())
    }
}

/// The SAD-making half of a [`RemoteSigner`], for callers that hand the
/// SAD to somebody else (a CSC `credentials/authorize`, `sam-sign sad`):
/// a SAD key bound into the user's token by the IdP, renewed after each
/// SAD.
#[derive(Debug)]
pub struct SadMaker {
    idp: Arc<IdpClient>,
    login: IdpLogin,
    /// The SAD key and the token that binds it, until a SAD used them.
    session: Option<(SadKey, Vec<u8>)>,
}

impl SadMaker {
    /// Makes a SAD key and has `idp` bind it into the token of `login`.
    pub async fn login(idp: Arc<IdpClient>, login: IdpLogin) -> Result<Self, ClientError> {
        let session = Some(bind(&idp, &login).await?);
        Ok(Self {
            idp,
            login,
            session,
        })
    }

    /// The DER SAD (seed §8.1) for `hashes` with `key_id`, signed by the
    /// session's SAD key (a fresh one, bound again, if an earlier SAD used
    /// it).
    pub async fn sad(
        &mut self,
        hash_algorithm: HashAlgorithm,
        key_id: KeyId,
        hashes: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, ClientError> {
        let request = SignRequest {
            key_id,
            hash_algorithm,
            hashes,
        };
        request.check()?;
        let (key, token) = match self.session.take() {
            Some(s) => s,
            None => bind(&self.idp, &self.login).await?,
        };
        key.sign_sad(&token, &request)
    }
}

/// A fresh SAD key and the IdP's token binding it.
async fn bind(idp: &IdpClient, login: &IdpLogin) -> Result<(SadKey, Vec<u8>), ClientError> {
    let key = SadKey::generate()?;
    let token = idp.embed_sad_key(login, &key.public_key_der()?).await?;
    Ok((key, token))
}

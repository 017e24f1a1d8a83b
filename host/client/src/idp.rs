//! The IdP REST interface of seed §7.5.1, `POST /id-token/sad`: the IdP
//! embeds the signer's SAD public key (and the scope `"signing"`) in the
//! identity token.
//!
//! The seed names the fields (`idToken`, `sadPublicKey`, `idTokenMod`)
//! and types them "String"; we carry the DER values in standard base64
//! with padding, like samd:
//!
//! ```text
//! POST /id-token/sad
//! Content-Type: application/json
//!
//! {"idToken": "<base64 DER SignedIdentityToken: the user's login token>",
//!  "sadPublicKey": "<base64 DER SubjectPublicKeyInfo of the SAD key>"}
//!
//! 200 {"idTokenMod": "<base64 DER SignedIdentityToken with the SAD key>"}
//! 400 {"error": {"type": "InvalidRequest", "detail": "invalid request data: ..."}}
//! 404 {"error": {"type": "Unauthorized", "detail": "authenticated session not available: ..."}}
//! 500 {"error": {"type": "InternalError", "detail": "unexpected internal error"}}
//! ```
//!
//! The statuses are the seed's (including 404 for a missing
//! authentication). A development IdP may also accept `"userId"` (UUID)
//! instead of `idToken`, standing for "this user has just logged in"; the
//! one in `sam-devpki` does so only when started with that DEV-ONLY
//! option.

use crate::http::{Endpoint, json};
use crate::{ClientError, error::printable};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::ClientConfig;
use sam_proto::ids::UserId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The path of the operation.
pub const ID_TOKEN_SAD_PATH: &str = "/id-token/sad";

/// The request body of `POST /id-token/sad`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmbedSadKeyRequest {
    /// Base64 DER `SignedIdentityToken`: the token the user logged in
    /// with, which the IdP re-issues with the SAD key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// DEV-ONLY alternative to `idToken`: the UserID of a user the
    /// development IdP takes as logged in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Base64 DER `SubjectPublicKeyInfo` of the SAD key.
    pub sad_public_key: String,
}

/// The answer of `POST /id-token/sad`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedSadKeyResponse {
    /// Base64 DER `SignedIdentityToken` carrying the SAD key and the
    /// scope `"signing"`.
    pub id_token_mod: String,
}

/// The error body of the IdP interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpErrorBody {
    /// The error.
    pub error: IdpErrorDetail,
}

/// The error of [`IdpErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpErrorDetail {
    /// `InvalidRequest` (400), `Unauthorized` (404) or `InternalError`
    /// (500).
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable detail.
    pub detail: String,
}

/// How the signer is known to the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdpLogin {
    /// The DER identity token of the user's login (seed: `idToken`).
    IdToken(Vec<u8>),
    /// DEV-ONLY: a UserID that a development IdP started with that option
    /// takes as logged in.
    DevUserId(UserId),
}

impl IdpLogin {
    /// The request body for `sad_public_key` (DER SPKI).
    pub fn request(&self, sad_public_key: &[u8]) -> EmbedSadKeyRequest {
        let (id_token, user_id) = match self {
            Self::IdToken(t) => (Some(STANDARD.encode(t)), None),
            Self::DevUserId(u) => (None, Some(u.to_string())),
        };
        EmbedSadKeyRequest {
            id_token,
            user_id,
            sad_public_key: STANDARD.encode(sad_public_key),
        }
    }
}

/// A client of an IdP's `POST /id-token/sad`.
#[derive(Debug)]
pub struct IdpClient {
    endpoint: Endpoint,
}

impl IdpClient {
    /// An IdP at `base_url` (`https://...`) trusting `tls` for its
    /// server certificate (see [`crate::tls_config`]).
    pub fn new(base_url: &str, tls: Arc<ClientConfig>) -> Result<Self, ClientError> {
        Ok(Self {
            endpoint: Endpoint::new(base_url, Some(tls))?,
        })
    }

    /// DEV-ONLY: an IdP at a plain `http://` URL (the development IdP of
    /// `sam-devpki` on the loopback interface). Identity tokens travel in
    /// clear text; never use this with a real IdP.
    pub fn dev_plain_http(base_url: &str) -> Result<Self, ClientError> {
        Ok(Self {
            endpoint: Endpoint::new(base_url, None)?,
        })
    }

    /// Sets the time one request may take (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.endpoint.set_timeout(timeout);
        self
    }

    /// Asks the IdP for a token of `login`'s user carrying `sad_public_key`
    /// (DER SPKI); the DER token.
    pub async fn embed_sad_key(
        &self,
        login: &IdpLogin,
        sad_public_key: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let (status, body) = self
            .endpoint
            .post_json(ID_TOKEN_SAD_PATH, &login.request(sad_public_key))
            .await?;
        if !status.is_success() {
            let detail = match serde_json::from_slice::<IdpErrorBody>(&body) {
                Ok(e) => format!("{}: {}", e.error.kind, e.error.detail),
                Err(_) => printable(&body),
            };
            return Err(ClientError::Idp {
                status: status.as_u16(),
                detail,
            });
        }
        let answer: EmbedSadKeyResponse = json(&body)?;
        STANDARD
            .decode(answer.id_token_mod.as_bytes())
            .map_err(|e| ClientError::Protocol(format!("idTokenMod is not base64: {e}")))
    }
}

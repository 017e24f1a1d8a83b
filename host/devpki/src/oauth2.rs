//! DEV-ONLY: the IdP side of the CSC OAuth2 authorization-code flow with
//! `scope=credential` (CSC v2.0.0.2 §8.4), for `sam-csc`'s
//! `oauth2/authorize` and `oauth2/token`.
//!
//! **This "authorization server" authenticates nobody.** It takes the user
//! named by `login_hint` as logged in, without asking, plays that user's
//! signer environment itself (a fresh P-256 SAD key, an identity token
//! binding it, the seed §8.1 SAD over the `documentDigests`), and hands
//! the seed SAD to whoever presents the code with the right PKCE
//! verifier. It exists to run the CSC OAuth2 flow end to end on one
//! machine; a real IdP authenticates the user and runs the signer's
//! environment where the user is.
//!
//! ```text
//! GET /oauth2/authorize?response_type=code&client_id=C&redirect_uri=R
//!     &scope=credential&authorization_details=<JSON array, one
//!      {"type":"credential","credentialID":KeyID,
//!       "documentDigests":[{"hash":b64,"label":..}],"hashAlgorithmOID":oid}>
//!     &state=S&code_challenge=X&code_challenge_method=S256&login_hint=<UserID>
//! 302 Location: R?code=...&state=S        (R: http(s) on 127.0.0.1/localhost)
//! 400 {"error": "invalid_request", "error_description": "..."}
//!
//! POST /oauth2/token   (application/x-www-form-urlencoded)
//!     grant_type=authorization_code&code=..&client_id=C&redirect_uri=R&code_verifier=V
//! 200 {"token_type": "SAD", "sad": "<base64 DER seed SAD>", "expires_in": N,
//!      "authorization_details": [...]}
//! 400 {"error": "invalid_grant" | "invalid_request", "error_description": "..."}
//! ```
//!
//! Codes live 60 s and are single use.

use crate::{DevIdp, TokenParams};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sam_client::form;
use sam_client::{SadKey, SignRequest};
use sam_csc::wire::{CredentialDetails, IdpSadToken as SadTokenAnswer};
use sam_proto::asn1::{IdentificationLevel, signature_hash};
use sam_proto::ids::Uuid;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// `GET /oauth2/authorize`.
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
/// `POST /oauth2/token`.
pub const TOKEN_PATH: &str = "/oauth2/token";
/// Seconds a code lives.
pub const CODE_LIFETIME: u64 = 60;
/// Most codes open at once.
const MAX_CODES: usize = 1024;

/// An OAuth2 error (RFC 6749 §4.1.2.1, §5.2), always 400 here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_grant`, `unsupported_response_type`, ...
    pub error: String,
    /// Why.
    pub error_description: String,
}

impl OAuthError {
    fn new(error: &str, description: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            error_description: description.into(),
        }
    }

    fn invalid(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }
}

#[derive(Debug, Clone)]
struct Code {
    sad: Vec<u8>,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    expires: u64,
    sad_not_after: u64,
    details: CredentialDetails,
}

/// The open codes of the dev IdP.
#[derive(Debug, Default)]
pub struct OAuthCodes(Mutex<HashMap<String, Code>>);

/// Whether `uri` is `http(s)://127.0.0.1…` or `http(s)://localhost…`.
fn loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    host == "127.0.0.1" || host == "localhost"
}

fn random_code() -> Result<String, OAuthError> {
    let raw =
        crate::rand::bytes::<32>().map_err(|e| OAuthError::new("server_error", e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

impl OAuthCodes {
    /// `GET /oauth2/authorize` with `query`: the `Location` to redirect
    /// to. DEV-ONLY: the user of `login_hint` is believed.
    pub fn authorize(
        &self,
        idp: &DevIdp,
        query: &str,
        now: u64,
        token_lifetime: u64,
    ) -> Result<String, OAuthError> {
        let q = form::parse(query).map_err(|e| OAuthError::invalid(e.to_string()))?;
        let field = |name: &str| {
            form::get(&q, name).ok_or_else(|| OAuthError::invalid(format!("missing {name}")))
        };
        if field("response_type")? != "code" {
            return Err(OAuthError::new(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        let client_id = field("client_id")?;
        let redirect_uri = field("redirect_uri")?;
        if !loopback_redirect(redirect_uri) {
            return Err(OAuthError::invalid(
                "redirect_uri must be http(s) on 127.0.0.1 or localhost (development IdP)",
            ));
        }
        if field("scope")? != "credential" {
            return Err(OAuthError::new("invalid_scope", "scope must be credential"));
        }
        if field("code_challenge_method")? != "S256" {
            return Err(OAuthError::invalid("code_challenge_method must be S256"));
        }
        let code_challenge = field("code_challenge")?;
        let user = Uuid::parse(field("login_hint")?)
            .map_err(|_| OAuthError::invalid("login_hint must be a UserID"))?;
        let details: Vec<CredentialDetails> = serde_json::from_str(field("authorization_details")?)
            .map_err(|e| OAuthError::invalid(format!("authorization_details: {e}")))?;
        let [details] = <[CredentialDetails; 1]>::try_from(details)
            .map_err(|_| OAuthError::invalid("authorization_details must hold one entry"))?;
        if details.kind != "credential" {
            return Err(OAuthError::invalid(
                "authorization_details type must be credential",
            ));
        }
        let key_id = Uuid::parse(&details.credential_id)
            .map_err(|_| OAuthError::invalid("credentialID must be a KeyID"))?;
        let oid = der::asn1::ObjectIdentifier::new(&details.hash_algorithm_oid)
            .map_err(|_| OAuthError::invalid("hashAlgorithmOID"))?;
        let (hash_algorithm, _) = signature_hash(&spki::AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        })
        .map_err(|_| OAuthError::invalid("hashAlgorithmOID"))?;
        let hashes = details
            .document_digests
            .iter()
            .map(|d| STANDARD.decode(d.hash.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| OAuthError::invalid("documentDigests hash is not base64"))?;
        // The signer's environment, played here: DEV-ONLY.
        let internal = |e: String| OAuthError::new("server_error", e);
        let sad_key = SadKey::generate().map_err(|e| internal(e.to_string()))?;
        let not_after = now.saturating_add(token_lifetime);
        let token = idp
            .issue_token(&TokenParams {
                user_id: user,
                level: IdentificationLevel::Substantial,
                not_before: now,
                not_after,
                sad_public_key: Some(
                    sad_key
                        .public_key_der()
                        .map_err(|e| internal(e.to_string()))?,
                ),
            })
            .map_err(|e| internal(e.to_string()))?;
        let sad = sad_key
            .sign_sad(
                &token,
                &SignRequest {
                    key_id,
                    hash_algorithm,
                    hashes,
                },
            )
            .map_err(|e| OAuthError::invalid(e.to_string()))?;
        let code = random_code()?;
        let state = form::get(&q, "state");
        {
            let mut codes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            codes.retain(|_, c| c.expires >= now);
            if codes.len() >= MAX_CODES {
                return Err(OAuthError::new(
                    "temporarily_unavailable",
                    "too many open codes",
                ));
            }
            codes.insert(
                code.clone(),
                Code {
                    sad,
                    client_id: client_id.to_owned(),
                    redirect_uri: redirect_uri.to_owned(),
                    code_challenge: code_challenge.to_owned(),
                    expires: now + CODE_LIFETIME,
                    sad_not_after: not_after,
                    details,
                },
            );
        }
        dev_warn!(
            "OAuth2 code issued for user {user} WITHOUT authentication (login_hint believed)"
        );
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        let mut location = format!("{redirect_uri}{sep}code={}", form::encode(&code));
        if let Some(s) = state {
            location.push_str(&format!("&state={}", form::encode(s)));
        }
        Ok(location)
    }

    /// `POST /oauth2/token` with the form `body`.
    pub fn token(&self, body: &str, now: u64) -> Result<SadTokenAnswer, OAuthError> {
        let f = form::parse(body).map_err(|e| OAuthError::invalid(e.to_string()))?;
        let field = |name: &str| {
            form::get(&f, name).ok_or_else(|| OAuthError::invalid(format!("missing {name}")))
        };
        if field("grant_type")? != "authorization_code" {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "grant_type must be authorization_code",
            ));
        }
        let (code, client_id, redirect_uri, verifier) = (
            field("code")?,
            field("client_id")?,
            field("redirect_uri")?,
            field("code_verifier")?,
        );
        // Single use: the code is gone whatever follows.
        let c = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(code)
            .ok_or_else(|| OAuthError::grant("unknown or used code"))?;
        if c.expires < now {
            return Err(OAuthError::grant("the code has expired"));
        }
        if c.client_id != client_id || c.redirect_uri != redirect_uri {
            return Err(OAuthError::grant(
                "client_id or redirect_uri differ from the authorization request",
            ));
        }
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if challenge != c.code_challenge {
            return Err(OAuthError::grant(
                "the PKCE code_verifier does not match the code_challenge",
            ));
        }
        Ok(SadTokenAnswer {
            token_type: "SAD".into(),
            sad: STANDARD.encode(&c.sad),
            expires_in: c.sad_not_after.saturating_sub(now),
            authorization_details: vec![c.details],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::loopback_redirect;

    #[test]
    fn only_loopback_redirects() {
        for ok in [
            "http://127.0.0.1:9/cb",
            "https://localhost/cb?x=1",
            "http://localhost:8080",
        ] {
            assert!(loopback_redirect(ok), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "ftp://127.0.0.1/",
            "http://127.0.0.1.example.com/",
            "http://localhost.evil:80/",
            "127.0.0.1/cb",
        ] {
            assert!(!loopback_redirect(bad), "{bad}");
        }
    }
}

//! A small CSC v2 client for the explicit authorization mode: what the
//! demo and the benchmark use to speak to the service, the way a
//! signature application would. It holds no key: the seed SAD comes from
//! the signer's environment (`sam_client::RemoteSigner`'s SAD maker, or
//! `sam-sign sad`), and this client only carries it to
//! `credentials/authorize` and the handle it gets back to
//! `signatures/signHash`.

use crate::error::ErrorBody;
use crate::wire::{
    AuthData, AuthorizeAnswer, AuthorizeRequestV2, ListAnswerV2, ListRequest, SignHashAnswer,
    SignHashRequestV2,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_client::ClientError;
use sam_client::http::Endpoint;
use sam_proto::ids::{HashAlgorithm, KeyId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Why a CSC call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CscClientError {
    /// The service answered `{"error", "error_description"}`.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The CSC error code (`invalid_request`, `invalid_token`, ...).
        error: String,
        /// The service's description (a firmware refusal keeps its seed
        /// error type in front, e.g. `ReplayedSad: ...`).
        description: String,
    },
    /// Transport, TLS, configuration, or an answer of another shape.
    Client(ClientError),
}

impl std::fmt::Display for CscClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused {
                status,
                error,
                description,
            } => write!(f, "HTTP {status} {error}: {description}"),
            Self::Client(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CscClientError {}

impl From<ClientError> for CscClientError {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}

/// A CSC v2 client of one service for one bearer token.
#[derive(Debug)]
pub struct CscClient {
    endpoint: Endpoint,
    authorization: String,
}

impl CscClient {
    /// A client of the service at `base_url` (`https://host:port`, the
    /// part before `/csc/v2`), trusting the CA certificates of the PEM
    /// file `tls_ca`, calling with the DER identity token (or an
    /// `auth/login` access token's bytes) `bearer`.
    pub fn new(base_url: &str, tls_ca: &Path, bearer: &[u8]) -> Result<Self, CscClientError> {
        let roots = sam_client::read_pem_certificates(tls_ca)?;
        let tls = sam_client::tls_config(roots, None)?;
        Ok(Self {
            endpoint: Endpoint::new(base_url, Some(tls))?,
            authorization: format!("Bearer {}", STANDARD.encode(bearer)),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, CscClientError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| ClientError::Protocol(format!("request JSON: {e}")))?;
        let (status, answer) = self
            .endpoint
            .request_authorized(
                sam_client::Method::POST,
                path,
                Some(body),
                Some(&self.authorization),
            )
            .await?;
        if status.is_success() {
            return serde_json::from_slice(&answer).map_err(|e| {
                CscClientError::Client(ClientError::Protocol(format!("{path}: answer JSON: {e}")))
            });
        }
        match serde_json::from_slice::<ErrorBody>(&answer) {
            Ok(b) => Err(CscClientError::Refused {
                status: status.as_u16(),
                error: b.error,
                description: b.error_description,
            }),
            Err(_) => Err(CscClientError::Client(ClientError::Protocol(format!(
                "{path}: HTTP {status} without a CSC error body"
            )))),
        }
    }

    /// `credentials/list`: the caller's credential IDs.
    pub async fn credentials(&self) -> Result<Vec<String>, CscClientError> {
        let request = ListRequest {
            user_id: None,
            credential_info: None,
            certificates: None,
            cert_info: None,
            only_valid: None,
            max_results: None,
        };
        let answer: ListAnswerV2 = self.call("/csc/v2/credentials/list", &request).await?;
        Ok(answer.credential_ids)
    }

    /// `credentials/authorize` in explicit mode: `seed_sad` (DER, made by
    /// the signer's environment over exactly `hashes`) in `authData`; the
    /// opaque single-use handle back.
    pub async fn authorize(
        &self,
        credential: KeyId,
        hash_algorithm: HashAlgorithm,
        hashes: &[Vec<u8>],
        seed_sad: &[u8],
    ) -> Result<String, CscClientError> {
        let request = AuthorizeRequestV2 {
            credential_id: credential.to_string(),
            num_signatures: u32::try_from(hashes.len()).unwrap_or(u32::MAX),
            hashes: Some(hashes.iter().map(|h| STANDARD.encode(h)).collect()),
            hash_algorithm_oid: Some(crate::algo::hash_oid(hash_algorithm).to_owned()),
            auth_data: Some(vec![AuthData {
                id: "SAD".to_owned(),
                value: STANDARD.encode(seed_sad),
            }]),
        };
        let answer: AuthorizeAnswer = self.call("/csc/v2/credentials/authorize", &request).await?;
        Ok(answer.sad)
    }

    /// `signatures/signHash` with the handle of [`Self::authorize`]; one
    /// signature per hash, in order. `sign_algo` is the dotted OID (e.g.
    /// `1.2.840.10045.4.3.2` for ECDSA with SHA-256).
    pub async fn sign_hash(
        &self,
        credential: KeyId,
        hash_algorithm: HashAlgorithm,
        sign_algo: &str,
        hashes: &[Vec<u8>],
        handle: &str,
    ) -> Result<Vec<Vec<u8>>, CscClientError> {
        let request = SignHashRequestV2 {
            credential_id: credential.to_string(),
            sad: Some(handle.to_owned()),
            hashes: hashes.iter().map(|h| STANDARD.encode(h)).collect(),
            hash_algorithm_oid: Some(crate::algo::hash_oid(hash_algorithm).to_owned()),
            sign_algo: sign_algo.to_owned(),
        };
        let answer: SignHashAnswer = self.call("/csc/v2/signatures/signHash", &request).await?;
        if answer.signatures.len() != hashes.len() {
            return Err(CscClientError::Client(ClientError::Protocol(format!(
                "{} signatures for {} hashes",
                answer.signatures.len(),
                hashes.len()
            ))));
        }
        answer
            .signatures
            .iter()
            .map(|s| {
                STANDARD.decode(s).map_err(|_| {
                    CscClientError::Client(ClientError::Protocol(
                        "a signature is not base64".into(),
                    ))
                })
            })
            .collect()
    }
}

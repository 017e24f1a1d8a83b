//! A client of the SAK paths, and the signer's environment's side of the
//! remote flow: what the demo, the tests and the benchmark use, the way
//! a signature application and a signer's wallet would.
//!
//! [`approve`] is the step that makes the flow sole control: before the
//! signer's SAD key signs the `SADTBS`, the signer's environment checks
//! that its hashes are, in order, the ones the service listed, and that
//! each listed document hash is the hash of the document the signer
//! chose. The SAD then names exactly those hashes, and the firmware signs
//! nothing else.

use crate::DocError;
use crate::wire::{
    BasicSign, CheckAnswer, CheckRequest, CreateRequest, Document, ErrorBody, KeyAnswer, KeyObject,
    KeyRequest, ProofReport, SadData, SadSignature, Signatures,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::Decode;
use sam_client::http::Endpoint;
use sam_client::{ClientError, SadKey};
use sam_proto::asn1::SadTbs;
use sam_proto::ids::KeyId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a SAK call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SakClientError {
    /// The service answered a `SecureFrameworkException`.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The stable reason (`invalid_request`, `wrong_stage`, ...).
        reason: String,
        /// The service's message.
        message: String,
    },
    /// Transport, TLS, configuration, or an answer of another shape.
    Client(ClientError),
}

impl std::fmt::Display for SakClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused {
                status,
                reason,
                message,
            } => write!(f, "HTTP {status} {reason}: {message}"),
            Self::Client(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SakClientError {}

impl From<ClientError> for SakClientError {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}

fn protocol(what: impl Into<String>) -> SakClientError {
    SakClientError::Client(ClientError::Protocol(what.into()))
}

/// A document as the client sends it.
pub fn document(id: &str, file_name: &str, data: &[u8], format: Option<&str>) -> Document {
    Document {
        id: id.to_owned(),
        file_name: file_name.to_owned(),
        data: STANDARD.encode(data),
        signature_container_format: format.map(str::to_owned),
    }
}

/// The largest answer the client reads by default: containers come back
/// whole (a signed PDF is the PDF and its signature), base64 in JSON, for
/// up to 128 documents.
pub const DEFAULT_ANSWER_LIMIT: usize = 256 * 1024 * 1024;

/// A client of the SAK paths of one samd CSC listener.
#[derive(Debug)]
pub struct SakClient {
    endpoint: Endpoint,
}

impl SakClient {
    /// A client of the listener at `base_url` (`https://host:port`),
    /// trusting the CA certificates of the PEM file `tls_ca`; calls wait
    /// up to `timeout` (`create-signature(s)` waits for the SAD).
    pub fn new(base_url: &str, tls_ca: &Path, timeout: Duration) -> Result<Self, SakClientError> {
        let roots = sam_client::read_pem_certificates(tls_ca)?;
        let tls = sam_client::tls_config(roots, None)?;
        let mut endpoint = Endpoint::new(base_url, Some(tls))?;
        endpoint.set_timeout(timeout);
        endpoint.set_answer_limit(DEFAULT_ANSWER_LIMIT);
        Ok(Self { endpoint })
    }

    /// Reads answers of up to `bytes` (default [`DEFAULT_ANSWER_LIMIT`]).
    pub fn set_answer_limit(&mut self, bytes: usize) {
        self.endpoint.set_answer_limit(bytes);
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: sam_client::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Option<T>, SakClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| protocol(format!("request JSON: {e}")))?;
        let (status, answer) = self.endpoint.request(method, path, body).await?;
        if status.as_u16() == 204 {
            return Ok(None);
        }
        if status.is_success() {
            return serde_json::from_slice(&answer)
                .map(Some)
                .map_err(|e| protocol(format!("{path}: answer JSON: {e}")));
        }
        match serde_json::from_slice::<ErrorBody>(&answer) {
            Ok(b) => Err(SakClientError::Refused {
                status: status.as_u16(),
                reason: b.reason,
                message: b.message,
            }),
            Err(_) => Err(protocol(format!(
                "{path}: HTTP {status} without an error body"
            ))),
        }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, SakClientError> {
        self.call(sam_client::Method::POST, path, Some(body))
            .await?
            .ok_or_else(|| protocol(format!("{path}: no body")))
    }

    /// `POST /smartcard/remote-signature/key`: opens a process for the
    /// signer key `key_id` with its DER `certificate`, authorized by the
    /// DER identity token `id_token` that binds the signer's SAD key.
    pub async fn open(
        &self,
        id_token: &[u8],
        key_id: KeyId,
        certificate: &[u8],
    ) -> Result<KeyObject, SakClientError> {
        let answer: KeyAnswer = self
            .post(
                "/smartcard/remote-signature/key",
                &KeyRequest {
                    id_token: STANDARD.encode(id_token),
                    key_id: key_id.to_string(),
                    certificate: STANDARD.encode(certificate),
                },
            )
            .await?;
        Ok(answer.key_object)
    }

    /// `POST /trusted-checker/check-documents`.
    pub async fn check(&self, documents: &[Document]) -> Result<ProofReport, SakClientError> {
        let answer: CheckAnswer = self
            .post(
                "/trusted-checker/check-documents",
                &CheckRequest {
                    document: None,
                    documents: Some(documents.to_vec()),
                },
            )
            .await?;
        Ok(answer.proof_report)
    }

    /// `POST /digest/create-signatures`: waits until the signer's SAD
    /// arrived; document id → container.
    pub async fn create_signatures(
        &self,
        request: &CreateRequest,
    ) -> Result<BTreeMap<String, Vec<u8>>, SakClientError> {
        let answer: Signatures = self.post("/digest/create-signatures", request).await?;
        decode_signatures(answer)
    }

    /// `GET /digest/remote-signature/{uuid}`, asked again while the batch
    /// is not prepared yet (`wrong_stage`), for up to `wait`.
    pub async fn sad_data(&self, uuid: &str, wait: Duration) -> Result<SadData, SakClientError> {
        let until = Instant::now() + wait;
        let path = format!("/digest/remote-signature/{uuid}");
        loop {
            match self
                .call::<SadData>(sam_client::Method::GET, &path, None::<&()>)
                .await
            {
                Err(SakClientError::Refused { reason, .. })
                    if reason == "wrong_stage" && Instant::now() < until =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(Some(d)) => return Ok(d),
                Ok(None) => return Err(protocol(format!("{path}: no body"))),
                Err(e) => return Err(e),
            }
        }
    }

    /// `POST /digest/remote-signature/{uuid}` with the SAD signature.
    pub async fn send_sad_signature(
        &self,
        uuid: &str,
        signature: &[u8],
    ) -> Result<(), SakClientError> {
        self.call::<serde_json::Value>(
            sam_client::Method::POST,
            &format!("/digest/remote-signature/{uuid}"),
            Some(&SadSignature {
                sad_signature: STANDARD.encode(signature),
            }),
        )
        .await
        .map(|_| ())
    }

    /// `POST /digest/remote-signature/basic/sign` with a complete DER SAD.
    pub async fn basic_sign(
        &self,
        sad: &[u8],
    ) -> Result<BTreeMap<String, Vec<u8>>, SakClientError> {
        let answer: Signatures = self
            .post(
                "/digest/remote-signature/basic/sign",
                &BasicSign {
                    sad: STANDARD.encode(sad),
                },
            )
            .await?;
        decode_signatures(answer)
    }
}

fn decode_signatures(answer: Signatures) -> Result<BTreeMap<String, Vec<u8>>, SakClientError> {
    answer
        .into_iter()
        .map(|(id, c)| {
            STANDARD
                .decode(c)
                .map(|c| (id.clone(), c))
                .map_err(|_| protocol(format!("the container of {id} is not base64")))
        })
        .collect()
}

/// The signer's environment: checks `sad_data` against the documents the
/// signer chose (`documents`: id and bytes, in any order) and, if every
/// hash is accounted for, signs its `SADTBS` with the SAD key `key`; the
/// signature for `POST /digest/remote-signature/{uuid}`, and the complete
/// DER SAD for `basic/sign`.
pub fn approve(
    sad_data: &SadData,
    documents: &[(&str, &[u8])],
    key: &SadKey,
) -> Result<(Vec<u8>, Vec<u8>), DocError> {
    use der::Encode;
    let tbs_der = STANDARD
        .decode(&sad_data.sad_data)
        .map_err(|_| DocError::InvalidInput("sad-data is not base64".into()))?;
    let tbs = SadTbs::from_der(&tbs_der)?;
    let hash = sam_proto::asn1::signature_hash(&tbs.hash_algorithm)
        .map(|(h, _)| h)
        .map_err(|_| DocError::InvalidInput("the SAD's hash algorithm is unsupported".into()))?;
    if tbs.tbs_hash_values.len() != sad_data.documents.len()
        || documents.len() != sad_data.documents.len()
    {
        return Err(DocError::InvalidInput(
            "the SAD names another number of hashes than there are documents".into(),
        ));
    }
    for (named, pending) in tbs.tbs_hash_values.iter().zip(&sad_data.documents) {
        let listed = STANDARD
            .decode(&pending.to_be_signed_hash)
            .map_err(|_| DocError::InvalidInput("toBeSignedHash is not base64".into()))?;
        if named.as_bytes() != listed.as_slice() {
            return Err(DocError::InvalidInput(format!(
                "the SAD's hash for {:?} is not the one listed",
                pending.id
            )));
        }
        let (_, mine) = documents
            .iter()
            .find(|(id, _)| *id == pending.id)
            .ok_or_else(|| {
                DocError::InvalidInput(format!("{:?} is not one of my documents", pending.id))
            })?;
        let document_hash = STANDARD
            .decode(&pending.document_hash)
            .map_err(|_| DocError::InvalidInput("documentHash is not base64".into()))?;
        if sam_client::verify::digest(hash, mine) != document_hash {
            return Err(DocError::InvalidInput(format!(
                "{:?} is not the document I chose",
                pending.id
            )));
        }
    }
    let sad = key.sign_tbs(tbs)?;
    Ok((sad.signature.as_bytes().to_vec(), sad.to_der()?))
}

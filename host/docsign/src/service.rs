//! The SAK REST interface (seed §7.3): routing and the operations.
//!
//! The service is untrusted like samd. It prepares containers and shows
//! the signer's environment exactly what the SAD will name; the SAD is
//! made by the signer's environment with its own SAD key (bound into the
//! identity token by the IdP), and the firmware checks it, makes it
//! single use and signs exactly its hashes. A compromised service can
//! refuse, or build a container the verifier then rejects, but it cannot
//! get a signature over a hash the signer did not authorize.
//!
//! The remote flow, one SAD for a batch:
//! 1. `POST /smartcard/remote-signature/key` with the identity token,
//!    KeyID and certificate → a key object naming a new process;
//! 2. `POST /trusted-checker/check-documents` → a proof report;
//! 3. `POST /digest/create-signatures` with the key object, documents,
//!    report, hash algorithm and container format: the service prepares
//!    every container and waits (up to `sad_wait_secs`);
//! 4. the signer's environment reads `GET /digest/remote-signature/{uuid}`
//!    (the DER `SADTBS` and each document's hashes), checks it, signs
//!    the `SADTBS` with its SAD key and posts the signature to
//!    `POST /digest/remote-signature/{uuid}` (204); or it assembles the
//!    SAD itself and posts it to `POST /digest/remote-signature/basic/sign`,
//!    which answers the containers too;
//! 5. the firmware signs, the service finishes the containers (with a
//!    time-stamp for `-B-T`) and step 3 answers them.

use crate::checker::Checker;
use crate::config::SakConfig;
use crate::documents;
use crate::process::{Batch, Outcome, Owner, PreparedDocument, ProcessError, Processes};
use crate::tsp::TsaClient;
use crate::wire::{
    BasicSign, CheckAnswer, CheckRequest, CreateRequest, Document, ErrorBody, KeyAnswer, KeyObject,
    KeyRequest, PendingDocument, SadData, SadSignature, Signatures,
};
use crate::{ContainerFormat, DocError, Level, Prepared, SignerCert};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::asn1::OctetString;
use der::{Decode, Encode};
use sam_client::SignRequest;
use sam_client::verify::{KeyKind, verify_message};
use sam_csc::Backend;
use sam_proto::asn1::{Sad, SadTbs};
use sam_proto::command::MAX_HASHES;
use sam_proto::ids::{HashAlgorithm, KeyId, Uuid};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// One HTTP request, as samd's listener hands it over.
#[derive(Debug, Clone, Copy)]
pub struct SakRequest<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The path.
    pub path: &'a str,
    /// The body.
    pub body: &'a [u8],
}

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SakReply {
    /// The status.
    pub status: u16,
    /// The JSON body; empty for 204.
    pub body: Vec<u8>,
}

impl SakReply {
    fn json(status: u16, body: &impl Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }
}

/// A refusal of the service: an HTTP status, a stable `reason` code and
/// a message. The seed names one error type for every SAK operation,
/// `SecureFrameworkException`; every answer carries it, and the reason
/// tells the cases apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SakError {
    /// The HTTP status.
    pub status: u16,
    /// The stable code.
    pub reason: &'static str,
    /// What went wrong.
    pub message: String,
}

impl SakError {
    /// Every reason with its status (documented in
    /// `host/docsign/openapi.yaml`).
    pub const ALL: [(&'static str, u16); 11] = [
        ("invalid_request", 400),
        ("document_refused", 400),
        ("invalid_token", 401),
        ("not_found", 404),
        ("method_not_allowed", 405),
        ("wrong_stage", 409),
        ("too_large", 413),
        ("signing_refused", 500),
        ("timestamp_failed", 502),
        ("busy", 503),
        ("sad_timeout", 504),
    ];

    fn new(status: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }

    /// 400: a malformed or inconsistent request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message)
    }

    /// 413: a body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(413, "too_large", format!("the body is over {limit} bytes"))
    }

    /// The answer's body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            exception: "SecureFrameworkException".into(),
            reason: self.reason.into(),
            message: self.message.clone(),
        }
    }
}

impl From<SakError> for SakReply {
    fn from(e: SakError) -> Self {
        Self::json(e.status, &e.body())
    }
}

impl From<DocError> for SakError {
    fn from(e: DocError) -> Self {
        match e {
            DocError::TooLarge { .. } => Self::new(413, "too_large", e.to_string()),
            DocError::InvalidDocument(_) => Self::new(400, "document_refused", e.to_string()),
            DocError::Timestamp(_) => Self::new(502, "timestamp_failed", e.to_string()),
            DocError::BadSignature(_) => Self::new(500, "signing_refused", e.to_string()),
            _ => Self::invalid(e.to_string()),
        }
    }
}

fn process_error(e: ProcessError) -> SakError {
    match e {
        ProcessError::Unknown => SakError::new(
            404,
            "not_found",
            "no such remote signature process (never opened, expired or finished)",
        ),
        ProcessError::WrongStage(why) => {
            SakError::new(409, "wrong_stage", format!("the process: {why}"))
        }
        ProcessError::Full => {
            SakError::new(503, "busy", "too many remote signature processes are open")
        }
    }
}

/// The operations, for routing and metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST /smartcard/remote-signature/key`.
    Key,
    /// `POST /digest/create-signature(s)`.
    CreateSignatures,
    /// `GET /digest/remote-signature/{uuid}`.
    SadData,
    /// `POST /digest/remote-signature/{uuid}`.
    SadSignature,
    /// `POST /digest/remote-signature/basic/sign`.
    BasicSign,
    /// `POST /trusted-checker/check-document(s)`.
    CheckDocuments,
}

impl Op {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Key => "sak_key",
            Self::CreateSignatures => "sak_create_signatures",
            Self::SadData => "sak_sad_data",
            Self::SadSignature => "sak_sad_signature",
            Self::BasicSign => "sak_basic_sign",
            Self::CheckDocuments => "sak_check_documents",
        }
    }
}

/// The label of requests that matched no operation.
pub const UNROUTED: &str = "sak_unrouted";

/// Whether `path` belongs to the SAK (samd mounts these on the CSC
/// listener).
pub fn serves(path: &str) -> bool {
    ["/smartcard/", "/digest/", "/trusted-checker/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// The routes, for the OpenAPI check: (method, path template).
pub fn endpoints() -> Vec<(&'static str, &'static str)> {
    vec![
        ("post", "/smartcard/remote-signature/key"),
        ("post", "/digest/create-signature"),
        ("post", "/digest/create-signatures"),
        ("get", "/digest/remote-signature/{uuid}"),
        ("post", "/digest/remote-signature/{uuid}"),
        ("post", "/digest/remote-signature/basic/sign"),
        ("post", "/trusted-checker/check-document"),
        ("post", "/trusted-checker/check-documents"),
    ]
}

/// Finds the operation (and the `{uuid}`) of `method path`.
pub fn route<'a>(method: &str, path: &'a str) -> Result<(Op, Option<&'a str>), SakError> {
    let post = |op: Op| {
        if method == "POST" {
            Ok((op, None))
        } else {
            Err(SakError::new(
                405,
                "method_not_allowed",
                format!("{method} is not allowed on {path}"),
            ))
        }
    };
    match path {
        "/smartcard/remote-signature/key" => post(Op::Key),
        "/digest/create-signature" | "/digest/create-signatures" => post(Op::CreateSignatures),
        "/digest/remote-signature/basic/sign" => post(Op::BasicSign),
        "/trusted-checker/check-document" | "/trusted-checker/check-documents" => {
            post(Op::CheckDocuments)
        }
        _ => match path.strip_prefix("/digest/remote-signature/") {
            Some(uuid) if !uuid.is_empty() && !uuid.contains('/') => match method {
                "GET" => Ok((Op::SadData, Some(uuid))),
                "POST" => Ok((Op::SadSignature, Some(uuid))),
                _ => Err(SakError::new(
                    405,
                    "method_not_allowed",
                    format!("{method} is not allowed on {path}"),
                )),
            },
            _ => Err(SakError::new(
                404,
                "not_found",
                format!("no operation {path}"),
            )),
        },
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, SakError> {
    serde_json::from_slice(body).map_err(|e| SakError::invalid(format!("the body: {e}")))
}

fn decode_b64(what: &str, text: &str) -> Result<Vec<u8>, SakError> {
    STANDARD
        .decode(text.trim())
        .map_err(|e| SakError::invalid(format!("{what} is not base64 ({e})")))
}

/// A certificate given as PEM or base64 DER.
fn certificate_der(text: &str) -> Result<Vec<u8>, SakError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        decode_b64("certificate", &body)
    } else {
        decode_b64("certificate", text)
    }
}

/// A fresh random (version 4) UUID.
fn random_uuid() -> Result<String, SakError> {
    let mut raw = [0u8; 16];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut raw)
        .map_err(|_| SakError::new(500, "signing_refused", "the RNG failed"))?;
    if let Some(b) = raw.get_mut(6) {
        *b = (*b & 0x0f) | 0x40;
    }
    if let Some(b) = raw.get_mut(8) {
        *b = (*b & 0x3f) | 0x80;
    }
    Ok(Uuid(raw).to_string())
}

/// The SAK service over a samd [`Backend`].
#[derive(Debug)]
pub struct Sak<B> {
    backend: B,
    config: SakConfig,
    chain: Vec<Vec<u8>>,
    checker: Checker,
    processes: Processes,
    tsa: Option<Arc<TsaClient>>,
}

impl<B: Backend> Sak<B> {
    /// The service over `backend` with `config`; containers carry the
    /// DER certificates `chain` after the signer's; `tsa` stamps the
    /// `-B-T` levels (without one they are refused).
    pub fn new(
        backend: B,
        config: SakConfig,
        chain: Vec<Vec<u8>>,
        tsa: Option<Arc<TsaClient>>,
    ) -> Result<Self, DocError> {
        Ok(Self {
            backend,
            processes: Processes::new(config.max_open_processes),
            config,
            chain,
            checker: Checker::random()?,
            tsa,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SakConfig {
        &self.config
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Answers one request.
    pub async fn handle(&self, req: SakRequest<'_>) -> SakReply {
        let started = Instant::now();
        let (label, reply) = match route(req.method, req.path) {
            Ok((op, uuid)) => (op.label(), self.run(op, uuid, req.body).await),
            Err(e) => (UNROUTED, e.into()),
        };
        self.backend
            .observe(label, reply.status, started.elapsed().as_secs_f64());
        reply
    }

    async fn run(&self, op: Op, uuid: Option<&str>, body: &[u8]) -> SakReply {
        let result = match op {
            Op::Key => self.key(parse(body)).await.map(|a| SakReply::json(200, &a)),
            Op::CheckDocuments => self.check(parse(body)).map(|a| SakReply::json(200, &a)),
            Op::CreateSignatures => self
                .create(parse(body))
                .await
                .map(|s| SakReply::json(200, &s)),
            Op::SadData => self
                .sad_data(uuid.unwrap_or_default())
                .map(|d| SakReply::json(200, &d)),
            Op::SadSignature => self
                .sad_signature(uuid.unwrap_or_default(), parse(body))
                .await
                .map(|()| SakReply {
                    status: 204,
                    body: Vec::new(),
                }),
            Op::BasicSign => self
                .basic_sign(parse(body))
                .await
                .map(|s| SakReply::json(200, &s)),
        };
        result.unwrap_or_else(SakReply::from)
    }

    /// §7.3.1: checks the identity token, the key and its certificate and
    /// opens a process.
    async fn key(&self, req: Result<KeyRequest, SakError>) -> Result<KeyAnswer, SakError> {
        let req = req?;
        let now = now();
        let token_der = decode_b64("idToken", &req.id_token)?;
        let token = self
            .backend
            .tokens()
            .verify(&token_der, now)
            .map_err(|e| SakError::new(401, "invalid_token", format!("idToken: {e}")))?;
        let sad_key = token
            .sad_public_key
            .ok_or_else(|| SakError::new(401, "invalid_token", "idToken binds no SAD key"))?;
        let key_id = KeyId::parse(req.key_id.trim())
            .map_err(|_| SakError::invalid("keyId is not a UUID"))?;
        let certificate = certificate_der(&req.certificate)?;
        let credential = self
            .backend
            .credentials(token.user_id)
            .await
            .map_err(|e| {
                SakError::new(
                    500,
                    "signing_refused",
                    format!("{}: {}", e.error.name(), e.detail),
                )
            })?
            .into_iter()
            .find(|c| c.key_id == key_id)
            .ok_or_else(|| SakError::invalid("keyId is not a signer key of the token's user"))?;
        match &credential.certificate {
            Some(registered) if *registered == certificate && credential.active => {}
            Some(_) => {
                return Err(SakError::invalid(
                    "certificate is not the one registered for keyId",
                ));
            }
            None => return Err(SakError::invalid("keyId has no registered certificate")),
        }
        let uuid = random_uuid()?;
        let expires = now
            .saturating_add(self.config.process_lifetime_secs)
            .min(token.not_after);
        self.processes
            .open(
                uuid.clone(),
                Owner {
                    user: token.user_id,
                    key_id,
                    token_der,
                    sad_key,
                    signer: SignerCert {
                        certificate: certificate.clone(),
                        chain: self.chain.clone(),
                    },
                },
                expires,
                now,
            )
            .map_err(process_error)?;
        Ok(KeyAnswer {
            key_object: KeyObject {
                uuid,
                key_id: key_id.to_string(),
                certificate: STANDARD.encode(certificate),
                expires_at: expires,
            },
        })
    }

    fn documents(&self, docs: Vec<Document>) -> Result<Vec<(Document, Vec<u8>)>, SakError> {
        let limit = self.config.max_document_bytes;
        self.documents_with(docs, |d| Ok(documents::decode(d, limit)?))
    }

    /// The documents of a request, each with its own non-empty id, loaded
    /// by `load`.
    fn documents_with<T>(
        &self,
        docs: Vec<Document>,
        mut load: impl FnMut(&Document) -> Result<T, SakError>,
    ) -> Result<Vec<(Document, T)>, SakError> {
        if docs.is_empty() || docs.len() > MAX_HASHES {
            return Err(SakError::invalid(format!(
                "1 to {MAX_HASHES} documents (the firmware's batch limit), not {}",
                docs.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        docs.into_iter()
            .map(|d| {
                if d.id.is_empty() || !seen.insert(d.id.clone()) {
                    return Err(SakError::invalid(format!(
                        "every document needs its own non-empty id ({:?})",
                        d.id
                    )));
                }
                let data = load(&d)?;
                Ok((d, data))
            })
            .collect()
    }

    /// §7.3.6: the proof report on one or several documents.
    fn check(&self, req: Result<CheckRequest, SakError>) -> Result<CheckAnswer, SakError> {
        let req = req?;
        let docs = match (req.document, req.documents) {
            (Some(d), None) => vec![d],
            (None, Some(ds)) => ds,
            _ => return Err(SakError::invalid("give either document or documents")),
        };
        let docs = self.documents(docs)?;
        let report = self.checker.report(
            docs.iter()
                .map(|(d, data)| (d.id.as_str(), data.as_slice())),
            now(),
        );
        Ok(CheckAnswer {
            proof_report: report,
        })
    }

    /// The proof report of a create request must be this service's, fresh,
    /// and pass every document as it is now.
    fn check_report(
        &self,
        report: Option<&crate::wire::ProofReport>,
        docs: &[(Document, (ContainerFormat, DocData))],
        now: u64,
    ) -> Result<(), SakError> {
        let Some(report) = report else {
            return if self.config.require_proof_report {
                Err(SakError::invalid(
                    "proofReport is required (POST /trusted-checker/check-documents first)",
                ))
            } else {
                Ok(())
            };
        };
        if !self.checker.authentic(report) {
            return Err(SakError::invalid(
                "proofReport was not made by this service or was altered",
            ));
        }
        if report
            .creation_time
            .saturating_add(self.config.proof_report_lifetime_secs)
            < now
        {
            return Err(SakError::invalid(
                "proofReport is too old; check the documents again",
            ));
        }
        for (d, (_, data)) in docs {
            let entry = report
                .checked_documents
                .iter()
                .find(|c| c.document_id == d.id)
                .ok_or_else(|| {
                    SakError::invalid(format!("proofReport does not cover document {:?}", d.id))
                })?;
            if entry.hash_value != data.report_hash() {
                return Err(SakError::invalid(format!(
                    "document {:?} is not the one the proofReport checked",
                    d.id
                )));
            }
            if !entry.proof_result {
                return Err(SakError::new(
                    400,
                    "document_refused",
                    format!(
                        "document {:?} failed the check: {}",
                        d.id, entry.error_message
                    ),
                ));
            }
        }
        Ok(())
    }

    /// §7.3.2: prepares the batch, then waits for the signer's SAD.
    async fn create(&self, req: Result<CreateRequest, SakError>) -> Result<Signatures, SakError> {
        let req = req?;
        let now = now();
        let uuid = req.key_object.uuid.clone();
        let owner = self.processes.owner(&uuid, now).map_err(process_error)?;
        let hash = documents::hash_algorithm(
            req.hash_algorithm.oid.as_deref(),
            req.hash_algorithm.name.as_deref(),
        )?;
        let default: ContainerFormat = req.signature_container_format.parse()?;
        let limit = self.config.max_document_bytes;
        let docs = self.documents_with(req.documents, |d| {
            let format = match &d.signature_container_format {
                Some(f) => f.parse::<ContainerFormat>()?,
                None => default,
            };
            Ok((format, DocData::load(d, format, hash, limit)?))
        })?;
        let formats: Vec<ContainerFormat> = docs.iter().map(|(_, (f, _))| *f).collect();
        if let Some(f) = formats.iter().find(|f| f.level() == Level::BT)
            && self.tsa.is_none()
        {
            return Err(SakError::invalid(format!(
                "{f} needs a time-stamp authority, and none is configured ([sak] tsa_url)"
            )));
        }
        self.check_report(req.proof_report.as_ref(), &docs, now)?;
        let signing_time = SystemTime::now();
        let mut prepared = Vec::with_capacity(docs.len());
        for (d, (format, data)) in &docs {
            let format = *format;
            let p = match data {
                DocData::Decoded(data) => documents::prepare(
                    format,
                    data,
                    &d.file_name,
                    &owner.signer,
                    hash,
                    signing_time,
                ),
                DocData::Streamed { digest, .. } => crate::cades::prepare(
                    digest,
                    None,
                    &owner.signer,
                    hash,
                    format.level(),
                    signing_time,
                )
                .map(|p| Box::new(p) as Box<dyn Prepared>),
            }
            .map_err(|e| match e {
                DocError::InvalidDocument(m) => {
                    SakError::new(400, "document_refused", format!("document {:?}: {m}", d.id))
                }
                other => SakError::from(other),
            })?;
            prepared.push(PreparedDocument {
                pending: PendingDocument {
                    id: d.id.clone(),
                    file_name: d.file_name.clone(),
                    format: format.name().into(),
                    document_hash: STANDARD.encode(data.digest(hash)),
                    to_be_signed_hash: STANDARD.encode(p.to_be_signed_hash()),
                },
                format,
                prepared: p,
            });
        }
        let request = SignRequest {
            key_id: owner.key_id,
            hash_algorithm: hash,
            hashes: prepared
                .iter()
                .map(|d| d.prepared.to_be_signed_hash().to_vec())
                .collect(),
        };
        let token = sam_client::sad::parse_token(&owner.token_der)
            .map_err(|e| SakError::invalid(e.to_string()))?;
        let tbs_der = sam_client::sad::build_sad_tbs(token, &request)
            .and_then(|t| Ok(t.to_der()?))
            .map_err(|e| SakError::invalid(format!("the SADTBS: {e}")))?;
        let (tx, rx) = oneshot::channel::<Outcome>();
        self.processes
            .prepare(
                &uuid,
                Batch {
                    hash,
                    documents: prepared,
                    tbs_der,
                    waiter: Some(tx),
                },
                now,
            )
            .map_err(process_error)?;
        tracing::info!(process = %uuid, documents = docs.len(), "batch prepared; waiting for the SAD");
        match tokio::time::timeout(Duration::from_secs(self.config.sad_wait_secs), rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(SakError::new(
                500,
                "signing_refused",
                "the process ended without an outcome",
            )),
            Err(_) => {
                // Whoever takes the batch after this finds no process.
                self.processes.close(&uuid);
                Err(SakError::new(
                    504,
                    "sad_timeout",
                    format!("no SAD arrived within {} s", self.config.sad_wait_secs),
                ))
            }
        }
    }

    /// §7.3.3: the SAD-TBS for the signer's environment.
    fn sad_data(&self, uuid: &str) -> Result<SadData, SakError> {
        let (tbs, documents) = self.processes.pending(uuid, now()).map_err(process_error)?;
        Ok(SadData {
            sad_data: STANDARD.encode(tbs),
            documents,
        })
    }

    /// §7.3.4: the SAD signature of the signer's environment; signs.
    async fn sad_signature(
        &self,
        uuid: &str,
        req: Result<SadSignature, SakError>,
    ) -> Result<(), SakError> {
        let req = req?;
        let signature = decode_b64("sadSignature", &req.sad_signature)?;
        let now = now();
        let (owner, tbs_der) = self.processes.peek(uuid, now).map_err(process_error)?;
        check_sad_signature(&owner.sad_key, &tbs_der, &signature)?;
        let tbs = SadTbs::from_der(&tbs_der)
            .map_err(|e| SakError::invalid(format!("the SADTBS: {e}")))?;
        let sad = Sad {
            tbs,
            signature: OctetString::new(signature).map_err(|e| SakError::invalid(e.to_string()))?,
        }
        .to_der()
        .map_err(|e| SakError::invalid(format!("the SAD: {e}")))?;
        self.sign_process(uuid, sad, now).await.map(|_| ())
    }

    /// §7.3.5: a complete SAD for a prepared batch; signs and answers the
    /// containers.
    async fn basic_sign(&self, req: Result<BasicSign, SakError>) -> Result<Signatures, SakError> {
        let req = req?;
        let sad_der = decode_b64("sad", &req.sad)?;
        let sad = Sad::from_der(&sad_der)
            .map_err(|e| SakError::invalid(format!("sad is not a seed SAD: {e}")))?;
        let tbs_der = sad
            .tbs
            .to_der()
            .map_err(|e| SakError::invalid(e.to_string()))?;
        let now = now();
        let uuid = self.processes.find(&tbs_der, now).map_err(|_| {
            SakError::new(
                404,
                "not_found",
                "no prepared batch has this SAD's SADTBS (create-signature(s) first)",
            )
        })?;
        let (owner, _) = self.processes.peek(&uuid, now).map_err(process_error)?;
        check_sad_signature(&owner.sad_key, &tbs_der, sad.signature.as_bytes())?;
        self.sign_process(&uuid, sad_der, now).await
    }

    /// Takes the batch of `uuid`, has the firmware sign it with `sad`,
    /// finishes the containers and hands the outcome to the waiting
    /// `create-signature(s)` call too.
    async fn sign_process(
        &self,
        uuid: &str,
        sad: Vec<u8>,
        now: u64,
    ) -> Result<Signatures, SakError> {
        let (_, mut batch) = self.processes.take(uuid, now).map_err(process_error)?;
        let outcome = self.sign_batch(&batch, sad).await;
        self.processes.close(uuid);
        if let Some(w) = batch.waiter.take() {
            // The waiter may have given up; the outcome is still answered
            // here.
            let _ = w.send(outcome.clone());
        }
        outcome
    }

    async fn sign_batch(&self, batch: &Batch, sad: Vec<u8>) -> Result<Signatures, SakError> {
        let signatures = self.backend.sign(sad).await.map_err(|e| {
            SakError::new(
                500,
                "signing_refused",
                format!("{}: {}", e.error.name(), e.detail),
            )
        })?;
        if signatures.len() != batch.documents.len() {
            return Err(SakError::new(
                500,
                "signing_refused",
                "the firmware answered another number of signatures",
            ));
        }
        let containers = self
            .finish_all(
                batch.hash,
                batch
                    .documents
                    .iter()
                    .map(|d| (d.format.level(), d.prepared.as_ref())),
                &signatures,
            )
            .await?;
        Ok(batch
            .documents
            .iter()
            .zip(containers)
            .map(|(doc, c)| (doc.pending.id.clone(), STANDARD.encode(c)))
            .collect())
    }

    /// The finished containers of `documents` (level and prepared
    /// document, in the SAD's order) with the firmware's `signatures`:
    /// each signature is checked against the certificate, and the `-B-T`
    /// levels get a verified time-stamp. Shared by the SAK and CSC
    /// `signDoc`.
    pub(crate) async fn finish_all<'a>(
        &self,
        hash: HashAlgorithm,
        documents: impl Iterator<Item = (Level, &'a dyn Prepared)>,
        signatures: &[Vec<u8>],
    ) -> Result<Vec<Vec<u8>>, DocError> {
        let mut out = Vec::with_capacity(signatures.len());
        for ((level, prepared), signature) in documents.zip(signatures) {
            let token = match (level, &self.tsa) {
                (Level::BT, Some(tsa)) => {
                    let data = prepared.timestamped_data(signature)?;
                    Some(tsa.stamp(hash, &data).await?.token)
                }
                (Level::BT, None) => {
                    return Err(DocError::Timestamp(
                        "no time-stamp authority is configured ([sak] tsa_url)".into(),
                    ));
                }
                (Level::BB, _) => None,
            };
            out.push(prepared.finish(signature, token.as_deref())?);
        }
        Ok(out)
    }

    /// Whether a time-stamp authority is configured (the `-B-T` levels).
    pub(crate) fn has_tsa(&self) -> bool {
        self.tsa.is_some()
    }
}

/// A document of a create request: decoded, or — signed CAdES-detached,
/// where only its hash is signed — never decoded whole: its size is
/// checked and its hashes computed in a stream from the base64 (bounded
/// memory; the proof report has already judged its content).
#[derive(Debug)]
enum DocData {
    /// The document.
    Decoded(Vec<u8>),
    /// Its proof-report hash (SHA-256 hex) and its digest in the
    /// request's hash algorithm.
    Streamed {
        report_hash: String,
        digest: Vec<u8>,
    },
}

impl DocData {
    fn load(
        d: &Document,
        format: ContainerFormat,
        hash: HashAlgorithm,
        limit: usize,
    ) -> Result<Self, SakError> {
        if !matches!(
            format,
            ContainerFormat::Cades(crate::Packaging::Detached, _)
        ) {
            return Ok(Self::Decoded(documents::decode(d, limit)?));
        }
        let named = |e: DocError| match e {
            DocError::InvalidInput(m) => {
                DocError::InvalidInput(format!("document {:?}: data {m}", d.id))
            }
            other => other,
        };
        documents::scan_base64(&d.data, limit).map_err(named)?;
        let sha256 = documents::digest_base64(&d.data, HashAlgorithm::Sha256).map_err(named)?;
        let digest = if hash == HashAlgorithm::Sha256 {
            sha256.clone()
        } else {
            documents::digest_base64(&d.data, hash).map_err(named)?
        };
        Ok(Self::Streamed {
            report_hash: hex::encode(sha256),
            digest,
        })
    }

    /// The proof report's `hashValue` of the document.
    fn report_hash(&self) -> String {
        match self {
            Self::Decoded(data) => crate::checker::hash_value(data),
            Self::Streamed { report_hash, .. } => report_hash.clone(),
        }
    }

    /// The document's digest with `hash`.
    fn digest(&self, hash: HashAlgorithm) -> Vec<u8> {
        match self {
            Self::Decoded(data) => sam_client::verify::digest(hash, data),
            Self::Streamed { digest, .. } => digest.clone(),
        }
    }
}

/// The service checks the SAD signature before anything is spent; the
/// firmware checks it again.
fn check_sad_signature(sad_key: &[u8], tbs_der: &[u8], signature: &[u8]) -> Result<(), SakError> {
    let hash = match KeyKind::of_spki(sad_key) {
        Ok(KeyKind::P384) => HashAlgorithm::Sha384,
        Ok(_) => HashAlgorithm::Sha256,
        Err(_) => return Err(SakError::invalid("the token's SAD key is unsupported")),
    };
    verify_message(sad_key, hash, tbs_der, signature).map_err(|_| {
        SakError::invalid("the SAD signature does not verify with the token's SAD key")
    })
}

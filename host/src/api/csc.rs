//! samd's side of the CSC service (crate `sam-csc`): the [`Backend`] the
//! service runs on, and its own listener.
//!
//! The backend gives the service exactly two things besides the bearer
//! verifier: the caller's signer keys from the key manager's store, and
//! [`App::sign`], the path of `POST /signing` (the firmware decides and
//! audits; a refusal samd makes itself is reported to the firmware as on
//! `/signing`). The listener is separate from the peering listener:
//! server-authenticated TLS only (end users carry bearer tokens, not
//! connector certificates), with the peering listener's timeouts and a
//! connection and body limit of its own ([`server::serve_with`]).

use super::App;
use super::error::ErrorKind;
use super::response::Reply;
use super::server::{self, Handler, ServeOptions};
use crate::config::{Config, ConfigError};
use crate::store::{ObjectFilter, ObjectState, ObjectType, StoreError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Request, Response, StatusCode};
use sam_client::bearer::TokenVerifier;
use sam_csc::{Backend, BackendError, CredentialRecord, Csc, CscError, CscReply, CscRequest};
use sam_docsign::tsp::{TsaClient, TsaConfig};
use sam_docsign::{Sak, SakConfig, SakError, SakReply, SakRequest};
use sam_proto::ErrorType;
use sam_proto::command::SubFunction;
use sam_proto::ids::{HashAlgorithm, UserId};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// The CSC path the document service answers (with its body limit).
const SIGN_DOC: &str = "/csc/v2/signatures/signDoc";

/// Most signer keys one user's credential list holds.
const MAX_CREDENTIALS: u32 = 1000;

/// samd as the CSC service's backend.
#[derive(Debug, Clone)]
pub struct CscBackend {
    app: Arc<App>,
    /// The TSA of `[sak] tsa_url`, for `signatures/timestamp` (and the
    /// SAK's `-B-T` levels).
    tsa: Option<Arc<TsaClient>>,
}

fn store_error(e: StoreError) -> BackendError {
    backend_error(super::error::ApiError::from(e))
}

fn backend_error(e: super::error::ApiError) -> BackendError {
    BackendError {
        error: match e.kind {
            ErrorKind::Seed(t) => t,
            ErrorKind::Host(_) => ErrorType::UnexpectedError,
        },
        detail: e.detail,
    }
}

impl Backend for CscBackend {
    fn credentials(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<CredentialRecord>, BackendError>> + Send {
        let app = Arc::clone(&self.app);
        async move {
            let keys = app
                .store
                .objects(ObjectFilter {
                    object_type: Some(ObjectType::PrivateKey),
                    user_id: Some(user.to_string()),
                    limit: MAX_CREDENTIALS,
                    ..ObjectFilter::default()
                })
                .await
                .map_err(store_error)?;
            let mut out = Vec::with_capacity(keys.len());
            for k in keys.into_iter().filter(|k| k.state.usable_for_signing()) {
                let Some((wrapped, state)) = app
                    .store
                    .signer_key(k.key_id.clone())
                    .await
                    .map_err(store_error)?
                else {
                    continue;
                };
                let certificate = app
                    .store
                    .objects(ObjectFilter {
                        object_type: Some(ObjectType::Certificate),
                        key_id: Some(k.key_id.clone()),
                        state: Some(ObjectState::Active),
                        limit: 1,
                        ..ObjectFilter::default()
                    })
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .find_map(|c| c.value);
                out.push(CredentialRecord {
                    key_id: wrapped.key_id,
                    algorithm: wrapped.algorithm,
                    public_key: wrapped.public_key.to_vec(),
                    active: state == ObjectState::Active,
                    certificate,
                });
            }
            Ok(out)
        }
    }

    fn sign(
        &self,
        seed_sad: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, BackendError>> + Send {
        let app = Arc::clone(&self.app);
        async move {
            match app.sign(seed_sad, None).await {
                Ok((signatures, _)) => Ok(signatures),
                Err(e) => {
                    // As on `/signing`: a refusal samd made itself is
                    // audited before the answer leaves.
                    let e = if e.unreported().is_some() {
                        app.report_refusal(SubFunction::Signing.into(), e).await
                    } else {
                        e
                    };
                    Err(backend_error(e))
                }
            }
        }
    }

    fn offers_timestamp(&self) -> bool {
        self.tsa.is_some()
    }

    fn timestamp(
        &self,
        hash: HashAlgorithm,
        digest: Vec<u8>,
        nonce: Option<Vec<u8>>,
    ) -> impl Future<Output = Result<Vec<u8>, BackendError>> + Send {
        let tsa = self.tsa.clone();
        async move {
            let tsa = tsa.ok_or_else(|| BackendError {
                error: ErrorType::UnexpectedError,
                detail: "no time-stamp authority is configured ([sak] tsa_url)".into(),
            })?;
            tsa.stamp_digest_with_nonce(hash, &digest, nonce.as_deref())
                .await
                .map(|t| t.token)
                .map_err(|e| BackendError {
                    error: ErrorType::UnexpectedError,
                    detail: e.to_string(),
                })
        }
    }

    fn tokens(&self) -> &TokenVerifier {
        &self.app.tokens
    }

    fn observe(&self, endpoint: &'static str, status: u16, seconds: f64) {
        self.app
            .metrics
            .observe_request(endpoint, &status.to_string(), seconds);
    }
}

/// The CSC listener's [`Handler`]: every TLS client is admitted (the
/// bearer token says who calls), bodies are limited.
#[derive(Debug)]
pub struct CscListener {
    csc: Csc<CscBackend>,
    /// The SAK paths (`[sak]`), if enabled.
    sak: Option<Sak<CscBackend>>,
    max_body_bytes: usize,
}

fn sak_response(reply: SakReply) -> Reply {
    let status = reply.status;
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status != 204 {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    r
}

fn to_response(reply: CscReply) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(t) = reply.content_type {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(t));
    }
    if let Some(l) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(LOCATION, l);
    }
    r
}

impl Handler for CscListener {
    type Conn = ();

    fn admit(
        &self,
        _tls: &rustls::ServerConnection,
        addr: SocketAddr,
        _options: &ServeOptions,
    ) -> Option<()> {
        tracing::debug!(%addr, "CSC connection");
        Some(())
    }

    async fn handle(
        self: Arc<Self>,
        _conn: Arc<()>,
        req: Request<Incoming>,
    ) -> Result<Reply, Infallible> {
        let backend = self.csc.backend();
        let _in_flight = backend.app.metrics.start_request();
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        if let Some(sak) = self
            .sak
            .as_ref()
            .filter(|_| sam_docsign::service::serves(parts.uri.path()))
        {
            let limit = sak.config().max_body_bytes.max(1);
            let reply = match Limited::new(body, limit).collect().await {
                Ok(c) => {
                    sak.handle(SakRequest {
                        method: parts.method.as_str(),
                        path: parts.uri.path(),
                        body: &c.to_bytes(),
                    })
                    .await
                }
                Err(e) => {
                    let error = if e.is::<http_body_util::LengthLimitError>() {
                        SakError::too_large(limit)
                    } else {
                        SakError::invalid(format!("cannot read the body: {e}"))
                    };
                    backend.observe(
                        sam_docsign::service::UNROUTED,
                        error.status,
                        started.elapsed().as_secs_f64(),
                    );
                    error.into()
                }
            };
            return Ok(sak_response(reply));
        }
        // signDoc carries documents: the document service's body limit.
        let limit = match &self.sak {
            Some(sak) if parts.uri.path() == SIGN_DOC => sak.config().max_body_bytes.max(1),
            _ => self.max_body_bytes,
        };
        let body = match Limited::new(body, limit).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let error = if e.is::<http_body_util::LengthLimitError>() {
                    CscError::too_large(limit)
                } else {
                    CscError::invalid_request(format!("cannot read the body: {e}"))
                };
                backend.observe(
                    sam_csc::service::UNROUTED,
                    error.status,
                    started.elapsed().as_secs_f64(),
                );
                return Ok(to_response(error.into()));
            }
        };
        let authorization = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let reply = self
            .csc
            .handle_with(
                CscRequest {
                    method: parts.method.as_str(),
                    path: parts.uri.path(),
                    query: parts.uri.query(),
                    authorization,
                    body: &body,
                },
                self.sak.as_ref(),
            )
            .await;
        Ok(to_response(reply))
    }
}

/// The PEM certificates of `files`, DER (`key` names the setting in
/// errors).
fn pem_files(files: &[std::path::PathBuf], key: &str) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut out = Vec::new();
    for p in files {
        let certs = super::tls::read_certificates(p)
            .map_err(|e| ConfigError(format!("[sak] {key}: {e}")))?;
        out.extend(certs.into_iter().map(|c| c.as_ref().to_vec()));
    }
    Ok(out)
}

/// The time-stamp authority of `[sak] tsa_url`, if set.
fn tsa_client(c: &SakConfig) -> Result<Option<TsaClient>, ConfigError> {
    if c.tsa_url.is_empty() {
        return Ok(None);
    }
    let config = TsaConfig {
        url: c.tsa_url.clone(),
        trust_anchors: pem_files(&c.tsa_trust_anchors, "tsa_trust_anchors")?,
        timeout: std::time::Duration::from_secs(c.tsa_timeout_secs.max(1)),
        policy: None,
    };
    let client = TsaClient::new(config).map_err(|e| ConfigError(format!("[sak] tsa_url: {e}")))?;
    tracing::info!(tsa = %c.tsa_url, "time-stamp authority configured");
    Ok(Some(client))
}

/// The SAK service of `[sak]` over `backend`: the chain its containers
/// carry, and the time-stamp authority of the `-B-T` levels.
fn sak_service(
    backend: CscBackend,
    c: &SakConfig,
    tsa: Option<Arc<TsaClient>>,
) -> Result<Sak<CscBackend>, ConfigError> {
    let chain = pem_files(&c.chain_certificates, "chain_certificates")?;
    tracing::info!("SAK document signing enabled on the CSC listener");
    Sak::new(backend, c.clone(), chain, tsa).map_err(|e| ConfigError(format!("[sak] {e}")))
}

/// The bound CSC listener, ready to serve.
#[derive(Debug)]
pub struct CscServer {
    handler: Arc<CscListener>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    options: ServeOptions,
}

impl CscServer {
    /// Binds the CSC listener of `config` over `app`, if `[csc]` enables
    /// it.
    pub async fn bind(app: &Arc<App>, config: &Config) -> Result<Option<Self>, ConfigError> {
        let c = &config.csc;
        if !c.enabled {
            if config.sak.enabled {
                return Err(ConfigError(
                    "[sak] enabled needs [csc] enabled: the SAK paths are served on the CSC listener"
                        .into(),
                ));
            }
            return Ok(None);
        }
        let tls = super::tls::server_auth_only_from_files(&c.tls_cert, &c.tls_key)
            .map_err(|e| ConfigError(format!("[csc] {e}")))?;
        let mut chain = Vec::new();
        for p in &c.chain_certificates {
            let certs = super::tls::read_certificates(p)
                .map_err(|e| ConfigError(format!("[csc] chain_certificates: {e}")))?;
            chain.extend(certs.into_iter().map(|c| c.as_ref().to_vec()));
        }
        let listener = TcpListener::bind(c.listen)
            .await
            .map_err(|e| ConfigError(format!("[csc] listen on {}: {e}", c.listen)))?;
        let options = ServeOptions {
            max_connections: c.max_connections.max(1),
            ..config.serve_options()
        };
        tracing::info!(listen = %c.listen, "CSC listener started");
        let tsa = tsa_client(&config.sak)?.map(Arc::new);
        let backend = CscBackend {
            app: Arc::clone(app),
            tsa: tsa.clone(),
        };
        let sak = if config.sak.enabled {
            Some(sak_service(backend.clone(), &config.sak, tsa)?)
        } else {
            None
        };
        Ok(Some(Self {
            handler: Arc::new(CscListener {
                csc: Csc::new(backend, c.clone(), chain),
                sak,
                max_body_bytes: c.max_body_bytes.max(1),
            }),
            listener,
            tls,
            options,
        }))
    }

    /// Serves until `shutdown` completes, then drains like the peering
    /// listener.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        server::serve_with(
            self.handler,
            self.listener,
            self.tls,
            self.options,
            shutdown,
        )
        .await;
    }
}

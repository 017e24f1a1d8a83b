//! A small HTTP(S) client on hyper 1 and tokio-rustls: one cached
//! connection per endpoint (HTTP/2 shared by concurrent requests, HTTP/1.1
//! reused when idle), JSON in and out.

use crate::ClientError;
use crate::error::printable;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

/// Largest answer body read (a batch of 128 RSA-4096 signatures in
/// base64 is ~90 KiB).
const MAX_ANSWER: usize = 4 << 20;

/// The default time for one request, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Self::H1(s) => s.is_closed(),
            Self::H2(s) => s.is_closed(),
        }
    }
}

/// One HTTP endpoint (scheme, host, port).
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    authority: String,
    base: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    idle: Mutex<Option<Sender>>,
    timeout: Duration,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint for `base_url` (`https://host[:port]` or, for a
    /// development IdP, `http://host[:port]`); `tls` is required for
    /// `https` and refused for `http`.
    pub(crate) fn new(base_url: &str, tls: Option<Arc<ClientConfig>>) -> Result<Self, ClientError> {
        let uri: Uri = base_url
            .parse()
            .map_err(|e| ClientError::Config(format!("URL {base_url:?}: {e}")))?;
        if (uri.path() != "/" && !uri.path().is_empty()) || uri.query().is_some() {
            return Err(ClientError::Config(format!(
                "URL {base_url:?}: give only scheme, host and port"
            )));
        }
        let host = uri
            .host()
            .ok_or_else(|| ClientError::Config(format!("URL {base_url:?} has no host")))?;
        // `[::1]` in a URL is `::1` to connect to and as a server name.
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let (default_port, tls) = match (uri.scheme_str(), tls) {
            (Some("https"), Some(config)) => {
                let name = ServerName::try_from(bare_host.clone())
                    .map_err(|e| ClientError::Config(format!("server name {host:?}: {e}")))?;
                (443, Some((TlsConnector::from(config), name)))
            }
            (Some("https"), None) => {
                return Err(ClientError::Config(format!(
                    "URL {base_url:?} is https but no TLS configuration was given"
                )));
            }
            (Some("http"), None) => (80, None),
            (Some("http"), Some(_)) => {
                return Err(ClientError::Config(format!(
                    "URL {base_url:?} is plain http but a TLS configuration was given"
                )));
            }
            _ => {
                return Err(ClientError::Config(format!(
                    "URL {base_url:?}: the scheme must be https (or http for a development IdP)"
                )));
            }
        };
        let port = uri.port_u16().unwrap_or(default_port);
        let authority = if port == default_port {
            host.to_owned()
        } else {
            format!("{host}:{port}")
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(Self {
            base: format!("{scheme}://{authority}"),
            host: bare_host,
            port,
            authority,
            tls,
            idle: Mutex::new(None),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends `body` as JSON to `path` with `method`; the status and body of
    /// the answer.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let work = self.exchange(method, path, body);
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Transport(format!(
                "{}{path}: no answer within {:?}",
                self.base, self.timeout
            ))),
        }
    }

    /// `POST path` with a JSON body.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        value: &impl serde::Serialize,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ClientError::Protocol(format!("request JSON: {e}")))?;
        self.request(Method::POST, path, Some(body)).await
    }

    fn build(
        &self,
        method: &Method,
        path: &str,
        body: &Option<Vec<u8>>,
        h2: bool,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let uri = if h2 {
            format!("{}{path}", self.base)
        } else {
            path.to_owned()
        };
        let mut builder = Request::builder().method(method.clone()).uri(uri);
        if !h2 {
            builder = builder.header(HOST, self.authority.as_str());
        }
        let payload = match body {
            Some(b) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(b.clone())
            }
            None => Bytes::new(),
        };
        builder
            .body(Full::new(payload))
            .map_err(|e| ClientError::Config(format!("request to {path}: {e}")))
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        // An idle connection first. A request it could not even start to
        // send comes back and goes out on a fresh connection; one that may
        // have reached the server is never repeated (a SAD is single-use).
        let cached = {
            let mut idle = self.idle.lock().await;
            match idle.take() {
                Some(Sender::H2(s)) if !s.is_closed() => {
                    *idle = Some(Sender::H2(s.clone()));
                    Some(Sender::H2(s))
                }
                Some(s @ Sender::H1(_)) if !s.is_closed() => Some(s),
                _ => None,
            }
        };
        if let Some(mut sender) = cached {
            let req = self.build(&method, path, &body, matches!(sender, Sender::H2(_)))?;
            let sent = match &mut sender {
                Sender::H1(s) => s.try_send_request(req).await,
                Sender::H2(s) => s.try_send_request(req).await,
            };
            match sent {
                Ok(resp) => return self.finish(sender, resp).await,
                Err(mut e) => {
                    if e.take_message().is_none() {
                        return Err(ClientError::Transport(format!(
                            "{}{path}: {}",
                            self.base,
                            e.error()
                        )));
                    }
                }
            }
        }
        let mut sender = self.connect().await?;
        let req = self.build(&method, path, &body, matches!(sender, Sender::H2(_)))?;
        let resp = match &mut sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
        .map_err(|e| ClientError::Transport(format!("{}{path}: {e}", self.base)))?;
        self.finish(sender, resp).await
    }

    async fn finish(
        &self,
        sender: Sender,
        resp: Response<hyper::body::Incoming>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| ClientError::Transport(format!("{}: reading the answer: {e}", self.base)))?
            .to_bytes();
        if !sender.is_closed() {
            let mut idle = self.idle.lock().await;
            if idle.is_none() {
                *idle = Some(sender);
            }
        }
        Ok((status, body))
    }

    async fn connect(&self) -> Result<Sender, ClientError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| ClientError::Transport(format!("connecting to {}: {e}", self.base)))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => {
                let (sender, conn) = http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| ClientError::Transport(format!("{}: {e}", self.base)))?;
                tokio::spawn(conn);
                Ok(Sender::H1(sender))
            }
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await.map_err(|e| {
                    ClientError::Transport(format!("TLS handshake with {}: {e}", self.base))
                })?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                let io = TokioIo::new(tls);
                if h2 {
                    let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(|e| ClientError::Transport(format!("{}: {e}", self.base)))?;
                    tokio::spawn(conn);
                    Ok(Sender::H2(sender))
                } else {
                    let (sender, conn) = http1::handshake(io)
                        .await
                        .map_err(|e| ClientError::Transport(format!("{}: {e}", self.base)))?;
                    tokio::spawn(conn);
                    Ok(Sender::H1(sender))
                }
            }
        }
    }
}

/// Decodes a JSON answer body into `T`.
pub(crate) fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body)
        .map_err(|e| ClientError::Protocol(format!("unexpected answer ({e}): {}", printable(body))))
}

/// The rustls configuration for a TLS client: `roots` as the only trust
/// anchors, HTTP/2 and HTTP/1.1 by ALPN, the aws-lc-rs provider, and the
/// client certificate `identity` (chain and key) if given.
pub fn tls_config(
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    identity: Option<(
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    )>,
) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store
            .add(root)
            .map_err(|e| ClientError::Config(format!("trust anchor: {e}")))?;
    }
    if store.is_empty() {
        return Err(ClientError::Config("no trust anchor given".into()));
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(e.to_string()))?
        .with_root_certificates(store);
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| ClientError::Config(format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in a PEM file.
pub fn read_pem_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, ClientError> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ClientError::Config(format!(
            "{}: no certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, SEC1 or PKCS#1).
pub fn read_pem_key(
    path: &std::path::Path,
) -> Result<rustls_pki_types::PrivateKeyDer<'static>, ClientError> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::PrivateKeyDer::from_pem_file(path)
        .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))
}

//! The one HTTPS client of the host side: hyper 1 and tokio-rustls, one
//! cached connection per endpoint (HTTP/2 shared by concurrent requests,
//! HTTP/1.1 reused when idle), a per-request timeout, a bounded answer,
//! and no request repeated once it may have reached the server.
//!
//! [`crate::SamClient`] and [`crate::IdpClient`] are built on it, and so is
//! samctl (an [`Endpoint`] with a [`Location`] that may carry a path
//! prefix, with or without a client certificate): one place for mutual
//! TLS, ALPN and the never-resend rule.

use crate::ClientError;
use crate::error::printable;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

/// The default bound on an answer body (a batch of 128 RSA-4096
/// signatures in base64 is ~90 KiB).
pub const DEFAULT_ANSWER_LIMIT: usize = 4 << 20;

/// The default time for one request, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where an endpoint is, from a URL `scheme://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    tls: bool,
    host: String,
    port: u16,
    prefix: String,
    /// `host[:port]` as in the URL: the port only when it is not the
    /// scheme's default (the Host header and the messages).
    authority: String,
}

impl Location {
    /// Parses `url`: scheme `https` (or `http`, for a development IdP), a
    /// host, an optional port and an optional path prefix (a trailing `/`
    /// dropped); no query.
    pub fn parse(url: &str) -> Result<Self, ClientError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| ClientError::Config(format!("URL {url:?}: {e}")))?;
        if uri.query().is_some() {
            return Err(ClientError::Config(format!(
                "URL {url:?}: a base URL has no query"
            )));
        }
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(ClientError::Config(format!(
                    "URL {url:?}: the scheme must be https (or http for a development IdP)"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| ClientError::Config(format!("URL {url:?} has no host")))?;
        let default_port = if tls { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        let authority = if port == default_port {
            host.to_owned()
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            tls,
            // `[::1]` in a URL is `::1` to connect to and as a server name.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            authority,
        })
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.tls
    }

    /// The host name or IP address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path prefix without a trailing slash (usually empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `host:port`, always with the port and an IPv6 address in brackets:
    /// where to say a server is in a message.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `scheme://host[:port]`, without the prefix.
    fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// The full URL of `path` (which starts with `/`), prefix included.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.base(), self.prefix)
    }
}

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

/// The TLS side of an [`Endpoint`].
struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
    /// Whether the configuration carries a client certificate; without
    /// one, a server that demands one gets [`Endpoint::set_certificate_hint`]'s
    /// words in the error.
    has_client_cert: bool,
}

/// A failed request, and whether it certainly never left.
#[derive(Debug)]
pub enum Unsent {
    /// Nothing of the request was sent (no connection could be made, the
    /// TLS handshake failed, the request could not be built): another
    /// server may be asked.
    Yes(ClientError),
    /// The request may have reached the server (or the answer was
    /// unusable): it must not be repeated anywhere.
    No(ClientError),
}

impl Unsent {
    /// The error, whichever it was.
    pub fn into_error(self) -> ClientError {
        match self {
            Self::Yes(e) | Self::No(e) => e,
        }
    }
}

/// One HTTP endpoint: a [`Location`], its TLS configuration and the cached
/// connection.
pub struct Endpoint {
    location: Location,
    base: String,
    tls: Option<Tls>,
    idle: Mutex<Option<Sender>>,
    timeout: Duration,
    answer_limit: usize,
    certificate_hint: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("prefix", &self.location.prefix)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint for `base_url` (`https://host[:port]` or, for a
    /// development IdP, `http://host[:port]`), without a path; `tls` is
    /// required for `https` and refused for `http`.
    pub fn new(base_url: &str, tls: Option<Arc<ClientConfig>>) -> Result<Self, ClientError> {
        let location = Location::parse(base_url)?;
        if !location.prefix.is_empty() {
            return Err(ClientError::Config(format!(
                "URL {base_url:?}: give only scheme, host and port"
            )));
        }
        Self::at(location, tls)
    }

    /// An endpoint at `location`, whose path prefix goes before every
    /// request path; `tls` is required for `https` and refused for `http`.
    pub fn at(location: Location, tls: Option<Arc<ClientConfig>>) -> Result<Self, ClientError> {
        let url = location.url("");
        let tls = match (location.tls, tls) {
            (true, Some(config)) => {
                let name = ServerName::try_from(location.host.clone()).map_err(|e| {
                    ClientError::Config(format!("server name {:?}: {e}", location.host))
                })?;
                Some(Tls {
                    has_client_cert: config.client_auth_cert_resolver.has_certs(),
                    connector: TlsConnector::from(config),
                    name,
                })
            }
            (true, None) => {
                return Err(ClientError::Config(format!(
                    "URL {url:?} is https but no TLS configuration was given"
                )));
            }
            (false, None) => None,
            (false, Some(_)) => {
                return Err(ClientError::Config(format!(
                    "URL {url:?} is plain http but a TLS configuration was given"
                )));
            }
        };
        Ok(Self {
            base: location.base(),
            location,
            tls,
            idle: Mutex::new(None),
            timeout: DEFAULT_TIMEOUT,
            answer_limit: DEFAULT_ANSWER_LIMIT,
            certificate_hint: "none was configured".to_owned(),
        })
    }

    /// Where the endpoint is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Sets the time one request may take, connecting included (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The time one request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the largest answer body read (default
    /// [`DEFAULT_ANSWER_LIMIT`]); a longer one is a transport error.
    pub fn set_answer_limit(&mut self, bytes: usize) {
        self.answer_limit = bytes;
    }

    /// Sets what the error says when the server demands a client
    /// certificate and the TLS configuration has none (default "none was
    /// configured"), e.g. which options give one.
    pub fn set_certificate_hint(&mut self, hint: impl Into<String>) {
        self.certificate_hint = hint.into();
    }

    /// Sends `body` as JSON to `path` (after the prefix) with `method`;
    /// the status and body of the answer. Any HTTP answer is `Ok`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        self.request_authorized(method, path, body, None).await
    }

    /// [`Self::request`] with an `Authorization` header of value
    /// `authorization` (e.g. `Bearer <base64 DER identity token>`, which
    /// samd's key manager reads) if given.
    pub async fn request_authorized(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorization: Option<&str>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        self.request_or_unsent(method, path, body, authorization)
            .await
            .map_err(Unsent::into_error)
    }

    /// [`Self::request_authorized`], telling a failure before any byte of
    /// the request left (no connection, a failed TLS handshake:
    /// [`Unsent`]) from one after: only the first may be tried at another
    /// server, because a request that may have arrived (a SAD is single
    /// use, a key generation is not idempotent) is never repeated.
    pub async fn request_or_unsent(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorization: Option<&str>,
    ) -> Result<(StatusCode, Bytes), Unsent> {
        let work = self.exchange(method, path, body, authorization);
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Unsent::No(ClientError::Transport(format!(
                "{}: no answer within {:?}",
                self.location.url(path),
                self.timeout
            )))),
        }
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
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
        authorization: Option<&str>,
        h2: bool,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let uri = if h2 {
            self.location.url(path)
        } else {
            format!("{}{path}", self.location.prefix)
        };
        let mut builder = Request::builder().method(method.clone()).uri(uri);
        if !h2 {
            builder = builder.header(HOST, self.location.authority.as_str());
        }
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
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

    /// A transport error: `what` failed with `error` and its causes. When
    /// the endpoint has no client certificate and the server demanded one
    /// (TLS 1.3 `certificate_required`) or sent any alert during the
    /// `handshake` (TLS 1.2 has no specific one), the certificate hint is
    /// added.
    fn failure(
        &self,
        what: &str,
        error: &(dyn std::error::Error + 'static),
        handshake: bool,
    ) -> ClientError {
        let mut text = format!("{what}: {error}");
        let mut last = error.to_string();
        let mut alert = received_alert(error);
        let mut cause = error.source();
        while let Some(c) = cause {
            let piece = c.to_string();
            // Some errors print their cause themselves.
            if !last.ends_with(&piece) {
                text.push_str(": ");
                text.push_str(&piece);
            }
            last = piece;
            alert = alert.or_else(|| received_alert(c));
            cause = c.source();
        }
        let verb = match alert {
            Some(rustls::AlertDescription::CertificateRequired) => Some("requires"),
            Some(_) if handshake => Some("may require"),
            _ => None,
        };
        if let Some(verb) = verb.filter(|_| self.tls.as_ref().is_some_and(|t| !t.has_client_cert)) {
            text.push_str(&format!(
                " (the server {verb} a client certificate: {})",
                self.certificate_hint
            ));
        }
        ClientError::Transport(text)
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorization: Option<&str>,
    ) -> Result<(StatusCode, Bytes), Unsent> {
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
        let request = |sender: &Sender| {
            self.build(
                &method,
                path,
                &body,
                authorization,
                matches!(sender, Sender::H2(_)),
            )
            .map_err(Unsent::Yes)
        };
        if let Some(mut sender) = cached {
            let req = request(&sender)?;
            let sent = match &mut sender {
                Sender::H1(s) => s.try_send_request(req).await,
                Sender::H2(s) => s.try_send_request(req).await,
            };
            match sent {
                Ok(resp) => return self.finish(sender, resp).await.map_err(Unsent::No),
                Err(mut e) => {
                    if e.take_message().is_none() {
                        return Err(Unsent::No(self.failure(
                            &self.location.url(path),
                            e.error(),
                            false,
                        )));
                    }
                }
            }
        }
        let mut sender = self.connect().await.map_err(Unsent::Yes)?;
        let req = request(&sender)?;
        let resp = match &mut sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
        .map_err(|e| Unsent::No(self.failure(&self.location.url(path), &e, false)))?;
        self.finish(sender, resp).await.map_err(Unsent::No)
    }

    async fn finish(
        &self,
        sender: Sender,
        resp: Response<hyper::body::Incoming>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let status = resp.status();
        let body = Limited::new(resp.into_body(), self.answer_limit)
            .collect()
            .await
            .map_err(|e| {
                self.failure(
                    &format!("{}: reading the answer", self.base),
                    e.as_ref(),
                    false,
                )
            })?
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
        let tcp = TcpStream::connect((self.location.host.as_str(), self.location.port))
            .await
            .map_err(|e| self.failure(&format!("connecting to {}", self.base), &e, false))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => {
                let (sender, conn) = http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| self.failure(&self.base, &e, false))?;
                tokio::spawn(conn);
                Ok(Sender::H1(sender))
            }
            Some(tls) => {
                let stream = tls
                    .connector
                    .connect(tls.name.clone(), tcp)
                    .await
                    .map_err(|e| {
                        self.failure(&format!("TLS handshake with {}", self.base), &e, true)
                    })?;
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                let io = TokioIo::new(stream);
                if h2 {
                    let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(|e| self.failure(&self.base, &e, false))?;
                    tokio::spawn(conn);
                    Ok(Sender::H2(sender))
                } else {
                    let (sender, conn) = http1::handshake(io)
                        .await
                        .map_err(|e| self.failure(&self.base, &e, false))?;
                    tokio::spawn(conn);
                    Ok(Sender::H1(sender))
                }
            }
        }
    }
}

/// The TLS alert the server sent, if `error` is (or wraps in an I/O
/// error) rustls' "alert received".
fn received_alert(error: &(dyn std::error::Error + 'static)) -> Option<rustls::AlertDescription> {
    let tls = error.downcast_ref::<rustls::Error>().or_else(|| {
        error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|e| e.downcast_ref::<rustls::Error>())
    });
    match tls {
        Some(rustls::Error::AlertReceived(a)) => Some(*a),
        _ => None,
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

/// A DER document (identity token, SAD) from the bytes of a file holding
/// DER, base64 (standard, or URL-safe without padding; whitespace
/// ignored) or PEM (any label: the first section's base64). `None` if it
/// is none of these.
pub fn der_document(bytes: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    if bytes.first() == Some(&0x30) {
        return Some(bytes.to_vec());
    }
    let text = String::from_utf8_lossy(bytes);
    let body: String = if text.contains("-----BEGIN ") {
        text.lines()
            .skip_while(|l| !l.starts_with("-----BEGIN "))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END "))
            .collect()
    } else {
        text.into_owned()
    };
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(&body)
        .or_else(|_| URL_SAFE_NO_PAD.decode(body.trim_end_matches('=')))
        .ok()
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::der_document;

    #[test]
    fn der_documents_come_as_der_base64_or_pem() {
        let der = [0x30, 3, 2, 1, 7];
        assert_eq!(der_document(&der).unwrap(), der);
        assert_eq!(der_document(b"MAMCAQc=\n").unwrap(), der);
        assert_eq!(der_document(b" MAMC\n AQc= ").unwrap(), der);
        assert_eq!(der_document(b"MAMCAQc").unwrap(), der);
        let pem = b"junk\n-----BEGIN TOKEN-----\nMAMC\nAQc=\n-----END TOKEN-----\n";
        assert_eq!(der_document(pem).unwrap(), der);
        assert_eq!(der_document(b"not a token!"), None);
        assert_eq!(
            der_document(b"-----BEGIN X-----\n%%\n-----END X-----\n"),
            None
        );
    }
}

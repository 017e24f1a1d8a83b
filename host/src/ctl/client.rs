//! The HTTPS client to samd: mutual TLS (rustls, aws-lc-rs), HTTP/1.1,
//! one connection per request (samctl sends few).

use super::error::{CtlError, CtlResult};
use super::settings::Settings;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// samd's location, from a URL `https://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path prefix without a trailing slash (usually empty).
    pub prefix: String,
}

impl Endpoint {
    /// Parses the URL.
    pub fn parse(url: &str) -> CtlResult<Self> {
        let bad = |why: &str| CtlError::usage(format!("--url {url:?}: {why}"));
        let uri: hyper::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("samd speaks https only"));
        }
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self {
            host,
            port: uri.port_u16().unwrap_or(443),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The `host:port` for the Host header.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An HTTPS client of samd.
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    timeout: Duration,
    verbose: u8,
    has_client_cert: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn certificates(path: &Path, what: &str) -> CtlResult<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| CtlError::usage(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(CtlError::usage(format!(
            "{what} {}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// A raw answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON if the status is 2xx, else samd's error.
    pub fn into_json(self) -> CtlResult<Value> {
        if (200..300).contains(&self.status) {
            return serde_json::from_slice(&self.body).map_err(|e| {
                CtlError::failed(format!("samd answered {} with no JSON: {e}", self.status))
            });
        }
        Err(self.error())
    }

    /// samd's error answer as an error.
    pub fn error(&self) -> CtlError {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let e = v.get("error");
        let kind = e
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .map_or_else(|| format!("HTTP {}", self.status), str::to_owned);
        let detail = e
            .and_then(|e| e.get("detail"))
            .and_then(Value::as_str)
            .map_or_else(
                || String::from_utf8_lossy(&self.body).into_owned(),
                str::to_owned,
            );
        CtlError::Samd {
            kind,
            status: self.status,
            detail,
        }
    }
}

impl Client {
    /// A client for the settings' URL.
    pub fn new(s: &Settings) -> CtlResult<Self> {
        Self::for_url(s, &s.url)
    }

    /// A client for `url` with the settings' TLS material.
    pub fn for_url(s: &Settings, url: &str) -> CtlResult<Self> {
        let endpoint = Endpoint::parse(url)?;
        let ca = s.ca.as_deref().ok_or_else(|| {
            CtlError::usage(
                "no CA for samd's server certificate: give --ca, SAMCTL_CA or `ca` in samctl.toml",
            )
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for c in certificates(ca, "--ca")? {
            roots
                .add(c)
                .map_err(|e| CtlError::usage(format!("--ca {}: {e}", ca.display())))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CtlError::failed(format!("TLS: {e}")))?
            .with_root_certificates(roots);
        let (mut config, has_client_cert) = match (&s.cert, &s.key) {
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, "--cert")?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| CtlError::usage(format!("--key {}: {e}", key.display())))?;
                let c = builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| CtlError::usage(format!("--cert/--key: {e}")))?;
                (c, true)
            }
            (None, None) => (builder.with_no_client_auth(), false),
            _ => {
                return Err(CtlError::usage(
                    "--cert and --key go together (the management connector's client certificate)",
                ));
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = match endpoint.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(endpoint.host.clone())
                .map_err(|e| CtlError::usage(format!("--url host {:?}: {e}", endpoint.host)))?,
        };
        Ok(Self {
            endpoint,
            server_name,
            connector: TlsConnector::from(Arc::new(config)),
            timeout: s.timeout,
            verbose: s.verbose,
            has_client_cert,
        })
    }

    /// The same client with another per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends one request; any HTTP answer is `Ok`.
    pub async fn send(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> CtlResult<Answer> {
        if self.verbose >= 2 {
            eprintln!(
                "samctl: {method} https://{}{}{path}",
                self.endpoint.authority(),
                self.endpoint.prefix
            );
        }
        let answer = tokio::time::timeout(self.timeout, self.exchange(method, path, body))
            .await
            .map_err(|_| {
                CtlError::failed(format!(
                    "samd at {} did not answer {method} {path} within {} s",
                    self.endpoint.authority(),
                    self.timeout.as_secs()
                ))
            })??;
        if self.verbose >= 2 {
            eprintln!("samctl: HTTP {}", answer.status);
        }
        Ok(answer)
    }

    async fn exchange(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> CtlResult<Answer> {
        let at = self.endpoint.authority();
        let tcp = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| CtlError::failed(format!("cannot connect to samd at {at}: {e}")))?;
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| {
                let hint = if self.has_client_cert {
                    ""
                } else {
                    " (samd requires a client certificate: --cert and --key)"
                };
                CtlError::failed(format!("TLS with samd at {at}: {e}{hint}"))
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| CtlError::failed(format!("HTTP with samd at {at}: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let has_body = body.is_some();
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.endpoint.prefix))
            .header("host", &at);
        if has_body {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| CtlError::usage(format!("request {method} {path}: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| CtlError::failed(format!("request to samd at {at}: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| CtlError::failed(format!("answer from samd at {at}: {e}")))?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// `GET path` → JSON, or samd's error.
    pub async fn get(&self, path: &str) -> CtlResult<Value> {
        self.send("GET", path, None).await?.into_json()
    }

    /// `POST path` with a JSON body → JSON, or samd's error.
    pub async fn post(&self, path: &str, body: &Value) -> CtlResult<Value> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| CtlError::failed(format!("request body: {e}")))?;
        self.send("POST", path, Some(bytes)).await?.into_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("127.0.0.1", 8443, "")
        );
        let e = Endpoint::parse("https://[::1]/sam/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("::1", 443, "/sam")
        );
        assert_eq!(e.authority(), "[::1]:443");
        assert!(Endpoint::parse("http://127.0.0.1:8443").is_err());
        assert!(Endpoint::parse("nonsense").is_err());
    }

    #[test]
    fn error_answers() {
        let a = Answer {
            status: 403,
            body: Bytes::from_static(
                br#"{"error":{"type":"NotAuthorized","code":7,"detail":"one administrator"}}"#,
            ),
        };
        assert_eq!(a.error().to_string(), "NotAuthorized: one administrator");
        let a = Answer {
            status: 502,
            body: Bytes::from_static(b"bad gateway"),
        };
        assert_eq!(a.error().to_string(), "HTTP 502: bad gateway");
    }
}

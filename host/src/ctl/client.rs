//! samctl's side of the HTTPS client to samd: sam-client's
//! [`Endpoint`] (mutual TLS, HTTP/2 or HTTP/1.1, timeout, never a repeated
//! request) with the TLS material of samctl's [`Settings`], its `-vv`
//! request log, and its errors ([`CtlError`], exit codes, `--ca`/`--cert`
//! /`--key` in the messages).

use super::error::{CtlError, CtlResult};
use super::settings::Settings;
use bytes::Bytes;
use sam_client::ClientError;
use sam_client::http::{Endpoint, Location, read_pem_certificates, read_pem_key, tls_config};
use sam_client::wire::strict;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::time::Duration;

pub use sam_client::Method;

/// The largest answer samctl reads: a page of 1000 objects, each with its
/// certificates in base64, is well past sam-client's default.
const ANSWER_LIMIT: usize = 64 << 20;

/// samd's location from a URL `https://host[:port][/prefix]`.
pub fn samd_location(url: &str) -> CtlResult<Location> {
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !https {
        return Err(CtlError::usage(format!(
            "--url {url:?}: samd speaks https only"
        )));
    }
    Location::parse(url).map_err(CtlError::from)
}

/// An HTTPS client of samd.
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    verbose: u8,
}

/// The message of a sam-client error about option `what`, in samctl's
/// terms (a usage error).
fn option_error(what: &str, e: ClientError) -> CtlError {
    match e {
        ClientError::Config(m) => CtlError::usage(format!("{what}: {m}")),
        other => CtlError::from(other),
    }
}

fn certificates(
    path: &Path,
    what: &str,
) -> CtlResult<Vec<rustls_pki_types::CertificateDer<'static>>> {
    read_pem_certificates(path).map_err(|e| option_error(what, e))
}

impl From<ClientError> for CtlError {
    /// samd's refusals keep the error type name (seed or host) as `kind`;
    /// an unusable configuration is a usage error; the rest failed.
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Sam {
                error,
                status,
                detail,
            } => Self::Samd {
                kind: error.name().to_owned(),
                status,
                detail,
            },
            ClientError::Host {
                kind,
                status,
                detail,
                ..
            } => Self::Samd {
                kind,
                status,
                detail,
            },
            ClientError::Config(m) => Self::Usage(m),
            ClientError::Transport(m) | ClientError::Protocol(m) => Self::Failed(m),
            other => Self::Failed(other.to_string()),
        }
    }
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
    pub fn into_json<T: DeserializeOwned>(self) -> CtlResult<T> {
        if (200..300).contains(&self.status) {
            return strict::from_slice(&self.body).map_err(|e| {
                CtlError::failed(format!("samd answered {} with no JSON: {e}", self.status))
            });
        }
        Err(self.error())
    }

    /// samd's error answer as an error: its `{"error": ...}` body read by
    /// sam-client, or the status and the raw body if it is not one.
    pub fn error(&self) -> CtlError {
        match ClientError::from_samd_answer(self.status, &self.body) {
            ClientError::Protocol(_) => CtlError::Samd {
                kind: format!("HTTP {}", self.status),
                status: self.status,
                detail: String::from_utf8_lossy(&self.body).into_owned(),
            },
            e => e.into(),
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
        let location = samd_location(url)?;
        let ca = s.ca.as_deref().ok_or_else(|| {
            CtlError::usage(
                "no CA for samd's server certificate: give --ca, SAMCTL_CA or `ca` in samctl.toml",
            )
        })?;
        let roots = certificates(ca, "--ca")?;
        let identity = match (&s.cert, &s.key) {
            (Some(cert), Some(key)) => Some((
                certificates(cert, "--cert")?,
                read_pem_key(key).map_err(|e| option_error("--key", e))?,
            )),
            (None, None) => None,
            _ => {
                return Err(CtlError::usage(
                    "--cert and --key go together (the management connector's client certificate)",
                ));
            }
        };
        let tls = tls_config(roots, identity).map_err(|e| option_error("--ca/--cert/--key", e))?;
        let mut endpoint =
            Endpoint::at(location, Some(tls)).map_err(|e| option_error("--url", e))?;
        endpoint.set_timeout(s.timeout);
        endpoint.set_answer_limit(ANSWER_LIMIT);
        endpoint.set_certificate_hint("give --cert and --key");
        Ok(Self {
            endpoint,
            verbose: s.verbose,
        })
    }

    /// The same client with another per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.endpoint.set_timeout(timeout);
        self
    }

    /// Where samd is.
    pub fn location(&self) -> &Location {
        self.endpoint.location()
    }

    /// Sends one request; any HTTP answer is `Ok`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> CtlResult<Answer> {
        self.send_authorized(method, path, body, None).await
    }

    /// [`Self::send`] with an `Authorization` header (the key manager's
    /// `Bearer <identity token>`).
    pub async fn send_authorized(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorization: Option<&str>,
    ) -> CtlResult<Answer> {
        let location = self.endpoint.location();
        if self.verbose >= 2 {
            eprintln!(
                "samctl: {method} https://{}{}{path}",
                location.authority(),
                location.prefix()
            );
        }
        let (status, body) = self
            .endpoint
            .request_authorized(method, path, body, authorization)
            .await?;
        if self.verbose >= 2 {
            eprintln!("samctl: HTTP {}", status.as_u16());
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    /// `GET path` → JSON, or samd's error.
    /// `GET path` → the answer as `T` (a `sam_client::wire` type, or a
    /// plain JSON value to print), or samd's error.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> CtlResult<T> {
        self.send(Method::GET, path, None).await?.into_json()
    }

    /// `POST path` with a `sam_client::wire` body → the answer as `T`, or
    /// samd's error.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> CtlResult<T> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| CtlError::failed(format!("request body: {e}")))?;
        self.send(Method::POST, path, Some(bytes))
            .await?
            .into_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = samd_location("https://127.0.0.1:8443").unwrap();
        assert_eq!((e.host(), e.port(), e.prefix()), ("127.0.0.1", 8443, ""));
        let e = samd_location("https://[::1]/sam/").unwrap();
        assert_eq!((e.host(), e.port(), e.prefix()), ("::1", 443, "/sam"));
        assert_eq!(e.authority(), "[::1]:443");
        assert!(samd_location("http://127.0.0.1:8443").is_err());
        assert!(samd_location("nonsense").is_err());
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

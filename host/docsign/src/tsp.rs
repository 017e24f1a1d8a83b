//! An RFC 3161 time-stamp client: the `-B-T` levels' signature
//! time-stamp, and the CSC `signatures/timestamp` call.
//!
//! The TSA is not trusted blindly. [`TsaClient::stamp`] sends a request
//! with a fresh random nonce and `certReq` set, and returns a token only
//! after [`verify_token`] has checked it against the configured trust
//! anchors and the nonce and policy have been compared: a container never
//! carries a token that a verifier would refuse, and a TSA (or anyone on
//! the path to it) cannot slip in a token for another document or an old
//! one.
//!
//! The transport is HTTP/1.1 `POST` with `application/timestamp-query`
//! (RFC 3161 §3.4) over plain TCP or, for `https://` URLs, rustls with
//! the roots given to [`TsaClient::with_tls`]. One connection per
//! request: time-stamps are rare next to signatures, and a TSA that
//! closes idle connections costs nothing then.

pub mod asn1;
mod verify;

pub use verify::{TstInfoSummary, verify_token};

use crate::DocError;
use asn1::{
    MessageImprint, QUERY_MEDIA_TYPE, REPLY_MEDIA_TYPE, TimeStampReq, TimeStampResp, status,
};
use bytes::Bytes;
use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use sam_client::verify::digest;
use sam_proto::asn1::{Oid, digest_algorithm};
use sam_proto::ids::HashAlgorithm;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use x509_cert::Certificate;

/// The largest answer read: a token with a certificate chain is a few
/// KiB; anything near this is not a time-stamp reply.
pub const MAX_REPLY: usize = 256 * 1024;

/// The time a request may take when the configuration names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the TSA is and what makes its tokens acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsaConfig {
    /// `http://host[:port]/path` (or `https://`, see
    /// [`TsaClient::with_tls`]).
    pub url: String,
    /// DER CA certificates: the TSA's certificate must be one of them or
    /// be issued by one (directly or through one CA certificate carried in
    /// the token).
    pub trust_anchors: Vec<Vec<u8>>,
    /// The time one request may take, connecting included.
    pub timeout: Duration,
    /// The TSA policy to ask for and insist on (dotted OID), or `None`
    /// for the TSA's default.
    pub policy: Option<String>,
}

/// The `[tsa]` section of a configuration file: what [`TsaConfig`] is
/// made of, with the trust anchors as PEM files.
///
/// ```toml
/// [tsa]
/// url = "http://127.0.0.1:8480/tsa"
/// trust_anchors = ["dev-pki/ca.pem"]   # PEM, one or more certificates each
/// timeout_secs = 10                    # default 10
/// # policy = "1.2.3.4"                 # default: the TSA's own
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsaSection {
    /// See [`TsaConfig::url`].
    pub url: String,
    /// PEM files of the trust anchors (at least one certificate in all).
    pub trust_anchors: Vec<PathBuf>,
    /// Seconds per request; [`DEFAULT_TIMEOUT`] when absent.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// See [`TsaConfig::policy`].
    #[serde(default)]
    pub policy: Option<String>,
}

impl TsaSection {
    /// Reads the trust anchors' files.
    pub fn load(&self) -> Result<TsaConfig, DocError> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let mut trust_anchors = Vec::new();
        for path in &self.trust_anchors {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| DocError::InvalidInput(format!("{}: {e}", path.display())))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| DocError::InvalidInput(format!("{}: {e}", path.display())))?;
                trust_anchors.push(cert.to_vec());
            }
        }
        Ok(TsaConfig {
            url: self.url.clone(),
            trust_anchors,
            timeout: self
                .timeout_secs
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs),
            policy: self.policy.clone(),
        })
    }
}

/// A verified time-stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStamp {
    /// The DER `TimeStampToken` (a CMS `ContentInfo`), as the TSA sent it.
    pub token: Vec<u8>,
    /// The token's `genTime`.
    pub gen_time: SystemTime,
    /// The token's serial number (two's-complement big-endian).
    pub serial: Vec<u8>,
}

/// The client of one TSA.
#[derive(Debug)]
pub struct TsaClient {
    config: TsaConfig,
    uri: Uri,
    tls: Option<Tls>,
    anchors: Vec<Certificate>,
    policy: Option<Oid>,
}

struct Tls {
    connector: tokio_rustls::TlsConnector,
    name: rustls_pki_types::ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("name", &self.name).finish()
    }
}

impl TsaClient {
    /// A client for a plain `http://` TSA. The configuration is checked
    /// here: a URL of another scheme, no trust anchor, an anchor that is
    /// not a certificate or a policy that is not an OID is
    /// [`DocError::InvalidInput`].
    pub fn new(config: TsaConfig) -> Result<Self, DocError> {
        Self::build(config, None)
    }

    /// A client for an `https://` (or `http://`) TSA; the TLS server is
    /// authenticated with `tls` (e.g. [`sam_client::tls_config`] with the
    /// TLS roots; its ALPN is replaced by `http/1.1`).
    pub fn with_tls(config: TsaConfig, tls: Arc<rustls::ClientConfig>) -> Result<Self, DocError> {
        Self::build(config, Some(tls))
    }

    fn build(config: TsaConfig, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Self, DocError> {
        let invalid = |m: String| DocError::InvalidInput(format!("TSA: {m}"));
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e| invalid(format!("URL {:?}: {e}", config.url)))?;
        let host = uri
            .host()
            .ok_or_else(|| invalid(format!("URL {:?} has no host", config.url)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = match (uri.scheme_str(), tls) {
            (Some("http"), _) => None,
            (Some("https"), Some(config)) => {
                let mut config = (*config).clone();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                let name = rustls_pki_types::ServerName::try_from(host)
                    .map_err(|e| invalid(format!("server name: {e}")))?;
                Some(Tls {
                    connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
                    name,
                })
            }
            (Some("https"), None) => {
                return Err(invalid(
                    "an https:// TSA needs TLS roots: use TsaClient::with_tls".into(),
                ));
            }
            _ => {
                return Err(invalid(format!(
                    "URL {:?}: the scheme must be http or https",
                    config.url
                )));
            }
        };
        if config.trust_anchors.is_empty() {
            return Err(invalid("no trust anchor configured".into()));
        }
        let anchors = config
            .trust_anchors
            .iter()
            .map(|a| Certificate::from_der(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("a trust anchor is not a DER certificate: {e}")))?;
        let policy = config
            .policy
            .as_deref()
            .map(Oid::from_dotted)
            .transpose()
            .map_err(|_| invalid("the policy is not a dotted OID".into()))?;
        Ok(Self {
            config,
            uri,
            tls,
            anchors,
            policy,
        })
    }

    /// A verified time-stamp over `data`, hashed with `hash`.
    pub async fn stamp(&self, hash: HashAlgorithm, data: &[u8]) -> Result<TimeStamp, DocError> {
        self.stamp_digest(hash, &digest(hash, data)).await
    }

    /// A verified time-stamp over the digest `digest` made with `hash`.
    pub async fn stamp_digest(
        &self,
        hash: HashAlgorithm,
        digest: &[u8],
    ) -> Result<TimeStamp, DocError> {
        self.stamp_digest_with_nonce(hash, digest, None).await
    }

    /// [`Self::stamp_digest`] with the caller's nonce (big-endian, 1 to
    /// 32 bytes; CSC `signatures/timestamp` passes the client's) instead
    /// of a fresh random one.
    pub async fn stamp_digest_with_nonce(
        &self,
        hash: HashAlgorithm,
        digest: &[u8],
        nonce_bytes: Option<&[u8]>,
    ) -> Result<TimeStamp, DocError> {
        if digest.len() != hash.output_len() {
            return Err(DocError::InvalidInput(format!(
                "a {hash:?} digest has {} bytes, not {}",
                hash.output_len(),
                digest.len()
            )));
        }
        let nonce = match nonce_bytes {
            Some(b) => caller_nonce(b)?,
            None => nonce()?,
        };
        let request = TimeStampReq {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: digest_algorithm(hash),
                hashed_message: OctetString::new(digest)?,
            },
            req_policy: self.policy,
            nonce: Some(nonce.clone()),
            cert_req: true,
            extensions: None,
        }
        .to_der()?;
        let work = self.post(request);
        let reply = tokio::time::timeout(self.config.timeout, work)
            .await
            .map_err(|_| {
                DocError::Timestamp(format!(
                    "{}: no answer within {:?}",
                    self.config.url, self.config.timeout
                ))
            })??;
        let token = token_of_reply(&reply)?;
        let summary = verify::verify_parsed(&token, hash, digest, &self.anchors)?;
        if summary.nonce.as_ref() != Some(&nonce) {
            return Err(DocError::Timestamp(
                "the token's nonce is not the request's (a replayed or foreign token)".into(),
            ));
        }
        if let Some(policy) = &self.policy
            && summary.policy != policy.to_string()
        {
            return Err(DocError::Timestamp(format!(
                "the token's policy is {}, not the configured {policy}",
                summary.policy
            )));
        }
        Ok(TimeStamp {
            token,
            gen_time: summary.gen_time,
            serial: summary.serial,
        })
    }

    /// The answer body to `POST request`.
    async fn post(&self, request: Vec<u8>) -> Result<Bytes, DocError> {
        let fail = |m: String| DocError::Timestamp(format!("{}: {m}", self.config.url));
        let host = self.uri.host().unwrap_or_default();
        let port = self
            .uri
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let tcp = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| fail(format!("connecting: {e}")))?;
        let authority = self
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, authority)
            .header(CONTENT_TYPE, QUERY_MEDIA_TYPE)
            .body(Full::new(Bytes::from(request)))
            .map_err(|e| fail(format!("request: {e}")))?;
        match &self.tls {
            None => exchange(tcp, req).await.map_err(fail),
            Some(tls) => {
                let stream = tls
                    .connector
                    .connect(tls.name.clone(), tcp)
                    .await
                    .map_err(|e| fail(format!("TLS: {e}")))?;
                exchange(stream, req).await.map_err(fail)
            }
        }
    }
}

/// One HTTP/1.1 exchange on `io`: the body of a 200 answer of the reply
/// media type, at most [`MAX_REPLY`] bytes.
async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<Bytes, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(conn);
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = resp.status();
        let media = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let body = Limited::new(resp.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|e| format!("answer body (at most {MAX_REPLY} bytes): {e}"))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!("HTTP status {status}"));
        }
        // Parameters (`; charset=...`) are tolerated; the obsolete
        // `application/timestamp-response` of early drafts too.
        let essence = media.split(';').next().unwrap_or_default().trim();
        if essence != REPLY_MEDIA_TYPE && essence != "application/timestamp-response" {
            return Err(format!("the answer is {media:?}, not {REPLY_MEDIA_TYPE}"));
        }
        Ok(body)
    }
    .await;
    driver.abort();
    result
}

/// The token of a `TimeStampResp`, or why there is none.
fn token_of_reply(reply: &[u8]) -> Result<Vec<u8>, DocError> {
    let resp = TimeStampResp::from_der(reply)
        .map_err(|e| DocError::Timestamp(format!("the answer is not a TimeStampResp: {e}")))?;
    match resp.status.status {
        status::GRANTED | status::GRANTED_WITH_MODS => {}
        other => {
            let text = resp
                .status
                .status_string
                .as_deref()
                .unwrap_or_default()
                .join("; ");
            let failures = resp.status.failure_names().join(", ");
            let name = match other {
                status::REJECTION => "rejection",
                status::WAITING => "waiting",
                status::REVOCATION_WARNING => "revocationWarning",
                status::REVOCATION_NOTIFICATION => "revocationNotification",
                _ => "unknown status",
            };
            return Err(DocError::Timestamp(format!(
                "the TSA refused: {name} ({other}){}{}",
                if failures.is_empty() {
                    String::new()
                } else {
                    format!(", failInfo {failures}")
                },
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text:?}")
                },
            )));
        }
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| DocError::Timestamp("the TSA granted but sent no token".into()))?;
    Ok(token.to_der()?)
}

/// The caller's nonce as a positive INTEGER: leading zeros dropped, a
/// zero byte put in front of a set top bit.
fn caller_nonce(bytes: &[u8]) -> Result<Int, DocError> {
    if bytes.is_empty() || bytes.len() > 32 {
        return Err(DocError::InvalidInput("a nonce has 1 to 32 bytes".into()));
    }
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    let trimmed = bytes.get(first..).unwrap_or(bytes);
    let mut value = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(trimmed);
    Ok(Int::new(&value)?)
}

/// A random positive 64-bit nonce (RFC 3161 §2.4.1), from the aws-lc-rs
/// generator rustls uses.
fn nonce() -> Result<Int, DocError> {
    let mut bytes = [0u8; 8];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| DocError::Timestamp("the random generator failed".into()))?;
    // Positive and minimal: top bit clear, second bit set.
    if let Some(b) = bytes.first_mut() {
        *b = (*b & 0x7f) | 0x40;
    }
    Ok(Int::new(&bytes)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn anchor() -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn config(url: &str, anchors: Vec<Vec<u8>>, policy: Option<&str>) -> TsaConfig {
        TsaConfig {
            url: url.into(),
            trust_anchors: anchors,
            timeout: DEFAULT_TIMEOUT,
            policy: policy.map(Into::into),
        }
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused_at_once() {
        let a = anchor();
        assert!(TsaClient::new(config("http://127.0.0.1:1/tsa", vec![a.clone()], None)).is_ok());
        for (cfg, words) in [
            (
                config("https://tsa.example/", vec![a.clone()], None),
                "with_tls",
            ),
            (
                config("ftp://tsa.example/", vec![a.clone()], None),
                "scheme",
            ),
            (
                config("http://127.0.0.1/tsa", vec![], None),
                "no trust anchor",
            ),
            (
                config("http://127.0.0.1/tsa", vec![b"junk".to_vec()], None),
                "not a DER",
            ),
            (
                config("http://127.0.0.1/tsa", vec![a.clone()], Some("x.y")),
                "policy",
            ),
        ] {
            match TsaClient::new(cfg) {
                Err(DocError::InvalidInput(m)) => assert!(m.contains(words), "{m}"),
                other => panic!("{words}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_digest_of_the_wrong_length_is_refused_before_any_request() {
        let c = TsaClient::new(config("http://127.0.0.1:1/tsa", vec![anchor()], None)).unwrap();
        let err = c
            .stamp_digest(HashAlgorithm::Sha384, &[0; 32])
            .await
            .unwrap_err();
        assert!(matches!(err, DocError::InvalidInput(_)), "{err}");
    }

    #[test]
    fn the_tsa_section_reads_its_pem_files_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let a = anchor();
        let path = dir.path().join("ca.pem");
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&a);
        std::fs::write(
            &path,
            format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"),
        )
        .unwrap();
        let json = serde_json::json!({
            "url": "http://127.0.0.1:8480/tsa",
            "trust_anchors": [path],
        });
        let section: TsaSection = serde_json::from_value(json).unwrap();
        let cfg = section.load().unwrap();
        assert_eq!(cfg.trust_anchors, vec![a]);
        assert_eq!(cfg.timeout, DEFAULT_TIMEOUT);
        assert_eq!(cfg.policy, None);
        let unknown = serde_json::json!({"url": "x", "trust_anchors": [], "tls": true});
        assert!(serde_json::from_value::<TsaSection>(unknown).is_err());
    }
}

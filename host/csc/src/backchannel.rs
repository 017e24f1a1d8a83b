//! The OAuth2 back channel: `POST {oauth2_idp_url}/oauth2/token` with a
//! form body, over plain HTTP/1.1 to an IdP on the loopback interface
//! (the development IdP of `sam-devpki`). An `https://` IdP is refused
//! for now: the service has no trust anchors for one yet.

use crate::error::CscError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

/// Largest answer read from the IdP.
const MAX_ANSWER: usize = 64 * 1024;
/// The whole exchange must finish within this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts `form` to `base` + `path`; the status and body of the answer.
pub async fn post_form(base: &str, path: &str, form: String) -> Result<(u16, Bytes), CscError> {
    match tokio::time::timeout(TIMEOUT, exchange(base, path, form)).await {
        Ok(r) => r,
        Err(_) => Err(CscError::unavailable(
            "the IdP's token endpoint did not answer in time",
        )),
    }
}

async fn exchange(base: &str, path: &str, form: String) -> Result<(u16, Bytes), CscError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "OAuth2 back channel failed");
        CscError::unavailable("the IdP's token endpoint is unreachable")
    };
    let rest = base.strip_prefix("http://").ok_or_else(|| {
        CscError::server_error("oauth2_idp_url must be a plain http:// URL of a loopback IdP")
    })?;
    let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let prefix = prefix.trim_end_matches('/');
    let uri = if prefix.is_empty() {
        path.to_owned()
    } else {
        format!("/{prefix}{path}")
    };
    let tcp = TcpStream::connect(authority)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(conn);
    let req = Request::post(uri)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(Full::new(Bytes::from(form)))
        .map_err(|e| unreachable(&e))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| unreachable(&e))?
        .to_bytes();
    Ok((status, body))
}

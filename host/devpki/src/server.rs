//! DEV-ONLY: the IdP's `POST /id-token/sad` over plain HTTP on the
//! loopback interface.

use crate::oauth2::{self, OAuthCodes};
use crate::{DevIdp, DevPkiError, DevTsa, IdpRefusal, unix_now};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sam_client::idp::{
    EmbedSadKeyRequest, EmbedSadKeyResponse, ID_TOKEN_SAD_PATH, IdpErrorBody, IdpErrorDetail,
};
use sam_proto::asn1::IdentificationLevel;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Largest request body (a token and a key are well under 8 KiB).
const MAX_REQUEST: usize = 64 * 1024;

/// Where [`DevIdpServer::start_with_tsa`] serves the development TSA:
/// `POST` a DER `TimeStampReq` (`application/timestamp-query`), get a
/// DER `TimeStampResp` (`application/timestamp-reply`).
pub const TSA_PATH: &str = "/tsa";

/// Options of the development IdP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevIdpOptions {
    /// How long a token with a SAD key is valid (default 300 s).
    pub token_lifetime: Duration,
    /// DEV-ONLY shortcut: accept `{"userId": ...}` instead of a login
    /// token and issue tokens with this identification level. `None` (the
    /// default) accepts only `idToken`.
    pub accept_user_id: Option<IdentificationLevel>,
}

impl Default for DevIdpOptions {
    fn default() -> Self {
        Self {
            token_lifetime: Duration::from_secs(300),
            accept_user_id: None,
        }
    }
}

/// A running DEV-ONLY IdP server (HTTP/1.1, no TLS, loopback only):
/// `POST /id-token/sad`, the OAuth2 endpoints of [`crate::oauth2`] and,
/// when started with one, the development TSA at [`TSA_PATH`].
#[derive(Debug)]
pub struct DevIdpServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl DevIdpServer {
    /// Starts serving `idp` on `listen`, which must be a loopback address
    /// (port 0 picks a free port; see [`Self::local_addr`]).
    pub async fn start(
        idp: Arc<DevIdp>,
        listen: SocketAddr,
        options: DevIdpOptions,
    ) -> Result<Self, DevPkiError> {
        Self::start_with_tsa(idp, listen, options, None).await
    }

    /// [`Self::start`], also serving `tsa` at [`TSA_PATH`] when given.
    pub async fn start_with_tsa(
        idp: Arc<DevIdp>,
        listen: SocketAddr,
        options: DevIdpOptions,
        tsa: Option<Arc<DevTsa>>,
    ) -> Result<Self, DevPkiError> {
        if !listen.ip().is_loopback() {
            return Err(DevPkiError::Refused(format!(
                "the development IdP serves plain HTTP and listens on loopback only, not {listen}"
            )));
        }
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| DevPkiError::Io(format!("binding {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DevPkiError::Io(format!("local address: {e}")))?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        dev_warn!(
            "development IdP listening on http://{addr}{ID_TOKEN_SAD_PATH} (plain HTTP{})",
            if options.accept_user_id.is_some() {
                ", userId logins believed WITHOUT authentication"
            } else {
                ""
            }
        );
        if tsa.is_some() {
            dev_warn!(
                "development TSA on http://{addr}{TSA_PATH}: its tokens are worthless outside development"
            );
        }
        let codes = Arc::new(OAuthCodes::default());
        let task = tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = &mut stopped => break,
                    a = listener.accept() => a,
                };
                let Ok((stream, _peer)) = accepted else {
                    continue;
                };
                let idp = idp.clone();
                let codes = codes.clone();
                let tsa = tsa.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let idp = idp.clone();
                        let codes = codes.clone();
                        let tsa = tsa.clone();
                        async move {
                            if req.uri().path() == TSA_PATH
                                && let Some(tsa) = tsa
                            {
                                return Ok::<_, Infallible>(time_stamp(&tsa, req).await);
                            }
                            Ok::<_, Infallible>(handle(&idp, &codes, options, req).await)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            dev_info!("development IdP on {addr} stopped");
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for DevIdpServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn handle(
    idp: &DevIdp,
    codes: &OAuthCodes,
    options: DevIdpOptions,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, oauth2::AUTHORIZE_PATH) => {
            let query = req.uri().query().unwrap_or_default();
            return match codes.authorize(idp, query, unix_now(), options.token_lifetime.as_secs()) {
                Ok(location) => {
                    let mut resp = Response::new(Full::new(Bytes::new()));
                    *resp.status_mut() = StatusCode::FOUND;
                    match hyper::header::HeaderValue::from_str(&location) {
                        Ok(v) => {
                            resp.headers_mut().insert(hyper::header::LOCATION, v);
                            resp
                        }
                        Err(_) => json(
                            StatusCode::BAD_REQUEST,
                            &oauth2::OAuthError {
                                error: "invalid_request".into(),
                                error_description: "redirect_uri is not a valid header value"
                                    .into(),
                            },
                        ),
                    }
                }
                Err(e) => oauth_refusal(&e),
            };
        }
        (&Method::POST, oauth2::TOKEN_PATH) => {
            let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return refusal(&IdpRefusal::invalid(format!("body: {e}"))),
            };
            let text = String::from_utf8_lossy(&body);
            return match codes.token(&text, unix_now()) {
                Ok(answer) => json(StatusCode::OK, &answer),
                Err(e) => oauth_refusal(&e),
            };
        }
        _ => {}
    }
    if req.uri().path() != ID_TOKEN_SAD_PATH {
        return error(StatusCode::NOT_FOUND, "RouteNotFound", "no such path");
    }
    if req.method() != Method::POST {
        return not_post();
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return refusal(&IdpRefusal::invalid(format!("body: {e}"))),
    };
    let request: EmbedSadKeyRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refusal(&IdpRefusal::invalid(format!("JSON: {e}"))),
    };
    match idp.embed_sad_key(
        &request,
        unix_now(),
        options.token_lifetime.as_secs(),
        options.accept_user_id,
    ) {
        Ok(token) => {
            use base64::Engine as _;
            let answer = EmbedSadKeyResponse {
                id_token_mod: base64::engine::general_purpose::STANDARD.encode(token),
            };
            json(StatusCode::OK, &answer)
        }
        Err(r) => {
            dev_info!(
                "POST {ID_TOKEN_SAD_PATH} refused: {} {}",
                r.status,
                r.detail
            );
            refusal(&r)
        }
    }
}

/// `POST /tsa`: the development TSA's answer, a rejection status for a
/// request it cannot read.
async fn time_stamp(tsa: &DevTsa, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return not_post();
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "InvalidRequest",
                &format!("body: {e}"),
            );
        }
    };
    match tsa.respond(&body) {
        Ok(answer) => {
            let mut resp = Response::new(Full::new(Bytes::from(answer)));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/timestamp-reply"),
            );
            resp
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &e.to_string(),
        ),
    }
}

fn not_post() -> Response<Full<Bytes>> {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "use POST",
    )
}

fn oauth_refusal(e: &oauth2::OAuthError) -> Response<Full<Bytes>> {
    dev_info!("OAuth2 refused: {} {}", e.error, e.error_description);
    json(StatusCode::BAD_REQUEST, e)
}

fn refusal(r: &IdpRefusal) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, r.kind, &r.detail)
}

fn error(status: StatusCode, kind: &str, detail: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &IdpErrorBody {
            error: IdpErrorDetail {
                kind: kind.to_owned(),
                detail: detail.to_owned(),
            },
        },
    )
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

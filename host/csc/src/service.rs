//! The CSC service: routing, the bearer token, and the operations, on
//! one internal model rendered as v2 or v1 JSON.

use crate::algo;
use crate::backchannel;
use crate::backend::{Backend, CredentialRecord};
use crate::config::CscConfig;
use crate::docs::{Authorized, DocSigner, NoDocs};
use crate::error::{CscError, ErrorBody};
use crate::handles::{Grant, HandleError, Handles};
use crate::seed::{self, Expected};
use crate::wire::{
    AuthInfoV2, AuthorizeAnswer, AuthorizeRequestV1, AuthorizeRequestV2, CertInfo,
    CredentialDetails, CredentialInfoV1, CredentialInfoV2, IdpSadToken, InfoAnswer, InfoRequest,
    KeyInfo, ListAnswerV1, ListAnswerV2, ListRequest, LoginAnswer, OAuthTokenAnswer, RevokeRequest,
    SignHashAnswer, SignHashRequestV1, SignHashRequestV2, TimestampAnswer, TimestampRequest,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::Decode;
use sam_client::form;
use sam_proto::command::MAX_HASHES;
use sam_proto::ids::{HashAlgorithm, KeyId, UserId, Uuid};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Instant;

/// The API version of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `/csc/v1`: CSC v1.0.4.0.
    V1,
    /// `/csc/v2`: CSC v2.0.0.2.
    V2,
}

/// The operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `info`.
    Info,
    /// `auth/login`.
    Login,
    /// `auth/revoke`.
    Revoke,
    /// `credentials/list`.
    List,
    /// `credentials/info`.
    CredentialInfo,
    /// `credentials/authorize`.
    Authorize,
    /// `signatures/signHash`.
    SignHash,
    /// `oauth2/authorize` (v2).
    OAuthAuthorize,
    /// `oauth2/token` (v2).
    OAuthToken,
    /// `signatures/timestamp` (when samd has a TSA).
    Timestamp,
    /// `signatures/signDoc` (v2, when samd has the document service).
    SignDoc,
}

impl Op {
    /// Every operation, in `info`'s order.
    pub const ALL: [Op; 11] = [
        Self::Info,
        Self::Login,
        Self::Revoke,
        Self::List,
        Self::CredentialInfo,
        Self::Authorize,
        Self::SignHash,
        Self::OAuthAuthorize,
        Self::OAuthToken,
        Self::Timestamp,
        Self::SignDoc,
    ];

    /// The method name (the path after `/csc/vN/`).
    pub const fn path(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Login => "auth/login",
            Self::Revoke => "auth/revoke",
            Self::List => "credentials/list",
            Self::CredentialInfo => "credentials/info",
            Self::Authorize => "credentials/authorize",
            Self::SignHash => "signatures/signHash",
            Self::OAuthAuthorize => "oauth2/authorize",
            Self::OAuthToken => "oauth2/token",
            Self::Timestamp => "signatures/timestamp",
            Self::SignDoc => "signatures/signDoc",
        }
    }

    /// The metrics label: a fixed string per version and operation.
    pub const fn label(self, v: Version) -> &'static str {
        match (v, self) {
            (Version::V1, Self::Info) => "csc_v1_info",
            (Version::V1, Self::Login) => "csc_v1_auth_login",
            (Version::V1, Self::Revoke) => "csc_v1_auth_revoke",
            (Version::V1, Self::List) => "csc_v1_credentials_list",
            (Version::V1, Self::CredentialInfo) => "csc_v1_credentials_info",
            (Version::V1, Self::Authorize) => "csc_v1_credentials_authorize",
            (Version::V1, Self::SignHash) => "csc_v1_signatures_signHash",
            (Version::V1, Self::OAuthAuthorize) => "csc_v1_oauth2_authorize",
            (Version::V1, Self::OAuthToken) => "csc_v1_oauth2_token",
            (Version::V1, Self::Timestamp) => "csc_v1_signatures_timestamp",
            (Version::V1, Self::SignDoc) => "csc_v1_signatures_signDoc",
            (Version::V2, Self::Info) => "csc_v2_info",
            (Version::V2, Self::Login) => "csc_v2_auth_login",
            (Version::V2, Self::Revoke) => "csc_v2_auth_revoke",
            (Version::V2, Self::List) => "csc_v2_credentials_list",
            (Version::V2, Self::CredentialInfo) => "csc_v2_credentials_info",
            (Version::V2, Self::Authorize) => "csc_v2_credentials_authorize",
            (Version::V2, Self::SignHash) => "csc_v2_signatures_signHash",
            (Version::V2, Self::OAuthAuthorize) => "csc_v2_oauth2_authorize",
            (Version::V2, Self::OAuthToken) => "csc_v2_oauth2_token",
            (Version::V2, Self::Timestamp) => "csc_v2_signatures_timestamp",
            (Version::V2, Self::SignDoc) => "csc_v2_signatures_signDoc",
        }
    }

    /// The HTTP method: `GET` for the OAuth2 redirect, `POST` otherwise
    /// (`info` also answers `GET`).
    const fn method(self) -> &'static str {
        match self {
            Self::OAuthAuthorize => "GET",
            _ => "POST",
        }
    }

    /// Whether `version` has this operation (CSC v1.0.4.0 has neither
    /// the OAuth2 token flow of v2 nor `signDoc`).
    const fn in_version(self, v: Version) -> bool {
        !matches!(
            (v, self),
            (
                Version::V1,
                Self::OAuthAuthorize | Self::OAuthToken | Self::SignDoc
            )
        )
    }
}

/// Every endpoint served: method and path.
pub fn endpoints() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (v, prefix) in [(Version::V1, "/csc/v1/"), (Version::V2, "/csc/v2/")] {
        for op in Op::ALL.into_iter().filter(|o| o.in_version(v)) {
            let path = format!("{prefix}{}", op.path());
            if op == Op::Info {
                out.push(("GET", path.clone()));
            }
            out.push((op.method(), path));
        }
    }
    out
}

/// The label of requests that matched no endpoint.
pub const UNROUTED: &str = "csc_unrouted";

/// One HTTP request, as the listener hands it over.
#[derive(Debug, Clone, Copy)]
pub struct CscRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CscReply {
    /// The status.
    pub status: u16,
    /// `Content-Type`, if there is a body.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
    /// `Location` of a redirect.
    pub location: Option<String>,
}

impl CscReply {
    fn json(status: u16, body: &impl Serialize) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            body: serde_json::to_vec(body).unwrap_or_default(),
            location: None,
        }
    }

    fn no_content() -> Self {
        Self {
            status: 204,
            content_type: None,
            body: Vec::new(),
            location: None,
        }
    }

    fn redirect(location: String) -> Self {
        Self {
            status: 302,
            content_type: None,
            body: Vec::new(),
            location: Some(location),
        }
    }
}

impl From<CscError> for CscReply {
    fn from(e: CscError) -> Self {
        Self::json(e.status, &e.body())
    }
}

/// Finds the operation of `method path`.
pub fn route(method: &str, path: &str) -> Result<(Version, Op), CscError> {
    let (v, rest) = if let Some(rest) = path.strip_prefix("/csc/v2/") {
        (Version::V2, rest)
    } else if let Some(rest) = path.strip_prefix("/csc/v1/") {
        (Version::V1, rest)
    } else {
        return Err(CscError::not_found(path));
    };
    let op = Op::ALL
        .into_iter()
        .find(|o| o.path() == rest && o.in_version(v))
        .ok_or_else(|| CscError::not_found(path))?;
    let allowed = method == op.method() || (op == Op::Info && method == "GET");
    if !allowed {
        return Err(CscError::method_not_allowed(method, path));
    }
    Ok((v, op))
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caller {
    user: UserId,
}

/// The `credentials/authorize` request, of either version.
#[derive(Debug, Clone)]
struct AuthorizeModel {
    credential_id: String,
    num_signatures: u32,
    hashes: Option<Vec<String>>,
    hash_algorithm_oid: Option<String>,
    seed_sad: Option<String>,
}

/// The `signatures/signHash` request, of either version.
#[derive(Debug, Clone)]
struct SignHashModel {
    credential_id: String,
    handle: Option<String>,
    hashes: Vec<String>,
    hash_algorithm_oid: Option<String>,
    sign_algo: String,
}

/// A seed SAD and what it must authorize, of either flow.
#[derive(Debug)]
struct SeedRequest<'a> {
    credential_id: &'a str,
    num_signatures: u32,
    hashes: Vec<Vec<u8>>,
    hash_algorithm: Option<HashAlgorithm>,
    seed_sad: Vec<u8>,
}

/// The parameter names that differ between the versions, for errors.
struct Names {
    hashes: &'static str,
    hash_algorithm: &'static str,
    seed_sad: &'static str,
}

const fn names(v: Version) -> Names {
    match v {
        Version::V1 => Names {
            hashes: "hash",
            hash_algorithm: "hashAlgo",
            seed_sad: "clientData",
        },
        Version::V2 => Names {
            hashes: "hashes",
            hash_algorithm: "hashAlgorithmOID",
            seed_sad: "authData SAD",
        },
    }
}

/// The key and certificate of a credential, version-neutral.
#[derive(Debug, Clone)]
struct CredentialView {
    key: KeyInfo,
    cert: CertInfo,
}

/// The CSC service over a [`Backend`].
#[derive(Debug)]
pub struct Csc<B> {
    backend: B,
    config: CscConfig,
    chain: Vec<Vec<u8>>,
    handles: Handles,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, CscError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| CscError::invalid_request(format!("malformed JSON request: {e}")))
}

fn b64_list(values: &[String], name: &str) -> Result<Vec<Vec<u8>>, CscError> {
    values
        .iter()
        .map(|v| STANDARD.decode(v.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CscError::invalid_parameter(name))
}

fn bearer_value(authorization: Option<&str>) -> Option<&str> {
    let v = authorization?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(rest.trim())
        .filter(|r| !r.is_empty())
}

fn handle_error(e: HandleError) -> CscError {
    match e {
        HandleError::Unknown => {
            CscError::invalid_request("Invalid parameter SAD: unknown or already used")
        }
        HandleError::Expired => CscError::invalid_request("Invalid parameter SAD: SAD expired"),
        HandleError::SeedReused => CscError::invalid_request(
            "Invalid parameter SAD: this seed SAD was already authorized under another handle",
        ),
        HandleError::Full => CscError::busy("too many open authorizations; try again later"),
        HandleError::Rng => CscError::server_error("the random number generator failed"),
    }
}

/// GeneralizedTime text `YYYYMMDDhhmmssZ` of Unix seconds (the CSC
/// wire's time format: `validFrom`, signDoc's `signing-time`).
pub fn generalized_time(unix: u64) -> Option<String> {
    let d = der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix)).ok()?;
    Some(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds()
    ))
}

impl<B: Backend> Csc<B> {
    /// The service over `backend` with `config`; `chain` are the DER
    /// certificates listed after the signer's.
    pub fn new(backend: B, config: CscConfig, chain: Vec<Vec<u8>>) -> Self {
        let handles = Handles::new(config.max_open_handles);
        Self {
            backend,
            config,
            chain,
            handles,
        }
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The configuration.
    pub fn config(&self) -> &CscConfig {
        &self.config
    }

    /// Serves one request without a document service (`signDoc` is not
    /// offered). Never fails: every error is its CSC JSON, and every
    /// request is counted.
    pub async fn handle(&self, req: CscRequest<'_>) -> CscReply {
        self.handle_with(req, None::<&NoDocs>).await
    }

    /// [`Self::handle`] with `docs` serving `signatures/signDoc` (and
    /// `info` listing it) when given.
    pub async fn handle_with<D: DocSigner>(
        &self,
        req: CscRequest<'_>,
        docs: Option<&D>,
    ) -> CscReply {
        let started = Instant::now();
        let (label, result) = match route(req.method, req.path) {
            Ok((v, op)) => (op.label(v), self.dispatch(v, op, &req, docs).await),
            Err(e) => (UNROUTED, Err(e)),
        };
        let reply = result.unwrap_or_else(|e| {
            tracing::info!(
                method = req.method,
                path = req.path,
                error = e.error,
                status = e.status,
                detail = %e.description,
                "CSC request refused"
            );
            e.into()
        });
        self.backend
            .observe(label, reply.status, started.elapsed().as_secs_f64());
        reply
    }

    async fn dispatch<D: DocSigner>(
        &self,
        v: Version,
        op: Op,
        req: &CscRequest<'_>,
        docs: Option<&D>,
    ) -> Result<CscReply, CscError> {
        let now = unix_now();
        match op {
            Op::Info => ok(&self.info(v, docs.is_some())),
            Op::SignDoc => {
                let docs = docs.ok_or_else(|| {
                    CscError::not_found("/signatures/signDoc (the document service is not enabled)")
                })?;
                self.sign_doc(docs, req.authorization, req.body, now).await
            }
            Op::Timestamp => {
                self.caller(req.authorization, now)?;
                let r: TimestampRequest = parse(req.body)?;
                ok(&self.timestamp(r).await?)
            }
            Op::Login => ok(&self.login(req.authorization, now)?),
            Op::Revoke => {
                let caller = self.caller(req.authorization, now)?;
                let r: RevokeRequest = parse(req.body)?;
                let token = match r.token.as_deref() {
                    Some(t) => t,
                    None => bearer_value(req.authorization).unwrap_or_default(),
                };
                if self.handles.revoke(token, caller.user) {
                    Ok(CscReply::no_content())
                } else {
                    Err(CscError::invalid_parameter("token"))
                }
            }
            Op::List => {
                let caller = self.caller(req.authorization, now)?;
                let r: ListRequest = parse(req.body)?;
                self.list(v, caller, &r, now).await
            }
            Op::CredentialInfo => {
                let caller = self.caller(req.authorization, now)?;
                let r: InfoRequest = parse(req.body)?;
                let rec = self.own_credential(caller.user, &r.credential_id).await?;
                let view = self.view(
                    &rec,
                    r.certificates.as_deref(),
                    r.cert_info.unwrap_or(false),
                    now,
                )?;
                match v {
                    Version::V2 => ok(&self.info_v2(view, None)),
                    Version::V1 => ok(&CredentialInfoV1 {
                        description: String::new(),
                        key: view.key,
                        cert: view.cert,
                        auth_mode: "explicit".into(),
                        scal: "2".into(),
                        multisign: multisign(),
                        lang: "en-US".into(),
                    }),
                }
            }
            Op::Authorize => {
                let caller = self.caller(req.authorization, now)?;
                let model = match v {
                    Version::V2 => {
                        let r: AuthorizeRequestV2 = parse(req.body)?;
                        let seed_sad = r
                            .auth_data
                            .unwrap_or_default()
                            .into_iter()
                            .find(|a| a.id == "SAD")
                            .map(|a| a.value);
                        AuthorizeModel {
                            credential_id: r.credential_id,
                            num_signatures: r.num_signatures,
                            hashes: r.hashes,
                            hash_algorithm_oid: r.hash_algorithm_oid,
                            seed_sad,
                        }
                    }
                    Version::V1 => {
                        let r: AuthorizeRequestV1 = parse(req.body)?;
                        AuthorizeModel {
                            credential_id: r.credential_id,
                            num_signatures: r.num_signatures,
                            hashes: r.hash,
                            hash_algorithm_oid: None,
                            seed_sad: r.client_data,
                        }
                    }
                };
                ok(&self.authorize(v, caller, model, now).await?)
            }
            Op::SignHash => {
                let model = match v {
                    Version::V2 => {
                        let r: SignHashRequestV2 = parse(req.body)?;
                        SignHashModel {
                            credential_id: r.credential_id,
                            handle: r.sad,
                            hashes: r.hashes,
                            hash_algorithm_oid: r.hash_algorithm_oid,
                            sign_algo: r.sign_algo,
                        }
                    }
                    Version::V1 => {
                        let r: SignHashRequestV1 = parse(req.body)?;
                        SignHashModel {
                            credential_id: r.credential_id,
                            handle: r.sad,
                            hashes: r.hash,
                            hash_algorithm_oid: r.hash_algo,
                            sign_algo: r.sign_algo,
                        }
                    }
                };
                ok(&self.sign_hash(v, req.authorization, model, now).await?)
            }
            Op::OAuthAuthorize => {
                let base = self.oauth2_idp()?;
                let query = req.query.unwrap_or_default();
                Ok(CscReply::redirect(format!(
                    "{base}/oauth2/authorize?{query}"
                )))
            }
            Op::OAuthToken => ok(&self.oauth2_token(req.body, now).await?),
        }
    }

    fn oauth2_idp(&self) -> Result<&str, CscError> {
        let base = self.config.oauth2_idp_url.trim_end_matches('/');
        if base.is_empty() {
            Err(CscError::invalid_request("OAuth2 is not configured"))
        } else {
            Ok(base)
        }
    }

    fn info(&self, v: Version, sign_doc: bool) -> InfoAnswer {
        let oauth2 = !self.config.oauth2_idp_url.is_empty();
        let methods = Op::ALL
            .into_iter()
            .filter(|o| o.in_version(v))
            .filter(|o| !matches!(o, Op::OAuthAuthorize | Op::OAuthToken) || oauth2)
            .filter(|o| *o != Op::Timestamp || self.backend.offers_timestamp())
            .filter(|o| *o != Op::SignDoc || sign_doc)
            .map(|o| o.path().to_owned())
            .collect();
        let mut auth_type = vec!["external".to_owned()];
        if oauth2 {
            auth_type.push("oauth2code".into());
        }
        let base = self.config.public_url.trim_end_matches('/');
        InfoAnswer {
            specs: match v {
                Version::V1 => "1.0.4.0",
                Version::V2 => "2.0.0.2",
            }
            .into(),
            name: self.config.name.clone(),
            logo: format!("{base}/csc/logo.png"),
            region: self.config.region.clone(),
            lang: "en-US".into(),
            description: "Remote signing through a Signature Activation Module: the seed SAD is \
                          checked and made single use inside the firmware"
                .into(),
            auth_type,
            oauth2: oauth2.then(|| format!("{base}/csc/v2")),
            methods,
        }
    }

    /// `signatures/timestamp`: the TSA's verified token over the client's
    /// hash.
    async fn timestamp(&self, r: TimestampRequest) -> Result<TimestampAnswer, CscError> {
        if !self.backend.offers_timestamp() {
            return Err(CscError::not_found(
                "/signatures/timestamp (no TSA configured)",
            ));
        }
        let hash = crate::algo::hash_from_oid(r.hash_algorithm_oid.trim())
            .ok_or_else(|| CscError::invalid_parameter("hashAlgorithmOID"))?;
        let digest = STANDARD
            .decode(r.hash.trim())
            .ok()
            .filter(|d| d.len() == hash.output_len())
            .ok_or_else(|| CscError::invalid_parameter("hash"))?;
        let nonce = match r.nonce.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) => Some(
                hex::decode(n.strip_prefix("0x").unwrap_or(n))
                    .ok()
                    .filter(|b| !b.is_empty() && b.len() <= 32)
                    .ok_or_else(|| CscError::invalid_parameter("nonce"))?,
            ),
        };
        let token = self
            .backend
            .timestamp(hash, digest, nonce)
            .await
            .map_err(|e| CscError::unavailable(format!("{}: {}", e.error.name(), e.detail)))?;
        Ok(TimestampAnswer {
            timestamp: STANDARD.encode(token),
        })
    }

    /// The caller of a bearer token: an access token of `auth/login`, or
    /// an identity token of a trusted IdP.
    fn caller(&self, authorization: Option<&str>, now: u64) -> Result<Caller, CscError> {
        let value = bearer_value(authorization)
            .ok_or_else(|| CscError::invalid_token("no bearer token"))?;
        if let Some((user, _)) = self.handles.access(value, now) {
            return Ok(Caller { user });
        }
        self.backend
            .tokens()
            .verify_header(authorization, now)
            .map(|t| Caller { user: t.user_id })
            .map_err(|e| CscError::invalid_token(format!("the access token is not valid: {e}")))
    }

    fn login(&self, authorization: Option<&str>, now: u64) -> Result<LoginAnswer, CscError> {
        let token = self
            .backend
            .tokens()
            .verify_header(authorization, now)
            .map_err(|e| {
                CscError::invalid_token(format!("auth/login needs an identity token: {e}"))
            })?;
        let expires = now
            .saturating_add(self.config.access_token_lifetime_secs)
            .min(token.not_after);
        let access_token = self
            .handles
            .login(token.user_id, expires, now)
            .map_err(handle_error)?;
        Ok(LoginAnswer {
            access_token,
            expires_in: expires.saturating_sub(now),
        })
    }

    async fn credentials(&self, user: UserId) -> Result<Vec<CredentialRecord>, CscError> {
        Ok(self.backend.credentials(user).await?)
    }

    /// The caller's credential `credential_id`; another user's is as
    /// unknown as one that does not exist.
    async fn own_credential(
        &self,
        user: UserId,
        credential_id: &str,
    ) -> Result<CredentialRecord, CscError> {
        let key_id: KeyId = Uuid::parse(credential_id.trim())
            .map_err(|_| CscError::invalid_parameter("credentialID"))?;
        self.credentials(user)
            .await?
            .into_iter()
            .find(|c| c.key_id == key_id)
            .ok_or_else(|| CscError::invalid_parameter("credentialID"))
    }

    async fn list(
        &self,
        v: Version,
        caller: Caller,
        r: &ListRequest,
        now: u64,
    ) -> Result<CscReply, CscError> {
        if r.user_id
            .as_deref()
            .is_some_and(|u| u != caller.user.to_string())
        {
            return Err(CscError::invalid_parameter("userID"));
        }
        let mut records = self.credentials(caller.user).await?;
        if r.only_valid == Some(true) {
            records.retain(|c| c.active && c.certificate.is_some());
        }
        if let Some(max) = r.max_results {
            records.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        }
        let credential_ids = records.iter().map(|c| c.key_id.to_string()).collect();
        Ok(match v {
            Version::V1 => CscReply::json(200, &ListAnswerV1 { credential_ids }),
            Version::V2 => {
                let credential_infos = if r.credential_info == Some(true) {
                    let mut infos = Vec::with_capacity(records.len());
                    for rec in &records {
                        let view = self.view(
                            rec,
                            r.certificates.as_deref(),
                            r.cert_info.unwrap_or(false),
                            now,
                        )?;
                        infos.push(self.info_v2(view, Some(rec.key_id.to_string())));
                    }
                    Some(infos)
                } else {
                    None
                };
                CscReply::json(
                    200,
                    &ListAnswerV2 {
                        credential_ids,
                        credential_infos,
                    },
                )
            }
        })
    }

    fn info_v2(&self, view: CredentialView, credential_id: Option<String>) -> CredentialInfoV2 {
        CredentialInfoV2 {
            credential_id,
            description: String::new(),
            key: view.key,
            cert: view.cert,
            auth: AuthInfoV2 {
                mode: "explicit".into(),
            },
            scal: "2".into(),
            multisign: multisign(),
            lang: "en-US".into(),
        }
    }

    /// Key and certificate of `rec`; `certificates` is `none`, `single`
    /// (default) or `chain`.
    fn view(
        &self,
        rec: &CredentialRecord,
        certificates: Option<&str>,
        cert_info: bool,
        now: u64,
    ) -> Result<CredentialView, CscError> {
        let (len, curve) = algo::key_len_curve(rec.algorithm);
        let key = KeyInfo {
            status: if rec.active { "enabled" } else { "disabled" }.into(),
            algo: algo::key_algos(rec.algorithm),
            len,
            curve,
        };
        let which = certificates.unwrap_or("single");
        let mut cert = CertInfo::default();
        let Some(der) = rec.certificate.as_deref() else {
            return match which {
                "none" | "single" | "chain" => Ok(CredentialView { key, cert }),
                _ => Err(CscError::invalid_parameter("certificates")),
            };
        };
        let mut list = vec![STANDARD.encode(der)];
        match which {
            "none" => list.clear(),
            "single" => {}
            "chain" => list.extend(self.chain.iter().map(|c| STANDARD.encode(c))),
            _ => return Err(CscError::invalid_parameter("certificates")),
        }
        if which != "none" {
            cert.certificates = Some(list);
        }
        let parsed = x509_cert::Certificate::from_der(der)
            .map_err(|_| CscError::server_error("the registered certificate does not parse"))?;
        let tbs = parsed.tbs_certificate();
        let validity = tbs.validity();
        let from = validity.not_before.to_unix_duration().as_secs();
        let to = validity.not_after.to_unix_duration().as_secs();
        cert.status = Some(
            if now < from {
                "not_yet_valid"
            } else if now > to {
                "expired"
            } else {
                "valid"
            }
            .into(),
        );
        if cert_info {
            cert.issuer_dn = Some(tbs.issuer().to_string());
            cert.subject_dn = Some(tbs.subject().to_string());
            cert.serial_number = Some(hex::encode_upper(tbs.serial_number().as_bytes()));
            cert.valid_from = generalized_time(from);
            cert.valid_to = generalized_time(to);
        }
        Ok(CredentialView { key, cert })
    }

    async fn authorize(
        &self,
        v: Version,
        caller: Caller,
        m: AuthorizeModel,
        now: u64,
    ) -> Result<AuthorizeAnswer, CscError> {
        let n = names(v);
        // Another user's credential is refused before anything else.
        self.own_credential(caller.user, &m.credential_id).await?;
        let hashes = m.hashes.ok_or_else(|| {
            CscError::invalid_request(format!(
                "Missing parameter {}: SCAL 2 binds the hashes to the authorization",
                n.hashes
            ))
        })?;
        let hashes = b64_list(&hashes, n.hashes)?;
        let hash_algorithm = self.hash_param(m.hash_algorithm_oid.as_deref(), n.hash_algorithm)?;
        let seed_b64 = m.seed_sad.ok_or_else(|| {
            CscError::invalid_request(format!(
                "Missing parameter {}: the seed SAD of the signer's environment",
                n.seed_sad
            ))
        })?;
        let seed_sad = STANDARD
            .decode(seed_b64.trim())
            .map_err(|_| CscError::invalid_parameter(n.seed_sad))?;
        let (sad, expires_in) = self
            .admit_seed(
                &n,
                Some(caller.user),
                SeedRequest {
                    credential_id: &m.credential_id,
                    num_signatures: m.num_signatures,
                    hashes,
                    hash_algorithm,
                    seed_sad,
                },
                now,
            )
            .await?;
        Ok(AuthorizeAnswer { sad, expires_in })
    }

    /// Checks a seed SAD against what it must authorize and issues a
    /// handle for it: the one path of `credentials/authorize` and of the
    /// OAuth2 token exchange. `caller` is the bearer's user, `None` in the
    /// OAuth2 flow (the token's user, authenticated by the IdP). The
    /// handle and its lifetime in seconds.
    async fn admit_seed(
        &self,
        n: &Names,
        caller: Option<UserId>,
        r: SeedRequest<'_>,
        now: u64,
    ) -> Result<(String, u64), CscError> {
        if r.num_signatures == 0
            || usize::try_from(r.num_signatures).map_or(true, |k| k > MAX_HASHES)
        {
            return Err(CscError::invalid_parameter("numSignatures"));
        }
        let key_id: KeyId = Uuid::parse(r.credential_id.trim())
            .map_err(|_| CscError::invalid_parameter("credentialID"))?;
        let checked = seed::check(
            self.backend.tokens(),
            &r.seed_sad,
            &Expected {
                user: caller,
                key_id,
                hash_algorithm: r.hash_algorithm,
                hashes: &r.hashes,
                num_signatures: r.num_signatures,
            },
            now,
        )?;
        let rec = self.own_credential(checked.user, r.credential_id).await?;
        if !algo::key_hashes(rec.algorithm).contains(&checked.hash_algorithm) {
            return Err(CscError::invalid_request(format!(
                "Invalid parameter {}: the key does not sign this hash algorithm",
                n.hash_algorithm
            )));
        }
        let expires = now
            .saturating_add(self.config.handle_lifetime_secs)
            .min(checked.not_after);
        let handle = self
            .handles
            .grant(
                Grant {
                    user: checked.user,
                    key_id: rec.key_id,
                    hash_algorithm: checked.hash_algorithm,
                    hashes: r.hashes,
                    seed_sad: r.seed_sad,
                    expires,
                    sad_not_after: checked.not_after,
                },
                now,
            )
            .map_err(handle_error)?;
        Ok((handle, expires.saturating_sub(now)))
    }

    /// `oauth2/token`: exchanges the code at the IdP (back channel), checks
    /// the seed SAD it returns against its `authorization_details` as
    /// `credentials/authorize` does, and answers the handle as the
    /// credential-scope access token.
    async fn oauth2_token(&self, body: &[u8], now: u64) -> Result<OAuthTokenAnswer, CscError> {
        let base = self.oauth2_idp()?;
        let text = std::str::from_utf8(body)
            .map_err(|_| CscError::invalid_request("the form is not UTF-8"))?;
        let f = form::parse(text).map_err(|e| CscError::invalid_request(e.to_string()))?;
        if form::get(&f, "grant_type") != Some("authorization_code") {
            return Err(CscError::invalid_parameter(
                "grant_type (authorization_code)",
            ));
        }
        const FIELDS: [&str; 5] = [
            "grant_type",
            "code",
            "client_id",
            "redirect_uri",
            "code_verifier",
        ];
        let mut forward = Vec::with_capacity(FIELDS.len());
        for name in FIELDS {
            let value = form::get(&f, name)
                .ok_or_else(|| CscError::invalid_request(format!("Missing parameter {name}")))?;
            forward.push((name, value));
        }
        let (status, answer) =
            backchannel::post_form(base, "/oauth2/token", form::encode_pairs(forward)).await?;
        if status != 200 {
            let e: ErrorBody = serde_json::from_slice(&answer).map_err(|_| {
                CscError::unavailable(format!("the IdP's token endpoint answered {status}"))
            })?;
            return Err(if e.error == "invalid_grant" {
                CscError::invalid_grant(e.error_description)
            } else {
                CscError::invalid_request(format!(
                    "the IdP refused: {}: {}",
                    e.error, e.error_description
                ))
            });
        }
        let token: IdpSadToken = serde_json::from_slice(&answer).map_err(|e| {
            CscError::unavailable(format!("the IdP's answer is not understood: {e}"))
        })?;
        let [details] = <[CredentialDetails; 1]>::try_from(token.authorization_details)
            .map_err(|_| CscError::invalid_request("authorization_details must hold one entry"))?;
        if details.kind != "credential" {
            return Err(CscError::invalid_parameter("authorization_details type"));
        }
        let digests: Vec<String> = details
            .document_digests
            .iter()
            .map(|d| d.hash.clone())
            .collect();
        let hashes = b64_list(&digests, "documentDigests")?;
        let hash_algorithm =
            self.hash_param(Some(&details.hash_algorithm_oid), "hashAlgorithmOID")?;
        let seed_sad = STANDARD
            .decode(token.sad.trim())
            .map_err(|_| CscError::invalid_request("the IdP's seed SAD is not base64"))?;
        let num_signatures = u32::try_from(hashes.len()).unwrap_or(u32::MAX);
        let (access_token, expires_in) = self
            .admit_seed(
                &names(Version::V2),
                None,
                SeedRequest {
                    credential_id: &details.credential_id,
                    num_signatures,
                    hashes,
                    hash_algorithm,
                    seed_sad,
                },
                now,
            )
            .await?;
        Ok(OAuthTokenAnswer {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            authorization_details: vec![details],
        })
    }

    fn hash_param(&self, oid: Option<&str>, name: &str) -> Result<Option<HashAlgorithm>, CscError> {
        oid.map(|o| algo::hash_from_oid(o).ok_or_else(|| CscError::invalid_parameter(name)))
            .transpose()
    }

    async fn sign_hash(
        &self,
        v: Version,
        authorization: Option<&str>,
        m: SignHashModel,
        now: u64,
    ) -> Result<SignHashAnswer, CscError> {
        let n = names(v);
        let grant = self
            .take_grant(authorization, m.handle.as_deref(), &m.credential_id, now)
            .await?;
        let hashes = b64_list(&m.hashes, n.hashes)?;
        if hashes != grant.hashes {
            return Err(CscError::invalid_request(format!(
                "Invalid parameter {}: not the authorized hashes",
                n.hashes
            )));
        }
        let hash = self.hash_param(m.hash_algorithm_oid.as_deref(), n.hash_algorithm)?;
        if hash.is_some_and(|h| h != grant.hash_algorithm) {
            return Err(CscError::invalid_request(format!(
                "Invalid parameter {}: not the authorized hash algorithm",
                n.hash_algorithm
            )));
        }
        let rec = self.granted_credential(&grant).await?;
        match algo::sign_algo_hash(&m.sign_algo, rec.algorithm) {
            Some(algo::SignAlgo::WithHash(h)) if h != grant.hash_algorithm => {
                return Err(CscError::invalid_request(
                    "Invalid parameter signAlgo: its hash is not the authorized hash algorithm",
                ));
            }
            Some(_) => {}
            None => return Err(CscError::invalid_parameter("signAlgo")),
        }
        let signatures = self.backend.sign(grant.seed_sad).await?;
        if signatures.len() != grant.hashes.len() {
            return Err(CscError::server_error(
                "the firmware answered another number of signatures",
            ));
        }
        Ok(SignHashAnswer {
            signatures: signatures.iter().map(|s| STANDARD.encode(s)).collect(),
        })
    }
}

impl<B: Backend> Csc<B> {
    /// Takes the handle `handle` (or, without one, the OAuth2 handle the
    /// bearer is) of the caller, and checks that it authorizes
    /// `credential_id`. The handle is used up from here on, whatever the
    /// outcome (the signHash rule: of two calls with it, one proceeds).
    async fn take_grant(
        &self,
        authorization: Option<&str>,
        handle: Option<&str>,
        credential_id: &str,
        now: u64,
    ) -> Result<Grant, CscError> {
        let grant = match handle {
            Some(handle) => {
                let caller = self.caller(authorization, now)?;
                self.handles.take(handle.trim(), Some(caller.user), now)
            }
            // An OAuth2 credential-scope access token is the handle itself.
            None => {
                let token = bearer_value(authorization)
                    .ok_or_else(|| CscError::invalid_token("no bearer token and no SAD"))?;
                if !self.handles.is_grant(token) {
                    // A used or expired OAuth2 handle is no bearer at
                    // all; a valid bearer forgot the SAD.
                    self.caller(authorization, now)?;
                    return Err(CscError::invalid_request("Missing parameter SAD"));
                }
                self.handles.take(token, None, now)
            }
        }
        .map_err(handle_error)?;
        let key_id = Uuid::parse(credential_id.trim()).ok();
        if key_id != Some(grant.key_id) {
            return Err(CscError::invalid_request(
                "Invalid parameter credentialID: not the authorized credential",
            ));
        }
        Ok(grant)
    }

    /// The credential record of a taken grant.
    async fn granted_credential(&self, grant: &Grant) -> Result<CredentialRecord, CscError> {
        self.credentials(grant.user)
            .await?
            .into_iter()
            .find(|c| c.key_id == grant.key_id)
            .ok_or_else(|| CscError::invalid_parameter("credentialID"))
    }

    /// `signatures/signDoc` (v2): `docs` parses and checks the request
    /// (a refusal there leaves the handle alone), the handle is taken as
    /// for `signHash`, and `docs` signs under it with the credential's
    /// certificate and the chain `credentials/info` lists.
    async fn sign_doc<D: DocSigner>(
        &self,
        docs: &D,
        authorization: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> Result<CscReply, CscError> {
        // A request without a valid bearer is refused as such first.
        // (an OAuth2 credential-scope handle is a bearer too).
        if !bearer_value(authorization).is_some_and(|t| self.handles.is_grant(t)) {
            self.caller(authorization, now)?;
        }
        let (request, target) = docs.parse_sign_doc(body)?;
        let grant = self
            .take_grant(
                authorization,
                target.handle.as_deref(),
                &target.credential_id,
                now,
            )
            .await?;
        let rec = self.granted_credential(&grant).await?;
        if !rec.active {
            return Err(CscError::invalid_request(
                "Invalid parameter credentialID: the credential is disabled",
            ));
        }
        let certificate = rec.certificate.clone().ok_or_else(|| {
            CscError::invalid_request(
                "Invalid parameter credentialID: the credential has no certificate to sign documents with",
            )
        })?;
        let body = docs
            .sign_doc(
                request,
                Authorized {
                    grant,
                    algorithm: rec.algorithm,
                    certificate,
                    chain: self.chain.clone(),
                },
            )
            .await?;
        Ok(CscReply {
            status: 200,
            content_type: Some("application/json"),
            body,
            location: None,
        })
    }
}

/// A 200 JSON answer.
fn ok<T: Serialize>(body: &T) -> Result<CscReply, CscError> {
    Ok(CscReply::json(200, body))
}

/// `multisign`: the firmware's batch limit, the most hashes one seed SAD
/// carries.
fn multisign() -> u32 {
    u32::try_from(MAX_HASHES).unwrap_or(u32::MAX)
}

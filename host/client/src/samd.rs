//! The client of samd: `POST /signing` for SSAs, and the peering and key
//! manager calls an integrator needs around it, over mutual TLS.

use crate::ClientError;
use crate::http::{Endpoint, Unsent, read_pem_certificates, read_pem_key, tls_config};
use crate::idp::{IdpClient, IdpLogin};
use crate::sad::{SadKey, SignRequest};
use crate::wire::keymgr::{ObjectsAnswer, RegisterAnswer, RegisterRequest};
use crate::wire::peering::{
    Challenge, Container, CredentialBody, KeyPairAnswer, KeyPairParams, UserParams, operation,
};
use crate::wire::signing::{SignatureFormat, SigningAnswer, SigningRequest};
use crate::wire::{B64, Empty, strict};
use hyper::Method;
use rustls::ClientConfig;
use sam_proto::ids::{KeyAlgorithm, KeyId, UserId, Uuid};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The signatures samd returned, one per hash of the SAD, in SAD order:
/// DER `Ecdsa-Sig-Value` for EC keys, the raw PKCS#1 v1.5 signature for
/// RSA keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    /// The signatures.
    pub signatures: Vec<Vec<u8>>,
    /// The sequence number of the firmware's audit record, if given.
    pub audit_seq: Option<u64>,
}

/// A credential of a peering operation (seed §7.1.1).
#[derive(Debug, Clone)]
pub enum Credential {
    /// A DER `SignedIdentityToken` of the acting user that binds `key`'s
    /// public key (its SAD key extension). The firmware accepts a token
    /// only with the key's proof for the very request: [`SamClient`]
    /// fetches a challenge and signs each request's intent with `key`.
    IdentityToken {
        /// The DER token.
        token: Vec<u8>,
        /// The key the token binds.
        key: Arc<SadKey>,
    },
    /// A Privileged User Technical's postcard `TechnicalSignature`, with
    /// its UserID.
    TechnicalSignature {
        /// The postcard bytes.
        value: Vec<u8>,
        /// The technical user.
        user_id: UserId,
    },
}

/// A key made by `Generate_Signer_Key_Pair`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The new KeyID.
    pub key_id: KeyId,
    /// The owner.
    pub user_id: UserId,
    /// DER `SubjectPublicKeyInfo`.
    pub public_key: Vec<u8>,
    /// The PKCS#10 request signed by the new key, if samd got one.
    pub csr: Option<Vec<u8>>,
    /// The whole answer.
    pub raw: Value,
}

/// A client of samd (seed §7.1, §7.2.1, §7.4) over mutual TLS.
///
/// Cheap to share behind an `Arc`: HTTP/2 connections carry concurrent
/// requests; an HTTP/1.1 connection is reused when idle.
///
/// # Example
///
/// The whole SSA flow for one document hash: a temporary SAD key, a token
/// carrying it from the IdP, the SAD, and samd's signature.
///
/// ```no_run
/// use sam_client::{IdpClient, IdpLogin, SamClient, SignRequest};
/// use sam_proto::ids::{HashAlgorithm, Uuid};
/// use std::path::Path;
///
/// # async fn demo(login_token: Vec<u8>, hash: Vec<u8>) -> Result<(), sam_client::ClientError> {
/// let sam = SamClient::from_pem_files(
///     "https://localhost:8443",
///     Path::new("tls-ca.pem"),
///     Path::new("connector-ssa.pem"),
///     Path::new("connector-ssa.key"),
/// )?;
/// let idp = IdpClient::dev_plain_http("http://127.0.0.1:8480")?;
/// let key_id = Uuid::parse("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
///     .map_err(|_| sam_client::ClientError::InvalidInput("KeyID".into()))?;
/// let request = SignRequest::single(key_id, HashAlgorithm::Sha256, hash);
/// let signed = sam.sign(&idp, &IdpLogin::IdToken(login_token), &request).await?;
/// assert_eq!(signed.signatures.len(), 1);
/// # Ok(())
/// # }
/// ```
///
/// # Several samd instances
///
/// [`SamClient::with_failover`] takes several samd endpoints (instances
/// on one shared store). A request goes to the endpoint that answered
/// last; only when it certainly never left (no connection, a failed TLS
/// handshake) is the next endpoint tried. A request that may have reached
/// a samd (a reset connection, a timeout, any answer) is never sent to
/// another: a SAD is single use and a key generation is not idempotent,
/// so the caller decides what a lost answer means.
#[derive(Debug)]
pub struct SamClient {
    endpoints: Vec<Endpoint>,
    /// The endpoint that answered last (where the next request starts).
    current: AtomicUsize,
}

impl SamClient {
    /// samd at `base_url` (`https://host:port`) with a TLS client
    /// configuration carrying the connector's certificate (see
    /// [`crate::tls_config`]).
    pub fn new(base_url: &str, tls: Arc<ClientConfig>) -> Result<Self, ClientError> {
        Self::with_endpoints(vec![Endpoint::new(base_url, Some(tls))?])
    }

    /// Several samd instances, tried in this order on connection errors
    /// only (see the type's documentation), with one TLS configuration.
    pub fn with_failover(base_urls: &[&str], tls: Arc<ClientConfig>) -> Result<Self, ClientError> {
        let endpoints = base_urls
            .iter()
            .map(|url| Endpoint::new(url, Some(Arc::clone(&tls))))
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_endpoints(endpoints)
    }

    /// A client over already built endpoints (at least one), tried in
    /// this order on connection errors only.
    pub fn with_endpoints(endpoints: Vec<Endpoint>) -> Result<Self, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::Config("no samd endpoint given".into()));
        }
        Ok(Self {
            endpoints,
            current: AtomicUsize::new(0),
        })
    }

    /// samd at `base_url`, trusting the CA certificates in `ca_pem` for
    /// the server and authenticating with the connector certificate chain
    /// `cert_pem` and its key `key_pem`.
    pub fn from_pem_files(
        base_url: &str,
        ca_pem: &Path,
        cert_pem: &Path,
        key_pem: &Path,
    ) -> Result<Self, ClientError> {
        let roots = read_pem_certificates(ca_pem)?;
        let chain = read_pem_certificates(cert_pem)?;
        let key = read_pem_key(key_pem)?;
        Self::new(base_url, tls_config(roots, Some((chain, key)))?)
    }

    /// Sets the time one request may take, connecting included (default
    /// 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        for e in &mut self.endpoints {
            e.set_timeout(timeout);
        }
        self
    }

    /// Sends the request to the endpoint that answered last, and to the
    /// next ones in turn while it certainly did not leave.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        authorization: Option<&str>,
    ) -> Result<(hyper::StatusCode, bytes::Bytes), ClientError> {
        let n = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut unsent = None;
        for k in (0..n).map(|i| (first + i) % n) {
            let Some(endpoint) = self.endpoints.get(k) else {
                continue;
            };
            match endpoint
                .request_or_unsent(method.clone(), path, body.clone(), authorization)
                .await
            {
                Ok(answer) => {
                    if k != first {
                        self.current.store(k, Ordering::Relaxed);
                    }
                    return Ok(answer);
                }
                Err(Unsent::Yes(e)) => unsent = Some(e),
                Err(Unsent::No(e)) => return Err(e),
            }
        }
        Err(unsent.unwrap_or_else(|| ClientError::Config("no samd endpoint given".into())))
    }

    /// `POST /signing` with a DER SAD: one bare signature per hash
    /// (`"signatureFormat": "raw"`), as [`Signatures`] describes.
    pub async fn sign_sad(&self, sad_der: &[u8]) -> Result<Signatures, ClientError> {
        self.signing(sad_der, SignatureFormat::Raw).await
    }

    /// `POST /signing` with a DER SAD, asking for `format`: one value per
    /// hash, in SAD order (samd's map of positions is checked to hold
    /// exactly the positions `0..n`).
    pub async fn signing(
        &self,
        sad_der: &[u8],
        format: SignatureFormat,
    ) -> Result<Signatures, ClientError> {
        let request = SigningRequest {
            sad: B64::of(sad_der),
            signature_format: Some(format),
        };
        let answer: SigningAnswer = self.typed(Method::POST, "/signing", Some(&request)).await?;
        if answer.signature_format != format {
            return Err(ClientError::Protocol(format!(
                "asked for {format:?} signatures, got {:?}",
                answer.signature_format
            )));
        }
        let audit_seq = answer.audit_seq;
        Ok(Signatures {
            signatures: answer.in_order().map_err(ClientError::Protocol)?,
            audit_seq,
        })
    }

    /// The SSA flow of seed §5.6: makes a temporary SAD key, has the IdP
    /// embed it in the signer's token, builds and signs the SAD for
    /// `request`, drops (wipes) the SAD key, and sends the SAD to samd.
    /// The signatures come back in the order of `request.hashes`.
    pub async fn sign(
        &self,
        idp: &IdpClient,
        login: &IdpLogin,
        request: &SignRequest,
    ) -> Result<Signatures, ClientError> {
        request.check()?;
        let sad = {
            let key = SadKey::generate()?;
            let token = idp.embed_sad_key(login, &key.public_key_der()?).await?;
            key.sign_sad(&token, request)?
        };
        let signed = self.sign_sad(&sad).await?;
        if signed.signatures.len() != request.hashes.len() {
            return Err(ClientError::Protocol(format!(
                "{} signatures for {} hashes",
                signed.signatures.len(),
                request.hashes.len()
            )));
        }
        Ok(signed)
    }

    /// `POST /peering`: one operation of the SAM Peering Interface (seed
    /// §7.1) by its seed name (`Create_New_Signer`,
    /// `Generate_Signer_Key_Pair`, ...); the JSON answer.
    pub async fn peering(
        &self,
        operation: &str,
        credential: Option<&Credential>,
        params: Value,
    ) -> Result<Value, ClientError> {
        self.peering_typed(operation, credential, params).await
    }

    /// `POST /peering` with typed parameters and answer.
    pub async fn peering_typed<P: Serialize, A: DeserializeOwned>(
        &self,
        operation: &str,
        credential: Option<&Credential>,
        params: P,
    ) -> Result<A, ClientError> {
        let params = serde_json::to_value(params)
            .map_err(|e| ClientError::Protocol(format!("request JSON: {e}")))?;
        let credential = match credential {
            None => None,
            Some(c) => Some(self.credential_body(c, operation, &params).await?),
        };
        let body = Container::new(operation, credential, params);
        self.typed(Method::POST, "/peering", Some(&body)).await
    }

    /// `POST /peering/challenge`: a fresh single-use firmware challenge.
    pub async fn peering_challenge(&self) -> Result<[u8; 32], ClientError> {
        let c: Challenge = self
            .typed(Method::POST, "/peering/challenge", Some(&Empty {}))
            .await?;
        c.challenge
            .0
            .try_into()
            .map_err(|_| ClientError::Protocol("the challenge is not 32 bytes".into()))
    }

    /// The container's `credential` for `operation` with `params`: for an
    /// identity token, with the proof over the request's intent and a
    /// fresh challenge.
    async fn credential_body(
        &self,
        credential: &Credential,
        operation: &str,
        params: &Value,
    ) -> Result<CredentialBody, ClientError> {
        // A technical signature already covers its request; only a token
        // needs the intent signed here.
        let (code, intent) = match credential {
            Credential::IdentityToken { .. } => crate::intent::peering_intent(operation, params)?,
            Credential::TechnicalSignature { .. } => {
                return self.signed_credential(credential, None).await;
            }
        };
        self.signed_credential(credential, Some((code, &intent)))
            .await
    }

    /// The `credential` for `request` (the firmware command and its
    /// postcard intent): an identity token with its key's proof over the
    /// intent and a fresh challenge, or a technical signature as given.
    async fn signed_credential(
        &self,
        credential: &Credential,
        request: Option<(sam_proto::command::SubFunction, &[u8])>,
    ) -> Result<CredentialBody, ClientError> {
        match (credential, request) {
            (Credential::IdentityToken { token, key }, Some((code, intent))) => {
                let challenge = self.peering_challenge().await?;
                let signature = key.sign_request(code, &challenge, intent)?;
                Ok(CredentialBody::identity_token(token).with_proof(&challenge, &signature))
            }
            (Credential::IdentityToken { .. }, None) => Err(ClientError::InvalidInput(
                "an identity token needs the request it signs".into(),
            )),
            (Credential::TechnicalSignature { value, user_id }, _) => Ok(
                CredentialBody::technical_signature(value, user_id.to_string()),
            ),
        }
    }

    /// `Create_New_Signer` for `user_id` with its IdP certificates (DER).
    pub async fn create_signer(
        &self,
        credential: &Credential,
        user_id: UserId,
        idp_certificates: &[Vec<u8>],
    ) -> Result<Value, ClientError> {
        let params = UserParams {
            userid: user_id.to_string(),
            certificates: B64::all(idp_certificates),
        };
        self.peering_typed(operation::CREATE_SIGNER, Some(credential), params)
            .await
    }

    /// `Generate_Signer_Key_Pair` for `user_id`.
    pub async fn generate_key_pair(
        &self,
        credential: &Credential,
        user_id: UserId,
        algorithm: KeyAlgorithm,
    ) -> Result<GeneratedKey, ClientError> {
        let params = KeyPairParams::new(user_id.to_string(), algorithm);
        let raw: Value = self
            .peering_typed(operation::GENERATE_KEY_PAIR, Some(credential), params)
            .await?;
        let answer: KeyPairAnswer = serde_json::from_value(raw.clone())
            .map_err(|e| ClientError::Protocol(format!("key pair answer: {e}")))?;
        let uuid = |field: &str, text: &str| {
            Uuid::parse(text).map_err(|_| ClientError::Protocol(format!("`{field}` is not a UUID")))
        };
        Ok(GeneratedKey {
            key_id: uuid("keyid", &answer.keyid)?,
            user_id: uuid("userid", &answer.userid)?,
            public_key: answer.publickey.0,
            csr: answer.csr.map(|c| c.0),
            raw,
        })
    }

    /// `POST /objects`: registers the certificate `certificate` (DER) for
    /// the key `key_id` (seed §7.4.3), asked by the key's owner or a
    /// Privileged User (`credential`); the firmware checks the certificate
    /// and activates the key. The registered object and the audit `seq`.
    pub async fn register_certificate(
        &self,
        credential: &Credential,
        key_id: KeyId,
        certificate: &[u8],
    ) -> Result<RegisterAnswer, ClientError> {
        let (code, intent) = crate::intent::register_certificate_intent(key_id, certificate)?;
        let credential = self
            .signed_credential(credential, Some((code, &intent)))
            .await?;
        let request =
            RegisterRequest::certificate(key_id.to_string(), certificate, Some(credential));
        self.typed(Method::POST, "/objects", Some(&request)).await
    }

    /// `GET /objects?<query>` (seed §7.4.2), e.g. `keyid=...&objecttype=CERTIFICATE`,
    /// asked by the holder of the DER identity token `token` (sent as
    /// `Authorization: Bearer`; samd shows that user's objects, a
    /// Privileged User's also those of the Signers it manages); the
    /// `objects` array.
    pub async fn objects(&self, token: &[u8], query: &str) -> Result<Vec<Value>, ClientError> {
        self.key_manager_query("/objects", token, query).await
    }

    /// `GET /private-keys?<query>` (seed §7.4.1, ACTIVE keys unless the
    /// query names a state), asked by the holder of `token` as for
    /// [`Self::objects`].
    pub async fn private_keys(&self, token: &[u8], query: &str) -> Result<Vec<Value>, ClientError> {
        self.key_manager_query("/private-keys", token, query).await
    }

    async fn key_manager_query(
        &self,
        path: &str,
        token: &[u8],
        query: &str,
    ) -> Result<Vec<Value>, ClientError> {
        let path = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        };
        let authorization = crate::bearer::bearer_header(token);
        let (status, answer) = self
            .request(Method::GET, &path, None, Some(&authorization))
            .await?;
        let answer: ObjectsAnswer = self.read_answer(&path, status, &answer)?;
        Ok(answer.objects.into_iter().map(Value::Object).collect())
    }

    /// Any JSON call to samd: `body` is sent as JSON, a success answer is
    /// returned as JSON, a refusal as [`ClientError::Sam`] /
    /// [`ClientError::Host`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        self.typed(method, path, body.as_ref()).await
    }

    /// A JSON call with a typed body and answer (the types of
    /// [`crate::wire`]). The answer is read strictly: a key given twice
    /// is a protocol error.
    pub async fn typed<B: Serialize, A: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<A, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Protocol(format!("request JSON: {e}")))?;
        let (status, answer) = self.request(method, path, body, None).await?;
        self.read_answer(path, status, &answer)
    }

    /// A success answer as `A` (read strictly), a refusal as the error
    /// samd sent.
    fn read_answer<A: DeserializeOwned>(
        &self,
        path: &str,
        status: hyper::StatusCode,
        answer: &[u8],
    ) -> Result<A, ClientError> {
        if !status.is_success() {
            return Err(ClientError::from_samd_answer(status.as_u16(), answer));
        }
        strict::from_slice(answer).map_err(|e| {
            ClientError::Protocol(format!(
                "unexpected answer to {path} ({e}): {}",
                crate::error::printable(answer)
            ))
        })
    }
}

//! The client of samd: `POST /signing` for SSAs, and the peering and key
//! manager calls an integrator needs around it, over mutual TLS.

use crate::ClientError;
use crate::http::{Endpoint, json, read_pem_certificates, read_pem_key, tls_config};
use crate::idp::{IdpClient, IdpLogin};
use crate::sad::{SadKey, SignRequest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::Method;
use rustls::ClientConfig;
use sam_proto::ids::{KeyAlgorithm, KeyId, UserId, Uuid};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A DER `SignedIdentityToken` of the acting user.
    IdentityToken(Vec<u8>),
    /// A Privileged User Technical's postcard `TechnicalSignature`, with
    /// its UserID.
    TechnicalSignature {
        /// The postcard bytes.
        value: Vec<u8>,
        /// The technical user.
        user_id: UserId,
    },
}

impl Credential {
    fn to_json(&self) -> Value {
        match self {
            Self::IdentityToken(t) => {
                json!({"type": "identity_token", "value": STANDARD.encode(t)})
            }
            Self::TechnicalSignature { value, user_id } => json!({
                "type": "technical_signature",
                "value": STANDARD.encode(value),
                "userid": user_id.to_string(),
            }),
        }
    }
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
#[derive(Debug)]
pub struct SamClient {
    endpoint: Endpoint,
}

impl SamClient {
    /// samd at `base_url` (`https://host:port`) with a TLS client
    /// configuration carrying the connector's certificate (see
    /// [`crate::tls_config`]).
    pub fn new(base_url: &str, tls: Arc<ClientConfig>) -> Result<Self, ClientError> {
        Ok(Self {
            endpoint: Endpoint::new(base_url, Some(tls))?,
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
        self.endpoint.set_timeout(timeout);
        self
    }

    /// `POST /signing` with a DER SAD: one signature per hash.
    pub async fn sign_sad(&self, sad_der: &[u8]) -> Result<Signatures, ClientError> {
        #[derive(Deserialize)]
        struct Answer {
            signatures: Vec<String>,
            #[serde(default)]
            audit_seq: Option<u64>,
        }
        let value = self
            .call(
                Method::POST,
                "/signing",
                Some(json!({"sad": STANDARD.encode(sad_der)})),
            )
            .await?;
        let answer: Answer = serde_json::from_value(value)
            .map_err(|e| ClientError::Protocol(format!("/signing answer: {e}")))?;
        let signatures = answer
            .signatures
            .iter()
            .map(|s| STANDARD.decode(s.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClientError::Protocol(format!("a signature is not base64: {e}")))?;
        Ok(Signatures {
            signatures,
            audit_seq: answer.audit_seq,
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
        let mut body = json!({"operation": operation, "params": params});
        if let (Some(c), Some(map)) = (credential, body.as_object_mut()) {
            map.insert("credential".into(), c.to_json());
        }
        self.call(Method::POST, "/peering", Some(body)).await
    }

    /// `Create_New_Signer` for `user_id` with its IdP certificates (DER).
    pub async fn create_signer(
        &self,
        credential: &Credential,
        user_id: UserId,
        idp_certificates: &[Vec<u8>],
    ) -> Result<Value, ClientError> {
        let certificates: Vec<String> = idp_certificates
            .iter()
            .map(|c| STANDARD.encode(c))
            .collect();
        self.peering(
            "Create_New_Signer",
            Some(credential),
            json!({"userid": user_id.to_string(), "certificates": certificates}),
        )
        .await
    }

    /// `Generate_Signer_Key_Pair` for `user_id`.
    pub async fn generate_key_pair(
        &self,
        credential: &Credential,
        user_id: UserId,
        algorithm: KeyAlgorithm,
    ) -> Result<GeneratedKey, ClientError> {
        let (name, parameters) = match algorithm {
            KeyAlgorithm::EcP256 => ("EC", json!({"curve": "1.2.840.10045.3.1.7"})),
            KeyAlgorithm::EcP384 => ("EC", json!({"curve": "1.3.132.0.34"})),
            KeyAlgorithm::Rsa2048 => ("RSA", json!({"bits": 2048})),
            KeyAlgorithm::Rsa3072 => ("RSA", json!({"bits": 3072})),
            KeyAlgorithm::Rsa4096 => ("RSA", json!({"bits": 4096})),
        };
        let raw = self
            .peering(
                "Generate_Signer_Key_Pair",
                Some(credential),
                json!({"userid": user_id.to_string(), "algorithm": name, "parameters": parameters}),
            )
            .await?;
        let text = |field: &str| {
            raw.get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| ClientError::Protocol(format!("answer without `{field}`")))
        };
        let uuid = |field: &str| {
            text(field).and_then(|t| {
                Uuid::parse(t)
                    .map_err(|_| ClientError::Protocol(format!("`{field}` is not a UUID")))
            })
        };
        let b64 = |t: &str| {
            STANDARD
                .decode(t.as_bytes())
                .map_err(|e| ClientError::Protocol(format!("not base64: {e}")))
        };
        let csr = match raw.get("csr").and_then(Value::as_str) {
            Some(t) => Some(b64(t)?),
            None => None,
        };
        Ok(GeneratedKey {
            key_id: uuid("keyid")?,
            user_id: uuid("userid")?,
            public_key: b64(text("publickey")?)?,
            csr,
            raw,
        })
    }

    /// `POST /objects`: registers the certificate `certificate` (DER) for
    /// the key `key_id` (seed §7.4.3); the registered object.
    pub async fn register_certificate(
        &self,
        key_id: KeyId,
        certificate: &[u8],
    ) -> Result<Value, ClientError> {
        self.call(
            Method::POST,
            "/objects",
            Some(json!({
                "objecttype": "CERTIFICATE",
                "value": STANDARD.encode(certificate),
                "links": [{"id": key_id.to_string(), "type": "PRIVATE_KEY"}],
            })),
        )
        .await
    }

    /// `GET /objects?<query>` (seed §7.4.2), e.g. `keyid=...&objecttype=CERTIFICATE`;
    /// the `objects` array.
    pub async fn objects(&self, query: &str) -> Result<Vec<Value>, ClientError> {
        let path = if query.is_empty() {
            "/objects".to_owned()
        } else {
            format!("/objects?{query}")
        };
        let value = self.call(Method::GET, &path, None).await?;
        match value.get("objects") {
            Some(Value::Array(list)) => Ok(list.clone()),
            _ => Err(ClientError::Protocol("answer without `objects`".into())),
        }
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
        let body = body
            .map(|b| serde_json::to_vec(&b))
            .transpose()
            .map_err(|e| ClientError::Protocol(format!("request JSON: {e}")))?;
        let (status, answer) = self.endpoint.request(method, path, body).await?;
        if !status.is_success() {
            return Err(ClientError::from_samd_answer(status.as_u16(), &answer));
        }
        json(&answer)
    }
}

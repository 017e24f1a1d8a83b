//! `POST /peering` (the SAM Peering Interface container, seed §7.1) and
//! `POST /peering/challenge`.
//!
//! samd reads the container envelope by hand (`host/src/api/container.rs`)
//! because the seed orders its errors (ContainerParseError before
//! UnknownMessageType before MessageParseError); the envelope type here is
//! what clients write, and a test in samd checks that what it writes
//! parses there. The parameters and answers are read with these types on
//! both sides.

use super::B64;
use sam_proto::ids::KeyAlgorithm;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The operation names of the container (seed §7.1), which are also the
/// connector permissions.
pub mod operation {
    /// Seed §7.1.1.
    pub const CREATE_PRIVILEGED_USER: &str = "Create_New_Privileged_User";
    /// Seed §7.1.2.
    pub const CREATE_SIGNER: &str = "Create_New_Signer";
    /// Seed §7.1.3.
    pub const SIGNER_MAINTENANCE: &str = "Signer_Maintenance";
    /// Seed §7.1.4.
    pub const GENERATE_KEY_PAIR: &str = "Generate_Signer_Key_Pair";
    /// Seed §7.1.5.
    pub const DELETE_KEY_PAIR: &str = "Delete_Signer_Key_Pair";
    /// Seed §7.1.6.
    pub const SIGNING: &str = "Signing";
}

/// The credential `type` of an identity token.
pub const IDENTITY_TOKEN: &str = "identity_token";
/// The credential `type` of a technical signature.
pub const TECHNICAL_SIGNATURE: &str = "technical_signature";

/// The message container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container<P> {
    /// One of [`operation`].
    pub operation: String,
    /// Absent only for Signing, whose SAD carries the identity token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialBody>,
    /// The operation's parameters.
    pub params: P,
}

impl<P> Container<P> {
    /// A container for `operation`.
    pub fn new(operation: &str, credential: Option<CredentialBody>, params: P) -> Self {
        Self {
            operation: operation.to_owned(),
            credential,
            params,
        }
    }
}

/// The container's `credential`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    /// [`IDENTITY_TOKEN`] or [`TECHNICAL_SIGNATURE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The DER token, or the postcard `TechnicalSignature`.
    pub value: B64,
    /// The technical user (technical signatures only: the signature does
    /// not name its signer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// Identity tokens only, and required for them: the token's SAD key
    /// signs this request's intent with a firmware challenge
    /// (`sam_proto::intent`), so that the token alone authorizes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofBody>,
}

/// The proof of an identity token's holder for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBody {
    /// The 32-byte challenge from `POST /peering/challenge`.
    pub challenge: B64,
    /// The SAD key's signature over `bound_digest("sam/token-request/v1",
    /// code, challenge, postcard(intent))` (ECDSA DER, or RSA PKCS#1 v1.5;
    /// SHA-256).
    pub signature: B64,
}

impl CredentialBody {
    /// An identity token credential (DER `SignedIdentityToken`) without
    /// its proof (see [`Self::with_proof`]).
    pub fn identity_token(der: &[u8]) -> Self {
        Self {
            kind: IDENTITY_TOKEN.into(),
            value: B64::of(der),
            userid: None,
            proof: None,
        }
    }

    /// The credential with the token holder's proof.
    pub fn with_proof(mut self, challenge: &[u8], signature: &[u8]) -> Self {
        self.proof = Some(ProofBody {
            challenge: B64::of(challenge),
            signature: B64::of(signature),
        });
        self
    }

    /// A technical signature credential of `userid`.
    pub fn technical_signature(postcard: &[u8], userid: String) -> Self {
        Self {
            kind: TECHNICAL_SIGNATURE.into(),
            value: B64::of(postcard),
            userid: Some(userid),
            proof: None,
        }
    }
}

/// `Create_New_Privileged_User` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivilegedUserParams {
    /// The new user.
    pub userid: String,
    /// Its IdP certificates (DER).
    #[serde(default)]
    pub certificates: Vec<B64>,
    /// For a Privileged User Technical: its X.509 certificate (DER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technical_certificate: Option<B64>,
}

/// `Create_New_Signer` and `Signer_Maintenance` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserParams {
    /// The new or maintained signer.
    pub userid: String,
    /// Its IdP certificates (DER); maintenance replaces the list.
    pub certificates: Vec<B64>,
}

/// `Generate_Signer_Key_Pair` parameters, in the seed's shape: an
/// algorithm family and its parameters (a curve OID, RSA bits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPairParams {
    /// The owner.
    pub userid: String,
    /// `EC` or `RSA` (any case).
    pub algorithm: String,
    /// `{"curve": <OID or name>}` or a bare curve string for EC,
    /// `{"bits": n}` or a bare number for RSA.
    pub parameters: Value,
    /// The subject (DER Name) of the certification request that the
    /// firmware signs with the new key; absent: `CN=<userid>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<B64>,
}

impl KeyPairParams {
    /// The canonical parameters for `algorithm`, as clients send them.
    pub fn new(userid: String, algorithm: KeyAlgorithm) -> Self {
        let (family, parameters) = match algorithm {
            KeyAlgorithm::EcP256 => ("EC", json!({"curve": "1.2.840.10045.3.1.7"})),
            KeyAlgorithm::EcP384 => ("EC", json!({"curve": "1.3.132.0.34"})),
            KeyAlgorithm::Rsa2048 => ("RSA", json!({"bits": 2048})),
            KeyAlgorithm::Rsa3072 => ("RSA", json!({"bits": 3072})),
            KeyAlgorithm::Rsa4096 => ("RSA", json!({"bits": 4096})),
        };
        Self {
            userid,
            algorithm: family.into(),
            parameters,
            subject: None,
        }
    }

    /// The DER subject of the certification request: `subject` if given,
    /// otherwise `CN=<userid>`. It is part of what the client signs, so
    /// samd and the client compute the default with this one function.
    pub fn csr_subject(&self) -> Result<Vec<u8>, String> {
        if let Some(s) = &self.subject {
            return Ok(s.0.clone());
        }
        use der::Encode;
        use std::str::FromStr;
        x509_cert::name::Name::from_str(&format!("CN={}", self.userid))
            .map_err(|e| format!("subject: {e}"))?
            .to_der()
            .map_err(|e| format!("subject: {e}"))
    }

    /// The algorithm these parameters name, `None` if unsupported.
    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        match self.algorithm.to_ascii_uppercase().as_str() {
            "EC" => {
                let curve = match &self.parameters {
                    Value::String(s) => s.as_str(),
                    Value::Object(m) => m.get("curve").and_then(Value::as_str).unwrap_or(""),
                    _ => "",
                };
                match curve {
                    "1.2.840.10045.3.1.7" | "P-256" | "secp256r1" | "prime256v1" => {
                        Some(KeyAlgorithm::EcP256)
                    }
                    "1.3.132.0.34" | "P-384" | "secp384r1" => Some(KeyAlgorithm::EcP384),
                    _ => None,
                }
            }
            "RSA" => {
                let bits = match &self.parameters {
                    Value::Number(n) => n.as_u64(),
                    Value::Object(m) => m.get("bits").and_then(Value::as_u64),
                    _ => None,
                };
                match bits {
                    Some(2048) => Some(KeyAlgorithm::Rsa2048),
                    Some(3072) => Some(KeyAlgorithm::Rsa3072),
                    Some(4096) => Some(KeyAlgorithm::Rsa4096),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// `Delete_Signer_Key_Pair` parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteParams {
    /// The key.
    pub keyid: String,
}

/// `Signing` parameters, and the body of `POST /signing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningParams {
    /// The DER SAD (seed §8.1).
    pub sad: B64,
}

/// The answer to a user operation (create, maintain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAnswer {
    /// The user.
    pub userid: String,
    /// `PrivilegedUser`, `Signer` or `PrivilegedUserTechnical`.
    pub role: String,
    /// The record's generation (1 when created, +1 per maintenance).
    pub generation: u32,
    /// The firmware's audit sequence number of the operation.
    pub audit_seq: u64,
}

/// The answer to `Generate_Signer_Key_Pair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPairAnswer {
    /// The new KeyID.
    pub keyid: String,
    /// The owner.
    pub userid: String,
    /// Readable algorithm name (`EC P-256`, `RSA 3072`, ...).
    pub algorithm: String,
    /// DER SubjectPublicKeyInfo.
    pub publickey: B64,
    /// The public key signed by the SAM's attestation key.
    pub attestation: B64,
    /// The PKCS#10 request for the subject and the new key, signed by the
    /// firmware with the new key in the same operation.
    pub csr: Option<B64>,
    /// The audit sequence number of the key generation.
    pub audit_seq: Option<u64>,
}

/// The answer to `Delete_Signer_Key_Pair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAnswer {
    /// The key.
    pub keyid: String,
    /// Its key-manager state now (`DESTROYED`).
    pub state: String,
    /// The audit sequence number.
    pub audit_seq: u64,
}

/// The answer to the container's `Signing` (seed §7.1.6 output `sigbin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeeringSigningAnswer {
    /// One signature per hash of the SAD, in SAD order.
    pub sigbin: Vec<B64>,
    /// The audit sequence number.
    pub audit_seq: u64,
}

/// `POST /peering/challenge` and `POST /admin/challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// 32 single-use bytes.
    pub challenge: B64,
    /// Unix seconds (firmware clock) after which it is refused.
    pub expires: i64,
}

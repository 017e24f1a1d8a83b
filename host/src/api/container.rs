//! The SAM Peering Interface message container (seed §7.1):
//!
//! ```json
//! {"operation": "Create_New_Signer",
//!  "credential": {"type": "identity_token", "value": "<base64>",
//!                 "proof": {"challenge": "<base64>", "signature": "<base64>"}},
//!  "params": {"userid": "...", "certificates": ["<base64>"]}}
//! ```
//!
//! Parsing follows the seed's error order: a body that is no container is
//! a ContainerParseError, an unknown operation an UnknownMessageType,
//! parameters that do not fit the operation a MessageParseError, an
//! unknown credential type an UnknownCredentialType.
//!
//! The module depends on nothing else of the host (its errors are
//! [`ContainerError`]s, which the API turns into its error answers), so
//! that the `peering_container` fuzz target can include its source
//! without samd's network stack.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_proto::ErrorType;
use sam_proto::asn1::SignedIdentityToken;
use sam_proto::bounded::Blob;
use sam_proto::command::{Credential, MAX_CREDENTIAL_LEN, RequestProof};
use sam_proto::ids::Uuid;
use serde_json::{Map, Value};

/// The operations of the container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Seed §7.1.1.
    CreatePrivilegedUser,
    /// Seed §7.1.2.
    CreateSigner,
    /// Seed §7.1.3.
    SignerMaintenance,
    /// Seed §7.1.4.
    GenerateKeyPair,
    /// Seed §7.1.5.
    DeleteKeyPair,
    /// Seed §7.1.6.
    Signing,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] = [
        Self::CreatePrivilegedUser,
        Self::CreateSigner,
        Self::SignerMaintenance,
        Self::GenerateKeyPair,
        Self::DeleteKeyPair,
        Self::Signing,
    ];

    /// The seed's operation name, which is also the connector permission.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CreatePrivilegedUser => "Create_New_Privileged_User",
            Self::CreateSigner => "Create_New_Signer",
            Self::SignerMaintenance => "Signer_Maintenance",
            Self::GenerateKeyPair => "Generate_Signer_Key_Pair",
            Self::DeleteKeyPair => "Delete_Signer_Key_Pair",
            Self::Signing => "Signing",
        }
    }

    /// The operation for a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// The credential as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCredential {
    /// `identity_token` or `technical_signature`.
    pub kind: String,
    /// Base64 of the DER token, or of the postcard `TechnicalSignature`.
    pub value: String,
    /// For a technical signature: the technical user's UserID (the
    /// signature itself does not name it).
    pub userid: Option<String>,
    /// For an identity token: the token holder's proof for this request,
    /// `(challenge, signature)` in base64.
    pub proof: Option<(String, String)>,
}

/// Why a container or its credential was refused: a seed error type and
/// a human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerError {
    /// The seed error type of the answer.
    pub error: ErrorType,
    /// What was wrong.
    pub detail: String,
}

impl ContainerError {
    fn new(error: ErrorType, detail: impl Into<String>) -> Self {
        Self {
            error,
            detail: detail.into(),
        }
    }
}

/// A parsed container.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    /// The operation.
    pub operation: Operation,
    /// The credential; optional only for Signing, where the SAD carries
    /// the identity token.
    pub credential: Option<RawCredential>,
    /// The operation's parameters (a JSON object).
    pub params: Value,
}

fn container_error(detail: impl Into<String>) -> ContainerError {
    ContainerError::new(ErrorType::ContainerParseError, detail)
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, ContainerError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(container_error(format!("`{key}` is not a string"))),
    }
}

fn parse_credential(value: Value) -> Result<RawCredential, ContainerError> {
    let Value::Object(mut map) = value else {
        return Err(container_error("`credential` is not an object"));
    };
    let kind = take_string(&mut map, "type")?
        .ok_or_else(|| container_error("`credential.type` is missing"))?;
    let value = take_string(&mut map, "value")?
        .ok_or_else(|| container_error("`credential.value` is missing"))?;
    let userid = take_string(&mut map, "userid")?;
    let proof = match map.remove("proof") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_proof(v)?),
    };
    if let Some(extra) = map.keys().next() {
        return Err(container_error(format!(
            "unknown field `credential.{extra}`"
        )));
    }
    Ok(RawCredential {
        kind,
        value,
        userid,
        proof,
    })
}

fn parse_proof(value: Value) -> Result<(String, String), ContainerError> {
    let Value::Object(mut map) = value else {
        return Err(container_error("`credential.proof` is not an object"));
    };
    let challenge = take_string(&mut map, "challenge")?
        .ok_or_else(|| container_error("`credential.proof.challenge` is missing"))?;
    let signature = take_string(&mut map, "signature")?
        .ok_or_else(|| container_error("`credential.proof.signature` is missing"))?;
    if let Some(extra) = map.keys().next() {
        return Err(container_error(format!(
            "unknown field `credential.proof.{extra}`"
        )));
    }
    Ok((challenge, signature))
}

/// The reader that turns a body into one JSON value. samd passes
/// `sam_client::wire::strict::value_from_slice`, which refuses a key
/// given twice; the reader is a parameter so that this module keeps
/// depending on nothing else of the host.
pub type JsonReader = fn(&[u8]) -> Result<Value, serde_json::Error>;

/// Parses a request body as a container.
pub fn parse(body: &[u8], read: JsonReader) -> Result<Container, ContainerError> {
    let value: Value =
        read(body).map_err(|e| container_error(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err(container_error("the body is not a JSON object"));
    };
    let operation = take_string(&mut map, "operation")?
        .ok_or_else(|| container_error("`operation` is missing"))?;
    let credential = match map.remove("credential") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_credential(v)?),
    };
    let params = match map.remove("params") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(container_error("`params` is not an object")),
    };
    if let Some(extra) = map.keys().next() {
        return Err(container_error(format!("unknown field `{extra}`")));
    }
    let operation = Operation::parse(&operation).ok_or_else(|| {
        ContainerError::new(
            ErrorType::UnknownMessageType,
            format!("unknown operation {operation:?}"),
        )
    })?;
    if credential.is_none() && operation != Operation::Signing {
        return Err(container_error("`credential` is missing"));
    }
    Ok(Container {
        operation,
        credential,
        params,
    })
}

/// A credential ready for the firmware, and the UserID under which the
/// host looks up the acting user's record (`None` if it cannot tell; the
/// firmware then answers UnknownUser).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedCredential {
    /// For the firmware.
    pub credential: Credential,
    /// Whose record to attach.
    pub actor: Option<Uuid>,
    /// The token holder's proof, for the firmware to check.
    pub proof: Option<RequestProof>,
}

/// Checks the credential type and decodes the value. The host reads the
/// token's userId only to find the record; the firmware verifies the
/// token and matches the record itself.
pub fn resolve(raw: &RawCredential) -> Result<ResolvedCredential, ContainerError> {
    let kind = match raw.kind.as_str() {
        "identity_token" => Credential::IDENTITY_TOKEN,
        "technical_signature" => Credential::TECHNICAL_SIGNATURE,
        other => {
            return Err(ContainerError::new(
                ErrorType::UnknownCredentialType,
                format!("unknown credential type {other:?}"),
            ));
        }
    };
    let value = STANDARD.decode(raw.value.as_bytes()).map_err(|e| {
        ContainerError::new(
            ErrorType::AuthenticationError,
            format!("credential.value is not base64: {e}"),
        )
    })?;
    let actor = if kind == Credential::IDENTITY_TOKEN {
        SignedIdentityToken::from_der_strict(&value)
            .ok()
            .and_then(|t| Uuid::parse(&t.data.user_id).ok())
    } else {
        raw.userid.as_deref().and_then(|u| Uuid::parse(u).ok())
    };
    let value = Blob::<MAX_CREDENTIAL_LEN>::from_vec(value).map_err(|_| {
        ContainerError::new(
            ErrorType::AuthenticationError,
            format!("credential.value is longer than {MAX_CREDENTIAL_LEN} bytes"),
        )
    })?;
    let proof = raw.proof.as_ref().map(resolve_proof).transpose()?;
    Ok(ResolvedCredential {
        credential: Credential { kind, value },
        actor,
        proof,
    })
}

/// Decodes a proof. A proof that cannot even be decoded is a credential
/// error (AuthenticationError); whether it is right is the firmware's to
/// say.
fn resolve_proof(
    (challenge, signature): &(String, String),
) -> Result<RequestProof, ContainerError> {
    let bad = |what: &str| {
        ContainerError::new(
            ErrorType::AuthenticationError,
            format!("credential.proof.{what} is not valid"),
        )
    };
    let challenge: [u8; 32] = STANDARD
        .decode(challenge.as_bytes())
        .ok()
        .and_then(|c| c.try_into().ok())
        .ok_or_else(|| bad("challenge"))?;
    let signature = STANDARD
        .decode(signature.as_bytes())
        .ok()
        .and_then(|s| Blob::from_vec(s).ok())
        .ok_or_else(|| bad("signature"))?;
    Ok(RequestProof {
        challenge,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(body: &[u8]) -> Result<Container, ContainerError> {
        parse(body, sam_client::wire::strict::value_from_slice)
    }

    fn err(body: &str) -> ErrorType {
        match strict(body.as_bytes()) {
            Ok(c) => panic!("parsed: {c:?}"),
            Err(e) => e.error,
        }
    }

    #[test]
    fn container_errors_follow_the_seed() {
        assert_eq!(err("not json"), ErrorType::ContainerParseError);
        assert_eq!(err("[1]"), ErrorType::ContainerParseError);
        assert_eq!(err("{}"), ErrorType::ContainerParseError);
        assert_eq!(err(r#"{"operation": 5}"#), ErrorType::ContainerParseError);
        assert_eq!(
            err(r#"{"operation": "Create_New_Signer", "params": []}"#),
            ErrorType::ContainerParseError
        );
        assert_eq!(
            err(r#"{"operation": "Create_New_Signer", "extra": 1}"#),
            ErrorType::ContainerParseError
        );
        assert_eq!(
            err(r#"{"operation": "Create_New_Signer"}"#),
            ErrorType::ContainerParseError
        );
        assert_eq!(
            err(r#"{"operation": "Make_Coffee", "credential": {"type": "x", "value": ""}}"#),
            ErrorType::UnknownMessageType
        );
        let c = strict(br#"{"operation": "Signing", "params": {"sad": ""}}"#).unwrap();
        assert_eq!(c.operation, Operation::Signing);
        // A key given twice is not a well-formed container, at any depth.
        assert_eq!(
            err(r#"{"operation": "Signing", "operation": "Create_New_Signer"}"#),
            ErrorType::ContainerParseError
        );
        assert_eq!(
            err(r#"{"operation": "Signing", "params": {"sad": "", "sad": "AA=="}}"#),
            ErrorType::ContainerParseError
        );
    }

    #[test]
    fn credential_types() {
        let raw = |kind: &str, value: &str| RawCredential {
            kind: kind.into(),
            value: value.into(),
            userid: None,
            proof: None,
        };
        assert_eq!(
            resolve(&raw("password", "AA==")).unwrap_err().error,
            ErrorType::UnknownCredentialType
        );
        assert_eq!(
            resolve(&raw("identity_token", "*")).unwrap_err().error,
            ErrorType::AuthenticationError
        );
        let r = resolve(&raw("identity_token", "AAEC")).unwrap();
        assert_eq!(r.actor, None);
        assert_eq!(r.credential.kind, Credential::IDENTITY_TOKEN);
        assert_eq!(r.proof, None);
        // A proof is decoded for the firmware; one that does not decode
        // is a credential error.
        let with_proof = |challenge: &str| RawCredential {
            proof: Some((challenge.into(), "AQI=".into())),
            ..raw("identity_token", "AAEC")
        };
        let proof = resolve(&with_proof(&STANDARD.encode([9u8; 32])))
            .unwrap()
            .proof
            .unwrap();
        assert_eq!(proof.challenge, [9; 32]);
        assert_eq!(proof.signature.as_slice(), &[1, 2]);
        assert_eq!(
            resolve(&with_proof("AQI=")).unwrap_err().error,
            ErrorType::AuthenticationError
        );
        let c = strict(
            br#"{"operation": "Create_New_Signer", "credential": {"type": "identity_token",
                "value": "AA==", "proof": {"challenge": "AA==", "signature": "AA==", "x": 1}}}"#,
        );
        assert_eq!(c.unwrap_err().error, ErrorType::ContainerParseError);
    }
}

//! The SAM Peering Interface (seed §7.1) through samd's `POST /peering`:
//! creating users and signers, signer maintenance, key pairs, and
//! `Signing` with a SAD file. Each request carries the acting user's
//! identity token or, for a Privileged User Technical, a technical
//! signature over samd's challenge.

use super::{b64_all, print_json, user_id_or_random};
use crate::ctl::approval::{self, parse_uuid};
use crate::ctl::cli::{
    Algorithm, CreatePrivilegedUserArgs, CreateSignerArgs, DeleteKeyArgs, GenerateKeyArgs,
    SignArgs, SignerMaintenanceArgs,
};
use crate::ctl::client::Client;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::files;
use crate::ctl::settings::Settings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_proto::approval::{TECHNICAL, bound_digest};
use sam_proto::bounded::Blob;
use sam_proto::command::{NewUser, SubFunction, TechnicalSignature};
use serde_json::{Value, json};
use std::path::Path;

fn token_credential(path: &Path) -> CtlResult<Value> {
    let token = files::der_document(path, "identity token")?;
    Ok(json!({"type": "identity_token", "value": STANDARD.encode(token)}))
}

fn container(operation: &str, credential: Option<Value>, params: Value) -> Value {
    let mut c = json!({"operation": operation, "params": params});
    if let (Some(cred), Value::Object(m)) = (credential, &mut c) {
        m.insert("credential".into(), cred);
    }
    c
}

pub(super) async fn create_privileged_user(
    s: &Settings,
    a: CreatePrivilegedUserArgs,
) -> CtlResult<u8> {
    let user_id = user_id_or_random(a.user_id.as_deref())?;
    let mut params = json!({
        "userid": user_id.to_string(),
        "certificates": b64_all(&files::all_certificates(&a.idp_certs)?),
    });
    if let (Some(t), Value::Object(m)) = (&a.technical_cert, &mut params) {
        let cert = files::certificates(t)?
            .into_iter()
            .next()
            .ok_or_else(|| CtlError::usage("--technical-cert: no certificate"))?;
        m.insert("technical_certificate".into(), json!(STANDARD.encode(cert)));
    }
    let body = container(
        "Create_New_Privileged_User",
        Some(token_credential(&a.token.token)?),
        params,
    );
    print_json(&Client::new(s)?.post("/peering", &body).await?)
}

pub(super) async fn signer_maintenance(s: &Settings, a: SignerMaintenanceArgs) -> CtlResult<u8> {
    let user_id = parse_uuid(&a.user_id, "--user-id")?;
    let certificates = files::all_certificates(&a.idp_certs)?;
    let body = container(
        "Signer_Maintenance",
        Some(token_credential(&a.token.token)?),
        json!({"userid": user_id.to_string(), "certificates": b64_all(&certificates)}),
    );
    print_json(&Client::new(s)?.post("/peering", &body).await?)
}

pub(super) async fn create_signer(s: &Settings, a: CreateSignerArgs) -> CtlResult<u8> {
    let user_id = user_id_or_random(a.user_id.as_deref())?;
    let certificates = files::all_certificates(&a.idp_certs)?;
    let client = Client::new(s)?;
    let credential = match (&a.token, &a.technical_key, &a.technical_user) {
        (Some(t), _, _) => token_credential(t)?,
        (None, Some(k), Some(u)) => {
            let technical_user = parse_uuid(u, "--technical-user")?;
            let key = files::TechnicalKey::load(k)?;
            let c = client.post("/peering/challenge", &json!({})).await?;
            let challenge: [u8; 32] = c
                .get("challenge")
                .and_then(Value::as_str)
                .and_then(|t| STANDARD.decode(t).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| CtlError::failed("samd's challenge answer has no challenge"))?;
            let params = NewUser {
                user_id,
                certificates: approval::list(&certificates, "IdP certificate")?,
            };
            let bytes = postcard::to_allocvec(&params)
                .map_err(|e| CtlError::failed(format!("postcard: {e}")))?;
            let digest = bound_digest(
                TECHNICAL,
                SubFunction::CreateSigner,
                &challenge,
                &bytes,
                crate::ctl::approval::sha256,
            );
            let signature = Blob::from_vec(key.sign_prehash(&digest)?)
                .map_err(|_| CtlError::failed("the technical signature is too long"))?;
            let ts = postcard::to_allocvec(&TechnicalSignature {
                challenge,
                signature,
            })
            .map_err(|e| CtlError::failed(format!("postcard: {e}")))?;
            json!({
                "type": "technical_signature",
                "value": STANDARD.encode(ts),
                "userid": technical_user.to_string(),
            })
        }
        _ => {
            return Err(CtlError::usage(
                "give --token, or --technical-key with --technical-user",
            ));
        }
    };
    let body = container(
        "Create_New_Signer",
        Some(credential),
        json!({"userid": user_id.to_string(), "certificates": b64_all(&certificates)}),
    );
    print_json(&client.post("/peering", &body).await?)
}

pub(super) async fn generate_key(s: &Settings, a: GenerateKeyArgs) -> CtlResult<u8> {
    let (algorithm, parameters) = match a.algorithm {
        Algorithm::EcP256 => ("EC", json!({"curve": "1.2.840.10045.3.1.7"})),
        Algorithm::EcP384 => ("EC", json!({"curve": "1.3.132.0.34"})),
        Algorithm::Rsa2048 => ("RSA", json!({"bits": 2048})),
        Algorithm::Rsa3072 => ("RSA", json!({"bits": 3072})),
        Algorithm::Rsa4096 => ("RSA", json!({"bits": 4096})),
    };
    let user_id = parse_uuid(&a.user_id, "--user-id")?;
    let body = container(
        "Generate_Signer_Key_Pair",
        Some(token_credential(&a.token.token)?),
        json!({
            "userid": user_id.to_string(),
            "algorithm": algorithm,
            "parameters": parameters,
        }),
    );
    print_json(&Client::new(s)?.post("/peering", &body).await?)
}

pub(super) async fn delete_key(s: &Settings, a: DeleteKeyArgs) -> CtlResult<u8> {
    let key_id = parse_uuid(&a.key_id, "--key-id")?;
    let body = container(
        "Delete_Signer_Key_Pair",
        Some(token_credential(&a.token.token)?),
        json!({"keyid": key_id.to_string()}),
    );
    print_json(&Client::new(s)?.post("/peering", &body).await?)
}

pub(super) async fn sign(s: &Settings, a: SignArgs) -> CtlResult<u8> {
    let sad = files::der_document(&a.sad, "SAD")?;
    let body = container("Signing", None, json!({"sad": STANDARD.encode(sad)}));
    print_json(&Client::new(s)?.post("/peering", &body).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_without_credential() {
        let c = container("Signing", None, json!({"sad": ""}));
        assert!(c.get("credential").is_none());
    }
}

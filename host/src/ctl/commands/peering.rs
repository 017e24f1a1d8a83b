//! The SAM Peering Interface (seed §7.1) through samd's `POST /peering`:
//! creating users and signers, signer maintenance, key pairs, and
//! `Signing` with a SAD file. Each request carries the acting user's
//! identity token with its SAD key's signature over the request's intent
//! and a fresh firmware challenge or, for a Privileged User Technical, a
//! technical signature over the same.

use super::{print_json, user_id_or_random};
use crate::ctl::approval::parse_uuid;
use crate::ctl::cli::{
    Algorithm, CreatePrivilegedUserArgs, CreateSignerArgs, DeleteKeyArgs, GenerateKeyArgs,
    SignArgs, SignerMaintenanceArgs, TokenArg,
};
use crate::ctl::client::Client;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::files;
use crate::ctl::settings::Settings;
use sam_client::intent::peering_intent;
use sam_client::sad::request_digest;
use sam_client::wire::peering::{
    Challenge, Container, CredentialBody, DeleteAnswer, DeleteParams, KeyPairAnswer, KeyPairParams,
    PeeringSigningAnswer, PrivilegedUserParams, SigningParams, UserAnswer, UserParams, operation,
};
use sam_client::wire::{B64, Empty};
use sam_proto::approval::{TECHNICAL, bound_digest};
use sam_proto::bounded::Blob;
use sam_proto::command::{SubFunction, TechnicalSignature};
use sam_proto::ids::KeyAlgorithm;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// A fresh single-use challenge from `POST /peering/challenge`.
async fn challenge(client: &Client) -> CtlResult<[u8; 32]> {
    let c: Challenge = client.post("/peering/challenge", &Empty {}).await?;
    c.challenge
        .0
        .try_into()
        .map_err(|_| CtlError::failed("samd's challenge is not 32 bytes"))
}

/// The sub-function and the postcard intent of `operation` with
/// `params`: what the acting user signs.
fn intent<P: Serialize>(operation: &str, params: &P) -> CtlResult<(SubFunction, Vec<u8>)> {
    let value =
        serde_json::to_value(params).map_err(|e| CtlError::failed(format!("params: {e}")))?;
    peering_intent(operation, &value).map_err(|e| CtlError::usage(e.to_string()))
}

/// The acting user's identity token with its SAD key's proof for this
/// request: the key signs the request's intent with a fresh challenge.
async fn token_credential<P: Serialize>(
    client: &Client,
    token: &Path,
    token_key: &Path,
    operation: &str,
    params: &P,
) -> CtlResult<CredentialBody> {
    let (code, intent) = intent(operation, params)?;
    signed_token(client, token, token_key, code, &intent).await
}

/// The identity token `token` with the proof of its SAD key (`token_key`)
/// over the postcard `intent` of command `code` and a fresh challenge.
pub(super) async fn signed_token(
    client: &Client,
    token: &Path,
    token_key: &Path,
    code: SubFunction,
    intent: &[u8],
) -> CtlResult<CredentialBody> {
    let der = files::der_document(token, "identity token")?;
    let key = files::TechnicalKey::load(token_key)?;
    let challenge = challenge(client).await?;
    let signature = key.sign_prehash(&request_digest(code, &challenge, intent))?;
    Ok(CredentialBody::identity_token(&der).with_proof(&challenge, &signature))
}

/// Sends one container to `POST /peering`; `A` is the operation's answer.
async fn send<P: Serialize, A: DeserializeOwned + Serialize>(
    client: &Client,
    operation: &str,
    credential: Option<CredentialBody>,
    params: P,
) -> CtlResult<u8> {
    let body = Container::new(operation, credential, params);
    let answer: A = client.post("/peering", &body).await?;
    print_json(&answer)
}

pub(super) async fn create_privileged_user(
    s: &Settings,
    a: CreatePrivilegedUserArgs,
) -> CtlResult<u8> {
    let user_id = user_id_or_random(a.user_id.as_deref())?;
    let technical_certificate = match &a.technical_cert {
        Some(t) => Some(B64(files::certificates(t)?
            .into_iter()
            .next()
            .ok_or_else(|| CtlError::usage("--technical-cert: no certificate"))?)),
        None => None,
    };
    let params = PrivilegedUserParams {
        userid: user_id.to_string(),
        certificates: B64::all(&files::all_certificates(&a.idp_certs)?),
        technical_certificate,
    };
    let client = Client::new(s)?;
    let op = operation::CREATE_PRIVILEGED_USER;
    let credential =
        token_credential(&client, &a.token.token, &a.token.token_key, op, &params).await?;
    send::<_, UserAnswer>(&client, op, Some(credential), params).await
}

pub(super) async fn signer_maintenance(s: &Settings, a: SignerMaintenanceArgs) -> CtlResult<u8> {
    let user_id = parse_uuid(&a.user_id, "--user-id")?;
    let params = UserParams {
        userid: user_id.to_string(),
        certificates: B64::all(&files::all_certificates(&a.idp_certs)?),
    };
    let client = Client::new(s)?;
    let op = operation::SIGNER_MAINTENANCE;
    let credential =
        token_credential(&client, &a.token.token, &a.token.token_key, op, &params).await?;
    send::<_, UserAnswer>(&client, op, Some(credential), params).await
}

pub(super) async fn create_signer(s: &Settings, a: CreateSignerArgs) -> CtlResult<u8> {
    let user_id = user_id_or_random(a.user_id.as_deref())?;
    let certificates = files::all_certificates(&a.idp_certs)?;
    let client = Client::new(s)?;
    let params = UserParams {
        userid: user_id.to_string(),
        certificates: B64::all(&certificates),
    };
    let op = operation::CREATE_SIGNER;
    let credential = match (&a.token, &a.token_key, &a.technical_key, &a.technical_user) {
        (Some(t), Some(k), _, _) => token_credential(&client, t, k, op, &params).await?,
        (None, _, Some(k), Some(u)) => {
            let technical_user = parse_uuid(u, "--technical-user")?;
            let key = files::TechnicalKey::load(k)?;
            let (code, intent) = intent(op, &params)?;
            let challenge = challenge(&client).await?;
            let digest = bound_digest(
                TECHNICAL,
                code,
                &challenge,
                &intent,
                crate::ctl::approval::sha256,
            );
            let signature = Blob::from_vec(key.sign_prehash(&digest)?)
                .map_err(|_| CtlError::failed("the technical signature is too long"))?;
            let ts = postcard::to_allocvec(&TechnicalSignature {
                challenge,
                signature,
            })
            .map_err(|e| CtlError::failed(format!("postcard: {e}")))?;
            CredentialBody::technical_signature(&ts, technical_user.to_string())
        }
        _ => {
            return Err(CtlError::usage(
                "give --token with --token-key, or --technical-key with --technical-user",
            ));
        }
    };
    send::<_, UserAnswer>(&client, op, Some(credential), params).await
}

pub(super) async fn generate_key(s: &Settings, a: GenerateKeyArgs) -> CtlResult<u8> {
    let user_id = parse_uuid(&a.user_id, "--user-id")?;
    let subject = match &a.subject {
        Some(dn) => {
            use der::Encode;
            Some(
                <x509_cert::name::Name as std::str::FromStr>::from_str(dn)
                    .and_then(|n| n.to_der())
                    .map_err(|e| CtlError::usage(format!("--subject: {e}")))?,
            )
        }
        None => None,
    };
    print_json(&generate(s, &a.token, user_id, a.algorithm, subject).await?)
}

/// Generate_Signer_Key_Pair for `user_id`, asked by the user of `token`,
/// with the certification request for the DER `subject` (default
/// `CN=<user-id>`): samd's answer.
pub(super) async fn generate(
    s: &Settings,
    token: &TokenArg,
    user_id: sam_proto::ids::Uuid,
    algorithm: Algorithm,
    subject: Option<Vec<u8>>,
) -> CtlResult<KeyPairAnswer> {
    let algorithm = match algorithm {
        Algorithm::EcP256 => KeyAlgorithm::EcP256,
        Algorithm::EcP384 => KeyAlgorithm::EcP384,
        Algorithm::Rsa2048 => KeyAlgorithm::Rsa2048,
        Algorithm::Rsa3072 => KeyAlgorithm::Rsa3072,
        Algorithm::Rsa4096 => KeyAlgorithm::Rsa4096,
    };
    let mut params = KeyPairParams::new(user_id.to_string(), algorithm);
    params.subject = subject.map(B64);
    let client = Client::new(s)?;
    let op = operation::GENERATE_KEY_PAIR;
    let credential = token_credential(&client, &token.token, &token.token_key, op, &params).await?;
    let body = Container::new(op, Some(credential), params);
    client.post("/peering", &body).await
}

pub(super) async fn delete_key(s: &Settings, a: DeleteKeyArgs) -> CtlResult<u8> {
    let key_id = parse_uuid(&a.key_id, "--key-id")?;
    let params = DeleteParams {
        keyid: key_id.to_string(),
    };
    let client = Client::new(s)?;
    let op = operation::DELETE_KEY_PAIR;
    let credential =
        token_credential(&client, &a.token.token, &a.token.token_key, op, &params).await?;
    send::<_, DeleteAnswer>(&client, op, Some(credential), params).await
}

pub(super) async fn sign(s: &Settings, a: SignArgs) -> CtlResult<u8> {
    let sad = files::der_document(&a.sad, "SAD")?;
    send::<_, PeeringSigningAnswer>(
        &Client::new(s)?,
        operation::SIGNING,
        None,
        SigningParams { sad: B64(sad) },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_without_credential() {
        let c = Container::new(
            operation::SIGNING,
            None,
            SigningParams {
                sad: B64::default(),
            },
        );
        let c = serde_json::to_value(c).unwrap();
        assert!(c.get("credential").is_none());
    }
}

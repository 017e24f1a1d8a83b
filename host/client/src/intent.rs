//! The intent of a peering request, computed from what the client sends
//! (the container's operation and JSON parameters), as the firmware
//! computes it from the request samd forwards (`sam_proto::intent`).
//!
//! A client signs this intent with a firmware challenge: with the SAD key
//! of its identity token ([`crate::SadKey::sign_request`]) or with a
//! Privileged User Technical's key. samd adds the records and keys it
//! looks up; they are not part of the intent, so a client anywhere can
//! compute it.

use crate::ClientError;
use crate::wire::B64;
use crate::wire::peering::{
    DeleteParams, KeyPairParams, PrivilegedUserParams, UserParams, operation,
};
use sam_proto::bounded::{Blob, List};
use sam_proto::command::{NewUser, SubFunction};
use sam_proto::ids::Uuid;
use sam_proto::intent::Intent;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn params<P: DeserializeOwned>(params: &Value) -> Result<P, ClientError> {
    serde_json::from_value(params.clone())
        .map_err(|e| ClientError::InvalidInput(format!("peering parameters: {e}")))
}

fn uuid(text: &str, field: &str) -> Result<Uuid, ClientError> {
    Uuid::parse(text).map_err(|_| ClientError::InvalidInput(format!("`{field}` is not a UUID")))
}

fn blob<const N: usize>(bytes: &[u8], field: &str) -> Result<Blob<N>, ClientError> {
    Blob::new(bytes).map_err(|_| ClientError::InvalidInput(format!("`{field}` is too long")))
}

fn blobs<const N: usize, const M: usize>(
    items: &[B64],
    field: &str,
) -> Result<List<Blob<N>, M>, ClientError> {
    let v = items
        .iter()
        .map(|b| blob(&b.0, field))
        .collect::<Result<Vec<_>, _>>()?;
    List::from_vec(v).map_err(|_| ClientError::InvalidInput(format!("too many `{field}`")))
}

/// The sub-function code and the postcard intent of the container
/// operation `operation` (seed name) with JSON `params`. Signing has none:
/// its SAD is its own proof.
/// The sub-function and the postcard intent of registering `certificate`
/// (DER) for the key `key_id` (`POST /objects`): what the acting user
/// signs.
pub fn register_certificate_intent(
    key_id: sam_proto::ids::KeyId,
    certificate: &[u8],
) -> Result<(SubFunction, Vec<u8>), ClientError> {
    let certificate = blob(certificate, "certificate")?;
    let bytes = Intent::RegisterCertificate {
        key_id,
        certificate: &certificate,
    }
    .encode()
    .ok_or_else(|| ClientError::InvalidInput("the intent does not encode".into()))?;
    Ok((SubFunction::RegisterCertificate, bytes))
}

pub fn peering_intent(
    operation: &str,
    params_json: &Value,
) -> Result<(SubFunction, Vec<u8>), ClientError> {
    let encode = |intent: Intent<'_>| {
        intent
            .encode()
            .ok_or_else(|| ClientError::InvalidInput("the intent does not encode".into()))
    };
    match operation {
        operation::CREATE_PRIVILEGED_USER => {
            let p: PrivilegedUserParams = params(params_json)?;
            let user = NewUser {
                user_id: uuid(&p.userid, "userid")?,
                certificates: blobs(&p.certificates, "certificates")?,
            };
            let technical = p
                .technical_certificate
                .map(|c| blob(&c.0, "technical_certificate"))
                .transpose()?;
            let bytes = encode(Intent::CreatePrivilegedUser {
                user: &user,
                technical_certificate: technical.as_ref(),
            })?;
            Ok((SubFunction::CreatePrivilegedUser, bytes))
        }
        operation::CREATE_SIGNER => {
            let p: UserParams = params(params_json)?;
            let user = NewUser {
                user_id: uuid(&p.userid, "userid")?,
                certificates: blobs(&p.certificates, "certificates")?,
            };
            let bytes = encode(Intent::CreateSigner { user: &user })?;
            Ok((SubFunction::CreateSigner, bytes))
        }
        operation::SIGNER_MAINTENANCE => {
            let p: UserParams = params(params_json)?;
            let certificates = blobs(&p.certificates, "certificates")?;
            let bytes = encode(Intent::SignerMaintenance {
                target: uuid(&p.userid, "userid")?,
                certificates: &certificates,
            })?;
            Ok((SubFunction::SignerMaintenance, bytes))
        }
        operation::GENERATE_KEY_PAIR => {
            let p: KeyPairParams = params(params_json)?;
            let algorithm = p.key_algorithm().ok_or_else(|| {
                ClientError::InvalidInput(format!(
                    "unsupported algorithm {} with parameters {}",
                    p.algorithm, p.parameters
                ))
            })?;
            let subject = blob(
                &p.csr_subject().map_err(ClientError::InvalidInput)?,
                "subject",
            )?;
            let bytes = encode(Intent::GenerateKeyPair {
                target: uuid(&p.userid, "userid")?,
                algorithm,
                subject: Some(&subject),
            })?;
            Ok((SubFunction::GenerateKeyPair, bytes))
        }
        operation::DELETE_KEY_PAIR => {
            let p: DeleteParams = params(params_json)?;
            let bytes = encode(Intent::DeleteKeyPair {
                key_id: uuid(&p.keyid, "keyid")?,
            })?;
            Ok((SubFunction::DeleteKeyPair, bytes))
        }
        other => Err(ClientError::InvalidInput(format!(
            "operation {other:?} takes no signed intent"
        ))),
    }
}

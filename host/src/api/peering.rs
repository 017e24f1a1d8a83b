//! The SAM Peering Interface operations (seed §7.1).
//!
//! Each handler looks up what the firmware needs (the acting user's
//! record, the target's record, the wrapped key), sends one firmware
//! command, and stores the firmware's answer together with its audit
//! record in one durable write before it answers. A refusal's audit record
//! is stored too. The host checks nothing the firmware checks: which
//! records it supplies only decides whether the firmware can find them.

use super::App;
use super::container::{self, Container, Operation, RawCredential};
use super::error::ApiError;
use super::json::{B64, b64, blob, blobs, parse_params, uuid};
use super::response::{Reply, ok_json};
use crate::store::{Link, ManagedObject, ObjectState, ObjectType, UserRow, WriteBatch, WriteOp};
use crate::transport::FirmwareRefusal;
use sam_client::wire::peering::{
    DeleteAnswer, DeleteParams, KeyPairAnswer, KeyPairParams, PeeringSigningAnswer,
    PrivilegedUserParams, UserAnswer, UserParams,
};
use sam_proto::ErrorType;
use sam_proto::codes::Cause;
use sam_proto::command::{
    Authentication, CreatePrivilegedUser, CreateSigner, DeleteKeyPair, GenerateKeyPair, NewUser,
    SignerMaintenance, SubFunction, UserIssued,
};
use sam_proto::ids::{KeyAlgorithm, Role, Uuid};
use sam_proto::records::{AuditRecord, SealedUserRecord, WrappedKey};
use serde_json::json;

pub(super) use sam_client::wire::peering::SigningParams;

/// The firmware sub-function of a container operation (the audit
/// record's action when samd reports a refusal of it).
pub(super) const fn sub_function(o: Operation) -> SubFunction {
    match o {
        Operation::CreatePrivilegedUser => SubFunction::CreatePrivilegedUser,
        Operation::CreateSigner => SubFunction::CreateSigner,
        Operation::SignerMaintenance => SubFunction::SignerMaintenance,
        Operation::GenerateKeyPair => SubFunction::GenerateKeyPair,
        Operation::DeleteKeyPair => SubFunction::DeleteKeyPair,
        Operation::Signing => SubFunction::Signing,
    }
}

/// The name of a role as stored in the `users.role` column.
pub(super) const fn role_name(role: Role) -> &'static str {
    match role {
        Role::PrivilegedUser => "PrivilegedUser",
        Role::Signer => "Signer",
        Role::PrivilegedUserTechnical => "PrivilegedUserTechnical",
    }
}

/// The row to store for a record the firmware issued.
pub(super) fn user_row(record: &SealedUserRecord) -> Result<UserRow, ApiError> {
    let bytes = postcard::to_allocvec(record).map_err(|e| {
        ApiError::seed(
            ErrorType::UnexpectedError,
            format!("user record does not encode: {e}"),
        )
    })?;
    Ok(UserRow {
        user_id: record.record.user_id.to_string(),
        role: role_name(record.record.role).into(),
        generation: record.record.generation,
        record: bytes,
    })
}

/// The algorithm named by the seed's `algorithm` and `parameters`.
fn key_algorithm(p: &KeyPairParams) -> Result<KeyAlgorithm, ApiError> {
    p.key_algorithm().ok_or_else(|| {
        ApiError::refused(
            ErrorType::InvalidAlgorithm,
            Cause::HostUnknownAlgorithm,
            format!(
                "unsupported algorithm {} with parameters {}",
                p.algorithm, p.parameters
            ),
        )
    })
}

/// A readable algorithm name for attributes.
pub(super) const fn algorithm_name(a: KeyAlgorithm) -> &'static str {
    match a {
        KeyAlgorithm::EcP256 => "EC P-256",
        KeyAlgorithm::EcP384 => "EC P-384",
        KeyAlgorithm::Rsa2048 => "RSA 2048",
        KeyAlgorithm::Rsa3072 => "RSA 3072",
        KeyAlgorithm::Rsa4096 => "RSA 4096",
    }
}

impl App {
    /// Stores a refusal's audit record, then returns the error to answer
    /// with. If the audit record cannot be stored, the answer is the
    /// store's error: the client must not see an outcome whose audit
    /// record is not durable.
    pub(super) async fn refused(&self, r: FirmwareRefusal) -> ApiError {
        if let Some(audit) = r.audit.clone()
            && let Err(e) = self.store.write(WriteBatch::audit_only([audit])).await
        {
            return ApiError::from(e).accounted();
        }
        r.into()
    }

    /// Makes an accepted operation durable; a store refusal after the
    /// firmware said yes is logged (the audit record, already stored,
    /// says success).
    pub(super) async fn persist(
        &self,
        operation: &str,
        audit: Vec<AuditRecord>,
        ops: Vec<WriteOp>,
    ) -> Result<(), ApiError> {
        self.store
            .write(WriteBatch { audit, ops })
            .await
            .map_err(|e| {
                tracing::warn!(operation, error = %e, "firmware accepted, store refused");
                ApiError::from(e).accounted()
            })
    }

    /// The credential and the acting user's record.
    pub(super) async fn authentication(
        &self,
        raw: &RawCredential,
    ) -> Result<Authentication, ApiError> {
        let resolved = container::resolve(raw)?;
        let actor = match resolved.actor {
            Some(id) => self.store.user(id.to_string()).await?,
            None => None,
        };
        Ok(Authentication {
            credential: resolved.credential,
            actor,
            proof: resolved.proof,
        })
    }

    /// The stored record of a target user. A target the host does not
    /// know is refused here: the protocol's "no target" means "the acting
    /// user", so the host must never send `None` for a missing record.
    async fn target(&self, user_id: Uuid) -> Result<SealedUserRecord, ApiError> {
        self.store.user(user_id.to_string()).await?.ok_or_else(|| {
            ApiError::refused(
                ErrorType::InvalidInput,
                Cause::HostNoSuchUser,
                format!("no user record for userid {user_id}"),
            )
        })
    }

    async fn ensure_new_user(&self, user_id: Uuid) -> Result<(), ApiError> {
        if self.store.user_exists(user_id.to_string()).await? {
            return Err(ApiError::refused(
                ErrorType::InvalidInput,
                Cause::HostUserExists,
                format!("user {user_id} already exists"),
            ));
        }
        Ok(())
    }

    /// Stores a new or maintained user record with its audit record.
    async fn issued(
        &self,
        operation: Operation,
        issued: UserIssued,
        insert: bool,
    ) -> Result<Reply, ApiError> {
        let row = user_row(&issued.record)?;
        let op = if insert {
            WriteOp::InsertUser(row)
        } else {
            WriteOp::UpdateUser(row)
        };
        let seq = issued.audit.entry.seq;
        self.persist(operation.name(), vec![issued.audit], vec![op])
            .await?;
        let r = &issued.record.record;
        Ok(ok_json(&UserAnswer {
            userid: r.user_id.to_string(),
            role: role_name(r.role).into(),
            generation: r.generation,
            audit_seq: seq,
        }))
    }

    /// Runs one container operation.
    pub(super) async fn peering(&self, c: Container) -> Result<Reply, ApiError> {
        if c.operation == Operation::Signing {
            let p: SigningParams = parse_params(c.params)?;
            // A credential sent with the SAD goes to the firmware, which
            // refuses the SAD if the two tokens name different users.
            let credential = c
                .credential
                .as_ref()
                .map(|raw| container::resolve(raw).map(|r| r.credential))
                .transpose()?;
            let (signatures, seq) = self.sign(p.sad.0, credential).await?;
            return Ok(ok_json(&PeeringSigningAnswer {
                sigbin: signatures.into_iter().map(B64).collect(),
                audit_seq: seq,
            }));
        }
        // The container parser already refused a missing credential for
        // every operation but Signing.
        let raw = c.credential.ok_or_else(|| {
            ApiError::seed(ErrorType::ContainerParseError, "`credential` is missing")
        })?;
        match c.operation {
            Operation::CreatePrivilegedUser => {
                self.create_privileged_user(&raw, parse_params(c.params)?)
                    .await
            }
            Operation::CreateSigner => self.create_signer(&raw, parse_params(c.params)?).await,
            Operation::SignerMaintenance => {
                self.signer_maintenance(&raw, parse_params(c.params)?).await
            }
            Operation::GenerateKeyPair => {
                self.generate_key_pair(&raw, parse_params(c.params)?).await
            }
            Operation::DeleteKeyPair => self.delete_key_pair(&raw, parse_params(c.params)?).await,
            Operation::Signing => Err(ApiError::seed(
                ErrorType::UnexpectedError,
                "Signing is dispatched above",
            )),
        }
    }

    async fn create_privileged_user(
        &self,
        raw: &RawCredential,
        p: PrivilegedUserParams,
    ) -> Result<Reply, ApiError> {
        let user_id = uuid(&p.userid, "userid")?;
        let user = NewUser {
            user_id,
            certificates: blobs(&p.certificates, "certificates")?,
        };
        let technical_certificate = p
            .technical_certificate
            .map(|c| blob(&c.0, "technical_certificate"))
            .transpose()?;
        let auth = self.authentication(raw).await?;
        self.ensure_new_user(user_id).await?;
        let req = CreatePrivilegedUser {
            auth,
            user,
            technical_certificate,
        };
        match self.firmware.call(&req).await {
            Ok(issued) => {
                self.issued(Operation::CreatePrivilegedUser, issued, true)
                    .await
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    async fn create_signer(&self, raw: &RawCredential, p: UserParams) -> Result<Reply, ApiError> {
        let user_id = uuid(&p.userid, "userid")?;
        let user = NewUser {
            user_id,
            certificates: blobs(&p.certificates, "certificates")?,
        };
        let auth = self.authentication(raw).await?;
        self.ensure_new_user(user_id).await?;
        match self.firmware.call(&CreateSigner { auth, user }).await {
            Ok(issued) => self.issued(Operation::CreateSigner, issued, true).await,
            Err(r) => Err(self.refused(r).await),
        }
    }

    async fn signer_maintenance(
        &self,
        raw: &RawCredential,
        p: UserParams,
    ) -> Result<Reply, ApiError> {
        let user_id = uuid(&p.userid, "userid")?;
        let certificates = blobs(&p.certificates, "certificates")?;
        let auth = self.authentication(raw).await?;
        let target = self.target(user_id).await?;
        let req = SignerMaintenance {
            auth,
            target: Some(target),
            certificates,
        };
        match self.firmware.call(&req).await {
            Ok(issued) => {
                self.issued(Operation::SignerMaintenance, issued, false)
                    .await
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    async fn generate_key_pair(
        &self,
        raw: &RawCredential,
        p: KeyPairParams,
    ) -> Result<Reply, ApiError> {
        let user_id = uuid(&p.userid, "userid")?;
        let algorithm = key_algorithm(&p)?;
        // The certification request is made by the firmware in the same
        // operation, for the subject the client signed (by default
        // `CN=<userid>`, computed by the same function on both sides).
        let subject = p
            .csr_subject()
            .map_err(|e| ApiError::seed(ErrorType::InvalidInput, e))?;
        let subject = blob(&subject, "subject")?;
        let auth = self.authentication(raw).await?;
        let target = self.target(user_id).await?;
        let req = GenerateKeyPair {
            auth,
            target: Some(target),
            algorithm,
            subject: Some(subject),
        };
        let generated = match self.firmware.call(&req).await {
            Ok(g) => g,
            Err(r) => return Err(self.refused(r).await),
        };
        let wrapped = generated.wrapped;
        let csr = generated.csr.map(|c| c.into_vec());
        let seq = generated.audit.entry.seq;
        let ops = key_objects(&wrapped, &generated.attestation, csr.as_deref())?;
        self.persist(
            Operation::GenerateKeyPair.name(),
            vec![generated.audit],
            ops,
        )
        .await?;
        Ok(ok_json(&KeyPairAnswer {
            keyid: wrapped.key_id.to_string(),
            userid: wrapped.user_id.to_string(),
            algorithm: algorithm_name(wrapped.algorithm).into(),
            publickey: B64::of(&wrapped.public_key),
            attestation: B64::of(&generated.attestation),
            csr: csr.map(B64),
            audit_seq: Some(seq),
        }))
    }

    async fn delete_key_pair(
        &self,
        raw: &RawCredential,
        p: DeleteParams,
    ) -> Result<Reply, ApiError> {
        let key_id = uuid(&p.keyid, "keyid")?;
        let auth = self.authentication(raw).await?;
        let wrapped = self
            .store
            .signer_key(key_id.to_string())
            .await?
            .map(|(w, _)| w);
        let req = DeleteKeyPair {
            auth,
            key_id,
            wrapped,
        };
        match self.firmware.call(&req).await {
            Ok(done) => {
                let seq = done.audit.entry.seq;
                self.persist(
                    Operation::DeleteKeyPair.name(),
                    vec![done.audit],
                    vec![WriteOp::DestroyKey {
                        key_id: key_id.to_string(),
                    }],
                )
                .await?;
                Ok(ok_json(&DeleteAnswer {
                    keyid: key_id.to_string(),
                    state: ObjectState::Destroyed.name().into(),
                    audit_seq: seq,
                }))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }
}

/// The key manager objects of a new key: the wrapped key (`PRIVATE_KEY`),
/// its public key with the attestation, and the certificate request, all
/// linked to the private key.
fn key_objects(
    wrapped: &WrappedKey,
    attestation: &[u8],
    csr: Option<&[u8]>,
) -> Result<Vec<WriteOp>, ApiError> {
    let key_id = wrapped.key_id.to_string();
    let user_id = wrapped.user_id.to_string();
    let now = crate::store::unix_now();
    let value = postcard::to_allocvec(wrapped).map_err(|e| {
        ApiError::seed(
            ErrorType::UnexpectedError,
            format!("wrapped key does not encode: {e}"),
        )
    })?;
    let object = |id: String, object_type, state, value, attributes| ManagedObject {
        id,
        object_type,
        state,
        key_id: key_id.clone(),
        user_id: user_id.clone(),
        value: Some(value),
        attributes,
        created: now,
        updated: now,
    };
    let base = json!({
        "algorithm": algorithm_name(wrapped.algorithm),
        "generated": wrapped.created,
    });
    let public_id = format!("{key_id}/public-key");
    let mut ops = vec![
        WriteOp::InsertObject(object(
            key_id.clone(),
            ObjectType::PrivateKey,
            ObjectState::PreActive,
            value,
            base.clone(),
        )),
        WriteOp::InsertObject(object(
            public_id.clone(),
            ObjectType::PublicKey,
            ObjectState::PreActive,
            wrapped.public_key.to_vec(),
            json!({
                "algorithm": algorithm_name(wrapped.algorithm),
                "generated": wrapped.created,
                "attestation": b64(attestation),
            }),
        )),
        WriteOp::InsertLink(Link {
            from_id: key_id.clone(),
            to_id: public_id.clone(),
            kind: ObjectType::PublicKey.name().into(),
        }),
        WriteOp::InsertLink(Link {
            from_id: public_id,
            to_id: key_id.clone(),
            kind: ObjectType::PrivateKey.name().into(),
        }),
    ];
    if let Some(csr) = csr {
        let csr_id = format!("{key_id}/csr");
        ops.push(WriteOp::InsertObject(object(
            csr_id.clone(),
            ObjectType::CertificateRequest,
            ObjectState::Active,
            csr.to_vec(),
            base,
        )));
        ops.push(WriteOp::InsertLink(Link {
            from_id: csr_id,
            to_id: key_id.clone(),
            kind: ObjectType::PrivateKey.name().into(),
        }));
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_from_seed_parameters() {
        let params = |a: &str, p: serde_json::Value| KeyPairParams {
            userid: String::new(),
            algorithm: a.into(),
            parameters: p,
            subject: None,
        };
        let ok = |a: &str, p: serde_json::Value| key_algorithm(&params(a, p)).unwrap();
        assert_eq!(
            ok("EC", json!({"curve": "1.2.840.10045.3.1.7"})),
            KeyAlgorithm::EcP256
        );
        assert_eq!(ok("EC", json!("1.3.132.0.34")), KeyAlgorithm::EcP384);
        assert_eq!(ok("RSA", json!({"bits": 3072})), KeyAlgorithm::Rsa3072);
        assert_eq!(ok("rsa", json!(2048)), KeyAlgorithm::Rsa2048);
        for (a, p) in [
            ("EC", json!({"curve": "1.3.132.0.35"})),
            ("RSA", json!({"bits": 1024})),
            ("DSA", json!({})),
        ] {
            let e = key_algorithm(&params(a, p)).unwrap_err();
            assert_eq!(e.name(), "InvalidAlgorithm");
        }
    }
}

//! Management endpoints for `samctl` (seed §5.7, Table 51).
//!
//! Initialization, IdP keys and the first Privileged User are dual-control
//! commands: two administrators sign the command offline with their own
//! keys (`samctl` does it), over a challenge from `POST /admin/challenge`.
//! The host only relays the approvals; the firmware verifies them, and
//! the host never holds an administrator key.

use super::App;
use super::error::ApiError;
use super::json::{B64, b64, blob, blobs, parse_body, uuid};
use super::peering::{role_name, user_row};
use super::response::{Reply, ok_json};
use crate::store::WriteOp;
use sam_proto::ErrorType;
use sam_proto::bounded::List;
use sam_proto::command::{
    Approval, Approvals, EnrolPrivilegedUser, FirmwareState, GetChallenge, GetStatus,
    IdpKeysParams, InitFirmware, InitParams, NewUser, SetIdpKeys,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalJson {
    admin: B64,
    signature: B64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsJson {
    challenge: B64,
    approvals: Vec<ApprovalJson>,
}

impl ApprovalsJson {
    fn into_proto(self) -> Result<Approvals, ApiError> {
        let challenge: [u8; 32] = self.challenge.0.as_slice().try_into().map_err(|_| {
            ApiError::seed(
                ErrorType::MessageParseError,
                "approvals.challenge is not 32 bytes",
            )
        })?;
        let mut approvals = Vec::with_capacity(self.approvals.len());
        for a in self.approvals {
            approvals.push(Approval {
                admin: blob(&a.admin.0, "approval admin key")?,
                signature: blob(&a.signature.0, "approval signature")?,
            });
        }
        Ok(Approvals {
            challenge,
            approvals: List::from_vec(approvals)
                .map_err(|_| ApiError::seed(ErrorType::MessageParseError, "too many approvals"))?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitJson {
    admins: Vec<B64>,
    approvals: ApprovalsJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdpKeysJson {
    certificates: Vec<B64>,
    approvals: ApprovalsJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolJson {
    userid: String,
    certificates: Vec<B64>,
    approvals: ApprovalsJson,
}

/// The JSON name of a firmware state.
pub(super) const fn state_name(s: FirmwareState) -> &'static str {
    match s {
        FirmwareState::Uninitialized => "Uninitialized",
        FirmwareState::Operational => "Operational",
        FirmwareState::Failed => "Failed",
    }
}

impl App {
    /// `GET /admin/status`: the firmware's status and the store's counts.
    pub(super) async fn admin_status(&self) -> Result<Reply, ApiError> {
        let store = self.store.counts().await?;
        let firmware = match self.firmware.call(&GetStatus).await {
            Ok(s) => json!({
                "reachable": true,
                "version": format!("{}.{}", s.firmware_version >> 8, s.firmware_version & 0xff),
                "state": state_name(s.state),
                "boot": s.boot,
                "next_audit_seq": s.next_audit_seq,
                "audit_head": hex::encode(s.audit_head),
                "attestation_key": s.attestation_key.as_deref().map(b64),
                "admins": s.admins,
                "idp_keys": s.idp_keys,
            }),
            Err(r) => json!({"reachable": false, "error": r.error.name(), "detail": r.detail}),
        };
        Ok(ok_json(&json!({
            "firmware": firmware,
            "transport": self.firmware.transport_kind(),
            "store": {
                "path": self.store.path().display().to_string(),
                "failed": self.store.is_failed(),
                "users": store.users,
                "objects": store.objects,
                "audit_records": store.audit,
                "last_audit_seq": store.last_audit_seq,
            },
        })))
    }

    /// `POST /admin/challenge` and `POST /peering/challenge`: a single-use
    /// challenge for approvals and technical signatures.
    pub(super) async fn challenge(&self) -> Result<Reply, ApiError> {
        let c = self.firmware.call(&GetChallenge).await?;
        Ok(ok_json(&json!({
            "challenge": b64(&c.challenge),
            "expires": c.expires,
        })))
    }

    /// `POST /admin/init` (seed "Initialize SAM Firmware").
    pub(super) async fn admin_init(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: InitJson = parse_body(body)?;
        let req = InitFirmware {
            params: InitParams {
                admins: blobs(&p.admins, "admins")?,
            },
            approvals: p.approvals.into_proto()?,
        };
        match self.firmware.call(&req).await {
            Ok(done) => {
                let seq = done.audit.entry.seq;
                self.persist("Initialize_SAM_Firmware", vec![done.audit], Vec::new())
                    .await?;
                Ok(ok_json(&json!({
                    "attestation_key": b64(&done.attestation_key),
                    "audit_seq": seq,
                })))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    /// `POST /admin/idp-keys` (seed "Set IdP Public Keys").
    pub(super) async fn admin_idp_keys(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: IdpKeysJson = parse_body(body)?;
        let req = SetIdpKeys {
            params: IdpKeysParams {
                certificates: blobs(&p.certificates, "certificates")?,
            },
            approvals: p.approvals.into_proto()?,
        };
        match self.firmware.call(&req).await {
            Ok(done) => {
                let seq = done.audit.entry.seq;
                self.persist("Set_IdP_Public_Keys", vec![done.audit], Vec::new())
                    .await?;
                Ok(ok_json(&json!({
                    "fingerprints": done.fingerprints.iter().map(hex::encode).collect::<Vec<_>>(),
                    "audit_seq": seq,
                })))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    /// `POST /admin/enrol-privileged-user`: the first Privileged User.
    pub(super) async fn admin_enrol(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: EnrolJson = parse_body(body)?;
        let user_id = uuid(&p.userid, "userid")?;
        let req = EnrolPrivilegedUser {
            params: NewUser {
                user_id,
                certificates: blobs(&p.certificates, "certificates")?,
            },
            approvals: p.approvals.into_proto()?,
        };
        if self.store.user_exists(user_id.to_string()).await? {
            return Err(ApiError::seed(
                ErrorType::InvalidInput,
                format!("user {user_id} already exists"),
            ));
        }
        match self.firmware.call(&req).await {
            Ok(issued) => {
                let seq = issued.audit.entry.seq;
                let row = user_row(&issued.record)?;
                self.persist(
                    "Enrol_Privileged_User",
                    vec![issued.audit],
                    vec![WriteOp::InsertUser(row)],
                )
                .await?;
                Ok(ok_json(&json!({
                    "userid": user_id.to_string(),
                    "role": role_name(issued.record.record.role),
                    "audit_seq": seq,
                })))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }
}

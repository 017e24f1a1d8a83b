//! Management endpoints for `samctl` (seed §5.7, Table 51).
//!
//! Initialization, IdP keys and the first Privileged User are dual-control
//! commands: two administrators sign the command offline with their own
//! keys (`samctl` does it), over a challenge from `POST /admin/challenge`.
//! The host only relays the approvals; the firmware verifies them, and
//! the host never holds an administrator key.

use super::App;
use super::error::ApiError;
use super::json::{B64, blob, blobs, parse_body, uuid};
use super::peering::{role_name, user_row};
use super::response::{Reply, ok_json};
use crate::store::{WriteBatch, WriteOp, decode_audit, decode_checkpoint};
use sam_client::wire::admin::{
    Approvals as ApprovalsJson, AuditPage, AuditRow, Checkpoint, DecodedAudit, EnrolAnswer,
    EnrolRequest, FirmwareStatus, IdpKeysAnswer, IdpKeysRequest, InitAnswer, InitRequest,
    PolicyAnswer, PolicyRequest, ReachableFirmware, StatusAnswer, StoreStatus, UndecodableAudit,
    UnreachableFirmware,
};
use sam_client::wire::peering::Challenge;
use sam_proto::ErrorType;
use sam_proto::bounded::List;
use sam_proto::command::{
    Approval, Approvals, EnrolPrivilegedUser, FirmwareState, GetAuditCheckpoint, GetChallenge,
    GetStatus, IdpKeysParams, InitFirmware, InitParams, NewUser, OperatorLogon, PolicyParams,
    SetIdpKeys, SetPolicy,
};
use sam_proto::records::AuditCheckpoint;

/// The approvals as the firmware takes them.
fn approvals(a: ApprovalsJson) -> Result<Approvals, ApiError> {
    let challenge: [u8; 32] = a.challenge.0.as_slice().try_into().map_err(|_| {
        ApiError::seed(
            ErrorType::MessageParseError,
            "approvals.challenge is not 32 bytes",
        )
    })?;
    let mut list = Vec::with_capacity(a.approvals.len());
    for one in a.approvals {
        list.push(Approval {
            admin: blob(&one.admin.0, "approval admin key")?,
            signature: blob(&one.signature.0, "approval signature")?,
        });
    }
    Ok(Approvals {
        challenge,
        approvals: List::from_vec(list)
            .map_err(|_| ApiError::seed(ErrorType::MessageParseError, "too many approvals"))?,
    })
}

/// Most audit records one `GET /admin/audit` page returns.
const MAX_AUDIT_PAGE: usize = 1000;

/// The `after` and `limit` of an audit page query.
fn audit_query(query: Option<&str>) -> Result<(i64, usize), ApiError> {
    let bad = |m: String| ApiError::seed(ErrorType::MessageParseError, m);
    let (mut after, mut limit) = (-1i64, MAX_AUDIT_PAGE);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "after" => {
                after = v
                    .parse::<i64>()
                    .ok()
                    .filter(|a| *a >= -1)
                    .ok_or_else(|| bad(format!("bad after {v:?}")))?;
            }
            "limit" => {
                let n: usize = v.parse().map_err(|_| bad(format!("bad limit {v:?}")))?;
                limit = n.clamp(1, MAX_AUDIT_PAGE);
            }
            other => return Err(bad(format!("unsupported query parameter {other:?}"))),
        }
    }
    Ok((after, limit))
}

/// A checkpoint as JSON.
fn checkpoint_json(c: &AuditCheckpoint) -> Checkpoint {
    Checkpoint {
        next_seq: c.next_seq,
        head: hex::encode(c.head),
        boot: c.boot,
        time: c.time,
        signature: B64::of(&c.signature),
    }
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
            Ok(s) => FirmwareStatus::Reachable(ReachableFirmware {
                reachable: true,
                version: format!("{}.{}", s.firmware_version >> 8, s.firmware_version & 0xff),
                state: state_name(s.state).into(),
                boot: s.boot,
                next_audit_seq: s.next_audit_seq,
                audit_head: hex::encode(s.audit_head),
                attestation_key: s.attestation_key.as_deref().map(B64::of),
                admins: s.admins,
                idp_keys: s.idp_keys,
            }),
            Err(r) => FirmwareStatus::Unreachable(UnreachableFirmware {
                reachable: false,
                error: r.error.name().into(),
                detail: r.detail,
            }),
        };
        Ok(ok_json(&StatusAnswer {
            firmware,
            transport: self.firmware.transport_kind().into(),
            store: StoreStatus {
                path: self.store.location(),
                failed: self.store.is_failed(),
                users: store.users,
                objects: store.objects,
                audit_records: store.audit,
                last_audit_seq: store.last_audit_seq,
            },
        }))
    }

    /// `GET /admin/audit`: a page of stored audit records in sequence
    /// order, as stored (export only: `POST /admin/integrity` is what
    /// verifies them). A row that does not decode is returned raw with an
    /// `error`, so that an export shows tampering rather than hiding it.
    pub(super) async fn admin_audit(&self, query: Option<&str>) -> Result<Reply, ApiError> {
        let (after, limit) = audit_query(query)?;
        let page = self.store.audit_page(after, limit).await?;
        let next_after = if page.len() == limit {
            page.last().map(|(seq, _)| *seq)
        } else {
            None
        };
        let records = page
            .iter()
            .map(|(seq, blob)| match decode_audit(*seq, blob) {
                Ok(r) => {
                    let e = &r.entry;
                    AuditRow::Decoded(DecodedAudit {
                        seq: e.seq,
                        time: e.time,
                        boot: e.boot,
                        action: e.action.name().into(),
                        outcome: e.failure.map_or("ok", |f| f.name()).into(),
                        cause: e.cause.map(|c| c.name().into()),
                        note: e
                            .note
                            .as_ref()
                            .map(|n| String::from_utf8_lossy(n).into_owned()),
                        actor: e.actor.as_ref().map(ToString::to_string),
                        target_user: e.target_user.as_ref().map(ToString::to_string),
                        key_id: e.key_id.as_ref().map(ToString::to_string),
                        prev: hex::encode(e.prev),
                        mac: hex::encode(r.mac),
                        record: B64::of(blob),
                    })
                }
                Err(err) => AuditRow::Undecodable(UndecodableAudit {
                    seq: *seq,
                    error: err.to_string(),
                    record: B64::of(blob),
                }),
            })
            .collect();
        // The checkpoints that follow this page's records (next_seq - 1 is
        // one of their seqs); the first page also carries one at 0.
        let cp_after = if after < 0 {
            -1
        } else {
            after.saturating_add(1)
        };
        let cp_upto = page.last().map_or(after, |(seq, _)| *seq).saturating_add(1);
        let checkpoints = self
            .store
            .checkpoint_page(cp_after, cp_upto, limit.saturating_add(1))
            .await?
            .iter()
            .map(|(next_seq, blob)| decode_checkpoint(*next_seq, blob).map(|c| checkpoint_json(&c)))
            .collect::<Result<_, _>>()?;
        Ok(ok_json(&AuditPage {
            records,
            checkpoints,
            next_after,
        }))
    }

    /// `POST /admin/audit/checkpoint`: the firmware signs a checkpoint of
    /// its chain as it is now; samd stores it, and makes sure it holds
    /// every record the checkpoint covers (records of operations still in
    /// flight come from the firmware's outbox), so that an export taken
    /// next ends exactly at it.
    pub(super) async fn admin_audit_checkpoint(&self) -> Result<Reply, ApiError> {
        let cp = self.firmware.call(&GetAuditCheckpoint).await?;
        self.store
            .write(WriteBatch {
                audit: Vec::new(),
                ops: vec![WriteOp::InsertCheckpoint(cp.clone())],
            })
            .await?;
        let stored_through = self.store.counts().await?.last_audit_seq;
        if cp.next_seq > 0 && stored_through.is_none_or(|s| s.saturating_add(1) < cp.next_seq) {
            self.audit_sync
                .recover_now(self)
                .await
                .map_err(|e| ApiError::seed(ErrorType::NotOperational, e))?;
        }
        Ok(ok_json(&checkpoint_json(&cp)))
    }

    /// `POST /admin/challenge` and `POST /peering/challenge`: a single-use
    /// challenge for approvals and technical signatures.
    pub(super) async fn challenge(&self) -> Result<Reply, ApiError> {
        let c = self.firmware.call(&GetChallenge).await?;
        Ok(ok_json(&Challenge {
            challenge: B64::of(&c.challenge),
            expires: c.expires,
        }))
    }

    /// `POST /admin/init` (seed "Initialize SAM Firmware").
    pub(super) async fn admin_init(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: InitRequest = parse_body(body)?;
        let req = InitFirmware {
            params: InitParams {
                admins: blobs(&p.admins, "admins")?,
                mbk_slot: p.mbk_slot,
            },
            operator: OperatorLogon {
                user: blob(p.operator.user.as_bytes(), "operator.user")?,
                response: blob(&p.operator.response.0, "operator.response")?,
            },
            approvals: approvals(p.approvals)?,
        };
        match self.firmware.call(&req).await {
            Ok(done) => {
                let seq = done.audit.entry.seq;
                self.persist("Initialize_SAM_Firmware", vec![done.audit], Vec::new())
                    .await?;
                Ok(ok_json(&InitAnswer {
                    attestation_key: B64::of(&done.attestation_key),
                    audit_seq: seq,
                }))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    /// `POST /admin/idp-keys` (seed "Set IdP Public Keys").
    pub(super) async fn admin_idp_keys(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: IdpKeysRequest = parse_body(body)?;
        let req = SetIdpKeys {
            params: IdpKeysParams {
                certificates: blobs(&p.certificates, "certificates")?,
            },
            approvals: approvals(p.approvals)?,
        };
        match self.firmware.call(&req).await {
            Ok(done) => {
                let seq = done.audit.entry.seq;
                self.persist("Set_IdP_Public_Keys", vec![done.audit], Vec::new())
                    .await?;
                Ok(ok_json(&IdpKeysAnswer {
                    fingerprints: done.fingerprints.iter().map(hex::encode).collect(),
                    audit_seq: seq,
                }))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    /// `POST /admin/policy` (the firmware's maximum token lifetime and
    /// signing CAs, under dual control).
    pub(super) async fn admin_policy(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: PolicyRequest = parse_body(body)?;
        let req = SetPolicy {
            params: PolicyParams {
                max_token_lifetime: p.max_token_lifetime,
                signing_cas: blobs(&p.signing_cas, "signing_cas")?,
                checkpoint_interval: p.checkpoint_interval,
            },
            approvals: approvals(p.approvals)?,
        };
        match self.firmware.call(&req).await {
            Ok(done) => {
                let seq = done.audit.entry.seq;
                self.persist("Set_Policy", vec![done.audit], Vec::new())
                    .await?;
                Ok(ok_json(&PolicyAnswer { audit_seq: seq }))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    /// `POST /admin/enrol-privileged-user`: the first Privileged User.
    pub(super) async fn admin_enrol(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: EnrolRequest = parse_body(body)?;
        let user_id = uuid(&p.userid, "userid")?;
        let req = EnrolPrivilegedUser {
            params: NewUser {
                user_id,
                certificates: blobs(&p.certificates, "certificates")?,
            },
            approvals: approvals(p.approvals)?,
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
                Ok(ok_json(&EnrolAnswer {
                    userid: user_id.to_string(),
                    role: role_name(issued.record.record.role).into(),
                    audit_seq: seq,
                }))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_page_queries() {
        assert_eq!(audit_query(None).unwrap(), (-1, MAX_AUDIT_PAGE));
        assert_eq!(audit_query(Some("after=41&limit=5")).unwrap(), (41, 5));
        assert_eq!(audit_query(Some("limit=0")).unwrap(), (-1, 1));
        assert_eq!(
            audit_query(Some("limit=99999")).unwrap(),
            (-1, MAX_AUDIT_PAGE)
        );
        for bad in ["after=-2", "after=x", "limit=-1", "seq=3"] {
            assert!(audit_query(Some(bad)).is_err(), "{bad}");
        }
    }
}

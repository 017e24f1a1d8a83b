//! `POST /admin/integrity` (seed §5.7 "Check Data Integrity").
//!
//! Walks every user record, every stored wrapped key and the whole audit
//! trail through the firmware's VerifyDataIntegrity in batches. The
//! firmware authenticates each record and continues the audit chain from
//! a cursor it MACs itself, so the host can drive the walk without being
//! trusted with the verdict. Rows that do not even decode are reported by
//! the host directly.

use super::App;
use super::error::ApiError;
use super::response::{Reply, ok_json};
use crate::store::decode_audit;
use sam_client::wire::admin::{AuditCheck, ChainBreak, Checked, IntegrityReport};
use sam_proto::bounded::List;
use sam_proto::command::{AuditCursor, MAX_AUDIT_BATCH, MAX_INTEGRITY_BATCH, VerifyDataIntegrity};
use sam_proto::frame::decode_exact;
use sam_proto::records::{AuditRecord, SealedUserRecord, WrappedKey};

/// Where the audit chain broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Break {
    /// The stored sequence number of the first bad record.
    seq: i64,
    /// The sequence number the chain expected there.
    expected: u64,
}

#[derive(Debug, Default)]
struct Walk {
    users_checked: u64,
    bad_users: Vec<String>,
    keys_checked: u64,
    bad_keys: Vec<String>,
    audit_checked: u64,
    audit_break: Option<Break>,
    cursor: Option<AuditCursor>,
    complete: bool,
}

impl App {
    /// Runs the walk and reports what is bad.
    ///
    /// Unless `full`, the audit part resumes from the cursor the last
    /// intact walk left ([`crate::audit_sync::AuditSync::resume_cursor`]):
    /// taken before that walk's last batch of records, so that the firmware
    /// sees the stored tail it verified then again (a tail deleted since is
    /// found) and then every record added since. Its cost grows with the
    /// new records only; records further back are what `full` (and an
    /// offline verification of an export) re-checks.
    pub(super) async fn admin_integrity(&self, query: Option<&str>) -> Result<Reply, ApiError> {
        let full = match query.unwrap_or("") {
            "" => false,
            "full=true" | "full=1" => true,
            other => {
                return Err(ApiError::seed(
                    sam_proto::ErrorType::MessageParseError,
                    format!("unsupported query {other:?} (only full=true)"),
                ));
            }
        };
        // Records a crash left in the firmware's outbox belong to the
        // chain; store them first so that the walk judges the whole of it.
        // If the firmware cannot be asked, the walk runs anyway and
        // reports whatever gap there is.
        if let Err(e) = self.audit_sync.ensure_complete(self).await {
            tracing::warn!(error = %e, "integrity check without recovering the audit outbox");
        }
        let mut w = Walk::default();
        let (mut user_after, mut key_after, mut audit_after) =
            (String::new(), String::new(), -1i64);
        if !full && let Some(c) = self.audit_sync.resume_cursor() {
            audit_after = i64::try_from(c.next_seq)
                .unwrap_or(i64::MAX)
                .saturating_sub(1);
            w.cursor = Some(c);
        }
        // The cursor before the last batch that carried audit records.
        let mut resume = w.cursor.clone();
        let (mut users_done, mut keys_done) = (false, false);
        loop {
            let mut users = Vec::new();
            let mut user_ids = Vec::new();
            if !users_done {
                let page = self
                    .store
                    .users_page(user_after.clone(), MAX_INTEGRITY_BATCH)
                    .await?;
                users_done = page.len() < MAX_INTEGRITY_BATCH;
                for (id, blob) in page {
                    w.users_checked += 1;
                    user_after.clone_from(&id);
                    match decode_exact::<SealedUserRecord>(&blob, SealedUserRecord::MAX_SIZE) {
                        Ok(r) => {
                            users.push(r);
                            user_ids.push(id);
                        }
                        Err(_) => w.bad_users.push(id),
                    }
                }
            }
            let mut keys = Vec::new();
            let mut key_ids = Vec::new();
            if !keys_done {
                let page = self
                    .store
                    .keys_page(key_after.clone(), MAX_INTEGRITY_BATCH)
                    .await?;
                keys_done = page.len() < MAX_INTEGRITY_BATCH;
                for (id, blob) in page {
                    w.keys_checked += 1;
                    key_after.clone_from(&id);
                    match decode_exact::<WrappedKey>(&blob, WrappedKey::MAX_SIZE) {
                        Ok(k) => {
                            keys.push(k);
                            key_ids.push(id);
                        }
                        Err(_) => w.bad_keys.push(id),
                    }
                }
            }
            let mut audit: Vec<AuditRecord> = Vec::new();
            let mut audit_seqs = Vec::new();
            if w.audit_break.is_none() {
                let page = self.store.audit_page(audit_after, MAX_AUDIT_BATCH).await?;
                for (seq, blob) in page {
                    audit_after = seq;
                    let expected = w.cursor.as_ref().map_or(0, |c| c.next_seq) + audit.len() as u64;
                    match decode_audit(seq, &blob) {
                        Ok(r) if i64::try_from(r.entry.seq).ok() == Some(seq) => {
                            audit.push(r);
                            audit_seqs.push(seq);
                        }
                        _ => {
                            // Undecodable, or the row's key disagrees
                            // with the record's own number.
                            w.audit_break = Some(Break { seq, expected });
                            break;
                        }
                    }
                }
            }
            let audit_pending = w.audit_break.is_none() && audit.len() == MAX_AUDIT_BATCH;
            let req = VerifyDataIntegrity {
                users: List::from_vec(users).unwrap_or_default(),
                keys: List::from_vec(keys).unwrap_or_default(),
                audit: List::from_vec(audit).unwrap_or_default(),
                cursor: w.cursor.clone(),
            };
            w.audit_checked += req.audit.len() as u64;
            if !req.audit.is_empty() {
                resume.clone_from(&req.cursor);
            }
            let report = self.firmware.call(&req).await?;
            for i in report.bad_users.iter() {
                if let Some(id) = user_ids.get(usize::from(*i)) {
                    w.bad_users.push(id.clone());
                }
            }
            for i in report.bad_keys.iter() {
                if let Some(id) = key_ids.get(usize::from(*i)) {
                    w.bad_keys.push(id.clone());
                }
            }
            if let Some(i) = report.audit_break {
                let seq = audit_seqs.get(usize::from(i)).copied().unwrap_or(-1);
                // A firmware-found break replaces a host-found one later
                // in the same batch: it comes first.
                w.audit_break = Some(Break {
                    seq,
                    expected: report.cursor.next_seq,
                });
            }
            w.complete = report.audit_complete;
            w.cursor = Some(report.cursor);
            if users_done && keys_done && !audit_pending {
                break;
            }
        }
        self.audit_sync
            .set_resume_cursor(if w.audit_break.is_none() {
                resume
            } else {
                None
            });
        let ok = w.bad_users.is_empty()
            && w.bad_keys.is_empty()
            && w.audit_break.is_none()
            && w.complete;
        if !ok {
            tracing::warn!(
                bad_users = w.bad_users.len(),
                bad_keys = w.bad_keys.len(),
                audit_break = ?w.audit_break,
                audit_complete = w.complete,
                "data integrity check failed"
            );
        }
        Ok(ok_json(&IntegrityReport {
            ok,
            users: Checked {
                checked: w.users_checked,
                bad: w.bad_users,
            },
            keys: Checked {
                checked: w.keys_checked,
                bad: w.bad_keys,
            },
            audit: AuditCheck {
                checked: w.audit_checked,
                chain_break: w.audit_break.map(|b| ChainBreak {
                    seq: b.seq,
                    expected_seq: b.expected,
                }),
                complete: w.complete,
                next_seq: w.cursor.as_ref().map(|c| c.next_seq),
            },
        }))
    }
}

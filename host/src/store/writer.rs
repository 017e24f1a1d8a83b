//! The single writer: group commit on one connection.
//!
//! Every request that changes the store sends its [`WriteBatch`] here and
//! waits. The writer takes everything queued, applies it in one
//! transaction, commits once (one fsync for the whole group) and then
//! answers each request. Under load many requests share one fsync; alone,
//! a request pays exactly one.
//!
//! Each batch runs inside its own savepoints, so one batch's refused
//! changes (a user that already exists, a key destroyed meanwhile) do not
//! disturb the others, and its audit records are kept even when its
//! changes are not.
//!
//! A failed commit is fatal. The writer marks the store failed, answers
//! every waiting and every later request with [`StoreError::Fatal`], and
//! never retries: after a failed fsync the kernel may have dropped the
//! dirty pages, so a retry that "succeeds" could confirm data that is not
//! on disk (the PostgreSQL fsync lesson).

use super::StoreError;
use super::model::{ManagedObject, ObjectState, ObjectType, UserRow, WriteBatch, WriteOp};
use crate::metrics::Metrics;
use rusqlite::{Connection, ErrorCode, Savepoint, Transaction, TransactionBehavior, params};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

/// Most batches committed together.
const MAX_GROUP: usize = 256;

/// Called after each successful commit with the `seq` of every audit
/// record it made durable (the daemon acknowledges them to the firmware's
/// audit outbox).
pub type CommitHook = Arc<dyn Fn(Vec<u64>) + Send + Sync>;

/// One queued batch and where to send its outcome.
pub(super) struct Job {
    pub batch: WriteBatch,
    pub reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Why one batch's changes were refused, or the whole group failed.
enum ApplyError {
    Conflict(String),
    /// A `UseToken` whose token a stored signing used already.
    Replayed(String),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, msg) if f.code == ErrorCode::ConstraintViolation => {
                Self::Conflict(msg.clone().unwrap_or_else(|| f.to_string()))
            }
            _ => Self::Sql(e),
        }
    }
}

/// The writer thread's loop; returns when every sender is gone and the
/// queue is drained (that is the flush at shutdown).
pub(super) fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Job>,
    failed: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    hook: Arc<std::sync::Mutex<Option<CommitHook>>>,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if failed.load(Ordering::SeqCst) {
            for job in jobs {
                let _ = job.reply.send(Err(StoreError::Fatal(
                    "the store failed earlier and is out of service until restart".into(),
                )));
            }
            continue;
        }
        let started = Instant::now();
        match commit_group(&mut conn, &jobs) {
            Ok(results) => {
                metrics.observe_commit(jobs.len(), started.elapsed().as_secs_f64());
                let mut durable = Vec::new();
                for (job, (audit_stored, result)) in jobs.into_iter().zip(results) {
                    if audit_stored {
                        durable.extend(job.batch.audit.iter().map(|r| r.entry.seq));
                    }
                    let _ = job.reply.send(result);
                }
                let hook = hook.lock().ok().and_then(|h| h.clone());
                if let (Some(hook), false) = (hook, durable.is_empty()) {
                    hook(durable);
                }
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    batches = jobs.len(),
                    "store commit failed; the daemon is no longer ready and will not retry"
                );
                failed.store(true, Ordering::SeqCst);
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(StoreError::Fatal(format!("commit failed: {e}"))));
                }
            }
        }
    }
}

/// Each batch's outcome: whether its audit records are in the commit, and
/// the answer for its request.
type Outcome = (bool, Result<(), StoreError>);

fn commit_group(conn: &mut Connection, jobs: &[Job]) -> Result<Vec<Outcome>, rusqlite::Error> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        results.push(apply_batch(&mut tx, &job.batch)?);
    }
    tx.commit()?;
    Ok(results)
}

/// Applies one batch: audit records first (all or none), then the changes
/// (all or none, audit kept on refusal).
fn apply_batch(tx: &mut Transaction<'_>, batch: &WriteBatch) -> Result<Outcome, rusqlite::Error> {
    let mut all = tx.savepoint()?;
    match insert_audit(&all, batch) {
        Ok(()) => {}
        Err(ApplyError::Conflict(m)) => {
            all.rollback()?;
            all.finish()?;
            tracing::error!(reason = %m, "audit record refused by the store");
            return Ok((
                false,
                Err(StoreError::Conflict(format!("audit record refused: {m}"))),
            ));
        }
        Err(ApplyError::Sql(e)) => return Err(e),
        Err(ApplyError::Replayed(m)) => {
            all.rollback()?;
            all.finish()?;
            return Ok((false, Err(StoreError::Replayed(m))));
        }
    }
    let result = {
        let mut ops = all.savepoint()?;
        match apply_ops(&ops, &batch.ops) {
            Ok(()) => {
                ops.commit()?;
                Ok(())
            }
            Err(ApplyError::Conflict(m)) => {
                ops.rollback()?;
                ops.finish()?;
                Err(StoreError::Conflict(m))
            }
            Err(ApplyError::Replayed(m)) => {
                ops.rollback()?;
                ops.finish()?;
                Err(StoreError::Replayed(m))
            }
            Err(ApplyError::Sql(e)) => return Err(e),
        }
    };
    all.commit()?;
    Ok((true, result))
}

/// Inserts the batch's audit records. A record already stored under its
/// `seq` is accepted if it is byte-for-byte the same: the record of an
/// operation in flight may also arrive through the firmware's outbox
/// (after a reconnect), and storing it twice must be harmless. A
/// different record under the same `seq` is refused.
fn insert_audit(sp: &Savepoint<'_>, batch: &WriteBatch) -> Result<(), ApplyError> {
    let mut insert = sp.prepare_cached(
        "INSERT INTO audit (seq, record) VALUES (?1, ?2) ON CONFLICT (seq) DO NOTHING",
    )?;
    for record in &batch.audit {
        let seq = i64::try_from(record.entry.seq)
            .map_err(|_| ApplyError::Conflict("audit sequence number out of range".into()))?;
        let blob = postcard::to_allocvec(record)
            .map_err(|e| ApplyError::Conflict(format!("audit record does not encode: {e}")))?;
        if insert.execute(params![seq, blob])? == 0 {
            let stored: Vec<u8> =
                sp.query_row("SELECT record FROM audit WHERE seq = ?1", [seq], |r| {
                    r.get(0)
                })?;
            if stored != blob {
                return Err(ApplyError::Conflict(format!(
                    "a different audit record is already stored under seq {seq}"
                )));
            }
        }
    }
    Ok(())
}

fn apply_ops(sp: &Savepoint<'_>, ops: &[WriteOp]) -> Result<(), ApplyError> {
    let now = super::unix_now();
    for op in ops {
        match op {
            WriteOp::InsertUser(u) => insert_user(sp, u, now)?,
            WriteOp::UpdateUser(u) => {
                let n = sp.execute(
                    "UPDATE users SET role = ?2, generation = ?3, record = ?4, updated = ?5
                     WHERE user_id = ?1 AND generation < ?3",
                    params![u.user_id, u.role, u.generation, u.record, now],
                )?;
                if n != 1 {
                    return Err(ApplyError::Conflict(format!(
                        "user {} has no older record to replace",
                        u.user_id
                    )));
                }
            }
            WriteOp::InsertObject(o) => insert_object(sp, o)?,
            WriteOp::InsertLink(l) => {
                sp.execute(
                    "INSERT OR IGNORE INTO links (from_id, to_id, kind) VALUES (?1, ?2, ?3)",
                    params![l.from_id, l.to_id, l.kind],
                )?;
            }
            WriteOp::ActivateCertificate {
                key_id,
                certificate,
            } => activate_certificate(sp, key_id, certificate, now)?,
            WriteOp::DestroyKey { key_id } => destroy_key(sp, key_id, now)?,
            WriteOp::InsertCheckpoint(cp) => {
                let next_seq = i64::try_from(cp.next_seq)
                    .map_err(|_| ApplyError::Conflict("checkpoint out of range".into()))?;
                let blob = postcard::to_allocvec(cp).map_err(|e| {
                    ApplyError::Conflict(format!("checkpoint does not encode: {e}"))
                })?;
                sp.execute(
                    "INSERT OR IGNORE INTO checkpoints (next_seq, checkpoint) VALUES (?1, ?2)",
                    params![next_seq, blob],
                )?;
            }
            WriteOp::UseToken { digest } => {
                sp.execute(
                    "INSERT INTO used_tokens (digest, used) VALUES (?1, ?2)",
                    params![&digest[..], now],
                )
                .map_err(|e| match ApplyError::from(e) {
                    ApplyError::Conflict(_) => ApplyError::Replayed(replayed(digest)),
                    other => other,
                })?;
            }
            WriteOp::ForgetUsedTokens { used_before } => {
                sp.execute(
                    "DELETE FROM used_tokens WHERE used < ?1",
                    params![used_before],
                )?;
            }
        }
    }
    Ok(())
}

/// The refusal of a token a stored signing used already.
pub(super) fn replayed(digest: &[u8; 32]) -> String {
    format!(
        "the identity token {} was already used for a signing by this or another samd",
        hex::encode(digest)
    )
}

fn insert_user(sp: &Savepoint<'_>, u: &UserRow, now: i64) -> Result<(), ApplyError> {
    sp.execute(
        "INSERT INTO users (user_id, role, generation, record, updated)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![u.user_id, u.role, u.generation, u.record, now],
    )
    .map_err(|e| match ApplyError::from(e) {
        ApplyError::Conflict(_) => {
            ApplyError::Conflict(format!("user {} already exists", u.user_id))
        }
        other => other,
    })?;
    Ok(())
}

fn insert_object(sp: &Savepoint<'_>, o: &ManagedObject) -> Result<(), ApplyError> {
    sp.execute(
        "INSERT INTO objects
            (id, type, state, key_id, user_id, value, attributes, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            o.id,
            o.object_type.name(),
            o.state.name(),
            o.key_id,
            o.user_id,
            o.value,
            o.attributes.to_string(),
            o.created,
            o.updated
        ],
    )?;
    Ok(())
}

fn key_state(sp: &Savepoint<'_>, key_id: &str) -> Result<Option<ObjectState>, ApplyError> {
    let state: Option<String> = match sp.query_row(
        "SELECT state FROM objects WHERE id = ?1 AND type = ?2",
        params![key_id, ObjectType::PrivateKey.name()],
        |r| r.get(0),
    ) {
        Ok(s) => Some(s),
        Err(rusqlite::Error::QueryReturnedNoRows) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(state.as_deref().and_then(ObjectState::parse))
}

fn activate_certificate(
    sp: &Savepoint<'_>,
    key_id: &str,
    certificate: &ManagedObject,
    now: i64,
) -> Result<(), ApplyError> {
    match key_state(sp, key_id)? {
        Some(ObjectState::PreActive | ObjectState::Active) => {}
        Some(s) => {
            return Err(ApplyError::Conflict(format!(
                "key {key_id} is {s}, a certificate cannot activate it"
            )));
        }
        None => return Err(ApplyError::Conflict(format!("no key {key_id}"))),
    }
    sp.execute(
        "UPDATE objects SET state = 'DEACTIVATED', updated = ?2
         WHERE key_id = ?1 AND type = 'CERTIFICATE' AND state = 'ACTIVE'",
        params![key_id, now],
    )?;
    sp.execute(
        "UPDATE objects SET state = 'ACTIVE', updated = ?2
         WHERE key_id = ?1 AND type IN ('PRIVATE_KEY', 'PUBLIC_KEY') AND state = 'PRE_ACTIVE'",
        params![key_id, now],
    )?;
    insert_object(sp, certificate)?;
    sp.execute(
        "INSERT OR IGNORE INTO links (from_id, to_id, kind) VALUES (?1, ?2, ?3)",
        params![certificate.id, key_id, ObjectType::PrivateKey.name()],
    )?;
    Ok(())
}

fn destroy_key(sp: &Savepoint<'_>, key_id: &str, now: i64) -> Result<(), ApplyError> {
    match key_state(sp, key_id)? {
        Some(ObjectState::Destroyed | ObjectState::DestroyedCompromised) | None => {
            return Err(ApplyError::Conflict(format!(
                "key {key_id} does not exist or is already destroyed"
            )));
        }
        Some(_) => {}
    }
    sp.execute(
        "UPDATE objects SET
            state = CASE state WHEN 'COMPROMISED' THEN 'DESTROYED_COMPROMISED'
                               ELSE 'DESTROYED' END,
            value = NULL,
            updated = ?2
         WHERE key_id = ?1 AND state NOT IN ('DESTROYED', 'DESTROYED_COMPROMISED')",
        params![key_id, now],
    )?;
    Ok(())
}

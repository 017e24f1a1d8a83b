//! One transaction per batch, with the SQLite writer's rules
//! (`store/writer.rs`): audit records first, all or none (a different
//! record under a stored `seq` refuses the whole batch); then the changes
//! in a savepoint, all or none, the audit records kept when they are
//! refused. Concurrent batches (of this samd or another on the same
//! database) run in their own transactions; the rows a check reads before
//! it writes (a key's state) are locked with `FOR UPDATE`, so two
//! instances cannot both pass it.

use super::super::StoreError;
use super::super::model::{ManagedObject, ObjectState, ObjectType, UserRow, WriteBatch, WriteOp};
use super::{Pg, is_constraint_violation};
use std::time::Instant;
use tokio_postgres::Transaction;

/// Why a batch's changes were refused, or the transaction failed.
enum ApplyError {
    Conflict(String),
    /// A `UseToken` whose token a stored signing used already.
    Replayed(String),
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for ApplyError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_constraint_violation(&e) {
            Self::Conflict(
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string()),
            )
        } else {
            Self::Db(e)
        }
    }
}

/// Each batch's outcome: whether its audit records were committed, and
/// the answer for its request.
type Outcome = (bool, Result<(), StoreError>);

impl Pg {
    /// Commits `batch` in one transaction; calls the commit hook with its
    /// audit records' `seq` once they are durable.
    pub(in super::super) async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut conn = self.conn().await?;
        let client = conn.client()?;
        let outcome = match commit(client, &batch).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let e = conn.error(&e, |m| StoreError::Fatal(format!("commit failed: {m}")));
                tracing::error!(error = %e, "PostgreSQL commit failed");
                return Err(e);
            }
        };
        drop(conn);
        self.metrics
            .observe_commit(1, started.elapsed().as_secs_f64());
        let (audit_stored, result) = outcome;
        if audit_stored && !batch.audit.is_empty() {
            let hook = self.hook.lock().ok().and_then(|h| h.clone());
            if let Some(hook) = hook {
                hook(batch.audit.iter().map(|r| r.entry.seq).collect());
            }
        }
        result
    }
}

async fn commit(
    client: &mut tokio_postgres::Client,
    batch: &WriteBatch,
) -> Result<Outcome, tokio_postgres::Error> {
    let mut tx = client.transaction().await?;
    match insert_audit(&tx, batch).await {
        Ok(()) => {}
        Err(ApplyError::Conflict(m)) => {
            tx.rollback().await?;
            tracing::error!(reason = %m, "audit record refused by the store");
            return Ok((
                false,
                Err(StoreError::Conflict(format!("audit record refused: {m}"))),
            ));
        }
        Err(ApplyError::Replayed(m)) => {
            tx.rollback().await?;
            return Ok((false, Err(StoreError::Replayed(m))));
        }
        Err(ApplyError::Db(e)) => return Err(e),
    }
    let result = {
        let ops = tx.savepoint("ops").await?;
        match apply_ops(&ops, &batch.ops).await {
            Ok(()) => {
                ops.commit().await?;
                Ok(())
            }
            Err(ApplyError::Conflict(m)) => {
                ops.rollback().await?;
                Err(StoreError::Conflict(m))
            }
            Err(ApplyError::Replayed(m)) => {
                ops.rollback().await?;
                Err(StoreError::Replayed(m))
            }
            Err(ApplyError::Db(e)) => return Err(e),
        }
    };
    tx.commit().await?;
    Ok((true, result))
}

/// Inserts the batch's audit records; an identical record already stored
/// under its `seq` is accepted, a different one refused (see the SQLite
/// writer's `insert_audit`).
async fn insert_audit(tx: &Transaction<'_>, batch: &WriteBatch) -> Result<(), ApplyError> {
    for record in &batch.audit {
        let seq = i64::try_from(record.entry.seq)
            .map_err(|_| ApplyError::Conflict("audit sequence number out of range".into()))?;
        let blob = postcard::to_allocvec(record)
            .map_err(|e| ApplyError::Conflict(format!("audit record does not encode: {e}")))?;
        let inserted = tx
            .execute(
                "INSERT INTO audit (seq, record) VALUES ($1, $2) ON CONFLICT (seq) DO NOTHING",
                &[&seq, &blob],
            )
            .await?;
        if inserted == 0 {
            let stored: Vec<u8> = tx
                .query_one("SELECT record FROM audit WHERE seq = $1", &[&seq])
                .await?
                .get(0);
            if stored != blob {
                return Err(ApplyError::Conflict(format!(
                    "a different audit record is already stored under seq {seq}"
                )));
            }
        }
    }
    Ok(())
}

async fn apply_ops(tx: &Transaction<'_>, ops: &[WriteOp]) -> Result<(), ApplyError> {
    let now = super::super::unix_now();
    for op in ops {
        match op {
            WriteOp::InsertUser(u) => insert_user(tx, u, now).await?,
            WriteOp::UpdateUser(u) => {
                let n = tx
                    .execute(
                        "UPDATE users SET role = $2, generation = $3, record = $4, updated = $5
                         WHERE user_id = $1 AND generation < $3",
                        &[
                            &u.user_id,
                            &u.role,
                            &i64::from(u.generation),
                            &u.record,
                            &now,
                        ],
                    )
                    .await?;
                if n != 1 {
                    return Err(ApplyError::Conflict(format!(
                        "user {} has no older record to replace",
                        u.user_id
                    )));
                }
            }
            WriteOp::InsertObject(o) => insert_object(tx, o).await?,
            WriteOp::InsertLink(l) => {
                tx.execute(
                    "INSERT INTO links (from_id, to_id, kind) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&l.from_id, &l.to_id, &l.kind],
                )
                .await?;
            }
            WriteOp::ActivateCertificate {
                key_id,
                certificate,
            } => activate_certificate(tx, key_id, certificate, now).await?,
            WriteOp::DestroyKey { key_id } => destroy_key(tx, key_id, now).await?,
            WriteOp::InsertCheckpoint(cp) => {
                let next_seq = i64::try_from(cp.next_seq)
                    .map_err(|_| ApplyError::Conflict("checkpoint out of range".into()))?;
                let blob = postcard::to_allocvec(cp).map_err(|e| {
                    ApplyError::Conflict(format!("checkpoint does not encode: {e}"))
                })?;
                tx.execute(
                    "INSERT INTO checkpoints (next_seq, checkpoint) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                    &[&next_seq, &blob],
                )
                .await?;
            }
            WriteOp::UseToken { digest } => {
                // Against a concurrent transaction inserting the same
                // digest, the unique index makes this one wait for it and
                // fail if it commits: exactly one of them is stored.
                tx.execute(
                    "INSERT INTO used_tokens (digest, used) VALUES ($1, $2)",
                    &[&&digest[..], &now],
                )
                .await
                .map_err(|e| match ApplyError::from(e) {
                    ApplyError::Conflict(_) => {
                        ApplyError::Replayed(super::super::writer::replayed(digest))
                    }
                    other => other,
                })?;
            }
            WriteOp::ForgetUsedTokens { used_before } => {
                tx.execute("DELETE FROM used_tokens WHERE used < $1", &[&used_before])
                    .await?;
            }
        }
    }
    Ok(())
}

async fn insert_user(tx: &Transaction<'_>, u: &UserRow, now: i64) -> Result<(), ApplyError> {
    tx.execute(
        "INSERT INTO users (user_id, role, generation, record, updated)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &u.user_id,
            &u.role,
            &i64::from(u.generation),
            &u.record,
            &now,
        ],
    )
    .await
    .map_err(|e| match ApplyError::from(e) {
        ApplyError::Conflict(_) => {
            ApplyError::Conflict(format!("user {} already exists", u.user_id))
        }
        other => other,
    })?;
    Ok(())
}

async fn insert_object(tx: &Transaction<'_>, o: &ManagedObject) -> Result<(), ApplyError> {
    tx.execute(
        "INSERT INTO objects
            (id, type, state, key_id, user_id, value, attributes, created, updated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &o.id,
            &o.object_type.name(),
            &o.state.name(),
            &o.key_id,
            &o.user_id,
            &o.value,
            &o.attributes.to_string(),
            &o.created,
            &o.updated,
        ],
    )
    .await?;
    Ok(())
}

/// The key's state, its row locked until the transaction ends.
async fn key_state(tx: &Transaction<'_>, key_id: &str) -> Result<Option<ObjectState>, ApplyError> {
    let row = tx
        .query_opt(
            "SELECT state FROM objects WHERE id = $1 AND type = $2 FOR UPDATE",
            &[&key_id, &ObjectType::PrivateKey.name()],
        )
        .await?;
    Ok(row
        .map(|r| r.get::<_, String>(0))
        .as_deref()
        .and_then(ObjectState::parse))
}

async fn activate_certificate(
    tx: &Transaction<'_>,
    key_id: &str,
    certificate: &ManagedObject,
    now: i64,
) -> Result<(), ApplyError> {
    match key_state(tx, key_id).await? {
        Some(ObjectState::PreActive | ObjectState::Active) => {}
        Some(s) => {
            return Err(ApplyError::Conflict(format!(
                "key {key_id} is {s}, a certificate cannot activate it"
            )));
        }
        None => return Err(ApplyError::Conflict(format!("no key {key_id}"))),
    }
    tx.execute(
        "UPDATE objects SET state = 'DEACTIVATED', updated = $2
         WHERE key_id = $1 AND type = 'CERTIFICATE' AND state = 'ACTIVE'",
        &[&key_id, &now],
    )
    .await?;
    tx.execute(
        "UPDATE objects SET state = 'ACTIVE', updated = $2
         WHERE key_id = $1 AND type IN ('PRIVATE_KEY', 'PUBLIC_KEY') AND state = 'PRE_ACTIVE'",
        &[&key_id, &now],
    )
    .await?;
    insert_object(tx, certificate).await?;
    tx.execute(
        "INSERT INTO links (from_id, to_id, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&certificate.id, &key_id, &ObjectType::PrivateKey.name()],
    )
    .await?;
    Ok(())
}

async fn destroy_key(tx: &Transaction<'_>, key_id: &str, now: i64) -> Result<(), ApplyError> {
    match key_state(tx, key_id).await? {
        Some(ObjectState::Destroyed | ObjectState::DestroyedCompromised) | None => {
            return Err(ApplyError::Conflict(format!(
                "key {key_id} does not exist or is already destroyed"
            )));
        }
        Some(_) => {}
    }
    tx.execute(
        "UPDATE objects SET
            state = CASE state WHEN 'COMPROMISED' THEN 'DESTROYED_COMPROMISED'
                               ELSE 'DESTROYED' END,
            value = NULL,
            updated = $2
         WHERE key_id = $1 AND state NOT IN ('DESTROYED', 'DESTROYED_COMPROMISED')",
        &[&key_id, &now],
    )
    .await?;
    Ok(())
}

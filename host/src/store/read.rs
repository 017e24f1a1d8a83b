//! Queries. Decoding a stored blob is where host-side tampering that
//! breaks the encoding shows up ([`StoreError::Corrupt`]); tampering that
//! keeps the encoding is the firmware's to catch.

use super::model::{ManagedObject, ObjectState, ObjectType};
use super::{Store, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};
use sam_proto::frame::decode_exact;
use sam_proto::records::{AuditCheckpoint, AuditRecord, SealedUserRecord, WrappedKey};

/// Filter of `GET /objects` and `GET /private-keys`; `None` matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectFilter {
    /// Object id.
    pub id: Option<String>,
    /// Object type.
    pub object_type: Option<ObjectType>,
    /// State.
    pub state: Option<ObjectState>,
    /// Signer key.
    pub key_id: Option<String>,
    /// Owner.
    pub user_id: Option<String>,
    /// At most this many objects.
    pub limit: u32,
}

/// Row counts, for the status endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// User records.
    pub users: u64,
    /// Managed objects (all states).
    pub objects: u64,
    /// Audit records.
    pub audit: u64,
    /// Highest audit sequence number stored.
    pub last_audit_seq: Option<u64>,
}

fn object_from_row(r: &Row<'_>) -> rusqlite::Result<(ManagedObject, String, String, String)> {
    let object_type: String = r.get(1)?;
    let state: String = r.get(2)?;
    let attributes: String = r.get(6)?;
    Ok((
        ManagedObject {
            id: r.get(0)?,
            object_type: ObjectType::PrivateKey,
            state: ObjectState::PreActive,
            key_id: r.get(3)?,
            user_id: r.get(4)?,
            value: r.get(5)?,
            attributes: serde_json::Value::Null,
            created: r.get(7)?,
            updated: r.get(8)?,
        },
        object_type,
        state,
        attributes,
    ))
}

pub(super) fn finish_object(
    (mut o, object_type, state, attributes): (ManagedObject, String, String, String),
) -> Result<ManagedObject, StoreError> {
    o.object_type = ObjectType::parse(&object_type)
        .ok_or_else(|| StoreError::Corrupt(format!("object {}: type {object_type}", o.id)))?;
    o.state = ObjectState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("object {}: state {state}", o.id)))?;
    o.attributes = serde_json::from_str(&attributes)
        .map_err(|e| StoreError::Corrupt(format!("object {}: attributes: {e}", o.id)))?;
    Ok(o)
}

pub(super) const OBJECT_COLUMNS: &str =
    "id, type, state, key_id, user_id, value, attributes, created, updated";

/// Decodes the stored user record of `user_id`.
pub(super) fn decode_user(user_id: &str, blob: &[u8]) -> Result<SealedUserRecord, StoreError> {
    decode_exact(blob, SealedUserRecord::MAX_SIZE)
        .map_err(|e| StoreError::Corrupt(format!("user record {user_id}: {e:?}")))
}

/// The sealed user record of `user_id`.
pub fn user(conn: &Connection, user_id: &str) -> Result<Option<SealedUserRecord>, StoreError> {
    let blob: Option<Vec<u8>> = conn
        .query_row(
            "SELECT record FROM users WHERE user_id = ?1",
            params![user_id],
            |r| r.get(0),
        )
        .optional()?;
    blob.map(|b| decode_user(user_id, &b)).transpose()
}

/// The wrapped key `key_id` and its state (destroyed keys have none).
pub fn signer_key(
    conn: &Connection,
    key_id: &str,
) -> Result<Option<(WrappedKey, ObjectState)>, StoreError> {
    let row: Option<(Option<Vec<u8>>, String)> = conn
        .query_row(
            "SELECT value, state FROM objects WHERE id = ?1 AND type = 'PRIVATE_KEY'",
            params![key_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    decode_signer_key(key_id, row)
}

/// Decodes the stored `(value, state)` of the private key `key_id`.
pub(super) fn decode_signer_key(
    key_id: &str,
    row: Option<(Option<Vec<u8>>, String)>,
) -> Result<Option<(WrappedKey, ObjectState)>, StoreError> {
    let Some((Some(blob), state)) = row else {
        return Ok(None);
    };
    let state = ObjectState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("key {key_id}: state {state}")))?;
    let key = decode_exact(&blob, WrappedKey::MAX_SIZE)
        .map_err(|e| StoreError::Corrupt(format!("wrapped key {key_id}: {e:?}")))?;
    Ok(Some((key, state)))
}

/// Managed objects matching `filter`, ordered by id.
pub fn objects(conn: &Connection, filter: &ObjectFilter) -> Result<Vec<ManagedObject>, StoreError> {
    let sql = format!(
        "SELECT {OBJECT_COLUMNS} FROM objects
         WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR type = ?2)
           AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR key_id = ?4)
           AND (?5 IS NULL OR user_id = ?5)
         ORDER BY id LIMIT ?6"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            filter.id,
            filter.object_type.map(ObjectType::name),
            filter.state.map(ObjectState::name),
            filter.key_id,
            filter.user_id,
            filter.limit
        ],
        object_from_row,
    )?;
    let mut out = Vec::new();
    for row in rows {
        out.push(finish_object(row?)?);
    }
    Ok(out)
}

/// Number of certificate objects of `key_id` (to name the next one).
pub fn certificate_count(conn: &Connection, key_id: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM objects WHERE key_id = ?1 AND type = 'CERTIFICATE'",
        params![key_id],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Row counts.
pub fn counts(conn: &Connection) -> Result<StoreCounts, StoreError> {
    let count = |table: &str| -> Result<u64, StoreError> {
        let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let last: Option<i64> = conn.query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0))?;
    Ok(StoreCounts {
        users: count("users")?,
        objects: count("objects")?,
        audit: count("audit")?,
        last_audit_seq: last.and_then(|s| u64::try_from(s).ok()),
    })
}

/// Up to `limit` user rows after `after` (by UserID): id and raw blob.
pub fn users_page(
    conn: &Connection,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, record FROM users WHERE user_id > ?1 ORDER BY user_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` wrapped keys (not destroyed) after `after` (by KeyID).
pub fn keys_page(
    conn: &Connection,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, value FROM objects
         WHERE type = 'PRIVATE_KEY' AND value IS NOT NULL AND id > ?1
         ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` audit rows with `seq > after`, in order.
pub fn audit_page(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, record FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let rows = stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` stored checkpoints with `after < next_seq <= upto`, in
/// order, raw.
pub fn checkpoint_page(
    conn: &Connection,
    after: i64,
    upto: i64,
    limit: usize,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT next_seq, checkpoint FROM checkpoints
         WHERE next_seq > ?1 AND next_seq <= ?2 ORDER BY next_seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![after, upto, limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The Signers the Privileged User `actor` manages, as the audit trail
/// tells: the target users of its successful `Create_New_Signer`,
/// `Signer_Maintenance`, `Generate_Signer_Key_Pair`,
/// `Delete_Signer_Key_Pair` and `Register_Certificate` whose stored role
/// is `Signer`. The user records themselves do not say who created a
/// signer (the firmware lets any Privileged User maintain any Signer); the
/// firmware's audit records, MACed, name actor and target of each
/// operation, so they are the one record of who manages whom.
///
/// Reads the whole audit table: linear in its size (a few µs per record).
/// A deployment with millions of records would want an index of these
/// pairs written with the records; see the key manager's README section.
pub fn managed_signers(conn: &Connection, actor: &str) -> Result<Vec<String>, StoreError> {
    let mut targets = std::collections::BTreeSet::new();
    let mut stmt = conn.prepare_cached("SELECT seq, record FROM audit ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        if let Some(target) = managed_target(seq, &blob, actor)? {
            targets.insert(target);
        }
    }
    let mut role = conn.prepare_cached("SELECT role FROM users WHERE user_id = ?1")?;
    let mut out = Vec::new();
    for t in targets {
        let r: Option<String> = role.query_row(params![t], |r| r.get(0)).optional()?;
        if r.as_deref() == Some("Signer") {
            out.push(t);
        }
    }
    Ok(out)
}

/// The target user of the stored audit record `seq` if it is one of
/// `actor`'s successful signer-managing operations (see
/// [`managed_signers`]).
pub(super) fn managed_target(
    seq: i64,
    blob: &[u8],
    actor: &str,
) -> Result<Option<String>, StoreError> {
    use sam_proto::command::SubFunction;
    use sam_proto::records::Action;
    let entry = decode_audit(seq, blob)?.entry;
    let manages = matches!(
        entry.action,
        Action::Command(
            SubFunction::CreateSigner
                | SubFunction::SignerMaintenance
                | SubFunction::GenerateKeyPair
                | SubFunction::DeleteKeyPair
                | SubFunction::RegisterCertificate
        )
    );
    Ok(
        if manages && entry.failure.is_none() && entry.actor.is_some_and(|a| a.to_string() == actor)
        {
            entry.target_user.map(|t| t.to_string())
        } else {
            None
        },
    )
}

/// Decodes a stored checkpoint.
pub fn decode_checkpoint(next_seq: i64, blob: &[u8]) -> Result<AuditCheckpoint, StoreError> {
    decode_exact(blob, AuditCheckpoint::MAX_SIZE)
        .map_err(|e| StoreError::Corrupt(format!("checkpoint {next_seq}: {e:?}")))
}

/// Decodes a stored audit record.
pub fn decode_audit(seq: i64, blob: &[u8]) -> Result<AuditRecord, StoreError> {
    decode_exact(blob, AuditRecord::MAX_SIZE)
        .map_err(|e| StoreError::Corrupt(format!("audit record {seq}: {e:?}")))
}

impl Store {
    /// The sealed user record of `user_id`.
    pub async fn user(&self, user_id: String) -> Result<Option<SealedUserRecord>, StoreError> {
        match self.postgres() {
            Some(p) => p.user(&user_id).await,
            None => self.read(move |c| user(c, &user_id)).await,
        }
    }

    /// Whether a user record exists for `user_id`.
    pub async fn user_exists(&self, user_id: String) -> Result<bool, StoreError> {
        if let Some(p) = self.postgres() {
            return p.user_exists(&user_id).await;
        }
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT 1 FROM users WHERE user_id = ?1",
                params![user_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
        .await
    }

    /// The wrapped key `key_id` and its state.
    pub async fn signer_key(
        &self,
        key_id: String,
    ) -> Result<Option<(WrappedKey, ObjectState)>, StoreError> {
        match self.postgres() {
            Some(p) => p.signer_key(&key_id).await,
            None => self.read(move |c| signer_key(c, &key_id)).await,
        }
    }

    /// Managed objects matching `filter`.
    pub async fn objects(&self, filter: ObjectFilter) -> Result<Vec<ManagedObject>, StoreError> {
        match self.postgres() {
            Some(p) => p.objects(&filter).await,
            None => self.read(move |c| objects(c, &filter)).await,
        }
    }

    /// The Signers `actor` manages (see [`managed_signers`]).
    pub async fn managed_signers(&self, actor: String) -> Result<Vec<String>, StoreError> {
        match self.postgres() {
            Some(p) => p.managed_signers(&actor).await,
            None => self.read(move |c| managed_signers(c, &actor)).await,
        }
    }

    /// Number of certificates registered for `key_id`.
    pub async fn certificate_count(&self, key_id: String) -> Result<u64, StoreError> {
        match self.postgres() {
            Some(p) => p.certificate_count(&key_id).await,
            None => self.read(move |c| certificate_count(c, &key_id)).await,
        }
    }

    /// Row counts.
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        match self.postgres() {
            Some(p) => p.counts().await,
            None => self.read(counts).await,
        }
    }

    /// A page of user rows (see [`users_page`]).
    pub async fn users_page(
        &self,
        after: String,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self.postgres() {
            Some(p) => p.users_page(&after, limit).await,
            None => self.read(move |c| users_page(c, &after, limit)).await,
        }
    }

    /// A page of wrapped keys (see [`keys_page`]).
    pub async fn keys_page(
        &self,
        after: String,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        match self.postgres() {
            Some(p) => p.keys_page(&after, limit).await,
            None => self.read(move |c| keys_page(c, &after, limit)).await,
        }
    }

    /// A page of audit rows (see [`audit_page`]).
    pub async fn audit_page(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        match self.postgres() {
            Some(p) => p.audit_page(after, limit).await,
            None => self.read(move |c| audit_page(c, after, limit)).await,
        }
    }

    /// A page of checkpoints (see [`checkpoint_page`]).
    pub async fn checkpoint_page(
        &self,
        after: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        match self.postgres() {
            Some(p) => p.checkpoint_page(after, upto, limit).await,
            None => {
                self.read(move |c| checkpoint_page(c, after, upto, limit))
                    .await
            }
        }
    }
}

//! Queries, the same as the SQLite store's (`store/read.rs`), decoded by
//! the same functions.

use super::super::model::{ManagedObject, ObjectState, ObjectType};
use super::super::read::{
    OBJECT_COLUMNS, decode_signer_key, decode_user, finish_object, managed_target,
};
use super::super::{ObjectFilter, StoreCounts, StoreError};
use super::Pg;
use sam_proto::records::{SealedUserRecord, WrappedKey};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn pair<A, B>(rows: Vec<Row>) -> Result<Vec<(A, B)>, StoreError>
where
    A: for<'a> tokio_postgres::types::FromSql<'a>,
    B: for<'a> tokio_postgres::types::FromSql<'a>,
{
    rows.iter()
        .map(|r| Ok((r.try_get(0).map_err(read)?, r.try_get(1).map_err(read)?)))
        .collect()
}

fn read(e: tokio_postgres::Error) -> StoreError {
    StoreError::Read(e.to_string())
}

impl Pg {
    /// Runs one query on a pooled connection.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let mut conn = self.conn().await?;
        let client = conn.client()?;
        match client.query(sql, params).await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(conn.error(&e, StoreError::Read)),
        }
    }

    /// The two-column rows of one query.
    async fn pairs<A, B>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<(A, B)>, StoreError>
    where
        A: for<'a> tokio_postgres::types::FromSql<'a>,
        B: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        pair(self.query(sql, params).await?)
    }

    pub(in super::super) async fn user(
        &self,
        user_id: &str,
    ) -> Result<Option<SealedUserRecord>, StoreError> {
        let rows = self
            .query("SELECT record FROM users WHERE user_id = $1", &[&user_id])
            .await?;
        rows.first()
            .map(|r| {
                let blob: Vec<u8> = r.try_get(0).map_err(read)?;
                decode_user(user_id, &blob)
            })
            .transpose()
    }

    pub(in super::super) async fn user_exists(&self, user_id: &str) -> Result<bool, StoreError> {
        let rows = self
            .query("SELECT 1 FROM users WHERE user_id = $1", &[&user_id])
            .await?;
        Ok(!rows.is_empty())
    }

    pub(in super::super) async fn signer_key(
        &self,
        key_id: &str,
    ) -> Result<Option<(WrappedKey, ObjectState)>, StoreError> {
        let rows = self
            .query(
                "SELECT value, state FROM objects WHERE id = $1 AND type = 'PRIVATE_KEY'",
                &[&key_id],
            )
            .await?;
        let row = pair::<Option<Vec<u8>>, String>(rows)?.into_iter().next();
        decode_signer_key(key_id, row)
    }

    pub(in super::super) async fn objects(
        &self,
        filter: &ObjectFilter,
    ) -> Result<Vec<ManagedObject>, StoreError> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects
             WHERE ($1::TEXT IS NULL OR id = $1) AND ($2::TEXT IS NULL OR type = $2)
               AND ($3::TEXT IS NULL OR state = $3) AND ($4::TEXT IS NULL OR key_id = $4)
               AND ($5::TEXT IS NULL OR user_id = $5)
             ORDER BY id LIMIT $6"
        );
        let rows = self
            .query(
                &sql,
                &[
                    &filter.id,
                    &filter.object_type.map(ObjectType::name),
                    &filter.state.map(ObjectState::name),
                    &filter.key_id,
                    &filter.user_id,
                    &i64::from(filter.limit),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let get = || -> Result<_, tokio_postgres::Error> {
                    Ok((
                        ManagedObject {
                            id: r.try_get(0)?,
                            object_type: ObjectType::PrivateKey,
                            state: ObjectState::PreActive,
                            key_id: r.try_get(3)?,
                            user_id: r.try_get(4)?,
                            value: r.try_get(5)?,
                            attributes: serde_json::Value::Null,
                            created: r.try_get(7)?,
                            updated: r.try_get(8)?,
                        },
                        r.try_get(1)?,
                        r.try_get(2)?,
                        r.try_get(6)?,
                    ))
                };
                finish_object(get().map_err(read)?)
            })
            .collect()
    }

    pub(in super::super) async fn certificate_count(
        &self,
        key_id: &str,
    ) -> Result<u64, StoreError> {
        let rows = self
            .query(
                "SELECT COUNT(*) FROM objects WHERE key_id = $1 AND type = 'CERTIFICATE'",
                &[&key_id],
            )
            .await?;
        let n: i64 = rows
            .first()
            .ok_or_else(|| StoreError::Read("COUNT returned no row".into()))?
            .try_get(0)
            .map_err(read)?;
        Ok(count(n))
    }

    pub(in super::super) async fn counts(&self) -> Result<StoreCounts, StoreError> {
        let rows = self
            .query(
                "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM objects),
                        (SELECT COUNT(*) FROM audit), (SELECT MAX(seq) FROM audit)",
                &[],
            )
            .await?;
        let r = rows
            .first()
            .ok_or_else(|| StoreError::Read("the counts returned no row".into()))?;
        let last: Option<i64> = r.try_get(3).map_err(read)?;
        Ok(StoreCounts {
            users: count(r.try_get(0).map_err(read)?),
            objects: count(r.try_get(1).map_err(read)?),
            audit: count(r.try_get(2).map_err(read)?),
            last_audit_seq: last.and_then(|s| u64::try_from(s).ok()),
        })
    }

    pub(in super::super) async fn users_page(
        &self,
        after: &str,
        n: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.pairs(
            "SELECT user_id, record FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
            &[&after, &limit(n)],
        )
        .await
    }

    pub(in super::super) async fn keys_page(
        &self,
        after: &str,
        n: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.pairs(
            "SELECT id, value FROM objects
                 WHERE type = 'PRIVATE_KEY' AND value IS NOT NULL AND id > $1
                 ORDER BY id LIMIT $2",
            &[&after, &limit(n)],
        )
        .await
    }

    pub(in super::super) async fn audit_page(
        &self,
        after: i64,
        n: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.pairs(
            "SELECT seq, record FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after, &limit(n)],
        )
        .await
    }

    pub(in super::super) async fn checkpoint_page(
        &self,
        after: i64,
        upto: i64,
        n: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.pairs(
            "SELECT next_seq, checkpoint FROM checkpoints
                 WHERE next_seq > $1 AND next_seq <= $2 ORDER BY next_seq LIMIT $3",
            &[&after, &upto, &limit(n)],
        )
        .await
    }

    /// See the SQLite store's `managed_signers` (the same linear scan).
    pub(in super::super) async fn managed_signers(
        &self,
        actor: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .query("SELECT seq, record FROM audit ORDER BY seq", &[])
            .await?;
        let mut targets = std::collections::BTreeSet::new();
        for (seq, blob) in pair::<i64, Vec<u8>>(rows)? {
            if let Some(t) = managed_target(seq, &blob, actor)? {
                targets.insert(t);
            }
        }
        let wanted: Vec<String> = targets.iter().cloned().collect();
        let rows = self
            .query(
                "SELECT user_id FROM users WHERE user_id = ANY($1) AND role = 'Signer'",
                &[&wanted],
            )
            .await?;
        let signers: std::collections::HashSet<String> = rows
            .iter()
            .map(|r| r.try_get(0).map_err(read))
            .collect::<Result<_, _>>()?;
        // In the SQLite store's order (byte order of the UserIDs), whatever
        // the database's collation.
        Ok(targets
            .into_iter()
            .filter(|t| signers.contains(t))
            .collect())
    }
}

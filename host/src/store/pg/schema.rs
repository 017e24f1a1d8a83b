//! The PostgreSQL schema, as versioned migrations.
//!
//! `schema_version` lists every migration applied (version and time).
//! At start samd applies, in one transaction, each migration the database
//! lacks, in order; a database newer than this samd is refused rather
//! than written with an older idea of its tables. Several samd instances
//! may start at once: a transaction-scoped advisory lock lets one migrate
//! while the others wait and then find nothing to do. Migrations are
//! never edited once released; a change is a new one.

use tokio_postgres::Client;

/// The advisory lock key of the migration ("SAMSCHEM" in ASCII).
const MIGRATION_LOCK: i64 = 0x5341_4d53_4348_454d;

/// Every migration, in order: (version, SQL).
const MIGRATIONS: &[(i32, &str)] = &[(1, V1), (2, V2)];

/// The first schema: the SQLite store's tables (`schema.rs` of the
/// SQLite store, version 2), in PostgreSQL's types.
const V1: &str = "
CREATE TABLE users (
    user_id    TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    generation BIGINT NOT NULL,
    record     BYTEA NOT NULL,
    updated    BIGINT NOT NULL
);
CREATE TABLE objects (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL CHECK (type IN
                   ('PRIVATE_KEY', 'PUBLIC_KEY', 'CERTIFICATE_REQUEST', 'CERTIFICATE')),
    state      TEXT NOT NULL CHECK (state IN
                   ('PRE_ACTIVE', 'ACTIVE', 'DEACTIVATED', 'COMPROMISED',
                    'DESTROYED', 'DESTROYED_COMPROMISED')),
    key_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    value      BYTEA,
    attributes TEXT NOT NULL,
    created    BIGINT NOT NULL,
    updated    BIGINT NOT NULL
);
CREATE INDEX objects_by_key ON objects (key_id);
CREATE INDEX objects_by_user ON objects (user_id);
CREATE TABLE links (
    from_id TEXT NOT NULL,
    to_id   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    PRIMARY KEY (from_id, to_id, kind)
);
CREATE TABLE audit (
    seq    BIGINT PRIMARY KEY,
    record BYTEA NOT NULL
);
CREATE TABLE checkpoints (
    next_seq   BIGINT PRIMARY KEY,
    checkpoint BYTEA NOT NULL
);
";

/// The identity tokens that signings used (`WriteOp::UseToken`): the
/// UNIQUE key is the single-use check across the HSMs sharing this
/// database. `used` is the host's clock, for an operator's eyes only.
const V2: &str = "
CREATE TABLE used_tokens (
    digest BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    used   BIGINT NOT NULL
);
";

/// The newest version this samd knows.
pub(super) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Brings the database to [`latest`]; returns the version it is at.
pub(super) async fn migrate(client: &mut Client) -> Result<i32, String> {
    let e = |e: tokio_postgres::Error| e.to_string();
    let tx = client.transaction().await.map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(e)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version INTEGER PRIMARY KEY,
             applied TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(e)?;
    let current: i32 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await
        .map_err(e)?
        .get(0);
    if current > latest() {
        return Err(format!(
            "the database is at schema version {current}, newer than this samd's {}",
            latest()
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)
            .await
            .map_err(|err| format!("version {version}: {err}"))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(e)?;
        tracing::info!(version, "PostgreSQL store migrated");
    }
    tx.commit().await.map_err(e)?;
    Ok(latest())
}

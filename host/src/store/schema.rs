//! The SQLite schema and connection settings.

use rusqlite::Connection;
use std::time::Duration;

/// Schema version kept in `PRAGMA user_version`. Version 2 added the
/// `checkpoints` table, version 3 `used_tokens`; every statement of
/// [`SCHEMA`] is `IF NOT EXISTS`, so running it on an older database is
/// the migration.
pub const SCHEMA_VERSION: i64 = 3;

/// How long a connection waits for another writer (an operator's shell,
/// a backup) before a statement fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    user_id    TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    generation INTEGER NOT NULL,
    record     BLOB NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL CHECK (type IN
                   ('PRIVATE_KEY', 'PUBLIC_KEY', 'CERTIFICATE_REQUEST', 'CERTIFICATE')),
    state      TEXT NOT NULL CHECK (state IN
                   ('PRE_ACTIVE', 'ACTIVE', 'DEACTIVATED', 'COMPROMISED',
                    'DESTROYED', 'DESTROYED_COMPROMISED')),
    key_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    value      BLOB,
    attributes TEXT NOT NULL,
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_key ON objects (key_id);
CREATE INDEX IF NOT EXISTS objects_by_user ON objects (user_id);
CREATE TABLE IF NOT EXISTS links (
    from_id TEXT NOT NULL,
    to_id   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    PRIMARY KEY (from_id, to_id, kind)
);
CREATE TABLE IF NOT EXISTS audit (
    seq    INTEGER PRIMARY KEY,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    next_seq   INTEGER PRIMARY KEY,
    checkpoint BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS used_tokens (
    digest BLOB PRIMARY KEY CHECK (length(digest) = 32),
    used   INTEGER NOT NULL
);
";

/// Settings every connection gets. `synchronous = FULL` in WAL mode makes
/// each commit fsync the log: a commit that returned is on disk, which is
/// what lets the daemon answer after it.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// Puts the database in WAL mode and creates the schema if it is new.
/// Skips the DDL when the schema is current, so that a database the
/// process may not write still opens (and fails at its first commit,
/// which is where the daemon detects it).
pub fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "the database is not in WAL mode");
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < SCHEMA_VERSION {
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

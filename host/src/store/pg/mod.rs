//! The PostgreSQL store: the same tables and the same rules as the SQLite
//! one, in a database that several samd instances can share.
//!
//! * **Driver**: `tokio-postgres`, the maintained async driver that the
//!   ecosystem's pools are built on, pure Rust, no compile-time query
//!   checking (which would need a database at build time) and a fraction
//!   of sqlx's build. No TLS: the server is expected on loopback or a Unix
//!   socket (`host=/run/postgresql`); a remote server needs a TLS
//!   connector, not yet built.
//! * **Durability**: each [`WriteBatch`](super::WriteBatch) is one
//!   transaction, committed with `synchronous_commit = on` (set for every
//!   session, whatever the server's default): a commit that returned is in
//!   the server's flushed WAL, so samd may answer after it.
//! * **Failures**: unlike SQLite's failed fsync, a failed PostgreSQL
//!   commit does not leave samd unsure what is on disk: the server itself
//!   stops (PANIC) on a failed WAL flush and recovers from the WAL, and a
//!   connection lost during COMMIT leaves the server's outcome atomic
//!   (all of the batch or none of it). So a lost connection is replaced,
//!   not fatal: the request gets [`StoreError::Unavailable`], the store
//!   reports not ready until a connection works again ([`Pg::is_available`],
//!   checked every second), and its audit records, still in the
//!   firmware's outbox, are stored again by the audit sync (identical
//!   records are accepted twice).
//! * **Statements** are all parameterized; the schema is versioned
//!   ([`schema`]) and migrated at start.

mod read;
mod schema;
mod writer;

use super::{CommitHook, StoreError};
use crate::metrics::Metrics;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, NoTls};

/// How long a new connection may take before the store counts as
/// unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the availability check runs (it is what turns `/readyz`
/// true again after PostgreSQL comes back, and false when it goes away
/// while samd is idle).
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// `[store]` settings of the PostgreSQL backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgOptions {
    /// A libpq connection string or URL (`postgres://user@host:port/db`,
    /// `host=/run/postgresql dbname=sam`).
    pub url: String,
    /// Most connections open at once (reads and writes share them).
    pub pool_size: usize,
}

/// The PostgreSQL store.
pub(super) struct Pg {
    pool: Arc<Pool>,
    hook: Arc<Mutex<Option<CommitHook>>>,
    metrics: Arc<Metrics>,
}

/// Connections: idle ones kept for reuse, at most `pool_size` in use.
struct Pool {
    config: tokio_postgres::Config,
    location: String,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
    available: AtomicBool,
    /// How often the store became available again after an outage.
    reconnects: AtomicU64,
    closed: AtomicBool,
}

/// A connection taken from the pool; given back on drop unless it broke.
pub(super) struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Conn<'_> {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.client.as_mut().ok_or(StoreError::Closed)
    }

    /// Maps a database error of this connection: a constraint violation is
    /// the caller's, a lost connection is dropped (not given back) and
    /// makes the store unavailable, anything else is `other`.
    fn error(&mut self, e: &tokio_postgres::Error, other: fn(String) -> StoreError) -> StoreError {
        if is_connection_error(e) || self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
            self.pool.set_available(false, &e.to_string());
            StoreError::Unavailable(e.to_string())
        } else {
            other(e.to_string())
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
            && !self.pool.closed.load(Ordering::SeqCst)
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(client);
        }
    }
}

/// Whether `e` means the connection (or the server) is gone rather than
/// that the statement was wrong: no SQLSTATE (I/O, closed), class 08
/// (connection exception), 57 (operator intervention: shutdown, crash
/// recovery) or 53 (insufficient resources).
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_none_or(|c| {
            let code = c.code();
            code.starts_with("08") || code.starts_with("57") || code.starts_with("53")
        })
}

/// Whether `e` is an integrity constraint violation (class 23): the
/// batch contradicts what is stored.
pub(super) fn is_constraint_violation(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| c.code().starts_with("23"))
}

impl Pool {
    fn set_available(&self, available: bool, why: &str) {
        let was = self.available.swap(available, Ordering::SeqCst);
        if was && !available {
            tracing::error!(store = %self.location, error = why, "the PostgreSQL store is unavailable");
        } else if !was && available {
            self.reconnects.fetch_add(1, Ordering::SeqCst);
            tracing::info!(store = %self.location, "the PostgreSQL store is available again");
        }
    }

    /// A connection: an idle one, or a new one if none is idle.
    async fn get(&self) -> Result<Conn<'_>, StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let idle = loop {
            let next = self.idle.lock().ok().and_then(|mut i| i.pop());
            match next {
                Some(c) if c.is_closed() => continue,
                other => break other,
            }
        };
        let client = match idle {
            Some(c) => c,
            None => self.connect().await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Client, StoreError> {
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, self.config.connect(NoTls)).await;
        let (client, connection) = match connected {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => {
                self.set_available(false, &e.to_string());
                return Err(StoreError::Unavailable(format!("{}: {e}", self.location)));
            }
            Err(_) => {
                let e = format!(
                    "{}: no connection within {CONNECT_TIMEOUT:?}",
                    self.location
                );
                self.set_available(false, &e);
                return Err(StoreError::Unavailable(e));
            }
        };
        let location = self.location.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(store = %location, error = %e, "a PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// One round trip on a pooled connection; sets the availability.
    async fn check(&self) {
        let ok = match tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut conn = self.get().await?;
            let client = conn.client()?;
            match client.simple_query("SELECT 1").await {
                Ok(_) => Ok(()),
                Err(e) => Err(conn.error(&e, StoreError::Read)),
            }
        })
        .await
        {
            Ok(r) => r,
            Err(_) => Err(StoreError::Unavailable("the check timed out".into())),
        };
        match ok {
            Ok(()) => self.set_available(true, ""),
            Err(StoreError::Closed) => {}
            Err(e) => self.set_available(false, &e.to_string()),
        }
    }
}

/// `postgres://host:port/dbname` of `config`, without user or password.
fn location(config: &tokio_postgres::Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_string(),
        |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{host}:{port}/{db}")
}

/// The schema version this samd migrates a database to.
#[cfg(test)]
pub(super) fn latest_schema_version() -> i32 {
    schema::latest()
}

impl Pg {
    /// Connects, migrates and starts the availability check.
    pub(super) async fn open(
        options: PgOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| StoreError::Open(format!("[store] url: {e}")))?;
        config
            .application_name("samd")
            .options("-c synchronous_commit=on")
            .connect_timeout(CONNECT_TIMEOUT);
        let location = location(&config);
        let pool = Arc::new(Pool {
            config,
            location: location.clone(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(options.pool_size.max(1)),
            available: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        {
            let mut conn = pool
                .get()
                .await
                .map_err(|e| StoreError::Open(e.to_string()))?;
            let client = conn.client()?;
            let version = schema::migrate(client)
                .await
                .map_err(|e| StoreError::Open(format!("{location}: migration: {e}")))?;
            tracing::info!(store = %location, schema_version = version, "PostgreSQL store open");
        }
        tokio::spawn(watch(Arc::downgrade(&pool)));
        Ok(Self {
            pool,
            hook: Arc::new(Mutex::new(None)),
            metrics,
        })
    }

    pub(super) fn hook(&self) -> &Mutex<Option<CommitHook>> {
        &self.hook
    }

    pub(super) fn location(&self) -> String {
        self.pool.location.clone()
    }

    /// Whether the last connection attempt, statement or check worked.
    pub(super) fn is_available(&self) -> bool {
        self.pool.available.load(Ordering::SeqCst) && !self.pool.closed.load(Ordering::SeqCst)
    }

    /// How often the store came back from an outage.
    pub(super) fn reconnects(&self) -> u64 {
        self.pool.reconnects.load(Ordering::SeqCst)
    }

    /// Stops handing out connections and closes the idle ones; requests
    /// still running finish on theirs.
    pub(super) fn close(&self) {
        self.pool.closed.store(true, Ordering::SeqCst);
        self.pool.permits.close();
        if let Ok(mut idle) = self.pool.idle.lock() {
            idle.clear();
        }
    }

    async fn conn(&self) -> Result<Conn<'_>, StoreError> {
        self.pool.get().await
    }
}

/// The availability check, until the store is closed or dropped.
async fn watch(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        let Some(pool) = pool.upgrade() else { return };
        if pool.closed.load(Ordering::SeqCst) {
            return;
        }
        pool.check().await;
    }
}

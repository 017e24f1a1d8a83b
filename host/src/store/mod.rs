//! The host's storage: SAM DB (user records), key manager (managed
//! objects and links) and audit store, in one SQLite file (the embedded
//! default) or in one PostgreSQL database (several samd instances, see
//! [`pg`]).
//!
//! Everything here was produced by the firmware and is authenticated by
//! it; the store only has to keep it, durably and in one transaction per
//! operation. With SQLite, writes go through the single group-commit
//! [`writer`]; reads use a small pool of separate connections, which WAL
//! mode lets run alongside the writer. With PostgreSQL, each batch is one
//! transaction on a pooled connection. [`Store`] is the same for both:
//! the rest of samd does not know which one it has.

pub mod model;
mod pg;
mod read;
mod schema;
mod writer;

pub use model::{Link, ManagedObject, ObjectState, ObjectType, UserRow, WriteBatch, WriteOp};
pub use pg::PgOptions;
pub use read::{ObjectFilter, StoreCounts, decode_audit, decode_checkpoint};
pub use writer::CommitHook;

use crate::metrics::Metrics;
use rusqlite::{Connection, OpenFlags};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The database could not be opened or prepared.
    Open(String),
    /// A commit failed; the store is out of service until restart.
    Fatal(String),
    /// The batch's changes contradict what is stored (e.g. the user
    /// exists); its audit records were stored, its changes were not.
    Conflict(String),
    /// A stored row does not decode: tampered with or corrupt.
    Corrupt(String),
    /// A read failed.
    Read(String),
    /// The batch uses an identity token that a stored signing already
    /// used (the store's single-use check of SADs across HSMs); its audit
    /// records were stored, its changes were not.
    Replayed(String),
    /// The database cannot be reached now (PostgreSQL: connection lost or
    /// refused); the store keeps trying and is not ready meanwhile.
    Unavailable(String),
    /// The store was closed.
    Closed,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open(m) => write!(f, "cannot open the store: {m}"),
            Self::Fatal(m) => write!(f, "store failure: {m}"),
            Self::Conflict(m) => write!(f, "refused by the store: {m}"),
            Self::Corrupt(m) => write!(f, "stored data is corrupt: {m}"),
            Self::Read(m) => write!(f, "store read failed: {m}"),
            Self::Replayed(m) => write!(f, "refused by the store: {m}"),
            Self::Unavailable(m) => write!(f, "the store is unavailable: {m}"),
            Self::Closed => f.write_str("the store is closed"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Read(e.to_string())
    }
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The database behind a [`Store`].
enum Inner {
    Sqlite(Sqlite),
    Postgres(pg::Pg),
}

/// The SQLite store: one writer thread, pooled read connections.
struct Sqlite {
    path: PathBuf,
    sender: Mutex<Option<mpsc::Sender<writer::Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    failed: Arc<AtomicBool>,
    readers: Mutex<Vec<Connection>>,
    hook: Arc<Mutex<Option<CommitHook>>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location())
            .field("failed", &self.is_failed())
            .finish()
    }
}

/// Unix seconds of the host clock (for `created`/`updated` columns only;
/// nothing security-relevant depends on the host's clock).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens (creating if needed) the database at `path` and starts the
    /// writer thread.
    pub fn open(path: &Path, metrics: Arc<Metrics>) -> Result<Self, StoreError> {
        Self::open_with(path, metrics, OpenFlags::default())
    }

    /// [`Self::open`] with the writer connection opened with `flags`
    /// (tests open it read-only to make commits fail).
    pub(crate) fn open_with(
        path: &Path,
        metrics: Arc<Metrics>,
        flags: OpenFlags,
    ) -> Result<Self, StoreError> {
        let open_err = |e: rusqlite::Error| StoreError::Open(format!("{}: {e}", path.display()));
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        schema::configure(&conn).map_err(open_err)?;
        schema::prepare(&conn).map_err(open_err)?;
        let (tx, rx) = mpsc::channel();
        let failed = Arc::new(AtomicBool::new(false));
        let hook = Arc::new(Mutex::new(None));
        let thread = std::thread::Builder::new()
            .name("samd-store-writer".into())
            .spawn({
                let failed = Arc::clone(&failed);
                let hook = Arc::clone(&hook);
                move || writer::run(conn, rx, failed, metrics, hook)
            })
            .map_err(|e| StoreError::Open(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner::Sqlite(Sqlite {
                path: path.to_path_buf(),
                sender: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                failed,
                readers: Mutex::new(Vec::new()),
                hook,
            })),
        })
    }

    /// Connects to the PostgreSQL database at `options.url`, applies the
    /// migrations it lacks and starts the availability check. Fails if the
    /// database cannot be reached now: samd does not start on a store it
    /// has never seen.
    pub async fn open_postgres(
        options: PgOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StoreError> {
        let pg = pg::Pg::open(options, metrics).await?;
        Ok(Self {
            inner: Arc::new(Inner::Postgres(pg)),
        })
    }

    /// The PostgreSQL store, if that is the backend.
    fn postgres(&self) -> Option<&pg::Pg> {
        match &*self.inner {
            Inner::Postgres(p) => Some(p),
            Inner::Sqlite(_) => None,
        }
    }

    /// The SQLite store, if that is the backend.
    fn sqlite(&self) -> Option<&Sqlite> {
        match &*self.inner {
            Inner::Sqlite(s) => Some(s),
            Inner::Postgres(_) => None,
        }
    }

    /// Calls `hook` after every commit with the `seq` of the audit records
    /// it made durable (replacing any earlier hook).
    pub fn on_audit_committed(&self, hook: CommitHook) {
        let slot = match &*self.inner {
            Inner::Sqlite(s) => &s.hook,
            Inner::Postgres(p) => p.hook(),
        };
        if let Ok(mut h) = slot.lock() {
            *h = Some(hook);
        }
    }

    /// Where the data is: the SQLite file, or the PostgreSQL server and
    /// database (never the password).
    pub fn location(&self) -> String {
        match &*self.inner {
            Inner::Sqlite(s) => s.path.display().to_string(),
            Inner::Postgres(p) => p.location(),
        }
    }

    /// Whether the store cannot take writes: SQLite after a failed commit
    /// (until restart), PostgreSQL while the server cannot be reached (the
    /// daemon is then not ready).
    pub fn is_failed(&self) -> bool {
        match &*self.inner {
            Inner::Sqlite(s) => s.failed.load(Ordering::SeqCst),
            Inner::Postgres(p) => !p.is_available(),
        }
    }

    /// How often the store came back from an outage (PostgreSQL only;
    /// only grows): a commit cut off by an outage may have left audit
    /// records in the firmware's outbox that only a recovery stores.
    pub fn reconnects(&self) -> u64 {
        self.postgres().map_or(0, pg::Pg::reconnects)
    }

    /// Makes `batch` durable: returns after the commit that contains it
    /// (and its fsync) succeeded.
    pub async fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let sqlite = match &*self.inner {
            Inner::Sqlite(s) => s,
            Inner::Postgres(p) => return p.write(batch).await,
        };
        if sqlite.failed.load(Ordering::SeqCst) {
            return Err(StoreError::Fatal(
                "the store failed earlier and is out of service until restart".into(),
            ));
        }
        let (reply, answer) = oneshot::channel();
        {
            let guard = sqlite.sender.lock().map_err(|_| StoreError::Closed)?;
            let sender = guard.as_ref().ok_or(StoreError::Closed)?;
            sender
                .send(writer::Job { batch, reply })
                .map_err(|_| StoreError::Closed)?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops accepting writes, lets the writer commit what is queued and
    /// waits for it. Blocking; call once at shutdown.
    pub fn close(&self) {
        let sqlite = match &*self.inner {
            Inner::Sqlite(s) => s,
            Inner::Postgres(p) => return p.close(),
        };
        if let Ok(mut s) = sqlite.sender.lock() {
            s.take();
        }
        let thread = sqlite.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread
            && t.join().is_err()
        {
            tracing::error!("the store writer thread panicked");
        }
    }

    /// Runs `f` on a SQLite read connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = store.take_reader()?;
            let result = f(&conn);
            store.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Read(format!("read task failed: {e}")))?
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let sqlite = self
            .sqlite()
            .ok_or_else(|| StoreError::Read("not a SQLite store".into()))?;
        if let Some(conn) = sqlite.readers.lock().ok().and_then(|mut r| r.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &sqlite.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Read(e.to_string()))?;
        schema::configure(&conn).map_err(|e| StoreError::Read(e.to_string()))?;
        // Reads only: a bug that writes through a reader fails loudly
        // instead of bypassing the writer's audit-together rule.
        conn.pragma_update(None, "query_only", "ON")
            .map_err(|e| StoreError::Read(e.to_string()))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Some(sqlite) = self.sqlite()
            && let Ok(mut r) = sqlite.readers.lock()
            && r.len() < MAX_IDLE_READERS
        {
            r.push(conn);
        }
    }
}

#[cfg(test)]
mod tests;

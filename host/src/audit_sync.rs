//! Keeps the firmware's audit outbox short, and recovers what it holds.
//!
//! The firmware keeps every audit record it issues until samd says the
//! record is durable here (`SyncAudit`, DESIGN §4). Two duties follow:
//!
//! * Acknowledge: after each commit the store hands over the `seq` of the
//!   audit records it made durable; a background task passes them on in
//!   batches, so the outbox holds little more than the operations in
//!   flight.
//! * Recover: at start-up, after the firmware link broke (samd or the
//!   simulator was killed between the firmware's answer and the commit)
//!   and after the store came back from an outage (PostgreSQL restarted
//!   while a commit was in flight),
//!   fetch what the outbox still holds and store it. Without this the
//!   firmware's counter would cover records nobody holds, a gap the
//!   integrity check cannot tell from truncation.
//!
//! A recovered record may describe an operation whose answer never
//! reached its client (a key generated, then samd killed): the record is
//! true (the firmware did it) and the result was never delivered, so the
//! operation's objects are absent while its record is present.
//!
//! Nothing here is trusted: a host that acknowledges without storing only
//! makes the gap the integrity check reports anyway.

use crate::store::{Store, WriteBatch, WriteOp};
use crate::transport::FirmwareClient;
use sam_proto::bounded::List;
use sam_proto::command::{AuditCursor, MAX_OUTBOX_BATCH, SyncAudit};
use sam_proto::records::AuditCheckpoint;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What the outbox work needs of the daemon: its firmware link, its store
/// and the shared bookkeeping. `api::App` implements it; this module does
/// not know the request handlers, so the dependency runs one way.
pub trait OutboxHost {
    /// The firmware.
    fn firmware(&self) -> &FirmwareClient;
    /// The store.
    fn store(&self) -> &Store;
    /// The bookkeeping.
    fn audit_sync(&self) -> &Arc<AuditSync>;
}

/// How often the task looks for work when nothing wakes it.
const TICK: Duration = Duration::from_millis(500);

/// The outbox bookkeeping shared by the store's commit hook, the task and
/// the readiness probe.
#[derive(Debug, Default)]
pub struct AuditSync {
    /// `seq` of durable records not yet acknowledged to the firmware.
    acks: Mutex<Vec<u64>>,
    notify: Notify,
    /// The firmware client's count of link breaks that the last
    /// successful recovery covers (read before it fetched): the outbox is
    /// recovered when this equals [`FirmwareClient::link_breaks`].
    synced_through: AtomicU64,
    /// Serializes recoveries (the task's and the probes').
    recovering: tokio::sync::Mutex<()>,
    /// `next_seq` of the periodic checkpoint stored last.
    last_checkpoint: AtomicU64,
    /// Where the next data-integrity walk may resume the audit chain: a
    /// firmware-authenticated cursor a little before the end of the last
    /// walk that found the chain intact (see `api::integrity`).
    resume: Mutex<Option<AuditCursor>>,
}

impl AuditSync {
    /// Queues acknowledgements for records the store made durable.
    pub fn committed(&self, seqs: Vec<u64>) {
        if let Ok(mut a) = self.acks.lock() {
            a.extend(seqs);
        }
        self.notify.notify_one();
    }

    /// Whether the outbox was recovered after the last link break
    /// counted so far (`breaks`, [`FirmwareClient::link_breaks`]).
    fn synced_at(&self, breaks: u64) -> bool {
        self.synced_through.load(Ordering::SeqCst) >= breaks
    }

    /// Recovers the outbox now unless that already happened since the
    /// link last broke. Used before answering readiness and integrity
    /// questions, so that neither reports a gap a recovery would close.
    ///
    /// The break count is read before the recovery fetches anything, and
    /// only that count is marked covered: a break that happens while the
    /// recovery runs (an answer lost to a second kill) raises the count
    /// past it, so the next call recovers again. (A flag cleared before
    /// the recovery and set after it had a window in which a concurrent
    /// caller saw the outbox as recovered while the recovery was still
    /// fetching: readiness then answered before every record was back.)
    pub async fn ensure_synced(&self, app: &impl OutboxHost) -> Result<(), String> {
        if self.synced_at(breaks(app)) {
            return Ok(());
        }
        let _one = self.recovering.lock().await;
        let breaks = breaks(app);
        if self.synced_at(breaks) {
            return Ok(());
        }
        let n = recover(self, app).await?;
        if n > 0 {
            tracing::warn!(
                records = n,
                "recovered audit records the firmware issued but this store did not hold"
            );
        }
        self.synced_through.fetch_max(breaks, Ordering::SeqCst);
        Ok(())
    }

    /// [`Self::ensure_synced`], then also fetches and stores what the
    /// firmware's outbox still holds once every record this store made
    /// durable is acknowledged. Used before answering readiness and
    /// integrity questions.
    ///
    /// Why the break count alone is not enough: a frame the previous samd
    /// sent may still be running in the module when this samd recovers
    /// (it was queued there, or waiting for the counters' store). Its
    /// record enters the outbox after the recovery fetched, its answer
    /// goes to a dead connection, and no link break of this samd ever
    /// announces it. The outbox's count of kept records does: after the
    /// acknowledgements it is zero unless a record is in flight or lost,
    /// and fetching one that is merely in flight stores it twice, which is
    /// harmless.
    pub async fn ensure_complete(&self, app: &impl OutboxHost) -> Result<(), String> {
        self.ensure_synced(app).await?;
        self.acknowledge(app).await;
        let outbox = app
            .firmware()
            .call(&SyncAudit {
                stored: List::default(),
                fetch_from: None,
            })
            .await
            .map_err(|e| format!("{}: {}", e.error.name(), e.detail))?;
        if outbox.kept == 0 {
            return Ok(());
        }
        let n = self.recover_now(app).await?;
        tracing::info!(
            records = n,
            "stored the records the firmware's outbox still held (answers in flight or lost)"
        );
        Ok(())
    }

    /// The cursor an integrity walk may resume from, if any.
    pub fn resume_cursor(&self) -> Option<AuditCursor> {
        self.resume.lock().ok().and_then(|c| c.clone())
    }

    /// Remembers (or, with `None`, forgets) where the next integrity walk
    /// may resume.
    pub fn set_resume_cursor(&self, cursor: Option<AuditCursor>) {
        if let Ok(mut c) = self.resume.lock() {
            *c = cursor;
        }
    }

    /// Fetches and stores whatever the firmware's outbox holds now, even
    /// if a recovery already ran: used before an export, so that the store
    /// holds every record a fresh checkpoint covers.
    pub async fn recover_now(&self, app: &impl OutboxHost) -> Result<usize, String> {
        let _one = self.recovering.lock().await;
        recover(self, app).await
    }

    /// Sends the queued acknowledgements.
    async fn acknowledge(&self, app: &impl OutboxHost) {
        let seqs = match self.acks.lock() {
            Ok(mut a) => std::mem::take(&mut *a),
            Err(_) => return,
        };
        for chunk in seqs.chunks(MAX_OUTBOX_BATCH) {
            let Ok(stored) = List::from_vec(chunk.to_vec()) else {
                continue;
            };
            let req = SyncAudit {
                stored,
                fetch_from: None,
            };
            match app.firmware().call(&req).await {
                Ok(outbox) => self.keep_checkpoint(app, outbox.checkpoint).await,
                Err(e) => {
                    // Harmless: the records stay in the outbox, the next
                    // recovery fetches them again (storing is idempotent)
                    // and acknowledges them then.
                    // The failed call counted a link break, so the
                    // next `ensure_synced` recovers.
                    tracing::debug!(error = %e.detail, "audit acknowledgement not delivered");
                    return;
                }
            }
        }
    }
}

impl AuditSync {
    /// Stores the firmware's latest periodic checkpoint unless it is the
    /// one stored last. A failed store only loses this checkpoint; the
    /// next interval brings another.
    async fn keep_checkpoint(&self, app: &impl OutboxHost, cp: Option<AuditCheckpoint>) {
        let Some(cp) = cp else { return };
        if self.last_checkpoint.swap(cp.next_seq, Ordering::SeqCst) == cp.next_seq {
            return;
        }
        let batch = WriteBatch {
            audit: Vec::new(),
            ops: vec![WriteOp::InsertCheckpoint(cp)],
        };
        if let Err(e) = app.store().write(batch).await {
            tracing::warn!(error = %e, "audit checkpoint not stored");
        }
    }
}

/// Fetches everything the outbox holds and stores it; returns how many
/// records came back. Their acknowledgement follows from the commit hook.
async fn recover(sync: &AuditSync, app: &impl OutboxHost) -> Result<usize, String> {
    let mut from = 0;
    let mut total = 0;
    loop {
        let outbox = app
            .firmware()
            .call(&SyncAudit {
                stored: List::default(),
                fetch_from: Some(from),
            })
            .await
            .map_err(|e| format!("{}: {}", e.error.name(), e.detail))?;
        sync.keep_checkpoint(app, outbox.checkpoint.clone()).await;
        let next = outbox.records.last().map(|r| r.entry.seq.saturating_add(1));
        let records = outbox.records.into_vec();
        total += records.len();
        if !records.is_empty() {
            app.store()
                .write(WriteBatch::audit_only(records))
                .await
                .map_err(|e| format!("storing recovered audit records: {e}"))?;
        }
        match (outbox.more, next) {
            (true, Some(n)) => from = n,
            _ => return Ok(total),
        }
    }
}

/// Events after which the outbox may hold records no commit acknowledged,
/// counted: the firmware link broke ([`FirmwareClient::link_breaks`]), or
/// the store came back from an outage in which a commit may have been cut
/// off ([`Store::reconnects`], PostgreSQL). Both only grow.
fn breaks(app: &impl OutboxHost) -> u64 {
    app.firmware()
        .link_breaks()
        .saturating_add(app.store().reconnects())
}

/// Connects the store's commit hook to `app`'s outbox bookkeeping and
/// starts the task that acknowledges and recovers. The task ends when the
/// app is dropped.
pub fn start<H: OutboxHost + Send + Sync + 'static>(app: &Arc<H>) {
    let sync = Arc::clone(app.audit_sync());
    app.store()
        .on_audit_committed(Arc::new(move |seqs| sync.committed(seqs)));
    let weak = Arc::downgrade(app);
    let sync = Arc::clone(app.audit_sync());
    tokio::spawn(async move {
        loop {
            {
                let Some(app) = weak.upgrade() else { return };
                if let Err(e) = sync.ensure_synced(&*app).await {
                    tracing::debug!(error = %e, "audit outbox not recovered yet");
                }
                sync.acknowledge(&*app).await;
            }
            let _ = tokio::time::timeout(TICK, sync.notify.notified()).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::transport::{CallFuture, Transport, TransportError};
    use sam_proto::command::{AuditOutbox, Command, GetAuditCheckpoint};
    use sam_proto::frame::encode_body;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::Semaphore;

    /// A firmware whose outbox is empty. Each fetch waits for a permit of
    /// `gate` (so a test can hold a recovery half-way); every other
    /// command is lost on the way, as when the module is killed.
    #[derive(Debug)]
    struct EmptyOutbox {
        fetches: AtomicUsize,
        gate: Semaphore,
        /// What the outbox says it keeps (records it does not return:
        /// enough for the count the host looks at).
        kept: std::sync::atomic::AtomicU32,
    }

    impl Transport for EmptyOutbox {
        fn call(&self, sub_function: u16, body: Vec<u8>) -> CallFuture<'_> {
            Box::pin(async move {
                if sub_function != SyncAudit::CODE.code() {
                    return Err(TransportError::Unavailable("link cut".into()));
                }
                let req: SyncAudit = postcard::from_bytes(&body)
                    .map_err(|e| TransportError::Protocol(e.to_string()))?;
                if req.fetch_from.is_some() {
                    self.fetches.fetch_add(1, Ordering::SeqCst);
                    let _permit = self
                        .gate
                        .acquire()
                        .await
                        .map_err(|e| TransportError::Internal(e.to_string()))?;
                }
                let outbox = AuditOutbox {
                    records: List::default(),
                    more: false,
                    kept: self.kept.load(Ordering::SeqCst),
                    next_seq: 0,
                    checkpoint: None,
                };
                let body =
                    encode_body(&outbox).map_err(|e| TransportError::Internal(format!("{e:?}")))?;
                Ok((0, body))
            })
        }

        fn kind(&self) -> &'static str {
            "test"
        }
    }

    struct App {
        firmware: FirmwareClient,
        outbox: Arc<EmptyOutbox>,
        store: Store,
        sync: Arc<AuditSync>,
        _dir: tempfile::TempDir,
    }

    impl OutboxHost for App {
        fn firmware(&self) -> &FirmwareClient {
            &self.firmware
        }
        fn store(&self) -> &Store {
            &self.store
        }
        fn audit_sync(&self) -> &Arc<AuditSync> {
            &self.sync
        }
    }

    fn app(permits: usize) -> Arc<App> {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::new());
        let outbox = Arc::new(EmptyOutbox {
            fetches: AtomicUsize::new(0),
            gate: Semaphore::new(permits),
            kept: std::sync::atomic::AtomicU32::new(0),
        });
        Arc::new(App {
            firmware: FirmwareClient::new(outbox.clone(), metrics.clone()),
            outbox,
            store: Store::open(&dir.path().join("sam.db"), metrics).unwrap(),
            sync: Arc::default(),
            _dir: dir,
        })
    }

    fn fetches(app: &App) -> usize {
        app.outbox.fetches.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn the_start_and_each_link_break_cost_one_recovery() {
        let app = app(100);
        app.sync.ensure_synced(&*app).await.unwrap();
        app.sync.ensure_synced(&*app).await.unwrap();
        assert_eq!(fetches(&app), 1, "the start needs one recovery, not two");
        assert!(app.firmware.call(&GetAuditCheckpoint).await.is_err());
        app.sync.ensure_synced(&*app).await.unwrap();
        app.sync.ensure_synced(&*app).await.unwrap();
        assert_eq!(fetches(&app), 2, "a lost answer needs one more recovery");
    }

    /// The crashtest's hole: an answer lost while a recovery is fetching
    /// may belong to a record that recovery already missed, so the next
    /// caller must recover again rather than take that recovery's word.
    #[tokio::test]
    async fn a_link_break_during_a_recovery_is_not_covered_by_it() {
        let app = app(0);
        let first = tokio::spawn({
            let app = app.clone();
            async move { app.sync.ensure_synced(&*app).await }
        });
        while fetches(&app) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(app.firmware.call(&GetAuditCheckpoint).await.is_err());
        let second = tokio::spawn({
            let app = app.clone();
            async move { app.sync.ensure_synced(&*app).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "a caller answered while the recovery was still fetching"
        );
        app.outbox.gate.add_permits(100);
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(
            fetches(&app),
            2,
            "the break during the first recovery was absorbed"
        );
        app.sync.ensure_synced(&*app).await.unwrap();
        assert_eq!(fetches(&app), 2);
    }

    /// A record that entered the outbox after the last recovery, with no
    /// link break of this samd to announce it (a frame of the previous
    /// samd still running in the module), is fetched by the readiness and
    /// integrity path all the same.
    #[tokio::test]
    async fn records_the_outbox_still_keeps_are_fetched_without_a_break() {
        let app = app(100);
        app.sync.ensure_complete(&*app).await.unwrap();
        assert_eq!(fetches(&app), 1, "the start");
        app.outbox.kept.store(1, Ordering::SeqCst);
        app.sync.ensure_synced(&*app).await.unwrap();
        assert_eq!(
            fetches(&app),
            1,
            "no break: the background path does not fetch"
        );
        app.sync.ensure_complete(&*app).await.unwrap();
        assert_eq!(fetches(&app), 2, "the outbox keeps a record: fetched");
        app.outbox.kept.store(0, Ordering::SeqCst);
        app.sync.ensure_complete(&*app).await.unwrap();
        assert_eq!(fetches(&app), 2, "an empty outbox costs no fetch");
    }
}

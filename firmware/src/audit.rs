//! The audit trail: one hash-chained, MAC-tagged record per audited outcome.
//!
//! The firmware keeps only the chain head and the next sequence number (in
//! the counters slot); the records themselves go to the host. Editing a
//! record breaks its MAC, removing or reordering one breaks the chain, and
//! cutting the tail is seen because the firmware's counter runs ahead of the
//! last stored record. The counters are stored before the record leaves the
//! firmware, so a record the host holds is always covered by the counter
//! (several records share one store when operations run in parallel).
//!
//! The chain hash covers the whole entry in its layout of
//! `sam_proto::records::AuditEntry` (version 2 of the format: the action
//! became an `Action`, which can name an unknown code, and the cause and
//! samd's note were added after the failure), so an edited cause or note
//! breaks the record's MAC like any other field.
//!
//! The same store keeps each record in an outbox until the host
//! acknowledges it (SyncAudit). A crash of either side between the
//! firmware's answer and the host's commit would otherwise leave a record
//! that the counter covers and nobody holds: a gap the integrity check
//! cannot tell from truncation. With the outbox the host fetches it after
//! the restart, and the chain stays contiguous.

use crate::core::{Firmware, encode, mac_eq};
use crate::crypto::Crypto;
use crate::keys::ModuleKeys;
use crate::platform::Platform;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::codes::Cause;
use sam_proto::command::{AuditCursor, AuditOutbox, MAX_OUTBOX_BATCH, SyncAudit};
use sam_proto::ids::{KeyId, UserId};
use sam_proto::records::{
    AUDIT_CHAIN_LABEL, Action, AuditCheckpoint, AuditEntry, AuditRecord, MAX_NOTE_LEN,
    checkpoint_digest,
};

const CURSOR_LABEL: &[u8] = b"sam/audit-cursor/v1";

/// Why an operation was refused: the error type the caller gets and the
/// cause the audit record keeps.
///
/// Refusal sites that share an error type within one operation name their
/// own cause (`Refusal::new`); a bare `ErrorType` converts with the most
/// general cause of its type ([`Cause::default_for`]), so code that only
/// knows the type still compiles and records something true.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// What the caller is told.
    pub error: ErrorType,
    /// What the audit record says.
    pub cause: Cause,
}

impl Refusal {
    /// A refusal with its cause.
    pub const fn new(error: ErrorType, cause: Cause) -> Self {
        Self { error, cause }
    }
}

impl From<ErrorType> for Refusal {
    fn from(error: ErrorType) -> Self {
        Self::new(error, Cause::default_for(error))
    }
}

/// Shorthand for `Refusal::new` at refusal sites.
pub(crate) const fn refusal(error: ErrorType, cause: Cause) -> Refusal {
    Refusal::new(error, cause)
}

/// The state of the audit counters' group commit (see
/// [`Firmware::persist_through`]).
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    /// The `next_seq` of the last durable counters: every record below it
    /// is covered by a store that succeeded.
    pub(crate) durable: u64,
    /// A leader is storing the counters.
    pub(crate) storing: bool,
    /// Stores finished since boot (succeeded or failed): what waiters wait
    /// on ([`Platform::wait_for_store`]).
    pub(crate) finished: u64,
}

/// Who and what an audit record is about. Filled in as an operation learns
/// it, so that a failure is recorded with everything known at that point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// The acting user, once authenticated.
    pub actor: Option<UserId>,
    /// The user acted upon.
    pub target_user: Option<UserId>,
    /// The key acted upon.
    pub key_id: Option<KeyId>,
}

impl<P: Platform> Firmware<P> {
    /// Issues the next audit record and makes the counters that cover it
    /// durable before returning it.
    ///
    /// Group commit: the sequence number is taken under the counters lock
    /// (memory only), and one store covers every record issued before it;
    /// concurrent operations share one write instead of queueing one write
    /// each (see [`Self::persist_through`]).
    ///
    /// Fail-stop: if the store fails, later records may already hold
    /// sequence numbers after this one, so the firmware cannot take the
    /// number back. It enters the Failed state instead; every request is
    /// then NotOperational until a restart, which resumes from the last
    /// durable counters. No record past them was ever answered, so none
    /// is lost or duplicated.
    pub(crate) fn audit(
        &self,
        keys: &ModuleKeys,
        action: impl Into<Action>,
        failure: Option<Refusal>,
        subject: &Subject,
    ) -> Result<AuditRecord, ErrorType> {
        self.audit_noted(keys, action.into(), failure, None, subject)
    }

    /// [`Self::audit`] with a note (a refusal samd reported).
    pub(crate) fn audit_noted(
        &self,
        keys: &ModuleKeys,
        action: Action,
        failure: Option<Refusal>,
        note: Option<Blob<MAX_NOTE_LEN>>,
        subject: &Subject,
    ) -> Result<AuditRecord, ErrorType> {
        let time = self.now()?;
        let (entry, chain) = {
            let mut counters = self.counters.lock();
            let entry = AuditEntry {
                seq: counters.next_seq,
                prev: counters.head,
                time,
                boot: counters.boot,
                action,
                failure: failure.map(|f| f.error),
                cause: failure.map(|f| f.cause),
                note,
                actor: subject.actor,
                target_user: subject.target_user,
                key_id: subject.key_id,
            };
            let chain = self.chain_hash(&entry)?;
            counters.next_seq = counters
                .next_seq
                .checked_add(1)
                .ok_or(ErrorType::NotOperational)?;
            counters.head = chain;
            counters.keep(entry.clone());
            (entry, chain)
        };
        self.persist_through(entry.seq)?;
        self.periodic_checkpoint(keys, entry.seq, chain, entry.boot, time);
        let mac = self.crypto().hmac_sha256(&keys.audit, &[&chain]);
        Ok(AuditRecord { entry, mac })
    }

    /// Signs a checkpoint after every `checkpoint_interval`-th record, so
    /// that a host which never asks still collects one at least every
    /// interval (what an offline verifier can prove complete is then at
    /// most an interval short of the firmware's counter). The record is
    /// already durable: a failed signature only skips this checkpoint.
    fn periodic_checkpoint(
        &self,
        keys: &ModuleKeys,
        seq: u64,
        head: [u8; 32],
        boot: u32,
        time: i64,
    ) {
        let interval = u64::from(self.checkpoint_interval.load(Ordering::Relaxed).max(1));
        let next_seq = seq.saturating_add(1);
        if !next_seq.is_multiple_of(interval) {
            return;
        }
        if let Ok(cp) = self.sign_checkpoint(keys, next_seq, head, boot, time) {
            let mut last = self.last_checkpoint.lock();
            // Parallel operations may finish out of order: keep the newest.
            if last.as_ref().is_none_or(|l| l.next_seq < cp.next_seq) {
                *last = Some(cp);
            }
        }
    }

    /// GetAuditCheckpoint: a checkpoint of the chain as it is now. Not
    /// audited (that would move the head it signs).
    pub(crate) fn audit_checkpoint(&self) -> Result<AuditCheckpoint, ErrorType> {
        let guard = self.operational.read();
        let op = guard.as_ref().ok_or(ErrorType::NotOperational)?;
        let time = self.now()?;
        // Only durable records are covered: every record up to the
        // counter is durable once `persist_through` returned for it, and
        // a record issued but not yet durable is not yet answered either.
        let (next_seq, head, boot) = self.audit_position();
        self.persist_through(next_seq.saturating_sub(1))?;
        self.sign_checkpoint(&op.keys, next_seq, head, boot, time)
    }

    fn sign_checkpoint(
        &self,
        keys: &ModuleKeys,
        next_seq: u64,
        head: [u8; 32],
        boot: u32,
        time: i64,
    ) -> Result<AuditCheckpoint, ErrorType> {
        let digest = checkpoint_digest(next_seq, &head, boot, time, |p| self.sha256(p));
        Ok(AuditCheckpoint {
            next_seq,
            head,
            boot,
            time,
            signature: self.attest(keys, &digest)?,
        })
    }

    /// Makes the counters durable at least up to the record `seq`; returns
    /// only once a store that covers `seq` has succeeded, or with
    /// NotOperational.
    ///
    /// # Design: a leader per store, waiters woken once per store
    ///
    /// [`GroupCommit`] (behind a short lock, never held across a store)
    /// says how far the counters are durable, whether a store is under way
    /// and how many stores have finished. A caller whose record is not yet
    /// durable either finds no store under way and becomes the leader, or
    /// waits in [`Platform::wait_for_store`] until the store under way has
    /// finished, then looks again. The leader takes its snapshot of the
    /// counters *after* it claimed the store, so the snapshot covers every
    /// record issued so far (all waiters of that moment, and any record
    /// issued between the claim and the snapshot): each store carries the
    /// whole backlog, and throughput is batch size ÷ store time. At the
    /// end the leader publishes the result and the new count of finished
    /// stores, then wakes every waiter ([`Platform::notify_store`]): those
    /// it covered return, one of those it did not (issued during the
    /// store) leads the next store, the others wait for that one. Each
    /// waiter is woken once per store it waits for, and only when that
    /// store has finished; no one polls.
    ///
    /// # Why no record is answered before it is durable
    ///
    /// `durable` is only ever set by a leader, after `store` returned `Ok`
    /// for a snapshot whose `next_seq` it becomes; a caller returns `Ok`
    /// only if `durable > seq` (or as the leader whose own snapshot
    /// covered `seq`: the record was issued before `persist_through` was
    /// called, hence before the snapshot). Stores never overlap (one
    /// leader at a time), so the slot never goes back to an older snapshot,
    /// and `durable` only grows.
    ///
    /// # A failed store
    ///
    /// The leader sets the firmware's `failed` flag under the commit lock,
    /// still counts the store as finished and wakes everyone. Each waiter
    /// checks `failed` under that lock before anything else, so every
    /// waiter of that store, and every later caller, gets NotOperational;
    /// none can wait again, because waiting needs a store under way and no
    /// store starts once `failed` is set. No waiter hangs: a waiter waits
    /// only while `storing` is set, and the leader that set it always
    /// clears it, bumps `finished` and notifies, whatever the store did
    /// (the firmware does not panic; a platform `store` that never returns
    /// is a dead device either way).
    fn persist_through(&self, seq: u64) -> Result<(), ErrorType> {
        loop {
            let seen = {
                let mut commit = self.commit.lock();
                if self.failed.load(Ordering::SeqCst) {
                    return Err(ErrorType::NotOperational);
                }
                if commit.durable > seq {
                    return Ok(());
                }
                if commit.storing {
                    commit.finished
                } else {
                    commit.storing = true;
                    break;
                }
            };
            self.platform.wait_for_store(seen);
        }
        // The leader. Snapshot after the claim: it covers every record
        // issued so far, `seq` among them.
        let snapshot = self.counters.lock().clone();
        let stored = snapshot.store(&self.platform);
        let finished = {
            let mut commit = self.commit.lock();
            match stored {
                Ok(()) => commit.durable = commit.durable.max(snapshot.next_seq),
                Err(_) => self.failed.store(true, Ordering::SeqCst),
            }
            commit.storing = false;
            commit.finished = commit.finished.wrapping_add(1);
            commit.finished
        };
        self.platform.notify_store(finished);
        stored.map_err(|_| ErrorType::NotOperational)
    }

    /// SyncAudit: forgets the records the host says it stored and returns
    /// kept ones it asks for. Not audited: it changes nothing the audit
    /// trail describes (the records returned are already in the chain).
    pub(crate) fn sync_audit(&self, req: SyncAudit) -> Result<AuditOutbox, ErrorType> {
        let guard = self.operational.read();
        let op = guard.as_ref().ok_or(ErrorType::NotOperational)?;
        let (mut entries, kept, next_seq) = {
            let mut counters = self.counters.lock();
            if !req.stored.is_empty() {
                counters.outbox.retain(|e| !req.stored.contains(&e.seq));
            }
            let entries: Vec<AuditEntry> = match req.fetch_from {
                None => Vec::new(),
                Some(from) => counters
                    .outbox
                    .iter()
                    .filter(|e| e.seq >= from)
                    .take(MAX_OUTBOX_BATCH + 1)
                    .cloned()
                    .collect(),
            };
            let kept = u32::try_from(counters.outbox.len()).unwrap_or(u32::MAX);
            (entries, kept, counters.next_seq)
        };
        let more = entries.len() > MAX_OUTBOX_BATCH;
        entries.truncate(MAX_OUTBOX_BATCH);
        let mut records = List::default();
        for entry in entries {
            let chain = self.chain_hash(&entry)?;
            let mac = self.crypto().hmac_sha256(&op.keys.audit, &[&chain]);
            records
                .push(AuditRecord { entry, mac })
                .map_err(|_| ErrorType::UnexpectedError)?;
        }
        Ok(AuditOutbox {
            records,
            more,
            kept,
            next_seq,
            checkpoint: self.last_checkpoint.lock().clone(),
        })
    }

    fn chain_hash(&self, entry: &AuditEntry) -> Result<[u8; 32], ErrorType> {
        Ok(self.sha256(&[AUDIT_CHAIN_LABEL, &encode(entry)?]))
    }

    fn cursor_mac(&self, keys: &ModuleKeys, next_seq: u64, chain: &[u8; 32]) -> [u8; 32] {
        self.crypto()
            .hmac_sha256(&keys.audit, &[CURSOR_LABEL, &next_seq.to_be_bytes(), chain])
    }

    /// A cursor authenticated by the firmware.
    pub(crate) fn cursor(&self, keys: &ModuleKeys, next_seq: u64, chain: [u8; 32]) -> AuditCursor {
        AuditCursor {
            next_seq,
            chain,
            mac: self.cursor_mac(keys, next_seq, &chain),
        }
    }

    /// Checks consecutive records starting at `cursor` (the chain's start if
    /// `None`). Returns the index of the first bad record, if any, and the
    /// cursor after the last good one.
    pub(crate) fn verify_chain(
        &self,
        keys: &ModuleKeys,
        records: &[AuditRecord],
        cursor: Option<&AuditCursor>,
    ) -> Result<(Option<u16>, AuditCursor), ErrorType> {
        let (mut next_seq, mut chain) = match cursor {
            None => (0, [0u8; 32]),
            Some(c) => {
                if !mac_eq(&c.mac, &self.cursor_mac(keys, c.next_seq, &c.chain)) {
                    return Err(ErrorType::InvalidInput);
                }
                (c.next_seq, c.chain)
            }
        };
        for (i, r) in records.iter().enumerate() {
            let h = self.chain_hash(&r.entry)?;
            let mac = self.crypto().hmac_sha256(&keys.audit, &[&h]);
            let good = mac_eq(&mac, &r.mac) && r.entry.seq == next_seq && r.entry.prev == chain;
            if !good {
                let index = u16::try_from(i).map_err(|_| ErrorType::InvalidInput)?;
                return Ok((Some(index), self.cursor(keys, next_seq, chain)));
            }
            next_seq = next_seq.checked_add(1).ok_or(ErrorType::InvalidInput)?;
            chain = h;
        }
        Ok((None, self.cursor(keys, next_seq, chain)))
    }

    /// The counters as they are now.
    pub(crate) fn audit_position(&self) -> (u64, [u8; 32], u32) {
        let c = self.counters.lock();
        (c.next_seq, c.head, c.boot)
    }
}

//! Remote signature processes (seed §7.3.1–7.3.5): a key object opens
//! one, `create-signature(s)` prepares its batch, and the batch is taken
//! — once — by whichever of `POST /digest/remote-signature/{uuid}` or
//! `basic/sign` brings the SAD.
//!
//! Taking happens under the table's lock and the batch never goes back,
//! so one prepared batch reaches the firmware at most once, whatever the
//! clients do; the firmware makes the SAD single use anyway, this makes
//! the service refuse first and clearly. Every process expires (its
//! lifetime, capped by its identity token's `notAfter`) and the table is
//! bounded.

use crate::wire::{PendingDocument, Signatures};
use crate::{ContainerFormat, Prepared, SignerCert};
use sam_proto::ids::{HashAlgorithm, KeyId, UserId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// One document of a prepared batch.
#[derive(Debug)]
pub struct PreparedDocument {
    /// What the signer's environment is shown.
    pub pending: PendingDocument,
    /// The container format.
    pub format: ContainerFormat,
    /// The prepared container.
    pub prepared: Box<dyn Prepared>,
}

/// Where a batch's outcome goes: the `create-signature(s)` call waiting
/// for it.
pub type Outcome = Result<Signatures, crate::service::SakError>;

/// A batch waiting for its SAD.
#[derive(Debug)]
pub struct Batch {
    /// The hash algorithm of every hash.
    pub hash: HashAlgorithm,
    /// The documents, in the SAD's order.
    pub documents: Vec<PreparedDocument>,
    /// DER `SADTBS` over the documents' to-be-signed hashes.
    pub tbs_der: Vec<u8>,
    /// The waiting `create-signature(s)` call, if it still waits.
    pub waiter: Option<oneshot::Sender<Outcome>>,
}

#[derive(Debug)]
enum Stage {
    Open,
    Prepared(Batch),
    Taken,
}

/// What a key object stands for.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The token's user.
    pub user: UserId,
    /// The signer key.
    pub key_id: KeyId,
    /// The DER identity token, as it goes into the SAD.
    pub token_der: Vec<u8>,
    /// The DER SPKI of the SAD key the token binds.
    pub sad_key: Vec<u8>,
    /// The certificate (and chain) the containers name.
    pub signer: SignerCert,
}

#[derive(Debug)]
struct Entry {
    owner: Owner,
    expires: u64,
    stage: Stage,
}

/// Why a process operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessError {
    /// No such process (never opened, expired, or finished).
    Unknown,
    /// The process is not in the stage the operation needs.
    WrongStage(&'static str),
    /// The table is full.
    Full,
}

#[derive(Debug, Default)]
struct Tables {
    entries: HashMap<String, Entry>,
    /// SHA-256 of a batch's DER `SADTBS` → its process (for `basic/sign`,
    /// which names no process).
    by_tbs: HashMap<[u8; 32], String>,
}

/// The open processes.
#[derive(Debug)]
pub struct Processes {
    tables: Mutex<Tables>,
    max_open: usize,
}

impl Processes {
    /// An empty table of at most `max_open` processes.
    pub fn new(max_open: usize) -> Self {
        Self {
            tables: Mutex::default(),
            max_open: max_open.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expire(t: &mut Tables, now: u64) {
        t.entries.retain(|_, e| e.expires >= now);
        let Tables { entries, by_tbs } = t;
        by_tbs.retain(|_, uuid| entries.contains_key(uuid));
    }

    /// Opens process `uuid` for `owner` until `expires`.
    pub fn open(
        &self,
        uuid: String,
        owner: Owner,
        expires: u64,
        now: u64,
    ) -> Result<(), ProcessError> {
        let mut t = self.lock();
        Self::expire(&mut t, now);
        if t.entries.len() >= self.max_open {
            return Err(ProcessError::Full);
        }
        t.entries.insert(
            uuid,
            Entry {
                owner,
                expires,
                stage: Stage::Open,
            },
        );
        Ok(())
    }

    /// The owner of the open (not yet prepared) process `uuid`.
    pub fn owner(&self, uuid: &str, now: u64) -> Result<Owner, ProcessError> {
        let mut t = self.lock();
        Self::expire(&mut t, now);
        let e = t.entries.get(uuid).ok_or(ProcessError::Unknown)?;
        match e.stage {
            Stage::Open => Ok(e.owner.clone()),
            _ => Err(ProcessError::WrongStage(
                "its documents are already prepared",
            )),
        }
    }

    /// Puts the prepared `batch` into the open process `uuid`.
    pub fn prepare(&self, uuid: &str, batch: Batch, now: u64) -> Result<(), ProcessError> {
        let digest: [u8; 32] = Sha256::digest(&batch.tbs_der).into();
        let mut t = self.lock();
        Self::expire(&mut t, now);
        let e = t.entries.get_mut(uuid).ok_or(ProcessError::Unknown)?;
        if !matches!(e.stage, Stage::Open) {
            return Err(ProcessError::WrongStage(
                "its documents are already prepared",
            ));
        }
        e.stage = Stage::Prepared(batch);
        t.by_tbs.insert(digest, uuid.to_owned());
        Ok(())
    }

    /// What the signer's environment is shown of the prepared process
    /// `uuid`: the DER `SADTBS` and the documents.
    pub fn pending(
        &self,
        uuid: &str,
        now: u64,
    ) -> Result<(Vec<u8>, Vec<PendingDocument>), ProcessError> {
        let mut t = self.lock();
        Self::expire(&mut t, now);
        let e = t.entries.get(uuid).ok_or(ProcessError::Unknown)?;
        match &e.stage {
            Stage::Prepared(b) => Ok((
                b.tbs_der.clone(),
                b.documents.iter().map(|d| d.pending.clone()).collect(),
            )),
            Stage::Open => Err(ProcessError::WrongStage("no documents were submitted yet")),
            Stage::Taken => Err(ProcessError::WrongStage("it was already signed")),
        }
    }

    /// The owner and SAD-TBS of the prepared process `uuid`, without
    /// taking it (to check a SAD signature before anything is spent).
    pub fn peek(&self, uuid: &str, now: u64) -> Result<(Owner, Vec<u8>), ProcessError> {
        let mut t = self.lock();
        Self::expire(&mut t, now);
        let e = t.entries.get(uuid).ok_or(ProcessError::Unknown)?;
        match &e.stage {
            Stage::Prepared(b) => Ok((e.owner.clone(), b.tbs_der.clone())),
            Stage::Open => Err(ProcessError::WrongStage("no documents were submitted yet")),
            Stage::Taken => Err(ProcessError::WrongStage("it was already signed")),
        }
    }

    /// The process whose prepared batch has the DER `SADTBS` `tbs_der`.
    pub fn find(&self, tbs_der: &[u8], now: u64) -> Result<String, ProcessError> {
        let digest: [u8; 32] = Sha256::digest(tbs_der).into();
        let mut t = self.lock();
        Self::expire(&mut t, now);
        t.by_tbs.get(&digest).cloned().ok_or(ProcessError::Unknown)
    }

    /// Takes the prepared batch of `uuid`: it can never be taken again.
    pub fn take(&self, uuid: &str, now: u64) -> Result<(Owner, Batch), ProcessError> {
        let mut t = self.lock();
        Self::expire(&mut t, now);
        let e = t.entries.get_mut(uuid).ok_or(ProcessError::Unknown)?;
        match std::mem::replace(&mut e.stage, Stage::Taken) {
            Stage::Prepared(b) => Ok((e.owner.clone(), b)),
            other => {
                let why = match other {
                    Stage::Open => "no documents were submitted yet",
                    _ => "it was already signed",
                };
                e.stage = other;
                Err(ProcessError::WrongStage(why))
            }
        }
    }

    /// Ends process `uuid` (its waiter gave up, or it is finished).
    pub fn close(&self, uuid: &str) {
        let mut t = self.lock();
        t.entries.remove(uuid);
        let Tables { entries, by_tbs } = &mut *t;
        by_tbs.retain(|_, u| entries.contains_key(u));
    }

    /// Processes open now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

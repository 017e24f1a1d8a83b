//! The durable queue: one file per message, envelope and message together.
//!
//! ```text
//! <dir>/tmp/        files being written (removed at start)
//! <dir>/incoming/   accepted, not yet signed        <id>.eml
//! <dir>/outgoing/   signed (or passed), to forward   <id>.eml
//!                   <id>.sending: a delivery was started
//! ```
//!
//! A file is written to `tmp/`, fsync'd, renamed into place and the
//! folder fsync'd, so that after a crash it is either complete or absent;
//! the SMTP `250` is answered only after that. A message moves from
//! `incoming` to `outgoing` under the same id (the signed file is durable
//! before the unsigned one is removed; a message found in both after a
//! crash is already signed). Before a delivery the `.sending` marker is
//! made durable; a marker found at start means the next hop may already
//! have the message, and the re-sent copy is logged as possibly
//! duplicated. The message file goes only after the next hop's `250`.
//!
//! File format: the line `SAM-MAIL-SPOOL 1`, one line of JSON
//! ([`Envelope`]), then the message bytes as received (CRLF lines,
//! dot-unstuffed).

use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &[u8] = b"SAM-MAIL-SPOOL 1\n";

/// The SMTP envelope and what the relay knows about the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The queue id.
    pub id: String,
    /// `MAIL FROM` (empty for the null sender of a bounce).
    pub mail_from: String,
    /// `RCPT TO`, in order.
    pub rcpt_to: Vec<String>,
    /// `BODY=8BITMIME` was given.
    pub eight_bit: bool,
    /// Unix seconds of the `250`.
    pub accepted_unix: u64,
    /// The client's address and EHLO name, for the Received line.
    pub client: String,
}

/// The two queue folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Accepted, waiting for signing.
    Incoming,
    /// Ready for the next hop.
    Outgoing,
}

impl Stage {
    fn dir(self) -> &'static str {
        match self {
            Self::Incoming => "incoming",
            Self::Outgoing => "outgoing",
        }
    }
}

/// The spool folder.
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
    counter: AtomicU64,
}

impl Spool {
    /// Opens (creating) the spool at `root` and clears `tmp/`.
    pub fn open(root: &Path) -> io::Result<Self> {
        for sub in ["tmp", "incoming", "outgoing"] {
            fs::create_dir_all(root.join(sub))?;
        }
        for entry in fs::read_dir(root.join("tmp"))? {
            let _ = fs::remove_file(entry?.path());
        }
        sync_dir(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            counter: AtomicU64::new(0),
        })
    }

    /// A new queue id: time, process and a counter, so ids are unique
    /// across restarts and sort roughly by arrival.
    pub fn new_id(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{nanos:x}-{:x}-{n:x}", std::process::id())
    }

    fn path(&self, stage: Stage, id: &str) -> PathBuf {
        self.root.join(stage.dir()).join(format!("{id}.eml"))
    }

    fn marker(&self, id: &str) -> PathBuf {
        self.root.join("outgoing").join(format!("{id}.sending"))
    }

    /// Writes `message` with `envelope` durably into `stage`.
    pub fn store(&self, stage: Stage, envelope: &Envelope, message: &[u8]) -> io::Result<()> {
        let json = serde_json::to_vec(envelope).map_err(io::Error::other)?;
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}.{}", envelope.id, stage.dir()));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(MAGIC)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.write_all(message)?;
            f.sync_all()?;
        }
        let dest = self.path(stage, &envelope.id);
        fs::rename(&tmp, &dest)?;
        sync_dir(&self.root.join(stage.dir()))
    }

    /// Reads a message of `stage`.
    pub fn load(&self, stage: Stage, id: &str) -> io::Result<(Envelope, Vec<u8>)> {
        let bytes = fs::read(self.path(stage, id))?;
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("spool file {id} is damaged"),
            )
        };
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(bad)?;
        let nl = rest.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let (json, message) = rest.split_at(nl);
        let envelope: Envelope = serde_json::from_slice(json).map_err(|_| bad())?;
        let message = message.get(1..).unwrap_or_default().to_vec();
        Ok((envelope, message))
    }

    /// Whether `id` is in `stage`.
    pub fn contains(&self, stage: Stage, id: &str) -> bool {
        self.path(stage, id).exists()
    }

    /// Removes `id` from `stage` durably (its marker too).
    pub fn remove(&self, stage: Stage, id: &str) -> io::Result<()> {
        match fs::remove_file(self.path(stage, id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if stage == Stage::Outgoing {
            let _ = fs::remove_file(self.marker(id));
        }
        sync_dir(&self.root.join(stage.dir()))
    }

    /// Makes the "delivery started" marker of `id` durable; returns
    /// whether one was there already (a delivery before a crash).
    pub fn mark_sending(&self, id: &str) -> io::Result<bool> {
        let path = self.marker(id);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => {
                f.sync_all()?;
                sync_dir(&self.root.join("outgoing"))?;
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Drops the marker of a delivery that surely did not reach the next
    /// hop (it failed before the final dot).
    pub fn unmark_sending(&self, id: &str) -> io::Result<()> {
        match fs::remove_file(self.marker(id)) {
            Ok(()) => sync_dir(&self.root.join("outgoing")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The ids in `stage`, oldest first.
    pub fn list(&self, stage: Stage) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(self.root.join(stage.dir()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".eml").map(str::to_owned)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// How many messages wait in `stage`.
    pub fn count(&self, stage: Stage) -> usize {
        self.list(stage).map_or(0, |l| l.len())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_message_survives_store_load_and_markers_say_if_a_send_began() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let id = spool.new_id();
        let env = Envelope {
            id: id.clone(),
            mail_from: "a@example.org".into(),
            rcpt_to: vec!["b@example.net".into()],
            eight_bit: true,
            accepted_unix: 7,
            client: "127.0.0.1".into(),
        };
        let msg = b"Subject: x\r\n\r\n\xff\x00body\r\n";
        spool.store(Stage::Incoming, &env, msg).unwrap();
        assert_eq!(spool.list(Stage::Incoming).unwrap(), vec![id.clone()]);
        let (e, m) = spool.load(Stage::Incoming, &id).unwrap();
        assert_eq!((e, m.as_slice()), (env.clone(), &msg[..]));
        spool.store(Stage::Outgoing, &env, msg).unwrap();
        spool.remove(Stage::Incoming, &id).unwrap();
        assert!(!spool.mark_sending(&id).unwrap());
        assert!(spool.mark_sending(&id).unwrap());
        spool.remove(Stage::Outgoing, &id).unwrap();
        assert!(
            !spool.mark_sending(&id).unwrap(),
            "the marker went with the message"
        );
        assert_eq!(spool.count(Stage::Outgoing), 0);
        std::fs::write(dir.path().join("incoming").join("bad.eml"), b"junk").unwrap();
        assert!(spool.load(Stage::Incoming, "bad").is_err());
    }
}

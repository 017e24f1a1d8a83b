//! The senders file (`signing.senders_file`): the sender ↔ key ↔
//! certificate mapping that `samctl mail` manages, so that nobody edits
//! the relay's configuration by hand to add or change a seal key.
//!
//! ```toml
//! [[sender]]                      # signs: read by sam-mail at start
//! address = "invoices@example.org"
//! key_id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
//! certificate = "invoices@example.org.pem"   # relative to this file's folder
//!
//! [[pending]]                     # a key waiting for its certificate
//! address = "invoices@example.org"
//! key_id = "..."
//! public_key = "MFkwEwYHKoZIzj0CAQ..."       # base64 DER SubjectPublicKeyInfo
//! csr = "invoices@example.org.csr"
//! ```
//!
//! `samctl mail csr` adds a `[[pending]]` key (the current `[[sender]]`
//! of the address keeps signing meanwhile: a changeover); `samctl mail
//! register` checks the issued certificate against that key, moves it to
//! `[[sender]]` (replacing the address's previous key) and writes the
//! certificate chain as PEM beside the file. The file is replaced
//! atomically (written, fsync'd, renamed).

use crate::config::SenderKey;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendersFile {
    /// The addresses that sign, each with its key and certificate.
    #[serde(default, rename = "sender", skip_serializing_if = "Vec::is_empty")]
    pub senders: Vec<SenderKey>,
    /// Keys generated for an address whose certificate is not registered
    /// yet; sam-mail ignores them.
    #[serde(default, rename = "pending", skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingKey>,
}

/// `[[pending]]`: a seal key waiting for its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingKey {
    /// The mail address.
    pub address: String,
    /// The KeyID of the new key in the SAM.
    pub key_id: String,
    /// Its public key: base64 of the DER SubjectPublicKeyInfo, what the
    /// certificate must certify.
    pub public_key: String,
    /// Where its PKCS#10 request was written.
    pub csr: PathBuf,
}

const HEADER: &str = "\
# sam-mail senders file, managed by `samctl mail csr` and `samctl mail register`.
# [[sender]]: the address signs with this key and certificate (paths relative
# to this file's folder); [[pending]]: a key waiting for its certificate.
# sam-mail reads it at start (signing.senders_file).

";

impl SendersFile {
    /// Reads `path`; a missing file is an empty one.
    pub fn load_or_empty(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Reads `path`, which must exist.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The `[[sender]]` entries with their certificate paths made
    /// relative to `path`'s folder.
    pub fn resolved(&self, path: &Path) -> Vec<SenderKey> {
        let dir = folder(path);
        self.senders
            .iter()
            .map(|s| SenderKey {
                certificate: dir.join(&s.certificate),
                ..s.clone()
            })
            .collect()
    }

    /// The `[[sender]]` of `address` (compared without regard to case).
    pub fn sender(&self, address: &str) -> Option<&SenderKey> {
        self.senders
            .iter()
            .find(|s| s.address.eq_ignore_ascii_case(address))
    }

    /// The newest `[[pending]]` key of `address`.
    pub fn pending(&self, address: &str) -> Option<&PendingKey> {
        self.pending
            .iter()
            .rev()
            .find(|p| p.address.eq_ignore_ascii_case(address))
    }

    /// Makes the pending key `key_id` the signing key of its address with
    /// `certificate` (relative to the file's folder): the address's
    /// previous `[[sender]]` and the key's `[[pending]]` entry go. The
    /// previous sender entry, if any; an error if `key_id` is not pending.
    pub fn activate(
        &mut self,
        key_id: &str,
        certificate: PathBuf,
    ) -> Result<Option<SenderKey>, String> {
        let pending = self
            .pending
            .iter()
            .find(|p| p.key_id == key_id)
            .cloned()
            .ok_or_else(|| format!("key {key_id} is not pending"))?;
        self.pending.retain(|p| p.key_id != key_id);
        let previous = self
            .senders
            .iter()
            .position(|s| s.address.eq_ignore_ascii_case(&pending.address))
            .map(|i| self.senders.remove(i));
        self.senders.push(SenderKey {
            address: pending.address,
            key_id: pending.key_id,
            certificate,
        });
        Ok(previous)
    }

    /// Writes the file to `path` atomically: a temporary file beside it,
    /// fsync'd, renamed over it, the folder fsync'd.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let body = toml::to_string(self).map_err(|e| format!("senders file: {e}"))?;
        let tmp = path.with_extension("toml.tmp");
        let at = |e: std::io::Error| format!("{}: {e}", tmp.display());
        let mut f = std::fs::File::create(&tmp).map_err(at)?;
        f.write_all(HEADER.as_bytes()).map_err(at)?;
        f.write_all(body.as_bytes()).map_err(at)?;
        f.sync_all().map_err(at)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Ok(d) = std::fs::File::open(folder(path)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The folder of `path` (`.` for a bare file name).
pub fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pending(address: &str, key_id: &str) -> PendingKey {
        PendingKey {
            address: address.into(),
            key_id: key_id.into(),
            public_key: "AAAA".into(),
            csr: PathBuf::from(format!("{key_id}.csr")),
        }
    }

    #[test]
    fn a_changeover_replaces_the_old_key_and_the_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("senders.toml");
        let mut f = SendersFile::load_or_empty(&path).unwrap();
        assert_eq!(f, SendersFile::default());
        f.pending.push(pending("A@example.org", "k1"));
        assert!(f.activate("k1", "a1.pem".into()).unwrap().is_none());
        f.pending.push(pending("a@example.org", "k2"));
        f.pending.push(pending("b@example.org", "k3"));
        assert_eq!(f.sender("a@EXAMPLE.org").unwrap().key_id, "k1");
        assert_eq!(f.pending("a@example.org").unwrap().key_id, "k2");
        let old = f.activate("k2", "a2.pem".into()).unwrap().unwrap();
        assert_eq!(old.key_id, "k1");
        assert_eq!(f.senders.len(), 1);
        assert_eq!(f.sender("a@example.org").unwrap().key_id, "k2");
        assert_eq!(f.pending.len(), 1);
        assert!(f.activate("nope", "x.pem".into()).is_err());
        f.save(&path).unwrap();
        let again = SendersFile::load(&path).unwrap();
        assert_eq!(again, f);
        assert_eq!(
            again.resolved(&path)[0].certificate,
            dir.path().join("a2.pem")
        );
        std::fs::write(&path, "[[sender]]\naddress = \"x\"\n").unwrap();
        assert!(SendersFile::load(&path).is_err());
    }
}

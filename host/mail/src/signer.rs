//! Signing: messages of `incoming` are collected into batches (up to
//! `batch_max` or `batch_window_ms` after the first), grouped by the key
//! of their sender, and each group is signed with ONE SAD through samd:
//! a fresh SAD key, the IdP's token of the relay's technical user binding
//! it, the SAD over every message's hash (what `sam-client` does for any
//! SSA). The S/MIME message is built by `sam-docsign`'s builder.
//!
//! Every `From` and `Sender` address with a configured key signs (one
//! signature per distinct key, From first; several signatures nest).
//! A key whose certificate is not valid now does not sign (a warning in
//! the log); a message left with no signer passes as it is. A batch that samd or the IdP refuses
//! stays in `incoming` and is tried again after `retry_secs`.

use crate::config::SigningConfig;
use crate::metrics::Metrics;
use crate::mime;
use crate::spool::{Envelope, Spool, Stage};
use der::Decode;
use sam_client::{IdpClient, IdpLogin, SamClient, SignRequest};
use sam_docsign::smime;
use sam_docsign::{Prepared, SignerCert};
use sam_proto::ids::{HashAlgorithm, KeyId, Uuid};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A sender's seal key and certificate.
#[derive(Debug, Clone)]
pub struct SenderEntry {
    /// The key in the SAM.
    pub key_id: KeyId,
    /// Its certificate (and chain).
    pub cert: SignerCert,
    /// The certificate's notBefore.
    pub not_before: SystemTime,
    /// The certificate's notAfter.
    pub not_after: SystemTime,
}

impl SenderEntry {
    /// Reads the certificate file (PEM with the chain after the
    /// certificate, or DER).
    pub fn load(key_id: &str, path: &Path) -> Result<Self, String> {
        let key_id = Uuid::parse(key_id).map_err(|_| format!("key_id {key_id:?} is not a UUID"))?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut ders: Vec<Vec<u8>> =
            if bytes.starts_with(b"-----BEGIN") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
                sam_client::read_pem_certificates(path)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|c| c.as_ref().to_vec())
                    .collect()
            } else {
                vec![bytes]
            };
        if ders.is_empty() {
            return Err(format!("{}: no certificate", path.display()));
        }
        let certificate = ders.remove(0);
        let parsed = x509_cert::Certificate::from_der(&certificate)
            .map_err(|e| format!("{}: not an X.509 certificate: {e}", path.display()))?;
        let validity = parsed.tbs_certificate().validity();
        Ok(Self {
            key_id,
            not_before: validity.not_before.to_system_time(),
            not_after: validity.not_after.to_system_time(),
            cert: SignerCert {
                certificate,
                chain: ders,
            },
        })
    }

    /// Whether the certificate is valid at `at`.
    pub fn valid_at(&self, at: SystemTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }
}

/// The signing stage.
#[derive(Debug)]
pub struct Signer {
    config: SigningConfig,
    senders: HashMap<String, SenderEntry>,
    sam: Option<SamClient>,
    idp: Option<IdpClient>,
    spool: Arc<Spool>,
    metrics: Arc<Metrics>,
    /// Ids ready for the forwarder.
    outgoing: mpsc::UnboundedSender<String>,
    /// This stage's own queue, for batches tried again.
    requeue: mpsc::UnboundedSender<String>,
}

impl Signer {
    /// Loads every sender's certificate and makes the samd and IdP
    /// clients (none when no sender signs).
    pub fn new(
        config: SigningConfig,
        spool: Arc<Spool>,
        metrics: Arc<Metrics>,
        outgoing: mpsc::UnboundedSender<String>,
        requeue: mpsc::UnboundedSender<String>,
    ) -> Result<Self, String> {
        let mut senders = HashMap::new();
        for s in &config.sender {
            let entry = SenderEntry::load(&s.key_id, &s.certificate)
                .map_err(|e| format!("signing.sender {}: {e}", s.address))?;
            if !entry.valid_at(SystemTime::now()) {
                tracing::warn!(
                    address = s.address,
                    "the certificate is not valid now: this sender's mail will not be signed"
                );
            }
            senders.insert(s.address.to_ascii_lowercase(), entry);
        }
        *metrics
            .certificates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = senders
            .iter()
            .map(|(a, e)| (a.clone(), unix(e.not_after)))
            .collect();
        if let Some(user) = &config.dev_user_id {
            Uuid::parse(user).map_err(|_| format!("signing.dev_user_id {user:?} is not a UUID"))?;
            tracing::warn!(
                user,
                "[DEV-ONLY] signing.dev_user_id: the IdP is asked to believe this user without authentication"
            );
        }
        let (sam, idp) = if senders.is_empty() {
            (None, None)
        } else {
            let sam = SamClient::from_pem_files(
                &config.samd_url,
                &config.samd_ca,
                &config.client_cert,
                &config.client_key,
            )
            .map_err(|e| format!("signing: samd client: {e}"))?;
            let idp = if config.idp_url.starts_with("https://") {
                let ca = config
                    .idp_ca
                    .as_deref()
                    .ok_or("signing.idp_url https:// needs signing.idp_ca")?;
                let roots = sam_client::read_pem_certificates(ca).map_err(|e| e.to_string())?;
                IdpClient::new(
                    &config.idp_url,
                    sam_client::tls_config(roots, None).map_err(|e| e.to_string())?,
                )
            } else {
                IdpClient::dev_plain_http(&config.idp_url)
            }
            .map_err(|e| format!("signing: IdP client: {e}"))?;
            (Some(sam), Some(idp))
        };
        Ok(Self {
            config,
            senders,
            sam,
            idp,
            spool,
            metrics,
            outgoing,
            requeue,
        })
    }

    /// Logs a warning for every certificate that expires within
    /// `expiry_warning_days` (or has expired), now and every hour.
    pub async fn watch_expiry(self: Arc<Self>) {
        let window = self.config.expiry_warning_days.saturating_mul(86_400);
        loop {
            let now = mime::unix_now();
            for (address, entry) in &self.senders {
                let not_after = unix(entry.not_after);
                if not_after <= now {
                    tracing::warn!(
                        address,
                        "the signing certificate HAS EXPIRED: this sender's mail is not signed; register a new one"
                    );
                } else if not_after - now <= window {
                    let days = (not_after - now) / 86_400;
                    tracing::warn!(
                        address,
                        days,
                        "the signing certificate expires soon; register a new one before it does"
                    );
                }
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }

    /// Signs what arrives on `queue` (and what `incoming` holds at
    /// start) until the queue closes.
    pub async fn run(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<String>) {
        let mut pending: Vec<String> = self.spool.list(Stage::Incoming).unwrap_or_default();
        let window = Duration::from_millis(self.config.batch_window_ms);
        loop {
            if pending.is_empty() {
                match queue.recv().await {
                    Some(id) => pending.push(id),
                    None => return,
                }
                let deadline = Instant::now() + window;
                while pending.len() < self.config.batch_max {
                    match tokio::time::timeout_at(deadline, queue.recv()).await {
                        Ok(Some(id)) => pending.push(id),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            let take = pending.len().min(self.config.batch_max);
            let mut batch: Vec<String> = pending.drain(..take).collect();
            batch.dedup();
            let failed = self.batch(batch).await;
            if !failed.is_empty() {
                let requeue = self.requeue.clone();
                let wait = Duration::from_secs(self.config.retry_secs);
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    for id in failed {
                        let _ = requeue.send(id);
                    }
                });
            }
        }
    }

    /// Signs (or passes) `ids`; the ids to try again.
    ///
    /// A message with several signing addresses (`From` and `Sender`
    /// with different keys) is signed in rounds: each round wraps the
    /// result of the one before in a further `multipart/signed` (RFC 8551
    /// §3.7), so each signature covers the entity byte for byte as the
    /// previous round left it. Every round takes one SAD per key.
    async fn batch(&self, ids: Vec<String>) -> Vec<String> {
        let mut retry = Vec::new();
        let now = SystemTime::now();
        let mut work = Vec::new();
        for id in ids {
            if self.spool.contains(Stage::Outgoing, &id) {
                // Signed before a crash; the unsigned copy is left over.
                self.moved(&id);
                continue;
            }
            let (envelope, message) = match self.spool.load(Stage::Incoming, &id) {
                Ok(m) => m,
                Err(e) => {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::error!(id, "cannot read the spooled message: {e}");
                    }
                    continue;
                }
            };
            let parsed = mime::parse(&message);
            let mut candidates = parsed.addresses("From");
            candidates.extend(parsed.addresses("Sender"));
            let mut signers: Vec<(String, SenderEntry)> = Vec::new();
            let mut invalid = false;
            for address in &candidates {
                let Some(entry) = self.senders.get(address) else {
                    continue;
                };
                if signers.iter().any(|(_, e)| e.key_id == entry.key_id) {
                    continue;
                }
                if !entry.valid_at(now) {
                    tracing::warn!(id, address, not_before = ?entry.not_before, not_after = ?entry.not_after,
                        "the sender's certificate is expired or not yet valid: NOT signed with it");
                    invalid = true;
                    continue;
                }
                signers.push((address.clone(), entry.clone()));
            }
            if signers.is_empty() {
                if invalid {
                    Metrics::inc(&self.metrics.certificate_invalid);
                    tracing::warn!(id, "no valid certificate for the sender: passed unsigned");
                } else {
                    Metrics::inc(&self.metrics.unsigned);
                    tracing::info!(
                        id,
                        ?candidates,
                        "no signing key for the sender: passed unsigned"
                    );
                }
                self.pass(&id, &envelope, &message, &mut retry);
                continue;
            }
            work.push(Work {
                outer: parsed.outer_fields(),
                entity: parsed.entity(),
                id,
                envelope,
                signers,
                round: 0,
            });
        }
        // Rounds: the next signer of every message still to sign.
        while work.iter().any(|w| w.round < w.signers.len()) {
            let mut groups: BTreeMap<KeyId, Vec<usize>> = BTreeMap::new();
            for (i, w) in work.iter().enumerate() {
                if let Some((_, entry)) = w.signers.get(w.round) {
                    groups.entry(entry.key_id).or_default().push(i);
                }
            }
            let mut failed = Vec::new();
            for (key_id, members) in groups {
                failed.extend(self.sign_group(key_id, &mut work, &members, now).await);
            }
            failed.sort_unstable();
            for i in failed.into_iter().rev() {
                retry.push(work.remove(i).id);
            }
        }
        for w in work {
            let mut out = w.outer;
            out.extend_from_slice(&w.entity);
            if let Err(e) = self.spool.store(Stage::Outgoing, &w.envelope, &out) {
                tracing::error!(id = w.id, "cannot spool the signed message: {e}");
                retry.push(w.id);
                continue;
            }
            Metrics::inc(&self.metrics.signed);
            let by: Vec<&str> = w.signers.iter().map(|(a, _)| a.as_str()).collect();
            tracing::info!(id = w.id, signers = ?by, "signed");
            self.moved(&w.id);
        }
        retry
    }

    /// One SAD for the current round of `work[members]` (all with key
    /// `key_id`); on success each member's entity becomes its signed
    /// form. The indexes that failed.
    async fn sign_group(
        &self,
        key_id: KeyId,
        work: &mut [Work],
        members: &[usize],
        now: SystemTime,
    ) -> Vec<usize> {
        let (Some(sam), Some(idp)) = (&self.sam, &self.idp) else {
            return members.to_vec();
        };
        let mut prepared = Vec::new();
        let mut failed = Vec::new();
        for &i in members {
            let Some(w) = work.get(i) else { continue };
            let Some((address, entry)) = w.signers.get(w.round) else {
                continue;
            };
            match smime::prepare(&w.entity, &entry.cert, HashAlgorithm::Sha256, now) {
                Ok(p) => prepared.push((i, p)),
                Err(e) => {
                    tracing::error!(
                        id = w.id,
                        address,
                        "cannot prepare the S/MIME signature: {e}"
                    );
                    failed.push(i);
                }
            }
        }
        if prepared.is_empty() {
            return failed;
        }
        let request = SignRequest {
            key_id,
            hash_algorithm: HashAlgorithm::Sha256,
            hashes: prepared
                .iter()
                .map(|(_, p)| p.to_be_signed_hash().to_vec())
                .collect(),
        };
        let login = match &self.config.dev_user_id {
            Some(user) => Uuid::parse(user).ok().map(IdpLogin::DevUserId),
            None => std::fs::read(&self.config.login_token)
                .ok()
                .and_then(|b| sam_client::der_document(&b))
                .map(IdpLogin::IdToken),
        };
        let login = match login {
            Some(l) => l,
            None => {
                tracing::error!(path = %self.config.login_token.display(), "cannot read the relay's login token");
                Metrics::inc(&self.metrics.signing_failures);
                failed.extend(prepared.iter().map(|(i, _)| *i));
                return failed;
            }
        };
        Metrics::inc(&self.metrics.sads);
        let signed = match sam.sign(idp, &login, &request).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%key_id, messages = prepared.len(), "signing refused or failed, will retry: {e}");
                Metrics::inc(&self.metrics.signing_failures);
                failed.extend(prepared.iter().map(|(i, _)| *i));
                return failed;
            }
        };
        tracing::info!(%key_id, messages = prepared.len(), audit_seq = ?signed.audit_seq, "batch signed with one SAD");
        for ((i, p), signature) in prepared.into_iter().zip(signed.signatures) {
            let Some(w) = work.get_mut(i) else { continue };
            match p.finish_parts(&signature) {
                Ok(m) => {
                    let mut entity = Vec::with_capacity(m.body.len() + 256);
                    for (name, value) in &m.headers {
                        entity.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
                    }
                    // RFC 2045 §6.4: a multipart holding 8-bit data is
                    // itself labelled 8bit (the default is 7bit).
                    if m.body.iter().any(|&b| b >= 0x80) {
                        entity.extend_from_slice(b"Content-Transfer-Encoding: 8bit\r\n");
                    }
                    entity.extend_from_slice(b"\r\n");
                    entity.extend_from_slice(&m.body);
                    w.entity = entity;
                    w.round += 1;
                }
                Err(e) => {
                    tracing::error!(
                        id = w.id,
                        "the SAM's signature does not fit the configured certificate: {e}"
                    );
                    failed.push(i);
                }
            }
        }
        failed
    }

    /// Moves a message unchanged to `outgoing`.
    fn pass(&self, id: &str, envelope: &Envelope, message: &[u8], retry: &mut Vec<String>) {
        match self.spool.store(Stage::Outgoing, envelope, message) {
            Ok(()) => self.moved(id),
            Err(e) => {
                tracing::error!(id, "cannot spool the message: {e}");
                retry.push(id.to_string());
            }
        }
    }

    /// `id` is durably in `outgoing`: drops the incoming copy, tells the
    /// forwarder.
    fn moved(&self, id: &str) {
        if let Err(e) = self.spool.remove(Stage::Incoming, id) {
            tracing::error!(id, "cannot remove the incoming copy: {e}");
        }
        let _ = self.outgoing.send(id.to_string());
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A message being signed, round by round.
#[derive(Debug)]
struct Work {
    id: String,
    envelope: Envelope,
    /// The routing fields.
    outer: Vec<u8>,
    /// The entity as the last round left it.
    entity: Vec<u8>,
    /// Its signers in order, each a distinct key with a valid certificate.
    signers: Vec<(String, SenderEntry)>,
    /// How many have signed.
    round: usize,
}

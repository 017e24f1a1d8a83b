//! The offline check of an audit export (`samctl audit verify`): no samd,
//! no firmware, only the export file and the SAM's attestation public key.
//!
//! What it proves (`docs/audit-export.md` has the byte layout): the
//! records form one hash chain from `seq` 0, without gaps, and every
//! checkpoint line is signed by the attestation key and names exactly the
//! chain head and record count reached at its position; the file ends at
//! such a checkpoint, so no record between the last checkpoint and the end
//! can have been cut. The records' MACs stay unchecked: only the firmware
//! holds their key, and the chain plus the signed head already fix every
//! byte of every record before the checkpoint.
//!
//! The readable JSON fields of a record line (`action`, `actor`, ...) are a
//! convenience and are not checked: only its `record` bytes are.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use sam_client::wire::B64;
use sam_client::wire::admin::Checkpoint;
use sam_proto::frame::decode_exact;
use sam_proto::records::{AUDIT_CHAIN_LABEL, AuditRecord, checkpoint_digest};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The verdict on one export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Record lines read.
    pub records: u64,
    /// Checkpoint lines whose signature verified.
    pub checkpoints: u64,
    /// The last good checkpoint: `(next_seq, boot, time)`.
    pub last_checkpoint: Option<(u64, u32, i64)>,
    /// What is wrong, one line each; empty when the export verifies.
    pub problems: Vec<String>,
}

impl Verdict {
    /// Whether the export verifies.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The attestation public key from PEM SPKI (`-----BEGIN PUBLIC KEY-----`),
/// DER SPKI, or an uncompressed SEC1 point in hex (130 digits, as
/// `GET /admin/status` and `samctl fw status` print it in base64 or hex).
pub fn parse_sam_key(bytes: &[u8]) -> Result<VerifyingKey, String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|e| format!("not a P-256 PEM public key: {e}"));
    }
    if let Ok(point) = hex::decode(text) {
        return VerifyingKey::from_sec1_bytes(&point)
            .map_err(|_| "the hex is not a P-256 SEC1 point".to_owned());
    }
    VerifyingKey::from_public_key_der(bytes)
        .map_err(|_| "neither PEM SPKI, DER SPKI nor a hex SEC1 P-256 point".to_owned())
}

/// The attestation key as DER SubjectPublicKeyInfo, and its fingerprint:
/// SHA-256 of that DER, in hex. From the uncompressed SEC1 point that
/// samd reports.
pub fn sam_key_spki(point: &[u8]) -> Result<(Vec<u8>, String), String> {
    use p256::pkcs8::EncodePublicKey;
    let der = VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| "the attestation key is not a P-256 point".to_owned())?
        .to_public_key_der()
        .map_err(|e| format!("SubjectPublicKeyInfo: {e}"))?
        .into_vec();
    let fingerprint = hex::encode(sha256(&[&der]));
    Ok((der, fingerprint))
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Where the walk stands: the `seq` the next record must carry, the
/// chain hash its `prev` must equal, the newest boot counter seen.
struct Walk {
    next_seq: u64,
    head: [u8; 32],
    boot: u32,
    /// Whether the last line read was a checkpoint that matched.
    at_checkpoint: bool,
    verdict: Verdict,
}

impl Walk {
    fn problem(&mut self, line: usize, what: String) {
        self.verdict.problems.push(format!("line {line}: {what}"));
    }

    fn record(&mut self, line: usize, v: &Value) {
        self.verdict.records += 1;
        self.at_checkpoint = false;
        let Some(bytes) = v
            .get("record")
            .and_then(|b| serde_json::from_value::<B64>(b.clone()).ok())
            .map(|b| b.0)
        else {
            return self.problem(line, "a record line without base64 `record`".into());
        };
        let Ok(record) = decode_exact::<AuditRecord>(&bytes, AuditRecord::MAX_SIZE) else {
            return self.problem(line, "the record does not decode".into());
        };
        let e = &record.entry;
        if e.seq != self.next_seq {
            self.problem(
                line,
                format!("record seq {} where {} was due", e.seq, self.next_seq),
            );
        } else if e.prev != self.head {
            self.problem(
                line,
                format!(
                    "record {}: its prev is not the chain hash of the record before",
                    e.seq
                ),
            );
        }
        if e.boot < self.boot {
            self.problem(
                line,
                format!("record {}: the boot counter goes back", e.seq),
            );
        }
        // The chain hash covers the entry's bytes as stored: the record
        // without its 32-byte MAC at the end.
        let entry = bytes.get(..bytes.len().saturating_sub(32)).unwrap_or(&[]);
        self.head = sha256(&[AUDIT_CHAIN_LABEL, entry]);
        self.next_seq = e.seq.saturating_add(1);
        self.boot = self.boot.max(e.boot);
    }

    fn checkpoint(&mut self, line: usize, v: &Value, key: &VerifyingKey) {
        self.at_checkpoint = false;
        let Ok(cp) = serde_json::from_value::<Checkpoint>(v.clone()) else {
            return self.problem(line, "a checkpoint line that does not parse".into());
        };
        let (Ok(head), Ok(sig)) = (
            hex::decode(&cp.head)
                .map_err(drop)
                .and_then(|h| <[u8; 32]>::try_from(h).map_err(drop)),
            DerSignature::try_from(cp.signature.0.as_slice()),
        ) else {
            return self.problem(
                line,
                "a checkpoint with a malformed head or signature".into(),
            );
        };
        let digest = checkpoint_digest(cp.next_seq, &head, cp.boot, cp.time, sha256);
        if key.verify_prehash(&digest, &sig).is_err() {
            return self.problem(
                line,
                format!(
                    "checkpoint at {}: the signature does not verify under the SAM key",
                    cp.next_seq
                ),
            );
        }
        if cp.next_seq != self.next_seq || head != self.head {
            return self.problem(
                line,
                format!(
                    "checkpoint at {} does not match the chain ({} records read before it, or another head)",
                    cp.next_seq, self.next_seq
                ),
            );
        }
        if cp.boot < self.boot {
            return self.problem(
                line,
                format!("checkpoint at {}: older boot than its records", cp.next_seq),
            );
        }
        self.verdict.checkpoints += 1;
        self.verdict.last_checkpoint = Some((cp.next_seq, cp.boot, cp.time));
        self.at_checkpoint = true;
    }
}

/// Verifies an export (JSON Lines, as `samctl audit export` writes them).
pub fn verify_export(text: &str, key: &VerifyingKey) -> Verdict {
    let mut w = Walk {
        next_seq: 0,
        head: [0; 32],
        boot: 0,
        at_checkpoint: false,
        verdict: Verdict::default(),
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(raw) {
            Ok(v) => match v.get("checkpoint") {
                Some(cp) => w.checkpoint(line, cp, key),
                None => w.record(line, &v),
            },
            Err(_) => w.problem(line, "not JSON".into()),
        }
    }
    if !w.at_checkpoint {
        w.verdict.problems.push(format!(
            "the trail does not end at a signed checkpoint: records from seq {} on are not covered",
            w.verdict.last_checkpoint.map_or(0, |c| c.0)
        ));
    }
    w.verdict
}

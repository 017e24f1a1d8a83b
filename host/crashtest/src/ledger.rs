//! What the load did, as the clients saw it, and the invariants checked
//! against what samd stored after a restart.
//!
//! An operation is *acknowledged* only if samd answered it with success.
//! Every other outcome (connection reset, NotOperational, a timeout, even
//! an explicit refusal) counts as unacknowledged: the client cannot know
//! whether the firmware ran it, so the checks accept either "fully there"
//! or "absent" for it, and never "half there".

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// One SAD the load sent.
#[derive(Debug, Clone)]
pub struct SadRecord {
    /// The DER SAD, to re-send after restarts.
    pub der: Vec<u8>,
    /// The hash it signs, to verify a signature that comes back.
    pub hash: Vec<u8>,
    /// How many times samd answered it with signatures (must stay <= 1).
    pub accepted: u32,
    /// When it was made (its token expires an hour later).
    pub made: Instant,
    /// The cycle that sent it first.
    pub cycle: u32,
    /// How many times the simulator had been restarted when it was sent:
    /// a SAD from an earlier firmware boot must never be accepted (its
    /// token's notBefore is before the boot, check 11 of Signing).
    pub boot_epoch: u32,
}

/// Acknowledged / unacknowledged counts of one kind of operation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Answered with success.
    pub acked: u64,
    /// Anything else.
    pub unacked: u64,
}

impl Tally {
    /// Adds one outcome.
    pub fn add(&mut self, acked: bool) {
        if acked {
            self.acked += 1;
        } else {
            self.unacked += 1;
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, o: Tally) {
        self.acked += o.acked;
        self.unacked += o.unacked;
    }
}

/// Per-kind tallies.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tallies {
    /// Create_New_Signer.
    pub users: Tally,
    /// Generate_Signer_Key_Pair.
    pub keys: Tally,
    /// Delete_Signer_Key_Pair.
    pub deletes: Tally,
    /// POST /signing.
    pub signs: Tally,
}

impl Tallies {
    /// Adds another set.
    pub fn merge(&mut self, o: &Tallies) {
        self.users.merge(o.users);
        self.keys.merge(o.keys);
        self.deletes.merge(o.deletes);
        self.signs.merge(o.signs);
    }

    /// Acknowledged operations of every kind.
    pub fn acked(&self) -> u64 {
        self.users.acked + self.keys.acked + self.deletes.acked + self.signs.acked
    }

    /// Unacknowledged operations of every kind.
    pub fn unacked(&self) -> u64 {
        self.users.unacked + self.keys.unacked + self.deletes.unacked + self.signs.unacked
    }
}

/// Everything the load observed since the start of the run.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Setup users (the first Privileged User and the setup signer).
    pub setup_users: BTreeSet<String>,
    /// The setup key, used for signing and never deleted.
    pub setup_key: String,
    /// Signers the generator may make keys for (acknowledged ones).
    pub signers: Vec<sam_proto::ids::UserId>,
    /// Create_New_Signer targets answered with success.
    pub users_acked: BTreeSet<String>,
    /// Create_New_Signer targets without a success answer.
    pub users_unacked: BTreeSet<String>,
    /// Keys whose generation was answered with success, with their owner.
    pub keys_acked: BTreeMap<String, String>,
    /// Generations without a success answer (their KeyID is unknown).
    pub gen_unacked: u64,
    /// Acknowledged keys not yet given to the deleter.
    pub deletable: Vec<(sam_proto::ids::KeyId, sam_proto::ids::UserId)>,
    /// Deletions answered with success.
    pub deletes_acked: BTreeSet<String>,
    /// Deletions without a success answer; such a key is never retried.
    pub deletes_unacked: BTreeSet<String>,
    /// Every SAD ever sent.
    pub sads: Vec<SadRecord>,
    /// This cycle's tallies.
    pub cycle: Tallies,
    /// Errors seen before the kill (none are expected): count and first.
    pub early_errors: (u64, Option<String>),
    /// An invariant broken while the load ran (a bad signature, a SAD
    /// accepted twice), reported after the cycle.
    pub violation: Option<String>,
}

/// One audit record of `GET /admin/audit`, the fields the checks use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Sequence number.
    pub seq: u64,
    /// Seed operation name.
    pub action: String,
    /// `ok` or the error type.
    pub outcome: String,
    /// For a failure, the cause the firmware recorded.
    pub cause: Option<String>,
    /// The user the action was about.
    pub target_user: Option<String>,
    /// The key the action was about.
    pub key_id: Option<String>,
    /// The firmware's MAC over the record (hex): a record changed after
    /// it was first exported shows up as a different MAC.
    pub mac: Option<String>,
}

impl AuditRow {
    /// Parses one exported record; a row samd could not decode is an
    /// integrity failure, reported with its sequence number.
    pub fn parse(v: &Value) -> Result<Self, String> {
        let seq = v
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("audit export row without seq: {v}"))?;
        if let Some(e) = v.get("error") {
            return Err(format!("stored audit record {seq} does not decode: {e}"));
        }
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            seq,
            action: text("action").unwrap_or_default(),
            outcome: text("outcome").unwrap_or_default(),
            cause: text("cause"),
            target_user: text("target_user"),
            key_id: text("key_id"),
            mac: text("mac"),
        })
    }
}

/// The sequence numbers that should be there and are not: holes between
/// stored records and a missing tail up to the firmware's next number;
/// and duplicates. Empty lists mean contiguous from 0.
pub fn seq_gaps(rows: &[AuditRow], firmware_next: u64) -> (Vec<u64>, Vec<u64>) {
    let mut missing = Vec::new();
    let mut duplicates = Vec::new();
    let mut expected = 0u64;
    for r in rows {
        if r.seq < expected {
            duplicates.push(r.seq);
            continue;
        }
        missing.extend(expected..r.seq);
        expected = r.seq + 1;
    }
    missing.extend(expected..firmware_next);
    (missing, duplicates)
}

/// `3, 4, 5, 9` as `3..=5, 9`, for messages.
pub fn ranges(seqs: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut it = seqs.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}..={end}")
        });
    }
    parts.join(", ")
}

/// A gap report: the missing numbers and, for the first few holes, the
/// stored records on either side, so the operation that lost its record
/// can be guessed.
pub fn describe_gaps(rows: &[AuditRow], missing: &[u64], duplicates: &[u64]) -> String {
    let mut text = String::new();
    if !missing.is_empty() {
        text.push_str(&format!(
            "{} audit sequence number(s) missing: {}",
            missing.len(),
            ranges(missing)
        ));
        let by_seq: BTreeMap<u64, &AuditRow> = rows.iter().map(|r| (r.seq, r)).collect();
        let mut shown = 0;
        let mut last_hole_end = None;
        for m in missing {
            if last_hole_end == Some(m.saturating_sub(1)) {
                last_hole_end = Some(*m);
                continue;
            }
            last_hole_end = Some(*m);
            if shown == 3 {
                break;
            }
            shown += 1;
            let before = by_seq.range(..m).next_back().map(|(_, r)| *r);
            let after = by_seq.range(m..).next().map(|(_, r)| *r);
            let show = |r: Option<&AuditRow>| {
                r.map_or("-".to_owned(), |r| {
                    let cause = r
                        .cause
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default();
                    format!("{} {} {}{cause}", r.seq, r.action, r.outcome)
                })
            };
            text.push_str(&format!(
                "\n    hole at {m}: stored before it [{}], after it [{}]",
                show(before),
                show(after)
            ));
        }
    }
    if !duplicates.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!(
            "duplicate audit sequence numbers: {}",
            ranges(duplicates)
        ));
    }
    text
}

/// What samd's store holds, read from its SQLite file.
#[derive(Debug, Default)]
pub struct Stored {
    /// user_id → role.
    pub users: BTreeMap<String, String>,
    /// Every object: (id, type, state, key_id, value is NULL).
    pub objects: Vec<StoredObject>,
}

/// One row of the `objects` table.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Object id.
    pub id: String,
    /// PRIVATE_KEY, PUBLIC_KEY, ...
    pub kind: String,
    /// PRE_ACTIVE, DESTROYED, ...
    pub state: String,
    /// The key it belongs to.
    pub key_id: String,
    /// Whether the value was wiped.
    pub value_null: bool,
}

/// What the checks counted, for the cycle line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    /// Audit records stored.
    pub audit_records: usize,
    /// Unacknowledged operations found fully applied.
    pub unacked_present: u64,
    /// Unacknowledged operations found absent.
    pub unacked_absent: u64,
    /// Firmware audit records of unacknowledged operations whose result
    /// is absent (allowed: the firmware acted, the answer never arrived).
    pub audit_without_result: u64,
}

fn count<'a>(it: impl Iterator<Item = &'a String>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for k in it {
        *m.entry(k.clone()).or_insert(0) += 1;
    }
    m
}

fn ok_records<'a>(
    rows: &'a [AuditRow],
    action: &'a str,
) -> impl Iterator<Item = &'a AuditRow> + 'a {
    rows.iter()
        .filter(move |r| r.action == action && r.outcome == "ok")
}

/// Checks users, keys, deletions and signature counts of `ledger` against
/// the store and the exported audit trail. `Err` names the first broken
/// invariant.
pub fn check(ledger: &Ledger, stored: &Stored, audit: &[AuditRow]) -> Result<Checked, String> {
    let mut c = Checked {
        audit_records: audit.len(),
        ..Checked::default()
    };
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);

    // ---- users (Create_New_Signer)
    let created =
        count(ok_records(audit, "Create_New_Signer").filter_map(|r| r.target_user.as_ref()));
    for u in &ledger.users_acked {
        match stored.users.get(u).map(String::as_str) {
            Some("Signer") => {}
            Some(role) => return Err(format!("acknowledged signer {u} stored with role {role}")),
            None => return Err(format!("acknowledged Create_New_Signer {u}: no user row")),
        }
        let n = get(&created, u);
        if n != 1 {
            return Err(format!(
                "acknowledged Create_New_Signer {u}: {n} success audit records, expected exactly 1"
            ));
        }
    }
    for u in &ledger.users_unacked {
        let n = get(&created, u);
        if stored.users.contains_key(u) {
            if n != 1 {
                return Err(format!(
                    "unacknowledged Create_New_Signer {u} is stored but has {n} success audit \
                     records (half-present)"
                ));
            }
            c.unacked_present += 1;
        } else {
            // Allowed: the firmware may have created and audited the user,
            // and samd died before storing the row; the record documents
            // a firmware event whose result was never delivered.
            if n > 1 {
                return Err(format!(
                    "unacknowledged Create_New_Signer {u}: {n} success audit records"
                ));
            }
            c.audit_without_result += n;
            c.unacked_absent += 1;
        }
    }
    let known = |u: &String| {
        ledger.setup_users.contains(u)
            || ledger.users_acked.contains(u)
            || ledger.users_unacked.contains(u)
    };
    if let Some(u) = stored.users.keys().find(|u| !known(u)) {
        return Err(format!("user row {u} that no operation created"));
    }
    if let Some((u, _)) = created.iter().find(|(u, _)| !known(u)) {
        return Err(format!(
            "Create_New_Signer audit record for {u}, which nobody asked for"
        ));
    }

    // ---- keys (Generate_Signer_Key_Pair, Delete_Signer_Key_Pair)
    let generated =
        count(ok_records(audit, "Generate_Signer_Key_Pair").filter_map(|r| r.key_id.as_ref()));
    let deleted =
        count(ok_records(audit, "Delete_Signer_Key_Pair").filter_map(|r| r.key_id.as_ref()));
    let mut private: BTreeMap<&str, &StoredObject> = BTreeMap::new();
    let mut public: BTreeSet<&str> = BTreeSet::new();
    for o in &stored.objects {
        if o.kind == "PRIVATE_KEY" {
            if private.insert(o.key_id.as_str(), o).is_some() {
                return Err(format!("key {} has two PRIVATE_KEY objects", o.key_id));
            }
        } else if o.kind == "PUBLIC_KEY" {
            public.insert(o.key_id.as_str());
        }
    }
    for (k, o) in &private {
        if !public.contains(k) {
            return Err(format!(
                "key {k}: PRIVATE_KEY stored without its PUBLIC_KEY (half-present)"
            ));
        }
        let n = get(&generated, k);
        if n != 1 {
            return Err(format!(
                "stored key {k}: {n} Generate_Signer_Key_Pair success audit records, expected exactly 1"
            ));
        }
        let destroyed = o.state == "DESTROYED";
        if destroyed && !o.value_null {
            return Err(format!(
                "key {k} is DESTROYED but its wrapped key is still stored"
            ));
        }
        // The setup key is certified (the firmware signs only with an
        // ACTIVE key); the load never certifies the keys it generates.
        let expected = if *k == ledger.setup_key.as_str() {
            "ACTIVE"
        } else {
            "PRE_ACTIVE"
        };
        if !destroyed && o.state != expected {
            return Err(format!(
                "key {k} is {} (expected {expected}: only the setup key is certified)",
                o.state
            ));
        }
        let target = ledger.deletes_acked.contains(*k) || ledger.deletes_unacked.contains(*k);
        if destroyed && !target {
            return Err(format!("key {k} is DESTROYED though nobody deleted it"));
        }
    }
    if let Some(k) = public.iter().find(|k| !private.contains_key(*k)) {
        return Err(format!(
            "key {k}: PUBLIC_KEY stored without its PRIVATE_KEY (half-present)"
        ));
    }
    for o in &stored.objects {
        let key_destroyed = private
            .get(o.key_id.as_str())
            .is_some_and(|p| p.state == "DESTROYED");
        if key_destroyed && o.state != "DESTROYED" {
            return Err(format!(
                "object {} is {} but its key {} is DESTROYED",
                o.id, o.state, o.key_id
            ));
        }
    }
    let mut acked_keys: Vec<&str> = ledger.keys_acked.keys().map(String::as_str).collect();
    acked_keys.push(ledger.setup_key.as_str());
    for k in &acked_keys {
        if !private.contains_key(k) {
            return Err(format!("acknowledged key {k} is not stored"));
        }
    }
    for k in &ledger.deletes_acked {
        let state = private.get(k.as_str()).map(|o| o.state.as_str());
        if state != Some("DESTROYED") {
            return Err(format!(
                "acknowledged deletion of key {k}, but the key is {state:?}"
            ));
        }
        let n = get(&deleted, k);
        if n != 1 {
            return Err(format!(
                "acknowledged deletion of key {k}: {n} success audit records, expected exactly 1"
            ));
        }
    }
    for k in &ledger.deletes_unacked {
        let n = get(&deleted, k);
        let destroyed = private
            .get(k.as_str())
            .is_some_and(|o| o.state == "DESTROYED");
        if destroyed {
            if n != 1 {
                return Err(format!(
                    "unacknowledged deletion of key {k}: destroyed with {n} success audit records \
                     (half-present)"
                ));
            }
            c.unacked_present += 1;
        } else {
            // Allowed: the firmware authorized and audited the deletion,
            // samd died before destroying the key.
            if n > 1 {
                return Err(format!(
                    "unacknowledged deletion of key {k}: {n} success audit records"
                ));
            }
            c.audit_without_result += n;
            c.unacked_absent += 1;
        }
    }
    let targets =
        |k: &String| ledger.deletes_acked.contains(k) || ledger.deletes_unacked.contains(k);
    if let Some((k, _)) = deleted.iter().find(|(k, _)| !targets(k)) {
        return Err(format!(
            "Delete_Signer_Key_Pair audit record for key {k}, which nobody deleted"
        ));
    }
    // Keys that no acknowledged generation returned: stored ones (fully
    // there, checked above) and audited-only ones (allowed, the firmware
    // generated a key whose answer never arrived). Together at most one
    // per unacknowledged generation.
    let unexplained: BTreeSet<&str> = private
        .keys()
        .copied()
        .chain(generated.keys().map(String::as_str))
        .filter(|k| !acked_keys.contains(k))
        .collect();
    if unexplained.len() as u64 > ledger.gen_unacked {
        return Err(format!(
            "{} keys no acknowledged generation returned, but only {} generations went \
             unacknowledged: {:?}",
            unexplained.len(),
            ledger.gen_unacked,
            unexplained
        ));
    }

    // ---- signatures: every acknowledged one audited; no more audited
    // than were sent.
    let signed = ok_records(audit, "Signing").count() as u64;
    let accepted: u64 = ledger.sads.iter().map(|s| u64::from(s.accepted)).sum();
    let unanswered = ledger.sads.iter().filter(|s| s.accepted == 0).count() as u64;
    if signed < accepted {
        return Err(format!(
            "{accepted} signings acknowledged but only {signed} Signing success audit records stored"
        ));
    }
    if signed > accepted + unanswered {
        return Err(format!(
            "{signed} Signing success audit records for {accepted} acknowledged and {unanswered} \
             unanswered SADs: some SAD was executed twice"
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64) -> AuditRow {
        AuditRow {
            seq,
            action: "Signing".into(),
            outcome: "ok".into(),
            cause: None,
            target_user: None,
            key_id: None,
            mac: None,
        }
    }

    #[test]
    fn gaps_holes_tail_and_duplicates_are_found() {
        let rows: Vec<AuditRow> = [0, 1, 2, 5, 5, 6].into_iter().map(row).collect();
        let (missing, dups) = seq_gaps(&rows, 9);
        assert_eq!(missing, [3, 4, 7, 8]);
        assert_eq!(dups, [5]);
        assert_eq!(ranges(&missing), "3..=4, 7..=8");
        let text = describe_gaps(&rows, &missing, &dups);
        assert!(text.contains("hole at 3"), "{text}");
        assert!(text.contains("hole at 7"), "{text}");
        assert!(!text.contains("hole at 4"), "{text}");
        let whole: Vec<AuditRow> = (0..4).map(row).collect();
        assert_eq!(seq_gaps(&whole, 4), (vec![], vec![]));
    }

    #[test]
    fn an_acknowledged_user_without_its_row_fails_and_an_unacknowledged_one_may_be_absent() {
        let mut ledger = Ledger {
            setup_key: "k0".into(),
            ..Ledger::default()
        };
        ledger.users_unacked.insert("u2".into());
        let mut stored = Stored::default();
        stored.objects.push(StoredObject {
            id: "k0".into(),
            kind: "PRIVATE_KEY".into(),
            state: "ACTIVE".into(),
            key_id: "k0".into(),
            value_null: false,
        });
        stored.objects.push(StoredObject {
            id: "k0/public-key".into(),
            kind: "PUBLIC_KEY".into(),
            state: "ACTIVE".into(),
            key_id: "k0".into(),
            value_null: false,
        });
        let generated = AuditRow {
            seq: 0,
            action: "Generate_Signer_Key_Pair".into(),
            outcome: "ok".into(),
            cause: None,
            target_user: None,
            key_id: Some("k0".into()),
            mac: None,
        };
        let audited_u2 = AuditRow {
            seq: 1,
            action: "Create_New_Signer".into(),
            outcome: "ok".into(),
            cause: None,
            target_user: Some("u2".into()),
            key_id: None,
            mac: None,
        };
        let audit = vec![generated, audited_u2];
        let c = check(&ledger, &stored, &audit).unwrap();
        assert_eq!(c.audit_without_result, 1);
        ledger.users_acked.insert("u1".into());
        assert!(check(&ledger, &stored, &audit).unwrap_err().contains("u1"));
    }
}

//! The audit trail: the chain and its integrity check (US7
//! `audit_chain_verifies_and_tampering_is_found`), no answer without its
//! record, parallel operations, and the outbox that SyncAudit drains.
#![allow(clippy::unwrap_used)] // the helpers below fail their test by panicking

mod support;

use sam_firmware::Firmware;
use sam_proto::ErrorType;
use sam_proto::bounded::List;
use sam_proto::command::*;
use sam_proto::frame::encode_body;
use support::{Bench, blobs, sad_for};

#[test]
fn audit_chain_verifies_and_tampering_is_found() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 13);
    b.sign(&signer, &key, sad).unwrap();
    let records = b.audit.clone();
    assert!(records.len() >= 6);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.entry.seq, i as u64, "records are contiguous");
    }
    let check = |b: &mut Bench, audit: Vec<_>| {
        b.call(&VerifyDataIntegrity {
            users: List::from_vec(vec![signer.clone()]).unwrap(),
            keys: List::from_vec(vec![key.clone()]).unwrap(),
            audit: List::from_vec(audit).unwrap(),
            cursor: None,
        })
        .unwrap()
    };
    let report = check(&mut b, records.clone());
    assert!(report.bad_users.is_empty() && report.bad_keys.is_empty());
    assert_eq!(report.audit_break, None);
    assert!(report.audit_complete);
    // An edited record.
    let mut recaused = records.clone();
    recaused[2].entry.cause = Some(sam_proto::codes::Cause::HostOther);
    assert_eq!(check(&mut b, recaused).audit_break, Some(2));
    let mut edited = records.clone();
    edited[2].entry.failure = Some(ErrorType::NotAuthorized);
    assert_eq!(check(&mut b, edited).audit_break, Some(2));
    // A removed record.
    let mut removed = records.clone();
    removed.remove(3);
    assert_eq!(check(&mut b, removed).audit_break, Some(3));
    // A tail cut at a record boundary, k = 1..=3: every remaining record
    // good, but the trail is not complete.
    for k in 1..=3 {
        let cut = records[..records.len() - k].to_vec();
        let report = check(&mut b, cut);
        assert_eq!(report.audit_break, None, "k = {k}");
        assert!(!report.audit_complete, "k = {k}");
    }
}

#[test]
fn no_answer_without_its_audit_record() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let before = b.status();
    b.fw.platform()
        .fail_store
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // A refusal that cannot be audited is NotOperational...
    let (status, _) = b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff]);
    assert_eq!(status, u32::from(ErrorType::NotOperational.code()));
    // ...and the firmware stops (fail-stop) until a restart.
    assert_eq!(b.status().state, FirmwareState::Failed);
    let r = b.create_signer(&pu).unwrap_err();
    assert_eq!(r.error, ErrorType::NotOperational);
    assert!(r.audit.is_none());
    // After the restart it resumes from the last durable counters: the
    // record that was never answered is not skipped, the chain goes on.
    b.fw = Firmware::boot(b.fw.platform().restarted());
    let after = b.status();
    assert_eq!(after.state, FirmwareState::Operational);
    assert_eq!(after.next_audit_seq, before.next_audit_seq);
    b.create_signer(&pu).unwrap();
    let report = b
        .call(&VerifyDataIntegrity {
            users: List::default(),
            keys: List::default(),
            audit: List::from_vec(b.audit.clone()).unwrap(),
            cursor: None,
        })
        .unwrap();
    assert_eq!(report.audit_break, None);
    assert!(report.audit_complete);
}

#[test]
fn parallel_operations_share_counter_writes_and_keep_the_chain() {
    let (mut b, pu, _, _) = Bench::with_signer();
    // Eight threads create signers at once through the same firmware.
    let reqs: Vec<CreateSigner> = (0..8)
        .map(|_| {
            let user = NewUser {
                user_id: b.new_user_id(),
                certificates: blobs(std::slice::from_ref(&b.idp.cert)),
            };
            b.signed(
                &pu,
                CreateSigner {
                    auth: support::pki::unsigned(),
                    user,
                },
            )
        })
        .collect();
    let records: Vec<sam_proto::records::AuditRecord> = std::thread::scope(|s| {
        let handles: Vec<_> = reqs
            .iter()
            .map(|req| {
                let b = &b;
                s.spawn(move || {
                    let body = encode_body(req).unwrap();
                    let (status, answer) = b.raw(SubFunction::CreateSigner.code(), &body);
                    assert_eq!(status, 0);
                    let issued: UserIssued =
                        sam_proto::frame::decode_exact(&answer, usize::MAX).unwrap();
                    issued.audit
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all = b.audit.clone();
    let mut new = records;
    new.sort_by_key(|r| r.entry.seq);
    all.extend(new);
    let report = b
        .call(&VerifyDataIntegrity {
            users: List::default(),
            keys: List::default(),
            audit: List::from_vec(all).unwrap(),
            cursor: None,
        })
        .unwrap();
    assert_eq!(report.audit_break, None);
    assert!(report.audit_complete);
}

// ---- the audit outbox (SyncAudit) ----------------------------------------

fn fetch_all(b: &mut Bench, from: u64) -> Vec<sam_proto::records::AuditRecord> {
    let mut out = Vec::new();
    let mut from = from;
    loop {
        let o = b
            .call(&SyncAudit {
                stored: List::default(),
                fetch_from: Some(from),
            })
            .unwrap();
        out.extend(o.records.iter().cloned());
        match o.records.last() {
            Some(last) if o.more => from = last.entry.seq + 1,
            _ => return out,
        }
    }
}

fn integrity_of(b: &mut Bench, audit: Vec<sam_proto::records::AuditRecord>) -> IntegrityReport {
    let mut cursor = None;
    let mut last = None;
    for chunk in audit.chunks(MAX_AUDIT_BATCH) {
        let report = b
            .call(&VerifyDataIntegrity {
                users: List::default(),
                keys: List::default(),
                audit: List::from_vec(chunk.to_vec()).unwrap(),
                cursor,
            })
            .unwrap();
        assert_eq!(report.audit_break, None);
        cursor = Some(report.cursor.clone());
        last = Some(report);
    }
    last.unwrap()
}

#[test]
fn records_a_crashed_host_never_stored_are_recovered_from_the_outbox() {
    let (mut b, pu, _, _) = Bench::with_signer();
    // A host that stored everything so far acknowledges it.
    let stored: Vec<u64> = b.audit.iter().map(|r| r.entry.seq).collect();
    for chunk in stored.chunks(MAX_OUTBOX_BATCH) {
        let o = b
            .call(&SyncAudit {
                stored: List::from_vec(chunk.to_vec()).unwrap(),
                fetch_from: None,
            })
            .unwrap();
        assert!(o.records.is_empty(), "acknowledging only fetches nothing");
    }
    assert_eq!(fetch_all(&mut b, 0), vec![], "everything acknowledged");
    let kept_before = b.audit.clone();
    // Three more operations whose answers the host never stores (it
    // crashed), then the firmware restarts too.
    for _ in 0..3 {
        b.create_signer(&pu).unwrap();
    }
    let lost: Vec<_> = b.audit[kept_before.len()..].to_vec();
    assert_eq!(lost.len(), 3);
    b.fw = Firmware::boot(b.fw.platform().restarted());
    // Without the lost records the trail is incomplete...
    assert!(!integrity_of(&mut b, kept_before.clone()).audit_complete);
    // ...the outbox still has exactly them, MACs included...
    let recovered = fetch_all(&mut b, 0);
    assert_eq!(recovered, lost);
    // ...and with them it is complete again.
    let mut all = kept_before;
    all.extend(recovered.iter().cloned());
    assert!(integrity_of(&mut b, all).audit_complete);
    // Acknowledged records are forgotten; a fetch from a later seq
    // returns only the later ones.
    let o = b
        .call(&SyncAudit {
            stored: List::from_vec(vec![recovered[0].entry.seq]).unwrap(),
            fetch_from: Some(recovered[2].entry.seq),
        })
        .unwrap();
    assert_eq!(o.records.to_vec(), vec![recovered[2].clone()]);
    assert_eq!(o.kept, 2);
    assert!(!o.more);
    assert_eq!(o.next_seq, b.status().next_audit_seq);
}

#[test]
fn the_outbox_answers_in_batches_and_needs_an_initialized_firmware() {
    let mut fresh = Bench::new();
    let r = fresh.refused(&SyncAudit {
        stored: List::default(),
        fetch_from: Some(0),
    });
    assert_eq!(r.error, ErrorType::NotOperational);
    let (mut b, pu, _, _) = Bench::with_signer();
    while b.audit.len() <= MAX_OUTBOX_BATCH {
        b.create_signer(&pu).unwrap();
    }
    let first = b
        .call(&SyncAudit {
            stored: List::default(),
            fetch_from: Some(0),
        })
        .unwrap();
    assert_eq!(first.records.len(), MAX_OUTBOX_BATCH);
    assert!(first.more);
    assert_eq!(fetch_all(&mut b, 0), b.audit);
}

// ---- signed checkpoints (GetAuditCheckpoint, periodic) ---------------------

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Whether `cp` carries a valid signature of the attestation key that
/// GetStatus names.
fn signed_by_attestation_key(b: &mut Bench, cp: &sam_proto::records::AuditCheckpoint) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let point = b.status().attestation_key.unwrap();
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let sig = p256::ecdsa::DerSignature::try_from(cp.signature.as_slice()).unwrap();
    key.verify_prehash(&cp.digest(sha256), &sig).is_ok()
}

#[test]
fn a_checkpoint_on_request_signs_the_current_head_and_is_not_audited() {
    let mut fresh = Bench::new();
    assert_eq!(
        fresh.refused(&GetAuditCheckpoint).error,
        ErrorType::NotOperational,
        "no attestation key before initialization"
    );
    let (mut b, _pu, _signer, _key) = Bench::with_signer();
    let before = b.status();
    let cp = b.call(&GetAuditCheckpoint).unwrap();
    assert_eq!(cp.next_seq, before.next_audit_seq);
    assert_eq!(cp.head, before.audit_head);
    assert_eq!(cp.boot, before.boot);
    assert!(signed_by_attestation_key(&mut b, &cp));
    assert_eq!(
        b.status().next_audit_seq,
        before.next_audit_seq,
        "not audited"
    );
    // The head is the chain hash of the last record, as a verifier
    // recomputes it from the record's bytes.
    let last = b.audit.last().unwrap();
    let entry = postcard::to_allocvec(&last.entry).unwrap();
    assert_eq!(
        cp.head,
        sha256(&[sam_proto::records::AUDIT_CHAIN_LABEL, &entry])
    );
    // Any changed field breaks the signature.
    let edits: [fn(&mut sam_proto::records::AuditCheckpoint); 4] = [
        |c| c.next_seq -= 1,
        |c| c.head[0] ^= 1,
        |c| c.boot += 1,
        |c| c.time += 1,
    ];
    for edit in edits {
        let mut bad = cp.clone();
        edit(&mut bad);
        assert!(!signed_by_attestation_key(&mut b, &bad), "{bad:?}");
    }
}

#[test]
fn the_firmware_signs_a_checkpoint_every_interval_and_hands_it_over() {
    let mut b = Bench::ready();
    let interval = u64::from(sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL);
    let outbox = |b: &mut Bench| {
        b.call(&SyncAudit {
            stored: List::default(),
            fetch_from: Some(interval),
        })
        .unwrap()
    };
    // A refusal is audited: one record each.
    while b.status().next_audit_seq < interval {
        assert_eq!(outbox(&mut b).checkpoint, None, "none before the interval");
        b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff]);
    }
    for _ in 0..3 {
        b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff]);
    }
    let answer = outbox(&mut b);
    let cp = answer.checkpoint.unwrap();
    assert_eq!(cp.next_seq, interval);
    // It names the chain head the record `interval` continues.
    assert_eq!(answer.records[0].entry.seq, interval);
    assert_eq!(cp.head, answer.records[0].entry.prev);
    assert!(signed_by_attestation_key(&mut b, &cp));
}

#[test]
fn the_checkpoint_interval_is_set_under_dual_control_and_survives_a_restart() {
    let mut b = Bench::ready();
    let policy = |b: &mut Bench, interval: u32| {
        let params = PolicyParams {
            checkpoint_interval: interval,
            ..PolicyParams::default()
        };
        let approvals = b.approve(SubFunction::SetPolicy, &params, &[0, 1]);
        b.call(&SetPolicy { params, approvals })
            .err()
            .map(|e| e.error)
    };
    assert_eq!(policy(&mut b, 0), Some(ErrorType::InvalidInput));
    assert_eq!(policy(&mut b, 4), None);
    b.fw = Firmware::boot(b.fw.platform().restarted());
    let latest = |b: &mut Bench| {
        b.call(&SyncAudit {
            stored: List::default(),
            fetch_from: None,
        })
        .unwrap()
        .checkpoint
    };
    assert_eq!(latest(&mut b), None, "memory only: none since the boot");
    while b.status().next_audit_seq % 4 != 3 {
        b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff]);
    }
    b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff]);
    let cp = latest(&mut b).unwrap();
    assert_eq!(cp.next_seq, b.status().next_audit_seq);
    assert_eq!(cp.next_seq % 4, 0);
    assert!(signed_by_attestation_key(&mut b, &cp));
}

//! Sequences of requests against an initialized firmware (stateful).
//!
//! The fuzzer picks operations, who performs them, and small damage to the
//! inputs; the target checks the invariants that must hold whatever the
//! order: a SAD is never accepted twice, across restarts included; every
//! accepted signature verifies under the key's public key; a signed
//! management request relayed once is never accepted again; only genuine
//! records and keys are ever accepted; only keys with a certificate of the
//! policy's signing CA sign, and a deleted key never signs again; the
//! firmware's audit sequence numbers run without gaps or repeats.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sam_firmware::Firmware;
use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_fuzz::support::Bench;
use sam_fuzz::support::pki::{SadKey, SigningCa, unsigned};
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::codes::Cause;
use sam_proto::command::{DeleteKeyPair, ReportRefusal, SubFunction};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, KeyId};
use sam_proto::records::Action;
use sam_proto::records::{SealedUserRecord, WrappedKey};
use std::collections::HashSet;

#[derive(Arbitrary, Debug)]
enum Op {
    CreateSigner {
        by_signer: bool,
    },
    Generate {
        who: u8,
        p384: bool,
    },
    Sign {
        who: u8,
        key: u8,
        hashes: u8,
        reuse: bool,
        damage: Option<(u16, u8)>,
    },
    Delete {
        who: u8,
        key: u8,
    },
    /// The host resends the last signed management request it relayed.
    Replay,
    /// samd reports a refusal of its own (Report_Refusal): any code,
    /// error and cause; only an auditable one may succeed, and it is a
    /// failure record either way.
    Report {
        code: u16,
        error: u8,
        cause: u8,
        note: Vec<u8>,
    },
    Register {
        who: u8,
        key: u8,
        /// A certificate of the policy's CA, or one of a rogue CA.
        trusted: bool,
    },
    Advance {
        seconds: u16,
    },
    Restart,
}

fuzz_target!(|ops: Vec<Op>| {
    let (mut b, pu, signer, key) = Bench::with_signer();
    let mut signers: Vec<SealedUserRecord> = vec![signer];
    let mut active: HashSet<KeyId> = HashSet::from([key.key_id]);
    let mut deleted: HashSet<KeyId> = HashSet::new();
    let rogue = SigningCa::new(99);
    let mut keys: Vec<WrappedKey> = vec![key];
    let mut last_sad: Option<(Vec<u8>, usize, usize)> = None;
    let mut accepted: HashSet<Vec<u8>> = HashSet::new();
    let mut seed = 0u8;
    let mut relayed: Option<DeleteKeyPair> = None;
    for op in ops.into_iter().take(24) {
        match op {
            Op::CreateSigner { by_signer } => {
                let by = if by_signer {
                    signers[0].clone()
                } else {
                    pu.clone()
                };
                if let Ok(s) = b.create_signer(&by) {
                    assert!(!by_signer, "a signer created a user");
                    signers.push(s);
                }
            }
            Op::Generate { who, p384 } => {
                let s = signers[usize::from(who) % signers.len()].clone();
                let alg = if p384 {
                    KeyAlgorithm::EcP384
                } else {
                    KeyAlgorithm::EcP256
                };
                if let Ok(r) = b.generate(&s, None, alg) {
                    keys.push(r.wrapped);
                }
            }
            Op::Sign {
                who,
                key,
                hashes,
                reuse,
                damage,
            } => {
                let si = usize::from(who) % signers.len();
                let ki = usize::from(key) % keys.len();
                let (mut sad, si, ki) = match (&last_sad, reuse) {
                    (Some(prev), true) => prev.clone(),
                    _ => {
                        seed = seed.wrapping_add(1);
                        let k = &keys[ki];
                        let hash = match k.algorithm {
                            KeyAlgorithm::EcP384 => HashAlgorithm::Sha384,
                            _ => HashAlgorithm::Sha256,
                        };
                        let n = usize::from(hashes % 4) + 1;
                        let hs: Vec<Vec<u8>> = (0..n)
                            .map(|i| vec![i as u8 ^ seed; hash.output_len()])
                            .collect();
                        let sad_key = SadKey::new(seed);
                        let now = b.fw.platform().time();
                        let token = b.idp.token(
                            signers[si].record.user_id,
                            now - 1,
                            now + 120,
                            Some(&sad_key.spki()),
                        );
                        (
                            sad_key.sad(&token, &k.key_id.to_string(), hash, &hs),
                            si,
                            ki,
                        )
                    }
                };
                if let Some((at, x)) = damage {
                    let i = usize::from(at) % sad.len().max(1);
                    if let Some(byte) = sad.get_mut(i) {
                        *byte ^= x;
                    }
                }
                last_sad = Some((sad.clone(), si, ki));
                let (s, k) = (signers[si].clone(), keys[ki].clone());
                if let Ok(signed) = b.sign(&s, &k, sad.clone()) {
                    assert!(accepted.insert(sad.clone()), "a SAD was accepted twice");
                    assert!(active.contains(&k.key_id), "a key without certificate signed");
                    assert!(!deleted.contains(&k.key_id), "a deleted key signed");
                    assert_eq!(
                        k.user_id, s.record.user_id,
                        "signed with another user's key"
                    );
                    let parsed = sam_proto::asn1::Sad::from_der_strict(&sad).unwrap();
                    let hash = parsed.hash_algorithm().unwrap();
                    for (h, sig) in parsed
                        .tbs
                        .tbs_hash_values
                        .iter()
                        .zip(signed.signatures.iter())
                    {
                        Portable
                            .verify(&k.public_key, hash, h.as_bytes(), sig)
                            .unwrap();
                    }
                }
            }
            Op::Delete { who, key } => {
                let s = signers[usize::from(who) % signers.len()].clone();
                let k = keys[usize::from(key) % keys.len()].clone();
                let req = b.signed(
                    &s,
                    DeleteKeyPair {
                        auth: unsigned(),
                        key_id: k.key_id,
                        wrapped: Some(k.clone()),
                    },
                );
                relayed = Some(req.clone());
                if let Ok(done) = b.call(&req) {
                    b.audit.push(done.audit);
                    assert_eq!(
                        k.user_id, s.record.user_id,
                        "a signer deleted another user's key"
                    );
                    assert!(deleted.insert(k.key_id), "a key was deleted twice");
                }
            }
            Op::Register { who, key, trusted } => {
                let s = signers[usize::from(who) % signers.len()].clone();
                let k = keys[usize::from(key) % keys.len()].clone();
                let now = b.fw.platform().time();
                let cert = if trusted {
                    b.ca.issue_now(&k.public_key, now)
                } else {
                    rogue.issue_now(&k.public_key, now)
                };
                if b.register_certificate(&s, &k, &cert).is_ok() {
                    assert!(trusted, "a rogue CA's certificate was registered");
                    assert_eq!(k.user_id, s.record.user_id, "registered for another's key");
                    assert!(!deleted.contains(&k.key_id), "a deleted key came back");
                    active.insert(k.key_id);
                }
            }
            Op::Replay => {
                if let Some(req) = &relayed {
                    let r = b.call(req);
                    assert_eq!(
                        r.err().map(|e| e.error),
                        Some(ErrorType::AuthenticationError),
                        "a relayed request was accepted twice"
                    );
                }
            }
            Op::Report {
                code,
                error,
                cause,
                note,
            } => {
                let error = ErrorType::ALL[usize::from(error) % ErrorType::ALL.len()];
                let cause = Cause::ALL[usize::from(cause) % Cause::ALL.len()];
                let Ok(note) = Blob::new(&note) else {
                    continue;
                };
                let req = ReportRefusal {
                    action: Action::from_code(code),
                    error,
                    cause,
                    note,
                };
                match b.call(&req) {
                    Ok(done) => {
                        assert!(error.is_audited() && cause.reported_by_host());
                        assert_eq!(done.audit.entry.failure, Some(error));
                        assert_eq!(done.audit.entry.actor, None);
                        b.audit.push(done.audit);
                    }
                    Err(r) => {
                        let e = r.audit.expect("a refused report is audited").entry;
                        assert_eq!(e.action, SubFunction::ReportRefusal.into());
                    }
                }
            }
            Op::Advance { seconds } => b.fw.platform().advance(i64::from(seconds % 600)),
            Op::Restart => {
                b.fw = Firmware::boot(b.fw.platform().restarted());
                b.fw.platform().advance(1);
            }
        }
    }
    for (i, r) in b.audit.iter().enumerate() {
        assert_eq!(r.entry.seq, i as u64, "audit sequence has a gap or repeat");
    }
});

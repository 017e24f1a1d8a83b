//! The state directory: MBK file, state file, lock; and what the firmware
//! makes of them at boot (in-process, through `Simulator::call`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{initialize, open, state_dir, status, typed};
use sam_firmware::core::FIRMWARE_VERSION;
use sam_firmware::platform::{Platform, Slot};
use sam_proto::ErrorType;
use sam_proto::command::{ErrorAnswer, FirmwareState, GetChallenge, GetStatus, SubFunction};
use sam_proto::frame::{decode_exact, encode_body};
use sam_simulator::{CryptoBackend, MBK_FILE, STATE_FILE, SimError, Simulator};
use std::os::unix::fs::PermissionsExt;

#[test]
fn get_status_through_call_on_a_fresh_directory() {
    let (_tmp, _dir, sim) = open(CryptoBackend::AwsLc);
    let (code, body) = sim.call(
        SubFunction::GetStatus.code(),
        &encode_body(&GetStatus).unwrap(),
    );
    assert_eq!(code, 0);
    let s: sam_proto::command::Status = decode_exact(&body, body.len()).unwrap();
    assert_eq!(s.state, FirmwareState::Uninitialized);
    assert_eq!(s.boot, 1);
    assert_eq!(s.next_audit_seq, 0);
    assert_eq!(s.firmware_version, FIRMWARE_VERSION);
    assert_eq!(s.attestation_key, None);
}

#[test]
fn boot_counter_increments_across_reopen() {
    let (_tmp, dir) = state_dir();
    for boot in 1..=3 {
        let sim = Simulator::open(&dir, CryptoBackend::AwsLc).unwrap();
        assert_eq!(status(&sim).boot, boot);
    }
}

#[test]
fn init_writes_an_mbk_and_a_state_file_private_to_the_owner() {
    let (_tmp, dir) = state_dir();
    let mbk = std::fs::read(dir.join(MBK_FILE)).unwrap();
    assert_eq!(mbk.len(), 32);
    assert_ne!(mbk, [0u8; 32]);
    for f in [MBK_FILE, STATE_FILE] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let (_tmp2, dir2) = state_dir();
    assert_ne!(
        std::fs::read(dir2.join(MBK_FILE)).unwrap(),
        mbk,
        "two inits drew the same MBK"
    );
}

/// What the firmware wrote survives a restart: configuration, audit
/// counter and chain head, and the keys derived from the MBK.
#[test]
fn state_survives_reopen() {
    let (_tmp, dir, sim) = open(CryptoBackend::AwsLc);
    let init = initialize(&sim);
    let before = status(&sim);
    assert_eq!(before.state, FirmwareState::Operational);
    assert_eq!(before.next_audit_seq, 1);
    assert_eq!(before.admins, 2);
    drop(sim);
    assert!(
        !dir.join(format!("{STATE_FILE}.tmp")).exists(),
        "temp file left behind"
    );

    let sim = Simulator::open(&dir, CryptoBackend::AwsLc).unwrap();
    let after = status(&sim);
    assert_eq!(after.state, FirmwareState::Operational);
    assert_eq!(after.boot, before.boot + 1);
    assert_eq!(after.next_audit_seq, before.next_audit_seq);
    assert_eq!(after.audit_head, before.audit_head);
    assert_eq!(after.admins, 2);
    assert_eq!(
        after.attestation_key.as_deref(),
        Some(init.attestation_key.as_slice())
    );
}

/// The MBK, not the engine, fixes the module keys: the same directory
/// opened under the other engine, and a second directory sharing the MBK,
/// show the same attestation key.
#[test]
fn the_attestation_key_depends_on_the_mbk_only() {
    let (tmp, dir, sim) = open(CryptoBackend::AwsLc);
    let key = initialize(&sim).attestation_key;
    drop(sim);

    let sim = Simulator::open(&dir, CryptoBackend::Portable).unwrap();
    assert_eq!(
        status(&sim).attestation_key.as_deref(),
        Some(key.as_slice())
    );

    let mbk: [u8; 32] = std::fs::read(dir.join(MBK_FILE))
        .unwrap()
        .try_into()
        .unwrap();
    let twin = tmp.path().join("twin");
    Simulator::init_with_mbk(&twin, &mbk).unwrap();
    Simulator::add_operator(&twin, common::OPERATOR).unwrap();
    let twin = Simulator::open(&twin, CryptoBackend::Portable).unwrap();
    assert_eq!(initialize(&twin).attestation_key, key);

    let (_tmp3, _dir3, other) = open(CryptoBackend::AwsLc);
    assert_ne!(
        initialize(&other).attestation_key,
        key,
        "a different MBK gave the same key"
    );
}

/// A damaged state file: the firmware boots Failed (never panics), says so
/// in GetStatus, refuses everything else, and leaves the file untouched.
#[test]
fn a_corrupt_or_missing_state_file_boots_failed() {
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Option<Damage>); 7] = [
        ("truncated to half", Some(|b| b.truncate(b.len() / 2))),
        ("one byte flipped", Some(|b| b[12] ^= 0x40)),
        ("header checksum flipped", Some(|b| b[20] ^= 1)),
        // Both copies of each slot (format version 3: a 4096-byte header,
        // then six 64 KiB areas; byte 8 of an area is under its checksum).
        (
            "every area damaged",
            Some(|b| {
                for k in 0..6 {
                    b[4096 + k * 65536 + 8] ^= 1;
                }
            }),
        ),
        ("empty", Some(|b| b.clear())),
        (
            "other content",
            Some(|b| *b = b"not a state file at all, but long enough to pass".to_vec()),
        ),
        ("missing", None),
    ];
    for (what, damage) in cases {
        let (_tmp, dir, sim) = open(CryptoBackend::AwsLc);
        initialize(&sim);
        drop(sim);
        let path = dir.join(STATE_FILE);
        match damage {
            Some(f) => {
                let mut bytes = std::fs::read(&path).unwrap();
                f(&mut bytes);
                std::fs::write(&path, &bytes).unwrap();
            }
            None => std::fs::remove_file(&path).unwrap(),
        }
        let evidence = std::fs::read(&path).ok();

        let sim = Simulator::open(&dir, CryptoBackend::AwsLc).unwrap();
        let s = status(&sim);
        assert_eq!(s.state, FirmwareState::Failed, "{what}");
        let (code, body) = sim.call(
            SubFunction::GetChallenge.code(),
            &encode_body(&GetChallenge).unwrap(),
        );
        assert_eq!(code, ErrorType::NotOperational.code(), "{what}");
        let ea: ErrorAnswer = decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
        assert_eq!(ea.audit, None);
        drop(sim);
        assert_eq!(
            std::fs::read(&path).ok(),
            evidence,
            "{what}: the damaged file was rewritten"
        );
    }
}

#[test]
fn a_missing_mbk_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("never-initialized");
    let err = Simulator::open(&dir, CryptoBackend::AwsLc).unwrap_err();
    assert!(matches!(err, SimError::NoMbk { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "run `sam-simulator init --state-dir {}` first",
            dir.display()
        )),
        "{msg}"
    );

    let (_tmp, dir) = state_dir();
    std::fs::remove_file(dir.join(MBK_FILE)).unwrap();
    assert!(matches!(
        Simulator::open(&dir, CryptoBackend::AwsLc),
        Err(SimError::NoMbk { .. })
    ));
}

#[test]
fn an_mbk_of_the_wrong_size_is_refused() {
    let (_tmp, dir) = state_dir();
    std::fs::write(dir.join(MBK_FILE), [1u8; 31]).unwrap();
    let err = Simulator::open(&dir, CryptoBackend::AwsLc).unwrap_err();
    assert!(matches!(err, SimError::BadMbk { .. }), "{err:?}");
    assert!(err.to_string().contains("32 bytes"), "{err}");
}

#[test]
fn init_refuses_to_replace_an_mbk_or_a_state_file() {
    let (_tmp, dir) = state_dir();
    let mbk = std::fs::read(dir.join(MBK_FILE)).unwrap();
    let err = Simulator::init(&dir).unwrap_err();
    assert!(
        matches!(err, SimError::AlreadyInitialized { .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read(dir.join(MBK_FILE)).unwrap(), mbk);

    std::fs::remove_file(dir.join(MBK_FILE)).unwrap();
    let err = Simulator::init(&dir).unwrap_err();
    assert!(
        matches!(err, SimError::AlreadyInitialized { ref path } if path.ends_with(STATE_FILE)),
        "{err:?}"
    );
}

#[test]
fn a_state_directory_is_held_by_one_simulator_at_a_time() {
    let (_tmp, dir, sim) = open(CryptoBackend::AwsLc);
    let err = Simulator::open(&dir, CryptoBackend::Portable).unwrap_err();
    assert!(matches!(err, SimError::Locked { .. }), "{err:?}");
    assert!(matches!(
        Simulator::init(&dir),
        Err(SimError::Locked { .. })
    ));
    drop(sim);
    Simulator::open(&dir, CryptoBackend::Portable).unwrap();
}

/// A failed durable write is a platform error, not a silent success: the
/// store returns Err, the file keeps its old content, an audited operation
/// that cannot write its audit record answers NotOperational, and the
/// firmware stops (fail-stop) until a restart, which resumes from the last
/// durable counter.
#[test]
fn a_failed_state_write_is_reported_not_ignored() {
    let (_tmp, dir, sim) = open(CryptoBackend::AwsLc);
    initialize(&sim);
    let before = std::fs::read(dir.join(STATE_FILE)).unwrap();
    let seq = status(&sim).next_audit_seq;

    // A value too large for its area makes the store rewrite the whole
    // file through the temp file; a directory where the temp file goes
    // makes that fail even as root.
    let tmp_path = dir.join(format!("{STATE_FILE}.tmp"));
    std::fs::create_dir(&tmp_path).unwrap();
    assert!(
        sim.firmware()
            .platform()
            .store(Slot::Counters, &vec![0u8; 1 << 20])
            .is_err()
    );
    assert_eq!(std::fs::read(dir.join(STATE_FILE)).unwrap(), before);

    // After a failed store the platform refuses every store until it is
    // opened again (the file's state is unknown), so a second InitFirmware
    // is refused and audited, the audit cannot be written, the answer is
    // NotOperational and the firmware stops.
    let challenge = typed(&sim, &GetChallenge).unwrap().challenge;
    let admins = [common::Admin::new(), common::Admin::new()];
    let err = typed(&sim, &common::init_request(&dir, &admins, challenge)).unwrap_err();
    assert_eq!(err.0, ErrorType::NotOperational.code());
    assert_eq!(status(&sim).state, FirmwareState::Failed);
    assert_eq!(
        std::fs::read(dir.join(STATE_FILE)).unwrap().len(),
        before.len()
    );

    // Storage back and a restart: the same refusal is now audited with the
    // sequence number the failed one could not make durable.
    std::fs::remove_dir(&tmp_path).unwrap();
    drop(sim);
    let sim = Simulator::open(&dir, CryptoBackend::AwsLc).unwrap();
    assert_eq!(status(&sim).next_audit_seq, seq);
    let challenge = typed(&sim, &GetChallenge).unwrap().challenge;
    let err = typed(&sim, &common::init_request(&dir, &admins, challenge)).unwrap_err();
    assert_eq!(err.0, ErrorType::NotAuthorized.code());
    assert_eq!(err.1.audit.unwrap().entry.seq, seq);
}

#[test]
fn unknown_codes_and_garbage_bodies_get_decodable_refusals() {
    let (_tmp, _dir, sim) = open(CryptoBackend::Portable);
    let (code, body) = sim.call(0xBEEF, b"");
    assert_eq!(code, ErrorType::UnknownMessageType.code());
    let _: ErrorAnswer = decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
    let (code, body) = sim.call(SubFunction::GetStatus.code(), b"\xff\xff\xff");
    assert_eq!(code, ErrorType::MessageParseError.code());
    let _: ErrorAnswer = decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
}

#[test]
fn calls_from_many_threads_run_in_parallel_safely() {
    let (_tmp, _dir, sim) = open(CryptoBackend::AwsLc);
    let challenges: Vec<[u8; 32]> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..50)
                        .map(|_| typed(&sim, &GetChallenge).unwrap().challenge)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let unique: std::collections::HashSet<_> = challenges.iter().collect();
    assert_eq!(unique.len(), 400);
}

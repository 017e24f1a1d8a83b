//! The firmware's lifecycle around the operations: uninitialized, restarted
//! (counters and chain survive), failed on corrupted storage.

mod support;

use sam_firmware::Firmware;
use sam_firmware::testing::TestPlatform;
use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::command::*;
use sam_proto::frame::encode_body;
use support::Bench;

#[test]
fn uninitialized_firmware_is_not_operational() {
    let mut b = Bench::new();
    assert_eq!(b.status().state, FirmwareState::Uninitialized);
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: List::default(),
    };
    let auth = Authentication {
        credential: Credential {
            kind: Credential::IDENTITY_TOKEN,
            value: Blob::default(),
        },
        actor: None,
        proof: None,
    };
    assert_eq!(
        b.refused(&CreateSigner { auth, user }).error,
        ErrorType::NotOperational
    );
}

#[test]
fn counters_survive_restart_and_chain_continues() {
    let (mut b, _pu, _signer, _key) = Bench::with_signer();
    let before = b.status();
    b.fw = Firmware::boot(b.fw.platform().restarted());
    let after = b.status();
    assert_eq!(after.boot, before.boot + 1);
    assert_eq!(after.next_audit_seq, before.next_audit_seq);
    assert_eq!(after.audit_head, before.audit_head);
    assert_eq!(after.attestation_key, before.attestation_key);
}

#[test]
fn corrupted_storage_fails_safe() {
    let b = Bench::ready();
    b.fw.platform()
        .put_slot(sam_firmware::platform::Slot::Counters, &[1, 2, 3]);
    let mut b2 = Bench {
        fw: Firmware::boot(b.fw.platform().restarted()),
        ..Bench::new()
    };
    assert_eq!(b2.status().state, FirmwareState::Failed);
    let (status, _) = b2.raw(
        SubFunction::GetChallenge.code(),
        &encode_body(&GetChallenge).unwrap(),
    );
    assert_eq!(status, u32::from(ErrorType::NotOperational.code()));
    let _ = TestPlatform::new(0);
}

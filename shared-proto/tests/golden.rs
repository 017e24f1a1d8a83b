#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Golden vectors: the exact bytes of representative messages.
//!
//! WIRE-FORMAT BREAK: if any vector here has to change, host and firmware
//! built from different commits no longer understand each other, and stored
//! user records, wrapped keys and audit records no longer decode. Such a
//! change needs `PROTOCOL_VERSION` bumped (and, for the stored records,
//! their `VERSION`) — never just new hex pasted in.
//!
//! Spaces in the hex separate fields; they are ignored.

use sam_proto::bounded::{Blob, List};
use sam_proto::codes::Cause;
use sam_proto::command::{
    ChallengeIssued, Command, ErrorAnswer, FirmwareState, GetAuditCheckpoint, GetChallenge,
    GetStatus, ReportRefusal, Signed, Signing, Status, SubFunction,
};
use sam_proto::error::ErrorType;
use sam_proto::frame::{
    Frame, PROTOCOL_VERSION, STATUS_OK, decode_exact, decode_frame, decode_request,
    decode_response, encode_body,
};
use sam_proto::ids::{KeyAlgorithm, Role, Uuid};
use sam_proto::records::{
    Action, AuditCheckpoint, AuditEntry, AuditRecord, SealedUserRecord, UserRecord, WrappedKey,
};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

const USER: Uuid = Uuid([
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x49, 0x78, 0x86, 0x95, 0xa4, 0xb3, 0xc2, 0xd1, 0xe0, 0xf9,
]);
const KEY: Uuid = Uuid([
    0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x41, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
]);

// The encodings of the shared building blocks, one field a line.

macro_rules! audit_hex {
    ($failure:literal, $cause:literal) => {
        concat!(
            "ac02 ",                                                             // seq: 300
            "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1 ", // prev
            "80c49fd50c ", // time: zigzag 1_700_000_000
            "02 ",         // boot
            "00 0b ",      // action: Command(Signing), sub-function index 11
            $failure,      // failure
            " ",
            $cause,                                                             // cause
            " 00",                                                              // note: None
            " 01 0f1e2d3c4b5a49788695a4b3c2d1e0f9 ",                            // actor: Some(USER)
            "00 ",                                                              // target_user: None
            "01 6ba7b8109dad41d180b400c04fd430c8 ",                             // key_id: Some(KEY)
            "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2", // mac
        )
    };
}

macro_rules! sealed_user_hex {
    () => {
        concat!(
            "01 ",                                                                  // version
            "0f1e2d3c4b5a49788695a4b3c2d1e0f9 ",                                    // user_id
            "01 ",                                                                  // role: Signer
            "01 b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1 ", // idp_certs: one
            "00 ",                                                                  // technical_key: None
            "03 ",                                                                  // generation
            "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2",     // mac
        )
    };
}

macro_rules! wrapped_key_hex {
    () => {
        concat!(
            "01 ",                               // version
            "6ba7b8109dad41d180b400c04fd430c8 ", // key_id
            "0f1e2d3c4b5a49788695a4b3c2d1e0f9 ", // user_id
            "01 ",                               // algorithm: EcP384
            "80c49fd50c ",                       // created: zigzag 1_700_000_000
            "05 3003020107 ",                    // public_key
            "c1c1c1c1c1c1c1c1c1c1c1c1 ",         // nonce
            "03 c2c3c4",                         // sealed
        )
    };
}

macro_rules! challenge_issued_hex {
    () => {
        concat!(
            "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1 ", // challenge
            "f8c49fd50c", // expires: zigzag 1_700_000_060
        )
    };
}

/// `expected` with the spaces and line breaks taken out.
fn unspaced(expected: &str) -> String {
    expected.split_whitespace().collect()
}

/// Asserts the postcard encoding of `value` and that it decodes back.
fn golden<T>(name: &str, value: &T, expected: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let got = hex::encode(encode_body(value).unwrap());
    assert_eq!(
        got,
        unspaced(expected),
        "WIRE-FORMAT BREAK in {name}: bump PROTOCOL_VERSION if this is intended"
    );
    let bytes = hex::decode(unspaced(expected)).unwrap();
    assert_eq!(
        &decode_exact::<T>(&bytes, bytes.len()).unwrap(),
        value,
        "{name}"
    );
}

fn audit_record() -> AuditRecord {
    AuditRecord {
        entry: AuditEntry {
            seq: 300,
            prev: [0xa1; 32],
            time: 1_700_000_000,
            boot: 2,
            action: SubFunction::Signing.into(),
            failure: Some(ErrorType::InvalidSignature),
            cause: Some(Cause::SadSignature),
            note: None,
            actor: Some(USER),
            target_user: None,
            key_id: Some(KEY),
        },
        mac: [0xa2; 32],
    }
}

fn sealed_user_record() -> SealedUserRecord {
    SealedUserRecord {
        record: UserRecord {
            version: UserRecord::VERSION,
            user_id: USER,
            role: Role::Signer,
            idp_certs: List::from_vec(vec![[0xb1; 32]]).unwrap(),
            technical_key: None,
            generation: 3,
        },
        mac: [0xb2; 32],
    }
}

fn wrapped_key() -> WrappedKey {
    WrappedKey {
        version: WrappedKey::VERSION,
        key_id: KEY,
        user_id: USER,
        algorithm: KeyAlgorithm::EcP384,
        created: 1_700_000_000,
        public_key: Blob::new(&[0x30, 0x03, 0x02, 0x01, 0x07]).unwrap(),
        nonce: [0xc1; 12],
        sealed: Blob::new(&[0xc2, 0xc3, 0xc4]).unwrap(),
    }
}

#[test]
fn golden_get_status() {
    golden("GetStatus", &GetStatus, ""); // a unit request has an empty body
    golden(
        "Status",
        &Status {
            firmware_version: 0x0102,
            state: FirmwareState::Operational,
            boot: 2,
            next_audit_seq: 301,
            audit_head: [0xd1; 32],
            attestation_key: Some(Blob::new(&[0x04, 0xd2, 0xd3]).unwrap()),
            admins: 2,
            idp_keys: 1,
        },
        concat!(
            "8202 ",                                                             // firmware_version 1.2
            "01 ",   // state: Operational
            "02 ",   // boot
            "ad02 ", // next_audit_seq: 301
            "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1 ", // audit_head
            "01 03 04d2d3 ", // attestation_key: Some
            "02 ",   // admins
            "01",    // idp_keys
        ),
    );
}

#[test]
fn golden_challenge_issued() {
    golden(
        "ChallengeIssued",
        &ChallengeIssued {
            challenge: [0xe1; 32],
            expires: 1_700_000_060,
        },
        challenge_issued_hex!(),
    );
}

#[test]
fn golden_signing_request() {
    golden(
        "Signing",
        &Signing {
            sad: Blob::new(&[0x30, 0x03, 0x04, 0x01, 0xff]).unwrap(),
            credential: None,
            signer: Some(sealed_user_record()),
            wrapped: Some(wrapped_key()),
        },
        concat!(
            "05 30030401ff ", // sad
            "00 ",            // credential: None
            "01 ",            // signer: Some
            sealed_user_hex!(),
            " 01 ", // wrapped: Some
            wrapped_key_hex!(),
        ),
    );
}

#[test]
fn golden_report_refusal_request() {
    golden(
        "ReportRefusal",
        &ReportRefusal {
            action: SubFunction::Signing.into(),
            error: ErrorType::InvalidInput,
            cause: Cause::HostBadBase64,
            note: Blob::new(b"ab").unwrap(),
        },
        concat!(
            "00 0b ",  // action: Command(Signing)
            "09 ",     // error: InvalidInput, variant index 9
            "2a ",     // cause: HostBadBase64, variant index 42
            "02 6162", // note
        ),
    );
    golden(
        "ReportRefusal of an unknown operation",
        &ReportRefusal {
            action: Action::Unknown(0x7777),
            error: ErrorType::UnknownMessageType,
            cause: Cause::HostUnknownOperation,
            note: Blob::new(b"").unwrap(),
        },
        concat!(
            "02 f7ee01 ", // action: Unknown(0x7777), varint
            "02 ",        // error: UnknownMessageType
            "30 ",        // cause: HostUnknownOperation, variant index 48
            "00",         // note: empty
        ),
    );
}

#[test]
fn golden_signed_response() {
    golden(
        "Signed",
        &Signed {
            signatures: List::from_vec(vec![
                Blob::new(&[0xf1, 0xf2]).unwrap(),
                Blob::new(&[0xf3]).unwrap(),
            ])
            .unwrap(),
            audit: AuditRecord {
                entry: AuditEntry {
                    failure: None,
                    cause: None,
                    ..audit_record().entry
                },
                ..audit_record()
            },
        },
        concat!(
            "02 02f1f2 01f3 ",      // signatures
            audit_hex!("00", "00"), // audit, failure and cause: None
        ),
    );
}

#[test]
fn golden_error_answer() {
    golden(
        "ErrorAnswer without audit",
        &ErrorAnswer { audit: None },
        "00", // audit: None
    );
    golden(
        "ErrorAnswer",
        &ErrorAnswer {
            audit: Some(audit_record()),
        },
        concat!("01 ", audit_hex!("01 0d", "01 21")),
    );
}

#[test]
fn golden_audit_record() {
    golden(
        "AuditRecord",
        &audit_record(),
        // failure: Some(InvalidSignature), variant index 13; cause:
        // Some(SadSignature), variant index 33
        audit_hex!("01 0d", "01 21"),
    );
}

#[test]
fn golden_sealed_user_record() {
    golden(
        "SealedUserRecord",
        &sealed_user_record(),
        sealed_user_hex!(),
    );
}

#[test]
fn golden_wrapped_key() {
    golden("WrappedKey", &wrapped_key(), wrapped_key_hex!());
}

#[test]
fn golden_request_frame() {
    let frame = Frame {
        word: GetChallenge::CODE.code(),
        request_id: 0x0102_0304,
        body: &encode_body(&GetChallenge).unwrap(),
    }
    .to_vec()
    .unwrap();
    // len 7 | version | sub-function 0x0002 | request id | empty body
    let expected = "00000007 02 0002 01020304";
    assert_eq!(
        hex::encode(&frame),
        unspaced(expected),
        "WIRE-FORMAT BREAK in the request frame"
    );
    let back = decode_frame(&frame).unwrap();
    assert_eq!(back.word, 0x0002);
    assert_eq!(decode_request::<GetChallenge>(back.body), Ok(GetChallenge));
    assert_eq!(frame[4], PROTOCOL_VERSION);
}

#[test]
fn golden_response_frames() {
    // A success: GetChallenge's answer.
    let body = encode_body(&ChallengeIssued {
        challenge: [0xe1; 32],
        expires: 1_700_000_060,
    })
    .unwrap();
    let ok = Frame {
        word: STATUS_OK,
        request_id: 0x0102_0304,
        body: &body,
    }
    .to_vec()
    .unwrap();
    assert_eq!(
        hex::encode(&ok),
        unspaced(concat!(
            "0000002c 02 0000 01020304 ", // len 44 | version | STATUS_OK | request id
            challenge_issued_hex!(),
        )),
        "WIRE-FORMAT BREAK in the success frame"
    );
    let back = decode_frame(&ok).unwrap();
    assert_eq!(
        decode_response::<GetChallenge>(back.body).unwrap().expires,
        1_700_000_060
    );

    // A failure: the status word is the error code, the body an ErrorAnswer.
    let body = encode_body(&ErrorAnswer { audit: None }).unwrap();
    let err = Frame {
        word: ErrorType::ReplayedSad.code(),
        request_id: 0xdead_beef,
        body: &body,
    }
    .to_vec()
    .unwrap();
    assert_eq!(
        hex::encode(&err),
        // len 8 | version | status 15 (ReplayedSad) | request id | ErrorAnswer { audit: None }
        unspaced("00000008 02 000f deadbeef 00"),
        "WIRE-FORMAT BREAK in the error frame"
    );
    let back = decode_frame(&err).unwrap();
    assert_eq!(
        ErrorType::from_code(back.word),
        Some(ErrorType::ReplayedSad)
    );
}

/// The checkpoint request is a unit (empty body); the answer is
/// fixed-position varints and bytes, what an offline verifier reads.
#[test]
fn golden_audit_checkpoint() {
    golden("GetAuditCheckpoint", &GetAuditCheckpoint, "");
    golden(
        "AuditCheckpoint",
        &AuditCheckpoint {
            next_seq: 300,
            head: [0xe1; 32],
            boot: 2,
            time: 1_700_000_000,
            signature: Blob::new(&[0x30, 0x02, 0xe2, 0xe3]).unwrap(),
        },
        concat!(
            "ac02 ",                                                             // next_seq: 300
            "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1 ", // head
            "02 ",                                                               // boot
            "80c49fd50c ", // time: zigzag 1_700_000_000
            "04 3002e2e3", // signature: length, DER bytes
        ),
    );
    assert_eq!(SubFunction::GetAuditCheckpoint.code(), 0x0032);
}

/// Inside a body, serde writes an enum as its variant index, not its code:
/// `ErrorType` as `code - 1`, `SubFunction` as its position in `ALL`.
/// Reordering, inserting or removing a variant therefore breaks the format
/// even where the `#[repr(u16)]` codes stay.
#[test]
fn golden_enum_indexes() {
    assert_eq!(
        indexes(&ErrorType::ALL),
        "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e",
        "WIRE-FORMAT BREAK in ErrorType"
    );
    assert_eq!(
        indexes(&SubFunction::ALL),
        "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11",
        "WIRE-FORMAT BREAK in SubFunction"
    );
    assert_eq!(
        indexes(&KeyAlgorithm::ALL),
        "00 01 02 03 04",
        "WIRE-FORMAT BREAK in KeyAlgorithm"
    );
    assert_eq!(
        indexes(&[
            Role::PrivilegedUser,
            Role::Signer,
            Role::PrivilegedUserTechnical
        ]),
        "00 01 02",
        "WIRE-FORMAT BREAK in Role"
    );
    assert_eq!(
        indexes(&[
            FirmwareState::Uninitialized,
            FirmwareState::Operational,
            FirmwareState::Failed,
        ]),
        "00 01 02",
        "WIRE-FORMAT BREAK in FirmwareState"
    );
}

/// The encodings of `values`, one hex string each, space separated.
fn indexes<T: Serialize>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| hex::encode(postcard::to_allocvec(v).unwrap()))
        .collect::<Vec<_>>()
        .join(" ")
}

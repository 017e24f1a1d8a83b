//! Report_Refusal: samd's own refusals reach the firmware's audit trail,
//! and a host can use the command only to append failures.
#![allow(clippy::unwrap_used)] // the helpers below fail their test by panicking

mod support;

use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::codes::{Cause, HostOperation};
use sam_proto::command::*;
use sam_proto::frame::encode_body;
use sam_proto::records::Action;
use support::Bench;

fn report(action: Action, error: ErrorType, cause: Cause, note: &[u8]) -> ReportRefusal {
    ReportRefusal {
        action,
        error,
        cause,
        note: Blob::new(note).unwrap(),
    }
}

#[test]
fn host_reported_refusal_is_audited_with_its_cause_and_note() {
    let mut b = Bench::ready();
    let next = b.status().next_audit_seq;
    let r = b
        .call(&report(
            SubFunction::CreateSigner.into(),
            ErrorType::MessageParseError,
            Cause::HostBadBase64,
            b"certificates[0]: invalid base64",
        ))
        .unwrap();
    let e = &r.audit.entry;
    assert_eq!(e.seq, next);
    assert_eq!(e.action, SubFunction::CreateSigner.into());
    assert_eq!(e.failure, Some(ErrorType::MessageParseError));
    assert_eq!(e.cause, Some(Cause::HostBadBase64));
    assert_eq!(
        e.note.as_deref(),
        Some(&b"certificates[0]: invalid base64"[..])
    );
    // samd's word about who asked is not evidence: no actor.
    assert_eq!((e.actor, e.target_user, e.key_id), (None, None, None));
    // A Key Manager request and an unnamed one are reported the same way.
    b.audit.push(r.audit);
    for action in [
        Action::Host(HostOperation::KeyManagerQuery),
        Action::Unknown(0),
    ] {
        let r = b
            .call(&report(
                action,
                ErrorType::UnknownMessageType,
                Cause::HostUnknownOperation,
                b"",
            ))
            .unwrap();
        assert_eq!(r.audit.entry.action, action);
        b.audit.push(r.audit);
    }
    // The records continue the firmware's chain like any other.
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

/// A host cannot use the command to record what the seed exempts, to pass
/// its refusal off as a firmware check, or to make a code alias a known
/// sub-function; each attempt is itself refused and audited.
#[test]
fn exempt_types_firmware_causes_and_aliases_cannot_be_reported() {
    let mut b = Bench::ready();
    let signing = Action::Command(SubFunction::Signing);
    let cases = [
        report(
            signing,
            ErrorType::AuthenticationError,
            Cause::HostOther,
            b"",
        ),
        report(signing, ErrorType::UnknownUser, Cause::HostOther, b""),
        report(
            signing,
            ErrorType::ContainerParseError,
            Cause::HostOther,
            b"",
        ),
        report(
            signing,
            ErrorType::UnknownCredentialType,
            Cause::HostOther,
            b"",
        ),
        report(
            signing,
            ErrorType::InvalidSignature,
            Cause::SadSignature,
            b"",
        ),
        report(signing, ErrorType::InvalidInput, Cause::HostOther, &[0xff]),
        report(
            Action::Unknown(SubFunction::Signing.code()),
            ErrorType::InvalidInput,
            Cause::HostOther,
            b"",
        ),
        report(
            Action::Unknown(HostOperation::KeyManagerQuery.code()),
            ErrorType::InvalidInput,
            Cause::HostOther,
            b"",
        ),
    ];
    for case in cases {
        let r = b.refused(&case);
        assert_eq!(r.error, ErrorType::InvalidInput, "{case:?}");
        let e = r.audit.expect("the refused report is audited").entry;
        assert_eq!(e.action, SubFunction::ReportRefusal.into(), "{case:?}");
        assert_eq!(e.failure, Some(ErrorType::InvalidInput));
        assert_eq!(e.cause, Some(Cause::ReportNotAuditable));
        assert_eq!(e.note, None);
    }
}

/// The error type is required and has no "OK": a body that tries to name a
/// success (an error index past the table) does not even decode.
#[test]
fn a_success_cannot_be_reported() {
    let b = Bench::ready();
    let mut body = encode_body(&report(
        SubFunction::Signing.into(),
        ErrorType::InvalidInput,
        Cause::HostOther,
        b"",
    ))
    .unwrap();
    // action (2 bytes), then the error's variant index.
    assert_eq!(body[2], 9);
    body[2] = ErrorType::ALL.len() as u8;
    let (status, answer) = b.raw(SubFunction::ReportRefusal.code(), &body);
    assert_eq!(status, u32::from(ErrorType::MessageParseError.code()));
    let ea: ErrorAnswer = sam_proto::frame::decode_exact(&answer, ErrorAnswer::MAX_SIZE).unwrap();
    let e = ea.audit.unwrap().entry;
    assert_eq!(e.action, SubFunction::ReportRefusal.into());
    assert_eq!(e.failure, Some(ErrorType::MessageParseError));
}

#[test]
fn reports_need_an_initialized_firmware() {
    let mut b = Bench::new();
    let r = b.refused(&report(
        SubFunction::Signing.into(),
        ErrorType::InvalidInput,
        Cause::HostOther,
        b"",
    ));
    assert_eq!((r.error, r.audit), (ErrorType::NotOperational, None));
}

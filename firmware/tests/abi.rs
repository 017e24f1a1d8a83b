//! The C-ABI entry and the message layer in front of every operation: an
//! unknown sub-function code, an undecodable, trailing or oversize body, a
//! too-small answer buffer and null pointers.

mod support;

use sam_proto::ErrorType;
use sam_proto::codes::Cause;
use sam_proto::command::*;
use sam_proto::frame::encode_body;
use sam_proto::records::Action;
use support::Bench;

/// An unknown sub-function code is refused and audited, the code kept as
/// it arrived (no `SubFunction` names it). On main it left no record.
#[test]
fn unknown_sub_function_is_unknown_message_type_and_audited() {
    let b = Bench::ready();
    let next = {
        let (_, body) = b.raw(SubFunction::GetStatus.code(), &[]);
        sam_proto::frame::decode_exact::<Status>(&body, body.len())
            .unwrap()
            .next_audit_seq
    };
    let (status, body) = b.raw(0x7777, &[]);
    assert_eq!(status, u32::from(ErrorType::UnknownMessageType.code()));
    let ea: ErrorAnswer = sam_proto::frame::decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
    let entry = ea.audit.expect("an unknown sub-function is audited").entry;
    assert_eq!(entry.seq, next);
    assert_eq!(entry.action, Action::Unknown(0x7777));
    assert_eq!(entry.failure, Some(ErrorType::UnknownMessageType));
    assert_eq!(entry.cause, Some(Cause::UnknownSubFunction));
    assert_eq!(entry.actor, None);
}

/// Before initialization there is no audit key: still UnknownMessageType,
/// without a record.
#[test]
fn unknown_sub_function_before_init_is_refused_unaudited() {
    let b = Bench::new();
    let (status, body) = b.raw(0x7777, &[]);
    assert_eq!(status, u32::from(ErrorType::UnknownMessageType.code()));
    let ea: ErrorAnswer = sam_proto::frame::decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
    assert_eq!(ea.audit, None);
}

#[test]
fn undecodable_body_is_message_parse_error_and_audited() {
    let mut b = Bench::ready();
    let (status, body) = b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff, 0xff]);
    assert_eq!(status, u32::from(ErrorType::MessageParseError.code()));
    let ea: ErrorAnswer = sam_proto::frame::decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
    let entry = ea.audit.unwrap().entry;
    assert_eq!(entry.failure, Some(ErrorType::MessageParseError));
    assert_eq!(entry.cause, Some(Cause::MalformedRequest));
    // Trailing bytes after a valid request are refused too.
    let mut ok = encode_body(&GetStatus).unwrap();
    ok.push(0);
    assert_eq!(
        b.raw(SubFunction::GetStatus.code(), &ok).0,
        u32::from(ErrorType::MessageParseError.code())
    );
    let _ = b.status();
}

#[test]
fn oversize_request_is_message_parse_error() {
    let b = Bench::ready();
    let body = vec![0u8; Signing::MAX_SIZE + 1];
    let (status, _) = b.raw(SubFunction::Signing.code(), &body);
    assert_eq!(status, u32::from(ErrorType::MessageParseError.code()));
}

#[test]
fn answer_buffer_too_small_is_unexpected_error() {
    let b = Bench::ready();
    let body = encode_body(&GetStatus).unwrap();
    let mut answer = [0u8; 4];
    let (status, len) =
        sam_firmware::abi::serve_into(&b.fw, SubFunction::GetStatus.code(), &body, &mut answer);
    assert_eq!(status, sam_firmware::abi::STATUS_ABI_ERROR);
    assert_eq!(
        status & 0xffff,
        u32::from(ErrorType::UnexpectedError.code())
    );
    assert_eq!(len, 0);
    // The raw entry refuses null pointers before touching anything.
    let mut n = 7usize;
    #[allow(unsafe_code)]
    // SAFETY: null request pointer is the case under test; the others are valid.
    let status = unsafe {
        sam_firmware::abi::sam_command(
            &b.fw,
            1,
            std::ptr::null(),
            0,
            answer.as_mut_ptr(),
            answer.len(),
            &mut n,
        )
    };
    assert_eq!(status, sam_firmware::abi::STATUS_ABI_ERROR);
    assert_eq!(n, 7);
}

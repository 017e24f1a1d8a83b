//! The C-ABI dispatch on arbitrary input: two bytes of sub-function code,
//! then the body. Never panics; every answer is a known status with a body
//! that decodes as the answer type for that status.
//!
//! A body that decodes as a token-authorized peering request is, on odd
//! code bytes, re-signed with a genuine login token and request proof of
//! the fixture's Privileged User or Signer (the low bit of the first body
//! byte picks which), so that the fuzzer also reaches the operations past
//! authentication; the same request sent a second time must then be
//! refused, its challenge spent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sam_fuzz::support::pki::Peering;
use sam_proto::ErrorType;
use sam_proto::command::{self as cmd, ErrorAnswer, SubFunction};
use sam_proto::frame::{decode_exact, decode_request, encode_body};

fn check(status: u32, answer: &[u8]) {
    if status != 0 {
        let e = u16::try_from(status).ok().and_then(ErrorType::from_code);
        assert!(e.is_some(), "unknown status {status:#x}");
        let ea: Result<ErrorAnswer, _> = decode_exact(answer, ErrorAnswer::MAX_SIZE);
        assert!(ea.is_ok(), "error body does not decode");
    }
}

/// Re-signs a body of `C` as the fixture's Privileged User or Signer and
/// sends it twice; `None` if the body is no `C`.
fn signed<C: Peering>(as_signer: bool, body: &[u8]) -> Option<()> {
    let f = sam_fuzz::fixture();
    let req: C = decode_request(body).ok()?;
    let by = if as_signer { &f.signer } else { &f.privileged };
    let req = f.bench.signed(by, req);
    let body = encode_body(&req).ok()?;
    let (status, answer) = f.bench.raw(C::CODE.code(), &body);
    check(status, &answer);
    let (again, answer) = f.bench.raw(C::CODE.code(), &body);
    check(again, &answer);
    // A firmware that stopped (its platform failed) answers NotOperational
    // to everything; otherwise the spent challenge is the answer.
    let stopped = u32::from(ErrorType::NotOperational.code());
    assert!(
        again == stopped ||
        again == u32::from(ErrorType::AuthenticationError.code()),
        "a signed request was accepted twice: {again:#x}"
    );
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let Some((code, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let resign = code[1] & 1 == 1;
    let as_signer = body.first().is_some_and(|b| b & 1 == 1);
    let code = u16::from_be_bytes(*code);
    if resign {
        let done = match SubFunction::from_code(code) {
            Some(SubFunction::CreatePrivilegedUser) => {
                signed::<cmd::CreatePrivilegedUser>(as_signer, body)
            }
            Some(SubFunction::CreateSigner) => signed::<cmd::CreateSigner>(as_signer, body),
            Some(SubFunction::SignerMaintenance) => {
                signed::<cmd::SignerMaintenance>(as_signer, body)
            }
            Some(SubFunction::GenerateKeyPair) => signed::<cmd::GenerateKeyPair>(as_signer, body),
            Some(SubFunction::SignCertificationRequest) => {
                signed::<cmd::SignCertificationRequest>(as_signer, body)
            }
            Some(SubFunction::DeleteKeyPair) => signed::<cmd::DeleteKeyPair>(as_signer, body),
            _ => None,
        };
        if done.is_some() {
            return;
        }
    }
    let f = sam_fuzz::fixture();
    let (status, answer) = f.bench.raw(code, body);
    check(status, &answer);
});

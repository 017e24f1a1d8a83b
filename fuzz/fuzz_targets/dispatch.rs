//! The C-ABI dispatch on arbitrary input: two bytes of sub-function code,
//! then the body. Never panics; every answer is a known status with a body
//! that decodes as the answer type for that status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sam_proto::ErrorType;
use sam_proto::command::ErrorAnswer;
use sam_proto::frame::decode_exact;

fuzz_target!(|data: &[u8]| {
    let Some((code, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let code = u16::from_be_bytes(*code);
    let f = sam_fuzz::fixture();
    let (status, answer) = f.bench.raw(code, body);
    if status != 0 {
        let e = u16::try_from(status).ok().and_then(ErrorType::from_code);
        assert!(e.is_some(), "unknown status {status:#x}");
        let ea: Result<ErrorAnswer, _> = decode_exact(&answer, ErrorAnswer::MAX_SIZE);
        assert!(ea.is_ok(), "error body does not decode");
    }
});

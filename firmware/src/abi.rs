//! The C-ABI entry point: the shape of a CP5 custom-module command handler.
//!
//! This is the only module allowed `unsafe`, and only to turn the raw
//! pointers the module glue passes into slices. Everything else happens in
//! safe code behind [`Firmware::dispatch`]; tests, the simulator and a CP5
//! all come through the same function, [`serve_into`] from raw buffers or
//! [`serve_owned`] with an owned answer.
//!
//! Safety argument: the caller (the vendor's module glue, or the simulator)
//! owns both buffers for the duration of the call and guarantees that
//! `request` points to `request_len` readable bytes and `answer` to
//! `answer_cap` writable bytes that do not overlap; null pointers are
//! refused before any slice is made. The firmware never keeps a pointer
//! past the call.
#![allow(unsafe_code)]

use crate::core::Firmware;
use crate::ops::Answer;
use crate::platform::Platform;
use sam_proto::ErrorType;
use sam_proto::frame::MAX_BODY_LEN;

/// The status when a pointer is null (nothing ran) or the answer does not
/// fit the caller's buffer (the command ran, its answer is lost). Callers
/// avoid the second case by passing `sam_proto::frame::MAX_BODY_LEN` bytes.
/// The low half is UnexpectedError's code, the high half marks the ABI.
pub const STATUS_ABI_ERROR: u32 = 0xFFFF_0000 | ErrorType::UnexpectedError.code() as u32;

/// Runs one command: the safe half of [`sam_command`], for callers with
/// their own answer buffer (in-process callers use [`serve_owned`]).
///
/// Writes the answer body to the front of `answer` and returns the status
/// (0 or an `ErrorType` code) and the body length. An answer that does not
/// fit gives [`STATUS_ABI_ERROR`] and length 0.
pub fn serve_into<P: Platform>(
    firmware: &Firmware<P>,
    sub_function: u16,
    request: &[u8],
    answer: &mut [u8],
) -> (u32, usize) {
    let out = firmware.dispatch(sub_function, request);
    match answer.get_mut(..out.body.len()) {
        Some(dst) => {
            dst.copy_from_slice(&out.body);
            (u32::from(out.status), out.body.len())
        }
        None => (STATUS_ABI_ERROR, 0),
    }
}

/// Runs one command for an in-process caller (the simulator, a test
/// engine) and hands back the firmware's own [`Answer`], without a copy
/// through a `MAX_BODY_LEN` buffer that every call would have to allocate
/// or keep.
///
/// The answer is the one [`serve_into`] gives a caller whose buffer holds
/// `MAX_BODY_LEN` bytes, as a CP5's does: an answer too long for it is the
/// ABI's error, here the [`refusal`] `UnexpectedError`, so every non-zero
/// status comes with a decodable `ErrorAnswer` (the firmware's bounds keep
/// every answer within the limit).
pub fn serve_owned<P: Platform>(firmware: &Firmware<P>, code: u16, request: &[u8]) -> Answer {
    match firmware.dispatch(code, request) {
        out if out.body.len() <= MAX_BODY_LEN => out,
        _ => refusal(ErrorType::UnexpectedError),
    }
}

/// The answer to a command refused outside the firmware's operations, so
/// with nothing audited: `error`'s code and an `ErrorAnswer` without audit
/// record. The one such body, for [`serve_owned`]'s ABI error and for
/// callers that refuse on the firmware's behalf (the simulator's faults
/// and its socket server).
pub fn refusal(error: ErrorType) -> Answer {
    Answer::failure(error.into())
}

/// Runs one command through `firmware` from raw buffers: the body of the
/// CP5 module's command handler, which monomorphizes it with the CP5
/// platform behind an `extern "C"` symbol of the vendor's module glue.
///
/// # Safety
/// `request` must be valid for reads of `request_len` bytes, `answer` for
/// writes of `answer_cap` bytes, `answer_len` for one `usize` write, none
/// of them overlapping, for the duration of the call.
pub unsafe fn sam_command<P: Platform>(
    firmware: &Firmware<P>,
    sub_function: u16,
    request: *const u8,
    request_len: usize,
    answer: *mut u8,
    answer_cap: usize,
    answer_len: *mut usize,
) -> u32 {
    if request.is_null() || answer.is_null() || answer_len.is_null() {
        return STATUS_ABI_ERROR;
    }
    // SAFETY: non-null, and the caller guarantees lengths, validity and
    // non-overlap for the duration of the call (see above).
    let (req, buf, len) = unsafe {
        (
            core::slice::from_raw_parts(request, request_len),
            core::slice::from_raw_parts_mut(answer, answer_cap),
            &mut *answer_len,
        )
    };
    let (status, written) = serve_into(firmware, sub_function, req, buf);
    *len = written;
    status
}

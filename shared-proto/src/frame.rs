//! The byte format between host and firmware.
//!
//! Two layers:
//!
//! * **Body**: the postcard encoding of one [`Command`] or its response.
//!   This is what the firmware's C-ABI entry receives and returns, together
//!   with the sub-function code and a status word, the shape of a CP5
//!   custom-module command handler.
//! * **Frame**: what a transport (a socket to the simulator, a CP5 host
//!   library) carries: a length prefix, a protocol version, the code or
//!   status, and a request id so that several requests can be in flight on
//!   one connection.
//!
//! ```text
//! request:  len:u32 BE | version:u8 | sub-function:u16 BE | request id:u32 BE | body
//! response: len:u32 BE | version:u8 | status:u16 BE       | request id:u32 BE | body
//! ```
//!
//! `len` counts the bytes after itself. Status 0 is success; any other
//! status is an [`ErrorType`] code and the body is an
//! [`ErrorAnswer`](crate::command::ErrorAnswer).
//!
//! Decoding is strict: a size is checked before anything is decoded, and a
//! body with bytes left over after its message is refused (postcard's
//! `from_bytes` would silently ignore them).

use crate::command::Command;
use crate::error::ErrorType;
use alloc::vec::Vec;
use serde::{Serialize, de::DeserializeOwned};

/// Protocol version carried in every frame.
pub const PROTOCOL_VERSION: u8 = 2;
/// Largest body in either direction.
pub const MAX_BODY_LEN: usize = 160 * 1024;
/// Bytes of the header after the length prefix.
pub const HEADER_LEN: usize = 7;
/// Largest value of the length prefix.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_BODY_LEN;
/// Status word of a successful answer.
pub const STATUS_OK: u16 = 0;

/// Why a frame or body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header or the length prefix announces.
    Truncated,
    /// Larger than the protocol or the message type allows.
    Oversize,
    /// A protocol version we do not speak.
    Version(u8),
    /// The body did not decode as the expected message.
    Malformed,
    /// Bytes left after the message.
    TrailingBytes,
}

impl From<FrameError> for ErrorType {
    fn from(_: FrameError) -> Self {
        ErrorType::MessageParseError
    }
}

/// Encodes a message body.
pub fn encode_body<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_allocvec(msg).map_err(|_| FrameError::Malformed)?;
    if body.len() > MAX_BODY_LEN {
        return Err(FrameError::Oversize);
    }
    Ok(body)
}

/// Decodes a body that must be exactly one `T` of at most `max` bytes, in
/// its canonical encoding: `encode_body(decode_exact(b)) == b`.
///
/// postcard reads over-long varints (`81 00` for 1, in an integer, a
/// length or an enum index) and would accept one message in several
/// encodings. Every other postcard field has a single encoding, and a
/// canonical varint is the shortest, so a body is canonical exactly when
/// its message re-encodes to as many bytes; counting them needs no
/// allocation.
pub fn decode_exact<T: Serialize + DeserializeOwned>(
    body: &[u8],
    max: usize,
) -> Result<T, FrameError> {
    if body.len() > max {
        return Err(FrameError::Oversize);
    }
    let (msg, rest) = postcard::take_from_bytes::<T>(body).map_err(|_| FrameError::Malformed)?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes);
    }
    let canonical_len = postcard::serialize_with_flavor::<T, _, usize>(
        &msg,
        postcard::ser_flavors::Size::default(),
    )
    .map_err(|_| FrameError::Malformed)?;
    if canonical_len != body.len() {
        return Err(FrameError::Malformed);
    }
    Ok(msg)
}

/// Decodes the body of request `C`, refusing it unread if it is larger than
/// `C::MAX_SIZE`.
pub fn decode_request<C: Command>(body: &[u8]) -> Result<C, FrameError> {
    decode_exact(body, C::MAX_SIZE)
}

/// Decodes a response body of command `C`.
pub fn decode_response<C: Command>(body: &[u8]) -> Result<C::Response, FrameError> {
    decode_exact(body, MAX_BODY_LEN)
}

/// A decoded frame header with its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Sub-function code (request) or status (response).
    pub word: u16,
    /// Chosen by the requester, echoed by the answer.
    pub request_id: u32,
    /// The postcard body.
    pub body: &'a [u8],
}

impl Frame<'_> {
    /// Appends the length-prefixed frame to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let len = HEADER_LEN + self.body.len();
        if len > MAX_FRAME_LEN {
            return Err(FrameError::Oversize);
        }
        let len = u32::try_from(len).map_err(|_| FrameError::Oversize)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.push(PROTOCOL_VERSION);
        out.extend_from_slice(&self.word.to_be_bytes());
        out.extend_from_slice(&self.request_id.to_be_bytes());
        out.extend_from_slice(self.body);
        Ok(())
    }

    /// The frame as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(4 + HEADER_LEN + self.body.len());
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

/// Reads the length prefix of a frame: the number of bytes that follow it.
/// Lets a stream reader refuse an oversize frame before reading it.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = usize::try_from(u32::from_be_bytes(prefix)).map_err(|_| FrameError::Oversize)?;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::Oversize);
    }
    if len < HEADER_LEN {
        return Err(FrameError::Truncated);
    }
    Ok(len)
}

/// Decodes one whole frame (length prefix included) from `bytes`, which
/// must hold exactly that frame.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (prefix, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or(FrameError::Truncated)?;
    let len = frame_len(*prefix)?;
    match rest.len().cmp(&len) {
        core::cmp::Ordering::Less => return Err(FrameError::Truncated),
        core::cmp::Ordering::Greater => return Err(FrameError::TrailingBytes),
        core::cmp::Ordering::Equal => {}
    }
    decode_frame_payload(rest)
}

/// Decodes a frame whose length prefix a stream reader already consumed.
pub fn decode_frame_payload(payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let (&version, rest) = payload.split_first().ok_or(FrameError::Truncated)?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::Version(version));
    }
    let (word, rest) = rest.split_first_chunk::<2>().ok_or(FrameError::Truncated)?;
    let (id, body) = rest.split_first_chunk::<4>().ok_or(FrameError::Truncated)?;
    if body.len() > MAX_BODY_LEN {
        return Err(FrameError::Oversize);
    }
    Ok(Frame {
        word: u16::from_be_bytes(*word),
        request_id: u32::from_be_bytes(*id),
        body,
    })
}

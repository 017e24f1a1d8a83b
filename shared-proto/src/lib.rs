//! `sam-proto`: the one contract between the untrusted SAM host and the
//! trusted SAM firmware.
//!
//! Everything both sides must agree on lives here and only here, so that a
//! code can never drift between them (the counter-example is a C module
//! whose client keeps its own copy of the codes):
//!
//! * [`codes`]: the sub-function codes and the seed's fourteen error types
//!   plus `ReplayedSad` (re-exported by [`error`]), each with a stable
//!   numeric code;
//! * [`frame`]: the versioned, length-prefixed postcard frame with its
//!   request id, and strict decoding (size checked before decoding,
//!   trailing bytes rejected);
//! * [`command`]: one request type per firmware sub-function, each tied to
//!   its response type and sub-function code by the [`command::Command`]
//!   trait;
//! * [`asn1`]: the DER types of the Signature Activation Data and the
//!   identity token (seed §8), with the private OIDs of the token
//!   extensions;
//! * [`approval`]: the digests an administrator approval and a technical
//!   signature sign, bound to one command, its parameters and a challenge;
//! * [`intent`]: what a peering request asks for, as its client computes
//!   and signs it;
//! * [`bounded`]: byte strings and lists whose length bound is part of the
//!   type, so a decoded message can never be larger than its declared
//!   maximum.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

extern crate alloc;

pub mod approval;
pub mod asn1;
pub mod bounded;
pub mod codes;
pub mod command;
pub mod error;
pub mod frame;
pub mod ids;
pub mod intent;
pub mod records;

pub use error::ErrorType;

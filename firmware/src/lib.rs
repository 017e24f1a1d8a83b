//! `sam-firmware`: the trusted core of the Signature Activation Module.
//!
//! Everything that decides whether a signer key may be used runs here, and
//! nothing else does (DESIGN §1: the host is not trusted). The crate is
//! `no_std` with `alloc`, has no I/O, clock or RNG of its own (they come
//! from the [`platform::Platform`]), and forbids `unsafe` except in the one
//! C-ABI shim, [`abi`].
//!
//! Reading order for an evaluator:
//!
//! 1. [`ops`]: the dispatch from sub-function codes to operations, and the
//!    rule that every outcome is audited; [`ops`]'s `signing` module holds
//!    the table of Signing checks in their order.
//! 2. [`auth`]: identity tokens, technical signatures, dual control.
//! 3. [`sealing`] and [`audit`]: how what the host stores is authenticated.
//! 4. [`keys`], [`state`], [`selftest`], [`crypto`]: keys, memory, self
//!    tests and the crypto interface with its portable implementation.
#![no_std]
// `abi` needs `unsafe` for its pointer-to-slice step. `forbid` cannot be
// relaxed for one module, so the crate denies it and `abi` alone allows it.
#![deny(unsafe_code)]
extern crate alloc;

pub mod abi;
pub mod anchors;
pub mod audit;
pub mod auth;
pub mod core;
pub mod crypto;
pub mod keys;
pub mod ops;
pub mod platform;
pub mod registry;
pub mod sealing;
pub mod selftest;
pub mod signer_cert;
pub mod signing_alg;
pub mod state;
#[cfg(feature = "test-platform")]
pub mod testing;

// The test platform's RNG is a counter and its MBK a constant: it must never
// reach an optimized build, where it could be mistaken for a product.
#[cfg(all(feature = "test-platform", not(debug_assertions)))]
compile_error!("the `test-platform` feature is for debug test builds only");

pub use crate::core::Firmware;
pub use ops::Answer;

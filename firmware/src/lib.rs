#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;
pub mod crypto;
pub mod platform;

//! The error vocabulary of the SAM Peering Interface.
//!
//! [`ErrorType`] is declared with the sub-function codes in [`crate::codes`],
//! the one table of numeric codes; this path stays so that callers name the
//! errors where they expect them.

pub use crate::codes::ErrorType;

//! Development keys and documents for the tests: one copy, shared with the
//! host's tests, in the `sam-testkeys` crate.

pub use sam_testkeys::*;

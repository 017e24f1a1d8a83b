//! The harness's one error type: a sentence for a person, since every
//! caller (the demo, the crash test, the benchmarks, the tests) prints it
//! and stops.

use std::fmt;

/// Why the harness could not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessError(String);

impl HarnessError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// `what: cause`, for `map_err`.
    pub fn context<E: fmt::Display>(what: impl fmt::Display) -> impl FnOnce(E) -> Self {
        move |e| Self(format!("{what}: {e}"))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

/// The demo, the crash test and the benchmarks report errors as strings.
impl From<HarnessError> for String {
    fn from(e: HarnessError) -> Self {
        e.0
    }
}

/// Shorthand.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

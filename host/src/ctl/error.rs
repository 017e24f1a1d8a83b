//! samctl's errors and exit codes.

use std::fmt;

/// Why a samctl command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlError {
    /// The command line or an input file is not usable (exit code 2).
    Usage(String),
    /// Something failed: a file, the connection, samd's process (exit
    /// code 1).
    Failed(String),
    /// samd answered with an error (exit code 1). `kind` is the seed's
    /// error type name (`NotAuthorized`, ...) or a host error name.
    Samd {
        /// The error type name.
        kind: String,
        /// The HTTP status.
        status: u16,
        /// samd's explanation.
        detail: String,
    },
}

impl CtlError {
    /// A usage error.
    pub fn usage(m: impl Into<String>) -> Self {
        Self::Usage(m.into())
    }

    /// A failure.
    pub fn failed(m: impl Into<String>) -> Self {
        Self::Failed(m.into())
    }

    /// The process exit code: 2 for usage errors, 1 for everything else.
    pub const fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Failed(_) | Self::Samd { .. } => 1,
        }
    }

    /// The error type name samd answered with, if it did.
    pub fn samd_kind(&self) -> Option<&str> {
        match self {
            Self::Samd { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(m) | Self::Failed(m) => f.write_str(m),
            Self::Samd { kind, detail, .. } => write!(f, "{kind}: {detail}"),
        }
    }
}

impl std::error::Error for CtlError {}

/// The result of a samctl step.
pub type CtlResult<T> = Result<T, CtlError>;

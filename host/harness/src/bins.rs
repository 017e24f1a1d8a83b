//! Where the built `samd`, `samctl` and `sam-simulator` are.

use crate::{HarnessError, Result};
use std::path::{Path, PathBuf};

/// One of the programs a deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// The daemon.
    Samd,
    /// The administration command line.
    Samctl,
    /// The simulated HSM (`init`, `serve`).
    Simulator,
    /// The signer's command line (`sam-sign sign`, `sam-sign sad`), which
    /// a deployment does not run but tests of other front doors call.
    SamSign,
}

impl Tool {
    /// The three a deployment runs, in the order error messages name them.
    pub const ALL: [Tool; 3] = [Tool::Samd, Tool::Samctl, Tool::Simulator];

    /// The executable's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Samd => "samd",
            Self::Samctl => "samctl",
            Self::Simulator => "sam-simulator",
            Self::SamSign => "sam-sign",
        }
    }
}

/// The folder holding the built binaries (cargo puts every binary of the
/// workspace into one `target/<profile>` folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// The binaries in `dir`, made absolute (a deployment runs them from
    /// other working folders).
    pub fn at(dir: &Path) -> Result<Self> {
        let dir = dir
            .canonicalize()
            .map_err(HarnessError::context(dir.display()))?;
        Ok(Self { dir })
    }

    /// The folder of the running executable: where cargo built the
    /// demo, the crash test or the bench, and with them samd and samctl.
    pub fn beside_current_exe() -> Result<Self> {
        let exe = std::env::current_exe().map_err(HarnessError::context("own executable"))?;
        let dir = exe
            .parent()
            .ok_or_else(|| HarnessError::new("own executable has no folder"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// `dir` if given (a `--bin-dir` option), else beside this executable.
    pub fn from_option(dir: Option<&Path>) -> Result<Self> {
        match dir {
            Some(d) => Ok(Self {
                dir: d.to_path_buf(),
            }),
            None => Self::beside_current_exe(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `tool` (whether or not it exists).
    pub fn path(&self, tool: Tool) -> PathBuf {
        self.dir.join(tool.file_name())
    }

    /// `samd`.
    pub fn samd(&self) -> PathBuf {
        self.path(Tool::Samd)
    }

    /// `samctl`.
    pub fn samctl(&self) -> PathBuf {
        self.path(Tool::Samctl)
    }

    /// `sam-simulator`.
    pub fn simulator(&self) -> PathBuf {
        self.path(Tool::Simulator)
    }

    /// Those of `tools` that are not files in the folder.
    pub fn missing(&self, tools: &[Tool]) -> Vec<Tool> {
        tools
            .iter()
            .copied()
            .filter(|t| !self.path(*t).is_file())
            .collect()
    }

    /// An error naming every missing one of `tools` and how to build them.
    pub fn require(&self, tools: &[Tool]) -> Result<()> {
        let missing = self.missing(tools);
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.iter().map(|t| t.file_name()).collect();
        let packages = if missing.contains(&Tool::Simulator) {
            "-p sam-simulator -p sam-host"
        } else {
            "-p sam-host"
        };
        Err(HarnessError::new(format!(
            "{} not found in {} (build them: cargo build {packages}, or give --bin-dir)",
            names.join(", "),
            self.dir.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn require_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let bins = Binaries::at(dir.path()).unwrap();
        let e = bins.require(&Tool::ALL).unwrap_err();
        assert!(
            e.message()
                .starts_with("samd, samctl, sam-simulator not found in "),
            "{e}"
        );
        std::fs::write(dir.path().join("samd"), "").unwrap();
        std::fs::write(dir.path().join("samctl"), "").unwrap();
        assert!(bins.require(&[Tool::Samd, Tool::Samctl]).is_ok());
        assert_eq!(bins.missing(&Tool::ALL), [Tool::Simulator]);
    }
}

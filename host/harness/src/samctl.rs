//! `samctl` as a child process: its exit code, stdout and stderr.

use crate::{HarnessError, Identity, Result};
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// samctl settings that the caller's environment must not leak into a run.
const CLEARED: [&str; 2] = ["SAMCTL_CONFIG", "SAMCTL_TIMEOUT"];

/// How to run samctl: the executable and the environment that tells it
/// which samd to reach with which certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Samctl {
    program: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Samctl {
    /// samctl at `program`, with no connection settings (for runs that
    /// need none, or take them from `--config`).
    pub fn new(program: &Path) -> Self {
        Self {
            program: program.to_path_buf(),
            env: Vec::new(),
        }
    }

    /// The same samctl reaching `url` with `identity`
    /// (`SAMCTL_URL`, `SAMCTL_CA`, `SAMCTL_CERT`, `SAMCTL_KEY`).
    pub fn connected(self, url: &str, identity: &Identity) -> Self {
        self.with_env("SAMCTL_URL", url)
            .with_env("SAMCTL_CA", &identity.ca)
            .with_env("SAMCTL_CERT", &identity.cert)
            .with_env("SAMCTL_KEY", &identity.key)
    }

    /// The same with another client certificate (another connector).
    pub fn as_identity(&self, identity: &Identity) -> Self {
        self.clone()
            .with_env("SAMCTL_CA", &identity.ca)
            .with_env("SAMCTL_CERT", &identity.cert)
            .with_env("SAMCTL_KEY", &identity.key)
    }

    /// Sets (or replaces) an environment variable of every run.
    pub fn with_env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let name = name.as_ref().to_os_string();
        self.env.retain(|(k, _)| *k != name);
        self.env.push((name, value.as_ref().to_os_string()));
        self
    }

    /// The executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs `samctl ARGS` to its end. An error only if it could not be
    /// run; a non-zero exit is in the output.
    pub fn run<I, S>(&self, args: I) -> Result<SamctlOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut cmd = Command::new(&self.program);
        cmd.args(&args);
        for name in CLEARED {
            cmd.env_remove(name);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = cmd
            .output()
            .map_err(HarnessError::context("cannot run samctl"))?;
        Ok(SamctlOutput {
            args: args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// What one samctl run printed and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamctlOutput {
    /// The arguments it ran with.
    pub args: Vec<String>,
    /// The exit code (-1 if killed by a signal).
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl SamctlOutput {
    /// Exit code 0.
    pub fn is_success(&self) -> bool {
        self.code == 0
    }

    /// The run if it exited 0; else an error naming `what` (the command,
    /// e.g. `fw init`), the code, stdout and the last stderr line.
    pub fn checked(self, what: &str) -> Result<Self> {
        if self.is_success() {
            return Ok(self);
        }
        let last = self
            .stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| format!(" [{}]", l.trim()))
            .unwrap_or_default();
        Err(HarnessError::new(format!(
            "`samctl {what}` exited {}: {}{last}",
            self.code,
            self.stdout.trim()
        )))
    }

    /// stdout as JSON.
    pub fn parse_json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout).map_err(|e| {
            HarnessError::new(format!(
                "samctl printed no JSON ({e}): {}",
                self.stdout.trim()
            ))
        })
    }

    /// stdout followed by the trimmed stderr, for messages.
    pub fn combined(&self) -> String {
        let mut text = self.stdout.clone();
        let stderr = self.stderr.trim();
        if !stderr.is_empty() {
            text.push_str(stderr);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn exit_code_streams_and_environment() {
        // `sh -c` stands in for samctl: the wrapper does not care.
        let sh = Samctl::new(Path::new("/bin/sh"))
            .with_env("SAMCTL_URL", "https://a")
            .with_env("SAMCTL_URL", "https://b");
        let out = sh
            .run([
                "-c",
                "echo \"$SAMCTL_URL${SAMCTL_TIMEOUT-}\"; echo oops >&2; exit 3",
            ])
            .unwrap();
        assert_eq!((out.code, out.stdout.as_str()), (3, "https://b\n"));
        assert_eq!(out.combined(), "https://b\noops");
        let e = out.checked("thing").unwrap_err();
        assert_eq!(e.message(), "`samctl thing` exited 3: https://b [oops]");
        let ok = sh.run(["-c", "echo '{\"a\": 1}'"]).unwrap();
        assert_eq!(ok.checked("x").unwrap().parse_json().unwrap()["a"], 1);
    }
}

//! A child process behind a guard that SIGKILLs and reaps it when
//! dropped, so that no exit path of a caller (a failed check, a `?`, a
//! panic) leaves a samd or a simulator behind.

use crate::{HarnessError, Result};
use rustix::process::{Pid, Signal, kill_process};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How many log lines an error message quotes.
pub const LOG_TAIL_LINES: usize = 20;

/// A running child process, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
}

impl Process {
    /// Starts `cmd` with stdin closed and stdout and stderr appended to
    /// `log` (appended: one log per process for a whole run, so that a
    /// failure shows every incarnation).
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self> {
        let out = append(log)?;
        let err = out
            .try_clone()
            .map_err(HarnessError::context(log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(HarnessError::context(format!("cannot start {name}")))?;
        Ok(Self {
            name: name.to_owned(),
            pid: child.id(),
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// The process id (also after the process ended).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap: a crash.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(HarnessError::context(format!(
                "cannot SIGKILL {}",
                self.name
            )))?;
            child
                .wait()
                .map_err(HarnessError::context(format!("cannot reap {}", self.name)))?;
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `within` for the exit: a clean stop. A
    /// process still running then is SIGKILLed and the stop is an error.
    pub fn terminate(&mut self, within: Duration) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return Err(HarnessError::new(format!("{} is not running", self.name)));
        };
        let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
        if let Some(pid) = pid {
            kill_process(pid, Signal::TERM).map_err(HarnessError::context(format!(
                "cannot SIGTERM {}",
                self.name
            )))?;
        }
        let deadline = Instant::now() + within;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HarnessError::new(format!(
                        "{} did not stop within {} s of SIGTERM (killed); {}",
                        self.name,
                        within.as_secs(),
                        log_tail(&self.log, LOG_TAIL_LINES)
                    )));
                }
                Err(e) => return Err(HarnessError::new(format!("{}: {e}", self.name))),
            }
        }
    }

    /// An error if the process has exited (it must not, on its own).
    pub fn check_alive(&mut self) -> Result<()> {
        let status = match self.child.as_mut() {
            None => return Err(HarnessError::new(format!("{} is not running", self.name))),
            Some(c) => c.try_wait(),
        };
        match status {
            Ok(None) => Ok(()),
            Ok(Some(s)) => Err(HarnessError::new(format!(
                "{} exited on its own ({s}); last log line: {}",
                self.name,
                last_line(&self.log)
            ))),
            Err(e) => Err(HarnessError::new(format!("{}: {e}", self.name))),
        }
    }

    /// Polls `ready` every 10 ms until it holds, the process dies or
    /// `within` passes; the error quotes the tail of the log.
    pub fn wait_until(&mut self, within: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if ready() {
                return Ok(());
            }
            self.check_alive().map_err(|e| {
                HarnessError::new(format!("{e}\n{}", log_tail(&self.log, LOG_TAIL_LINES)))
            })?;
            if Instant::now() > deadline {
                return Err(HarnessError::new(format!(
                    "{} not ready within {} s; last log line: {}\n{}",
                    self.name,
                    within.as_secs(),
                    last_line(&self.log),
                    log_tail(&self.log, LOG_TAIL_LINES)
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(HarnessError::context(path.display()))
}

/// The last non-empty line of a log, for one-line error messages.
pub fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| "(empty)".into())
}

/// The last `n` lines of a log, headed with its path.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines.get(lines.len().saturating_sub(n)..).unwrap_or(&[]);
    format!(
        "last {} line(s) of {}:\n{}",
        tail.len(),
        path.display(),
        tail.join("\n")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn terminate_kill_and_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleep.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello; exec sleep 30"]);
        let mut p = Process::spawn("sleep", cmd, &log).unwrap();
        p.wait_until(Duration::from_secs(5), || last_line(&log) == "hello")
            .unwrap();
        p.check_alive().unwrap();
        let status = p.terminate(Duration::from_secs(5)).unwrap();
        assert!(!status.success());
        assert!(p.check_alive().is_err());
        assert!(log_tail(&log, 5).ends_with(":\nhello"));

        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut p = Process::spawn("sleep", cmd, &log).unwrap();
        p.kill().unwrap();
        let e = p
            .wait_until(Duration::from_millis(50), || false)
            .unwrap_err();
        assert!(e.message().contains("not running"), "{e}");
    }
}

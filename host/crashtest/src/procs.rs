//! The two processes under test, each behind a guard that SIGKILLs and
//! reaps it when dropped, so that no exit path of the harness (an
//! invariant failure, a `?`, a panic) leaves a samd or a simulator behind.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log` (one log per
    /// process for the whole run, so a failure shows every incarnation).
    pub fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Result<Self, String> {
        let out = append(log)?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Self {
            name,
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap.
    pub fn kill(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .map_err(|e| format!("cannot SIGKILL {}: {e}", self.name))?;
            child
                .wait()
                .map_err(|e| format!("cannot reap {}: {e}", self.name))?;
        }
        Ok(())
    }

    /// An error if the process has exited (it must not, on its own).
    pub fn check_alive(&mut self) -> Result<(), String> {
        let status = match self.child.as_mut() {
            None => return Err(format!("{} is not running", self.name)),
            Some(c) => c.try_wait(),
        };
        match status {
            Ok(None) => Ok(()),
            Ok(Some(s)) => Err(format!(
                "{} exited on its own ({s}); last log line: {}",
                self.name,
                last_line(&self.log)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// Polls `ready` every 10 ms until it holds, the process dies or
    /// `within` passes.
    pub fn wait_until(
        &mut self,
        within: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if ready() {
                return Ok(());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not ready within {} s; last log line: {}",
                    self.name,
                    within.as_secs(),
                    last_line(&self.log)
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn append(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The last non-empty line of a log, for error messages.
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

//! Start and stop of samd (seed §5.7 "Start", "Stop"): a background
//! process with a pid file, readiness through `/readyz`, SIGTERM to stop.

use super::error::{CtlError, CtlResult};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process, test_kill_process};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pid in a pid file, if the file exists and holds one.
pub fn read_pid(path: &Path) -> CtlResult<Option<i32>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t.trim().parse::<i32>().ok().filter(|p| *p > 0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CtlError::failed(format!(
            "pid file {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the pid file atomically.
pub fn write_pid(path: &Path, pid: u32) -> CtlResult<()> {
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, format!("{pid}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CtlError::failed(format!("pid file {}: {e}", path.display())))
}

/// Removes the pid file; a missing file is fine.
pub fn remove_pid(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Whether the process `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    let Some(p) = Pid::from_raw(pid) else {
        return false;
    };
    match test_kill_process(p) {
        Ok(()) | Err(Errno::PERM) => !zombie(pid),
        Err(_) => false,
    }
}

/// On Linux: whether `/proc/<pid>/stat` says the process is a zombie (it
/// exited and nobody reaped it yet). Elsewhere false.
fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        == Some('Z')
}

/// Sends SIGTERM (or SIGKILL).
pub fn signal(pid: i32, kill: bool) -> CtlResult<()> {
    let p = Pid::from_raw(pid).ok_or_else(|| CtlError::failed(format!("bad pid {pid}")))?;
    let sig = if kill { Signal::KILL } else { Signal::TERM };
    match kill_process(p, sig) {
        Ok(()) | Err(Errno::SRCH) => Ok(()),
        Err(e) => Err(CtlError::failed(format!("cannot signal pid {pid}: {e}"))),
    }
}

/// Waits until `pid` is gone; false on timeout.
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if !alive(pid) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The samd binary next to samctl's own executable.
pub fn default_samd() -> CtlResult<PathBuf> {
    Ok(super::settings::own_dir()?.join("samd"))
}

/// The default pid file of an instance: `sam<instance>.pid`, `samd.pid`.
pub fn default_pid_file(subsystem: &str) -> PathBuf {
    PathBuf::from(format!("{subsystem}.pid"))
}

/// The last `n` lines of a log file, for a failed start.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .get(lines.len().saturating_sub(n)..)
        .unwrap_or_default()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_and_liveness() {
        let dir = std::env::temp_dir().join(format!("samctl-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.pid");
        assert_eq!(read_pid(&f).unwrap(), None);
        write_pid(&f, std::process::id()).unwrap();
        let me = read_pid(&f).unwrap().unwrap();
        assert!(alive(me));
        std::fs::write(&f, "garbage").unwrap();
        assert_eq!(read_pid(&f).unwrap(), None);
        remove_pid(&f);
        assert!(!alive(i32::MAX));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // Exited but not reaped: a zombie counts as gone.
        assert!(wait_gone(pid, Duration::from_secs(10)));
        child.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

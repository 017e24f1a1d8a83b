//! The relay and its third-party neighbours as child processes: sam-mail
//! itself, Python's smtplib as the submitting client and aiosmtpd as the
//! next hop (ci/install-deps.sh installs aiosmtpd).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sam_harness::Process;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const SAM_MAIL: &str = env!("CARGO_BIN_EXE_sam-mail");

pub fn py(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// Waits until something listens on `port`.
pub fn wait_port(port: u16, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A running sam-mail.
pub struct Relay {
    pub process: Process,
    pub port: u16,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Relay {
    /// Writes `config` to `dir/sam-mail.toml` and starts sam-mail on it;
    /// `port` must be the config's smtp.listen port.
    pub fn start(dir: &Path, config: &str, port: u16) -> Self {
        let path = dir.join("sam-mail.toml");
        std::fs::write(&path, config).unwrap();
        Self::start_on(dir, &path, port)
    }

    /// Starts sam-mail on an existing config file.
    pub fn start_on(dir: &Path, config: &Path, port: u16) -> Self {
        let log = dir.join("sam-mail.log");
        let mut cmd = Command::new(SAM_MAIL);
        cmd.arg("--config")
            .arg(config)
            .env("RUST_LOG", "info,sam_mail=debug");
        let process = Process::spawn("sam-mail", cmd, &log).unwrap();
        assert!(
            wait_port(port, Duration::from_secs(20)),
            "sam-mail did not listen: {}",
            sam_harness::log_tail(&log, 30)
        );
        Self {
            process,
            port,
            config: config.to_path_buf(),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs the smtplib client; its JSON answer.
pub fn smtplib(args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(py("smtp_client.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtp_client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Submits the message file `file` through smtplib; the SMTP code.
pub fn submit(port: u16, from: &str, to: &str, file: &Path, extra: &[&str]) -> (i64, String) {
    let port = port.to_string();
    let file = file.display().to_string();
    let mut args = vec!["send", "127.0.0.1", port.as_str(), from, to, file.as_str()];
    args.extend_from_slice(extra);
    let v = smtplib(&args);
    (
        v["code"].as_i64().unwrap(),
        v["reply"].as_str().unwrap_or("").to_string(),
    )
}

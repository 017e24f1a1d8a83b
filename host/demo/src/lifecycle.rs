//! The chapter around the story: the tools it needs, the simulated HSM,
//! samd started and stopped with samctl.

use crate::demo::Demo;
use sam_harness::{Binaries, Connector, Tool};
use std::path::Path;
use std::process::Command;

/// samd, samctl, sam-simulator and sam-mail in `bin_dir`, and openssl.
pub fn check_tools(bin_dir: &Path) -> Result<((), String), String> {
    Binaries::from_option(Some(bin_dir))?.require(&Tool::ALL)?;
    // The mail chapter's relay (not a harness tool: the demo names it).
    if !bin_dir.join("sam-mail").is_file() {
        return Err(format!(
            "sam-mail not found in {} (cargo build -p sam-mail)",
            bin_dir.display()
        ));
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .map_err(|e| format!("openssl not found: {e}"))?;
    let version = String::from_utf8_lossy(&openssl.stdout)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Ok((
        (),
        format!(
            "samd, samctl, sam-simulator, sam-mail in {}; {version}",
            bin_dir.display()
        ),
    ))
}

impl Demo {
    pub fn init_hsm(&self) -> Result<((), String), String> {
        self.deployment.simulator().init(&self.bins)?;
        Ok((
            (),
            "`sam-simulator init`: fresh Master Backup Key in work/sam-state; samd runs this \
             embedded simulator's firmware in-process (transport = \"inprocess\")"
                .into(),
        ))
    }

    pub fn start_samd(&self) -> Result<((), String), String> {
        self.samd.write_config()?;
        let samd_toml = &self.samd.config_file;
        let sums = self.work.join("sam.sha512");
        self.samctl(
            Connector::Management,
            &[
                &"checksum",
                &"--out",
                &sums,
                &self.bins.samd(),
                &self.bins.samctl(),
            ],
        )?
        .checked("checksum")?;
        let out = self
            .samctl(
                Connector::Management,
                &[
                    &"start",
                    &"--samd-config",
                    samd_toml,
                    &"--pid-file",
                    &self.pid_file(),
                    &"--log-file",
                    &self.samd.log,
                    &"--samd",
                    &self.bins.samd(),
                    &"--checksums",
                    &sums,
                ],
            )?
            .checked("start")?;
        let lines: Vec<&str> = out.stdout.lines().collect();
        let want = [
            "samd code integrity check ... ok",
            "samctl code integrity check ... ok",
            "The subsystem \"samd\" has been started ... ok",
        ];
        if lines != want {
            return Err(format!("unexpected lines: {:?}", out.stdout));
        }
        Ok((
            (),
            format!(
                "code integrity ok; {} with mutual TLS, embedded SQLite work/samd.db, log \
                 work/samd.log",
                self.url()
            ),
        ))
    }

    pub fn stop_samd(&self) -> Result<((), String), String> {
        let out = self
            .samctl(
                Connector::Management,
                &[&"stop", &"--pid-file", &self.pid_file()],
            )?
            .checked("stop")?;
        if out.stdout.trim() != "The subsystem \"samd\" has been stopped ... ok" {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        let log = std::fs::read_to_string(&self.samd.log).unwrap_or_default();
        if !log.contains("samd stopped") {
            return Err("samd's log does not end with \"samd stopped\"".into());
        }
        Ok((
            (),
            "The subsystem \"samd\" has been stopped ... ok; samd flushed its store and \
             exited"
                .into(),
        ))
    }
}

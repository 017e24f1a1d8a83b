//! samd as a child process: start it from a [`SamdConfig`], wait until an
//! endpoint answers, stop it cleanly or kill it.

use crate::{Binaries, HarnessError, Identity, Process, Result, SamdConfig};
use sam_client::Method;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A samd to start: its configuration, where the file and the log go, and
/// its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamdSpec {
    /// The name in messages (`samd`, or a node's name).
    pub name: String,
    /// What `samd.toml` says.
    pub config: SamdConfig,
    /// Where `samd.toml` is written.
    pub config_file: PathBuf,
    /// samd's stdout and stderr, appended.
    pub log: PathBuf,
    /// Environment variables of the process (`NO_COLOR=1` by default).
    pub env: Vec<(String, String)>,
}

impl SamdSpec {
    /// A samd named `name` with `config` written to `config_file`, logging
    /// to `log`.
    pub fn new(name: &str, config: SamdConfig, config_file: PathBuf, log: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            config,
            config_file,
            log,
            env: vec![("NO_COLOR".into(), "1".into())],
        }
    }

    /// Adds an environment variable (e.g. `SAMD_LOG_FORMAT=json`).
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// samd's URL.
    pub fn url(&self) -> String {
        self.config.url()
    }

    /// Writes the configuration file.
    pub fn write_config(&self) -> Result<()> {
        self.config.write(&self.config_file)
    }

    /// Writes the configuration and starts `samd --config FILE`. It is not
    /// ready yet: see [`Samd::wait_for`].
    pub fn spawn(&self, bins: &Binaries) -> Result<Samd> {
        self.write_config()?;
        let mut cmd = Command::new(bins.samd());
        cmd.arg("--config").arg(&self.config_file);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        Ok(Samd {
            process: Process::spawn(&self.name, cmd, &self.log)?,
            url: self.url(),
        })
    }
}

/// A running samd, SIGKILLed when dropped.
#[derive(Debug)]
pub struct Samd {
    process: Process,
    url: String,
}

impl Samd {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The process.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// Waits until `GET path` answers 2xx to a client with `identity`:
    /// `/healthz` (up) before the firmware is initialized, `/readyz`
    /// (firmware Operational, store fine) after. Fails if samd exits or
    /// `within` passes, quoting the last probe error and the tail of
    /// samd's log.
    ///
    /// The probe runs on a thread and runtime of its own, so this may be
    /// called from anywhere, an async test included (it blocks).
    pub fn wait_for(&mut self, identity: &Identity, path: &str, within: Duration) -> Result<()> {
        let url = self.url.clone();
        let process = &mut self.process;
        let waited = std::thread::scope(|s| {
            s.spawn(move || probe(process, &url, identity, path, within))
                .join()
                .unwrap_or_else(|_| Err(HarnessError::new("the readiness probe panicked")))
        });
        waited.map_err(|e| HarnessError::new(format!("GET {path}: {e}")))
    }

    /// [`Samd::wait_for`] on `/readyz`.
    pub fn wait_ready(&mut self, identity: &Identity, within: Duration) -> Result<()> {
        self.wait_for(identity, "/readyz", within)
    }

    /// SIGKILL and reap: a crash.
    pub fn kill(&mut self) -> Result<()> {
        self.process.kill()
    }

    /// SIGTERM and wait (samd drains, flushes its store and exits);
    /// SIGKILL and an error after `within`.
    pub fn stop(&mut self, within: Duration) -> Result<ExitStatus> {
        self.process.terminate(within)
    }

    /// An error if samd has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        self.process.check_alive()
    }
}

fn probe(
    process: &mut Process,
    url: &str,
    identity: &Identity,
    path: &str,
    within: Duration,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(HarnessError::context("probe runtime"))?;
    let client = identity.client(url)?.with_timeout(PROBE_TIMEOUT);
    let mut last_error = String::from("no answer yet");
    process
        .wait_until(within, || {
            match rt.block_on(client.call(Method::GET, path, None)) {
                Ok(_) => true,
                Err(e) => {
                    last_error = e.to_string();
                    false
                }
            }
        })
        .map_err(|e| HarnessError::new(format!("{e}\nlast probe error: {last_error}")))
}

//! A throwaway PostgreSQL cluster for the tests of samd's PostgreSQL
//! store: `initdb` in a temporary directory, the server on a free loopback
//! port with its socket in that directory, stopped and removed on drop.
//!
//! PostgreSQL refuses to run as root, so as root the cluster runs as the
//! unprivileged system user [`SYSTEM_USER`] (created with `useradd` if
//! missing) through `runuser`; as anyone else it runs as that user.
//! Authentication is `trust` on loopback only: the cluster lives for one
//! test and holds nothing but test data.
//!
//! The binaries are the Debian packages' (`/usr/lib/postgresql/*/bin`,
//! installed by `ci/install-deps.sh`). Where none is installed,
//! [`Cluster::start`] returns `Ok(None)` and prints why, so that a test
//! can skip itself with a reason; a cluster that is installed but does not
//! start is an error, never a skip.

use crate::{HarnessError, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The system user the cluster runs as when the tests run as root.
pub const SYSTEM_USER: &str = "sam-pg";

/// The database [`Cluster::start`] creates.
pub const DATABASE: &str = "sam";

/// A running cluster; stopped (immediately) and deleted on drop.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
}

/// The newest installed PostgreSQL's `bin` directory.
pub fn installed_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn run(what: &str, command: &mut Command) -> Result<Output> {
    let out = command
        .output()
        .map_err(HarnessError::context(format!("cannot run {what}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(HarnessError::new(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Creates [`SYSTEM_USER`] unless it exists (idempotent; root only).
fn ensure_system_user() -> Result<()> {
    let exists = Command::new("id")
        .arg("-u")
        .arg(SYSTEM_USER)
        .output()
        .is_ok_and(|o| o.status.success());
    if exists {
        return Ok(());
    }
    let created = run(
        "useradd",
        Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SYSTEM_USER,
        ]),
    );
    // Two tests creating the user at once: the loser finds it there.
    match created {
        Ok(_) => Ok(()),
        Err(e) => Command::new("id")
            .arg("-u")
            .arg(SYSTEM_USER)
            .output()
            .is_ok_and(|o| o.status.success())
            .then_some(())
            .ok_or(e),
    }
}

impl Cluster {
    /// Starts a new cluster with database [`DATABASE`], or returns
    /// `Ok(None)` after printing the reason if PostgreSQL is not
    /// installed.
    pub fn start() -> Result<Option<Self>> {
        let Some(bin) = installed_bin_dir() else {
            eprintln!(
                "skipped: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; \
                 ci/install-deps.sh installs the Debian package)"
            );
            return Ok(None);
        };
        let run_as = if is_root() {
            ensure_system_user()?;
            Some(SYSTEM_USER)
        } else {
            None
        };
        // As root, under /tmp: the cluster's user must reach its directory,
        // and a TMPDIR of root's own may not let it.
        let base = match run_as {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        };
        let dir = base.join(format!(
            "sam-pg-{}-{}",
            std::process::id(),
            crate::ports::free_port()?
        ));
        std::fs::create_dir(&dir).map_err(HarnessError::context(format!(
            "cannot create {}",
            dir.display()
        )))?;
        let mut cluster = Self {
            bin,
            dir,
            port: 0,
            run_as,
        };
        if let Some(user) = run_as {
            run(
                "chown",
                Command::new("chown")
                    .arg(format!("{user}:"))
                    .arg(&cluster.dir),
            )?;
        }
        run(
            "initdb",
            cluster
                .command(
                    "initdb",
                    &[
                        "--no-sync",
                        "--auth=trust",
                        "--username=postgres",
                        "--encoding=UTF8",
                        "--locale=C",
                        "-D",
                    ],
                )
                .arg(cluster.data()),
        )?;
        // A port that was free a moment ago can be taken before the server
        // binds it: try a few.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = crate::ports::free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        cluster.create_database(DATABASE)?;
        Ok(Some(cluster))
    }

    /// Creates another database `name` in the cluster (e.g. one per samd
    /// of a benchmark) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        run(
            "createdb",
            Command::new(self.bin.join("createdb"))
                .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
                .arg(self.port.to_string())
                .arg(name),
        )?;
        Ok(self.database_url(name))
    }

    /// `bin/<name> <args>`, as the cluster's user.
    fn command(&self, name: &str, args: &[&str]) -> Command {
        let program = self.bin.join(name);
        let mut c = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        c.args(args);
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the server and waits until it accepts connections.
    fn pg_ctl_start(&self) -> Result<()> {
        // Small: a test binary runs several clusters at once. fsync stays
        // on (the default): the store's durability is tested as deployed.
        let options = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB \
             -c max_connections=50",
            self.dir.display(),
            self.port
        );
        run(
            "pg_ctl start",
            self.command("pg_ctl", &["start", "-w", "-t", "60", "-D"])
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .arg("-o")
                .arg(options),
        )
        .map(drop)
    }

    /// Stops the server (fast shutdown: sessions are disconnected), as a
    /// PostgreSQL restart or outage looks to samd.
    pub fn stop(&self) -> Result<()> {
        run(
            "pg_ctl stop",
            self.command("pg_ctl", &["stop", "-w", "-m", "fast", "-D"])
                .arg(self.data()),
        )
        .map(drop)
    }

    /// Starts the server again after [`Self::stop`], on the same port.
    pub fn restart(&self) -> Result<()> {
        self.pg_ctl_start()
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data, socket, server log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of [`DATABASE`], for samd's `[store] url`.
    pub fn url(&self) -> String {
        self.database_url(DATABASE)
    }

    fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl", &["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.data())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_cluster_starts_stops_restarts_and_is_removed() {
        let Some(cluster) = Cluster::start().unwrap() else {
            return;
        };
        let psql = |c: &Cluster| {
            Command::new(c.bin.join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-At",
                    "-c",
                    "SELECT 40 + 2",
                    "-p",
                ])
                .arg(c.port.to_string())
                .arg(DATABASE)
                .output()
                .unwrap()
        };
        let out = psql(&cluster);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
        cluster.stop().unwrap();
        assert!(!psql(&cluster).status.success());
        cluster.restart().unwrap();
        assert!(psql(&cluster).status.success());
        let dir = cluster.dir().to_path_buf();
        assert!(dir.join("data/PG_VERSION").is_file());
        drop(cluster);
        assert!(!dir.exists());
    }
}

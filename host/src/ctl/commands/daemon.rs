//! `start` and `stop` of samd (seed §5.7 "Start", "Stop"): the code
//! integrity check, the child process, the readiness probe through
//! `/readyz` and the Table 52 lines; the pid file and signals are
//! [`crate::ctl::process`].

use crate::ctl::checksum;
use crate::ctl::cli::{StartArgs, StopArgs};
use crate::ctl::client::{Client, Method, samd_location};
use crate::ctl::console;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::process;
use crate::ctl::settings::{Settings, default_checksums};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn instance(given: Option<String>, s: &Settings) -> String {
    given
        .or_else(|| s.file.instance.clone())
        .unwrap_or_default()
}

fn pid_file(given: Option<PathBuf>, s: &Settings, subsystem: &str) -> PathBuf {
    given
        .or_else(|| s.file.pid_file.clone())
        .unwrap_or_else(|| process::default_pid_file(subsystem))
}

/// The URL of samd's listen address (wildcards become loopback).
fn listen_url(listen: std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(v) if v.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v) if v.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("https://{}", std::net::SocketAddr::new(ip, listen.port()))
}

/// What a readiness probe found.
enum Probe {
    /// `/readyz` said ready.
    Ready,
    /// samd answers but is not ready (why).
    Up(String),
    /// No answer yet (why).
    Down(String),
}

async fn probe(client: Option<&Client>, host: &str, port: u16) -> Probe {
    match client {
        Some(c) => match c.send(Method::GET, "/readyz", None).await {
            Ok(a) if a.status == 200 => Probe::Ready,
            Ok(a) => Probe::Up(a.error().to_string()),
            Err(e) => Probe::Down(e.to_string()),
        },
        None => match tokio::net::TcpStream::connect((host, port)).await {
            Ok(_) => Probe::Up(
                "readiness not checked: no client certificate (--cert, --key, --ca)".into(),
            ),
            Err(e) => Probe::Down(format!("cannot connect to {host}:{port}: {e}")),
        },
    }
}

/// Stops a child that did not come up: SIGTERM, then SIGKILL.
fn put_down(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = process::signal(pid, false);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub(super) async fn start(s: &Settings, a: StartArgs) -> CtlResult<u8> {
    let subsystem = console::subsystem(&instance(a.instance.clone(), s));
    let pid_file = pid_file(a.pid_file.clone(), s, &subsystem);
    let abandon = |e: CtlError| {
        println!("{}", console::start_abandoned(&subsystem));
        eprintln!("samctl: {e}");
        e.exit_code()
    };
    if let Some(pid) = process::read_pid(&pid_file)? {
        if process::alive(pid) {
            println!("{}", console::already_running(&subsystem));
            s.note(1, format!("pid {pid} ({})", pid_file.display()));
            return Ok(0);
        }
        s.note(
            1,
            format!("removing the stale pid file {}", pid_file.display()),
        );
        process::remove_pid(&pid_file);
    }

    // Code integrity first (Table 52, Start).
    let checksums = match a.checksums.clone().or_else(|| s.file.checksums.clone()) {
        Some(p) => Some(p),
        None => Some(default_checksums()?).filter(|p| p.exists()),
    };
    match checksums {
        Some(p) => match checksum::load(&p) {
            Ok(entries) => {
                if !checksum::check_all(&entries, true) {
                    println!("{}", console::start_abandoned(&subsystem));
                    return Ok(1);
                }
            }
            Err(e) => return Ok(abandon(e)),
        },
        None => eprintln!(
            "samctl: warning: no checksum file (--checksums, or sam.sha512 next to samctl): \
             code integrity not checked"
        ),
    }

    // samd's configuration: checked here for a clear message, and the
    // source of the address to probe.
    let samd_config = a
        .samd_config
        .clone()
        .or_else(|| s.file.samd_config.clone())
        .unwrap_or_else(|| PathBuf::from("samd.toml"));
    let samd_config = match samd_config.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            return Ok(abandon(CtlError::usage(format!(
                "samd configuration {}: {e}",
                samd_config.display()
            ))));
        }
    };
    let config =
        match crate::config::Config::load(&samd_config).and_then(|c| c.connectors().map(|_| c)) {
            Ok(c) => c,
            Err(e) => return Ok(abandon(CtlError::usage(e.0))),
        };
    let url = if s.url_given {
        s.url.clone()
    } else {
        listen_url(config.server.listen)
    };
    let endpoint = match samd_location(&url) {
        Ok(e) => e,
        Err(e) => return Ok(abandon(e)),
    };
    let client = if s.cert.is_some() && s.key.is_some() && s.ca.is_some() {
        match Client::for_url(s, &url) {
            Ok(c) => Some(c.with_timeout(Duration::from_secs(5))),
            Err(e) => return Ok(abandon(e)),
        }
    } else {
        None
    };
    let samd = match a.samd.clone().or_else(|| s.file.samd.clone()) {
        Some(p) => p,
        None => process::default_samd()?,
    };
    let log_file = a
        .log_file
        .clone()
        .or_else(|| s.file.log_file.clone())
        .unwrap_or_else(|| pid_file.with_extension("log"));
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .and_then(|f| Ok((f.try_clone()?, f)))
    {
        Ok(l) => l,
        Err(e) => {
            return Ok(abandon(CtlError::failed(format!(
                "log file {}: {e}",
                log_file.display()
            ))));
        }
    };
    s.note(
        1,
        format!(
            "starting {} --config {} (log {})",
            samd.display(),
            samd_config.display(),
            log_file.display()
        ),
    );
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        match std::process::Command::new(&samd)
            .arg("--config")
            .arg(&samd_config)
            .stdin(std::process::Stdio::null())
            .stdout(log.0)
            .stderr(log.1)
            .process_group(0)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return Ok(abandon(CtlError::failed(format!(
                    "cannot run {}: {e}",
                    samd.display()
                ))));
            }
        }
    };

    let deadline = Instant::now() + Duration::from_secs(a.wait);
    let not_ready = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(abandon(CtlError::failed(format!(
                "samd exited during start ({status}); the end of {}:\n{}",
                log_file.display(),
                process::log_tail(&log_file, 20)
            ))));
        }
        let last = match probe(client.as_ref(), endpoint.host(), endpoint.port()).await {
            Probe::Ready => break None,
            Probe::Up(why) => break Some(why),
            Probe::Down(why) => why,
        };
        if Instant::now() >= deadline {
            put_down(&mut child);
            return Ok(abandon(CtlError::failed(format!(
                "samd did not answer /readyz at {url} within {} s ({last}); see {}",
                a.wait,
                log_file.display()
            ))));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if let Err(e) = process::write_pid(&pid_file, child.id()) {
        put_down(&mut child);
        return Ok(abandon(e));
    }
    println!("{}", console::started(&subsystem));
    if let Some(why) = not_ready {
        eprintln!("samctl: note: samd answers but is not ready: {why}");
    }
    s.note(
        1,
        format!(
            "pid {} in {}, log {}",
            child.id(),
            pid_file.display(),
            log_file.display()
        ),
    );
    Ok(0)
}

pub(super) fn stop(s: &Settings, a: &StopArgs) -> CtlResult<u8> {
    let subsystem = console::subsystem(&instance(a.instance.clone(), s));
    let pid_file = pid_file(a.pid_file.clone(), s, &subsystem);
    let pid = match process::read_pid(&pid_file)? {
        Some(p) if process::alive(p) => p,
        other => {
            if other.is_some() {
                s.note(
                    1,
                    format!("removing the stale pid file {}", pid_file.display()),
                );
                process::remove_pid(&pid_file);
            }
            println!("{}", console::not_running(&subsystem));
            return Ok(0);
        }
    };
    if let Err(e) = process::signal(pid, false) {
        println!("{}", console::stop_failed(&subsystem));
        eprintln!("samctl: {e}");
        return Ok(1);
    }
    s.note(1, format!("SIGTERM sent to pid {pid}"));
    if process::wait_gone(pid, Duration::from_secs(a.wait)) {
        process::remove_pid(&pid_file);
        println!("{}", console::stopped(&subsystem));
        Ok(0)
    } else {
        println!("{}", console::stop_failed(&subsystem));
        eprintln!(
            "samctl: samd (pid {pid}) is still running after {} s; it lets in-flight requests \
             finish for shutdown_grace_secs",
            a.wait
        );
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_urls() {
        assert_eq!(
            listen_url("0.0.0.0:8443".parse().unwrap()),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            listen_url("[::]:9443".parse().unwrap()),
            "https://[::1]:9443"
        );
    }
}

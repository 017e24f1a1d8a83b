#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The `samd` binary: configuration check, pins, and a real run on the
//! in-process simulator that ends cleanly on SIGTERM.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Pki;

const SAMD: &str = env!("CARGO_BIN_EXE_samd");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes PEM files and a configuration; returns its path.
fn setup(dir: &std::path::Path, pki: &Pki, port: u16) -> std::path::PathBuf {
    std::fs::write(dir.join("server.pem"), &pki.server.cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), &pki.server.key_pem).unwrap();
    std::fs::write(dir.join("client-ca.pem"), &pki.ca.cert_pem).unwrap();
    sam_simulator::Simulator::init(&dir.join("hsm")).unwrap();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
tls_cert = "{d}/server.pem"
tls_key = "{d}/server.key"
client_ca = "{d}/client-ca.pem"
shutdown_grace_secs = 5

[store]
path = "{d}/samd.db"

[firmware]
transport = "inprocess"
state_dir = "{d}/hsm"
crypto = "portable"

[[connector]]
name = "samctl"
certificate_sha256 = "{pin}"
operations = ["management"]
"#,
        d = dir.display(),
        pin = pki.admin.pin(),
    );
    let path = dir.join("samd.toml");
    std::fs::write(&path, config).unwrap();
    path
}

#[test]
fn help_check_config_and_print_pin() {
    let out = Command::new(SAMD).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Example:") && help.contains("--config"));

    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let config = setup(dir.path(), &pki, free_port());
    let out = Command::new(SAMD)
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    std::fs::write(dir.path().join("admin.pem"), &pki.admin.cert_pem).unwrap();
    let out = Command::new(SAMD)
        .arg("--print-pin")
        .arg(dir.path().join("admin.pem"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        pki.admin.pin()
    );

    std::fs::write(&config, "[server]\nlisten = \"nowhere\"\n").unwrap();
    let out = Command::new(SAMD)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_then_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let port = free_port();
    let config = setup(dir.path(), &pki, port);
    let child = Command::new(SAMD)
        .arg("--config")
        .arg(&config)
        .env("SAMD_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = support::Client::new(addr, &pki.ca, &pki.admin, false);
    let started = Instant::now();
    let status = loop {
        if let Ok(r) = client.try_send("GET", "/admin/status", None).await {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "samd did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let status = status.ok();
    assert_eq!(status["firmware"]["state"], "Uninitialized");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8(out.stderr).unwrap();
    assert!(log.contains("samd stopped"), "{log}");
    assert!(log.lines().all(|l| l.starts_with('{')), "{log}");
}

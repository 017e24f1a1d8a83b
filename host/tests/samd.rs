#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The `samd` binary: configuration check, pins, and a real run on the
//! in-process simulator that ends cleanly on SIGTERM.

mod support;

use sam_harness::{Binaries, SamdSpec, free_port};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::Pki;
use support::deploy;

const SAMD: &str = env!("CARGO_BIN_EXE_samd");

/// Writes PEM files and a configuration; returns its path.
fn setup(dir: &Path, pki: &Pki, port: u16) -> std::path::PathBuf {
    let path = dir.join("samd.toml");
    deploy::samd_config(dir, pki, port).write(&path).unwrap();
    path
}

/// Starts samd as `spec` says and waits for `/healthz`; returns it and a
/// management client.
fn spawn_ready(
    dir: &Path,
    pki: &Pki,
    port: u16,
    spec: &SamdSpec,
) -> (sam_harness::Samd, support::Client) {
    let bins = Binaries::at(Path::new(SAMD).parent().unwrap()).unwrap();
    let mut samd = spec.spawn(&bins).unwrap();
    let admin = deploy::admin_identity(dir, pki);
    samd.wait_for(&admin, "/healthz", Duration::from_secs(30))
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    (samd, support::Client::new(addr, &pki.ca, &pki.admin, false))
}

#[test]
fn help_check_config_and_print_pin() {
    let out = Command::new(SAMD).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Example:") && help.contains("--config"));

    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let config = setup(dir.path(), &pki, free_port().unwrap());
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
    let port = free_port().unwrap();
    let spec = SamdSpec::new(
        "samd",
        deploy::samd_config(dir.path(), &pki, port),
        dir.path().join("samd.toml"),
        dir.path().join("samd.log"),
    )
    .with_env("SAMD_LOG_FORMAT", "json");
    let (mut samd, client) = spawn_ready(dir.path(), &pki, port, &spec);
    let status = client.get("/admin/status").await.ok();
    assert_eq!(status["firmware"]["state"], "Uninitialized");
    // SIGTERM: samd drains, flushes its store and exits 0.
    let status = samd.stop(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(dir.path().join("samd.log")).unwrap();
    assert!(log.contains("samd stopped"), "{log}");
    assert!(log.lines().all(|l| l.starts_with('{')), "{log}");
}

/// samd with `[store] backend = "postgres"`: it migrates the database at
/// start, reports the store unavailable while PostgreSQL is down, and
/// reconnects by itself when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_postgres_and_reconnects_after_a_server_restart() {
    let Some(cluster) = sam_harness::postgres::Cluster::start().unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let port = free_port().unwrap();
    let config = deploy::samd_config(dir.path(), &pki, port).with_postgres(&cluster.url());
    let spec = SamdSpec::new(
        "samd",
        config,
        dir.path().join("samd.toml"),
        dir.path().join("samd.log"),
    );
    let (mut samd, client) = spawn_ready(dir.path(), &pki, port, &spec);
    let status = client.get("/admin/status").await.ok();
    assert_eq!(
        status["store"]["path"],
        format!("postgres://127.0.0.1:{}/sam", cluster.port())
    );
    assert_eq!(status["store"]["failed"], false, "{status}");
    assert!(!dir.path().join("samd.db").exists(), "no SQLite file");
    let store_failed = |want: bool| {
        let client = &client;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                // While the store is down even the status cannot count
                // its rows: 503 NotOperational, naming the store.
                let r = client.get("/admin/status").await;
                let body = String::from_utf8_lossy(&r.body).into_owned();
                let failed = match r.status {
                    200 => {
                        let s: serde_json::Value = serde_json::from_str(&body).unwrap();
                        s["store"]["failed"] == true
                    }
                    503 => body.contains("the store cannot be reached"),
                    _ => panic!("{}: {body}", r.status),
                };
                if failed == want {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "{body}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    cluster.stop().unwrap();
    store_failed(true).await;
    cluster.restart().unwrap();
    store_failed(false).await;
    let status = samd.stop(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(dir.path().join("samd.log")).unwrap();
    assert!(log.contains("PostgreSQL store open"), "{log}");
    assert!(log.contains("available again"), "{log}");
}

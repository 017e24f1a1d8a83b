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
    // systemd's readiness protocol (`Type=notify` in dist/systemd): samd
    // says READY=1 once it listens and STOPPING=1 when the drain starts.
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let spec = spec.with_env("NOTIFY_SOCKET", notify_path.to_str().unwrap());
    let (mut samd, client) = spawn_ready(dir.path(), &pki, port, &spec);
    let mut datagram = [0u8; 256];
    let n = notify.recv(&mut datagram).expect("samd never said READY=1");
    assert_eq!(&datagram[..n], b"READY=1\n");
    let status = client.get("/admin/status").await.ok();
    assert_eq!(status["firmware"]["state"], "Uninitialized");
    // SIGTERM: samd drains, flushes its store and exits 0.
    let status = samd.stop(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status:?}");
    let n = notify
        .recv(&mut datagram)
        .expect("samd never said STOPPING=1");
    assert_eq!(&datagram[..n], b"STOPPING=1\n");
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

/// The unit files of dist/systemd pass `systemd-analyze verify` without a
/// single warning (an unknown key is only a warning there, so the output
/// must be empty), with their programs pointed at the ones built here,
/// and `systemd-analyze security` rates their exposure low.
#[test]
fn the_systemd_units_verify_and_are_hardened() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        panic!(
            "systemd-analyze is missing: install the Debian package systemd (ci/install-deps.sh)"
        );
    };
    assert!(version.status.success());
    let bins = Binaries::at(Path::new(SAMD).parent().unwrap()).unwrap();
    let missing = bins.missing(&[sam_harness::Tool::Samd, sam_harness::Tool::Simulator]);
    assert!(
        missing.is_empty(),
        "build them first: cargo build -p sam-simulator -p sam-host"
    );
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/systemd");
    let dir = tempfile::tempdir().unwrap();
    for name in ["samd.service", "sam-simulator.service"] {
        let text = std::fs::read_to_string(units.join(name)).unwrap();
        assert!(
            text.contains("Type=notify"),
            "{name}: readiness by sd_notify"
        );
        let local = text.replace("/usr/local/bin/", &format!("{}/", bins.dir().display()));
        let path = dir.path().join(name);
        std::fs::write(&path, local).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{name}: {said}"
        );
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&path)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        let level: f64 = report
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|l| l.split(": ").nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: no exposure level in {report}"));
        assert!(
            level <= 2.0,
            "{name}: exposure {level} (0 safe … 10 unsafe)\n{report}"
        );
    }
}

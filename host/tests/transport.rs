#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The simulator as the firmware: in-process, and behind a Unix socket
//! that goes away and comes back.

mod support;

use sam_host::transport::{InProcess, Socket};
use sam_simulator::{CryptoBackend, ListenAddr, Simulator};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::{Daemon, Pki};
use tokio::sync::oneshot;

/// Serves a simulator on `addr` until the returned sender fires.
async fn simulator(
    state: &Path,
    addr: &ListenAddr,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let sim = Arc::new(Simulator::open(state, CryptoBackend::AwsLc).unwrap());
    let listener = sam_simulator::server::Listener::bind(addr).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        sam_simulator::server::serve_on(sim, listener, Default::default(), stopped)
            .await
            .unwrap();
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("hsm");
    Simulator::init(&state).unwrap();
    let sim = Arc::new(Simulator::open(&state, CryptoBackend::AwsLc).unwrap());
    let pki = Pki::new();
    let d = Daemon::start_with(
        &pki,
        &dir.path().join("samd.db"),
        Arc::new(InProcess::new(sim)),
    )
    .await;
    let admin = d.client(&pki, &pki.admin);
    let s = admin.get("/admin/status").await.ok();
    assert_eq!(s["firmware"]["state"], "Uninitialized");
    assert_eq!(s["transport"], "inprocess");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_socket_is_not_operational_and_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("hsm");
    Simulator::init(&state).unwrap();
    let addr: ListenAddr = format!("unix:{}", dir.path().join("sim.sock").display())
        .parse()
        .unwrap();
    let (stop, task) = simulator(&state, &addr).await;
    let transport = Socket::new(
        addr.clone(),
        Duration::from_millis(20),
        Duration::from_millis(100),
    );
    let pki = Pki::new();
    let d = Daemon::start_with(&pki, &dir.path().join("samd.db"), Arc::new(transport)).await;
    let admin = d.client(&pki, &pki.admin);
    let s = admin.get("/admin/status").await.ok();
    assert_eq!(s["firmware"]["reachable"], true);
    assert_eq!(s["transport"], "socket");

    // The simulator goes away.
    stop.send(()).unwrap();
    task.await.unwrap();
    let r = admin.get("/readyz").await;
    assert_eq!((r.status, r.error().as_str()), (503, "NotOperational"));
    let s = admin.get("/admin/status").await.ok();
    assert_eq!(s["firmware"]["reachable"], false);
    assert_eq!(s["firmware"]["error"], "NotOperational");

    // It comes back; samd reconnects by itself within the backoff.
    let (stop, task) = simulator(&state, &addr).await;
    let mut reachable = false;
    for _ in 0..50 {
        let s = admin.get("/admin/status").await.ok();
        if s["firmware"]["reachable"] == true {
            reachable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reachable);
    d.stop().await;
    stop.send(()).unwrap();
    task.await.unwrap();
}

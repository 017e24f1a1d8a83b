#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The peering listener against hostile peers: each timeout and each
//! connection limit of `ServeOptions` is reached with small values, the
//! connection is seen closed (or refused), and an honest request still
//! works afterwards.

mod support;

use sam_host::api::server::ServeOptions;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::World;
use support::tls::{Ca, Leaf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Generous values for every bound a test does not exercise.
fn relaxed() -> ServeOptions {
    ServeOptions {
        handshake_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(5),
        max_connections: 1024,
        max_connections_per_connector: 256,
    }
}

/// A completed TLS connection with `leaf`, offering `alpn`.
async fn tls(addr: SocketAddr, ca: &Ca, leaf: &Leaf, alpn: &[u8]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    support::tls_connector(ca, leaf, alpn)
        .connect(name, tcp)
        .await
        .unwrap()
}

/// Reads (and discards) until the peer closes; how long that took. Panics
/// if the connection is still open after `max`.
async fn closed_after(mut stream: impl AsyncRead + Unpin, max: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let wait = tokio::time::timeout(max, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(wait.is_ok(), "the connection is still open after {max:?}");
    started.elapsed()
}

/// One keep-alive HTTP/1.1 `GET /healthz`; `Err` unless an answer came.
async fn ask(stream: &mut TlsStream<TcpStream>) -> Result<(), String> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !String::from_utf8_lossy(&got).contains("\"up\"") {
            match stream.read(&mut buf).await {
                Ok(0) => return Err("closed".to_string()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    })
    .await;
    read.unwrap_or_else(|_| Err("no answer".into()))?;
    let text = String::from_utf8_lossy(&got);
    if text.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(text.into_owned())
    }
}

/// `elapsed` is the configured bound, give or take scheduling.
fn about(elapsed: Duration, bound: Duration) {
    assert!(
        elapsed + Duration::from_millis(100) >= bound && elapsed < bound + Duration::from_secs(2),
        "closed after {elapsed:?}, bound {bound:?}"
    );
}

async fn honest_still_served(w: &World) {
    assert_eq!(w.ssa.get("/healthz").await.status, 200);
    let h2 = support::Client::new(w.daemon.addr, &w.pki.ca, &w.pki.ssa, true);
    assert_eq!(h2.get("/healthz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_does_not_finish_is_closed_after_the_handshake_timeout() {
    let bound = Duration::from_secs(1);
    let w = World::limited(ServeOptions {
        handshake_timeout: bound,
        ..relaxed()
    })
    .await;
    // Nothing at all after the TCP connection.
    let silent = TcpStream::connect(w.daemon.addr).await.unwrap();
    about(closed_after(silent, Duration::from_secs(5)).await, bound);
    // The start of a TLS record, then nothing.
    let mut partial = TcpStream::connect(w.daemon.addr).await.unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();
    about(closed_after(partial, Duration::from_secs(5)).await, bound);
    honest_still_served(&w).await;
    w.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_a_request_is_closed_after_the_idle_timeout() {
    let bound = Duration::from_secs(1);
    let w = World::limited(ServeOptions {
        idle_timeout: bound,
        ..relaxed()
    })
    .await;
    let (addr, ca, ssa) = (w.daemon.addr, &w.pki.ca, &w.pki.ssa);
    // Silent right after the handshake, on either protocol.
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let s = tls(addr, ca, ssa, alpn).await;
        about(closed_after(s, Duration::from_secs(5)).await, bound);
    }
    // Silent after a keep-alive request was answered: the bound counts
    // from the answer, not from the connection's start.
    let mut s = tls(addr, ca, ssa, b"http/1.1").await;
    tokio::time::sleep(bound / 2).await;
    ask(&mut s).await.unwrap();
    about(closed_after(s, Duration::from_secs(5)).await, bound);
    honest_still_served(&w).await;
    w.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_sent_a_byte_at_a_time_is_closed_after_the_header_timeout() {
    let bound = Duration::from_secs(1);
    let w = World::limited(ServeOptions {
        header_timeout: bound,
        idle_timeout: Duration::from_secs(10),
        ..relaxed()
    })
    .await;
    let s = tls(w.daemon.addr, &w.pki.ca, &w.pki.ssa, b"http/1.1").await;
    let (reader, mut writer) = tokio::io::split(s);
    // A byte every 200 ms: each one is activity, none completes the head.
    let trickle = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nx-slow: "
            .iter()
            .cycle()
        {
            if writer.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    about(closed_after(reader, Duration::from_secs(5)).await, bound);
    trickle.abort();
    honest_still_served(&w).await;
    w.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_connector_or_global_limit_are_refused() {
    let w = World::limited(ServeOptions {
        max_connections: 3,
        max_connections_per_connector: 2,
        ..relaxed()
    })
    .await;
    let (addr, pki) = (w.daemon.addr, &w.pki);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tls(addr, &pki.ca, &pki.ssa, b"http/1.1").await;
        ask(&mut s).await.unwrap();
        held.push(s);
    }
    // A third connection of the same connector is closed after the
    // handshake, unanswered.
    let mut third = tls(addr, &pki.ca, &pki.ssa, b"http/1.1").await;
    assert!(ask(&mut third).await.is_err());
    drop(third);
    // Another connector still has room: the server holds 3 now.
    let mut ra = tls(addr, &pki.ca, &pki.ra, b"http/1.1").await;
    ask(&mut ra).await.unwrap();
    held.push(ra);
    // The fourth connection exceeds the server's limit: closed on accept,
    // so not even the handshake completes.
    let e = support::Client::new(addr, &pki.ca, &pki.admin, false)
        .try_send("GET", "/healthz", None)
        .await;
    assert!(e.is_err(), "{e:?}");
    // Held connections are still served.
    for s in &mut held {
        ask(s).await.unwrap();
    }
    // Once they go, the slots are free again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    honest_still_served(&w).await;
    assert_eq!(w.admin.get("/healthz").await.status, 200);
    w.daemon.stop().await;
}

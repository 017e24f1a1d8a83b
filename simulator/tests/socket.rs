//! The simulator behind a socket: framing, multiplexing, parallelism,
//! backpressure, malformed input and shutdown, with the server in-process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::decode_answer;
use sam_proto::ErrorType;
use sam_proto::command::{ChallengeIssued, FirmwareState, GetChallenge, GetStatus, SubFunction};
use sam_proto::frame::{Frame, decode_frame, encode_body, frame_len};
use sam_simulator::client::SocketClient;
use sam_simulator::server::{Listener, ServeOptions, TcpPolicy, serve_on};
use sam_simulator::{CryptoBackend, ListenAddr, SimError, Simulator};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process.
struct Running {
    addr: ListenAddr,
    sim: Arc<Simulator>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), SimError>>,
    _tmp: tempfile::TempDir,
}

impl Running {
    async fn start(tcp: bool, options: ServeOptions) -> Self {
        let (tmp, dir, sim) = common::open(CryptoBackend::AwsLc);
        let sim = Arc::new(sim);
        let want = if tcp {
            "tcp:127.0.0.1:0".parse().unwrap()
        } else {
            ListenAddr::Unix(dir.join("sim.sock"))
        };
        let listener = Listener::bind_with(
            &want,
            TcpPolicy {
                insecure_dev_tcp: true,
            },
        )
        .await
        .unwrap();
        let addr = listener.local_addr().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_on(sim.clone(), listener, options, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            sim,
            stop: Some(stop),
            task,
            _tmp: tmp,
        }
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server did not stop")
            .unwrap()
            .unwrap();
    }
}

async fn get_status(c: &SocketClient) -> sam_proto::command::Status {
    let (code, body) = c
        .call(
            SubFunction::GetStatus.code(),
            encode_body(&GetStatus).unwrap(),
        )
        .await
        .unwrap();
    decode_answer::<GetStatus>(code, &body).unwrap()
}

async fn get_challenge(c: &SocketClient) -> Result<ChallengeIssued, SimError> {
    let (code, body) = c
        .call(
            SubFunction::GetChallenge.code(),
            encode_body(&GetChallenge).unwrap(),
        )
        .await?;
    Ok(decode_answer::<GetChallenge>(code, &body).unwrap())
}

/// 200 calls of two kinds in flight at once on one connection: every one
/// is answered, with the answer of its own kind (a mix-up of ids would hand
/// a Status body to a challenge call, which does not decode).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_calls_over_one_unix_connection() {
    let server = Running::start(false, ServeOptions::default()).await;
    let client = SocketClient::connect(&server.addr).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                assert_eq!(get_status(&c).await.state, FirmwareState::Uninitialized);
                None
            } else {
                Some(get_challenge(&c).await.unwrap().challenge)
            }
        }));
    }
    let mut challenges = std::collections::HashSet::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap() {
            assert!(challenges.insert(c), "a challenge was answered twice");
        }
    }
    assert_eq!(challenges.len(), 100);
    let ListenAddr::Unix(path) = server.addr.clone() else {
        unreachable!()
    };
    server.shutdown().await;
    assert!(!path.exists(), "socket file left behind");
}

/// Issue 13 item 1: the socket is how a host drives the HSM, so the Unix
/// socket file is made readable and writable by its owner only (the
/// simulator's user; samd runs as it), and the server still serves that
/// owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unix_socket_file_is_not_world_accessible() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let server = Running::start(false, ServeOptions::default()).await;
    let ListenAddr::Unix(path) = server.addr.clone() else {
        unreachable!()
    };
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o077, 0, "mode {:o}", meta.mode() & 0o777);
    let client = SocketClient::connect(&server.addr).await.unwrap();
    assert_eq!(get_status(&client).await.boot, 1);
    server.shutdown().await;
}

/// Plain TCP authenticates no client: without the development switch the
/// listener refuses it even on loopback, and with the switch it still
/// refuses any address that is not loopback. Before this, both bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tcp_is_refused_unless_loopback_and_the_dev_switch() {
    let dev = TcpPolicy {
        insecure_dev_tcp: true,
    };
    for addr in ["tcp:127.0.0.1:0", "tcp:[::1]:0"] {
        let addr: ListenAddr = addr.parse().unwrap();
        let err = Listener::bind(&addr).await.unwrap_err();
        assert!(
            matches!(&err, SimError::Insecure { reason, .. } if reason.contains("--insecure-dev-tcp")),
            "{err}"
        );
    }
    for addr in [
        "tcp:0.0.0.0:0",
        "tcp:[::]:0",
        "tcp:192.0.2.1:7000",
        "tcp:10.1.2.3:0",
    ] {
        let addr: ListenAddr = addr.parse().unwrap();
        for policy in [TcpPolicy::default(), dev] {
            let err = Listener::bind_with(&addr, policy).await.unwrap_err();
            assert!(
                matches!(&err, SimError::Insecure { reason, .. } if reason.contains("non-loopback")),
                "{addr}: {err}"
            );
        }
    }
    // Loopback with the switch binds.
    let l = Listener::bind_with(&"tcp:127.0.0.1:0".parse().unwrap(), dev)
        .await
        .unwrap();
    assert!(matches!(l.local_addr(), ListenAddr::Tcp(a) if a.ip().is_loopback()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_listener_serves_too() {
    let server = Running::start(true, ServeOptions::default()).await;
    assert!(matches!(server.addr, ListenAddr::Tcp(a) if a.port() != 0));
    let client = SocketClient::connect(&server.addr).await.unwrap();
    assert_eq!(get_status(&client).await.boot, 1);
    server.shutdown().await;
}

/// Reads one frame from a raw stream; `None` at end of stream.
async fn read_raw<S: AsyncReadExt + Unpin>(s: &mut S) -> Option<(u16, u32, Vec<u8>)> {
    let mut prefix = [0u8; 4];
    s.read_exact(&mut prefix).await.ok()?;
    let len = frame_len(prefix).unwrap();
    let mut whole = prefix.to_vec();
    whole.resize(4 + len, 0);
    s.read_exact(&mut whole[4..]).await.unwrap();
    let f = decode_frame(&whole).unwrap();
    Some((f.word, f.request_id, f.body.to_vec()))
}

async fn expect_closed(s: &mut tokio::net::UnixStream) {
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
        .await
        .expect("connection not closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "connection still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_is_answered_and_closes_only_its_connection() {
    let server = Running::start(false, ServeOptions::default()).await;
    let ListenAddr::Unix(path) = server.addr.clone() else {
        unreachable!()
    };
    let bystander = SocketClient::connect(&server.addr).await.unwrap();
    let parse_error = ErrorType::MessageParseError.code();

    // Oversize length: refused unread, answered by id, closed.
    let mut raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut bytes = u32::MAX.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[1, 0, 1, 0, 0, 0, 77]);
    raw.write_all(&bytes).await.unwrap();
    let (status, id, _) = read_raw(&mut raw)
        .await
        .expect("no answer to an oversize frame");
    assert_eq!((status, id), (parse_error, 77));
    expect_closed(&mut raw).await;

    // Unknown protocol version: answered by id, closed.
    let mut raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut frame = Frame {
        word: 1,
        request_id: 78,
        body: b"",
    }
    .to_vec()
    .unwrap();
    frame[4] = 99;
    raw.write_all(&frame).await.unwrap();
    let (status, id, _) = read_raw(&mut raw)
        .await
        .expect("no answer to a bad version");
    assert_eq!((status, id), (parse_error, 78));
    expect_closed(&mut raw).await;

    // A length too short to hold a request id: closed without an answer.
    let mut raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    raw.write_all(&[0, 0, 0, 3, 1, 0, 1]).await.unwrap();
    assert!(read_raw(&mut raw).await.is_none());

    // A good frame with a garbage body is the firmware's to refuse; the
    // connection stays open and serves the next request.
    let mut raw = tokio::net::UnixStream::connect(&path).await.unwrap();
    raw.write_all(
        &Frame {
            word: 1,
            request_id: 5,
            body: b"\xff\xff",
        }
        .to_vec()
        .unwrap(),
    )
    .await
    .unwrap();
    raw.write_all(
        &Frame {
            word: 1,
            request_id: 6,
            body: &encode_body(&GetStatus).unwrap(),
        }
        .to_vec()
        .unwrap(),
    )
    .await
    .unwrap();
    let mut answers = [
        read_raw(&mut raw).await.unwrap(),
        read_raw(&mut raw).await.unwrap(),
    ];
    answers.sort_by_key(|a| a.1);
    assert_eq!((answers[0].0, answers[0].1), (parse_error, 5));
    assert_eq!((answers[1].0, answers[1].1), (0, 6));

    // The connection opened before all this still works.
    assert_eq!(
        get_status(&bystander).await.state,
        FirmwareState::Uninitialized
    );
    server.shutdown().await;
}

/// Past `max_in_flight` the server stops reading: with two slots and a
/// 200 ms latency, six calls need at least three rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_per_connection_are_bounded() {
    let latency = Duration::from_millis(200);
    for (bound, min_rounds, max_rounds) in [(2, 3, u32::MAX), (256, 1, 2)] {
        let options = ServeOptions {
            workers: 8,
            max_in_flight: bound,
        };
        let server = Running::start(false, options).await;
        server.sim.faults().set_latency(latency);
        let client = SocketClient::connect(&server.addr).await.unwrap();
        let t = Instant::now();
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move { get_challenge(&c).await.unwrap() })
            })
            .collect();
        for c in calls {
            c.await.unwrap();
        }
        let took = t.elapsed();
        assert!(
            took >= latency * min_rounds,
            "bound {bound}: six calls took only {took:?}"
        );
        assert!(
            took < latency.saturating_mul(max_rounds),
            "bound {bound}: six calls took {took:?}, not in parallel"
        );
        server.shutdown().await;
    }
}

/// Shutdown stops accepting but answers what is in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    let server = Running::start(false, ServeOptions::default()).await;
    server.sim.faults().set_latency(Duration::from_millis(300));
    let client = SocketClient::connect(&server.addr).await.unwrap();
    let c = client.clone();
    let call = tokio::spawn(async move { get_challenge(&c).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let addr = server.addr.clone();
    server.shutdown().await;
    call.await
        .unwrap()
        .expect("the in-flight call was not answered");
    assert!(
        SocketClient::connect(&addr).await.is_err(),
        "still accepting after shutdown"
    );
    // The closed connection fails later calls instead of hanging.
    let later = tokio::time::timeout(Duration::from_secs(5), get_challenge(&client))
        .await
        .expect("call hung");
    assert!(matches!(later, Err(SimError::Disconnected(_))), "{later:?}");
}

/// A server that vanishes mid-call: the pending call fails with
/// Disconnected, later calls fail at once, a new client works elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_fails_pending_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("rude.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let rude = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut prefix = [0u8; 4];
        s.read_exact(&mut prefix).await.unwrap();
        // Read the request, then hang up without answering.
    });
    let client = SocketClient::connect(&ListenAddr::Unix(path))
        .await
        .unwrap();
    let pending = tokio::time::timeout(Duration::from_secs(5), get_challenge(&client))
        .await
        .expect("pending call hung");
    assert!(
        matches!(pending, Err(SimError::Disconnected(_))),
        "{pending:?}"
    );
    rude.await.unwrap();
    let later = tokio::time::timeout(Duration::from_secs(5), get_challenge(&client))
        .await
        .expect("later call hung");
    assert!(matches!(later, Err(SimError::Disconnected(_))), "{later:?}");

    let server = Running::start(false, ServeOptions::default()).await;
    let fresh = SocketClient::connect(&server.addr).await.unwrap();
    assert_eq!(get_status(&fresh).await.boot, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_socket_is_not_stolen_and_a_stale_one_is_replaced() {
    let server = Running::start(false, ServeOptions::default()).await;
    let err = Listener::bind(&server.addr).await.unwrap_err();
    assert!(err.to_string().contains("cannot listen"), "{err}");
    server.shutdown().await;
    // A stale socket file (its listener gone without cleanup) is replaced.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let l = Listener::bind(&ListenAddr::Unix(path.clone()))
        .await
        .unwrap();
    drop(l);
    assert!(!path.exists(), "socket file left behind");
    // Any other file at the path is not touched.
    std::fs::write(&path, b"data").unwrap();
    assert!(
        Listener::bind(&ListenAddr::Unix(path.clone()))
            .await
            .is_err()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

//! Fault injection: NotOperational, latency, and a crash between the
//! durable counter write and the answer (with the real binary).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{initialize, open, status, typed};
use sam_proto::ErrorType;
use sam_proto::command::{ErrorAnswer, FirmwareState, GetChallenge, GetStatus, SubFunction};
use sam_proto::frame::{decode_exact, encode_body};
use sam_simulator::client::SocketClient;
use sam_simulator::{CryptoBackend, ListenAddr, SimError};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn not_operational_answers_without_touching_the_firmware() {
    let (_tmp, _dir, sim) = open(CryptoBackend::AwsLc);
    initialize(&sim);
    let seq = status(&sim).next_audit_seq;
    sim.faults().set_not_operational(true);
    for code in [
        SubFunction::GetStatus.code(),
        SubFunction::InitFirmware.code(),
        0xBEEF,
    ] {
        let (status, body) = sim.call(code, b"\xff");
        assert_eq!(status, ErrorType::NotOperational.code());
        let ea: ErrorAnswer = decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
        assert_eq!(ea.audit, None);
    }
    sim.faults().set_not_operational(false);
    // The garbage InitFirmware above would have been audited had it reached
    // the firmware.
    assert_eq!(status(&sim).next_audit_seq, seq);
    let (code, _) = sim.call(SubFunction::InitFirmware.code(), b"\xff");
    assert_eq!(code, ErrorType::MessageParseError.code());
    assert_eq!(status(&sim).next_audit_seq, seq + 1);
}

#[test]
fn latency_is_added_before_each_call() {
    let (_tmp, _dir, sim) = open(CryptoBackend::Portable);
    let latency = Duration::from_millis(120);
    sim.faults().set_latency(latency);
    let t = Instant::now();
    typed(&sim, &GetStatus).unwrap();
    assert!(t.elapsed() >= latency, "took {:?}", t.elapsed());
    sim.faults().set_latency(Duration::ZERO);
    let t = Instant::now();
    typed(&sim, &GetStatus).unwrap();
    assert!(
        t.elapsed() < latency,
        "latency still applied: {:?}",
        t.elapsed()
    );
}

/// The simulator binary serving `dir` on a Unix socket.
struct Served {
    child: Child,
    addr: ListenAddr,
}

impl Served {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(dir, extra, &[])
    }

    fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let sock = dir.with_extension("sock");
        let _ = std::fs::remove_file(&sock);
        let addr = ListenAddr::Unix(sock);
        let child = Command::new(env!("CARGO_BIN_EXE_sam-simulator"))
            .args(["serve", "--state-dir"])
            .arg(dir)
            .args(["--listen", &addr.to_string()])
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Self { child, addr }
    }

    async fn connect(&mut self) -> SocketClient {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(c) = SocketClient::connect(&self.addr).await {
                return c;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("simulator exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "simulator did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "simulator did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.wait()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn call<C: sam_proto::command::Command>(
    c: &SocketClient,
    req: &C,
) -> Result<Result<C::Response, (u16, ErrorAnswer)>, SimError> {
    let (code, body) = c.call(C::CODE.code(), encode_body(req).unwrap()).await?;
    Ok(common::decode_answer::<C>(code, &body))
}

/// The process dies right after InitFirmware's durable counter write and
/// before the answer: the client sees the connection drop, and after a
/// restart the firmware is initialized, its audit counter has moved past
/// the record nobody received, and the boot count went up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_store_crashes_between_the_write_and_the_answer() {
    let (_tmp, dir) = common::state_dir();
    let mut sim = Served::start(&dir, &["--fault-abort-after-store"]);
    let client = sim.connect().await;
    // Booting wrote the counters; the fault was armed after it.
    let before = call(&client, &GetStatus).await.unwrap().unwrap();
    assert_eq!((before.boot, before.next_audit_seq), (1, 0));
    let challenge = call(&client, &GetChallenge)
        .await
        .unwrap()
        .unwrap()
        .challenge;
    let admins = [common::Admin::new(), common::Admin::new()];
    let crashed = call(&client, &common::init_request(&dir, &admins, challenge)).await;
    assert!(
        matches!(crashed, Err(SimError::Disconnected(_))),
        "{crashed:?}"
    );
    let exit = sim.wait();
    assert_eq!(exit.signal(), Some(6), "expected SIGABRT, got {exit}");
    drop(sim);

    let mut sim = Served::start(&dir, &[]);
    let client = sim.connect().await;
    let after = call(&client, &GetStatus).await.unwrap().unwrap();
    assert_eq!(after.state, FirmwareState::Operational);
    assert_eq!(after.boot, 2);
    assert_eq!(
        after.next_audit_seq, 1,
        "the unanswered operation's audit record is counted"
    );

    // `status` prints the same; SIGTERM stops the server cleanly.
    let out = Command::new(env!("CARGO_BIN_EXE_sam-simulator"))
        .args(["status", "--connect", &sim.addr.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "state:            Operational",
        "boot count:       2",
        "next audit seq:   1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    drop(client);
    let exit = sim.terminate();
    assert!(exit.success(), "SIGTERM exit: {exit}");
    assert!(
        !dir.with_extension("sock").exists(),
        "socket file left behind"
    );
}

/// systemd's readiness protocol (`Type=notify`, dist/systemd): READY=1
/// once the socket accepts, STOPPING=1 when SIGTERM starts the drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tells_the_service_manager_ready_and_stopping() {
    let (_tmp, dir) = common::state_dir();
    let notify_path = dir.with_extension("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut sim = Served::start_with_env(
        &dir,
        &["--crypto", "portable"],
        &[("NOTIFY_SOCKET", notify_path.to_str().unwrap())],
    );
    let mut datagram = [0u8; 64];
    let n = notify.recv(&mut datagram).expect("no READY=1");
    assert_eq!(&datagram[..n], b"READY=1\n");
    // Ready means served: the first connection succeeds.
    let client = SocketClient::connect(&sim.addr).await.unwrap();
    assert!(call(&client, &GetStatus).await.unwrap().is_ok());
    assert!(sim.terminate().success());
    let n = notify.recv(&mut datagram).expect("no STOPPING=1");
    assert_eq!(&datagram[..n], b"STOPPING=1\n");
}

/// The flags reach the served simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_flags_inject_not_operational_and_latency() {
    let (_tmp, dir) = common::state_dir();
    let mut sim = Served::start(
        &dir,
        &[
            "--fault-not-operational",
            "--fault-latency-ms",
            "150",
            "--crypto",
            "portable",
        ],
    );
    let client = sim.connect().await;
    let t = Instant::now();
    let r = call(&client, &GetStatus).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(r.unwrap_err().0, ErrorType::NotOperational.code());
    assert!(sim.terminate().success());
}

#[test]
fn the_binary_explains_itself_and_its_errors() {
    let bin = env!("CARGO_BIN_EXE_sam-simulator");
    for sub in ["init", "serve", "status"] {
        let out = Command::new(bin).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Example"),
            "{sub} --help has no example:\n{text}"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nothing-here");
    let out = Command::new(bin)
        .args(["serve", "--state-dir"])
        .arg(&dir)
        .arg("--listen")
        .arg(format!("unix:{}", tmp.path().join("sim.sock").display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("run `sam-simulator init --state-dir"), "{err}");

    let out = Command::new(bin)
        .args(["init", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let twin = tmp.path().join("twin");
    let out = Command::new(bin)
        .args(["init", "--state-dir"])
        .arg(&twin)
        .arg("--import-mbk")
        .arg(dir.join("mbk.key"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(dir.join("mbk.key")).unwrap(),
        std::fs::read(twin.join("mbk.key")).unwrap()
    );
    let out = Command::new(bin)
        .args(["init", "--state-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "init over an existing MBK succeeded");
}

/// `serve` refuses plain TCP before it boots the firmware: without
/// `--insecure-dev-tcp` on loopback, and on any other address even with
/// it. The state directory is left untouched (booting would have counted
/// a boot).
#[test]
fn serve_refuses_plain_tcp_without_the_dev_flag_or_off_loopback() {
    let bin = env!("CARGO_BIN_EXE_sam-simulator");
    let (_tmp, dir) = common::state_dir();
    let before = std::fs::read(dir.join("state.bin")).unwrap();
    let cases: [(&str, &[&str], &str); 3] = [
        ("tcp:127.0.0.1:0", &[], "--insecure-dev-tcp"),
        ("tcp:0.0.0.0:0", &["--insecure-dev-tcp"], "non-loopback"),
        ("tcp:[::]:0", &["--insecure-dev-tcp"], "non-loopback"),
    ];
    for (addr, flags, says) in cases {
        let out = Command::new(bin)
            .args(["serve", "--state-dir"])
            .arg(&dir)
            .args(["--listen", addr])
            .args(flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{addr} {flags:?} was served");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("refusing to listen") && err.contains(says),
            "{err}"
        );
    }
    assert_eq!(std::fs::read(dir.join("state.bin")).unwrap(), before);
}

/// `init --operator NAME --operator-key FILE` gives the operator a 0600
/// copy of a secret the state directory keeps, and the firmware accepts
/// that operator's logon (and no other) for InitFirmware.
#[test]
fn init_creates_the_operator_whose_logon_initializes() {
    use std::os::unix::fs::MetadataExt;
    let bin = env!("CARGO_BIN_EXE_sam-simulator");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim");
    let key = tmp.path().join("hsmop.key");
    let out = Command::new(bin)
        .args(["init", "--state-dir"])
        .arg(&dir)
        .args(["--operator", "hsmop", "--operator-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret: [u8; 32] = std::fs::read(&key).unwrap().try_into().unwrap();
    assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o077, 0);
    // A second operator file over the first is refused.
    let again = Command::new(bin)
        .args(["init", "--state-dir"])
        .arg(tmp.path().join("other"))
        .args(["--operator", "x", "--operator-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(std::fs::read(&key).unwrap(), secret);

    let sim = sam_simulator::Simulator::open(&dir, CryptoBackend::AwsLc).unwrap();
    let admins = [common::Admin::new(), common::Admin::new()];
    let request = |user: &[u8], secret: &[u8; 32]| {
        let challenge = common::typed(&sim, &GetChallenge).unwrap().challenge;
        common::init_request_as(&admins, challenge, user, secret)
    };
    for (user, s) in [(&b"hsmop"[..], [0u8; 32]), (&b"operator"[..], secret)] {
        let err = common::typed(&sim, &request(user, &s)).unwrap_err();
        assert_eq!(err.0, ErrorType::NotAuthorized.code());
    }
    common::typed(&sim, &request(b"hsmop", &secret)).unwrap();
}

//! `sam-bench hostile` (behind `cargo xtask hostile`): honest signing
//! latency with and without hostile peers on the same samd.
//!
//! One run starts the bench's full stack ([`crate::fullstack::Stack`],
//! samd with its default listener limits) and measures two phases with the
//! same honest load, [`HONEST_CLIENTS`] SSA clients signing one fresh SAD
//! after another with a short pause:
//!
//! 1. **baseline**: the honest clients alone;
//! 2. **hostile**: the same, while peers holding the *registration
//!    authority's* certificate (a pinned connector, so past the TLS
//!    verifier) hold [`IDLE_PEERS`] idle TLS connections, send request
//!    heads a byte every [`SLOW_GAP`] on [`SLOW_PEERS`] more, post 1 MiB
//!    bodies and post invalid JSON. Peers that samd closes reconnect.
//!
//! Pass: no honest request fails, the honest p99 of phase 2 is at most
//! [`P99_FACTOR`] × that of phase 1, and samd's open descriptors
//! (`/proc/PID/fd`, sampled every [`FD_SAMPLE`]) stay below its limit. All
//! on loopback, bounded by the request count and a deadline.

use crate::fullstack::{Stack, fresh_sad};
use crate::stats::{num, quantile};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sam_client::SamClient;
use sam_harness::{Connector, Identity};
use sam_proto::ids::KeyAlgorithm;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Honest signing clients.
pub const HONEST_CLIENTS: usize = 8;
/// Idle TLS connections of the hostile phase.
pub const IDLE_PEERS: usize = 200;
/// Connections sending their request head a byte at a time.
pub const SLOW_PEERS: usize = 20;
/// Pause between two bytes of a slow peer.
pub const SLOW_GAP: Duration = Duration::from_secs(2);
/// Peers posting 1 MiB bodies, one request per [`BIG_GAP`] each.
pub const BIG_PEERS: usize = 4;
const BIG_GAP: Duration = Duration::from_millis(250);
/// A body one byte over samd's default `max_body_bytes`.
const BIG_BODY: usize = 1024 * 1024 + 1;
/// Peers posting invalid JSON, one request per [`JUNK_GAP`] each.
pub const JUNK_PEERS: usize = 4;
const JUNK_GAP: Duration = Duration::from_millis(50);
/// Unmeasured requests of each honest client before the baseline.
const WARM_UP_PER_CLIENT: usize = 10;
/// Pause of an honest client between two requests.
const THINK: Duration = Duration::from_millis(10);
/// Allowed growth of the honest p99 under hostile load.
pub const P99_FACTOR: f64 = 2.0;
/// How often samd's descriptors are counted.
const FD_SAMPLE: Duration = Duration::from_millis(200);
/// Validity of the honest SADs' tokens, seconds: they are all made before
/// the baseline starts.
const TOKEN_VALIDITY: u64 = 600;

/// The pass criterion, as the report states it.
pub const CRITERION: &str = "pass: 0 failed honest requests, honest p99 with hostile peers at \
     most 2 × the baseline p99 of the same run, and samd's open descriptors below its limit";

/// The usage text.
pub const USAGE: &str = "usage: sam-bench hostile [--quick] [--dev] [--out DIR]\n\
     8 honest mutual-TLS clients sign (P-256, 1 hash per fresh SAD), first alone, then beside \
     hostile peers: 200 idle TLS connections, 20 slow-header connections (a byte every 2 s), \
     4 clients posting 1 MiB bodies, 4 posting invalid JSON. --quick: 100 requests per honest \
     client and phase (default 3000, about 40 s: past the idle timeout); --dev: dev-profile binaries, the p99 ratio is \
     reported, not enforced. Writes DIR/report.json and report.md (default \
     target/hostile).\n\
     pass: 0 failed honest requests, honest p99 with hostile peers at most 2 × the baseline \
     p99, samd's open descriptors below its limit; the exit status is non-zero otherwise.";

/// What the command line asked for.
#[derive(Debug)]
struct Args {
    quick: bool,
    /// Dev-profile binaries (CI's smoke run): the p99 ratio is reported
    /// but does not decide the verdict, since unoptimized code on a shared
    /// CI machine measures the machine more than samd.
    dev: bool,
    out: PathBuf,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        quick: false,
        dev: false,
        out: PathBuf::from("target/hostile"),
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--dev" => args.dev = true,
            "--out" => args.out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// `sam-bench hostile ARGS`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    crate::exit_code("hostile", parse_args(args), run)
}

/// What the hostile peers saw, counted as they go.
#[derive(Default)]
struct Peers {
    stop: AtomicBool,
    /// Idle connections open right now.
    idle_open: AtomicUsize,
    /// Connections samd closed: idle ones, slow ones.
    idle_closed: AtomicUsize,
    slow_closed: AtomicUsize,
    /// Bytes the slow peers got out.
    slow_bytes: AtomicUsize,
    /// Answers to the big bodies and the junk, by class.
    big_413: AtomicUsize,
    big_other: AtomicUsize,
    junk_400: AtomicUsize,
    junk_other: AtomicUsize,
    /// Connections that failed to open (refused, handshake failed).
    connect_failed: AtomicUsize,
}

fn tls_connector(id: &Identity) -> Result<TlsConnector, String> {
    let ca = CertificateDer::from_pem_file(&id.ca).map_err(|e| format!("CA: {e}"))?;
    let cert = CertificateDer::from_pem_file(&id.cert).map_err(|e| format!("cert: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(&id.key).map_err(|e| format!("key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(|e| format!("CA: {e}"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(tls: &TlsConnector, addr: SocketAddr, peers: &Peers) -> Option<Tls> {
    let opened = async {
        let tcp = TcpStream::connect(addr).await.ok()?;
        let name = ServerName::try_from("localhost").ok()?;
        tls.connect(name, tcp).await.ok()
    };
    match tokio::time::timeout(Duration::from_secs(10), opened).await {
        Ok(Some(s)) => Some(s),
        _ => {
            peers.connect_failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Whether samd closed `s` within `wait` (reads and drops what comes).
async fn closed_within(s: &mut Tls, wait: Duration) -> bool {
    let mut buf = [0u8; 512];
    matches!(
        tokio::time::timeout(wait, s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Holds a TLS connection open without a byte; reconnects when closed.
async fn idle_peer(tls: TlsConnector, addr: SocketAddr, peers: Arc<Peers>) {
    while !peers.stop.load(Ordering::Relaxed) {
        let Some(mut s) = connect(&tls, addr, &peers).await else {
            continue;
        };
        peers.idle_open.fetch_add(1, Ordering::Relaxed);
        while !peers.stop.load(Ordering::Relaxed) {
            if closed_within(&mut s, Duration::from_millis(250)).await {
                peers.idle_closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        peers.idle_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Sends a request head a byte every [`SLOW_GAP`]; reconnects when closed.
async fn slow_peer(tls: TlsConnector, addr: SocketAddr, peers: Arc<Peers>) {
    let head = b"POST /peering HTTP/1.1\r\nhost: localhost\r\nx-slow: ";
    while !peers.stop.load(Ordering::Relaxed) {
        let Some(mut s) = connect(&tls, addr, &peers).await else {
            continue;
        };
        for b in head.iter().cycle() {
            if peers.stop.load(Ordering::Relaxed) {
                return;
            }
            if s.write_all(&[*b]).await.is_err() || closed_within(&mut s, SLOW_GAP).await {
                peers.slow_closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            peers.slow_bytes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One `POST /peering` with `body` on `s`; the status of the answer, if
/// one came. The connection stays usable unless samd closes it.
async fn post(s: &mut Tls, body: &[u8]) -> Option<u16> {
    let head = format!(
        "POST /peering HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.ok()?;
    // samd may answer 413 and close before the whole body is sent.
    let _ = s.write_all(body).await;
    tokio::time::timeout(Duration::from_secs(10), read_answer(s))
        .await
        .ok()?
}

/// Reads one HTTP/1.1 answer (head and `content-length` body); its status.
async fn read_answer(s: &mut Tls) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        got.extend_from_slice(buf.get(..n)?);
    };
    let head = String::from_utf8_lossy(got.get(..end)?).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while got.len() < end + length {
        let n = s.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        got.extend_from_slice(buf.get(..n)?);
    }
    head.get(9..12)?.parse().ok()
}

/// Where a posting peer counts its answers: (as expected, other).
type Counters = fn(&Peers) -> (&AtomicUsize, &AtomicUsize);
/// A kind of posting peer: how many, the body, the pause, the status
/// expected, where answers are counted.
type Posting<'a> = (usize, &'a Arc<Vec<u8>>, Duration, u16, Counters);

/// Posts `body` every `gap` until told to stop, on one keep-alive
/// connection as long as samd keeps it, counting answers with `expected`
/// status in `hit`, others in `miss`.
async fn posting_peer(
    tls: TlsConnector,
    addr: SocketAddr,
    peers: Arc<Peers>,
    body: Arc<Vec<u8>>,
    gap: Duration,
    expected: u16,
    counters: Counters,
) {
    let mut conn: Option<Tls> = None;
    while !peers.stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            conn = connect(&tls, addr, &peers).await;
        }
        let Some(s) = conn.as_mut() else { continue };
        let status = post(s, &body).await;
        let (hit, miss) = counters(&peers);
        if status == Some(expected) {
            hit.fetch_add(1, Ordering::Relaxed);
        } else {
            miss.fetch_add(1, Ordering::Relaxed);
            conn = None;
        }
        tokio::time::sleep(gap).await;
    }
}

/// The honest load: each client signs its share of `sads` one after the
/// other. Latencies (s) of the successes, and the failures.
async fn honest(clients: &[Arc<SamClient>], sads: Vec<Vec<u8>>) -> (Vec<f64>, usize) {
    let per = sads.len().div_ceil(clients.len().max(1));
    let mut tasks = Vec::new();
    let mut sads = sads.into_iter();
    for c in clients {
        let mine: Vec<Vec<u8>> = sads.by_ref().take(per).collect();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(mine.len());
            let mut failed = 0usize;
            for sad in mine {
                let t = Instant::now();
                match c.sign_sad(&sad).await {
                    Ok(_) => lat.push(t.elapsed().as_secs_f64()),
                    Err(e) => {
                        if failed == 0 {
                            eprintln!("sam-bench hostile: honest request failed: {e}");
                        }
                        failed += 1;
                    }
                }
                tokio::time::sleep(THINK).await;
            }
            (lat, failed)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok((l, f)) => {
                all.extend(l);
                failed += f;
            }
            Err(_) => failed += 1,
        }
    }
    all.sort_by(f64::total_cmp);
    (all, failed)
}

/// Open descriptors of `pid`.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The soft "Max open files" of `pid`.
fn fd_limit(pid: u32) -> Option<usize> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One phase's figures.
struct Phase {
    latencies: Vec<f64>,
    failed: usize,
    seconds: f64,
}

impl Phase {
    fn p99(&self) -> f64 {
        quantile(&self.latencies, 0.99)
    }

    fn json(&self) -> Value {
        json!({
            "requests": self.latencies.len(),
            "failed": self.failed,
            "seconds": num(self.seconds),
            "p50_ms": num(quantile(&self.latencies, 0.50) * 1e3),
            "p99_ms": num(self.p99() * 1e3),
            "max_ms": num(self.latencies.last().copied().unwrap_or(f64::NAN) * 1e3),
        })
    }
}

fn run(args: &Args) -> Result<bool, String> {
    crate::run_reported(
        "hostile",
        &args.out,
        CRITERION,
        |work, bin| hostile(work, bin, args),
        markdown,
    )
}

fn hostile(work: &Path, bin: &Path, args: &Args) -> Result<(Value, bool), String> {
    let per_client = if args.quick { 100 } else { 3000 };
    let stack = Stack::start(work, bin, &[KeyAlgorithm::EcP256])?;
    let key_id = stack.key(KeyAlgorithm::EcP256)?;
    let clients = stack.ssa_clients(HONEST_CLIENTS)?;
    let addr: SocketAddr = stack
        .url
        .trim_start_matches("https://")
        .parse()
        .map_err(|e| format!("samd's address {}: {e}", stack.url))?;
    let n = per_client * HONEST_CLIENTS;
    let warm = WARM_UP_PER_CLIENT * HONEST_CLIENTS;
    eprintln!("sam-bench hostile: making {} SADs", 2 * n + warm);
    let mut sads = (0..2 * n + warm)
        .map(|i| fresh_sad(&stack.idp, stack.signer, key_id, 1, i, TOKEN_VALIDITY))
        .collect::<Result<Vec<_>, _>>()?;
    let second = sads.split_off(n + warm);
    let first = sads.split_off(warm);
    let pid = stack.pid;
    let limit = fd_limit(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let max_fds = Arc::new(AtomicUsize::new(fd_count(pid)));
    let sampler = {
        let (sampling, max_fds) = (sampling.clone(), max_fds.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                max_fds.fetch_max(fd_count(pid), Ordering::Relaxed);
                std::thread::sleep(FD_SAMPLE);
            }
        })
    };
    let fds_before = fd_count(pid);
    let rt = &stack.rt;
    // Unmeasured: each honest client opens its connection and warms up.
    let (_, warm_failed) = rt.block_on(honest(&clients, sads));
    // Phase 1: the honest clients alone.
    eprintln!("sam-bench hostile: baseline, {HONEST_CLIENTS} clients × {per_client} requests");
    let t = Instant::now();
    let (lat, failed) = rt.block_on(honest(&clients, first));
    let baseline = Phase {
        latencies: lat,
        failed: failed + warm_failed,
        seconds: t.elapsed().as_secs_f64(),
    };
    let baseline_max_fds = max_fds.load(Ordering::Relaxed);
    // Phase 2: the hostile peers first, then the same honest load.
    let tls = tls_connector(&stack.deployment.identity(Connector::Privileged))?;
    let peers = Arc::new(Peers::default());
    let big = Arc::new(vec![b'x'; BIG_BODY]);
    let junk = Arc::new(b"{\"operation\": \"Signing\", \"params\": {not json".to_vec());
    let tasks: Vec<_> = {
        let _guard = rt.enter();
        let mut tasks = Vec::new();
        for _ in 0..IDLE_PEERS {
            tasks.push(tokio::spawn(idle_peer(tls.clone(), addr, peers.clone())));
        }
        for _ in 0..SLOW_PEERS {
            tasks.push(tokio::spawn(slow_peer(tls.clone(), addr, peers.clone())));
        }
        let posting: [Posting<'_>; 2] = [
            (BIG_PEERS, &big, BIG_GAP, 413, |p| {
                (&p.big_413, &p.big_other)
            }),
            (JUNK_PEERS, &junk, JUNK_GAP, 400, |p| {
                (&p.junk_400, &p.junk_other)
            }),
        ];
        for (count, body, gap, status, counters) in posting {
            for _ in 0..count {
                let (tls, peers, body) = (tls.clone(), peers.clone(), body.clone());
                tasks.push(tokio::spawn(posting_peer(
                    tls, addr, peers, body, gap, status, counters,
                )));
            }
        }
        tasks
    };
    let waited = Instant::now();
    while peers.idle_open.load(Ordering::Relaxed) < IDLE_PEERS
        && waited.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle_at_start = peers.idle_open.load(Ordering::Relaxed);
    eprintln!(
        "sam-bench hostile: {idle_at_start} idle connections open; hostile phase, \
         {HONEST_CLIENTS} clients × {per_client} requests"
    );
    let t = Instant::now();
    let (lat, failed) = rt.block_on(honest(&clients, second));
    let under_attack = Phase {
        latencies: lat,
        failed,
        seconds: t.elapsed().as_secs_f64(),
    };
    peers.stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    });
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let max_fds = max_fds.load(Ordering::Relaxed);
    stack.stop();

    let ratio = under_attack.p99() / baseline.p99();
    let fds_ok = limit.is_some_and(|l| max_fds < l);
    let passed = baseline.failed == 0
        && under_attack.failed == 0
        && !baseline.latencies.is_empty()
        && !under_attack.latencies.is_empty()
        && (args.dev || ratio <= P99_FACTOR)
        && fds_ok;
    let c = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    let json = json!({
        "quick": args.quick,
        "dev_profile": args.dev,
        "p99_ratio_enforced": !args.dev,
        "honest_clients": HONEST_CLIENTS,
        "requests_per_client_and_phase": per_client,
        "baseline": baseline.json(),
        "hostile": under_attack.json(),
        "p99_ratio": num(ratio),
        "p99_factor_allowed": P99_FACTOR,
        "samd_fds_before": fds_before,
        "samd_max_fds_baseline": baseline_max_fds,
        "samd_max_fds": max_fds,
        "samd_fd_limit": limit,
        "fds_ok": fds_ok,
        "peers": {
            "idle": IDLE_PEERS,
            "idle_open_at_start": idle_at_start,
            "idle_closed_by_samd": c(&peers.idle_closed),
            "slow": SLOW_PEERS,
            "slow_gap_s": SLOW_GAP.as_secs(),
            "slow_bytes_sent": c(&peers.slow_bytes),
            "slow_closed_by_samd": c(&peers.slow_closed),
            "big_body": BIG_PEERS,
            "big_body_bytes": BIG_BODY,
            "big_body_413": c(&peers.big_413),
            "big_body_other": c(&peers.big_other),
            "invalid_json": JUNK_PEERS,
            "invalid_json_400": c(&peers.junk_400),
            "invalid_json_other": c(&peers.junk_other),
            "connect_failed": c(&peers.connect_failed),
        },
        "criterion": CRITERION,
        "verdict": if passed { "pass" } else { "fail" },
    });
    Ok((json, passed))
}

fn cell(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "n/a".to_owned(), |x| format!("{x:.digits$}"))
}

fn markdown(j: &Value) -> String {
    let mut md = String::from("# SAM listener under hostile peers\n\n");
    md.push_str(&format!(
        "{} honest SSA clients sign (P-256, 1 hash per fresh SAD, {} requests each per phase) \
         against one samd with its default listener limits (in-process simulator, SQLite, \
         loopback): first alone, then beside hostile peers with the registration authority's \
         certificate.\n\n**Verdict: {}** ({}).\n\n",
        j["honest_clients"],
        j["requests_per_client_and_phase"],
        j["verdict"].as_str().unwrap_or("?").to_uppercase(),
        CRITERION
    ));
    if j["dev_profile"] == true {
        md.push_str(
            "Dev-profile binaries (smoke run): the p99 ratio is reported, not enforced.\n\n",
        );
    }
    md.push_str("| honest load | requests | failed | p50, ms | p99, ms | max, ms | seconds |\n");
    md.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (name, key) in [("baseline", "baseline"), ("with hostile peers", "hostile")] {
        let p = &j[key];
        md.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            p["requests"],
            p["failed"],
            cell(&p["p50_ms"], 2),
            cell(&p["p99_ms"], 2),
            cell(&p["max_ms"], 2),
            cell(&p["seconds"], 1)
        ));
    }
    md.push_str(&format!(
        "\np99 ratio (hostile / baseline): **{}** (allowed {}).\n\nsamd's open descriptors: \
         {} before, at most {} in the baseline, at most **{}** in the run; limit {}.\n\n",
        cell(&j["p99_ratio"], 2),
        j["p99_factor_allowed"],
        j["samd_fds_before"],
        j["samd_max_fds_baseline"],
        j["samd_max_fds"],
        j["samd_fd_limit"]
    ));
    md.push_str("| hostile peers | figure |\n| --- | --- |\n");
    let p = &j["peers"];
    // Each `{}` of a template takes the next of its keys' values.
    let fill = |template: &str, keys: &[&str]| {
        keys.iter().fold(template.to_owned(), |t, k| {
            t.replacen("{}", &p[*k].to_string(), 1)
        })
    };
    let rows: [(&str, &[&str], &str, &[&str]); 5] = [
        (
            "{} idle TLS connections",
            &["idle"],
            "{} open when the phase began, {} closed by samd (idle timeout)",
            &["idle_open_at_start", "idle_closed_by_samd"],
        ),
        (
            "{} slow request heads (a byte every {} s)",
            &["slow", "slow_gap_s"],
            "{} bytes sent, {} closed by samd (header timeout)",
            &["slow_bytes_sent", "slow_closed_by_samd"],
        ),
        (
            "{} clients posting {} B bodies",
            &["big_body", "big_body_bytes"],
            "{} × 413, {} other",
            &["big_body_413", "big_body_other"],
        ),
        (
            "{} clients posting invalid JSON",
            &["invalid_json"],
            "{} × 400, {} other",
            &["invalid_json_400", "invalid_json_other"],
        ),
        (
            "connections that failed to open",
            &[],
            "{}",
            &["connect_failed"],
        ),
    ];
    for (label, label_keys, value, value_keys) in rows {
        md.push_str(&format!(
            "| {} | {} |\n",
            fill(label, label_keys),
            fill(value, value_keys)
        ));
    }
    md
}

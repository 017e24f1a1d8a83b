//! `sam-bench soak` (behind `cargo xtask soak`): N mutual-TLS clients sign
//! for S seconds against one samd, to show that a long run makes no errors
//! and that samd's memory stays flat.
//!
//! The setup is the bench's full stack ([`crate::fullstack::Stack`]). A run
//! needs far more SADs than can be prepared beforehand (about a million in
//! 10 minutes), so a few producer threads make them on the fly into a
//! bounded channel, each with a fresh SAD key and a fresh identity token
//! (single use is per token). samd's VmRSS is sampled every
//! [`SAMPLE_EVERY`]; the RSS after the warm-up is the baseline, since the
//! first seconds fill caches, connection pools and the allocator's arenas.
//!
//! The firmware remembers every unexpired SAD (its replay set, about 64
//! bytes each) and sweeps expired ones every 16 s, so the set holds about
//! rate × ([`TOKEN_VALIDITY`] + 16 s) entries: it grows during the first
//! token lifetime and is flat after it. The warm-up outlasts that, so the
//! baseline already contains the set's steady size. The simulator's
//! capacity (2^20, `sam_simulator::platform`) bounds the sustained rate to
//! 2^20 ÷ [`TOKEN_VALIDITY`].

use crate::fullstack::{Stack, fresh_sad, status_mib};
use crate::stats::{num, quantile};
use sam_client::{ClientError, SamClient};
use sam_proto::ids::{KeyAlgorithm, KeyId, UserId};
use sam_simulator::platform::SIM_REPLAY_CAPACITY;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Concurrent clients by default.
pub const DEFAULT_CLIENTS: usize = 64;
/// Length of a run by default, seconds.
pub const DEFAULT_SECONDS: u64 = 600;
/// Default request cap per second of run: above the rate the replay set
/// sustains (≈ 3,500/s), so it only stops a run on a machine far faster
/// than expected, and keeps every run bounded.
const CAP_PER_SECOND: usize = 5_000;
/// Lifetime of the soak's Signing tokens, seconds: short, so that the
/// replay set reaches its steady size within the warm-up; long enough for
/// a SAD to wait in the queue.
pub const TOKEN_VALIDITY: u64 = 60;
/// How often samd's RSS is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// The baseline is the first sample at or after this (or after half the
/// run, if the run is shorter than twice this): one token lifetime plus
/// the replay set's sweep interval, and some seconds more.
pub const WARM_UP: Duration = Duration::from_secs(90);
/// SADs waiting between the producers and the clients: enough to absorb
/// jitter, few enough that a SAD is used seconds after its token was
/// issued.
const QUEUE: usize = 1_024;
/// Allowed RSS growth from the baseline to the end: this fraction of the
/// baseline plus [`GROWTH_SLACK_MIB`].
pub const GROWTH_FRACTION: f64 = 0.10;
/// See [`GROWTH_FRACTION`].
pub const GROWTH_SLACK_MIB: f64 = 8.0;
/// Failed requests whose message is printed (the rest are only counted).
const PRINTED_ERRORS: usize = 10;

/// The pass criterion, as the report and the usage text state it.
pub const CRITERION: &str = "pass: 0 failed requests, and samd's VmRSS at the end at most \
     its VmRSS after the 90 s warm-up × 1.10 + 8 MiB";

/// The usage text.
pub const USAGE: &str = "usage: sam-bench soak [--clients N] [--seconds S] [--max-requests R] \
     [--producers P] [--out DIR]\n\
     N mutual-TLS clients (default 64) sign with P-256, 1 hash per fresh SAD, for S seconds \
     (default 600) or R requests (default 5000 × S), whichever comes first; P producer threads \
     (default: the number of CPUs) make the SADs. Writes DIR/report.json and report.md \
     (default target/soak).\n\
     pass: 0 failed requests, and samd's VmRSS at the end at most its VmRSS after the 90 s \
     warm-up × 1.10 + 8 MiB; the exit status is non-zero otherwise.";

/// What the command line asked for.
#[derive(Debug)]
pub struct Args {
    /// Concurrent clients.
    pub clients: usize,
    /// Length of the run.
    pub seconds: u64,
    /// Request cap.
    pub max_requests: usize,
    /// SAD producer threads.
    pub producers: usize,
    /// Output directory.
    pub out: PathBuf,
}

/// Parses the arguments after `soak`.
pub fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut clients = DEFAULT_CLIENTS;
    let mut seconds = DEFAULT_SECONDS;
    let mut max_requests = None;
    let mut producers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut out = PathBuf::from("target/soak");
    fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))?;
        v.parse()
            .map_err(|_| format!("{flag}: {v:?} is not a number\n{USAGE}"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--clients" => clients = number("--clients", it.next())?,
            "--seconds" => seconds = number("--seconds", it.next())?,
            "--max-requests" => max_requests = Some(number("--max-requests", it.next())?),
            "--producers" => producers = number("--producers", it.next())?,
            "--out" => out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if clients == 0 || seconds == 0 || producers == 0 {
        return Err(format!(
            "--clients, --seconds and --producers must be at least 1\n{USAGE}"
        ));
    }
    let max_requests = max_requests.unwrap_or_else(|| {
        CAP_PER_SECOND.saturating_mul(usize::try_from(seconds).unwrap_or(usize::MAX))
    });
    Ok(Args {
        clients,
        seconds,
        max_requests,
        producers,
        out,
    })
}

/// `sam-bench soak ARGS`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    crate::exit_code("soak", parse_args(args), run)
}

/// One RSS sample.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Seconds since the load started.
    t: f64,
    /// samd's VmRSS, MiB.
    rss_mib: f64,
    /// Its anonymous part (RssAnon: the heap, not mapped files), MiB.
    anon_mib: f64,
    /// Successful requests so far.
    requests: usize,
}

/// What the clients did.
#[derive(Debug, Default)]
struct Load {
    /// Latencies of the successful requests, seconds.
    latencies: Vec<f64>,
    /// Failed requests by kind.
    errors: BTreeMap<String, usize>,
    /// Receives that found the queue empty (the producers were behind).
    starved: usize,
    /// Receives in all.
    received: usize,
}

/// A short kind of a failed request: the seed error type or samd's own
/// type for a refusal, else the class of the failure.
fn kind(e: &ClientError) -> String {
    match e {
        ClientError::Sam { error, .. } => error.name().to_owned(),
        ClientError::Host { kind, .. } => kind.clone(),
        ClientError::Idp { .. } => "Idp".into(),
        ClientError::Protocol(_) => "Protocol".into(),
        ClientError::Transport(_) => "Transport".into(),
        ClientError::Config(_) => "Config".into(),
        ClientError::InvalidInput(_) => "InvalidInput".into(),
        ClientError::Asn1(_) => "Asn1".into(),
        ClientError::BadSignature => "BadSignature".into(),
        ClientError::Crypto(_) => "Crypto".into(),
        _ => "Other".into(),
    }
}

/// Shared between the clients, the producers and the sampler.
struct Shared {
    /// Set when the producers should stop.
    stop: AtomicBool,
    /// Requests started (for the cap).
    started: AtomicUsize,
    /// Requests that succeeded (for the samples).
    ok: AtomicUsize,
    /// Failed requests printed so far.
    printed: AtomicUsize,
}

/// Makes SADs until told to stop or the clients are gone. SADs made.
fn produce(
    stack: (&sam_devpki::DevIdp, UserId, KeyId),
    shared: &Shared,
    tx: &mpsc::Sender<Vec<u8>>,
    seed: usize,
) -> Result<usize, String> {
    let (idp, signer, key_id) = stack;
    let mut made = 0usize;
    while !shared.stop.load(Ordering::Relaxed) {
        let sad = fresh_sad(idp, signer, key_id, 1, seed + made, TOKEN_VALIDITY)?;
        if tx.blocking_send(sad).is_err() {
            break;
        }
        made += 1;
    }
    Ok(made)
}

/// One client: takes SADs from the queue and signs until the deadline or
/// the cap.
async fn client(
    client: Arc<SamClient>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>>,
    shared: Arc<Shared>,
    deadline: Instant,
    cap: usize,
) -> Load {
    let mut load = Load::default();
    loop {
        if Instant::now() >= deadline || shared.started.fetch_add(1, Ordering::Relaxed) >= cap {
            break;
        }
        let sad = {
            let mut rx = rx.lock().await;
            load.received += 1;
            match rx.try_recv() {
                Ok(sad) => Some(sad),
                Err(mpsc::error::TryRecvError::Empty) => {
                    load.starved += 1;
                    rx.recv().await
                }
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            }
        };
        let Some(sad) = sad else { break };
        if Instant::now() >= deadline {
            break;
        }
        let s = Instant::now();
        match client.sign_sad(&sad).await {
            Ok(_) => {
                load.latencies.push(s.elapsed().as_secs_f64());
                shared.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                *load.errors.entry(kind(&e)).or_default() += 1;
                if shared.printed.fetch_add(1, Ordering::Relaxed) < PRINTED_ERRORS {
                    eprintln!("sam-bench soak: request failed: {e}");
                }
            }
        }
    }
    load
}

/// Samples samd's VmRSS at 0, [`SAMPLE_EVERY`], ... until `done`.
fn sample(pid: u32, shared: &Shared, t0: Instant, done: &AtomicBool) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut next = Duration::ZERO;
    while !done.load(Ordering::Relaxed) {
        if t0.elapsed() >= next {
            let s = Sample {
                t: t0.elapsed().as_secs_f64(),
                rss_mib: status_mib(pid, "VmRSS"),
                anon_mib: status_mib(pid, "RssAnon"),
                requests: shared.ok.load(Ordering::Relaxed),
            };
            eprintln!(
                "sam-bench soak: t = {:>4.0} s, {:>8} requests, samd VmRSS {:.1} MiB (anon {:.1})",
                s.t, s.requests, s.rss_mib, s.anon_mib
            );
            samples.push(s);
            next += SAMPLE_EVERY;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    samples
}

/// The figures of one run.
struct Outcome {
    args_clients: usize,
    seconds: u64,
    elapsed: f64,
    producers: usize,
    max_requests: usize,
    made: usize,
    load: Load,
    samples: Vec<Sample>,
    peak_mib: f64,
}

/// Runs the soak; `Ok(true)` when it passed.
fn run(args: &Args) -> Result<bool, String> {
    crate::run_reported(
        "soak",
        &args.out,
        CRITERION,
        |work, bin| {
            eprintln!(
                "sam-bench soak: {} clients, {} s, {} producers, cap {} requests; work in {}",
                args.clients,
                args.seconds,
                args.producers,
                args.max_requests,
                work.display()
            );
            soak(work, bin, args).map(|o| report(&o))
        },
        markdown,
    )
}

/// Starts the stack in `work` and drives the load.
fn soak(work: &Path, bin: &Path, args: &Args) -> Result<Outcome, String> {
    let stack = Stack::start(work, bin, &[KeyAlgorithm::EcP256])?;
    let key_id = stack.key(KeyAlgorithm::EcP256)?;
    let clients = stack.ssa_clients(args.clients)?;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        started: AtomicUsize::new(0),
        ok: AtomicUsize::new(0),
        printed: AtomicUsize::new(0),
    });
    let (tx, rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let sampling_done = AtomicBool::new(false);
    let made = AtomicUsize::new(0);
    let producer_error: Mutex<Option<String>> = Mutex::new(None);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(args.seconds);
    let (load, samples) = std::thread::scope(|scope| {
        let producers: Vec<_> = (0..args.producers)
            .map(|p| {
                let tx = tx.clone();
                let (shared, made, producer_error) = (&shared, &made, &producer_error);
                let idp = (&stack.idp, stack.signer, key_id);
                scope.spawn(move || {
                    match produce(idp, shared, &tx, p << 40) {
                        Ok(n) => {
                            made.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => {
                            if let Ok(mut slot) = producer_error.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                    }
                    // A producer that failed ends the run rather than let
                    // the clients starve silently.
                    shared.stop.store(true, Ordering::Relaxed);
                })
            })
            .collect();
        // Only the producers hold senders: when they are gone, the clients
        // see the queue close.
        drop(tx);
        let sampler = {
            let (shared, done) = (&shared, &sampling_done);
            scope.spawn(move || sample(stack.pid, shared, t0, done))
        };
        let load = stack.rt.block_on(async {
            let tasks: Vec<_> = clients
                .iter()
                .map(|c| {
                    tokio::spawn(client(
                        c.clone(),
                        rx.clone(),
                        shared.clone(),
                        deadline,
                        args.max_requests,
                    ))
                })
                .collect();
            let mut all = Load::default();
            for t in tasks {
                match t.await {
                    Ok(l) => {
                        all.latencies.extend(l.latencies);
                        for (k, n) in l.errors {
                            *all.errors.entry(k).or_default() += n;
                        }
                        all.starved += l.starved;
                        all.received += l.received;
                    }
                    Err(e) => *all.errors.entry(format!("client task: {e}")).or_default() += 1,
                }
            }
            all
        });
        shared.stop.store(true, Ordering::Relaxed);
        // Closing the queue releases producers blocked on a full channel.
        if let Ok(mut rx) = rx.try_lock() {
            rx.close();
        }
        sampling_done.store(true, Ordering::Relaxed);
        for p in producers {
            let _ = p.join();
        }
        let samples = sampler.join().unwrap_or_default();
        (load, samples)
    });
    let elapsed = t0.elapsed().as_secs_f64();
    if let Some(e) = producer_error.lock().ok().and_then(|mut e| e.take()) {
        return Err(format!("a SAD producer failed: {e}"));
    }
    let mut samples = samples;
    // The end sample replaces a periodic one taken in the last second.
    if samples.last().is_some_and(|s| s.t > elapsed - 1.0) {
        samples.pop();
    }
    samples.push(Sample {
        t: elapsed,
        rss_mib: status_mib(stack.pid, "VmRSS"),
        anon_mib: status_mib(stack.pid, "RssAnon"),
        requests: shared.ok.load(Ordering::Relaxed),
    });
    let peak_mib = status_mib(stack.pid, "VmHWM");
    stack.stop();
    Ok(Outcome {
        args_clients: args.clients,
        seconds: args.seconds,
        elapsed,
        producers: args.producers,
        max_requests: args.max_requests,
        made: made.load(Ordering::Relaxed),
        load,
        samples,
        peak_mib,
    })
}

/// The report as JSON, and whether the run passed.
fn report(o: &Outcome) -> (Value, bool) {
    let mut lat = o.load.latencies.clone();
    lat.sort_by(f64::total_cmp);
    let requests = lat.len();
    let errors: usize = o.load.errors.values().sum();
    let warm_up = WARM_UP.min(Duration::from_secs(o.seconds) / 2);
    let baseline = o
        .samples
        .iter()
        .find(|s| s.t >= warm_up.as_secs_f64())
        .copied();
    let end = o.samples.last().copied();
    let (limit, rss_ok) = match (baseline, end) {
        (Some(b), Some(e)) if b.rss_mib.is_finite() && e.rss_mib.is_finite() => {
            let limit = b.rss_mib * (1.0 + GROWTH_FRACTION) + GROWTH_SLACK_MIB;
            (limit, e.rss_mib <= limit)
        }
        _ => (f64::NAN, false),
    };
    let passed = errors == 0 && requests > 0 && rss_ok;
    let stopped_by = if requests + errors >= o.max_requests {
        "request cap"
    } else {
        "time"
    };
    let json = json!({
        "clients": o.args_clients,
        "seconds_requested": o.seconds,
        "seconds": num(o.elapsed),
        "stopped_by": stopped_by,
        "max_requests": o.max_requests,
        "producers": o.producers,
        "sads_made": o.made,
        "producer_starved_fraction": num(o.load.starved as f64 / o.load.received.max(1) as f64),
        "key": "P-256",
        "hashes_per_sad": 1,
        "token_validity_s": TOKEN_VALIDITY,
        "requests": requests,
        "req_s": num(requests as f64 / o.elapsed),
        "p50_ms": num(quantile(&lat, 0.50) * 1e3),
        "p99_ms": num(quantile(&lat, 0.99) * 1e3),
        "errors": errors,
        "errors_by_kind": o.load.errors,
        "warm_up_s": warm_up.as_secs(),
        "rss_after_warm_up_mib": num(baseline.map_or(f64::NAN, |s| s.rss_mib)),
        "rss_after_warm_up_at_s": num(baseline.map_or(f64::NAN, |s| s.t)),
        "rss_end_mib": num(end.map_or(f64::NAN, |s| s.rss_mib)),
        "rss_peak_mib": num(o.peak_mib),
        "rss_limit_mib": num(limit),
        "rss_ok": rss_ok,
        "replay_capacity": SIM_REPLAY_CAPACITY,
        "criterion": CRITERION,
        "verdict": if passed { "pass" } else { "fail" },
        "samples": o.samples.iter().map(|s| json!({
            "t_s": num(s.t),
            "rss_mib": num(s.rss_mib),
            "rss_anon_mib": num(s.anon_mib),
            "requests": s.requests,
        })).collect::<Vec<_>>(),
    });
    (json, passed)
}

/// A number of the report for a table cell.
fn cell(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "n/a".to_owned(), |x| format!("{x:.digits$}"))
}

/// report.md from the JSON.
fn markdown(j: &Value) -> String {
    let mut md = String::from("# SAM soak test\n\n");
    md.push_str(&format!(
        "{} mutual-TLS clients (SSA certificate) against one samd (in-process simulator, SQLite, \
         loopback), Signing with P-256, 1 hash per SAD, every SAD fresh (new SAD key and token, \
         tokens valid {} s), made by {} producer threads; {} s requested, stopped by {}.\n\n",
        j["clients"],
        j["token_validity_s"],
        j["producers"],
        j["seconds_requested"],
        j["stopped_by"].as_str().unwrap_or("?"),
    ));
    md.push_str(&format!(
        "**Verdict: {}** ({}).\n\n",
        j["verdict"].as_str().unwrap_or("?").to_uppercase(),
        CRITERION
    ));
    md.push_str("| figure | value |\n| --- | --- |\n");
    let rows: [(&str, String); 13] = [
        ("seconds", cell(&j["seconds"], 1)),
        ("requests", j["requests"].to_string()),
        ("requests/s", cell(&j["req_s"], 1)),
        ("p50 latency, ms", cell(&j["p50_ms"], 2)),
        ("p99 latency, ms", cell(&j["p99_ms"], 2)),
        ("errors", j["errors"].to_string()),
        ("errors by kind", j["errors_by_kind"].to_string()),
        (
            "samd VmRSS after warm-up, MiB",
            format!(
                "{} (at {} s)",
                cell(&j["rss_after_warm_up_mib"], 1),
                cell(&j["rss_after_warm_up_at_s"], 0)
            ),
        ),
        ("samd VmRSS at the end, MiB", cell(&j["rss_end_mib"], 1)),
        ("limit for the end, MiB", cell(&j["rss_limit_mib"], 1)),
        ("samd peak (VmHWM), MiB", cell(&j["rss_peak_mib"], 1)),
        ("SADs made", j["sads_made"].to_string()),
        (
            "receives that found the queue empty",
            format!(
                "{:.1} %",
                j["producer_starved_fraction"].as_f64().unwrap_or(f64::NAN) * 100.0
            ),
        ),
    ];
    for (k, v) in rows {
        md.push_str(&format!("| {k} | {v} |\n"));
    }
    md.push_str("\n## samd's VmRSS over time\n\n| t, s | VmRSS, MiB | of which RssAnon, MiB | requests so far |\n| --- | --- | --- | --- |\n");
    for s in j["samples"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&s["t_s"], 0),
            cell(&s["rss_mib"], 1),
            cell(&s["rss_anon_mib"], 1),
            s["requests"]
        ));
    }
    md.push_str(&format!(
        "\nThe firmware's replay set (capacity {}) keeps each admitted SAD until its token \
         expires and sweeps expired ones every 16 s, so it holds about rate × (token lifetime + \
         16 s) entries of about 64 bytes, a size reached within the warm-up. When more than a few \
         % of receives find the queue empty, the SAD producers (sharing the CPUs with samd) bound \
         the rate, not samd.\n",
        j["replay_capacity"]
    ));
    md
}

//! `sam-bench nodes` (behind `cargo xtask bench --nodes`): signings per
//! second with 1, 2 and 3 samd + `sam-simulator serve` pairs on one
//! PostgreSQL server, the concurrent clients spread round-robin over the
//! samd instances.
//!
//! Each pair is its own module with its own Privileged User, Signer and
//! P-256 key, provisioned through its own samd, and its own database in
//! the one server: the store's `audit` table holds one chain, so two
//! modules cannot share one database yet (`host/tests/nodes.rs`,
//! SECURITY.md "Single use across HSMs"). What the pairs share is the
//! PostgreSQL server: its processes, its WAL and its fsyncs, and the
//! machine's cores.

use crate::stats::{Runs, quantile};
use sam_client::SamClient;
use sam_devpki::{DevCa, DevIdp};
use sam_harness::postgres::Cluster;
use sam_harness::{Binaries, Connector, Deployment, Samd, Simulator, Tool, setup};
use sam_proto::ids::{KeyAlgorithm, KeyId, UserId, Uuid};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The usage text.
pub const USAGE: &str = "usage: sam-bench nodes [--quick] [--clients N] [--out DIR]\n\
    Signings/s with 1, 2 and 3 samd + sam-simulator pairs on one PostgreSQL server \
    (a database per pair), N concurrent clients (default 8) spread over the samd instances.";

/// How many pairs each row runs.
const PAIRS: [usize; 3] = [1, 2, 3];

struct Args {
    quick: bool,
    clients: usize,
    out: PathBuf,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        clients: 8,
        out: PathBuf::from("target/bench-nodes"),
    };
    let mut it = args;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            // Passed on by `cargo xtask bench`, which labels the build.
            "--dev" => {}
            "--clients" => {
                a.clients = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=256).contains(n))
                    .ok_or(format!("--clients needs a count from 1 to 256\n\n{USAGE}"))?;
            }
            "--out" => {
                a.out = PathBuf::from(
                    it.next()
                        .ok_or(format!("--out needs a directory\n\n{USAGE}"))?,
                );
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    Ok(a)
}

/// `sam-bench nodes ARGS`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    crate::exit_code("nodes", parse(args), |a| {
        crate::run_reported(
            "nodes",
            &a.out,
            "no failed signing",
            |work, bin| measure(work, bin, a),
            markdown,
        )
    })
}

/// One samd + simulator pair, set up for signing.
struct Pair {
    _simulator: Simulator,
    samd: Samd,
    signer: UserId,
    key: KeyId,
}

/// Starts pair `i`: its simulator, its samd on database `sam_i`, the
/// dual-control firmware setup, a Signer with one ACTIVE P-256 key.
fn start_pair(
    d: &Deployment,
    cluster: &Cluster,
    i: usize,
    rt: &tokio::runtime::Runtime,
    idp: &DevIdp,
    ca: &DevCa,
) -> Result<Pair, String> {
    let within = Duration::from_secs(30);
    let sim = d.named_simulator(&format!("sim-{i}"));
    sim.init(d.bins())?;
    let simulator = sim.serve(d.bins(), within)?;
    let url = cluster.create_database(&format!("sam_{i}"))?;
    let mut spec = d.samd(&format!("samd-{i}"), sim.socket_link(None))?;
    spec.config = spec
        .config
        .clone()
        .with_postgres(&url)
        .with_log_filter("warn");
    let mut samd = spec.spawn(d.bins())?;
    let management = d.identity(Connector::Management);
    samd.wait_for(&management, "/healthz", within)?;
    let pu =
        setup::initialize_firmware(&d.samctl(samd.url(), Connector::Management), d.pki(), &sim)?;
    let ra = d.identity(Connector::Privileged).client(samd.url())?;
    let mut raw = [0u8; 16];
    crate::prims::os_random(&mut raw).map_err(|_| "RNG failed".to_string())?;
    let signer = Uuid::from_random(raw);
    let key = rt
        .block_on(setup::create_signer_with_keys(
            &ra,
            idp,
            ca,
            pu,
            signer,
            &[KeyAlgorithm::EcP256],
        ))?
        .first()
        .map(|k| k.key_id)
        .ok_or("no key generated")?;
    samd.wait_ready(&management, within)?;
    Ok(Pair {
        _simulator: simulator,
        samd,
        signer,
        key,
    })
}

/// One row: `pairs` pairs, their signings/s and latencies over the runs.
struct Row {
    pairs: usize,
    sig_s: Runs,
    p50_ms: Runs,
    p99_ms: Runs,
    per_instance: Vec<usize>,
    errors: usize,
}

fn measure(work: &Path, bin: &Path, args: &Args) -> Result<(Value, bool), String> {
    let bins = Binaries::at(bin)?;
    bins.require(&Tool::ALL)?;
    let cluster =
        Cluster::start()?.ok_or("PostgreSQL is not installed (ci/install-deps.sh installs it)")?;
    let d = Deployment::create(work, bins)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let idp = d.pki().idp().map_err(|e| format!("IdP: {e}"))?;
    let ca = d.pki().ca().map_err(|e| format!("signing CA: {e}"))?;
    let (repeats, per_client) = if args.quick { (3, 12) } else { (5, 50) };
    let ssa = d.identity(Connector::Ssa);
    let mut pairs: Vec<Pair> = Vec::new();
    let mut rows = Vec::new();
    for n in PAIRS {
        while pairs.len() < n {
            pairs.push(start_pair(&d, &cluster, pairs.len(), &rt, &idp, &ca)?);
        }
        // Signing tokens must start after the new firmware's boot second.
        std::thread::sleep(Duration::from_millis(1100));
        // Client j signs through pair j % n, each on its own connection.
        let clients: Vec<(usize, UserId, KeyId, Arc<SamClient>)> = pairs
            .iter()
            .take(n)
            .enumerate()
            .cycle()
            .take(args.clients)
            .map(|(i, p)| Ok((i, p.signer, p.key, Arc::new(ssa.client(p.samd.url())?))))
            .collect::<Result<_, String>>()?;
        let mut row = Row {
            pairs: n,
            sig_s: Runs::default(),
            p50_ms: Runs::default(),
            p99_ms: Runs::default(),
            per_instance: vec![0; n],
            errors: 0,
        };
        for _ in 0..repeats {
            let mut queues = Vec::new();
            for (pair, signer, key, client) in &clients {
                let sads = (0..per_client)
                    .map(|i| {
                        crate::fullstack::fresh_sad(
                            &idp,
                            *signer,
                            *key,
                            1,
                            i,
                            crate::pipeline::TOKEN_VALIDITY,
                        )
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                queues.push((*pair, client.clone(), sads));
            }
            let (done, seconds, mut latencies, errors) = rt.block_on(load(queues));
            latencies.sort_by(f64::total_cmp);
            row.sig_s
                .values
                .push(done.iter().sum::<usize>() as f64 / seconds);
            row.p50_ms.values.push(quantile(&latencies, 0.50) * 1e3);
            row.p99_ms.values.push(quantile(&latencies, 0.99) * 1e3);
            for (total, count) in row.per_instance.iter_mut().zip(&done) {
                *total += count;
            }
            row.errors += errors;
        }
        eprintln!(
            "sam-bench nodes: {n} pair(s), {} clients: {:.1} signings/s",
            args.clients,
            row.sig_s.median()
        );
        rows.push(row);
    }
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    let json = json!({
        "clients": args.clients,
        "sads_per_client_per_run": per_client,
        "runs": repeats,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "postgres": "one server (loopback, fsync on), one database per pair",
        "rows": rows.iter().map(|r| json!({
            "pairs": r.pairs,
            "signings_per_s": r.sig_s.json(),
            "p50_ms": r.p50_ms.json(),
            "p99_ms": r.p99_ms.json(),
            "signed_per_instance": r.per_instance,
            "errors": r.errors,
        })).collect::<Vec<_>>(),
        "errors": errors,
    });
    Ok((json, errors == 0))
}

/// Each queue's client signs its SADs one after the other, all queues at
/// once. (signed per pair, seconds, latencies in s, errors.)
async fn load(
    queues: Vec<(usize, Arc<SamClient>, Vec<Vec<u8>>)>,
) -> (Vec<usize>, f64, Vec<f64>, usize) {
    let t0 = Instant::now();
    let tasks: Vec<_> = queues
        .into_iter()
        .map(|(pair, client, sads)| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                for sad in sads {
                    let s = Instant::now();
                    match client.sign_sad(&sad).await {
                        Ok(_) => latencies.push(s.elapsed().as_secs_f64()),
                        Err(e) => {
                            errors += 1;
                            if errors == 1 {
                                eprintln!(
                                    "sam-bench nodes: signing through pair {pair} failed: {e}"
                                );
                            }
                        }
                    }
                }
                (pair, latencies, errors)
            })
        })
        .collect();
    let mut done = vec![0usize; PAIRS.len()];
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        match task.await {
            Ok((pair, latencies, e)) => {
                if let Some(d) = done.get_mut(pair) {
                    *d += latencies.len();
                }
                all.extend(latencies);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    (done, t0.elapsed().as_secs_f64(), all, errors)
}

fn markdown(j: &Value) -> String {
    let cell = |v: &Value| {
        format!(
            "{:.1} ({:.1}–{:.1})",
            v["median"].as_f64().unwrap_or(f64::NAN),
            v["min"].as_f64().unwrap_or(f64::NAN),
            v["max"].as_f64().unwrap_or(f64::NAN)
        )
    };
    let mut md = format!(
        "# SAM nodes: samd + simulator pairs on one PostgreSQL\n\n\
         {} concurrent mutual-TLS clients spread round-robin over the samd instances, each \
         signing {} fresh P-256 SADs (one hash) per run, {} runs; each samd drives its own \
         `sam-simulator serve`; PostgreSQL: {}; {} cores. Median (min–max) over the runs.\n\n\
         | pairs | signings/s | p50 ms | p99 ms | signed per instance | errors |\n\
         | --- | --- | --- | --- | --- | --- |\n",
        j["clients"],
        j["sads_per_client_per_run"],
        j["runs"],
        j["postgres"].as_str().unwrap_or("?"),
        j["cores"],
    );
    for r in j["rows"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r["pairs"],
            cell(&r["signings_per_s"]),
            cell(&r["p50_ms"]),
            cell(&r["p99_ms"]),
            r["signed_per_instance"],
            r["errors"]
        ));
    }
    md
}

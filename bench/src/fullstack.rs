//! Section 3: the full stack. `samd` (release binary, the firmware
//! in-process on a simulator state directory, SQLite) on loopback with a
//! development PKI; N concurrent mutual-TLS clients (`SamClient::sign_sad`)
//! send SADs prepared before the timed part. [`Stack`] is the setup, shared
//! with the soak test (`crate::soak`).

use crate::Budget;
use crate::stats::Runs;
use sam_client::SamClient;
use sam_devpki::DevIdp;
use sam_harness::{Binaries, Connector, Crypto, Deployment, Samd, Tool, setup};
use sam_proto::ids::{KeyAlgorithm, KeyId, UserId, Uuid};
use sam_simulator::Simulator;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrent clients measured.
pub const CLIENTS: [usize; 3] = [1, 8, 64];

/// One (configuration, N) figure.
#[derive(Clone, Debug)]
pub struct FullResult {
    /// Signer key.
    pub key: KeyAlgorithm,
    /// Hashes per SAD.
    pub hashes: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Requests per second, one value per run.
    pub req_s: Runs,
    /// Median latency, ms, one value per run.
    pub p50_ms: Runs,
    /// 99th percentile latency, ms, one value per run.
    pub p99_ms: Runs,
    /// Failed requests over all runs.
    pub errors: usize,
}

/// Everything of section 3.
#[derive(Clone, Debug)]
pub struct Full {
    /// Per configuration and N.
    pub results: Vec<FullResult>,
    /// samd's VmHWM at the end, MiB.
    pub peak_rss_mib: f64,
    /// CSC `signatures/signHash` beside `/signing` (section 3b), or why
    /// it is missing.
    pub csc: Result<Vec<crate::csc::CscResult>, String>,
    /// Document signing through the SAK (section 3c), or why it is
    /// missing.
    pub documents: Result<Vec<crate::documents::DocResult>, String>,
}

/// A memory field of `/proc/PID/status` (`VmHWM`: peak resident set,
/// `VmRSS`: current), MiB; NaN if it cannot be read.
pub fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// SADs sent per run to `n` clients.
fn per_run(quick: bool, n: usize) -> usize {
    if quick {
        (n * 4).max(48)
    } else {
        (n * 8).max(200)
    }
}

/// The configurations measured: (signer key, hashes per SAD).
const CONFIGS: [(KeyAlgorithm, usize); 3] = [
    (KeyAlgorithm::EcP256, 1),
    (KeyAlgorithm::EcP256, 100),
    (KeyAlgorithm::Rsa2048, 1),
];

/// A running full stack: samd on loopback with a development PKI, its
/// firmware initialized by two administrators, the IdP's key imported, one
/// Signer with a key of each requested algorithm. Shared by section 3 and
/// the soak test (`crate::soak`) so both measure the same setup.
pub struct Stack {
    /// samd, killed when the stack is dropped.
    samd: Samd,
    /// The dev IdP's HTTP server with the dev TSA (`[sak] tsa_url`),
    /// stopped with the runtime.
    _tsa: sam_devpki::DevIdpServer,
    /// samd's process id (for `/proc/PID/status`).
    pub pid: u32,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// `https://localhost:PORT` of samd's CSC listener.
    pub csc_url: String,
    /// The deployment (its development PKI: certificates and keys of every
    /// party).
    pub deployment: Deployment,
    /// The IdP that issues the Signer's tokens.
    pub idp: DevIdp,
    /// The Signer.
    pub signer: UserId,
    /// The Signer's keys, one per requested algorithm.
    pub keys: Vec<(KeyAlgorithm, KeyId)>,
    /// The runtime the clients run on (two workers: the machine is small,
    /// and samd needs the rest).
    pub rt: tokio::runtime::Runtime,
}

impl Stack {
    /// Starts samd in `work` with the samd and samctl of `bin` and sets it
    /// up for Signing with keys of `algs`. On return Signing tokens may be
    /// issued: the firmware's boot second has passed.
    pub fn start(work: &Path, bin: &Path, algs: &[KeyAlgorithm]) -> Result<Self, String> {
        let bins = Binaries::at(bin)?;
        bins.require(&[Tool::Samd, Tool::Samctl])?;
        let deployment = Deployment::create(work, bins)?;
        let simulator = deployment.simulator();
        Simulator::init(&simulator.state_dir).map_err(|e| format!("simulator init: {e}"))?;
        let secret = Simulator::add_operator(&simulator.state_dir, sam_harness::OPERATOR)
            .map_err(|e| format!("simulator operator: {e}"))?;
        std::fs::write(simulator.operator_key(), secret.as_slice())
            .map_err(|e| format!("operator key: {e}"))?;
        let mut spec = deployment.samd("samd", simulator.in_process_link(Crypto::AwsLc))?;
        let csc_port = sam_harness::free_port()?;
        let tsa_port = sam_harness::free_port()?;
        let ca_pem = deployment
            .pki()
            .path(sam_devpki::files::CA_CERT)
            .display()
            .to_string();
        // Section 3c: the SAK paths, with the dev TSA for -B-T.
        let sak = format!(
            "\n[sak]\nenabled = true\nchain_certificates = [{ca_pem:?}]\ntsa_url = \"http://127.0.0.1:{tsa_port}/tsa\"\ntsa_trust_anchors = [{ca_pem:?}]\n"
        );
        spec.config = spec
            .config
            .with_shutdown_grace_secs(2)
            .with_log_filter("warn")
            .with_section(&deployment.csc_section(csc_port, &sak));
        let csc_url = format!("https://localhost:{csc_port}");
        let url = spec.url();
        let mut samd = spec.spawn(deployment.bins())?;
        samd.wait_for(
            &deployment.identity(Connector::Management),
            "/healthz",
            Duration::from_secs(30),
        )?;
        let pid = samd.pid();
        let pu = setup::initialize_firmware(
            &deployment.samctl(&url, Connector::Management),
            deployment.pki(),
            &simulator,
        )?;
        let idp = deployment.pki().idp().map_err(|e| format!("IdP: {e}"))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio: {e}"))?;
        let tsa = rt
            .block_on(sam_devpki::DevIdpServer::start_with_tsa(
                std::sync::Arc::new(deployment.pki().idp().map_err(|e| format!("IdP: {e}"))?),
                std::net::SocketAddr::from(([127, 0, 0, 1], tsa_port)),
                sam_devpki::DevIdpOptions::default(),
                Some(std::sync::Arc::new(
                    deployment.pki().tsa().map_err(|e| format!("TSA: {e}"))?,
                )),
            ))
            .map_err(|e| format!("dev TSA: {e}"))?;
        let ra = deployment.identity(Connector::Privileged).client(&url)?;
        let mut raw = [0u8; 16];
        crate::prims::os_random(&mut raw).map_err(|_| "RNG failed".to_string())?;
        let signer = Uuid::from_random(raw);
        let ca = deployment
            .pki()
            .ca()
            .map_err(|e| format!("signing CA: {e}"))?;
        let generated = rt.block_on(setup::create_signer_with_keys(
            &ra, &idp, &ca, pu, signer, algs,
        ))?;
        let keys = algs
            .iter()
            .copied()
            .zip(generated.iter().map(|k| k.key_id))
            .collect();
        // Signing tokens must be issued after the firmware's boot second.
        std::thread::sleep(Duration::from_millis(1100));
        Ok(Self {
            samd,
            _tsa: tsa,
            pid,
            url,
            csc_url,
            deployment,
            idp,
            signer,
            keys,
            rt,
        })
    }

    /// The Signer's key of `alg`.
    pub fn key(&self, alg: KeyAlgorithm) -> Result<KeyId, String> {
        self.keys
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, k)| *k)
            .ok_or_else(|| format!("no {} key", crate::prims::alg_name(alg)))
    }

    /// `n` clients with the SSA's certificate, each its own connection.
    pub fn ssa_clients(&self, n: usize) -> Result<Vec<Arc<SamClient>>, String> {
        let ssa = self.deployment.identity(Connector::Ssa);
        (0..n)
            .map(|_| Ok(Arc::new(ssa.client(&self.url)?)))
            .collect()
    }

    /// Stops samd (also done on drop).
    pub fn stop(self) {
        drop(self.samd);
    }
}

/// Runs section 3 in `work` with the samd and samctl of `bin`.
///
/// samd boots its firmware once, so every SAD of the section counts
/// against the firmware's replay set (see [`crate::pipeline::PER_BOOT`]);
/// the section refuses to start if its plan would not fit rather than
/// measure refusals.
pub fn run(work: &Path, bin: &Path, budget: &Budget, quick: bool) -> Result<Full, String> {
    let planned: usize =
        CONFIGS.len() * budget.repeats * CLIENTS.iter().map(|&n| per_run(quick, n)).sum::<usize>()
            + crate::csc::planned(budget.repeats, quick)
            + crate::documents::planned(budget.repeats);
    if planned > crate::pipeline::PER_BOOT {
        return Err(format!(
            "{planned} SADs planned for one samd boot, more than the firmware's replay set holds"
        ));
    }
    let stack = Stack::start(work, bin, &[KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048])?;
    let clients = stack.ssa_clients(CLIENTS.iter().copied().max().unwrap_or(1))?;
    let (idp, signer, rt) = (&stack.idp, stack.signer, &stack.rt);
    let time_cap = if quick {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(20)
    };
    let mut results = Vec::new();
    for (key, hashes) in CONFIGS {
        let key_id = stack.key(key)?;
        for n in CLIENTS {
            let per_run = per_run(quick, n);
            let mut r = FullResult {
                key,
                hashes,
                clients: n,
                req_s: Runs::default(),
                p50_ms: Runs::default(),
                p99_ms: Runs::default(),
                errors: 0,
            };
            for _ in 0..budget.repeats {
                let sads = prepare(idp, signer, key_id, hashes, per_run)?;
                let (done, elapsed, mut lat, errors) =
                    rt.block_on(load(&clients, n, sads, time_cap));
                lat.sort_by(f64::total_cmp);
                r.req_s.values.push(done as f64 / elapsed);
                r.p50_ms
                    .values
                    .push(crate::stats::quantile(&lat, 0.50) * 1e3);
                r.p99_ms
                    .values
                    .push(crate::stats::quantile(&lat, 0.99) * 1e3);
                r.errors += errors;
            }
            eprintln!(
                "sam-bench: full stack {} ×{hashes}, {n} clients: {:.1} req/s",
                crate::prims::alg_name(key),
                r.req_s.median()
            );
            results.push(r);
        }
    }
    let csc = crate::csc::run(&stack, &stack.csc_url, budget.repeats, quick, &results);
    if let Err(why) = &csc {
        eprintln!("sam-bench: CSC not measured: {why}");
    }
    let documents = crate::documents::run(&stack, budget.repeats, quick);
    if let Err(why) = &documents {
        eprintln!("sam-bench: document signing not measured: {why}");
    }
    let peak_rss_mib = status_mib(stack.pid, "VmHWM");
    stack.stop();
    Ok(Full {
        results,
        peak_rss_mib,
        csc,
        documents,
    })
}

/// `n` SADs, each with a fresh SAD key and token.
fn prepare(
    idp: &DevIdp,
    signer: UserId,
    key_id: KeyId,
    hashes: usize,
    n: usize,
) -> Result<Vec<Vec<u8>>, String> {
    (0..n)
        .map(|i| {
            fresh_sad(
                idp,
                signer,
                key_id,
                hashes,
                i,
                crate::pipeline::TOKEN_VALIDITY,
            )
        })
        .collect()
}

/// One SAD with a fresh SAD key and a fresh token valid from now for
/// `validity` seconds; `hashes` 32-byte hashes derived from `seed` (their
/// values do not matter, the firmware signs whatever it is given).
pub fn fresh_sad(
    idp: &DevIdp,
    signer: UserId,
    key_id: KeyId,
    hashes: usize,
    seed: usize,
    validity: u64,
) -> Result<Vec<u8>, String> {
    let hashes = (0..hashes).map(|j| vec![(seed ^ j) as u8; 32]).collect();
    Ok(setup::fresh_sad(idp, signer, key_id, hashes, validity)?)
}

/// `n` concurrent clients share the SADs through a queue; stops at the
/// time cap. (done, seconds, latencies in s, errors).
async fn load(
    clients: &[Arc<SamClient>],
    n: usize,
    sads: Vec<Vec<u8>>,
    cap: Duration,
) -> (usize, f64, Vec<f64>, usize) {
    drain(
        clients,
        n,
        sads,
        cap,
        "full stack",
        |client, sad| async move {
            client
                .sign_sad(&sad)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
    .await
}

/// The load loop of section 3 and 3b: the first `n` of `clients` take
/// items off one queue and run `call` on each until the queue is empty
/// or `cap` has passed. (done, seconds, latencies in s, errors); the
/// first error of each client is printed, labelled `what`.
pub async fn drain<C, T, F, Fut>(
    clients: &[Arc<C>],
    n: usize,
    items: Vec<T>,
    cap: Duration,
    what: &'static str,
    call: F,
) -> (usize, f64, Vec<f64>, usize)
where
    C: Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(Arc<C>, T) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(items));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for client in clients.iter().take(n) {
        let client = client.clone();
        let queue = queue.clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some(item) = next else { break };
                if t0.elapsed() > cap {
                    break;
                }
                let s = Instant::now();
                match call(client.clone(), item).await {
                    Ok(()) => lat.push(s.elapsed().as_secs_f64()),
                    Err(e) => {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("sam-bench: {what} request failed: {e}");
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok((lat, e)) => {
                all.extend(lat);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    (all.len(), elapsed, all, errors)
}

/// Where samd and samctl are: `SAM_BENCH_BIN_DIR`, else beside this
/// executable.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("SAM_BENCH_BIN_DIR") {
        return Some(PathBuf::from(d));
    }
    std::env::current_exe()
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

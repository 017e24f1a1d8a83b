//! `sam-crashtest` — the crash-kill harness (`cargo xtask crashtest
//! --cycles N [--seed S]`).
//!
//! samd runs with `[firmware] transport = "socket"` against a separately
//! started `sam-simulator serve`, so that either process can be SIGKILLed
//! on its own, the way a power cut or an OOM kill would hit one machine of
//! a deployment. After a one-time setup like the demo's (dev PKI,
//! simulator init, dual-control firmware initialization, IdP key import,
//! first Privileged User, a signer and its P-256 key), every cycle:
//!
//! 1. starts a mixed concurrent load: signer creation, key generation, key
//!    deletion, and two signing clients that send a fresh SAD (fresh SAD
//!    key, fresh identity token) per request;
//! 2. after a random 20–300 ms SIGKILLs samd or the simulator (chosen at
//!    random), lets the requests in flight fail, restarts the victim and
//!    waits until `/readyz` answers and a signature succeeds again;
//! 3. checks the invariants (see [`ledger::check`] and [`check_cycle`]):
//!    every acknowledged operation is stored exactly once with exactly one
//!    success audit record; an unacknowledged one is fully there or absent
//!    (never half); the exported audit sequence numbers are contiguous from
//!    0 up to the firmware's counter and `samctl integrity data` exits 0;
//!    every SAD this cycle sent (and a sample of older ones), re-sent after
//!    the restart, is refused with ReplayedSad — never accepted twice. (One
//!    SAD that never got an answer may be accepted once on re-send: samd
//!    died before handing it to the firmware. Never after a firmware
//!    reboot, and never a second time.)
//!
//! What samd stored is read through its own interfaces where it has one
//! (`GET /admin/audit`, `GET /admin/status`, `samctl integrity data`) and
//! from its SQLite file, read-only, for the users and objects tables (there
//! is no endpoint listing users).
//!
//! The first broken invariant stops the run with exit code 1, the seed to
//! replay the schedule, and the kept work folder (PKI, store, both logs).
//! DEVELOPMENT ONLY: every key is a throw-away key in a temporary folder.

#![forbid(unsafe_code)]

mod ledger;
mod procs;
mod rng;

use ledger::{AuditRow, Checked, Ledger, SadRecord, Stored, StoredObject, Tallies};
use procs::Proc;
use rng::Rng;
use sam_client::{ClientError, Credential, Method, SadKey, SamClient, SignRequest};
use sam_devpki::{DevIdp, DevPki, DevPkiOptions, TokenParams, files, unix_now};
use sam_proto::ErrorType;
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, KeyId, UserId, Uuid};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: sam-crashtest [--cycles N] [--seed S] [--bin-dir DIR] [--keep]
                     [--tolerate-audit-gaps]

Drives a mixed load (signer creation, key generation, signing, key
deletion) against samd and a separate sam-simulator, SIGKILLs one of them
at a random moment, restarts it and checks the invariants; N times.

  --cycles N    kill/restart cycles [default: 50]
  --seed S      seed of the schedule (kill moment, victim, ...); printed
                at the start so that a failure can be replayed
  --bin-dir DIR where samd, samctl and sam-simulator are
                [default: the folder of this executable]
  --keep        keep the work folder even when every check passed (it is
                always kept after a failure)
  --tolerate-audit-gaps
                DIAGNOSTIC ONLY: report missing audit sequence numbers and
                a failing `samctl integrity data` but go on, to exercise
                the other invariants; CI never passes it

Exit code 0: every cycle passed; 1: an invariant failed; 2: bad usage or
the harness itself could not run. DEVELOPMENT ONLY keys.";

/// The SAD tokens' lifetime. Re-sent SADs must still be inside it, so
/// that their refusal is about single use, not expiry.
const SAD_LIFETIME_SECS: u64 = 3600;

/// Older SADs re-sent per cycle besides the cycle's own ones.
const OLD_SAD_SAMPLE: usize = 16;

/// Only SADs younger than this are re-sent (well inside their lifetime).
const RESEND_MAX_AGE: Duration = Duration::from_secs(3000);

/// Timeout of one request to samd.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long samd or the simulator may take to come back.
const READY_WITHIN: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sam-crashtest: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dir = match tempfile::Builder::new().prefix("sam-crashtest-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sam-crashtest: cannot make a temporary folder: {e}");
            return ExitCode::from(2);
        }
    };
    let replay = format!(
        "cargo xtask crashtest --cycles {} --seed {}{}",
        args.cycles,
        args.seed,
        if args.tolerate_audit_gaps {
            " --tolerate-audit-gaps"
        } else {
            ""
        }
    );
    println!(
        "sam-crashtest: {} cycles, seed {} (replay: {replay}), work folder {}",
        args.cycles,
        args.seed,
        dir.path().display()
    );
    let outcome = run(&args, dir.path());
    let code = match &outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invariant { cycle, message }) => {
            println!();
            println!(
                "INVARIANT FAILED in cycle {cycle} (seed {}): {message}",
                args.seed
            );
            println!("replay the schedule: {replay}");
            ExitCode::FAILURE
        }
        Err(Failure::Harness(message)) => {
            println!();
            println!(
                "sam-crashtest could not run (seed {}): {message}",
                args.seed
            );
            ExitCode::from(2)
        }
    };
    if outcome.is_err() || args.keep {
        let kept = dir.keep();
        println!(
            "work folder kept: {} (samd.log, simulator.log, samd.db, pki/)",
            kept.display()
        );
    }
    code
}

// ------------------------------------------------------------ arguments

/// The command line.
#[derive(Debug)]
struct Args {
    cycles: u32,
    seed: u64,
    bin_dir: PathBuf,
    keep: bool,
    tolerate_audit_gaps: bool,
}

impl Args {
    /// `None` for `--help`.
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut cycles = 50;
        let mut seed = None;
        let mut bin_dir = None;
        let mut keep = false;
        let mut tolerate_audit_gaps = false;
        while let Some(a) = it.next() {
            match a.as_str() {
                "--cycles" => {
                    let v = it.next().ok_or("--cycles needs a number")?;
                    cycles = v
                        .parse()
                        .map_err(|_| format!("--cycles: not a number: {v}"))?;
                }
                "--seed" => {
                    let v = it.next().ok_or("--seed needs a number")?;
                    seed = Some(
                        v.parse::<u64>()
                            .map_err(|_| format!("--seed: not a number: {v}"))?,
                    );
                }
                "--bin-dir" => bin_dir = Some(it.next().ok_or("--bin-dir needs a folder")?.into()),
                "--keep" => keep = true,
                "--tolerate-audit-gaps" => tolerate_audit_gaps = true,
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let bin_dir: PathBuf = match bin_dir {
            Some(d) => d,
            None => std::env::current_exe()
                .map_err(|e| format!("own executable: {e}"))?
                .parent()
                .map(Path::to_path_buf)
                .ok_or("own executable has no folder")?,
        };
        Ok(Some(Self {
            cycles,
            seed: seed.unwrap_or_else(rng::clock_seed),
            bin_dir,
            keep,
            tolerate_audit_gaps,
        }))
    }
}

/// Why a run stopped.
#[derive(Debug)]
enum Failure {
    /// An invariant did not hold: a finding about the SAM.
    Invariant { cycle: u32, message: String },
    /// The harness could not do its work (a binary missing, a port, ...).
    Harness(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Self::Harness(s)
    }
}

fn err<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

// ------------------------------------------------------------ the stack

/// Paths and settings of the stack under test.
#[derive(Debug)]
struct Env {
    bin: PathBuf,
    pki: DevPki,
    url: String,
    socket: PathBuf,
    state: PathBuf,
    db: PathBuf,
    samd_toml: PathBuf,
    samd_log: PathBuf,
    sim_log: PathBuf,
}

impl Env {
    fn create(bin: &Path, dir: &Path) -> Result<Self, String> {
        for b in ["samd", "samctl", "sam-simulator"] {
            if !bin.join(b).is_file() {
                return Err(format!(
                    "{b} not found in {} (cargo build -p sam-host -p sam-simulator, or --bin-dir)",
                    bin.display()
                ));
            }
        }
        let pki =
            DevPki::create(&dir.join("pki"), &DevPkiOptions::default()).map_err(err("dev PKI"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(err("no free loopback port"))?;
        let env = Self {
            bin: bin.to_path_buf(),
            url: format!("https://127.0.0.1:{port}"),
            socket: dir.join("sim.sock"),
            state: dir.join("sam-state"),
            db: dir.join("samd.db"),
            samd_toml: dir.join("samd.toml"),
            samd_log: dir.join("samd.log"),
            sim_log: dir.join("simulator.log"),
            pki,
        };
        let connectors = std::fs::read_to_string(env.pki.path(files::CONNECTORS))
            .map_err(err("samd-connectors.toml"))?;
        let p = |f: &str| env.pki.path(f).display().to_string();
        // Short reconnection backoff: after a simulator restart samd must
        // find it again quickly, the cycles are short.
        let config = format!(
            "# samd of sam-crashtest (DEVELOPMENT ONLY).\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\
             client_ca = \"{}\"\nshutdown_grace_secs = 1\n\n\
             [store]\npath = \"{}\"\n\n\
             [firmware]\ntransport = \"socket\"\nsocket = \"unix:{}\"\n\
             reconnect_initial_ms = 10\nreconnect_max_ms = 100\n\n\
             [log]\nfilter = \"warn\"\n\n{connectors}",
            p(files::SERVER_CERT),
            p(files::SERVER_KEY),
            p(files::TLS_CA_CERT),
            env.db.display(),
            env.socket.display(),
        );
        std::fs::write(&env.samd_toml, config).map_err(err("samd.toml"))?;
        let out = Command::new(bin.join("sam-simulator"))
            .arg("init")
            .arg("--state-dir")
            .arg(&env.state)
            .output()
            .map_err(err("cannot run sam-simulator init"))?;
        if !out.status.success() {
            return Err(format!(
                "sam-simulator init failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(env)
    }

    /// A client of samd with one of the dev PKI's connector certificates.
    fn client(&self, cert: &str, key: &str) -> Result<SamClient, String> {
        SamClient::from_pem_files(
            &self.url,
            &self.pki.path(files::TLS_CA_CERT),
            &self.pki.path(cert),
            &self.pki.path(key),
        )
        .map(|c| c.with_timeout(REQUEST_TIMEOUT))
        .map_err(err("samd client"))
    }

    /// Starts `sam-simulator serve`; returns it once its socket accepts,
    /// with the Unix second by which the firmware had booted.
    fn start_simulator(&self) -> Result<(Proc, u64), String> {
        let mut cmd = Command::new(self.bin.join("sam-simulator"));
        cmd.arg("serve")
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--listen")
            .arg(format!("unix:{}", self.socket.display()))
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        let mut sim = Proc::spawn("sam-simulator", cmd, &self.sim_log)?;
        let socket = self.socket.clone();
        sim.wait_until(READY_WITHIN, || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        })?;
        // The firmware boots before the socket is bound.
        Ok((sim, unix_now()))
    }

    /// Starts samd; returns it once `path` answers 200: `/healthz` before
    /// the firmware is initialized, `/readyz` after.
    fn start_samd(
        &self,
        rt: &tokio::runtime::Runtime,
        mgmt: &SamClient,
        path: &str,
    ) -> Result<Proc, String> {
        let mut cmd = Command::new(self.bin.join("samd"));
        cmd.arg("--config")
            .arg(&self.samd_toml)
            .env("NO_COLOR", "1");
        let mut samd = Proc::spawn("samd", cmd, &self.samd_log)?;
        samd.wait_until(READY_WITHIN, || {
            rt.block_on(mgmt.call(Method::GET, path, None)).is_ok()
        })?;
        Ok(samd)
    }

    /// Runs samctl with the management connector: exit code and stdout.
    fn samctl(&self, args: &[&str]) -> Result<(i32, String), String> {
        let out = Command::new(self.bin.join("samctl"))
            .args(args)
            .env_remove("SAMCTL_CONFIG")
            .env_remove("SAMCTL_TIMEOUT")
            .env("SAMCTL_URL", &self.url)
            .env("SAMCTL_CA", self.pki.path(files::TLS_CA_CERT))
            .env("SAMCTL_CERT", self.pki.path(files::MANAGEMENT_CERT))
            .env("SAMCTL_KEY", self.pki.path(files::MANAGEMENT_KEY))
            .output()
            .map_err(err("cannot run samctl"))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            text.push_str(stderr.trim());
        }
        Ok((out.status.code().unwrap_or(-1), text))
    }

    /// samctl that must exit 0; its stdout.
    fn samctl_ok(&self, args: &[&str]) -> Result<String, String> {
        let (code, out) = self.samctl(args)?;
        if code == 0 {
            Ok(out)
        } else {
            Err(format!(
                "samctl {} exited {code}: {}",
                args.join(" "),
                out.trim()
            ))
        }
    }

    /// samd's store, read-only (the users table has no query endpoint).
    fn read_store(&self) -> Result<Stored, String> {
        use rusqlite::{Connection, OpenFlags};
        let conn = Connection::open_with_flags(&self.db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err("samd.db"))?;
        let mut stored = Stored::default();
        let mut users = conn
            .prepare("SELECT user_id, role FROM users")
            .map_err(err("users"))?;
        let rows = users
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(err("users"))?;
        for row in rows {
            let (id, role) = row.map_err(err("users"))?;
            stored.users.insert(id, role);
        }
        let mut objects = conn
            .prepare("SELECT id, type, state, key_id, value IS NULL FROM objects")
            .map_err(err("objects"))?;
        let rows = objects
            .query_map([], |r| {
                Ok(StoredObject {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    state: r.get(2)?,
                    key_id: r.get(3)?,
                    value_null: r.get(4)?,
                })
            })
            .map_err(err("objects"))?;
        for row in rows {
            stored.objects.push(row.map_err(err("objects"))?);
        }
        Ok(stored)
    }
}

/// Polls `GET /readyz` (firmware reachable and Operational, store not
/// failed) until it answers 200.
fn wait_ready(
    proc: &mut Proc,
    rt: &tokio::runtime::Runtime,
    mgmt: &SamClient,
) -> Result<(), String> {
    proc.wait_until(READY_WITHIN, || {
        rt.block_on(mgmt.call(Method::GET, "/readyz", None)).is_ok()
    })
}

/// Sleeps until the clock is past `second`: the firmware refuses SAD
/// tokens whose notBefore is not after its boot second (check 11).
fn wait_past(second: u64) {
    while unix_now() <= second {
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------ the load

/// What the load tasks share.
struct Shared {
    idp: DevIdp,
    ssa: SamClient,
    ra: SamClient,
    pu: UserId,
    s0: UserId,
    k0: KeyId,
    k0_public: Vec<u8>,
    ledger: Mutex<Ledger>,
    rng: Mutex<Rng>,
    /// Set at the kill: no new request after it.
    stop: AtomicBool,
    /// Simulator restarts so far (the firmware's boots after setup).
    boot_epoch: AtomicU32,
}

impl Shared {
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn rng(&self) -> MutexGuard<'_, Rng> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A fresh login token of `user` (no SAD key) as a peering credential.
    fn login(&self, user: UserId) -> Result<Credential, String> {
        self.idp
            .login_token(
                user,
                IdentificationLevel::Substantial,
                unix_now().saturating_sub(5),
                600,
            )
            .map(Credential::IdentityToken)
            .map_err(err("login token"))
    }

    /// A fresh SAD for one hash with the setup key: a new SAD key and a
    /// new identity token carrying it, as the SSA flow makes them.
    fn sad(&self, hash: &[u8]) -> Result<Vec<u8>, String> {
        let sad_key = SadKey::generate().map_err(err("SAD key"))?;
        let now = unix_now();
        let token = self
            .idp
            .issue_token(&TokenParams {
                user_id: self.s0,
                level: IdentificationLevel::Substantial,
                not_before: now,
                not_after: now + SAD_LIFETIME_SECS,
                sad_public_key: Some(sad_key.public_key_der().map_err(err("SAD key"))?),
            })
            .map_err(err("SAD token"))?;
        let request = SignRequest {
            key_id: self.k0,
            hash_algorithm: HashAlgorithm::Sha256,
            hashes: vec![hash.to_vec()],
        };
        sad_key.sign_sad(&token, &request).map_err(err("SAD"))
    }

    /// Records an error while no kill has happened yet: none is expected.
    fn note(&self, l: &mut Ledger, what: &str, e: &ClientError) {
        if !self.stopped() {
            l.early_errors.0 += 1;
            if l.early_errors.1.is_none() {
                l.early_errors.1 = Some(format!("{what}: {e}"));
            }
        }
    }

    /// A short random pause between a task's requests, so the kinds mix.
    async fn pause(&self) {
        let ms = self.rng().below(6);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Sends one SAD (recorded first: it counts as sent even if the answer
/// never comes) and records the outcome; signatures are verified.
async fn send_sad(sh: &Shared, cycle: u32) -> Result<bool, String> {
    let hash: [u8; 32] = sh.rng().bytes();
    let der = sh.sad(&hash)?;
    let index = {
        let mut l = sh.ledger();
        l.sads.push(SadRecord {
            der: der.clone(),
            hash: hash.to_vec(),
            accepted: 0,
            made: Instant::now(),
            cycle,
            boot_epoch: sh.boot_epoch.load(Ordering::SeqCst),
        });
        l.sads.len() - 1
    };
    let r = sh.ssa.sign_sad(&der).await;
    let mut l = sh.ledger();
    l.cycle.signs.add(r.is_ok());
    match r {
        Ok(signed) => {
            if let Some(s) = l.sads.get_mut(index) {
                s.accepted += 1;
            }
            if let Err(e) = verify(sh, &hash, &signed.signatures) {
                l.violation.get_or_insert(e);
            }
            Ok(true)
        }
        Err(e) => {
            sh.note(&mut l, "Signing", &e);
            Ok(false)
        }
    }
}

/// An acknowledged signature must verify with the setup key.
fn verify(sh: &Shared, hash: &[u8], signatures: &[Vec<u8>]) -> Result<(), String> {
    match signatures {
        [one] => {
            sam_client::verify::verify_prehash(&sh.k0_public, HashAlgorithm::Sha256, hash, one)
                .map_err(|e| format!("an acknowledged signature does not verify: {e}"))
        }
        _ => Err(format!("{} signatures for one hash", signatures.len())),
    }
}

async fn signer_task(sh: Arc<Shared>, cycle: u32) -> Result<(), String> {
    while !sh.stopped() {
        send_sad(&sh, cycle).await?;
        sh.pause().await;
    }
    Ok(())
}

async fn creator_task(sh: Arc<Shared>) -> Result<(), String> {
    let idp_cert = sh.idp.certificate_der().to_vec();
    while !sh.stopped() {
        let user = Uuid::from_random(sh.rng().bytes());
        let cred = sh.login(sh.pu)?;
        let r = sh
            .ra
            .create_signer(&cred, user, std::slice::from_ref(&idp_cert))
            .await;
        {
            let mut l = sh.ledger();
            l.cycle.users.add(r.is_ok());
            match r {
                Ok(_) => {
                    l.users_acked.insert(user.to_string());
                    l.signers.push(user);
                }
                Err(e) => {
                    l.users_unacked.insert(user.to_string());
                    sh.note(&mut l, "Create_New_Signer", &e);
                }
            }
        }
        sh.pause().await;
    }
    Ok(())
}

async fn generator_task(sh: Arc<Shared>) -> Result<(), String> {
    while !sh.stopped() {
        let owner = {
            let l = sh.ledger();
            let i = sh.rng().below(l.signers.len() as u64) as usize;
            l.signers.get(i).copied().unwrap_or(sh.s0)
        };
        let cred = sh.login(owner)?;
        let r = sh
            .ra
            .generate_key_pair(&cred, owner, KeyAlgorithm::EcP256)
            .await;
        {
            let mut l = sh.ledger();
            l.cycle.keys.add(r.is_ok());
            match r {
                Ok(k) => {
                    if k.user_id != owner {
                        l.violation.get_or_insert(format!(
                            "key {} generated for {owner} came back owned by {}",
                            k.key_id, k.user_id
                        ));
                    }
                    l.keys_acked.insert(k.key_id.to_string(), owner.to_string());
                    l.deletable.push((k.key_id, owner));
                }
                Err(e) => {
                    l.gen_unacked += 1;
                    sh.note(&mut l, "Generate_Signer_Key_Pair", &e);
                }
            }
        }
        sh.pause().await;
    }
    Ok(())
}

async fn deleter_task(sh: Arc<Shared>) -> Result<(), String> {
    while !sh.stopped() {
        let pick = {
            let mut l = sh.ledger();
            if l.deletable.is_empty() {
                None
            } else {
                let i = sh.rng().below(l.deletable.len() as u64) as usize;
                Some(l.deletable.swap_remove(i))
            }
        };
        let Some((key, owner)) = pick else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let cred = sh.login(owner)?;
        let r = sh
            .ra
            .peering(
                "Delete_Signer_Key_Pair",
                Some(&cred),
                json!({"keyid": key.to_string()}),
            )
            .await;
        {
            let mut l = sh.ledger();
            l.cycle.deletes.add(r.is_ok());
            match r {
                Ok(_) => {
                    l.deletes_acked.insert(key.to_string());
                }
                Err(e) => {
                    // Never retried: a second deletion could add a second
                    // audit record for the key.
                    l.deletes_unacked.insert(key.to_string());
                    sh.note(&mut l, "Delete_Signer_Key_Pair", &e);
                }
            }
        }
        sh.pause().await;
    }
    Ok(())
}

// ------------------------------------------------------------ the run

/// Which process a cycle kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Samd,
    Simulator,
}

impl Victim {
    fn name(self) -> &'static str {
        match self {
            Self::Samd => "samd",
            Self::Simulator => "simulator",
        }
    }
}

/// Totals for the summary.
#[derive(Debug, Default)]
struct Totals {
    kills_samd: u32,
    kills_sim: u32,
    ops: Tallies,
    unacked_present: u64,
    unacked_absent: u64,
    audit_without_result: u64,
    resent: u64,
    refused: u64,
    first_on_resend: u64,
    gap_cycles: u32,
    audit_records: usize,
}

fn run(args: &Args, dir: &Path) -> Result<(), Failure> {
    let started = Instant::now();
    let bin = args
        .bin_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.bin_dir.display()))?;
    let env = Env::create(&bin, dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err("tokio"))?;
    let mgmt = env.client(files::MANAGEMENT_CERT, files::MANAGEMENT_KEY)?;
    let ssa = env.client(files::SSA_CERT, files::SSA_KEY)?;
    let ra = env.client(files::PRIVILEGED_CERT, files::PRIVILEGED_KEY)?;

    // Drop order: the guards go before `dir` is removed by the caller.
    let (mut sim, mut booted) = env.start_simulator()?;
    let mut samd = env.start_samd(&rt, &mgmt, "/healthz")?;

    // Setup, the demo's way: dual-control init, IdP key, first PU.
    let [a1, a2] = files::ADMIN_KEYS.map(|k| env.pki.path(k).display().to_string());
    let idp_cert = env.pki.path(files::IDP_CERT).display().to_string();
    env.samctl_ok(&["fw", "init", "--admin-key", &a1, "--admin-key", &a2])?;
    env.samctl_ok(&[
        "fw",
        "setidpkeys",
        &idp_cert,
        "--admin-key",
        &a1,
        "--admin-key",
        &a2,
    ])?;
    let enrolled = env.samctl_ok(&[
        "fw",
        "enrol",
        "--idp-cert",
        &idp_cert,
        "--admin-key",
        &a1,
        "--admin-key",
        &a2,
    ])?;
    let pu = enrolled
        .lines()
        .find_map(|l| Uuid::parse(l.trim()).ok())
        .ok_or_else(|| "samctl fw enrol printed no UserID".to_owned())?;
    let idp = env.pki.idp().map_err(err("IdP"))?;
    let mut rng = Rng::new(args.seed);
    let s0 = Uuid::from_random(rng.bytes());
    let login = |u: UserId| {
        idp.login_token(
            u,
            IdentificationLevel::Substantial,
            unix_now().saturating_sub(5),
            600,
        )
        .map(Credential::IdentityToken)
        .map_err(err("login token"))
    };
    rt.block_on(ra.create_signer(&login(pu)?, s0, &[idp.certificate_der().to_vec()]))
        .map_err(err("setup Create_New_Signer"))?;
    let k0 = rt
        .block_on(ra.generate_key_pair(&login(s0)?, s0, KeyAlgorithm::EcP256))
        .map_err(err("setup Generate_Signer_Key_Pair"))?;
    let mut ledger = Ledger {
        setup_key: k0.key_id.to_string(),
        ..Ledger::default()
    };
    ledger.setup_users.extend([pu.to_string(), s0.to_string()]);
    ledger.signers.push(s0);
    let sh = Arc::new(Shared {
        idp,
        ssa,
        ra,
        pu,
        s0,
        k0: k0.key_id,
        k0_public: k0.public_key,
        ledger: Mutex::new(ledger),
        rng: Mutex::new(Rng::new(rng.next_u64())),
        stop: AtomicBool::new(false),
        boot_epoch: AtomicU32::new(0),
    });
    println!(
        "setup: samd (socket transport) + sam-simulator, firmware initialized by two \
         administrators, IdP key imported, PU {pu}, signer {s0} with P-256 key {} ({:.1} s)",
        k0.key_id,
        started.elapsed().as_secs_f64()
    );

    let mut totals = Totals::default();
    let mut trail = Trail::default();
    for cycle in 1..=args.cycles {
        let t0 = Instant::now();
        let victim = if rng.coin() {
            Victim::Samd
        } else {
            Victim::Simulator
        };
        let delay = rng.between(20, 300);
        wait_past(booted);
        {
            let mut l = sh.ledger();
            l.cycle = Tallies::default();
            l.early_errors = (0, None);
        }
        sh.stop.store(false, Ordering::SeqCst);
        let tasks = vec![
            rt.spawn(signer_task(sh.clone(), cycle)),
            rt.spawn(signer_task(sh.clone(), cycle)),
            rt.spawn(creator_task(sh.clone())),
            rt.spawn(generator_task(sh.clone())),
            rt.spawn(deleter_task(sh.clone())),
        ];
        std::thread::sleep(Duration::from_millis(delay));
        // No new request after this point: what is in flight is what the
        // kill interrupts.
        sh.stop.store(true, Ordering::SeqCst);
        match victim {
            Victim::Samd => {
                samd.kill()?;
                totals.kills_samd += 1;
            }
            Victim::Simulator => {
                sim.kill()?;
                totals.kills_sim += 1;
            }
        }
        for t in tasks {
            rt.block_on(t).map_err(err("load task"))??;
        }
        let fail = |message: String| Failure::Invariant { cycle, message };
        // Coming back is itself an invariant: a store or state file that a
        // crash left unusable would show up here.
        let restarted = match victim {
            Victim::Samd => env.start_samd(&rt, &mgmt, "/readyz").map(|new| samd = new),
            Victim::Simulator => env.start_simulator().and_then(|(new, at)| {
                (sim, booted) = (new, at);
                sh.boot_epoch.fetch_add(1, Ordering::SeqCst);
                wait_ready(&mut samd, &rt, &mgmt)
            }),
        };
        restarted
            .and_then(|()| samd.check_alive())
            .and_then(|()| sim.check_alive())
            .map_err(|e| fail(format!("after the kill of {}: {e}", victim.name())))?;
        wait_past(booted);
        probe(&sh, &rt, cycle).map_err(fail)?;
        let (tally, early, violation) = {
            let l = sh.ledger();
            (l.cycle, l.early_errors.clone(), l.violation.clone())
        };
        if let Some(v) = violation {
            return Err(fail(v));
        }
        let report =
            check_cycle(&env, &sh, &rt, &mgmt, args, cycle, &mut trail).map_err(|e| match e {
                Failure::Invariant { message, .. } => fail(message),
                other => other,
            })?;
        let (resent, refused, first) = resend(&sh, &rt, cycle, &mut rng).map_err(|e| match e {
            Failure::Invariant { message, .. } => fail(message),
            other => other,
        })?;
        totals.ops.merge(&tally);
        // The checks cover the whole run so far: the latest counts are
        // the run's.
        totals.unacked_present = report.checked.unacked_present;
        totals.unacked_absent = report.checked.unacked_absent;
        totals.audit_without_result = report.checked.audit_without_result;
        totals.audit_records = report.checked.audit_records;
        totals.resent += resent;
        totals.refused += refused;
        totals.first_on_resend += first;
        if report.new_gap.is_some() {
            totals.gap_cycles += 1;
        }
        println!(
            "cycle {cycle:>4}/{}: killed {:<9} after {delay:>3} ms; ops acked {:>3} unacked {:>2} \
             (users {}/{}, keys {}/{}, deletes {}/{}, signs {}/{}); re-sent {resent} SADs, \
             {refused} refused{}; audit {} records; {} ({:.1} s)",
            args.cycles,
            victim.name(),
            tally.acked(),
            tally.unacked(),
            tally.users.acked,
            tally.users.unacked,
            tally.keys.acked,
            tally.keys.unacked,
            tally.deletes.acked,
            tally.deletes.unacked,
            tally.signs.acked,
            tally.signs.unacked,
            if first > 0 {
                format!(", {first} unanswered SAD(s) first executed now")
            } else {
                String::new()
            },
            report.checked.audit_records,
            match &report.new_gap {
                Some(_) => "AUDIT GAP (tolerated)",
                None if report.old_gap => "checks ok (earlier gap tolerated)",
                None => "checks ok",
            },
            t0.elapsed().as_secs_f64()
        );
        if let Some(gap) = &report.new_gap {
            println!("    {}", gap.replace('\n', "\n    "));
        }
        if let (n @ 1.., Some(first)) = early {
            println!("    note: {n} request(s) failed before the kill; first: {first}");
        }
        let _ = std::io::stdout().flush();
    }
    drop(samd);
    drop(sim);
    summary(args, &totals, started.elapsed());
    if totals.gap_cycles > 0 {
        // Tolerated means "not stopped at", never "passed".
        return Err(Failure::Invariant {
            cycle: args.cycles,
            message: format!(
                "audit sequence numbers went missing in {} cycle(s) (tolerated until the end \
                 by --tolerate-audit-gaps; the lines above name them)",
                totals.gap_cycles
            ),
        });
    }
    Ok(())
}

/// After a restart, one signature must succeed again (retrying while
/// samd or its firmware link is still coming back).
fn probe(sh: &Shared, rt: &tokio::runtime::Runtime, cycle: u32) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if rt.block_on(send_sad(sh, cycle))? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no signature succeeded within {} s of the restart",
                READY_WITHIN.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The audit trail as the checks have seen it so far.
#[derive(Debug, Default)]
struct Trail {
    /// Every record exported so far, in sequence order.
    seen: Vec<AuditRow>,
    /// Missing sequence numbers already reported (tolerated gaps only).
    known_missing: Vec<u64>,
}

/// What one cycle's checks found.
#[derive(Debug)]
struct CycleReport {
    checked: Checked,
    /// A gap (or failed integrity check) not seen before, when tolerated.
    new_gap: Option<String>,
    /// An earlier, tolerated gap is still there.
    old_gap: bool,
}

/// Every `FULL_EXPORT_EVERY` cycles (and in the last one) the whole trail
/// is exported again and compared with what earlier cycles saw; in
/// between only the records after the last one seen are fetched. That is
/// as strict (a record vanished or changed would also break the firmware's
/// walk in `samctl integrity data`, which runs over the whole chain every
/// cycle) and keeps a 1,000-cycle run linear instead of quadratic.
const FULL_EXPORT_EVERY: u32 = 25;

/// The audit records after `after` as exported by `GET /admin/audit`,
/// all pages.
async fn audit_trail(mgmt: &SamClient, after: i64) -> Result<Vec<AuditRow>, Failure> {
    let mut rows = Vec::new();
    let mut after = after;
    loop {
        let page = mgmt
            .call(
                Method::GET,
                &format!("/admin/audit?after={after}&limit=1000"),
                None,
            )
            .await
            .map_err(err("GET /admin/audit"))?;
        let records = page
            .get("records")
            .and_then(Value::as_array)
            .ok_or_else(|| "GET /admin/audit: no records".to_owned())?;
        for r in records {
            rows.push(
                AuditRow::parse(r).map_err(|message| Failure::Invariant { cycle: 0, message })?,
            );
        }
        match page.get("next_after").and_then(Value::as_i64) {
            Some(n) => after = n,
            None => return Ok(rows),
        }
    }
}

/// The invariants on the audit trail and the store (no load running).
fn check_cycle(
    env: &Env,
    sh: &Shared,
    rt: &tokio::runtime::Runtime,
    mgmt: &SamClient,
    args: &Args,
    cycle: u32,
    trail: &mut Trail,
) -> Result<CycleReport, Failure> {
    let Trail {
        seen,
        known_missing,
    } = trail;
    // With tolerated gaps a hole may fill later: always the whole trail.
    let full =
        cycle.is_multiple_of(FULL_EXPORT_EVERY) || cycle == args.cycles || args.tolerate_audit_gaps;
    if full {
        let all = rt.block_on(audit_trail(mgmt, -1))?;
        let changed = seen
            .iter()
            .zip(&all)
            .find(|(before, now)| before != now)
            .map(|(before, _)| before.seq);
        if let Some(seq) = changed.or_else(|| (all.len() < seen.len()).then_some(all.len() as u64))
        {
            return Err(Failure::Invariant {
                cycle: 0,
                message: format!(
                    "the stored audit trail changed under an earlier export: record at position \
                     {seq} differs or vanished ({} records before, {} now)",
                    seen.len(),
                    all.len()
                ),
            });
        }
        *seen = all;
    } else {
        let after = seen
            .last()
            .map_or(-1, |r| i64::try_from(r.seq).unwrap_or(i64::MAX));
        let new = rt.block_on(audit_trail(mgmt, after))?;
        seen.extend(new);
    }
    let audit: &[AuditRow] = seen;
    let status = rt
        .block_on(mgmt.call(Method::GET, "/admin/status", None))
        .map_err(err("GET /admin/status"))?;
    let firmware_next = status
        .pointer("/firmware/next_audit_seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("GET /admin/status: no firmware.next_audit_seq: {status}"))?;
    let (missing, duplicates) = ledger::seq_gaps(audit, firmware_next);
    let (code, integrity) = env.samctl(&["integrity", "data"])?;
    let mut new_gap = None;
    let mut old_gap = false;
    if !missing.is_empty() || !duplicates.is_empty() || code != 0 {
        let mut text = ledger::describe_gaps(audit, &missing, &duplicates);
        if code != 0 {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "`samctl integrity data` exited {code}: {}",
                integrity.trim().replace('\n', " | ")
            ));
        }
        text.push_str(&format!(
            "\n(firmware next_audit_seq {firmware_next}, {} records stored: the missing ones \
             were issued by the firmware and never stored by samd)",
            audit.len()
        ));
        if !args.tolerate_audit_gaps {
            return Err(Failure::Invariant {
                cycle: 0,
                message: text,
            });
        }
        if missing.iter().any(|m| !known_missing.contains(m)) || !duplicates.is_empty() {
            known_missing.clone_from(&missing);
            new_gap = Some(text);
        } else {
            old_gap = true;
        }
    }
    let stored = env.read_store()?;
    let checked = ledger::check(&sh.ledger(), &stored, audit)
        .map_err(|message| Failure::Invariant { cycle: 0, message })?;
    Ok(CycleReport {
        checked,
        new_gap,
        old_gap,
    })
}

/// Re-sends every SAD of `cycle` and a sample of older ones. Each must be
/// refused with ReplayedSad. The one exception: a SAD that never got an
/// answer may be accepted once — when samd died before handing it to the
/// firmware, the firmware never saw it; from then on it counts as
/// accepted, and a second acceptance fails the run. (Whether the firmware
/// saw it is cross-checked by the Signing audit count in
/// [`ledger::check`].) Returns (re-sent, refused, first executed now).
fn resend(
    sh: &Shared,
    rt: &tokio::runtime::Runtime,
    cycle: u32,
    rng: &mut Rng,
) -> Result<(u64, u64, u64), Failure> {
    let picks: Vec<usize> = {
        let l = sh.ledger();
        let mut picks: Vec<usize> = (0..l.sads.len())
            .filter(|i| l.sads.get(*i).is_some_and(|s| s.cycle == cycle))
            .collect();
        let older: Vec<usize> = (0..l.sads.len())
            .filter(|i| {
                l.sads
                    .get(*i)
                    .is_some_and(|s| s.cycle < cycle && s.made.elapsed() < RESEND_MAX_AGE)
            })
            .collect();
        for _ in 0..OLD_SAD_SAMPLE.min(older.len()) {
            if let Some(i) = older.get(rng.below(older.len() as u64) as usize) {
                picks.push(*i);
            }
        }
        picks
    };
    let (mut resent, mut refused, mut first) = (0, 0, 0);
    for i in picks {
        let Some(record) = sh.ledger().sads.get(i).cloned() else {
            continue;
        };
        resent += 1;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match rt.block_on(sh.ssa.sign_sad(&record.der)) {
                Err(ClientError::Sam {
                    error: ErrorType::ReplayedSad,
                    ..
                }) => {
                    refused += 1;
                    break;
                }
                Ok(signed) => {
                    let mut l = sh.ledger();
                    let Some(s) = l.sads.get_mut(i) else { break };
                    s.accepted += 1;
                    if s.accepted > 1 {
                        return Err(Failure::Invariant {
                            cycle,
                            message: format!(
                                "a SAD of cycle {} was accepted {} times (re-sent after the \
                                 restart and signed again)",
                                record.cycle, s.accepted
                            ),
                        });
                    }
                    drop(l);
                    // Only samd can have died with such a SAD in flight;
                    // a firmware that rebooted since must refuse it.
                    if record.boot_epoch != sh.boot_epoch.load(Ordering::SeqCst) {
                        return Err(Failure::Invariant {
                            cycle,
                            message: format!(
                                "an unanswered SAD of cycle {}, sent before a restart of the \
                                 simulator, was accepted by the rebooted firmware",
                                record.cycle
                            ),
                        });
                    }
                    verify(sh, &record.hash, &signed.signatures)
                        .map_err(|message| Failure::Invariant { cycle, message })?;
                    first += 1;
                    break;
                }
                Err(e) if transient(&e) && attempts < 20 => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(Failure::Invariant {
                        cycle,
                        message: format!(
                            "a re-sent SAD of cycle {} was refused, but not as ReplayedSad: {e}",
                            record.cycle
                        ),
                    });
                }
            }
        }
    }
    Ok((resent, refused, first))
}

/// An error that says "not now" rather than "no".
fn transient(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport(_)) || e.error_type() == Some(ErrorType::NotOperational)
}

fn summary(args: &Args, t: &Totals, elapsed: Duration) {
    println!();
    println!(
        "crashtest {}: {} cycles in {:.1} s (seed {}): {} samd kills, {} simulator kills",
        if t.gap_cycles > 0 {
            "finished WITH AUDIT GAPS"
        } else {
            "passed"
        },
        args.cycles,
        elapsed.as_secs_f64(),
        args.seed,
        t.kills_samd,
        t.kills_sim
    );
    println!(
        "  operations acknowledged {} (signers {}, keys {}, deletions {}, signatures {}), \
         unacknowledged {} (signers {}, keys {}, deletions {}, signatures {})",
        t.ops.acked(),
        t.ops.users.acked,
        t.ops.keys.acked,
        t.ops.deletes.acked,
        t.ops.signs.acked,
        t.ops.unacked(),
        t.ops.users.unacked,
        t.ops.keys.unacked,
        t.ops.deletes.unacked,
        t.ops.signs.unacked
    );
    println!(
        "  every acknowledged operation stored exactly once with one audit record; of the \
         unacknowledged signers/deletions, {} found applied and {} absent (none half-present); \
         {} firmware audit record(s) of undelivered results",
        t.unacked_present, t.unacked_absent, t.audit_without_result
    );
    println!(
        "  SADs re-sent after restarts: {}, refused as ReplayedSad: {}, accepted twice: 0 \
         (unanswered SADs first executed on re-send: {})",
        t.resent, t.refused, t.first_on_resend
    );
    if t.gap_cycles > 0 {
        println!(
            "  audit trail: {} records; GAPS appeared in {} cycle(s), tolerated \
             (--tolerate-audit-gaps): this run does NOT show a whole chain",
            t.audit_records, t.gap_cycles
        );
    } else {
        println!(
            "  audit trail: {} records, sequence numbers contiguous from 0 to the firmware's \
             counter, samctl integrity data ok after every restart",
            t.audit_records
        );
    }
}

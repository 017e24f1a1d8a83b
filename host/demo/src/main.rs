//! `sam-demo` — the whole signing story of the SAM on the embedded
//! default, told step by step (`cargo xtask demo`).
//!
//! It makes a DEVELOPMENT-ONLY PKI, initializes a simulated HSM, starts
//! the real `samd` with `samctl start` (the firmware runs in-process on
//! the simulator's state directory, the embedded default), and then plays
//! the roles of the administrators, the privileged users, the
//! registration authority and a signature creation application (SSA):
//!
//! * management with `samctl` (dual-control firmware initialization, IdP
//!   key import, first Privileged User, data integrity, audit export,
//!   start/stop), as a TSP engineer would;
//! * user and key management with `samctl`'s integrator commands over the
//!   privileged-user connector;
//! * signing with the `sam-client` library (SAD key, IdP, SAD, `POST
//!   /signing`, detached CMS), as an SSA would, checked with `openssl cms
//!   -verify` against the development CA.
//!
//! Every step prints one line with ✓ or ✗; the exit code is 0 only if
//! every step behaved. samd's own log goes to `<out>/work/samd.log`.

#![forbid(unsafe_code)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_client::{ClientError, IdpClient, IdpLogin, SadKey, SamClient, SignRequest, cms};
use sam_devpki::{DevCa, DevIdp, DevIdpOptions, DevIdpServer, DevPki, DevPkiOptions, files};
use sam_proto::ErrorType;
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::{HashAlgorithm, KeyId, UserId, Uuid};
use serde_json::Value;
use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The number of steps of the story.
const STEPS: usize = 23;

/// Written into the output folder so that a later run may delete it.
const MARKER: &str = ".sam-demo";

/// How many documents the batch SAD signs.
const BATCH: usize = 5;

const USAGE: &str = "\
usage: sam-demo [--out DIR] [--bin-dir DIR]

The whole signing story of the SAM on the embedded default, step by step.

  --out DIR      where to put the results [default: target/demo]; a folder
                 from an earlier run is replaced, any other folder refused
  --bin-dir DIR  where samd, samctl and sam-simulator are
                 [default: the folder of this executable]

DEVELOPMENT ONLY: the keys it makes are throw-away keys in plain files.";

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sam-demo: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut story = Story::new();
    println!("SAM demo: the signing story on the embedded default (DEVELOPMENT ONLY keys)");
    println!();
    match run(&args, &mut story) {
        Ok(out) => {
            println!();
            println!(
                "All {STEPS} steps behaved ({:.1} s). In {}:",
                story.started.elapsed().as_secs_f64(),
                out.display()
            );
            println!("  ca.pem                  the development signing CA");
            println!(
                "  doc-N.txt, doc-N.p7s    {} documents and their detached CMS signatures",
                BATCH + 1
            );
            println!("  audit.jsonl             the firmware's audit records, exported");
            println!(
                "  work/                   PKI, simulator state, samd.toml, samd.db, samd.log"
            );
            println!("Check a document yourself:");
            println!(
                "  openssl cms -verify -binary -inform DER -in {0}/doc-1.p7s -content {0}/doc-1.txt -CAfile {0}/ca.pem -purpose any",
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(f) => {
            println!();
            println!(
                "FAILED at step {}/{STEPS} ({}): {}",
                f.step, f.title, f.detail
            );
            println!("samd's log: {}", args.out.join("work/samd.log").display());
            ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------ arguments

/// The command line.
#[derive(Debug)]
struct Args {
    out: PathBuf,
    bin_dir: PathBuf,
}

impl Args {
    /// `None` for `--help`.
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut out = PathBuf::from("target/demo");
        let mut bin_dir = None;
        while let Some(a) = it.next() {
            match a.as_str() {
                "--out" => out = it.next().ok_or("--out needs a folder")?.into(),
                "--bin-dir" => bin_dir = Some(it.next().ok_or("--bin-dir needs a folder")?.into()),
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let bin_dir = match bin_dir {
            Some(d) => d,
            None => std::env::current_exe()
                .map_err(|e| format!("own executable: {e}"))?
                .parent()
                .map(Path::to_path_buf)
                .ok_or("own executable has no folder")?,
        };
        Ok(Some(Self { out, bin_dir }))
    }
}

// ------------------------------------------------------------ the story

/// A step that did not behave.
#[derive(Debug)]
struct Failed {
    step: usize,
    title: String,
    detail: String,
}

/// Numbers and prints the steps.
#[derive(Debug)]
struct Story {
    n: usize,
    started: Instant,
    last: Instant,
}

impl Story {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            n: 0,
            started: now,
            last: now,
        }
    }

    /// Prints the line of the next step: its outcome was computed since the
    /// previous step.
    fn step<T>(&mut self, title: &str, outcome: Result<(T, String), String>) -> Result<T, Failed> {
        self.n += 1;
        let secs = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let line = match &outcome {
            Ok((_, detail)) => format!("[{:>2}/{STEPS}] ✓ {title}: {detail} ({secs:.1} s)", self.n),
            Err(detail) => format!("[{:>2}/{STEPS}] ✗ {title}: {detail}", self.n),
        };
        println!("{line}");
        let _ = std::io::stdout().flush();
        outcome.map(|(v, _)| v).map_err(|detail| Failed {
            step: self.n,
            title: title.to_owned(),
            detail,
        })
    }

    /// Marks the start of the next step's work (for its duration).
    fn begin(&mut self) {
        self.last = Instant::now();
    }
}

/// Which client certificate samctl presents.
#[derive(Debug, Clone, Copy)]
enum Connector {
    /// `management`: the administration commands.
    Management,
    /// The privileged-user connector: users, keys, certificates.
    Privileged,
}

/// What a samctl run printed and returned.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The run, if it exited 0.
    fn ok(self, what: &str) -> Result<Self, String> {
        if self.code == 0 {
            Ok(self)
        } else {
            Err(format!(
                "`samctl {what}` exited {}: {}{}",
                self.code,
                self.stdout.trim(),
                last_line(&self.stderr)
            ))
        }
    }

    /// stdout as JSON.
    fn json(&self) -> Result<Value, String> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| format!("samctl printed no JSON ({e}): {}", self.stdout.trim()))
    }
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(" [{}]", l.trim()))
        .unwrap_or_default()
}

/// Everything the steps share.
struct Demo {
    out: PathBuf,
    work: PathBuf,
    bin_dir: PathBuf,
    pki: DevPki,
    idp: Arc<DevIdp>,
    ca: DevCa,
    port: u16,
    rt: tokio::runtime::Runtime,
}

/// Stops samd if the story ends before its last step.
struct SamdGuard<'a> {
    demo: &'a Demo,
    armed: bool,
}

impl Drop for SamdGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.demo.samctl(
                Connector::Management,
                &[&"stop", &"--pid-file", &self.demo.pid_file()],
            );
        }
    }
}

/// A signer key made in the story.
#[derive(Debug, Clone)]
struct SignerKey {
    key_id: KeyId,
    csr: Vec<u8>,
    certificate: Vec<u8>,
}

fn run(args: &Args, story: &mut Story) -> Result<PathBuf, Failed> {
    let tools = check_tools(&args.bin_dir);
    story.step("Binaries and tools", tools)?;

    let demo = Demo::create(args);
    let demo = story.step("Development PKI", demo)?;

    story.begin();
    story.step("Simulated HSM", demo.init_hsm())?;

    story.begin();
    story.step("samd started (samctl start)", demo.start_samd())?;
    // The firmware booted before samd answered /readyz.
    let boot = sam_devpki::unix_now();
    let mut guard = SamdGuard {
        demo: &demo,
        armed: true,
    };

    story.begin();
    story.step(
        "Firmware initialization by two administrators",
        demo.fw_init(),
    )?;
    story.begin();
    story.step("IdP key import (two administrators)", demo.set_idp_keys())?;
    story.begin();
    let pu1 = story.step("First Privileged User enrolled", demo.enrol())?;

    // The firmware refuses identity tokens whose notBefore is not after its
    // boot second; the tokens below start now.
    while sam_devpki::unix_now() <= boot {
        std::thread::sleep(Duration::from_millis(100));
    }

    story.begin();
    let pu2 = story.step(
        "Privileged User created by the first one",
        demo.create_privileged_user(pu1),
    )?;
    story.begin();
    let signer = story.step("Signer created", demo.create_signer(pu2))?;
    story.begin();
    story.step("Signer maintenance", demo.signer_maintenance(pu2, signer))?;
    story.begin();
    let p256 = story.step(
        "P-256 key generated in the firmware, CSR signed by it",
        demo.generate_key(signer, "ec-p256", "ec-p256"),
    )?;
    story.begin();
    let rsa = story.step(
        "RSA-3072 key generated in the firmware, CSR signed by it",
        demo.generate_key(signer, "rsa3072", "rsa-3072"),
    )?;
    story.begin();
    let (p256, rsa) = story.step(
        "Certificates issued by the dev CA and registered",
        demo.certify(signer, p256, rsa),
    )?;

    story.begin();
    let (idp_server, ssa) = story.step("Development IdP started", demo.start_idp())?;

    story.begin();
    let sad = story.step(
        &format!("{BATCH} documents signed with ONE SAD (batch)"),
        demo.sign_batch(&ssa, signer, &p256),
    )?;
    story.begin();
    story.step("Replaying that SAD is refused", demo.replay(&ssa, &sad))?;
    story.begin();
    story.step(
        "A document signed with the RSA-3072 key",
        demo.sign_one(&ssa, signer, &rsa, BATCH + 1),
    )?;
    story.begin();
    story.step(
        "Every CMS verified with openssl cms -verify against the dev CA",
        demo.openssl_verify_all(),
    )?;
    story.begin();
    story.step("RSA-3072 key deleted", demo.delete_key(signer, &rsa))?;
    story.begin();
    story.step(
        "Signing with the deleted key is refused",
        demo.sign_deleted(&ssa, signer, &rsa),
    )?;
    story.begin();
    story.step("samctl integrity data", demo.integrity_data())?;
    story.begin();
    story.step("Audit log exported", demo.export_audit())?;

    story.begin();
    demo.rt.block_on(idp_server.stop());
    let stopped = demo.stop_samd();
    guard.armed = stopped.is_err();
    story.step("Clean stop (samctl stop)", stopped)?;
    drop(guard);
    Ok(demo.out.clone())
}

/// The SSA's clients.
struct Ssa {
    idp: IdpClient,
    sam: SamClient,
}

fn check_tools(bin_dir: &Path) -> Result<((), String), String> {
    let missing: Vec<String> = ["samd", "samctl", "sam-simulator"]
        .iter()
        .filter(|b| !bin_dir.join(b).is_file())
        .map(|b| (*b).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} not found in {} (build them: cargo build -p sam-simulator -p sam-host, \
             or give --bin-dir)",
            missing.join(", "),
            bin_dir.display()
        ));
    }
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .map_err(|e| format!("openssl not found: {e}"))?;
    let version = String::from_utf8_lossy(&openssl.stdout)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Ok((
        (),
        format!(
            "samd, samctl, sam-simulator in {}; {version}",
            bin_dir.display()
        ),
    ))
}

/// Empties `out` if it is a folder of an earlier run (or empty); refuses
/// any other existing folder.
fn prepare_out(out: &Path) -> Result<(), String> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(|e| format!("{}: {e}", out.display()))?
            .next()
            .is_none();
        if !empty && !out.join(MARKER).is_file() {
            return Err(format!(
                "{} exists and was not made by sam-demo; refusing to delete it",
                out.display()
            ));
        }
        std::fs::remove_dir_all(out).map_err(|e| format!("removing {}: {e}", out.display()))?;
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::write(
        out.join(MARKER),
        "made by sam-demo; deleted by its next run\n",
    )
    .map_err(|e| format!("{}: {e}", out.display()))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// PEM with `label` around `der`.
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(chunk));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("answer without `{name}`: {v}"))
}

fn uuid(text: &str) -> Result<Uuid, String> {
    Uuid::parse(text.trim()).map_err(|_| format!("{text:?} is not a UUID"))
}

fn document_text(n: usize) -> String {
    format!(
        "Document {n} of the SAM demo.\n\
         Invoice no. 2026-{n:04}: 1 remote signature, sole control level 2.\n\
         Signed through the Signature Activation Module; the key never left the firmware.\n"
    )
}

impl Demo {
    fn create(args: &Args) -> Result<(Self, String), String> {
        prepare_out(&args.out)?;
        let out = args
            .out
            .canonicalize()
            .map_err(|e| format!("{}: {e}", args.out.display()))?;
        let bin_dir = args
            .bin_dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", args.bin_dir.display()))?;
        let work = out.join("work");
        let pki = DevPki::create(&work.join("pki"), &DevPkiOptions::default())
            .map_err(|e| e.to_string())?;
        let ca = pki.ca().map_err(|e| e.to_string())?;
        std::fs::copy(pki.path(files::CA_CERT), out.join("ca.pem"))
            .map_err(|e| format!("copying ca.pem: {e}"))?;
        let idp = Arc::new(pki.idp().map_err(|e| e.to_string())?);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio: {e}"))?;
        let port = free_port()?;
        let detail = format!(
            "TLS CA, samd server and 3 connector certificates, IdP key, signing CA, 2 \
             administrator keys in work/pki; ca.pem copied to {}",
            out.display()
        );
        Ok((
            Self {
                out,
                work,
                bin_dir,
                pki,
                idp,
                ca,
                port,
                rt,
            },
            detail,
        ))
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        self.work.join("samd.pid")
    }

    fn idp_cert(&self) -> PathBuf {
        self.pki.path(files::IDP_CERT)
    }

    fn admin_keys(&self) -> [PathBuf; 2] {
        files::ADMIN_KEYS.map(|k| self.pki.path(k))
    }

    /// Runs samctl with `connector`'s client certificate.
    fn samctl(&self, connector: Connector, args: &[&dyn AsRef<OsStr>]) -> Result<Out, String> {
        let (cert, key) = match connector {
            Connector::Management => (files::MANAGEMENT_CERT, files::MANAGEMENT_KEY),
            Connector::Privileged => (files::PRIVILEGED_CERT, files::PRIVILEGED_KEY),
        };
        let out = Command::new(self.bin_dir.join("samctl"))
            .args(args.iter().map(|a| a.as_ref()))
            .env_remove("SAMCTL_CONFIG")
            .env_remove("SAMCTL_TIMEOUT")
            .env("SAMCTL_URL", self.url())
            .env("SAMCTL_CA", self.pki.path(files::TLS_CA_CERT))
            .env("SAMCTL_CERT", self.pki.path(cert))
            .env("SAMCTL_KEY", self.pki.path(key))
            .output()
            .map_err(|e| format!("cannot run samctl: {e}"))?;
        Ok(Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// A fresh login token of `user` (identification level substantial),
    /// written to `work/<name>.token`.
    fn token(&self, user: UserId, name: &str) -> Result<PathBuf, String> {
        let der = self
            .idp
            .login_token(
                user,
                IdentificationLevel::Substantial,
                sam_devpki::unix_now(),
                600,
            )
            .map_err(|e| e.to_string())?;
        let path = self.work.join(format!("{name}.token"));
        write(&path, der)?;
        Ok(path)
    }

    fn init_hsm(&self) -> Result<((), String), String> {
        let state = self.work.join("sam-state");
        let out = Command::new(self.bin_dir.join("sam-simulator"))
            .arg("init")
            .arg("--state-dir")
            .arg(&state)
            .output()
            .map_err(|e| format!("cannot run sam-simulator: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`sam-simulator init` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok((
            (),
            "`sam-simulator init`: fresh Master Backup Key in work/sam-state; samd runs this \
             embedded simulator's firmware in-process (transport = \"inprocess\")"
                .into(),
        ))
    }

    fn start_samd(&self) -> Result<((), String), String> {
        let connectors = std::fs::read_to_string(self.pki.path(files::CONNECTORS))
            .map_err(|e| format!("samd-connectors.toml: {e}"))?;
        let w = self.work.display();
        let pki = self.pki.dir().display();
        let config = format!(
            "# samd configuration of the SAM demo (DEVELOPMENT ONLY).\n\
             [server]\n\
             listen = \"127.0.0.1:{port}\"\n\
             tls_cert = \"{pki}/{cert}\"\n\
             tls_key = \"{pki}/{key}\"\n\
             client_ca = \"{pki}/{ca}\"\n\
             shutdown_grace_secs = 5\n\n\
             [store]\n\
             path = \"{w}/samd.db\"\n\n\
             [firmware]\n\
             transport = \"inprocess\"\n\
             state_dir = \"{w}/sam-state\"\n\
             crypto = \"aws-lc\"\n\n\
             [log]\n\
             filter = \"info\"\n\n\
             {connectors}",
            port = self.port,
            cert = files::SERVER_CERT,
            key = files::SERVER_KEY,
            ca = files::TLS_CA_CERT,
        );
        let samd_toml = self.work.join("samd.toml");
        write(&samd_toml, config)?;
        let sums = self.work.join("sam.sha512");
        self.samctl(
            Connector::Management,
            &[
                &"checksum",
                &"--out",
                &sums,
                &self.bin_dir.join("samd"),
                &self.bin_dir.join("samctl"),
            ],
        )?
        .ok("checksum")?;
        let out = self
            .samctl(
                Connector::Management,
                &[
                    &"start",
                    &"--samd-config",
                    &samd_toml,
                    &"--pid-file",
                    &self.pid_file(),
                    &"--log-file",
                    &self.work.join("samd.log"),
                    &"--samd",
                    &self.bin_dir.join("samd"),
                    &"--checksums",
                    &sums,
                ],
            )?
            .ok("start")?;
        let lines: Vec<&str> = out.stdout.lines().collect();
        let want = [
            "samd code integrity check ... ok",
            "samctl code integrity check ... ok",
            "The subsystem \"samd\" has been started ... ok",
        ];
        if lines != want {
            return Err(format!("unexpected lines: {:?}", out.stdout));
        }
        Ok((
            (),
            format!(
                "code integrity ok; {} with mutual TLS, embedded SQLite work/samd.db, log \
                 work/samd.log",
                self.url()
            ),
        ))
    }

    fn fw_init(&self) -> Result<((), String), String> {
        let [a1, a2] = self.admin_keys();
        // One administrator alone is not enough: dual control is the
        // firmware's decision.
        let alone = self.samctl(
            Connector::Management,
            &[
                &"fw",
                &"init",
                &"--admin-key",
                &a1,
                &"--admin-pub",
                &self.admin_pub(&a2)?,
            ],
        )?;
        if alone.code != 1 || !alone.stderr.contains("NotAuthorized") {
            return Err(format!(
                "one administrator's approval was not refused with NotAuthorized: {alone:?}"
            ));
        }
        let out = self
            .samctl(
                Connector::Management,
                &[&"fw", &"init", &"--admin-key", &a1, &"--admin-key", &a2],
            )?
            .ok("fw init")?;
        if out.stdout.trim() != "Initialization of SAM Firmware ... ok" {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        Ok((
            (),
            "one approval alone refused (NotAuthorized); with admin-1 and admin-2: \
             \"Initialization of SAM Firmware ... ok\""
                .into(),
        ))
    }

    /// The public key (PEM SPKI) of an administrator's private key, derived
    /// with `openssl pkey -pubout` (the dev PKI holds only private keys).
    fn admin_pub(&self, key: &Path) -> Result<PathBuf, String> {
        let der = std::fs::read_to_string(key).map_err(|e| format!("{}: {e}", key.display()))?;
        let path = self.work.join("admin-2.pub");
        let out = Command::new("openssl")
            .args(["pkey", "-pubout", "-out"])
            .arg(&path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(der.as_bytes())?;
                }
                child.wait()
            })
            .map_err(|e| format!("openssl pkey: {e}"))?;
        if !out.success() {
            return Err("openssl pkey -pubout failed".into());
        }
        Ok(path)
    }

    fn set_idp_keys(&self) -> Result<((), String), String> {
        let [a1, a2] = self.admin_keys();
        let out = self
            .samctl(
                Connector::Management,
                &[
                    &"fw",
                    &"setidpkeys",
                    &self.idp_cert(),
                    &"--admin-key",
                    &a1,
                    &"--admin-key",
                    &a2,
                ],
            )?
            .ok("fw setidpkeys")?;
        if out.stdout.trim() != "Import of IdP Public Keys ... ok" {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        Ok((
            (),
            "idp.pem is the firmware's trust anchor for identity tokens: \"Import of IdP \
             Public Keys ... ok\""
                .into(),
        ))
    }

    fn enrol(&self) -> Result<(UserId, String), String> {
        let [a1, a2] = self.admin_keys();
        let out = self
            .samctl(
                Connector::Management,
                &[
                    &"fw",
                    &"enrol",
                    &"--idp-cert",
                    &self.idp_cert(),
                    &"--admin-key",
                    &a1,
                    &"--admin-key",
                    &a2,
                ],
            )?
            .ok("fw enrol")?;
        let mut lines = out.stdout.lines();
        if lines.next() != Some("Enrolment of the first Privileged User ... ok") {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        let user = uuid(lines.next().unwrap_or_default())?;
        Ok((user, format!("Privileged User 1 is {user}")))
    }

    fn create_privileged_user(&self, pu1: UserId) -> Result<(UserId, String), String> {
        let token = self.token(pu1, "pu-1")?;
        let answer = self
            .samctl(
                Connector::Privileged,
                &[
                    &"create-privileged-user",
                    &"--token",
                    &token,
                    &"--idp-cert",
                    &self.idp_cert(),
                ],
            )?
            .ok("create-privileged-user")?
            .json()?;
        let role = field(&answer, "role")?;
        if role != "PrivilegedUser" {
            return Err(format!("the new user has role {role}"));
        }
        let user = uuid(field(&answer, "userid")?)?;
        Ok((
            user,
            format!(
                "Privileged User 2 is {user}, created over the peering interface with PU 1's \
                 identity token"
            ),
        ))
    }

    fn create_signer(&self, pu2: UserId) -> Result<(UserId, String), String> {
        let token = self.token(pu2, "pu-2")?;
        let answer = self
            .samctl(
                Connector::Privileged,
                &[
                    &"create-signer",
                    &"--token",
                    &token,
                    &"--idp-cert",
                    &self.idp_cert(),
                ],
            )?
            .ok("create-signer")?
            .json()?;
        let role = field(&answer, "role")?;
        if role != "Signer" {
            return Err(format!("the new user has role {role}"));
        }
        let user = uuid(field(&answer, "userid")?)?;
        Ok((user, format!("Signer {user}, created by PU 2")))
    }

    fn signer_maintenance(&self, pu2: UserId, signer: UserId) -> Result<((), String), String> {
        let token = self.token(pu2, "pu-2")?;
        self.samctl(
            Connector::Privileged,
            &[
                &"signer-maintenance",
                &"--token",
                &token,
                &"--user-id",
                &signer.to_string(),
                &"--idp-cert",
                &self.idp_cert(),
            ],
        )?
        .ok("signer-maintenance")?
        .json()?;
        Ok((
            (),
            "PU 2 re-set the signer's list of IdP certificates; the firmware re-MACed the \
             user record"
                .into(),
        ))
    }

    fn generate_key(
        &self,
        signer: UserId,
        algorithm: &str,
        name: &str,
    ) -> Result<(SignerKey, String), String> {
        let token = self.token(signer, "signer")?;
        let answer = self
            .samctl(
                Connector::Privileged,
                &[
                    &"generate-key",
                    &"--token",
                    &token,
                    &"--user-id",
                    &signer.to_string(),
                    &"--algorithm",
                    &algorithm,
                ],
            )?
            .ok("generate-key")?
            .json()?;
        let key_id = uuid(field(&answer, "keyid")?)?;
        let csr = STANDARD
            .decode(field(&answer, "csr")?)
            .map_err(|e| format!("csr is not base64: {e}"))?;
        write(
            &self.work.join(format!("{name}.csr")),
            pem("CERTIFICATE REQUEST", &csr),
        )?;
        Ok((
            SignerKey {
                key_id,
                csr,
                certificate: Vec::new(),
            },
            format!("KeyID {key_id} (PRE_ACTIVE), CSR in work/{name}.csr"),
        ))
    }

    fn certify(
        &self,
        signer: UserId,
        mut p256: SignerKey,
        mut rsa: SignerKey,
    ) -> Result<((SignerKey, SignerKey), String), String> {
        let ra = SamClient::from_pem_files(
            &self.url(),
            &self.pki.path(files::TLS_CA_CERT),
            &self.pki.path(files::PRIVILEGED_CERT),
            &self.pki.path(files::PRIVILEGED_KEY),
        )
        .map_err(|e| e.to_string())?;
        for (key, name) in [(&mut p256, "ec-p256"), (&mut rsa, "rsa-3072")] {
            key.certificate = self
                .ca
                .issue_from_csr(&key.csr)
                .map_err(|e| format!("the dev CA refused the {name} CSR: {e}"))?;
            let path = self.work.join(format!("{name}.pem"));
            write(&path, pem("CERTIFICATE", &key.certificate))?;
            // POST /objects with the registration authority's connector,
            // through sam-client (`samctl register-certificate --cert` is
            // shadowed by samctl's global --cert flag).
            self.rt
                .block_on(ra.register_certificate(key.key_id, &key.certificate))
                .map_err(|e| format!("POST /objects ({name}): {e}"))?;
        }
        let active = self
            .samctl(
                Connector::Privileged,
                &[&"private-keys", &"--user-id", &signer.to_string()],
            )?
            .ok("private-keys")?
            .json()?;
        let ids: Vec<&str> = active
            .get("objects")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.get("keyid").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        for key in [&p256, &rsa] {
            if !ids.contains(&key.key_id.to_string().as_str()) {
                return Err(format!("key {} is not ACTIVE: {active}", key.key_id));
            }
        }
        Ok((
            (p256, rsa),
            "2 certificates (work/ec-p256.pem, work/rsa-3072.pem) registered; both keys ACTIVE"
                .into(),
        ))
    }

    fn start_idp(&self) -> Result<((DevIdpServer, Ssa), String), String> {
        let server = self
            .rt
            .block_on(DevIdpServer::start(
                self.idp.clone(),
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                DevIdpOptions::default(),
            ))
            .map_err(|e| e.to_string())?;
        let detail = format!(
            "POST {}/id-token/sad re-issues a login token with the SAD key; the SSA \
             connects to samd with its own client certificate",
            server.url()
        );
        let ssa = Ssa {
            idp: IdpClient::dev_plain_http(&server.url()).map_err(|e| e.to_string())?,
            sam: SamClient::from_pem_files(
                &self.url(),
                &self.pki.path(files::TLS_CA_CERT),
                &self.pki.path(files::SSA_CERT),
                &self.pki.path(files::SSA_KEY),
            )
            .map_err(|e| e.to_string())?,
        };
        Ok(((server, ssa), detail))
    }

    /// A SAD for `hashes` with `key`, made the SSA way: a temporary SAD key,
    /// the IdP embeds it in the signer's token, the SAD key signs the SAD.
    fn sad(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key_id: KeyId,
        hashes: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let login = self.token(signer, "signer")?;
        let login = std::fs::read(&login).map_err(|e| e.to_string())?;
        let request = SignRequest {
            key_id,
            hash_algorithm: HashAlgorithm::Sha256,
            hashes,
        };
        let sad_key = SadKey::generate().map_err(|e| e.to_string())?;
        let public = sad_key.public_key_der().map_err(|e| e.to_string())?;
        let token = self
            .rt
            .block_on(ssa.idp.embed_sad_key(&IdpLogin::IdToken(login), &public))
            .map_err(|e| format!("IdP: {e}"))?;
        sad_key
            .sign_sad(&token, &request)
            .map_err(|e| format!("SAD: {e}"))
    }

    /// Writes `doc-N.txt` for `numbers`, signs them all with one SAD, writes
    /// `doc-N.p7s`; the SAD and the audit sequence number.
    fn sign_documents(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
        numbers: &[usize],
    ) -> Result<(Vec<u8>, Option<u64>), String> {
        let mut prepared = Vec::new();
        for n in numbers {
            let text = document_text(*n);
            write(&self.out.join(format!("doc-{n}.txt")), &text)?;
            prepared.push(
                cms::prepare(
                    text.as_bytes(),
                    &key.certificate,
                    &[],
                    HashAlgorithm::Sha256,
                )
                .map_err(|e| format!("CMS: {e}"))?,
            );
        }
        let hashes = prepared
            .iter()
            .map(|p| p.to_be_signed_hash.clone())
            .collect();
        let sad = self.sad(ssa, signer, key.key_id, hashes)?;
        let signed = self
            .rt
            .block_on(ssa.sam.sign_sad(&sad))
            .map_err(|e| format!("POST /signing: {e}"))?;
        if signed.signatures.len() != numbers.len() {
            return Err(format!(
                "{} signatures for {} hashes",
                signed.signatures.len(),
                numbers.len()
            ));
        }
        for ((n, p), signature) in numbers.iter().zip(&prepared).zip(&signed.signatures) {
            let p7s = p
                .finish(signature)
                .map_err(|e| format!("doc-{n}: the SAM's signature: {e}"))?;
            write(&self.out.join(format!("doc-{n}.p7s")), p7s)?;
        }
        Ok((sad, signed.audit_seq))
    }

    fn sign_batch(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
    ) -> Result<(Vec<u8>, String), String> {
        let numbers: Vec<usize> = (1..=BATCH).collect();
        let (sad, seq) = self.sign_documents(ssa, signer, key, &numbers)?;
        let len = sad.len();
        Ok((
            sad,
            format!(
                "1 SAD ({} bytes) carrying {BATCH} hashes → {BATCH} ECDSA P-256 signatures{}; \
                 doc-1..{BATCH}.p7s written",
                len,
                seq.map(|s| format!(" (audit record {s})"))
                    .unwrap_or_default()
            ),
        ))
    }

    fn sign_one(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
        n: usize,
    ) -> Result<((), String), String> {
        self.sign_documents(ssa, signer, key, &[n])?;
        Ok((
            (),
            format!("doc-{n}.p7s: RSA PKCS#1 v1.5 with SHA-256, made by the firmware"),
        ))
    }

    fn replay(&self, ssa: &Ssa, sad: &[u8]) -> Result<((), String), String> {
        match self.rt.block_on(ssa.sam.sign_sad(sad)) {
            Err(ClientError::Sam {
                error: ErrorType::ReplayedSad,
                status: 409,
                ..
            }) => Ok((
                (),
                "the same SAD again: ReplayedSad (HTTP 409), single use enforced in the firmware"
                    .into(),
            )),
            Ok(_) => Err("the replayed SAD was signed again".into()),
            Err(e) => Err(format!("refused, but not as ReplayedSad/409: {e}")),
        }
    }

    fn openssl_verify_all(&self) -> Result<((), String), String> {
        let mut verified = 0;
        for n in 1..=BATCH + 1 {
            openssl_verify(&self.out, n)?;
            verified += 1;
        }
        Ok((
            (),
            format!(
                "{verified}/{verified} \"Verification successful\" ({BATCH} × ECDSA P-256, 1 × \
                 RSA-3072) with -CAfile ca.pem"
            ),
        ))
    }

    fn delete_key(&self, signer: UserId, key: &SignerKey) -> Result<((), String), String> {
        let token = self.token(signer, "signer")?;
        self.samctl(
            Connector::Privileged,
            &[
                &"delete-key",
                &"--token",
                &token,
                &"--key-id",
                &key.key_id.to_string(),
            ],
        )?
        .ok("delete-key")?;
        Ok((
            (),
            format!(
                "Delete_Signer_Key_Pair {}: the firmware authorized it, samd destroyed the \
                 wrapped key and its certificate",
                key.key_id
            ),
        ))
    }

    fn sign_deleted(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
    ) -> Result<((), String), String> {
        let sad = self.sad(ssa, signer, key.key_id, vec![vec![0x5a; 32]])?;
        match self.rt.block_on(ssa.sam.sign_sad(&sad)) {
            Err(ClientError::Sam {
                error: ErrorType::NotFound,
                status,
                ..
            }) => Ok((
                (),
                format!("a valid SAD for the deleted key: NotFound (HTTP {status})"),
            )),
            Ok(_) => Err("the deleted key signed".into()),
            Err(e) => Err(format!("refused, but not as NotFound: {e}")),
        }
    }

    fn integrity_data(&self) -> Result<((), String), String> {
        let out = self
            .samctl(Connector::Management, &[&"integrity", &"data"])?
            .ok("integrity data")?;
        if out.stdout.lines().next() != Some("Data integrity check ... ok") {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        Ok((
            (),
            "\"Data integrity check ... ok\" (0): the firmware verified every user record, \
             every wrapped key and the audit chain"
                .into(),
        ))
    }

    fn export_audit(&self) -> Result<((), String), String> {
        let path = self.out.join("audit.jsonl");
        self.samctl(Connector::Management, &[&"export-audit", &"--out", &path])?
            .ok("export-audit")?;
        let text = std::fs::read_to_string(&path).map_err(|e| format!("audit.jsonl: {e}"))?;
        let records = text
            .lines()
            .map(serde_json::from_str::<Value>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("audit.jsonl is not JSON Lines: {e}"))?;
        let outcome = |r: &Value| {
            format!(
                "{} {}",
                r.get("action").and_then(Value::as_str).unwrap_or("?"),
                r.get("outcome").and_then(Value::as_str).unwrap_or("?")
            )
        };
        let refused: Vec<String> = records
            .iter()
            .filter(|r| r.get("outcome").and_then(Value::as_str) != Some("ok"))
            .map(outcome)
            .collect();
        for want in ["Signing ReplayedSad", "Signing NotFound"] {
            if !refused.iter().any(|r| r == want) {
                return Err(format!("no audit record `{want}`; refusals: {refused:?}"));
            }
        }
        let in_order = records
            .iter()
            .enumerate()
            .all(|(i, r)| r.get("seq").and_then(Value::as_u64) == u64::try_from(i).ok());
        if records.is_empty() || !in_order {
            return Err(format!(
                "{} records, sequence numbers {}",
                records.len(),
                if in_order { "in order" } else { "NOT in order" }
            ));
        }
        Ok((
            (),
            format!(
                "{} hash-chained records (seq 0..{}), refusals audited too: {}; in audit.jsonl",
                records.len(),
                records.len().saturating_sub(1),
                refused.join(", ")
            ),
        ))
    }

    fn stop_samd(&self) -> Result<((), String), String> {
        let out = self
            .samctl(
                Connector::Management,
                &[&"stop", &"--pid-file", &self.pid_file()],
            )?
            .ok("stop")?;
        if out.stdout.trim() != "The subsystem \"samd\" has been stopped ... ok" {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        let log = std::fs::read_to_string(self.work.join("samd.log")).unwrap_or_default();
        if !log.contains("samd stopped") {
            return Err("samd's log does not end with \"samd stopped\"".into());
        }
        Ok((
            (),
            "The subsystem \"samd\" has been stopped ... ok; samd flushed its store and \
             exited"
                .into(),
        ))
    }
}

/// `openssl cms -verify` of `doc-N.p7s` over `doc-N.txt` against `ca.pem`.
fn openssl_verify(out: &Path, n: usize) -> Result<(), String> {
    let result = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(out.join(format!("doc-{n}.p7s")))
        .arg("-content")
        .arg(out.join(format!("doc-{n}.txt")))
        .arg("-CAfile")
        .arg(out.join("ca.pem"))
        .args(["-purpose", "any", "-out"])
        .arg(if cfg!(unix) { "/dev/null" } else { "NUL" })
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    let stderr = String::from_utf8_lossy(&result.stderr);
    if result.status.success() && stderr.contains("Verification successful") {
        Ok(())
    } else {
        Err(format!(
            "doc-{n}.p7s: openssl cms -verify: {}",
            stderr.trim()
        ))
    }
}

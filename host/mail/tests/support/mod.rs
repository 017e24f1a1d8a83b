//! The relay and its third-party neighbours as child processes: sam-mail
//! itself, Python's smtplib as the submitting client and aiosmtpd as the
//! next hop (ci/install-deps.sh installs aiosmtpd).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sam_devpki::{DevIdpServer, files};
use sam_harness::setup::SigningDeployment;
use sam_harness::{Binaries, Connector, Process};
use sam_proto::ids::{KeyAlgorithm, Uuid};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const SAM_MAIL: &str = env!("CARGO_BIN_EXE_sam-mail");

pub fn py(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

pub use sam_harness::wait_port;

/// A running sam-mail.
pub struct Relay {
    pub process: Process,
    pub port: u16,
    pub config: PathBuf,
    pub log: PathBuf,
}

impl Relay {
    /// Writes `config` to `dir/sam-mail.toml` and starts sam-mail on it;
    /// `port` must be the config's smtp.listen port.
    pub fn start(dir: &Path, config: &str, port: u16) -> Self {
        let path = dir.join("sam-mail.toml");
        std::fs::write(&path, config).unwrap();
        Self::start_on(dir, &path, port)
    }

    /// Starts sam-mail on an existing config file.
    pub fn start_on(dir: &Path, config: &Path, port: u16) -> Self {
        let log = dir.join("sam-mail.log");
        // SAM_MAIL_BIN: another build to compare (the throughput test).
        let bin = std::env::var("SAM_MAIL_BIN").unwrap_or_else(|_| SAM_MAIL.to_string());
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(config)
            .env("RUST_LOG", "info,sam_mail=debug");
        let process = Process::spawn("sam-mail", cmd, &log).unwrap();
        assert!(
            wait_port(port, Duration::from_secs(20)),
            "sam-mail did not listen: {}",
            sam_harness::log_tail(&log, 30)
        );
        Self {
            process,
            port,
            config: config.to_path_buf(),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs the smtplib client; its JSON answer.
pub fn smtplib(args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(py("smtp_client.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtp_client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Submits the message file `file` through smtplib; the SMTP code.
pub fn submit(port: u16, from: &str, to: &str, file: &Path, extra: &[&str]) -> (i64, String) {
    let port = port.to_string();
    let file = file.display().to_string();
    let mut args = vec!["send", "127.0.0.1", port.as_str(), from, to, file.as_str()];
    args.extend_from_slice(extra);
    let v = smtplib(&args);
    (
        v["code"].as_i64().unwrap(),
        v["reply"].as_str().unwrap_or("").to_string(),
    )
}

/// aiosmtpd at the next hop.
pub struct NextHop {
    pub process: Process,
    pub port: u16,
    pub out: PathBuf,
}

impl NextHop {
    pub fn start(dir: &Path, port: u16) -> Self {
        Self::start_tls(dir, port, None)
    }

    /// With `tls` (PEM certificate and key): STARTTLS offered and required.
    pub fn start_tls(dir: &Path, port: u16, tls: Option<(&Path, &Path)>) -> Self {
        let out = dir.join("received");
        std::fs::create_dir_all(&out).unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(py("next_hop.py")).arg(port.to_string()).arg(&out);
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let log = dir.join("next-hop.log");
        let process = Process::spawn("aiosmtpd", cmd, &log).unwrap();
        assert!(
            wait_port(port, Duration::from_secs(20)),
            "aiosmtpd did not listen (ci/install-deps.sh installs it): {}",
            sam_harness::log_tail(&log, 30)
        );
        Self { process, port, out }
    }

    /// Every message received so far: (bytes, metadata).
    pub fn received(&self) -> Vec<(Vec<u8>, serde_json::Value)> {
        let mut out = Vec::new();
        let mut names: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        for n in names {
            let base = n.trim_end_matches(".json");
            let meta = std::fs::read(self.out.join(&n)).unwrap();
            let Ok(eml) = std::fs::read(self.out.join(format!("{base}.eml"))) else {
                continue;
            };
            out.push((eml, serde_json::from_slice(&meta).unwrap()));
        }
        out
    }

    /// Waits until `pred` holds for the received messages.
    pub fn wait_for(
        &self,
        within: Duration,
        mut pred: impl FnMut(&[(Vec<u8>, serde_json::Value)]) -> bool,
    ) -> Vec<(Vec<u8>, serde_json::Value)> {
        let end = Instant::now() + within;
        loop {
            let got = self.received();
            if pred(&got) || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The message of `received` whose header block has `needle`.
pub fn find<'a>(received: &'a [(Vec<u8>, serde_json::Value)], needle: &str) -> Option<&'a [u8]> {
    received
        .iter()
        .find(|(m, _)| {
            let end = m
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(m.len());
            String::from_utf8_lossy(&m[..end]).contains(needle)
        })
        .map(|(m, _)| m.as_slice())
}

/// `GET /metrics` of the relay's HTTP port; the value of `name`.
pub fn metric(port: u16, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `openssl smime -verify` of `message` against `ca`: (ok, inner content,
/// the signer's certificate PEM, openssl's output).
pub fn smime_verify(
    dir: &Path,
    name: &str,
    message: &[u8],
    ca: &Path,
) -> (bool, Vec<u8>, String, String) {
    let input = dir.join(format!("{name}.eml"));
    let inner = dir.join(format!("{name}.inner"));
    let signer = dir.join(format!("{name}.signer.pem"));
    std::fs::write(&input, message).unwrap();
    let p = |p: &Path| p.display().to_string();
    let (ok, out) = sam_harness::openssl::run(&[
        "smime",
        "-verify",
        "-binary",
        "-in",
        &p(&input),
        "-CAfile",
        &p(ca),
        "-out",
        &p(&inner),
        "-signer",
        &p(&signer),
    ]);
    (
        ok,
        std::fs::read(&inner).unwrap_or_default(),
        std::fs::read_to_string(&signer).unwrap_or_default(),
        out,
    )
}

/// samd on the simulated HSM with a Signer (the relay's technical user)
/// and its keys, the dev IdP on a loopback port.
#[allow(missing_debug_implementations)]
pub struct World {
    pub d: SigningDeployment,
    pub _idp: DevIdpServer,
    pub idp_url: String,
    pub rt: tokio::runtime::Runtime,
    pub dir: PathBuf,
}

impl World {
    pub fn start(dir: &Path, algorithms: &[KeyAlgorithm]) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let bins = Binaries::at(Path::new(SAM_MAIL).parent().unwrap()).unwrap();
        let signer = Uuid::parse("6c1a1f6e-3c1d-4c8e-9f00-7e2d1c0b0a19").unwrap();
        let d = SigningDeployment::start(&dir.join("deployment"), bins, signer, algorithms, &rt)
            .unwrap();
        let idp = d.serve_idp(&rt).unwrap();
        let idp_url = idp.url();
        Self {
            d,
            _idp: idp,
            idp_url,
            rt,
            dir: dir.to_path_buf(),
        }
    }

    /// A certificate for key `i` issued at `issued` (Unix seconds; valid
    /// a year from then), written as PEM; its path.
    pub fn certificate(&self, i: usize, issued: u64, name: &str) -> PathBuf {
        let ca = self.d.deployment.pki().ca().unwrap();
        let der = ca
            .issue_from_csr_at(self.d.keys[i].csr.as_deref().unwrap(), issued)
            .unwrap();
        let path = self.dir.join(format!("{name}.pem"));
        sam_harness::openssl::write_cert_pem(&path, &der).unwrap();
        path
    }

    pub fn ca(&self) -> PathBuf {
        self.d.deployment.pki().path(files::CA_CERT)
    }

    /// The relay's config: `senders` are (address, key index, cert path).
    pub fn config(
        &self,
        port: u16,
        http: u16,
        next_hop: u16,
        senders: &[(&str, usize, &Path)],
        extra_signing: &str,
        forward: &str,
    ) -> String {
        let ssa = self.d.deployment.identity(Connector::Ssa);
        let token = self.dir.join("relay.token");
        self.d.write_login_token(self.d.signer, &token).unwrap();
        let mut c = format!(
            r#"
[smtp]
listen = "127.0.0.1:{port}"
hostname = "relay.test"
accepted_domains = ["example.net"]

[spool]
dir = "{spool}"

[http]
listen = "127.0.0.1:{http}"

[forward]
next_hop = "127.0.0.1:{next_hop}"
{forward}

[signing]
samd_url = "{url}"
samd_ca = "{ca}"
client_cert = "{cert}"
client_key = "{key}"
idp_url = "{idp}"
login_token = "{token}"
{extra_signing}
"#,
            spool = self.dir.join("spool").display(),
            url = self.d.url,
            ca = ssa.ca.display(),
            cert = ssa.cert.display(),
            key = ssa.key.display(),
            idp = self.idp_url,
            token = token.display(),
        );
        for (address, i, cert) in senders {
            c.push_str(&format!(
                "\n[[signing.sender]]\naddress = \"{address}\"\nkey_id = \"{}\"\ncertificate = \"{}\"\n",
                self.d.keys[*i].key_id,
                cert.display()
            ));
        }
        c
    }

    pub fn message(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.join(format!("{name}.sent.eml"));
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

/// The usual stage of a test: a World with one P-256 key, aiosmtpd at the
/// next hop, and a relay on which alice@example.org signs with that key.
#[allow(missing_debug_implementations)]
pub struct AliceStage {
    pub w: World,
    pub next: NextHop,
    pub relay: Relay,
    pub port: u16,
    pub http: u16,
}

impl AliceStage {
    pub fn start(dir: &Path, signing: &str, forward: &str) -> Self {
        let w = World::start(dir, &[KeyAlgorithm::EcP256]);
        let cert = w.certificate(0, sam_devpki::unix_now() - 60, "alice");
        let [port, http, hop] = [(); 3].map(|()| sam_harness::free_port().unwrap());
        let next = NextHop::start(dir, hop);
        let senders = [("alice@example.org", 0, cert.as_path())];
        let config = w.config(port, http, hop, &senders, signing, forward);
        let relay = Relay::start(dir, &config, port);
        Self {
            w,
            next,
            relay,
            port,
            http,
        }
    }
}

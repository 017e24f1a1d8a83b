//! What the story's steps share: the output folder, the deployment (dev
//! PKI, simulator, samd's configuration) through the harness, the IdP and
//! the CA, samctl, and small file helpers.

use crate::args::Args;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_devpki::{DevCa, DevIdp, DevPki, files};
use sam_harness::{Binaries, Connector, Crypto, Deployment, SamctlOutput, SamdSpec};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::{KeyId, UserId, Uuid};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Written into the output folder so that a later run may delete it.
const MARKER: &str = ".sam-demo";

/// Everything the steps share.
pub struct Demo {
    pub out: PathBuf,
    pub work: PathBuf,
    pub bins: Binaries,
    pub deployment: Deployment,
    /// samd's configuration; `samctl start` runs it.
    pub samd: SamdSpec,
    /// `https://localhost:PORT` of samd's CSC listener.
    pub csc_url: String,
    /// The port of the dev IdP (and TSA), chosen before samd starts: its
    /// `[sak] tsa_url` names it.
    pub idp_port: u16,
    pub idp: Arc<DevIdp>,
    pub ca: DevCa,
    pub rt: tokio::runtime::Runtime,
}

/// Stops samd if the story ends before its last step.
pub struct SamdGuard<'a> {
    pub demo: &'a Demo,
    pub armed: bool,
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
pub struct SignerKey {
    pub key_id: KeyId,
    pub csr: Vec<u8>,
    pub certificate: Vec<u8>,
}

/// Empties `out` if it is a folder of an earlier run (or empty); refuses
/// any other existing folder.
pub fn prepare_out(out: &Path) -> Result<(), String> {
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

pub fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// PEM with `label` around `der`.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(chunk));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

pub fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("answer without `{name}`: {v}"))
}

pub fn uuid(text: &str) -> Result<Uuid, String> {
    Uuid::parse(text.trim()).map_err(|_| format!("{text:?} is not a UUID"))
}

pub fn document_text(n: usize) -> String {
    format!(
        "Document {n} of the SAM demo.\n\
         Invoice no. 2026-{n:04}: 1 remote signature, sole control level 2.\n\
         Signed through the Signature Activation Module; the key never left the firmware.\n"
    )
}

impl Demo {
    pub fn create(args: &Args) -> Result<(Self, String), String> {
        prepare_out(&args.out)?;
        let out = args
            .out
            .canonicalize()
            .map_err(|e| format!("{}: {e}", args.out.display()))?;
        let bins = Binaries::at(&args.bin_dir)?;
        let work = out.join("work");
        let deployment = Deployment::create(&work, bins.clone())?;
        let pki = deployment.pki();
        let ca = pki.ca().map_err(|e| e.to_string())?;
        std::fs::copy(pki.path(files::CA_CERT), out.join("ca.pem"))
            .map_err(|e| format!("copying ca.pem: {e}"))?;
        let idp = Arc::new(pki.idp().map_err(|e| e.to_string())?);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio: {e}"))?;
        let firmware = deployment.simulator().in_process_link(Crypto::AwsLc);
        let mut samd = deployment.samd("samd", firmware)?;
        let csc_port = sam_harness::free_port()?;
        let idp_port = sam_harness::free_port()?;
        let ca_pem = pki.path(files::CA_CERT).display().to_string();
        let sak = format!(
            "\n[sak]\nenabled = true\nchain_certificates = [{0:?}]\ntsa_url = \"http://127.0.0.1:{idp_port}/tsa\"\ntsa_trust_anchors = [{0:?}]\n",
            ca_pem
        );
        samd.config = samd
            .config
            .with_comment("samd configuration of the SAM demo (DEVELOPMENT ONLY).")
            .with_log_filter("info")
            .with_section(&deployment.csc_section(csc_port, &sak));
        let csc_url = format!("https://localhost:{csc_port}");
        let detail = format!(
            "TLS CA, samd server and 3 connector certificates, IdP key, signing CA, 2 \
             administrator keys in work/pki; ca.pem copied to {}",
            out.display()
        );
        Ok((
            Self {
                out,
                work,
                bins,
                deployment,
                samd,
                csc_url,
                idp_port,
                idp,
                ca,
                rt,
            },
            detail,
        ))
    }

    pub fn url(&self) -> String {
        self.samd.url()
    }

    pub fn pid_file(&self) -> PathBuf {
        self.work.join("samd.pid")
    }

    pub fn idp_cert(&self) -> PathBuf {
        self.pki().path(files::IDP_CERT)
    }

    pub fn admin_keys(&self) -> [PathBuf; 2] {
        files::ADMIN_KEYS.map(|k| self.pki().path(k))
    }

    /// Runs samctl with `connector`'s client certificate.
    pub fn samctl(
        &self,
        connector: Connector,
        args: &[&dyn AsRef<OsStr>],
    ) -> Result<SamctlOutput, String> {
        Ok(self.deployment.samctl(&self.url(), connector).run(args)?)
    }

    /// The dev PKI.
    pub fn pki(&self) -> &DevPki {
        self.deployment.pki()
    }

    /// A fresh login token of `user` (identification level substantial)
    /// binding a fresh SAD key, written to `work/<name>.token`, and that
    /// key (PKCS#8) to `work/<name>.key`: samctl signs each peering
    /// request with it.
    pub fn token(&self, user: UserId, name: &str) -> Result<(PathBuf, PathBuf), String> {
        let key = sam_client::SadKey::generate().map_err(|e| e.to_string())?;
        let now = sam_devpki::unix_now();
        let der = self
            .idp
            .issue_token(&sam_devpki::TokenParams {
                user_id: user,
                level: IdentificationLevel::Substantial,
                not_before: now,
                not_after: now + 600,
                sad_public_key: Some(key.public_key_der().map_err(|e| e.to_string())?),
            })
            .map_err(|e| e.to_string())?;
        let path = self.work.join(format!("{name}.token"));
        write(&path, der)?;
        let key_path = self.work.join(format!("{name}.key"));
        let pkcs8 = key.private_key_pkcs8_der().map_err(|e| e.to_string())?;
        write(&key_path, pkcs8.as_slice())?;
        Ok((path, key_path))
    }
}

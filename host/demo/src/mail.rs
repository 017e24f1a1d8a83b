//! The mail chapter: `sam-mail`, the SMTP relay, seals one mail with a key
//! held by the SAM. Its technical user (a Signer created by PU 2) gets a
//! P-256 seal key for the address with `samctl mail csr`, certified by the
//! dev CA and registered with `samctl mail register`, which maps it in
//! sam-mail's senders file; Python's `smtplib` submits a
//! mail to the relay, the relay signs it as S/MIME (RFC 8551
//! `multipart/signed`) with ONE SAD, `aiosmtpd` receives it at the next
//! hop, and `openssl smime -verify` checks it against the dev CA. The two
//! Python programs are sam-mail's own test neighbours
//! (`host/mail/tests/py`; ci/install-deps.sh installs aiosmtpd).

use crate::demo::{Demo, SignerKey, write};
use sam_devpki::files;
use sam_harness::{Connector, Process, wait_port};
use sam_proto::ids::UserId;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The sealed sender.
pub const ADDRESS: &str = "invoices@example.org";

/// The mail as the ERP system submits it.
const MAIL: &[u8] = b"From: Invoicing <invoices@example.org>\r\n\
To: accounts@example.net\r\n\
Subject: Invoice 2026-117\r\n\
Message-ID: <invoice-2026-117@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Invoice no. 2026-117 for ACME & Sons: EUR 1290.00, due in 30 days.\r\n\
Gr\xc3\xbc\xc3\x9fe, the invoicing system\r\n";

/// The relay's technical user and its seal key.
pub struct MailSeal {
    pub user: UserId,
    pub key: SignerKey,
    /// sam-mail's senders file, written by `samctl mail`.
    pub senders: PathBuf,
    /// The certificate chain `samctl mail register` wrote for the address.
    pub certificate: PathBuf,
}

/// The helpers from sam-mail's tests.
fn py(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../mail/tests/py")
        .join(name)
}

/// The Content-* fields and the body of `mail`: the MIME entity the
/// signature must cover, byte for byte.
fn entity(mail: &[u8]) -> Option<Vec<u8>> {
    let split = mail.windows(4).position(|w| w == b"\r\n\r\n")?;
    let (head, body) = (mail.get(..split + 2)?, mail.get(split + 4..)?);
    let mut out = Vec::new();
    for field in head.split_inclusive(|b| *b == b'\n') {
        if field.to_ascii_lowercase().starts_with(b"content-") {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Some(out)
}

/// The header block of `mail` as text.
fn header(mail: &[u8]) -> String {
    let end = mail
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(mail.len());
    String::from_utf8_lossy(mail.get(..end).unwrap_or_default()).into_owned()
}

impl Demo {
    /// The relay's technical user; its seal key made with `samctl mail
    /// csr` (the firmware signs the request for the address), the dev CA's
    /// certificate registered with `samctl mail register`, which writes
    /// sam-mail's senders file.
    pub fn mail_seal_key(&self, pu2: UserId) -> Result<(MailSeal, String), String> {
        let (user, _) = self.create_signer(pu2)?;
        let dir = self.work.join("mail");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let senders = dir.join("senders.toml");
        let (token, token_key) = self.token(user, "relay")?;
        let answer = self
            .samctl(
                Connector::Privileged,
                &[
                    &"mail",
                    &"csr",
                    &"--token",
                    &token,
                    &"--token-key",
                    &token_key,
                    &"--user-id",
                    &user.to_string(),
                    &"--address",
                    &ADDRESS,
                    &"--organization",
                    &"SAM demo",
                    &"--senders",
                    &senders,
                ],
            )?
            .checked("mail csr")?
            .parse_json()?;
        let key_id = crate::demo::uuid(crate::demo::field(&answer, "keyid")?)?;
        let csr_pem = std::fs::read(crate::demo::field(&answer, "csr")?)
            .map_err(|e| format!("the request: {e}"))?;
        let csr = sam_client::der_document(&csr_pem).ok_or("the request is not PEM")?;
        let certificate = self
            .ca
            .issue_from_csr(&csr)
            .map_err(|e| format!("the dev CA refused the request: {e}"))?;
        let issued = dir.join("issued.pem");
        write(&issued, crate::demo::pem("CERTIFICATE", &certificate))?;
        let (token, token_key) = self.token(user, "relay")?;
        let registered = self
            .samctl(
                Connector::Privileged,
                &[
                    &"mail",
                    &"register",
                    &"--token",
                    &token,
                    &"--token-key",
                    &token_key,
                    &"--address",
                    &ADDRESS,
                    &"--certificate",
                    &issued,
                    &"--senders",
                    &senders,
                ],
            )?
            .checked("mail register")?
            .parse_json()?;
        let mapped = crate::demo::field(&registered, "certificate")?.to_owned();
        Ok((
            MailSeal {
                user,
                key: SignerKey {
                    key_id,
                    csr,
                    certificate,
                },
                senders,
                certificate: PathBuf::from(mapped),
            },
            format!(
                "technical user {user} (a Signer, created by PU 2) for the relay; `samctl mail \
                 csr`: P-256 key {key_id}, the firmware signed the PKCS#10 request for \
                 emailAddress={ADDRESS}; the dev CA issued; `samctl mail register`: the key is \
                 ACTIVE and mapped in work/mail/senders.toml"
            ),
        ))
    }

    /// One mail through sam-mail: submitted, sealed, received, verified.
    pub fn seal_mail(&self, seal: &MailSeal) -> Result<((), String), String> {
        let dir = self.work.join("mail");
        std::fs::create_dir_all(dir.join("received")).map_err(|e| format!("{e}"))?;
        let port = |what| sam_harness::free_port().map_err(|e| format!("{what}: {e}"));
        let (smtp, hop) = (port("smtp")?, port("next hop")?);

        let mut next_hop = Command::new("python3");
        next_hop
            .arg(py("next_hop.py"))
            .arg(hop.to_string())
            .arg(dir.join("received"));
        let mut next_hop = Process::spawn("aiosmtpd", next_hop, &dir.join("next-hop.log"))
            .map_err(|e| e.to_string())?;

        let (token, _) = self.token(seal.user, "relay")?;
        let ssa = self.deployment.identity(Connector::Ssa);
        let config = format!(
            "# sam-mail configuration of the SAM demo (DEVELOPMENT ONLY).\n\
             [smtp]\nlisten = \"127.0.0.1:{smtp}\"\nhostname = \"relay.example.org\"\n\
             accepted_domains = [\"example.net\"]\n\n\
             [spool]\ndir = {spool:?}\n\n\
             [forward]\nnext_hop = \"127.0.0.1:{hop}\"\nretry_initial_secs = 1\n\n\
             [signing]\nsamd_url = {url:?}\nsamd_ca = {ca:?}\nclient_cert = {cert:?}\n\
             client_key = {key:?}\nidp_url = \"http://127.0.0.1:{idp}\"\nlogin_token = {token:?}\n\
             batch_window_ms = 100\nsenders_file = {senders:?}\n",
            spool = dir.join("spool").display().to_string(),
            url = self.url(),
            ca = ssa.ca.display().to_string(),
            cert = ssa.cert.display().to_string(),
            key = ssa.key.display().to_string(),
            idp = self.idp_port,
            token = token.display().to_string(),
            senders = seal.senders.display().to_string(),
        );
        let config_file = dir.join("sam-mail.toml");
        write(&config_file, config)?;
        let mut relay = Command::new(self.bins.dir().join("sam-mail"));
        relay
            .arg("--config")
            .arg(&config_file)
            .env("RUST_LOG", "info");
        let relay_log = dir.join("sam-mail.log");
        let mut relay = Process::spawn("sam-mail", relay, &relay_log).map_err(|e| e.to_string())?;
        if !wait_port(hop, Duration::from_secs(20)) {
            return Err(format!(
                "aiosmtpd did not listen (ci/install-deps.sh installs it): {}",
                sam_harness::log_tail(&dir.join("next-hop.log"), 10)
            ));
        }
        if !wait_port(smtp, Duration::from_secs(20)) {
            return Err(format!(
                "sam-mail did not listen: {}",
                sam_harness::log_tail(&relay_log, 10)
            ));
        }

        let sent = dir.join("invoice.eml");
        write(&sent, MAIL)?;
        let submitted = Command::new("python3")
            .arg(py("smtp_client.py"))
            .args(["send", "127.0.0.1", &smtp.to_string(), ADDRESS])
            .arg("accounts@example.net")
            .arg(&sent)
            .arg("--8bit")
            .output()
            .map_err(|e| format!("python3: {e}"))?;
        let answer: serde_json::Value = serde_json::from_slice(&submitted.stdout).map_err(|e| {
            format!(
                "smtplib: {e}: {}",
                String::from_utf8_lossy(&submitted.stderr)
            )
        })?;
        if answer.get("code").and_then(serde_json::Value::as_i64) != Some(250) {
            return Err(format!("smtplib's submission was answered {answer}"));
        }

        let received = self.wait_received(&dir.join("received"), Duration::from_secs(20))?;
        let received = received.ok_or_else(|| {
            format!(
                "nothing arrived at the next hop within 20 s; sam-mail: {}",
                sam_harness::log_tail(&relay_log, 10)
            )
        })?;
        let _ = relay.terminate(Duration::from_secs(10));
        let _ = next_hop.kill();
        write(&self.out.join("invoice-signed.eml"), &received)?;
        let outer = header(&received);
        for field in [
            "Subject: Invoice 2026-117",
            "From: Invoicing <invoices@example.org>",
        ] {
            if !outer.contains(field) {
                return Err(format!("the received mail lost {field:?}: {outer}"));
            }
        }
        if !outer.contains("multipart/signed") {
            return Err(format!(
                "the received mail is not multipart/signed: {outer}"
            ));
        }

        let inner = dir.join("invoice.inner");
        let signer = dir.join("invoice.signer.pem");
        let ca = self.pki().path(files::CA_CERT);
        let (ok, said) = sam_harness::openssl::run(&[
            "smime",
            "-verify",
            "-binary",
            "-in",
            &self.out.join("invoice-signed.eml").display().to_string(),
            "-CAfile",
            &ca.display().to_string(),
            "-out",
            &inner.display().to_string(),
            "-signer",
            &signer.display().to_string(),
        ]);
        let verdict = said
            .lines()
            .map(str::trim)
            .find(|l| l.contains("Verification successful"));
        let verdict = match verdict {
            Some(v) if ok => v.to_owned(),
            _ => return Err(format!("openssl smime -verify: {}", said.trim())),
        };
        let inner = std::fs::read(&inner).map_err(|e| format!("{}: {e}", inner.display()))?;
        if Some(inner) != entity(MAIL) {
            return Err("the signed content differs from the mail that was sent".into());
        }
        let signer_pem = std::fs::read_to_string(&signer).unwrap_or_default();
        let issued = Some(seal.key.certificate.clone());
        let mapped =
            sam_client::der_document(&std::fs::read(&seal.certificate).unwrap_or_default());
        if sam_client::der_document(signer_pem.as_bytes()) != issued || mapped != issued {
            return Err("openssl names another signer certificate than the seal's".into());
        }
        Ok((
            (),
            format!(
                "smtplib → sam-mail (250 once spooled) → ONE SAD → aiosmtpd; openssl smime \
                 -verify: {verdict}, signer = the seal certificate; the signed part equals the \
                 sent MIME entity byte for byte ({} bytes, 8-bit body); invoice-signed.eml written",
                entity(MAIL).map_or(0, |e| e.len())
            ),
        ))
    }

    /// The first message the next hop stored in `dir`, waiting up to `within`.
    fn wait_received(&self, dir: &Path, within: Duration) -> Result<Option<Vec<u8>>, String> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|x| x == "eml") {
                    return std::fs::read(&path)
                        .map(Some)
                        .map_err(|e| format!("{}: {e}", path.display()));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(None)
    }
}

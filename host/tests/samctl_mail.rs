#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `samctl mail csr` and `samctl mail register` against the real samd on
//! the simulated HSM (sam-harness), with openssl as the CA nobody here
//! wrote: it verifies the request the firmware signed (`openssl req
//! -verify`), issues the certificates (`openssl x509 -req`, `openssl ca`
//! for an expired and a not yet valid one) and bundles a chain (`openssl
//! crl2pkcs7`). What sam-mail then signs with is read by sam-mail's own
//! configuration loader. Refused: a certificate for another key, an
//! expired or not yet valid one, one without the address, a file that is
//! no certificate; each leaves the senders file and the key as they were.

use sam_devpki::files;
use sam_harness::setup::SigningDeployment;
use sam_harness::{Binaries, Connector, SamctlOutput, openssl};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::Uuid;
use std::path::{Path, PathBuf};

const SAMCTL: &str = env!("CARGO_BIN_EXE_samctl");

struct Stage {
    d: SigningDeployment,
    dir: PathBuf,
    senders: PathBuf,
    token: PathBuf,
    token_key: PathBuf,
}

impl Stage {
    fn start(dir: &Path, rt: &tokio::runtime::Runtime) -> Self {
        let bins = Binaries::at(Path::new(SAMCTL).parent().unwrap()).unwrap();
        let relay = Uuid::parse("2d0f5b1e-7a8c-4e6b-9c3d-5a4b3c2d1e0f").unwrap();
        let d = SigningDeployment::start(&dir.join("deployment"), bins, relay, &[], rt).unwrap();
        // The relay's technical user's token, binding a SAD key that signs
        // each request.
        let key = sam_client::SadKey::generate().unwrap();
        let now = sam_devpki::unix_now();
        let token = d
            .idp
            .issue_token(&sam_devpki::TokenParams {
                user_id: relay,
                level: IdentificationLevel::Substantial,
                not_before: now - 5,
                not_after: now + 600,
                sad_public_key: Some(key.public_key_der().unwrap()),
            })
            .unwrap();
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(dir.join("relay.token"), token).unwrap();
        std::fs::write(
            dir.join("relay.key"),
            key.private_key_pkcs8_der().unwrap().as_slice(),
        )
        .unwrap();
        Self {
            d,
            dir: dir.to_path_buf(),
            senders: conf.join("senders.toml"),
            token: dir.join("relay.token"),
            token_key: dir.join("relay.key"),
        }
    }

    fn samctl(&self, args: &[&str]) -> SamctlOutput {
        self.d
            .deployment
            .samctl(&self.d.url, Connector::Privileged)
            .run(args)
            .unwrap()
    }

    fn p(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// `samctl mail SUB` for `address` as the relay's technical user,
    /// with `rest`.
    fn mail(&self, sub: &str, address: &str, rest: &[&str]) -> SamctlOutput {
        let (token, key) = (self.token.display(), self.token_key.display());
        let (token, key) = (token.to_string(), key.to_string());
        let senders = self.senders.display().to_string();
        let mut args = vec!["mail", sub, "--token", &token, "--token-key", &key];
        args.extend(["--address", address, "--senders", &senders]);
        args.extend(rest);
        self.samctl(&args)
    }

    fn csr(&self, address: &str) -> (String, String) {
        let relay = self.d.signer.to_string();
        let rest = ["--user-id", &relay, "--organization", "Example AG"];
        let out = self.mail("csr", address, &rest);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        let v = out.parse_json().unwrap();
        (
            v["keyid"].as_str().unwrap().to_string(),
            v["csr"].as_str().unwrap().to_string(),
        )
    }

    fn register(&self, address: &str, certificate: &str) -> SamctlOutput {
        self.mail("register", address, &["--certificate", certificate])
    }

    /// `openssl x509 -req` by the dev CA, with the S/MIME profile and the
    /// address copied into subjectAltName; PEM at `name`.
    fn issue(&self, csr: &str, name: &str, san: bool) -> String {
        let ext = self.p(&format!("{name}.ext"));
        let san = if san {
            "subjectAltName=email:copy\n"
        } else {
            ""
        };
        std::fs::write(
            &ext,
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\n\
                 extendedKeyUsage=emailProtection\n{san}"
            ),
        )
        .unwrap();
        let pki = self.d.deployment.pki();
        let out = self.p(name);
        let (ok, said) = openssl::run(&[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            &pki.path(files::CA_CERT).display().to_string(),
            "-CAkey",
            &pki.path(files::CA_KEY).display().to_string(),
            "-CAcreateserial",
            "-CAserial",
            &self.p("ca.srl"),
            "-days",
            "30",
            "-sha256",
            "-extfile",
            &ext,
            "-out",
            &out,
        ]);
        assert!(ok, "openssl x509 -req: {said}");
        out
    }

    fn senders_text(&self) -> String {
        std::fs::read_to_string(&self.senders).unwrap()
    }

    /// The relay's ACTIVE keys, as the key manager lists them.
    fn active_keys(&self) -> String {
        let out = self.samctl(&["private-keys", "--token", &self.token.display().to_string()]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    }
}

/// openssl with `args`, which must succeed; what it printed.
fn openssl_ok(args: &[&str]) -> String {
    let (ok, said) = openssl::run(args);
    assert!(ok, "openssl {args:?}: {said}");
    said
}

impl Stage {
    /// `mail register` refused with exit `code` and `needle` in its error.
    fn refused(&self, address: &str, certificate: &str, code: i32, needle: &str) {
        let out = self.register(address, certificate);
        assert_eq!(
            out.code, code,
            "{certificate}: {}{}",
            out.stdout, out.stderr
        );
        assert!(out.stderr.contains(needle), "{needle:?}: {}", out.stderr);
    }
}

/// What sam-mail's own loader makes of the senders file: (address,
/// key_id, certificate valid now).
fn as_sam_mail_reads_it(senders: &Path) -> Vec<(String, String, bool)> {
    let config = format!(
        "[spool]\ndir = \"/unused\"\n[forward]\nnext_hop = \"127.0.0.1:25\"\n[signing]\n\
         samd_url = \"https://127.0.0.1:1\"\nidp_url = \"http://127.0.0.1:2\"\nlogin_token = \"t\"\n\
         senders_file = {:?}\n",
        senders.display().to_string()
    );
    let config = sam_mail::config::Config::parse(&config).unwrap();
    config
        .signing
        .sender
        .iter()
        .map(|s| {
            let entry = sam_mail::signer::SenderEntry::load(&s.key_id, &s.certificate).unwrap();
            (
                s.address.clone(),
                s.key_id.clone(),
                entry.valid_at(std::time::SystemTime::now()),
            )
        })
        .collect()
}

#[test]
fn keys_and_csrs_for_addresses_certificates_in_pem_der_and_pkcs7_and_the_refusals() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = Stage::start(tmp.path(), &rt);
    let a = "invoices@example.org";

    // The request the firmware signed: openssl verifies its signature and
    // shows the address in the subject.
    let (k1, csr1) = s.csr(a);
    let said = openssl_ok(&["req", "-verify", "-noout", "-subject", "-in", &csr1]);
    assert!(said.contains("verify OK"), "{said}");
    assert!(
        said.contains("emailAddress = invoices@example.org"),
        "{said}"
    );
    assert!(said.contains("CN = invoices@example.org"), "{said}");
    assert!(said.contains("O = Example AG"), "{said}");
    assert!(s.senders_text().lines().any(|l| l == "[[pending]]"));
    assert!(as_sam_mail_reads_it(&s.senders).is_empty());
    assert!(
        !s.active_keys().contains(&k1),
        "a pending key is not ACTIVE yet"
    );

    // Refused, nothing changed: a certificate for another key (openssl's
    // own key, same address).
    let before = s.senders_text();
    let other_csr = s.p("other.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &s.p("other.key"),
        "-subj",
        "/CN=invoices@example.org/emailAddress=invoices@example.org",
        "-out",
        &other_csr,
    ]);
    let wrong = s.issue(&other_csr, "wrong-key.pem", true);
    s.refused(a, &wrong, 1, "wrong key");
    // Not a certificate: the request itself, and a text file.
    let text = s.p("notes.txt");
    std::fs::write(&text, "not a certificate\n").unwrap();
    for not in [csr1.as_str(), text.as_str()] {
        s.refused(a, not, 2, "not a certificate");
    }
    // Expired: `openssl ca` with dates in the past.
    let db = tmp.path().join("ca-db");
    std::fs::create_dir_all(db.join("new")).unwrap();
    std::fs::write(db.join("index.txt"), "").unwrap();
    std::fs::write(db.join("serial"), "1000\n").unwrap();
    let ca_conf = db.join("ca.cnf");
    std::fs::write(
        &ca_conf,
        format!(
            "[ca]\ndefault_ca = d\n[d]\ndatabase = {0}/index.txt\nnew_certs_dir = {0}/new\n\
             serial = {0}/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n\
             unique_subject = no\n[p]\ncommonName = supplied\nemailAddress = optional\n\
             organizationName = optional\n",
            db.display()
        ),
    )
    .unwrap();
    let pki = s.d.deployment.pki();
    // Expired, and not valid yet: `openssl ca` with dates in the past or
    // the future.
    let ca_conf = ca_conf.display().to_string();
    let ca_cert = pki.path(files::CA_CERT).display().to_string();
    let ca_key = pki.path(files::CA_KEY).display().to_string();
    for (name, start, end, why) in [
        (
            "expired.pem",
            "20240101000000Z",
            "20250101000000Z",
            "expired",
        ),
        (
            "future.pem",
            "20990101000000Z",
            "21000101000000Z",
            "not valid yet",
        ),
    ] {
        let out = s.p(name);
        openssl_ok(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            &ca_conf,
            "-cert",
            &ca_cert,
            "-keyfile",
            &ca_key,
            "-startdate",
            start,
            "-enddate",
            end,
            "-in",
            &csr1,
            "-out",
            &out,
        ]);
        s.refused(a, &out, 1, why);
    }
    // Without the address in its subjectAltName, but with it in the
    // subject (emailAddress): accepted later; a certificate naming
    // another address in neither is refused.
    openssl_ok(&[
        "x509",
        "-req",
        "-in",
        &csr1,
        "-CA",
        &pki.path(files::CA_CERT).display().to_string(),
        "-CAkey",
        &pki.path(files::CA_KEY).display().to_string(),
        "-set_serial",
        "77",
        "-days",
        "30",
        "-subj",
        "/CN=someone else",
        "-out",
        &s.p("no-address.pem"),
    ]);
    s.refused(a, &s.p("no-address.pem"), 1, "neither as subjectAltName");
    assert_eq!(
        s.senders_text(),
        before,
        "a refusal changed the senders file"
    );
    assert!(!s.active_keys().contains(&k1));

    // PEM: registered, the key ACTIVE in samd, the address mapped.
    let cert1 = s.issue(&csr1, "k1.pem", true);
    let out = s.register(a, &cert1);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v = out.parse_json().unwrap();
    assert_eq!(v["keyid"], k1.as_str());
    assert!(v["replaced"].is_null());
    assert!(s.active_keys().contains(&k1));
    assert_eq!(
        as_sam_mail_reads_it(&s.senders),
        [(a.to_string(), k1.clone(), true)]
    );

    // A second address, its certificate in DER (subject emailAddress only).
    let b = "orders@example.org";
    let (k2, csr2) = s.csr(b);
    let pem2 = s.issue(&csr2, "k2.pem", false);
    let der2 = s.p("k2.der");
    openssl_ok(&["x509", "-in", &pem2, "-outform", "DER", "-out", &der2]);
    let out = s.register(b, &der2);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // Changeover for the first address: a new key while the old one
    // signs; its certificate with the CA as a PKCS#7 chain (CA first, as
    // crl2pkcs7 bundles what it is given) switches the address.
    let (k3, csr3) = s.csr(a);
    let pending_reads = as_sam_mail_reads_it(&s.senders);
    assert!(pending_reads.contains(&(a.to_string(), k1.clone(), true)));
    let pem3 = s.issue(&csr3, "k3.pem", true);
    let p7b = s.p("k3.p7b");
    openssl_ok(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        &pki.path(files::CA_CERT).display().to_string(),
        "-certfile",
        &pem3,
        "-out",
        &p7b,
    ]);
    let out = s.register(a, &p7b);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v = out.parse_json().unwrap();
    assert_eq!(v["replaced"], k1.as_str());
    let mut reads = as_sam_mail_reads_it(&s.senders);
    reads.sort();
    assert_eq!(
        reads,
        [
            (a.to_string(), k3.clone(), true),
            (b.to_string(), k2.clone(), true)
        ]
    );
    // The chain was written leaf first: openssl verifies the leaf with the
    // CA that follows it.
    let written = v["certificate"].as_str().unwrap();
    let (ok, said) = openssl::run(&[
        "verify",
        "-purpose",
        "smimesign",
        "-CAfile",
        &pki.path(files::CA_CERT).display().to_string(),
        written,
    ]);
    assert!(ok && said.contains("OK"), "{said}");
    let leaf_of_file = std::fs::read_to_string(written).unwrap();
    let first_pem = std::fs::read_to_string(&pem3).unwrap();
    assert!(
        leaf_of_file.starts_with(first_pem.trim_end()),
        "the leaf is not first"
    );
    // The pending entries are gone.
    assert!(
        !s.senders_text().lines().any(|l| l == "[[pending]]"),
        "{}",
        s.senders_text()
    );
    // A PKCS#7 chain without a pending key: nothing to register.
    s.refused(a, &p7b, 1, "no pending key");
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The `samctl` binary against a real samd: the in-process test daemon
//! (real TLS, real SQLite, the firmware on the test platform) for the
//! management and integrator commands, and the real `samd` binary for
//! start and stop. Console lines and exit codes per seed Table 52.

mod support;

use clap::CommandFactory as _;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use sam_harness::{Identity, Samctl, SamctlOutput, free_port, loopback_url};
use sam_host::ctl::files::pem;
use serde_json::Value;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use support::deploy::{self, Checked as _};
use support::{Pki, World, unb64};

const SAMCTL: &str = env!("CARGO_BIN_EXE_samctl");

/// Runs samctl with `env` added to its environment.
fn run_sync(args: &[OsString], env: &[(&str, OsString)]) -> SamctlOutput {
    env.iter()
        .fold(Samctl::new(Path::new(SAMCTL)), |s, (k, v)| s.with_env(k, v))
        .run(args)
        .unwrap()
}

fn os(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_os_string()).collect()
}

/// The files samctl needs to reach a daemon, and the admin keys.
struct Files {
    dir: PathBuf,
    samctl: Samctl,
}

impl Files {
    fn new(dir: &Path, pki: &Pki, port: u16) -> Self {
        let admin = deploy::admin_identity(dir, pki);
        Self {
            dir: dir.to_path_buf(),
            samctl: Samctl::new(Path::new(SAMCTL)).connected(&loopback_url(port), &admin),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs samctl (on the blocking pool: the daemon shares the runtime).
    async fn run(&self, args: Vec<OsString>) -> SamctlOutput {
        let samctl = self.samctl.clone();
        tokio::task::spawn_blocking(move || samctl.run(args).unwrap())
            .await
            .unwrap()
    }

    /// The same with another client certificate (a peer connector).
    fn as_client(&self, leaf: &support::tls::Leaf, name: &str) -> Self {
        let cert = self.path(&format!("{name}.pem"));
        let key = self.path(&format!("{name}.key"));
        std::fs::write(&cert, &leaf.cert_pem).unwrap();
        std::fs::write(&key, &leaf.key_pem).unwrap();
        let identity = Identity {
            ca: self.path("ca.pem"),
            cert,
            key,
        };
        Self {
            dir: self.dir.clone(),
            samctl: self.samctl.as_identity(&identity),
        }
    }

    /// Writes the administrators' private keys (PKCS#8 PEM) and public
    /// keys (SPKI PEM): `admin1.pem`, `admin1.pub`, ...
    fn admins(&self, admins: &[support::Admin]) {
        for (i, a) in admins.iter().enumerate() {
            let der = a.key.to_pkcs8_der().unwrap();
            std::fs::write(
                self.path(&format!("admin{}.pem", i + 1)),
                pem("PRIVATE KEY", der.as_bytes()),
            )
            .unwrap();
            let public = a.key.verifying_key().to_public_key_der().unwrap();
            std::fs::write(
                self.path(&format!("admin{}.pub", i + 1)),
                pem("PUBLIC KEY", public.as_bytes()),
            )
            .unwrap();
        }
    }
}

fn help_of(path: &[String]) -> String {
    let mut args: Vec<OsString> = path.iter().map(OsString::from).collect();
    args.push("--help".into());
    let out = run_sync(&args, &[]);
    assert_eq!(out.code, 0, "{path:?}: {out:?}");
    out.stdout
}

fn walk(cmd: &clap::Command, path: &mut Vec<String>, seen: &mut usize) {
    let help = help_of(path);
    assert!(help.contains("Example"), "samctl {path:?} --help: {help}");
    *seen += 1;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        path.push(sub.get_name().to_owned());
        walk(sub, path, seen);
        path.pop();
    }
}

#[test]
fn every_subcommand_has_an_example_in_its_help() {
    let cli = sam_host::ctl::cli::Cli::command();
    let mut seen = 0;
    walk(&cli, &mut Vec::new(), &mut seen);
    // samctl, 15 subcommands, 2 of integrity, 7 of fw.
    assert!(seen >= 25, "{seen}");
    // A usage error exits 2.
    assert_eq!(run_sync(&os(&[&"fw", &"bogus"]), &[]).code, 2);
    assert_eq!(
        run_sync(
            &os(&[
                &"delete-key",
                &"--token",
                &SAMCTL,
                &"--token-key",
                &SAMCTL,
                &"--key-id",
                &"nope"
            ]),
            &[]
        )
        .code,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_management_integrator_commands_and_data_integrity() {
    let w = World::new().await;
    let f = Files::new(w.dir.path(), &w.pki, w.daemon.addr.port());
    f.admins(&w.admins);
    let idp = f.path("idp.pem");
    std::fs::write(&idp, pem("CERTIFICATE", &w.idp.cert)).unwrap();

    // The test platform's HSM operator, its secret in a file.
    let operator_key = f.path("operator.key");
    std::fs::write(&operator_key, sam_firmware::testing::TEST_OPERATOR_SECRET).unwrap();
    let operator = "operator";
    assert_eq!(operator.as_bytes(), sam_firmware::testing::TEST_OPERATOR);

    // Without the operator samctl does not even ask.
    let out = f
        .run(os(&[
            &"fw",
            &"init",
            &"--admin-key",
            &f.path("admin1.pem"),
            &"--admin-key",
            &f.path("admin2.pem"),
        ]))
        .await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("--operator"), "{out:?}");

    // One administrator's approval is not enough: the firmware refuses.
    let out = f
        .run(os(&[
            &"fw",
            &"init",
            &"--operator",
            &operator,
            &"--operator-key",
            &operator_key,
            &"--admin-key",
            &f.path("admin1.pem"),
            &"--admin-pub",
            &f.path("admin2.pub"),
        ]))
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "Initialization of SAM Firmware ... failed\n");
    assert!(out.stderr.contains("NotAuthorized"), "{out:?}");

    // Two administrators and the operator.
    let out = f
        .run(os(&[
            &"fw",
            &"init",
            &"--operator",
            &operator,
            &"--operator-key",
            &operator_key,
            &"--admin-key",
            &f.path("admin1.pem"),
            &"--admin-key",
            &f.path("admin2.pem"),
        ]))
        .await
        .ok();
    assert_eq!(out.stdout, "Initialization of SAM Firmware ... ok\n");
    // The attestation key's fingerprint, for checking audit exports later.
    assert!(
        out.stderr.contains("attestation key SHA-256 (SPKI) "),
        "{out:?}"
    );

    let out = f
        .run(os(&[
            &"fw",
            &"setidpkeys",
            &idp,
            &"--admin-key",
            &f.path("admin1.pem"),
            &"--admin-key",
            &f.path("admin2.pem"),
        ]))
        .await
        .ok();
    assert_eq!(out.stdout, "Import of IdP Public Keys ... ok\n");

    // The policy: tokens of at most an hour, the test signing CA.
    let signing_ca = f.path("signing-ca.pem");
    std::fs::write(&signing_ca, pem("CERTIFICATE", &w.signing_ca().cert)).unwrap();
    let out = f
        .run(os(&[
            &"fw",
            &"policy",
            &"--max-token-lifetime",
            &"3600",
            &"--signing-ca",
            &signing_ca,
            &"--admin-key",
            &f.path("admin1.pem"),
            &"--admin-key",
            &f.path("admin2.pem"),
        ]))
        .await
        .ok();
    assert_eq!(out.stdout, "Setting of the SAM Firmware policy ... ok\n");

    // The first Privileged User, approved offline: prepare, two
    // approvals (one to a file, one to stdout), submit.
    let request = f.path("enrol.json");
    f.run(os(&[
        &"fw",
        &"enrol",
        &"--idp-cert",
        &idp,
        &"--prepare",
        &request,
    ]))
    .await
    .ok();
    let a1 = f.path("approval1.json");
    let out = run_sync(
        &os(&[
            &"fw",
            &"approve",
            &"--admin-key",
            &f.path("admin1.pem"),
            &"--request",
            &request,
            &"--out",
            &a1,
        ]),
        &[],
    )
    .ok();
    assert!(
        out.stderr.contains("Enrol the first Privileged User"),
        "{out:?}"
    );
    assert!(out.stderr.contains("CN=SAM Test IdP 1"), "{out:?}");
    let out = run_sync(
        &os(&[
            &"fw",
            &"approve",
            &"--admin-key",
            &f.path("admin2.pem"),
            &"--request",
            &request,
        ]),
        &[],
    )
    .ok();
    let a2 = f.path("approval2.json");
    std::fs::write(&a2, &out.stdout).unwrap();
    let out = f
        .run(os(&[
            &"fw",
            &"submit",
            &"--request",
            &request,
            &"--approval",
            &a1,
            &"--approval",
            &a2,
        ]))
        .await
        .ok();
    let mut lines = out.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("Enrolment of the first Privileged User ... ok")
    );
    let pu = sam_proto::ids::Uuid::parse(lines.next().unwrap()).unwrap();

    let status = f.run(os(&[&"fw", &"status"])).await.ok().json();
    assert_eq!(status["firmware"]["state"], "Operational");
    assert_eq!(status["store"]["users"], 1);

    // Integrator commands with the registration authority's connector.
    let ra = f.as_client(&w.pki.ra, "ra");
    let now = w.now();
    // Login tokens bind a SAD key; samctl signs each request with it.
    let token_key = f.path("token.key");
    std::fs::write(
        &token_key,
        World::token_key().key.to_pkcs8_der().unwrap().as_bytes(),
    )
    .unwrap();
    let spki = World::token_key().spki();
    let pu_token = f.path("pu.token");
    std::fs::write(
        &pu_token,
        support::b64(&w.idp.token(pu, now - 60, now + 600, Some(&spki))),
    )
    .unwrap();
    let signer = ra
        .run(os(&[
            &"create-signer",
            &"--token",
            &pu_token,
            &"--token-key",
            &token_key,
            &"--idp-cert",
            &idp,
        ]))
        .await
        .ok()
        .json();
    assert_eq!(signer["role"], "Signer");
    let signer_id = signer["userid"].as_str().unwrap().to_owned();
    let signer_token = f.path("signer.token");
    std::fs::write(
        &signer_token,
        w.idp.token(
            sam_proto::ids::Uuid::parse(&signer_id).unwrap(),
            now - 60,
            now + 600,
            Some(&spki),
        ),
    )
    .unwrap();
    let key = ra
        .run(os(&[
            &"generate-key",
            &"--token",
            &signer_token,
            &"--token-key",
            &token_key,
            &"--user-id",
            &signer_id,
            &"--algorithm",
            &"ec-p256",
        ]))
        .await
        .ok()
        .json();
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    assert!(!unb64(&key["publickey"]).is_empty());
    // The key manager's queries carry the asking user's token, valid by
    // the host's clock (samd checks bearer tokens with it).
    let pu_bearer = f.path("pu.bearer");
    let host_now = support::host_now();
    std::fs::write(
        &pu_bearer,
        support::b64(&w.idp.token(pu, host_now - 60, host_now + 600, None)),
    )
    .unwrap();
    let keys = ra
        .run(os(&[
            &"private-keys",
            &"--token",
            &pu_bearer,
            &"--state",
            &"PRE_ACTIVE",
            &"--user-id",
            &signer_id,
        ]))
        .await
        .ok()
        .json();
    assert_eq!(keys["objects"][0]["keyid"], key_id.as_str());
    let csrs = ra
        .run(os(&[
            &"objects",
            &"--token",
            &pu_bearer,
            &"--key-id",
            &key_id,
            &"--type",
            &"CERTIFICATE_REQUEST",
        ]))
        .await
        .ok()
        .json();
    assert_eq!(csrs["objects"].as_array().unwrap().len(), 1);
    ra.run(os(&[
        &"signer-maintenance",
        &"--token",
        &pu_token,
        &"--token-key",
        &token_key,
        &"--user-id",
        &signer_id,
        &"--idp-cert",
        &idp,
    ]))
    .await
    .ok();
    // The signer registers its certificate (the firmware checks it); the
    // key becomes ACTIVE and can sign.
    let cert_file = f.path("signer-cert.pem");
    let cert = w.signing_ca().issue_now(&unb64(&key["publickey"]), w.now());
    std::fs::write(&cert_file, pem("CERTIFICATE", &cert)).unwrap();
    let registered = ra
        .run(os(&[
            &"register-certificate",
            &"--token",
            &signer_token,
            &"--token-key",
            &token_key,
            &"--key-id",
            &key_id,
            &"--certificate",
            &cert_file,
        ]))
        .await
        .ok()
        .json();
    assert_eq!(registered["object"]["state"], "ACTIVE");
    // Signing with a SAD (DER file) made after the firmware's boot.
    w.daemon.platform().advance(10);
    let sad = f.path("request.sad");
    let signer_uuid = sam_proto::ids::Uuid::parse(&signer_id).unwrap();
    std::fs::write(
        &sad,
        w.sad(signer_uuid, &key_id, &[support::doc_hash("invoice 1")], 1),
    )
    .unwrap();
    let ssa = f.as_client(&w.pki.ssa, "ssa");
    let signed = ssa.run(os(&[&"sign", &"--sad", &sad])).await.ok().json();
    assert_eq!(signed["sigbin"].as_array().unwrap().len(), 1);
    // The same SAD again: replayed.
    let out = ssa.run(os(&[&"sign", &"--sad", &sad])).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("ReplayedSad"), "{out:?}");
    ra.run(os(&[
        &"delete-key",
        &"--token",
        &signer_token,
        &"--token-key",
        &token_key,
        &"--key-id",
        &key_id,
    ]))
    .await
    .ok();
    // A Privileged User Technical creates a signer with its key.
    let robot = support::pki::Idp::p256(5);
    let robot_cert = f.path("robot.pem");
    std::fs::write(&robot_cert, pem("CERTIFICATE", &robot.cert)).unwrap();
    let robot_key = f.path("robot.key");
    std::fs::write(
        &robot_key,
        robot.p256_key().to_pkcs8_der().unwrap().as_bytes(),
    )
    .unwrap();
    let tech = ra
        .run(os(&[
            &"create-privileged-user",
            &"--token",
            &pu_token,
            &"--token-key",
            &token_key,
            &"--technical-cert",
            &robot_cert,
        ]))
        .await
        .ok()
        .json();
    assert_eq!(tech["role"], "PrivilegedUserTechnical");
    let by_robot = ra
        .run(os(&[
            &"create-signer",
            &"--technical-key",
            &robot_key,
            &"--technical-user",
            &tech["userid"].as_str().unwrap(),
            &"--idp-cert",
            &idp,
        ]))
        .await
        .ok()
        .json();
    assert_eq!(by_robot["role"], "Signer");
    // A signer may not create users: the seed's error type, exit code 1.
    let out = ra
        .run(os(&[
            &"create-signer",
            &"--token",
            &signer_token,
            &"--token-key",
            &token_key,
            &"--idp-cert",
            &idp,
        ]))
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.starts_with("samctl: NotAuthorized: "), "{out:?}");
    // The management connector may not call the peering interface.
    let out = f
        .run(os(&[
            &"delete-key",
            &"--token",
            &signer_token,
            &"--token-key",
            &token_key,
            &"--key-id",
            &key_id,
        ]))
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("Forbidden"), "{out:?}");

    // Data integrity, then the audit export.
    let out = f.run(os(&[&"integrity", &"data", &"-v"])).await.ok();
    assert!(
        out.stdout.starts_with("Data integrity check ... ok\n"),
        "{out:?}"
    );
    let export = f.path("audit.jsonl");
    f.run(os(&[&"export-audit", &"--out", &export])).await.ok();
    let records: Vec<Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l.get("checkpoint").is_none())
        .collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..4],
        [
            "Initialize_SAM_Firmware",
            "Set_IdP_Public_Keys",
            "Set_Policy",
            "Enrol_Privileged_User"
        ]
    );
    assert!(actions.contains(&"Register_Certificate"), "{actions:?}");
    assert_eq!(records.last().unwrap()["outcome"], "NotAuthorized");
    assert!(records.iter().enumerate().all(|(i, r)| r["seq"] == i));

    // Someone edits the Privileged User's row in the database.
    let db = rusqlite::Connection::open(&w.daemon.db).unwrap();
    let mut record: Vec<u8> = db
        .query_row(
            "SELECT record FROM users WHERE user_id = ?1",
            [pu.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    let last = record.len() - 1;
    record[last] ^= 1;
    db.execute(
        "UPDATE users SET record = ?1 WHERE user_id = ?2",
        rusqlite::params![record, pu.to_string()],
    )
    .unwrap();
    drop(db);
    // And removes the last audit record.
    let out = cut_the_tail_and_check(&w, &f).await;
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("Data integrity check ... failed"));
    assert!(out.stdout.contains(&format!("user {pu}:")), "{out:?}");
    assert!(out.stdout.contains("audit chain incomplete"), "{out:?}");
    w.daemon.stop().await;
}

#[test]
fn checksums_and_code_integrity() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("samd");
    std::fs::copy("/bin/true", &copy).unwrap();
    let sums = dir.path().join("sam.sha512");
    run_sync(&os(&[&"checksum", &"--out", &sums, &copy, &SAMCTL]), &[]).ok();
    let text = std::fs::read_to_string(&sums).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(
        text.lines()
            .all(|l| l.len() > 130 && l.as_bytes()[128] == b' ')
    );

    let out = run_sync(&os(&[&"integrity", &"code", &"--checksums", &sums]), &[]).ok();
    assert_eq!(
        out.stdout,
        "samd code integrity check ... ok\nsamctl code integrity check ... ok\n"
    );

    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&copy, &bytes).unwrap();
    let out = run_sync(&os(&[&"integrity", &"code", &"--checksums", &sums]), &[]);
    assert_eq!(out.code, 1, "{out:?}");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("samd code integrity check ... failed."));
    assert!(lines.next().unwrap().contains("SHA-512 differs"));
    assert_eq!(lines.next(), Some("samctl code integrity check ... ok"));

    // A start is abandoned when the code integrity check fails.
    let out = run_sync(
        &os(&[
            &"start",
            &"--checksums",
            &sums,
            &"--pid-file",
            &dir.path().join("samd.pid"),
        ]),
        &[],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .starts_with("samd code integrity check ... failed\n")
    );
    assert!(
        out.stdout
            .ends_with("Starting the subsystem \"samd\" has been abandoned ... failed\n"),
        "{out:?}"
    );
    assert!(!dir.path().join("samd.pid").exists());
}

#[test]
fn start_and_stop_the_real_samd() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new();
    let port = free_port().unwrap();
    let samd_toml = d.join("samd.toml");
    deploy::samd_config(d, &pki, port)
        .write(&samd_toml)
        .unwrap();
    // samctl's own configuration file: no URL, so start probes samd's
    // listen address.
    let files = Files::new(d, &pki, port);
    std::fs::write(
        d.join("samctl.toml"),
        "ca = \"ca.pem\"\ncert = \"samctl.pem\"\nkey = \"samctl.key\"\n\
         samd_config = \"samd.toml\"\npid_file = \"run/samd.pid\"\n",
    )
    .unwrap();
    std::fs::create_dir(d.join("run")).unwrap();
    let config = d.join("samctl.toml");
    let pid_file = d.join("run/samd.pid");

    let out = run_sync(&os(&[&"--config", &config, &"start", &"-v"]), &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .ends_with("The subsystem \"samd\" has been started ... ok\n"),
        "{out:?}"
    );
    // The fresh simulator is not initialized: up, not ready.
    assert!(out.stderr.contains("NotOperational"), "{out:?}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(sam_host::ctl::process::alive(pid));
    // If an assertion below fails, samd must not outlive the test.
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            if sam_host::ctl::process::alive(self.0) {
                let _ = sam_host::ctl::process::signal(self.0, true);
            }
        }
    }
    let _reap = Reap(pid);

    let out = run_sync(&os(&[&"--config", &config, &"start"]), &[]).ok();
    assert_eq!(
        out.stdout,
        "The subsystem \"samd\" is already running ... warning\n"
    );
    // The daemon answers samctl.
    let env = [(
        "SAMCTL_URL",
        OsString::from(format!("https://127.0.0.1:{port}")),
    )];
    let status = run_sync(&os(&[&"--config", &config, &"fw", &"status"]), &env)
        .ok()
        .json();
    assert_eq!(status["firmware"]["state"], "Uninitialized");
    drop(files);

    let out = run_sync(&os(&[&"--config", &config, &"stop"]), &[]).ok();
    assert_eq!(
        out.stdout,
        "The subsystem \"samd\" has been stopped ... ok\n"
    );
    assert!(!pid_file.exists());
    assert!(!sam_host::ctl::process::alive(pid));
    let log = std::fs::read_to_string(d.join("run/samd.log")).unwrap();
    assert!(log.contains("samd stopped"), "{log}");

    let out = run_sync(&os(&[&"--config", &config, &"stop"]), &[]).ok();
    assert_eq!(
        out.stdout,
        "The subsystem \"samd\" is not running ... warning\n"
    );
}

/// Deletes the last stored audit record, then runs `integrity data`,
/// which must fail.
async fn cut_the_tail_and_check(w: &World, f: &Files) -> SamctlOutput {
    let db = rusqlite::Connection::open(&w.daemon.db).unwrap();
    db.execute(
        "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
        [],
    )
    .unwrap();
    drop(db);
    let out = f.run(os(&[&"integrity", &"data"])).await;
    assert_eq!(out.code, 1, "{out:?}");
    out
}

/// The Python verifier next to this file (written from
/// `docs/audit-export.md`, sharing no code with samctl's).
fn python_verify(export: &Path, key: &Path) -> std::process::Output {
    std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit_verify.py"))
        .arg(export)
        .arg(key)
        .output()
        .expect("python3 (with python3-cryptography) runs the second verifier")
}

/// Produces `n` audit records: a container samd refuses (bad base64) and
/// reports, one record each.
async fn refusals(w: &World, by: sam_proto::ids::Uuid, n: usize) {
    let req = w
        .container(
            "Create_New_Signer",
            by,
            serde_json::json!({"userid": by.to_string(), "certificates": ["***"]}),
        )
        .await;
    for _ in 0..n {
        let r = w.ra.post("/peering", &req).await;
        assert_eq!(r.error(), "MessageParseError");
    }
}

/// An export of a trail of `records` records (at least 5), by samctl.
async fn export_of(w: &mut World, f: &Files, records: usize, name: &str) -> Vec<String> {
    let pu = w.enrol().await; // init, IdP keys, policy, enrol: 4 records
    refusals(w, pu, records - 4).await;
    // Periodic checkpoints reach samd with the outbox acknowledgements,
    // which run in the background: wait for the one a long trail has.
    let interval = sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL as usize;
    for _ in 0..200 {
        let page = w.admin.get("/admin/audit?limit=1000").await.ok();
        let stored = page["checkpoints"].as_array().unwrap().len();
        if stored >= records / interval {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let export = f.path(name);
    let out = f
        .run(os(&[&"audit", &"export", &"--out", &export]))
        .await
        .ok();
    assert!(out.stderr.contains("checkpoints written"), "{out:?}");
    std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Issue 14: an export verifies offline, with samctl and with the Python
/// verifier written from the format document, and each kind of tampering
/// fails both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_verifies_offline_and_tampering_fails_both_verifiers() {
    let mut w = World::ready().await;
    let f = Files::new(w.dir.path(), &w.pki, w.daemon.addr.port());
    // Past the first periodic checkpoint (every 128 records).
    let interval = sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL as usize;
    let lines = export_of(&mut w, &f, interval + 12, "audit.jsonl").await;
    // The firmware signed one at record `interval` of its own accord, and
    // samd picked it up with an outbox acknowledgement.
    let periodic = format!("\"next_seq\":{interval},");
    assert!(
        lines.iter().any(|l| l.contains(&periodic)),
        "a periodic checkpoint in {lines:?}"
    );
    let is_cp = |l: &String| l.starts_with("{\"checkpoint\"");
    let checkpoints: Vec<usize> = (0..lines.len()).filter(|i| is_cp(&lines[*i])).collect();
    assert_eq!(lines.len() - checkpoints.len(), interval + 12);
    assert_eq!(*checkpoints.last().unwrap(), lines.len() - 1, "ends at one");

    // The attestation key, from the status, as hex SEC1 and as PEM SPKI.
    let status = w.admin.get("/admin/status").await.ok();
    let point = unb64(&status["firmware"]["attestation_key"]);
    let key_hex = f.path("sam.hex");
    std::fs::write(&key_hex, hex::encode(&point)).unwrap();
    // samctl writes the PEM and prints the SPKI fingerprint.
    let key_pem = f.path("sam.pem");
    let shown = f
        .run(os(&[&"fw", &"status", &"--attestation-key", &key_pem]))
        .await
        .ok()
        .json();
    let spki = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
        .unwrap()
        .to_public_key_der()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&key_pem).unwrap(),
        pem("PUBLIC KEY", spki.as_bytes())
    );
    {
        use sha2::Digest as _;
        assert_eq!(
            shown["firmware"]["attestation_key_sha256"],
            hex::encode(sha2::Sha256::digest(spki.as_bytes()))
        );
        // openssl reads the exported key as a P-256 public key, and the
        // fingerprint is that of the DER it re-encodes.
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&key_pem)
            .output()
            .expect("openssl (ci/install-deps.sh installs it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            shown["firmware"]["attestation_key_sha256"],
            hex::encode(sha2::Sha256::digest(&out.stdout))
        );
    }
    let other_key = f.path("other.pem");
    std::fs::write(
        &other_key,
        pem(
            "PUBLIC KEY",
            w.admins[0]
                .key
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
        ),
    )
    .unwrap();

    let both = |name: &str, lines: &[String], key: &Path, want: i32| {
        let file = f.path(name);
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let rust = run_sync(&os(&[&"audit", &"verify", &file, &"--sam-key", &key]), &[]);
        assert_eq!(rust.code, want, "samctl on {name}: {rust:?}");
        let line = if want == 0 { "ok" } else { "failed" };
        assert!(
            rust.stdout
                .starts_with(&format!("Audit trail verification ... {line}\n")),
            "{rust:?}"
        );
        let py = python_verify(&file, key);
        assert_eq!(
            py.status.code(),
            Some(want),
            "python on {name}: {}{}",
            String::from_utf8_lossy(&py.stdout),
            String::from_utf8_lossy(&py.stderr)
        );
    };
    both("intact.jsonl", &lines, &key_hex, 0);
    both("intact-pem.jsonl", &lines, &key_pem, 0);
    both("wrong-key.jsonl", &lines, &other_key, 1);

    let records: Vec<usize> = (0..lines.len()).filter(|i| !is_cp(&lines[*i])).collect();
    // Cut the last k records (the final checkpoint stays).
    for k in 1..=3 {
        let mut cut = lines.clone();
        for i in records.iter().rev().take(k) {
            cut.remove(*i);
        }
        both(&format!("cut-{k}.jsonl"), &cut, &key_hex, 1);
    }
    // Edit one record: one bit of its time (after seq and prev).
    let mut edited = lines.clone();
    let i = records[records.len() / 2];
    let mut v: Value = serde_json::from_str(&edited[i]).unwrap();
    let mut bytes = unb64(&v["record"]);
    bytes[34] ^= 0x02;
    v["record"] = Value::String(support::b64(&bytes));
    edited[i] = v.to_string();
    both("edited.jsonl", &edited, &key_hex, 1);
    // Swap two records.
    let mut swapped = lines.clone();
    swapped.swap(records[10], records[11]);
    both("swapped.jsonl", &swapped, &key_hex, 1);
    // Drop the last checkpoint; drop every checkpoint.
    let mut dropped = lines.clone();
    dropped.pop();
    both("no-final-checkpoint.jsonl", &dropped, &key_hex, 1);
    let bare: Vec<String> = lines.iter().filter(|l| !is_cp(l)).cloned().collect();
    both("no-checkpoints.jsonl", &bare, &key_hex, 1);

    // Splice: this trail's first records, then another trail of the same
    // SAM key domain (a second daemon, same MBK) from the same seq on,
    // with that trail's own signed end.
    let mut w2 = World::ready().await;
    // The test platforms are deterministic: another first user makes the
    // second trail differ from record 3 on.
    w2.new_user_id();
    let f2 = Files::new(w2.dir.path(), &w2.pki, w2.daemon.addr.port());
    let other = export_of(&mut w2, &f2, 20, "other.jsonl").await;
    let mut spliced: Vec<String> = lines[..records[10]].to_vec();
    let other_records: Vec<usize> = (0..other.len()).filter(|i| !is_cp(&other[*i])).collect();
    spliced.extend_from_slice(&other[other_records[10]..]);
    both("other-intact.jsonl", &other, &key_hex, 0);
    both("spliced.jsonl", &spliced, &key_hex, 1);
    w2.daemon.stop().await;
    w.daemon.stop().await;
}

/// Item 5 of issue 14: `integrity data` resumes the audit chain where the
/// last intact check ended (its last batch again), so it re-walks only
/// that batch and the new records; `--full` walks all of them, and a tail
/// deleted since the last check is still found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrity_data_resumes_the_audit_chain_and_full_walks_it_all() {
    let mut w = World::ready().await;
    let f = Files::new(w.dir.path(), &w.pki, w.daemon.addr.port());
    let batch = sam_proto::command::MAX_AUDIT_BATCH;
    let pu = w.enrol().await;
    refusals(&w, pu, batch + 40 - 4).await;
    let check = |w: &World, full: bool| {
        let path = if full {
            "/admin/integrity?full=true"
        } else {
            "/admin/integrity"
        };
        let admin = w.admin.clone();
        async move { admin.post(path, &serde_json::json!({})).await.ok() }
    };
    let first = check(&w, false).await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(
        first["audit"]["checked"],
        batch + 40,
        "the first walks it all"
    );
    refusals(&w, pu, 5).await;
    let quick = check(&w, false).await;
    assert_eq!(quick["ok"], true, "{quick}");
    assert_eq!(
        quick["audit"]["checked"],
        40 + 5,
        "the last batch again and the new records"
    );
    let full = check(&w, true).await;
    assert_eq!(full["audit"]["checked"], batch + 45, "{full}");
    let out = f.run(os(&[&"integrity", &"data", &"--full"])).await.ok();
    assert!(out.stdout.starts_with("Data integrity check ... ok\n"));
    // A tail deleted after a check is found by the next quick one.
    let out = cut_the_tail_and_check(&w, &f).await;
    assert!(out.stdout.contains("audit chain incomplete"), "{out:?}");
    w.daemon.stop().await;
}

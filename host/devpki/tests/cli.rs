#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The `sam-devpki` command line: create, login-token, issue-cert (for a
//! CSR made by openssl) and idp.

mod support;

use base64::Engine as _;
use sam_client::{IdpClient, IdpLogin, SadKey};
use sam_devpki::{DevPki, files, unix_now};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::openssl_ok;

const BIN: &str = env!("CARGO_BIN_EXE_sam-devpki");
const USER: &str = "9c8b7a69-5847-4a3b-8c2d-1e0f9a8b7c6d";

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn create_login_token_and_issue_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let d = dir.to_str().unwrap();
    let (ok, _, err) = run(&["create", d, "--idp-key", "rsa2048"]);
    assert!(ok, "{err}");
    assert!(err.contains("[DEV-ONLY]"), "{err}");
    // Every log line is marked.
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        assert!(line.contains("[DEV-ONLY]"), "unmarked log line: {line}");
    }
    let (ok, _, _) = run(&["create", d]);
    assert!(!ok, "create overwrote an existing PKI");

    let (ok, token, err) = run(&["login-token", d, "--user", USER, "--level", "high"]);
    assert!(ok, "{err}");
    let der = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .unwrap();
    let idp = DevPki::load(&dir).unwrap().idp().unwrap();
    let parsed = idp.verify_token(&der, unix_now()).unwrap();
    assert_eq!(parsed.data.user_id, USER);

    // A CSR made by openssl, certified, verified by openssl.
    let key = tmp.path().join("signer.key");
    let csr = tmp.path().join("signer.csr");
    let cert = tmp.path().join("signer.pem");
    openssl_ok(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-subj",
        "/CN=Erika Mustermann/O=SAM DEV-ONLY/C=DE",
        "-out",
        csr.to_str().unwrap(),
    ]);
    let (ok, _, err) = run(&[
        "issue-cert",
        d,
        "--csr",
        csr.to_str().unwrap(),
        "--out",
        cert.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let ca = dir.join(files::CA_CERT);
    let out = openssl_ok(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    assert!(out.contains(": OK"), "{out}");
    let subject = openssl_ok(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-subject"]);
    assert!(subject.contains("Erika Mustermann"), "{subject}");

    // A request whose signature was broken is refused.
    let mut bad = std::fs::read(&csr).unwrap();
    let pos = bad.len() - 40;
    bad[pos] = if bad[pos] == b'A' { b'B' } else { b'A' };
    let broken = tmp.path().join("broken.csr");
    std::fs::write(&broken, bad).unwrap();
    let (ok, _, err) = run(&[
        "issue-cert",
        d,
        "--csr",
        broken.to_str().unwrap(),
        "--out",
        tmp.path().join("broken.pem").to_str().unwrap(),
    ]);
    assert!(!ok, "a broken CSR was certified");
    assert!(err.contains("[DEV-ONLY]"), "{err}");
}

#[tokio::test]
async fn idp_subcommand_serves_id_token_sad() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let d = dir.to_str().unwrap();
    assert!(run(&["create", d]).0);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "idp",
            d,
            "--listen",
            &listen,
            "--accept-user-id",
            "substantial",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = IdpClient::dev_plain_http(&format!("http://{listen}")).unwrap();
    let key = SadKey::generate().unwrap();
    let user = sam_proto::ids::Uuid::parse(USER).unwrap();
    let mut result = None;
    for _ in 0..100 {
        match client
            .embed_sad_key(&IdpLogin::DevUserId(user), &key.public_key_der().unwrap())
            .await
        {
            Ok(t) => {
                result = Some(t);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    // The development TSA of the folder answers on the same server.
    let ca = {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_file(dir.join(sam_devpki::files::CA_CERT))
            .unwrap()
            .to_vec()
    };
    let stamped = match sam_docsign::tsp::TsaClient::new(sam_docsign::tsp::TsaConfig {
        url: format!("http://{listen}{}", sam_devpki::TSA_PATH),
        trust_anchors: vec![ca],
        timeout: Duration::from_secs(20),
        policy: None,
    }) {
        Ok(tsa) => tsa
            .stamp(sam_proto::ids::HashAlgorithm::Sha256, b"cli")
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    let _ = child.kill();
    let _ = child.wait();
    stamped.expect("the idp subcommand's /tsa");
    let token = result.expect("the idp subcommand did not answer");
    let idp = DevPki::load(&dir).unwrap().idp().unwrap();
    assert_eq!(
        idp.verify_token(&token, unix_now()).unwrap().data.user_id,
        USER
    );
}

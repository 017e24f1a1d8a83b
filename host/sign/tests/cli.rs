#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Seed §7.6 end to end: `RemoteSignatureApi::login` → `RemoteSigner::sign`,
//! the `sam-sign sign` command writing `.p7s` files that openssl verifies,
//! and `sam-sign sad` printing a SAD that samd's `/signing` accepts. Real
//! samd, samctl and simulated HSM (sam-harness), the development IdP on a
//! loopback port, openssl as the verifier.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_client::wire::signing::SignatureFormat;
use sam_client::{ClientError, IdpClient, RemoteSignatureApi, SamClient};
use sam_devpki::{DevIdpServer, files};
use sam_harness::setup::SigningDeployment;
use sam_harness::{Binaries, Connector, openssl};
use sam_proto::ErrorType;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, Uuid};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const SAM_SIGN: &str = env!("CARGO_BIN_EXE_sam-sign");

/// samd, samctl and sam-simulator beside sam-sign in the target folder
/// (`cargo test --workspace` builds them; `cargo build -p sam-host -p
/// sam-simulator` otherwise). Missing ones fail the test, named by
/// [`SigningDeployment::start`].
fn bins() -> Binaries {
    Binaries::at(Path::new(SAM_SIGN).parent().unwrap()).unwrap()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    sam_client::verify::digest(HashAlgorithm::Sha256, data)
}

/// Runs sam-sign with `args`.
fn sam_sign(args: &[&str]) -> Output {
    Command::new(SAM_SIGN).args(args).output().unwrap()
}

struct Setup {
    d: SigningDeployment,
    idp: DevIdpServer,
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
}

impl Setup {
    fn start(dir: &Path) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let signer = Uuid::parse("5b1a1f6e-3c1d-4c8e-9f00-7e2d1c0b0a01").unwrap();
        let d = SigningDeployment::start(
            &dir.join("deployment"),
            bins(),
            signer,
            &[KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048],
            &rt,
        )
        .unwrap();
        let idp = d.serve_idp(&rt).unwrap();
        Self {
            d,
            idp,
            rt,
            dir: dir.to_path_buf(),
        }
    }

    fn pki(&self, name: &str) -> String {
        self.d.deployment.pki().path(name).display().to_string()
    }

    fn ssa(&self) -> SamClient {
        self.d
            .deployment
            .identity(Connector::Ssa)
            .client(&self.d.url)
            .unwrap()
    }

    /// A login token of the Signer, written to a file (base64 text).
    fn token_file(&self, name: &str) -> String {
        let path = self.dir.join(name);
        self.d.write_login_token(self.d.signer, &path).unwrap();
        path.display().to_string()
    }

    /// openssl's verdict on `p7s` over `document` against the dev CA.
    fn verify(&self, name: &str, document: &[u8], p7s: &[u8]) -> (bool, String) {
        let doc = self.dir.join(format!("{name}.doc"));
        let sig = self.dir.join(format!("{name}.p7s"));
        std::fs::write(&doc, document).unwrap();
        std::fs::write(&sig, p7s).unwrap();
        openssl::cms_verify(&sig, &doc, Path::new(&self.pki(files::CA_CERT)), None)
    }
}

#[test]
fn remote_signature_api_and_sam_sign_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup::start(dir.path());
    let key_id = |i: usize| s.d.keys[i].key_id;

    // 1. RemoteSigner: login, then two signings (the second needs a new
    //    SAD key, bound again by the IdP), P-256 and RSA.
    let api = RemoteSignatureApi::new(
        Arc::new(s.ssa()),
        Arc::new(IdpClient::dev_plain_http(&s.idp.url()).unwrap()),
    );
    let mut signer =
        s.rt.block_on(api.login(s.d.login_token(s.d.signer).unwrap()))
            .unwrap();
    let docs: [&[u8]; 2] = [b"first document", b"second document"];
    for (k, name) in [(0, "p256"), (1, "rsa")] {
        let hashes = docs.iter().map(|d| sha256(d)).collect();
        let signed =
            s.rt.block_on(signer.sign(HashAlgorithm::Sha256, key_id(k), hashes))
                .unwrap();
        assert_eq!(signed.keys().collect::<Vec<_>>(), ["0", "1"]);
        for (i, doc) in docs.iter().enumerate() {
            let (ok, out) = s.verify(&format!("{name}-{i}"), doc, &signed[&i.to_string()]);
            assert!(ok, "{name} #{i}: {out}");
        }
        let (ok, _) = s.verify(&format!("{name}-swapped"), docs[1], &signed["0"]);
        assert!(!ok, "{name}: a signature verifies over the other document");
    }
    // A hash of the wrong length: refused before anything is sent.
    let err =
        s.rt.block_on(signer.sign(HashAlgorithm::Sha256, key_id(0), vec![vec![1; 20]]))
            .unwrap_err();
    assert!(matches!(err, ClientError::InvalidInput(_)), "{err:?}");

    // 2. sam-sign sign: one .p7s per file, one line per file.
    let files: Vec<PathBuf> = ["contract.txt", "annex.bin"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    std::fs::write(&files[0], b"The contract, signed through the SAM.\n").unwrap();
    // Larger than the 64 KiB read buffer.
    std::fs::write(&files[1], vec![0xA5u8; 200_000]).unwrap();
    let token = s.token_file("signer.token");
    let key = key_id(0).to_string();
    let (ca, cert, tls_key) = (
        s.pki(files::TLS_CA_CERT),
        s.pki(files::SSA_CERT),
        s.pki(files::SSA_KEY),
    );
    let idp_url = s.idp.url();
    let file_args: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let mut args = vec![
        "sign", "--samd", &s.d.url, "--tls-ca", &ca, "--cert", &cert, "--key", &tls_key, "--idp",
        &idp_url, "--token", &token, "--key-id", &key,
    ];
    args.extend(file_args.iter().map(String::as_str));
    let out = sam_sign(&args);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for f in &files {
        let p7s = PathBuf::from(format!("{}.p7s", f.display()));
        assert!(stdout.contains(&p7s.display().to_string()), "{stdout}");
        let (ok, text) = openssl::cms_verify(&p7s, f, Path::new(&s.pki(files::CA_CERT)), None);
        assert!(ok, "{}: {text}", p7s.display());
    }
    // A changed file no longer verifies.
    std::fs::write(&files[0], b"The contract, changed afterwards.\n").unwrap();
    let p7s = PathBuf::from(format!("{}.p7s", files[0].display()));
    let (ok, _) = openssl::cms_verify(&p7s, &files[0], Path::new(&s.pki(files::CA_CERT)), None);
    assert!(!ok);

    // 3. sam-sign sad: exactly one line of base64 on stdout, a SAD that
    //    samd's /signing signs, once.
    let doc = b"hashed by somebody else";
    let hash = STANDARD.encode(sha256(doc));
    let sad_cmd = |key: &str, hash: &str| {
        sam_sign(&[
            "sad",
            "--idp",
            &idp_url,
            "--token",
            &token,
            "--key-id",
            key,
            "--hash-algorithm",
            "sha256",
            "--hash",
            hash,
        ])
    };
    let out = sad_cmd(&key, &hash);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    assert!(stdout.ends_with('\n'));
    let sad = STANDARD.decode(stdout.trim_end()).unwrap();
    let ssa = s.ssa();
    let signed =
        s.rt.block_on(ssa.signing(&sad, SignatureFormat::Cms))
            .unwrap();
    let (ok, text) = s.verify("sad", doc, &signed.signatures[0]);
    assert!(ok, "{text}");
    let again =
        s.rt.block_on(ssa.signing(&sad, SignatureFormat::Cms))
            .unwrap_err();
    assert!(
        matches!(
            &again,
            ClientError::Sam {
                error: ErrorType::ReplayedSad,
                ..
            }
        ),
        "{again:?}"
    );

    // The real samd's key manager (its `[tokens]` trusts the dev IdP)
    // lists the Signer's two keys for the Signer's token and for the
    // Privileged User who created the Signer, none for anybody else.
    let signer_token = s.d.login_token(s.d.signer).unwrap();
    let mut listed: Vec<String> =
        s.rt.block_on(ssa.private_keys(&signer_token, ""))
            .unwrap()
            .iter()
            .map(|o| o["keyid"].as_str().unwrap().to_owned())
            .collect();
    listed.sort();
    let mut expected: Vec<String> = s.d.keys.iter().map(|k| k.key_id.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    let pu_token = s.d.login_token(s.d.privileged_user).unwrap();
    let pu_view = s.rt.block_on(ssa.private_keys(&pu_token, "")).unwrap();
    assert_eq!(pu_view.len(), 2);
    let stranger = Uuid::parse("0c0c0c0c-0c0c-4c0c-8c0c-0c0c0c0c0c0c").unwrap();
    let none =
        s.rt.block_on(ssa.private_keys(&s.d.login_token(stranger).unwrap(), ""))
            .unwrap();
    assert!(none.is_empty());

    // Errors: stderr and exit 1, nothing on stdout.
    let out = sad_cmd(&key, "not base64!");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hash"));
    let out = sad_cmd("nope", &hash);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    let Setup { idp, rt, .. } = s;
    rt.block_on(idp.stop());
}

#[test]
fn help_teaches_both_commands() {
    let out = sam_sign(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Examples:",
        "sam-sign sign",
        "sam-sign sad",
        "openssl cms -verify",
        "§7.6",
    ] {
        assert!(help.contains(needle), "{needle:?} missing:\n{help}");
    }
    let out = sam_sign(&["sad", "--help"]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("--hash-algorithm")
    );
    assert_eq!(sam_sign(&[]).status.code(), Some(2));
}

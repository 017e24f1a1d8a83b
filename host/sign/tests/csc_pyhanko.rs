#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! A CSC client nobody here wrote: pyHanko's `CSCSigner` (PyPI
//! `pyhanko==0.38.0`, installed by `ci/install-deps.sh`) signs a PDF
//! through samd's `/csc/v1` listener, and pyHanko's own validator accepts
//! the signature against the development CA. The only part of ours in the
//! client's path is the signer's environment: `sam-sign sad` makes the
//! seed SAD over the hash pyHanko asks to sign (`tests/pyhanko_csc.py`).
//!
//! Then the same PDF's signature is shown to be bound: a byte of the
//! signed range changed, pyHanko's validator no longer calls it intact.

use sam_devpki::files;
use sam_harness::Binaries;
use sam_harness::setup::SigningDeployment;
use sam_proto::ids::{KeyAlgorithm, Uuid};
use std::path::Path;
use std::process::Command;

const SAM_SIGN: &str = env!("CARGO_BIN_EXE_sam-sign");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyhanko_csc.py");

fn pyhanko_present() -> Result<(), String> {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import pyhanko.sign.signers.csc_signer, aiohttp, pyhanko_certvalidator",
        ])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&probe.stderr).into_owned())
    }
}

#[test]
fn pyhanko_signs_a_pdf_through_csc_v1_and_validates_it() {
    if let Err(why) = pyhanko_present() {
        panic!(
            "pyHanko is needed (run ci/install-deps.sh, or python3 -m pip install \
             pyhanko==0.38.0 aiohttp): {why}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bins = Binaries::at(Path::new(SAM_SIGN).parent().unwrap()).unwrap();
    let signer = Uuid::parse("3d6f0c2a-8b1e-4f5a-9c7d-2e4b6a8c0f13").unwrap();
    let d = SigningDeployment::start_with_csc(
        &dir.path().join("deployment"),
        bins,
        signer,
        &[KeyAlgorithm::EcP256],
        &rt,
    )
    .unwrap();
    let idp = d.serve_idp(&rt).unwrap();
    let token = dir.path().join("signer.token");
    d.write_login_token(d.signer, &token).unwrap();
    let pdf = dir.path().join("signed.pdf");
    let pki = |name: &str| d.deployment.pki().path(name);
    let run = Command::new("python3")
        .arg(SCRIPT)
        .arg("--csc")
        .arg(d.csc_url.as_deref().unwrap())
        .arg("--tls-ca")
        .arg(pki(files::TLS_CA_CERT))
        .arg("--bearer")
        .arg(&token)
        .arg("--credential")
        .arg(d.keys[0].key_id.to_string())
        .arg("--sam-sign")
        .arg(SAM_SIGN)
        .arg("--idp")
        .arg(idp.url())
        .arg("--token")
        .arg(&token)
        .arg("--trust-root")
        .arg(pki(files::CA_CERT))
        .arg("--out")
        .arg(&pdf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    assert!(run.status.success(), "pyHanko: {stdout}\n{stderr}");
    assert!(
        stdout.contains("SCAL2 hash pinning=True"),
        "credentials/info did not say SCAL 2: {stdout}"
    );
    assert!(
        stdout.contains("intact=True valid=True trusted=True"),
        "{stdout}"
    );

    // The signature covers the document: one byte of the original
    // content changed, pyHanko's validator (run alone) finds it.
    let mut bytes = std::fs::read(&pdf).unwrap();
    let at = bytes
        .windows(b"SAM's CSC API".len())
        .position(|w| w == b"SAM's CSC API")
        .expect("the page text is in the signed PDF");
    bytes[at] ^= 0x01;
    let tampered = dir.path().join("tampered.pdf");
    std::fs::write(&tampered, &bytes).unwrap();
    let check = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE)
        .arg(&tampered)
        .arg(pki(files::CA_CERT))
        .output()
        .unwrap();
    let verdict = String::from_utf8_lossy(&check.stdout);
    assert!(
        verdict.contains("intact=False"),
        "a changed byte went unnoticed: {verdict} {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// pyHanko's validator on its own: `intact=<bool>` of the first
/// signature of `argv[1]` against the trust root `argv[2]`.
const VALIDATE: &str = r#"
import asyncio, io, sys
from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
data = open(sys.argv[1], 'rb').read()
roots = [x509.Certificate.load(d) for _, _, d in pem.unarmor(open(sys.argv[2], 'rb').read(), multiple=True)]
sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
st = asyncio.run(async_validate_pdf_signature(sig, ValidationContext(trust_roots=roots, allow_fetching=False)))
print(f"intact={st.intact} valid={st.valid}")
"#;

//! The external verifiers of the document tests, each run as a
//! command: `openssl cms`, `pdfsig`, `xmlsec1`. Their verdicts are what
//! the tests assert, so that no container is judged by code written
//! here.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs `cmd`: whether it succeeded, and its stdout and stderr.
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (is the tool installed? ci/install-deps.sh installs it)")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `openssl cms -verify` of a detached CMS over `content`.
pub fn cades(dir: &Path, ca: &Path, cms: &[u8], content: &[u8]) -> (bool, String) {
    let (p7s, data) = (dir.join("doc.p7s"), dir.join("doc.bin"));
    std::fs::write(&p7s, cms).unwrap();
    std::fs::write(&data, content).unwrap();
    run(Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
            "-in",
        ])
        .arg(&p7s)
        .arg("-content")
        .arg(&data)
        .arg("-CAfile")
        .arg(ca))
}

/// The attributes `openssl cms -cmsout -print` shows.
pub fn cms_print(dir: &Path, cms: &[u8]) -> String {
    let p7s = dir.join("print.p7s");
    std::fs::write(&p7s, cms).unwrap();
    run(Command::new("openssl")
        .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
        .arg(&p7s))
    .1
}

/// `pdfsig` (poppler) on a signed PDF.
pub fn pades(dir: &Path, pdf: &[u8]) -> (bool, String) {
    let file = dir.join("signed.pdf");
    std::fs::write(&file, pdf).unwrap();
    run(Command::new("pdfsig").arg(&file))
}

/// `xmlsec1 --verify` of an enveloped XAdES signature.
pub fn xades(dir: &Path, ca: &Path, xml: &[u8]) -> (bool, String) {
    let file = dir.join("signed.xml");
    std::fs::write(&file, xml).unwrap();
    run(Command::new("xmlsec1")
        .args([
            "--verify",
            "--id-attr:Id",
            "SignedProperties",
            "--trusted-pem",
        ])
        .arg(ca)
        .arg(&file))
}

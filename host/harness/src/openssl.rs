//! openssl as the independent verifier of the CMS signatures that samd,
//! `sam-sign` and the client library make: tests check with a tool that
//! shares no code with ours.

use std::path::Path;
use std::process::Command;

/// Runs `openssl` with `args`; whether it exited 0, and its standard
/// output and error together. An openssl that cannot be started is
/// `(false, why)`: a test that needs it fails with that reason.
pub fn run(args: &[&str]) -> (bool, String) {
    match Command::new("openssl").args(args).output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (
            false,
            format!("cannot run openssl ({e}); ci/install-deps.sh installs it"),
        ),
    }
}

/// `openssl cms -verify -binary -inform DER -in p7s -content document
/// -CAfile ca_pem`, at the Unix time `at` if given (`-attime`, for
/// certificates issued on a simulated clock). Whether it verified, and
/// openssl's output.
pub fn cms_verify(p7s: &Path, document: &Path, ca_pem: &Path, at: Option<i64>) -> (bool, String) {
    let paths = [p7s, document, ca_pem].map(|p| p.display().to_string());
    let [p7s, document, ca_pem] = &paths;
    let at = at.map(|t| t.to_string());
    let mut args = vec![
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        p7s,
        "-content",
        document,
        "-CAfile",
        ca_pem,
        "-out",
        "/dev/null",
    ];
    if let Some(at) = &at {
        args.extend(["-attime", at.as_str()]);
    }
    run(&args)
}

/// Writes the DER certificate `der` as a PEM file.
pub fn write_cert_pem(path: &Path, der: &[u8]) -> std::io::Result<()> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    std::fs::write(path, pem)
}

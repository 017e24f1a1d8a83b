#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Issue 4.6: the demo flow in CI. Runs the real `sam-demo` binary against
//! the real `samd`, `samctl` and `sam-simulator` of this build, asserts
//! every step line, and verifies every CMS again with openssl, independently
//! of the demo.

use std::path::{Path, PathBuf};
use std::process::Command;

const DEMO: &str = env!("CARGO_BIN_EXE_sam-demo");

/// The steps, in order, as the demo prints them (title up to the colon).
const STEPS: &[&str] = &[
    "Binaries and tools",
    "Development PKI",
    "Simulated HSM",
    "samd started (samctl start)",
    "Firmware initialization by two administrators",
    "IdP key import (two administrators)",
    "First Privileged User enrolled",
    "Privileged User created by the first one",
    "Signer created",
    "Signer maintenance",
    "P-256 key generated in the firmware, CSR signed by it",
    "RSA-3072 key generated in the firmware, CSR signed by it",
    "Certificates issued by the dev CA and registered",
    "Development IdP started",
    "5 documents signed with ONE SAD (batch)",
    "Replaying that SAD is refused",
    "A document signed with the RSA-3072 key",
    "Every CMS verified with openssl cms -verify against the dev CA",
    "A document signed through the CSC API v2 (credentials/authorize + signatures/signHash)",
    "A PDF, an XML invoice and a text file signed with ONE SAD through the SAK (PAdES-B-T, XAdES-B-T, CAdES-B-T)",
    "Mail relay: a technical user and its seal key for invoices@example.org",
    "A mail submitted over SMTP, sealed by sam-mail (S/MIME), received by aiosmtpd, verified by openssl smime -verify",
    "RSA-3072 key deleted",
    "Signing with the deleted key is refused",
    "samctl integrity data",
    "Audit log exported",
    "Clean stop (samctl stop)",
];

/// samd, samctl and sam-simulator sit next to sam-demo in the target
/// folder (`cargo test --workspace` builds them: they are bins of
/// workspace packages with integration tests). Missing binaries fail the
/// test: the demo is the README's main command and must be tested.
fn bin_dir() -> PathBuf {
    let dir = Path::new(DEMO).parent().unwrap().to_path_buf();
    let missing: Vec<&str> = ["samd", "samctl", "sam-simulator", "sam-mail"]
        .into_iter()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "{missing:?} not found in {}: build them first (cargo build -p sam-simulator -p sam-host -p sam-mail, \
         or run cargo test --workspace)",
        dir.display()
    );
    dir
}

/// `openssl smime -verify` of `mail` against `ca`: whether it verified,
/// and what openssl said.
fn smime_verify(mail: &Path, ca: &Path) -> (bool, String) {
    let v = Command::new("openssl")
        .args(["smime", "-verify", "-binary", "-in"])
        .arg(mail)
        .arg("-CAfile")
        .arg(ca)
        .args(["-out", "/dev/null"])
        .output()
        .unwrap();
    (
        v.status.success(),
        String::from_utf8_lossy(&v.stderr).into_owned(),
    )
}

#[test]
fn the_whole_signing_story() {
    let bins = bin_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let out = Command::new(DEMO)
        .arg("--out")
        .arg(&out_dir)
        .arg("--bin-dir")
        .arg(&bins)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    // Every step line, in order, with ✓.
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), STEPS.len(), "{stdout}");
    for (i, (line, title)) in lines.iter().zip(STEPS).enumerate() {
        let head = format!("[{:>2}/{}] ✓ {title}: ", i + 1, STEPS.len());
        assert!(
            line.starts_with(&head),
            "step {}: {line:?}\n{stdout}",
            i + 1
        );
    }
    assert!(!stdout.contains('✗'), "{stdout}");
    assert!(
        stdout.contains(&format!("All {} steps behaved", STEPS.len())),
        "{stdout}"
    );
    // What some steps must have seen.
    for needle in [
        "one approval alone refused (NotAuthorized)",
        "\"Initialization of SAM Firmware ... ok\"",
        "\"Import of IdP Public Keys ... ok\"",
        "1 SAD (",
        "carrying 5 hashes → 5 ECDSA P-256 signatures",
        "ReplayedSad (HTTP 409)",
        "6/6 \"Verification successful\"",
        "NotFound (HTTP 404)",
        "openssl cms -verify: Verification successful; the handle again: HTTP 4",
        "\"Data integrity check ... ok\" (0)",
        "Signing ReplayedSad, Signing NotFound",
        "openssl smime -verify: Verification successful, signer = the seal certificate",
        "`samctl mail register`: the key is ACTIVE and mapped in work/mail/senders.toml",
        "The subsystem \"samd\" has been stopped ... ok; samd flushed",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?}:\n{stdout}");
    }

    // The results, checked independently of the demo.
    let ca = out_dir.join("ca.pem");
    assert!(ca.is_file());
    for n in 1..=7 {
        let doc = out_dir.join(format!("doc-{n}.txt"));
        let p7s = out_dir.join(format!("doc-{n}.p7s"));
        let v = Command::new("openssl")
            .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
            .arg(&p7s)
            .arg("-content")
            .arg(&doc)
            .arg("-CAfile")
            .arg(&ca)
            .args(["-purpose", "any"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&v.stderr);
        assert!(v.status.success(), "doc-{n}: {err}");
        assert!(err.contains("Verification successful"), "doc-{n}: {err}");
        // The detached content is what openssl prints back.
        assert_eq!(v.stdout, std::fs::read(&doc).unwrap(), "doc-{n}");
    }
    // A changed document does not verify.
    let doc1 = out_dir.join("doc-1.txt");
    let tampered = tmp.path().join("tampered.txt");
    let mut text = std::fs::read(&doc1).unwrap();
    text[0] ^= 1;
    std::fs::write(&tampered, text).unwrap();
    let v = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(out_dir.join("doc-1.p7s"))
        .arg("-content")
        .arg(&tampered)
        .arg("-CAfile")
        .arg(&ca)
        .args(["-purpose", "any", "-out", "/dev/null"])
        .output()
        .unwrap();
    assert!(!v.status.success(), "a tampered document verified");

    // The mail sam-mail sealed: openssl again, and a changed body fails.
    let mail = out_dir.join("invoice-signed.eml");
    let (ok, said) = smime_verify(&mail, &ca);
    assert!(ok && said.contains("Verification successful"), "{said}");
    let mut changed = std::fs::read(&mail).unwrap();
    // The amount is in the signed body only (the invoice number is also
    // in the unsigned Subject and Message-ID).
    let at = changed
        .windows(4)
        .position(|w| w == b"1290")
        .expect("the amount in the signed body");
    changed[at] = b'3';
    let tampered_mail = tmp.path().join("tampered.eml");
    std::fs::write(&tampered_mail, changed).unwrap();
    let (ok, said) = smime_verify(&tampered_mail, &ca);
    assert!(!ok, "a changed mail verified: {said}");

    // The audit export: JSON Lines, one record per audited operation.
    let audit = std::fs::read_to_string(out_dir.join("audit.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let signing: Vec<&str> = records
        .iter()
        .filter(|r| r["action"] == "Signing")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    // The CSC chapter's signature is the third "ok" (its reused handle is
    // refused by the service and never reaches the firmware), the document
    // chapter's batch the fourth, the relay's SAD for the mail the fifth.
    assert_eq!(
        signing,
        ["ok", "ReplayedSad", "ok", "ok", "ok", "ok", "NotFound"],
        "{audit}"
    );

    // samd is gone and logged its clean stop.
    assert!(!out_dir.join("work/samd.pid").exists());
    let log = std::fs::read_to_string(out_dir.join("work/samd.log")).unwrap();
    assert!(log.contains("samd stopped"), "{log}");

    // A second run replaces the folder of the first.
    let again = Command::new(DEMO)
        .arg("--out")
        .arg(&out_dir)
        .arg("--bin-dir")
        .arg(&bins)
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn refuses_a_folder_it_did_not_make_and_missing_binaries() {
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let out = Command::new(DEMO)
        .arg("--out")
        .arg(&foreign)
        .arg("--bin-dir")
        .arg(bin_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("✗ Development PKI"), "{stdout}");
    assert!(stdout.contains("not made by sam-demo"), "{stdout}");
    assert!(foreign.join("precious.txt").is_file());

    let out = Command::new(DEMO)
        .arg("--out")
        .arg(tmp.path().join("x"))
        .arg("--bin-dir")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("✗ Binaries and tools: samd, samctl, sam-simulator not found"),
        "{stdout}"
    );
    assert!(stdout.contains("FAILED at step 1/27"), "{stdout}");
}

//! `sam-demo` — the whole signing story of the SAM on the embedded
//! default, told step by step (`cargo xtask demo`).
//!
//! It makes a DEVELOPMENT-ONLY PKI, initializes a simulated HSM, starts
//! the real `samd` with `samctl start` (the firmware runs in-process on
//! the simulator's state directory, the embedded default), and then plays
//! the roles of the administrators, the privileged users, the
//! registration authority and a signature creation application (SSA):
//!
//! * management with `samctl` (dual-control firmware initialization, IdP
//!   key import, first Privileged User, data integrity, audit export,
//!   start/stop), as a TSP engineer would;
//! * user and key management with `samctl`'s integrator commands over the
//!   privileged-user connector;
//! * signing with the `sam-client` library (SAD key, IdP, SAD, `POST
//!   /signing`, detached CMS), as an SSA would, checked with `openssl cms
//!   -verify` against the development CA;
//! * signing through samd's CSC API v2 listener (`credentials/list`,
//!   `credentials/authorize` with the seed SAD, `signatures/signHash`), as
//!   a CSC signature application would;
//! * mail sealed by `sam-mail`, the SMTP relay, with a key of its
//!   technical user: submitted by Python's smtplib, received by aiosmtpd,
//!   checked with `openssl smime -verify` against the development CA.
//!
//! Every step prints one line with ✓ or ✗; the exit code is 0 only if
//! every step behaved. samd's own log goes to `<out>/work/samd.log`.

#![forbid(unsafe_code)]

mod administration;
mod args;
mod console;
mod csc;
mod demo;
mod documents;
mod keys;
mod lifecycle;
mod mail;
mod signing;
mod users;

use args::Args;
use console::{Failed, Story};
use demo::{Demo, SamdGuard};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The number of steps of the story.
const STEPS: usize = 27;

/// How many documents the batch SAD signs.
const BATCH: usize = 5;

const USAGE: &str = "\
usage: sam-demo [--out DIR] [--bin-dir DIR]

The whole signing story of the SAM on the embedded default, step by step.

  --out DIR      where to put the results [default: target/demo]; a folder
                 from an earlier run is replaced, any other folder refused
  --bin-dir DIR  where samd, samctl, sam-simulator and sam-mail are
                 [default: the folder of this executable]

DEVELOPMENT ONLY: the keys it makes are throw-away keys in plain files.";

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sam-demo: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut story = Story::new();
    println!("SAM demo: the signing story on the embedded default (DEVELOPMENT ONLY keys)");
    println!();
    match run(&args, &mut story) {
        Ok(out) => {
            println!();
            println!(
                "All {STEPS} steps behaved ({:.1} s). In {}:",
                story.started.elapsed().as_secs_f64(),
                out.display()
            );
            println!("  ca.pem                  the development signing CA");
            println!(
                "  doc-N.txt, doc-N.p7s    {} documents and their detached CMS signatures",
                BATCH + 2
            );
            println!(
                "  contract-signed.pdf, invoice-signed.xml, minutes.txt.p7s  the document chapter's signed files"
            );
            println!(
                "  invoice-signed.eml      the mail as sam-mail signed it and the next hop received it"
            );
            println!("  audit.jsonl             the firmware's audit records, exported");
            println!(
                "  work/                   PKI, simulator state, samd.toml, samd.db, samd.log"
            );
            println!("Check a document yourself:");
            println!(
                "  openssl cms -verify -binary -inform DER -in {0}/doc-1.p7s -content {0}/doc-1.txt -CAfile {0}/ca.pem -purpose any",
                out.display()
            );
            println!(
                "  openssl smime -verify -binary -in {0}/invoice-signed.eml -CAfile {0}/ca.pem",
                out.display()
            );
            ExitCode::SUCCESS
        }
        Err(f) => {
            println!();
            println!(
                "FAILED at step {}/{STEPS} ({}): {}",
                f.step, f.title, f.detail
            );
            println!("samd's log: {}", args.out.join("work/samd.log").display());
            ExitCode::FAILURE
        }
    }
}

/// The story, step by step, in the order the console tells it.
fn run(args: &Args, story: &mut Story) -> Result<PathBuf, Failed> {
    let tools = lifecycle::check_tools(&args.bin_dir);
    story.step("Binaries and tools", tools)?;

    let demo = Demo::create(args);
    let demo = story.step("Development PKI", demo)?;

    story.begin();
    story.step("Simulated HSM", demo.init_hsm())?;

    story.begin();
    story.step("samd started (samctl start)", demo.start_samd())?;
    // The firmware booted before samd answered /readyz.
    let boot = sam_devpki::unix_now();
    let mut guard = SamdGuard {
        demo: &demo,
        armed: true,
    };

    story.begin();
    story.step(
        "Firmware initialization by two administrators",
        demo.fw_init(),
    )?;
    story.begin();
    story.step("IdP key import (two administrators)", demo.set_idp_keys())?;
    story.begin();
    let pu1 = story.step("First Privileged User enrolled", demo.enrol())?;

    // The firmware refuses identity tokens whose notBefore is not after its
    // boot second; the tokens below start now.
    while sam_devpki::unix_now() <= boot {
        std::thread::sleep(Duration::from_millis(100));
    }

    story.begin();
    let pu2 = story.step(
        "Privileged User created by the first one",
        demo.create_privileged_user(pu1),
    )?;
    story.begin();
    let signer = story.step("Signer created", demo.create_signer(pu2))?;
    story.begin();
    story.step("Signer maintenance", demo.signer_maintenance(pu2, signer))?;
    story.begin();
    let p256 = story.step(
        "P-256 key generated in the firmware, CSR signed by it",
        demo.generate_key(signer, "ec-p256", "ec-p256"),
    )?;
    story.begin();
    let rsa = story.step(
        "RSA-3072 key generated in the firmware, CSR signed by it",
        demo.generate_key(signer, "rsa3072", "rsa-3072"),
    )?;
    story.begin();
    let (p256, rsa) = story.step(
        "Certificates issued by the dev CA and registered",
        demo.certify(signer, p256, rsa),
    )?;

    story.begin();
    let (idp_server, ssa) = story.step("Development IdP started", demo.start_idp())?;

    story.begin();
    let sad = story.step(
        &format!("{BATCH} documents signed with ONE SAD (batch)"),
        demo.sign_batch(&ssa, signer, &p256),
    )?;
    story.begin();
    story.step("Replaying that SAD is refused", demo.replay(&ssa, &sad))?;
    story.begin();
    story.step(
        "A document signed with the RSA-3072 key",
        demo.sign_one(&ssa, signer, &rsa, BATCH + 1),
    )?;
    story.begin();
    story.step(
        "Every CMS verified with openssl cms -verify against the dev CA",
        demo.openssl_verify_all(),
    )?;
    story.begin();
    story.step(
        "A document signed through the CSC API v2 (credentials/authorize + signatures/signHash)",
        demo.sign_via_csc(&ssa, signer, &p256, BATCH + 2),
    )?;
    story.begin();
    story.step(
        "A PDF, an XML invoice and a text file signed with ONE SAD through the SAK (PAdES-B-T, XAdES-B-T, CAdES-B-T)",
        demo.sign_documents_via_sak(&ssa, signer, &p256),
    )?;
    story.begin();
    let seal = story.step(
        &format!(
            "Mail relay: a technical user and its seal key for {}",
            mail::ADDRESS
        ),
        demo.mail_seal_key(pu2),
    )?;
    story.begin();
    story.step(
        "A mail submitted over SMTP, sealed by sam-mail (S/MIME), received by aiosmtpd, verified by openssl smime -verify",
        demo.seal_mail(&seal),
    )?;
    story.begin();
    story.step("RSA-3072 key deleted", demo.delete_key(signer, &rsa))?;
    story.begin();
    story.step(
        "Signing with the deleted key is refused",
        demo.sign_deleted(&ssa, signer, &rsa),
    )?;
    story.begin();
    story.step("samctl integrity data", demo.integrity_data())?;
    story.begin();
    story.step("Audit log exported", demo.export_audit())?;

    story.begin();
    demo.rt.block_on(idp_server.stop());
    let stopped = demo.stop_samd();
    guard.armed = stopped.is_err();
    story.step("Clean stop (samctl stop)", stopped)?;
    drop(guard);
    Ok(demo.out.clone())
}

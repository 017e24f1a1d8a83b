//! Section 3c: document signing through the SAK paths (seed §7.3) on the
//! same samd: one SAD for a batch of PDFs, PAdES-B-B and PAdES-B-T (the
//! dev TSA answers on loopback). Each run times its three phases, so the
//! report says where a batch's time goes: the trusted checker over every
//! document, preparing the containers (until the SAD-TBS can be read),
//! and signing (the signer's SAD signature to the finished containers:
//! the firmware call, the signature checks, the time-stamps, the PDF
//! updates).

use crate::fullstack::Stack;
use crate::stats::Runs;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_client::SadKey;
use sam_devpki::{TokenParams, unix_now};
use sam_docsign::client::{SakClient, approve, document};
use sam_docsign::wire::{CreateRequest, HashAlgorithmRef};
use sam_harness::Connector;
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::KeyAlgorithm;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `sam-bench documents`: section 3c alone, printed (for comparing builds
/// without the whole benchmark).
pub const USAGE: &str = "usage: sam-bench documents [--quick] [--repeats N]

Starts samd (with [sak] and the dev TSA) beside sam-bench, signs batches of
100 PDFs (20 with --quick) with one SAD each, PAdES-B-B and PAdES-B-T,
N runs each (default 3), and prints documents/s and where a batch's time
goes (trusted checker, preparing, signing and finishing).";

/// The entry point of `sam-bench documents`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let mut quick = false;
    let mut repeats = 3usize;
    let mut args = args;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--repeats" => match args.next().and_then(|n| n.parse().ok()).filter(|n| *n > 0) {
                Some(n) => repeats = n,
                None => {
                    eprintln!("--repeats needs a positive number\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let result = (|| -> Result<(), String> {
        let bin = crate::fullstack::bin_dir()
            .filter(|b| b.join("samd").exists() && b.join("samctl").exists())
            .ok_or("samd and samctl were not found beside sam-bench (or in SAM_BENCH_BIN_DIR)")?;
        let work = tempfile::Builder::new()
            .prefix("documents-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let stack = Stack::start(work.path(), &bin, &[KeyAlgorithm::EcP256])?;
        let results = run(&stack, repeats, quick)?;
        stack.stop();
        println!(
            "| format | documents / SAD | documents/s | trusted checker ms | prepare ms | sign + finish ms |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for r in results {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.format,
                r.documents,
                r.docs_s.cell(),
                r.check_ms.cell(),
                r.prepare_ms.cell(),
                r.sign_ms.cell()
            );
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sam-bench documents: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The formats measured.
pub const FORMATS: [&str; 2] = ["PAdES-B-B", "PAdES-B-T"];

/// Documents per batch.
pub fn batch(quick: bool) -> usize {
    if quick { 20 } else { 100 }
}

/// One format's figures.
#[derive(Clone, Debug)]
pub struct DocResult {
    /// The container format.
    pub format: &'static str,
    /// Documents per batch (one SAD).
    pub documents: usize,
    /// Documents per second over the whole flow, per run.
    pub docs_s: Runs,
    /// The trusted checker's share, ms per batch, per run.
    pub check_ms: Runs,
    /// Preparing the containers, ms per batch, per run.
    pub prepare_ms: Runs,
    /// Signing and finishing, ms per batch, per run.
    pub sign_ms: Runs,
    /// Size of one input PDF, bytes.
    pub pdf_bytes: usize,
}

/// SADs the section uses for `repeats` runs.
pub fn planned(repeats: usize) -> usize {
    repeats * FORMATS.len()
}

/// A small one-page PDF, its text numbered `i` (every document differs).
fn pdf(i: usize) -> Result<Vec<u8>, String> {
    sam_harness::documents::pdf(&[&format!("Invoice number {i}")]).map_err(|e| e.to_string())
}

/// Runs the section on `stack` (started with `[sak]` and the dev TSA).
pub fn run(stack: &Stack, repeats: usize, quick: bool) -> Result<Vec<DocResult>, String> {
    let key_id = stack.key(KeyAlgorithm::EcP256)?;
    let login = stack
        .idp
        .login_token(
            stack.signer,
            IdentificationLevel::Substantial,
            unix_now(),
            3600,
        )
        .map_err(|e| format!("login token: {e}"))?;
    let ra = stack
        .deployment
        .identity(Connector::Privileged)
        .client(&stack.url)?;
    let objects = stack
        .rt
        .block_on(ra.objects(&login, &format!("keyid={key_id}&objecttype=CERTIFICATE")))
        .map_err(|e| format!("the key's certificate: {e}"))?;
    let certificate = objects
        .iter()
        .find_map(|o| o["value"].as_str())
        .and_then(|v| STANDARD.decode(v).ok())
        .ok_or("the key has no certificate")?;
    let ca = stack.deployment.pki().path(sam_devpki::files::TLS_CA_CERT);
    let sak = Arc::new(
        SakClient::new(&stack.csc_url, &ca, Duration::from_secs(300))
            .map_err(|e| format!("SAK client: {e}"))?,
    );
    let n = batch(quick);
    let pdfs: Vec<Vec<u8>> = (0..n).map(pdf).collect::<Result<_, _>>()?;
    let pdf_bytes = pdfs.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    for format in FORMATS {
        let mut r = DocResult {
            format,
            documents: n,
            docs_s: Runs::default(),
            check_ms: Runs::default(),
            prepare_ms: Runs::default(),
            sign_ms: Runs::default(),
            pdf_bytes,
        };
        for _ in 0..repeats {
            let sad_key = SadKey::generate().map_err(|e| e.to_string())?;
            let now = unix_now();
            let token = stack
                .idp
                .issue_token(&TokenParams {
                    user_id: stack.signer,
                    level: IdentificationLevel::Substantial,
                    not_before: now,
                    not_after: now + 600,
                    sad_public_key: Some(sad_key.public_key_der().map_err(|e| e.to_string())?),
                })
                .map_err(|e| format!("token: {e}"))?;
            let documents: Vec<_> = pdfs
                .iter()
                .enumerate()
                .map(|(i, p)| document(&i.to_string(), &format!("invoice-{i}.pdf"), p, None))
                .collect();
            let mine: Vec<(String, &[u8])> = pdfs
                .iter()
                .enumerate()
                .map(|(i, p)| (i.to_string(), p.as_slice()))
                .collect();
            let mine: Vec<(&str, &[u8])> = mine.iter().map(|(i, p)| (i.as_str(), *p)).collect();
            let started = Instant::now();
            let key_object = stack
                .rt
                .block_on(sak.open(&token, key_id, &certificate))
                .map_err(|e| format!("key object: {e}"))?;
            let report = stack
                .rt
                .block_on(sak.check(&documents))
                .map_err(|e| format!("check-documents: {e}"))?;
            let checked = Instant::now();
            let request = CreateRequest {
                key_object: key_object.clone(),
                documents,
                proof_report: Some(report),
                hash_algorithm: HashAlgorithmRef {
                    oid: None,
                    name: Some("SHA-256".into()),
                },
                signature_container_format: format.into(),
            };
            let waiting = {
                let sak = Arc::clone(&sak);
                stack
                    .rt
                    .spawn(async move { sak.create_signatures(&request).await })
            };
            let sad_data = stack
                .rt
                .block_on(sak.sad_data(&key_object.uuid, Duration::from_secs(120)))
                .map_err(|e| format!("SAD-TBS: {e}"))?;
            let prepared = Instant::now();
            let (signature, _) = approve(&sad_data, &mine, &sad_key).map_err(|e| e.to_string())?;
            stack
                .rt
                .block_on(sak.send_sad_signature(&key_object.uuid, &signature))
                .map_err(|e| format!("SAD signature: {e}"))?;
            let containers = stack
                .rt
                .block_on(waiting)
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("create-signatures: {e}"))?;
            let done = Instant::now();
            if containers.len() != n {
                return Err(format!("{} containers for {n} documents", containers.len()));
            }
            let secs = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64();
            r.docs_s.values.push(n as f64 / secs(started, done));
            r.check_ms.values.push(secs(started, checked) * 1e3);
            r.prepare_ms.values.push(secs(checked, prepared) * 1e3);
            r.sign_ms.values.push(secs(prepared, done) * 1e3);
        }
        eprintln!(
            "sam-bench: SAK {format}, {n} documents per SAD: {:.1} documents/s (check {:.0} ms, prepare {:.0} ms, sign {:.0} ms)",
            r.docs_s.median(),
            r.check_ms.median(),
            r.prepare_ms.median(),
            r.sign_ms.median()
        );
        out.push(r);
    }
    Ok(out)
}

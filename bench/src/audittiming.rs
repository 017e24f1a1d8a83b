//! `sam-bench audit-timing` (behind `cargo xtask audit-timing`): the time
//! of `samctl integrity data --full` (the whole audit chain from seq 0)
//! against the resumed `samctl integrity data` (from the cursor of the
//! last intact check) on a trail of N audit records, in one run.
//!
//! The setup is the bench's full stack ([`crate::fullstack::Stack`]). The
//! records are made as cheaply as samd allows: concurrent SSA clients send
//! `POST /signing` with a SAD that is not base64, which samd refuses itself
//! (MessageParseError) and reports to the firmware, one audit record each
//! (see `host/tests/refusals.rs`).

use crate::fullstack::Stack;
use crate::stats::num;
use sam_client::http::{Endpoint, read_pem_certificates, read_pem_key, tls_config};
use sam_harness::{Connector, Samctl};
use sam_proto::ids::KeyAlgorithm;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Audit records made by default.
pub const DEFAULT_RECORDS: usize = 100_000;
/// Records added before the last resumed check.
pub const MORE_RECORDS: usize = 1_000;
/// Concurrent clients by default.
pub const DEFAULT_CLIENTS: usize = 32;
/// How often the record creation prints its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The pass criterion.
pub const CRITERION: &str = "pass: every `samctl integrity data` run reports ok";

/// The usage text.
pub const USAGE: &str = "usage: sam-bench audit-timing [--records N] [--clients C] [--dev] \
     [--out DIR]\n\
     Makes N audit records (default 100000) through samd with C concurrent clients (default \
     32), then times `samctl integrity data --full` against the resumed `samctl integrity \
     data`, before and after 1000 more records. Writes DIR/report.json and report.md (default \
     target/audit-timing). --dev only labels the report (dev-profile binaries).\n\
     pass: every `samctl integrity data` run reports ok; the exit status is non-zero otherwise.";

/// What the command line asked for.
#[derive(Debug)]
pub struct Args {
    /// Audit records to make.
    pub records: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Dev-profile binaries.
    pub dev: bool,
    /// Output directory.
    pub out: PathBuf,
}

/// Parses the arguments after `audit-timing`.
pub fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        records: DEFAULT_RECORDS,
        clients: DEFAULT_CLIENTS,
        dev: false,
        out: PathBuf::from("target/audit-timing"),
    };
    fn number(flag: &str, v: Option<String>) -> Result<usize, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))?;
        v.parse()
            .map_err(|_| format!("{flag}: {v:?} is not a number\n{USAGE}"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--records" => args.records = number("--records", it.next())?,
            "--clients" => args.clients = number("--clients", it.next())?,
            "--dev" => args.dev = true,
            "--out" => args.out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.records == 0 || args.clients == 0 {
        return Err(format!(
            "--records and --clients must be at least 1\n{USAGE}"
        ));
    }
    Ok(args)
}

/// `sam-bench audit-timing ARGS`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    crate::exit_code("audit-timing", parse_args(args), run)
}

/// Runs the measurement; `Ok(true)` when it passed.
fn run(args: &Args) -> Result<bool, String> {
    crate::run_reported(
        "audit-timing",
        &args.out,
        CRITERION,
        |work, bin| {
            eprintln!(
                "sam-bench audit-timing: {} records, {} clients; work in {}",
                args.records,
                args.clients,
                work.display()
            );
            measure(work, bin, args)
        },
        markdown,
    )
}

/// One `samctl integrity data` run.
#[derive(Debug)]
struct Check {
    /// What was run.
    label: &'static str,
    /// Wall-clock seconds (the samctl process included).
    seconds: f64,
    /// Audit records it walked (`-v`'s count), if printed.
    walked: Option<u64>,
    /// It exited 0 and reported ok.
    ok: bool,
}

/// Runs `samctl -v integrity data [--full]` and times it.
fn check(samctl: &Samctl, label: &'static str, full: bool) -> Result<Check, String> {
    let mut argv = vec!["-v", "integrity", "data"];
    if full {
        argv.push("--full");
    }
    let t = Instant::now();
    let out = samctl.run(&argv).map_err(|e| e.to_string())?;
    let seconds = t.elapsed().as_secs_f64();
    let ok = out.is_success() && out.stdout.contains("Data integrity check ... ok");
    let walked: Option<u64> = out.stdout.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("checked ")?;
        let (_, audit) = rest.rsplit_once(", ")?;
        audit.strip_suffix(" audit records")?.parse().ok()
    });
    if !ok {
        eprintln!(
            "sam-bench audit-timing: `samctl {}` failed: {}",
            argv.join(" "),
            out.combined().trim()
        );
    }
    eprintln!(
        "sam-bench audit-timing: {label}: {seconds:.3} s, {} audit records walked, {}",
        walked.map_or_else(|| "?".to_owned(), |n| n.to_string()),
        if ok { "ok" } else { "FAILED" }
    );
    Ok(Check {
        label,
        seconds,
        walked,
        ok,
    })
}

/// Makes `n` audit records with `endpoints` concurrent clients; seconds.
fn make_records(stack: &Stack, endpoints: &[Arc<Endpoint>], n: usize) -> Result<f64, String> {
    let made = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let failures = stack.rt.block_on(async {
        let progress = {
            let made = made.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PROGRESS_EVERY).await;
                    let m = made.load(Ordering::Relaxed);
                    eprintln!(
                        "sam-bench audit-timing: {m:>7} / {n} records, {:.0} s, {:.0}/s",
                        t0.elapsed().as_secs_f64(),
                        m as f64 / t0.elapsed().as_secs_f64()
                    );
                }
            })
        };
        let tasks: Vec<_> = endpoints
            .iter()
            .map(|e| {
                let (e, made, started) = (e.clone(), made.clone(), started.clone());
                tokio::spawn(async move {
                    let body = json!({"sad": "%%%"});
                    while started.fetch_add(1, Ordering::Relaxed) < n {
                        match e.post_json("/signing", &body).await {
                            // samd's MessageParseError: one audit record.
                            Ok((status, _)) if status.as_u16() == 400 => {
                                made.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok((status, answer)) => {
                                return Err(format!(
                                    "unexpected answer {status}: {}",
                                    String::from_utf8_lossy(&answer)
                                ));
                            }
                            Err(err) => return Err(err.to_string()),
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let mut failures = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(e),
                Err(e) => failures.push(format!("client task: {e}")),
            }
        }
        progress.abort();
        failures
    });
    if let Some(e) = failures.first() {
        return Err(format!("making audit records: {e}"));
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// Starts the stack in `work`, makes the records and times the checks.
fn measure(work: &Path, bin: &Path, args: &Args) -> Result<(Value, bool), String> {
    let stack = Stack::start(work, bin, &[KeyAlgorithm::EcP256])?;
    let ssa = stack.deployment.identity(Connector::Ssa);
    let tls = tls_config(
        read_pem_certificates(&ssa.ca).map_err(|e| e.to_string())?,
        Some((
            read_pem_certificates(&ssa.cert).map_err(|e| e.to_string())?,
            read_pem_key(&ssa.key).map_err(|e| e.to_string())?,
        )),
    )
    .map_err(|e| e.to_string())?;
    let endpoints = (0..args.clients)
        .map(|_| {
            Endpoint::new(&stack.url, Some(tls.clone()))
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let samctl = stack.deployment.samctl(&stack.url, Connector::Management);
    let create_s = make_records(&stack, &endpoints, args.records)?;
    eprintln!(
        "sam-bench audit-timing: {} records in {create_s:.1} s",
        args.records
    );
    let mut checks = vec![
        check(&samctl, "first run (full walk, sets the cursor)", false)?,
        check(&samctl, "--full", true)?,
        check(&samctl, "resumed", false)?,
    ];
    let more_s = make_records(&stack, &endpoints, MORE_RECORDS)?;
    checks.push(check(&samctl, "resumed after 1,000 more records", false)?);
    stack.stop();
    let passed = checks.iter().all(|c| c.ok);
    let json = json!({
        "records": args.records,
        "clients": args.clients,
        "dev": args.dev,
        "create_s": num(create_s),
        "create_records_s": num(args.records as f64 / create_s),
        "more_records": MORE_RECORDS,
        "more_create_s": num(more_s),
        "checks": checks.iter().map(|c| json!({
            "run": c.label,
            "seconds": num(c.seconds),
            "audit_records_walked": c.walked,
            "ok": c.ok,
        })).collect::<Vec<_>>(),
        "criterion": CRITERION,
        "verdict": if passed { "pass" } else { "fail" },
    });
    Ok((json, passed))
}

/// report.md from the JSON.
fn markdown(j: &Value) -> String {
    let mut md = String::from("# SAM audit-chain check: full walk against resumed\n\n");
    md.push_str(&format!(
        "{} audit records made through samd ({} concurrent SSA clients, refused Signing \
         requests) in {:.1} s; {} binaries. **Verdict: {}** ({}).\n\n",
        j["records"],
        j["clients"],
        j["create_s"].as_f64().unwrap_or(f64::NAN),
        if j["dev"].as_bool().unwrap_or(false) {
            "dev-profile"
        } else {
            "release"
        },
        j["verdict"].as_str().unwrap_or("?").to_uppercase(),
        CRITERION
    ));
    md.push_str("| samctl integrity data | seconds | audit records walked | ok |\n");
    md.push_str("| --- | --- | --- | --- |\n");
    for c in j["checks"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c["run"].as_str().unwrap_or("?"),
            c["seconds"]
                .as_f64()
                .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.3}")),
            c["audit_records_walked"],
            c["ok"]
        ));
    }
    md.push_str(
        "\nSeconds are wall-clock of the samctl process (its start and TLS handshake \
         included). The resumed runs re-check the last batch of the previous intact check, \
         then only newer records.\n",
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 300 records on the dev-profile samd and samctl (which `cargo test
    /// --workspace` builds beside the test's `deps/` directory): every
    /// check ok, the resumed ones walking fewer records than the full one.
    #[test]
    fn smoke_300_records() {
        let exe = std::env::current_exe().unwrap();
        let bin = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        if !bin.join("samd").exists() || !bin.join("samctl").exists() {
            eprintln!("skipped: no samd and samctl in {}", bin.display());
            return;
        }
        let work = tempfile::tempdir().unwrap();
        let args = parse_args(
            ["--records", "300", "--clients", "8", "--dev"]
                .map(String::from)
                .into_iter(),
        )
        .unwrap();
        let (json, passed) = measure(work.path(), &bin, &args).unwrap();
        assert!(passed, "{json}");
        let walked: Vec<u64> = json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["audit_records_walked"].as_u64().unwrap())
            .collect();
        assert!(walked[1] >= 300, "{json}");
        assert!(walked[2] < walked[1], "{json}");
        assert!(walked[3] >= MORE_RECORDS as u64, "{json}");
        assert!(markdown(&json).contains("| --full |"));
    }
}

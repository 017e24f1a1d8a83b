//! `sam-bench`: the SAM benchmark behind `cargo xtask bench`.
//!
//! Sections (issue 5): 1. crypto primitives on both back-ends; 2. the
//! firmware pipeline in-process (`Simulator::call` on a real state file);
//! 3. the full stack (not measured yet: reported as null); 4. the SoftHSM2
//! anchor. Writes `report.json`, `report.md` and `throughput.svg` into the
//! output directory (default `target/bench`).
//!
//! Usage: `sam-bench [--quick] [--dev] [--pipeline [--hashes N]] [--out DIR]`. `--dev`
//! only labels the report: `cargo xtask bench --dev` runs the dev-profile
//! binaries (CI's smoke test), whose figures are not comparable to release
//! ones. `--pipeline` runs only the primitives and section 2's scaling
//! rows (P-256 key and IdP, one hash, 1/2/8/64 threads) and prints them
//! with their ratio to one thread: a minute, for comparing two builds of
//! the firmware's group commit run after run. `--hashes N` (1 to 128,
//! default 1) puts N hashes in each of those SADs, for comparing builds of
//! the batch-signing path; the table then also gives signatures per second.
//!
//! `sam-bench hostile [--quick] [--dev]` (behind `cargo xtask hostile`) is
//! the listener under hostile peers (see [`hostile`]).
//!
//! `sam-bench soak [--clients N] [--seconds S] ...` (behind `cargo xtask
//! soak`) is the soak test instead: N clients on the full stack for S
//! seconds, 0 errors and flat memory required (see [`soak`]). A subcommand
//! rather than a flag: it shares none of the bench's sections or options.
//!
//! `sam-bench nodes [--quick] [--clients N]` (behind `cargo xtask bench
//! --nodes`): signings per second with 1, 2 and 3 samd + simulator pairs
//! on one PostgreSQL server (see [`nodes`]).
//!
//! `sam-bench audit-timing [--records N]` (behind `cargo xtask
//! audit-timing`) times `samctl integrity data --full` against the resumed
//! check on N audit records (see [`audittiming`]).

mod audittiming;
mod csc;
mod documents;
mod fullstack;
mod hostile;
mod nodes;
mod pipeline;
mod prims;
mod report;
mod soak;
mod softhsm;
mod stats;

use stats::Runs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long and how often each figure is measured.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Runs per figure (min/median/max are over these).
    pub repeats: usize,
    /// Target duration of one run.
    pub per_run: Duration,
    /// Upper bound on operations in one run.
    pub max_iters: usize,
}

impl Budget {
    /// `--quick`: a few short runs.
    pub fn quick() -> Self {
        Self {
            repeats: 3,
            per_run: Duration::from_millis(200),
            max_iters: 2_000,
        }
    }

    /// The full run.
    pub fn full() -> Self {
        Self {
            repeats: 5,
            per_run: Duration::from_millis(1_000),
            max_iters: 100_000,
        }
    }

    /// Tiny counts, for the self-test.
    pub fn tiny() -> Self {
        Self {
            repeats: 2,
            per_run: Duration::from_millis(5),
            max_iters: 4,
        }
    }
}

/// Runs `op` repeatedly: `budget.repeats` runs, each until `per_run` has
/// passed or `max_iters` operations are done (after one warm-up call).
/// Operations per second, one value per run.
pub fn time_ops<F: FnMut() -> Result<(), String>>(
    budget: &Budget,
    mut op: F,
) -> Result<Runs, String> {
    op()?;
    let mut values = Vec::with_capacity(budget.repeats);
    for _ in 0..budget.repeats {
        let t0 = Instant::now();
        let mut n = 0usize;
        loop {
            op()?;
            n += 1;
            if n >= budget.max_iters || t0.elapsed() >= budget.per_run {
                break;
            }
        }
        values.push(n as f64 / t0.elapsed().as_secs_f64());
    }
    Ok(Runs::new(values))
}

/// What the command line asked for.
#[derive(Debug)]
struct Args {
    quick: bool,
    dev: bool,
    /// `--pipeline`: only the scaling rows of section 2, printed.
    pipeline: bool,
    /// `--hashes N`: hashes per SAD in the `--pipeline` rows (default 1).
    hashes: usize,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        quick: false,
        dev: false,
        pipeline: false,
        hashes: 1,
        out: PathBuf::from("target/bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--dev" => args.dev = true,
            "--pipeline" => args.pipeline = true,
            "--hashes" => {
                args.hashes = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=sam_proto::command::MAX_HASHES).contains(n))
                    .ok_or("--hashes needs a count from 1 to 128")?;
            }
            "--out" => args.out = PathBuf::from(it.next().ok_or("--out needs a directory")?),
            "-h" | "--help" => {
                return Err(format!(
                    "usage: sam-bench [--quick] [--dev] [--pipeline [--hashes N]] [--out DIR]\n\n{}",
                    soak::USAGE
                ));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    // The soak test needs no SoftHSM2, so it is dispatched before the
    // re-execution below.
    if std::env::args().nth(1).as_deref() == Some("soak") {
        return soak::main(std::env::args().skip(2));
    }
    if std::env::args().nth(1).as_deref() == Some("audit-timing") {
        return audittiming::main(std::env::args().skip(2));
    }
    if std::env::args().nth(1).as_deref() == Some("documents") {
        return documents::main(std::env::args().skip(2));
    }
    if std::env::args().nth(1).as_deref() == Some("nodes") {
        return nodes::main(std::env::args().skip(2));
    }
    if std::env::args().nth(1).as_deref() == Some("hostile") {
        return hostile::main(std::env::args().skip(2));
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // SoftHSM2 reads SOFTHSM2_CONF when it is initialized. Rather than
    // change the environment of a running process, the bench starts
    // itself again with the variable pointing at a configuration (and a
    // token directory) of its own in a temporary directory.
    if std::env::var_os("SOFTHSM2_CONF").is_none() {
        return reexec_with_softhsm_conf(&args);
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sam-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn reexec_with_softhsm_conf(args: &Args) -> ExitCode {
    let result = (|| -> Result<ExitCode, String> {
        std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("softhsm-")
            .tempdir_in(&args.out)
            .map_err(|e| format!("temporary directory: {e}"))?;
        let conf = softhsm::write_conf(dir.path())?;
        let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("SOFTHSM2_CONF", conf)
            .status()
            .map_err(|e| format!("cannot start myself: {e}"))?;
        Ok(match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            None => ExitCode::FAILURE,
        })
    })();
    result.unwrap_or_else(|e| {
        eprintln!("sam-bench: {e}");
        ExitCode::FAILURE
    })
}

/// Writes `report.json` (pretty) and the `others` (name, text) into `dir`.
/// The exit status of a subcommand: 2 for bad arguments (`parsed` is the
/// usage text then), 0 if `run` passed, 1 if it failed or could not run.
pub fn exit_code<A>(
    name: &str,
    parsed: Result<A, String>,
    run: impl FnOnce(&A) -> Result<bool, String>,
) -> ExitCode {
    let args = match parsed {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("sam-bench {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a load command (`name`: `soak`, `hostile`) against samd in a fresh
/// work directory under `out`: finds samd and samctl, lets `load` produce
/// the report JSON and the verdict, writes `report.json` and `report.md`
/// (`markdown` of the JSON) and prints the latter. The work directory
/// (samd's log) is kept when the run failed or could not finish.
pub fn run_reported(
    name: &str,
    out: &std::path::Path,
    criterion: &str,
    load: impl FnOnce(&std::path::Path, &std::path::Path) -> Result<(serde_json::Value, bool), String>,
    markdown: fn(&serde_json::Value) -> String,
) -> Result<bool, String> {
    let bin = fullstack::bin_dir()
        .filter(|b| b.join("samd").exists() && b.join("samctl").exists())
        .ok_or("samd and samctl were not found beside sam-bench (or in SAM_BENCH_BIN_DIR)")?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let work = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(out)
        .map_err(|e| format!("temporary directory: {e}"))?;
    let (json, passed) = match load(work.path(), &bin) {
        Ok(r) => r,
        Err(e) => {
            let kept = work.keep();
            return Err(format!("{e} (samd.log kept in {})", kept.display()));
        }
    };
    let md = markdown(&json);
    write_reports(out, &json, &[("report.md", &md)])?;
    println!("{md}");
    eprintln!(
        "sam-bench {name}: wrote {}/report.json, report.md",
        out.display()
    );
    if !passed {
        let kept = work.keep();
        eprintln!(
            "sam-bench {name}: FAILED ({criterion}); samd.log kept in {}",
            kept.display()
        );
    }
    Ok(passed)
}

pub fn write_reports(
    dir: &std::path::Path,
    json: &serde_json::Value,
    others: &[(&str, &str)],
) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write(
        "report.json",
        &serde_json::to_string_pretty(json).map_err(|e| e.to_string())?,
    )?;
    others.iter().try_for_each(|(name, text)| write(name, text))
}

/// Everything measured in one run.
#[derive(Debug)]
pub struct Results {
    /// `--quick`.
    pub quick: bool,
    /// `--dev`: dev-profile binaries (a smoke test, not a measurement).
    pub dev: bool,
    /// Simulator restarts in section 2 (to stay below the firmware's
    /// replay-set capacity).
    pub reboots: usize,
    /// The budget used.
    pub budget: Budget,
    /// Section 1.
    pub prims: Vec<prims::PrimResult>,
    /// Section 2.
    pub pipeline: Vec<pipeline::PipeResult>,
    /// Bare `SimPlatform::store` per second.
    pub bare_store: Runs,
    /// The previous format's whole-file replacement per second (same run).
    pub replace_reference: Runs,
    /// Section 4, or why it is missing.
    pub anchor: Result<softhsm::Anchor, String>,
    /// Section 3, or why it is missing.
    pub full: Result<fullstack::Full, String>,
    /// Seconds the whole run took.
    pub elapsed: f64,
}

/// Section 2's fixture on a temporary state directory under `work` (kept
/// while the returned directory lives).
fn pipeline_fixture(
    work: &std::path::Path,
) -> Result<(tempfile::TempDir, pipeline::Fixture), String> {
    let tmp = tempfile::Builder::new()
        .prefix("state-")
        .tempdir_in(work)
        .map_err(|e| format!("temporary directory: {e}"))?;
    let fx = pipeline::Fixture::new(&tmp.path().join("hsm"))?;
    Ok((tmp, fx))
}

/// Measures everything with `budget`; state directories go under `work`.
pub fn measure(
    budget: &Budget,
    quick: bool,
    dev: bool,
    work: &std::path::Path,
) -> Result<Results, String> {
    let t0 = Instant::now();
    eprintln!("sam-bench: 1/4 primitives");
    let prims = prims::run(budget)?;
    eprintln!("sam-bench: 2/4 firmware pipeline");
    let (tmp, mut fx) = pipeline_fixture(work)?;
    let pipeline = pipeline::run(&mut fx, budget, &prims)?;
    let reboots = fx.reboots;
    drop(fx);
    let bare_store = pipeline::bare_store(&tmp.path().join("store-only"), budget)?;
    let replace_reference = pipeline::replace_reference(&tmp.path().join("replace-only"), budget)?;
    eprintln!("sam-bench: 3/4 SoftHSM2 anchor");
    let anchor = if std::env::var_os("SOFTHSM2_CONF").is_none() {
        Err("SOFTHSM2_CONF is not set: the anchor would touch the system's token directory".into())
    } else if std::path::Path::new(softhsm::SOFTHSM_LIB).exists() {
        softhsm::run(budget)
    } else {
        Err(format!(
            "{} is missing (Debian package softhsm2)",
            softhsm::SOFTHSM_LIB
        ))
    };
    eprintln!("sam-bench: 4/4 full stack");
    let full = match fullstack::bin_dir() {
        Some(bin) if bin.join("samd").exists() && bin.join("samctl").exists() => {
            let work = tempfile::Builder::new()
                .prefix("full-")
                .tempdir_in(work)
                .map_err(|e| format!("temporary directory: {e}"))?;
            fullstack::run(work.path(), &bin, budget, quick)
        }
        _ => {
            Err("samd and samctl were not found beside sam-bench (or in SAM_BENCH_BIN_DIR)".into())
        }
    };
    if let Err(why) = &full {
        eprintln!("sam-bench: full stack not measured: {why}");
    }
    Ok(Results {
        quick,
        dev,
        reboots,
        full,
        budget: budget.clone(),
        prims,
        pipeline,
        bare_store,
        replace_reference,
        anchor,
        elapsed: t0.elapsed().as_secs_f64(),
    })
}

fn run(args: &Args) -> Result<ExitCode, String> {
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let budget = if args.quick {
        Budget::quick()
    } else {
        Budget::full()
    };
    if args.pipeline {
        return pipeline_only(&budget, args.hashes, &args.out);
    }
    let results = measure(&budget, args.quick, args.dev, &args.out)?;
    let json = report::json(&results);
    for key in report::REQUIRED_KEYS {
        if json.get(key).is_none() {
            return Err(format!("report.json lacks {key}"));
        }
    }
    let md = report::markdown(&results, &json);
    let svg = report::svg(&results);
    write_reports(
        &args.out,
        &json,
        &[("report.md", &md), ("throughput.svg", &svg)],
    )?;
    println!("{md}");
    eprintln!(
        "sam-bench: wrote {}/report.json, report.md, throughput.svg",
        args.out.display()
    );
    let errors = json
        .get("errors")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    if errors > 0 {
        eprintln!("sam-bench: {errors} request(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    if let Err(why) = &results.anchor
        && !args.quick
    {
        eprintln!("sam-bench: the SoftHSM2 anchor is missing: {why}");
        return Ok(ExitCode::FAILURE);
    }
    if let Err(why) = &results.full
        && !args.quick
    {
        eprintln!("sam-bench: the full stack was not measured: {why}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--pipeline`: the primitives (for the overhead ratio) and the scaling
/// rows of section 2 only, printed as a table; no report is written. A
/// minute instead of the whole bench's quarter hour, for comparing builds
/// of the firmware's group commit run after run.
fn pipeline_only(
    budget: &Budget,
    hashes: usize,
    work: &std::path::Path,
) -> Result<ExitCode, String> {
    eprintln!("sam-bench: primitives");
    let prims = prims::run(budget)?;
    eprintln!("sam-bench: firmware pipeline, scaling rows, {hashes} hash(es) per SAD");
    let (_tmp, mut fx) = pipeline_fixture(work)?;
    let rows = pipeline::scaling(&mut fx, budget, &prims, hashes)?;
    let one = rows.first().map_or(f64::NAN, |r| r.req_s.median());
    println!(
        "| pipeline P-256, {hashes} hash{} | req/s (median) | signatures/s | × 1 thread | pipeline_overhead_ratio | errors |",
        if hashes == 1 { "" } else { "es" }
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let mut errors = 0;
    for r in &rows {
        let rate = r.req_s.median();
        println!(
            "| {} threads | {rate:.0} | {:.0} | {:.2} | {:.2} | {} |",
            r.threads,
            rate * r.hashes as f64,
            rate / one,
            r.overhead(),
            r.errors
        );
        errors += r.errors;
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole bench on tiny counts: report.json carries every key the
    /// issue requires, each a number or null.
    #[test]
    fn report_has_required_keys() {
        // The anchor runs only if the harness was started with
        // SOFTHSM2_CONF (a test cannot set it safely); it is null otherwise.
        let dir = tempfile::tempdir().unwrap();
        let results = measure(&Budget::tiny(), true, true, dir.path()).unwrap();
        let json = report::json(&results);
        for key in report::REQUIRED_KEYS {
            let v = json.get(key).unwrap_or_else(|| panic!("{key} missing"));
            assert!(v.is_number() || v.is_null(), "{key}: {v}");
        }
        assert_eq!(json["errors"], 0);
        let md = report::markdown(&results, &json);
        assert!(md.contains("pipeline_overhead_ratio"));
        assert!(report::svg(&results).starts_with("<svg"));
    }
}

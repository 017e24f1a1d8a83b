//! Project workflows, so that a fresh machine needs nothing but cargo.
//!
//! * `cargo xtask ci`: the test command of README.md and of `.ci/run`:
//!   format check, clippy with warnings denied, every workspace test, the
//!   benchmark's smoke test (`bench --quick --dev`: no target enforced), the
//!   hostile-load smoke test (`hostile --quick --dev`), and
//!   the firmware built for the Cortex-M4F target (which proves it is
//!   `no_std` for real, not just by attribute), then the fuzz smoke test
//!   (`cargo xtask fuzz --smoke`: every target for 60 s; it needs the
//!   nightly toolchain and cargo-fuzz, which `ci/install-deps.sh` installs).
//! * `cargo xtask demo`: the README's main command: builds samd, samctl,
//!   the simulator and `sam-demo`, then tells the whole signing story on
//!   the embedded default (results in `target/demo/`).
//! * `cargo xtask crashtest --cycles N [--seed S]`: the crash-kill
//!   harness (`host/crashtest/`); CI runs 50 cycles after the tests.
//! * `cargo xtask bench [--quick] [--dev] [--pipeline [--hashes N]]`: the benchmark
//!   (issue 5): builds `sam-bench`, `samd` and `samctl` with `--release`
//!   (`--dev`: the dev profile, CI's smoke test) and runs it; results in
//!   `target/bench/` (`report.json`, `report.md`, `throughput.svg`).
//!   `--pipeline`: only the primitives and section 2's scaling rows
//!   (P-256, one hash, 1/2/8/64 threads), printed, no report written.
//!   `--nodes [--clients N]`: only signings/s with 1, 2 and 3 samd +
//!   `sam-simulator serve` pairs on one PostgreSQL server (`sam-bench
//!   nodes`), in `target/bench-nodes/` (`target/bench-nodes-dev/`).
//! * `cargo xtask soak [--clients N] [--seconds S]`: the soak test: builds
//!   like `bench` (release) and runs `sam-bench soak`: N mutual-TLS
//!   clients (64) sign for S seconds (600) against one samd; fails on any
//!   error or if samd's RSS grows by more than 10 % + 8 MiB after the
//!   warm-up. Results in `target/soak/`. Not part of `ci` (ten minutes).
//! * `cargo xtask hostile [--quick] [--dev]`: honest signing latency with
//!   and without hostile peers (idle, slow-header, oversized-body and
//!   invalid-JSON connections) on one samd; fails unless the honest p99
//!   stays within 2× and samd's descriptors below their limit. Results in
//!   `target/hostile/`; `ci` runs `--quick --dev` (ratio not enforced).
//! * `cargo xtask audit-timing [--records N] [--dev]`: N audit records
//!   (100,000) through samd, then `samctl integrity data --full` timed
//!   against the resumed check; results in `target/audit-timing/`. Not
//!   part of `ci` (minutes).
//! * `cargo xtask tcb`: the size of the trusted computing base (lines of
//!   `firmware/` and `shared-proto/`), for evaluators and for the notes.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The bare-metal target the firmware must build for.
const FIRMWARE_TARGET: &str = "thumbv7em-none-eabihf";

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci          format check, clippy (-D warnings), all tests, the bench
              smoke test (bench --quick --dev), the hostile-load smoke
              test (hostile --quick --dev), firmware for
              thumbv7em, the TCB tests on big-endian PowerPC when
              ci/install-deps.sh has installed its cross tools, and the
              fuzz smoke test (fuzz --smoke; needs ci/install-deps.sh)
  demo        the whole signing story on the embedded default, step by
              step: dev PKI, samd, dual-control init, users, keys,
              certificates, batch signing with one SAD, openssl checks;
              results in target/demo/
  crashtest [--cycles N] [--seed S]
              the crash-kill harness: a mixed load against samd and a
              separate simulator, SIGKILL one of them at a random moment,
              restart, check the invariants; N cycles (CI: 50)
  big-endian  the sam-proto and sam-firmware tests on 32-bit big-endian
              PowerPC under qemu-user (the CP5 is a 32-bit big-endian part)
  fuzz [--smoke | --seconds N] [TARGET...]
              run the cargo-fuzz targets of fuzz/ (nightly), each for N
              seconds (--smoke: 60); all targets unless some are named
  bench [--quick] [--dev] [--pipeline [--hashes N] | --nodes [--clients N]]
              the benchmark, release build: crypto primitives on both
              back-ends, the firmware pipeline in-process, the SoftHSM2
              anchor, samd under N mutual-TLS clients; results in
              target/bench/ (--quick: fewer, shorter runs; --dev: the
              dev-profile binaries, a smoke test, in target/bench-dev/;
              --pipeline: only the primitives and the pipeline's scaling
              rows, P-256 with one hash (--hashes N: N hashes per SAD)
              at 1/2/8/64 threads, printed; --nodes [--clients N]: only
              signings/s with 1, 2 and 3 samd + simulator pairs on one
              PostgreSQL server, N clients (8) spread over them, in
              target/bench-nodes/)
  soak [--clients N] [--seconds S] [--max-requests R] [--producers P]
              the soak test, release build: N mutual-TLS clients (default
              64) sign with P-256, one fresh SAD per request, against one
              samd for S seconds (default 600) or R requests; samd's VmRSS
              sampled every 10 s; results in target/soak/. Fails if any
              request fails or if samd's VmRSS at the end exceeds its
              VmRSS after the 90 s warm-up × 1.10 + 8 MiB. Not part of ci
  hostile [--quick] [--dev]
              the listener under hostile peers, release build: 8 honest
              clients sign alone, then beside 200 idle TLS connections, 20
              slow-header ones, 1 MiB bodies and invalid JSON; fails if an
              honest request fails, the honest p99 grows above 2x the
              baseline's, or samd's descriptors reach their limit; results
              in target/hostile/ (--quick: 100 requests per client and
              phase; --dev: dev-profile binaries, ratio reported only, in
              target/hostile-dev/; ci runs --quick --dev)
  audit-timing [--records N] [--clients C] [--dev]
              release build: N audit records (default 100000) through samd,
              then `samctl integrity data --full` timed against the resumed
              `samctl integrity data`, before and after 1000 more records;
              results in target/audit-timing/ (--dev: dev-profile binaries,
              target/audit-timing-dev/). Fails if a check is not ok. Not ci
  tcb         count the lines of the trusted computing base
  help   this text
";

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "help".to_owned());
    let result = match arg.as_str() {
        "ci" => ci(),
        "demo" => demo(),
        "crashtest" => crashtest(std::env::args().skip(2).collect()),
        "tcb" => tcb(),
        "bench" => bench(std::env::args().skip(2).collect()),
        "soak" => soak(std::env::args().skip(2).collect()),
        "hostile" => hostile(std::env::args().skip(2).collect()),
        "audit-timing" => audit_timing(std::env::args().skip(2).collect()),
        "big-endian" => big_endian(),
        "fuzz" => fuzz(std::env::args().skip(2).collect()),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Runs one step, printing its name and duration, failing on a non-zero exit.
fn step(name: &str, args: &[&str]) -> Result<(), String> {
    step_with_env(name, args, &[])
}

/// [`step`] with extra environment variables for the child.
fn step_with_env(name: &str, args: &[&str], vars: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("==> {name}: cargo {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(cargo)
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("{name}: cannot start cargo: {e}"))?;
    println!("<== {name}: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

/// Builds what the demo runs (debug profile: dependencies are optimized in
/// dev, and the build is shared with the tests), then runs `sam-demo` with
/// its results in `target/demo/`.
fn demo() -> Result<(), String> {
    step(
        "build",
        &[
            "build",
            "-p",
            "sam-simulator",
            "-p",
            "sam-host",
            "-p",
            "sam-demo",
            "-p",
            "sam-mail",
        ],
    )?;
    let target = target_dir();
    let bin_dir = target.join("debug");
    let out = root().join("target").join("demo");
    let status = Command::new(bin_dir.join("sam-demo"))
        .arg("--out")
        .arg(&out)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", bin_dir.join("sam-demo").display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the demo failed ({status})"))
    }
}

/// Where cargo puts its builds: `CARGO_TARGET_DIR` (relative to the
/// root) or `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root().join(t) })
        .unwrap_or_else(|| root().join("target"))
}

/// Builds samd, samctl, the simulator and `sam-crashtest` (dev profile,
/// shared with the tests) and runs the crash-kill harness with that bin
/// folder; the arguments (`--cycles N`, `--seed S`, ...) are passed on.
fn crashtest(args: Vec<String>) -> Result<(), String> {
    step(
        "build",
        &[
            "build",
            "-p",
            "sam-host",
            "-p",
            "sam-simulator",
            "-p",
            "sam-crashtest",
        ],
    )?;
    let target = target_dir();
    let bin_dir = target.join("debug");
    let exe = bin_dir.join("sam-crashtest");
    println!("==> crashtest: {} {}", exe.display(), args.join(" "));
    let started = Instant::now();
    let status = Command::new(&exe)
        .args(&args)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    println!("<== crashtest: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("the crash-kill harness failed ({status})"))
    }
}

/// Builds `sam-bench`, `samd` and `samctl` with `--release` and runs the
/// benchmark, writing `target/bench/`. `--quick` is passed on.
///
/// `--dev` builds and runs the dev-profile binaries instead (dependencies
/// are optimized in dev, and `cargo test --workspace` has built them
/// already), writing `target/bench-dev/`: CI's smoke test, which fails on
/// a panic, a failed request or a missing report key, never on a target.
fn bench(args: Vec<String>) -> Result<(), String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" | "--dev" | "--pipeline" | "--nodes" => {}
            // Passed on to sam-bench, which checks the count.
            "--hashes" | "--clients" if it.next().is_some() => {}
            _ => return Err(format!("bench: unknown argument `{a}`\n\n{USAGE}")),
        }
    }
    let dev = args.iter().any(|a| a == "--dev");
    if args.iter().any(|a| a == "--nodes") {
        // The pairs run `sam-simulator serve`: build it beside sam-bench.
        let mut build = vec!["build", "-p", "sam-simulator"];
        if !dev {
            build.push("--release");
        }
        step("build", &build)?;
        let exe = build_bench(dev)?;
        let rest: Vec<String> = std::iter::once("nodes".to_owned())
            .chain(args.iter().filter(|a| *a != "--nodes").cloned())
            .collect();
        let out_dir = if dev {
            "bench-nodes-dev"
        } else {
            "bench-nodes"
        };
        return run_bench_exe("bench --nodes", &exe, &rest, out_dir, "the nodes benchmark");
    }
    let exe = build_bench(dev)?;
    let out_dir = if dev { "bench-dev" } else { "bench" };
    run_bench_exe("bench", &exe, &args, out_dir, "the benchmark")
}

/// Builds `sam-bench`, `samd` and `samctl` (release; `dev`: the dev
/// profile) and returns the path of `sam-bench`; samd and samctl land
/// beside it, where it looks for them.
fn build_bench(dev: bool) -> Result<PathBuf, String> {
    let mut build = vec!["build", "-p", "sam-bench", "-p", "sam-host"];
    if !dev {
        build.push("--release");
    }
    step("build", &build)?;
    let profile = if dev { "debug" } else { "release" };
    Ok(target_dir().join(profile).join("sam-bench"))
}

/// Builds like [`bench`] (release; `--dev`: the dev profile) and runs
/// `sam-bench audit-timing`: N audit records (`--records`, default
/// 100,000) through samd, then `samctl integrity data --full` against the
/// resumed check, timed; writes `target/audit-timing/`
/// (`target/audit-timing-dev/`). Not part of [`ci`]: it runs for minutes.
fn audit_timing(args: Vec<String>) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let dev = args.iter().any(|a| a == "--dev");
    let exe = build_bench(dev)?;
    let out_dir = if dev {
        "audit-timing-dev"
    } else {
        "audit-timing"
    };
    let args: Vec<String> = std::iter::once("audit-timing".to_owned())
        .chain(args)
        .collect();
    run_bench_exe("audit-timing", &exe, &args, out_dir, "the audit-timing run")
}

/// Runs `exe ARGS --out target/OUT_DIR` in the root, printing `name` and
/// the duration; `what` names it in the error of a non-zero exit.
fn run_bench_exe(
    name: &str,
    exe: &Path,
    args: &[String],
    out_dir: &str,
    what: &str,
) -> Result<(), String> {
    let out = root().join("target").join(out_dir);
    println!("==> {name}: {} {}", exe.display(), args.join(" "));
    let started = Instant::now();
    let status = Command::new(exe)
        .args(args)
        .arg("--out")
        .arg(&out)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    println!("<== {name}: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Builds `sam-bench`, `samd` and `samctl` with `--release` (as [`bench`]
/// does: the figures are meant for release binaries) and runs the soak
/// test, writing `target/soak/`. The arguments go to `sam-bench soak`,
/// which checks them. Not part of [`ci`]: it runs for ten minutes.
fn soak(args: Vec<String>) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    step(
        "build",
        &["build", "--release", "-p", "sam-bench", "-p", "sam-host"],
    )?;
    let exe = target_dir().join("release").join("sam-bench");
    let args: Vec<String> = std::iter::once("soak".to_owned()).chain(args).collect();
    run_bench_exe("soak", &exe, &args, "soak", "the soak test")
}

/// Builds `sam-bench`, `samd` and `samctl` (release; `--dev`: the dev
/// profile, which `cargo test --workspace` has built already) and runs the
/// hostile-load test, writing `target/hostile/` (`--dev`:
/// `target/hostile-dev/`). `--quick` and `--dev` go to `sam-bench
/// hostile`.
fn hostile(args: Vec<String>) -> Result<(), String> {
    for a in &args {
        if a != "--quick" && a != "--dev" {
            return Err(format!("hostile: unknown argument `{a}`\n\n{USAGE}"));
        }
    }
    let dev = args.iter().any(|a| a == "--dev");
    let exe = build_bench(dev)?;
    let out_dir = if dev { "hostile-dev" } else { "hostile" };
    let args: Vec<String> = std::iter::once("hostile".to_owned()).chain(args).collect();
    run_bench_exe("hostile", &exe, &args, out_dir, "the hostile-load test")
}

fn ci() -> Result<(), String> {
    step("fmt", &["fmt", "--all", "--check"])?;
    step(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step("test", &["test", "--workspace"])?;
    // Crash consistency: 50 SIGKILLs of samd or the simulator under load.
    crashtest(vec!["--cycles".to_owned(), "50".to_owned()])?;
    // The smoke test: the quick benchmark on the binaries the
    // tests just built; fails on errors, never on a target.
    bench(vec!["--quick".to_owned(), "--dev".to_owned()])?;
    // The listener against hostile peers, short: fails on an honest
    // request that fails or on samd's descriptors reaching their limit
    // (about 20 s).
    hostile(vec!["--quick".to_owned(), "--dev".to_owned()])?;
    step(
        "firmware for the HSM target",
        &[
            "build",
            "--release",
            "--package",
            "sam-firmware",
            "--target",
            FIRMWARE_TARGET,
        ],
    )?;
    if big_endian_tools().is_ok() {
        big_endian()?;
    } else {
        println!("==> big-endian: skipped (no cross tools; ci/install-deps.sh installs them)");
    }
    tcb()?;
    fuzz(vec!["--smoke".to_owned()])
}

/// The fuzz targets of `fuzz/`, in the order they run.
const FUZZ_TARGETS: &[&str] = &[
    "sad_der",
    "token_der",
    "dispatch",
    "wrapped_key",
    "audit_chain",
    "stateful",
    "peering_container",
];

/// `cargo +nightly fuzz ARGS` in the root, through the rustup proxy: only
/// the proxy understands `+nightly`, and the toolchain rustup chose for
/// xtask must not leak.
fn cargo_fuzz(args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .arg("fuzz")
        .args(args)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .current_dir(root());
    cmd
}

/// Runs each fuzz target for a bounded time with debug assertions on (the
/// firmware's test platform refuses to build without them), after building
/// them all in one cargo invocation. A crash, panic, timeout or
/// out-of-memory stops the run with the artifact path that cargo-fuzz
/// prints. New inputs go to `fuzz/corpus/TARGET/` (not committed); the
/// committed seeds of `fuzz/seeds/TARGET/`, if any, are read as well.
fn fuzz(args: Vec<String>) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut targets: Vec<String> = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => seconds = 60,
            "--seconds" => {
                let v = it.next().ok_or("--seconds needs a value")?;
                seconds = v
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {v}"))?;
            }
            t if FUZZ_TARGETS.contains(&t) => targets.push(t.to_owned()),
            other => return Err(format!("fuzz: unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    const MISSING: &str = "`cargo +nightly fuzz` is not available: \
        run ci/install-deps.sh (it installs the nightly toolchain and cargo-fuzz)";
    match cargo_fuzz(&["--version"]).output() {
        Ok(out) if out.status.success() => {}
        _ => return Err(MISSING.to_owned()),
    }
    // One build for every target (or the one named), so that they share
    // the dependencies' compile time; `cargo fuzz run` below then finds
    // them fresh.
    let mut build = vec!["build", "--debug-assertions"];
    if let [one] = targets.as_slice() {
        build.push(one);
    }
    println!("==> fuzz build: cargo +nightly fuzz {}", build.join(" "));
    let started = Instant::now();
    let status = cargo_fuzz(&build)
        .status()
        .map_err(|e| format!("cannot start cargo fuzz: {e} ({MISSING})"))?;
    println!("<== fuzz build: {:.1}s", started.elapsed().as_secs_f64());
    if !status.success() {
        return Err(format!("fuzz build failed ({status})"));
    }
    for t in &targets {
        let corpus = root().join("fuzz").join("corpus").join(t);
        std::fs::create_dir_all(&corpus)
            .map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
        let seeds = root().join("fuzz").join("seeds").join(t);
        let corpus = corpus.display().to_string();
        let seeds = seeds.is_dir().then(|| seeds.display().to_string());
        let max_time = format!("-max_total_time={seconds}");
        let mut args = vec!["run", "--debug-assertions", t, &corpus];
        args.extend(seeds.as_deref());
        args.extend([
            "--",
            &max_time,
            "-rss_limit_mb=2048",
            "-timeout=20",
            "-print_final_stats=1",
        ]);
        println!(
            "==> fuzz {t} ({seconds}s): cargo +nightly fuzz {}",
            args.join(" ")
        );
        let started = Instant::now();
        let status = cargo_fuzz(&args)
            .status()
            .map_err(|e| format!("cannot start cargo fuzz: {e} ({MISSING})"))?;
        println!("<== fuzz {t}: {:.1}s", started.elapsed().as_secs_f64());
        if !status.success() {
            return Err(format!(
                "fuzz target {t} failed ({status}); see fuzz/artifacts/{t}/"
            ));
        }
    }
    Ok(())
}

/// The 32-bit big-endian Linux target the TCB tests run on under qemu.
const BE_TARGET: &str = "powerpc-unknown-linux-gnu";

/// Checks that the cross linker and qemu-user are installed.
fn big_endian_tools() -> Result<(), String> {
    for tool in ["powerpc-linux-gnu-gcc", "qemu-ppc"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(format!("{tool} not found; run ci/install-deps.sh"));
        }
    }
    Ok(())
}

/// Runs the sam-proto and sam-firmware tests on 32-bit big-endian PowerPC
/// under qemu-user: the CP5's CPU is of that kind, so byte order and
/// pointer width assumptions show up here first.
fn big_endian() -> Result<(), String> {
    big_endian_tools()?;
    let vars = [
        (
            "CARGO_TARGET_POWERPC_UNKNOWN_LINUX_GNU_LINKER",
            "powerpc-linux-gnu-gcc",
        ),
        (
            "CARGO_TARGET_POWERPC_UNKNOWN_LINUX_GNU_RUNNER",
            "qemu-ppc -L /usr/powerpc-linux-gnu",
        ),
    ];
    step_with_env(
        "big-endian tests",
        &[
            "test",
            "--target",
            BE_TARGET,
            "-p",
            "sam-proto",
            "-p",
            "sam-firmware",
        ],
        &vars,
    )
}

/// Source files that are in the crates but not in the production firmware:
/// the deterministic test platform (feature `test-platform`).
const NOT_SHIPPED: &[&str] = &["firmware/src/testing.rs"];

/// The one module allowed `unsafe`.
const SHIM: &str = "firmware/src/abi.rs";

/// Prints the size of the trusted computing base: per file, the lines of
/// code and of comment (inline `#[cfg(test)]` modules left out), then the
/// crates the firmware links on the HSM target, and `unsafe` outside the
/// shim. The last line is the summary the issue notes quote.
fn tcb() -> Result<(), String> {
    let mut total_code = 0usize;
    let mut total_doc = 0usize;
    let mut unsafe_outside = Vec::new();
    for dir in ["shared-proto/src", "firmware/src"] {
        let mut files = Vec::new();
        collect_rs(&root().join(dir), &mut files)?;
        files.sort();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let shown = file.strip_prefix(root()).unwrap_or(&file);
            let name = shown.to_string_lossy().replace('\\', "/");
            if NOT_SHIPPED.contains(&name.as_str()) {
                println!(
                    "{:>6}      {:>6}          {name} (test only, not counted)",
                    "-", "-"
                );
                continue;
            }
            let counted = count(&text);
            total_code += counted.code;
            total_doc += counted.doc;
            if name != SHIM && counted.unsafe_uses > 0 {
                unsafe_outside.push(format!("{name}: {}", counted.unsafe_uses));
            }
            println!(
                "{:>6} code {:>6} comment  {name}",
                counted.code, counted.doc
            );
        }
    }
    let crates = firmware_crates()?;
    println!("{total_code:>6} code {total_doc:>6} comment  total");
    println!(
        "firmware dependency tree ({FIRMWARE_TARGET}): {}",
        crates.join(", ")
    );
    for u in &unsafe_outside {
        println!("unsafe outside the shim: {u}");
    }
    println!(
        "TCB: {total_code} lines of code, {} crates in the firmware's dependency tree, {} unsafe outside the shim",
        crates.len(),
        unsafe_outside.len()
    );
    Ok(())
}

/// The crates (name and version) of the firmware's normal dependency tree
/// on the HSM target, the firmware and sam-proto included.
fn firmware_crates() -> Result<Vec<String>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--package",
            "sam-firmware",
            "--edges",
            "normal",
            "--target",
            FIRMWARE_TARGET,
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut crates: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some(format!("{} {}", parts.next()?, parts.next()?))
        })
        .collect();
    crates.sort();
    crates.dedup();
    Ok(crates)
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Line counts of one file.
struct Counted {
    code: usize,
    doc: usize,
    unsafe_uses: usize,
}

/// Counts code and comment lines up to the file's `#[cfg(test)]` module,
/// and the `unsafe` blocks, functions and impls among the code lines.
fn count(text: &str) -> Counted {
    let mut c = Counted {
        code: 0,
        doc: 0,
        unsafe_uses: 0,
    };
    for line in text.lines().map(str::trim) {
        if line == "#[cfg(test)]" {
            break;
        }
        if line.is_empty() {
            continue;
        }
        if line.starts_with("//") {
            c.doc += 1;
        } else {
            c.code += 1;
            let code = line.split("//").next().unwrap_or(line);
            c.unsafe_uses += code
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .filter(|w| *w == "unsafe")
                .count();
        }
    }
    c
}

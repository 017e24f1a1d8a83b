//! Project workflows, so that a fresh machine needs nothing but cargo.
//!
//! * `cargo xtask ci`: the test command of README.md and of `.ci/run`:
//!   format check, clippy with warnings denied, every workspace test, and
//!   the firmware built for the Cortex-M4F target (which proves it is
//!   `no_std` for real, not just by attribute).
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
  ci     format check, clippy (-D warnings), all tests, firmware for thumbv7em
  tcb    count the lines of the trusted computing base (firmware/, shared-proto/)
  help   this text
";

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "help".to_owned());
    let result = match arg.as_str() {
        "ci" => ci(),
        "tcb" => tcb(),
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
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    println!("==> {name}: cargo {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(cargo)
        .args(args)
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
    tcb()
}

/// Counts non-blank, non-comment lines per source file of the TCB.
fn tcb() -> Result<(), String> {
    let mut total_code = 0usize;
    let mut total_doc = 0usize;
    for dir in ["shared-proto/src", "firmware/src"] {
        let mut files = Vec::new();
        collect_rs(&root().join(dir), &mut files)?;
        files.sort();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let (code, doc) = count(&text);
            total_code += code;
            total_doc += doc;
            let shown = file.strip_prefix(root()).unwrap_or(&file);
            println!("{code:>6} code {doc:>6} comment  {}", shown.display());
        }
    }
    println!(
        "{total_code:>6} code {total_doc:>6} comment  TCB total (tests included where inline)"
    );
    Ok(())
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

fn count(text: &str) -> (usize, usize) {
    let mut code = 0;
    let mut doc = 0;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("//") {
            doc += 1;
        } else {
            code += 1;
        }
    }
    (code, doc)
}

//! `sam-crashtest` — the crash-kill harness (`cargo xtask crashtest
//! --cycles N [--seed S]`).
//!
//! samd runs with `[firmware] transport = "socket"` against a separately
//! started `sam-simulator serve`, so that either process can be SIGKILLed
//! on its own, the way a power cut or an OOM kill would hit one machine of
//! a deployment. After a one-time setup like the demo's (dev PKI,
//! simulator init, dual-control firmware initialization, IdP key import,
//! first Privileged User, a signer and its P-256 key), every cycle:
//!
//! 1. starts a mixed concurrent load: signer creation, key generation, key
//!    deletion, and two signing clients that send a fresh SAD (fresh SAD
//!    key, fresh identity token) per request;
//! 2. after a random 20–300 ms SIGKILLs samd or the simulator (chosen at
//!    random), lets the requests in flight fail, restarts the victim and
//!    waits until `/readyz` answers and a signature succeeds again;
//! 3. checks the invariants (see [`ledger::check`] and [`checks::check_cycle`]):
//!    every acknowledged operation is stored exactly once with exactly one
//!    success audit record; an unacknowledged one is fully there or absent
//!    (never half); the exported audit sequence numbers are contiguous from
//!    0 up to the firmware's counter and `samctl integrity data` exits 0;
//!    every SAD this cycle sent (and a sample of older ones), re-sent after
//!    the restart, is refused with ReplayedSad — never accepted twice. (One
//!    SAD that never got an answer may be accepted once on re-send: samd
//!    died before handing it to the firmware. Never after a firmware
//!    reboot, and never a second time.)
//!
//! What samd stored is read through its own interfaces where it has one
//! (`GET /admin/audit`, `GET /admin/status`, `samctl integrity data`) and
//! from its SQLite file, read-only, for the users and objects tables (there
//! is no endpoint listing users).
//!
//! The first broken invariant stops the run with exit code 1, the seed to
//! replay the schedule, and the kept work folder (PKI, store, both logs).
//! DEVELOPMENT ONLY: every key is a throw-away key in a temporary folder.

#![forbid(unsafe_code)]

mod args;
mod checks;
mod cycles;
mod ledger;
mod load;
mod report;
mod rng;
mod stack;
mod store;

use args::Args;
use sam_harness::HarnessError;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: sam-crashtest [--cycles N] [--seed S] [--bin-dir DIR] [--keep]
                     [--tolerate-audit-gaps]

Drives a mixed load (signer creation, key generation, signing, key
deletion) against samd and a separate sam-simulator, SIGKILLs one of them
at a random moment, restarts it and checks the invariants; N times.

  --cycles N    kill/restart cycles [default: 50]
  --seed S      seed of the schedule (kill moment, victim, ...); printed
                at the start so that a failure can be replayed
  --bin-dir DIR where samd, samctl and sam-simulator are
                [default: the folder of this executable]
  --keep        keep the work folder even when every check passed (it is
                always kept after a failure)
  --tolerate-audit-gaps
                DIAGNOSTIC ONLY: report missing audit sequence numbers and
                a failing `samctl integrity data` but go on, to exercise
                the other invariants; CI never passes it

Exit code 0: every cycle passed; 1: an invariant failed; 2: bad usage or
the harness itself could not run. DEVELOPMENT ONLY keys.";

/// The SAD tokens' lifetime. Re-sent SADs must still be inside it, so
/// that their refusal is about single use, not expiry.
const SAD_LIFETIME_SECS: u64 = 3600;

/// Older SADs re-sent per cycle besides the cycle's own ones.
const OLD_SAD_SAMPLE: usize = 16;

/// Only SADs younger than this are re-sent (well inside their lifetime).
const RESEND_MAX_AGE: Duration = Duration::from_secs(3000);

/// Timeout of one request to samd.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long samd or the simulator may take to come back.
const READY_WITHIN: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sam-crashtest: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dir = match tempfile::Builder::new().prefix("sam-crashtest-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("sam-crashtest: cannot make a temporary folder: {e}");
            return ExitCode::from(2);
        }
    };
    let replay = format!(
        "cargo xtask crashtest --cycles {} --seed {}{}",
        args.cycles,
        args.seed,
        if args.tolerate_audit_gaps {
            " --tolerate-audit-gaps"
        } else {
            ""
        }
    );
    println!(
        "sam-crashtest: {} cycles, seed {} (replay: {replay}), work folder {}",
        args.cycles,
        args.seed,
        dir.path().display()
    );
    let outcome = cycles::run(&args, dir.path());
    let code = match &outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Invariant { cycle, message }) => {
            println!();
            println!(
                "INVARIANT FAILED in cycle {cycle} (seed {}): {message}",
                args.seed
            );
            println!("replay the schedule: {replay}");
            ExitCode::FAILURE
        }
        Err(Failure::Harness(message)) => {
            println!();
            println!(
                "sam-crashtest could not run (seed {}): {message}",
                args.seed
            );
            ExitCode::from(2)
        }
    };
    if outcome.is_err() || args.keep {
        let kept = dir.keep();
        println!(
            "work folder kept: {} (samd.log, simulator.log, samd.db, pki/)",
            kept.display()
        );
    }
    code
}

/// Why a run stopped.
#[derive(Debug)]
enum Failure {
    /// An invariant did not hold: a finding about the SAM.
    Invariant { cycle: u32, message: String },
    /// The harness could not do its work (a binary missing, a port, ...).
    Harness(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Self::Harness(s)
    }
}

impl From<HarnessError> for Failure {
    fn from(e: HarnessError) -> Self {
        Self::Harness(e.into())
    }
}

fn err<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

//! The run: the one-time setup, then per cycle the load, the kill of samd
//! or the simulator at a random moment, the restart and the checks.

use crate::checks::{Trail, check_cycle, probe, resend};
use crate::ledger::{Ledger, Tallies};
use crate::load::{Shared, creator_task, deleter_task, generator_task, signer_task};
use crate::report::{Totals, cycle_line, summary};
use crate::rng::Rng;
use crate::stack::{Stack, wait_past};
use crate::{Args, Failure, err};
use sam_harness::{Connector, setup};
use sam_proto::ids::{KeyAlgorithm, Uuid};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which process a cycle kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    Samd,
    Simulator,
}

impl Victim {
    pub fn name(self) -> &'static str {
        match self {
            Self::Samd => "samd",
            Self::Simulator => "simulator",
        }
    }
}

pub fn run(args: &Args, dir: &Path) -> Result<(), Failure> {
    let started = Instant::now();
    let stack = Stack::create(&args.bin_dir, dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err("tokio"))?;
    let mgmt = stack.client(Connector::Management)?;
    let ssa = stack.client(Connector::Ssa)?;
    let ra = stack.client(Connector::Privileged)?;

    // Drop order: the guards go before `dir` is removed by the caller.
    let mut sim = stack.start_simulator()?;
    let mut booted = sim.booted_by();
    let mut samd = stack.start_samd("/healthz")?;

    // Setup, the demo's way: dual-control init, IdP key, first PU, then a
    // signer with one P-256 key.
    let pu = setup::initialize_firmware(stack.samctl(), stack.pki(), stack.simulator_spec())?;
    let idp = stack.pki().idp().map_err(err("IdP"))?;
    let ca = stack.pki().ca().map_err(err("signing CA"))?;
    let mut rng = Rng::new(args.seed);
    let s0 = Uuid::from_random(rng.bytes());
    let k0 = rt
        .block_on(setup::create_signer_with_keys(
            &ra,
            &idp,
            &ca,
            pu,
            s0,
            &[KeyAlgorithm::EcP256],
        ))?
        .pop()
        .ok_or_else(|| "setup: no key generated".to_owned())?;
    let mut ledger = Ledger {
        setup_key: k0.key_id.to_string(),
        ..Ledger::default()
    };
    ledger.setup_users.extend([pu.to_string(), s0.to_string()]);
    ledger.signers.push(s0);
    let sh = Arc::new(Shared {
        idp,
        ssa,
        ra,
        pu,
        s0,
        k0: k0.key_id,
        k0_public: k0.public_key,
        ledger: Mutex::new(ledger),
        rng: Mutex::new(Rng::new(rng.next_u64())),
        stop: AtomicBool::new(false),
        boot_epoch: AtomicU32::new(0),
    });
    println!(
        "setup: samd (socket transport) + sam-simulator, firmware initialized by two \
         administrators, IdP key imported, PU {pu}, signer {s0} with P-256 key {} ({:.1} s)",
        k0.key_id,
        started.elapsed().as_secs_f64()
    );

    let mut totals = Totals::default();
    let mut trail = Trail::default();
    for cycle in 1..=args.cycles {
        let t0 = Instant::now();
        let victim = if rng.coin() {
            Victim::Samd
        } else {
            Victim::Simulator
        };
        let delay = rng.between(20, 300);
        wait_past(booted);
        {
            let mut l = sh.ledger();
            l.cycle = Tallies::default();
            l.early_errors = (0, None);
        }
        sh.stop.store(false, Ordering::SeqCst);
        let tasks = vec![
            rt.spawn(signer_task(sh.clone(), cycle)),
            rt.spawn(signer_task(sh.clone(), cycle)),
            rt.spawn(creator_task(sh.clone())),
            rt.spawn(generator_task(sh.clone())),
            rt.spawn(deleter_task(sh.clone())),
        ];
        std::thread::sleep(Duration::from_millis(delay));
        // No new request after this point: what is in flight is what the
        // kill interrupts.
        sh.stop.store(true, Ordering::SeqCst);
        match victim {
            Victim::Samd => {
                samd.kill()?;
                totals.kills_samd += 1;
            }
            Victim::Simulator => {
                sim.kill()?;
                totals.kills_sim += 1;
            }
        }
        for t in tasks {
            rt.block_on(t).map_err(err("load task"))??;
        }
        let fail = |message: String| Failure::Invariant { cycle, message };
        // Coming back is itself an invariant: a store or state file that a
        // crash left unusable would show up here.
        let restarted = match victim {
            Victim::Samd => stack.start_samd("/readyz").map(|new| samd = new),
            Victim::Simulator => stack.start_simulator().and_then(|new| {
                booted = new.booted_by();
                sim = new;
                sh.boot_epoch.fetch_add(1, Ordering::SeqCst);
                stack.wait_ready(&mut samd)
            }),
        };
        restarted
            .and_then(|()| Ok(samd.check_alive()?))
            .and_then(|()| Ok(sim.check_alive()?))
            .map_err(|e: String| fail(format!("after the kill of {}: {e}", victim.name())))?;
        wait_past(booted);
        probe(&sh, &rt, cycle).map_err(fail)?;
        let (tally, early, violation) = {
            let l = sh.ledger();
            (l.cycle, l.early_errors.clone(), l.violation.clone())
        };
        if let Some(v) = violation {
            return Err(fail(v));
        }
        let in_cycle = |e| match e {
            Failure::Invariant { message, .. } => fail(message),
            other => other,
        };
        let report =
            check_cycle(&stack, &sh, &rt, &mgmt, args, cycle, &mut trail).map_err(in_cycle)?;
        let (resent, refused, first) = resend(&sh, &rt, cycle, &mut rng).map_err(in_cycle)?;
        totals.ops.merge(&tally);
        // The checks cover the whole run so far: the latest counts are
        // the run's.
        totals.unacked_present = report.checked.unacked_present;
        totals.unacked_absent = report.checked.unacked_absent;
        totals.audit_without_result = report.checked.audit_without_result;
        totals.audit_records = report.checked.audit_records;
        totals.resent += resent;
        totals.refused += refused;
        totals.first_on_resend += first;
        if report.new_gap.is_some() {
            totals.gap_cycles += 1;
        }
        println!(
            "{}",
            cycle_line(
                args,
                cycle,
                victim,
                delay,
                &tally,
                (resent, refused, first),
                &report,
                t0.elapsed()
            )
        );
        if let Some(gap) = &report.new_gap {
            println!("    {}", gap.replace('\n', "\n    "));
        }
        if let (n @ 1.., Some(first)) = early {
            println!("    note: {n} request(s) failed before the kill; first: {first}");
        }
        let _ = std::io::stdout().flush();
    }
    drop(samd);
    drop(sim);
    summary(args, &totals, started.elapsed());
    if totals.gap_cycles > 0 {
        // Tolerated means "not stopped at", never "passed".
        return Err(Failure::Invariant {
            cycle: args.cycles,
            message: format!(
                "audit sequence numbers went missing in {} cycle(s) (tolerated until the end \
                 by --tolerate-audit-gaps; the lines above name them)",
                totals.gap_cycles
            ),
        });
    }
    Ok(())
}

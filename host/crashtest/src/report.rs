//! What the run prints: one line per cycle and the summary.

use crate::Args;
use crate::checks::CycleReport;
use crate::cycles::Victim;
use crate::ledger::Tallies;
use std::time::Duration;

/// Totals for the summary.
#[derive(Debug, Default)]
pub struct Totals {
    pub kills_samd: u32,
    pub kills_sim: u32,
    pub ops: Tallies,
    pub unacked_present: u64,
    pub unacked_absent: u64,
    pub audit_without_result: u64,
    pub resent: u64,
    pub refused: u64,
    pub first_on_resend: u64,
    pub gap_cycles: u32,
    pub audit_records: usize,
}

/// The line of one cycle.
#[allow(clippy::too_many_arguments)]
pub fn cycle_line(
    args: &Args,
    cycle: u32,
    victim: Victim,
    delay: u64,
    tally: &Tallies,
    (resent, refused, first): (u64, u64, u64),
    report: &CycleReport,
    elapsed: Duration,
) -> String {
    format!(
        "cycle {cycle:>4}/{}: killed {:<9} after {delay:>3} ms; ops acked {:>3} unacked {:>2} \
         (users {}/{}, keys {}/{}, deletes {}/{}, signs {}/{}); re-sent {resent} SADs, \
         {refused} refused{}; audit {} records; {} ({:.1} s)",
        args.cycles,
        victim.name(),
        tally.acked(),
        tally.unacked(),
        tally.users.acked,
        tally.users.unacked,
        tally.keys.acked,
        tally.keys.unacked,
        tally.deletes.acked,
        tally.deletes.unacked,
        tally.signs.acked,
        tally.signs.unacked,
        if first > 0 {
            format!(", {first} unanswered SAD(s) first executed now")
        } else {
            String::new()
        },
        report.checked.audit_records,
        match &report.new_gap {
            Some(_) => "AUDIT GAP (tolerated)",
            None if report.old_gap => "checks ok (earlier gap tolerated)",
            None => "checks ok",
        },
        elapsed.as_secs_f64()
    )
}

pub fn summary(args: &Args, t: &Totals, elapsed: Duration) {
    println!();
    println!(
        "crashtest {}: {} cycles in {:.1} s (seed {}): {} samd kills, {} simulator kills",
        if t.gap_cycles > 0 {
            "finished WITH AUDIT GAPS"
        } else {
            "passed"
        },
        args.cycles,
        elapsed.as_secs_f64(),
        args.seed,
        t.kills_samd,
        t.kills_sim
    );
    println!(
        "  operations acknowledged {} (signers {}, keys {}, deletions {}, signatures {}), \
         unacknowledged {} (signers {}, keys {}, deletions {}, signatures {})",
        t.ops.acked(),
        t.ops.users.acked,
        t.ops.keys.acked,
        t.ops.deletes.acked,
        t.ops.signs.acked,
        t.ops.unacked(),
        t.ops.users.unacked,
        t.ops.keys.unacked,
        t.ops.deletes.unacked,
        t.ops.signs.unacked
    );
    println!(
        "  every acknowledged operation stored exactly once with one audit record; of the \
         unacknowledged signers/deletions, {} found applied and {} absent (none half-present); \
         {} firmware audit record(s) of undelivered results",
        t.unacked_present, t.unacked_absent, t.audit_without_result
    );
    println!(
        "  SADs re-sent after restarts: {}, refused as ReplayedSad: {}, accepted twice: 0 \
         (unanswered SADs first executed on re-send: {})",
        t.resent, t.refused, t.first_on_resend
    );
    if t.gap_cycles > 0 {
        println!(
            "  audit trail: {} records; GAPS appeared in {} cycle(s), tolerated \
             (--tolerate-audit-gaps): this run does NOT show a whole chain",
            t.audit_records, t.gap_cycles
        );
    } else {
        println!(
            "  audit trail: {} records, sequence numbers contiguous from 0 to the firmware's \
             counter, samctl integrity data ok after every restart",
            t.audit_records
        );
    }
}

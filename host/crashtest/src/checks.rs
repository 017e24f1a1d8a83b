//! The checks after each restart: a signature succeeds again, the audit
//! trail is whole and unchanged, the store matches the ledger, and every
//! re-sent SAD is refused.

use crate::ledger::{self, AuditRow, Checked};
use crate::load::{Shared, send_sad, verify};
use crate::rng::Rng;
use crate::stack::Stack;
use crate::{Args, Failure, OLD_SAD_SAMPLE, READY_WITHIN, RESEND_MAX_AGE, err, store};
use sam_client::{ClientError, Method, SamClient};
use sam_proto::ErrorType;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// After a restart, one signature must succeed again (retrying while
/// samd or its firmware link is still coming back).
pub fn probe(sh: &Shared, rt: &tokio::runtime::Runtime, cycle: u32) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if rt.block_on(send_sad(sh, cycle))? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no signature succeeded within {} s of the restart",
                READY_WITHIN.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The audit trail as the checks have seen it so far.
#[derive(Debug, Default)]
pub struct Trail {
    /// Every record exported so far, in sequence order.
    pub seen: Vec<AuditRow>,
    /// Missing sequence numbers already reported (tolerated gaps only).
    pub known_missing: Vec<u64>,
}

/// What one cycle's checks found.
#[derive(Debug)]
pub struct CycleReport {
    pub checked: Checked,
    /// A gap (or failed integrity check) not seen before, when tolerated.
    pub new_gap: Option<String>,
    /// An earlier, tolerated gap is still there.
    pub old_gap: bool,
}

/// Every `FULL_EXPORT_EVERY` cycles (and in the last one) the whole trail
/// is exported again and compared with what earlier cycles saw; in
/// between only the records after the last one seen are fetched. That is
/// as strict (a record vanished or changed would also break the firmware's
/// walk in `samctl integrity data`, which runs over the whole chain every
/// cycle) and keeps a 1,000-cycle run linear instead of quadratic.
const FULL_EXPORT_EVERY: u32 = 25;

/// The audit records after `after` as exported by `GET /admin/audit`,
/// all pages.
async fn audit_trail(mgmt: &SamClient, after: i64) -> Result<Vec<AuditRow>, Failure> {
    let mut rows = Vec::new();
    let mut after = after;
    loop {
        let page = mgmt
            .call(
                Method::GET,
                &format!("/admin/audit?after={after}&limit=1000"),
                None,
            )
            .await
            .map_err(err("GET /admin/audit"))?;
        let records = page
            .get("records")
            .and_then(Value::as_array)
            .ok_or_else(|| "GET /admin/audit: no records".to_owned())?;
        for r in records {
            rows.push(
                AuditRow::parse(r).map_err(|message| Failure::Invariant { cycle: 0, message })?,
            );
        }
        match page.get("next_after").and_then(Value::as_i64) {
            Some(n) => after = n,
            None => return Ok(rows),
        }
    }
}

/// The invariants on the audit trail and the store (no load running).
pub fn check_cycle(
    stack: &Stack,
    sh: &Shared,
    rt: &tokio::runtime::Runtime,
    mgmt: &SamClient,
    args: &Args,
    cycle: u32,
    trail: &mut Trail,
) -> Result<CycleReport, Failure> {
    let Trail {
        seen,
        known_missing,
    } = trail;
    // With tolerated gaps a hole may fill later: always the whole trail.
    let full =
        cycle.is_multiple_of(FULL_EXPORT_EVERY) || cycle == args.cycles || args.tolerate_audit_gaps;
    if full {
        let all = rt.block_on(audit_trail(mgmt, -1))?;
        let changed = seen
            .iter()
            .zip(&all)
            .find(|(before, now)| before != now)
            .map(|(before, _)| before.seq);
        if let Some(seq) = changed.or_else(|| (all.len() < seen.len()).then_some(all.len() as u64))
        {
            return Err(Failure::Invariant {
                cycle: 0,
                message: format!(
                    "the stored audit trail changed under an earlier export: record at position \
                     {seq} differs or vanished ({} records before, {} now)",
                    seen.len(),
                    all.len()
                ),
            });
        }
        *seen = all;
    } else {
        let after = seen
            .last()
            .map_or(-1, |r| i64::try_from(r.seq).unwrap_or(i64::MAX));
        let new = rt.block_on(audit_trail(mgmt, after))?;
        seen.extend(new);
    }
    let audit: &[AuditRow] = seen;
    let status = rt
        .block_on(mgmt.call(Method::GET, "/admin/status", None))
        .map_err(err("GET /admin/status"))?;
    let firmware_next = status
        .pointer("/firmware/next_audit_seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("GET /admin/status: no firmware.next_audit_seq: {status}"))?;
    let (missing, duplicates) = ledger::seq_gaps(audit, firmware_next);
    let integrity = stack.run_samctl(&["integrity", "data"])?;
    let (code, integrity) = (integrity.code, integrity.combined());
    let mut new_gap = None;
    let mut old_gap = false;
    if !missing.is_empty() || !duplicates.is_empty() || code != 0 {
        let mut text = ledger::describe_gaps(audit, &missing, &duplicates);
        if code != 0 {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "`samctl integrity data` exited {code}: {}",
                integrity.trim().replace('\n', " | ")
            ));
        }
        text.push_str(&format!(
            "\n(firmware next_audit_seq {firmware_next}, {} records stored: the missing ones \
             were issued by the firmware and never stored by samd)",
            audit.len()
        ));
        if !args.tolerate_audit_gaps {
            return Err(Failure::Invariant {
                cycle: 0,
                message: text,
            });
        }
        if missing.iter().any(|m| !known_missing.contains(m)) || !duplicates.is_empty() {
            known_missing.clone_from(&missing);
            new_gap = Some(text);
        } else {
            old_gap = true;
        }
    }
    let stored = store::read(stack.db())?;
    let checked = ledger::check(&sh.ledger(), &stored, audit)
        .map_err(|message| Failure::Invariant { cycle: 0, message })?;
    Ok(CycleReport {
        checked,
        new_gap,
        old_gap,
    })
}

/// Re-sends every SAD of `cycle` and a sample of older ones. Each must be
/// refused with ReplayedSad. The one exception: a SAD that never got an
/// answer may be accepted once — when samd died before handing it to the
/// firmware, the firmware never saw it; from then on it counts as
/// accepted, and a second acceptance fails the run. (Whether the firmware
/// saw it is cross-checked by the Signing audit count in
/// [`ledger::check`].) Returns (re-sent, refused, first executed now).
pub fn resend(
    sh: &Shared,
    rt: &tokio::runtime::Runtime,
    cycle: u32,
    rng: &mut Rng,
) -> Result<(u64, u64, u64), Failure> {
    let picks: Vec<usize> = {
        let l = sh.ledger();
        let mut picks: Vec<usize> = (0..l.sads.len())
            .filter(|i| l.sads.get(*i).is_some_and(|s| s.cycle == cycle))
            .collect();
        let older: Vec<usize> = (0..l.sads.len())
            .filter(|i| {
                l.sads
                    .get(*i)
                    .is_some_and(|s| s.cycle < cycle && s.made.elapsed() < RESEND_MAX_AGE)
            })
            .collect();
        for _ in 0..OLD_SAD_SAMPLE.min(older.len()) {
            if let Some(i) = older.get(rng.below(older.len() as u64) as usize) {
                picks.push(*i);
            }
        }
        picks
    };
    let (mut resent, mut refused, mut first) = (0, 0, 0);
    for i in picks {
        let Some(record) = sh.ledger().sads.get(i).cloned() else {
            continue;
        };
        resent += 1;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match rt.block_on(sh.ssa.sign_sad(&record.der)) {
                Err(ClientError::Sam {
                    error: ErrorType::ReplayedSad,
                    ..
                }) => {
                    refused += 1;
                    break;
                }
                Ok(signed) => {
                    let mut l = sh.ledger();
                    let Some(s) = l.sads.get_mut(i) else { break };
                    s.accepted += 1;
                    if s.accepted > 1 {
                        return Err(Failure::Invariant {
                            cycle,
                            message: format!(
                                "a SAD of cycle {} was accepted {} times (re-sent after the \
                                 restart and signed again)",
                                record.cycle, s.accepted
                            ),
                        });
                    }
                    drop(l);
                    // Only samd can have died with such a SAD in flight;
                    // a firmware that rebooted since must refuse it.
                    if record.boot_epoch != sh.boot_epoch.load(Ordering::SeqCst) {
                        return Err(Failure::Invariant {
                            cycle,
                            message: format!(
                                "an unanswered SAD of cycle {}, sent before a restart of the \
                                 simulator, was accepted by the rebooted firmware",
                                record.cycle
                            ),
                        });
                    }
                    verify(sh, &record.hash, &signed.signatures)
                        .map_err(|message| Failure::Invariant { cycle, message })?;
                    first += 1;
                    break;
                }
                Err(e) if transient(&e) && attempts < 20 => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(Failure::Invariant {
                        cycle,
                        message: format!(
                            "a re-sent SAD of cycle {} was refused, but not as ReplayedSad: {e}",
                            record.cycle
                        ),
                    });
                }
            }
        }
    }
    Ok((resent, refused, first))
}

/// An error that says "not now" rather than "no".
fn transient(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport(_)) || e.error_type() == Some(ErrorType::NotOperational)
}

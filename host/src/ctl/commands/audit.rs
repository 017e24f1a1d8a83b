//! The audit export (samd's `POST /admin/audit/checkpoint`, then
//! `GET /admin/audit` page by page, as JSON Lines) and its offline check.

use crate::ctl::audit_verify::{parse_sam_key, verify_export};
use crate::ctl::cli::{ExportAuditArgs, VerifyAuditArgs};
use crate::ctl::client::{Client, Method};
use crate::ctl::console;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::settings::Settings;
use sam_client::wire::Empty;
use sam_client::wire::admin::{AuditPage, AuditRow, Checkpoint};
use std::io::Write as _;
use std::path::Path;

/// Writes one JSON line (through a JSON value, so its keys are sorted).
fn line(out: &mut dyn std::io::Write, v: &impl serde::Serialize) -> Result<(), String> {
    let v = serde_json::to_value(v).map_err(|e| format!("JSON: {e}"))?;
    writeln!(out, "{v}").map_err(|e| e.to_string())
}

/// A checkpoint line: `{"checkpoint": {...}}`.
fn checkpoint_line(out: &mut dyn std::io::Write, c: &Checkpoint) -> Result<(), String> {
    line(out, &serde_json::json!({ "checkpoint": c }))
}

pub(super) async fn export_audit(s: &Settings, a: ExportAuditArgs) -> CtlResult<u8> {
    let client = Client::new(s)?;
    // The end of the export: a checkpoint signed now. samd stores it and
    // every record it covers before answering.
    let end: Checkpoint = client
        .post("/admin/audit/checkpoint", &Empty {})
        .await
        .map_err(|e| match e.samd_kind() {
            Some("RouteNotFound") => CtlError::failed(
                "this samd cannot have the firmware sign audit checkpoints; update samd",
            ),
            _ => e,
        })?;
    let to_stdout = a.out == Path::new("-");
    let mut out: Box<dyn std::io::Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&a.out)
                .map_err(|e| CtlError::failed(format!("{}: {e}", a.out.display())))?,
        ))
    };
    let io = |e: String| CtlError::failed(format!("{}: {e}", a.out.display()));
    let mut after = a.after;
    let (mut n, mut cps) = (0u64, 0u64);
    // The end checkpoint comes with the pages (samd stored it); it is
    // written from here only if the pages lacked it.
    let mut end_written = false;
    'pages: loop {
        let answer = client
            .send(
                Method::GET,
                &format!("/admin/audit?after={after}&limit=1000"),
                None,
            )
            .await?;
        if answer.status == 404 && answer.error().samd_kind() == Some("RouteNotFound") {
            return Err(CtlError::failed(
                "this samd has no GET /admin/audit endpoint; update samd to export the audit records",
            ));
        }
        let page: AuditPage = answer.into_json()?;
        let mut cp = page.checkpoints.iter().peekable();
        // A checkpoint at 0 precedes every record.
        while let Some(c) = cp.next_if(|c| c.next_seq == 0 && after < 0) {
            checkpoint_line(&mut out, c).map_err(io)?;
            cps += 1;
            end_written |= *c == end;
        }
        for r in &page.records {
            let seq = match r {
                AuditRow::Decoded(d) => i128::from(d.seq),
                AuditRow::Undecodable(u) => i128::from(u.seq),
            };
            if seq >= i128::from(end.next_seq) {
                break 'pages;
            }
            line(&mut out, r).map_err(io)?;
            n += 1;
            while let Some(c) = cp.next_if(|c| i128::from(c.next_seq) <= seq + 1) {
                if i128::from(c.next_seq) == seq + 1 {
                    checkpoint_line(&mut out, c).map_err(io)?;
                    cps += 1;
                    end_written |= *c == end;
                }
            }
        }
        match page.next_after {
            Some(next) if next > after => after = next,
            _ => break,
        }
    }
    if !end_written {
        checkpoint_line(&mut out, &end).map_err(io)?;
        cps += 1;
    }
    out.flush().map_err(|e| io(e.to_string()))?;
    if !to_stdout {
        eprintln!(
            "samctl: {n} audit records and {cps} checkpoints written to {} (ends at seq {})",
            a.out.display(),
            end.next_seq
        );
    }
    Ok(0)
}

/// `audit verify`: the offline check; prints the Table 52 style line,
/// then what is wrong. Exit 0 ok, 1 failed, 2 for a key or file that
/// cannot be read.
pub(super) fn verify_audit(a: &VerifyAuditArgs) -> u8 {
    let lines = console::AUDIT_VERIFY;
    let key_bytes = match std::fs::read(&a.sam_key) {
        Ok(b) => b,
        Err(_) if !Path::new(&a.sam_key).exists() => a.sam_key.clone().into_bytes(),
        Err(e) => {
            println!("{}", lines.failed);
            eprintln!("samctl: {}: {e}", a.sam_key);
            return 2;
        }
    };
    let key = match parse_sam_key(&key_bytes) {
        Ok(k) => k,
        Err(e) => {
            println!("{}", lines.failed);
            eprintln!("samctl: --sam-key: {e}");
            return 2;
        }
    };
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => {
            println!("{}", lines.failed);
            eprintln!("samctl: {}: {e}", a.file.display());
            return 2;
        }
    };
    let v = verify_export(&text, &key);
    println!("{}", if v.ok() { lines.ok } else { lines.failed });
    for p in &v.problems {
        println!("  {p}");
    }
    match v.last_checkpoint {
        Some((next_seq, boot, time)) => println!(
            "  {} records, {} checkpoints; last checkpoint: {next_seq} records, boot {boot}, time {time}",
            v.records, v.checkpoints
        ),
        None => println!("  {} records, no valid checkpoint", v.records),
    }
    u8::from(!v.ok())
}

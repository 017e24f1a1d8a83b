//! Integrity (seed §5.7 "Integrity"): the checksum file of the deployed
//! binaries, the code check against it, and samd's data check of the
//! users, keys and audit chain.

use super::failed;
use crate::ctl::checksum;
use crate::ctl::cli::{ChecksumArgs, IntegrityCodeArgs, IntegrityDataArgs};
use crate::ctl::client::Client;
use crate::ctl::console;
use crate::ctl::error::CtlResult;
use crate::ctl::files;
use crate::ctl::settings::{Settings, default_checksums, own_dir};
use sam_client::wire::Empty;
use sam_client::wire::admin::IntegrityReport;
use std::path::Path;

pub(super) fn checksum_files(s: &Settings, a: ChecksumArgs) -> CtlResult<u8> {
    let out = match a.out.or_else(|| s.file.checksums.clone()) {
        Some(p) => p,
        None => default_checksums()?,
    };
    let binaries = if a.binaries.is_empty() {
        let d = own_dir()?;
        let mut v = vec![d.join("samd"), d.join("samctl")];
        let sim = d.join("sam-simulator");
        if sim.exists() {
            v.push(sim);
        }
        v
    } else {
        a.binaries
    };
    let text = checksum::make(&binaries)?;
    files::write_out(&out, text.as_bytes())?;
    if out != Path::new("-") {
        eprintln!(
            "samctl: {} checksums written to {}",
            binaries.len(),
            out.display()
        );
    }
    Ok(0)
}

pub(super) fn integrity_code(s: &Settings, a: IntegrityCodeArgs) -> CtlResult<u8> {
    let path = match a.checksums.or_else(|| s.file.checksums.clone()) {
        Some(p) => p,
        None => default_checksums()?,
    };
    s.note(1, format!("checksum file {}", path.display()));
    match checksum::load(&path) {
        Ok(entries) => Ok(if checksum::check_all(&entries, false) {
            0
        } else {
            1
        }),
        Err(e) => {
            println!("{}", console::code_failed("SAM"));
            eprintln!("samctl: {e}");
            Ok(1)
        }
    }
}

pub(super) async fn integrity_data(s: &Settings, a: &IntegrityDataArgs) -> CtlResult<u8> {
    let lines = console::DATA_INTEGRITY;
    let path = if a.full {
        "/admin/integrity?full=true"
    } else {
        "/admin/integrity"
    };
    let report: IntegrityReport = match async { Client::new(s)?.post(path, &Empty {}).await }.await
    {
        Ok(r) => r,
        Err(e) => return Ok(failed(lines, &e)),
    };
    let ok = report.ok;
    println!("{}", if ok { lines.ok } else { lines.failed });
    for u in &report.users.bad {
        println!("  user {u}: the record fails the firmware's check");
    }
    for k in &report.keys.bad {
        println!("  key {k}: the wrapped key fails the firmware's check");
    }
    let audit = &report.audit;
    if let Some(b) = audit.chain_break {
        println!(
            "  audit chain breaks at stored record {} (expected record {})",
            b.seq, b.expected_seq
        );
    } else if !audit.complete {
        let next = audit
            .next_seq
            .map_or_else(|| "null".to_owned(), |n| n.to_string());
        println!(
            "  audit chain incomplete: record {next} and later, which the firmware issued, are \
             missing from the store"
        );
    }
    if s.verbose >= 1 {
        println!(
            "  checked {} users, {} keys, {} audit records",
            report.users.checked, report.keys.checked, audit.checked
        );
    }
    Ok(if ok { 0 } else { 1 })
}

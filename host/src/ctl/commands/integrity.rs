//! Integrity (seed §5.7 "Integrity"): the checksum file of the deployed
//! binaries, the code check against it, and samd's data check of the
//! users, keys and audit chain.

use super::{at, failed};
use crate::ctl::checksum;
use crate::ctl::cli::{ChecksumArgs, IntegrityCodeArgs};
use crate::ctl::client::Client;
use crate::ctl::console;
use crate::ctl::error::CtlResult;
use crate::ctl::files;
use crate::ctl::settings::{Settings, default_checksums, own_dir};
use serde_json::{Value, json};
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

pub(super) async fn integrity_data(s: &Settings) -> CtlResult<u8> {
    let lines = console::DATA_INTEGRITY;
    let report = match async { Client::new(s)?.post("/admin/integrity", &json!({})).await }.await {
        Ok(r) => r,
        Err(e) => return Ok(failed(lines, &e)),
    };
    let ok = report.get("ok").and_then(Value::as_bool) == Some(true);
    println!("{}", if ok { lines.ok } else { lines.failed });
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for u in list(at(&report, "/users/bad")) {
        println!("  user {u}: the record fails the firmware's check");
    }
    for k in list(at(&report, "/keys/bad")) {
        println!("  key {k}: the wrapped key fails the firmware's check");
    }
    let audit = at(&report, "/audit");
    if let Some(b) = audit.get("break").filter(|b| !b.is_null()) {
        println!(
            "  audit chain breaks at stored record {} (expected record {})",
            at(b, "/seq"),
            at(b, "/expected_seq")
        );
    } else if audit.get("complete").and_then(Value::as_bool) == Some(false) {
        println!(
            "  audit chain incomplete: record {} and later, which the firmware issued, are \
             missing from the store",
            at(audit, "/next_seq")
        );
    }
    if s.verbose >= 1 {
        println!(
            "  checked {} users, {} keys, {} audit records",
            at(&report, "/users/checked"),
            at(&report, "/keys/checked"),
            at(audit, "/checked")
        );
    }
    Ok(if ok { 0 } else { 1 })
}

//! The audit export: samd's `GET /admin/audit`, page by page, as JSON
//! lines.

use crate::ctl::cli::ExportAuditArgs;
use crate::ctl::client::{Client, Method};
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::settings::Settings;
use sam_client::wire::admin::AuditPage;
use std::io::Write as _;
use std::path::Path;

pub(super) async fn export_audit(s: &Settings, a: ExportAuditArgs) -> CtlResult<u8> {
    let client = Client::new(s)?;
    let to_stdout = a.out == Path::new("-");
    let mut out: Box<dyn std::io::Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&a.out)
                .map_err(|e| CtlError::failed(format!("{}: {e}", a.out.display())))?,
        ))
    };
    let io = |e: std::io::Error| CtlError::failed(format!("{}: {e}", a.out.display()));
    let mut after = a.after;
    let mut n = 0u64;
    loop {
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
        for r in &page.records {
            // Through a JSON value, so each line keeps its keys sorted.
            let line =
                serde_json::to_value(r).map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
            writeln!(out, "{line}").map_err(io)?;
            n += 1;
        }
        match page.next_after {
            Some(next) if next > after => after = next,
            _ => break,
        }
    }
    out.flush().map_err(io)?;
    if !to_stdout {
        eprintln!("samctl: {n} audit records written to {}", a.out.display());
    }
    Ok(0)
}

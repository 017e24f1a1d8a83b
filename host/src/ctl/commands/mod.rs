//! What each subcommand does: [`run`] dispatches to one module per
//! concern.
//!
//! * [`daemon`]: `start` and `stop` of samd;
//! * [`integrity`]: `checksum`, `integrity code`, `integrity data`;
//! * [`firmware`]: the dual-control `fw` family;
//! * [`peering`]: the peering interface (users, signers, keys, `sign`);
//! * [`keys`]: the key manager (`objects`, `private-keys`,
//!   `register-certificate`);
//! * [`audit`]: the audit export, `export-audit`;
//! * [`mail`]: `mail csr` and `mail register`, sam-mail's seal keys.

mod audit;
mod daemon;
mod firmware;
mod integrity;
mod keys;
mod mail;
mod peering;

use super::approval::parse_uuid;
use super::cli::{AuditCommand, Command, IntegrityCommand};
use super::console::Lines;
use super::error::{CtlError, CtlResult};
use super::files;
use super::settings::Settings;
use sam_proto::ids::Uuid;

/// Runs a command; returns the exit code. Errors that are not reported
/// through a Table 52 line come back as `Err` and are printed by the
/// caller.
pub async fn run(s: &Settings, command: Command) -> CtlResult<u8> {
    match command {
        Command::Start(a) => daemon::start(s, a).await,
        Command::Stop(a) => daemon::stop(s, &a),
        Command::Checksum(a) => integrity::checksum_files(s, a),
        Command::Integrity(IntegrityCommand::Code(a)) => integrity::integrity_code(s, a),
        Command::Integrity(IntegrityCommand::Data(a)) => integrity::integrity_data(s, &a).await,
        Command::Fw(f) => firmware::fw(s, f).await,
        Command::CreatePrivilegedUser(a) => peering::create_privileged_user(s, a).await,
        Command::CreateSigner(a) => peering::create_signer(s, a).await,
        Command::SignerMaintenance(a) => peering::signer_maintenance(s, a).await,
        Command::GenerateKey(a) => peering::generate_key(s, a).await,
        Command::DeleteKey(a) => peering::delete_key(s, a).await,
        Command::Sign(a) => peering::sign(s, a).await,
        Command::Objects(a) => keys::objects(s, a).await,
        Command::PrivateKeys(a) => keys::private_keys(s, a).await,
        Command::RegisterCertificate(a) => keys::register_certificate(s, a).await,
        Command::ExportAudit(a) | Command::Audit(AuditCommand::Export(a)) => {
            audit::export_audit(s, a).await
        }
        Command::Audit(AuditCommand::Verify(a)) => Ok(audit::verify_audit(&a)),
        Command::Mail(m) => mail::mail(s, m).await,
    }
}

/// Prints the failed line of `lines` and the error; the exit code.
fn failed(lines: Lines, e: &CtlError) -> u8 {
    println!("{}", lines.failed);
    eprintln!("samctl: {e}");
    e.exit_code()
}

/// Prints samd's answer (a `sam_client::wire` type) as pretty JSON.
fn print_json(v: &impl serde::Serialize) -> CtlResult<u8> {
    let text = serde_json::to_value(v)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
    println!("{text}");
    Ok(0)
}

fn random_uuid() -> CtlResult<Uuid> {
    Ok(Uuid::from_random(files::random::<16>()?))
}

fn user_id_or_random(given: Option<&str>) -> CtlResult<Uuid> {
    match given {
        Some(u) => parse_uuid(u, "--user-id"),
        None => random_uuid(),
    }
}

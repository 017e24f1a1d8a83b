//! `samd`: the SAM host daemon.

use clap::Parser;
use sam_host::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// The SAM host daemon: the SAM Peering Interface, the SSA signing
/// endpoint, the key manager and the management endpoints over mutual-TLS
/// HTTPS, in front of the SAM firmware.
///
/// samd is untrusted by design: every authorization decision and every use
/// of a signer key happens in the firmware; samd relays requests and keeps
/// the records the firmware authenticates.
#[derive(Parser, Debug)]
#[command(
    name = "samd",
    version,
    after_help = "\
Example:
  samd --config /etc/sam/samd.toml
  SAMD_LISTEN=0.0.0.0:8443 SAMD_LOG_FORMAT=json samd --config samd.toml
  samd --print-pin ssa-client.pem      # the pin for a [[connector]]

Every configuration key and its default is documented in samd.example.toml.
SIGTERM or SIGINT: stop accepting, finish in-flight requests, flush the
store, exit 0."
)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, short, value_name = "PATH", default_value = "samd.toml")]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Print the connector pin (SHA-256 of the DER certificate) of each
    /// certificate in a PEM file, and exit.
    #[arg(long, value_name = "PEM")]
    print_pin: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(pem) = args.print_pin {
        return match sam_host::api::tls::read_certificates(&pem) {
            Ok(certs) => {
                for c in certs {
                    println!(
                        "{}",
                        hex::encode(sam_host::api::certificate_pin(c.as_ref()))
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("samd: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load(&args.config).and_then(|c| c.connectors().map(|_| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("samd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check_config {
        println!("configuration ok");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = sam_host::daemon::init_logging(&config) {
        eprintln!("samd: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("samd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sam_host::daemon::run(
        config,
        sam_host::daemon::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "samd failed");
            eprintln!("samd: {e}");
            ExitCode::FAILURE
        }
    }
}

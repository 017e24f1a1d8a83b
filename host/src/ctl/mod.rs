//! `samctl`: the management and integrator CLI (seed §5.7, Tables 51
//! and 52; DESIGN §4 "Management").
//!
//! * [`cli`]: the command line (clap derive);
//! * [`settings`]: flags, `SAMCTL_*` variables and `samctl.toml`;
//! * [`client`]: mutual-TLS HTTPS to samd;
//! * [`console`]: the Table 52 console lines;
//! * [`approval`]: administrators' approvals (dual control), also split
//!   across machines;
//! * [`checksum`]: code integrity (SHA-512, `sha512sum` format);
//! * [`process`]: start and stop of samd;
//! * [`files`]: keys, certificates, tokens;
//! * [`commands`]: what each subcommand does.
//!
//! Exit codes: 0 ok (also for Table 52's warnings), 1 failed, 2 usage
//! error.

pub mod approval;
pub mod audit_verify;
pub mod checksum;
pub mod cli;
pub mod client;
pub mod commands;
pub mod console;
pub mod error;
pub mod files;
pub mod process;
pub mod settings;

use clap::Parser as _;
use std::process::ExitCode;

/// Runs samctl with the process's arguments.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let settings = match settings::Settings::resolve(&cli.global) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("samctl: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("samctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(&settings, cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("samctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

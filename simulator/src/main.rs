//! `sam-simulator`: the CP5 stand-in as a command.
//!
//! `init` makes a state directory, `serve` runs the firmware behind a
//! socket until SIGTERM/SIGINT, `status` asks a running simulator for the
//! firmware's state. Logs go to stderr (`RUST_LOG` filters, default
//! `info`).

use clap::{Parser, Subcommand};
use sam_proto::command::{GetStatus, Status};
use sam_proto::frame::{MAX_BODY_LEN, decode_exact, encode_body};
use sam_simulator::client::SocketClient;
use sam_simulator::{CryptoBackend, ListenAddr, SimError, Simulator};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "sam-simulator",
    version,
    about = "A software stand-in for the Utimaco CP5 HSM that runs the SAM firmware",
    long_about = "A software stand-in for the Utimaco CP5 HSM that runs the SAM firmware.\n\n\
        It keeps the Master Backup Key and the firmware's secure storage in a state \
        directory, and serves the firmware's frame protocol on a Unix socket that only \
        its own user may use (plain TCP only on loopback, for development).\n\n\
        Example:\n  \
        sam-simulator init --state-dir /var/lib/sam-sim --operator hsmop --operator-key hsmop.key\n  \
        sam-simulator serve --state-dir /var/lib/sam-sim --listen unix:/run/sam/sim.sock\n  \
        sam-simulator status --connect unix:/run/sam/sim.sock"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a state directory with a fresh Master Backup Key and an HSM operator.
    #[command(
        long_about = "Create a state directory with a fresh Master Backup Key and an HSM operator.\n\n\
        Writes the MBK of slot --mbk-slot (32 random bytes from the OS, mode 0600; \
        <state-dir>/mbk.key for slot 0, mbk-N.key for slot N) and an empty \
        <state-dir>/state.bin. Refuses to touch a directory that already has either: a new \
        MBK would orphan every key and record made under the old one.\n\n\
        With --operator NAME --operator-key FILE, creates the HSM operator who logs on for \
        Initialize SAM Firmware (seed: manageFW init LogonPass=<user>,<credential> <MBK slot>): \
        a random 32-byte secret kept in <state-dir>/operators/NAME.key, as the HSM keeps its \
        users, and written for the operator to FILE (mode 0600, must not exist). Without an \
        operator, nobody can initialize the firmware.\n\n\
        With --import-mbk, the new directory shares the MBK of another HSM of the same \
        deployment, so both serve the same users and keys.\n\n\
        Examples:\n  \
        sam-simulator init --state-dir /var/lib/sam-sim --operator hsmop --operator-key hsmop.key\n  \
        sam-simulator init --state-dir /var/lib/sam-sim2 --import-mbk /var/lib/sam-sim/mbk.key"
    )]
    Init {
        /// The state directory to create (parents are created too).
        #[arg(long)]
        state_dir: PathBuf,
        /// Copy the MBK from this file (32 bytes) instead of drawing a new one.
        #[arg(long, value_name = "FILE")]
        import_mbk: Option<PathBuf>,
        /// The MBK slot the MBK is written to.
        #[arg(long, default_value_t = 0, value_name = "N")]
        mbk_slot: u8,
        /// Create this HSM operator (1 to 32 of A-Z a-z 0-9 _ . -).
        #[arg(long, value_name = "NAME", requires = "operator_key")]
        operator: Option<String>,
        /// Where to write the operator's secret (mode 0600; must not exist).
        #[arg(long, value_name = "FILE", requires = "operator")]
        operator_key: Option<PathBuf>,
    },

    /// Boot the firmware on a state directory and serve it on a socket.
    #[command(
        long_about = "Boot the firmware on a state directory and serve it on a socket.\n\n\
        Speaks the length-prefixed frames of sam-proto: request word = sub-function code, \
        response word = status, request id echoed. Many requests may be in flight per \
        connection; they run in parallel on all cores. SIGTERM or SIGINT stops accepting, \
        finishes the requests in flight and exits 0.\n\n\
        The --fault-* flags make the simulated HSM misbehave, for tests.\n\n\
        The Unix socket is made mode 0600 and serves only processes of the simulator's own \
        user (checked with the kernel's peer credentials): run samd as that user. Plain TCP \
        authenticates nobody, so it is refused unless the address is loopback and \
        --insecure-dev-tcp is given; a non-loopback TCP address is always refused.\n\n\
        Examples:\n  \
        sam-simulator serve --state-dir /var/lib/sam-sim --listen unix:/run/sam/sim.sock\n  \
        sam-simulator serve --state-dir ./sim --listen tcp:127.0.0.1:7000 --insecure-dev-tcp \
        --crypto portable --fault-latency-ms 20"
    )]
    Serve {
        /// The state directory (made by `init`).
        #[arg(long)]
        state_dir: PathBuf,
        /// Where to listen: `unix:/path/to/socket`, or `tcp:HOST:PORT` on loopback
        /// with --insecure-dev-tcp.
        #[arg(long, value_name = "ADDR")]
        listen: ListenAddr,
        /// Development only: allow plain, unauthenticated TCP on a loopback address.
        #[arg(long)]
        insecure_dev_tcp: bool,
        /// Crypto engine: `aws-lc` (accelerated) or `portable` (the firmware's RustCrypto).
        #[arg(long, default_value_t = CryptoBackend::AwsLc, value_name = "ENGINE")]
        crypto: CryptoBackend,
        /// Fault: wait this many milliseconds before each request.
        #[arg(long, default_value_t = 0, value_name = "N")]
        fault_latency_ms: u64,
        /// Fault: answer every request NotOperational without running the firmware.
        #[arg(long)]
        fault_not_operational: bool,
        /// Fault: abort the process right after the next durable write of the
        /// audit counter (after boot), before that operation's answer is sent.
        #[arg(long)]
        fault_abort_after_store: bool,
    },

    /// Ask a running simulator for the firmware's state.
    #[command(long_about = "Ask a running simulator for the firmware's state.\n\n\
        Sends Get_Status and prints the lifecycle state, boot count and the sequence \
        number of the next audit record. Exits 1 if the simulator cannot be reached or \
        refuses.\n\n\
        Example:\n  \
        sam-simulator status --connect tcp:127.0.0.1:7000")]
    Status {
        /// The simulator's address: `tcp:HOST:PORT` or `unix:/path/to/socket`.
        #[arg(long, value_name = "ADDR")]
        connect: ListenAddr,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sam-simulator: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, SimError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SimError::io("cannot start the async runtime", e))
}

fn run(cli: Cli) -> Result<(), SimError> {
    match cli.command {
        Command::Init {
            state_dir,
            import_mbk,
            mbk_slot,
            operator,
            operator_key,
        } => {
            // Checked before anything is written, so a bad name or an
            // existing key file leaves no half-made state directory.
            if let Some(name) = &operator
                && !sam_simulator::operators::valid_name(name.as_bytes())
            {
                return Err(SimError::BadOperator(name.clone()));
            }
            if let Some(file) = &operator_key
                && std::fs::symlink_metadata(file).is_ok()
            {
                return Err(SimError::AlreadyInitialized { path: file.clone() });
            }
            match import_mbk {
                None => {
                    let mut mbk = zeroize::Zeroizing::new([0u8; 32]);
                    sam_simulator::operators::random(mbk.as_mut_slice())?;
                    Simulator::init_in_slot(&state_dir, mbk_slot, &mbk)?;
                }
                Some(file) => {
                    let bytes =
                        zeroize::Zeroizing::new(std::fs::read(&file).map_err(|e| {
                            SimError::io(format!("cannot read {}", file.display()), e)
                        })?);
                    let mbk =
                        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| SimError::BadMbk {
                            path: file.clone(),
                            reason: format!(
                                "a Master Backup Key file holds 32 bytes, this one {}",
                                bytes.len()
                            ),
                        })?;
                    Simulator::init_in_slot(&state_dir, mbk_slot, &zeroize::Zeroizing::new(mbk))?;
                }
            }
            if let (Some(name), Some(file)) = (operator, operator_key) {
                let secret = Simulator::add_operator(&state_dir, &name)?;
                write_new_private(&file, secret.as_slice())?;
                println!("HSM operator {name}: secret written to {}", file.display());
            }
            println!("initialized {} (MBK slot {mbk_slot})", state_dir.display());
            Ok(())
        }
        Command::Serve {
            state_dir,
            listen,
            insecure_dev_tcp,
            crypto,
            fault_latency_ms,
            fault_not_operational,
            fault_abort_after_store,
        } => {
            let policy = sam_simulator::server::TcpPolicy { insecure_dev_tcp };
            // Refused before the firmware boots, so a refused address
            // leaves the state directory untouched.
            policy.check(&listen)?;
            if matches!(listen, ListenAddr::Tcp(_)) {
                tracing::warn!(%listen, "serving plain, unauthenticated TCP (development only)");
            }
            let sim = Arc::new(Simulator::open(&state_dir, crypto)?);
            let faults = sim.faults();
            faults.set_latency(Duration::from_millis(fault_latency_ms));
            faults.set_not_operational(fault_not_operational);
            // Armed after boot: booting itself writes the counters.
            faults.set_abort_after_store(fault_abort_after_store);
            if fault_latency_ms > 0 || fault_not_operational || fault_abort_after_store {
                tracing::warn!(
                    fault_latency_ms,
                    fault_not_operational,
                    fault_abort_after_store,
                    "fault injection is on"
                );
            }
            runtime()?.block_on(sam_simulator::serve(sim, listen, policy, stop_signal()))
        }
        Command::Status { connect } => runtime()?.block_on(status(connect)),
    }
}

/// Completes on SIGTERM or SIGINT. If the handlers cannot be installed the
/// server runs until killed, and says so.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

async fn status(connect: ListenAddr) -> Result<(), SimError> {
    let client = SocketClient::connect(&connect).await?;
    let body = encode_body(&GetStatus).map_err(|e| SimError::Protocol(format!("{e:?}")))?;
    let code = sam_proto::command::SubFunction::GetStatus.code();
    let (status, answer) = client.call(code, body).await?;
    if status != 0 {
        let name = sam_proto::ErrorType::from_code(status).map_or("unknown error", |e| e.name());
        return Err(SimError::Protocol(format!(
            "Get_Status refused: {name} ({status})"
        )));
    }
    let s: Status = decode_exact(&answer, MAX_BODY_LEN)
        .map_err(|e| SimError::Protocol(format!("undecodable Status: {e:?}")))?;
    println!("address:          {connect}");
    println!("state:            {:?}", s.state);
    println!(
        "firmware version: {}.{}",
        s.firmware_version >> 8,
        s.firmware_version & 0xff
    );
    println!("boot count:       {}", s.boot);
    println!("next audit seq:   {}", s.next_audit_seq);
    println!("audit head:       {}", hex(&s.audit_head));
    println!(
        "attestation key:  {}",
        s.attestation_key
            .as_ref()
            .map_or_else(|| "none".to_owned(), |k| hex(k))
    );
    println!("administrators:   {}", s.admins);
    println!("IdP keys:         {}", s.idp_keys);
    Ok(())
}

/// Writes a new file readable only by its owner; refuses an existing one.
fn write_new_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), SimError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SimError::io(format!("cannot create {}", path.display()), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| SimError::io(format!("cannot write {}", path.display()), e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

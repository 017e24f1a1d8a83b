//! The `sam-mail` binary: reads the configuration, opens the spool and
//! runs the SMTP listener, the signer, the forwarder and the metrics
//! listener until SIGTERM or Ctrl-C.

use clap::Parser;
use sam_mail::config::{Config, UnknownSender};
use sam_mail::forward::Forwarder;
use sam_mail::metrics::Metrics;
use sam_mail::signer::{SenderEntry, Signer};
use sam_mail::smtp::Server;
use sam_mail::spool::Spool;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const ABOUT: &str = "SMTP relay that signs outgoing mail as S/MIME with seal keys held by the SAM";

const LONG_ABOUT: &str = "\
sam-mail is an SMTP relay for mail clients that know nothing of the SAM.
Clients (from the networks in smtp.allowed_networks) submit mail to it; each
message is answered 250 only once it is fsync'd into the spool. The relay
then signs every message whose From (or Sender) address has a key in
[[signing.sender]] as S/MIME v4 (RFC 8551 multipart/signed): the original
MIME entity, byte for byte in canonical CRLF form, becomes the first part,
the detached CMS signature made by the SAM the second; the routing headers
(From, To, Subject, Date, ...) stay outside. Mail of senders without a key
passes unsigned or is refused (signing.unknown_sender). Senders may also
come from signing.senders_file, which `samctl mail csr` and `samctl mail
register` manage (a key and PKCS#10 request made in the SAM for an address,
the issued certificate checked and mapped); it is read at start.

Signing is a seal of the organization: the relay is a technical user. For
each batch (up to signing.batch_max messages collected within
signing.batch_window_ms) it makes a fresh SAD key, has the IdP bind it to
its login token, and sends ONE SAD per key to samd; the firmware checks the
SAD and signs every hash in it. A certificate that is expired or not yet
valid is not used: the message passes unsigned and a warning is logged.

Signed mail goes to forward.next_hop; failures are retried with exponential
backoff (forward.retry_initial_secs doubling up to forward.retry_max_secs),
and after forward.bounce_after_secs a delivery status notification goes to
the envelope sender. A message leaves the spool only after the next hop's
250: after a crash during a delivery it is sent again and logged as
possibly duplicated.

Logs go to stderr (RUST_LOG, default info). With [http], /metrics serves
Prometheus counters and /healthz answers ok.

Example: sam-mail --config /etc/sam-mail/sam-mail.toml
(all options with their defaults: sam-mail.example.toml in the crate).";

#[derive(Debug, Parser)]
#[command(name = "sam-mail", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, short)]
    config: PathBuf,
    /// Only read and check the configuration and the certificates, then exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sam-mail: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sam-mail: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = Config::load(&args.config)?;
    let tls = match (&config.smtp.tls_cert, &config.smtp.tls_key) {
        (Some(cert), Some(key)) => Some(sam_mail::tls_acceptor(cert, key)?),
        _ => None,
    };
    if args.check {
        for s in &config.signing.sender {
            let entry = SenderEntry::load(&s.key_id, &s.certificate)
                .map_err(|e| format!("signing.sender {}: {e}", s.address))?;
            let valid = if entry.valid_at(std::time::SystemTime::now()) {
                "valid now"
            } else {
                "NOT VALID NOW"
            };
            println!("{}: key {}, certificate {valid}", s.address, entry.key_id);
        }
        println!("configuration ok");
        return Ok(());
    }
    let spool = Arc::new(
        Spool::open(&config.spool.dir)
            .map_err(|e| format!("spool {}: {e}", config.spool.dir.display()))?,
    );
    let metrics = Arc::new(Metrics::default());
    let (queued, incoming) = tokio::sync::mpsc::unbounded_channel();
    let (ready, outgoing) = tokio::sync::mpsc::unbounded_channel();
    let signer = Arc::new(Signer::new(
        config.signing.clone(),
        Arc::clone(&spool),
        Arc::clone(&metrics),
        ready,
        queued.clone(),
    )?);
    let forwarder = Arc::new(Forwarder::new(
        config.forward.clone(),
        config.smtp.hostname.clone(),
        Arc::clone(&spool),
        Arc::clone(&metrics),
    )?);
    let refuse_unless = (config.signing.unknown_sender == UnknownSender::Refuse).then(|| {
        config
            .signing
            .sender
            .iter()
            .map(|s| s.address.to_ascii_lowercase())
            .collect()
    });
    let listener = tokio::net::TcpListener::bind(config.smtp.listen)
        .await
        .map_err(|e| format!("smtp.listen {}: {e}", config.smtp.listen))?;
    if let Some(http) = &config.http {
        let l = tokio::net::TcpListener::bind(http.listen)
            .await
            .map_err(|e| format!("http.listen {}: {e}", http.listen))?;
        tokio::spawn(sam_mail::metrics::serve(
            l,
            Arc::clone(&metrics),
            Arc::clone(&spool),
        ));
    }
    let server = Arc::new(Server {
        networks: config.networks()?,
        config: config.smtp.clone(),
        tls,
        spool,
        metrics,
        queued,
        refuse_unless,
    });
    tracing::info!(listen = %config.smtp.listen, "sam-mail listening");
    tokio::spawn(Arc::clone(&signer).watch_expiry());
    tokio::spawn(signer.run(incoming));
    tokio::spawn(Arc::clone(&forwarder).run(outgoing));
    tokio::select! {
        () = server.run(listener) => {}
        () = shutdown() => tracing::info!("stopping: no new sessions, waiting for the deliveries under way"),
    }
    // Sessions still open lose their connection without a 250 (their
    // client sends again); what was answered 250 is in the spool.
    if forwarder.stop(std::time::Duration::from_secs(10)).await {
        tracing::info!("stopped");
    } else {
        tracing::warn!("stopped with deliveries under way; they are re-sent at the next start");
    }
    Ok(())
}

async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

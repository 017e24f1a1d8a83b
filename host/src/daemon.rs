//! Putting the daemon together from its configuration: logging, store,
//! firmware transport, TLS, the server, and the shutdown sequence.

use crate::api::server::{ServeOptions, serve};
use crate::api::{App, Connectors, tls};
use crate::config::{Config, ConfigError, LogFormat, StoreBackend, TransportKind};
use crate::metrics::Metrics;
use crate::store::{PgOptions, Store};
use crate::transport::{FirmwareClient, InProcess, Socket, Transport};
use sam_simulator::{CryptoBackend, ListenAddr, SimError, Simulator};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Installs the global tracing subscriber for `config`.
pub fn init_logging(config: &Config) -> Result<(), ConfigError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.filter)
        .map_err(|e| ConfigError(format!("[log] filter {:?}: {e}", config.log.filter)))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| ConfigError(format!("logging: {e}")))
}

/// The transport the configuration asks for: the simulator's firmware
/// booted in this process from `state_dir`, or a socket to a simulator
/// process.
pub fn transport(config: &Config) -> Result<Arc<dyn Transport>, ConfigError> {
    let fw = &config.firmware;
    match fw.transport {
        TransportKind::Inprocess => {
            let backend: CryptoBackend = fw
                .crypto
                .parse()
                .map_err(|e: SimError| ConfigError(format!("[firmware] crypto: {e}")))?;
            let sim = Simulator::open(&fw.state_dir, backend)
                .map_err(|e| ConfigError(format!("[firmware] state_dir: {e}")))?;
            Ok(Arc::new(
                InProcess::new(Arc::new(sim)).with_max_in_flight(fw.max_calls_in_flight),
            ))
        }
        TransportKind::Socket => {
            let addr: ListenAddr = fw
                .socket
                .parse()
                .map_err(|e: SimError| ConfigError(format!("[firmware] socket: {e}")))?;
            Ok(Arc::new(Socket::new(
                addr,
                Duration::from_millis(fw.reconnect_initial_ms.max(1)),
                Duration::from_millis(fw.reconnect_max_ms.max(fw.reconnect_initial_ms).max(1)),
            )))
        }
    }
}

/// Runs the daemon until `shutdown` completes; then drains connections
/// and flushes the store. Returns an error only for a configuration or
/// start-up failure.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ConfigError> {
    let connectors = Connectors::new(config.connectors()?);
    let tls = tls::server_config_from_files(
        &config.server.tls_cert,
        &config.server.tls_key,
        &config.server.client_ca,
        connectors.pins(),
    )
    .map_err(|e| ConfigError(e.to_string()))?;
    let tokens = sam_client::bearer::TokenVerifier::from_pem_files(&config.tokens.idp_certificates)
        .map_err(|e| ConfigError(format!("[tokens] idp_certificates: {e}")))?;
    let metrics = Arc::new(Metrics::new());
    let transport = transport(&config)?;
    let store = match config.store.backend {
        StoreBackend::Sqlite => Store::open(&config.store.path, Arc::clone(&metrics)),
        StoreBackend::Postgres => {
            let options = PgOptions {
                url: config.store.url.clone(),
                pool_size: config.store.pool_size,
            };
            Store::open_postgres(options, Arc::clone(&metrics)).await
        }
    }
    .map_err(|e| ConfigError(e.to_string()))?;
    let app = Arc::new(App {
        firmware: FirmwareClient::new(transport, Arc::clone(&metrics)),
        store: store.clone(),
        metrics,
        connectors,
        max_body_bytes: config.server.max_body_bytes,
        audit_sync: Arc::default(),
        tokens: Arc::new(tokens),
    });
    crate::audit_sync::start(&app);
    forget_expired_tokens(store.clone(), config.store.used_tokens_keep_secs);
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| ConfigError(format!("listen on {}: {e}", config.server.listen)))?;
    tracing::info!(
        listen = %config.server.listen,
        db = %store.location(),
        transport = app.firmware.transport_kind(),
        "samd started"
    );
    let csc = crate::api::csc::CscServer::bind(&app, &config).await?;
    let options = fit_descriptor_limit(config.serve_options());
    // One shutdown for both listeners: the peering listener's future
    // fires it, the CSC listener follows.
    let (stop_csc, csc_stopped) = tokio::sync::watch::channel(false);
    let csc = csc.map(|server| {
        let mut stopped = csc_stopped;
        tokio::spawn(server.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }))
    });
    // Both listeners are bound: under systemd (`Type=notify`) the unit is
    // up now; clients that connect get served. Outside systemd there is no
    // NOTIFY_SOCKET and this does nothing.
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot tell the service manager that samd is ready");
    }
    serve(app, listener, tls, options, async {
        shutdown.await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        let _ = stop_csc.send(true);
    })
    .await;
    if let Some(task) = csc {
        let _ = task.await;
    }
    tracing::info!("flushing the store");
    tokio::task::spawn_blocking(move || store.close())
        .await
        .map_err(|e| ConfigError(format!("store shutdown: {e}")))?;
    tracing::info!("samd stopped");
    Ok(())
}

/// How often the used tokens older than `[store] used_tokens_keep_secs`
/// are swept.
const TOKEN_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the task that forgets used identity tokens kept longer than
/// `keep_secs` (none if 0): at start, then every [`TOKEN_SWEEP_INTERVAL`].
/// A failed sweep is logged and tried again at the next; the task ends
/// when the store is closed.
fn forget_expired_tokens(store: Store, keep_secs: u64) {
    if keep_secs == 0 {
        return;
    }
    let keep = i64::try_from(keep_secs).unwrap_or(i64::MAX);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TOKEN_SWEEP_INTERVAL);
        loop {
            every.tick().await;
            let used_before = crate::store::unix_now().saturating_sub(keep);
            let batch = crate::store::WriteBatch {
                audit: vec![],
                ops: vec![crate::store::WriteOp::ForgetUsedTokens { used_before }],
            };
            match store.write(batch).await {
                Ok(()) => tracing::debug!(used_before, "forgot the used tokens kept long enough"),
                Err(crate::store::StoreError::Closed) => return,
                Err(e) => tracing::warn!(error = %e, "cannot forget the old used tokens"),
            }
        }
    });
}

/// Descriptors samd keeps for itself beside its connections: the
/// listener, the store's files and connections, the firmware link, logs.
const RESERVED_DESCRIPTORS: usize = 64;

/// Lowers `max_connections` to what the process's descriptor limit can
/// hold, so that the connection limit, not the kernel, refuses the
/// excess: running out of descriptors would also fail the store and the
/// firmware link.
fn fit_descriptor_limit(mut options: ServeOptions) -> ServeOptions {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let Some(soft) = limit.current.and_then(|v| usize::try_from(v).ok()) else {
        return options;
    };
    let room = soft.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    if options.max_connections > room {
        tracing::warn!(
            max_connections = options.max_connections,
            descriptor_limit = soft,
            using = room,
            "max_connections does not fit the descriptor limit; lowered"
        );
        options.max_connections = room;
    }
    options
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => tracing::info!("SIGTERM: shutting down"),
        r = tokio::signal::ctrl_c() => {
            if r.is_ok() {
                tracing::info!("SIGINT: shutting down");
            }
        }
    }
}

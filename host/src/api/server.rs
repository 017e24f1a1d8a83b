//! The accept loop: TLS handshake, connector lookup, HTTP/1.1 or HTTP/2,
//! and graceful shutdown.

use super::App;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// HTTP/1.1 request headers must arrive within this.
    pub header_timeout: Duration,
    /// At shutdown, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves `listener` until `shutdown` completes, then stops accepting,
/// asks every connection to finish its in-flight requests and waits for
/// them (at most [`ServeOptions::shutdown_grace`]).
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let (stop_tx, stop_rx) = watch::channel(false);
    let limit = Arc::new(Semaphore::new(options.max_connections));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                        tracing::warn!(%addr, "connection limit reached; closing");
                        continue;
                    };
                    tasks.spawn(connection(
                        Arc::clone(&app),
                        acceptor.clone(),
                        stream,
                        addr,
                        stop_rx.clone(),
                        options,
                        permit,
                    ));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off briefly
                    // instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tracing::info!(connections = tasks.len(), "draining connections");
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown grace period over; closing the remaining connections"
        );
        tasks.abort_all();
    }
}

async fn connection(
    app: Arc<App>,
    acceptor: TlsAcceptor,
    stream: TcpStream,
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
    options: ServeOptions,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let tls = tokio::select! {
        r = tokio::time::timeout(options.handshake_timeout, acceptor.accept(stream)) => match r {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::info!(%addr, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(%addr, "TLS handshake timed out");
                return;
            }
        },
        _ = stop.changed() => return,
    };
    let connector = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| app.connectors.by_certificate(c.as_ref()));
    match &connector {
        Some(c) => tracing::debug!(%addr, connector = %c.name, "connection"),
        // The TLS verifier admits pinned certificates only; this is the
        // second line should the two ever disagree.
        None => tracing::warn!(%addr, "client certificate is pinned by no connector"),
    }
    let service = service_fn(move |req| Arc::clone(&app).handle(connector.clone(), req));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%addr, error = %e, "connection ended with an error");
    }
}

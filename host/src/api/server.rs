//! The accept loop: TLS handshake, connector lookup, HTTP/1.1 or HTTP/2,
//! the connection limits and timeouts of [`ServeOptions`], and graceful
//! shutdown.

use super::response::Reply;
use super::{App, Connector};
use hyper::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Limits of the server against slow, silent and greedy peers.
///
/// Every connection is in one of three phases, each with its own bound:
/// the TLS handshake ([`Self::handshake_timeout`]), waiting for a request
/// with nothing in flight ([`Self::idle_timeout`], also right after the
/// handshake), and an HTTP/1.1 request head that has begun to arrive but
/// is not complete ([`Self::header_timeout`]). A connection over its bound
/// is closed, so a peer cannot hold a descriptor and a connection slot by
/// sending nothing, or a byte now and then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// A TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// An HTTP/1.1 request head, from its first byte, must be complete
    /// within this. (HTTP/2 frames its headers; a stream that never
    /// completes them is bounded by the idle timeout.)
    pub header_timeout: Duration,
    /// A connection with no request in flight is closed after this: after
    /// the handshake, and between keep-alive requests (HTTP/1.1 and
    /// HTTP/2).
    pub idle_timeout: Duration,
    /// At shutdown, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// Connections served at once (handshakes included); more are closed
    /// on accept.
    pub max_connections: usize,
    /// Connections one connector may hold at once, unless the connector
    /// sets its own; more are closed right after the handshake.
    pub max_connections_per_connector: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_connector: 256,
        }
    }
}

/// What the accept loop serves: how a connection is admitted after its
/// TLS handshake, and how each of its requests is answered. The peering
/// listener ([`serve`]) admits pinned connectors within their connection
/// limits; the CSC listener (`super::csc`) admits every client.
pub trait Handler: Send + Sync + 'static {
    /// What an admitted connection holds while it is open (its peer, its
    /// connection slot).
    type Conn: Send + Sync + 'static;

    /// Admits the connection of `tls` from `addr`, or refuses it
    /// (`None`: it is closed).
    fn admit(
        &self,
        tls: &rustls::ServerConnection,
        addr: SocketAddr,
        options: &ServeOptions,
    ) -> Option<Self::Conn>;

    /// Answers one request of the connection `conn`.
    fn handle(
        self: Arc<Self>,
        conn: Arc<Self::Conn>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Result<Reply, Infallible>> + Send + 'static;
}

/// The peering listener's [`Handler`]: connectors by pin, their
/// connection limits, [`App::handle`].
struct Peering {
    app: Arc<App>,
    slots: Arc<ConnectorSlots>,
}

impl Handler for Peering {
    type Conn = (Option<Arc<Connector>>, Option<Slot>);

    fn admit(
        &self,
        tls: &rustls::ServerConnection,
        addr: SocketAddr,
        options: &ServeOptions,
    ) -> Option<Self::Conn> {
        let connector = tls
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| self.app.connectors.by_certificate(c.as_ref()));
        let slot = match &connector {
            Some(c) => {
                let limit = c
                    .max_connections
                    .unwrap_or(options.max_connections_per_connector);
                let Some(slot) = self.slots.take(c, limit) else {
                    tracing::warn!(%addr, connector = %c.name, limit, "connector's connection limit reached; closing");
                    return None;
                };
                tracing::debug!(%addr, connector = %c.name, "connection");
                Some(slot)
            }
            // The TLS verifier admits pinned certificates only; this is the
            // second line should the two ever disagree.
            None => {
                tracing::warn!(%addr, "client certificate is pinned by no connector");
                None
            }
        };
        Some((connector, slot))
    }

    fn handle(
        self: Arc<Self>,
        conn: Arc<Self::Conn>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Result<Reply, Infallible>> + Send + 'static {
        Arc::clone(&self.app).handle(conn.0.clone(), req)
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
    let peering = Arc::new(Peering {
        app,
        slots: Arc::default(),
    });
    serve_with(peering, listener, tls, options, shutdown).await;
}

/// [`serve`] for any [`Handler`]: the same limits, timeouts and
/// graceful shutdown.
pub async fn serve_with<H: Handler>(
    handler: Arc<H>,
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
                        Arc::clone(&handler),
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

async fn connection<H: Handler>(
    handler: Arc<H>,
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
    let Some(conn) = handler.admit(tls.get_ref().1, addr, &options) else {
        return;
    };
    let conn = Arc::new(conn);
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = Arc::clone(&activity);
        service_fn(move |req| {
            let busy = activity.begin();
            // Each request runs as its own task, to its end, even when the
            // client goes away (a timeout, a reset HTTP/2 stream) and hyper
            // drops the future that waits for it. Dropped half-way, a
            // handler could have had the firmware issue an audit record,
            // or use a SAD, whose answer then nobody stores: a hole in the
            // stored chain that no link break announces, so no outbox
            // recovery closes it (the crash test found one).
            let reply = tokio::spawn(Arc::clone(&handler).handle(Arc::clone(&conn), req));
            async move {
                let r = match reply.await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(error = %e, "a request handler ended without an answer");
                        Ok(super::error::ApiError::refused(
                            sam_proto::ErrorType::UnexpectedError,
                            sam_proto::codes::Cause::HostOther,
                            "the request was not completed; see samd's log",
                        )
                        .into_response())
                    }
                };
                drop(busy);
                r
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The protocol ALPN agreed on; without ALPN, hyper reads the preface.
    if h2 {
        builder = builder.http2_only();
    } else if tls.get_ref().1.alpn_protocol().is_some() {
        builder = builder.http1_only();
    }
    // hyper's own header timer also runs between keep-alive requests;
    // [`Activity`] keeps the two bounds apart instead.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    let io = Watched {
        inner: tls,
        activity: Arc::clone(&activity),
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let header_timeout = (!h2).then_some(options.header_timeout);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        why = activity.expired(header_timeout, options.idle_timeout) => {
            // Nothing is in flight: dropping the connection loses nothing.
            tracing::info!(%addr, why, "closing the connection");
            return;
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%addr, error = %e, "connection ended with an error");
    }
}

/// Connections held per connector (by pin).
#[derive(Debug, Default)]
struct ConnectorSlots(Mutex<HashMap<[u8; 32], usize>>);

impl ConnectorSlots {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], usize>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot of `connector`, or `None` if it holds `limit` already.
    fn take(self: &Arc<Self>, connector: &Connector, limit: usize) -> Option<Slot> {
        let mut counts = self.counts();
        let n = counts.entry(connector.pin).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: Arc::clone(self),
            pin: connector.pin,
        })
    }
}

/// One connection of a connector; given back on drop.
struct Slot {
    slots: Arc<ConnectorSlots>,
    pin: [u8; 32],
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        if let Some(n) = counts.get_mut(&self.pin) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.pin);
            }
        }
    }
}

/// What a connection is doing, for its timeouts: how many requests are in
/// the handler, since when none is, and when the bytes of the next request
/// head began to arrive.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    idle_since: Instant,
    head_started: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request reached the handler; it is in flight until the guard
    /// drops.
    fn begin(self: &Arc<Self>) -> Busy {
        {
            let mut s = self.state();
            s.in_flight += 1;
            s.head_started = None;
        }
        self.changed.notify_one();
        Busy(Arc::clone(self))
    }

    /// Bytes arrived; with nothing in flight they start a request head.
    fn read(&self) {
        let mut s = self.state();
        if s.in_flight == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// Completes when the connection has been idle for `idle`, or (when
    /// `header` is given) a request head has been arriving for longer than
    /// `header`; names which.
    async fn expired(&self, header: Option<Duration>, idle: Duration) -> &'static str {
        loop {
            let deadline = {
                let s = self.state();
                if s.in_flight > 0 {
                    None
                } else {
                    match (s.head_started, header) {
                        (Some(t), Some(h)) => Some((t + h, "request head not complete in time")),
                        _ => Some((s.idle_since + idle, "idle")),
                    }
                }
            };
            match deadline {
                None => self.changed.notified().await,
                Some((at, why)) if Instant::now() >= at => return why,
                Some((at, _)) => tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = self.changed.notified() => {}
                },
            }
        }
    }
}

/// A request in the handler.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        {
            let mut s = self.0.state();
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
                s.head_started = None;
            }
        }
        self.0.changed.notify_one();
    }
}

/// The TLS stream, telling [`Activity`] when bytes arrive.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

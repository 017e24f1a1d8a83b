//! The simulator as a network HSM: the firmware behind a Unix or TCP
//! socket that speaks the frames of [`sam_proto::frame`].
//!
//! A request frame's word is the sub-function code, a response frame's
//! word is the status (0, or an `ErrorType` code with an `ErrorAnswer`
//! body); the request id is echoed. Requests are pipelined: a connection
//! may have up to [`ServeOptions::max_in_flight`] requests outstanding,
//! answers go out as they complete (so possibly out of order) and the
//! client matches them by id. Beyond that bound the server stops reading
//! the connection, which pushes back on the client through the socket.
//!
//! Each request runs [`Simulator::call`]'s work on tokio's blocking pool,
//! at most [`ServeOptions::workers`] at a time (default: one per core), so
//! the firmware runs on all cores while the network side never blocks.
//!
//! A frame that cannot be parsed (bad length, version) is answered with
//! `MessageParseError` if its request id could be read, and the connection
//! is closed after its in-flight answers are written: after a framing
//! error the byte stream cannot be trusted to resynchronize. Other
//! connections are unaffected. A body that parses as a frame but not as the
//! command is the firmware's to refuse, and the connection stays open.
//!
//! Shutdown (the `shutdown` future completes): stop accepting, stop reading
//! new requests, finish and answer the requests in flight, close. Clients
//! that do not read their answers are cut off after [`DRAIN_TIMEOUT`].

use crate::{SimError, Simulator, refused};
use sam_firmware::abi::refusal;
use sam_proto::ErrorType;
use sam_proto::frame::{Frame, FrameError, HEADER_LEN, decode_frame_payload, frame_len};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// How long shutdown waits for connections to write their last answers.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the simulator listens, or where a client connects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A Unix domain socket path: `unix:/run/sam/sim.sock`.
    Unix(PathBuf),
    /// A TCP address (IP literal and port): `tcp:127.0.0.1:7000`.
    Tcp(SocketAddr),
}

impl core::str::FromStr for ListenAddr {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(SimError::BadAddress(s.to_owned()));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = s.strip_prefix("tcp:") {
            return addr
                .parse()
                .map(Self::Tcp)
                .map_err(|_| SimError::BadAddress(s.to_owned()));
        }
        Err(SimError::BadAddress(s.to_owned()))
    }
}

impl core::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// Tuning of [`serve_on`].
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Firmware calls running at once, across all connections.
    pub workers: usize,
    /// Requests outstanding per connection before the server stops reading
    /// it.
    pub max_in_flight: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            max_in_flight: 256,
        }
    }
}

enum Socket {
    /// With the uid allowed to connect: the socket file's owner.
    Unix(UnixListener, u32),
    Tcp(TcpListener),
}

/// Whether plain TCP may be served, and then only on loopback: the
/// `--insecure-dev-tcp` switch.
///
/// The socket is the HSM's LAN interface, and whoever can send frames on
/// it can drive the firmware (before initialization, up to presenting an
/// operator logon; after, everything samd can). The default therefore
/// serves only a Unix socket, which the host authenticates: the file is
/// made mode 0600 and every connection's peer credentials (`SO_PEERCRED`)
/// must name the socket's owner, so only processes of the simulator's own
/// user (samd runs as it) connect. Plain TCP authenticates nobody; it is
/// allowed only for development, only on a loopback address, and only
/// with this switch. A non-loopback plain TCP address is refused even
/// with it (mutual TLS for a remote samd is not implemented).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpPolicy {
    /// Allow plain TCP on a loopback address.
    pub insecure_dev_tcp: bool,
}

impl TcpPolicy {
    /// Refuses `addr` unless this policy allows it.
    pub fn check(self, addr: &ListenAddr) -> Result<(), SimError> {
        let ListenAddr::Tcp(a) = addr else {
            return Ok(());
        };
        let refuse = |reason: &str| SimError::Insecure {
            addr: addr.to_string(),
            reason: reason.to_owned(),
        };
        if !a.ip().is_loopback() {
            return Err(refuse(
                "plain TCP on a non-loopback address lets anyone on the network drive the HSM; \
                 listen on unix:PATH (only the simulator's user may connect) instead; \
                 --insecure-dev-tcp allows only 127.0.0.0/8 and ::1",
            ));
        }
        if !self.insecure_dev_tcp {
            return Err(refuse(
                "plain TCP authenticates no client; listen on unix:PATH (only the \
                 simulator's user may connect), or add --insecure-dev-tcp for a loopback \
                 development setup",
            ));
        }
        Ok(())
    }
}

/// A bound listening socket. Binding apart from serving lets a caller
/// learn the port of `tcp:127.0.0.1:0` before clients connect. The Unix
/// socket file is removed when the listener is dropped.
pub struct Listener {
    socket: Socket,
    addr: ListenAddr,
}

impl core::fmt::Debug for Listener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let ListenAddr::Unix(path) = &self.addr {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Listener {
    /// Binds `addr` under the default [`TcpPolicy`]: a Unix socket only.
    pub async fn bind(addr: &ListenAddr) -> Result<Self, SimError> {
        Self::bind_with(addr, TcpPolicy::default()).await
    }

    /// Binds `addr` if `policy` allows it. A leftover Unix socket file that
    /// nobody listens on is replaced; a live one, or any other file at that
    /// path, is an error. The Unix socket is made mode 0600, and only its
    /// owner's processes are served (see [`TcpPolicy`]).
    pub async fn bind_with(addr: &ListenAddr, policy: TcpPolicy) -> Result<Self, SimError> {
        policy.check(addr)?;
        match addr {
            ListenAddr::Unix(path) => {
                use std::os::unix::fs::{MetadataExt, PermissionsExt};
                remove_stale_socket(path).await?;
                let l = UnixListener::bind(path)
                    .map_err(|e| SimError::io(format!("cannot listen on {addr}"), e))?;
                // Whoever connects between bind and chmod is still refused
                // by the peer-credential check in `accept`.
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| SimError::io(format!("cannot restrict {addr}"), e))?;
                let owner = std::fs::symlink_metadata(path)
                    .map_err(|e| SimError::io(format!("cannot read {addr}"), e))?
                    .uid();
                Ok(Self {
                    socket: Socket::Unix(l, owner),
                    addr: addr.clone(),
                })
            }
            ListenAddr::Tcp(a) => {
                let l = TcpListener::bind(a)
                    .await
                    .map_err(|e| SimError::io(format!("cannot listen on {addr}"), e))?;
                let local = l
                    .local_addr()
                    .map_err(|e| SimError::io(format!("cannot read the address of {addr}"), e))?;
                Ok(Self {
                    socket: Socket::Tcp(l),
                    addr: ListenAddr::Tcp(local),
                })
            }
        }
    }

    /// The address actually bound (with the real port for port 0).
    pub fn local_addr(&self) -> &ListenAddr {
        &self.addr
    }
}

async fn remove_stale_socket(path: &Path) -> Result<(), SimError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let in_use = || {
        SimError::io(
            format!("cannot listen on unix:{}", path.display()),
            std::io::Error::from(std::io::ErrorKind::AddrInUse),
        )
    };
    if !meta.file_type().is_socket() {
        return Err(in_use());
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(in_use());
    }
    std::fs::remove_file(path)
        .map_err(|e| SimError::io(format!("cannot remove stale socket {}", path.display()), e))
}

/// Binds `listen` and serves `sim` on it with default [`ServeOptions`]
/// until `shutdown` completes; then drains (see the module doc) and
/// returns.
pub async fn serve(
    sim: Arc<Simulator>,
    listen: ListenAddr,
    policy: TcpPolicy,
    shutdown: impl Future,
) -> Result<(), SimError> {
    let listener = Listener::bind_with(&listen, policy).await?;
    // Under systemd (`Type=notify`) the unit is up once the socket
    // accepts: samd's connections no longer fail from here on. Outside
    // systemd there is no NOTIFY_SOCKET and this does nothing.
    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "cannot tell the service manager that the simulator is ready");
    }
    serve_on(sim, listener, ServeOptions::default(), shutdown).await
}

/// Serves `sim` on an already bound listener.
pub async fn serve_on(
    sim: Arc<Simulator>,
    listener: Listener,
    options: ServeOptions,
    shutdown: impl Future,
) -> Result<(), SimError> {
    let workers = Arc::new(Semaphore::new(options.workers.max(1)));
    let max_in_flight = options.max_in_flight.max(1);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tracing::info!(listen = %listener.addr, workers = options.workers, "serving");
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            a = accept(&listener.socket) => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let conn = Connection {
                    sim: sim.clone(),
                    workers: workers.clone(),
                    max_in_flight,
                    stop: stop_rx.clone(),
                    peer,
                };
                match stream {
                    Stream::Unix(s) => conns.spawn(conn.run(s)),
                    Stream::Tcp(s) => conns.spawn(conn.run(s)),
                };
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracing::info!(
        connections = conns.len(),
        "shutting down: no new connections, draining"
    );
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!("drain timed out; closing the remaining connections");
        conns.abort_all();
    }
    tracing::info!("stopped");
    Ok(())
}

enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(socket: &Socket) -> std::io::Result<(Stream, String)> {
    match socket {
        Socket::Unix(l, owner) => loop {
            let (s, _) = l.accept().await?;
            // The socket's mode keeps other users out; the peer's
            // credentials, checked by the kernel, close the window between
            // bind and chmod and any later chmod of the file.
            match s.peer_cred() {
                Ok(cred) if cred.uid() == *owner => {
                    return Ok((Stream::Unix(s), format!("unix uid {}", cred.uid())));
                }
                Ok(cred) => {
                    tracing::warn!(uid = cred.uid(), pid = ?cred.pid(), "refused a connection from another user");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refused a connection without peer credentials")
                }
            }
        },
        Socket::Tcp(l) => {
            let (s, peer) = l.accept().await?;
            s.set_nodelay(true)?;
            Ok((Stream::Tcp(s), peer.to_string()))
        }
    }
}

/// An encoded answer frame, holding its connection's in-flight permit until
/// it is written.
struct Outgoing {
    bytes: Vec<u8>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// A request frame read from the stream.
struct Request {
    code: u16,
    id: u32,
    body: Vec<u8>,
}

/// Why reading a request stopped.
enum ReadEnd {
    /// The peer closed (or reset) the stream.
    Closed,
    /// Not a frame. The id, if it could be read, gets an answer.
    Malformed { id: Option<u32>, why: FrameError },
}

fn id_at(header: &[u8]) -> Option<u32> {
    // Header after the length prefix: version u8 | word u16 | id u32.
    header
        .get(3..HEADER_LEN)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
}

async fn read_request<R: AsyncRead + Unpin>(rd: &mut R) -> Result<Request, ReadEnd> {
    let mut prefix = [0u8; 4];
    rd.read_exact(&mut prefix)
        .await
        .map_err(|_| ReadEnd::Closed)?;
    let len = match frame_len(prefix) {
        Ok(len) => len,
        Err(why @ FrameError::Oversize) => {
            // Refuse the body unread, but the header is small and names
            // the request to answer.
            let mut header = [0u8; HEADER_LEN];
            let id = match rd.read_exact(&mut header).await {
                Ok(_) => id_at(&header),
                Err(_) => None,
            };
            return Err(ReadEnd::Malformed { id, why });
        }
        Err(why) => return Err(ReadEnd::Malformed { id: None, why }),
    };
    let mut payload = vec![0u8; len];
    rd.read_exact(&mut payload)
        .await
        .map_err(|_| ReadEnd::Closed)?;
    match decode_frame_payload(&payload) {
        Ok(Frame {
            word, request_id, ..
        }) => Ok(Request {
            code: word,
            id: request_id,
            body: payload.split_off(HEADER_LEN),
        }),
        Err(why) => Err(ReadEnd::Malformed {
            id: id_at(&payload),
            why,
        }),
    }
}

fn response_frame(status: u16, id: u32, body: &[u8]) -> Vec<u8> {
    let frame = Frame {
        word: status,
        request_id: id,
        body,
    };
    match frame.to_vec() {
        Ok(bytes) => bytes,
        // The firmware's answers are bounded by MAX_BODY_LEN, so this is
        // unreachable; answer something the client can decode.
        Err(_) => {
            let answer = refusal(ErrorType::UnexpectedError);
            let fallback = Frame {
                word: answer.status,
                request_id: id,
                body: &answer.body,
            };
            fallback.to_vec().unwrap_or_default()
        }
    }
}

/// One client connection.
struct Connection {
    sim: Arc<Simulator>,
    workers: Arc<Semaphore>,
    max_in_flight: usize,
    stop: watch::Receiver<bool>,
    peer: String,
}

impl Connection {
    async fn run<S: AsyncRead + AsyncWrite + Send + 'static>(mut self, stream: S) {
        tracing::debug!(peer = %self.peer, "connection opened");
        let (rd, wr) = tokio::io::split(stream);
        let mut rd = BufReader::new(rd);
        let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
        let writer = tokio::spawn(write_loop(wr, rx));
        let in_flight = Arc::new(Semaphore::new(self.max_in_flight));
        loop {
            if *self.stop.borrow() {
                break;
            }
            // Backpressure: no permit, no read.
            let permit = tokio::select! {
                p = in_flight.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                _ = self.stop.changed() => break,
                _ = tx.closed() => break,
            };
            let read = tokio::select! {
                r = read_request(&mut rd) => r,
                _ = self.stop.changed() => break,
                _ = tx.closed() => break,
            };
            match read {
                Ok(req) => self.dispatch(req, permit, tx.clone()),
                Err(ReadEnd::Closed) => break,
                Err(ReadEnd::Malformed { id, why }) => {
                    tracing::warn!(peer = %self.peer, ?why, ?id, "malformed frame; closing the connection");
                    if let Some(id) = id {
                        let answer = refusal(ErrorType::MessageParseError);
                        let bytes = response_frame(answer.status, id, &answer.body);
                        let _ = tx.send(Outgoing {
                            bytes,
                            _permit: Some(permit),
                        });
                    }
                    break;
                }
            }
        }
        // The writer ends once every in-flight request has sent its answer
        // and dropped its sender.
        drop(tx);
        let _ = writer.await;
        tracing::debug!(peer = %self.peer, "connection closed");
    }

    fn dispatch(
        &self,
        req: Request,
        permit: OwnedSemaphorePermit,
        tx: mpsc::UnboundedSender<Outgoing>,
    ) {
        let sim = self.sim.clone();
        let workers = self.workers.clone();
        tokio::spawn(async move {
            let latency = sim.faults().latency();
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let (status, body) = match workers.acquire_owned().await {
                Ok(worker) => {
                    let sim = sim.clone();
                    let code = req.code;
                    let body = req.body;
                    tokio::task::spawn_blocking(move || {
                        let _worker = worker;
                        sim.execute(code, &body)
                    })
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "firmware call did not complete");
                        refused(ErrorType::UnexpectedError)
                    })
                }
                Err(_) => refused(ErrorType::NotOperational),
            };
            tracing::trace!(id = req.id, code = req.code, status, "answered");
            let _ = tx.send(Outgoing {
                bytes: response_frame(status, req.id, &body),
                _permit: Some(permit),
            });
        });
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(wr: W, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut wr = BufWriter::new(wr);
    while let Some(out) = rx.recv().await {
        if wr.write_all(&out.bytes).await.is_err() {
            return;
        }
        drop(out);
        if rx.is_empty() && wr.flush().await.is_err() {
            return;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_print() {
        for s in ["unix:/tmp/sim.sock", "tcp:127.0.0.1:7000", "tcp:[::1]:7000"] {
            let a: ListenAddr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        for bad in [
            "",
            "unix:",
            "tcp:localhost:7000",
            "127.0.0.1:7000",
            "udp:1.2.3.4:5",
        ] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad} accepted");
        }
    }
}

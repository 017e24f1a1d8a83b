//! A client for `sam-simulator serve`: many concurrent calls multiplexed
//! over one connection.
//!
//! Each call gets a fresh request id and a oneshot slot in a map; a writer
//! task sends the frames, a reader task routes each answer to its slot by
//! id, so answers may arrive in any order. When the connection breaks, every
//! pending call fails with [`SimError::Disconnected`] and so does every
//! later call; make a new client to reconnect. Whether a failed call ran in
//! the HSM is unknown, as with a real network HSM: the host treats it as
//! `NotOperational` and reconciles through the audit counter.

use crate::SimError;
use crate::server::ListenAddr;
use sam_proto::frame::{Frame, HEADER_LEN, decode_frame_payload, frame_len};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

type Answer = Result<(u16, Vec<u8>), SimError>;

/// The calls waiting for an answer, or why there will be none.
#[derive(Default)]
struct Pending {
    waiting: HashMap<u32, oneshot::Sender<Answer>>,
    /// Set once the connection is gone.
    closed: Option<String>,
}

impl Pending {
    /// Marks the connection dead and fails everything waiting.
    fn close(&mut self, why: &str) {
        if self.closed.is_none() {
            self.closed = Some(why.to_owned());
        }
        for (_, tx) in self.waiting.drain() {
            let _ = tx.send(Err(SimError::Disconnected(why.to_owned())));
        }
    }
}

fn lock(p: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    // A poisoned map is still a consistent map: every mutation is a single
    // insert/remove/drain.
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Inner {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
    next_id: AtomicU32,
    reader: JoinHandle<()>,
    addr: ListenAddr,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer ends by itself when `frames` drops; the reader would
        // wait for the server to close, so stop it now.
        self.reader.abort();
    }
}

/// A connection to a simulator. Cheap to clone; clones share the
/// connection, and it closes when the last clone is dropped.
#[derive(Clone)]
pub struct SocketClient {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for SocketClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SocketClient")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

impl SocketClient {
    /// Connects to a simulator.
    pub async fn connect(addr: &ListenAddr) -> Result<Self, SimError> {
        let what = || format!("cannot connect to {addr}");
        match addr {
            ListenAddr::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| SimError::io(what(), e))?;
                Ok(Self::start(s, addr.clone()))
            }
            ListenAddr::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(|e| SimError::io(what(), e))?;
                s.set_nodelay(true).map_err(|e| SimError::io(what(), e))?;
                Ok(Self::start(s, addr.clone()))
            }
        }
    }

    fn start<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S, addr: ListenAddr) -> Self {
        let (rd, wr) = tokio::io::split(stream);
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (frames, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(wr, rx, pending.clone()));
        let reader = tokio::spawn(read_loop(rd, pending.clone()));
        Self {
            inner: Arc::new(Inner {
                frames,
                pending,
                next_id: AtomicU32::new(1),
                reader,
                addr,
            }),
        }
    }

    /// The address this client is connected to.
    pub fn addr(&self) -> &ListenAddr {
        &self.inner.addr
    }

    /// Sends one command and waits for its answer: the status (0, or an
    /// `ErrorType` code) and the answer body. An error means no answer
    /// came: the connection broke or the request could not be framed.
    pub async fn call(&self, sub_function: u16, body: Vec<u8>) -> Result<(u16, Vec<u8>), SimError> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut pending = lock(&self.inner.pending);
            if let Some(why) = &pending.closed {
                return Err(SimError::Disconnected(why.clone()));
            }
            // Ids wrap after 2^32 calls; skip any still in use.
            let mut id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            while pending.waiting.contains_key(&id) {
                id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            }
            pending.waiting.insert(id, tx);
            id
        };
        let frame = Frame {
            word: sub_function,
            request_id: id,
            body: &body,
        };
        let bytes = match frame.to_vec() {
            Ok(b) => b,
            Err(e) => {
                lock(&self.inner.pending).waiting.remove(&id);
                return Err(SimError::Protocol(format!(
                    "cannot frame the request: {e:?}"
                )));
            }
        };
        if self.inner.frames.send(bytes).is_err() {
            lock(&self.inner.pending).waiting.remove(&id);
            return Err(SimError::Disconnected("writer stopped".to_owned()));
        }
        match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(SimError::Disconnected("answer slot dropped".to_owned())),
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    wr: W,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
) {
    let mut wr = BufWriter::new(wr);
    while let Some(frame) = rx.recv().await {
        let mut result = wr.write_all(&frame).await;
        if result.is_ok() && rx.is_empty() {
            result = wr.flush().await;
        }
        if let Err(e) = result {
            lock(&pending).close(&format!("write failed: {e}"));
            return;
        }
    }
    // Every client handle is gone: half-close so the server finishes.
    let _ = wr.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(rd: R, pending: Arc<Mutex<Pending>>) {
    let mut rd = BufReader::new(rd);
    let why = loop {
        match read_answer(&mut rd).await {
            Ok((status, id, body)) => {
                let slot = lock(&pending).waiting.remove(&id);
                match slot {
                    Some(tx) => {
                        let _ = tx.send(Ok((status, body)));
                    }
                    None => tracing::warn!(id, "answer to no pending request; ignored"),
                }
            }
            Err(why) => break why,
        }
    };
    tracing::debug!(%why, "simulator connection closed");
    lock(&pending).close(&why);
}

async fn read_answer<R: AsyncRead + Unpin>(rd: &mut R) -> Result<(u16, u32, Vec<u8>), String> {
    let mut prefix = [0u8; 4];
    rd.read_exact(&mut prefix)
        .await
        .map_err(|e| format!("connection closed ({e})"))?;
    let len = frame_len(prefix).map_err(|e| format!("bad frame from the simulator: {e:?}"))?;
    let mut payload = vec![0u8; len];
    rd.read_exact(&mut payload)
        .await
        .map_err(|e| format!("connection closed mid-frame ({e})"))?;
    let frame = decode_frame_payload(&payload)
        .map_err(|e| format!("bad frame from the simulator: {e:?}"))?;
    let (status, id) = (frame.word, frame.request_id);
    Ok((status, id, payload.split_off(HEADER_LEN)))
}

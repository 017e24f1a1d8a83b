//! The firmware in the daemon's own process (the embedded default).
//!
//! Calls go through `sam_firmware::abi::serve_into`, the same entry a CP5
//! module's command handler runs, on tokio's blocking pool: firmware
//! commands are CPU-bound (RSA key generation takes seconds) and the
//! firmware serves requests in parallel, so each call gets its own worker
//! thread and the async reactor is never blocked.

use super::{CallFuture, Transport, TransportError};
use sam_firmware::Firmware;
use sam_firmware::platform::Platform;
use sam_proto::ErrorType;
use sam_proto::frame::MAX_BODY_LEN;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

/// Something that serves firmware commands synchronously: the firmware
/// itself, or the simulator that wraps it.
pub trait Engine: Send + Sync + 'static {
    /// Runs one command; returns the status word and the answer body.
    fn serve(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>);
}

thread_local! {
    /// One answer buffer per worker thread, so a call does not zero a
    /// fresh 160 KiB buffer every time.
    static ANSWER: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_BODY_LEN]);
}

impl<P: Platform + 'static> Engine for Firmware<P> {
    fn serve(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>) {
        ANSWER.with(|cell| {
            let mut buf = cell.borrow_mut();
            if buf.len() < MAX_BODY_LEN {
                buf.resize(MAX_BODY_LEN, 0);
            }
            let (status, len) = sam_firmware::abi::serve_into(self, sub_function, body, &mut buf);
            // The ABI's own error status does not fit a u16; it means the
            // answer was lost, which is an unexpected error to the caller.
            let status =
                u16::try_from(status).unwrap_or_else(|_| ErrorType::UnexpectedError.code());
            let answer = buf.get(..len).map(<[u8]>::to_vec).unwrap_or_default();
            (status, answer)
        })
    }
}

impl Engine for sam_simulator::Simulator {
    fn serve(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>) {
        self.call(sub_function, body)
    }
}

/// An [`Engine`] in this process.
pub struct InProcess<E> {
    engine: Arc<E>,
}

impl<E> fmt::Debug for InProcess<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl<E: Engine> InProcess<E> {
    /// Serves calls with `engine`.
    pub fn new(engine: Arc<E>) -> Self {
        Self { engine }
    }

    /// The engine, for tests that steer the platform (clock, faults).
    pub fn engine(&self) -> &Arc<E> {
        &self.engine
    }
}

impl<P: Platform + 'static> InProcess<Firmware<P>> {
    /// Boots a firmware on `platform` and serves calls with it.
    pub fn boot(platform: P) -> Self {
        Self::new(Arc::new(Firmware::boot(platform)))
    }
}

impl<E: Engine> Transport for InProcess<E> {
    fn call(&self, sub_function: u16, body: Vec<u8>) -> CallFuture<'_> {
        let engine = Arc::clone(&self.engine);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || engine.serve(sub_function, &body))
                .await
                .map_err(|e| TransportError::Internal(e.to_string()))
        })
    }

    fn kind(&self) -> &'static str {
        "inprocess"
    }
}

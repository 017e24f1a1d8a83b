//! The firmware in the daemon's own process (the embedded default).
//!
//! The engine is the simulator, whose calls go through
//! `sam_firmware::abi::serve_owned`, the in-process form of the entry a
//! CP5 module's command handler runs. Calls run on tokio's blocking pool:
//! firmware commands are CPU-bound (RSA key generation takes seconds) and
//! the firmware serves requests in parallel, so each call gets its own
//! worker thread and the async reactor is never blocked.

use super::{CallFuture, Transport, TransportError};
use std::fmt;
use std::sync::Arc;

/// Something that serves firmware commands synchronously: the simulator,
/// or a test's own engine around a firmware on the test platform.
pub trait Engine: Send + Sync + 'static {
    /// Runs one command; returns the status word and the answer body.
    fn serve(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>);
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

//! Loopback ports for the listeners of a deployment.

use crate::{HarnessError, Result};

/// A TCP port on 127.0.0.1 that was free a moment ago: the OS picks it,
/// the listener is closed again and samd binds it. (Another process may
/// take it in between; on a test machine that is rare enough.)
pub fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(HarnessError::context("no free loopback port"))
}

/// `https://127.0.0.1:PORT`.
pub fn loopback_url(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

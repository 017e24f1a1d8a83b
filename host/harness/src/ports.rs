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

/// Waits until something accepts connections on 127.0.0.1:`port`, up to
/// `within`; whether it did.
pub fn wait_port(port: u16, within: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

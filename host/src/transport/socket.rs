//! The simulator (or anything that speaks its frames) behind a Unix or
//! TCP socket.
//!
//! One multiplexed connection carries all calls. When it breaks, the calls
//! in flight fail with `NotOperational` (whether they ran in the HSM is
//! unknown, as with any network HSM; an audit record that was issued but
//! not stored is fetched from the firmware's outbox afterwards), and the
//! next request reconnects. Failed connection attempts back off exponentially,
//! so a dead simulator costs one quick refusal per request, not a connect
//! storm.

use super::{CallFuture, Transport, TransportError};
use sam_simulator::client::SocketClient;
use sam_simulator::{ListenAddr, SimError};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Link {
    client: Option<SocketClient>,
    /// No attempt before this instant.
    not_before: Option<Instant>,
    /// The wait after the next failed attempt.
    delay: Duration,
}

/// A transport to a simulator socket.
#[derive(Debug)]
pub struct Socket {
    addr: ListenAddr,
    initial: Duration,
    max: Duration,
    link: Mutex<Link>,
}

impl Socket {
    /// A transport to `addr`; it connects on the first call. After a
    /// failed attempt it waits `initial`, doubling up to `max`.
    pub fn new(addr: ListenAddr, initial: Duration, max: Duration) -> Self {
        Self {
            addr,
            initial,
            max,
            link: Mutex::new(Link {
                client: None,
                not_before: None,
                delay: initial,
            }),
        }
    }

    /// The connected client, connecting if needed (and allowed yet).
    async fn client(&self) -> Result<SocketClient, TransportError> {
        let mut link = self.link.lock().await;
        if let Some(c) = &link.client {
            return Ok(c.clone());
        }
        if let Some(t) = link.not_before
            && Instant::now() < t
        {
            return Err(TransportError::Unavailable(format!(
                "{} unreachable; next connection attempt in {} ms",
                self.addr,
                t.saturating_duration_since(Instant::now()).as_millis()
            )));
        }
        let attempt =
            tokio::time::timeout(CONNECT_TIMEOUT, SocketClient::connect(&self.addr)).await;
        match attempt {
            Ok(Ok(client)) => {
                tracing::info!(addr = %self.addr, "connected to the firmware");
                link.client = Some(client.clone());
                link.not_before = None;
                link.delay = self.initial;
                Ok(client)
            }
            Ok(Err(e)) => Err(self.backoff(&mut link, e.to_string())),
            Err(_) => Err(self.backoff(&mut link, "connection attempt timed out".into())),
        }
    }

    fn backoff(&self, link: &mut Link, why: String) -> TransportError {
        tracing::warn!(addr = %self.addr, error = %why, retry_ms = link.delay.as_millis() as u64, "cannot reach the firmware");
        link.not_before = Some(Instant::now() + link.delay);
        link.delay = (link.delay * 2).min(self.max);
        TransportError::Unavailable(why)
    }

    /// Forgets a broken connection; the next call reconnects at once.
    async fn forget(&self, why: &str) {
        let mut link = self.link.lock().await;
        if link.client.take().is_some() {
            tracing::error!(addr = %self.addr, error = why, "lost the firmware connection");
        }
        link.not_before = None;
    }
}

impl Transport for Socket {
    fn call(&self, sub_function: u16, body: Vec<u8>) -> CallFuture<'_> {
        Box::pin(async move {
            let client = self.client().await?;
            match client.call(sub_function, body).await {
                Ok(answer) => Ok(answer),
                Err(e @ (SimError::Disconnected(_) | SimError::Protocol(_))) => {
                    let why = e.to_string();
                    self.forget(&why).await;
                    Err(TransportError::Unavailable(why))
                }
                Err(e) => Err(TransportError::Internal(e.to_string())),
            }
        })
    }

    fn kind(&self) -> &'static str {
        "socket"
    }
}

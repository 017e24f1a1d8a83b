//! How a firmware command reaches the firmware, and the typed client on top.
//!
//! A [`Transport`] moves one `(sub-function, body)` pair to the firmware's
//! C-ABI entry and brings back `(status, body)`: exactly the shape of a CP5
//! custom-module command handler (DESIGN §3), so that the in-process
//! firmware, the simulator behind a socket and a real CP5 are
//! interchangeable. [`FirmwareClient`] adds the types: it encodes a
//! [`Command`], decodes its response or the firmware's refusal with the
//! audit record the refusal carries, and measures the round trip.

mod inprocess;
mod socket;

pub use inprocess::{Engine, InProcess};
pub use socket::Socket;

use crate::metrics::Metrics;
use sam_proto::ErrorType;
use sam_proto::command::{Command, ErrorAnswer};
use sam_proto::frame::{MAX_BODY_LEN, STATUS_OK, decode_exact, encode_body};
use sam_proto::records::AuditRecord;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The future a [`Transport`] returns: status word and answer body.
pub type CallFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(u16, Vec<u8>), TransportError>> + Send + 'a>>;

/// Carries one command to the firmware.
///
/// Boxed futures rather than `async fn` keep the trait object-safe: the
/// daemon holds an `Arc<dyn Transport>` chosen by configuration.
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Sends `body` for `sub_function`; returns the firmware's status word
    /// (0 or an [`ErrorType`] code) and its answer body.
    fn call(&self, sub_function: u16, body: Vec<u8>) -> CallFuture<'_>;

    /// A short name for logs (`inprocess`, `socket`).
    fn kind(&self) -> &'static str;
}

/// The firmware could not be asked. Every variant reaches the client as
/// `NotOperational`: the SAM cannot serve without its firmware.
#[derive(Debug)]
pub enum TransportError {
    /// The firmware is not reachable (socket closed, connection refused,
    /// waiting out the reconnection backoff).
    Unavailable(String),
    /// The firmware answered something that is not a frame of ours.
    Protocol(String),
    /// The worker that ran the firmware call failed.
    Internal(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(m) => write!(f, "firmware unavailable: {m}"),
            Self::Protocol(m) => write!(f, "firmware protocol error: {m}"),
            Self::Internal(m) => write!(f, "firmware call failed: {m}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// The firmware refused a command, or could not be asked.
#[derive(Debug, Clone)]
pub struct FirmwareRefusal {
    /// The seed error type.
    pub error: ErrorType,
    /// The audit record of the refusal; the host must store it.
    pub audit: Option<AuditRecord>,
    /// What went wrong, for the client and the logs. For a firmware
    /// refusal this says no more than the error type does (the firmware
    /// does not explain itself, on purpose).
    pub detail: String,
    /// Whether the firmware decided (as opposed to the host or the
    /// transport).
    pub by_firmware: bool,
}

impl FirmwareRefusal {
    /// A refusal decided by the host before or around the firmware call.
    pub fn host(error: ErrorType, detail: impl Into<String>) -> Self {
        Self {
            error,
            audit: None,
            detail: detail.into(),
            by_firmware: false,
        }
    }
}

/// The typed firmware client shared by every request.
#[derive(Debug, Clone)]
pub struct FirmwareClient {
    transport: Arc<dyn Transport>,
    metrics: Arc<Metrics>,
    /// How many times a call may have run in the firmware without its
    /// answer arriving (transport failure, undecodable answer), counting
    /// the start as one: the audit outbox must be recovered after each
    /// (see `audit_sync`). A count rather than a flag, so that a break
    /// during a recovery is never absorbed by that recovery.
    link_breaks: Arc<AtomicU64>,
}

impl FirmwareClient {
    /// A client over `transport`, recording round trips in `metrics`.
    pub fn new(transport: Arc<dyn Transport>, metrics: Arc<Metrics>) -> Self {
        Self {
            transport,
            metrics,
            link_breaks: Arc::new(AtomicU64::new(1)),
        }
    }

    /// How many times an answer may have been lost so far (at least 1:
    /// the start counts). A recovery of the outbox that began after
    /// reading `n` covers every loss up to `n`.
    pub fn link_breaks(&self) -> u64 {
        self.link_breaks.load(Ordering::SeqCst)
    }

    fn link_broke(&self) {
        self.link_breaks.fetch_add(1, Ordering::SeqCst);
    }

    /// The transport's kind, for status output.
    pub fn transport_kind(&self) -> &'static str {
        self.transport.kind()
    }

    /// Sends `req` and decodes the answer.
    ///
    /// A refusal carries the firmware's audit record when there is one.
    /// A transport failure is `NotOperational` without an audit record. A
    /// success whose body does not decode is `UnexpectedError`; its audit
    /// record stays in the firmware's outbox and is recovered.
    pub async fn call<C: Command>(&self, req: &C) -> Result<C::Response, FirmwareRefusal> {
        let name = C::CODE.name();
        let body = encode_body(req).map_err(|e| {
            FirmwareRefusal::host(
                ErrorType::MessageParseError,
                format!("request does not fit the firmware's frame: {e:?}"),
            )
        })?;
        let started = Instant::now();
        let answer = self.transport.call(C::CODE.code(), body).await;
        self.metrics
            .observe_firmware(name, started.elapsed().as_secs_f64());
        let (status, body) = answer.map_err(|e| {
            tracing::warn!(operation = name, error = %e, "firmware call failed");
            self.link_broke();
            // The transport's own text (socket paths, OS errors) is in
            // the log line above; the client gets a stable sentence.
            let detail = match e {
                TransportError::Unavailable(_) => "the firmware cannot be reached",
                TransportError::Protocol(_) => "the firmware link broke mid-answer",
                TransportError::Internal(_) => "the firmware call failed in samd",
            };
            FirmwareRefusal::host(ErrorType::NotOperational, detail)
        })?;
        if status == STATUS_OK {
            return decode_exact::<C::Response>(&body, MAX_BODY_LEN).map_err(|e| {
                self.link_broke();
                tracing::error!(
                    operation = name,
                    error = ?e,
                    "firmware success answer does not decode; its audit record will be recovered from the outbox"
                );
                FirmwareRefusal::host(
                    ErrorType::UnexpectedError,
                    "the firmware's answer could not be decoded",
                )
            });
        }
        let error = ErrorType::from_code(status).unwrap_or_else(|| {
            tracing::error!(
                operation = name,
                status,
                "firmware status is no known error code"
            );
            ErrorType::UnexpectedError
        });
        let audit = match decode_exact::<ErrorAnswer>(&body, ErrorAnswer::MAX_SIZE) {
            Ok(answer) => answer.audit,
            Err(e) => {
                tracing::error!(operation = name, error = ?e, "firmware error body does not decode");
                None
            }
        };
        Err(FirmwareRefusal {
            error,
            audit,
            detail: format!("the firmware refused {name}"),
            by_firmware: true,
        })
    }
}

//! `sam-mail`: an SMTP relay that signs outgoing mail as S/MIME with seal
//! keys held by the SAM.
//!
//! Untrusted like samd: it never holds a signing key. Mail flows
//!
//! 1. [`smtp`]: a client submits; the message is answered `250` once it
//!    is durably in the [`spool`]'s `incoming` folder;
//! 2. [`signer`]: messages collected within a window are signed in one
//!    SAD per key (the S/MIME builder of `sam-docsign`, the SAD flow of
//!    `sam-client`) and move to `outgoing`;
//! 3. [`forward`]: each goes to the next hop, retried with exponential
//!    backoff, bounced to its sender after the configured time; it leaves
//!    the spool only after the next hop's `250`.
//!
//! The README says why a seal relay may sign a batch with one SAD.
#![forbid(unsafe_code)]

pub mod config;
pub mod forward;
pub mod metrics;
pub mod mime;
pub mod senders;
pub mod signer;
pub mod smtp;
pub mod spool;

use std::path::Path;
use std::sync::Arc;

/// The STARTTLS acceptor for the PEM chain `cert` and key `key`
/// (aws-lc-rs, TLS 1.2 and 1.3, as samd).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    let chain = sam_client::read_pem_certificates(cert).map_err(|e| e.to_string())?;
    let key = sam_client::read_pem_key(key).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("STARTTLS certificate: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

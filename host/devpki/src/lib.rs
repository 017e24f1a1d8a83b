//! # `sam-devpki` — DEVELOPMENT ONLY
//!
//! **Nothing in this crate may be used in production.** It makes
//! throw-away keys in plain files, an identity provider that believes
//! whatever it is told when so configured, and a certificate authority
//! that signs any well-formed request. It exists so that the SAM can be
//! run, demonstrated and tested end to end on one machine. Every
//! certificate it makes says `DEV-ONLY` in its subject, every file it
//! writes sits next to a `DEV-ONLY-README.txt`, and every log line starts
//! with `[DEV-ONLY]`.
//!
//! * [`DevPki::create`] writes a development PKI into a folder: a TLS CA,
//!   samd's server certificate (SAN `localhost`, `127.0.0.1`, `::1`),
//!   client certificates for the SSA, privileged-user and management
//!   connectors, two administrator P-256 keys for samctl's dual control,
//!   the IdP's key and self-signed certificate, a signing CA for
//!   signer certificates and a time-stamping certificate it issued (file
//!   names in [`files`]).
//! * [`DevIdp`] issues identity tokens (seed §8.2) and answers the IdP
//!   operation `POST /id-token/sad` (seed §7.5.1; JSON in
//!   [`sam_client::idp`]) as a library call or as a small plain-HTTP
//!   server on the loopback interface ([`DevIdpServer`]).
//! * [`oauth2`]: the IdP side of the CSC OAuth2 authorization-code flow
//!   (`GET /oauth2/authorize`, `POST /oauth2/token` on the same server),
//!   which believes the `login_hint` user WITHOUT authentication.
//! * [`DevCa`] turns a PKCS#10 request (for example the one the firmware
//!   signs with a new signer key) into an end-entity certificate valid for
//!   a year, after checking the request's signature.
//! * [`DevTsa`] is an RFC 3161 time-stamp authority whose certificate the
//!   signing CA issues; it answers `POST /tsa` on the IdP server
//!   ([`DevIdpServer::start_with_tsa`]) or a library call, with tokens of
//!   the policy [`DEV_TSA_POLICY`] that `openssl ts -verify` accepts.
#![forbid(unsafe_code)]

/// Logs at info level with the `[DEV-ONLY]` prefix.
macro_rules! dev_info {
    ($($arg:tt)*) => {
        tracing::info!("[DEV-ONLY] {}", format_args!($($arg)*))
    };
}

/// Logs at warn level with the `[DEV-ONLY]` prefix.
macro_rules! dev_warn {
    ($($arg:tt)*) => {
        tracing::warn!("[DEV-ONLY] {}", format_args!($($arg)*))
    };
}

mod ca;
mod error;
mod idp;
pub mod oauth2;
mod pki;
mod rand;
mod server;
mod tsa;

pub use ca::{DevCa, SIGNER_CERT_VALIDITY};
pub use error::DevPkiError;
pub use idp::{DevIdp, IdpKeyType, IdpRefusal, TokenParams};
pub use pki::{DevPki, DevPkiOptions, files};
pub use server::{DevIdpOptions, DevIdpServer, TSA_PATH};
pub use tsa::{DEV_TSA_POLICY, DevTsa, TSA_CERT_VALIDITY, TsaFault};

/// The organization in the subject of every certificate made here.
pub const DEV_ORGANIZATION: &str = "SAM Development DEV-ONLY NOT FOR PRODUCTION";

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

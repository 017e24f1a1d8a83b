//! `[csc]` in samd's configuration: the CSC listener and the service's
//! limits. Every key and its default is in `host/samd.example.toml`.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `[csc]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CscConfig {
    /// Whether samd opens the CSC listener at all.
    pub enabled: bool,
    /// Address and port of the CSC listener (its own port: server-
    /// authenticated TLS, no client certificate, unlike the peering
    /// listener).
    pub listen: SocketAddr,
    /// PEM certificate chain of the CSC listener.
    pub tls_cert: PathBuf,
    /// PEM private key of the CSC listener.
    pub tls_key: PathBuf,
    /// The base URL clients use (`info`'s `oauth2` and logo are relative
    /// to it).
    pub public_url: String,
    /// Seconds a CSC "SAD" handle lives at most (also capped by the
    /// identity token's `notAfter`).
    pub handle_lifetime_secs: u64,
    /// Seconds an `auth/login` access token lives at most (also capped by
    /// the identity token's `notAfter`).
    pub access_token_lifetime_secs: u64,
    /// Handles (and access tokens) open at once; more are refused.
    pub max_open_handles: usize,
    /// The IdP's OAuth2 base URL (`{url}/oauth2/authorize`,
    /// `{url}/oauth2/token`); empty: no OAuth2 flow is offered.
    pub oauth2_idp_url: String,
    /// PEM files of the certificates after the signer's in
    /// `credentials/info`'s chain (the issuing CA).
    pub chain_certificates: Vec<PathBuf>,
    /// `info`'s `name`.
    pub name: String,
    /// `info`'s `region` (ISO 3166-1 alpha-2).
    pub region: String,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Connections served at once on the CSC listener.
    pub max_connections: usize,
}

impl Default for CscConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8444)),
            tls_cert: "csc-server.pem".into(),
            tls_key: "csc-server.key".into(),
            public_url: "https://localhost:8444".into(),
            handle_lifetime_secs: 300,
            access_token_lifetime_secs: 3600,
            max_open_handles: 10_000,
            oauth2_idp_url: String::new(),
            chain_certificates: Vec::new(),
            name: "SAM Signature Activation Module".into(),
            region: "EU".into(),
            max_body_bytes: 256 * 1024,
            max_connections: 256,
        }
    }
}

//! The daemon's configuration: a TOML file, with a few `SAMD_*`
//! environment overrides for what container deployments change most.
//!
//! Every key and its default is documented in `host/samd.example.toml`; a
//! test parses that file, so the example cannot drift from this code.

use crate::api::{Connector, known_permissions};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration is unusable.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTPS listener.
    #[serde(default)]
    pub server: ServerSection,
    /// SQLite store.
    #[serde(default)]
    pub store: StoreSection,
    /// How to reach the firmware.
    #[serde(default)]
    pub firmware: FirmwareSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Peer connectors.
    #[serde(default, rename = "connector")]
    pub connectors: Vec<ConnectorSection>,
    /// Identity tokens presented as bearer tokens.
    #[serde(default)]
    pub tokens: TokensSection,
    /// The CSC API listener (crate `sam-csc`).
    #[serde(default)]
    pub csc: sam_csc::CscConfig,
    /// The document-signing service (crate `sam-docsign`) on the CSC
    /// listener.
    #[serde(default)]
    pub sak: sam_docsign::SakConfig,
}

/// `[tokens]`: the IdP certificates whose identity tokens samd accepts as
/// `Authorization: Bearer` tokens (the key manager's scoping, the CSC
/// service's callers). samd uses a bearer token only to choose what a
/// caller sees; the firmware checks every token that authorizes an
/// operation against its own IdP anchors, so a wrong list here can hide
/// or show records but never sign. Empty (the default): every bearer
/// token is refused.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TokensSection {
    /// PEM files of IdP certificates (the same the firmware got with
    /// `samctl idp-keys`).
    pub idp_certificates: Vec<PathBuf>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain of the server.
    pub tls_cert: PathBuf,
    /// PEM private key of the server.
    pub tls_key: PathBuf,
    /// PEM CA certificate(s) that issue client certificates.
    pub client_ca: PathBuf,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Connections served at once, handshakes included (lowered at start
    /// to fit the process's descriptor limit).
    pub max_connections: usize,
    /// Connections one connector may hold at once (a connector's own
    /// `max_connections` overrides it).
    pub max_connections_per_connector: usize,
    /// Seconds a TLS handshake may take.
    pub handshake_timeout_secs: u64,
    /// Seconds an HTTP/1.1 request head may take from its first byte.
    pub header_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in flight.
    pub idle_timeout_secs: u64,
    /// Seconds in-flight requests get at shutdown.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: "server.pem".into(),
            tls_key: "server.key".into(),
            client_ca: "client-ca.pem".into(),
            max_body_bytes: 1024 * 1024,
            max_connections: 1024,
            max_connections_per_connector: 256,
            handshake_timeout_secs: 10,
            header_timeout_secs: 10,
            idle_timeout_secs: 30,
            shutdown_grace_secs: 30,
        }
    }
}

/// Which database holds the store.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// One SQLite file (`path`), the embedded default: one samd.
    #[default]
    Sqlite,
    /// A PostgreSQL database (`url`), which several samd instances can
    /// share.
    Postgres,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `sqlite` (default) or `postgres`.
    pub backend: StoreBackend,
    /// For `sqlite`: the database file.
    pub path: PathBuf,
    /// For `postgres`: the connection string, a URL
    /// (`postgres://user@host:port/dbname`) or libpq key=value pairs
    /// (`host=/run/postgresql dbname=sam`).
    pub url: String,
    /// For `postgres`: most connections open at once.
    pub pool_size: usize,
    /// How long the digests of used identity tokens are kept for the
    /// single-use check across instances, seconds (0: forever). Must
    /// exceed the firmware policy's `max_token_lifetime` plus the clock
    /// difference between hosts and modules.
    pub used_tokens_keep_secs: u64,
}

/// The default of `[store] used_tokens_keep_secs`: seven days, far above
/// the firmware policy's default token lifetime limit (one hour).
pub const DEFAULT_USED_TOKENS_KEEP_SECS: u64 = 7 * 24 * 3600;

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Sqlite,
            path: "samd.db".into(),
            url: "postgres://sam@localhost/sam".into(),
            pool_size: 16,
            used_tokens_keep_secs: DEFAULT_USED_TOKENS_KEEP_SECS,
        }
    }
}

/// Which transport reaches the firmware.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// The simulator's firmware in this process.
    Inprocess,
    /// A simulator process behind a socket.
    Socket,
}

/// The default of `[firmware] max_calls_in_flight`: enough calls for the
/// firmware's group commit to batch one flush's worth of records, few
/// enough that the firmware's spin locks are not fought over by dozens of
/// threads on a few cores (see `transport::inprocess`).
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 16;

/// `[firmware]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FirmwareSection {
    /// `inprocess` or `socket`.
    pub transport: TransportKind,
    /// For `inprocess`: the simulator's state directory (MBK, storage).
    pub state_dir: PathBuf,
    /// For `inprocess`: the platform crypto, `aws-lc` or `portable`.
    pub crypto: String,
    /// For `socket`: `unix:/path` or `tcp:host:port`.
    pub socket: String,
    /// For `socket`: first reconnection delay, milliseconds.
    pub reconnect_initial_ms: u64,
    /// For `socket`: longest reconnection delay, milliseconds.
    pub reconnect_max_ms: u64,
    /// For `inprocess`: most firmware calls running at once (0: no bound).
    pub max_calls_in_flight: usize,
}

impl Default for FirmwareSection {
    fn default() -> Self {
        Self {
            transport: TransportKind::Inprocess,
            state_dir: "sam-state".into(),
            crypto: "aws-lc".into(),
            socket: "unix:/run/sam/simulator.sock".into(),
            reconnect_initial_ms: 100,
            reconnect_max_ms: 5000,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `sam_host=debug,info`).
    pub filter: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".into(),
        }
    }
}

/// `[[connector]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSection {
    /// Name for logs and metrics.
    pub name: String,
    /// SHA-256 of the DER client certificate, hex (colons allowed).
    pub certificate_sha256: String,
    /// What it may call.
    pub operations: Vec<String>,
    /// Connections it may hold at once; absent: the server's
    /// `max_connections_per_connector`.
    #[serde(default)]
    pub max_connections: Option<usize>,
}

impl Config {
    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(format!("configuration: {e}")))
    }

    /// Reads and parses a file, then applies the environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        let mut config = Self::parse(&text)?;
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    /// Applies `SAMD_LISTEN`, `SAMD_DB_PATH`, `SAMD_DB_URL`,
    /// `SAMD_LOG_FORMAT` and `SAMD_LOG_FILTER` from `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("SAMD_LISTEN") {
            self.server.listen = v
                .parse()
                .map_err(|e| ConfigError(format!("SAMD_LISTEN={v:?}: {e}")))?;
        }
        if let Some(v) = get("SAMD_DB_PATH") {
            self.store.path = v.into();
        }
        if let Some(v) = get("SAMD_DB_URL") {
            self.store.url = v;
        }
        if let Some(v) = get("SAMD_LOG_FORMAT") {
            self.log.format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(ConfigError(format!("SAMD_LOG_FORMAT={v:?}: text or json"))),
            };
        }
        if let Some(v) = get("SAMD_LOG_FILTER") {
            self.log.filter = v;
        }
        Ok(())
    }

    /// The connectors, validated: pins are 32 bytes of hex, names and pins
    /// unique, every permission known.
    pub fn connectors(&self) -> Result<Vec<Connector>, ConfigError> {
        let known = known_permissions();
        let mut out: Vec<Connector> = Vec::new();
        for c in &self.connectors {
            let hex_text: String = c
                .certificate_sha256
                .chars()
                .filter(|ch| *ch != ':')
                .collect();
            let pin: [u8; 32] = hex::decode(&hex_text)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "connector {:?}: certificate_sha256 is not 32 bytes of hex",
                        c.name
                    ))
                })?;
            for op in &c.operations {
                if !known.contains(op.as_str()) {
                    return Err(ConfigError(format!(
                        "connector {:?}: unknown operation {op:?} (known: {})",
                        c.name,
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            if out.iter().any(|o| o.name == c.name || o.pin == pin) {
                return Err(ConfigError(format!(
                    "connector {:?}: name or certificate used twice",
                    c.name
                )));
            }
            out.push(Connector {
                name: c.name.clone(),
                pin,
                permissions: c.operations.iter().cloned().collect(),
                max_connections: c.max_connections,
            });
        }
        Ok(out)
    }

    /// The server limits. A zero timeout or limit would refuse every
    /// peer, so each is at least 1.
    pub fn serve_options(&self) -> crate::api::server::ServeOptions {
        let s = &self.server;
        let secs = |v: u64| Duration::from_secs(v.max(1));
        crate::api::server::ServeOptions {
            handshake_timeout: secs(s.handshake_timeout_secs),
            header_timeout: secs(s.header_timeout_secs),
            idle_timeout: secs(s.idle_timeout_secs),
            shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
            max_connections: s.max_connections.max(1),
            max_connections_per_connector: s.max_connections_per_connector.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_states_every_default() {
        let text = include_str!("../samd.example.toml");
        let config = Config::parse(text).unwrap();
        assert_eq!(config.server, ServerSection::default());
        assert_eq!(config.store, StoreSection::default());
        assert_eq!(config.firmware, FirmwareSection::default());
        assert_eq!(config.log, LogSection::default());
        assert_eq!(config.tokens, TokensSection::default());
        assert_eq!(config.csc, sam_csc::CscConfig::default());
        assert_eq!(config.sak, sam_docsign::SakConfig::default());
        assert!(!config.connectors().unwrap().is_empty());
    }

    #[test]
    fn the_store_backend_is_chosen_in_the_file() {
        let c = Config::parse(
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://u@h/d\"\npool_size = 3\n",
        )
        .unwrap();
        assert_eq!(c.store.backend, StoreBackend::Postgres);
        assert_eq!(
            (c.store.url.as_str(), c.store.pool_size),
            ("postgres://u@h/d", 3)
        );
        assert_eq!(
            Config::parse("").unwrap().store.backend,
            StoreBackend::Sqlite
        );
        assert!(Config::parse("[store]\nbackend = \"mysql\"\n").is_err());
    }

    #[test]
    fn empty_file_means_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.server.listen.port(), 8443);
        assert!(config.connectors.is_empty());
        assert!(Config::parse("[server]\nlisten = 5").is_err());
        assert!(Config::parse("[bogus]").is_err());
    }

    #[test]
    fn listener_limits_come_from_the_file_and_are_never_zero() {
        let text = "[server]\nidle_timeout_secs = 3\nheader_timeout_secs = 0\nmax_connections_per_connector = 0\n";
        let o = Config::parse(text).unwrap().serve_options();
        assert_eq!(o.idle_timeout, Duration::from_secs(3));
        assert_eq!(o.header_timeout, Duration::from_secs(1));
        assert_eq!(o.max_connections_per_connector, 1);
        let d = Config::parse("").unwrap().serve_options();
        assert_eq!(d, crate::api::server::ServeOptions::default());
    }

    #[test]
    fn environment_overrides() {
        let mut config = Config::parse("").unwrap();
        config
            .apply_env(|k| match k {
                "SAMD_LISTEN" => Some("0.0.0.0:9443".into()),
                "SAMD_DB_PATH" => Some("/var/lib/sam/samd.db".into()),
                "SAMD_DB_URL" => Some("host=/run/postgresql dbname=sam".into()),
                "SAMD_LOG_FORMAT" => Some("json".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.server.listen.port(), 9443);
        assert_eq!(config.store.path, PathBuf::from("/var/lib/sam/samd.db"));
        assert_eq!(config.store.url, "host=/run/postgresql dbname=sam");
        assert_eq!(config.log.format, LogFormat::Json);
        assert!(config.apply_env(|_| Some("nonsense".into())).is_err());
    }

    #[test]
    fn connectors_are_validated() {
        let pin = "ab".repeat(32);
        let ok = format!(
            "[[connector]]\nname = \"ssa\"\ncertificate_sha256 = \"{pin}\"\noperations = [\"Signing\"]\n"
        );
        assert_eq!(Config::parse(&ok).unwrap().connectors().unwrap().len(), 1);
        let bad_op = ok.replace("\"Signing\"", "\"Sign_Everything\"");
        assert!(Config::parse(&bad_op).unwrap().connectors().is_err());
        let bad_pin = ok.replace(&pin, "abcd");
        assert!(Config::parse(&bad_pin).unwrap().connectors().is_err());
        let limited = format!("{ok}max_connections = 7\n");
        let c = Config::parse(&limited).unwrap().connectors().unwrap();
        assert_eq!(c[0].max_connections, Some(7));
        assert_eq!(
            Config::parse(&ok).unwrap().connectors().unwrap()[0].max_connections,
            None
        );
        let twice = format!("{ok}{ok}");
        assert!(Config::parse(&twice).unwrap().connectors().is_err());
    }
}

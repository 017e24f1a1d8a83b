//! `samd.toml`: the configuration of one samd, written from a struct so
//! that every deployment (the demo, the crash test, the bench, the tests,
//! and later several nodes) spells the same sections the same way.

use crate::{HarnessError, Result};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Which firmware crypto back-end an in-process samd uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crypto {
    /// aws-lc-rs (the embedded default).
    AwsLc,
    /// The portable RustCrypto back-end of the firmware.
    Portable,
}

impl Crypto {
    fn name(self) -> &'static str {
        match self {
            Self::AwsLc => "aws-lc",
            Self::Portable => "portable",
        }
    }
}

/// How samd reaches its firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmwareLink {
    /// The simulator's firmware inside samd, on a state directory made by
    /// `sam-simulator init`.
    InProcess {
        /// The simulator's state directory.
        state_dir: PathBuf,
        /// The crypto back-end.
        crypto: Crypto,
    },
    /// A separately running `sam-simulator serve`.
    Socket {
        /// `unix:PATH` or `HOST:PORT`.
        address: String,
        /// `(reconnect_initial_ms, reconnect_max_ms)`; samd's defaults if
        /// `None`. Short values let samd find a restarted simulator fast.
        reconnect_ms: Option<(u64, u64)>,
    },
}

/// samd's server certificate and the CA its clients' certificates chain to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// PEM server certificate.
    pub cert: PathBuf,
    /// PEM server key.
    pub key: PathBuf,
    /// PEM CA of the client certificates.
    pub client_ca: PathBuf,
}

/// One `[[connector]]`: a pinned client certificate and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorEntry {
    /// The connector's name (in logs).
    pub name: String,
    /// Hex SHA-256 of the client certificate's DER.
    pub certificate_sha256: String,
    /// Peering operations, or `management`.
    pub operations: Vec<String>,
}

/// The connectors of a samd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connectors {
    /// `[[connector]]` text as written (the dev PKI's
    /// `samd-connectors.toml`).
    Toml(String),
    /// Entries to write.
    List(Vec<ConnectorEntry>),
}

/// Everything `samd.toml` says. Build it with [`SamdConfig::new`] and the
/// `with_*` methods; [`SamdConfig::to_toml`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamdConfig {
    /// A comment line at the top (who made this file).
    pub comment: Option<String>,
    /// `[server] listen`.
    pub listen: SocketAddr,
    /// `[server]` TLS files.
    pub tls: ServerTls,
    /// `[server] shutdown_grace_secs`.
    pub shutdown_grace_secs: u64,
    /// `[store] path`.
    pub store: PathBuf,
    /// `[store] url` with `backend = "postgres"`; SQLite at `store` if
    /// `None`.
    pub postgres_url: Option<String>,
    /// `[firmware]`.
    pub firmware: FirmwareLink,
    /// `[log] filter`; no `[log]` section if `None`.
    pub log_filter: Option<String>,
    /// `[[connector]]`s.
    pub connectors: Connectors,
    /// Further TOML sections, written as given after the others: the
    /// place for listeners samd grows later (a CSC listener, a mail
    /// relay) until they get fields of their own here.
    pub extra_sections: Vec<String>,
    /// `[tokens] idp_certificates`: the IdP certificates of bearer tokens.
    pub idp_certificates: Vec<PathBuf>,
}

impl SamdConfig {
    /// A configuration with a 5 s shutdown grace and no `[log]` section.
    pub fn new(
        listen: SocketAddr,
        tls: ServerTls,
        store: PathBuf,
        firmware: FirmwareLink,
        connectors: Connectors,
    ) -> Self {
        Self {
            comment: None,
            listen,
            tls,
            shutdown_grace_secs: 5,
            store,
            postgres_url: None,
            firmware,
            log_filter: None,
            connectors,
            extra_sections: Vec::new(),
            idp_certificates: Vec::new(),
        }
    }

    /// Sets the comment line.
    pub fn with_comment(mut self, comment: &str) -> Self {
        self.comment = Some(comment.to_owned());
        self
    }

    /// Sets `[log] filter`.
    pub fn with_log_filter(mut self, filter: &str) -> Self {
        self.log_filter = Some(filter.to_owned());
        self
    }

    /// Puts the store in the PostgreSQL database at `url`
    /// (`[store] backend = "postgres"`).
    pub fn with_postgres(mut self, url: &str) -> Self {
        self.postgres_url = Some(url.to_owned());
        self
    }

    /// Sets `[server] shutdown_grace_secs`.
    pub fn with_shutdown_grace_secs(mut self, secs: u64) -> Self {
        self.shutdown_grace_secs = secs;
        self
    }

    /// Appends a TOML section (see [`SamdConfig::extra_sections`]).
    pub fn with_section(mut self, toml: &str) -> Self {
        self.extra_sections.push(toml.to_owned());
        self
    }

    /// `https://127.0.0.1:PORT` of the listener.
    pub fn url(&self) -> String {
        format!("https://{}", self.listen)
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        if let Some(c) = &self.comment {
            let _ = writeln!(t, "# {c}");
        }
        let _ = write!(
            t,
            "[server]\nlisten = {}\ntls_cert = {}\ntls_key = {}\nclient_ca = {}\n\
             shutdown_grace_secs = {}\n\n[store]\npath = {}\n",
            quoted(&self.listen.to_string()),
            path(&self.tls.cert),
            path(&self.tls.key),
            path(&self.tls.client_ca),
            self.shutdown_grace_secs,
            path(&self.store),
        );
        if let Some(url) = &self.postgres_url {
            let _ = writeln!(t, "backend = \"postgres\"\nurl = {}", quoted(url));
        }
        t.push_str("\n[firmware]\n");
        match &self.firmware {
            FirmwareLink::InProcess { state_dir, crypto } => {
                let _ = write!(
                    t,
                    "transport = \"inprocess\"\nstate_dir = {}\ncrypto = {}\n",
                    path(state_dir),
                    quoted(crypto.name())
                );
            }
            FirmwareLink::Socket {
                address,
                reconnect_ms,
            } => {
                let _ = writeln!(t, "transport = \"socket\"\nsocket = {}", quoted(address));
                if let Some((initial, max)) = reconnect_ms {
                    let _ = writeln!(
                        t,
                        "reconnect_initial_ms = {initial}\nreconnect_max_ms = {max}"
                    );
                }
            }
        }
        if let Some(filter) = &self.log_filter {
            let _ = write!(t, "\n[log]\nfilter = {}\n", quoted(filter));
        }
        match &self.connectors {
            Connectors::Toml(text) => {
                t.push('\n');
                t.push_str(text);
            }
            Connectors::List(entries) => {
                for c in entries {
                    let ops: Vec<String> = c.operations.iter().map(|o| quoted(o)).collect();
                    let _ = write!(
                        t,
                        "\n[[connector]]\nname = {}\ncertificate_sha256 = {}\noperations = [{}]\n",
                        quoted(&c.name),
                        quoted(&c.certificate_sha256),
                        ops.join(", ")
                    );
                }
            }
        }
        if !self.idp_certificates.is_empty() {
            let certs: Vec<String> = self.idp_certificates.iter().map(|p| path(p)).collect();
            let _ = write!(t, "\n[tokens]\nidp_certificates = [{}]\n", certs.join(", "));
        }
        for section in &self.extra_sections {
            t.push('\n');
            t.push_str(section);
            if !section.ends_with('\n') {
                t.push('\n');
            }
        }
        t
    }

    /// Writes the file to `file`.
    pub fn write(&self, file: &Path) -> Result<()> {
        std::fs::write(file, self.to_toml()).map_err(HarnessError::context(file.display()))
    }
}

/// A TOML basic string.
pub(crate) fn quoted(text: &str) -> String {
    let mut q = String::with_capacity(text.len() + 2);
    q.push('"');
    for c in text.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn path(p: &Path) -> String {
    quoted(&p.display().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config(firmware: FirmwareLink) -> SamdConfig {
        SamdConfig::new(
            "127.0.0.1:8443".parse().unwrap(),
            ServerTls {
                cert: "/p/server.pem".into(),
                key: "/p/server.key".into(),
                client_ca: "/p/ca.pem".into(),
            },
            "/w/samd.db".into(),
            firmware,
            Connectors::List(vec![ConnectorEntry {
                name: "samctl".into(),
                certificate_sha256: "ab".into(),
                operations: vec!["management".into()],
            }]),
        )
    }

    #[test]
    fn in_process_with_a_listed_connector() {
        let text = config(FirmwareLink::InProcess {
            state_dir: "/w/hsm".into(),
            crypto: Crypto::Portable,
        })
        .to_toml();
        assert_eq!(
            text,
            "[server]\nlisten = \"127.0.0.1:8443\"\ntls_cert = \"/p/server.pem\"\n\
             tls_key = \"/p/server.key\"\nclient_ca = \"/p/ca.pem\"\nshutdown_grace_secs = 5\n\n\
             [store]\npath = \"/w/samd.db\"\n\n[firmware]\ntransport = \"inprocess\"\n\
             state_dir = \"/w/hsm\"\ncrypto = \"portable\"\n\n[[connector]]\nname = \"samctl\"\n\
             certificate_sha256 = \"ab\"\noperations = [\"management\"]\n"
        );
    }

    #[test]
    fn socket_with_backoff_log_and_an_extra_section() {
        let text = config(FirmwareLink::Socket {
            address: "unix:/w/sim.sock".into(),
            reconnect_ms: Some((10, 100)),
        })
        .with_comment("test")
        .with_log_filter("warn")
        .with_shutdown_grace_secs(1)
        .with_section("[csc]\nlisten = \"127.0.0.1:9\"")
        .to_toml();
        assert!(text.starts_with("# test\n[server]\n"), "{text}");
        assert!(text.contains("shutdown_grace_secs = 1\n"), "{text}");
        assert!(
            text.contains(
                "transport = \"socket\"\nsocket = \"unix:/w/sim.sock\"\n\
                 reconnect_initial_ms = 10\nreconnect_max_ms = 100\n\n[log]\nfilter = \"warn\"\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with("\n[csc]\nlisten = \"127.0.0.1:9\"\n"),
            "{text}"
        );
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}

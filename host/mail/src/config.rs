//! The configuration file (TOML). Every field has a default except the
//! spool folder, the next hop and, when any sender signs, the samd and IdP
//! connection; `sam-mail.example.toml` beside this crate shows them all.

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The SMTP listener.
    #[serde(default)]
    pub smtp: SmtpConfig,
    /// The spool.
    pub spool: SpoolConfig,
    /// Signing through samd.
    #[serde(default)]
    pub signing: SigningConfig,
    /// The next hop.
    pub forward: ForwardConfig,
    /// Metrics and health.
    #[serde(default)]
    pub http: Option<HttpConfig>,
}

/// `[smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Where to listen (default `127.0.0.1:2525`).
    pub listen: SocketAddr,
    /// The name in the greeting, EHLO answer and bounces (default
    /// `localhost`).
    pub hostname: String,
    /// Recipient domains accepted in `RCPT TO` (lower case compared); `*`
    /// accepts every domain, as an outgoing relay for allowed clients
    /// does. Default: none, so that an unconfigured relay relays nothing.
    pub accepted_domains: Vec<String>,
    /// Client networks allowed to submit, as `address/prefix` (default
    /// the loopback networks). Others get `554` and are disconnected.
    pub allowed_networks: Vec<String>,
    /// Largest message in bytes, advertised as `SIZE` (default 10 MiB).
    pub max_message_bytes: usize,
    /// Longest command or text line with its CRLF (default 1000, RFC 5321
    /// §4.5.3.1.6: a longer line would be refused by the next hop, and a
    /// signed message cannot be re-encoded, so it is refused here).
    pub max_line_bytes: usize,
    /// Commands one session may send before it is cut off (default 1000).
    pub max_commands: usize,
    /// Recipients of one message (default 100, RFC 5321's minimum).
    pub max_recipients: usize,
    /// Seconds a client may stay silent (default 300).
    pub idle_timeout_secs: u64,
    /// Sessions at the same time (default 256).
    pub max_sessions: usize,
    /// PEM certificate chain for STARTTLS; STARTTLS is offered only
    /// with both it and `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for STARTTLS.
    pub tls_key: Option<PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 2525)),
            hostname: "localhost".into(),
            accepted_domains: Vec::new(),
            allowed_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            max_message_bytes: 10 * 1024 * 1024,
            max_line_bytes: 1000,
            max_commands: 1000,
            max_recipients: 100,
            idle_timeout_secs: 300,
            max_sessions: 256,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[spool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool folder (created if missing); it must be on a file
    /// system where rename and fsync are durable.
    pub dir: PathBuf,
}

/// What happens to mail whose sender has no signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UnknownSender {
    /// Forwarded unsigned (the default).
    #[default]
    Pass,
    /// Refused at the end of DATA with `550 5.7.1`.
    Refuse,
}

/// `[signing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// samd's base URL (`https://host:port`).
    pub samd_url: String,
    /// PEM CA certificates trusted for samd's server certificate.
    pub samd_ca: PathBuf,
    /// PEM client certificate of the SSA connector (needs `Signing`).
    pub client_cert: PathBuf,
    /// Its PEM key.
    pub client_key: PathBuf,
    /// The IdP's base URL; `http://` only for the development IdP on
    /// the loopback interface.
    pub idp_url: String,
    /// PEM CA certificates for an `https://` IdP.
    pub idp_ca: Option<PathBuf>,
    /// The relay's (technical user's) login token from the IdP (DER,
    /// base64 or PEM). Read again for every batch, so it can be renewed
    /// without a restart.
    pub login_token: PathBuf,
    /// DEV-ONLY instead of `login_token`: the technical user's UserID,
    /// which the development IdP (started to accept `userId`) takes as
    /// logged in, without any authentication: the relay then needs no
    /// token file. Never with a real IdP.
    pub dev_user_id: Option<String>,
    /// Unsigned mail: pass or refuse (default pass).
    pub unknown_sender: UnknownSender,
    /// Most messages one SAD covers (default 128, at most the
    /// firmware's limit of hashes per SAD).
    pub batch_max: usize,
    /// How long the first message of a batch waits for others, in ms
    /// (default 200).
    pub batch_window_ms: u64,
    /// Seconds before a batch that samd or the IdP refused is tried again
    /// (default 10).
    pub retry_secs: u64,
    /// Days before a certificate's notAfter from which the relay warns
    /// (log at start and every hour; the metric
    /// `sam_mail_certificate_expires_in_seconds` always shows it).
    /// Default 30.
    pub expiry_warning_days: u64,
    /// The senders that sign.
    pub sender: Vec<SenderKey>,
    /// The senders file that `samctl mail` manages (its `[[sender]]`
    /// entries sign as if they were `[[signing.sender]]`; an address may
    /// be in only one of the two). Read at start.
    pub senders_file: Option<PathBuf>,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            samd_url: String::new(),
            samd_ca: PathBuf::new(),
            client_cert: PathBuf::new(),
            client_key: PathBuf::new(),
            idp_url: String::new(),
            idp_ca: None,
            login_token: PathBuf::new(),
            dev_user_id: None,
            unknown_sender: UnknownSender::Pass,
            batch_max: 128,
            batch_window_ms: 200,
            retry_secs: 10,
            expiry_warning_days: 30,
            sender: Vec::new(),
            senders_file: None,
        }
    }
}

/// `[[signing.sender]]`: one address and its seal key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SenderKey {
    /// The mail address (compared without regard to case).
    pub address: String,
    /// The KeyID of its key in the SAM (a UUID).
    pub key_id: String,
    /// Its certificate, PEM (then the chain may follow in the same file)
    /// or DER.
    pub certificate: PathBuf,
}

/// `[forward]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// `host:port` of the next hop.
    pub next_hop: String,
    /// Seconds to wait for the first retry (default 30); each next wait
    /// doubles, up to `retry_max_secs`.
    #[serde(default = "defaults::retry_initial")]
    pub retry_initial_secs: u64,
    /// Longest wait between two attempts (default 3600).
    #[serde(default = "defaults::retry_max")]
    pub retry_max_secs: u64,
    /// Seconds after acceptance after which an undeliverable message is
    /// bounced to its sender (default 5 days, RFC 5321 §4.5.4.1).
    #[serde(default = "defaults::bounce_after")]
    pub bounce_after_secs: u64,
    /// Seconds for connecting and for each reply of the next hop
    /// (default 60).
    #[serde(default = "defaults::timeout")]
    pub timeout_secs: u64,
    /// Deliveries at the same time (default 4).
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// STARTTLS to the next hop: `off` (the default, for a next hop on a
    /// protected local network) or `required` (no delivery without TLS
    /// and a certificate from `tls_ca` for `tls_name`).
    #[serde(default)]
    pub starttls: StartTls,
    /// PEM CA certificates trusted for the next hop.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The name the next hop's certificate must carry (default: the host
    /// of `next_hop`).
    #[serde(default)]
    pub tls_name: Option<String>,
}

/// `forward.starttls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    /// Plain SMTP.
    #[default]
    Off,
    /// STARTTLS with a verified certificate, or no delivery.
    Required,
}

mod defaults {
    pub fn retry_initial() -> u64 {
        30
    }
    pub fn retry_max() -> u64 {
        3600
    }
    pub fn bounce_after() -> u64 {
        5 * 24 * 3600
    }
    pub fn timeout() -> u64 {
        60
    }
    pub fn concurrency() -> usize {
        4
    }
}

/// `[http]`: `/metrics` (Prometheus) and `/healthz`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to listen (plain HTTP; keep it on loopback or a management
    /// network).
    pub listen: SocketAddr,
}

/// An allowed client network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `address/prefix` (or a bare address: one host).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|e| format!("network {text:?}: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("network {text:?}: prefix is not 0..={max}"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                mask(u32::from(n).into(), 32, self.prefix)
                    == mask(u32::from(a).into(), 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                mask(u128::from(n), 128, self.prefix) == mask(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn mask(value: u128, bits: u32, prefix: u8) -> u128 {
    let host_bits = bits - u32::from(prefix);
    if host_bits >= 128 {
        0
    } else {
        value >> host_bits
    }
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks a configuration text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(file) = &config.signing.senders_file {
            let from_file = crate::senders::SendersFile::load(file)?.resolved(file);
            config.signing.sender.extend(from_file);
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        self.networks()?;
        let s = &self.smtp;
        if s.max_line_bytes < 512 {
            return Err("smtp.max_line_bytes must be at least 512 (RFC 5321 §4.5.3.1.4)".into());
        }
        if s.max_commands == 0 || s.max_recipients == 0 || s.max_message_bytes == 0 {
            return Err("smtp limits must be above 0".into());
        }
        if s.tls_cert.is_some() != s.tls_key.is_some() {
            return Err("smtp.tls_cert and smtp.tls_key go together".into());
        }
        let g = &self.signing;
        for (i, s) in g.sender.iter().enumerate() {
            let twice = g
                .sender
                .iter()
                .skip(i + 1)
                .any(|o| o.address.eq_ignore_ascii_case(&s.address));
            if twice {
                return Err(format!(
                    "sender {} is configured twice (signing.sender and signing.senders_file?)",
                    s.address
                ));
            }
        }
        let max = sam_proto::command::MAX_HASHES;
        if g.batch_max == 0 || g.batch_max > max {
            return Err(format!("signing.batch_max must be 1..={max}"));
        }
        if !g.sender.is_empty() && (g.samd_url.is_empty() || g.idp_url.is_empty()) {
            return Err("signing.sender needs signing.samd_url and signing.idp_url".into());
        }
        if !g.sender.is_empty() && g.login_token.as_os_str().is_empty() == g.dev_user_id.is_none() {
            return Err("signing needs exactly one of login_token and dev_user_id".into());
        }
        if self.forward.concurrency == 0 || self.forward.retry_initial_secs == 0 {
            return Err(
                "forward.concurrency and forward.retry_initial_secs must be above 0".into(),
            );
        }
        Ok(())
    }

    /// The allowed client networks.
    pub fn networks(&self) -> Result<Vec<Network>, String> {
        self.smtp
            .allowed_networks
            .iter()
            .map(|n| Network::parse(n))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_by_prefix() {
        let n = Network::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all = Network::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("host/8").is_err());
    }

    #[test]
    fn the_example_file_parses() {
        let c = Config::parse(include_str!("../sam-mail.example.toml")).unwrap();
        assert_eq!(c.signing.sender.len(), 1);
        assert_eq!(c.smtp.accepted_domains, ["example.net"]);
        assert!(c.http.is_none());
    }

    #[test]
    fn the_senders_file_adds_senders_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("senders.toml");
        std::fs::write(
            &file,
            "[[sender]]\naddress = \"a@example.org\"\nkey_id = \"k\"\ncertificate = \"a.pem\"\n\n\
             [[pending]]\naddress = \"b@example.org\"\nkey_id = \"k2\"\npublic_key = \"AA\"\ncsr = \"b.csr\"\n",
        )
        .unwrap();
        let base = format!(
            "[spool]\ndir = \"/x\"\n[forward]\nnext_hop = \"h:25\"\n[signing]\nsamd_url = \"https://s\"\n\
             idp_url = \"http://i\"\nlogin_token = \"t\"\nsenders_file = {:?}\n",
            file.display().to_string()
        );
        let c = Config::parse(&base).unwrap();
        assert_eq!(c.signing.sender.len(), 1);
        assert_eq!(c.signing.sender[0].key_id, "k");
        assert_eq!(c.signing.sender[0].certificate, dir.path().join("a.pem"));
        let twice = format!(
            "{base}[[signing.sender]]\naddress = \"A@example.org\"\nkey_id = \"k3\"\ncertificate = \"c.pem\"\n"
        );
        assert!(Config::parse(&twice).unwrap_err().contains("twice"));
        std::fs::remove_file(&file).unwrap();
        assert!(Config::parse(&base).is_err());
    }

    #[test]
    fn minimal_file_takes_defaults_and_bad_limits_are_refused() {
        let c =
            Config::parse("[spool]\ndir = \"/tmp/x\"\n[forward]\nnext_hop = \"127.0.0.1:25\"\n")
                .unwrap();
        assert_eq!(c.smtp.max_message_bytes, 10 * 1024 * 1024);
        assert_eq!(c.signing.batch_max, 128);
        assert_eq!(c.forward.retry_initial_secs, 30);
        let bad = "[smtp]\nmax_line_bytes = 100\n[spool]\ndir = \"/tmp/x\"\n[forward]\nnext_hop = \"h:25\"\n";
        assert!(Config::parse(bad).is_err());
        let typo = "[spool]\ndir = \"/x\"\nsize = 1\n[forward]\nnext_hop = \"h:25\"\n";
        assert!(Config::parse(typo).is_err());
    }
}

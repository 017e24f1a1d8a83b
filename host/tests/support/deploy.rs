//! The real `samd` binary in a test, set up through sam-harness: the test
//! PKI's PEM files, a fresh simulator, samd's configuration, and samctl
//! with the management connector's certificate.

use super::Pki;
use sam_harness::{
    ConnectorEntry, Connectors, Crypto, FirmwareLink, Identity, SamctlOutput, SamdConfig, ServerTls,
};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

/// Writes the server's PEM files into `dir` and a fresh simulator into
/// `dir/hsm`; samd's configuration on `port`: the firmware in-process
/// (portable crypto), its store `dir/samd.db`, one `management`
/// connector pinning the test PKI's samctl certificate.
pub fn samd_config(dir: &Path, pki: &Pki, port: u16) -> SamdConfig {
    std::fs::write(dir.join("server.pem"), &pki.server.cert_pem).unwrap();
    std::fs::write(dir.join("server.key"), &pki.server.key_pem).unwrap();
    std::fs::write(dir.join("client-ca.pem"), &pki.ca.cert_pem).unwrap();
    sam_simulator::Simulator::init(&dir.join("hsm")).unwrap();
    SamdConfig::new(
        SocketAddr::from(([127, 0, 0, 1], port)),
        ServerTls {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_ca: dir.join("client-ca.pem"),
        },
        dir.join("samd.db"),
        FirmwareLink::InProcess {
            state_dir: dir.join("hsm"),
            crypto: Crypto::Portable,
        },
        Connectors::List(vec![ConnectorEntry {
            name: "samctl".into(),
            certificate_sha256: pki.admin.pin(),
            operations: vec!["management".into()],
        }]),
    )
}

/// The samctl (management) identity of the test PKI, written into `dir`
/// as `ca.pem`, `samctl.pem`, `samctl.key`.
pub fn admin_identity(dir: &Path, pki: &Pki) -> Identity {
    let w = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Identity {
        ca: w("ca.pem", &pki.ca.cert_pem),
        cert: w("samctl.pem", &pki.admin.cert_pem),
        key: w("samctl.key", &pki.admin.key_pem),
    }
}

/// Assertions on a samctl run.
pub trait Checked {
    /// Panics unless samctl exited 0.
    fn ok(self) -> Self;
    /// stdout as JSON (panics if it is not).
    fn json(&self) -> Value;
}

impl Checked for SamctlOutput {
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

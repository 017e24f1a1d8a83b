//! A deployment on one machine with a development PKI: the folder, the
//! binaries, the PKI, and specs for the simulators and samd instances in
//! it, named so that several of each can live side by side.

use crate::{
    Binaries, Connector, Connectors, FirmwareLink, HarnessError, Identity, Result, Samctl,
    SamdConfig, SamdSpec, ServerTls, SimulatorSpec, free_port,
};
use sam_devpki::{DevPki, DevPkiOptions, files};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// A folder holding a deployment: `pki/` (the dev PKI) and, per samd
/// named N, `N.toml`, `N.db`, `N.log`; per simulator, its state
/// directory, socket and log.
#[derive(Debug, Clone)]
pub struct Deployment {
    dir: PathBuf,
    bins: Binaries,
    pki: DevPki,
}

impl Deployment {
    /// A new deployment in `dir` with a fresh dev PKI in `dir/pki`.
    pub fn create(dir: &Path, bins: Binaries) -> Result<Self> {
        Self::create_with(dir, bins, &DevPkiOptions::default())
    }

    /// The same with PKI options (e.g. an RSA IdP).
    pub fn create_with(dir: &Path, bins: Binaries, options: &DevPkiOptions) -> Result<Self> {
        let pki =
            DevPki::create(&dir.join("pki"), options).map_err(HarnessError::context("dev PKI"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            bins,
            pki,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The binaries.
    pub fn bins(&self) -> &Binaries {
        &self.bins
    }

    /// The dev PKI.
    pub fn pki(&self) -> &DevPki {
        &self.pki
    }

    /// `connector`'s client identity.
    pub fn identity(&self, connector: Connector) -> Identity {
        Identity::dev(&self.pki, connector)
    }

    /// samctl reaching `url` with `connector`'s certificate.
    pub fn samctl(&self, url: &str, connector: Connector) -> Samctl {
        Samctl::new(&self.bins.samctl()).connected(url, &self.identity(connector))
    }

    /// The first simulator: `sam-state/`, `sim.sock`, `simulator.log`.
    pub fn simulator(&self) -> SimulatorSpec {
        SimulatorSpec {
            state_dir: self.dir.join("sam-state"),
            socket: self.dir.join("sim.sock"),
            log: self.dir.join("simulator.log"),
        }
    }

    /// Another simulator: `NAME-state/`, `NAME.sock`, `NAME.log`.
    pub fn named_simulator(&self, name: &str) -> SimulatorSpec {
        SimulatorSpec {
            state_dir: self.dir.join(format!("{name}-state")),
            socket: self.dir.join(format!("{name}.sock")),
            log: self.dir.join(format!("{name}.log")),
        }
    }

    /// The configuration of a samd on `127.0.0.1:port` with the dev PKI's
    /// server certificate and connectors, its store in `NAME.db`.
    pub fn samd_config(&self, name: &str, port: u16, firmware: FirmwareLink) -> Result<SamdConfig> {
        let connectors_file = self.pki.path(files::CONNECTORS);
        let connectors = std::fs::read_to_string(&connectors_file)
            .map_err(HarnessError::context(connectors_file.display()))?;
        let mut config = SamdConfig::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ServerTls {
                cert: self.pki.path(files::SERVER_CERT),
                key: self.pki.path(files::SERVER_KEY),
                client_ca: self.pki.path(files::TLS_CA_CERT),
            },
            self.dir.join(format!("{name}.db")),
            firmware,
            Connectors::Toml(connectors),
        );
        config.idp_certificates = vec![self.pki.path(files::IDP_CERT)];
        Ok(config)
    }

    /// A `[csc]` section for [`SamdConfig::with_section`]: the CSC
    /// listener enabled on `127.0.0.1:port` with the dev PKI's server
    /// certificate (SAN `localhost`), its signing CA as the chain of
    /// `credentials/info`, then the TOML lines `extra` (e.g.
    /// `handle_lifetime_secs = 2`, `oauth2_idp_url = "..."`).
    pub fn csc_section(&self, port: u16, extra: &str) -> String {
        let path = |name: &str| crate::config::quoted(&self.pki.path(name).display().to_string());
        format!(
            "[csc]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://localhost:{port}\"\ntls_cert = {}\ntls_key = {}\nchain_certificates = [{}]\n{extra}\n",
            path(files::SERVER_CERT),
            path(files::SERVER_KEY),
            path(files::CA_CERT),
        )
    }

    /// A samd named `name` on a free port: [`Deployment::samd_config`],
    /// written to `NAME.toml`, logging to `NAME.log`. Adjust
    /// [`SamdSpec::config`] before spawning it.
    pub fn samd(&self, name: &str, firmware: FirmwareLink) -> Result<SamdSpec> {
        let config = self.samd_config(name, free_port()?, firmware)?;
        Ok(SamdSpec::new(
            name,
            config,
            self.dir.join(format!("{name}.toml")),
            self.dir.join(format!("{name}.log")),
        ))
    }
}

//! The TLS identity a client of samd presents: the CA it trusts for
//! samd's server certificate and its own client certificate and key.

use crate::{HarnessError, Result};
use sam_client::SamClient;
use sam_devpki::{DevPki, files};
use std::path::PathBuf;

/// One of the dev PKI's connector certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    /// The signature creation application (`Signing`, key queries).
    Ssa,
    /// The privileged-user connector (users, keys, certificates).
    Privileged,
    /// `management`: the administration commands (samctl).
    Management,
}

/// PEM files of a client identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The CA that issued samd's server certificate.
    pub ca: PathBuf,
    /// The client certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

impl Identity {
    /// `connector`'s certificate in the dev PKI `pki`.
    pub fn dev(pki: &DevPki, connector: Connector) -> Self {
        let (cert, key) = match connector {
            Connector::Ssa => (files::SSA_CERT, files::SSA_KEY),
            Connector::Privileged => (files::PRIVILEGED_CERT, files::PRIVILEGED_KEY),
            Connector::Management => (files::MANAGEMENT_CERT, files::MANAGEMENT_KEY),
        };
        Self {
            ca: pki.path(files::TLS_CA_CERT),
            cert: pki.path(cert),
            key: pki.path(key),
        }
    }

    /// A sam-client of samd at `url` with this identity.
    pub fn client(&self, url: &str) -> Result<SamClient> {
        SamClient::from_pem_files(url, &self.ca, &self.cert, &self.key)
            .map_err(HarnessError::context("samd client"))
    }
}

//! The TLS server configuration: mutual TLS is mandatory, and only
//! pinned client certificates complete the handshake.
//!
//! rustls verifies the client certificate against the configured client
//! CA (WebPKI rules, so an expired or foreign certificate fails the
//! handshake), and [`PinnedClientVerifier`] then also requires the leaf's
//! SHA-256 to be the pin of a configured connector. A peer holding a
//! certificate from the CA that no connector pins is therefore refused
//! during the handshake: it never reaches HTTP, so it can neither hold a
//! request open nor learn anything from an HTTP answer. Which connector a
//! verified certificate belongs to (and so what it may call) is looked up
//! again by the same pin, in [`super::Connectors`].

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The TLS configuration could not be built.
#[derive(Debug)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    Pem(PathBuf, String),
    /// A PEM file holds no certificate.
    NoCertificate(PathBuf),
    /// rustls refused the configuration.
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem(p, e) => write!(f, "{}: {e}", p.display()),
            Self::NoCertificate(p) => write!(f, "{}: no certificate in the file", p.display()),
            Self::Config(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// Reads every certificate of a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Pem(path.into(), e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem(path.into(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.into()));
    }
    Ok(certs)
}

/// A client-certificate verifier that accepts only what the WebPKI
/// verifier accepts *and* what a connector pins.
///
/// The pin check comes after the chain check, so an unpinned certificate
/// from a foreign CA is still reported as a chain failure in the log; the
/// signature checks are the WebPKI verifier's.
#[derive(Debug)]
pub struct PinnedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    pins: BTreeSet<[u8; 32]>,
}

impl PinnedClientVerifier {
    /// Wraps `inner`; `pins` are the SHA-256 of the DER certificates of
    /// the configured connectors.
    pub fn new(
        inner: Arc<dyn ClientCertVerifier>,
        pins: impl IntoIterator<Item = [u8; 32]>,
    ) -> Self {
        Self {
            inner,
            pins: pins.into_iter().collect(),
        }
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self
            .pins
            .contains(&super::certificate_pin(end_entity.as_ref()))
        {
            Ok(verified)
        } else {
            tracing::warn!(
                pin = %hex::encode(super::certificate_pin(end_entity.as_ref())),
                "client certificate chains to the client CA but no connector pins it; handshake refused"
            );
            // Sent to the peer as the `access_denied` alert.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server configuration from PEM files: the server's chain and key,
/// the CA certificates that issue client certificates, and the pins of
/// the connectors (the only client certificates admitted).
pub fn server_config_from_files(
    chain: &Path,
    key: &Path,
    client_ca: &Path,
    pins: impl IntoIterator<Item = [u8; 32]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain_der = read_certificates(chain)?;
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem(key.into(), e.to_string()))?;
    let cas = read_certificates(client_ca)?;
    server_config(chain_der, key_der, cas, pins)
}

/// The server configuration: HTTP/2 and HTTP/1.1 by ALPN, TLS 1.2 and
/// 1.3 with rustls' safe defaults, a client certificate required that
/// chains to `client_cas` and whose SHA-256 is one of `pins`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_cas: Vec<CertificateDer<'static>>,
    pins: impl IntoIterator<Item = [u8; 32]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in client_cas {
        roots
            .add(ca)
            .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))?;
    let verifier = Arc::new(PinnedClientVerifier::new(verifier, pins));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A server configuration without client certificates, for the CSC
/// listener: end-user clients authenticate with bearer tokens, not with
/// connector certificates. HTTP/2 and HTTP/1.1 by ALPN, as on the peering
/// listener.
pub fn server_auth_only_from_files(
    chain: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certificates(chain)?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem(key.into(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

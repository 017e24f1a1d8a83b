//! `sam-devpki` — DEVELOPMENT ONLY command line: make a development PKI,
//! run the development IdP, print login tokens, certify CSRs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Parser, Subcommand, ValueEnum};
use der::{Decode, EncodePem};
use sam_devpki::{DevIdpOptions, DevIdpServer, DevPki, DevPkiOptions, IdpKeyType, unix_now};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::Uuid;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// DEVELOPMENT ONLY: a throw-away PKI, identity provider and certificate
/// authority for running the SAM on one machine. Never use in production.
#[derive(Parser, Debug)]
#[command(name = "sam-devpki", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write a new development PKI into DIR (refuses to overwrite).
    Create {
        /// The folder.
        dir: PathBuf,
        /// The IdP's key type.
        #[arg(long, value_enum, default_value = "p256")]
        idp_key: IdpKey,
    },
    /// Serve the IdP's POST /id-token/sad (and the development TSA's
    /// POST /tsa) over plain HTTP on loopback until interrupted.
    Idp {
        /// The development PKI folder.
        dir: PathBuf,
        /// Listen address (loopback only).
        #[arg(long, default_value = "127.0.0.1:8480")]
        listen: SocketAddr,
        /// Seconds a token with a SAD key is valid.
        #[arg(long, default_value_t = 300)]
        token_lifetime: u64,
        /// Also accept {"userId"} without authentication, issuing tokens
        /// with this identification level.
        #[arg(long, value_enum)]
        accept_user_id: Option<Level>,
    },
    /// Print a login token (base64 DER) of the development IdP.
    LoginToken {
        /// The development PKI folder.
        dir: PathBuf,
        /// The user's UserID.
        #[arg(long)]
        user: String,
        /// The identification level.
        #[arg(long, value_enum, default_value = "substantial")]
        level: Level,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 600)]
        lifetime: u64,
    },
    /// Certify a PKCS#10 request (DER or PEM) with the development CA;
    /// writes the certificate as PEM.
    IssueCert {
        /// The development PKI folder.
        dir: PathBuf,
        /// The request.
        #[arg(long)]
        csr: PathBuf,
        /// Where to write the certificate.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum IdpKey {
    P256,
    Rsa2048,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Level {
    Low,
    Substantial,
    High,
}

impl From<Level> for IdentificationLevel {
    fn from(l: Level) -> Self {
        match l {
            Level::Low => Self::Low,
            Level::Substantial => Self::Substantial,
            Level::High => Self::High,
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[DEV-ONLY] sam-devpki: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Cmd::Create { dir, idp_key } => {
            let idp_key = match idp_key {
                IdpKey::P256 => IdpKeyType::P256,
                IdpKey::Rsa2048 => IdpKeyType::Rsa2048,
            };
            DevPki::create(&dir, &DevPkiOptions { idp_key }).map_err(|e| e.to_string())?;
            eprintln!(
                "[DEV-ONLY] development PKI written to {} (see DEV-ONLY-README.txt)",
                dir.display()
            );
            Ok(())
        }
        Cmd::Idp {
            dir,
            listen,
            token_lifetime,
            accept_user_id,
        } => {
            let pki = DevPki::load(&dir).map_err(|e| e.to_string())?;
            let idp = pki.idp().map_err(|e| e.to_string())?;
            // Folders made before the TSA existed have no tsa.pem.
            let tsa = pki
                .path(sam_devpki::files::TSA_CERT)
                .exists()
                .then(|| pki.tsa())
                .transpose()
                .map_err(|e| e.to_string())?
                .map(Arc::new);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let server = DevIdpServer::start_with_tsa(
                    Arc::new(idp),
                    listen,
                    DevIdpOptions {
                        token_lifetime: Duration::from_secs(token_lifetime),
                        accept_user_id: accept_user_id.map(Into::into),
                    },
                    tsa,
                )
                .await
                .map_err(|e| e.to_string())?;
                tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
                server.stop().await;
                Ok(())
            })
        }
        Cmd::LoginToken {
            dir,
            user,
            level,
            lifetime,
        } => {
            let user = Uuid::parse(&user).map_err(|_| format!("{user:?} is not a UUID"))?;
            let idp = DevPki::load(&dir)
                .and_then(|p| p.idp())
                .map_err(|e| e.to_string())?;
            let token = idp
                .login_token(user, level.into(), unix_now(), lifetime)
                .map_err(|e| e.to_string())?;
            println!("{}", STANDARD.encode(token));
            Ok(())
        }
        Cmd::IssueCert { dir, csr, out } => {
            let bytes = std::fs::read(&csr).map_err(|e| format!("{}: {e}", csr.display()))?;
            let der = if bytes.starts_with(b"-----BEGIN") {
                use rustls_pki_types::CertificateSigningRequestDer;
                use rustls_pki_types::pem::PemObject;
                CertificateSigningRequestDer::from_pem_slice(&bytes)
                    .map_err(|e| format!("{}: {e}", csr.display()))?
                    .as_ref()
                    .to_vec()
            } else {
                bytes
            };
            let ca = DevPki::load(&dir)
                .and_then(|p| p.ca())
                .map_err(|e| e.to_string())?;
            let cert = ca.issue_from_csr(&der).map_err(|e| e.to_string())?;
            let pem = x509_cert::Certificate::from_der(&cert)
                .and_then(|c| c.to_pem(der::pem::LineEnding::LF))
                .map_err(|e| e.to_string())?;
            std::fs::write(&out, pem).map_err(|e| format!("{}: {e}", out.display()))?;
            eprintln!("[DEV-ONLY] certificate written to {}", out.display());
            Ok(())
        }
    }
}

//! DEV-ONLY: the development PKI folder.

use crate::{DEV_ORGANIZATION, DevCa, DevIdp, DevPkiError, DevTsa, IdpKeyType, rand, unix_now};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The file names inside a development PKI folder. Certificates are PEM
/// (`.pem`), private keys PKCS#8 PEM (`.key`, mode 0600).
pub mod files {
    /// The warning that the folder is for development only.
    pub const README: &str = "DEV-ONLY-README.txt";
    /// The TLS CA: issues samd's server certificate and the connectors'
    /// client certificates (samd's `client_ca`, the clients' trust anchor).
    pub const TLS_CA_CERT: &str = "tls-ca.pem";
    /// The TLS CA's key.
    pub const TLS_CA_KEY: &str = "tls-ca.key";
    /// samd's server certificate (SAN `localhost`, `127.0.0.1`, `::1`).
    pub const SERVER_CERT: &str = "samd-server.pem";
    /// samd's server key.
    pub const SERVER_KEY: &str = "samd-server.key";
    /// Client certificate of the SSA connector (`Signing`, key queries).
    pub const SSA_CERT: &str = "connector-ssa.pem";
    /// Its key.
    pub const SSA_KEY: &str = "connector-ssa.key";
    /// Client certificate of the privileged-user connector (user and key
    /// management, certificate registration).
    pub const PRIVILEGED_CERT: &str = "connector-privileged.pem";
    /// Its key.
    pub const PRIVILEGED_KEY: &str = "connector-privileged.key";
    /// Client certificate of the management connector (samctl).
    pub const MANAGEMENT_CERT: &str = "connector-management.pem";
    /// Its key.
    pub const MANAGEMENT_KEY: &str = "connector-management.key";
    /// The two administrators' P-256 keys (samctl dual control).
    pub const ADMIN_KEYS: [&str; 2] = ["admin-1.key", "admin-2.key"];
    /// The IdP's self-signed certificate (import into the firmware).
    pub const IDP_CERT: &str = "idp.pem";
    /// The IdP's key.
    pub const IDP_KEY: &str = "idp.key";
    /// The signing CA that issues signer certificates.
    pub const CA_CERT: &str = "ca.pem";
    /// The signing CA's key.
    pub const CA_KEY: &str = "ca.key";
    /// The development TSA's certificate (issued by the signing CA,
    /// critical extended key usage `id-kp-timeStamping`).
    pub const TSA_CERT: &str = "tsa.pem";
    /// The development TSA's key.
    pub const TSA_KEY: &str = "tsa.key";
    /// `[[connector]]` entries for samd's configuration, with the pins of
    /// the three client certificates.
    pub const CONNECTORS: &str = "samd-connectors.toml";
}

/// Options of [`DevPki::create`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DevPkiOptions {
    /// The IdP's key type (P-256 by default).
    pub idp_key: IdpKeyType,
}

/// A DEV-ONLY PKI in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPki {
    dir: PathBuf,
}

const README_TEXT: &str = "\
DEV-ONLY — NOT FOR PRODUCTION
=============================

Everything in this folder was made by sam-devpki for development and
testing of the SAM on one machine. The private keys lie unencrypted in
plain files; the identity provider, the signing CA and the time-stamp
authority trust whoever can reach them. Never import any of these certificates into a production
SAM, never trust this TLS CA outside a development machine, and never
sign anything of value with keys certified by this CA.
";

impl DevPki {
    /// Writes a new development PKI into `dir` (created if missing). Fails
    /// without writing anything if any of its files already exists.
    pub fn create(dir: &Path, options: &DevPkiOptions) -> Result<Self, DevPkiError> {
        std::fs::create_dir_all(dir).map_err(|e| DevPkiError::io(dir, e))?;
        let pki = Self {
            dir: dir.to_path_buf(),
        };
        let mut names = vec![
            files::README,
            files::TLS_CA_CERT,
            files::TLS_CA_KEY,
            files::SERVER_CERT,
            files::SERVER_KEY,
            files::SSA_CERT,
            files::SSA_KEY,
            files::PRIVILEGED_CERT,
            files::PRIVILEGED_KEY,
            files::MANAGEMENT_CERT,
            files::MANAGEMENT_KEY,
            files::IDP_CERT,
            files::IDP_KEY,
            files::CA_CERT,
            files::CA_KEY,
            files::TSA_CERT,
            files::TSA_KEY,
            files::CONNECTORS,
        ];
        names.extend(files::ADMIN_KEYS);
        if let Some(existing) = names.iter().map(|n| pki.path(n)).find(|p| p.exists()) {
            return Err(DevPkiError::Io(format!(
                "{} already exists; use DevPki::load, or remove the folder",
                existing.display()
            )));
        }
        dev_warn!(
            "writing a DEVELOPMENT-ONLY PKI into {}: never use it in production",
            dir.display()
        );
        write(&pki.path(files::README), README_TEXT)?;

        // TLS: a CA, samd's server certificate, three connectors.
        let tls_ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut tls_ca = CertificateParams::new(Vec::<String>::new())?;
        dn(&mut tls_ca, "SAM DEV-ONLY TLS CA");
        tls_ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        tls_ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        tls_ca.serial_number = Some(serial()?);
        set_validity(&mut tls_ca, 3650)?;
        let tls_ca_cert = tls_ca.self_signed(&tls_ca_key)?;
        write(&pki.path(files::TLS_CA_CERT), &tls_ca_cert.pem())?;
        write_key(&pki.path(files::TLS_CA_KEY), &tls_ca_key.serialize_pem())?;
        let issuer = Issuer::from_params(&tls_ca, &tls_ca_key);

        let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut server = CertificateParams::new(vec!["localhost".to_string()])?;
        dn(&mut server, "localhost");
        server.subject_alt_names.extend([
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]);
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.serial_number = Some(serial()?);
        server.use_authority_key_identifier_extension = true;
        set_validity(&mut server, 825)?;
        let server_cert = server.signed_by(&server_key, &issuer)?;
        write(&pki.path(files::SERVER_CERT), &server_cert.pem())?;
        write_key(&pki.path(files::SERVER_KEY), &server_key.serialize_pem())?;

        let mut connectors = String::from(
            "# DEV-ONLY connector entries for samd's configuration, made by sam-devpki.\n\
             # The pins are the SHA-256 of the DER client certificates in this folder.\n",
        );
        for (name, cert_file, key_file, operations) in [
            (
                "ssa",
                files::SSA_CERT,
                files::SSA_KEY,
                r#"["Signing", "Key_Manager_Query"]"#,
            ),
            (
                "privileged-user",
                files::PRIVILEGED_CERT,
                files::PRIVILEGED_KEY,
                r#"["Create_New_Privileged_User", "Create_New_Signer", "Signer_Maintenance", "Generate_Signer_Key_Pair", "Delete_Signer_Key_Pair", "Get_Challenge", "Key_Manager_Query", "Key_Manager_Register"]"#,
            ),
            (
                "management",
                files::MANAGEMENT_CERT,
                files::MANAGEMENT_KEY,
                r#"["management"]"#,
            ),
        ] {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            dn(&mut params, &format!("SAM DEV-ONLY connector {name}"));
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params.serial_number = Some(serial()?);
            params.use_authority_key_identifier_extension = true;
            set_validity(&mut params, 825)?;
            let cert = params.signed_by(&key, &issuer)?;
            write(&pki.path(cert_file), &cert.pem())?;
            write_key(&pki.path(key_file), &key.serialize_pem())?;
            let _ = write!(
                connectors,
                "\n[[connector]]\nname = \"dev-{name}\"\ncertificate_sha256 = \"{}\"\noperations = {operations}\n",
                hex(&Sha256::digest(cert.der()))
            );
        }
        write(&pki.path(files::CONNECTORS), &connectors)?;

        for name in files::ADMIN_KEYS {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            write_key(&pki.path(name), &key.serialize_pem())?;
        }

        let idp = DevIdp::generate(options.idp_key)?;
        write(&pki.path(files::IDP_CERT), idp.certificate_pem())?;
        write_key(&pki.path(files::IDP_KEY), &idp.key_pem())?;

        let ca = DevCa::generate()?;
        write(&pki.path(files::CA_CERT), &ca.certificate_pem()?)?;
        write_key(&pki.path(files::CA_KEY), &ca.key_pem())?;

        let tsa = DevTsa::generate(&ca)?;
        write(&pki.path(files::TSA_CERT), &tsa.certificate_pem()?)?;
        write_key(&pki.path(files::TSA_KEY), &tsa.key_pem())?;

        dev_info!("development PKI ready in {}", dir.display());
        Ok(pki)
    }

    /// The development PKI already in `dir`.
    pub fn load(dir: &Path) -> Result<Self, DevPkiError> {
        let pki = Self {
            dir: dir.to_path_buf(),
        };
        let readme = pki.path(files::README);
        if !readme.exists() {
            return Err(DevPkiError::Io(format!(
                "{} is missing: {} is not a development PKI folder",
                readme.display(),
                dir.display()
            )));
        }
        Ok(pki)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the file `name` (one of [`files`]).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The IdP of this PKI.
    pub fn idp(&self) -> Result<DevIdp, DevPkiError> {
        DevIdp::load(&self.path(files::IDP_CERT), &self.path(files::IDP_KEY))
    }

    /// The signing CA of this PKI.
    pub fn ca(&self) -> Result<DevCa, DevPkiError> {
        DevCa::load(&self.path(files::CA_CERT), &self.path(files::CA_KEY))
    }

    /// The time-stamp authority of this PKI.
    pub fn tsa(&self) -> Result<DevTsa, DevPkiError> {
        DevTsa::load(&self.path(files::TSA_CERT), &self.path(files::TSA_KEY))
    }

    /// The PKCS#8 DER of administrator `index` (0 or 1).
    pub fn admin_key_pkcs8(&self, index: usize) -> Result<Vec<u8>, DevPkiError> {
        let name = files::ADMIN_KEYS
            .get(index)
            .ok_or_else(|| DevPkiError::Refused(format!("no administrator {index}")))?;
        let key = KeyPair::from_pem(&read(&self.path(name))?)?;
        Ok(key.serialize_der())
    }
}

/// Subject `CN=<cn>, O=<DEV_ORGANIZATION>`.
fn dn(params: &mut CertificateParams, cn: &str) {
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, DEV_ORGANIZATION);
}

fn serial() -> Result<rcgen::SerialNumber, DevPkiError> {
    Ok(rcgen::SerialNumber::from_slice(rand::serial()?.as_bytes()))
}

/// Valid from five minutes ago for `days` days.
pub(crate) fn set_validity(params: &mut CertificateParams, days: u64) -> Result<(), DevPkiError> {
    let now = i64::try_from(unix_now()).map_err(|_| DevPkiError::Crypto("clock".into()))?;
    let days = i64::try_from(days).map_err(|_| DevPkiError::Crypto("validity".into()))?;
    let at = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map_err(|e| DevPkiError::Crypto(format!("validity: {e}")))
    };
    params.not_before = at(now - 300)?;
    params.not_after = at(now + days * 86_400)?;
    Ok(())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The DER of the first certificate in `pem`.
pub(crate) fn pem_certificate(pem: &str) -> Result<Vec<u8>, DevPkiError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|c| c.to_vec())
        .map_err(|e| DevPkiError::Crypto(format!("PEM certificate: {e}")))
}

pub(crate) fn read(path: &Path) -> Result<String, DevPkiError> {
    std::fs::read_to_string(path).map_err(|e| DevPkiError::io(path, e))
}

fn write(path: &Path, text: &str) -> Result<(), DevPkiError> {
    std::fs::write(path, text).map_err(|e| DevPkiError::io(path, e))
}

/// Writes a private key, readable by its owner only where the platform
/// has Unix permissions.
fn write_key(path: &Path, pem: &str) -> Result<(), DevPkiError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| DevPkiError::io(path, e))?;
    file.write_all(pem.as_bytes())
        .map_err(|e| DevPkiError::io(path, e))
}

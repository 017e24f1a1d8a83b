//! Reading keys, certificates, tokens and SADs (PEM, DER or base64), and
//! writing files.

use super::error::{CtlError, CtlResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rustls_pki_types::pem::{PemObject, SectionKind};
use std::io::Write as _;
use std::path::Path;

/// Reads a whole file.
pub fn read(path: &Path) -> CtlResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| CtlError::failed(format!("{}: {e}", path.display())))
}

fn bad(path: &Path, what: impl std::fmt::Display) -> CtlError {
    CtlError::usage(format!("{}: {what}", path.display()))
}

fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Every PEM section of `bytes`, as (label kind, DER).
fn pem_sections(bytes: &[u8]) -> Vec<(SectionKind, Vec<u8>)> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .map_while(Result::ok)
        .collect()
}

/// The DER of a private key file: the first private-key section of a PEM
/// file, or the file itself.
fn private_key_der(path: &Path, bytes: &[u8]) -> CtlResult<(Option<SectionKind>, Vec<u8>)> {
    if !is_pem(bytes) {
        return Ok((None, bytes.to_vec()));
    }
    pem_sections(bytes)
        .into_iter()
        .find(|(k, _)| {
            matches!(
                k,
                SectionKind::PrivateKey | SectionKind::EcPrivateKey | SectionKind::RsaPrivateKey
            )
        })
        .map(|(k, d)| (Some(k), d))
        .ok_or_else(|| {
            bad(
                path,
                "no PRIVATE KEY or EC PRIVATE KEY section (encrypted keys are not supported)",
            )
        })
}

/// An administrator's P-256 signing key (PKCS#8 or SEC1, PEM or DER).
pub fn p256_key(path: &Path) -> CtlResult<p256::ecdsa::SigningKey> {
    let bytes = read(path)?;
    let (kind, der) = private_key_der(path, &bytes)?;
    let pkcs8 = || p256::ecdsa::SigningKey::from_pkcs8_der(&der).ok();
    let sec1 = || {
        p256::SecretKey::from_sec1_der(&der)
            .ok()
            .map(p256::ecdsa::SigningKey::from)
    };
    let key = match kind {
        Some(SectionKind::PrivateKey) => pkcs8(),
        Some(SectionKind::EcPrivateKey) => sec1(),
        Some(_) => None,
        None => pkcs8().or_else(sec1),
    };
    key.ok_or_else(|| bad(path, "not a P-256 private key"))
}

/// A technical user's signing key.
#[derive(Debug, Clone)]
pub enum TechnicalKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::SigningKey),
}

impl TechnicalKey {
    /// Reads a P-256 or P-384 private key.
    pub fn load(path: &Path) -> CtlResult<Self> {
        if let Ok(k) = p256_key(path) {
            return Ok(Self::P256(k));
        }
        let bytes = read(path)?;
        let (kind, der) = private_key_der(path, &bytes)?;
        let pkcs8 = || p384::ecdsa::SigningKey::from_pkcs8_der(&der).ok();
        let sec1 = || {
            p384::SecretKey::from_sec1_der(&der)
                .ok()
                .map(p384::ecdsa::SigningKey::from)
        };
        let key = match kind {
            Some(SectionKind::PrivateKey) => pkcs8(),
            Some(SectionKind::EcPrivateKey) => sec1(),
            Some(_) => None,
            None => pkcs8().or_else(sec1),
        };
        key.map(Self::P384).ok_or_else(|| {
            bad(
                path,
                "not a P-256 or P-384 private key (RSA technical keys are not supported by samctl)",
            )
        })
    }

    /// A DER ECDSA signature over a SHA-256 digest.
    pub fn sign_prehash(&self, digest: &[u8]) -> CtlResult<Vec<u8>> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let fail = |e: p256::ecdsa::Error| CtlError::failed(format!("signing failed: {e}"));
        Ok(match self {
            Self::P256(k) => {
                let s: p256::ecdsa::DerSignature = k.sign_prehash(digest).map_err(fail)?;
                s.as_bytes().to_vec()
            }
            Self::P384(k) => {
                let s: p384::ecdsa::DerSignature = k.sign_prehash(digest).map_err(fail)?;
                s.as_bytes().to_vec()
            }
        })
    }
}

/// The uncompressed SEC1 point of a P-256 key, as the firmware enrols
/// administrators.
pub fn p256_point(key: &p256::ecdsa::VerifyingKey) -> Vec<u8> {
    key.to_sec1_point(false).as_bytes().to_vec()
}

/// An administrator's public key as the uncompressed SEC1 point: a PEM or
/// DER SubjectPublicKeyInfo, hex of the point, or a private key file.
pub fn admin_point(path: &Path) -> CtlResult<Vec<u8>> {
    let bytes = read(path)?;
    let from_point = |p: &[u8]| {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(p)
            .ok()
            .map(|k| p256_point(&k))
    };
    let point = if is_pem(&bytes) {
        match pem_sections(&bytes).into_iter().find(|(k, _)| {
            matches!(
                k,
                SectionKind::PublicKey | SectionKind::PrivateKey | SectionKind::EcPrivateKey
            )
        }) {
            Some((SectionKind::PublicKey, der)) => {
                p256::ecdsa::VerifyingKey::from_public_key_der(&der)
                    .ok()
                    .map(|k| p256_point(&k))
            }
            Some(_) => p256_key(path).ok().map(|k| p256_point(k.verifying_key())),
            None => None,
        }
    } else if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(&bytes) {
        Some(p256_point(&k))
    } else if let Some(p) = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| hex::decode(t.trim()).ok())
    {
        from_point(&p)
    } else {
        from_point(&bytes).or_else(|| p256_key(path).ok().map(|k| p256_point(k.verifying_key())))
    };
    point.ok_or_else(|| {
        bad(
            path,
            "not a P-256 public key (PEM/DER SubjectPublicKeyInfo or hex SEC1 point)",
        )
    })
}

/// The certificates of a file: every CERTIFICATE section of a PEM file,
/// or the file as one DER certificate.
pub fn certificates(path: &Path) -> CtlResult<Vec<Vec<u8>>> {
    let bytes = read(path)?;
    if !is_pem(&bytes) {
        if bytes.first() != Some(&0x30) {
            return Err(bad(path, "neither PEM nor a DER certificate"));
        }
        return Ok(vec![bytes]);
    }
    let certs: Vec<Vec<u8>> = pem_sections(&bytes)
        .into_iter()
        .filter(|(k, _)| *k == SectionKind::Certificate)
        .map(|(_, d)| d)
        .collect();
    if certs.is_empty() {
        return Err(bad(path, "no CERTIFICATE in the PEM file"));
    }
    Ok(certs)
}

/// The certificates of several files, in order.
pub fn all_certificates(paths: &[std::path::PathBuf]) -> CtlResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(certificates(p)?);
    }
    Ok(out)
}

/// A DER document (identity token, SAD) from a file holding DER, base64
/// (standard or URL-safe) or PEM (any label).
pub fn der_document(path: &Path, what: &str) -> CtlResult<Vec<u8>> {
    sam_client::der_document(&read(path)?)
        .ok_or_else(|| bad(path, format!("{what} is neither DER, base64 nor PEM")))
}

/// PEM text of one DER section.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// `N` random bytes from the operating system.
pub fn random<const N: usize>() -> CtlResult<[u8; N]> {
    use std::io::Read as _;
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| CtlError::failed(format!("/dev/urandom: {e}")))?;
    Ok(b)
}

/// A new P-256 administrator key: (PKCS#8 PEM, SPKI PEM, point).
pub fn new_p256_key() -> CtlResult<(String, String, Vec<u8>)> {
    for _ in 0..16 {
        let Ok(key) = p256::ecdsa::SigningKey::from_slice(&random::<32>()?) else {
            continue;
        };
        let der = key
            .to_pkcs8_der()
            .map_err(|e| CtlError::failed(format!("PKCS#8: {e}")))?;
        let public = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| CtlError::failed(format!("SubjectPublicKeyInfo: {e}")))?;
        return Ok((
            pem("PRIVATE KEY", der.as_bytes()),
            pem("PUBLIC KEY", public.as_bytes()),
            p256_point(key.verifying_key()),
        ));
    }
    Err(CtlError::failed("cannot draw a P-256 key"))
}

/// Writes a new file readable by its owner only; refuses to overwrite.
pub fn write_private(path: &Path, contents: &[u8]) -> CtlResult<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        })
        .map_err(|e| CtlError::failed(format!("{}: {e}", path.display())))
}

/// Writes a file, or stdout for `-`.
pub fn write_out(path: &Path, contents: &[u8]) -> CtlResult<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(contents)
            .and_then(|()| out.flush())
            .map_err(|e| CtlError::failed(format!("stdout: {e}")));
    }
    std::fs::write(path, contents).map_err(|e| CtlError::failed(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_and_der() {
        let dir = std::env::temp_dir().join(format!("samctl-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (key_pem, pub_pem, point) = new_p256_key().unwrap();
        let k = dir.join("k.pem");
        let p = dir.join("k.pub");
        let h = dir.join("k.hex");
        std::fs::write(&k, &key_pem).unwrap();
        std::fs::write(&p, &pub_pem).unwrap();
        std::fs::write(&h, hex::encode(&point)).unwrap();
        assert_eq!(p256_point(p256_key(&k).unwrap().verifying_key()), point);
        assert_eq!(admin_point(&p).unwrap(), point);
        assert_eq!(admin_point(&h).unwrap(), point);
        assert_eq!(admin_point(&k).unwrap(), point);
        assert!(matches!(
            TechnicalKey::load(&k).unwrap(),
            TechnicalKey::P256(_)
        ));
        assert!(p256_key(&p).is_err());
        assert!(certificates(&p).is_err());
        std::fs::write(&h, STANDARD.encode([0x30, 3, 2, 1, 0])).unwrap();
        assert_eq!(der_document(&h, "token").unwrap(), [0x30, 3, 2, 1, 0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

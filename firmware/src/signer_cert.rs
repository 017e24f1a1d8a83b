//! Signer certificates: what the firmware checks before a key may sign.
//!
//! The host proposes a certificate for a key (RegisterCertificate); the
//! firmware reads it itself and accepts it only if
//!
//! 1. it is strict DER (decodes and re-encodes to the same bytes);
//! 2. its subjectPublicKeyInfo is byte for byte the wrapped key's;
//! 3. its issuer is the subject of one of the policy's signing CAs and its
//!    signature verifies with that CA's key (its inner and outer signature
//!    algorithms agreeing). One level: the policy lists the CAs that issue
//!    signer certificates themselves, not roots above them, so no path
//!    building (and no path-building code in the TCB) is needed;
//! 4. its validity covers the platform time;
//! 5. it has a keyUsage extension with digitalSignature or
//!    nonRepudiation.
//!
//! Revocation (CRL, OCSP) is not checked here: the firmware has no network,
//! and a revoked certificate's key is deleted with DeleteKeyPair.

use crate::crypto::Crypto;
use crate::signing_alg::{scheme_fits, spki_kind};
use der::{Decode, Encode};
use sam_proto::bounded::Blob;
use sam_proto::records::{CertFingerprint, MAX_CERT_LEN};
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsage;

/// Why a certificate was refused. RegisterCertificate answers InvalidInput
/// for each; the variant reaches only tests and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertFault {
    /// Not strict DER of an X.509 certificate.
    Malformed,
    /// Certifies another public key than the wrapped key's.
    OtherKey,
    /// No signing CA of the policy issued it (unknown issuer, or the
    /// signature does not verify).
    UntrustedIssuer,
    /// The platform time is before its notBefore.
    NotYetValid,
    /// The platform time is after its notAfter.
    Expired,
    /// No keyUsage, or neither digitalSignature nor nonRepudiation.
    KeyUsage,
}

/// What the registry keeps of an accepted certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// SHA-256 of the DER.
    pub fingerprint: CertFingerprint,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

/// Checks `der` as the certificate of the key whose SPKI is `public_key`,
/// against the signing CAs `cas`, at `now`.
pub fn check<C: Crypto + ?Sized>(
    crypto: &C,
    der: &[u8],
    public_key: &[u8],
    cas: &[Blob<MAX_CERT_LEN>],
    now: i64,
) -> Result<Accepted, CertFault> {
    let cert = Certificate::from_der(der).map_err(|_| CertFault::Malformed)?;
    if cert.to_der().map_err(|_| CertFault::Malformed)? != der {
        return Err(CertFault::Malformed);
    }
    let tbs = cert.tbs_certificate();
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|_| CertFault::Malformed)?;
    if spki != public_key {
        return Err(CertFault::OtherKey);
    }
    if !cas.iter().any(|ca| issued_by(crypto, &cert, ca)) {
        return Err(CertFault::UntrustedIssuer);
    }
    let validity = tbs.validity();
    let not_before = unix(validity.not_before.to_unix_duration().as_secs());
    let not_after = unix(validity.not_after.to_unix_duration().as_secs());
    if now < not_before {
        return Err(CertFault::NotYetValid);
    }
    if now > not_after {
        return Err(CertFault::Expired);
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, usage))) if usage.digital_signature() || usage.non_repudiation() => {}
        _ => return Err(CertFault::KeyUsage),
    }
    Ok(Accepted {
        fingerprint: crate::crypto::sha256(crypto, &[der]),
        not_before,
        not_after,
    })
}

/// Whether the CA certificate `ca` issued `cert`: same name, and the
/// signature verifies with the CA's key.
fn issued_by<C: Crypto + ?Sized>(crypto: &C, cert: &Certificate, ca: &[u8]) -> bool {
    let verified = || -> Option<()> {
        let ca = Certificate::from_der(ca).ok()?;
        let tbs = cert.tbs_certificate();
        if ca.tbs_certificate().subject().to_der().ok()? != tbs.issuer().to_der().ok()?
            || tbs.signature() != cert.signature_algorithm()
        {
            return None;
        }
        let ca_spki = ca
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()?;
        let (hash, scheme) = sam_proto::asn1::signature_hash(cert.signature_algorithm()).ok()?;
        if !scheme_fits(scheme, spki_kind(&ca_spki).ok()?) {
            return None;
        }
        let digest = crypto.digest(hash, &[&tbs.to_der().ok()?]);
        let signature = cert.signature().as_bytes()?;
        crypto
            .verify(&ca_spki, hash, digest.as_bytes(), signature)
            .ok()
    };
    verified().is_some()
}

/// Seconds as `i64` (a `GeneralizedTime` cannot exceed it in practice).
fn unix(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

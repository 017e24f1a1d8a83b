//! IdP trust anchors and certificate fingerprints.
//!
//! The firmware reads the certificates itself: the issuer, serial and key of
//! an anchor are taken from the DER the administrators approved, never from
//! anything the host extracted.

use crate::crypto::Crypto;
use alloc::vec::Vec;
use der::{Decode, Encode};
use sam_proto::bounded::{Blob, List};
use sam_proto::command::MAX_IDP_KEYS;
use sam_proto::records::{CertFingerprint, MAX_CERT_LEN};
use x509_cert::Certificate;

/// A certificate could not be read, or holds a key the firmware cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadCertificate;

/// One IdP key the firmware trusts for identity tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// SHA-256 of the certificate DER.
    pub fingerprint: CertFingerprint,
    /// DER of the certificate's issuer Name.
    pub issuer: Vec<u8>,
    /// Serial number bytes.
    pub serial: Vec<u8>,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// SHA-256 of a certificate, after checking that it is a well-formed DER
/// certificate.
pub fn fingerprint<C: Crypto + ?Sized>(
    crypto: &C,
    der: &[u8],
) -> Result<CertFingerprint, BadCertificate> {
    parse(crypto, der).map(|a| a.fingerprint)
}

/// Reads one certificate.
pub fn parse<C: Crypto + ?Sized>(crypto: &C, der: &[u8]) -> Result<Anchor, BadCertificate> {
    let cert = Certificate::from_der(der).map_err(|_| BadCertificate)?;
    let tbs = cert.tbs_certificate();
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|_| BadCertificate)?;
    crate::signing_alg::spki_kind(&spki).map_err(|_| BadCertificate)?;
    Ok(Anchor {
        fingerprint: crate::crypto::sha256(crypto, &[der]),
        issuer: tbs.issuer().to_der().map_err(|_| BadCertificate)?,
        serial: tbs.serial_number().as_bytes().to_vec(),
        spki,
    })
}

/// Reads every anchor certificate.
pub fn parse_all<C: Crypto + ?Sized>(
    crypto: &C,
    certs: &List<Blob<MAX_CERT_LEN>, MAX_IDP_KEYS>,
) -> Result<Vec<Anchor>, BadCertificate> {
    certs.iter().map(|c| parse(crypto, c)).collect()
}

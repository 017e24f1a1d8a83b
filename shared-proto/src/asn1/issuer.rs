//! `IssuerSerial`: which IdP certificate signed an identity token.

use super::Asn1Error;
use alloc::vec;
use der::asn1::BitString;
use der::{Decode, Encode, Sequence};
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

/// The `IssuerSerial` of RFC 5755 §4.1 (the seed does not define it; this is
/// the well-known type of that name):
///
/// ```text
/// IssuerSerial ::= SEQUENCE {
///     issuer     GeneralNames,
///     serial     CertificateSerialNumber,
///     issuerUID  UniqueIdentifier OPTIONAL }
/// ```
///
/// It names the IdP certificate by its issuer's name and its serial number,
/// the pair that identifies a certificate uniquely (RFC 5280 §4.1.2.2).
///
/// Profile (checked by the strict decoders, see
/// [`IssuerSerial::check_profile`]): `issuer` holds exactly one
/// `directoryName` and `issuerUID` is absent, because the firmware's trust
/// anchors record a certificate's issuer `Name` and serial only.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct IssuerSerial {
    /// The certificate's issuer, as `GeneralNames`.
    pub issuer: GeneralNames,
    /// The certificate's serial number.
    pub serial: SerialNumber,
    /// The issuer's unique identifier; must be absent in this profile.
    #[asn1(optional = "true")]
    pub issuer_uid: Option<BitString>,
}

impl IssuerSerial {
    /// The `IssuerSerial` of a certificate with issuer `issuer` and serial
    /// number `serial` (for a self-signed IdP certificate the issuer is its
    /// subject).
    pub fn new(issuer: &Name, serial: &SerialNumber) -> Result<Self, Asn1Error> {
        Ok(Self {
            issuer: vec![GeneralName::DirectoryName(issuer.clone())],
            serial: serial.clone(),
            issuer_uid: None,
        })
    }

    /// Like [`IssuerSerial::new`] from DER parts: the DER of the issuer
    /// `Name` and the serial number's INTEGER content octets (as
    /// `SerialNumber::as_bytes` gives them).
    pub fn from_parts(issuer_name_der: &[u8], serial: &[u8]) -> Result<Self, Asn1Error> {
        let name = Name::from_der(issuer_name_der)?;
        let serial_der = der::asn1::AnyRef::new(der::Tag::Integer, serial)?.to_der()?;
        Self::new(&name, &SerialNumber::from_der(&serial_der)?)
    }

    /// Whether this names the certificate whose *issuer* Name has the DER
    /// `issuer_name_der` and whose serial number has the INTEGER content
    /// octets `serial` (`x509_cert::serial_number::SerialNumber::as_bytes`).
    ///
    /// Names are compared as DER octets: both sides are canonical DER (a
    /// strictly decoded token; a certificate `Name` re-encoded by
    /// `x509-cert`), so equal names have equal encodings. Anything outside
    /// the profile (several names, not a `directoryName`, an `issuerUID`)
    /// never matches.
    pub fn matches_parts(&self, issuer_name_der: &[u8], serial: &[u8]) -> bool {
        let Some(name) = self.directory_name() else {
            return false;
        };
        if self.issuer_uid.is_some() || self.serial.as_bytes() != serial {
            return false;
        }
        match name.to_der() {
            Ok(der) => der.as_slice() == issuer_name_der,
            Err(_) => false,
        }
    }

    /// The single `directoryName` of `issuer`, if that is all it holds.
    pub fn directory_name(&self) -> Option<&Name> {
        match self.issuer.as_slice() {
            [GeneralName::DirectoryName(name)] => Some(name),
            _ => None,
        }
    }

    /// Checks the profile: one `directoryName`, no `issuerUID`.
    pub fn check_profile(&self) -> Result<(), Asn1Error> {
        if self.directory_name().is_some() && self.issuer_uid.is_none() {
            Ok(())
        } else {
            Err(Asn1Error::UnsupportedIssuer)
        }
    }
}

//! The container formats (`signatureContainerFormat` of the SAK, CSC
//! `signature_format` + `conformance_level` + `signed_envelope_property`).

use crate::DocError;
use std::fmt;
use std::str::FromStr;

/// The baseline level (ETSI EN 319 1x2-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// `-B-B`: the signature with its signed attributes.
    BB,
    /// `-B-T`: plus a signature time-stamp from an RFC 3161 TSA.
    BT,
}

/// Where the signed content sits relative to the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Packaging {
    /// The signature refers to the document, which travels separately.
    Detached,
    /// The signature contains the document (CAdES `eContent`).
    Enveloping,
    /// The document contains the signature (XAdES in the XML, PAdES in
    /// the PDF).
    Enveloped,
}

/// A container format with its level, as the SAK and CSC requests name
/// it.
///
/// The SAK names are `CAdES-B-B`, `CAdES-B-T` (detached),
/// `CAdES-B-B-enveloping`, `CAdES-B-T-enveloping`, `PAdES-B-B`,
/// `PAdES-B-T`, `XAdES-B-B`, `XAdES-B-T` (enveloped),
/// `XAdES-B-B-detached`, `XAdES-B-T-detached` and `S/MIME`; case does not
/// matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerFormat {
    /// CMS `SignedData` (ETSI EN 319 122-1), detached or enveloping.
    Cades(Packaging, Level),
    /// A PDF signature (ETSI EN 319 142-1, SubFilter `ETSI.CAdES.detached`)
    /// in an incremental update.
    Pades(Level),
    /// An XML signature (ETSI EN 319 132-1), enveloped or detached.
    Xades(Packaging, Level),
    /// S/MIME `multipart/signed` (RFC 8551) of a MIME entity.
    Smime,
}

impl ContainerFormat {
    /// Every format, in the order `info` and the docs list them.
    pub const ALL: [ContainerFormat; 11] = [
        Self::Cades(Packaging::Detached, Level::BB),
        Self::Cades(Packaging::Detached, Level::BT),
        Self::Cades(Packaging::Enveloping, Level::BB),
        Self::Cades(Packaging::Enveloping, Level::BT),
        Self::Pades(Level::BB),
        Self::Pades(Level::BT),
        Self::Xades(Packaging::Enveloped, Level::BB),
        Self::Xades(Packaging::Enveloped, Level::BT),
        Self::Xades(Packaging::Detached, Level::BB),
        Self::Xades(Packaging::Detached, Level::BT),
        Self::Smime,
    ];

    /// The level; S/MIME is always `-B-B`.
    pub fn level(self) -> Level {
        match self {
            Self::Cades(_, l) | Self::Pades(l) | Self::Xades(_, l) => l,
            Self::Smime => Level::BB,
        }
    }

    /// The SAK name.
    pub fn name(self) -> &'static str {
        use Level::{BB, BT};
        use Packaging::{Detached, Enveloped, Enveloping};
        match self {
            Self::Cades(Detached, BB) => "CAdES-B-B",
            Self::Cades(Detached, BT) => "CAdES-B-T",
            Self::Cades(_, BB) => "CAdES-B-B-enveloping",
            Self::Cades(_, BT) => "CAdES-B-T-enveloping",
            Self::Pades(BB) => "PAdES-B-B",
            Self::Pades(BT) => "PAdES-B-T",
            Self::Xades(Detached, BB) => "XAdES-B-B-detached",
            Self::Xades(Detached, BT) => "XAdES-B-T-detached",
            Self::Xades(Enveloped | Enveloping, BB) => "XAdES-B-B",
            Self::Xades(Enveloped | Enveloping, BT) => "XAdES-B-T",
            Self::Smime => "S/MIME",
        }
    }
}

impl fmt::Display for ContainerFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ContainerFormat {
    type Err = DocError;

    fn from_str(s: &str) -> Result<Self, DocError> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                DocError::InvalidInput(format!(
                    "unknown signatureContainerFormat {s:?}; one of {}",
                    names.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_format() {
        for f in ContainerFormat::ALL {
            assert_eq!(f.name().parse::<ContainerFormat>(), Ok(f));
            assert_eq!(f.name().to_lowercase().parse::<ContainerFormat>(), Ok(f));
        }
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = "PAdES-B-LTA".parse::<ContainerFormat>().unwrap_err();
        let DocError::InvalidInput(m) = err else {
            panic!("{err:?}")
        };
        assert!(m.contains("PAdES-B-T") && m.contains("S/MIME"), "{m}");
    }
}

//! `CompactExtension(s)` and the typed extension values.

use super::strict::{decode_strict, der_cmp_encoded};
use super::{Asn1Error, Oid};
use core::cmp::Ordering;
use der::asn1::SetOfVec;
use der::{Any, Decode, Encode, Enumerated, Sequence, ValueOrd};

/// ```text
/// CompactExtension ::= SEQUENCE {
///     oid   OBJECT IDENTIFIER,
///     data  ANY DEFINED BY oid }
/// ```
///
/// `data` is kept as an opaque [`Any`] (one complete TLV); it is decoded
/// strictly only when its OID is asked for.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CompactExtension {
    /// The extension's OID (may be a `2.25.<UUID>` OID, hence [`Oid`]).
    pub oid: Oid,
    /// The extension's value, defined by `oid`.
    pub data: Any,
}

impl ValueOrd for CompactExtension {
    fn value_cmp(&self, other: &Self) -> der::Result<Ordering> {
        der_cmp_encoded(self, other)
    }
}

/// `CompactExtensions ::= SET OF CompactExtension`.
///
/// A DER `SET OF` must be sorted. [`SetOfVec`] sorts when built (`insert`,
/// `TryFrom<Vec<_>>`) and — in `der` 0.8.3 — also silently sorts an
/// unsorted input while decoding instead of refusing it; the strict
/// decoders of this module refuse it through their re-encoding check.
pub type CompactExtensions = SetOfVec<CompactExtension>;

/// The eIDAS level of assurance of the user's identification (Regulation
/// (EU) 910/2014 art. 8), carried as ASN.1 ENUMERATED in the
/// [`super::oids::IDENTIFICATION_LEVEL`] extension:
///
/// ```text
/// IdentificationLevel ::= ENUMERATED { low(1), substantial(2), high(3) }
/// ```
///
/// Ordered: `Low < Substantial < High`; the firmware requires at least
/// `Substantial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Enumerated)]
#[repr(u8)]
pub enum IdentificationLevel {
    /// eIDAS "low".
    Low = 1,
    /// eIDAS "substantial".
    Substantial = 2,
    /// eIDAS "high".
    High = 3,
}

/// The data of the one extension with `oid` in `set`, `None` if there is
/// none. Two extensions with that OID are [`Asn1Error::DuplicateExtension`]:
/// which one counts would otherwise depend on the reader.
pub(crate) fn find<'a>(
    set: &'a CompactExtensions,
    oid: &Oid,
) -> Result<Option<&'a Any>, Asn1Error> {
    let mut found = None;
    for ext in set.iter().filter(|e| e.oid == *oid) {
        if found.is_some() {
            return Err(Asn1Error::DuplicateExtension);
        }
        found = Some(&ext.data);
    }
    Ok(found)
}

/// Decodes extension data as `T`, strictly (one canonical TLV of `T`'s
/// type); any failure is [`Asn1Error::BadExtension`].
pub(crate) fn decode_data<T>(data: &Any) -> Result<T, Asn1Error>
where
    T: for<'a> Decode<'a, Error = der::Error> + Encode,
{
    let der = data.to_der().map_err(|_| Asn1Error::BadExtension)?;
    decode_strict(&der, der.len()).map_err(|_| Asn1Error::BadExtension)
}

/// Adds an extension, refusing a second one with the same OID.
pub(crate) fn insert(set: &mut CompactExtensions, oid: Oid, data: Any) -> Result<(), Asn1Error> {
    if set.iter().any(|e| e.oid == oid) {
        return Err(Asn1Error::DuplicateExtension);
    }
    set.insert(CompactExtension { oid, data })?;
    Ok(())
}

/// `data` for a value: its complete DER as [`Any`].
pub(crate) fn to_any<T: Encode>(value: &T) -> Result<Any, Asn1Error> {
    let der = value.to_der()?;
    Ok(Any::from_der(&der)?)
}

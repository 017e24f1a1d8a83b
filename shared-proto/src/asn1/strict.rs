//! Strict decoding and DER ordering helpers shared by the types.

use super::Asn1Error;
use alloc::vec::Vec;
use core::cmp::Ordering;
use der::{Decode, Encode};

/// Decodes one `T` from `bytes` with the DER rules of `der` (minimal
/// lengths, definite lengths, no trailing bytes), then re-encodes it and
/// requires the very same bytes back. The round trip catches everything
/// non-canonical that `der` tolerates while decoding (an unsorted `SET OF`
/// is sorted silently, for one) and any field a type would drop.
pub(crate) fn decode_strict<T>(bytes: &[u8], max_len: usize) -> Result<T, Asn1Error>
where
    T: for<'a> Decode<'a, Error = der::Error> + Encode,
{
    if bytes.len() > max_len {
        return Err(Asn1Error::TooLong);
    }
    let value = T::from_der(bytes)?;
    if value.to_der()? != bytes {
        return Err(Asn1Error::NotCanonical);
    }
    Ok(value)
}

/// DER order of two values of one type: their complete encodings compared
/// as octet strings (X.690 §11.6). Used for the `ValueOrd` of the `SET OF`
/// element types; `der` only calls it when tags and lengths are equal, and
/// a complete TLV is never a proper prefix of another, so plain
/// lexicographic comparison is exact.
pub(crate) fn der_cmp_encoded<T: Encode>(a: &T, b: &T) -> der::Result<Ordering> {
    let a: Vec<u8> = a.to_der()?;
    let b: Vec<u8> = b.to_der()?;
    Ok(a.cmp(&b))
}

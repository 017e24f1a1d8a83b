//! An OBJECT IDENTIFIER type that can hold `2.25.<UUID>` arcs.
//!
//! `const-oid` 0.10 (behind `der::asn1::ObjectIdentifier`) limits every arc
//! to `u32` and refuses larger arcs even when *decoding* (`ArcTooBig`). The
//! registration-free arc `2.25.<UUID as a 128-bit integer>` (X.667, ITU-T
//! X.660) that DESIGN.md §4 chose for the private identity-token OIDs
//! therefore cannot be represented by it at all. [`Oid`] is the small
//! workaround: it keeps the DER content octets (at most [`MAX_OID_LEN`])
//! and checks them for well-formed, minimal base-128 encoding with every arc
//! below 2^128. It is used wherever the token carries an OID that may be
//! private (`CompactExtension.oid`, `SignedIdentityToken.type`); algorithm
//! identifiers keep using `ObjectIdentifier`.

use super::Asn1Error;
use core::cmp::Ordering;
use core::fmt;
use der::{
    DecodeValue, EncodeValue, ErrorKind, FixedTag, Header, Length, Reader, Tag, ValueOrd, Writer,
};

/// Largest OID content length (bytes) that [`Oid`] holds. A `2.25.<UUID>`
/// OID takes at most 20 bytes, leaving room for sub-arcs.
pub const MAX_OID_LEN: usize = 48;

/// First content byte of every `2.25.x` OID: `2 * 40 + 25`.
const ARC_2_25: u8 = 105;

/// An ASN.1 OBJECT IDENTIFIER with arcs up to 2^128-1 (see the module
/// documentation for why not `der::asn1::ObjectIdentifier`).
///
/// Invariant: `bytes[..len]` is a valid, minimal base-128 encoding and
/// `bytes[len..]` is all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Oid {
    len: u8,
    bytes: [u8; MAX_OID_LEN],
}

impl Oid {
    /// `2.25.<uuid>`: the OID of a UUID under the registration-free arc of
    /// ITU-T X.667 §6.3. Infallible: 1 + 19 bytes always fit.
    pub const fn from_uuid(uuid: u128) -> Self {
        let mut bytes = [0u8; MAX_OID_LEN];
        // Number of 7-bit groups of the arc (1..=19).
        let mut groups: u32 = 1;
        while groups < 19 && (uuid >> (7 * groups)) != 0 {
            groups += 1;
        }
        let mut out: &mut [u8] = &mut bytes;
        if let [first, rest @ ..] = out {
            *first = ARC_2_25;
            out = rest;
        }
        let mut i = groups;
        while i > 0 {
            i -= 1;
            let mut b = ((uuid >> (7 * i)) & 0x7f) as u8;
            if i > 0 {
                b |= 0x80;
            }
            if let [first, rest @ ..] = out {
                *first = b;
                out = rest;
            }
        }
        Self {
            len: (groups + 1) as u8,
            bytes,
        }
    }

    /// An OID from its DER content octets (no tag, no length).
    pub fn from_content(content: &[u8]) -> Result<Self, Asn1Error> {
        validate(content)?;
        let mut bytes = [0u8; MAX_OID_LEN];
        bytes
            .get_mut(..content.len())
            .ok_or(Asn1Error::InvalidOid)?
            .copy_from_slice(content);
        let len = u8::try_from(content.len()).map_err(|_| Asn1Error::InvalidOid)?;
        Ok(Self { len, bytes })
    }

    /// An OID from dotted-decimal text such as `"2.25.1234"`.
    pub fn from_dotted(text: &str) -> Result<Self, Asn1Error> {
        let mut arcs = text.split('.').map(parse_arc);
        let first = arcs.next().ok_or(Asn1Error::InvalidOid)??;
        let second = arcs.next().ok_or(Asn1Error::InvalidOid)??;
        if first > 2 || (first < 2 && second >= 40) {
            return Err(Asn1Error::InvalidOid);
        }
        let head = first
            .checked_mul(40)
            .and_then(|v| v.checked_add(second))
            .ok_or(Asn1Error::InvalidOid)?;
        let mut bytes = [0u8; MAX_OID_LEN];
        let mut len = push_arc(&mut bytes, 0, head)?;
        for arc in arcs {
            len = push_arc(&mut bytes, len, arc?)?;
        }
        Self::from_content(bytes.get(..len).ok_or(Asn1Error::InvalidOid)?)
    }

    /// The DER content octets.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The arcs, first to last (already validated to fit `u128`).
    pub fn arcs(&self) -> impl Iterator<Item = u128> + '_ {
        let mut subids = Subidentifiers(self.as_bytes());
        let head = subids.next().and_then(Result::ok);
        let (a, b) = match head {
            Some(v) if v < 40 => (0, v),
            Some(v) if v < 80 => (1, v - 40),
            Some(v) => (2, v - 80),
            None => (0, 0),
        };
        let root = head.map(|_| [a, b]).into_iter().flatten();
        root.chain(subids.map_while(Result::ok))
    }
}

impl TryFrom<&der::asn1::ObjectIdentifier> for Oid {
    type Error = Asn1Error;

    fn try_from(oid: &der::asn1::ObjectIdentifier) -> Result<Self, Asn1Error> {
        Self::from_content(oid.as_bytes())
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.arcs().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl FixedTag for Oid {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl EncodeValue for Oid {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.as_bytes().len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.as_bytes())
    }
}

impl<'a> DecodeValue<'a> for Oid {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length())?;
        let mut buf = [0u8; MAX_OID_LEN];
        let dst = buf
            .get_mut(..len)
            .ok_or_else(|| der::Error::from(ErrorKind::OidMalformed))?;
        let content = reader.read_into(dst)?;
        Self::from_content(content).map_err(|_| ErrorKind::OidMalformed.into())
    }
}

impl ValueOrd for Oid {
    fn value_cmp(&self, other: &Self) -> der::Result<Ordering> {
        Ok(self.as_bytes().cmp(other.as_bytes()))
    }
}

/// Iterator over the base-128 subidentifiers of OID content octets.
struct Subidentifiers<'a>(&'a [u8]);

impl Iterator for Subidentifiers<'_> {
    type Item = Result<u128, Asn1Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&first, _) = self.0.split_first()?;
        if first == 0x80 {
            // A leading 0x80 group is a non-minimal encoding (X.690 8.19.2).
            self.0 = &[];
            return Some(Err(Asn1Error::InvalidOid));
        }
        let mut value: u128 = 0;
        let mut rest = self.0;
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            let shifted = match value.checked_mul(128) {
                Some(v) => v,
                None => {
                    self.0 = &[];
                    return Some(Err(Asn1Error::InvalidOid));
                }
            };
            value = shifted | u128::from(b & 0x7f);
            if b & 0x80 == 0 {
                self.0 = rest;
                return Some(Ok(value));
            }
        }
        // The last byte still had its continuation bit set.
        self.0 = &[];
        Some(Err(Asn1Error::InvalidOid))
    }
}

fn validate(content: &[u8]) -> Result<(), Asn1Error> {
    if content.is_empty() || content.len() > MAX_OID_LEN {
        return Err(Asn1Error::InvalidOid);
    }
    for subid in Subidentifiers(content) {
        subid?;
    }
    Ok(())
}

fn parse_arc(text: &str) -> Result<u128, Asn1Error> {
    // `u128::from_str` accepts a leading '+'; dotted OIDs do not, nor do
    // they allow leading zeros.
    let digits_only = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (text.len() > 1 && text.starts_with('0')) {
        return Err(Asn1Error::InvalidOid);
    }
    text.parse::<u128>().map_err(|_| Asn1Error::InvalidOid)
}

/// Appends the base-128 encoding of `arc` at `at`, returning the new end.
fn push_arc(buf: &mut [u8; MAX_OID_LEN], at: usize, arc: u128) -> Result<usize, Asn1Error> {
    let mut groups = 1u32;
    while groups < 19 && (arc >> (7 * groups)) != 0 {
        groups += 1;
    }
    let mut pos = at;
    for i in (0..groups).rev() {
        let mut b = ((arc >> (7 * i)) & 0x7f) as u8;
        if i > 0 {
            b |= 0x80;
        }
        *buf.get_mut(pos).ok_or(Asn1Error::InvalidOid)? = b;
        pos += 1;
    }
    Ok(pos)
}

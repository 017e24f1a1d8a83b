//! Group and role associations of the identity token.
//!
//! The firmware takes a user's role from the SAM database, not from the
//! token (seed §8.2), so these are carried and kept canonical but not
//! interpreted.

use super::CompactExtensions;
use super::strict::der_cmp_encoded;
use alloc::string::String;
use core::cmp::Ordering;
use der::asn1::{OctetString, SetOfVec};
use der::{
    DecodeValue, EncodeValue, ErrorKind, FixedTag, Header, Length, Reader, Sequence, Tag, ValueOrd,
    Writer,
};

/// ```text
/// CompactGroupAssociation ::= SEQUENCE {
///     id                OCTET STRING,
///     roleAssociations  SET OF CompactRoleAssociation,
///     extensions        [0] IMPLICIT CompactExtensions }
/// ```
///
/// `[0]` is context-specific and mandatory (an empty set is `A0 00`).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CompactGroupAssociation {
    /// Group identifier.
    pub id: OctetString,
    /// The roles within the group.
    pub role_associations: SetOfVec<CompactRoleAssociation>,
    /// Group extensions.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    pub extensions: CompactExtensions,
}

impl ValueOrd for CompactGroupAssociation {
    fn value_cmp(&self, other: &Self) -> der::Result<Ordering> {
        der_cmp_encoded(self, other)
    }
}

/// ```text
/// CompactShortRoleAssociation ::= SEQUENCE {
///     shortId     OCTET STRING,
///     extensions  [2] IMPLICIT CompactExtensions }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CompactShortRoleAssociation {
    /// Short role identifier.
    pub short_id: OctetString,
    /// Role extensions.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", constructed = "true")]
    pub extensions: CompactExtensions,
}

/// ```text
/// CompactLongRoleAssociation ::= SEQUENCE {
///     app         [0] DirectoryString,
///     role        [1] DirectoryString,
///     extensions  [2] IMPLICIT CompactExtensions }
/// ```
///
/// `app` and `role` are tagged EXPLICIT: `DirectoryString` is a CHOICE, and
/// X.680 §31.2.7 forbids implicit tagging of an untagged CHOICE, so even an
/// `IMPLICIT TAGS` module tags them explicitly. As everywhere in this
/// module, `DirectoryString` is accepted only as UTF8String.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CompactLongRoleAssociation {
    /// Application name.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub app: String,
    /// Role name within the application.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    pub role: String,
    /// Role extensions.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", constructed = "true")]
    pub extensions: CompactExtensions,
}

/// ```text
/// CompactRoleAssociation ::= CHOICE {
///     shortRoleAssociation  CompactShortRoleAssociation,
///     longRoleAssociation   CompactLongRoleAssociation }
/// ```
///
/// Both alternatives are untagged SEQUENCEs, which X.680 does not allow in
/// one CHOICE (their tags are equal). We keep the wire form exactly as
/// written — a plain SEQUENCE, no added tag — and tell the alternatives
/// apart by the first element inside: an OCTET STRING (`04`) starts a short
/// association, an explicit `[0]` (`A0`) a long one; anything else is a
/// decoding error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompactRoleAssociation {
    /// `shortRoleAssociation`.
    Short(CompactShortRoleAssociation),
    /// `longRoleAssociation`.
    Long(CompactLongRoleAssociation),
}

/// First identifier octet of a short association's content (OCTET STRING).
const SHORT_FIRST: u8 = 0x04;
/// First identifier octet of a long association's content (`[0]`,
/// constructed because explicit).
const LONG_FIRST: u8 = 0xA0;

impl FixedTag for CompactRoleAssociation {
    const TAG: Tag = Tag::Sequence;
}

impl<'a> DecodeValue<'a> for CompactRoleAssociation {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        match reader.peek_byte() {
            Some(SHORT_FIRST) => {
                CompactShortRoleAssociation::decode_value(reader, header).map(Self::Short)
            }
            Some(LONG_FIRST) => {
                CompactLongRoleAssociation::decode_value(reader, header).map(Self::Long)
            }
            Some(_) => Err(reader.error(ErrorKind::TagUnexpected {
                expected: None,
                actual: Tag::peek(reader)?,
            })),
            None => Err(reader.error(ErrorKind::Value { tag: Tag::Sequence })),
        }
    }
}

impl EncodeValue for CompactRoleAssociation {
    fn value_len(&self) -> der::Result<Length> {
        match self {
            Self::Short(s) => s.value_len(),
            Self::Long(l) => l.value_len(),
        }
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        match self {
            Self::Short(s) => s.encode_value(writer),
            Self::Long(l) => l.encode_value(writer),
        }
    }
}

impl ValueOrd for CompactRoleAssociation {
    fn value_cmp(&self, other: &Self) -> der::Result<Ordering> {
        der_cmp_encoded(self, other)
    }
}

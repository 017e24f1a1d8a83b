//! The ASN.1 of RFC 3161 (time-stamp protocol), as `der`-derived types.
//!
//! RustCrypto's `x509-tsp` exists only for the der 0.7 generation, so the
//! few types the client and the development TSA exchange are defined here,
//! in the same der 0.8 / cms 0.3 / x509-cert 0.3 generation as the rest of
//! the workspace. The module is `DEFINITIONS IMPLICIT TAGS`: the context
//! tags below are implicit except where a CHOICE (`GeneralName`) forces
//! explicit tagging.

use crate::DocError;
use der::asn1::{BitString, GeneralizedTime, Int, ObjectIdentifier, OctetString, SetOfVec};
use der::{
    Any, DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Tagged, Writer,
};
use sam_proto::asn1::Oid;
use spki::AlgorithmIdentifierOwned;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::attr::Attribute;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;

/// `id-ct-TSTInfo` (RFC 3161 §2.4.2): the content type of a token's
/// encapsulated content and of its content-type attribute.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-kp-timeStamping` (RFC 3161 §2.3): the only extended key usage a
/// TSA certificate may have.
pub const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// `id-ce-extKeyUsage` (RFC 5280 §4.2.1.12).
pub const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// The media type of a request (RFC 3161 §3.4).
pub const QUERY_MEDIA_TYPE: &str = "application/timestamp-query";
/// The media type of an answer (RFC 3161 §3.4).
pub const REPLY_MEDIA_TYPE: &str = "application/timestamp-reply";

/// ```text
/// MessageImprint ::= SEQUENCE {
///     hashAlgorithm  AlgorithmIdentifier,
///     hashedMessage  OCTET STRING }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm (a bare `id-sha*`).
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The digest of the time-stamped data.
    pub hashed_message: OctetString,
}

/// ```text
/// TimeStampReq ::= SEQUENCE {
///     version         INTEGER { v1(1) },
///     messageImprint  MessageImprint,
///     reqPolicy       TSAPolicyId OPTIONAL,
///     nonce           INTEGER OPTIONAL,
///     certReq         BOOLEAN DEFAULT FALSE,
///     extensions      [0] IMPLICIT Extensions OPTIONAL }
/// ```
///
/// Policies are [`Oid`]s, not `ObjectIdentifier`s: a policy may sit under
/// a `2.25.<UUID>` arc, as the development TSA's does.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TimeStampReq {
    /// Always 1.
    pub version: u8,
    /// What is time-stamped.
    pub message_imprint: MessageImprint,
    /// The policy asked for.
    #[asn1(optional = "true")]
    pub req_policy: Option<Oid>,
    /// A random number the answer must echo (replay protection).
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// Whether the token must carry the TSA's certificate.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// Extensions (none are sent).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `PKIStatus` values (RFC 3161 §2.4.2).
pub mod status {
    /// The token is in the answer.
    pub const GRANTED: u8 = 0;
    /// The token is in the answer, with changes to what was asked.
    pub const GRANTED_WITH_MODS: u8 = 1;
    /// No token; `failInfo` says why.
    pub const REJECTION: u8 = 2;
    /// Not yet; ask again later.
    pub const WAITING: u8 = 3;
    /// A warning that a revocation is imminent.
    pub const REVOCATION_WARNING: u8 = 4;
    /// The TSA's certificate has been revoked.
    pub const REVOCATION_NOTIFICATION: u8 = 5;
}

/// The bits of `PKIFailureInfo` (RFC 3161 §2.4.2), with their names.
pub const FAILURE_BITS: [(usize, &str); 8] = [
    (0, "badAlg"),
    (2, "badRequest"),
    (5, "badDataFormat"),
    (14, "timeNotAvailable"),
    (15, "unacceptedPolicy"),
    (16, "unacceptedExtension"),
    (17, "addInfoNotAvailable"),
    (25, "systemFailure"),
];

/// `badAlg`: an unknown or unsupported hash algorithm.
pub const FAIL_BAD_ALG: usize = 0;
/// `badRequest`: a transaction not permitted or supported.
pub const FAIL_BAD_REQUEST: usize = 2;
/// `badDataFormat`: the request is not well formed.
pub const FAIL_BAD_DATA_FORMAT: usize = 5;
/// `unacceptedPolicy`: the TSA does not have the requested policy.
pub const FAIL_UNACCEPTED_POLICY: usize = 15;
/// `unacceptedExtension`: the TSA does not support a requested extension.
pub const FAIL_UNACCEPTED_EXTENSION: usize = 16;

/// ```text
/// PKIStatusInfo ::= SEQUENCE {
///     status        PKIStatus,
///     statusString  PKIFreeText OPTIONAL,
///     failInfo      PKIFailureInfo OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiStatusInfo {
    /// One of [`status`].
    pub status: u8,
    /// Free text (`SEQUENCE OF UTF8String`).
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// The failure bits, see [`FAILURE_BITS`].
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

impl PkiStatusInfo {
    /// A rejection with the single failure bit `bit` and an explanation.
    pub fn rejection(bit: usize, text: &str) -> Result<Self, DocError> {
        // A named BIT STRING in DER has no trailing zero bits: the value
        // is exactly `bit + 1` bits long.
        let bytes = bit / 8 + 1;
        let mut value = vec![0u8; bytes];
        if let Some(b) = value.get_mut(bit / 8) {
            *b = 0x80 >> (bit % 8);
        }
        let unused = u8::try_from(7 - bit % 8).map_err(|_| DocError::Encoding("bit".into()))?;
        Ok(Self {
            status: status::REJECTION,
            status_string: Some(vec![text.to_owned()]),
            fail_info: Some(BitString::new(unused, value)?),
        })
    }

    /// The names of the failure bits that are set.
    pub fn failure_names(&self) -> Vec<&'static str> {
        let Some(bits) = &self.fail_info else {
            return Vec::new();
        };
        let set: Vec<bool> = bits.bits().collect();
        FAILURE_BITS
            .iter()
            .filter(|(i, _)| set.get(*i).copied().unwrap_or(false))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// ```text
/// TimeStampResp ::= SEQUENCE {
///     status          PKIStatusInfo,
///     timeStampToken  TimeStampToken OPTIONAL }
/// ```
///
/// The token (a CMS `ContentInfo`) is kept as [`Any`] so that the client
/// can hand back its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TimeStampResp {
    /// Granted or why not.
    pub status: PkiStatusInfo,
    /// The token when granted.
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<Any>,
}

/// ```text
/// Accuracy ::= SEQUENCE {
///     seconds  INTEGER OPTIONAL,
///     millis   [0] INTEGER (1..999) OPTIONAL,
///     micros   [1] INTEGER (1..999) OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Accuracy {
    /// Whole seconds.
    #[asn1(optional = "true")]
    pub seconds: Option<u32>,
    /// Milliseconds.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    /// Microseconds.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

/// ```text
/// TSTInfo ::= SEQUENCE {
///     version         INTEGER { v1(1) },
///     policy          TSAPolicyId,
///     messageImprint  MessageImprint,
///     serialNumber    INTEGER,
///     genTime         GeneralizedTime,
///     accuracy        Accuracy OPTIONAL,
///     ordering        BOOLEAN DEFAULT FALSE,
///     nonce           INTEGER OPTIONAL,
///     tsa             [0] GeneralName OPTIONAL,
///     extensions      [1] IMPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TstInfo {
    /// Always 1.
    pub version: u8,
    /// The TSA's policy.
    pub policy: Oid,
    /// The imprint of the request, echoed.
    pub message_imprint: MessageImprint,
    /// Unique per token of this TSA.
    pub serial_number: Int,
    /// When the token was made.
    pub gen_time: GenTime,
    /// How far `gen_time` may be off.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Whether tokens of this TSA can be ordered by `gen_time` alone.
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// The request's nonce, echoed.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// The TSA's name.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Extensions.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// A `GeneralizedTime` that may carry fractions of a second.
///
/// RFC 3161 §2.4.2 allows `YYYYMMDDhhmmss[.s...]Z`, and TSAs with a
/// sub-second accuracy send the fraction; `der`'s `GeneralizedTime`
/// accepts only whole seconds. The fraction is kept to the nanosecond on
/// decoding; encoding writes whole seconds (what the development TSA
/// sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenTime(pub SystemTime);

/// Longest `GeneralizedTime` value read: 14 digits, a dot, nine digits
/// and `Z`.
const MAX_GEN_TIME_LEN: usize = 25;

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length())?;
        if len > MAX_GEN_TIME_LEN {
            return Err(Self::TAG.value_error().into());
        }
        let mut buf = [0u8; MAX_GEN_TIME_LEN];
        let text = buf
            .get_mut(..len)
            .ok_or_else(|| der::Error::from(Self::TAG.value_error()))?;
        reader.read_into(text)?;
        parse_gen_time(text)
            .map(GenTime)
            .ok_or_else(|| Self::TAG.value_error().into())
    }
}

/// `YYYYMMDDhhmmss[.f{1,9}]Z` as a time; `None` for anything else
/// (including a fraction with a trailing zero, which DER forbids).
fn parse_gen_time(text: &[u8]) -> Option<SystemTime> {
    let (whole, rest) = text.split_at_checked(14)?;
    let mut seconds_text = [0u8; 15];
    seconds_text.get_mut(..14)?.copy_from_slice(whole);
    *seconds_text.get_mut(14)? = b'Z';
    let whole_time = GeneralizedTime::from_der_value(&seconds_text)?;
    let nanos = match rest {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z']
            if !fraction.is_empty()
                && fraction.len() <= 9
                && fraction.iter().all(u8::is_ascii_digit)
                && fraction.last() != Some(&b'0') =>
        {
            let digits = std::str::from_utf8(fraction).ok()?;
            let value: u32 = digits.parse().ok()?;
            let scale = 10u32.checked_pow(9 - u32::try_from(fraction.len()).ok()?)?;
            value.checked_mul(scale)?
        }
        _ => return None,
    };
    whole_time
        .to_system_time()
        .checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// A `GeneralizedTime` from its value bytes (whole seconds only).
trait FromDerValue: Sized {
    fn from_der_value(value: &[u8]) -> Option<Self>;
}

impl FromDerValue for GeneralizedTime {
    fn from_der_value(value: &[u8]) -> Option<Self> {
        let any = Any::new(Tag::GeneralizedTime, value).ok()?;
        any.decode_as().ok()
    }
}

impl GenTime {
    /// The time rounded down to the second, as `der` encodes it.
    fn whole(&self) -> der::Result<GeneralizedTime> {
        let secs = self
            .0
            .duration_since(UNIX_EPOCH)
            .map_err(|_| der::Error::from(Self::TAG.value_error()))?
            .as_secs();
        GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        self.whole()?.value_len()
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.whole()?.encode_value(writer)
    }
}

/// An attribute with the single value `value`.
pub fn attribute<T: Tagged + EncodeValue>(
    oid: ObjectIdentifier,
    value: &T,
) -> Result<Attribute, DocError> {
    let mut values = SetOfVec::new();
    values.insert(Any::encode_from(value)?)?;
    Ok(Attribute { oid, values })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use der::{Decode, Encode};

    fn gen_time(text: &str) -> der::Result<GenTime> {
        GenTime::from_der(&Any::new(Tag::GeneralizedTime, text.as_bytes())?.to_der()?)
    }

    #[test]
    fn a_gen_time_keeps_its_fraction_and_refuses_what_der_forbids() {
        let whole = gen_time("20240102030405Z").unwrap().0;
        let reference: GeneralizedTime =
            Any::new(Tag::GeneralizedTime, b"20240102030405Z".as_slice())
                .unwrap()
                .decode_as()
                .unwrap();
        assert_eq!(whole, reference.to_system_time());
        assert_eq!(
            gen_time("20240102030405.5Z").unwrap().0,
            whole + Duration::from_millis(500)
        );
        assert_eq!(
            gen_time("20240102030405.000000001Z").unwrap().0,
            whole + Duration::from_nanos(1)
        );
        for bad in [
            "20240102030405.50Z",
            "20240102030405.Z",
            "20240102030405.1234567891Z",
            "20240102030405+0100",
            "2024010203040Z",
            "20240102030405",
            "",
        ] {
            assert!(gen_time(bad).is_err(), "{bad}");
        }
        // Encoding drops the fraction.
        let der = gen_time("20240102030405.5Z").unwrap().to_der().unwrap();
        assert_eq!(GenTime::from_der(&der).unwrap().0, whole);
    }

    #[test]
    fn a_rejection_sets_exactly_its_failure_bit() {
        for (bit, name) in FAILURE_BITS {
            let info = PkiStatusInfo::rejection(bit, "no").unwrap();
            assert_eq!(info.status, status::REJECTION);
            assert_eq!(info.failure_names(), vec![name]);
            let bits: Vec<bool> = info.fail_info.as_ref().unwrap().bits().collect();
            assert_eq!(bits.len(), bit + 1, "no trailing zero bits in DER");
            let back = PkiStatusInfo::from_der(&info.to_der().unwrap()).unwrap();
            assert_eq!(back, info);
        }
    }
}

//! The identity token (seed §8.2).

use super::extensions::{decode_data, find, insert, to_any};
use super::strict::decode_strict;
use super::{
    Asn1Error, CompactExtensions, CompactGroupAssociation, IdentificationLevel, IssuerSerial, Oid,
    oids,
};
use crate::command::MAX_TOKEN_LEN;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use der::asn1::{GeneralizedTime, OctetString, SetOfVec};
use der::{Any, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// ```text
/// CompactIdentityToken ::= SEQUENCE {
///     userId             DirectoryString,
///     notBefore          GeneralizedTime,
///     notAfter           GeneralizedTime,
///     groupAssociations  SET OF CompactGroupAssociation,
///     extensions         [0] IMPLICIT CompactExtensions }
/// ```
///
/// `userId` is the user's UUID in text form. `DirectoryString` is accepted
/// only as UTF8String (RFC 5280 §4.1.2.4 asks conforming encoders for
/// UTF8String; one accepted form keeps the encoding canonical and the
/// comparison simple); a PrintableString or other alternative is a
/// decoding error. `[0]` is context-specific and mandatory.
///
/// The extensions the firmware reads are found by OID with
/// [`Self::identification_level`], [`Self::sad_public_key`] and
/// [`Self::signing_scope`]; unknown extensions are carried unread.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CompactIdentityToken {
    /// The user's UserID (UUID text).
    pub user_id: String,
    /// Start of validity.
    pub not_before: GeneralizedTime,
    /// End of validity (inclusive).
    pub not_after: GeneralizedTime,
    /// Group and role associations (not interpreted by the firmware).
    pub group_associations: SetOfVec<CompactGroupAssociation>,
    /// Token extensions.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    pub extensions: CompactExtensions,
}

impl CompactIdentityToken {
    /// A token for `user_id`, valid from `not_before_unix` to
    /// `not_after_unix` (Unix seconds, inclusive), with no associations and
    /// no extensions. A reversed window or a time GeneralizedTime cannot
    /// hold is [`Asn1Error::InvalidValue`].
    pub fn new(
        user_id: &str,
        not_before_unix: u64,
        not_after_unix: u64,
    ) -> Result<Self, Asn1Error> {
        if not_before_unix > not_after_unix {
            return Err(Asn1Error::InvalidValue);
        }
        let time = |secs| {
            GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
                .map_err(|_| Asn1Error::InvalidValue)
        };
        Ok(Self {
            user_id: String::from(user_id),
            not_before: time(not_before_unix)?,
            not_after: time(not_after_unix)?,
            group_associations: SetOfVec::new(),
            extensions: SetOfVec::new(),
        })
    }

    /// Adds an extension; a second one with the same OID is
    /// [`Asn1Error::DuplicateExtension`].
    pub fn with_extension(mut self, oid: Oid, data: Any) -> Result<Self, Asn1Error> {
        insert(&mut self.extensions, oid, data)?;
        Ok(self)
    }

    /// Adds the [`oids::IDENTIFICATION_LEVEL`] extension.
    pub fn with_identification_level(self, level: IdentificationLevel) -> Result<Self, Asn1Error> {
        let data = to_any(&level)?;
        self.with_extension(oids::IDENTIFICATION_LEVEL, data)
    }

    /// Adds the [`oids::SAD_PUBLIC_KEY`] extension from the DER
    /// `SubjectPublicKeyInfo` of the SAD key (checked to be strict DER).
    pub fn with_sad_public_key(self, spki_der: &[u8]) -> Result<Self, Asn1Error> {
        let spki: SubjectPublicKeyInfoOwned = decode_strict(spki_der, spki_der.len())?;
        let data = to_any(&spki)?;
        self.with_extension(oids::SAD_PUBLIC_KEY, data)
    }

    /// Adds the [`oids::SIGNING_SCOPE`] extension (a UTF8String; the
    /// firmware signs only for `"signing"`).
    pub fn with_signing_scope(self, scope: &str) -> Result<Self, Asn1Error> {
        let data = to_any(&String::from(scope))?;
        self.with_extension(oids::SIGNING_SCOPE, data)
    }

    /// Adds a group association.
    pub fn with_group_association(
        mut self,
        group: CompactGroupAssociation,
    ) -> Result<Self, Asn1Error> {
        self.group_associations.insert(group)?;
        Ok(self)
    }

    /// The data of the extension `oid`, `None` if absent; two extensions
    /// with that OID are [`Asn1Error::DuplicateExtension`].
    pub fn extension(&self, oid: &Oid) -> Result<Option<&Any>, Asn1Error> {
        find(&self.extensions, oid)
    }

    /// The identification level, `None` if the token has none. Data that
    /// is not a strict ENUMERATED with a known value is
    /// [`Asn1Error::BadExtension`].
    pub fn identification_level(&self) -> Result<Option<IdentificationLevel>, Asn1Error> {
        self.extension(&oids::IDENTIFICATION_LEVEL)?
            .map(decode_data)
            .transpose()
    }

    /// The SAD public key, `None` if the token has none. Data that is not
    /// a strict DER `SubjectPublicKeyInfo` is [`Asn1Error::BadExtension`].
    /// Whether the key is of a usable type is the firmware's check.
    pub fn sad_public_key(&self) -> Result<Option<SubjectPublicKeyInfoOwned>, Asn1Error> {
        self.extension(&oids::SAD_PUBLIC_KEY)?
            .map(decode_data)
            .transpose()
    }

    /// The signing scope, `None` if the token has none. Data that is not a
    /// strict UTF8String is [`Asn1Error::BadExtension`].
    pub fn signing_scope(&self) -> Result<Option<String>, Asn1Error> {
        self.extension(&oids::SIGNING_SCOPE)?
            .map(decode_data)
            .transpose()
    }
}

/// ```text
/// SignedIdentityToken ::= SEQUENCE {
///     data                CompactIdentityToken,
///     signer              IssuerSerial,
///     signatureAlgorithm  AlgorithmIdentifier,
///     signature           OCTET STRING,
///     type                OBJECT IDENTIFIER OPTIONAL }
/// ```
///
/// * The IdP signs the DER encoding of `data` (the complete
///   `CompactIdentityToken` TLV, see [`Self::signed_bytes`]) with
///   `signatureAlgorithm`; the seed names no other signed content.
/// * `signer` is an RFC 5755 [`IssuerSerial`] naming the IdP certificate.
/// * `signature` holds the scheme's usual encoding: a DER `Ecdsa-Sig-Value`
///   for ECDSA, the modulus-length octet string for RSA PKCS#1 v1.5.
/// * `type`, when present, must be [`oids::IDENTITY_TOKEN_TYPE`]
///   ([`Self::from_der_strict`] refuses other values); it is an [`Oid`]
///   because `der::asn1::ObjectIdentifier` cannot hold `2.25.<UUID>`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SignedIdentityToken {
    /// The signed token content.
    pub data: CompactIdentityToken,
    /// The IdP certificate that signed.
    pub signer: IssuerSerial,
    /// The IdP's signature algorithm (see [`super::signature_hash`]).
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// The IdP's signature over [`Self::signed_bytes`].
    pub signature: OctetString,
    /// The token type.
    #[asn1(optional = "true")]
    pub token_type: Option<Oid>,
}

impl SignedIdentityToken {
    /// Decodes a token strictly: at most [`MAX_TOKEN_LEN`] bytes, DER only,
    /// no trailing bytes, canonical (re-encoding gives the input back),
    /// `signer` in the supported profile and `type` absent or
    /// [`oids::IDENTITY_TOKEN_TYPE`]. Signature, validity and extensions are
    /// checked later by their users.
    pub fn from_der_strict(bytes: &[u8]) -> Result<Self, Asn1Error> {
        let token: Self = decode_strict(bytes, MAX_TOKEN_LEN)?;
        token.check()?;
        Ok(token)
    }

    /// The checks of [`Self::from_der_strict`] beyond the encoding, also
    /// run on a token embedded in a SAD.
    pub(crate) fn check(&self) -> Result<(), Asn1Error> {
        self.signer.check_profile()?;
        match &self.token_type {
            None => Ok(()),
            Some(t) if *t == oids::IDENTITY_TOKEN_TYPE => Ok(()),
            Some(_) => Err(Asn1Error::UnsupportedTokenType),
        }
    }

    /// The bytes the IdP signs: the DER of `data`.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, Asn1Error> {
        Ok(self.data.to_der()?)
    }
}

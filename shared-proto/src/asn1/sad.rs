//! The Signature Activation Data (seed §8.1).

use super::strict::decode_strict;
use super::{Asn1Error, SignedIdentityToken, signature_hash};
use crate::command::{MAX_HASHES, MAX_SAD_LEN, MAX_TOKEN_LEN};
use crate::ids::HashAlgorithm;
use alloc::string::String;
use alloc::vec::Vec;
use der::asn1::OctetString;
use der::{Encode, Sequence};
use spki::AlgorithmIdentifierOwned;

/// ```text
/// SADTBS ::= SEQUENCE {
///     identityToken  SignedIdentityToken,
///     keyid          DirectoryString,
///     hashAlgorithm  AlgorithmIdentifier,
///     tbsHashValues  SEQUENCE OF OCTET STRING }
/// ```
///
/// * `keyid` is the KeyID (UUID text) of the signer key; `DirectoryString`
///   is accepted only as UTF8String.
/// * `hashAlgorithm` names the digest algorithm of `tbsHashValues`: a bare
///   `id-sha256/384/512` ([`super::digest_algorithm`]); a full signature
///   algorithm identifier is also understood by [`super::signature_hash`]
///   and then fixes the signature scheme too.
/// * `tbsHashValues` are the hashes to sign, 1 to [`MAX_HASHES`] (checked
///   by [`Sad::from_der_strict`], which the firmware and samd both use: a
///   count outside that range is a MessageParseError wherever it is seen);
///   their lengths are checked by the firmware against `hashAlgorithm`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SadTbs {
    /// The user's signed identity token, carrying the SAD public key.
    pub identity_token: SignedIdentityToken,
    /// The KeyID of the signer key (UUID text).
    pub key_id: String,
    /// Digest algorithm of the hashes.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hashes to sign (batch signing: one signature per hash).
    pub tbs_hash_values: Vec<OctetString>,
}

/// ```text
/// SAD ::= SEQUENCE {
///     tbs        SADTBS,
///     signature  OCTET STRING }
/// ```
///
/// `signature` is made by the signer's temporary SAD key (the key in the
/// token's [`super::oids::SAD_PUBLIC_KEY`] extension) over the DER of `tbs`
/// ([`Sad::signed_bytes`]). The seed gives this signature no algorithm
/// field, so the SAD key's type fixes it: the scheme fitted to the key
/// (ECDSA with a DER `Ecdsa-Sig-Value`, or RSA PKCS#1 v1.5) and the hash of
/// the key's strength — SHA-384 for a P-384 key, SHA-256 for P-256 and RSA
/// (the firmware's `signing_alg::sad_signature_hash`). `hashAlgorithm`
/// belongs to `tbsHashValues` and does not influence the SAD signature.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Sad {
    /// The signed content.
    pub tbs: SadTbs,
    /// The SAD key's signature over [`Sad::signed_bytes`].
    pub signature: OctetString,
}

impl Sad {
    /// Decodes a SAD strictly: at most [`MAX_SAD_LEN`] bytes, DER only, no
    /// trailing bytes, canonical (re-encoding gives the input back), 1 to
    /// [`MAX_HASHES`] hash values, and an embedded token that passes the
    /// checks of [`SignedIdentityToken::from_der_strict`] (at most
    /// [`MAX_TOKEN_LEN`] bytes, profile, type).
    pub fn from_der_strict(bytes: &[u8]) -> Result<Self, Asn1Error> {
        let sad: Self = decode_strict(bytes, MAX_SAD_LEN)?;
        let token = &sad.tbs.identity_token;
        if usize::try_from(token.encoded_len()?)? > MAX_TOKEN_LEN {
            return Err(Asn1Error::TooLong);
        }
        token.check()?;
        if !(1..=MAX_HASHES).contains(&sad.tbs.tbs_hash_values.len()) {
            return Err(Asn1Error::HashValueCount);
        }
        Ok(sad)
    }

    /// The bytes the SAD key signs: the DER of `tbs`.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, Asn1Error> {
        Ok(self.tbs.to_der()?)
    }

    /// The digest algorithm of the hash values (from `hashAlgorithm`, see
    /// [`super::signature_hash`]).
    pub fn hash_algorithm(&self) -> Result<HashAlgorithm, Asn1Error> {
        signature_hash(&self.tbs.hash_algorithm).map(|(hash, _)| hash)
    }
}

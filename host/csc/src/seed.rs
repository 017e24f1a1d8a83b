//! Checking a seed §8.1 SAD against the CSC request it arrives with.
//!
//! The service checks what the firmware will check again (it is the
//! firmware's decision that counts), so that a SAD that cannot sign what
//! the request asks is refused before a handle exists: the KeyID is the
//! credential, the hash algorithm and the hashes are the request's, in
//! order, `numSignatures` is their number, the token is from a trusted
//! IdP, valid, of the caller, and the SAD is signed by the token's SAD
//! key. The service holds no key that could make or repair a SAD.

use crate::error::CscError;
use der::Encode;
use sam_client::bearer::TokenVerifier;
use sam_client::verify::{KeyKind, verify_message};
use sam_proto::asn1::Sad;
use sam_proto::ids::{HashAlgorithm, KeyId, UserId, Uuid};

/// What the request says the SAD must authorize.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The caller; `None`: whoever the token names (the OAuth2 flow, where
    /// the IdP authenticated the user).
    pub user: Option<UserId>,
    /// The credential.
    pub key_id: KeyId,
    /// The hash algorithm, if the request names one.
    pub hash_algorithm: Option<HashAlgorithm>,
    /// The hashes, in order.
    pub hashes: &'a [Vec<u8>],
    /// `numSignatures`.
    pub num_signatures: u32,
}

/// A seed SAD that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Its hash algorithm.
    pub hash_algorithm: HashAlgorithm,
    /// Its token's `notAfter`, Unix seconds.
    pub not_after: u64,
    /// Its token's user.
    pub user: UserId,
}

/// Checks the DER seed SAD `der` against `expected` at `now`.
pub fn check(
    tokens: &TokenVerifier,
    der: &[u8],
    expected: &Expected<'_>,
    now: u64,
) -> Result<Checked, CscError> {
    let bad = |why: &str| CscError::invalid_request(format!("Invalid parameter SAD: {why}"));
    let sad =
        Sad::from_der_strict(der).map_err(|e| bad(&format!("not a strict DER seed SAD ({e})")))?;
    let key_id = Uuid::parse(&sad.tbs.key_id).map_err(|_| bad("its KeyID is not a UUID"))?;
    if key_id != expected.key_id {
        return Err(bad("it is for another credential"));
    }
    let hash_algorithm = sad
        .hash_algorithm()
        .map_err(|_| bad("unsupported hash algorithm"))?;
    if expected.hash_algorithm.is_some_and(|h| h != hash_algorithm) {
        return Err(bad("it is for another hash algorithm"));
    }
    let same_hashes = sad.tbs.tbs_hash_values.len() == expected.hashes.len()
        && sad
            .tbs
            .tbs_hash_values
            .iter()
            .zip(expected.hashes)
            .all(|(a, b)| a.as_bytes() == b.as_slice());
    if !same_hashes {
        return Err(bad("its hashes are not the request's hashes"));
    }
    if usize::try_from(expected.num_signatures).ok() != Some(expected.hashes.len()) {
        return Err(CscError::invalid_parameter(
            "numSignatures (it must be the number of hashes)",
        ));
    }
    let token_der = sad
        .tbs
        .identity_token
        .to_der()
        .map_err(|_| bad("its identity token cannot be encoded"))?;
    let token = tokens
        .verify(&token_der, now)
        .map_err(|e| bad(&format!("its identity token: {e}")))?;
    if expected.user.is_some_and(|u| u != token.user_id) {
        return Err(bad("its identity token is of another user"));
    }
    let spki = token
        .sad_public_key
        .ok_or_else(|| bad("its identity token binds no SAD key"))?;
    // The SAD signature's hash follows the SAD key (seed §8.1, the
    // firmware's `sad_signature_hash`).
    let hash = match KeyKind::of_spki(&spki) {
        Ok(KeyKind::P384) => HashAlgorithm::Sha384,
        Ok(_) => HashAlgorithm::Sha256,
        Err(_) => return Err(bad("unsupported SAD key")),
    };
    let signed = sad.signed_bytes().map_err(|_| bad("cannot be encoded"))?;
    verify_message(&spki, hash, &signed, sad.signature.as_bytes())
        .map_err(|_| bad("its signature by the SAD key does not verify"))?;
    Ok(Checked {
        hash_algorithm,
        not_after: token.not_after,
        user: token.user_id,
    })
}

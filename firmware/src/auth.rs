//! Who is asking: identity tokens, technical signatures and administrator
//! approvals, all verified inside the firmware.

use crate::anchors::Anchor;
use crate::core::{Firmware, Operational};
use crate::crypto::{Crypto, sha256};
use crate::platform::Platform;
use crate::state::admin_spki;
use alloc::string::String;
use alloc::vec::Vec;
use sam_proto::ErrorType;
use sam_proto::approval::{ADMIN_APPROVAL, TECHNICAL, TOKEN_REQUEST, bound_digest};
use sam_proto::asn1::{IdentificationLevel, SignedIdentityToken};
use sam_proto::command::{Approvals, Authentication, Credential, SubFunction, TechnicalSignature};
use sam_proto::frame::decode_exact;
use sam_proto::ids::{HashAlgorithm, Role, UserId, Uuid};
use sam_proto::intent::Intent;
use sam_proto::records::{CertFingerprint, UserRecord};

/// Why an identity token was refused. The caller turns it into
/// `AuthenticationError` (a credential) or `InvalidAuthentication` (the
/// token inside a SAD); the variant itself only reaches logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFault {
    /// Not a strict-DER `SignedIdentityToken`, or an unusable field.
    Malformed,
    /// No trusted IdP certificate matches the token's `signer`.
    UntrustedIssuer,
    /// The signature algorithm does not fit the IdP key.
    AlgorithmMismatch,
    /// The IdP signature does not verify.
    BadSignature,
    /// `notBefore` is in the future.
    NotYetValid,
    /// `notAfter` is in the past.
    Expired,
    /// Identification level missing or below "substantial".
    LevelTooLow,
    /// `notAfter - notBefore` exceeds the policy's maximum token lifetime.
    TooLongLived,
}

/// A token whose signature, validity and level were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The token's userId.
    pub user_id: UserId,
    /// The IdP certificate that signed it.
    pub anchor: CertFingerprint,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The SAD public key extension (DER SPKI), if present.
    pub sad_key: Option<Vec<u8>>,
    /// The signing scope extension, if present.
    pub scope: Option<String>,
}

/// The authenticated acting user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Its record, authenticated.
    pub record: UserRecord,
    /// The IdP certificate whose token authenticated it; `None` for a
    /// technical signature. Signer_Maintenance needs it for the
    /// self-modification rule (seed §7.1.3).
    pub via: Option<CertFingerprint>,
    /// Whether its record is the registered current one. Only
    /// Signer_Maintenance sees an actor whose record is superseded (to
    /// re-issue the record a lost answer carried); every other operation
    /// refuses it during authentication.
    pub current: bool,
}

impl Actor {
    /// The acting UserID.
    pub fn user_id(&self) -> UserId {
        self.record.user_id
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.record.role
    }
}

fn find_anchor<'a>(anchors: &'a [Anchor], token: &SignedIdentityToken) -> Option<&'a Anchor> {
    anchors
        .iter()
        .find(|a| token.signer.matches_parts(&a.issuer, &a.serial))
}

impl<P: Platform> Firmware<P> {
    /// Verifies an identity token: trusted IdP, signature, validity window
    /// against the platform clock, identification level.
    pub(crate) fn verify_token(
        &self,
        op: &Operational,
        token: &SignedIdentityToken,
        now: i64,
    ) -> Result<VerifiedToken, TokenFault> {
        let anchor = find_anchor(&op.anchors, token).ok_or(TokenFault::UntrustedIssuer)?;
        let (hash, scheme) = sam_proto::asn1::signature_hash(&token.signature_algorithm)
            .map_err(|_| TokenFault::AlgorithmMismatch)?;
        let kind =
            crate::signing_alg::spki_kind(&anchor.spki).map_err(|_| TokenFault::UntrustedIssuer)?;
        if !crate::signing_alg::scheme_fits(scheme, kind) {
            return Err(TokenFault::AlgorithmMismatch);
        }
        let signed = token.signed_bytes().map_err(|_| TokenFault::Malformed)?;
        let digest = self.crypto().digest(hash, &[&signed]);
        self.crypto()
            .verify(
                &anchor.spki,
                hash,
                digest.as_bytes(),
                token.signature.as_bytes(),
            )
            .map_err(|_| TokenFault::BadSignature)?;
        let data = &token.data;
        let not_before = unix(&data.not_before);
        let not_after = unix(&data.not_after);
        if now < not_before {
            return Err(TokenFault::NotYetValid);
        }
        if now > not_after {
            return Err(TokenFault::Expired);
        }
        // A token valid for longer than the administrators allow is refused
        // whatever is left of it: the lifetime bounds how long a relayed
        // token stays usable, and the IdP, not the host, sets it.
        let max_lifetime = i64::from(op.config.policy.max_token_lifetime);
        if not_after.saturating_sub(not_before) > max_lifetime {
            return Err(TokenFault::TooLongLived);
        }
        match data.identification_level() {
            Ok(Some(level)) if level >= IdentificationLevel::Substantial => {}
            Ok(_) => return Err(TokenFault::LevelTooLow),
            Err(_) => return Err(TokenFault::Malformed),
        }
        let user_id = Uuid::parse(&data.user_id).map_err(|_| TokenFault::Malformed)?;
        let sad_key = match data.sad_public_key() {
            Ok(k) => k
                .map(|k| der::Encode::to_der(&k))
                .transpose()
                .map_err(|_| TokenFault::Malformed)?,
            Err(_) => return Err(TokenFault::Malformed),
        };
        let scope = data.signing_scope().map_err(|_| TokenFault::Malformed)?;
        Ok(VerifiedToken {
            user_id,
            anchor: anchor.fingerprint,
            not_before,
            not_after,
            sad_key,
            scope,
        })
    }

    /// Authenticates the acting user of a peering request and checks that
    /// it asked for this very request. `intent` gives the request's
    /// [`Intent`] for the acting user's UserID (the effective target of a
    /// request that names none).
    ///
    /// * An identity token authorizes nothing alone: the SAD key bound in
    ///   it must sign `bound_digest(TOKEN_REQUEST, code, challenge,
    ///   postcard(intent))` over a fresh challenge from GetChallenge
    ///   ([`sam_proto::command::RequestProof`]). The challenge is consumed,
    ///   so a relayed token and proof cannot be replayed, and cannot stand
    ///   for other parameters, another target or another operation.
    /// * A technical signature signs the same digest under `TECHNICAL`.
    ///
    /// Errors, all unaudited (seed §7.1): `UnknownCredentialType`,
    /// `AuthenticationError` (bad token, tampered or superseded record, IdP
    /// not listed for the user, token without SAD key, missing or bad
    /// proof, used or expired challenge, bad technical signature),
    /// `UnknownUser` (no record, or a record of someone else).
    pub(crate) fn authenticate<'i>(
        &self,
        op: &Operational,
        code: SubFunction,
        auth: &Authentication,
        intent: impl FnOnce(UserId) -> Intent<'i>,
    ) -> Result<Actor, ErrorType> {
        let now = self.now()?;
        match auth.credential.kind {
            Credential::IDENTITY_TOKEN => {
                let token = SignedIdentityToken::from_der_strict(&auth.credential.value)
                    .map_err(|_| ErrorType::AuthenticationError)?;
                let verified = self
                    .verify_token(op, &token, now)
                    .map_err(|_| ErrorType::AuthenticationError)?;
                let (record, current) = self.actor_record(op, code, auth)?;
                if record.user_id != verified.user_id {
                    return Err(ErrorType::UnknownUser);
                }
                if !record.idp_certs.contains(&verified.anchor) {
                    return Err(ErrorType::AuthenticationError);
                }
                let key = verified
                    .sad_key
                    .as_deref()
                    .ok_or(ErrorType::AuthenticationError)?;
                let proof = auth.proof.as_ref().ok_or(ErrorType::AuthenticationError)?;
                let params = crate::core::encode(&intent(record.user_id))?;
                self.check_bound(
                    TOKEN_REQUEST,
                    code,
                    &proof.challenge,
                    &params,
                    key,
                    &proof.signature,
                    now,
                )?;
                Ok(Actor {
                    record,
                    via: Some(verified.anchor),
                    current,
                })
            }
            Credential::TECHNICAL_SIGNATURE => {
                let ts: TechnicalSignature =
                    decode_exact(&auth.credential.value, auth.credential.value.len())
                        .map_err(|_| ErrorType::AuthenticationError)?;
                if auth.proof.is_some() {
                    return Err(ErrorType::AuthenticationError);
                }
                let (record, current) = self.actor_record(op, code, auth)?;
                let key = match (&record.role, &record.technical_key) {
                    (Role::PrivilegedUserTechnical, Some(key)) => key.clone(),
                    _ => return Err(ErrorType::AuthenticationError),
                };
                let params = crate::core::encode(&intent(record.user_id))?;
                self.check_bound(
                    TECHNICAL,
                    code,
                    &ts.challenge,
                    &params,
                    &key,
                    &ts.signature,
                    now,
                )?;
                Ok(Actor {
                    record,
                    via: None,
                    current,
                })
            }
            _ => Err(ErrorType::UnknownCredentialType),
        }
    }

    /// Consumes `challenge` and verifies `signature` by `spki` over the
    /// bound digest of `label`, `code`, `challenge` and `params`: any
    /// failure is AuthenticationError. The challenge is consumed before
    /// the signature is checked, so that a wrong guess also burns it.
    #[allow(clippy::too_many_arguments)]
    fn check_bound(
        &self,
        label: &[u8],
        code: SubFunction,
        challenge: &[u8; 32],
        params: &[u8],
        spki: &[u8],
        signature: &[u8],
        now: i64,
    ) -> Result<(), ErrorType> {
        if !self.challenges.lock().consume(challenge, now) {
            return Err(ErrorType::AuthenticationError);
        }
        let digest = bound_digest(label, code, challenge, params, |p| sha256(self.crypto(), p));
        self.crypto()
            .verify(spki, HashAlgorithm::Sha256, &digest, signature)
            .map_err(|_| ErrorType::AuthenticationError)
    }

    /// The acting user's record and whether it is current. A superseded
    /// record (an older MAC-valid one) is AuthenticationError like a
    /// tampered one, except for Signer_Maintenance, which decides itself
    /// (see `ops::users`).
    fn actor_record(
        &self,
        op: &Operational,
        code: SubFunction,
        auth: &Authentication,
    ) -> Result<(UserRecord, bool), ErrorType> {
        let sealed = auth.actor.as_ref().ok_or(ErrorType::UnknownUser)?;
        let record = self
            .open_record(&op.keys, sealed)
            .cloned()
            .map_err(|_| ErrorType::AuthenticationError)?;
        let current = self.is_current(sealed);
        if !current && code != SubFunction::SignerMaintenance {
            return Err(ErrorType::AuthenticationError);
        }
        Ok((record, current))
    }

    /// Dual control: at least two distinct administrators of `enrolled`
    /// signed this command, its parameters and a fresh challenge. One
    /// administrator, the same one twice, an unknown key, a bad signature or
    /// a used challenge all give `NotAuthorized`.
    pub(crate) fn check_approvals(
        &self,
        code: SubFunction,
        params: &[u8],
        approvals: &Approvals,
        enrolled: &[sam_proto::bounded::Blob<{ sam_proto::command::ADMIN_KEY_LEN }>],
    ) -> Result<(), ErrorType> {
        let now = self.now()?;
        if !self.challenges.lock().consume(&approvals.challenge, now) {
            return Err(ErrorType::NotAuthorized);
        }
        let digest = bound_digest(ADMIN_APPROVAL, code, &approvals.challenge, params, |p| {
            sha256(self.crypto(), p)
        });
        let mut seen: Vec<&[u8]> = Vec::new();
        for a in approvals.approvals.iter() {
            let admin: &[u8] = &a.admin;
            if !enrolled.iter().any(|e| e.as_slice() == admin) || seen.contains(&admin) {
                return Err(ErrorType::NotAuthorized);
            }
            self.crypto()
                .verify(
                    &admin_spki(admin),
                    HashAlgorithm::Sha256,
                    &digest,
                    &a.signature,
                )
                .map_err(|_| ErrorType::NotAuthorized)?;
            seen.push(admin);
        }
        if seen.len() < 2 {
            return Err(ErrorType::NotAuthorized);
        }
        Ok(())
    }
}

/// Unix seconds of a GeneralizedTime (the type cannot hold dates before
/// 1970, so the conversion cannot go negative).
fn unix(t: &der::asn1::GeneralizedTime) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

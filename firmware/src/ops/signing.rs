//! Signing (seed §6.4.4–6.5.4, §7.1.6): the one operation that uses a
//! signer key, and the reason the SAM exists.
//!
//! # The checks, in order
//!
//! Each check runs only if every earlier one passed; the first failure is
//! the answer, and every failure is audited (no error of this operation is
//! exempt). The order is chosen so that nothing about keys or users is
//! revealed before the request is shown to come from the signer's IdP.
//!
//! | # | check | error |
//! |---|-------|-------|
//! | 1 | the SAD is strict DER of `SAD` with 1 to 128 hash values | MessageParseError |
//! | 2 | the identity token's `signer` names a trusted IdP certificate, its signature algorithm fits that key and the signature verifies | InvalidAuthentication |
//! | 3 | the platform clock is inside `notBefore..=notAfter` | InvalidAuthentication |
//! | 4 | identification level present and at least "substantial" | InvalidAuthentication |
//! | 4a | a credential sent with the request is an identity token (UnknownCredentialType), verifies as in 2–4 (AuthenticationError), and names the SAD token's UserID | InvalidAuthentication |
//! | 5 | the host supplied the signer's user record | UnknownUser |
//! | 6 | the record's firmware tag verifies, and it is the user's current record in the registry (not superseded) | AuthenticationError |
//! | 7 | the record is the token's user, and lists the IdP certificate that signed the token | InvalidAuthentication |
//! | 8 | the record's role is Signer | NotAuthorized |
//! | 9 | the token carries a SAD public key and the scope "signing" | InvalidAuthentication |
//! | 10 | the SAD signature over DER(SADTBS) verifies with that key | InvalidSignature |
//! | 11 | the token was issued after this boot (`notBefore` > boot time) | ReplayedSad |
//! | 12 | the host supplied a wrapped key; its KeyID is the SAD's keyid | NotFound |
//! | 13 | the wrapped key's AEAD tag verifies (KeyID, UserID, algorithm bound) | InvalidInput |
//! | 14 | the wrapped key belongs to the token's user | NotAuthorized |
//! | 14a | the key is live in the registry (not deleted: a retained copy of a deleted key stops here) | NotFound |
//! | 14b | the key is ACTIVE (a certificate was registered) and the platform time is inside that certificate's validity | NotAuthorized |
//! | 15 | the SAD's hash algorithm is one the key signs with | InvalidAlgorithm |
//! | 16 | each hash value is as long as that hash's output | InvalidAlgorithm |
//! | 17 | the token has not been used for signing since boot (replay set) | ReplayedSad |
//! | 18 | the replay set has room | NotOperational |
//!
//! Each row's failure is audited with its own cause (`Cause::0x01nn`, `nn`
//! the row; the rows with several causes, 1–3, add `0x10`, `0x20`, ...),
//! except the exempt error types of rows 4a, 5 and 6, which seed §7.1
//! leaves unaudited.
//!
//! Row 1 takes the hash count as part of the message type (seed §8.1 puts
//! no bound on `tbsHashValues`; the firmware's is 128): no hash value and
//! 129 both fail to parse, in samd and in the firmware alike, since both
//! decode with `Sad::from_der_strict`. Row 16 follows seed §7.1.6:
//! "hash algorithm does not match digest size" is InvalidAlgorithm.
//!
//! Row 4a is the seed's "UserID in the identity token does not match the
//! UserID provided by the credential": a Signing container may carry a
//! credential besides the SAD; if it does, its token is verified like the
//! SAD's and must be the same user's.
//!
//! Check 14b answers NotAuthorized: the request is well formed and comes
//! from the key's owner, but the key is not (or no longer) allowed to sign;
//! InvalidInput would blame the request. The firmware, not the host, knows
//! which keys are active: their states live in its registry, read here
//! under a short read lock and never written while signing.
//!
//! Then the key is unwrapped (activated), every hash is signed, and the
//! plaintext key is wiped (deactivated) before the answer is built. Either
//! every hash is signed or none is returned.
//!
//! # Single use
//!
//! A SAD is used once, and so is the identity token that authorizes it:
//! the replay set holds SHA-256 of the token's signed bytes (the DER of its
//! CompactIdentityToken, which nobody but the IdP can change). Keying on
//! the token rather than on the SAD bytes closes two doors: re-signing the
//! same SADTBS (ECDSA signatures are malleable) and a second SAD made with
//! the same token's SAD key. The set lives in RAM; after a restart the rule
//! of check 11 refuses every token that could have been used before it.
//! The token is admitted to the set only after all other checks passed, so
//! a refused request does not burn the signer's token.

use super::Failure;
use crate::audit::{Refusal, refusal};
use crate::auth::TokenFault;
use crate::core::{Firmware, Operational};
use crate::crypto::{Crypto, CryptoError};
use crate::platform::Platform;
use crate::registry::KeyState;
use crate::signing_alg::spki_kind;
use crate::signing_alg::{key_accepts, sad_signature_hash};
use crate::state::ReplayRefusal;
use sam_proto::ErrorType;
use sam_proto::asn1::{Asn1Error, Sad, SignedIdentityToken};
use sam_proto::bounded::{Blob, List};
use sam_proto::codes::Cause;
use sam_proto::command::{Credential, MAX_HASHES, Signed, Signing, SubFunction};
use sam_proto::ids::{Role, Uuid};
use sam_proto::records::WrappedKey;

/// The extension value that marks a token as a signing authorization.
pub const SIGNING_SCOPE: &str = "signing";

impl<P: Platform> Firmware<P> {
    pub(super) fn signing(&self, req: Signing) -> Result<Signed, Failure> {
        self.audited(
            SubFunction::Signing,
            |op, subject| self.sign_checked(op, &req, subject),
            |signatures, audit| Signed { signatures, audit },
        )
    }

    fn sign_checked(
        &self,
        op: &Operational,
        req: &Signing,
        subject: &mut crate::audit::Subject,
    ) -> Result<List<Blob<{ sam_proto::command::MAX_SIGNATURE_LEN }>, MAX_HASHES>, Refusal> {
        use ErrorType::*;
        // 1
        let sad = Sad::from_der_strict(&req.sad).map_err(|e| match e {
            Asn1Error::HashValueCount => refusal(MessageParseError, Cause::SadHashCount),
            _ => refusal(MessageParseError, Cause::SadMalformed),
        })?;
        let tbs = &sad.tbs;
        // 2-4
        let now = self.now()?;
        let token = self
            .verify_token(op, &tbs.identity_token, now)
            .map_err(|f| refusal(InvalidAuthentication, token_cause(f)))?;
        subject.actor = Some(token.user_id);
        subject.target_user = Some(token.user_id);
        // 4a
        if let Some(credential) = &req.credential {
            if credential.kind != Credential::IDENTITY_TOKEN {
                return Err(UnknownCredentialType.into());
            }
            let verified = SignedIdentityToken::from_der_strict(&credential.value)
                .ok()
                .and_then(|t| self.verify_token(op, &t, now).ok())
                .ok_or(AuthenticationError)?;
            if verified.user_id != token.user_id {
                return Err(refusal(
                    InvalidAuthentication,
                    Cause::CredentialUserMismatch,
                ));
            }
        }
        // 5-8
        let sealed = req.signer.as_ref().ok_or(UnknownUser)?;
        let record = self
            .open_current(&op.keys, sealed)
            .map_err(|_| AuthenticationError)?;
        if record.user_id != token.user_id || !record.idp_certs.contains(&token.anchor) {
            return Err(refusal(InvalidAuthentication, Cause::SignerRecordMismatch));
        }
        if record.role != Role::Signer {
            return Err(refusal(NotAuthorized, Cause::NotASigner));
        }
        // 9-10
        let not_for_signing = refusal(InvalidAuthentication, Cause::TokenNotForSigning);
        let sad_key = token.sad_key.as_deref().ok_or(not_for_signing)?;
        if token.scope.as_deref() != Some(SIGNING_SCOPE) {
            return Err(not_for_signing);
        }
        let kind = spki_kind(sad_key).map_err(|_| not_for_signing)?;
        let sad_hash = sad_signature_hash(kind);
        let tbs_der = sad
            .signed_bytes()
            .map_err(|_| refusal(MessageParseError, Cause::SadMalformed))?;
        let digest = self.crypto().digest(sad_hash, &[&tbs_der]);
        self.crypto()
            .verify(
                sad_key,
                sad_hash,
                digest.as_bytes(),
                sad.signature.as_bytes(),
            )
            .map_err(|_| refusal(InvalidSignature, Cause::SadSignature))?;
        // 11
        if token.not_before <= self.boot_time {
            return Err(refusal(ReplayedSad, Cause::TokenBeforeBoot));
        }
        // 12-14
        let not_found = refusal(NotFound, Cause::SadKeyNotFound);
        let key_id = Uuid::parse(&tbs.key_id).map_err(|_| not_found)?;
        subject.key_id = Some(key_id);
        let wrapped: &WrappedKey = req
            .wrapped
            .as_ref()
            .filter(|w| w.key_id == key_id)
            .ok_or(not_found)?;
        let private = self
            .unwrap_key(&op.keys, wrapped)
            .map_err(|_| refusal(InvalidInput, Cause::SadWrappedKeyInvalid))?;
        if wrapped.user_id != token.user_id {
            return Err(refusal(NotAuthorized, Cause::SadNotOwnKey));
        }
        // 14a-14b
        let state = self
            .key_state(&key_id)
            .map_err(|e| refusal(e, Cause::SadKeyNotRegistered))?;
        match state {
            KeyState::Active {
                not_before,
                not_after,
                ..
            } if not_before <= now && now <= not_after => {}
            _ => return Err(refusal(NotAuthorized, Cause::SadKeyNotActive)),
        }
        // 15-16
        let unfit = refusal(InvalidAlgorithm, Cause::HashAlgorithmUnfit);
        let (hash, scheme) =
            sam_proto::asn1::signature_hash(&tbs.hash_algorithm).map_err(|_| unfit)?;
        if !key_accepts(wrapped.algorithm, hash, scheme) {
            return Err(unfit);
        }
        let hashes = &tbs.tbs_hash_values;
        if hashes
            .iter()
            .any(|h| h.as_bytes().len() != hash.output_len())
        {
            return Err(refusal(InvalidAlgorithm, Cause::HashLengthUnfit));
        }
        // 17-18
        let token_id = {
            let signed = tbs
                .identity_token
                .signed_bytes()
                .map_err(|_| refusal(MessageParseError, Cause::SadMalformed))?;
            self.sha256(&[&signed])
        };
        self.replay
            .lock()
            .admit(token_id, token.not_after, now)
            .map_err(|r| match r {
                ReplayRefusal::Replayed => refusal(ReplayedSad, Cause::TokenReplayed),
                ReplayRefusal::Full => refusal(NotOperational, Cause::ReplaySetFull),
            })?;
        // Activate, sign all, deactivate: one `sign_many` call signs every
        // hash, so an engine parses the key at most once per request and
        // drops the parsed key before returning (see `Crypto::sign_many`);
        // `private` is wiped when dropped just below, before any answer
        // exists. Either every hash is signed or the request fails.
        let digests: alloc::vec::Vec<&[u8]> = hashes.iter().map(|h| h.as_bytes()).collect();
        let mut signatures = List::default();
        self.with_rng(|rng| {
            self.crypto()
                .sign_many(
                    &private,
                    wrapped.algorithm,
                    hash,
                    &digests,
                    rng,
                    &mut |sig| {
                        let blob = Blob::from_vec(sig).map_err(|_| CryptoError)?;
                        signatures.push(blob).map_err(|_| CryptoError)
                    },
                )
                .map_err(|_| UnexpectedError)?;
            Ok(())
        })?;
        drop(private);
        Ok(signatures)
    }
}

/// The cause of a refused SAD token (rows 2–4).
fn token_cause(fault: TokenFault) -> Cause {
    match fault {
        TokenFault::Malformed => Cause::TokenMalformed,
        TokenFault::UntrustedIssuer => Cause::TokenUntrustedIssuer,
        TokenFault::AlgorithmMismatch => Cause::TokenAlgorithmMismatch,
        TokenFault::BadSignature => Cause::TokenBadSignature,
        TokenFault::NotYetValid => Cause::TokenNotYetValid,
        TokenFault::Expired => Cause::TokenExpired,
        TokenFault::LevelTooLow => Cause::TokenLevelTooLow,
        TokenFault::TooLongLived => Cause::TokenTooLongLived,
    }
}

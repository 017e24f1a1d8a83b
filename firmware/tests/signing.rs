//! Signing (seed §7.1.6): every key algorithm and hash, single use of the
//! SAD, and one test per refusal of the check table. US4
//! `every_key_algorithm_signs_and_rsa_signs_every_hash`, US6
//! `full_story_init_users_keys_and_batch_signing`.
#![allow(clippy::unwrap_used, clippy::result_large_err)] // the helpers below fail their test by panicking; refusals carry their audit record

mod support;

use sam_firmware::Firmware;
use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::codes::Cause;
use sam_proto::command::*;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use support::pki::SadKey;
use support::pki::unsigned;
use support::{Bench, blobs, hashes, sad_for, verify_all};

#[test]
fn full_story_init_users_keys_and_batch_signing() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    assert_eq!(b.status().state, FirmwareState::Operational);
    let (sad, hs) = sad_for(&b, &signer, &key.key_id.to_string(), 5, 1);
    let signed = b.sign(&signer, &key, sad).expect("signing");
    verify_all(&key.public_key, HashAlgorithm::Sha256, &hs, &signed);
    assert_eq!(signed.audit.entry.action, SubFunction::Signing.into());
    assert_eq!(signed.audit.entry.cause, None);
    assert_eq!(signed.audit.entry.actor, Some(signer.record.user_id));
    assert_eq!(signed.audit.entry.key_id, Some(key.key_id));
    assert_eq!(signed.audit.entry.failure, None);
}

#[test]
fn every_key_algorithm_signs_and_rsa_signs_every_hash() {
    let (mut b, _pu, signer, _) = Bench::with_signer();
    for (alg, hash) in [
        (KeyAlgorithm::EcP256, HashAlgorithm::Sha256),
        (KeyAlgorithm::EcP384, HashAlgorithm::Sha384),
        (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256),
        (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha512),
    ] {
        let key = b.generate_active(&signer, None, alg).unwrap().wrapped;
        assert_eq!(key.algorithm, alg);
        let sad_key = SadKey::new(9);
        let token = b.sad_token(&signer, &sad_key);
        let hs = hashes(3, hash.output_len());
        let sad = sad_key.sad(&token, &key.key_id.to_string(), hash, &hs);
        let signed = b
            .sign(&signer, &key, sad)
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        verify_all(&key.public_key, hash, &hs, &signed);
        b.fw.platform().advance(1);
    }
}

/// A batch SAD (one engine call signs all its hashes): the i-th signature
/// verifies against the i-th hash and not against its neighbour, for
/// every key type.
#[test]
fn batch_signatures_answer_their_own_hashes_in_order() {
    let (mut b, _pu, signer, _) = Bench::with_signer();
    for (alg, hash) in [
        (KeyAlgorithm::EcP256, HashAlgorithm::Sha256),
        (KeyAlgorithm::EcP384, HashAlgorithm::Sha384),
        (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256),
    ] {
        let key = b.generate_active(&signer, None, alg).unwrap().wrapped;
        let sad_key = SadKey::new(10);
        let token = b.sad_token(&signer, &sad_key);
        let hs = hashes(16, hash.output_len());
        let sad = sad_key.sad(&token, &key.key_id.to_string(), hash, &hs);
        let signed = b
            .sign(&signer, &key, sad)
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        verify_all(&key.public_key, hash, &hs, &signed);
        for (i, sig) in signed.signatures.iter().enumerate() {
            let next = &hs[(i + 1) % hs.len()];
            assert!(
                Portable.verify(&key.public_key, hash, next, sig).is_err(),
                "{alg:?}: signature {i} also verifies for hash {}",
                (i + 1) % hs.len()
            );
        }
        b.fw.platform().advance(1);
    }
}

#[test]
fn rsa_idp_tokens_authenticate_and_authorize_signing() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let rsa_idp = support::pki::Idp::rsa2048(1);
    let first = b.idp.cert.clone();
    b.set_idp_keys(&[first, rsa_idp.cert.clone()]).unwrap();
    // A signer whose tokens come from the RSA IdP.
    b.idp = rsa_idp;
    let signer = b.create_signer(&pu).unwrap_err();
    // The PU's record lists only the P-256 IdP: its RSA token is refused.
    assert_eq!(signer.error, ErrorType::AuthenticationError);
    let p256 = support::pki::Idp::p256(1);
    let rsa = std::mem::replace(&mut b.idp, p256);
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(std::slice::from_ref(&rsa.cert)),
    };
    let req = b.signed(
        &pu,
        CreateSigner {
            auth: unsigned(),
            user,
        },
    );
    let signer = b.call(&req).unwrap().record;
    b.idp = rsa;
    let key = b
        .generate_active(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    b.fw.platform().advance(2);
    let (sad, hs) = sad_for(&b, &signer, &key.key_id.to_string(), 2, 30);
    let signed = b.sign(&signer, &key, sad).unwrap();
    verify_all(&key.public_key, HashAlgorithm::Sha256, &hs, &signed);
}

#[test]
fn replayed_sad_is_refused_and_audited() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 1);
    b.sign(&signer, &key, sad.clone()).unwrap();
    let r = b.sign(&signer, &key, sad).unwrap_err();
    assert_eq!(r.error, ErrorType::ReplayedSad);
    assert_eq!(r.audit.unwrap().entry.failure, Some(ErrorType::ReplayedSad));
}

#[test]
fn second_sad_with_the_same_token_is_refused() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let sad_key = SadKey::new(3);
    let token = b.sad_token(&signer, &sad_key);
    let id = key.key_id.to_string();
    b.sign(
        &signer,
        &key,
        sad_key.sad(&token, &id, HashAlgorithm::Sha256, &hashes(1, 32)),
    )
    .unwrap();
    let r = b.sign(
        &signer,
        &key,
        sad_key.sad(&token, &id, HashAlgorithm::Sha256, &hashes(2, 32)),
    );
    assert_eq!(r.unwrap_err().error, ErrorType::ReplayedSad);
}

#[test]
fn token_from_before_a_restart_is_refused() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 1);
    b.fw = Firmware::boot(b.fw.platform().restarted());
    assert_eq!(b.status().state, FirmwareState::Operational);
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::ReplayedSad
    );
    // A token issued after the restart works.
    b.fw.platform().advance(2);
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 2);
    b.sign(&signer, &key, sad).unwrap();
}

#[test]
fn refused_sad_does_not_burn_the_token() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 1);
    let r = b.call(&Signing {
        sad: Blob::from_vec(sad.clone()).unwrap(),
        credential: None,
        signer: Some(signer.clone()),
        wrapped: None,
    });
    assert_eq!(r.unwrap_err().error, ErrorType::NotFound);
    b.sign(&signer, &key, sad).unwrap();
}

#[test]
fn malformed_sad_is_message_parse_error() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let (mut sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 1);
    sad.push(0);
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::MessageParseError
    );
}

#[test]
fn wrong_hash_for_key_is_invalid_algorithm() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let sad_key = SadKey::new(4);
    let token = b.sad_token(&signer, &sad_key);
    let sad = sad_key.sad(
        &token,
        &key.key_id.to_string(),
        HashAlgorithm::Sha384,
        &hashes(1, 48),
    );
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::InvalidAlgorithm
    );
}

#[test]
fn expired_or_low_level_token_is_invalid_authentication() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let sad_key = SadKey::new(5);
    let now = b.fw.platform().time();
    let id = key.key_id.to_string();
    let expired = b.idp.token(
        signer.record.user_id,
        now - 100,
        now - 1,
        Some(&sad_key.spki()),
    );
    let sad = sad_key.sad(&expired, &id, HashAlgorithm::Sha256, &hashes(1, 32));
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::InvalidAuthentication
    );
    b.idp.level = sam_proto::asn1::IdentificationLevel::Low;
    let low = b.idp.token(
        signer.record.user_id,
        now - 1,
        now + 100,
        Some(&sad_key.spki()),
    );
    let sad = sad_key.sad(&low, &id, HashAlgorithm::Sha256, &hashes(1, 32));
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::InvalidAuthentication
    );
    // A token without a SAD key cannot authorize signing.
    b.idp.level = sam_proto::asn1::IdentificationLevel::High;
    let plain = b.idp.token(signer.record.user_id, now - 1, now + 100, None);
    let sad = sad_key.sad(&plain, &id, HashAlgorithm::Sha256, &hashes(1, 32));
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::InvalidAuthentication
    );
}

#[test]
fn sad_signed_by_another_key_is_invalid_signature() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let bound = SadKey::new(6);
    let other = SadKey::new(7);
    let token = b.sad_token(&signer, &bound);
    let sad = other.sad(
        &token,
        &key.key_id.to_string(),
        HashAlgorithm::Sha256,
        &hashes(1, 32),
    );
    let r = b.sign(&signer, &key, sad).unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidSignature);
    assert_eq!(r.audit.unwrap().entry.actor, Some(signer.record.user_id));
}

#[test]
fn privileged_user_is_not_a_signer() {
    let (mut b, pu, _, key) = Bench::with_signer();
    let (sad, _) = sad_for(&b, &pu, &key.key_id.to_string(), 1, 11);
    assert_eq!(
        b.sign(&pu, &key, sad).unwrap_err().error,
        ErrorType::NotAuthorized
    );
}

/// Check 1 takes the hash count as part of the message type: no hash and
/// 129 hashes are the same MessageParseError (on main: InvalidInput and
/// MessageParseError). Check 16: a hash whose length does not fit the hash
/// algorithm is InvalidAlgorithm (seed §7.1.6; on main: InvalidInput).
#[test]
fn hash_count_is_a_parse_error_and_hash_length_an_invalid_algorithm() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let sad_key = SadKey::new(12);
    let now = b.fw.platform().time();
    let id = key.key_id.to_string();
    let t = |b: &Bench| {
        b.idp.token(
            signer.record.user_id,
            now - 1,
            now + 300,
            Some(&sad_key.spki()),
        )
    };
    let refused = |b: &mut Bench, sad| {
        let r = b.sign(&signer, &key, sad).unwrap_err();
        let audit = r.audit.expect("audited");
        assert_eq!(audit.entry.failure, Some(r.error));
        (r.error, audit.entry.cause)
    };
    let none = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &[]);
    assert_eq!(
        refused(&mut b, none),
        (ErrorType::MessageParseError, Some(Cause::SadHashCount))
    );
    let many = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &hashes(129, 32));
    assert_eq!(
        refused(&mut b, many),
        (ErrorType::MessageParseError, Some(Cause::SadHashCount))
    );
    let short = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &[vec![1; 31]]);
    assert_eq!(
        refused(&mut b, short),
        (ErrorType::InvalidAlgorithm, Some(Cause::HashLengthUnfit))
    );
    let sha512_len = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &hashes(1, 64));
    assert_eq!(
        refused(&mut b, sha512_len),
        (ErrorType::InvalidAlgorithm, Some(Cause::HashLengthUnfit))
    );
    let sad = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &hashes(128, 32));
    assert_eq!(b.sign(&signer, &key, sad).unwrap().signatures.len(), 128);
}

/// Seed §7.1.6: "UserID in the identity token does not match the UserID
/// provided by the credential" is InvalidAuthentication. On main the
/// firmware never saw the container's credential.
#[test]
fn credential_of_another_user_is_invalid_authentication() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    let with_credential = |b: &mut Bench, credential: Credential, seed: u8| {
        let (sad, _) = sad_for(b, &signer, &key.key_id.to_string(), 1, seed);
        b.call(&Signing {
            sad: Blob::from_vec(sad).unwrap(),
            credential: Some(credential),
            signer: Some(signer.clone()),
            wrapped: Some(key.clone()),
        })
    };
    // The Privileged User's valid token with the signer's SAD.
    let other = b.token_credential(&pu);
    let r = with_credential(&mut b, other, 40).unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidAuthentication);
    let audit = r.audit.expect("audited");
    assert_eq!(audit.entry.failure, Some(ErrorType::InvalidAuthentication));
    assert_eq!(audit.entry.cause, Some(Cause::CredentialUserMismatch));
    assert_eq!(audit.entry.actor, Some(signer.record.user_id));
    // A credential that is no identity token, or does not verify: the
    // seed's exempt credential errors, unaudited.
    let mut garbage = b.token_credential(&signer);
    garbage.value = Blob::new(&[0x30, 0x00]).unwrap();
    let r = with_credential(&mut b, garbage, 41).unwrap_err();
    assert_eq!((r.error, r.audit), (ErrorType::AuthenticationError, None));
    let mut technical = b.token_credential(&signer);
    technical.kind = Credential::TECHNICAL_SIGNATURE;
    let r = with_credential(&mut b, technical, 42).unwrap_err();
    assert_eq!((r.error, r.audit), (ErrorType::UnknownCredentialType, None));
    // The signer's own token is accepted with its SAD.
    let own = b.token_credential(&signer);
    let signed = with_credential(&mut b, own, 43).unwrap();
    assert_eq!(signed.audit.entry.failure, None);
}

// ---- the remaining Signing refusals, in the order of the check table ----

/// A bench with a signer, and a SAD builder that lets a test change one
/// thing at a time.
struct SignCase {
    b: Bench,
    signer: sam_proto::records::SealedUserRecord,
    key: sam_proto::records::WrappedKey,
    sad_key: SadKey,
}

impl SignCase {
    fn new() -> Self {
        let (b, _pu, signer, key) = Bench::with_signer();
        Self {
            b,
            signer,
            key,
            sad_key: SadKey::new(20),
        }
    }

    fn token(&self, nb: i64, na: i64) -> Vec<u8> {
        self.b.idp.token(
            self.signer.record.user_id,
            nb,
            na,
            Some(&self.sad_key.spki()),
        )
    }

    fn fresh_token(&self) -> Vec<u8> {
        let now = self.b.fw.platform().time();
        self.token(now - 1, now + 300)
    }

    fn sad_with(&self, token: &[u8], key_id: &str) -> Vec<u8> {
        self.sad_key
            .sad(token, key_id, HashAlgorithm::Sha256, &hashes(1, 32))
    }

    fn sign(&mut self, sad: Vec<u8>) -> ErrorType {
        self.sign_cause(sad).0
    }

    /// The error and the cause its audit record gives.
    fn sign_cause(&mut self, sad: Vec<u8>) -> (ErrorType, Option<Cause>) {
        let (signer, key) = (self.signer.clone(), self.key.clone());
        let r = self.b.sign(&signer, &key, sad).unwrap_err();
        (r.error, r.audit.and_then(|a| a.entry.cause))
    }
}

#[test]
fn tampered_token_signature_is_invalid_authentication() {
    use der::{Decode, Encode};
    let mut c = SignCase::new();
    let mut token = sam_proto::asn1::SignedIdentityToken::from_der(&c.fresh_token()).unwrap();
    let mut sig = token.signature.as_bytes().to_vec();
    let last = sig.len() - 4;
    sig[last] ^= 0x01;
    token.signature = der::asn1::OctetString::new(sig).unwrap();
    let sad = c.sad_with(&token.to_der().unwrap(), &c.key.key_id.to_string());
    assert_eq!(c.sign(sad), ErrorType::InvalidAuthentication);
}

#[test]
fn not_yet_valid_token_is_invalid_authentication() {
    let mut c = SignCase::new();
    let now = c.b.fw.platform().time();
    let sad = c.sad_with(&c.token(now + 60, now + 600), &c.key.key_id.to_string());
    assert_eq!(c.sign(sad), ErrorType::InvalidAuthentication);
}

#[test]
fn missing_signer_record_is_unknown_user_and_tampered_one_authentication_error() {
    let mut c = SignCase::new();
    let sad = c.sad_with(&c.fresh_token(), &c.key.key_id.to_string());
    let r = c.b.call(&Signing {
        sad: Blob::from_vec(sad.clone()).unwrap(),
        credential: None,
        signer: None,
        wrapped: Some(c.key.clone()),
    });
    assert_eq!(r.unwrap_err().error, ErrorType::UnknownUser);
    let mut tampered = c.signer.clone();
    tampered.record.generation = 7;
    let r = c.b.call(&Signing {
        sad: Blob::from_vec(sad).unwrap(),
        credential: None,
        signer: Some(tampered),
        wrapped: Some(c.key.clone()),
    });
    assert_eq!(r.unwrap_err().error, ErrorType::AuthenticationError);
}

#[test]
fn token_of_another_user_is_invalid_authentication() {
    let mut c = SignCase::new();
    // The token names a different user than the record the host supplied.
    let now = c.b.fw.platform().time();
    let other = c.b.new_user_id();
    let token =
        c.b.idp
            .token(other, now - 1, now + 300, Some(&c.sad_key.spki()));
    let sad = c.sad_with(&token, &c.key.key_id.to_string());
    assert_eq!(c.sign(sad), ErrorType::InvalidAuthentication);
}

#[test]
fn idp_not_listed_for_the_signer_is_invalid_authentication() {
    let mut c = SignCase::new();
    // A second IdP that the administrators trust but the signer's record
    // does not list.
    let second = support::pki::Idp::p256(3);
    let first = c.b.idp.cert.clone();
    c.b.set_idp_keys(&[first, second.cert.clone()]).unwrap();
    let now = c.b.fw.platform().time();
    let token = second.token(
        c.signer.record.user_id,
        now - 1,
        now + 300,
        Some(&c.sad_key.spki()),
    );
    let sad = c.sad_with(&token, &c.key.key_id.to_string());
    assert_eq!(c.sign(sad), ErrorType::InvalidAuthentication);
}

#[test]
fn keyid_mismatch_or_garbage_is_not_found() {
    let mut c = SignCase::new();
    let sad = c.sad_with(&c.fresh_token(), "not-a-uuid");
    assert_eq!(c.sign(sad), ErrorType::NotFound);
    let other = c.b.new_user_id().to_string();
    let sad = c.sad_with(&c.fresh_token(), &other);
    assert_eq!(c.sign(sad), ErrorType::NotFound);
}

#[test]
fn unsupported_hash_algorithm_is_invalid_algorithm() {
    use der::Decode;
    let mut c = SignCase::new();
    let tbs = sam_proto::asn1::SadTbs {
        identity_token: sam_proto::asn1::SignedIdentityToken::from_der(&c.fresh_token()).unwrap(),
        key_id: c.key.key_id.to_string(),
        hash_algorithm: spki::AlgorithmIdentifierOwned {
            // SHA-1
            oid: der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
            parameters: None,
        },
        tbs_hash_values: vec![der::asn1::OctetString::new(vec![0u8; 20]).unwrap()],
    };
    let sad = c.sad_key.sign_tbs(tbs);
    assert_eq!(c.sign(sad), ErrorType::InvalidAlgorithm);
}

/// The audit record tells apart the causes that share InvalidAuthentication
/// (rows 2, 3, 4, 9 of the check table), and names the row of the others.
#[test]
fn audit_records_name_the_check_that_refused() {
    use der::{Decode, Encode};
    let mut c = SignCase::new();
    let now = c.b.fw.platform().time();
    let id = c.key.key_id.to_string();
    let sad = c.sad_with(&c.token(now + 60, now + 600), &id);
    assert_eq!(
        c.sign_cause(sad),
        (
            ErrorType::InvalidAuthentication,
            Some(Cause::TokenNotYetValid)
        )
    );
    let sad = c.sad_with(&c.token(now - 600, now - 60), &id);
    assert_eq!(
        c.sign_cause(sad),
        (ErrorType::InvalidAuthentication, Some(Cause::TokenExpired))
    );
    let mut token = sam_proto::asn1::SignedIdentityToken::from_der(&c.fresh_token()).unwrap();
    let mut sig = token.signature.as_bytes().to_vec();
    let last = sig.len() - 4;
    sig[last] ^= 0x01;
    token.signature = der::asn1::OctetString::new(sig).unwrap();
    let sad = c.sad_with(&token.to_der().unwrap(), &id);
    assert_eq!(
        c.sign_cause(sad),
        (
            ErrorType::InvalidAuthentication,
            Some(Cause::TokenBadSignature)
        )
    );
    let plain =
        c.b.idp
            .token(c.signer.record.user_id, now - 1, now + 300, None);
    let sad = c.sad_with(&plain, &id);
    assert_eq!(
        c.sign_cause(sad),
        (
            ErrorType::InvalidAuthentication,
            Some(Cause::TokenNotForSigning)
        )
    );
    c.b.idp.level = sam_proto::asn1::IdentificationLevel::Low;
    let sad = c.sad_with(&c.fresh_token(), &id);
    assert_eq!(
        c.sign_cause(sad),
        (
            ErrorType::InvalidAuthentication,
            Some(Cause::TokenLevelTooLow)
        )
    );
    c.b.idp.level = sam_proto::asn1::IdentificationLevel::High;
    let other = c.b.new_user_id().to_string();
    let sad = c.sad_with(&c.fresh_token(), &other);
    assert_eq!(
        c.sign_cause(sad),
        (ErrorType::NotFound, Some(Cause::SadKeyNotFound))
    );
    let signature_of_another_key =
        SadKey::new(21).sad(&c.fresh_token(), &id, HashAlgorithm::Sha256, &hashes(1, 32));
    assert_eq!(
        c.sign_cause(signature_of_another_key),
        (ErrorType::InvalidSignature, Some(Cause::SadSignature))
    );
}

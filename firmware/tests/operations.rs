//! The firmware's operations end to end through the C-ABI entry: the usage
//! scenarios of seed §3 and one negative test per error type the firmware
//! can give. (ContainerParseError belongs to the host's JSON container and
//! is tested there.)
//!
//! Usage scenarios: US1 `us1_privileged_user_creates_a_privileged_user`,
//! US2 `technical_user_creates_signers_by_signature` and every
//! `Bench::with_signer`, US3 `signer_maintenance_rules`, US4
//! `every_key_algorithm_signs_and_rsa_signs_every_hash`,
//! `attestation_covers_the_new_key`,
//! `certification_request_only_for_the_wrapped_key`, US5
//! `delete_unknown_key_is_not_found`, US6
//! `full_story_init_users_keys_and_batch_signing`, US7
//! `dual_control_needs_two_distinct_administrators`,
//! `audit_chain_verifies_and_tampering_is_found`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use sam_firmware::Firmware;
use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_firmware::ops::attestation_digest;
use sam_firmware::testing::TestPlatform;
use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::command::*;
use sam_proto::frame::encode_body;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, Role};
use support::pki::{SadKey, sha256};
use support::{Bench, blobs};

fn hashes(n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            sha256(&[&i.to_be_bytes()])[..len.min(32)]
                .iter()
                .copied()
                .chain(std::iter::repeat_n(7u8, len.saturating_sub(32)))
                .collect()
        })
        .collect()
}

/// A SAD for `n` SHA-256 hashes with a fresh token for `signer`.
fn sad_for(
    b: &Bench,
    signer: &sam_proto::records::SealedUserRecord,
    key_id: &str,
    n: usize,
    seed: u8,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let sad_key = SadKey::new(seed);
    let now = b.fw.platform().time();
    let token = b.idp.token(
        signer.record.user_id,
        now - 1,
        now + 300,
        Some(&sad_key.spki()),
    );
    let hs = hashes(n, 32);
    (sad_key.sad(&token, key_id, HashAlgorithm::Sha256, &hs), hs)
}

fn verify_all(spki: &[u8], hash: HashAlgorithm, hashes: &[Vec<u8>], signed: &Signed) {
    assert_eq!(signed.signatures.len(), hashes.len());
    for (h, s) in hashes.iter().zip(signed.signatures.iter()) {
        Portable
            .verify(spki, hash, h, s)
            .expect("signature verifies with the public key");
    }
}

#[test]
fn full_story_init_users_keys_and_batch_signing() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    assert_eq!(b.status().state, FirmwareState::Operational);
    let (sad, hs) = sad_for(&b, &signer, &key.key_id.to_string(), 5, 1);
    let signed = b.sign(&signer, &key, sad).expect("signing");
    verify_all(&key.public_key, HashAlgorithm::Sha256, &hs, &signed);
    assert_eq!(signed.audit.entry.action, SubFunction::Signing);
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
        let key = b.generate(&signer, None, alg).unwrap().wrapped;
        assert_eq!(key.algorithm, alg);
        let sad_key = SadKey::new(9);
        let now = b.fw.platform().time();
        let token = b.idp.token(
            signer.record.user_id,
            now - 1,
            now + 300,
            Some(&sad_key.spki()),
        );
        let hs = hashes(3, hash.output_len());
        let sad = sad_key.sad(&token, &key.key_id.to_string(), hash, &hs);
        let signed = b
            .sign(&signer, &key, sad)
            .unwrap_or_else(|e| panic!("{alg:?}: {e:?}"));
        verify_all(&key.public_key, hash, &hs, &signed);
        b.fw.platform().advance(1);
    }
}

#[test]
fn attestation_covers_the_new_key() {
    let (mut b, _pu, signer, _) = Bench::with_signer();
    let r = b.generate(&signer, None, KeyAlgorithm::EcP256).unwrap();
    let status = b.status();
    let point = status.attestation_key.unwrap();
    let spki = sam_firmware::state::admin_spki(&point);
    let digest = attestation_digest(&Portable, &r.wrapped).unwrap();
    Portable
        .verify(&spki, HashAlgorithm::Sha256, &digest, &r.attestation)
        .unwrap();
    let mut other = r.wrapped.clone();
    other.user_id = _pu.record.user_id;
    let digest = attestation_digest(&Portable, &other).unwrap();
    assert!(
        Portable
            .verify(&spki, HashAlgorithm::Sha256, &digest, &r.attestation)
            .is_err()
    );
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
    let now = b.fw.platform().time();
    let token = b.idp.token(
        signer.record.user_id,
        now - 1,
        now + 300,
        Some(&sad_key.spki()),
    );
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
        signer: Some(signer.clone()),
        wrapped: None,
    });
    assert_eq!(r.unwrap_err().error, ErrorType::NotFound);
    b.sign(&signer, &key, sad).unwrap();
}

// ---- one test per error type -------------------------------------------

#[test]
fn unknown_sub_function_is_unknown_message_type() {
    let b = Bench::ready();
    let (status, _) = b.raw(0x7777, &[]);
    assert_eq!(status, u32::from(ErrorType::UnknownMessageType.code()));
}

#[test]
fn undecodable_body_is_message_parse_error_and_audited() {
    let mut b = Bench::ready();
    let (status, body) = b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff, 0xff]);
    assert_eq!(status, u32::from(ErrorType::MessageParseError.code()));
    let ea: ErrorAnswer = sam_proto::frame::decode_exact(&body, ErrorAnswer::MAX_SIZE).unwrap();
    assert_eq!(
        ea.audit.unwrap().entry.failure,
        Some(ErrorType::MessageParseError)
    );
    // Trailing bytes after a valid request are refused too.
    let mut ok = encode_body(&GetStatus).unwrap();
    ok.push(0);
    assert_eq!(
        b.raw(SubFunction::GetStatus.code(), &ok).0,
        u32::from(ErrorType::MessageParseError.code())
    );
    let _ = b.status();
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
fn unknown_credential_kind_is_refused_unaudited() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let mut auth = b.token_auth(&pu);
    auth.credential.kind = 99;
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(&[b.idp.cert.clone()]),
    };
    let r = b.refused(&CreateSigner { auth, user });
    assert_eq!(r.error, ErrorType::UnknownCredentialType);
    assert!(r.audit.is_none());
}

#[test]
fn bad_token_or_tampered_record_is_authentication_error() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(&[b.idp.cert.clone()]),
    };
    // A token signed by an IdP the firmware does not trust.
    let mut auth = b.token_auth(&pu);
    let rogue = support::pki::Idp::p256(9);
    let now = b.fw.platform().time();
    auth.credential.value =
        Blob::from_vec(rogue.token(pu.record.user_id, now - 1, now + 60, None)).unwrap();
    let r = b.refused(&CreateSigner {
        auth,
        user: user.clone(),
    });
    assert_eq!(r.error, ErrorType::AuthenticationError);
    assert!(r.audit.is_none());
    // The actor's record edited by the host: role raised to... itself, but the tag breaks.
    let mut auth = b.token_auth(&pu);
    let rec = auth.actor.as_mut().unwrap();
    rec.record.generation += 1;
    let r = b.refused(&CreateSigner { auth, user });
    assert_eq!(r.error, ErrorType::AuthenticationError);
}

#[test]
fn missing_or_foreign_record_is_unknown_user() {
    let (mut b, pu, signer, _) = Bench::with_signer();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(&[b.idp.cert.clone()]),
    };
    let mut auth = b.token_auth(&pu);
    auth.actor = None;
    assert_eq!(
        b.refused(&CreateSigner {
            auth,
            user: user.clone()
        })
        .error,
        ErrorType::UnknownUser
    );
    // The token of the PU with the record of the signer.
    let mut auth = b.token_auth(&pu);
    auth.actor = Some(signer);
    let r = b.refused(&CreateSigner { auth, user });
    assert_eq!(r.error, ErrorType::UnknownUser);
    assert!(r.audit.is_none());
}

#[test]
fn signer_may_not_create_users_not_authorized_is_audited() {
    let (mut b, _pu, signer, _) = Bench::with_signer();
    let r = b.create_signer(&signer).unwrap_err();
    assert_eq!(r.error, ErrorType::NotAuthorized);
    let audit = r.audit.unwrap();
    assert_eq!(audit.entry.actor, Some(signer.record.user_id));
    assert_eq!(audit.entry.failure, Some(ErrorType::NotAuthorized));
}

#[test]
fn uninitialized_firmware_is_not_operational() {
    let mut b = Bench::new();
    assert_eq!(b.status().state, FirmwareState::Uninitialized);
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: List::default(),
    };
    let auth = Authentication {
        credential: Credential {
            kind: Credential::IDENTITY_TOKEN,
            value: Blob::default(),
        },
        actor: None,
    };
    assert_eq!(
        b.refused(&CreateSigner { auth, user }).error,
        ErrorType::NotOperational
    );
}

#[test]
fn failing_rng_gives_not_operational() {
    let (mut b, pu, _, _) = Bench::with_signer();
    b.fw.platform()
        .fail_random
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let r = b.generate(&pu, None, KeyAlgorithm::EcP256);
    // The PU is not a signer, so the target check fails first; use a signer.
    assert!(r.is_err());
    let (mut b, _pu, signer, _) = Bench::with_signer();
    b.fw.platform()
        .fail_random
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        b.generate(&signer, None, KeyAlgorithm::EcP256)
            .unwrap_err()
            .error,
        ErrorType::NotOperational
    );
}

#[test]
fn answer_buffer_too_small_is_unexpected_error() {
    let b = Bench::ready();
    let body = encode_body(&GetStatus).unwrap();
    let mut answer = [0u8; 4];
    let (status, len) =
        sam_firmware::abi::serve_into(&b.fw, SubFunction::GetStatus.code(), &body, &mut answer);
    assert_eq!(status, sam_firmware::abi::STATUS_ABI_ERROR);
    assert_eq!(
        status & 0xffff,
        u32::from(ErrorType::UnexpectedError.code())
    );
    assert_eq!(len, 0);
    // The raw entry refuses null pointers before touching anything.
    let mut n = 7usize;
    #[allow(unsafe_code)]
    // SAFETY: null request pointer is the case under test; the others are valid.
    let status = unsafe {
        sam_firmware::abi::sam_command(
            &b.fw,
            1,
            std::ptr::null(),
            0,
            answer.as_mut_ptr(),
            answer.len(),
            &mut n,
        )
    };
    assert_eq!(status, sam_firmware::abi::STATUS_ABI_ERROR);
    assert_eq!(n, 7);
}

#[test]
fn empty_certificate_set_is_invalid_input() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: List::default(),
    };
    let r = b.refused(&CreateSigner {
        auth: b.token_auth(&pu),
        user,
    });
    assert_eq!(r.error, ErrorType::InvalidInput);
    assert_eq!(
        r.audit.unwrap().entry.failure,
        Some(ErrorType::InvalidInput)
    );
}

#[test]
fn delete_unknown_key_is_not_found() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let r = b.refused(&DeleteKeyPair {
        auth: b.token_auth(&signer),
        key_id: key.key_id,
        wrapped: None,
    });
    assert_eq!(r.error, ErrorType::NotFound);
    b.call(&DeleteKeyPair {
        auth: b.token_auth(&signer),
        key_id: key.key_id,
        wrapped: Some(key),
    })
    .unwrap();
}

#[test]
fn wrong_hash_for_key_is_invalid_algorithm() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let sad_key = SadKey::new(4);
    let now = b.fw.platform().time();
    let token = b.idp.token(
        signer.record.user_id,
        now - 1,
        now + 300,
        Some(&sad_key.spki()),
    );
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
    let now = b.fw.platform().time();
    let token = b.idp.token(
        signer.record.user_id,
        now - 1,
        now + 300,
        Some(&bound.spki()),
    );
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

// ---- authorization rules -----------------------------------------------

#[test]
fn signer_cannot_use_or_delete_another_signers_key() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    let other = b.create_signer(&pu).unwrap();
    let (sad, _) = sad_for(&b, &other, &key.key_id.to_string(), 1, 8);
    assert_eq!(
        b.sign(&other, &key, sad).unwrap_err().error,
        ErrorType::NotAuthorized
    );
    let r = b.refused(&DeleteKeyPair {
        auth: b.token_auth(&other),
        key_id: key.key_id,
        wrapped: Some(key.clone()),
    });
    assert_eq!(r.error, ErrorType::NotAuthorized);
    // The privileged user may delete it.
    b.call(&DeleteKeyPair {
        auth: b.token_auth(&pu),
        key_id: key.key_id,
        wrapped: Some(key),
    })
    .unwrap();
    let _ = signer;
}

#[test]
fn wrapped_key_bound_to_its_owner_and_id() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    let other = b.create_signer(&pu).unwrap();
    // The host relabels the key as the other signer's: the AEAD breaks.
    let mut stolen = key.clone();
    stolen.user_id = other.record.user_id;
    let (sad, _) = sad_for(&b, &other, &key.key_id.to_string(), 1, 9);
    assert_eq!(
        b.sign(&other, &stolen, sad).unwrap_err().error,
        ErrorType::InvalidInput
    );
    // A flipped ciphertext byte too.
    let mut flipped = key.clone();
    let mut ct = flipped.sealed.to_vec();
    ct[3] ^= 1;
    flipped.sealed = Blob::from_vec(ct).unwrap();
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 10);
    assert_eq!(
        b.sign(&signer, &flipped, sad).unwrap_err().error,
        ErrorType::InvalidInput
    );
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

#[test]
fn hash_count_and_length_are_checked() {
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
    let sad = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &[]);
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::InvalidInput
    );
    let sad = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &[vec![1; 31]]);
    assert_eq!(
        b.sign(&signer, &key, sad).unwrap_err().error,
        ErrorType::InvalidInput
    );
    let sad = sad_key.sad(&t(&b), &id, HashAlgorithm::Sha256, &hashes(128, 32));
    assert_eq!(b.sign(&signer, &key, sad).unwrap().signatures.len(), 128);
}

#[test]
fn signer_maintenance_rules() {
    let (mut b, pu, signer, _) = Bench::with_signer();
    let new_idp = support::pki::Idp::p256(2);
    b.set_idp_keys(&[b.idp.cert.clone(), new_idp.cert.clone()])
        .unwrap();
    // Self-modification must keep the certificate in use.
    let req = SignerMaintenance {
        auth: b.token_auth(&signer),
        target: None,
        certificates: blobs(std::slice::from_ref(&new_idp.cert)),
    };
    assert_eq!(b.refused(&req).error, ErrorType::InvalidInput);
    let req = SignerMaintenance {
        auth: b.token_auth(&signer),
        target: None,
        certificates: blobs(&[b.idp.cert.clone(), new_idp.cert.clone()]),
    };
    let updated = b.call(&req).unwrap().record;
    assert_eq!(updated.record.generation, 1);
    assert_eq!(updated.record.idp_certs.len(), 2);
    assert_eq!(updated.record.role, Role::Signer);
    // A signer may not change another user.
    let other = b.create_signer(&pu).unwrap();
    let req = SignerMaintenance {
        auth: b.token_auth(&updated),
        target: Some(other.clone()),
        certificates: blobs(std::slice::from_ref(&new_idp.cert)),
    };
    assert_eq!(b.refused(&req).error, ErrorType::NotAuthorized);
    // The privileged user may roll the signer over to the new IdP only.
    let req = SignerMaintenance {
        auth: b.token_auth(&pu),
        target: Some(other),
        certificates: blobs(std::slice::from_ref(&new_idp.cert)),
    };
    let rolled = b.call(&req).unwrap().record;
    // The old IdP's tokens no longer authenticate that signer.
    let r = b.refused(&GenerateKeyPair {
        auth: b.token_auth(&rolled),
        target: None,
        algorithm: KeyAlgorithm::EcP256,
    });
    assert_eq!(r.error, ErrorType::AuthenticationError);
}

#[test]
fn dual_control_needs_two_distinct_administrators() {
    let mut b = Bench::new();
    let params = InitParams {
        admins: List::from_vec(b.admins.iter().map(|a| a.point()).collect()).unwrap(),
    };
    let approvals = b.approve(SubFunction::InitFirmware, &params, &[0, 0]);
    assert_eq!(
        b.refused(&InitFirmware {
            params: params.clone(),
            approvals
        })
        .error,
        ErrorType::NotAuthorized
    );
    let approvals = b.approve(SubFunction::InitFirmware, &params, &[0]);
    assert_eq!(
        b.refused(&InitFirmware {
            params: params.clone(),
            approvals
        })
        .error,
        ErrorType::NotAuthorized
    );
    // Approvals for other parameters do not count.
    let other = InitParams {
        admins: List::from_vec(vec![b.admins[1].point(), b.admins[0].point()]).unwrap(),
    };
    let mut approvals = b.approve(SubFunction::InitFirmware, &other, &[0, 1]);
    assert_eq!(
        b.refused(&InitFirmware {
            params: params.clone(),
            approvals: approvals.clone()
        })
        .error,
        ErrorType::NotAuthorized
    );
    // A used challenge does not count again.
    approvals.challenge = [0; 32];
    assert_eq!(
        b.refused(&InitFirmware { params, approvals }).error,
        ErrorType::NotAuthorized
    );
    b.init().unwrap();
    // Re-initialization is refused and audited.
    let r = b.init().unwrap_err();
    assert_eq!(r.error, ErrorType::NotAuthorized);
    assert!(r.audit.is_some());
}

#[test]
fn technical_user_creates_signers_by_signature() {
    let (mut b, pu, _, _) = Bench::with_signer();
    // A self-signed certificate stands for the technical user's own.
    let tech_idp = support::pki::Idp::p256(5);
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: List::default(),
    };
    let req = CreatePrivilegedUser {
        auth: b.token_auth(&pu),
        user,
        technical_certificate: Some(Blob::new(&tech_idp.cert).unwrap()),
    };
    let tech = b.call(&req).unwrap().record;
    assert_eq!(tech.record.role, Role::PrivilegedUserTechnical);
    // It signs CreateSigner's parameters under a fresh challenge.
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(&[b.idp.cert.clone()]),
    };
    let challenge = b.challenge();
    let params = postcard::to_allocvec(&user).unwrap();
    let digest = sam_firmware::auth::technical_digest(
        &Portable,
        SubFunction::CreateSigner,
        &challenge,
        &params,
    );
    let sig = support::pki::sign_prehash(tech_idp.p256_key(), &digest);
    let ts = TechnicalSignature {
        challenge,
        signature: Blob::from_vec(sig).unwrap(),
    };
    let auth = Authentication {
        credential: Credential {
            kind: Credential::TECHNICAL_SIGNATURE,
            value: Blob::from_vec(postcard::to_allocvec(&ts).unwrap()).unwrap(),
        },
        actor: Some(tech.clone()),
    };
    let created = b
        .call(&CreateSigner {
            auth: auth.clone(),
            user: user.clone(),
        })
        .unwrap();
    assert_eq!(created.record.record.role, Role::Signer);
    assert_eq!(created.audit.entry.actor, Some(tech.record.user_id));
    // The same signature again: the challenge is spent.
    assert_eq!(
        b.refused(&CreateSigner { auth, user }).error,
        ErrorType::AuthenticationError
    );
}

#[test]
fn certification_request_only_for_the_wrapped_key() {
    use der::{Decode, Encode};
    use x509_cert::request::{CertReq, CertReqInfo, Version};
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let info = CertReqInfo {
        version: Version::V1,
        subject: std::str::FromStr::from_str("CN=Signer,O=SAM Development,C=DE").unwrap(),
        public_key: spki::SubjectPublicKeyInfoOwned::from_der(&key.public_key).unwrap(),
        attributes: Default::default(),
    };
    let req = SignCertificationRequest {
        auth: b.token_auth(&signer),
        wrapped: key.clone(),
        request_info: Blob::from_vec(info.to_der().unwrap()).unwrap(),
    };
    let csr = b.call(&req).unwrap().csr;
    let parsed = CertReq::from_der(&csr).unwrap();
    let digest = sha256(&[&parsed.info.to_der().unwrap()]);
    Portable
        .verify(
            &key.public_key,
            HashAlgorithm::Sha256,
            &digest,
            parsed.signature.raw_bytes(),
        )
        .unwrap();
    // Another key in the request info: refused.
    let other = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    let swapped = CertReqInfo {
        public_key: spki::SubjectPublicKeyInfoOwned::from_der(&other.public_key).unwrap(),
        ..info
    };
    let req = SignCertificationRequest {
        auth: b.token_auth(&signer),
        wrapped: key,
        request_info: Blob::from_vec(swapped.to_der().unwrap()).unwrap(),
    };
    assert_eq!(b.refused(&req).error, ErrorType::InvalidInput);
}

#[test]
fn audit_chain_verifies_and_tampering_is_found() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 13);
    b.sign(&signer, &key, sad).unwrap();
    let records = b.audit.clone();
    assert!(records.len() >= 6);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.entry.seq, i as u64, "records are contiguous");
    }
    let check = |b: &mut Bench, audit: Vec<_>| {
        b.call(&VerifyDataIntegrity {
            users: List::from_vec(vec![signer.clone()]).unwrap(),
            keys: List::from_vec(vec![key.clone()]).unwrap(),
            audit: List::from_vec(audit).unwrap(),
            cursor: None,
        })
        .unwrap()
    };
    let report = check(&mut b, records.clone());
    assert!(report.bad_users.is_empty() && report.bad_keys.is_empty());
    assert_eq!(report.audit_break, None);
    assert!(report.audit_complete);
    // An edited record.
    let mut edited = records.clone();
    edited[2].entry.failure = Some(ErrorType::NotAuthorized);
    assert_eq!(check(&mut b, edited).audit_break, Some(2));
    // A removed record.
    let mut removed = records.clone();
    removed.remove(3);
    assert_eq!(check(&mut b, removed).audit_break, Some(3));
    // A tail cut at a record boundary, k = 1..=3: every remaining record
    // good, but the trail is not complete.
    for k in 1..=3 {
        let cut = records[..records.len() - k].to_vec();
        let report = check(&mut b, cut);
        assert_eq!(report.audit_break, None, "k = {k}");
        assert!(!report.audit_complete, "k = {k}");
    }
}

#[test]
fn counters_survive_restart_and_chain_continues() {
    let (mut b, _pu, _signer, _key) = Bench::with_signer();
    let before = b.status();
    b.fw = Firmware::boot(b.fw.platform().restarted());
    let after = b.status();
    assert_eq!(after.boot, before.boot + 1);
    assert_eq!(after.next_audit_seq, before.next_audit_seq);
    assert_eq!(after.audit_head, before.audit_head);
    assert_eq!(after.attestation_key, before.attestation_key);
}

#[test]
fn corrupted_storage_fails_safe() {
    let b = Bench::ready();
    b.fw.platform()
        .put_slot(sam_firmware::platform::Slot::Counters, &[1, 2, 3]);
    let mut b2 = Bench {
        fw: Firmware::boot(b.fw.platform().restarted()),
        ..Bench::new()
    };
    assert_eq!(b2.status().state, FirmwareState::Failed);
    let (status, _) = b2.raw(
        SubFunction::GetChallenge.code(),
        &encode_body(&GetChallenge).unwrap(),
    );
    assert_eq!(status, u32::from(ErrorType::NotOperational.code()));
    let _ = TestPlatform::new(0);
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
        let (signer, key) = (self.signer.clone(), self.key.clone());
        self.b.sign(&signer, &key, sad).unwrap_err().error
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
        signer: None,
        wrapped: Some(c.key.clone()),
    });
    assert_eq!(r.unwrap_err().error, ErrorType::UnknownUser);
    let mut tampered = c.signer.clone();
    tampered.record.generation = 7;
    let r = c.b.call(&Signing {
        sad: Blob::from_vec(sad).unwrap(),
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

#[test]
fn oversize_request_is_message_parse_error() {
    let b = Bench::ready();
    let body = vec![0u8; Signing::MAX_SIZE + 1];
    let (status, _) = b.raw(SubFunction::Signing.code(), &body);
    assert_eq!(status, u32::from(ErrorType::MessageParseError.code()));
}

#[test]
fn us1_privileged_user_creates_a_privileged_user() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(std::slice::from_ref(&b.idp.cert)),
    };
    let req = CreatePrivilegedUser {
        auth: b.token_auth(&pu),
        user: user.clone(),
        technical_certificate: None,
    };
    let issued = b.call(&req).unwrap();
    assert_eq!(issued.record.record.role, Role::PrivilegedUser);
    assert_eq!(issued.record.record.user_id, user.user_id);
    assert_eq!(issued.audit.entry.actor, Some(pu.record.user_id));
    assert_eq!(issued.audit.entry.target_user, Some(user.user_id));
    // The new privileged user acts at once: it creates a signer.
    b.create_signer(&issued.record).unwrap();
    // A signer may not create privileged users.
    let (mut b2, _, signer, _) = Bench::with_signer();
    let req = CreatePrivilegedUser {
        auth: b2.token_auth(&signer),
        user,
        technical_certificate: None,
    };
    assert_eq!(b2.refused(&req).error, ErrorType::NotAuthorized);
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
    let signer = b
        .call(&CreateSigner {
            auth: b.token_auth(&pu),
            user,
        })
        .unwrap()
        .record;
    b.idp = rsa;
    let key = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    b.fw.platform().advance(2);
    let (sad, hs) = sad_for(&b, &signer, &key.key_id.to_string(), 2, 30);
    let signed = b.sign(&signer, &key, sad).unwrap();
    verify_all(&key.public_key, HashAlgorithm::Sha256, &hs, &signed);
}

#[test]
fn development_idp_certificates_are_accepted_by_openssl() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("openssl not installed; ci/install-deps.sh installs it");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sam-idp-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let idps = [
        ("p256", support::pki::Idp::p256(1)),
        ("rsa", support::pki::Idp::rsa2048(1)),
    ];
    for (name, idp) in idps {
        let der = dir.join(format!("{name}.der"));
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&der, &idp.cert).unwrap();
        let conv = std::process::Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&der)
            .arg("-out")
            .arg(&pem)
            .status()
            .unwrap();
        assert!(
            conv.success(),
            "{name}: openssl cannot read the certificate"
        );
        // Self-signed: it verifies against itself, signature included.
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&pem)
            .arg(&pem)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_answer_without_its_audit_record() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let before = b.status();
    b.fw.platform()
        .fail_store
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // A refusal that cannot be audited is NotOperational...
    let (status, _) = b.raw(SubFunction::CreateSigner.code(), &[0xff, 0xff]);
    assert_eq!(status, u32::from(ErrorType::NotOperational.code()));
    // ...and the firmware stops (fail-stop) until a restart.
    assert_eq!(b.status().state, FirmwareState::Failed);
    let r = b.create_signer(&pu).unwrap_err();
    assert_eq!(r.error, ErrorType::NotOperational);
    assert!(r.audit.is_none());
    // After the restart it resumes from the last durable counters: the
    // record that was never answered is not skipped, the chain goes on.
    b.fw = Firmware::boot(b.fw.platform().restarted());
    let after = b.status();
    assert_eq!(after.state, FirmwareState::Operational);
    assert_eq!(after.next_audit_seq, before.next_audit_seq);
    b.create_signer(&pu).unwrap();
    let report = b
        .call(&VerifyDataIntegrity {
            users: List::default(),
            keys: List::default(),
            audit: List::from_vec(b.audit.clone()).unwrap(),
            cursor: None,
        })
        .unwrap();
    assert_eq!(report.audit_break, None);
    assert!(report.audit_complete);
}

#[test]
fn parallel_operations_share_counter_writes_and_keep_the_chain() {
    let (mut b, pu, _, _) = Bench::with_signer();
    // Eight threads create signers at once through the same firmware.
    let reqs: Vec<CreateSigner> = (0..8)
        .map(|_| CreateSigner {
            auth: b.token_auth(&pu),
            user: NewUser {
                user_id: b.new_user_id(),
                certificates: blobs(std::slice::from_ref(&b.idp.cert)),
            },
        })
        .collect();
    let records: Vec<sam_proto::records::AuditRecord> = std::thread::scope(|s| {
        let handles: Vec<_> = reqs
            .iter()
            .map(|req| {
                let b = &b;
                s.spawn(move || {
                    let body = encode_body(req).unwrap();
                    let (status, answer) = b.raw(SubFunction::CreateSigner.code(), &body);
                    assert_eq!(status, 0);
                    let issued: UserIssued =
                        sam_proto::frame::decode_exact(&answer, usize::MAX).unwrap();
                    issued.audit
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all = b.audit.clone();
    let mut new = records;
    new.sort_by_key(|r| r.entry.seq);
    all.extend(new);
    let report = b
        .call(&VerifyDataIntegrity {
            users: List::default(),
            keys: List::default(),
            audit: List::from_vec(all).unwrap(),
            cursor: None,
        })
        .unwrap();
    assert_eq!(report.audit_break, None);
    assert!(report.audit_complete);
}

// ---- the audit outbox (SyncAudit) ----------------------------------------

fn fetch_all(b: &mut Bench, from: u64) -> Vec<sam_proto::records::AuditRecord> {
    let mut out = Vec::new();
    let mut from = from;
    loop {
        let o = b
            .call(&SyncAudit {
                stored: List::default(),
                fetch_from: Some(from),
            })
            .unwrap();
        out.extend(o.records.iter().cloned());
        match o.records.last() {
            Some(last) if o.more => from = last.entry.seq + 1,
            _ => return out,
        }
    }
}

fn integrity_of(b: &mut Bench, audit: Vec<sam_proto::records::AuditRecord>) -> IntegrityReport {
    let mut cursor = None;
    let mut last = None;
    for chunk in audit.chunks(MAX_AUDIT_BATCH) {
        let report = b
            .call(&VerifyDataIntegrity {
                users: List::default(),
                keys: List::default(),
                audit: List::from_vec(chunk.to_vec()).unwrap(),
                cursor,
            })
            .unwrap();
        assert_eq!(report.audit_break, None);
        cursor = Some(report.cursor.clone());
        last = Some(report);
    }
    last.unwrap()
}

#[test]
fn records_a_crashed_host_never_stored_are_recovered_from_the_outbox() {
    let (mut b, pu, _, _) = Bench::with_signer();
    // A host that stored everything so far acknowledges it.
    let stored: Vec<u64> = b.audit.iter().map(|r| r.entry.seq).collect();
    for chunk in stored.chunks(MAX_OUTBOX_BATCH) {
        let o = b
            .call(&SyncAudit {
                stored: List::from_vec(chunk.to_vec()).unwrap(),
                fetch_from: None,
            })
            .unwrap();
        assert!(o.records.is_empty(), "acknowledging only fetches nothing");
    }
    assert_eq!(fetch_all(&mut b, 0), vec![], "everything acknowledged");
    let kept_before = b.audit.clone();
    // Three more operations whose answers the host never stores (it
    // crashed), then the firmware restarts too.
    for _ in 0..3 {
        b.create_signer(&pu).unwrap();
    }
    let lost: Vec<_> = b.audit[kept_before.len()..].to_vec();
    assert_eq!(lost.len(), 3);
    b.fw = Firmware::boot(b.fw.platform().restarted());
    // Without the lost records the trail is incomplete...
    assert!(!integrity_of(&mut b, kept_before.clone()).audit_complete);
    // ...the outbox still has exactly them, MACs included...
    let recovered = fetch_all(&mut b, 0);
    assert_eq!(recovered, lost);
    // ...and with them it is complete again.
    let mut all = kept_before;
    all.extend(recovered.iter().cloned());
    assert!(integrity_of(&mut b, all).audit_complete);
    // Acknowledged records are forgotten; a fetch from a later seq
    // returns only the later ones.
    let o = b
        .call(&SyncAudit {
            stored: List::from_vec(vec![recovered[0].entry.seq]).unwrap(),
            fetch_from: Some(recovered[2].entry.seq),
        })
        .unwrap();
    assert_eq!(o.records.to_vec(), vec![recovered[2].clone()]);
    assert_eq!(o.kept, 2);
    assert!(!o.more);
    assert_eq!(o.next_seq, b.status().next_audit_seq);
}

#[test]
fn the_outbox_answers_in_batches_and_needs_an_initialized_firmware() {
    let mut fresh = Bench::new();
    let r = fresh.refused(&SyncAudit {
        stored: List::default(),
        fetch_from: Some(0),
    });
    assert_eq!(r.error, ErrorType::NotOperational);
    let (mut b, pu, _, _) = Bench::with_signer();
    while b.audit.len() <= MAX_OUTBOX_BATCH {
        b.create_signer(&pu).unwrap();
    }
    let first = b
        .call(&SyncAudit {
            stored: List::default(),
            fetch_from: Some(0),
        })
        .unwrap();
    assert_eq!(first.records.len(), MAX_OUTBOX_BATCH);
    assert!(first.more);
    assert_eq!(fetch_all(&mut b, 0), b.audit);
}

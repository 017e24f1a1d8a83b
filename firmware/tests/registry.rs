//! The firmware's registry of live users and keys, the key lifecycle it
//! decides (PRE_ACTIVE → ACTIVE with a checked certificate → deleted), and
//! the policy set under dual control. Every attack here is one a
//! compromised host can mount with material the firmware once issued: a
//! retained copy of a deleted key, an older MAC-valid user record, a
//! repeated UserID, a key without a certificate, a certificate the firmware
//! should not believe, a token longer-lived than allowed.
// The helpers below fail their test by panicking; they return the bench's
// refusals as they are.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::result_large_err
)]

mod support;

use sam_firmware::Firmware;
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::command::*;
use sam_proto::ids::KeyAlgorithm;
use sam_proto::records::{SealedUserRecord, WrappedKey};
use support::pki::{KeyUsage, KeyUsages, SigningCa, unsigned};
use support::{Bench, blobs, sad_for};

/// The firmware rebooted on the same platform state (storage, clock,
/// capacity), tokens issued after the boot.
fn restart(b: &mut Bench) {
    b.fw = Firmware::boot(b.fw.platform().restarted());
    b.fw.platform().advance(5);
}

fn sign_once(b: &mut Bench, signer: &SealedUserRecord, key: &WrappedKey, seed: u8) -> ErrorType {
    let (sad, _) = sad_for(b, signer, &key.key_id.to_string(), 1, seed);
    match b.sign(signer, key, sad) {
        Ok(_) => panic!("signing succeeded"),
        Err(r) => {
            // AuthenticationError is one of the seed's unaudited four.
            if r.error.is_audited() {
                let audit = r.audit.expect("a refused signing is audited");
                assert_eq!(audit.entry.failure, Some(r.error));
            } else {
                assert!(r.audit.is_none());
            }
            r.error
        }
    }
}

fn delete(b: &mut Bench, by: &SealedUserRecord, key: &WrappedKey) -> Reply<Audited> {
    let req = b.signed(
        by,
        DeleteKeyPair {
            auth: unsigned(),
            key_id: key.key_id,
            wrapped: Some(key.clone()),
        },
    );
    b.call(&req)
}

fn maintain(
    b: &mut Bench,
    by: &SealedUserRecord,
    target: Option<&SealedUserRecord>,
    certs: &[Vec<u8>],
) -> Reply<UserIssued> {
    let req = b.signed(
        by,
        SignerMaintenance {
            auth: unsigned(),
            target: target.cloned(),
            certificates: blobs(certs),
        },
    );
    b.call(&req)
}

use support::Reply;

#[test]
fn a_retained_copy_of_a_deleted_key_is_not_found() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 1);
    b.sign(&signer, &key, sad).expect("the live key signs");
    delete(&mut b, &pu, &key).expect("delete");
    // The host "deleted" the wrapped key but kept a copy: it still opens
    // (its AEAD tag is valid), yet the firmware has forgotten the key.
    assert_eq!(sign_once(&mut b, &signer, &key, 2), ErrorType::NotFound);
    let again = delete(&mut b, &pu, &key).unwrap_err();
    assert_eq!(again.error, ErrorType::NotFound);
    assert_eq!(
        again.audit.unwrap().entry.failure,
        Some(ErrorType::NotFound)
    );
    let cert = b.ca.issue_now(&key.public_key, b.fw.platform().time());
    let r = b.register_certificate(&pu, &key, &cert).unwrap_err();
    assert_eq!(r.error, ErrorType::NotFound);
    // And it stays forgotten across a restart.
    restart(&mut b);
    assert_eq!(sign_once(&mut b, &signer, &key, 3), ErrorType::NotFound);
}

#[test]
fn a_superseded_user_record_is_refused_as_actor_target_and_signer() {
    let (mut b, pu, old, key) = Bench::with_signer();
    let certs = [b.idp.cert.clone()];
    let two = [b.idp.cert.clone(), support::pki::Idp::p256(5).cert.clone()];
    let new = maintain(&mut b, &pu, Some(&old), &two)
        .expect("maintenance")
        .record;
    assert_eq!(new.record.generation, old.record.generation + 1);
    // As the actor: unaudited AuthenticationError, as for a tampered record.
    let r = b.generate(&old, None, KeyAlgorithm::EcP256).unwrap_err();
    assert_eq!(r.error, ErrorType::AuthenticationError);
    assert!(r.audit.is_none());
    // As the target of a Privileged User's operation.
    let r = b
        .generate(&pu, Some(&old), KeyAlgorithm::EcP256)
        .unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
    // (with the old IdP list: a rollback, not a retry of the same change)
    let r = maintain(&mut b, &pu, Some(&old), &certs).unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
    // As the signer of a SAD.
    assert_eq!(
        sign_once(&mut b, &old, &key, 4),
        ErrorType::AuthenticationError
    );
    // The current record works for all three, also after a restart.
    restart(&mut b);
    let (sad, _) = sad_for(&b, &new, &key.key_id.to_string(), 1, 5);
    b.sign(&new, &key, sad).expect("the current record signs");
    b.generate(&pu, Some(&new), KeyAlgorithm::EcP256)
        .expect("current target");
    assert_eq!(
        sign_once(&mut b, &old, &key, 6),
        ErrorType::AuthenticationError
    );
}

#[test]
fn a_second_user_with_a_registered_user_id_is_refused() {
    let mut b = Bench::ready();
    let pu = b.enrol_privileged_user().unwrap();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(std::slice::from_ref(&b.idp.cert)),
    };
    let first = b
        .call(&b.signed(
            &pu,
            CreateSigner {
                auth: unsigned(),
                user: user.clone(),
            },
        ))
        .unwrap()
        .record;
    // The same request again (the host lost the answer) re-issues the
    // same record and changes nothing.
    let retry = b
        .call(&b.signed(
            &pu,
            CreateSigner {
                auth: unsigned(),
                user: user.clone(),
            },
        ))
        .unwrap()
        .record;
    assert_eq!(retry, first);
    // Another user with that UserID (other certificates, or another role)
    // is refused and audited.
    let other_idp = support::pki::Idp::p256(2);
    let clash = NewUser {
        user_id: user.user_id,
        certificates: blobs(&[b.idp.cert.clone(), other_idp.cert.clone()]),
    };
    let r = b
        .call(&b.signed(
            &pu,
            CreateSigner {
                auth: unsigned(),
                user: clash,
            },
        ))
        .unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
    assert_eq!(r.audit.unwrap().entry.target_user, Some(user.user_id));
    let r = b
        .call(&b.signed(
            &pu,
            CreatePrivilegedUser {
                auth: unsigned(),
                user: user.clone(),
                technical_certificate: None,
            },
        ))
        .unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
    // Not even the administrators can enrol an existing UserID.
    let params = NewUser {
        user_id: pu.record.user_id,
        certificates: blobs(&[b.idp.cert.clone(), other_idp.cert.clone()]),
    };
    let approvals = b.approve(SubFunction::EnrolPrivilegedUser, &params, &[0, 1]);
    let r = b
        .call(&EnrolPrivilegedUser { params, approvals })
        .unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
}

#[test]
fn a_maintenance_retried_from_its_predecessor_re_issues_the_same_record() {
    let (mut b, pu, old, _) = Bench::with_signer();
    let two = [b.idp.cert.clone(), support::pki::Idp::p256(3).cert.clone()];
    let new = maintain(&mut b, &pu, Some(&old), &two).unwrap().record;
    let again = maintain(&mut b, &pu, Some(&old), &two).unwrap().record;
    assert_eq!(again, new);
    // Self-maintenance retried with the superseded record as the actor.
    let three = [b.idp.cert.clone()];
    let own = maintain(&mut b, &new, None, &three).unwrap().record;
    let own_again = maintain(&mut b, &new, None, &three).unwrap().record;
    assert_eq!(own_again, own);
    // From an older record, or with other certificates, it is a rollback.
    let r = maintain(&mut b, &pu, Some(&old), &three).unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
    let r = maintain(&mut b, &new, None, &two).unwrap_err();
    assert_eq!(r.error, ErrorType::AuthenticationError);
}

#[test]
fn a_pre_active_key_cannot_sign() {
    let (mut b, _pu, signer, _) = Bench::with_signer();
    let key = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    assert_eq!(
        sign_once(&mut b, &signer, &key, 7),
        ErrorType::NotAuthorized
    );
    // Once its certificate is registered, the same key signs.
    b.activate(&signer, &key);
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 8);
    b.sign(&signer, &key, sad).expect("active key signs");
}

#[test]
fn certificates_the_firmware_should_not_believe_are_refused_and_audited() {
    let (mut b, pu, signer, _) = Bench::with_signer();
    let key = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    let other = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    let now = b.fw.platform().time();
    let year = 365 * 86_400;
    let usage = Some(KeyUsage(
        KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
    ));
    let rogue = SigningCa::new(9);
    let pk = &key.public_key;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("issued by a CA not in the policy", rogue.issue_now(pk, now)),
        (
            "naming the policy's CA, signed by another key",
            rogue.issue_as(&b.ca.name, pk, now - 60, now + year, usage),
        ),
        ("expired", b.ca.issue(pk, now - 2 * year, now - 1, usage)),
        ("not yet valid", b.ca.issue(pk, now + 60, now + year, usage)),
        ("for another key", b.ca.issue_now(&other.public_key, now)),
        (
            "for key encipherment only",
            b.ca.issue(
                pk,
                now - 60,
                now + year,
                Some(KeyUsage(KeyUsages::KeyEncipherment.into())),
            ),
        ),
        (
            "without keyUsage",
            b.ca.issue(pk, now - 60, now + year, None),
        ),
        ("not DER", vec![0x30, 0x03, 0x02, 0x01, 0x01]),
        ("the CA's own certificate", b.ca.cert.clone()),
    ];
    for (what, cert) in cases {
        let r = b.register_certificate(&pu, &key, &cert).unwrap_err();
        assert_eq!(r.error, ErrorType::InvalidInput, "{what}");
        let audit = r.audit.unwrap_or_else(|| panic!("{what}: no audit"));
        assert_eq!(audit.entry.failure, Some(ErrorType::InvalidInput), "{what}");
        assert_eq!(audit.entry.key_id, Some(key.key_id), "{what}");
        assert_eq!(
            audit.entry.action,
            SubFunction::RegisterCertificate.into(),
            "{what}"
        );
    }
    assert_eq!(
        sign_once(&mut b, &signer, &key, 9),
        ErrorType::NotAuthorized
    );
    // A signer may not register for another signer's key.
    let stranger = b.create_signer(&pu).unwrap();
    let good = b.ca.issue_now(pk, now);
    let r = b.register_certificate(&stranger, &key, &good).unwrap_err();
    assert_eq!(r.error, ErrorType::NotAuthorized);
    // The owner's registration of a good certificate is audited too.
    let ok = b.register_certificate(&signer, &key, &good).unwrap();
    assert_eq!(ok.audit.entry.failure, None);
    assert_eq!(ok.audit.entry.actor, Some(signer.record.user_id));
    assert_eq!(ok.fingerprint.to_vec(), support::pki::sha256(&[&good]));
}

#[test]
fn a_key_whose_certificate_expired_cannot_sign() {
    let (mut b, _pu, signer, _) = Bench::with_signer();
    let key = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    let now = b.fw.platform().time();
    let usage = Some(KeyUsage(KeyUsages::NonRepudiation.into()));
    let cert = b.ca.issue(&key.public_key, now - 60, now + 1000, usage);
    let r = b.register_certificate(&signer, &key, &cert).unwrap();
    assert_eq!(r.not_after, now + 1000);
    let (sad, _) = sad_for(&b, &signer, &key.key_id.to_string(), 1, 10);
    b.sign(&signer, &key, sad).expect("valid certificate signs");
    b.fw.platform().advance(1001);
    assert_eq!(
        sign_once(&mut b, &signer, &key, 11),
        ErrorType::NotAuthorized
    );
}

#[test]
fn a_token_longer_lived_than_the_policy_is_refused() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    b.set_policy(600, &[b.ca.cert.clone()]).unwrap();
    let now = b.fw.platform().time();
    // A credential valid for 601 seconds, its request properly signed by
    // the token's key: only the lifetime is wrong.
    let with_token = |b: &Bench, not_after: i64| {
        let user = NewUser {
            user_id: sam_proto::ids::Uuid::from_random([0x5a; 16]),
            certificates: blobs(std::slice::from_ref(&b.idp.cert)),
        };
        let mut req = b.signed(
            &pu,
            CreateSigner {
                auth: unsigned(),
                user,
            },
        );
        let token = b.idp.token(
            pu.record.user_id,
            now - 1,
            not_after,
            Some(&b.token_key.spki()),
        );
        req.auth.credential.value = Blob::from_vec(token).unwrap();
        req
    };
    let req = with_token(&b, now + 600);
    assert_eq!(b.refused(&req).error, ErrorType::AuthenticationError);
    // The same request with a token of 600 seconds is accepted.
    let req = with_token(&b, now + 599);
    b.call(&req).expect("a token within the policy authorizes");
    // A SAD whose token is valid for 601 seconds.
    let sad_key = support::pki::SadKey::new(12);
    let token = b.idp.token(
        signer.record.user_id,
        now - 1,
        now + 600,
        Some(&sad_key.spki()),
    );
    let hs = support::hashes(1, 32);
    let sad = sad_key.sad(
        &token,
        &key.key_id.to_string(),
        sam_proto::ids::HashAlgorithm::Sha256,
        &hs,
    );
    let r = b.sign(&signer, &key, sad).unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidAuthentication);
    // 600 seconds is within the policy.
    let token = b
        .idp
        .token(signer.record.user_id, now, now + 600, Some(&sad_key.spki()));
    let sad = sad_key.sad(
        &token,
        &key.key_id.to_string(),
        sam_proto::ids::HashAlgorithm::Sha256,
        &hs,
    );
    b.sign(&signer, &key, sad)
        .expect("a token within the policy");
}

#[test]
fn the_policy_needs_two_administrators_and_a_lifetime() {
    let mut b = Bench::ready();
    let params = PolicyParams {
        max_token_lifetime: 60,
        signing_cas: blobs(&[b.ca.cert.clone()]),
        checkpoint_interval: sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL,
    };
    let approvals = b.approve(SubFunction::SetPolicy, &params, &[0]);
    let r = b.call(&SetPolicy { params, approvals }).unwrap_err();
    assert_eq!(r.error, ErrorType::NotAuthorized);
    assert!(r.audit.is_some());
    let r = b.set_policy(0, &[b.ca.cert.clone()]).unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
    let r = b.set_policy(60, &[vec![0x30, 0x00]]).unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
}

#[test]
fn a_full_registry_refuses_new_users_and_keys_until_a_key_is_deleted() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    // Three entries: the Privileged User, the Signer, the key.
    b.fw.platform().set_registry_capacity(3);
    restart(&mut b);
    let r = b.create_signer(&pu).unwrap_err();
    assert_eq!(r.error, ErrorType::NotOperational);
    assert!(r.audit.is_some());
    let r = b.generate(&signer, None, KeyAlgorithm::EcP256).unwrap_err();
    assert_eq!(r.error, ErrorType::NotOperational);
    // Replacing an entry needs no room.
    let certs = [b.idp.cert.clone()];
    maintain(&mut b, &pu, Some(&signer), &certs).expect("maintenance replaces an entry");
    // Deleting the key frees its entry.
    delete(&mut b, &pu, &key).unwrap();
    b.create_signer(&pu).expect("room again");
}

#[test]
fn key_states_survive_a_restart() {
    let (mut b, _pu, signer, active) = Bench::with_signer();
    let pre = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    restart(&mut b);
    let (sad, _) = sad_for(&b, &signer, &active.key_id.to_string(), 1, 13);
    b.sign(&signer, &active, sad).expect("still active");
    assert_eq!(
        sign_once(&mut b, &signer, &pre, 14),
        ErrorType::NotAuthorized
    );
    let r = b.generate(&signer, None, KeyAlgorithm::EcP256);
    assert!(r.is_ok(), "the registry keeps working after the restart");
    // A second user with a registered UserID is still refused.
    let user = NewUser {
        user_id: signer.record.user_id,
        certificates: blobs(&[b.idp.cert.clone(), support::pki::Idp::p256(4).cert.clone()]),
    };
    let pu = b.enrol_privileged_user().unwrap();
    let r = b
        .call(&b.signed(
            &pu,
            CreateSigner {
                auth: unsigned(),
                user,
            },
        ))
        .unwrap_err();
    assert_eq!(r.error, ErrorType::InvalidInput);
}

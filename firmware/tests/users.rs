//! User management (seed §7.1.1 to §7.1.3) and the credential checks every
//! peering request passes first: US1
//! `us1_privileged_user_creates_a_privileged_user`, US2
//! `technical_user_creates_signers_by_signature`, US3
//! `signer_maintenance_rules`.

mod support;

use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::command::*;
use sam_proto::ids::{KeyAlgorithm, Role};
use sam_proto::intent::Intent;
use support::pki::unsigned;
use support::{Bench, blobs};

#[test]
fn us1_privileged_user_creates_a_privileged_user() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(std::slice::from_ref(&b.idp.cert)),
    };
    let req = b.signed(
        &pu,
        CreatePrivilegedUser {
            auth: unsigned(),
            user: user.clone(),
            technical_certificate: None,
        },
    );
    let issued = b.call(&req).unwrap();
    assert_eq!(issued.record.record.role, Role::PrivilegedUser);
    assert_eq!(issued.record.record.user_id, user.user_id);
    assert_eq!(issued.audit.entry.actor, Some(pu.record.user_id));
    assert_eq!(issued.audit.entry.target_user, Some(user.user_id));
    // The new privileged user acts at once: it creates a signer.
    b.create_signer(&issued.record).unwrap();
    // A signer may not create privileged users.
    let (mut b2, _, signer, _) = Bench::with_signer();
    let req = b2.signed(
        &signer,
        CreatePrivilegedUser {
            auth: unsigned(),
            user,
            technical_certificate: None,
        },
    );
    assert_eq!(b2.refused(&req).error, ErrorType::NotAuthorized);
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
    let req = b.signed(
        &pu,
        CreatePrivilegedUser {
            auth: unsigned(),
            user,
            technical_certificate: Some(Blob::new(&tech_idp.cert).unwrap()),
        },
    );
    let tech = b.call(&req).unwrap().record;
    assert_eq!(tech.record.role, Role::PrivilegedUserTechnical);
    // It signs CreateSigner's intent under a fresh challenge.
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(&[b.idp.cert.clone()]),
    };
    let challenge = b.challenge();
    let params = postcard::to_allocvec(&Intent::CreateSigner { user: &user }).unwrap();
    let digest = support::pki::technical_digest(SubFunction::CreateSigner, &challenge, &params);
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
        proof: None,
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
fn signer_maintenance_rules() {
    let (mut b, pu, signer, _) = Bench::with_signer();
    let new_idp = support::pki::Idp::p256(2);
    b.set_idp_keys(&[b.idp.cert.clone(), new_idp.cert.clone()])
        .unwrap();
    // Self-modification must keep the certificate in use.
    let req = b.signed(
        &signer,
        SignerMaintenance {
            auth: unsigned(),
            target: None,
            certificates: blobs(std::slice::from_ref(&new_idp.cert)),
        },
    );
    assert_eq!(b.refused(&req).error, ErrorType::InvalidInput);
    let req = b.signed(
        &signer,
        SignerMaintenance {
            auth: unsigned(),
            target: None,
            certificates: blobs(&[b.idp.cert.clone(), new_idp.cert.clone()]),
        },
    );
    let updated = b.call(&req).unwrap().record;
    assert_eq!(updated.record.generation, 1);
    assert_eq!(updated.record.idp_certs.len(), 2);
    assert_eq!(updated.record.role, Role::Signer);
    // A signer may not change another user.
    let other = b.create_signer(&pu).unwrap();
    let req = b.signed(
        &updated,
        SignerMaintenance {
            auth: unsigned(),
            target: Some(other.clone()),
            certificates: blobs(std::slice::from_ref(&new_idp.cert)),
        },
    );
    assert_eq!(b.refused(&req).error, ErrorType::NotAuthorized);
    // The privileged user may roll the signer over to the new IdP only.
    let req = b.signed(
        &pu,
        SignerMaintenance {
            auth: unsigned(),
            target: Some(other),
            certificates: blobs(std::slice::from_ref(&new_idp.cert)),
        },
    );
    let rolled = b.call(&req).unwrap().record;
    // The old IdP's tokens no longer authenticate that signer.
    let req = b.signed(
        &rolled,
        GenerateKeyPair {
            auth: unsigned(),
            target: None,
            algorithm: KeyAlgorithm::EcP256,
            subject: None,
        },
    );
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::AuthenticationError);
}

#[test]
fn unknown_credential_kind_is_refused_unaudited() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: blobs(&[b.idp.cert.clone()]),
    };
    let mut auth = b.token_auth(
        &pu,
        SubFunction::CreateSigner,
        &Intent::CreateSigner { user: &user },
    );
    auth.credential.kind = 99;
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
    let mut auth = b.token_auth(
        &pu,
        SubFunction::CreateSigner,
        &Intent::CreateSigner { user: &user },
    );
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
    let mut auth = b.token_auth(
        &pu,
        SubFunction::CreateSigner,
        &Intent::CreateSigner { user: &user },
    );
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
    let mut auth = b.token_auth(
        &pu,
        SubFunction::CreateSigner,
        &Intent::CreateSigner { user: &user },
    );
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
    let mut auth = b.token_auth(
        &pu,
        SubFunction::CreateSigner,
        &Intent::CreateSigner { user: &user },
    );
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
fn empty_certificate_set_is_invalid_input() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let user = NewUser {
        user_id: b.new_user_id(),
        certificates: List::default(),
    };
    let req = b.signed(
        &pu,
        CreateSigner {
            auth: unsigned(),
            user,
        },
    );
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::InvalidInput);
    assert_eq!(
        r.audit.unwrap().entry.failure,
        Some(ErrorType::InvalidInput)
    );
}

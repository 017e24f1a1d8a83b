//! Token-authorized requests are bound to themselves (issue 13, items 2
//! and 6): the SAD key bound in the identity token signs the request's
//! intent with a single-use firmware challenge, so a host that relayed a
//! token and its proof once cannot replay them, re-target them or use them
//! for other parameters; and a certification request for a signer key is
//! made at key generation or by the key's owner, never by a Privileged
//! User for someone else's key.

mod support;

use der::{Decode, Encode};
use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::command::*;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use sam_proto::intent::Intent;
use std::str::FromStr;
use support::pki::{Peering, SadKey, request_proof, sha256, unsigned};
use support::{Bench, blobs};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

fn newsigner(b: &mut Bench) -> CreateSigner {
    CreateSigner {
        auth: unsigned(),
        user: NewUser {
            user_id: b.new_user_id(),
            certificates: blobs(std::slice::from_ref(&b.idp.cert)),
        },
    }
}

fn keygen(target: Option<&sam_proto::records::SealedUserRecord>) -> GenerateKeyPair {
    GenerateKeyPair {
        auth: unsigned(),
        target: target.cloned(),
        algorithm: KeyAlgorithm::EcP256,
        subject: None,
    }
}

#[test]
fn replayed_token_and_proof_are_refused() {
    let (mut b, pu, _signer, key) = Bench::with_signer();
    let fresh = newsigner(&mut b);
    let req = b.signed(&pu, fresh);
    b.call(&req).unwrap();
    // The host replays the same request: the challenge is spent.
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::AuthenticationError);
    assert!(r.audit.is_none());
    // It replays the token and proof for another operation.
    let delete = DeleteKeyPair {
        auth: req.auth.clone(),
        key_id: key.key_id,
        wrapped: Some(key.clone()),
    };
    let r = b.refused(&delete);
    assert_eq!(r.error, ErrorType::AuthenticationError);
    assert!(r.audit.is_none());
}

#[test]
fn proof_for_other_parameters_or_operation_is_refused() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    // Signed for one new signer, presented with another.
    let fresh = newsigner(&mut b);
    let signed = b.signed(&pu, fresh);
    let mut other = newsigner(&mut b);
    other.auth = signed.auth.clone();
    let r = b.refused(&other);
    assert_eq!(r.error, ErrorType::AuthenticationError);
    assert!(r.audit.is_none());
    // Signed for CreateSigner, presented with CreatePrivilegedUser of the
    // same user (same parameters, other operation).
    let fresh = newsigner(&mut b);
    let signed = b.signed(&pu, fresh);
    let escalate = CreatePrivilegedUser {
        auth: signed.auth.clone(),
        user: signed.user.clone(),
        technical_certificate: None,
    };
    assert_eq!(b.refused(&escalate).error, ErrorType::AuthenticationError);
    // Signed for deleting one key, presented for another.
    let signed = b.signed(
        &pu,
        DeleteKeyPair {
            auth: unsigned(),
            key_id: key.key_id,
            wrapped: Some(key.clone()),
        },
    );
    let second = b
        .generate(&signer, None, KeyAlgorithm::EcP256)
        .unwrap()
        .wrapped;
    let swapped = DeleteKeyPair {
        auth: signed.auth.clone(),
        key_id: second.key_id,
        wrapped: Some(second),
    };
    assert_eq!(b.refused(&swapped).error, ErrorType::AuthenticationError);
    // The failed attempt spent the challenge: the host cannot try
    // variants and then send the request it was given.
    assert_eq!(b.refused(&signed).error, ErrorType::AuthenticationError);
}

#[test]
fn proof_for_another_target_is_refused() {
    let (mut b, pu, signer, _) = Bench::with_signer();
    let victim = b.create_signer(&pu).unwrap();
    // The PU asked for a key for `signer`; the host sends `victim`'s
    // record instead.
    let mut req = b.signed(&pu, keygen(Some(&signer)));
    req.target = Some(victim.clone());
    assert_eq!(b.refused(&req).error, ErrorType::AuthenticationError);
    // A maintenance of `signer` turned into one of `victim`.
    let mut req = b.signed(
        &pu,
        SignerMaintenance {
            auth: unsigned(),
            target: Some(signer.clone()),
            certificates: blobs(std::slice::from_ref(&b.idp.cert)),
        },
    );
    req.target = Some(victim);
    assert_eq!(b.refused(&req).error, ErrorType::AuthenticationError);
    // A signer's own request (no target) given a target record: the
    // effective target changes, and so does the intent.
    let mut req = b.signed(&signer, keygen(None));
    req.target = Some(signer.clone());
    b.call(&req).unwrap();
    let mut req = b.signed(&signer, keygen(None));
    req.subject = Some(Blob::from_vec(Name::from_str("CN=x").unwrap().to_der().unwrap()).unwrap());
    assert_eq!(b.refused(&req).error, ErrorType::AuthenticationError);
}

#[test]
fn token_without_sad_key_or_proof_cannot_authorize() {
    let (mut b, pu, _, _) = Bench::with_signer();
    let now = b.fw.platform().time();
    // A login token without SAD key, with a proof by some key.
    let fresh = newsigner(&mut b);
    let mut req = b.signed(&pu, fresh);
    req.auth.credential.value =
        Blob::from_vec(b.idp.token(pu.record.user_id, now - 60, now + 600, None)).unwrap();
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::AuthenticationError);
    assert!(r.audit.is_none());
    // A token with a SAD key but no proof.
    let fresh = newsigner(&mut b);
    let mut req = b.signed(&pu, fresh);
    req.auth.proof = None;
    assert_eq!(b.refused(&req).error, ErrorType::AuthenticationError);
    // A proof signed by another key than the token's.
    let mut req = newsigner(&mut b);
    let challenge = b.challenge();
    let intent = req.intent(pu.record.user_id);
    let proof = request_proof(
        &SadKey::new(0x55).key,
        CreateSigner::CODE,
        &challenge,
        &intent,
    );
    req.auth = Authentication {
        credential: Credential {
            kind: Credential::IDENTITY_TOKEN,
            value: Blob::from_vec(b.login_token(&pu)).unwrap(),
        },
        actor: Some(pu.clone()),
        proof: Some(proof),
    };
    assert_eq!(b.refused(&req).error, ErrorType::AuthenticationError);
    // A proof over a challenge the firmware never issued.
    let fresh = newsigner(&mut b);
    let mut req = b.signed(&pu, fresh);
    let intent = Intent::CreateSigner { user: &req.user };
    let forged = request_proof(&b.token_key.key, CreateSigner::CODE, &[7; 32], &intent);
    req.auth.proof = Some(forged);
    assert_eq!(b.refused(&req).error, ErrorType::AuthenticationError);
}

#[test]
fn key_generation_signs_its_certification_request() {
    let (mut b, pu, signer, _) = Bench::with_signer();
    let subject = Name::from_str("CN=Signer One,O=SAM Development,C=DE").unwrap();
    let mut req = keygen(Some(&signer));
    req.subject = Some(Blob::from_vec(subject.to_der().unwrap()).unwrap());
    let req = b.signed(&pu, req);
    let generated = b.call(&req).unwrap();
    let csr = CertReq::from_der(&generated.csr.unwrap()).unwrap();
    assert_eq!(csr.info.version, Version::V1);
    assert_eq!(csr.info.subject, subject);
    assert_eq!(
        csr.info.public_key.to_der().unwrap(),
        generated.wrapped.public_key.to_vec()
    );
    let digest = sha256(&[&csr.info.to_der().unwrap()]);
    Portable
        .verify(
            &generated.wrapped.public_key,
            HashAlgorithm::Sha256,
            &digest,
            csr.signature.raw_bytes(),
        )
        .unwrap();
    // Without a subject, no request.
    let req = b.signed(&pu, keygen(Some(&signer)));
    assert!(b.call(&req).unwrap().csr.is_none());
    // A subject that is not strict DER: refused and audited.
    let mut req = keygen(Some(&signer));
    req.subject = Some(Blob::new(&[0x30, 0x03, 0x31, 0x01]).unwrap());
    let req = b.signed(&pu, req);
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::InvalidInput);
    assert!(r.audit.is_some());
}

#[test]
fn privileged_user_cannot_get_a_csr_for_a_signers_key() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    let info = CertReqInfo {
        version: Version::V1,
        subject: Name::from_str("CN=Someone Else").unwrap(),
        public_key: spki::SubjectPublicKeyInfoOwned::from_der(&key.public_key).unwrap(),
        attributes: Default::default(),
    };
    let csr_req = SignCertificationRequest {
        auth: unsigned(),
        wrapped: key.clone(),
        request_info: Blob::from_vec(info.to_der().unwrap()).unwrap(),
    };
    let req = b.signed(&pu, csr_req.clone());
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::NotAuthorized);
    let audit = r.audit.unwrap();
    assert_eq!(audit.entry.actor, Some(pu.record.user_id));
    assert_eq!(audit.entry.key_id, Some(key.key_id));
    // Another signer neither.
    let other = b.create_signer(&pu).unwrap();
    let req = b.signed(&other, csr_req.clone());
    assert_eq!(b.refused(&req).error, ErrorType::NotAuthorized);
    // The owner may.
    let req = b.signed(&signer, csr_req);
    b.call(&req).unwrap();
}

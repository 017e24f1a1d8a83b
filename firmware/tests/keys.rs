//! Signer keys (seed §7.1.4, §7.1.5): generation with its attestation, the
//! certification request, deletion, and the binding of a wrapped key to its
//! owner and KeyID. US4 `attestation_covers_the_new_key`,
//! `certification_request_only_for_the_wrapped_key`, US5
//! `delete_unknown_key_is_not_found`.

mod support;

use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_firmware::ops::attestation_digest;
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::command::*;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use support::pki::sha256;
use support::pki::unsigned;
use support::{Bench, sad_for};

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
fn failing_rng_gives_not_operational() {
    let (mut b, _pu, signer, _) = Bench::with_signer();
    // The request is authorized (its challenge drawn) before the RNG
    // fails; key generation then cannot draw its KeyID.
    let req = b.signed(
        &signer,
        GenerateKeyPair {
            auth: unsigned(),
            target: None,
            algorithm: KeyAlgorithm::EcP256,
            subject: None,
        },
    );
    b.fw.platform()
        .fail_random
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(b.refused(&req).error, ErrorType::NotOperational);
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
    let req = b.signed(
        &signer,
        SignCertificationRequest {
            auth: unsigned(),
            wrapped: key.clone(),
            request_info: Blob::from_vec(info.to_der().unwrap()).unwrap(),
        },
    );
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
    let req = b.signed(
        &signer,
        SignCertificationRequest {
            auth: unsigned(),
            wrapped: key,
            request_info: Blob::from_vec(swapped.to_der().unwrap()).unwrap(),
        },
    );
    assert_eq!(b.refused(&req).error, ErrorType::InvalidInput);
}

#[test]
fn delete_unknown_key_is_not_found() {
    let (mut b, _pu, signer, key) = Bench::with_signer();
    let req = b.signed(
        &signer,
        DeleteKeyPair {
            auth: unsigned(),
            key_id: key.key_id,
            wrapped: None,
        },
    );
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::NotFound);
    let req = b.signed(
        &signer,
        DeleteKeyPair {
            auth: unsigned(),
            key_id: key.key_id,
            wrapped: Some(key),
        },
    );
    b.call(&req).unwrap();
}

#[test]
fn signer_cannot_use_or_delete_another_signers_key() {
    let (mut b, pu, signer, key) = Bench::with_signer();
    let other = b.create_signer(&pu).unwrap();
    let (sad, _) = sad_for(&b, &other, &key.key_id.to_string(), 1, 8);
    assert_eq!(
        b.sign(&other, &key, sad).unwrap_err().error,
        ErrorType::NotAuthorized
    );
    let req = b.signed(
        &other,
        DeleteKeyPair {
            auth: unsigned(),
            key_id: key.key_id,
            wrapped: Some(key.clone()),
        },
    );
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::NotAuthorized);
    // The privileged user may delete it.
    let req = b.signed(
        &pu,
        DeleteKeyPair {
            auth: unsigned(),
            key_id: key.key_id,
            wrapped: Some(key),
        },
    );
    b.call(&req).unwrap();
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

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The development PKI against the real firmware (on the deterministic
//! test platform): tokens from the development IdP, SADs from sam-client,
//! certificates from the development CA for CSRs the firmware signed, and
//! CMS signatures whose hash the firmware signed, checked by openssl.

mod support;

use der::{Decode, Encode};
use sam_client::verify::verify_prehash;
use sam_client::{IdpClient, IdpLogin, SadKey, SignRequest, cms};
use sam_devpki::{DevIdpOptions, DevIdpServer, DevPki, DevPkiOptions, IdpKeyType, TokenParams};
use sam_proto::ErrorType;
use sam_proto::asn1::IdentificationLevel;
use sam_proto::bounded::Blob;
use sam_proto::command::SignCertificationRequest;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use support::{Bench, openssl_cms_verify, openssl_ok, write_cert_pem};

fn hashes(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| Sha256::digest([i]).to_vec()).collect()
}

/// Library path, P-256 and RSA-2048 IdPs: a token with the SAD key from
/// `DevIdp::issue_token`, a SAD from `SadKey::sign_sad`, two hashes signed
/// and verified; the same SAD again is a replay.
#[test]
fn dev_idp_tokens_sign_with_the_firmware() {
    for kind in [IdpKeyType::P256, IdpKeyType::Rsa2048] {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::create(dir.path(), &DevPkiOptions { idp_key: kind }).unwrap();
        let mut b = Bench::new(&pki);
        let signer = b.signer();
        let key = b.generate(&signer, KeyAlgorithm::EcP256);
        b.fw.platform().advance(120);

        let sad_key = SadKey::generate().unwrap();
        let now = b.time();
        let token = b
            .idp
            .issue_token(&TokenParams {
                user_id: signer.record.user_id,
                level: IdentificationLevel::Substantial,
                not_before: now - 10,
                not_after: now + 300,
                sad_public_key: Some(sad_key.public_key_der().unwrap()),
            })
            .unwrap();
        let request = SignRequest {
            key_id: key.key_id,
            hash_algorithm: HashAlgorithm::Sha256,
            hashes: hashes(2),
        };
        let sad = sad_key.sign_sad(&token, &request).unwrap();
        let signatures = b.sign(&signer, &key, sad.clone()).unwrap();
        assert_eq!(signatures.len(), 2, "{kind:?}");
        for (h, s) in request.hashes.iter().zip(&signatures) {
            verify_prehash(&key.public_key, HashAlgorithm::Sha256, h, s).unwrap();
        }
        assert_eq!(
            b.sign(&signer, &key, sad).unwrap_err().error,
            ErrorType::ReplayedSad
        );
    }
}

/// A token whose identification level is "low" is refused by the
/// firmware, as is one from a foreign development IdP.
#[test]
fn low_level_and_foreign_idp_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let other = tempfile::tempdir().unwrap();
    let foreign = DevPki::create(other.path(), &DevPkiOptions::default())
        .unwrap()
        .idp()
        .unwrap();
    let mut b = Bench::new(&pki);
    let signer = b.signer();
    let key = b.generate(&signer, KeyAlgorithm::EcP256);
    b.fw.platform().advance(120);
    let now = b.time();
    let own = pki.idp().unwrap();
    for (idp, level) in [
        (&own, IdentificationLevel::Low),
        (&foreign, IdentificationLevel::High),
    ] {
        let sad_key = SadKey::generate().unwrap();
        let token = idp
            .issue_token(&TokenParams {
                user_id: signer.record.user_id,
                level,
                not_before: now - 10,
                not_after: now + 300,
                sad_public_key: Some(sad_key.public_key_der().unwrap()),
            })
            .unwrap();
        let sad = sad_key
            .sign_sad(
                &token,
                &SignRequest::single(key.key_id, HashAlgorithm::Sha256, hashes(1).remove(0)),
            )
            .unwrap();
        let refused = b.sign(&signer, &key, sad).unwrap_err();
        assert_eq!(refused.error, ErrorType::InvalidAuthentication);
    }
}

/// HTTP path: the login token goes to the development IdP server, which
/// answers `POST /id-token/sad` with a token carrying the SAD key; the
/// firmware accepts the SAD built on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_token_sad_over_http_is_accepted_by_the_firmware() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let mut b = Bench::new(&pki);
    let signer = b.signer();
    let key = b.generate(&signer, KeyAlgorithm::EcP256);

    let server = DevIdpServer::start(
        Arc::new(pki.idp().unwrap()),
        "127.0.0.1:0".parse().unwrap(),
        DevIdpOptions::default(),
    )
    .await
    .unwrap();
    let idp = IdpClient::dev_plain_http(&server.url()).unwrap();
    let login = b
        .idp
        .login_token(
            signer.record.user_id,
            IdentificationLevel::High,
            support::now() as u64 - 5,
            600,
        )
        .unwrap();
    let sad_key = SadKey::generate().unwrap();
    let token = idp
        .embed_sad_key(
            &IdpLogin::IdToken(login),
            &sad_key.public_key_der().unwrap(),
        )
        .await
        .unwrap();
    // The server stamps notBefore with the real clock; the firmware's
    // clock must have reached it.
    b.fw.platform().set_time(support::now() + 2);
    let request = SignRequest {
        key_id: key.key_id,
        hash_algorithm: HashAlgorithm::Sha256,
        hashes: hashes(3),
    };
    let sad = sad_key.sign_sad(&token, &request).unwrap();
    drop(sad_key);
    let signatures = b.sign(&signer, &key, sad).unwrap();
    assert_eq!(signatures.len(), 3);
    for (h, s) in request.hashes.iter().zip(&signatures) {
        verify_prehash(&key.public_key, HashAlgorithm::Sha256, h, s).unwrap();
    }
    server.stop().await;
}

/// The firmware signs a CSR for a new signer key; the development CA
/// certifies it (openssl verifies the certificate against ca.pem, with the
/// key usages of a signing certificate); a CMS signature over a document,
/// whose to-be-signed hash the firmware signs with that key through a SAD,
/// verifies with `openssl cms -verify`. P-256 and RSA-2048 keys.
#[test]
fn firmware_csr_certificate_and_cms_signature_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let ca = pki.ca().unwrap();
    let ca_pem = pki.path(sam_devpki::files::CA_CERT);
    let mut b = Bench::new(&pki);
    let signer = b.signer();
    for (algorithm, hash) in [
        (KeyAlgorithm::EcP256, HashAlgorithm::Sha256),
        (KeyAlgorithm::Rsa2048, HashAlgorithm::Sha256),
    ] {
        let key = b.generate(&signer, algorithm);
        let info = x509_cert::request::CertReqInfo {
            version: x509_cert::request::Version::V1,
            subject: format!("CN={},O=SAM DEV-ONLY signers,C=DE", signer.record.user_id)
                .parse()
                .unwrap(),
            public_key: spki::SubjectPublicKeyInfoOwned::from_der(&key.public_key).unwrap(),
            attributes: Default::default(),
        };
        let request_info = Blob::from_vec(info.to_der().unwrap()).unwrap();
        let intent = sam_proto::intent::Intent::SignCertificationRequest {
            key_id: key.key_id,
            request_info: &request_info,
        };
        let auth = b.token_auth(
            &signer,
            sam_proto::command::SubFunction::SignCertificationRequest,
            &intent,
        );
        let csr = b
            .call(&SignCertificationRequest {
                auth,
                wrapped: key.clone(),
                request_info,
            })
            .unwrap()
            .csr
            .into_vec();
        let cert = ca.issue_from_csr(&csr).unwrap();
        let cert_pem = dir.path().join(format!("{algorithm:?}.pem"));
        write_cert_pem(&cert_pem, &cert);
        let verified = openssl_ok(&[
            "verify",
            "-CAfile",
            ca_pem.to_str().unwrap(),
            cert_pem.to_str().unwrap(),
        ]);
        assert!(verified.contains(": OK"), "{verified}");
        let text = openssl_ok(&["x509", "-in", cert_pem.to_str().unwrap(), "-noout", "-text"]);
        assert!(
            text.contains("Digital Signature, Non Repudiation"),
            "{algorithm:?}: {text}"
        );
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains("X509v3 Key Usage: critical"), "{text}");

        // CMS over a document, the hash signed by the firmware.
        let document = format!("Invoice 2026-{algorithm:?}: 1 SAM, EUR 1.00\n").into_bytes();
        let prepared = cms::prepare(&document, &cert, &[], hash).unwrap();
        b.fw.platform().advance(60);
        let sad_key = SadKey::generate().unwrap();
        let now = b.time();
        let token = b
            .idp
            .issue_token(&TokenParams {
                user_id: signer.record.user_id,
                level: IdentificationLevel::Substantial,
                not_before: now - 1,
                not_after: now + 300,
                sad_public_key: Some(sad_key.public_key_der().unwrap()),
            })
            .unwrap();
        let sad = sad_key
            .sign_sad(&token, &prepared.sign_request(key.key_id))
            .unwrap();
        let signature = b.sign(&signer, &key, sad).unwrap().remove(0);
        let p7s = prepared.finish(&signature).unwrap();
        let (ok, out) = openssl_cms_verify(dir.path(), &document, &p7s, &ca_pem);
        assert!(ok, "{algorithm:?}: openssl cms -verify said no:\n{out}");
        assert!(out.contains("Verification successful"), "{out}");
    }
}

/// The development CA refuses a CSR whose signature does not verify.
#[test]
fn dev_ca_refuses_a_csr_with_a_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let mut b = Bench::new(&pki);
    let signer = b.signer();
    let key = b.generate(&signer, KeyAlgorithm::EcP256);
    let info = x509_cert::request::CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: "CN=someone".parse().unwrap(),
        public_key: spki::SubjectPublicKeyInfoOwned::from_der(&key.public_key).unwrap(),
        attributes: Default::default(),
    };
    let request_info = Blob::from_vec(info.to_der().unwrap()).unwrap();
    let intent = sam_proto::intent::Intent::SignCertificationRequest {
        key_id: key.key_id,
        request_info: &request_info,
    };
    let auth = b.token_auth(
        &signer,
        sam_proto::command::SubFunction::SignCertificationRequest,
        &intent,
    );
    let csr = b
        .call(&SignCertificationRequest {
            auth,
            wrapped: key,
            request_info,
        })
        .unwrap()
        .csr
        .into_vec();
    let mut parsed = x509_cert::request::CertReq::from_der(&csr).unwrap();
    parsed.info.subject = "CN=somebody else".parse().unwrap();
    let forged = parsed.to_der().unwrap();
    let err = pki.ca().unwrap().issue_from_csr(&forged).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    assert!(pki.ca().unwrap().issue_from_csr(&csr).is_ok());
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The SAD builder: what it builds is what the firmware parses, signed as
//! the firmware verifies it; what it refuses, it refuses before anything
//! is sent.

use der::{Decode, Encode};
use sam_client::verify::{KeyKind, verify_message};
use sam_client::{ClientError, IdpClient, SadKey, SamClient, SignRequest, sad};
use sam_proto::asn1::{
    CompactIdentityToken, IdentificationLevel, IssuerSerial, SchemeKind, SignedIdentityToken,
    signature_algorithm, signature_hash,
};
use sam_proto::command::MAX_HASHES;
use sam_proto::ids::{HashAlgorithm, Uuid};
use std::str::FromStr;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

const USER: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const KEY: &str = "11111111-2222-4333-8444-555555555555";

/// A token as an IdP would issue it (the IdP signature is a placeholder:
/// the client does not check it, the firmware does).
fn token(sad_key: Option<&[u8]>, scope: Option<&str>) -> Vec<u8> {
    let mut data = CompactIdentityToken::new(USER, 1_800_000_000, 1_800_000_300)
        .unwrap()
        .with_identification_level(IdentificationLevel::Substantial)
        .unwrap();
    if let Some(k) = sad_key {
        data = data.with_sad_public_key(k).unwrap();
    }
    if let Some(s) = scope {
        data = data.with_signing_scope(s).unwrap();
    }
    let name = Name::from_str("CN=Test IdP,O=SAM,C=DE").unwrap();
    SignedIdentityToken {
        data,
        signer: IssuerSerial::new(&name, &SerialNumber::from(7u32)).unwrap(),
        signature_algorithm: signature_algorithm(HashAlgorithm::Sha256, SchemeKind::Ecdsa),
        signature: der::asn1::OctetString::new(vec![0x30, 0x00]).unwrap(),
        token_type: None,
    }
    .to_der()
    .unwrap()
}

fn request(hash: HashAlgorithm, n: usize) -> SignRequest {
    SignRequest {
        key_id: Uuid::parse(KEY).unwrap(),
        hash_algorithm: hash,
        hashes: (0..n)
            .map(|i| vec![u8::try_from(i % 256).unwrap(); hash.output_len()])
            .collect(),
    }
}

#[test]
fn sad_parses_strictly_and_its_signature_verifies_with_the_token_key() {
    let key = SadKey::generate().unwrap();
    let spki = key.public_key_der().unwrap();
    assert_eq!(KeyKind::of_spki(&spki).unwrap(), KeyKind::P256);
    let token_der = token(Some(&spki), Some("signing"));
    for (hash, n) in [
        (HashAlgorithm::Sha256, 1),
        (HashAlgorithm::Sha384, 3),
        (HashAlgorithm::Sha512, MAX_HASHES),
    ] {
        let req = request(hash, n);
        let der = key.sign_sad(&token_der, &req).unwrap();
        let sad = sad::parse_sad(&der).unwrap();
        assert_eq!(sad.tbs.key_id, KEY);
        assert_eq!(sad.hash_algorithm().unwrap(), hash);
        assert_eq!(
            signature_hash(&sad.tbs.hash_algorithm).unwrap(),
            (hash, None)
        );
        assert_eq!(sad.tbs.identity_token.to_der().unwrap(), token_der);
        let values: Vec<Vec<u8>> = sad
            .tbs
            .tbs_hash_values
            .iter()
            .map(|h| h.as_bytes().to_vec())
            .collect();
        assert_eq!(values, req.hashes, "hashes in request order");
        // ECDSA P-256 with SHA-256 over DER(SADTBS), whatever hashAlgorithm says.
        verify_message(
            &spki,
            HashAlgorithm::Sha256,
            &sad.signed_bytes().unwrap(),
            sad.signature.as_bytes(),
        )
        .unwrap();
        // Any other content does not verify.
        let mut other = sad.tbs.clone();
        other.key_id = USER.into();
        assert_eq!(
            verify_message(
                &spki,
                HashAlgorithm::Sha256,
                &other.to_der().unwrap(),
                sad.signature.as_bytes()
            ),
            Err(ClientError::BadSignature)
        );
    }
}

#[test]
fn every_sad_key_is_new_and_from_scalar_is_deterministic() {
    let a = SadKey::generate().unwrap().public_key_der().unwrap();
    let b = SadKey::generate().unwrap().public_key_der().unwrap();
    assert_ne!(a, b);
    let c = SadKey::from_scalar(&[7; 32])
        .unwrap()
        .public_key_der()
        .unwrap();
    let d = SadKey::from_scalar(&[7; 32])
        .unwrap()
        .public_key_der()
        .unwrap();
    assert_eq!(c, d);
    assert!(SadKey::from_scalar(&[0; 32]).is_err());
    assert!(!format!("{:?}", SadKey::from_scalar(&[7; 32]).unwrap()).contains("07"));
}

#[test]
fn bad_requests_and_unfitting_tokens_are_refused_locally() {
    let key = SadKey::generate().unwrap();
    let spki = key.public_key_der().unwrap();
    let good = token(Some(&spki), Some("signing"));
    let invalid = |r: Result<Vec<u8>, ClientError>| {
        assert!(matches!(r, Err(ClientError::InvalidInput(_))), "{r:?}");
    };
    // Counts and lengths.
    invalid(key.sign_sad(&good, &request(HashAlgorithm::Sha256, 0)));
    invalid(key.sign_sad(&good, &request(HashAlgorithm::Sha256, MAX_HASHES + 1)));
    let mut short = request(HashAlgorithm::Sha384, 2);
    short.hashes[1].pop();
    invalid(key.sign_sad(&good, &short));
    // Tokens: no SAD key, another SAD key, no scope, another scope.
    let other = SadKey::generate().unwrap().public_key_der().unwrap();
    let req = request(HashAlgorithm::Sha256, 1);
    invalid(key.sign_sad(&token(None, Some("signing")), &req));
    invalid(key.sign_sad(&token(Some(&other), Some("signing")), &req));
    invalid(key.sign_sad(&token(Some(&spki), None), &req));
    invalid(key.sign_sad(&token(Some(&spki), Some("login")), &req));
    // Not a token at all.
    assert!(matches!(
        key.sign_sad(b"\x30\x03\x02\x01\x01", &req),
        Err(ClientError::Asn1(_))
    ));
    // And the good one passes.
    key.sign_sad(&good, &req).unwrap();
    let parsed = SignedIdentityToken::from_der(&good).unwrap();
    assert_eq!(sad::build_sad_tbs(parsed, &req).unwrap().key_id, KEY);
}

#[test]
fn urls_and_tls_are_checked_when_clients_are_made() {
    let config = || {
        // Any root will do for the configuration checks.
        let pki = test_root();
        sam_client::tls_config(vec![pki], None).unwrap()
    };
    assert!(matches!(
        SamClient::new("http://localhost:8443", config()),
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        SamClient::new("https://localhost:8443/signing", config()),
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        SamClient::new("ftp://localhost", config()),
        Err(ClientError::Config(_))
    ));
    SamClient::new("https://localhost:8443", config()).unwrap();
    SamClient::new("https://[::1]:8443", config()).unwrap();
    assert!(matches!(
        IdpClient::dev_plain_http("https://localhost:8480"),
        Err(ClientError::Config(_))
    ));
    IdpClient::dev_plain_http("http://127.0.0.1:8480").unwrap();
    assert!(matches!(
        sam_client::tls_config(Vec::new(), None),
        Err(ClientError::Config(_))
    ));
}

#[tokio::test]
async fn an_unreachable_idp_is_a_transport_error() {
    // Bind and drop, so the port is (very probably) closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let idp = IdpClient::dev_plain_http(&format!("http://127.0.0.1:{port}")).unwrap();
    let key = SadKey::generate().unwrap();
    let err = idp
        .embed_sad_key(
            &sam_client::IdpLogin::DevUserId(Uuid::parse(USER).unwrap()),
            &key.public_key_der().unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}

/// A self-signed root certificate.
fn test_root() -> rustls_pki_types::CertificateDer<'static> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().der().clone()
}

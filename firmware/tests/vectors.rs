//! The committed test vectors of `host/testvectors/` (a login token, an
//! extended token binding a SAD key, a SAD, the IdP certificate and the
//! two client keys) are decoded and fed to the firmware on the test
//! platform, which accepts them.
//!
//! The vectors were made once by the ignored test
//! `generate_the_test_vectors` (see `host/testvectors/README.md`); the
//! normal test only reads them, so an encoding or rule change that would
//! refuse a token or SAD made the documented way fails here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::result_large_err
)]

mod support;

use der::Encode;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sam_firmware::testing::START_TIME;
use sam_proto::asn1::{CompactIdentityToken, IdentificationLevel, Sad, SignedIdentityToken, oids};
use sam_proto::command::{CreateSigner, NewUser, SubFunction};
use sam_proto::ids::HashAlgorithm;
use sam_proto::records::{SealedUserRecord, WrappedKey};
use std::path::PathBuf;
use support::pki::{Peering, SadKey, sha256, unsigned};
use support::{Bench, blobs, verify_all};

/// Where the vectors live.
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../host/testvectors")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The moment the vectors are made for: an hour after the test
/// platform's boot, so that their tokens are issued after the boot (the
/// firmware refuses older signing tokens).
const T0: i64 = START_TIME + 3600;
/// Tokens are valid from a minute before [`T0`] for ten minutes.
const NOT_BEFORE: i64 = T0 - 60;
const NOT_AFTER: i64 = T0 + 540;

/// The firmware state the vectors belong to: the bench's ready firmware
/// with `idp_cert` as trust anchor, a Privileged User, a Signer and one
/// active P-256 key. The test platform's RNG is a fixed stream, so the
/// UserIDs and the KeyID come out the same on every run.
fn deployment(
    idp_cert: Option<Vec<u8>>,
) -> (Bench, SealedUserRecord, SealedUserRecord, WrappedKey) {
    let mut b = Bench::new();
    if let Some(cert) = idp_cert {
        b.idp.cert = cert;
    }
    b.into_ready().into_signer()
}

/// The token type OID, which the bench's IdP leaves out, set on `token`
/// (the IdP's signature covers only `data`).
fn typed(token: Vec<u8>) -> Vec<u8> {
    let mut t = SignedIdentityToken::from_der_strict(&token).unwrap();
    t.token_type = Some(oids::IDENTITY_TOKEN_TYPE);
    t.to_der().unwrap()
}

/// The documents the vectors' SAD authorizes signing.
fn documents() -> [&'static [u8]; 2] {
    [
        b"SAM test vector document 1\n",
        b"SAM test vector document 2\n",
    ]
}

/// Writes the vectors. Run once, by hand, when the token or SAD format
/// changes on purpose:
/// `cargo test -p sam-firmware --test vectors -- --ignored`.
#[test]
#[ignore = "writes host/testvectors/; run by hand"]
fn generate_the_test_vectors() {
    let (b, pu, signer, key) = deployment(None);
    let login_key = SadKey::new(0x4C);
    let sad_key = SadKey::new(0x53);
    // The login token: what the IdP hands a Privileged User at logon,
    // binding the key the client signs its requests with.
    let login = CompactIdentityToken::new(
        &pu.record.user_id.to_string(),
        NOT_BEFORE as u64,
        NOT_AFTER as u64,
    )
    .unwrap()
    .with_identification_level(IdentificationLevel::Substantial)
    .unwrap()
    .with_sad_public_key(&login_key.spki())
    .unwrap();
    let login = typed(b.idp.sign_token(login));
    // The extended token: the signer's token with the SAD key and the
    // scope "signing" (what POST /id-token/sad returns).
    let extended = typed(b.idp.token(
        signer.record.user_id,
        NOT_BEFORE,
        NOT_AFTER,
        Some(&sad_key.spki()),
    ));
    let hashes: Vec<Vec<u8>> = documents().iter().map(|d| sha256(&[d])).collect();
    let sad = sad_key.sad(
        &extended,
        &key.key_id.to_string(),
        HashAlgorithm::Sha256,
        &hashes,
    );
    let pkcs8 = |k: &SigningKey| k.to_pkcs8_der().unwrap().as_bytes().to_vec();
    std::fs::create_dir_all(dir()).unwrap();
    for (name, bytes) in [
        ("idp-cert.der", b.idp.cert.clone()),
        ("login-token.der", login),
        ("login-key.p8", pkcs8(&login_key.key)),
        ("extended-token.der", extended),
        ("sad-key.p8", pkcs8(&sad_key.key)),
        ("sad.der", sad),
        ("document-1.txt", documents()[0].to_vec()),
        ("document-2.txt", documents()[1].to_vec()),
    ] {
        std::fs::write(dir().join(name), bytes).unwrap();
    }
}

fn key_of(name: &str) -> SadKey {
    SadKey {
        key: SigningKey::from_pkcs8_der(&read(name)).unwrap(),
    }
}

#[test]
fn the_committed_vectors_decode_and_the_firmware_accepts_them() {
    let login_der = read("login-token.der");
    let extended_der = read("extended-token.der");
    let sad_der = read("sad.der");
    let login_key = key_of("login-key.p8");
    let sad_key = key_of("sad-key.p8");
    // Each file decodes strictly and carries what the README says.
    let login = SignedIdentityToken::from_der_strict(&login_der).unwrap();
    let extended = SignedIdentityToken::from_der_strict(&extended_der).unwrap();
    let sad = Sad::from_der_strict(&sad_der).unwrap();
    for t in [&login, &extended] {
        assert_eq!(t.token_type, Some(oids::IDENTITY_TOKEN_TYPE));
        assert_eq!(
            t.data.identification_level().unwrap(),
            Some(IdentificationLevel::Substantial)
        );
    }
    let spki_of =
        |t: &SignedIdentityToken| t.data.sad_public_key().unwrap().unwrap().to_der().unwrap();
    assert_eq!(spki_of(&login), login_key.spki());
    assert_eq!(login.data.signing_scope().unwrap(), None);
    assert_eq!(spki_of(&extended), sad_key.spki());
    assert_eq!(
        extended.data.signing_scope().unwrap().as_deref(),
        Some("signing")
    );
    assert_eq!(sad.tbs.identity_token, extended);
    let hashes: Vec<Vec<u8>> = ["document-1.txt", "document-2.txt"]
        .iter()
        .map(|n| sha256(&[&read(n)]))
        .collect();
    let in_sad: Vec<Vec<u8>> = sad
        .tbs
        .tbs_hash_values
        .iter()
        .map(|h| h.as_bytes().to_vec())
        .collect();
    assert_eq!(in_sad, hashes);

    // The firmware they were made for, trusting the committed IdP.
    let (mut b, pu, signer, key) = deployment(Some(read("idp-cert.der")));
    assert_eq!(login.data.user_id, pu.record.user_id.to_string());
    assert_eq!(extended.data.user_id, signer.record.user_id.to_string());
    assert_eq!(
        sad.tbs.key_id,
        key.key_id.to_string(),
        "the test platform made another KeyID than the vectors name; \
         regenerate them (host/testvectors/README.md)"
    );
    let not_before = login.data.not_before.to_unix_duration().as_secs() as i64;
    b.fw.platform().set_time(not_before + 60);

    // The login token, with a proof by its key, authorizes a request.
    let user_id = b.new_user_id();
    let mut req = CreateSigner {
        auth: unsigned(),
        user: NewUser {
            user_id,
            certificates: blobs(&[b.idp.cert.clone()]),
        },
    };
    let intent = req.intent(pu.record.user_id);
    let auth = b.token_auth_with(
        &pu,
        SubFunction::CreateSigner,
        &intent,
        login_der,
        &login_key,
    );
    *req.auth_mut() = auth;
    let created = b.call(&req).expect("the login token authorizes");
    assert_eq!(created.record.record.user_id, user_id);

    // The SAD, with the extended token inside, signs both documents.
    let signed = b
        .sign(&signer, &key, sad_der.clone())
        .expect("the SAD signs");
    verify_all(&key.public_key, HashAlgorithm::Sha256, &hashes, &signed);
    // And only once.
    assert!(b.sign(&signer, &key, sad_der).is_err());
}

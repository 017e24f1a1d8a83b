#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! S/MIME messages checked by `openssl smime -verify`: accepted, the
//! signed entity comes out CRLF-canonical, and a changed byte is refused.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use sam_docsign::{DocError, Prepared, SignerCert, smime};
use sam_proto::ids::HashAlgorithm;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

/// A throw-away CA (PEM written to `dir/ca.pem`) and a P-256 signer it
/// certified: the stand-in for the SAM key.
fn signer(dir: &Path) -> (SignerCert, SigningKey) {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "S/MIME test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ee = CertificateParams::new(Vec::<String>::new()).unwrap();
    ee.distinguished_name.push(DnType::CommonName, "Signer");
    let cert = ee
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .unwrap();
    (
        SignerCert {
            certificate: cert.der().to_vec(),
            chain: vec![],
        },
        SigningKey::from_pkcs8_der(key.serialized_der()).unwrap(),
    )
}

/// What the SAM does: sign the prepared hash.
fn sam_sign(key: &SigningKey, prepared: &dyn Prepared) -> Vec<u8> {
    let sig: DerSignature = key.sign_prehash(prepared.to_be_signed_hash()).unwrap();
    sig.as_bytes().to_vec()
}

/// `openssl smime -verify` of `message`: whether it verified, the content
/// it wrote out, and its messages.
fn openssl_verify(dir: &Path, message: &[u8]) -> (bool, Vec<u8>, String) {
    let msg = dir.join("msg.eml");
    let out = dir.join("out.eml");
    std::fs::write(&msg, message).unwrap();
    let _ = std::fs::remove_file(&out);
    let run = Command::new("openssl")
        .args(["smime", "-verify", "-in"])
        .arg(&msg)
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .args(["-purpose", "any", "-out"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): install the Debian package openssl"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (
        run.status.success(),
        std::fs::read(&out).unwrap_or_default(),
        text,
    )
}

/// `text` with every LF made CRLF, the canonical form the test expects
/// (its entities have LF line endings only).
fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in text {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Signs `entity`, checks that openssl accepts the message and puts out
/// the entity with CRLF line endings, and that a changed byte of the
/// entity inside the message is refused.
fn round_trip(entity: &[u8]) -> Vec<u8> {
    round_trip_with(entity, HashAlgorithm::Sha256)
}

fn round_trip_with(entity: &[u8], hash: HashAlgorithm) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (signer, key) = signer(dir.path());
    let prepared = smime::prepare(entity, &signer, hash, SystemTime::now()).unwrap();
    let message = prepared.finish(&sam_sign(&key, &prepared), None).unwrap();

    let (ok, out, text) = openssl_verify(dir.path(), &message);
    assert!(ok, "openssl refused the message: {text}");
    assert!(text.contains("Verification successful"), "{text}");
    assert_eq!(out, crlf(entity), "openssl's output is not the entity");

    // The first byte of the entity's body, changed.
    let expected = crlf(entity);
    let start = message
        .windows(expected.len())
        .position(|w| w == expected.as_slice())
        .expect("the entity is in the message byte for byte");
    let body = expected.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut changed = message.clone();
    changed[start + body] ^= 0x01;
    let (ok, _, text) = openssl_verify(dir.path(), &changed);
    assert!(!ok, "openssl accepted a changed entity: {text}");
    message
}

#[test]
fn a_plain_text_entity_verifies_and_comes_out_canonical() {
    let message =
        round_trip(b"Content-Type: text/plain; charset=us-ascii\n\nHello,\nthis is signed.\n");
    let head = String::from_utf8_lossy(
        &message[..message.windows(4).position(|w| w == b"\r\n\r\n").unwrap()],
    )
    .into_owned();
    assert!(head.contains("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary="), "{head}");
    // The signature part's base64 lines are at most 76 characters.
    let text = String::from_utf8_lossy(&message);
    let p7s = text.split("filename=smime.p7s\r\n\r\n").nth(1).unwrap();
    let lines: Vec<&str> = p7s
        .split("\r\n")
        .take_while(|l| !l.starts_with("--"))
        .collect();
    assert!(
        lines.len() > 2 && lines.iter().all(|l| l.len() <= 76),
        "{lines:?}"
    );
    assert_eq!(lines[0].len(), 76);
}

#[test]
fn an_8bit_body_is_signed_byte_for_byte() {
    round_trip(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße aus Köln, 10 € — ça va?\n"
            .as_bytes(),
    );
}

#[test]
fn a_nested_multipart_entity_verifies() {
    round_trip(
        b"Content-Type: multipart/mixed; boundary=\"inner\"\n\
          \n\
          --inner\n\
          Content-Type: text/plain\n\
          \n\
          The letter.\n\
          --inner\n\
          Content-Type: application/octet-stream; name=a.bin\n\
          Content-Transfer-Encoding: base64\n\
          \n\
          AAECAwQFBgc=\n\
          --inner--\n",
    );
}

#[test]
fn crlf_and_lf_entities_give_the_same_signed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, _) = signer(dir.path());
    let lf = b"Content-Type: text/plain\n\nline\n";
    let a = smime::prepare(
        lf,
        &signer,
        HashAlgorithm::Sha256,
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
    )
    .unwrap();
    let b = smime::prepare(
        &crlf(lf),
        &signer,
        HashAlgorithm::Sha256,
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
    )
    .unwrap();
    assert_eq!(a.to_be_signed_hash(), b.to_be_signed_hash());
    assert_eq!(a.canonical_entity(), crlf(lf).as_slice());
}

#[test]
fn a_wrong_signature_or_a_time_stamp_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, key) = signer(dir.path());
    let prepared = smime::prepare(
        b"Content-Type: text/plain\n\nx\n",
        &signer,
        HashAlgorithm::Sha256,
        SystemTime::now(),
    )
    .unwrap();
    let other = smime::prepare(
        b"Content-Type: text/plain\n\ny\n",
        &signer,
        HashAlgorithm::Sha256,
        SystemTime::now(),
    )
    .unwrap();
    let wrong = sam_sign(&key, &other);
    assert!(matches!(
        prepared.finish(&wrong, None),
        Err(DocError::BadSignature(_))
    ));
    let right = sam_sign(&key, &prepared);
    assert!(matches!(
        prepared.finish(&right, Some(b"token")),
        Err(DocError::InvalidInput(_))
    ));
    assert!(matches!(
        prepared.timestamped_data(&right),
        Err(DocError::InvalidInput(_))
    ));

    // finish_parts: the headers apart, the same body.
    let parts = prepared.finish_parts(&right).unwrap();
    assert_eq!(
        parts.headers[0],
        ("MIME-Version".to_owned(), "1.0".to_owned())
    );
    let mut whole = Vec::new();
    for (n, v) in &parts.headers {
        whole.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    whole.extend_from_slice(b"From: a@example.invalid\r\n\r\n");
    whole.extend_from_slice(&parts.body);
    let (ok, _, text) = openssl_verify(dir.path(), &whole);
    assert!(ok, "{text}");
}

#[test]
fn sha384_is_named_in_micalg() {
    let message = round_trip_with(
        b"Content-Type: text/plain\n\nwith SHA-384\n",
        HashAlgorithm::Sha384,
    );
    let text = String::from_utf8_lossy(&message);
    assert!(text.contains("; micalg=sha-384; "), "{text}");
}

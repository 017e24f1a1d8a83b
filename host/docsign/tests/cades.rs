#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! CAdES-B-B and -B-T, detached and enveloping, checked by openssl:
//! `openssl cms -verify` for the signature, `openssl ts -verify` for the
//! signature time-stamp (made by openssl acting as the TSA).

mod support;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode};
use sam_docsign::cades::{self, CadesPrepared};
use sam_docsign::{DocError, Level, Packaging, Prepared};
use sam_proto::ids::HashAlgorithm;
use std::path::Path;
use std::time::SystemTime;
use support::{KeyType, Pki, openssl, openssl_ok, s};

const DOCUMENT: &[u8] =
    b"The CAdES test document.\r\nBinary: \x00\x01\xfe\xff, and no final newline";

/// `openssl cms -verify` of `p7` against the signing CA: detached with
/// `content`, enveloping without. The verified content, or the output.
fn cms_verify(pki: &Pki, dir: &Path, p7: &[u8], content: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let sig = dir.join("sig.p7");
    std::fs::write(&sig, p7).unwrap();
    let out = dir.join("verified.out");
    let mut args = vec![
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        s(&sig),
        "-CAfile",
        s(&pki.ca_pem),
        "-purpose",
        "any",
        "-out",
        s(&out),
    ];
    let doc = dir.join("doc");
    if let Some(content) = content {
        std::fs::write(&doc, content).unwrap();
        args.extend(["-content", s(&doc)]);
    }
    let (ok, text) = openssl(&args);
    if ok && text.contains("Verification successful") {
        Ok(std::fs::read(out).unwrap())
    } else {
        Err(text)
    }
}

/// What `openssl cms -cmsout -print` says of `p7`.
fn cms_print(dir: &Path, p7: &[u8]) -> String {
    let sig = dir.join("print.p7");
    std::fs::write(&sig, p7).unwrap();
    openssl_ok(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", s(&sig)])
}

/// The signature value and the signature-time-stamp tokens of the one
/// `SignerInfo` of `p7`.
fn signer_info(p7: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let ci = ContentInfo::from_der(p7).unwrap();
    let sd: SignedData = ci.content.decode_as().unwrap();
    assert_eq!(sd.signer_infos.0.len(), 1);
    let si = sd.signer_infos.0.get(0).unwrap();
    let tokens = si
        .unsigned_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .filter(|a| a.oid == sam_client::cms::ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .flat_map(|a| a.values.iter())
        .map(|v| v.to_der().unwrap())
        .collect();
    (si.signature.as_bytes().to_vec(), tokens)
}

fn prepare(
    pki: &Pki,
    key: KeyType,
    packaging: Packaging,
    hash: HashAlgorithm,
    level: Level,
) -> CadesPrepared {
    cades::prepare_document(
        DOCUMENT,
        packaging,
        pki.signer(key),
        hash,
        level,
        SystemTime::now(),
    )
    .unwrap()
}

#[test]
fn cades_b_b_detached_and_enveloping_verify_with_openssl() {
    let pki = Pki::new();
    let cases = [
        (KeyType::P256, HashAlgorithm::Sha256),
        (KeyType::P256, HashAlgorithm::Sha384),
        (KeyType::P256, HashAlgorithm::Sha512),
        (KeyType::Rsa2048, HashAlgorithm::Sha256),
        (KeyType::Rsa2048, HashAlgorithm::Sha512),
    ];
    for (key, hash) in cases {
        for packaging in [Packaging::Detached, Packaging::Enveloping] {
            let name = format!("{key:?} {hash:?} {packaging:?}");
            let dir = pki.case_dir(&name);
            let prepared = prepare(&pki, key, packaging, hash, Level::BB);
            assert_eq!(prepared.to_be_signed_hash().len(), hash.output_len());
            let sig = pki.sign(key, hash, prepared.to_be_signed_hash());
            let p7 = prepared.finish(&sig, None).unwrap();

            let detached = packaging == Packaging::Detached;
            let verified = cms_verify(&pki, &dir, &p7, detached.then_some(DOCUMENT))
                .unwrap_or_else(|e| panic!("{name}: openssl cms -verify said no:\n{e}"));
            assert_eq!(verified, DOCUMENT, "{name}");

            let printed = cms_print(&dir, &p7);
            for want in [
                "contentType",
                "messageDigest",
                "signingTime",
                "id-smime-aa-signingCertificateV2",
            ] {
                assert!(printed.contains(want), "{name}: {want} missing:\n{printed}");
            }
            assert_eq!(
                printed.contains("eContent: <ABSENT>"),
                detached,
                "{name}:\n{printed}"
            );
            assert!(
                !printed.contains("unsignedAttrs:\n        object"),
                "{name}"
            );

            // Another document: openssl says no.
            if detached {
                let mut changed = DOCUMENT.to_vec();
                changed[3] ^= 0x20;
                assert!(
                    cms_verify(&pki, &dir, &p7, Some(&changed)).is_err(),
                    "{name}: a changed document verified"
                );
            }
        }
    }
}

#[test]
fn cades_b_t_carries_a_time_stamp_over_the_signature_value() {
    let pki = Pki::new();
    for packaging in [Packaging::Detached, Packaging::Enveloping] {
        for (key, hash) in [
            (KeyType::P256, HashAlgorithm::Sha256),
            (KeyType::Rsa2048, HashAlgorithm::Sha384),
        ] {
            let name = format!("B-T {key:?} {hash:?} {packaging:?}");
            let dir = pki.case_dir(&name);
            let prepared = prepare(&pki, key, packaging, hash, Level::BT);
            let sig = pki.sign(key, hash, prepared.to_be_signed_hash());
            let stamped = prepared.timestamped_data(&sig).unwrap();
            assert_eq!(stamped, sig, "CMS time-stamps the signature value");
            let token = pki.timestamp(&stamped);
            let p7 = prepared.finish(&sig, Some(&token)).unwrap();

            let detached = packaging == Packaging::Detached;
            let verified = cms_verify(&pki, &dir, &p7, detached.then_some(DOCUMENT))
                .unwrap_or_else(|e| panic!("{name}: openssl cms -verify said no:\n{e}"));
            assert_eq!(verified, DOCUMENT);
            let printed = cms_print(&dir, &p7);
            assert!(
                printed.contains("id-smime-aa-timeStampToken"),
                "{name}: no signature time-stamp attribute:\n{printed}"
            );

            // The token in the container is the TSA's, over the value in
            // the SignerInfo: openssl ts -verify agrees.
            let (value, tokens) = signer_info(&p7);
            assert_eq!(value, sig);
            assert_eq!(tokens, vec![token.clone()], "{name}");
            let (ok, out) = pki.ts_verify(&value, &tokens[0]);
            assert!(ok && out.contains("Verification: OK"), "{name}: {out}");
            // ...and over nothing else.
            let (ok, _) = pki.ts_verify(b"another value", &tokens[0]);
            assert!(!ok, "{name}: the token verified over other data");
        }
    }
}

#[test]
fn the_levels_demand_their_time_stamp_and_a_wrong_one_is_refused() {
    let pki = Pki::new();
    let key = KeyType::P256;
    let hash = HashAlgorithm::Sha256;

    let bt = prepare(&pki, key, Packaging::Detached, hash, Level::BT);
    let sig = pki.sign(key, hash, bt.to_be_signed_hash());
    assert!(matches!(
        bt.finish(&sig, None),
        Err(DocError::InvalidInput(_))
    ));
    // A token over something else than this signature value.
    let other = pki.timestamp(b"not the signature");
    assert!(matches!(
        bt.finish(&sig, Some(&other)),
        Err(DocError::Timestamp(_))
    ));
    assert!(matches!(
        bt.finish(&sig, Some(b"\x30\x03\x02\x01\x01")),
        Err(DocError::Timestamp(_))
    ));

    let bb = prepare(&pki, key, Packaging::Enveloping, hash, Level::BB);
    let sig = pki.sign(key, hash, bb.to_be_signed_hash());
    let token = pki.timestamp(&sig);
    assert!(matches!(
        bb.finish(&sig, Some(&token)),
        Err(DocError::InvalidInput(_))
    ));

    // A signature by another key, or over another hash.
    let wrong = pki.sign(KeyType::P256, hash, &[0x55; 32]);
    assert!(matches!(
        bb.finish(&wrong, None),
        Err(DocError::BadSignature(_))
    ));
    let rsa = pki.sign(KeyType::Rsa2048, hash, bb.to_be_signed_hash());
    assert!(matches!(
        bb.finish(&rsa, None),
        Err(DocError::BadSignature(_))
    ));

    // Enveloped content whose digest is not the one given.
    let err = cades::prepare(
        &sam_client::verify::digest(hash, b"other"),
        Some(DOCUMENT),
        pki.signer(key),
        hash,
        Level::BB,
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(matches!(err, DocError::InvalidInput(_)), "{err:?}");
}

/// The digest-only entry point (a large document hashed in a stream):
/// the same container as from the whole document.
#[test]
fn a_detached_signature_from_the_digest_alone() {
    let pki = Pki::new();
    let hash = HashAlgorithm::Sha384;
    let dir = pki.case_dir("digest");
    let prepared = cades::prepare(
        &sam_client::verify::digest(hash, DOCUMENT),
        None,
        pki.signer(KeyType::P256),
        hash,
        Level::BB,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(prepared.level(), Level::BB);
    let sig = pki.sign(KeyType::P256, hash, prepared.to_be_signed_hash());
    let p7 = prepared.finish(&sig, None).unwrap();
    cms_verify(&pki, &dir, &p7, Some(DOCUMENT)).unwrap();
    // The signer's chain travels in the container.
    let certs = {
        let ci = ContentInfo::from_der(&p7).unwrap();
        let sd: SignedData = ci.content.decode_as().unwrap();
        sd.certificates.unwrap().0.len()
    };
    assert_eq!(certs, 2);
}

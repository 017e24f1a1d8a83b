#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! What the development PKI writes, and what sam-client's CMS module
//! builds, checked by openssl.

mod support;

use der::Encode;
use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::SignatureEncoding;
use sam_client::{ClientError, cms};
use sam_devpki::{DevPki, DevPkiOptions, IdpKeyType, files};
use sam_proto::ids::HashAlgorithm;
use sha2::{Digest, Sha256};
use std::path::Path;
use support::{openssl, openssl_cms_verify, openssl_ok, write_cert_pem};
use x509_cert::builder::{Builder, RequestBuilder};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn dev_pki_files_pass_openssl_verify() {
    for idp_key in [IdpKeyType::P256, IdpKeyType::Rsa2048] {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::create(dir.path(), &DevPkiOptions { idp_key }).unwrap();
        let p = |n: &str| pki.path(n);
        let tls_ca = p(files::TLS_CA_CERT);

        let out = openssl_ok(&[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            s(&tls_ca),
            s(&p(files::SERVER_CERT)),
        ]);
        assert!(out.contains(": OK"), "{out}");
        let san = openssl_ok(&[
            "x509",
            "-in",
            s(&p(files::SERVER_CERT)),
            "-noout",
            "-ext",
            "subjectAltName",
        ]);
        assert!(
            san.contains("DNS:localhost") && san.contains("IP Address:127.0.0.1"),
            "{san}"
        );
        for cert in [
            files::SSA_CERT,
            files::PRIVILEGED_CERT,
            files::MANAGEMENT_CERT,
        ] {
            let out = openssl_ok(&[
                "verify",
                "-purpose",
                "sslclient",
                "-CAfile",
                s(&tls_ca),
                s(&p(cert)),
            ]);
            assert!(out.contains(": OK"), "{cert}: {out}");
        }
        // The roots and the self-signed IdP certificate.
        for (ca, cert) in [
            (files::TLS_CA_CERT, files::TLS_CA_CERT),
            (files::CA_CERT, files::CA_CERT),
            (files::IDP_CERT, files::IDP_CERT),
        ] {
            let out = openssl_ok(&["verify", "-CAfile", s(&p(ca)), s(&p(cert))]);
            assert!(out.contains(": OK"), "{cert}: {out}");
        }
        // A certificate of the TLS CA does not chain to the signing CA.
        let (ok, _) = openssl(&[
            "verify",
            "-CAfile",
            s(&p(files::CA_CERT)),
            s(&p(files::SERVER_CERT)),
        ]);
        assert!(!ok, "openssl accepted a certificate of the wrong CA");
        // Every key reads, and belongs to its certificate.
        for (cert, key) in [
            (files::TLS_CA_CERT, files::TLS_CA_KEY),
            (files::SERVER_CERT, files::SERVER_KEY),
            (files::SSA_CERT, files::SSA_KEY),
            (files::PRIVILEGED_CERT, files::PRIVILEGED_KEY),
            (files::MANAGEMENT_CERT, files::MANAGEMENT_KEY),
            (files::IDP_CERT, files::IDP_KEY),
            (files::CA_CERT, files::CA_KEY),
        ] {
            let from_cert = openssl_ok(&["x509", "-in", s(&p(cert)), "-noout", "-pubkey"]);
            let from_key = openssl_ok(&["pkey", "-in", s(&p(key)), "-pubout"]);
            assert_eq!(from_cert, from_key, "{key} does not belong to {cert}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(p(key)).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "{key} is readable by others");
            }
        }
        for key in files::ADMIN_KEYS {
            let text = openssl_ok(&["pkey", "-in", s(&p(key)), "-noout", "-text"]);
            assert!(
                text.contains("P-256") || text.contains("prime256v1"),
                "{text}"
            );
        }
        let idp_text = openssl_ok(&["x509", "-in", s(&p(files::IDP_CERT)), "-noout", "-text"]);
        let want = match idp_key {
            IdpKeyType::P256 => "id-ecPublicKey",
            IdpKeyType::Rsa2048 => "(2048 bit)",
        };
        assert!(idp_text.contains(want), "{idp_text}");
        // DEV-ONLY is in every subject.
        for cert in [
            files::TLS_CA_CERT,
            files::IDP_CERT,
            files::CA_CERT,
            files::SSA_CERT,
        ] {
            let subject = openssl_ok(&["x509", "-in", s(&p(cert)), "-noout", "-subject"]);
            assert!(subject.contains("DEV-ONLY"), "{subject}");
        }
        // The connector pins are the certificates' SHA-256.
        let connectors = std::fs::read_to_string(p(files::CONNECTORS)).unwrap();
        for cert in [
            files::SSA_CERT,
            files::PRIVILEGED_CERT,
            files::MANAGEMENT_CERT,
        ] {
            let der = sam_client::read_pem_certificates(&p(cert))
                .unwrap()
                .remove(0);
            let pin: String = Sha256::digest(der.as_ref())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(connectors.contains(&pin), "{cert}: pin missing");
        }
        // Loading works; creating over an existing PKI does not.
        let loaded = DevPki::load(dir.path()).unwrap();
        loaded.idp().unwrap();
        loaded.ca().unwrap();
        assert!(DevPki::create(dir.path(), &DevPkiOptions::default()).is_err());
    }
}

/// A signer certificate from the development CA for a CSR made here.
fn certify(pki: &DevPki, csr: &[u8]) -> Vec<u8> {
    pki.ca().unwrap().issue_from_csr(csr).unwrap()
}

/// (i) A detached CMS signature built by sam-client, its hash signed
/// locally with a P-256 key and with an RSA-3072 key standing in for the
/// SAM, verifies with `openssl cms -verify`; the same signature over a
/// changed document does not.
#[test]
fn cms_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let ca_pem = pki.path(files::CA_CERT);
    let document = b"Rechnung Nr. 4711\nBetrag: 1.000,00 EUR\n\x00\xff binary tail".to_vec();

    // P-256, SHA-256 and SHA-384.
    let p256_key = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let csr = RequestBuilder::new("CN=CMS test P-256,O=SAM DEV-ONLY,C=DE".parse().unwrap())
        .unwrap()
        .build::<_, DerSignature>(&p256_key)
        .unwrap()
        .to_der()
        .unwrap();
    let p256_cert = certify(&pki, &csr);

    // RSA-3072 (generated by aws-lc through rcgen: fast), SHA-256.
    let rsa_pair =
        rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
            .unwrap();
    let rsa_private = rsa::RsaPrivateKey::from_pkcs8_der(rsa_pair.serialized_der()).unwrap();
    let rsa_signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa_private.clone());
    let csr = RequestBuilder::new("CN=CMS test RSA-3072,O=SAM DEV-ONLY,C=DE".parse().unwrap())
        .unwrap()
        .build::<_, rsa::pkcs1v15::Signature>(&rsa_signer)
        .unwrap()
        .to_der()
        .unwrap();
    let rsa_cert = certify(&pki, &csr);

    let cases: Vec<(&str, HashAlgorithm, &Vec<u8>)> = vec![
        ("P-256/SHA-256", HashAlgorithm::Sha256, &p256_cert),
        ("P-256/SHA-384", HashAlgorithm::Sha384, &p256_cert),
        ("RSA-3072/SHA-256", HashAlgorithm::Sha256, &rsa_cert),
    ];
    for (name, hash, cert) in cases {
        let prepared = cms::prepare(&document, cert, &[], hash).unwrap();
        assert_eq!(prepared.to_be_signed_hash.len(), hash.output_len());
        // The stand-in SAM signs the hash, as samd's /signing would.
        let signature = if cert == &p256_cert {
            let sig: DerSignature = p256_key.sign_prehash(&prepared.to_be_signed_hash).unwrap();
            sig.as_bytes().to_vec()
        } else {
            rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa_private.clone())
                .sign_prehash(&prepared.to_be_signed_hash)
                .map(|s: rsa::pkcs1v15::Signature| s.to_vec())
                .unwrap()
        };
        let p7s = prepared.finish(&signature).unwrap();
        let case_dir = dir.path().join(name.replace('/', "-"));
        std::fs::create_dir_all(&case_dir).unwrap();
        let (ok, out) = openssl_cms_verify(&case_dir, &document, &p7s, &ca_pem);
        assert!(ok, "{name}: openssl cms -verify said no:\n{out}");
        assert!(out.contains("Verification successful"), "{name}: {out}");
        assert_eq!(
            std::fs::read(case_dir.join("verified.out")).unwrap(),
            document
        );

        // What openssl reads back: detached, our attributes, the cert.
        let p7s_path = case_dir.join("doc.p7s");
        let printed = openssl_ok(&[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            s(&p7s_path),
        ]);
        for want in [
            "contentType",
            "messageDigest",
            "signingTime",
            "id-smime-aa-signingCertificateV2",
            "eContent: <ABSENT>",
        ] {
            assert!(printed.contains(want), "{name}: {want} missing:\n{printed}");
        }

        // Another document: openssl must say no.
        let mut changed = document.clone();
        changed[0] ^= 1;
        let tamper_dir = case_dir.join("tampered");
        std::fs::create_dir_all(&tamper_dir).unwrap();
        let (ok, out) = openssl_cms_verify(&tamper_dir, &changed, &p7s, &ca_pem);
        assert!(!ok, "{name}: openssl accepted a changed document:\n{out}");
    }

    // A signer that is not in the CA's hierarchy: openssl says no.
    let other = tempfile::tempdir().unwrap();
    let other_pki = DevPki::create(other.path(), &DevPkiOptions::default()).unwrap();
    let prepared = cms::prepare(&document, &p256_cert, &[], HashAlgorithm::Sha256).unwrap();
    let sig: DerSignature = p256_key.sign_prehash(&prepared.to_be_signed_hash).unwrap();
    let p7s = prepared.finish(sig.as_bytes()).unwrap();
    let (ok, _) = openssl_cms_verify(
        other.path(),
        &document,
        &p7s,
        &other_pki.path(files::CA_CERT),
    );
    assert!(!ok, "openssl accepted a signer from another CA");

    // The chain travels in the SignedData: with the CA certificate inside,
    // openssl still needs only the trust anchor.
    let ca_der = pki.ca().unwrap().certificate_der().unwrap();
    let prepared = cms::prepare(&document, &p256_cert, &[ca_der], HashAlgorithm::Sha256).unwrap();
    let sig: DerSignature = p256_key.sign_prehash(&prepared.to_be_signed_hash).unwrap();
    let p7s = prepared.finish(sig.as_bytes()).unwrap();
    let chain_dir = dir.path().join("chain");
    std::fs::create_dir_all(&chain_dir).unwrap();
    let (ok, out) = openssl_cms_verify(&chain_dir, &document, &p7s, &ca_pem);
    assert!(ok, "with chain: {out}");
    let certs = openssl_ok(&[
        "pkcs7",
        "-inform",
        "DER",
        "-in",
        s(&chain_dir.join("doc.p7s")),
        "-print_certs",
        "-noout",
    ]);
    assert_eq!(certs.matches("subject=").count(), 2, "{certs}");
}

/// `finish` refuses a signature that does not belong to the certificate
/// (a SAM key other than the certified one, or a corrupted signature).
#[test]
fn cms_finish_refuses_a_foreign_signature() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let key = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
    let csr = RequestBuilder::new("CN=finish,O=SAM DEV-ONLY,C=DE".parse().unwrap())
        .unwrap()
        .build::<_, DerSignature>(&key)
        .unwrap()
        .to_der()
        .unwrap();
    let cert = certify(&pki, &csr);
    let prepared = cms::prepare(b"doc", &cert, &[], HashAlgorithm::Sha256).unwrap();
    let other = p256::ecdsa::SigningKey::from_slice(&[0x44; 32]).unwrap();
    let sig: DerSignature = other.sign_prehash(&prepared.to_be_signed_hash).unwrap();
    assert_eq!(
        prepared.finish(sig.as_bytes()).unwrap_err(),
        ClientError::BadSignature
    );
    assert_eq!(
        prepared.finish(b"\x30\x00").unwrap_err(),
        ClientError::BadSignature
    );
    // A digest of the wrong length for prepare_digest is refused.
    assert!(matches!(
        cms::prepare_digest(
            &[0; 31],
            &cert,
            &[],
            HashAlgorithm::Sha256,
            std::time::SystemTime::now()
        ),
        Err(ClientError::InvalidInput(_))
    ));
    let _ = write_cert_pem;
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The development TSA checked by `openssl ts`, and sam-docsign's
//! time-stamp client against it over HTTP: what it accepts, openssl
//! accepts; what a broken or foreign TSA sends, it refuses.

mod support;

use sam_devpki::{
    DevCa, DevIdpOptions, DevIdpServer, DevPki, DevPkiOptions, DevTsa, TSA_PATH, TsaFault, files,
};
use sam_docsign::DocError;
use sam_docsign::tsp::{TsaClient, TsaConfig, verify_token};
use sam_proto::ids::HashAlgorithm;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::{openssl, openssl_ok};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl ts -verify` of the reply file `reply` for the file `data`
/// with the trust anchors of `ca`.
fn ts_verify(reply: &Path, data: &Path, ca: &Path) -> (bool, String) {
    openssl(&[
        "ts",
        "-verify",
        "-in",
        s(reply),
        "-data",
        s(data),
        "-CAfile",
        s(ca),
    ])
}

/// A development PKI in a fresh folder.
fn pki() -> (tempfile::TempDir, DevPki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    (dir, pki)
}

/// The DER of the first certificate of a PEM file.
fn cert_der(path: &Path) -> Vec<u8> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

#[test]
fn openssl_ts_verify_accepts_a_reply_to_an_openssl_query_and_refuses_other_data() {
    let (dir, pki) = pki();
    let d = dir.path();
    let data = d.join("data.txt");
    std::fs::write(&data, b"the document to time-stamp\n").unwrap();
    let query = d.join("req.tsq");
    openssl_ok(&[
        "ts",
        "-query",
        "-data",
        s(&data),
        "-sha256",
        "-cert",
        "-out",
        s(&query),
    ]);
    let tsa = pki.tsa().unwrap();
    let reply = tsa.respond(&std::fs::read(&query).unwrap()).unwrap();
    let reply_path = d.join("reply.tsr");
    std::fs::write(&reply_path, &reply).unwrap();
    let ca = pki.path(files::CA_CERT);

    for against in [["-data", s(&data)], ["-queryfile", s(&query)]] {
        let out = openssl_ok(&[
            "ts",
            "-verify",
            "-in",
            s(&reply_path),
            against[0],
            against[1],
            "-CAfile",
            s(&ca),
        ]);
        assert!(out.contains("Verification: OK"), "{out}");
    }

    // openssl reads the token's fields as the TSA meant them.
    let text = openssl_ok(&["ts", "-reply", "-in", s(&reply_path), "-text"]);
    assert!(text.contains("Status: Granted."), "{text}");
    assert!(
        text.contains(&sam_devpki::DEV_TSA_POLICY.to_string()),
        "{text}"
    );
    let query_text = openssl_ok(&["ts", "-query", "-in", s(&query), "-text"]);
    let nonce_line = |t: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with("Nonce:"))
            .map(|l| l.trim().to_owned())
            .unwrap()
    };
    assert_eq!(nonce_line(&text), nonce_line(&query_text));

    // Other data, a changed reply, another CA: refused.
    let other = d.join("other.txt");
    std::fs::write(&other, b"the document to time-stamp!\n").unwrap();
    let (ok, out) = ts_verify(&reply_path, &other, &ca);
    assert!(!ok, "openssl accepted a token for other data: {out}");
    let mut changed = reply.clone();
    let at = changed.len() - 10;
    changed[at] ^= 0x01;
    let changed_path = d.join("changed.tsr");
    std::fs::write(&changed_path, &changed).unwrap();
    let (ok, out) = ts_verify(&changed_path, &data, &ca);
    assert!(!ok, "openssl accepted a changed reply: {out}");
    let (ok, out) = ts_verify(&reply_path, &data, &pki.path(files::TLS_CA_CERT));
    assert!(!ok, "openssl accepted the token with another CA: {out}");
}

#[test]
fn the_tsa_certificate_has_the_critical_time_stamping_usage() {
    let (_dir, pki) = pki();
    let out = openssl_ok(&[
        "x509",
        "-in",
        s(&pki.path(files::TSA_CERT)),
        "-noout",
        "-ext",
        "extendedKeyUsage",
    ]);
    assert!(
        out.contains("critical") && out.contains("Time Stamping"),
        "{out}"
    );
    let out = openssl_ok(&[
        "verify",
        "-purpose",
        "timestampsign",
        "-CAfile",
        s(&pki.path(files::CA_CERT)),
        s(&pki.path(files::TSA_CERT)),
    ]);
    assert!(out.contains(": OK"), "{out}");
}

#[test]
fn malformed_or_unsupported_requests_are_rejected_with_a_status() {
    let (dir, pki) = pki();
    let d = dir.path();
    let tsa = pki.tsa().unwrap();
    let data = d.join("data.txt");
    std::fs::write(&data, b"x").unwrap();
    let sha1_query = d.join("sha1.tsq");
    openssl_ok(&[
        "ts",
        "-query",
        "-data",
        s(&data),
        "-sha1",
        "-out",
        s(&sha1_query),
    ]);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "garbage",
            b"not DER at all".to_vec(),
            "the data submitted has the wrong format",
        ),
        (
            "empty",
            Vec::new(),
            "the data submitted has the wrong format",
        ),
        (
            "sha1",
            std::fs::read(&sha1_query).unwrap(),
            "unrecognized or unsupported algorithm",
        ),
    ];
    for (name, request, failure) in cases {
        let reply = tsa.respond(&request).unwrap();
        let path = d.join(format!("{name}.tsr"));
        std::fs::write(&path, &reply).unwrap();
        let text = openssl_ok(&["ts", "-reply", "-in", s(&path), "-text"]);
        assert!(text.contains("Status: Rejected."), "{name}: {text}");
        assert!(text.contains(failure), "{name}: {text}");
        assert!(text.contains("TST info:\nNot included."), "{name}: {text}");
    }
}

/// The development IdP server with the TSA `tsa` at `/tsa`.
async fn serve(pki: &DevPki, tsa: DevTsa) -> DevIdpServer {
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    DevIdpServer::start_with_tsa(
        Arc::new(pki.idp().unwrap()),
        listen,
        DevIdpOptions::default(),
        Some(Arc::new(tsa)),
    )
    .await
    .unwrap()
}

fn client(server: &DevIdpServer, anchor: &[u8]) -> TsaClient {
    TsaClient::new(TsaConfig {
        url: format!("{}{TSA_PATH}", server.url()),
        trust_anchors: vec![anchor.to_vec()],
        timeout: Duration::from_secs(20),
        policy: None,
    })
    .unwrap()
}

#[tokio::test]
async fn the_client_gets_a_token_that_openssl_accepts() {
    let (dir, pki) = pki();
    let d = dir.path();
    let ca = cert_der(&pki.path(files::CA_CERT));
    let server = serve(&pki, pki.tsa().unwrap()).await;
    let data = b"signature value to time-stamp".to_vec();
    let before = SystemTime::now() - Duration::from_secs(2);
    let stamp = client(&server, &ca)
        .stamp(HashAlgorithm::Sha256, &data)
        .await
        .unwrap();
    assert!(
        stamp.gen_time >= before && stamp.gen_time <= SystemTime::now() + Duration::from_secs(2)
    );
    assert!(!stamp.serial.is_empty());

    let data_path = d.join("data.bin");
    std::fs::write(&data_path, &data).unwrap();
    let token_path = d.join("token.der");
    std::fs::write(&token_path, &stamp.token).unwrap();
    let ca_pem = pki.path(files::CA_CERT);
    let verify_token_file = || {
        openssl(&[
            "ts",
            "-verify",
            "-token_in",
            "-in",
            s(&token_path),
            "-data",
            s(&data_path),
            "-CAfile",
            s(&ca_pem),
        ])
    };
    let (ok, out) = verify_token_file();
    assert!(ok && out.contains("Verification: OK"), "{out}");
    std::fs::write(&data_path, b"signature value to time-stamp?").unwrap();
    let (ok, out) = verify_token_file();
    assert!(!ok, "openssl accepted the token for other data: {out}");

    // The same token through verify_token: right digest yes, other no.
    let digest = Sha256::digest(&data).to_vec();
    let summary = verify_token(
        &stamp.token,
        HashAlgorithm::Sha256,
        &digest,
        std::slice::from_ref(&ca),
    )
    .unwrap();
    assert_eq!(summary.serial, stamp.serial);
    assert_eq!(summary.gen_time, stamp.gen_time);
    let other = Sha256::digest(b"other").to_vec();
    let err = verify_token(&stamp.token, HashAlgorithm::Sha256, &other, &[ca]).unwrap_err();
    assert!(
        matches!(&err, DocError::Timestamp(m) if m.contains("imprint")),
        "{err}"
    );

    // A digest passed as such (CSC signatures/timestamp).
    let c = client(&server, &cert_der(&pki.path(files::CA_CERT)));
    let sha512 = sha2::Sha512::digest(&data).to_vec();
    let stamp = c
        .stamp_digest(HashAlgorithm::Sha512, &sha512)
        .await
        .unwrap();
    verify_token(
        &stamp.token,
        HashAlgorithm::Sha512,
        &sha512,
        &[cert_der(&pki.path(files::CA_CERT))],
    )
    .unwrap();
    server.stop().await;
}

/// The error of a stamp from `tsa` served by `pki`'s IdP server, with
/// `anchor` trusted.
async fn refusal(pki: &DevPki, tsa: DevTsa, anchor: &[u8]) -> String {
    let server = serve(pki, tsa).await;
    let result = client(&server, anchor)
        .stamp(HashAlgorithm::Sha256, b"data")
        .await;
    server.stop().await;
    match result {
        Err(DocError::Timestamp(m)) => m,
        other => panic!("expected a time-stamp refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_client_refuses_what_a_wrong_tsa_sends() {
    let (dir, pki) = pki();
    let ca = cert_der(&pki.path(files::CA_CERT));
    let tsa = || pki.tsa().unwrap();

    let m = refusal(&pki, tsa().with_fault(TsaFault::WrongImprint), &ca).await;
    assert!(m.contains("message imprint"), "{m}");
    let m = refusal(&pki, tsa().with_fault(TsaFault::WrongNonce), &ca).await;
    assert!(m.contains("nonce"), "{m}");
    let m = refusal(&pki, tsa().with_fault(TsaFault::Reject), &ca).await;
    assert!(m.contains("rejection") && m.contains("badRequest"), "{m}");

    // A TSA whose certificate another CA issued.
    let foreign = DevCa::generate().unwrap();
    let m = refusal(&pki, DevTsa::generate(&foreign).unwrap(), &ca).await;
    assert!(m.contains("trust anchor"), "{m}");

    // A certificate of the right CA without the time-stamping usage: a
    // signer certificate from a CSR.
    let ca_issuer = pki.ca().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "not a TSA");
    let csr = params.serialize_request(&key).unwrap();
    let cert = ca_issuer.issue_from_csr(csr.der()).unwrap();
    let cert_path = dir.path().join("not-a-tsa.pem");
    support::write_cert_pem(&cert_path, &cert);
    let cert_pem = std::fs::read_to_string(&cert_path).unwrap();
    let no_eku = DevTsa::from_pem(&cert_pem, &key.serialize_pem()).unwrap();
    let m = refusal(&pki, no_eku, &ca).await;
    assert!(m.contains("extendedKeyUsage"), "{m}");

    // And the good one passes with the same client code.
    let server = serve(&pki, tsa()).await;
    client(&server, &ca)
        .stamp(HashAlgorithm::Sha256, b"data")
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_policy_or_an_unreachable_tsa_is_refused() {
    let (_dir, pki) = pki();
    let ca = cert_der(&pki.path(files::CA_CERT));
    let server = serve(&pki, pki.tsa().unwrap()).await;
    let c = TsaClient::new(TsaConfig {
        url: format!("{}{TSA_PATH}", server.url()),
        trust_anchors: vec![ca.clone()],
        timeout: Duration::from_secs(20),
        policy: Some("1.2.3.4".into()),
    })
    .unwrap();
    let err = c.stamp(HashAlgorithm::Sha256, b"d").await.unwrap_err();
    assert!(
        matches!(&err, DocError::Timestamp(m) if m.contains("unacceptedPolicy")),
        "{err}"
    );
    let addr = server.local_addr();
    server.stop().await;
    let c = TsaClient::new(TsaConfig {
        url: format!("http://{addr}{TSA_PATH}"),
        trust_anchors: vec![ca],
        timeout: Duration::from_secs(5),
        policy: None,
    })
    .unwrap();
    let err = c.stamp(HashAlgorithm::Sha256, b"d").await.unwrap_err();
    assert!(matches!(err, DocError::Timestamp(_)), "{err}");
}

/// The DER `TimeStampReq` for the SHA-256 digest `digest`.
fn request(digest: &[u8], cert_req: bool) -> Vec<u8> {
    use der::Encode;
    use sam_docsign::tsp::asn1::{MessageImprint, TimeStampReq};
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: sam_proto::asn1::digest_algorithm(HashAlgorithm::Sha256),
            hashed_message: der::asn1::OctetString::new(digest).unwrap(),
        },
        req_policy: None,
        nonce: None,
        cert_req,
        extensions: None,
    }
    .to_der()
    .unwrap()
}

/// The token of a granted DER `TimeStampResp`.
fn token_of(reply: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode};
    let resp = sam_docsign::tsp::asn1::TimeStampResp::from_der(reply).unwrap();
    assert_eq!(resp.status.status, 0, "{:?}", resp.status);
    resp.time_stamp_token.unwrap().to_der().unwrap()
}

#[test]
fn a_token_without_certificates_needs_the_tsa_certificate_configured() {
    let (_dir, pki) = pki();
    let tsa = pki.tsa().unwrap();
    let ca = cert_der(&pki.path(files::CA_CERT));
    let digest = Sha256::digest(b"doc").to_vec();
    let token = token_of(&tsa.respond(&request(&digest, false)).unwrap());
    let err = verify_token(
        &token,
        HashAlgorithm::Sha256,
        &digest,
        std::slice::from_ref(&ca),
    )
    .unwrap_err();
    assert!(
        matches!(&err, DocError::Timestamp(m) if m.contains("neither in the token")),
        "{err}"
    );
    // The TSA certificate pinned as a trust anchor itself.
    verify_token(
        &token,
        HashAlgorithm::Sha256,
        &digest,
        &[tsa.certificate_der()],
    )
    .unwrap();
}

#[test]
fn a_token_made_outside_the_tsa_certificate_validity_is_refused() {
    let (_dir, pki) = pki();
    let tsa = pki.tsa().unwrap();
    let ca = cert_der(&pki.path(files::CA_CERT));
    let digest = Sha256::digest(b"doc").to_vec();
    let later = SystemTime::now() + sam_devpki::TSA_CERT_VALIDITY + Duration::from_secs(86_400);
    let token = token_of(&tsa.respond_at(&request(&digest, true), later).unwrap());
    let err = verify_token(&token, HashAlgorithm::Sha256, &digest, &[ca]).unwrap_err();
    assert!(
        matches!(&err, DocError::Timestamp(m) if m.contains("not valid at the token's genTime")),
        "{err}"
    );
}

#[test]
fn a_tsa_under_an_intermediate_ca_verifies_with_the_root_alone() {
    use der::Encode;
    use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A root of its own: the test writes its PEM for openssl.
    let root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.distinguished_name
        .push(DnType::CommonName, "DEV-ONLY test root");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let root_cert = root.self_signed(&root_key).unwrap();
    let root_pem = d.join("root.pem");
    std::fs::write(&root_pem, root_cert.pem()).unwrap();
    let root_issuer = Issuer::from_params(&root, &root_key);
    let mid_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut mid = CertificateParams::new(Vec::<String>::new()).unwrap();
    mid.distinguished_name
        .push(DnType::CommonName, "DEV-ONLY intermediate TSA CA");
    mid.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    mid.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let mid_cert = mid.signed_by(&mid_key, &root_issuer).unwrap();

    let tsa_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "DEV-ONLY TSA under an intermediate");
    let eku =
        x509_cert::ext::pkix::ExtendedKeyUsage(vec![sam_docsign::tsp::asn1::ID_KP_TIME_STAMPING])
            .to_der()
            .unwrap();
    let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], eku);
    ext.set_criticality(true);
    leaf.custom_extensions = vec![ext];
    let leaf_cert = leaf
        .signed_by(&tsa_key, &Issuer::from_params(&mid, &mid_key))
        .unwrap();
    let tsa = DevTsa::from_pem(&leaf_cert.pem(), &tsa_key.serialize_pem())
        .unwrap()
        .with_chain(&[mid_cert.der().to_vec()])
        .unwrap();

    let data = d.join("data.txt");
    std::fs::write(&data, b"under an intermediate").unwrap();
    let digest = Sha256::digest(b"under an intermediate").to_vec();
    let reply = tsa.respond(&request(&digest, true)).unwrap();
    let token = token_of(&reply);
    let ca = root_cert.der().to_vec();
    verify_token(
        &token,
        HashAlgorithm::Sha256,
        &digest,
        std::slice::from_ref(&ca),
    )
    .unwrap();
    let reply_path = d.join("reply.tsr");
    std::fs::write(&reply_path, &reply).unwrap();
    let (ok, out) = ts_verify(&reply_path, &data, &root_pem);
    assert!(ok && out.contains("Verification: OK"), "{out}");

    // Without the intermediate in the token, the root alone is not enough.
    let bare = DevTsa::from_pem(&leaf_cert.pem(), &tsa_key.serialize_pem()).unwrap();
    let token = token_of(&bare.respond(&request(&digest, true)).unwrap());
    let err = verify_token(&token, HashAlgorithm::Sha256, &digest, &[ca]).unwrap_err();
    assert!(
        matches!(&err, DocError::Timestamp(m) if m.contains("trust anchor")),
        "{err}"
    );
}

#[tokio::test]
async fn the_client_reaches_a_tsa_over_https() {
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (_dir, pki) = pki();
    let chain: Vec<_> = CertificateDer::pem_file_iter(pki.path(files::SERVER_CERT))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path(files::SERVER_KEY)).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tsa = Arc::new(pki.tsa().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let tsa = tsa.clone();
                async move {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let mut resp = hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from(tsa.respond(&body).unwrap()),
                    ));
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/timestamp-reply"),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tls), service)
            .await;
    });

    let tls_roots = vec![cert_der(&pki.path(files::TLS_CA_CERT))];
    let tls =
        sam_client::tls_config(tls_roots.into_iter().map(Into::into).collect(), None).unwrap();
    let client = TsaClient::with_tls(
        TsaConfig {
            url: format!("https://localhost:{port}/tsa"),
            trust_anchors: vec![cert_der(&pki.path(files::CA_CERT))],
            timeout: Duration::from_secs(20),
            policy: None,
        },
        tls,
    )
    .unwrap();
    let stamp = client
        .stamp(HashAlgorithm::Sha256, b"over TLS")
        .await
        .unwrap();
    let digest = Sha256::digest(b"over TLS").to_vec();
    verify_token(
        &stamp.token,
        HashAlgorithm::Sha256,
        &digest,
        &[cert_der(&pki.path(files::CA_CERT))],
    )
    .unwrap();
}

#[test]
fn truncated_or_flipped_input_is_refused_without_a_panic() {
    let (_dir, pki) = pki();
    let tsa = pki.tsa().unwrap();
    let ca = cert_der(&pki.path(files::CA_CERT));
    let digest = Sha256::digest(b"doc").to_vec();
    let req = request(&digest, true);
    for cut in 0..req.len() {
        let reply = tsa.respond(&req[..cut]).unwrap();
        let resp =
            <sam_docsign::tsp::asn1::TimeStampResp as der::Decode>::from_der(&reply).unwrap();
        assert_eq!(resp.status.status, 2, "a request cut at {cut} was granted");
    }
    let token = token_of(&tsa.respond(&req).unwrap());
    let anchors = std::slice::from_ref(&ca);
    verify_token(&token, HashAlgorithm::Sha256, &digest, anchors).unwrap();
    for cut in (0..token.len()).step_by(7) {
        assert!(verify_token(&token[..cut], HashAlgorithm::Sha256, &digest, anchors).is_err());
    }
    // Every single-bit change of the token is either undecodable or
    // refused by a check (the certificates included: a changed byte in
    // one breaks its signature or the ESS hash).
    for at in (0..token.len()).step_by(3) {
        let mut changed = token.clone();
        changed[at] ^= 0x04;
        assert!(
            verify_token(&changed, HashAlgorithm::Sha256, &digest, anchors).is_err(),
            "a change at byte {at} of {} went through",
            token.len()
        );
    }
}

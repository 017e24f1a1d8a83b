#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! sam-client's `SamClient` over mutual TLS with the development PKI's
//! certificates, against a stand-in samd (rustls with the WebPKI client
//! verifier, as samd configures it) that answers `/signing` the way samd
//! does for `"signatureFormat": "raw"`: `{"signatureFormat", "signatures":
//! {"0": ...}, "audit_seq"}` or `{"error": {"type", "code", "detail"}}`.
//! HTTP/2 and HTTP/1.1.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sam_client::verify::{verify_message, verify_prehash};
use sam_client::{ClientError, IdpClient, IdpLogin, SamClient, SignRequest};
use sam_devpki::{DevIdp, DevIdpOptions, DevIdpServer, DevPki, DevPkiOptions, files, unix_now};
use sam_proto::ErrorType;
use sam_proto::asn1::{IdentificationLevel, Sad};
use sam_proto::ids::{HashAlgorithm, Uuid};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USER: &str = "6a1f3e2d-8b7c-4d5e-9f01-23456789abcd";
const KEY_OK: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const KEY_REPLAY: &str = "aaaaaaaa-bbbb-4ccc-8ddd-000000000001";

/// The stand-in SAM key.
fn sam_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x24; 32]).unwrap()
}

fn sam_spki() -> Vec<u8> {
    use p256::pkcs8::EncodePublicKey;
    sam_key()
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn reply(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    r
}

/// What samd would answer, with the firmware's SAD checks reduced to
/// "the token is the IdP's and the SAD signature verifies".
async fn answer(idp: &DevIdp, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/signing" {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"error": {"type": "RouteNotFound", "code": 1002, "detail": "no such path"}}),
        );
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let der = STANDARD.decode(value["sad"].as_str().unwrap()).unwrap();
    let seed_error = |e: ErrorType, status: StatusCode| {
        reply(
            status,
            json!({"error": {"type": e.name(), "code": e.code(), "detail": "stand-in"}}),
        )
    };
    let Ok(sad) = Sad::from_der_strict(&der) else {
        return seed_error(ErrorType::MessageParseError, StatusCode::BAD_REQUEST);
    };
    use der::Encode;
    let token = &sad.tbs.identity_token;
    if idp
        .verify_token(&token.to_der().unwrap(), unix_now())
        .is_err()
    {
        return seed_error(ErrorType::InvalidAuthentication, StatusCode::UNAUTHORIZED);
    }
    let sad_key = token
        .data
        .sad_public_key()
        .unwrap()
        .unwrap()
        .to_der()
        .unwrap();
    if verify_message(
        &sad_key,
        HashAlgorithm::Sha256,
        &sad.signed_bytes().unwrap(),
        sad.signature.as_bytes(),
    )
    .is_err()
    {
        return seed_error(ErrorType::InvalidSignature, StatusCode::UNAUTHORIZED);
    }
    if sad.tbs.key_id == KEY_REPLAY {
        return seed_error(ErrorType::ReplayedSad, StatusCode::CONFLICT);
    }
    // samd's clients ask for bare values; samd keys them by position.
    assert_eq!(value["signatureFormat"], "raw");
    let signatures: serde_json::Map<String, serde_json::Value> = sad
        .tbs
        .tbs_hash_values
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let sig: DerSignature = sam_key().sign_prehash(h.as_bytes()).unwrap();
            (i.to_string(), json!(STANDARD.encode(sig.as_bytes())))
        })
        .collect();
    reply(
        StatusCode::OK,
        json!({"signatureFormat": "raw", "signatures": signatures, "audit_seq": 42}),
    )
}

/// A stand-in samd on a loopback port with the PKI's server certificate,
/// requiring client certificates of the PKI's TLS CA; `alpn` as offered.
async fn stand_in_samd(pki: &DevPki, idp: Arc<DevIdp>, alpn: &[&[u8]]) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path(files::TLS_CA_CERT)).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain: Vec<_> = CertificateDer::pem_file_iter(pki.path(files::SERVER_CERT))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path(files::SERVER_KEY)).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let idp = idp.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                let service = hyper::service::service_fn(move |req| {
                    let idp = idp.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&idp, req).await) }
                });
                let io = TokioIo::new(tls);
                if h2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                }
            });
        }
    });
    addr
}

fn ssa_client(pki: &DevPki, addr: SocketAddr) -> SamClient {
    SamClient::from_pem_files(
        &format!("https://localhost:{}", addr.port()),
        &pki.path(files::TLS_CA_CERT),
        &pki.path(files::SSA_CERT),
        &pki.path(files::SSA_KEY),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_flow_over_mutual_tls_h2_and_http1() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let idp = Arc::new(pki.idp().unwrap());
    let idp_server = DevIdpServer::start(
        idp.clone(),
        "127.0.0.1:0".parse().unwrap(),
        DevIdpOptions {
            accept_user_id: Some(IdentificationLevel::Substantial),
            ..DevIdpOptions::default()
        },
    )
    .await
    .unwrap();
    let idp_client = Arc::new(IdpClient::dev_plain_http(&idp_server.url()).unwrap());
    let user = Uuid::parse(USER).unwrap();
    let login = IdpLogin::DevUserId(user);

    let both: [&[u8]; 2] = [b"h2", b"http/1.1"];
    let http1: [&[u8]; 1] = [b"http/1.1"];
    for alpn in [&both[..], &http1[..]] {
        let addr = stand_in_samd(&pki, idp.clone(), alpn).await;
        let sam = Arc::new(ssa_client(&pki, addr));

        // Batch signing: signatures in hash order.
        let request = SignRequest {
            key_id: Uuid::parse(KEY_OK).unwrap(),
            hash_algorithm: HashAlgorithm::Sha256,
            hashes: (0..5u8).map(|i| vec![i; 32]).collect(),
        };
        let signed = sam.sign(&idp_client, &login, &request).await.unwrap();
        assert_eq!(signed.audit_seq, Some(42));
        assert_eq!(signed.signatures.len(), 5);
        for (h, s) in request.hashes.iter().zip(&signed.signatures) {
            verify_prehash(&sam_spki(), HashAlgorithm::Sha256, h, s).unwrap();
        }

        // Concurrent requests on one client (one HTTP/2 connection, or
        // HTTP/1.1 connections opened as needed).
        let mut tasks = Vec::new();
        for i in 0..8u8 {
            let (sam, idp_client, login) = (sam.clone(), idp_client.clone(), login.clone());
            tasks.push(tokio::spawn(async move {
                let request = SignRequest::single(
                    Uuid::parse(KEY_OK).unwrap(),
                    HashAlgorithm::Sha256,
                    vec![i; 32],
                );
                sam.sign(&idp_client, &login, &request).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().signatures.len(), 1);
        }

        // samd's refusals keep the seed's names; host errors stay host errors.
        let replay = SignRequest::single(
            Uuid::parse(KEY_REPLAY).unwrap(),
            HashAlgorithm::Sha256,
            vec![9; 32],
        );
        let err = sam.sign(&idp_client, &login, &replay).await.unwrap_err();
        assert_eq!(err.error_type(), Some(ErrorType::ReplayedSad), "{err}");
        assert_eq!(err.http_status(), Some(409));
        assert!(err.to_string().contains("ReplayedSad"), "{err}");
        let err = sam.sign_sad(b"\x30\x00").await.unwrap_err();
        assert_eq!(err.error_type(), Some(ErrorType::MessageParseError));
        let err = sam
            .call(sam_client::Method::GET, "/nowhere", None)
            .await
            .unwrap_err();
        match err {
            ClientError::Host {
                kind, code, status, ..
            } => {
                assert_eq!((kind.as_str(), code, status), ("RouteNotFound", 1002, 404));
            }
            other => panic!("{other:?}"),
        }
    }
    idp_server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_of_another_ca_fails_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(dir.path(), &DevPkiOptions::default()).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = DevPki::create(other_dir.path(), &DevPkiOptions::default()).unwrap();
    let addr = stand_in_samd(&pki, Arc::new(pki.idp().unwrap()), &[b"h2"]).await;
    // Trusts the right server, authenticates with a foreign certificate.
    let sam = SamClient::from_pem_files(
        &format!("https://localhost:{}", addr.port()),
        &pki.path(files::TLS_CA_CERT),
        &other.path(files::SSA_CERT),
        &other.path(files::SSA_KEY),
    )
    .unwrap();
    let err = sam.sign_sad(b"\x30\x00").await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    // Trusts the wrong server CA: the client refuses the server.
    let sam = SamClient::from_pem_files(
        &format!("https://127.0.0.1:{}", addr.port()),
        &other.path(files::TLS_CA_CERT),
        &pki.path(files::SSA_CERT),
        &pki.path(files::SSA_KEY),
    )
    .unwrap();
    let err = sam.sign_sad(b"\x30\x00").await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("TLS"), "{err}");
}

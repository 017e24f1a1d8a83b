#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The one HTTPS client's additions for samctl: a path prefix before every
//! request path, and the hint when a server demands a client certificate
//! the configuration does not have.

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sam_client::ClientError;
use sam_client::Method;
use sam_client::http::{Endpoint, Location, tls_config};
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

#[test]
fn locations() {
    let l = Location::parse("https://[::1]:9443/sam/").unwrap();
    assert_eq!((l.host(), l.port(), l.prefix()), ("::1", 9443, "/sam"));
    assert!(l.is_https());
    assert_eq!(l.authority(), "[::1]:9443");
    assert_eq!(l.url("/readyz"), "https://[::1]:9443/sam/readyz");
    assert_eq!(
        Location::parse("http://idp.example").unwrap().url("/x"),
        "http://idp.example/x"
    );
    assert!(Location::parse("https://host/?a=1").is_err());
    assert!(Location::parse("ftp://host").is_err());
    // A base URL for SamClient and IdpClient has no path.
    assert!(matches!(
        Endpoint::new("http://127.0.0.1:1/sam", None),
        Err(ClientError::Config(_))
    ));
}

#[tokio::test]
async fn the_prefix_goes_before_every_path() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request ended early");
            head.extend_from_slice(&buf[..n]);
        }
        tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            .await
            .unwrap();
        String::from_utf8(head).unwrap()
    });
    let location = Location::parse(&format!("http://127.0.0.1:{port}/sam/")).unwrap();
    let endpoint = Endpoint::at(location, None).unwrap();
    let (status, body) = endpoint
        .request(Method::GET, "/readyz", None)
        .await
        .unwrap();
    assert_eq!((status.as_u16(), &body[..]), (200, &b"{}"[..]));
    let head = server.await.unwrap();
    assert!(head.starts_with("GET /sam/readyz HTTP/1.1\r\n"), "{head}");
}

#[tokio::test]
async fn a_demanded_client_certificate_is_named() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.read(&mut [0u8; 64]).await;
                }
            });
        }
    });

    let roots: Vec<CertificateDer<'static>> = vec![ca_cert.der().clone()];
    let mut endpoint = Endpoint::new(
        &format!("https://localhost:{port}"),
        Some(tls_config(roots, None).unwrap()),
    )
    .unwrap();
    endpoint.set_certificate_hint("give --cert and --key");
    let err = endpoint
        .request(Method::GET, "/readyz", None)
        .await
        .unwrap_err();
    match &err {
        ClientError::Transport(m) => assert!(
            m.contains("requires a client certificate: give --cert and --key"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A plain-HTTP server on loopback that answers every request with `{}`
/// (or, with `answer: false`, reads the request head and closes without
/// answering); the count of requests it read.
async fn server(answer: bool) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    head.clear();
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if !answer {
                        return;
                    }
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                        .await;
                }
            });
        }
    });
    (port, seen)
}

fn endpoint(port: u16) -> Endpoint {
    Endpoint::new(&format!("http://127.0.0.1:{port}"), None).unwrap()
}

/// A port nobody listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn count(c: &std::sync::atomic::AtomicUsize) -> usize {
    c.load(std::sync::atomic::Ordering::SeqCst)
}

/// Several samd endpoints: a request that could not be sent goes to the
/// next one, and the client stays there; a request that may have arrived
/// is never sent to another.
#[tokio::test]
async fn failover_only_for_requests_that_never_left() {
    use sam_client::SamClient;
    let (up, up_seen) = server(true).await;
    let sam = SamClient::with_endpoints(vec![endpoint(closed_port()), endpoint(up)]).unwrap();
    sam.call(Method::GET, "/readyz", None).await.unwrap();
    sam.call(Method::GET, "/readyz", None).await.unwrap();
    assert_eq!(
        count(&up_seen),
        2,
        "both requests served by the second samd"
    );

    let (mute, mute_seen) = server(false).await;
    let (spare, spare_seen) = server(true).await;
    let sam = SamClient::with_endpoints(vec![endpoint(mute), endpoint(spare)]).unwrap();
    let err = sam.call(Method::POST, "/signing", None).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert_eq!(count(&mute_seen), 1, "the request reached the first samd");
    assert_eq!(
        count(&spare_seen),
        0,
        "a request that arrived was repeated elsewhere"
    );

    // Nobody listening anywhere: the last connection error.
    let sam =
        SamClient::with_endpoints(vec![endpoint(closed_port()), endpoint(closed_port())]).unwrap();
    let err = sam.call(Method::GET, "/readyz", None).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Transport(m) if m.contains("connecting to")),
        "{err:?}"
    );
    assert!(matches!(
        SamClient::with_endpoints(Vec::new()),
        Err(ClientError::Config(_))
    ));
}

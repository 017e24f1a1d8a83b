#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The development IdP's `POST /id-token/sad` over HTTP, with sam-client's
//! `IdpClient` and with raw requests.

use sam_client::{ClientError, IdpClient, IdpLogin, SadKey, sad};
use sam_devpki::{DevIdp, DevIdpOptions, DevIdpServer, IdpKeyType, unix_now};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::Uuid;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "3b0c8a52-6f1e-4d7a-9c3b-2a1d0e9f8c7b";

async fn server(idp: Arc<DevIdp>, options: DevIdpOptions) -> DevIdpServer {
    DevIdpServer::start(idp, "127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap()
}

fn idp_status(err: &ClientError) -> u16 {
    match err {
        ClientError::Idp { status, .. } => *status,
        other => panic!("not an IdP refusal: {other:?}"),
    }
}

#[tokio::test]
async fn login_token_is_reissued_with_the_sad_key() {
    let idp = Arc::new(DevIdp::generate(IdpKeyType::P256).unwrap());
    let srv = server(idp.clone(), DevIdpOptions::default()).await;
    let client = IdpClient::dev_plain_http(&srv.url()).unwrap();
    let user = Uuid::parse(USER).unwrap();
    let now = unix_now();
    let login = idp
        .login_token(user, IdentificationLevel::High, now - 10, 600)
        .unwrap();
    let key = SadKey::generate().unwrap();
    let spki = key.public_key_der().unwrap();
    let der = client
        .embed_sad_key(&IdpLogin::IdToken(login.clone()), &spki)
        .await
        .unwrap();
    let token = idp.verify_token(&der, unix_now()).unwrap();
    assert_eq!(token.data.user_id, USER);
    assert_eq!(
        token.data.identification_level().unwrap(),
        Some(IdentificationLevel::High)
    );
    assert_eq!(
        token.data.signing_scope().unwrap().as_deref(),
        Some("signing")
    );
    use der::Encode;
    assert_eq!(
        token
            .data
            .sad_public_key()
            .unwrap()
            .unwrap()
            .to_der()
            .unwrap(),
        spki
    );
    let nb = token.data.not_before.to_unix_duration().as_secs();
    let na = token.data.not_after.to_unix_duration().as_secs();
    assert!(
        nb >= now && nb <= unix_now(),
        "notBefore is the time of issue"
    );
    assert_eq!(na - nb, 300);
    sad::parse_token(&der).unwrap();
    // The client's SAD builder accepts it.
    let req =
        sam_client::SignRequest::single(user, sam_proto::ids::HashAlgorithm::Sha256, vec![1; 32]);
    key.sign_sad(&der, &req).unwrap();

    // The same connection serves another request.
    client
        .embed_sad_key(&IdpLogin::IdToken(login), &spki)
        .await
        .unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn refusals_have_the_seed_statuses() {
    let idp = Arc::new(DevIdp::generate(IdpKeyType::P256).unwrap());
    let foreign = DevIdp::generate(IdpKeyType::P256).unwrap();
    let srv = server(idp.clone(), DevIdpOptions::default()).await;
    let client = IdpClient::dev_plain_http(&srv.url()).unwrap();
    let user = Uuid::parse(USER).unwrap();
    let spki = SadKey::generate().unwrap().public_key_der().unwrap();
    let now = unix_now();

    // userId logins are off by default: no authenticated session (404).
    let err = client
        .embed_sad_key(&IdpLogin::DevUserId(user), &spki)
        .await
        .unwrap_err();
    assert_eq!(idp_status(&err), 404, "{err}");
    // A token of another IdP, an expired token: 404.
    let other = foreign
        .login_token(user, IdentificationLevel::High, now - 10, 600)
        .unwrap();
    let err = client
        .embed_sad_key(&IdpLogin::IdToken(other), &spki)
        .await
        .unwrap_err();
    assert_eq!(idp_status(&err), 404, "{err}");
    let expired = idp
        .login_token(user, IdentificationLevel::High, now - 1000, 100)
        .unwrap();
    let err = client
        .embed_sad_key(&IdpLogin::IdToken(expired), &spki)
        .await
        .unwrap_err();
    assert_eq!(idp_status(&err), 404, "{err}");
    // A login token with a flipped signature byte: 404.
    let mut forged = idp
        .login_token(user, IdentificationLevel::High, now - 10, 600)
        .unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let err = client
        .embed_sad_key(&IdpLogin::IdToken(forged), &spki)
        .await
        .unwrap_err();
    assert_eq!(idp_status(&err), 404, "{err}");
    // Not a public key: invalid request data (400).
    let login = idp
        .login_token(user, IdentificationLevel::High, now - 10, 600)
        .unwrap();
    let err = client
        .embed_sad_key(&IdpLogin::IdToken(login), b"not a key")
        .await
        .unwrap_err();
    assert_eq!(idp_status(&err), 400, "{err}");
    assert!(err.to_string().contains("invalid request data"), "{err}");

    // Raw requests: bad JSON, both login forms, wrong method and path.
    for (request, status) in [
        (post("{not json"), "400"),
        (
            post(&format!(
                r#"{{"idToken":"AA==","userId":"{USER}","sadPublicKey":"AA=="}}"#
            )),
            "400",
        ),
        (post(r#"{"sadPublicKey":"AA==","extra":1}"#), "400"),
        (
            "GET /id-token/sad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
            "405",
        ),
        (
            "POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_string(),
            "404",
        ),
    ] {
        let answer = raw(&srv, &request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{request}\n->\n{answer}"
        );
        assert!(answer.contains(r#""error":{"#), "{answer}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn user_id_logins_only_when_switched_on() {
    let idp = Arc::new(DevIdp::generate(IdpKeyType::Rsa2048).unwrap());
    let srv = server(
        idp.clone(),
        DevIdpOptions {
            token_lifetime: Duration::from_secs(60),
            accept_user_id: Some(IdentificationLevel::Substantial),
        },
    )
    .await;
    let client = IdpClient::dev_plain_http(&srv.url()).unwrap();
    let user = Uuid::parse(USER).unwrap();
    let spki = SadKey::generate().unwrap().public_key_der().unwrap();
    let der = client
        .embed_sad_key(&IdpLogin::DevUserId(user), &spki)
        .await
        .unwrap();
    let token = idp.verify_token(&der, unix_now()).unwrap();
    assert_eq!(token.data.user_id, USER);
    assert_eq!(
        token.data.identification_level().unwrap(),
        Some(IdentificationLevel::Substantial)
    );
    let nb = token.data.not_before.to_unix_duration().as_secs();
    assert_eq!(token.data.not_after.to_unix_duration().as_secs() - nb, 60);
    srv.stop().await;
}

#[tokio::test]
async fn the_dev_idp_listens_on_loopback_only() {
    let idp = Arc::new(DevIdp::generate(IdpKeyType::P256).unwrap());
    let err = DevIdpServer::start(idp, "0.0.0.0:0".parse().unwrap(), DevIdpOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("[DEV-ONLY]"), "{err}");
    assert!(err.to_string().contains("loopback"), "{err}");
}

fn post(body: &str) -> String {
    format!(
        "POST /id-token/sad HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn raw(srv: &DevIdpServer, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(srv.local_addr())
        .await
        .unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Every error an integrator can meet: container errors, credential
//! errors, firmware refusals, and the access control of connectors and
//! TLS.

mod support;

use sam_proto::ErrorType;
use sam_proto::command::{InitParams, SubFunction};
use sam_proto::ids::HashAlgorithm;
use serde_json::json;
use support::{World, b64, doc_hash};

/// `(status, type, code)` of an error answer.
fn err(r: &support::Resp) -> (u16, String, u64) {
    let v = r.json();
    (
        r.status,
        v["error"]["type"].as_str().unwrap().to_owned(),
        v["error"]["code"].as_u64().unwrap(),
    )
}

fn seed(e: ErrorType, status: u16) -> (u16, String, u64) {
    (status, e.name().to_owned(), u64::from(e.code()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_and_credential_errors() {
    let mut w = World::ready().await;
    let pu = w.enrol().await;
    let raw = |body: &str| {
        w.ra.send("POST", "/peering", Some(body.as_bytes().to_vec()))
    };
    assert_eq!(
        err(&raw("{not json").await),
        seed(ErrorType::ContainerParseError, 400)
    );
    assert_eq!(
        err(&raw("[1, 2]").await),
        seed(ErrorType::ContainerParseError, 400)
    );
    assert_eq!(
        err(&raw(r#"{"operation": "Create_New_Signer", "params": {}}"#).await),
        seed(ErrorType::ContainerParseError, 400)
    );
    // A key given twice is refused, not read as its last value: at the
    // top of the container, inside its parameters, and in a plain body.
    assert_eq!(
        err(
            &raw(r#"{"operation": "Signing", "operation": "Signing", "params": {"sad": ""}}"#)
                .await
        ),
        seed(ErrorType::ContainerParseError, 400)
    );
    assert_eq!(
        err(&raw(r#"{"operation": "Signing", "params": {"sad": "", "sad": "MAA="}}"#).await),
        seed(ErrorType::ContainerParseError, 400)
    );
    let r = w
        .ssa
        .send(
            "POST",
            "/signing",
            Some(br#"{"sad": "MAA=", "sad": "MAA="}"#.to_vec()),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::ContainerParseError, 400));
    let cred = w.credential(pu);
    let r =
        w.ra.post(
            "/peering",
            &json!({"operation": "Delete_Everything", "credential": cred, "params": {}}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::UnknownMessageType, 400));
    let r =
        w.ra.post(
            "/peering",
            &json!({"operation": "Create_New_Signer", "credential": cred,
                    "params": {"userid": "not-a-uuid", "certificates": []}}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::MessageParseError, 400));
    let r =
        w.ra.post(
            "/peering",
            &json!({"operation": "Create_New_Signer", "credential": cred,
                    "params": {"userid": pu.to_string(), "certificates": ["***"]}}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::MessageParseError, 400));
    let new_user = w.new_user_id().to_string();
    let params = json!({"userid": new_user, "certificates": [b64(&w.idp.cert)]});
    let r =
        w.ra.post(
            "/peering",
            &json!({"operation": "Create_New_Signer",
                    "credential": {"type": "password", "value": "aHVudGVyMg=="},
                    "params": params}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::UnknownCredentialType, 400));
    // A token from an IdP the firmware does not trust.
    let stranger = support::pki::Idp::p256(9);
    let now = w.now();
    let token = stranger.token(pu, now - 60, now + 600, None);
    let r =
        w.ra.post(
            "/peering",
            &json!({"operation": "Create_New_Signer",
                    "credential": {"type": "identity_token", "value": b64(&token)},
                    "params": params}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::AuthenticationError, 401));
    // A valid token of a user the SAM DB does not know.
    let nobody = w.new_user_id();
    let r =
        w.ra.post(
            "/peering",
            &w.container("Create_New_Signer", nobody, params.clone())
                .await,
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::UnknownUser, 404));
    // An expired token.
    let token = w.idp.token(pu, now - 600, now - 60, None);
    let r =
        w.ra.post(
            "/peering",
            &json!({"operation": "Create_New_Signer",
                    "credential": {"type": "identity_token", "value": b64(&token)},
                    "params": params}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::AuthenticationError, 401));
    // Unsupported key algorithm.
    let signer = w.create_signer(pu).await;
    let r = w
        .ra
        .post(
            "/peering",
            &w.container(
                "Generate_Signer_Key_Pair",
                pu,
                json!({"userid": signer.to_string(), "algorithm": "EC", "parameters": "1.3.132.0.35"}),
            ).await,
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::InvalidAlgorithm, 400));
    // Maintenance of a user the host does not know.
    let r =
        w.ra.post(
            "/peering",
            &w.container(
                "Signer_Maintenance",
                pu,
                json!({"userid": nobody.to_string(), "certificates": [b64(&w.idp.cert)]}),
            )
            .await,
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::InvalidInput, 400));
    w.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_errors() {
    let (w, pu, signer, key) = World::with_signer().await;
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    let hashes = vec![doc_hash("a")];
    // Not base64 / not JSON.
    let r = w.ssa.post("/signing", &json!({"sad": "%%%"})).await;
    assert_eq!(err(&r), seed(ErrorType::MessageParseError, 400));
    let r = w.ssa.send("POST", "/signing", Some(b"sad".to_vec())).await;
    assert_eq!(err(&r), seed(ErrorType::ContainerParseError, 400));
    // Garbage DER goes to the firmware, which refuses (and audits) it.
    let r = w
        .ssa
        .post("/signing", &json!({"sad": b64(b"garbage")}))
        .await;
    assert_eq!(err(&r), seed(ErrorType::MessageParseError, 400));
    // A SAD signed by a key other than the token's SAD key.
    let sad_key = support::pki::SadKey::new(1);
    let now = w.now();
    let token = w
        .idp
        .token(signer, now - 1, now + 300, Some(&sad_key.spki()));
    let forged = support::pki::SadKey::new(2).sad(&token, &key_id, HashAlgorithm::Sha256, &hashes);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&forged)})).await;
    assert_eq!(err(&r), seed(ErrorType::InvalidSignature, 401));
    // A token from an untrusted IdP inside the SAD.
    let stranger = support::pki::Idp::p256(9);
    let token = stranger.token(signer, now - 1, now + 300, Some(&sad_key.spki()));
    let r = w
        .ssa
        .post(
            "/signing",
            &json!({"sad": b64(&sad_key.sad(&token, &key_id, HashAlgorithm::Sha256, &hashes))}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::InvalidAuthentication, 401));
    // The privileged user's token cannot sign with the signer's key.
    let sad = w.sad(pu, &key_id, &hashes, 4);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!(err(&r), seed(ErrorType::NotAuthorized, 403));
    // A key that does not exist.
    let sad = w.sad(signer, "00000000-0000-4000-8000-000000000000", &hashes, 5);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!(err(&r), seed(ErrorType::NotFound, 404));
    // A hash whose length does not fit the hash algorithm (seed §7.1.6).
    let sad = w.sad(signer, &key_id, &[vec![1; 20]], 6);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!(err(&r), seed(ErrorType::InvalidAlgorithm, 400));
    // Every refusal above was audited and stored: the chain is whole.
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    w.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_errors() {
    let w = World::new().await;
    // Peering before initialization: the firmware is not operational.
    let user = sam_proto::ids::Uuid::from_random([3; 16]);
    let r =
        w.ra.post(
            "/peering",
            &w.container(
                "Create_New_Signer",
                user,
                json!({"userid": user.to_string(), "certificates": []}),
            )
            .await,
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::NotOperational, 503));
    // One administrator is not enough (dual control, in the firmware).
    let points: Vec<Vec<u8>> = w.admins.iter().map(|a| a.point().into_vec()).collect();
    let params = InitParams {
        admins: support::blobs(&points),
        mbk_slot: 0,
    };
    let approvals = w.approvals(SubFunction::InitFirmware, &params, &[0]).await;
    let r = w
        .admin
        .post(
            "/admin/init",
            &json!({"admins": points.iter().map(|p| b64(p)).collect::<Vec<_>>(),
                    "mbk_slot": 0,
                    "operator": support::operator_json(&params, &approvals),
                    "approvals": approvals}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::NotAuthorized, 403));
    // The same administrator twice is not two.
    let approvals = w
        .approvals(SubFunction::InitFirmware, &params, &[0, 0])
        .await;
    let r = w
        .admin
        .post(
            "/admin/init",
            &json!({"admins": points.iter().map(|p| b64(p)).collect::<Vec<_>>(),
                    "mbk_slot": 0,
                    "operator": support::operator_json(&params, &approvals),
                    "approvals": approvals}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::NotAuthorized, 403));
    // Two administrators are not enough without the HSM operator's logon:
    // samd relays it, the platform under the firmware refuses it.
    let approvals = w
        .approvals(SubFunction::InitFirmware, &params, &[0, 1])
        .await;
    let mut operator = support::operator_json(&params, &approvals);
    operator["user"] = json!("intruder");
    let r = w
        .admin
        .post(
            "/admin/init",
            &json!({"admins": points.iter().map(|p| b64(p)).collect::<Vec<_>>(),
                    "mbk_slot": 0,
                    "operator": operator,
                    "approvals": approvals}),
        )
        .await;
    assert_eq!(err(&r), seed(ErrorType::NotAuthorized, 403));
    w.init().await.ok();
    // Initializing twice is refused (and audited).
    assert_eq!(err(&w.init().await), seed(ErrorType::NotAuthorized, 403));
    let r = w.admin.post("/admin/init", &json!({"admins": []})).await;
    assert_eq!(err(&r), seed(ErrorType::MessageParseError, 400));
    let status = w.admin.get("/admin/status").await.ok();
    assert_eq!(status["firmware"]["state"], "Operational");
    assert_eq!(status["firmware"]["admins"], 2);
    w.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_and_tls_decide_who_may_call() {
    let w = World::new().await;
    let pki = &w.pki;
    // A certificate from the right CA that no connector pins: the
    // handshake fails (access_denied), over HTTP/1.1 and HTTP/2 alike, so
    // no HTTP answer is ever produced for it.
    for http2 in [false, true] {
        let stranger = support::Client::new(w.daemon.addr, &pki.ca, &pki.unpinned, http2);
        let e = stranger.try_send("GET", "/healthz", None).await;
        assert!(e.is_err(), "{e:?}");
    }
    // What the peer is told is the TLS alert, not an HTTP status.
    let e = alert_of(w.daemon.addr, &pki.ca.cert, Some(&pki.unpinned)).await;
    assert!(
        e.as_ref().is_err_and(|e| e.contains("AccessDenied")),
        "{e:?}"
    );
    // A pinned certificate completes the same exchange.
    assert_eq!(
        alert_of(w.daemon.addr, &pki.ca.cert, Some(&pki.ssa)).await,
        Ok(())
    );
    // The same test with a pinned certificate of the same CA passes.
    assert_eq!(w.ssa.get("/healthz").await.status, 200);
    // A certificate from another CA: the handshake fails.
    let foreign = support::Client::new(w.daemon.addr, &pki.ca, &pki.foreign, false);
    let e = foreign.try_send("GET", "/healthz", None).await;
    assert!(e.is_err(), "{e:?}");
    // An expired certificate from the right CA fails the handshake, even
    // though a connector pins it.
    let expired = support::Client::new(w.daemon.addr, &pki.ca, &pki.expired, false);
    let e = expired.try_send("GET", "/healthz", None).await;
    assert!(e.is_err(), "{e:?}");
    // No client certificate at all: the handshake fails too.
    let e = alert_of(w.daemon.addr, &pki.ca.cert, None).await;
    assert!(e.is_err(), "{e:?}");
    // Plain HTTP: no answer.
    let e = plain_http(w.daemon.addr).await;
    assert!(
        e.is_err() || !e.as_ref().unwrap().starts_with("HTTP/1.1 200"),
        "{e:?}"
    );
    // Operations outside the connector's list.
    let r = w.ssa.post("/admin/init", &json!({})).await;
    assert_eq!((r.status, r.error().as_str()), (403, "Forbidden"));
    let r = w
        .ssa
        .post(
            "/peering",
            &json!({"operation": "Create_New_Signer", "credential": {"type": "identity_token", "value": ""}}),
        )
        .await;
    assert_eq!((r.status, r.error().as_str()), (403, "Forbidden"));
    let r = w.ra.post("/signing", &json!({"sad": ""})).await;
    assert_eq!((r.status, r.error().as_str()), (403, "Forbidden"));
    let r = w.admin.get("/private-keys").await;
    assert_eq!(r.status, 403);
    // Unknown path, wrong method, oversized body.
    assert_eq!(w.ssa.get("/nope").await.error(), "RouteNotFound");
    assert_eq!(w.ssa.get("/signing").await.error(), "MethodNotAllowed");
    let big = vec![b'x'; 300 * 1024];
    let r = w.ssa.send("POST", "/signing", Some(big)).await;
    assert_eq!((r.status, r.error().as_str()), (413, "PayloadTooLarge"));
    w.daemon.stop().await;
}

/// Connects with `leaf` as client certificate (or none), sends one
/// request and reads the answer: `Ok` if any answer came, else the TLS
/// error (with TLS 1.3 the server's alert arrives with the first read).
async fn alert_of(
    addr: std::net::SocketAddr,
    ca: &rustls_pki_types::CertificateDer<'static>,
    leaf: Option<&support::tls::Leaf>,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match leaf {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.cert.clone()], leaf.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    match tls.read_to_end(&mut buf).await {
        Ok(_) if buf.is_empty() => Err("closed".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e:?}")),
    }
}

async fn plain_http(addr: std::net::SocketAddr) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The CSC API end to end: a real samd (sam-harness) with `[csc]`
//! enabled, real TLS, the real firmware; the signer's environment made
//! with our own client library; both API versions; every refusal; the
//! replays; and the firmware's refusal of what a compromised service
//! could make of a seed SAD.

#[path = "csc/bench.rs"]
mod bench;
mod support;

use bench::{
    Bench, ECDSA_SHA256, ID_SHA256, ID_SHA384, RSA_SHA256, RSA_SHA384, authorize_body_v2, b64,
    hash, unb64, verify_all,
};
use der::{Decode, Encode};
use rustls_pki_types::pem::PemObject;
use sam_proto::ErrorType;
use sam_proto::asn1::Sad;
use sam_proto::command::MAX_HASHES;
use sam_proto::ids::HashAlgorithm;
use serde_json::{Value, json};
use std::time::Duration;

const SHA256: HashAlgorithm = HashAlgorithm::Sha256;

/// An error answer: its status, `error` and `error_description`.
fn refused(r: &support::Resp, status: u16, error: &str, description_has: &str) {
    let body = r.json();
    assert_eq!(r.status, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(
        d.contains(description_has),
        "{d:?} lacks {description_has:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csc_v2_and_v1_sign_and_refuse_everything_else() {
    let b = Bench::start("").await;
    let me = b.bearer(b.signer);

    // info: both versions, no signDoc or timestamp.
    for (v, specs) in [("v2", "2.0.0.2"), ("v1", "1.0.4.0")] {
        let info = b
            .post(&format!("/csc/{v}/info"), None, &json!({}))
            .await
            .ok();
        assert_eq!(info["specs"], specs);
        let methods: Vec<&str> = info["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        for m in [
            "auth/login",
            "credentials/list",
            "credentials/info",
            "credentials/authorize",
            "signatures/signHash",
        ] {
            assert!(methods.contains(&m), "{methods:?}");
        }
        assert!(
            !methods
                .iter()
                .any(|m| m.contains("signDoc") || m.contains("timestamp"))
        );
        assert!(
            info["authType"]
                .as_array()
                .unwrap()
                .contains(&json!("external"))
        );
    }

    // Without the document service signDoc is not served either.
    let r = b
        .post(
            "/csc/v2/signatures/signDoc",
            Some(&me),
            &json!({"credentialID": b.ec.to_string(), "SAD": "x"}),
        )
        .await;
    refused(
        &r,
        404,
        "invalid_request",
        "document service is not enabled",
    );

    // auth/login: an opaque access token of the identity token's user.
    let login = b
        .post("/csc/v2/auth/login", Some(&me), &json!({}))
        .await
        .ok();
    let access = format!("Bearer {}", login["access_token"].as_str().unwrap());
    assert!(login["expires_in"].as_u64().unwrap() <= 600);

    // credentials/list: only the caller's own credentials, with either
    // bearer.
    for bearer in [&me, &access] {
        for v in ["v1", "v2"] {
            let list = b
                .post(
                    &format!("/csc/{v}/credentials/list"),
                    Some(bearer),
                    &json!({}),
                )
                .await
                .ok();
            let mut ids: Vec<String> = list["credentialIDs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            let mut want = vec![b.ec.to_string(), b.rsa.to_string()];
            want.sort();
            assert_eq!(ids, want);
        }
    }
    let list = b
        .post(
            "/csc/v2/credentials/list",
            Some(&me),
            &json!({"credentialInfo": true, "certificates": "single"}),
        )
        .await
        .ok();
    assert_eq!(list["credentialInfos"].as_array().unwrap().len(), 2);

    // credentials/info v2: key, chain (signer first), details, SCAL 2,
    // multisign = the firmware's batch limit.
    let info = b
        .post(
            "/csc/v2/credentials/info",
            Some(&me),
            &json!({"credentialID": b.ec.to_string(), "certificates": "chain", "certInfo": true, "authInfo": true}),
        )
        .await
        .ok();
    assert_eq!(info["key"]["status"], "enabled");
    assert_eq!(info["key"]["len"], 256);
    assert_eq!(info["key"]["curve"], "1.2.840.10045.3.1.7");
    assert!(
        info["key"]["algo"]
            .as_array()
            .unwrap()
            .contains(&json!(ECDSA_SHA256))
    );
    assert_eq!(info["SCAL"], "2");
    assert_eq!(info["multisign"], MAX_HASHES);
    assert_eq!(info["auth"]["mode"], "explicit");
    let chain = info["cert"]["certificates"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    let ca_pem = std::fs::read(b.deployment.pki().path(sam_devpki::files::CA_CERT)).unwrap();
    let ca_der = rustls_pki_types::CertificateDer::pem_slice_iter(&ca_pem)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(unb64(&chain[1]), ca_der.as_ref());
    let signer_cert = x509_cert::Certificate::from_der(&unb64(&chain[0])).unwrap();
    let tbs = signer_cert.tbs_certificate();
    assert_eq!(info["cert"]["subjectDN"], tbs.subject().to_string());
    assert_eq!(info["cert"]["issuerDN"], tbs.issuer().to_string());
    assert_eq!(
        info["cert"]["serialNumber"],
        hex::encode_upper(tbs.serial_number().as_bytes())
    );
    assert_eq!(info["cert"]["status"], "valid");
    assert!(info["cert"]["validTo"].as_str().unwrap().ends_with('Z'));
    // v1, in pyHanko's request shape.
    let info = b
        .post(
            "/csc/v1/credentials/info",
            Some(&me),
            &json!({"credentialID": b.rsa.to_string(), "certificates": "chain", "certInfo": false}),
        )
        .await
        .ok();
    assert_eq!(info["key"]["len"], 2048);
    assert!(
        info["key"]["algo"]
            .as_array()
            .unwrap()
            .contains(&json!(RSA_SHA256))
    );
    assert_eq!(info["cert"]["certificates"].as_array().unwrap().len(), 2);
    assert_eq!(info["authMode"], "explicit");
    assert_eq!(info["SCAL"], "2");
    assert_eq!(info["multisign"], MAX_HASHES);

    // End to end, v2, EC key, two hashes in one SAD.
    let hashes = vec![hash(SHA256, "document one"), hash(SHA256, "document two")];
    let seed = b.seed_sad(b.signer, b.ec, SHA256, &hashes).await;
    let auth = b
        .authorize_v2(&access, b.ec, ID_SHA256, &hashes, &seed)
        .await
        .ok();
    let handle = auth["SAD"].as_str().unwrap().to_owned();
    assert!(auth["expiresIn"].as_u64().unwrap() <= 300);
    assert!(!handle.contains(&b64(&seed)[..16]), "the handle is opaque");
    let signed = b
        .sign_hash_v2(&access, b.ec, &handle, &hashes, ID_SHA256, ECDSA_SHA256)
        .await
        .ok();
    let ec_key = b.certificate_key(b.ec).await;
    verify_all(&ec_key, SHA256, &hashes, &signed["signatures"]);
    // The used handle.
    let again = b
        .sign_hash_v2(&access, b.ec, &handle, &hashes, ID_SHA256, ECDSA_SHA256)
        .await;
    refused(&again, 400, "invalid_request", "SAD");

    // End to end, v1 in pyHanko's shapes: RSA key, SHA-256, then SHA-384
    // with the hash implied by signAlgo.
    let rsa_key = b.certificate_key(b.rsa).await;
    let sha384 = HashAlgorithm::Sha384;
    for (alg, sign_algo, hash_algo) in [
        (SHA256, RSA_SHA256, Some(ID_SHA256)),
        (sha384, RSA_SHA384, None),
    ] {
        let hashes = vec![hash(alg, "v1 document")];
        let seed = b.seed_sad(b.signer, b.rsa, alg, &hashes).await;
        let signatures = b
            .sign_v1(&me, b.rsa, &hashes, &seed, sign_algo, hash_algo)
            .await;
        verify_all(&rsa_key, alg, &hashes, &signatures);
    }
    // A P-256 key signs SHA-256 only (the firmware's rule): key.algo
    // says so, and a SHA-384 seed SAD for it gets no handle.
    let info = b
        .post(
            "/csc/v2/credentials/info",
            Some(&me),
            &json!({"credentialID": b.ec.to_string()}),
        )
        .await
        .ok();
    assert_eq!(info["key"]["algo"], json!([ECDSA_SHA256]));
    let hashes = vec![hash(sha384, "not for P-256")];
    let seed = b.seed_sad(b.signer, b.ec, sha384, &hashes).await;
    refused(
        &b.authorize_v1(&me, b.ec, &hashes, &seed).await,
        400,
        "invalid_request",
        "does not sign this hash algorithm",
    );

    bearer_refusals(&b).await;
    authorize_refusals(&b).await;
    sign_hash_refusals(&b).await;
    replays(&b).await;
    protocol_refusals(&b).await;

    // Metrics per CSC endpoint and status, on samd's /metrics.
    let metrics = b.metrics().await;
    for label in [
        "csc_v2_signatures_signHash",
        "csc_v1_signatures_signHash",
        "csc_v2_credentials_authorize",
        "csc_unrouted",
    ] {
        assert!(metrics.contains(label), "{label} missing");
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("csc_v2_signatures_signHash") && l.contains("\"400\"")),
        "{metrics}"
    );
    b.stop().await;
}

async fn bearer_refusals(b: &Bench) {
    let list = "/csc/v2/credentials/list";
    refused(
        &b.post(list, None, &json!({})).await,
        401,
        "invalid_token",
        "bearer",
    );
    refused(
        &b.post(list, Some("Bearer not-a-token"), &json!({})).await,
        401,
        "invalid_token",
        "not valid",
    );
    refused(
        &b.post(list, Some("Basic dXNlcjpwYXNz"), &json!({})).await,
        401,
        "invalid_token",
        "bearer",
    );
    // A token of an IdP nobody trusts.
    let stranger = sam_devpki::DevIdp::generate(sam_devpki::IdpKeyType::P256).unwrap();
    let foreign = stranger
        .login_token(
            b.signer,
            sam_proto::asn1::IdentificationLevel::Substantial,
            sam_devpki::unix_now(),
            600,
        )
        .unwrap();
    refused(
        &b.post(list, Some(&format!("Bearer {}", b64(&foreign))), &json!({}))
            .await,
        401,
        "invalid_token",
        "issuer",
    );
    // Another user's credential does not exist for the caller.
    let me = b.bearer(b.signer);
    for v in ["v1", "v2"] {
        refused(
            &b.post(
                &format!("/csc/{v}/credentials/info"),
                Some(&me),
                &json!({"credentialID": b.other_ec.to_string()}),
            )
            .await,
            400,
            "invalid_request",
            "credentialID",
        );
    }
    refused(
        &b.post(list, Some(&me), &json!({"userID": b.other.to_string()}))
            .await,
        400,
        "invalid_request",
        "userID",
    );
    // auth/login takes an identity token, not an access token; revoke.
    let login = b
        .post("/csc/v2/auth/login", Some(&me), &json!({}))
        .await
        .ok();
    let token = login["access_token"].as_str().unwrap();
    let access = format!("Bearer {token}");
    refused(
        &b.post("/csc/v2/auth/login", Some(&access), &json!({}))
            .await,
        401,
        "invalid_token",
        "identity token",
    );
    // Another user cannot revoke it.
    let theirs = b.bearer(b.other);
    refused(
        &b.post(
            "/csc/v2/auth/revoke",
            Some(&theirs),
            &json!({"token": token}),
        )
        .await,
        400,
        "invalid_request",
        "token",
    );
    assert_eq!(b.post(list, Some(&access), &json!({})).await.status, 200);
    let revoked = b
        .post(
            "/csc/v2/auth/revoke",
            Some(&access),
            &json!({"token": token}),
        )
        .await;
    assert_eq!(revoked.status, 204);
    refused(
        &b.post(list, Some(&access), &json!({})).await,
        401,
        "invalid_token",
        "not valid",
    );
}

async fn authorize_refusals(b: &Bench) {
    let me = b.bearer(b.signer);
    let hashes = vec![hash(SHA256, "a"), hash(SHA256, "b")];
    let seed = b.seed_sad(b.signer, b.ec, SHA256, &hashes).await;
    // Another user's credential.
    let theirs_seed = b.seed_sad(b.other, b.other_ec, SHA256, &hashes).await;
    refused(
        &b.authorize_v2(&me, b.other_ec, ID_SHA256, &hashes, &theirs_seed)
            .await,
        400,
        "invalid_request",
        "credentialID",
    );
    // The seed SAD is for another of the caller's credentials.
    refused(
        &b.authorize_v2(&me, b.rsa, ID_SHA256, &hashes, &seed).await,
        400,
        "invalid_request",
        "another credential",
    );
    // Other hashes, other order, fewer hashes.
    let other = vec![hash(SHA256, "a"), hash(SHA256, "c")];
    let swapped = vec![hashes[1].clone(), hashes[0].clone()];
    for h in [&other, &swapped, &hashes[..1].to_vec()] {
        refused(
            &b.authorize_v2(&me, b.ec, ID_SHA256, h, &seed).await,
            400,
            "invalid_request",
            "hashes",
        );
    }
    // Another hash algorithm.
    refused(
        &b.authorize_v2(&me, b.ec, ID_SHA384, &hashes, &seed).await,
        400,
        "invalid_request",
        "hash algorithm",
    );
    // numSignatures is not the number of hashes.
    let mut body = authorize_body_v2(b.ec, ID_SHA256, &hashes, &seed);
    body["numSignatures"] = json!(3);
    let authorize = "/csc/v2/credentials/authorize";
    let r = b.post(authorize, Some(&me), &body).await;
    refused(&r, 400, "invalid_request", "numSignatures");
    // The seed SAD's token is another user's (the caller's credential).
    let theirs_for_mine = b.seed_sad(b.other, b.ec, SHA256, &hashes).await;
    refused(
        &b.authorize_v2(&me, b.ec, ID_SHA256, &hashes, &theirs_for_mine)
            .await,
        400,
        "invalid_request",
        "another user",
    );
    // A SAD whose signature is not the SAD key's.
    let mut broken = Sad::from_der(&seed).unwrap();
    let mut sig = broken.signature.as_bytes().to_vec();
    let last = sig.len() - 3;
    sig[last] ^= 1;
    broken.signature = der::asn1::OctetString::new(sig).unwrap();
    refused(
        &b.authorize_v2(&me, b.ec, ID_SHA256, &hashes, &broken.to_der().unwrap())
            .await,
        400,
        "invalid_request",
        "SAD",
    );
    // No seed SAD, no hashes, not DER.
    let mut body = authorize_body_v2(b.ec, ID_SHA256, &hashes, &seed);
    body.as_object_mut().unwrap().remove("authData");
    let r = b.post(authorize, Some(&me), &body).await;
    refused(&r, 400, "invalid_request", "authData SAD");
    let r = b
        .post(
            "/csc/v1/credentials/authorize",
            Some(&me),
            &json!({"credentialID": b.ec.to_string(), "numSignatures": 2, "clientData": b64(&seed)}),
        )
        .await;
    refused(&r, 400, "invalid_request", "hash");
    refused(
        &b.authorize_v2(&me, b.ec, ID_SHA256, &hashes, b"not a SAD")
            .await,
        400,
        "invalid_request",
        "strict DER",
    );
    // After all that the seed SAD is still good for one handle.
    assert_eq!(
        b.authorize_v2(&me, b.ec, ID_SHA256, &hashes, &seed)
            .await
            .status,
        200
    );
}

async fn sign_hash_refusals(b: &Bench) {
    let me = b.bearer(b.signer);
    let hashes = vec![hash(SHA256, "x"), hash(SHA256, "y")];
    let cases: [(&str, Value); 5] = [
        (
            "hashes",
            json!({"hashes": [b64(&hashes[0]), b64(&hash(SHA256, "z"))]}),
        ),
        (
            "hashes",
            json!({"hashes": [b64(&hashes[0]), b64(&hashes[1]), b64(&hash(SHA256, "z"))]}),
        ),
        ("credentialID", json!({"credentialID": b.rsa.to_string()})),
        ("hash algorithm", json!({"hashAlgorithmOID": ID_SHA384})),
        ("signAlgo", json!({"signAlgo": RSA_SHA256})),
    ];
    for (what, change) in cases {
        let handle = b.handle(b.ec, &hashes).await;
        let mut body = json!({
            "credentialID": b.ec.to_string(),
            "SAD": handle,
            "hashes": hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
            "hashAlgorithmOID": ID_SHA256,
            "signAlgo": ECDSA_SHA256,
        });
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = b
            .post("/csc/v2/signatures/signHash", Some(&me), &body)
            .await;
        refused(&r, 400, "invalid_request", what);
        // The refused call used the handle up.
        let r = b
            .sign_hash_v2(&me, b.ec, &handle, &hashes, ID_SHA256, ECDSA_SHA256)
            .await;
        refused(&r, 400, "invalid_request", "unknown or already used");
    }
    // Another user's call with the signer's handle changes nothing.
    let handle = b.handle(b.ec, &hashes).await;
    let theirs = b.bearer(b.other);
    refused(
        &b.sign_hash_v2(&theirs, b.ec, &handle, &hashes, ID_SHA256, ECDSA_SHA256)
            .await,
        400,
        "invalid_request",
        "SAD",
    );
    let r = b
        .sign_hash_v2(&me, b.ec, &handle, &hashes, ID_SHA256, ECDSA_SHA256)
        .await
        .ok();
    assert_eq!(r["signatures"].as_array().unwrap().len(), 2);
    // A handle nobody issued.
    refused(
        &b.sign_hash_v2(
            &me,
            b.ec,
            "bm90LWEtaGFuZGxl",
            &hashes,
            ID_SHA256,
            ECDSA_SHA256,
        )
        .await,
        400,
        "invalid_request",
        "SAD",
    );
}

async fn replays(b: &Bench) {
    let me = b.bearer(b.signer);
    let hashes = vec![hash(SHA256, "replay")];
    // The same seed SAD under two handles.
    let seed = b.seed_sad(b.signer, b.ec, SHA256, &hashes).await;
    let first = b
        .authorize_v2(&me, b.ec, ID_SHA256, &hashes, &seed)
        .await
        .ok();
    refused(
        &b.authorize_v2(&me, b.ec, ID_SHA256, &hashes, &seed).await,
        400,
        "invalid_request",
        "already authorized",
    );
    // Also through the other version.
    refused(
        &b.authorize_v1(&me, b.ec, &hashes, &seed).await,
        400,
        "invalid_request",
        "already authorized",
    );
    // Two concurrent signHash calls with one handle: exactly one signs.
    let handle = first["SAD"].as_str().unwrap();
    for _ in 0..3 {
        let handle = b.handle(b.ec, &hashes).await;
        let (x, y) = tokio::join!(
            b.sign_hash_v2(&me, b.ec, &handle, &hashes, ID_SHA256, ECDSA_SHA256),
            b.sign_hash_v2(&me, b.ec, &handle, &hashes, ID_SHA256, ECDSA_SHA256),
        );
        let mut statuses = [x.status, y.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "{:?} {:?}", x.json(), y.json());
    }
    let r = b
        .sign_hash_v2(&me, b.ec, handle, &hashes, ID_SHA256, ECDSA_SHA256)
        .await;
    assert_eq!(r.status, 200, "{}", r.json());
}

async fn protocol_refusals(b: &Bench) {
    let me = b.bearer(b.signer);
    for path in ["/csc/v2/credentials/info", "/csc/v1/signatures/signHash"] {
        let r = b.raw("POST", path, Some(&me), b"{not json".to_vec()).await;
        refused(&r, 400, "invalid_request", "malformed JSON");
    }
    let r = b
        .post(
            "/csc/v2/credentials/info",
            Some(&me),
            &json!({"credentialID": 7}),
        )
        .await;
    refused(&r, 400, "invalid_request", "malformed JSON");
    for path in [
        "/csc/v2/signatures/signDoc",
        "/csc/v3/info",
        "/csc/v1/oauth2/token",
        "/",
    ] {
        refused(
            &b.post(path, Some(&me), &json!({})).await,
            404,
            "invalid_request",
            "no endpoint",
        );
    }
    let r = b
        .raw("GET", "/csc/v2/signatures/signHash", Some(&me), Vec::new())
        .await;
    refused(&r, 405, "invalid_request", "GET");
    // The body limit.
    let big = vec![b' '; 300 * 1024];
    let r = b
        .raw("POST", "/csc/v2/credentials/list", Some(&me), big)
        .await;
    refused(&r, 413, "invalid_request", "exceeds");
}

/// What a compromised service could do with a seed SAD it holds: send it
/// again, or re-encode it with other hashes or another KeyID, straight to
/// samd's `/signing` (the path the service signs on). The firmware
/// refuses each with the seed's error type. Also: an expired handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firmware_refuses_what_a_compromised_service_could_make() {
    let b = Bench::start("handle_lifetime_secs = 1").await;
    let me = b.bearer(b.signer);
    let ssa = b.ssa();
    let hashes = vec![hash(SHA256, "contract")];
    let seed = b.seed_sad(b.signer, b.ec, SHA256, &hashes).await;
    // Bypassing the service with the seed SAD: other hashes, or
    // another KeyID of the same signer, re-encoded with the signature
    // kept: the SAD key's signature no longer verifies.
    let mut other_hashes = Sad::from_der_strict(&seed).unwrap();
    other_hashes.tbs.tbs_hash_values =
        vec![der::asn1::OctetString::new(hash(SHA256, "something else")).unwrap()];
    let mut other_key = Sad::from_der_strict(&seed).unwrap();
    other_key.tbs.key_id = b.rsa.to_string();
    for forged in [other_hashes, other_key] {
        let e = ssa.sign_sad(&forged.to_der().unwrap()).await.unwrap_err();
        assert_eq!(e.error_type(), Some(ErrorType::InvalidSignature), "{e}");
    }

    // The signer's seed SAD through the service: the handle signs once...
    let auth = b
        .authorize_v2(&me, b.ec, ID_SHA256, &hashes, &seed)
        .await
        .ok();
    assert!(auth["expiresIn"].as_u64().unwrap() <= 1);
    let signed = b.sign_ec_v2(&me, &auth, &hashes).await.ok();
    verify_all(
        &b.certificate_key(b.ec).await,
        SHA256,
        &hashes,
        &signed["signatures"],
    );
    // ...and the same seed SAD sent again by a compromised service is a
    // replay to the firmware.
    let e = ssa.sign_sad(&seed).await.unwrap_err();
    assert_eq!(e.error_type(), Some(ErrorType::ReplayedSad), "{e}");

    // An expired handle.
    let hashes = vec![hash(SHA256, "late")];
    let seed = b.seed_sad(b.signer, b.ec, SHA256, &hashes).await;
    let auth = b
        .authorize_v2(&me, b.ec, ID_SHA256, &hashes, &seed)
        .await
        .ok();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = b.sign_ec_v2(&me, &auth, &hashes).await;
    refused(&r, 400, "invalid_request", "expired");
    // The seed SAD of an expired handle gets no second one either.
    refused(
        &b.authorize_v2(&me, b.ec, ID_SHA256, &hashes, &seed).await,
        400,
        "invalid_request",
        "already authorized",
    );
    b.stop().await;
}

/// The OAuth2 authorization-code flow with `scope=credential`: the CSC
/// service redirects to the (DEV-ONLY) IdP, which redirects back with a
/// code; `oauth2/token` exchanges it (PKCE) for the seed SAD at the IdP,
/// checks it and answers a single-use handle as the access token that
/// `signHash` takes as its bearer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_authorization_code_flow_end_to_end() {
    use base64::Engine as _;
    use sam_client::form;
    use sha2::Digest as _;
    let b = Bench::start("").await;
    let info = b.post("/csc/v2/info", None, &json!({})).await.ok();
    assert!(
        info["authType"]
            .as_array()
            .unwrap()
            .contains(&json!("oauth2code"))
    );
    assert!(
        info["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("oauth2/token"))
    );

    let hashes = vec![hash(SHA256, "oauth2 document")];
    let redirect = "http://127.0.0.1:9/callback";
    let verifier = "a-long-enough-pkce-code-verifier-0123456789-abcdefgh";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let details = |key: sam_proto::ids::KeyId| {
        json!([{"type": "credential", "credentialID": key.to_string(),
                "documentDigests": [{"hash": b64(&hashes[0]), "label": "the document"}],
                "hashAlgorithmOID": ID_SHA256}])
        .to_string()
    };
    // Follows both redirects; the code (or the IdP's status if it refused).
    let code_for = |key, redirect: &'static str| {
        let query = form::encode_pairs([
            ("response_type", "code"),
            ("client_id", "csc-test"),
            ("redirect_uri", redirect),
            ("scope", "credential"),
            ("authorization_details", details(key).as_str()),
            ("state", "st-1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("login_hint", b.signer.to_string().as_str()),
        ]);
        let b = &b;
        async move {
            let r = b
                .raw(
                    "GET",
                    &format!("/csc/v2/oauth2/authorize?{query}"),
                    None,
                    Vec::new(),
                )
                .await;
            assert_eq!(r.status, 302);
            let to_idp = r.location.unwrap();
            assert_eq!(to_idp, format!("{}/oauth2/authorize?{query}", b.idp_url));
            let (status, back) = bench::http_get(&to_idp).await;
            if status != 302 {
                return Err(status);
            }
            let back = back.unwrap();
            let (base, q) = back.split_once('?').unwrap();
            assert_eq!(base, redirect);
            let q = form::parse(q).unwrap();
            assert_eq!(form::get(&q, "state"), Some("st-1"));
            Ok(form::get(&q, "code").unwrap().to_owned())
        }
    };
    let token = |code: &str, verifier: &str| {
        form::encode_pairs([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", "csc-test"),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
        .into_bytes()
    };
    let token_path = "/csc/v2/oauth2/token";

    // A wrong PKCE verifier: refused, and the code is used up.
    let code = code_for(b.ec, redirect).await.unwrap();
    let r = b
        .raw("POST", token_path, None, token(&code, "wrong-verifier"))
        .await;
    refused(&r, 400, "invalid_grant", "PKCE");
    let r = b
        .raw("POST", token_path, None, token(&code, verifier))
        .await;
    refused(&r, 400, "invalid_grant", "unknown or used code");

    // The flow.
    let code = code_for(b.ec, redirect).await.unwrap();
    let answer = b
        .raw("POST", token_path, None, token(&code, verifier))
        .await
        .ok();
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["expires_in"].as_u64().unwrap() <= 300);
    assert_eq!(
        answer["authorization_details"][0]["credentialID"],
        b.ec.to_string()
    );
    let access = format!("Bearer {}", answer["access_token"].as_str().unwrap());
    let sign = json!({
        "credentialID": b.ec.to_string(),
        "hashes": [b64(&hashes[0])],
        "hashAlgorithmOID": ID_SHA256,
        "signAlgo": ECDSA_SHA256,
    });
    let signed = b
        .post("/csc/v2/signatures/signHash", Some(&access), &sign)
        .await
        .ok();
    verify_all(
        &b.certificate_key(b.ec).await,
        SHA256,
        &hashes,
        &signed["signatures"],
    );
    // The handle is single use; so is the code.
    let again = b
        .post("/csc/v2/signatures/signHash", Some(&access), &sign)
        .await;
    refused(&again, 401, "invalid_token", "not valid");
    let r = b
        .raw("POST", token_path, None, token(&code, verifier))
        .await;
    refused(&r, 400, "invalid_grant", "unknown or used code");

    // The IdP's SAD for another user's credential gets no handle.
    let code = code_for(b.other_ec, redirect).await.unwrap();
    let r = b
        .raw("POST", token_path, None, token(&code, verifier))
        .await;
    refused(&r, 400, "invalid_request", "credentialID");
    // The dev IdP redirects to loopback URIs only.
    assert_eq!(code_for(b.ec, "http://example.com/cb").await, Err(400));
    // A malformed token request.
    let r = b
        .raw("POST", token_path, None, b"grant_type=password".to_vec())
        .await;
    refused(&r, 400, "invalid_request", "grant_type");
    b.stop().await;
}

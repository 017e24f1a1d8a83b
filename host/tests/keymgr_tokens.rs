#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cloned_ref_to_slice_refs
)]
//! Seed §7.4: the Key Manager's queries are scoped by the caller's
//! identity token (`Authorization: Bearer <token>`), on top of the
//! connector pin. A Signer sees its own objects; a Privileged User those
//! of the Signers it manages (by the audit trail); anything else is 401.

mod support;

use sam_proto::ids::Uuid;
use serde_json::{Value, json};
use support::{Client, Idp, World, b64, host_now};

/// The `keyid`s of a `/private-keys` or `/objects` answer.
async fn key_ids(client: &Client, path: &str) -> Vec<String> {
    let r = client.get(path).await.ok();
    let mut ids: Vec<String> = r["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["keyid"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn id(key: &Value) -> String {
    key["keyid"].as_str().unwrap().to_owned()
}

/// The World with the Privileged User `pu`, its Signers `a` (one key,
/// from `with_signer`) and `b` (one key), and a second Privileged User
/// `pu2` who manages nobody.
async fn two_signers() -> (World, Uuid, Uuid, Uuid, Uuid, Value, Value) {
    let (mut w, pu, a, key_a) = World::with_signer().await;
    let b = w.create_signer(pu).await;
    let key_b = w.generate(pu, b).await;
    w.register(b, &key_b).await.ok();
    let pu2 = w.create_privileged_user(pu).await;
    (w, pu, a, b, pu2, key_a, key_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_sees_its_own_keys_and_a_privileged_user_those_it_manages() {
    let (w, pu, a, b, pu2, key_a, key_b) = two_signers().await;
    let (ka, kb) = (id(&key_a), id(&key_b));

    // Each Signer: its own key, never the other's, whatever the filter.
    assert_eq!(key_ids(&w.bearer(a), "/private-keys").await, [ka.clone()]);
    assert_eq!(key_ids(&w.bearer(b), "/private-keys").await, [kb.clone()]);
    assert!(
        key_ids(&w.bearer(a), &format!("/objects?keyid={kb}"))
            .await
            .is_empty()
    );
    assert!(
        key_ids(&w.bearer(a), &format!("/objects?userid={b}"))
            .await
            .is_empty()
    );
    let own = w.bearer(a).get(&format!("/objects?keyid={ka}")).await.ok();
    // Private key, public key, CSR and certificate of the Signer's key.
    assert_eq!(own["objects"].as_array().unwrap().len(), 4, "{own}");

    // The Privileged User created both Signers (and generated b's key):
    // it sees both keys; by userid, one Signer's.
    let mut both = vec![ka.clone(), kb.clone()];
    both.sort();
    assert_eq!(key_ids(&w.bearer(pu), "/private-keys").await, both);
    assert_eq!(
        key_ids(&w.bearer(pu), &format!("/objects?userid={a}")).await,
        [ka.clone()]
    );
    // The second Privileged User manages no Signer and owns no key.
    assert!(key_ids(&w.bearer(pu2), "/private-keys").await.is_empty());
    assert!(
        key_ids(&w.bearer(pu2), &format!("/objects?keyid={ka}"))
            .await
            .is_empty()
    );

    // Once pu2 maintains Signer b, it manages b (the audit trail says so).
    let body = w
        .container(
            "Signer_Maintenance",
            pu2,
            json!({"userid": b.to_string(), "certificates": [b64(&w.idp.cert)]}),
        )
        .await;
    w.ra.post("/peering", &body).await.ok();
    assert_eq!(key_ids(&w.bearer(pu2), "/private-keys").await, [kb.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_invalid_or_expired_tokens_are_401_and_the_connector_pin_still_applies() {
    let (w, _pu, signer, key) = World::with_signer().await;
    let unauthorized = |r: support::Resp, why: &str| {
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "Unauthorized"),
            "{why}: {:?}",
            r.json()
        );
        assert_eq!(r.json()["error"]["code"], 1005, "{why}");
        let challenge = r
            .headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap());
        assert!(
            challenge.unwrap_or("").starts_with("Bearer "),
            "{why}: {challenge:?}"
        );
    };
    unauthorized(w.ssa.get("/private-keys").await, "no header");
    unauthorized(w.ssa.get("/objects").await, "no header on /objects");
    unauthorized(
        w.ssa
            .with_authorization("Bearer %%%")
            .get("/private-keys")
            .await,
        "not base64",
    );
    unauthorized(
        w.ssa
            .with_authorization(format!("Bearer {}", b64(b"\x30\x03\x02\x01\x01")))
            .get("/private-keys")
            .await,
        "not a token",
    );
    let now = host_now();
    let foreign = Idp::p256(7).token(signer, now - 60, now + 600, None);
    unauthorized(
        w.ssa
            .with_authorization(sam_client::bearer::bearer_header(&foreign))
            .get("/private-keys")
            .await,
        "another IdP's token",
    );
    let expired = w.idp.token(signer, now - 600, now - 60, None);
    let r = w
        .ssa
        .with_authorization(sam_client::bearer::bearer_header(&expired))
        .get("/private-keys")
        .await;
    assert!(
        r.json()["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    unauthorized(r, "expired");

    // The seed's spelling `Bearer: MII...` works like `Bearer MII...`.
    let token = w.idp.token(signer, now - 60, now + 600, None);
    let seed = w
        .ssa
        .with_authorization(format!("Bearer: {}", b64(&token)))
        .get("/private-keys")
        .await
        .ok();
    assert_eq!(seed["objects"][0]["keyid"], key["keyid"]);

    // A valid token does not open the key manager to a connector without
    // Key_Manager_Query.
    let r = w
        .admin
        .with_authorization(sam_client::bearer::bearer_header(&token))
        .get("/private-keys")
        .await;
    assert_eq!((r.status, r.error().as_str()), (403, "Forbidden"));
}

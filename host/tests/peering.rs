#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! End to end through HTTPS: management, every peering operation, the
//! key manager and SSA signing, with the in-process firmware.

mod support;

use der::{Decode, Encode};
use sam_proto::bounded::Blob;
use sam_proto::command::{NewUser, SubFunction, TechnicalSignature};
use serde_json::json;
use support::{World, b64, doc_hash, unb64};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_signing_story() {
    let w = World::new().await;
    // Before initialization the daemon is alive but not ready.
    assert_eq!(w.ssa.get("/healthz").await.status, 200);
    let r = w.ssa.get("/readyz").await;
    assert_eq!((r.status, r.error().as_str()), (503, "NotOperational"));

    let r = w.init().await.ok();
    assert!(r["attestation_key"].is_string());
    assert_eq!(w.ssa.get("/readyz").await.status, 200);
    w.set_idp_keys(std::slice::from_ref(&w.idp.cert)).await.ok();
    // The policy: the CA whose certificates may activate keys.
    w.set_policy(3600, &[w.signing_ca().cert]).await.ok();

    let mut w = w;
    let pu = w.enrol().await;
    let signer = w.create_signer(pu).await;

    // Signer_Maintenance: the privileged user adds a second IdP cert.
    let idp2 = support::pki::Idp::p256(2);
    let body = w
        .container(
            "Signer_Maintenance",
            pu,
            json!({
                "userid": signer.to_string(),
                "certificates": [b64(&w.idp.cert), b64(&idp2.cert)],
            }),
        )
        .await;
    let r = w.ra.post("/peering", &body).await.ok();
    assert_eq!(r["generation"], 1);
    assert_eq!(r["role"], "Signer");
    // The same container again (a host or proxy replaying what it once
    // relayed): its challenge is spent, the firmware refuses it.
    let r = w.ra.post("/peering", &body).await;
    assert_eq!((r.status, r.error().as_str()), (401, "AuthenticationError"));

    // Generate_Signer_Key_Pair, with the CSR for `CN=<userid>` built and
    // signed by the new key inside the firmware, in the same operation.
    let key = w.generate(pu, signer).await;
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    let spki = unb64(&key["publickey"]);
    let csr_der = unb64(&key["csr"]);
    let csr = x509_cert::request::CertReq::from_der(&csr_der).unwrap();
    assert_eq!(csr.info.public_key.to_der().unwrap(), spki);
    assert_eq!(csr.info.subject.to_string(), format!("CN={signer}"));
    let csr_digest = support::pki::sha256(&[&csr.info.to_der().unwrap()]);
    assert!(support::pki::verify_p256(
        &spki,
        &csr_digest,
        csr.signature.raw_bytes()
    ));

    // The key manager: the key is PRE_ACTIVE, so /private-keys (ACTIVE by
    // default) does not list it yet.
    let km = w.bearer(signer);
    let listed = km.get("/private-keys").await.ok();
    assert_eq!(listed["objects"].as_array().unwrap().len(), 0);
    let objs = km
        .get(&format!(
            "/objects?keyid={key_id}&return=id&return=state&return=objecttype"
        ))
        .await
        .ok();
    let objs = objs["objects"].as_array().unwrap();
    assert_eq!(objs.len(), 3, "{objs:?}");
    assert!(objs.iter().all(|o| o.as_object().unwrap().len() == 3));

    // Register a certificate: the policy's signing CA certifies the CSR's
    // key, and the signer asks (the firmware checks both).
    let cert = w.signing_ca().issue_now(&spki, w.now());
    let r =
        w.ra.post(
            "/objects",
            &json!({
                "credential": w.certificate_credential(signer, &key_id, &cert).await,
                "objecttype": "CERTIFICATE",
                "value": b64(&cert),
                "links": [{"id": key_id, "type": "PRIVATE_KEY"}],
                "attributes": {"comment": "issued by the test CA"},
            }),
        )
        .await
        .ok();
    let r = &r["object"];
    assert_eq!(r["state"], "ACTIVE");
    assert!(r["dateattributes"]["not-after"].is_string());
    let listed = km.get("/private-keys").await.ok();
    assert_eq!(listed["objects"][0]["id"], key_id);
    assert_eq!(listed["objects"][0]["value"], serde_json::Value::Null);
    // A certificate for another key is refused.
    let other = certify(&support::pki::SadKey::new(9).spki(), "x");
    let r =
        w.ra.post(
            "/objects",
            &json!({"credential": w.certificate_credential(signer, &key_id, &other).await,
                    "objecttype": "CERTIFICATE", "value": b64(&other),
                    "links": [{"id": key_id, "type": "PRIVATE_KEY"}]}),
        )
        .await;
    assert_eq!((r.status, r.error().as_str()), (400, "InvalidInput"));

    // Sign three hashes through the SSA endpoint.
    w.daemon.platform().advance(10);
    let hashes: Vec<Vec<u8>> = ["invoice 1", "invoice 2", "invoice 3"]
        .iter()
        .map(|t| doc_hash(t))
        .collect();
    let sad = w.sad(signer, &key_id, &hashes, 1);
    let r = w
        .ssa
        .post(
            "/signing",
            &json!({"sad": b64(&sad), "signatureFormat": "raw"}),
        )
        .await
        .ok();
    assert_eq!(r["signatureFormat"], "raw");
    let sigs = r["signatures"].as_object().unwrap();
    assert_eq!(sigs.len(), 3);
    for (i, h) in hashes.iter().enumerate() {
        assert!(support::pki::verify_p256(
            &spki,
            h,
            &unb64(&sigs[&i.to_string()])
        ));
    }

    // The same SAD again: single use.
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!((r.status, r.error().as_str()), (409, "ReplayedSad"));

    // Signing through the peering container works too (HTTP/2 this time).
    let h2 = support::Client::new(w.daemon.addr, &w.pki.ca, &w.pki.ssa, true);
    let sad2 = w.sad(signer, &key_id, &hashes[..1], 2);
    let r = h2
        .post(
            "/peering",
            &json!({"operation": "Signing", "params": {"sad": b64(&sad2)}}),
        )
        .await
        .ok();
    assert_eq!(r["sigbin"].as_array().unwrap().len(), 1);

    // Delete_Signer_Key_Pair: afterwards the key is gone for signing.
    let body = w
        .container("Delete_Signer_Key_Pair", signer, json!({"keyid": key_id}))
        .await;
    let r = w.ra.post("/peering", &body).await.ok();
    assert_eq!(r["state"], "DESTROYED");
    let sad3 = w.sad(signer, &key_id, &hashes[..1], 3);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad3)})).await;
    assert_eq!((r.status, r.error().as_str()), (404, "NotFound"));
    // Deleting it again, with a new proof: NotFound.
    let body = w
        .container("Delete_Signer_Key_Pair", signer, json!({"keyid": key_id}))
        .await;
    let r = w.ra.post("/peering", &body).await;
    assert_eq!((r.status, r.error().as_str()), (404, "NotFound"));
    let objs = w
        .bearer(signer)
        .get(&format!("/objects?keyid={key_id}"))
        .await
        .ok();
    assert!(
        objs["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["state"] == "DESTROYED" && o["value"].is_null())
    );

    // Every audited outcome is in the store, and the chain is whole.
    let status = w.admin.get("/admin/status").await.ok();
    assert_eq!(
        status["store"]["audit_records"],
        status["firmware"]["next_audit_seq"]
    );
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["users"]["checked"], 2);

    // Metrics count what happened.
    let metrics = w.ssa.get("/metrics").await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(
        text.contains("samd_requests_total{operation=\"ssa_signing\",outcome=\"ReplayedSad\"} 1")
    );
    assert!(text.contains("samd_firmware_roundtrip_seconds_count{sub_function=\"Signing\"}"));
    w.daemon.stop().await;
}

/// A certificate for `spki` from a throwaway CA.
fn certify(spki: &[u8], cn: &str) -> Vec<u8> {
    use std::str::FromStr;
    use x509_cert::builder::{Builder, CertificateBuilder, profile::cabf::Root};
    let ca_key = support::pki::p256_key(77, 9);
    let name = x509_cert::name::Name::from_str(&format!("CN={cn},O=SAM Test CA,C=DE")).unwrap();
    let profile = Root::new(false, name).unwrap();
    let validity =
        x509_cert::time::Validity::from_now(std::time::Duration::from_secs(86400)).unwrap();
    let pk = spki::SubjectPublicKeyInfoOwned::from_der(spki).unwrap();
    let builder = CertificateBuilder::new(
        profile,
        x509_cert::serial_number::SerialNumber::from(7u32),
        validity,
        pk,
    )
    .unwrap();
    builder
        .build::<_, p256::ecdsa::DerSignature>(&ca_key)
        .unwrap()
        .to_der()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_users_and_technical_signatures() {
    let mut w = World::ready().await;
    let pu = w.enrol().await;
    // Create_New_Privileged_User.
    let pu2 = w.new_user_id();
    let body = w
        .container(
            "Create_New_Privileged_User",
            pu,
            json!({"userid": pu2.to_string(), "certificates": [b64(&w.idp.cert)]}),
        )
        .await;
    assert_eq!(
        w.ra.post("/peering", &body).await.ok()["role"],
        "PrivilegedUser"
    );
    // The same user again is refused by the host.
    let r = w.ra.post("/peering", &body).await;
    assert_eq!((r.status, r.error().as_str()), (400, "InvalidInput"));

    // A Privileged User Technical, authenticated by its certificate's key.
    let tech_idp = support::pki::Idp::p256(5);
    let tech = w.new_user_id();
    let body = w
        .container(
            "Create_New_Privileged_User",
            pu,
            json!({"userid": tech.to_string(), "technical_certificate": b64(&tech_idp.cert)}),
        )
        .await;
    assert_eq!(
        w.ra.post("/peering", &body).await.ok()["role"],
        "PrivilegedUserTechnical"
    );
    // It creates a signer by signing the request under a fresh challenge.
    let new_signer = w.new_user_id();
    let c = w.ra.post("/peering/challenge", &json!({})).await.ok();
    let challenge: [u8; 32] = unb64(&c["challenge"]).try_into().unwrap();
    let params = NewUser {
        user_id: new_signer,
        certificates: support::blobs(&[w.idp.cert.clone()]),
    };
    let sig = support::pki::technical_signature(
        tech_idp.p256_key(),
        SubFunction::CreateSigner,
        &challenge,
        &sam_proto::intent::Intent::CreateSigner { user: &params }
            .encode()
            .unwrap(),
    );
    let ts = TechnicalSignature {
        challenge,
        signature: Blob::from_vec(sig).unwrap(),
    };
    let body = json!({
        "operation": "Create_New_Signer",
        "credential": {
            "type": "technical_signature",
            "value": b64(&postcard::to_allocvec(&ts).unwrap()),
            "userid": tech.to_string(),
        },
        "params": {"userid": new_signer.to_string(), "certificates": [b64(&w.idp.cert)]},
    });
    assert_eq!(w.ra.post("/peering", &body).await.ok()["role"], "Signer");
    // Replaying it fails: the challenge is spent (and the user exists).
    let another = w.new_user_id();
    let r =
        w.ra.post(
            "/peering",
            &json!({
                "operation": "Create_New_Signer",
                "credential": body["credential"],
                "params": {"userid": another.to_string(), "certificates": [b64(&w.idp.cert)]},
            }),
        )
        .await;
    assert_eq!((r.status, r.error().as_str()), (401, "AuthenticationError"));
    // A technical user may not generate keys (seed Table 16).
    let signer = w.create_signer(pu).await;
    let c = w.ra.post("/peering/challenge", &json!({})).await.ok();
    let ts = TechnicalSignature {
        challenge: unb64(&c["challenge"]).try_into().unwrap(),
        signature: Blob::from_vec(vec![0x30, 0]).unwrap(),
    };
    let r =
        w.ra.post(
            "/peering",
            &json!({
                "operation": "Generate_Signer_Key_Pair",
                "credential": {
                    "type": "technical_signature",
                    "value": b64(&postcard::to_allocvec(&ts).unwrap()),
                    "userid": tech.to_string(),
                },
                "params": {"userid": signer.to_string(), "algorithm": "EC", "parameters": "P-256"},
            }),
        )
        .await;
    assert_eq!(r.status, 401, "{:?}", r.json());
    // A signer may not create users: NotAuthorized, audited.
    let before = w.admin.get("/admin/status").await.ok()["store"]["audit_records"].clone();
    let another = w.new_user_id();
    let body = w
        .container(
            "Create_New_Signer",
            signer,
            json!({"userid": another.to_string(), "certificates": [b64(&w.idp.cert)]}),
        )
        .await;
    let r = w.ra.post("/peering", &body).await;
    assert_eq!((r.status, r.error().as_str()), (403, "NotAuthorized"));
    let after = w.admin.get("/admin/status").await.ok()["store"]["audit_records"].clone();
    assert_eq!(after.as_u64().unwrap(), before.as_u64().unwrap() + 1);
    // An empty certificate set is InvalidInput (audited by the firmware).
    let another = w.new_user_id();
    let body = w
        .container(
            "Create_New_Signer",
            pu,
            json!({"userid": another.to_string(), "certificates": []}),
        )
        .await;
    let r = w.ra.post("/peering", &body).await;
    assert_eq!((r.status, r.error().as_str()), (400, "InvalidInput"));
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    w.daemon.stop().await;
}

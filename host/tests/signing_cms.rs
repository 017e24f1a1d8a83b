#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Seed §7.2 Table 24: `POST /signing` answers a map position → detached
//! CMS, which openssl verifies against the signing CA; the bare values
//! stay available with `"signatureFormat": "raw"`; a key whose
//! certificate the store does not hold is named by a subjectKeyIdentifier.

mod support;

use sam_harness::openssl;
use sam_proto::ids::Uuid;
use serde_json::{Value, json};
use support::{World, b64, doc_hash, unb64};

/// `openssl cms -verify` of `p7s` over `document` against the signing CA
/// of `w`, at the firmware's clock.
fn cms_verify(w: &World, name: &str, document: &[u8], p7s: &[u8]) -> (bool, String) {
    let dir = w.dir.path();
    let ca = dir.join("signing-ca.pem");
    openssl::write_cert_pem(&ca, &w.signing_ca().cert).unwrap();
    let doc = dir.join(format!("{name}.txt"));
    let sig = dir.join(format!("{name}.p7s"));
    std::fs::write(&doc, document).unwrap();
    std::fs::write(&sig, p7s).unwrap();
    openssl::cms_verify(&sig, &doc, &ca, Some(w.now()))
}

/// Signs `documents` with `key_id` through `/signing` with `extra` fields.
async fn sign(
    w: &World,
    signer: Uuid,
    key_id: &str,
    documents: &[&str],
    seed: u8,
    extra: Value,
) -> Value {
    let hashes: Vec<Vec<u8>> = documents.iter().map(|d| doc_hash(d)).collect();
    let sad = w.sad(signer, key_id, &hashes, seed);
    let mut body = json!({"sad": b64(&sad)});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    w.ssa.post("/signing", &body).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_answers_cms_that_openssl_verifies_for_p256_and_rsa() {
    let (w, _pu, signer, p256) = World::with_signer().await;
    let rsa = w
        .generate_with(signer, signer, json!("RSA"), json!({"bits": 2048}))
        .await;
    w.register(signer, &rsa).await.ok();
    let docs = ["contract page 1", "contract page 2"];
    for (name, key) in [("p256", &p256), ("rsa", &rsa)] {
        let key_id = key["keyid"].as_str().unwrap();
        let seed = if name == "rsa" { 21 } else { 20 };
        let r = sign(&w, signer, key_id, &docs, seed, json!({})).await;
        assert_eq!(r["signatureFormat"], "cms", "{r}");
        let map = r["signatures"].as_object().unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["0", "1"]);
        for (i, doc) in docs.iter().enumerate() {
            let p7s = unb64(&map[&i.to_string()]);
            let (ok, out) = cms_verify(&w, &format!("{name}-{i}"), doc.as_bytes(), &p7s);
            assert!(ok, "{name} #{i}: {out}");
            // The other document does not verify with this signature.
            let other = docs[1 - i].as_bytes();
            let (ok, _) = cms_verify(&w, &format!("{name}-{i}-other"), other, &p7s);
            assert!(!ok, "{name} #{i} verifies over the wrong document");
        }
    }
    // An unknown format is refused before anything is signed.
    let sad = w.sad(
        signer,
        p256["keyid"].as_str().unwrap(),
        &[doc_hash("x")],
        22,
    );
    let r = w
        .ssa
        .post(
            "/signing",
            &json!({"sad": b64(&sad), "signatureFormat": "pdf"}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_format_gives_bare_signature_values() {
    let (w, _pu, signer, key) = World::with_signer().await;
    let key_id = key["keyid"].as_str().unwrap();
    let spki = unb64(&key["publickey"]);
    let docs = ["a", "b", "c"];
    let r = sign(
        &w,
        signer,
        key_id,
        &docs,
        30,
        json!({"signatureFormat": "raw"}),
    )
    .await;
    assert_eq!(r["signatureFormat"], "raw");
    let map = r["signatures"].as_object().unwrap();
    assert_eq!(map.len(), 3);
    for (i, doc) in docs.iter().enumerate() {
        let sig = unb64(&map[&i.to_string()]);
        assert!(
            support::pki::verify_p256(&spki, &doc_hash(doc), &sig),
            "#{i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_certificate_the_cms_names_the_key_by_its_identifier() {
    let (w, _pu, signer, key) = World::with_signer().await;
    let key_id = key["keyid"].as_str().unwrap();
    // The store (untrusted, editable by whoever runs the host) loses the
    // certificate: samd can only name the key by its public key.
    let db = rusqlite::Connection::open(&w.daemon.db).unwrap();
    let n = db
        .execute(
            "UPDATE objects SET state = 'DEACTIVATED' WHERE type = 'CERTIFICATE' AND key_id = ?1",
            [key_id],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let r = sign(&w, signer, key_id, &["memo"], 40, json!({})).await;
    let p7s = unb64(&r["signatures"]["0"]);
    let path = w.dir.path().join("ski.p7s");
    std::fs::write(&path, &p7s).unwrap();
    let (ok, printed) = openssl::run(&[
        "cms",
        "-cmsout",
        "-print",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
    ]);
    assert!(ok, "{printed}");
    // RFC 7093 §2 method 1, computed here from the P-256 SPKI's last 65
    // bytes (the uncompressed point, the BIT STRING's value).
    let spki = unb64(&key["publickey"]);
    let point = &spki[spki.len() - 65..];
    let id: String = support::pki::sha256(&[point])[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let flat: String = printed
        .lines()
        .filter_map(|l| l.split_once(" - ").map(|(_, hex)| hex))
        .flat_map(|hex| hex.split([' ', '-']))
        .filter(|t| t.len() == 2)
        .collect();
    assert!(printed.contains("subjectKeyIdentifier"), "{printed}");
    assert!(flat.contains(&id), "SKI {id} not in:\n{printed}");
    assert!(
        printed.contains("signedAttrs:\n          <ABSENT>"),
        "{printed}"
    );
    assert!(
        printed.contains("certificates:\n      <ABSENT>"),
        "{printed}"
    );
}

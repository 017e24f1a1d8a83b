#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! What survives a restart, and what tampering with the SQLite file does:
//! the firmware (through `/admin/integrity` and through the operation that
//! uses the record) notices every edit.

mod support;

use sam_proto::ids::Uuid;
use serde_json::json;
use support::{World, b64, doc_hash};

fn db(w: &World) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(&w.daemon.db).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    c
}

/// Flips the last byte of a blob column (a MAC or an AEAD tag: the
/// record still decodes, only the firmware can tell).
fn flip_last(c: &rusqlite::Connection, table: &str, column: &str, key: &str, id: &str) -> Vec<u8> {
    let sql = format!("SELECT {column} FROM {table} WHERE {key} = ?1");
    let mut blob: Vec<u8> = c.query_row(&sql, [id], |r| r.get(0)).unwrap();
    let original = blob.clone();
    *blob.last_mut().unwrap() ^= 1;
    let sql = format!("UPDATE {table} SET {column} = ?1 WHERE {key} = ?2");
    assert_eq!(c.execute(&sql, rusqlite::params![blob, id]).unwrap(), 1);
    original
}

fn restore(c: &rusqlite::Connection, table: &str, column: &str, key: &str, id: &str, v: &[u8]) {
    let sql = format!("UPDATE {table} SET {column} = ?1 WHERE {key} = ?2");
    assert_eq!(c.execute(&sql, rusqlite::params![v, id]).unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_users_keys_and_audit() {
    let (mut w, _pu, signer, key) = World::with_signer().await;
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    let sad = w.sad(signer, &key_id, &[doc_hash("before")], 1);
    w.ssa
        .post("/signing", &json!({"sad": b64(&sad)}))
        .await
        .ok();
    let before = w.admin.get("/admin/status").await.ok();

    w.restart().await;

    let after = w.admin.get("/admin/status").await.ok();
    assert_eq!(after["store"]["users"], before["store"]["users"]);
    assert_eq!(after["store"]["objects"], before["store"]["objects"]);
    assert_eq!(
        after["store"]["audit_records"],
        before["store"]["audit_records"]
    );
    assert_eq!(after["firmware"]["boot"], 2);
    // A SAD whose token predates the restart is refused...
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!((r.status, r.error().as_str()), (409, "ReplayedSad"));
    // ...a fresh one signs with the stored key and user record.
    w.daemon.platform().advance(10);
    let sad = w.sad(signer, &key_id, &[doc_hash("after")], 2);
    w.ssa
        .post("/signing", &json!({"sad": b64(&sad)}))
        .await
        .ok();
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    w.daemon.stop().await;
}

/// An audited refusal (MessageParseError) made straight on the firmware:
/// its answer never reaches samd's store; the record waits in the
/// firmware's outbox. (The integrity check would fetch it at once: it
/// asks the outbox what it still keeps before it walks.)
fn audit_record_past_the_store(w: &World) {
    let fw = w.daemon.firmware.clone().unwrap();
    let answer = fw.dispatch(sam_proto::command::SubFunction::Signing.code(), &[0xff]);
    assert_eq!(
        answer.status,
        sam_proto::ErrorType::MessageParseError.code()
    );
}

/// samd killed between the firmware's answer and its commit: the record
/// the firmware issued is not in the store. The firmware kept it in its
/// outbox; the next samd fetches it and the chain is whole again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_record_samd_never_stored_is_recovered_from_the_outbox() {
    let (mut w, _pu, _signer, _key) = World::with_signer().await;
    let records = |w: &World| -> i64 {
        db(w)
            .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
            .unwrap()
    };
    let before = records(&w);
    audit_record_past_the_store(&w);
    assert_eq!(records(&w), before);

    w.restart().await;

    // The integrity check recovers the outbox before it walks the chain
    // (the background task may have done so already).
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["audit"]["complete"], true, "{report}");
    assert_eq!(records(&w), before + 1);
    w.daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_by_the_integrity_check_and_by_use() {
    let (w, _pu, signer, key) = World::with_signer().await;
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    let c = db(&w);

    // A user record.
    let user = signer.to_string();
    let original = flip_last(&c, "users", "record", "user_id", &user);
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], false);
    assert_eq!(report["users"]["bad"], json!([user]));
    let sad = w.sad(signer, &key_id, &[doc_hash("x")], 1);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!((r.status, r.error().as_str()), (401, "AuthenticationError"));
    restore(&c, "users", "record", "user_id", &user, &original);

    // A wrapped key.
    let original = flip_last(&c, "objects", "value", "id", &key_id);
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["keys"]["bad"], json!([key_id]));
    let sad = w.sad(signer, &key_id, &[doc_hash("x")], 2);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!((r.status, r.error().as_str()), (400, "InvalidInput"));
    restore(&c, "objects", "value", "id", &key_id, &original);

    // Garbage that does not even decode is reported by the host.
    c.execute(
        "UPDATE objects SET value = x'00' WHERE id = ?1",
        [key_id.as_str()],
    )
    .unwrap();
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["keys"]["bad"], json!([key_id]));
    restore(&c, "objects", "value", "id", &key_id, &original);

    // An audit record.
    let original = flip_last(&c, "audit", "record", "seq", "3");
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], false);
    assert_eq!(report["audit"]["break"]["seq"], 3, "{report}");
    restore(&c, "audit", "record", "seq", "3", &original);

    // A deleted audit record in the middle, and a cut tail.
    let row: Vec<u8> = c
        .query_row("SELECT record FROM audit WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["audit"]["break"]["expected_seq"], 2, "{report}");
    c.execute(
        "INSERT INTO audit (seq, record) VALUES (2, ?1)",
        rusqlite::params![row],
    )
    .unwrap();
    let last: i64 = c
        .query_row("SELECT MAX(seq) FROM audit", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM audit WHERE seq = ?1", [last])
        .unwrap();
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["audit"]["break"], serde_json::Value::Null);
    assert_eq!(report["audit"]["complete"], false);
    assert_eq!(report["ok"], false);

    // Everything restored but the cut tail; signing works again.
    let sad = w.sad(signer, &key_id, &[doc_hash("x")], 3);
    w.ssa
        .post("/signing", &json!({"sad": b64(&sad)}))
        .await
        .ok();
    w.daemon.stop().await;
}

/// Another samd sharing the store, with another HSM of the key domain,
/// signed with this identity token first (its `UseToken` is stored).
/// This module's replay set has not seen the token, so the firmware
/// signs; samd's store refuses the token, keeps the signing's audit
/// record and withholds the signature: the client gets `ReplayedSad`, as
/// from the firmware. On SQLite and on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_another_instance_used_is_refused_and_the_signature_withheld() {
    token_used_elsewhere(World::with_signer().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_another_instance_used_is_refused_on_postgres_too() {
    let Some(cluster) = sam_harness::postgres::Cluster::start().unwrap() else {
        return;
    };
    let world = World::with_signer_on(cluster).await;
    assert!(world.0.daemon.store.location().starts_with("postgres://"));
    token_used_elsewhere(world).await;
}

async fn token_used_elsewhere((w, _pu, signer, key): (World, Uuid, Uuid, serde_json::Value)) {
    use sha2::{Digest, Sha256};
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    let sad = w.sad(signer, &key_id, &[doc_hash("signed elsewhere")], 1);
    let parsed = sam_proto::asn1::Sad::from_der_strict(&sad).unwrap();
    let digest: [u8; 32] = Sha256::digest(parsed.tbs.identity_token.signed_bytes().unwrap()).into();
    w.daemon
        .store
        .write(sam_host::store::WriteBatch {
            audit: vec![],
            ops: vec![sam_host::store::WriteOp::UseToken { digest }],
        })
        .await
        .unwrap();
    let audit = |status: &serde_json::Value| status["store"]["audit_records"].as_u64().unwrap();
    let before = audit(&w.admin.get("/admin/status").await.ok());
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!((r.status, r.error().as_str()), (409, "ReplayedSad"));
    assert!(!String::from_utf8_lossy(&r.body).contains("signatures"));
    // The module did sign: its audit record is stored all the same.
    let after = audit(&w.admin.get("/admin/status").await.ok());
    assert_eq!(after, before + 1);
    // A fresh token signs, once.
    let fresh = w.sad(signer, &key_id, &[doc_hash("fresh")], 2);
    let ok = w
        .ssa
        .post("/signing", &json!({"sad": b64(&fresh)}))
        .await
        .ok();
    assert_eq!(ok["signatures"].as_object().unwrap().len(), 1, "{ok}");
    let r = w.ssa.post("/signing", &json!({"sad": b64(&fresh)})).await;
    assert_eq!((r.status, r.error().as_str()), (409, "ReplayedSad"));
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    w.daemon.stop().await;
}

/// `/readyz` on PostgreSQL: false while the server is down (requests get
/// NotOperational), true again once samd has reconnected by itself; what
/// was committed before is all there and a signing works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_postgres_server() {
    let Some(cluster) = sam_harness::postgres::Cluster::start().unwrap() else {
        return;
    };
    let (w, _pu, signer, key) = World::with_signer_on(cluster).await;
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    let cluster = w.daemon.postgres.clone().unwrap();
    assert_eq!(w.admin.get("/readyz").await.status, 200);
    let before = w.admin.get("/admin/status").await.ok()["store"].clone();
    cluster.stop().unwrap();
    let readyz = |want: u16| {
        let admin = &w.admin;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while admin.get("/readyz").await.status != want {
                assert!(std::time::Instant::now() < deadline, "/readyz never {want}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    readyz(503).await;
    let sad = w.sad(signer, &key_id, &[doc_hash("while down")], 1);
    let r = w.ssa.post("/signing", &json!({"sad": b64(&sad)})).await;
    assert_eq!((r.status, r.error().as_str()), (503, "NotOperational"));
    cluster.restart().unwrap();
    readyz(200).await;
    let after = w.admin.get("/admin/status").await.ok()["store"].clone();
    assert_eq!(after["users"], before["users"]);
    assert_eq!(after["objects"], before["objects"]);
    let ok = w
        .ssa
        .post("/signing", &json!({"sad": b64(&sad)}))
        .await
        .ok();
    assert_eq!(ok["signatures"].as_object().unwrap().len(), 1, "{ok}");
    // The signing refused while the store was down never reached the
    // firmware (samd could not read the signer's record): the chain is
    // whole and the token unspent.
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    w.daemon.stop().await;
}

/// An audit record the store never got (here: made straight on the
/// firmware, as when a commit is cut off by a PostgreSQL restart) is
/// recovered from the firmware's outbox once samd has reconnected: the
/// store coming back counts like a broken firmware link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_postgres_outage_the_outbox_is_recovered() {
    let Some(cluster) = sam_harness::postgres::Cluster::start().unwrap() else {
        return;
    };
    let (w, _pu, _signer, _key) = World::with_signer_on(cluster).await;
    let cluster = w.daemon.postgres.clone().unwrap();
    let records = |s: &serde_json::Value| s["store"]["audit_records"].as_u64().unwrap();
    let before = records(&w.admin.get("/admin/status").await.ok());
    audit_record_past_the_store(&w);
    cluster.stop().unwrap();
    // samd notices the outage (as a cut-off commit would make it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while w.admin.get("/readyz").await.status != 503 {
        assert!(std::time::Instant::now() < deadline, "outage not noticed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    cluster.restart().unwrap();
    loop {
        let r = w.admin.get("/admin/status").await;
        if r.status == 200 && records(&r.json()) == before + 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not recovered");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let report = w.admin.post("/admin/integrity", &json!({})).await.ok();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["audit"]["complete"], true, "{report}");
    w.daemon.stop().await;
}

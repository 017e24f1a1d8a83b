#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Refusals samd makes itself reach the firmware's audit trail (seed
//! §7.1: only four error types leave no audit record), each with its type
//! and cause; and the credential of a Signing container reaches the
//! firmware.

mod support;

use sam_proto::ErrorType;
use sam_proto::codes::Cause;
use serde_json::{Value, json};
use support::{World, b64, doc_hash};

/// The highest stored audit sequence number.
async fn last_seq(w: &World) -> Option<i64> {
    w.admin.get("/admin/status").await.ok()["store"]["last_audit_seq"].as_i64()
}

/// The stored audit records after `after`.
async fn records_after(w: &World, after: Option<i64>) -> Vec<Value> {
    let after = after.unwrap_or(-1);
    let page = w
        .admin
        .get(&format!("/admin/audit?after={after}&limit=1000"))
        .await
        .ok();
    page["records"].as_array().unwrap().clone()
}

/// Sends `req`, expects `error`, and returns the one audit record the
/// refusal added.
async fn refused_with_record(w: &World, path: &str, req: &Value, error: ErrorType) -> Value {
    refused_by(w, &w.ra, path, req, error).await
}

/// [`refused_with_record`] through `client`.
async fn refused_by(
    w: &World,
    client: &support::Client,
    path: &str,
    req: &Value,
    error: ErrorType,
) -> Value {
    let before = last_seq(w).await;
    let r = client.post(path, req).await;
    assert_eq!(r.error(), error.name(), "{req}");
    let mut added = records_after(w, before).await;
    assert_eq!(added.len(), 1, "one audit record for {req}: {added:?}");
    added.pop().unwrap()
}

fn assert_record(record: &Value, action: &str, error: ErrorType, cause: Cause) {
    assert_eq!(record["action"], action, "{record}");
    assert_eq!(record["outcome"], error.name(), "{record}");
    assert_eq!(record["cause"], cause.name(), "{record}");
    assert!(
        !record["note"].as_str().unwrap_or("").is_empty(),
        "samd's note: {record}"
    );
    assert_eq!(record["actor"], Value::Null, "{record}");
}

/// On main, none of these refusals left an audit record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samd_refusals_are_audited_with_their_type_and_cause() {
    let mut w = World::ready().await;
    let pu = w.enrol().await;
    let signer = w.create_signer(pu).await;
    let new_user = w.new_user_id().to_string();

    // Bad base64 in a certificate.
    let req = w
        .container(
            "Create_New_Signer",
            pu,
            json!({"userid": new_user, "certificates": ["***"]}),
        )
        .await;
    let record = refused_with_record(&w, "/peering", &req, ErrorType::MessageParseError).await;
    assert_record(
        &record,
        "Create_New_Signer",
        ErrorType::MessageParseError,
        Cause::HostBadBase64,
    );

    // A parameter the operation does not have.
    let req = w
        .container(
            "Create_New_Signer",
            pu,
            json!({"userid": new_user, "certificates": [b64(&w.idp.cert)], "role": "admin"}),
        )
        .await;
    let record = refused_with_record(&w, "/peering", &req, ErrorType::MessageParseError).await;
    assert_record(
        &record,
        "Create_New_Signer",
        ErrorType::MessageParseError,
        Cause::HostUnknownField,
    );

    // An algorithm name samd does not support.
    let req = w
        .container(
            "Generate_Signer_Key_Pair",
            pu,
            json!({"userid": signer.to_string(), "algorithm": "DSA", "parameters": {}}),
        )
        .await;
    let record = refused_with_record(&w, "/peering", &req, ErrorType::InvalidAlgorithm).await;
    assert_record(
        &record,
        "Generate_Signer_Key_Pair",
        ErrorType::InvalidAlgorithm,
        Cause::HostUnknownAlgorithm,
    );

    // A UserID that is no UUID.
    let req = w
        .container(
            "Create_New_Signer",
            pu,
            json!({"userid": "not-a-uuid", "certificates": [b64(&w.idp.cert)]}),
        )
        .await;
    let record = refused_with_record(&w, "/peering", &req, ErrorType::MessageParseError).await;
    assert_record(
        &record,
        "Create_New_Signer",
        ErrorType::MessageParseError,
        Cause::HostBadUuid,
    );

    // An operation samd cannot name.
    let req =
        json!({"operation": "Delete_Everything", "credential": w.credential(pu), "params": {}});
    let record = refused_with_record(&w, "/peering", &req, ErrorType::UnknownMessageType).await;
    assert_record(
        &record,
        "unknown(0x0000)",
        ErrorType::UnknownMessageType,
        Cause::HostUnknownOperation,
    );

    // The SSA interface: a SAD that is not base64.
    let before = last_seq(&w).await;
    let r = w.ssa.post("/signing", &json!({"sad": "%%%"})).await;
    assert_eq!(r.error(), ErrorType::MessageParseError.name());
    let added = records_after(&w, before).await;
    assert_eq!(added.len(), 1, "{added:?}");
    assert_record(
        &added[0],
        "Signing",
        ErrorType::MessageParseError,
        Cause::HostBadBase64,
    );
    w.daemon.stop().await;
}

/// The seed's four exempt types stay without a record, whoever refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_refusals_leave_no_record() {
    let mut w = World::ready().await;
    let pu = w.enrol().await;
    let new_user = w.new_user_id().to_string();
    let params = json!({"userid": new_user, "certificates": [b64(&w.idp.cert)]});
    let before = last_seq(&w).await;
    for (req, error) in [
        (
            json!({"operation": "Create_New_Signer",
                   "credential": {"type": "password", "value": "aHVudGVyMg=="},
                   "params": params}),
            ErrorType::UnknownCredentialType,
        ),
        (
            json!({"operation": "Create_New_Signer",
                   "credential": {"type": "identity_token", "value": "***"},
                   "params": params}),
            ErrorType::AuthenticationError,
        ),
        (
            json!({"operation": "Create_New_Signer", "params": params}),
            ErrorType::ContainerParseError,
        ),
    ] {
        let r = w.ra.post("/peering", &req).await;
        assert_eq!(r.error(), error.name(), "{req}");
    }
    let _ = pu;
    assert_eq!(records_after(&w, before).await, Vec::<Value>::new());
    w.daemon.stop().await;
}

/// Seed §7.1.6: a Signing container whose credential names another user
/// than the SAD's token is InvalidAuthentication, decided and audited by
/// the firmware. On main samd parsed the credential and dropped it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_credential_of_another_user_is_invalid_authentication() {
    let (w, pu, signer, key) = World::with_signer().await;
    let key_id = key["keyid"].as_str().unwrap().to_owned();
    let sad = w.sad(signer, &key_id, &[doc_hash("a")], 3);
    let req = json!({
        "operation": "Signing",
        "credential": w.credential(pu),
        "params": {"sad": b64(&sad)},
    });
    let record = refused_by(
        &w,
        &w.ssa,
        "/peering",
        &req,
        ErrorType::InvalidAuthentication,
    )
    .await;
    assert_eq!(record["action"], "Signing");
    assert_eq!(record["outcome"], ErrorType::InvalidAuthentication.name());
    assert_eq!(record["cause"], Cause::CredentialUserMismatch.name());
    assert_eq!(record["actor"], signer.to_string());
    // The signer's own credential with the same SAD signs.
    let req = json!({
        "operation": "Signing",
        "credential": w.credential(signer),
        "params": {"sad": b64(&sad)},
    });
    let answer = w.ssa.post("/peering", &req).await.ok();
    assert_eq!(answer["sigbin"].as_array().unwrap().len(), 1);
    w.daemon.stop().await;
}

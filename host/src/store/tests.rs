#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use sam_proto::command::SubFunction;
use sam_proto::records::{AuditEntry, AuditRecord};

fn audit(seq: u64) -> AuditRecord {
    AuditRecord {
        entry: AuditEntry {
            seq,
            prev: [0; 32],
            time: 1,
            boot: 1,
            action: SubFunction::CreateSigner.into(),
            failure: None,
            cause: None,
            note: None,
            actor: None,
            target_user: None,
            key_id: None,
        },
        mac: [7; 32],
    }
}

fn user(id: &str, generation: u32) -> UserRow {
    UserRow {
        user_id: id.into(),
        role: "Signer".into(),
        generation,
        record: vec![generation as u8; 4],
    }
}

fn key(id: &str) -> ManagedObject {
    ManagedObject {
        id: id.into(),
        object_type: ObjectType::PrivateKey,
        state: ObjectState::PreActive,
        key_id: id.into(),
        user_id: "u".into(),
        value: Some(vec![1, 2, 3]),
        attributes: serde_json::json!({}),
        created: 1,
        updated: 1,
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("sam.db"), Arc::new(Metrics::new())).unwrap()
}

#[tokio::test]
async fn concurrent_batches_share_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.write(WriteBatch {
                audit: vec![audit(i)],
                ops: vec![WriteOp::InsertUser(user(&format!("user-{i:03}"), 0))],
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.users, 64);
    assert_eq!(counts.audit, 64);
    assert_eq!(counts.last_audit_seq, Some(63));
    store.close();
}

#[tokio::test]
async fn refused_changes_keep_their_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .write(WriteBatch {
            audit: vec![audit(0)],
            ops: vec![WriteOp::InsertUser(user("a", 0))],
        })
        .await
        .unwrap();
    // Same user again: the change is refused, the audit record is kept.
    let e = store
        .write(WriteBatch {
            audit: vec![audit(1)],
            ops: vec![
                WriteOp::InsertObject(key("k1")),
                WriteOp::InsertUser(user("a", 0)),
            ],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let c = store.counts().await.unwrap();
    assert_eq!((c.users, c.objects, c.audit), (1, 0, 2));
    // A maintained record replaces only an older generation.
    store
        .write(WriteBatch {
            audit: vec![],
            ops: vec![WriteOp::UpdateUser(user("a", 1))],
        })
        .await
        .unwrap();
    let e = store
        .write(WriteBatch {
            audit: vec![],
            ops: vec![WriteOp::UpdateUser(user("a", 1))],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    store.close();
}

#[tokio::test]
async fn key_lifecycle_activate_and_destroy() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store
        .write(WriteBatch {
            audit: vec![],
            ops: vec![WriteOp::InsertObject(key("k"))],
        })
        .await
        .unwrap();
    let mut cert = key("k/certificate/0");
    cert.object_type = ObjectType::Certificate;
    cert.key_id = "k".into();
    cert.state = ObjectState::Active;
    store
        .write(WriteBatch {
            audit: vec![],
            ops: vec![WriteOp::ActivateCertificate {
                key_id: "k".into(),
                certificate: cert.clone(),
            }],
        })
        .await
        .unwrap();
    let keys = store
        .objects(ObjectFilter {
            state: Some(ObjectState::Active),
            object_type: Some(ObjectType::PrivateKey),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    store
        .write(WriteBatch {
            audit: vec![],
            ops: vec![WriteOp::DestroyKey { key_id: "k".into() }],
        })
        .await
        .unwrap();
    assert!(store.signer_key("k".into()).await.unwrap().is_none());
    let all = store
        .objects(ObjectFilter {
            key_id: Some("k".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        all.iter()
            .all(|o| o.state == ObjectState::Destroyed && o.value.is_none())
    );
    // Destroying twice, or certifying a destroyed key, is refused.
    let e = store
        .write(WriteBatch {
            audit: vec![],
            ops: vec![WriteOp::DestroyKey { key_id: "k".into() }],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    cert.id = "k/certificate/1".into();
    let e = store
        .write(WriteBatch {
            audit: vec![],
            ops: vec![WriteOp::ActivateCertificate {
                key_id: "k".into(),
                certificate: cert,
            }],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    store.close();
}

#[tokio::test]
async fn a_failed_commit_is_fatal_and_never_retried() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sam.db");
    // Create the schema, then reopen with a writer that cannot write.
    open(&dir).close();
    let store = Store::open_with(
        &path,
        Arc::new(Metrics::new()),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    assert!(!store.is_failed());
    let e = store
        .write(WriteBatch::audit_only([audit(0)]))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Fatal(_)), "{e}");
    assert!(store.is_failed());
    // Later writes fail at once, even ones that could succeed.
    let e = store
        .write(WriteBatch::audit_only([audit(1)]))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Fatal(_)));
    // Reads still work (the status endpoint can explain).
    assert_eq!(store.counts().await.unwrap().audit, 0);
    store.close();
}

#[tokio::test]
async fn close_flushes_queued_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let pending: Vec<_> = (0..10u64)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.write(WriteBatch::audit_only([audit(i)])).await })
        })
        .collect();
    for p in pending {
        p.await.unwrap().unwrap();
    }
    store.close();
    let again = open(&dir);
    assert_eq!(again.counts().await.unwrap().audit, 10);
    again.close();
}

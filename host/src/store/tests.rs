#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

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

/// Where a test's store lives: a SQLite file, or a database of a
/// throwaway PostgreSQL cluster.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(sam_harness::postgres::Cluster),
}

impl Db {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    /// `None` (the reason printed) only if PostgreSQL is not installed.
    fn postgres() -> Option<Self> {
        sam_harness::postgres::Cluster::start()
            .unwrap()
            .map(Self::Postgres)
    }

    fn pg_options(cluster: &sam_harness::postgres::Cluster) -> PgOptions {
        PgOptions {
            url: cluster.url(),
            pool_size: 4,
        }
    }

    /// A new `Store` on this database (a second one is another samd on
    /// the same data).
    async fn open(&self) -> Store {
        match self {
            Self::Sqlite(dir) => open(dir),
            Self::Postgres(cluster) => {
                Store::open_postgres(Self::pg_options(cluster), Arc::new(Metrics::new()))
                    .await
                    .unwrap()
            }
        }
    }
}

/// Runs each named `async fn(Db)` twice, as `<name>::sqlite` and
/// `<name>::postgres`: the store's rules are the same for both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Db::sqlite()).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(db) = super::Db::postgres() {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

on_both_backends!(
    concurrent_batches_share_commits_and_all_land,
    refused_changes_keep_their_audit_record,
    key_lifecycle_activate_and_destroy,
    close_flushes_queued_writes,
    a_different_audit_record_under_a_stored_seq_is_refused_whole,
    reads_page_and_filter,
    a_used_token_is_refused_the_second_time_and_its_audit_kept,
    used_tokens_older_than_the_cut_off_are_forgotten,
    two_instances_racing_with_one_token_store_exactly_one,
);

async fn concurrent_batches_share_commits_and_all_land(db: Db) {
    let store = db.open().await;
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

async fn refused_changes_keep_their_audit_record(db: Db) {
    let store = db.open().await;
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

async fn key_lifecycle_activate_and_destroy(db: Db) {
    let store = db.open().await;
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

async fn close_flushes_queued_writes(db: Db) {
    let store = db.open().await;
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
    let again = db.open().await;
    assert_eq!(again.counts().await.unwrap().audit, 10);
    again.close();
}

async fn a_different_audit_record_under_a_stored_seq_is_refused_whole(db: Db) {
    let store = db.open().await;
    let hooked = Arc::new(Mutex::new(Vec::new()));
    store.on_audit_committed({
        let hooked = Arc::clone(&hooked);
        Arc::new(move |seqs| hooked.lock().unwrap().extend(seqs))
    });
    store
        .write(WriteBatch::audit_only([audit(0)]))
        .await
        .unwrap();
    // The same record again (from the outbox) is harmless.
    store
        .write(WriteBatch::audit_only([audit(0)]))
        .await
        .unwrap();
    let mut other = audit(0);
    other.mac = [8; 32];
    let e = store
        .write(WriteBatch {
            audit: vec![audit(1), other],
            ops: vec![WriteOp::InsertUser(user("b", 0))],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let c = store.counts().await.unwrap();
    assert_eq!((c.users, c.audit), (0, 1), "nothing of the refused batch");
    assert_eq!(
        *hooked.lock().unwrap(),
        vec![0, 0],
        "only committed records acknowledged"
    );
    store.close();
}

async fn reads_page_and_filter(db: Db) {
    let store = db.open().await;
    let mut ops: Vec<WriteOp> = (0..5)
        .map(|i| WriteOp::InsertUser(user(&format!("u{i}"), 0)))
        .collect();
    ops.extend(["k0", "k1", "k2"].map(|k| WriteOp::InsertObject(key(k))));
    let mut cert = key("k1/certificate/0");
    cert.object_type = ObjectType::Certificate;
    cert.key_id = "k1".into();
    cert.state = ObjectState::Active;
    ops.push(WriteOp::ActivateCertificate {
        key_id: "k1".into(),
        certificate: cert,
    });
    ops.push(WriteOp::InsertLink(Link {
        from_id: "k0/public-key".into(),
        to_id: "k0".into(),
        kind: "PRIVATE_KEY".into(),
    }));
    store
        .write(WriteBatch {
            audit: (0..3).map(audit).collect(),
            ops,
        })
        .await
        .unwrap();
    assert!(store.user_exists("u3".into()).await.unwrap());
    assert!(!store.user_exists("u9".into()).await.unwrap());
    let page = store.users_page("u1".into(), 2).await.unwrap();
    let ids: Vec<_> = page.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["u2", "u3"]);
    assert_eq!(page[0].1, user("u2", 0).record);
    let keys = store.keys_page(String::new(), 10).await.unwrap();
    assert_eq!(keys.len(), 3);
    let audit_rows = store.audit_page(0, 10).await.unwrap();
    assert_eq!(
        audit_rows.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        decode_audit(audit_rows[0].0, &audit_rows[0].1).unwrap(),
        audit(1)
    );
    assert_eq!(store.certificate_count("k1".into()).await.unwrap(), 1);
    assert_eq!(store.certificate_count("k0".into()).await.unwrap(), 0);
    let active = store
        .objects(ObjectFilter {
            state: Some(ObjectState::Active),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = active.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["k1", "k1/certificate/0"]);
    assert_eq!(active[0].attributes, serde_json::json!({}));
    let limited = store
        .objects(ObjectFilter {
            user_id: Some("u".into()),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    assert!(store.checkpoint_page(0, 100, 10).await.unwrap().is_empty());
    assert!(
        store
            .managed_signers("nobody".into())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.is_failed());
    store.close();
}

/// A direct connection to the test cluster, to look at what the store did.
async fn psql(cluster: &sam_harness::postgres::Cluster) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn postgres_store_reconnects_after_a_server_restart() {
    let Some(Db::Postgres(cluster)) = Db::postgres() else {
        return;
    };
    let store = Store::open_postgres(Db::pg_options(&cluster), Arc::new(Metrics::new()))
        .await
        .unwrap();
    store
        .write(WriteBatch::audit_only([audit(0)]))
        .await
        .unwrap();
    cluster.stop().unwrap();
    let e = store
        .write(WriteBatch::audit_only([audit(1)]))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    assert!(store.is_failed(), "not ready while PostgreSQL is down");
    assert!(matches!(
        store.counts().await.unwrap_err(),
        StoreError::Unavailable(_)
    ));
    cluster.restart().unwrap();
    // The availability check notices within about a second, without any
    // request.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while store.is_failed() {
        assert!(std::time::Instant::now() < deadline, "still unavailable");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    store
        .write(WriteBatch::audit_only([audit(1)]))
        .await
        .unwrap();
    assert_eq!(store.counts().await.unwrap().audit, 2);
    store.close();
    assert!(store.is_failed(), "a closed store is not ready");
}

#[tokio::test]
async fn postgres_migrations_are_versioned_and_applied_once() {
    let Some(db) = Db::postgres() else {
        return;
    };
    let Db::Postgres(cluster) = &db else {
        return;
    };
    db.open().await.close();
    db.open().await.close();
    let client = psql(cluster).await;
    let versions: Vec<i32> = client
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i32> = (1..=pg::latest_schema_version()).collect();
    assert_eq!(versions, expected);
    // A database migrated by a newer samd is not touched.
    client
        .execute("INSERT INTO schema_version (version) VALUES (1000)", &[])
        .await
        .unwrap();
    let e = Store::open_postgres(Db::pg_options(cluster), Arc::new(Metrics::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Open(m) if m.contains("newer")),
        "{e}"
    );
}

async fn a_used_token_is_refused_the_second_time_and_its_audit_kept(db: Db) {
    let store = db.open().await;
    let signing = |seq, digest| WriteBatch {
        audit: vec![audit(seq)],
        ops: vec![WriteOp::UseToken { digest }],
    };
    store.write(signing(0, [1; 32])).await.unwrap();
    let e = store.write(signing(1, [1; 32])).await.unwrap_err();
    assert!(matches!(e, StoreError::Replayed(_)), "{e}");
    assert!(e.to_string().contains(&hex::encode([1; 32])), "{e}");
    // Its audit record is kept (the module did sign; samd withheld it).
    assert_eq!(store.counts().await.unwrap().audit, 2);
    store.write(signing(2, [2; 32])).await.unwrap();
    // Within one batch too.
    let e = store
        .write(WriteBatch {
            audit: vec![audit(3)],
            ops: vec![
                WriteOp::UseToken { digest: [3; 32] },
                WriteOp::UseToken { digest: [3; 32] },
            ],
        })
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Replayed(_)), "{e}");
    // Nothing of a refused batch's changes: [3; 32] is still unused.
    store.write(signing(4, [3; 32])).await.unwrap();
    assert!(!store.is_failed());
    store.close();
}

/// Used tokens stored before the cut-off are forgotten (the token may
/// sign again as far as the store is concerned: by then every module
/// refuses it as expired), the newer ones are kept and still refused.
async fn used_tokens_older_than_the_cut_off_are_forgotten(db: Db) {
    let store = db.open().await;
    let signing = |seq, digest| WriteBatch {
        audit: vec![audit(seq)],
        ops: vec![WriteOp::UseToken { digest }],
    };
    let forget = |used_before| WriteBatch {
        audit: vec![],
        ops: vec![WriteOp::ForgetUsedTokens { used_before }],
    };
    store.write(signing(0, [7; 32])).await.unwrap();
    // A cut-off before the token's use keeps it.
    store.write(forget(unix_now() - 100)).await.unwrap();
    let e = store.write(signing(1, [7; 32])).await.unwrap_err();
    assert!(matches!(e, StoreError::Replayed(_)), "{e}");
    // A cut-off after it forgets it.
    store.write(forget(unix_now() + 100)).await.unwrap();
    store.write(signing(2, [7; 32])).await.unwrap();
    assert_eq!(store.counts().await.unwrap().audit, 3);
    assert!(!store.is_failed());
    store.close();
}

/// Tries of [`two_instances_racing_with_one_token_store_exactly_one`].
const RACES: u64 = 1000;

/// Two samd instances on one database (two `Store`s, each with its own
/// connections), each storing a signing with the same token at the same
/// moment, [`RACES`] times: exactly one of each pair is stored, the other
/// is `Replayed`, and both audit records are kept.
async fn two_instances_racing_with_one_token_store_exactly_one(db: Db) {
    let a = db.open().await;
    let b = db.open().await;
    let signing = |seq, i: u64| {
        let mut digest = [0u8; 32];
        digest[..8].copy_from_slice(&i.to_be_bytes());
        WriteBatch {
            audit: vec![audit(seq)],
            ops: vec![WriteOp::UseToken { digest }],
        }
    };
    let (mut won_a, mut won_b) = (0, 0);
    for i in 0..RACES {
        // Distinct audit seqs: the two modules' records.
        let (ra, rb) = tokio::join!(a.write(signing(2 * i, i)), b.write(signing(2 * i + 1, i)));
        match (ra, rb) {
            (Ok(()), Err(StoreError::Replayed(_))) => won_a += 1,
            (Err(StoreError::Replayed(_)), Ok(())) => won_b += 1,
            other => panic!("try {i}: {other:?}"),
        }
    }
    assert_eq!(won_a + won_b, RACES);
    eprintln!("{RACES} races: instance A stored {won_a}, instance B {won_b}");
    assert_eq!(a.counts().await.unwrap().audit, 2 * RACES);
    a.close();
    b.close();
}

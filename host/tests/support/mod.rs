//! The test bench: a real `samd` server (real TLS on a loopback port, a
//! real SQLite file in a temporary directory) in front of the in-process
//! firmware on the deterministic test platform, and HTTPS clients with
//! client certificates.
#![allow(dead_code, clippy::cloned_ref_to_slice_refs)]

pub mod deploy;
pub mod pki;
pub mod tls;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
pub use pki::{Admin, Idp};
use sam_firmware::Firmware;
use sam_firmware::testing::TestPlatform;
use sam_host::api::server::{ServeOptions, serve};
use sam_host::api::{App, Connector, Connectors};
use sam_host::metrics::Metrics;
use sam_host::store::Store;
use sam_host::transport::{Engine, FirmwareClient, InProcess, Transport};
use sam_proto::bounded::{Blob, List};
use sam_proto::command::{IdpKeysParams, InitParams, NewUser, SubFunction};
use sam_proto::ids::{HashAlgorithm, Uuid};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tls::{Ca, Leaf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

/// The TLS world: one CA for peers, a foreign one, and their certificates.
pub struct Pki {
    pub ca: Ca,
    pub server: Leaf,
    pub ssa: Leaf,
    pub ra: Leaf,
    pub admin: Leaf,
    pub unpinned: Leaf,
    /// From the right CA and pinned by a connector, but expired.
    pub expired: Leaf,
    pub foreign_ca: Ca,
    pub foreign: Leaf,
}

impl Pki {
    pub fn new() -> Self {
        let ca = Ca::new("SAM Test Peer CA");
        let foreign_ca = Ca::new("Somebody Else's CA");
        Self {
            server: ca.server(),
            ssa: ca.client("ssa"),
            ra: ca.client("registration-authority"),
            admin: ca.client("samctl"),
            unpinned: ca.client("stranger"),
            expired: ca.expired_client("ssa-expired"),
            foreign: foreign_ca.client("ssa"),
            ca,
            foreign_ca,
        }
    }

    fn connectors(&self) -> Connectors {
        let c = |name: &str, leaf: &Leaf, ops: &[&str]| Connector {
            name: name.into(),
            pin: sam_host::api::certificate_pin(leaf.cert.as_ref()),
            permissions: ops.iter().map(|s| s.to_string()).collect(),
            max_connections: None,
        };
        Connectors::new(vec![
            c("ssa", &self.ssa, &["Signing", "Key_Manager_Query"]),
            c(
                "registration-authority",
                &self.ra,
                &[
                    "Create_New_Privileged_User",
                    "Create_New_Signer",
                    "Signer_Maintenance",
                    "Generate_Signer_Key_Pair",
                    "Delete_Signer_Key_Pair",
                    "Get_Challenge",
                    "Key_Manager_Query",
                    "Key_Manager_Register",
                ],
            ),
            c("samctl", &self.admin, &["management"]),
            c(
                "ssa-expired",
                &self.expired,
                &["Signing", "Key_Manager_Query"],
            ),
        ])
    }
}

/// The in-process engine of the tests: the firmware on the test platform,
/// called through the firmware's entry for in-process callers.
struct TestEngine(Arc<Firmware<TestPlatform>>);

impl Engine for TestEngine {
    fn serve(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>) {
        let answer = sam_firmware::abi::serve_owned(&self.0, sub_function, body);
        (answer.status, answer.body)
    }
}

/// A running daemon.
pub struct Daemon {
    pub addr: SocketAddr,
    /// The in-process firmware, when the transport is one.
    pub firmware: Option<Arc<Firmware<TestPlatform>>>,
    pub store: Store,
    pub db: PathBuf,
    /// The PostgreSQL cluster the store is in, if not the SQLite `db`.
    pub postgres: Option<Arc<sam_harness::postgres::Cluster>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Daemon {
    pub async fn start(pki: &Pki, db: &Path, platform: TestPlatform) -> Self {
        Self::start_limited(pki, db, platform, Self::options()).await
    }

    /// [`Self::start`] with the store in `postgres` if given.
    pub async fn start_on(
        pki: &Pki,
        db: &Path,
        postgres: Option<Arc<sam_harness::postgres::Cluster>>,
        platform: TestPlatform,
    ) -> Self {
        Self::boot(pki, db, postgres, platform, Self::options()).await
    }

    async fn boot(
        pki: &Pki,
        db: &Path,
        postgres: Option<Arc<sam_harness::postgres::Cluster>>,
        platform: TestPlatform,
        options: ServeOptions,
    ) -> Self {
        let firmware = Arc::new(Firmware::boot(platform));
        let transport = InProcess::new(Arc::new(TestEngine(Arc::clone(&firmware))));
        let mut d = Self::start_store(pki, db, postgres, Arc::new(transport), options).await;
        d.firmware = Some(firmware);
        d
    }

    /// The tests' server limits: the defaults, with a shorter grace.
    pub fn options() -> ServeOptions {
        ServeOptions {
            shutdown_grace: Duration::from_secs(10),
            ..ServeOptions::default()
        }
    }

    /// A daemon with the given limits and timeouts.
    pub async fn start_limited(
        pki: &Pki,
        db: &Path,
        platform: TestPlatform,
        options: ServeOptions,
    ) -> Self {
        Self::boot(pki, db, None, platform, options).await
    }

    /// A daemon over any transport.
    pub async fn start_with(pki: &Pki, db: &Path, transport: Arc<dyn Transport>) -> Self {
        Self::start_over(pki, db, transport, Self::options()).await
    }

    async fn start_over(
        pki: &Pki,
        db: &Path,
        transport: Arc<dyn Transport>,
        options: ServeOptions,
    ) -> Self {
        Self::start_store(pki, db, None, transport, options).await
    }

    async fn start_store(
        pki: &Pki,
        db: &Path,
        postgres: Option<Arc<sam_harness::postgres::Cluster>>,
        transport: Arc<dyn Transport>,
        options: ServeOptions,
    ) -> Self {
        let metrics = Arc::new(Metrics::new());
        let store = match &postgres {
            None => Store::open(db, Arc::clone(&metrics)).unwrap(),
            Some(cluster) => {
                let options = sam_host::store::PgOptions {
                    url: cluster.url(),
                    pool_size: 8,
                };
                Store::open_postgres(options, Arc::clone(&metrics))
                    .await
                    .unwrap()
            }
        };
        let app = Arc::new(App {
            firmware: FirmwareClient::new(transport, Arc::clone(&metrics)),
            store: store.clone(),
            metrics,
            connectors: pki.connectors(),
            max_body_bytes: 256 * 1024,
            audit_sync: Arc::default(),
            // The World's IdP: its tokens are the key manager's bearer tokens.
            tokens: Arc::new(
                sam_client::bearer::TokenVerifier::from_certificates_der(&[Idp::p256(1).cert])
                    .unwrap(),
            ),
        });
        sam_host::audit_sync::start(&app);
        let tls = sam_host::api::tls::server_config(
            vec![pki.server.cert.clone()],
            pki.server.key_der(),
            vec![pki.ca.cert.clone()],
            pki.connectors().pins(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(app, listener, tls, options, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            firmware: None,
            store,
            db: db.to_path_buf(),
            postgres,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn platform(&self) -> &TestPlatform {
        self.firmware.as_ref().unwrap().platform()
    }

    /// Graceful shutdown: drain, then flush and close the store.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .unwrap();
    }

    pub fn client(&self, pki: &Pki, leaf: &Leaf) -> Client {
        Client::new(self.addr, &pki.ca, leaf, false)
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// The `Location` header, if any.
    pub location: Option<String>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error.type` of an error answer.
    pub fn error(&self) -> String {
        self.json()["error"]["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {:?}", self.json()))
            .to_owned()
    }

    /// Panics unless the status is 200.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        self.json()
    }
}

/// A TLS client trusting `ca`, presenting `leaf`, offering `alpn`.
pub fn tls_connector(ca: &Ca, leaf: &Leaf, alpn: &[u8]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![leaf.cert.clone()], leaf.key_der())
        .unwrap();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// An HTTPS client with a client certificate.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    connector: TlsConnector,
    pub http2: bool,
    /// The `Authorization` header sent with every request, if any.
    pub authorization: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr, ca: &Ca, leaf: &Leaf, http2: bool) -> Self {
        let alpn: &[u8] = if http2 { b"h2" } else { b"http/1.1" };
        Self::with_connector(addr, tls_connector(ca, leaf, alpn), http2)
    }

    /// A client with its own TLS configuration (e.g. no client
    /// certificate, for the CSC listener).
    pub fn with_connector(addr: SocketAddr, connector: TlsConnector, http2: bool) -> Self {
        Self {
            addr,
            connector,
            http2,
            authorization: None,
        }
    }

    /// The same client, sending `Authorization: <value>`.
    pub fn with_authorization(&self, value: impl Into<String>) -> Self {
        Self {
            authorization: Some(value.into()),
            ..self.clone()
        }
    }

    /// Sends one request on a new connection; `Err` if TLS or HTTP fails.
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Resp, String> {
        self.try_send_with(method, path, &[], body).await
    }

    /// [`Self::try_send`] with extra request headers.
    pub async fn try_send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let io = TokioIo::new(tls);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json");
        if let Some(value) = &self.authorization {
            req = req.header("authorization", value.as_str());
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let resp = if self.http2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2: {e}"))?;
            tokio::spawn(conn);
            sender.send_request(req).await
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("http1: {e}"))?;
            tokio::spawn(conn);
            sender.send_request(req).await
        }
        .map_err(|e| format!("request: {e}"))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Resp {
            status,
            headers,
            body,
            location,
        })
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Resp {
        self.try_send(method, path, body).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send("POST", path, Some(serde_json::to_vec(body).unwrap()))
            .await
    }
}

/// A daemon with its people: two administrators, an IdP, and clients for
/// the SSA, the registration authority and samctl.
pub struct World {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub daemon: Daemon,
    pub admins: [Admin; 2],
    pub idp: Idp,
    pub admin: Client,
    pub ra: Client,
    pub ssa: Client,
    next_user: u64,
}

impl World {
    /// A daemon with an uninitialized firmware.
    pub async fn new() -> Self {
        Self::limited(Daemon::options()).await
    }

    /// A daemon with an uninitialized firmware and the given server limits.
    pub async fn limited(options: ServeOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new();
        let daemon = Daemon::start_limited(
            &pki,
            &dir.path().join("samd.db"),
            TestPlatform::new(1),
            options,
        )
        .await;
        Self::around(dir, pki, daemon)
    }

    /// [`Self::new`] with the store in `postgres`.
    pub async fn new_on(postgres: sam_harness::postgres::Cluster) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new();
        let daemon = Daemon::start_on(
            &pki,
            &dir.path().join("samd.db"),
            Some(Arc::new(postgres)),
            TestPlatform::new(1),
        )
        .await;
        Self::around(dir, pki, daemon)
    }

    fn around(dir: tempfile::TempDir, pki: Pki, daemon: Daemon) -> Self {
        Self {
            admin: daemon.client(&pki, &pki.admin),
            ra: daemon.client(&pki, &pki.ra),
            ssa: daemon.client(&pki, &pki.ssa),
            dir,
            pki,
            daemon,
            admins: [Admin::new(1), Admin::new(2)],
            // The IdP whose certificate the Daemon's `[tokens]` trusts.
            idp: Idp::p256(1),
            next_user: 1,
        }
    }

    /// Initialized through /admin, with the IdP imported and a policy
    /// naming [`Self::signing_ca`] as the signing CA.
    pub async fn ready() -> Self {
        Self::made_ready(Self::new().await).await
    }

    async fn made_ready(w: Self) -> Self {
        w.init().await.ok();
        w.set_idp_keys(&[w.idp.cert.clone()]).await.ok();
        w.set_policy(3600, &[w.signing_ca().cert]).await.ok();
        w
    }

    /// The signing CA of the policy set by [`Self::ready`].
    pub fn signing_ca(&self) -> pki::SigningCa {
        pki::SigningCa::new(1)
    }

    pub async fn set_policy(&self, max_token_lifetime: u32, cas: &[Vec<u8>]) -> Resp {
        let params = sam_proto::command::PolicyParams {
            max_token_lifetime,
            signing_cas: blobs(cas),
            checkpoint_interval: sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL,
        };
        let approvals = self
            .approvals(SubFunction::SetPolicy, &params, &[0, 1])
            .await;
        self.admin
            .post(
                "/admin/policy",
                &json!({
                    "max_token_lifetime": max_token_lifetime,
                    "signing_cas": cas.iter().map(|c| b64(c)).collect::<Vec<_>>(),
                    "approvals": approvals,
                }),
            )
            .await
    }

    /// Registers a certificate of the signing CA for the key `key` (a
    /// Generate_Signer_Key_Pair answer), asked by `by`: POST /objects.
    pub async fn register(&self, by: Uuid, key: &Value) -> Resp {
        let cert = self
            .signing_ca()
            .issue_now(&unb64(&key["publickey"]), self.now());
        let credential = self
            .certificate_credential(by, key["keyid"].as_str().unwrap_or_default(), &cert)
            .await;
        self.ra
            .post(
                "/objects",
                &json!({
                    "credential": credential,
                    "objecttype": "CERTIFICATE",
                    "value": b64(&cert),
                    "links": [{"id": key["keyid"], "type": "PRIVATE_KEY"}],
                }),
            )
            .await
    }

    /// `by`'s credential with its proof for registering `cert` for the key
    /// `key_id`: what a client sends with `POST /objects`.
    pub async fn certificate_credential(&self, by: Uuid, key_id: &str, cert: &[u8]) -> Value {
        let key_id = Uuid::parse(key_id).unwrap();
        let (code, intent) = sam_client::intent::register_certificate_intent(key_id, cert).unwrap();
        self.proved_credential(by, code, &intent).await
    }

    /// Stops the daemon and starts it again on the same database and the
    /// same firmware storage (a power cycle of host and HSM).
    pub async fn restart(&mut self) {
        let platform = self.daemon.platform().restarted();
        let db = self.daemon.db.clone();
        let postgres = self.daemon.postgres.clone();
        let old = std::mem::replace(
            &mut self.daemon,
            Daemon::start_on(&self.pki, &db, postgres, platform).await,
        );
        old.stop().await;
        self.admin = self.daemon.client(&self.pki, &self.pki.admin);
        self.ra = self.daemon.client(&self.pki, &self.pki.ra);
        self.ssa = self.daemon.client(&self.pki, &self.pki.ssa);
    }

    pub fn now(&self) -> i64 {
        self.daemon.platform().time()
    }

    /// Two administrators' approvals of `params` for `code`, over a
    /// challenge from /admin/challenge, as samctl would make them.
    pub async fn approvals<T: serde::Serialize>(
        &self,
        code: SubFunction,
        params: &T,
        by: &[usize],
    ) -> Value {
        let c = self.admin.post("/admin/challenge", &json!({})).await.ok();
        let challenge: [u8; 32] = unb64(&c["challenge"]).try_into().unwrap();
        let bytes = postcard::to_allocvec(params).unwrap();
        let approvals: Vec<Value> = by
            .iter()
            .map(|&i| {
                json!({
                    "admin": b64(&self.admins[i].point()),
                    "signature": b64(&self.admins[i].approve(code, &challenge, &bytes).signature),
                })
            })
            .collect();
        json!({"challenge": b64(&challenge), "approvals": approvals})
    }

    pub async fn init(&self) -> Resp {
        let points: Vec<Vec<u8>> = self.admins.iter().map(|a| a.point().into_vec()).collect();
        let params = InitParams {
            admins: blobs(&points),
            mbk_slot: 0,
        };
        let approvals = self
            .approvals(SubFunction::InitFirmware, &params, &[0, 1])
            .await;
        self.admin
            .post(
                "/admin/init",
                &json!({
                    "admins": points.iter().map(|p| b64(p)).collect::<Vec<_>>(),
                    "mbk_slot": 0,
                    "operator": operator_json(&params, &approvals),
                    "approvals": approvals,
                }),
            )
            .await
    }

    pub async fn set_idp_keys(&self, certs: &[Vec<u8>]) -> Resp {
        let params = IdpKeysParams {
            certificates: blobs(certs),
        };
        let approvals = self
            .approvals(SubFunction::SetIdpKeys, &params, &[0, 1])
            .await;
        self.admin
            .post(
                "/admin/idp-keys",
                &json!({
                    "certificates": certs.iter().map(|c| b64(c)).collect::<Vec<_>>(),
                    "approvals": approvals,
                }),
            )
            .await
    }

    pub fn new_user_id(&mut self) -> Uuid {
        self.next_user += 1;
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&self.next_user.to_be_bytes());
        Uuid::from_random(b)
    }

    /// The first Privileged User, enrolled by the two administrators.
    pub async fn enrol(&mut self) -> Uuid {
        let user_id = self.new_user_id();
        let params = NewUser {
            user_id,
            certificates: blobs(&[self.idp.cert.clone()]),
        };
        let approvals = self
            .approvals(SubFunction::EnrolPrivilegedUser, &params, &[0, 1])
            .await;
        self.admin
            .post(
                "/admin/enrol-privileged-user",
                &json!({
                    "userid": user_id.to_string(),
                    "certificates": [b64(&self.idp.cert)],
                    "approvals": approvals,
                }),
            )
            .await
            .ok();
        user_id
    }

    /// An identity-token credential for `user`, valid around now.
    pub fn credential(&self, user: Uuid) -> Value {
        let now = self.now();
        let token = self.idp.token(user, now - 60, now + 600, None);
        json!({"type": "identity_token", "value": b64(&token)})
    }

    /// The SSA's client presenting `user`'s identity token as the key
    /// manager's bearer token, valid around now by the host's clock (which
    /// samd checks bearer tokens with; the firmware's clock is simulated).
    pub fn bearer(&self, user: Uuid) -> Client {
        let now = host_now();
        let token = self.idp.token(user, now - 60, now + 600, None);
        self.ssa
            .with_authorization(sam_client::bearer::bearer_header(&token))
    }

    /// The SAD key the IdP binds in the tests' login tokens.
    pub fn token_key() -> pki::SadKey {
        pki::SadKey::new(0xE1)
    }

    /// An identity-token credential for `user` binding [`Self::token_key`],
    /// with that key's proof for `operation` with `params` over a fresh
    /// challenge from `POST /peering/challenge`: what a client sends.
    pub async fn signed_credential(&self, operation: &str, user: Uuid, params: &Value) -> Value {
        let key = Self::token_key();
        let now = self.now();
        let token = self.idp.token(user, now - 60, now + 600, Some(&key.spki()));
        // Parameters a client cannot even make an intent of (an unknown
        // algorithm, a bad UUID) go without proof: samd refuses them first.
        let Ok((code, intent)) = sam_client::intent::peering_intent(operation, params) else {
            return json!({"type": "identity_token", "value": b64(&token)});
        };
        self.proved_credential(user, code, &intent).await
    }

    /// An identity-token credential for `user` binding [`Self::token_key`],
    /// with that key's proof over the postcard `intent` of command `code`
    /// and a fresh challenge.
    pub async fn proved_credential(
        &self,
        user: Uuid,
        code: sam_proto::command::SubFunction,
        intent: &[u8],
    ) -> Value {
        let key = Self::token_key();
        let now = self.now();
        let token = self.idp.token(user, now - 60, now + 600, Some(&key.spki()));
        let c = self.ra.post("/peering/challenge", &json!({})).await.ok();
        let challenge: [u8; 32] = unb64(&c["challenge"]).try_into().unwrap();
        let digest = pki::request_digest(code, &challenge, intent);
        let signature = pki::sign_prehash(&key.key, &digest);
        json!({"type": "identity_token", "value": b64(&token),
               "proof": {"challenge": b64(&challenge), "signature": b64(&signature)}})
    }

    /// A container for `operation` by `user`, its request signed.
    pub async fn container(&self, operation: &str, user: Uuid, params: Value) -> Value {
        json!({
            "operation": operation,
            "credential": self.signed_credential(operation, user, &params).await,
            "params": params,
        })
    }

    /// A new Signer created by the Privileged User `by`.
    pub async fn create_signer(&mut self, by: Uuid) -> Uuid {
        self.create_user("Create_New_Signer", by).await
    }

    /// A new Privileged User created by the Privileged User `by`.
    pub async fn create_privileged_user(&mut self, by: Uuid) -> Uuid {
        self.create_user("Create_New_Privileged_User", by).await
    }

    /// A new user trusting [`Self::idp`], made by `operation` of `by`.
    async fn create_user(&mut self, operation: &str, by: Uuid) -> Uuid {
        let user = self.new_user_id();
        let body = self
            .container(
                operation,
                by,
                json!({"userid": user.to_string(), "certificates": [b64(&self.idp.cert)]}),
            )
            .await;
        self.ra.post("/peering", &body).await.ok();
        user
    }

    /// A P-256 key for `owner`, generated by `by`; returns the answer.
    pub async fn generate(&self, by: Uuid, owner: Uuid) -> Value {
        self.generate_with(
            by,
            owner,
            json!("EC"),
            json!({"curve": "1.2.840.10045.3.1.7"}),
        )
        .await
    }

    /// A key of `algorithm` (`"EC"`, `"RSA"`) with `parameters` for
    /// `owner`, generated by `by`; returns the answer.
    pub async fn generate_with(
        &self,
        by: Uuid,
        owner: Uuid,
        algorithm: Value,
        parameters: Value,
    ) -> Value {
        let body = self
            .container(
                "Generate_Signer_Key_Pair",
                by,
                json!({
                    "userid": owner.to_string(),
                    "algorithm": algorithm,
                    "parameters": parameters,
                }),
            )
            .await;
        self.ra.post("/peering", &body).await.ok()
    }

    /// A SAD for `signer`'s key over `hashes`, with a token issued now
    /// (after the firmware's boot, as the signing rules require).
    pub fn sad(&self, signer: Uuid, key_id: &str, hashes: &[Vec<u8>], seed: u8) -> Vec<u8> {
        let sad_key = pki::SadKey::new(seed);
        let now = self.now();
        let token = self
            .idp
            .token(signer, now - 1, now + 300, Some(&sad_key.spki()));
        sad_key.sad(&token, key_id, HashAlgorithm::Sha256, hashes)
    }

    /// Initialized, with a Privileged User, a Signer and one P-256 key;
    /// the clock moved past the boot so that signing tokens are fresh.
    pub async fn with_signer() -> (Self, Uuid, Uuid, Value) {
        Self::signer_in(Self::ready().await).await
    }

    /// [`Self::with_signer`] with the store in `postgres`.
    pub async fn with_signer_on(
        postgres: sam_harness::postgres::Cluster,
    ) -> (Self, Uuid, Uuid, Value) {
        Self::signer_in(Self::made_ready(Self::new_on(postgres).await).await).await
    }

    async fn signer_in(mut w: Self) -> (Self, Uuid, Uuid, Value) {
        let pu = w.enrol().await;
        let signer = w.create_signer(pu).await;
        let key = w.generate(signer, signer).await;
        w.register(signer, &key).await.ok();
        w.daemon.platform().advance(10);
        (w, pu, signer, key)
    }
}

/// Unix seconds by the host's clock.
pub fn host_now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

pub fn blobs<const N: usize, const M: usize>(items: &[Vec<u8>]) -> List<Blob<N>, M> {
    List::from_vec(items.iter().map(|c| Blob::new(c).unwrap()).collect()).unwrap()
}

/// SHA-256 of a short text, as a document hash.
pub fn doc_hash(text: &str) -> Vec<u8> {
    pki::sha256(&[text.as_bytes()])
}

/// The test platform's HSM operator logon for `params` under the
/// challenge of `approvals` (samd's JSON).
pub fn operator_json(params: &InitParams, approvals: &Value) -> Value {
    use base64::Engine as _;
    let challenge: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(approvals["challenge"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let logon = sam_testkeys::operator_logon(
        sam_firmware::testing::TEST_OPERATOR,
        &sam_firmware::testing::TEST_OPERATOR_SECRET,
        &challenge,
        &postcard::to_allocvec(params).unwrap(),
    );
    json!({
        "user": String::from_utf8(logon.user.to_vec()).unwrap(),
        "response": b64(&logon.response),
    })
}

//! A real deployment with the CSC listener enabled, and the signer's
//! environment of the CSC tests: the parts a CSC client and a signer's
//! wallet play, with our own client library. Shared by the CSC and the
//! SAK tests; each uses part of it.
#![allow(dead_code)]

use crate::support::{Client, Resp};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::{Decode, Encode};
use sam_client::{IdpClient, IdpLogin, SadKey, SamClient, SignRequest};
use sam_devpki::{DevIdp, DevIdpOptions, DevIdpServer, unix_now};
use sam_harness::{Binaries, Connector, Crypto, Deployment, Samd, Tool, free_port, setup};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, KeyId, UserId, Uuid};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SAMD: &str = env!("CARGO_BIN_EXE_samd");

pub const ID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
pub const ID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
pub const RSA_SHA256: &str = "1.2.840.113549.1.1.11";
pub const RSA_SHA384: &str = "1.2.840.113549.1.1.12";

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

/// The SHA-256 (or other) hash of `text`.
pub fn hash(alg: HashAlgorithm, text: &str) -> Vec<u8> {
    sam_client::verify::digest(alg, text.as_bytes())
}

/// samd with `[csc]` enabled, its firmware set up, two Signers (the
/// caller with an EC P-256 and an RSA-2048 key, another user with an EC
/// key), the dev IdP serving `POST /id-token/sad`.
pub struct Bench {
    _dir: tempfile::TempDir,
    _samd: Samd,
    pub deployment: Deployment,
    pub url: String,
    pub csc: Client,
    /// The CSC listener's port (`https://localhost:PORT`).
    pub csc_port: u16,
    pub idp: DevIdp,
    /// `http://127.0.0.1:PORT` of the dev IdP.
    pub idp_url: String,
    idp_server: Option<DevIdpServer>,
    idp_client: IdpClient,
    pub signer: UserId,
    pub ec: KeyId,
    pub rsa: KeyId,
    pub other: UserId,
    pub other_ec: KeyId,
}

impl Bench {
    /// Starts it; `extra` are more `[csc]` lines (and sections after
    /// it), where `{idp_url}` stands for the dev IdP's URL (which also
    /// serves the dev TSA at `/tsa`) and `{ca_pem}` for the dev signing
    /// CA's PEM file.
    pub async fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bins = Binaries::at(Path::new(SAMD).parent().unwrap()).unwrap();
        bins.require(&[Tool::Samd, Tool::Samctl]).unwrap();
        let deployment = Deployment::create(dir.path(), bins).unwrap();
        let simulator = deployment.simulator();
        sam_simulator::Simulator::init(&simulator.state_dir).unwrap();
        let secret =
            sam_simulator::Simulator::add_operator(&simulator.state_dir, sam_harness::OPERATOR)
                .unwrap();
        std::fs::write(simulator.operator_key(), secret.as_slice()).unwrap();
        // The dev IdP (POST /id-token/sad and the OAuth2 endpoints).
        let server = DevIdpServer::start_with_tsa(
            Arc::new(deployment.pki().idp().unwrap()),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            DevIdpOptions::default(),
            Some(Arc::new(deployment.pki().tsa().unwrap())),
        )
        .await
        .unwrap();
        let mut spec = deployment
            .samd("samd", simulator.in_process_link(Crypto::AwsLc))
            .unwrap();
        let csc_port = free_port().unwrap();
        let extra = format!(
            "oauth2_idp_url = \"{}\"\n{}",
            server.url(),
            extra.replace("{idp_url}", &server.url()).replace(
                "{ca_pem}",
                &deployment
                    .pki()
                    .path(sam_devpki::files::CA_CERT)
                    .display()
                    .to_string()
            )
        );
        spec.config = spec
            .config
            .with_shutdown_grace_secs(2)
            .with_section(&deployment.csc_section(csc_port, &extra));
        let url = spec.url();
        let mut samd = spec.spawn(deployment.bins()).unwrap();
        samd.wait_for(
            &deployment.identity(Connector::Management),
            "/healthz",
            Duration::from_secs(30),
        )
        .unwrap();
        let pu = setup::initialize_firmware(
            &deployment.samctl(&url, Connector::Management),
            deployment.pki(),
            &simulator,
        )
        .unwrap();
        let idp = deployment.pki().idp().unwrap();
        let ca = deployment.pki().ca().unwrap();
        let ra = deployment
            .identity(Connector::Privileged)
            .client(&url)
            .unwrap();
        let signer = Uuid::from_random(*b"csc-test-signer1");
        let other = Uuid::from_random(*b"csc-test-other-2");
        let keys = setup::create_signer_with_keys(
            &ra,
            &idp,
            &ca,
            pu,
            signer,
            &[KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048],
        )
        .await
        .unwrap();
        let other_keys =
            setup::create_signer_with_keys(&ra, &idp, &ca, pu, other, &[KeyAlgorithm::EcP256])
                .await
                .unwrap();
        let idp_url = server.url();
        let idp_client = IdpClient::dev_plain_http(&idp_url).unwrap();
        let csc_addr = SocketAddr::from(([127, 0, 0, 1], csc_port));
        let csc = Client::with_connector(csc_addr, csc_tls(&deployment), false);
        // Signing tokens must be issued after the firmware's boot second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        Self {
            _dir: dir,
            _samd: samd,
            url,
            csc,
            csc_port,
            idp,
            idp_url,
            idp_server: Some(server),
            idp_client,
            signer,
            ec: keys[0].key_id,
            rsa: keys[1].key_id,
            other,
            other_ec: other_keys[0].key_id,
            deployment,
        }
    }

    /// The SSA connector's client of samd's `/signing`: the path the CSC
    /// service signs on.
    pub fn ssa(&self) -> SamClient {
        self.deployment
            .identity(Connector::Ssa)
            .client(&self.url)
            .unwrap()
    }

    /// samd's `/metrics` text (management connector).
    pub async fn metrics(&self) -> String {
        let id = self.deployment.identity(Connector::Management);
        let tls = sam_client::tls_config(
            sam_client::read_pem_certificates(&id.ca).unwrap(),
            Some((
                sam_client::read_pem_certificates(&id.cert).unwrap(),
                sam_client::read_pem_key(&id.key).unwrap(),
            )),
        )
        .unwrap();
        let endpoint = sam_client::http::Endpoint::new(&self.url, Some(tls)).unwrap();
        let (status, body) = endpoint
            .request(sam_client::Method::GET, "/metrics", None)
            .await
            .unwrap();
        assert!(status.is_success());
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// `Authorization: Bearer <identity token of user>` (a login token,
    /// no SAD key).
    pub fn bearer(&self, user: UserId) -> String {
        let token = self
            .idp
            .login_token(user, IdentificationLevel::Substantial, unix_now(), 600)
            .unwrap();
        format!("Bearer {}", b64(&token))
    }

    /// The signer's environment: a fresh SAD key, the IdP binding it into
    /// `user`'s identity token (seed §7.5.1 over HTTP), the seed §8.1 SAD
    /// over `hashes` for `key_id`, signed by the SAD key.
    pub async fn seed_sad(
        &self,
        user: UserId,
        key_id: KeyId,
        alg: HashAlgorithm,
        hashes: &[Vec<u8>],
    ) -> Vec<u8> {
        let (key, token) = self.sad_token(user).await;
        key.sign_sad(
            &token,
            &SignRequest {
                key_id,
                hash_algorithm: alg,
                hashes: hashes.to_vec(),
            },
        )
        .unwrap()
    }

    /// The signer's environment's first step: a fresh SAD key and `user`'s
    /// identity token binding it (seed §7.5.1 over HTTP).
    pub async fn sad_token(&self, user: UserId) -> (SadKey, Vec<u8>) {
        let key = SadKey::generate().unwrap();
        let login = self
            .idp
            .login_token(user, IdentificationLevel::Substantial, unix_now(), 600)
            .unwrap();
        let token = self
            .idp_client
            .embed_sad_key(&IdpLogin::IdToken(login), &key.public_key_der().unwrap())
            .await
            .unwrap();
        (key, token)
    }

    /// The DER certificate of `user`'s key `key_id` (CSC `credentials/info`).
    pub async fn certificate(&self, user: UserId, key_id: KeyId) -> Vec<u8> {
        let info = self
            .post(
                "/csc/v2/credentials/info",
                Some(&self.bearer(user)),
                &json!({"credentialID": key_id.to_string(), "certificates": "single"}),
            )
            .await
            .ok();
        unb64(&info["cert"]["certificates"][0])
    }

    /// `POST path` on the CSC listener with `bearer` (an `Authorization`
    /// value) and a JSON body.
    pub async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> Resp {
        self.raw("POST", path, bearer, serde_json::to_vec(body).unwrap())
            .await
    }

    /// Any request on the CSC listener.
    pub async fn raw(&self, method: &str, path: &str, bearer: Option<&str>, body: Vec<u8>) -> Resp {
        let headers: Vec<(&str, &str)> = bearer.map(|b| ("authorization", b)).into_iter().collect();
        self.csc
            .try_send_with(method, path, &headers, Some(body))
            .await
            .unwrap()
    }

    /// `credentials/authorize` (v2) with the seed SAD in `authData`.
    pub async fn authorize_v2(
        &self,
        bearer: &str,
        key_id: KeyId,
        alg_oid: &str,
        hashes: &[Vec<u8>],
        seed: &[u8],
    ) -> Resp {
        self.post(
            "/csc/v2/credentials/authorize",
            Some(bearer),
            &authorize_body_v2(key_id, alg_oid, hashes, seed),
        )
        .await
    }

    /// `signatures/signHash` (v2).
    pub async fn sign_hash_v2(
        &self,
        bearer: &str,
        key_id: KeyId,
        handle: &str,
        hashes: &[Vec<u8>],
        alg_oid: &str,
        sign_algo: &str,
    ) -> Resp {
        self.post(
            "/csc/v2/signatures/signHash",
            Some(bearer),
            &json!({
                "credentialID": key_id.to_string(),
                "SAD": handle,
                "hashes": hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                "hashAlgorithmOID": alg_oid,
                "signAlgo": sign_algo,
            }),
        )
        .await
    }

    /// `signatures/signHash` (v2) with the EC key, SHA-256, and the
    /// `SAD` of the authorize answer `auth`.
    pub async fn sign_ec_v2(&self, bearer: &str, auth: &Value, hashes: &[Vec<u8>]) -> Resp {
        let handle = auth["SAD"].as_str().unwrap();
        self.sign_hash_v2(bearer, self.ec, handle, hashes, ID_SHA256, ECDSA_SHA256)
            .await
    }

    /// `credentials/authorize` (v1) with the seed SAD in `clientData`.
    pub async fn authorize_v1(
        &self,
        bearer: &str,
        key_id: KeyId,
        hashes: &[Vec<u8>],
        seed: &[u8],
    ) -> Resp {
        self.post(
            "/csc/v1/credentials/authorize",
            Some(bearer),
            &authorize_body_v1(key_id, hashes, seed),
        )
        .await
    }

    /// The v1 flow in pyHanko's shapes: `credentials/authorize` with the
    /// seed SAD in `clientData`, then `signatures/signHash` with
    /// `signAlgo` (and `hashAlgo` if given); the signatures.
    pub async fn sign_v1(
        &self,
        bearer: &str,
        key_id: KeyId,
        hashes: &[Vec<u8>],
        seed: &[u8],
        sign_algo: &str,
        hash_algo: Option<&str>,
    ) -> Value {
        let auth = self.authorize_v1(bearer, key_id, hashes, seed).await.ok();
        let mut body = json!({
            "credentialID": key_id.to_string(),
            "SAD": auth["SAD"],
            "signAlgo": sign_algo,
            "hash": hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
        });
        if let Some(h) = hash_algo {
            body["hashAlgo"] = json!(h);
        }
        self.post("/csc/v1/signatures/signHash", Some(bearer), &body)
            .await
            .ok()["signatures"]
            .clone()
    }

    /// A fresh handle for `hashes` (SHA-256) with the signer's `key_id`.
    pub async fn handle(&self, key_id: KeyId, hashes: &[Vec<u8>]) -> String {
        let seed = self
            .seed_sad(self.signer, key_id, HashAlgorithm::Sha256, hashes)
            .await;
        let r = self
            .authorize_v2(&self.bearer(self.signer), key_id, ID_SHA256, hashes, &seed)
            .await
            .ok();
        r["SAD"].as_str().unwrap().to_owned()
    }

    /// The DER SPKI of the signer certificate `credentials/info` lists
    /// first for `key_id`.
    pub async fn certificate_key(&self, key_id: KeyId) -> Vec<u8> {
        let info = self
            .post(
                "/csc/v1/credentials/info",
                Some(&self.bearer(self.signer)),
                &json!({"credentialID": key_id.to_string(), "certificates": "chain", "certInfo": false}),
            )
            .await
            .ok();
        let cert = unb64(&info["cert"]["certificates"][0]);
        x509_cert::Certificate::from_der(&cert)
            .unwrap()
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.idp_server.take() {
            s.stop().await;
        }
    }
}

/// The body of a v2 `credentials/authorize` for `hashes` with `seed`.
pub fn authorize_body_v2(key_id: KeyId, alg_oid: &str, hashes: &[Vec<u8>], seed: &[u8]) -> Value {
    json!({
        "credentialID": key_id.to_string(),
        "numSignatures": hashes.len(),
        "hashes": hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
        "hashAlgorithmOID": alg_oid,
        "authData": [{"id": "SAD", "value": b64(seed)}],
    })
}

/// The body of a v1 `credentials/authorize` (pyHanko's
/// `format_csc_auth_request` with the seed SAD as `clientData`).
pub fn authorize_body_v1(key_id: KeyId, hashes: &[Vec<u8>], seed: &[u8]) -> Value {
    json!({
        "credentialID": key_id.to_string(),
        "numSignatures": hashes.len(),
        "hash": hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
        "clientData": b64(seed),
    })
}

/// Trusts the dev PKI's TLS CA; no client certificate; HTTP/1.1.
fn csc_tls(deployment: &Deployment) -> tokio_rustls::TlsConnector {
    let roots =
        sam_client::read_pem_certificates(&deployment.pki().path(sam_devpki::files::TLS_CA_CERT))
            .unwrap();
    let mut config = (*sam_client::tls_config(roots, None).unwrap()).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// `GET url` over plain HTTP (the dev IdP): the status and `Location`.
pub async fn http_get(url: &str) -> (u16, Option<String>) {
    use http_body_util::{BodyExt, Full};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let tcp = tokio::net::TcpStream::connect(authority).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(format!("/{path}"))
        .header("host", authority)
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    (status, location)
}

/// Checks each signature over its hash with the certificate's key.
pub fn verify_all(spki: &[u8], alg: HashAlgorithm, hashes: &[Vec<u8>], signatures: &Value) {
    let sigs = signatures.as_array().unwrap();
    assert_eq!(sigs.len(), hashes.len(), "{signatures}");
    for (h, s) in hashes.iter().zip(sigs) {
        sam_client::verify::verify_prehash(spki, alg, h, &unb64(s)).unwrap();
    }
}

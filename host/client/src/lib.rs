//! `sam-client`: the library for Signature Creation Applications (SSA)
//! that sign through the SAM.
//!
//! The flow of seed §5.6, one call each:
//!
//! 1. [`SadKey::generate`]: a temporary ECDSA P-256 SAD key, wiped on
//!    drop;
//! 2. [`IdpClient::embed_sad_key`]: the IdP re-issues the signer's
//!    identity token with the SAD public key and the scope `"signing"`
//!    (seed §7.5.1 `POST /id-token/sad`; the JSON is in [`idp`]);
//! 3. [`SadKey::sign_sad`]: the DER `SAD` (seed §8.1) for a KeyID, a hash
//!    algorithm and one or many hashes, signed with the SAD key (ECDSA
//!    SHA-256 over DER(`SADTBS`));
//! 4. [`SamClient::sign_sad`]: samd's `POST /signing` over mutual TLS; one
//!    signature per hash.
//!
//! [`SamClient::sign`] does all four. [`remote`] is the seed §7.6 Remote
//! Signature API on top: `login(id_token)` → [`RemoteSigner`], whose
//! `sign(hash_algorithm, key_id, hashes)` returns a detached CMS per hash. [`cms`] turns a document, the
//! signer's certificate and the SAM's signature into a detached CMS
//! `SignedData` that `openssl cms -verify` accepts.
//!
//! Peering operations (seed §7.1) carry the acting user's identity token
//! together with its SAD key ([`Credential::IdentityToken`]): the key
//! signs each request's [`intent`] with a fresh firmware challenge, which
//! [`SamClient::peering`] fetches and signs for every call.
//!
//! [`wire`] holds the request and answer body of every samd endpoint, the
//! same types samd itself reads and writes; [`SamClient::typed`] sends any
//! of them.
//!
//! Refusals by samd keep the seed's error type names ([`ClientError::Sam`]
//! with a [`sam_proto::ErrorType`]).
//!
//! ```no_run
//! use sam_client::{IdpClient, IdpLogin, SamClient, cms};
//! use sam_proto::ids::{HashAlgorithm, KeyId};
//! use std::path::Path;
//!
//! # async fn demo(
//! #     document: &[u8], certificate: &[u8], login_token: Vec<u8>, key_id: KeyId,
//! # ) -> Result<Vec<u8>, sam_client::ClientError> {
//! let sam = SamClient::from_pem_files(
//!     "https://localhost:8443",
//!     Path::new("dev-pki/tls-ca.pem"),
//!     Path::new("dev-pki/connector-ssa.pem"),
//!     Path::new("dev-pki/connector-ssa.key"),
//! )?;
//! let idp = IdpClient::dev_plain_http("http://127.0.0.1:8480")?;
//!
//! let prepared = cms::prepare(document, certificate, &[], HashAlgorithm::Sha256)?;
//! let signed = sam
//!     .sign(&idp, &IdpLogin::IdToken(login_token), &prepared.sign_request(key_id))
//!     .await?;
//! let signature = signed.signatures.first().ok_or(sam_client::ClientError::BadSignature)?;
//! let p7s = prepared.finish(signature)?; // DER ContentInfo, detached
//! # Ok(p7s)
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod bearer;
pub mod cms;
mod error;
pub mod form;
pub mod http;
pub mod idp;
pub mod intent;
pub mod remote;
pub mod sad;
mod samd;
pub mod verify;
pub mod wire;

pub use error::ClientError;
pub use http::{DEFAULT_TIMEOUT, der_document, read_pem_certificates, read_pem_key, tls_config};
pub use hyper::Method;
pub use idp::{IdpClient, IdpLogin};
pub use remote::{RemoteSignatureApi, RemoteSigner, SadMaker};
pub use sad::{SIGNING_SCOPE, SadKey, SignRequest};
pub use samd::{Credential, GeneratedKey, SamClient, Signatures};

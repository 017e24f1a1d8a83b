//! What the CSC service needs from samd, as a trait: samd implements it
//! for its `App` (`sam_host::api::csc`), so that this crate does not
//! depend on samd and the service can only do what the trait offers:
//! read the caller's credentials and hand a seed SAD to the one signing
//! path, the same as `POST /signing`. Nothing here can make a SAD.

use sam_client::bearer::TokenVerifier;
use sam_proto::ErrorType;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, KeyId, UserId};
use std::future::Future;

/// One signer key of a user, as the key manager knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// The KeyID: the CSC `credentialID`.
    pub key_id: KeyId,
    /// Key type and size.
    pub algorithm: KeyAlgorithm,
    /// DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    /// Whether the key manager holds it ACTIVE (certified); a PRE_ACTIVE
    /// key is listed as disabled.
    pub active: bool,
    /// The registered (ACTIVE) DER certificate, if any.
    pub certificate: Option<Vec<u8>>,
}

/// A refusal or failure of samd below the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    /// The seed error type (the firmware's refusal, or samd's own).
    pub error: ErrorType,
    /// samd's detail, safe to show to a client.
    pub detail: String,
}

/// samd, as the CSC service sees it.
pub trait Backend: Send + Sync + 'static {
    /// The signer keys of `user` that are PRE_ACTIVE or ACTIVE.
    fn credentials(
        &self,
        user: UserId,
    ) -> impl Future<Output = Result<Vec<CredentialRecord>, BackendError>> + Send;

    /// Signs with the seed §8.1 SAD `seed_sad`, on the path of `POST
    /// /signing` (the firmware decides and audits); one signature per
    /// hash of the SAD, in order.
    fn sign(
        &self,
        seed_sad: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, BackendError>> + Send;

    /// Whether samd has a time-stamp authority (`[sak] tsa_url`): then
    /// `signatures/timestamp` is served and listed in `info`.
    fn offers_timestamp(&self) -> bool;

    /// A verified RFC 3161 `TimeStampToken` (DER) over the digest
    /// `digest` made with `hash`, carrying the client's `nonce`
    /// (big-endian) if given.
    fn timestamp(
        &self,
        hash: HashAlgorithm,
        digest: Vec<u8>,
        nonce: Option<Vec<u8>>,
    ) -> impl Future<Output = Result<Vec<u8>, BackendError>> + Send;

    /// The IdP certificates of bearer identity tokens (`[tokens]`).
    fn tokens(&self) -> &TokenVerifier;

    /// Counts one CSC request: its endpoint label (a fixed set), HTTP
    /// status and latency.
    fn observe(&self, endpoint: &'static str, status: u16, seconds: f64);
}

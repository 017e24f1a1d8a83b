//! `signatures/signDoc` (CSC v2.0.0.2 §11.11) as a hook: the CSC service
//! does what every signing call does — the bearer, the single-use "SAD"
//! handle, the credential — and hands the documents to a [`DocSigner`]
//! (samd mounts the document service of `sam-docsign` here), so that
//! this crate stays free of document formats and the document service
//! reuses the handles of `credentials/authorize` instead of keeping its
//! own.
//!
//! The handle authorizes the hashes its seed SAD names, and the firmware
//! signs exactly those. For `signDoc` they are the hashes the containers
//! sign (e.g. a CMS's signed attributes), which the signer's environment
//! computes from the documents before it makes the SAD; the document
//! signer recomputes them from the request and refuses a request whose
//! hashes are not the authorized ones.

use crate::error::CscError;
use crate::handles::Grant;
use sam_proto::ids::KeyAlgorithm;
use std::future::Future;

/// Which handle and credential a `signDoc` request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignDocTarget {
    /// `credentialID`.
    pub credential_id: String,
    /// `SAD`: the handle of `credentials/authorize`; `None` when the
    /// bearer is an OAuth2 credential-scope access token (the handle
    /// itself).
    pub handle: Option<String>,
}

/// What the handle authorized, with the credential it signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The handle's grant (taken: it can never be used again).
    pub grant: Grant,
    /// The credential's key algorithm.
    pub algorithm: KeyAlgorithm,
    /// The credential's registered DER certificate.
    pub certificate: Vec<u8>,
    /// The DER certificates after it, as `credentials/info` lists them
    /// with `certificates=chain` (the signer's environment computes the
    /// hashes with the same chain).
    pub chain: Vec<Vec<u8>>,
}

/// The document side of `signatures/signDoc`.
pub trait DocSigner: Send + Sync {
    /// A parsed request.
    type Request: Send;

    /// Parses `body` and checks what needs no authorization (formats,
    /// levels, sizes, counts). A request refused here leaves the handle
    /// usable.
    fn parse_sign_doc(&self, body: &[u8]) -> Result<(Self::Request, SignDocTarget), CscError>;

    /// Signs the request's documents under `authorized` and answers the
    /// JSON body of the 200 answer.
    fn sign_doc(
        &self,
        request: Self::Request,
        authorized: Authorized,
    ) -> impl Future<Output = Result<Vec<u8>, CscError>> + Send;
}

/// No document service: `signDoc` is not offered.
#[derive(Debug, Clone, Copy)]
pub enum NoDocs {}

impl DocSigner for NoDocs {
    type Request = ();

    fn parse_sign_doc(&self, _body: &[u8]) -> Result<((), SignDocTarget), CscError> {
        match *self {}
    }

    async fn sign_doc(&self, _request: (), _authorized: Authorized) -> Result<Vec<u8>, CscError> {
        match *self {}
    }
}

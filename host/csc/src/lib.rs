//! `sam-csc`: the Cloud Signature Consortium API in front of the SAM.
//!
//! CSC v2.0.0.2 under `/csc/v2/…` and the same operations in the
//! v1.0.4.0 shapes under `/csc/v1/…` (one implementation, two
//! renderings: [`wire`]). samd mounts the service on its own listener
//! (server-authenticated TLS, bearer tokens) and implements [`Backend`]
//! for it; the service is untrusted like samd and decides nothing about
//! signatures: every signature needs the seed §8.1 SAD that the signer's
//! environment made, and the firmware checks it, makes it single use
//! and signs exactly its hashes. The SCAL2 mapping is in this crate's
//! README.
//!
//! * [`service::Csc`]: routing, bearer tokens, the operations;
//! * [`handles`]: access tokens and the single-use CSC "SAD" handles;
//! * [`seed`]: the seed SAD against the CSC request;
//! * [`docs`]: the `signatures/signDoc` hook of the document service;
//! * [`config::CscConfig`]: `[csc]` of samd's configuration;
//! * [`error::CscError`]: `{"error", "error_description"}`.
#![forbid(unsafe_code)]

pub mod algo;
pub mod backchannel;
pub mod backend;
pub mod client;
pub mod config;
pub mod docs;
pub mod error;
pub mod handles;
pub mod seed;
pub mod service;
pub mod wire;

pub use backend::{Backend, BackendError, CredentialRecord};
pub use config::CscConfig;
pub use docs::{Authorized, DocSigner, NoDocs, SignDocTarget};
pub use error::{CscError, ErrorBody};
pub use service::{Csc, CscReply, CscRequest};

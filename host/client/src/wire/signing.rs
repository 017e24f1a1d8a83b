//! `POST /signing`, the SSA's signing call (seed §7.2.1).

use super::B64;
use serde::{Deserialize, Serialize};

pub use super::peering::SigningParams as SigningRequest;

/// The signatures: raw PKCS#1 v1.5 for RSA keys, DER `Ecdsa-Sig-Value`
/// for EC keys, one per hash of the SAD, in SAD order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningAnswer {
    /// The signatures.
    pub signatures: Vec<B64>,
    /// The firmware's audit sequence number of the signing.
    #[serde(default)]
    pub audit_seq: Option<u64>,
}

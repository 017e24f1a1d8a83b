//! `[sak]` in samd's configuration: the document-signing service (seed
//! §7.3) on the CSC listener, its limits, and the time-stamp authority of
//! the `-B-T` levels. Every key and its default is in
//! `host/samd.example.toml`.

use serde::Deserialize;
use std::path::PathBuf;

/// `[sak]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SakConfig {
    /// Whether samd serves the SAK paths (`/smartcard/…`, `/digest/…`,
    /// `/trusted-checker/…`) on the CSC listener; needs `[csc] enabled`.
    pub enabled: bool,
    /// Largest document, bytes (after base64 decoding).
    pub max_document_bytes: usize,
    /// Largest request body of a SAK path and of CSC
    /// `signatures/signDoc`, bytes (documents travel base64 in JSON, so a
    /// third more than the documents).
    pub max_body_bytes: usize,
    /// Seconds a remote signature process (a key object) lives.
    pub process_lifetime_secs: u64,
    /// Seconds `create-signature(s)` waits for the signer's SAD signature
    /// before it gives up.
    pub sad_wait_secs: u64,
    /// Seconds a trusted-checker proof report stays acceptable.
    pub proof_report_lifetime_secs: u64,
    /// Whether `create-signature(s)` requires a proof report of the
    /// trusted checker covering every document.
    pub require_proof_report: bool,
    /// Remote signature processes open at once; more are refused.
    pub max_open_processes: usize,
    /// PEM files of the certificates after the signer's that containers
    /// carry (the issuing CA).
    pub chain_certificates: Vec<PathBuf>,
    /// The RFC 3161 time-stamp authority's URL (`http://…`); empty: the
    /// `-B-T` levels are refused.
    pub tsa_url: String,
    /// PEM files of the CA certificates a TSA certificate must chain to.
    pub tsa_trust_anchors: Vec<PathBuf>,
    /// Seconds to wait for the TSA.
    pub tsa_timeout_secs: u64,
}

impl Default for SakConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            max_document_bytes: 64 * 1024 * 1024,
            max_body_bytes: 100 * 1024 * 1024,
            process_lifetime_secs: 300,
            sad_wait_secs: 120,
            proof_report_lifetime_secs: 600,
            require_proof_report: true,
            max_open_processes: 1000,
            chain_certificates: Vec::new(),
            tsa_url: String::new(),
            tsa_trust_anchors: Vec::new(),
            tsa_timeout_secs: 10,
        }
    }
}

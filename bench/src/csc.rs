//! Section 3b: CSC `signatures/signHash` next to `/signing`, on the same
//! samd, the same key (P-256, one hash per SAD) and the same number of
//! clients. A CSC signature costs two HTTPS exchanges on the CSC listener
//! (`credentials/authorize` with the seed SAD, then `signatures/signHash`
//! with the handle) and a bearer-token check on each; `/signing` is one
//! mutual-TLS exchange. Both end in the same firmware call, so the ratio
//! is the price of the CSC front door.

use crate::fullstack::{FullResult, Stack};
use crate::stats::Runs;
use sam_csc::client::CscClient;
use sam_devpki::unix_now;
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, KeyId};
use std::sync::Arc;
use std::time::Duration;

/// Client counts of the comparison.
pub const CLIENTS: [usize; 2] = [1, 8];

/// ECDSA with SHA-256, the `signAlgo` of a P-256 key.
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

/// One CSC figure, beside `/signing`'s at the same client count.
#[derive(Clone, Debug)]
pub struct CscResult {
    /// Concurrent clients.
    pub clients: usize,
    /// CSC signatures per second (authorize + signHash), per run.
    pub req_s: Runs,
    /// Median latency of the pair, ms, per run.
    pub p50_ms: Runs,
    /// `/signing` P-256 ×1 at the same client count, requests per second
    /// (median of its runs in section 3).
    pub signing_req_s: f64,
    /// Failed pairs over all runs.
    pub errors: usize,
}

impl CscResult {
    /// CSC throughput over `/signing`'s.
    pub fn ratio(&self) -> f64 {
        self.req_s.median() / self.signing_req_s
    }
}

/// SADs the section uses for `repeats` runs (for the replay-set plan).
pub fn planned(repeats: usize, quick: bool) -> usize {
    repeats * CLIENTS.iter().map(|&n| per_run(quick, n)).sum::<usize>()
}

fn per_run(quick: bool, n: usize) -> usize {
    if quick {
        (n * 4).max(24)
    } else {
        (n * 8).max(100)
    }
}

/// Runs the section on `stack` (started with the CSC listener at
/// `csc_url`); `signing` are section 3's results for the comparison.
pub fn run(
    stack: &Stack,
    csc_url: &str,
    repeats: usize,
    quick: bool,
    signing: &[FullResult],
) -> Result<Vec<CscResult>, String> {
    let key_id = stack.key(KeyAlgorithm::EcP256)?;
    let bearer = stack
        .idp
        .login_token(
            stack.signer,
            IdentificationLevel::Substantial,
            unix_now(),
            3600,
        )
        .map_err(|e| format!("bearer token: {e}"))?;
    let ca = stack.deployment.pki().path(sam_devpki::files::TLS_CA_CERT);
    let clients: Vec<Arc<CscClient>> = (0..CLIENTS.iter().copied().max().unwrap_or(1))
        .map(|_| {
            CscClient::new(csc_url, &ca, &bearer)
                .map(Arc::new)
                .map_err(|e| format!("CSC client: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let cap = if quick {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(20)
    };
    let mut out = Vec::new();
    for n in CLIENTS {
        let signing_req_s = signing
            .iter()
            .find(|r| r.key == KeyAlgorithm::EcP256 && r.hashes == 1 && r.clients == n)
            .map_or(f64::NAN, |r| r.req_s.median());
        let mut r = CscResult {
            clients: n,
            req_s: Runs::default(),
            p50_ms: Runs::default(),
            signing_req_s,
            errors: 0,
        };
        for _ in 0..repeats {
            let work = (0..per_run(quick, n))
                .map(|i| {
                    crate::fullstack::fresh_sad(
                        &stack.idp,
                        stack.signer,
                        key_id,
                        1,
                        i,
                        crate::pipeline::TOKEN_VALIDITY,
                    )
                    .map(|sad| (sad, hash_of(i)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (done, elapsed, mut lat, errors) =
                stack.rt.block_on(load(&clients, n, key_id, work, cap));
            lat.sort_by(f64::total_cmp);
            r.req_s.values.push(done as f64 / elapsed);
            r.p50_ms
                .values
                .push(crate::stats::quantile(&lat, 0.50) * 1e3);
            r.errors += errors;
        }
        eprintln!(
            "sam-bench: CSC signHash P-256 ×1, {n} clients: {:.1} signatures/s ({:.2} of /signing)",
            r.req_s.median(),
            r.ratio()
        );
        out.push(r);
    }
    Ok(out)
}

/// The one hash of SAD number `i`, the one [`crate::fullstack::fresh_sad`]
/// puts in it.
fn hash_of(i: usize) -> Vec<u8> {
    vec![i as u8; 32]
}

/// `n` clients take (SAD, hash) pairs off a queue: authorize, then
/// signHash. (done, seconds, latencies in s, errors).
async fn load(
    clients: &[Arc<CscClient>],
    n: usize,
    key_id: KeyId,
    work: Vec<(Vec<u8>, Vec<u8>)>,
    cap: Duration,
) -> (usize, f64, Vec<f64>, usize) {
    crate::fullstack::drain(
        clients,
        n,
        work,
        cap,
        "CSC",
        move |client, (sad, hash)| async move {
            let hashes = [hash];
            let handle = client
                .authorize(key_id, HashAlgorithm::Sha256, &hashes, &sad)
                .await
                .map_err(|e| e.to_string())?;
            client
                .sign_hash(
                    key_id,
                    HashAlgorithm::Sha256,
                    ECDSA_WITH_SHA256,
                    &hashes,
                    &handle,
                )
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        },
    )
    .await
}

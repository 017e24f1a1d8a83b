//! Shared set-up of the fuzz targets: the firmware tests' bench (an
//! initialized firmware on the deterministic platform, two administrators,
//! a development IdP, a Privileged User, a Signer and a P-256 key).

#[path = "../../firmware/tests/support/mod.rs"]
#[allow(dead_code, clippy::all)]
pub mod support;

use sam_proto::records::{AuditRecord, SealedUserRecord, WrappedKey};
use std::sync::OnceLock;
use support::Bench;

/// A ready bench, built once per fuzzing process, and the records a host
/// would hold for it.
pub struct Fixture {
    pub bench: Bench,
    pub privileged: SealedUserRecord,
    pub signer: SealedUserRecord,
    pub key: WrappedKey,
    pub audit: Vec<AuditRecord>,
}

/// The shared fixture. Targets that only read through `Bench::raw` may use
/// it from every iteration: the firmware is `Sync`.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (bench, privileged, signer, key) = Bench::with_signer();
        let audit = bench.audit.clone();
        Fixture {
            bench,
            privileged,
            signer,
            key,
            audit,
        }
    })
}

//! Wycheproof vectors through the aws-lc engine's `verify`, as the firmware
//! calls it: digest with `Crypto::digest`, then `Crypto::verify` with the
//! group's DER SubjectPublicKeyInfo. The same vectors the firmware's own
//! `tests/wycheproof.rs` runs through the portable engine.
//!
//! Per vector: `valid` must verify, `invalid` must be refused, `acceptable`
//! may go either way; keys outside the RSA policy (2048..=4096 bits) must
//! be refused whole. And per vector, aws-lc must give the portable
//! engine's verdict, including on `acceptable` ones: the two engines must
//! not accept different signatures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_proto::ids::HashAlgorithm;
use sam_simulator::AwsLcCrypto;
use wycheproof::{HashFunction, TestResult};

const RSA_POLICY_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// One vector, as the firmware would see it.
struct Case<'a> {
    tc_id: usize,
    expected: TestResult,
    /// Whether the key is one the RSA size policy admits at all.
    in_policy: bool,
    spki: &'a [u8],
    hash: HashAlgorithm,
    msg: &'a [u8],
    sig: &'a [u8],
}

#[derive(Default)]
struct Tally {
    total: usize,
    accepted: usize,
    refused: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, case: Case<'_>) {
        let Case {
            tc_id,
            expected,
            in_policy,
            spki,
            hash,
            msg,
            sig,
        } = case;
        self.total += 1;
        let digest = AwsLcCrypto.digest(hash, &[msg]);
        let ours = AwsLcCrypto
            .verify(spki, hash, digest.as_bytes(), sig)
            .is_ok();
        let reference = Portable.verify(spki, hash, digest.as_bytes(), sig).is_ok();
        if ours {
            self.accepted += 1;
        } else {
            self.refused += 1;
        }
        let right = match (in_policy, expected) {
            (false, _) => !ours,
            (true, TestResult::Valid) => ours,
            (true, TestResult::Invalid) => !ours,
            (true, TestResult::Acceptable) => true,
        };
        if !right {
            self.failures.push(format!(
                "tcId {tc_id}: wycheproof {expected:?}, aws-lc {ours}"
            ));
        }
        if ours != reference {
            self.failures.push(format!(
                "tcId {tc_id}: aws-lc {ours}, portable {reference} ({expected:?})"
            ));
        }
    }

    fn finish(self, file: &str, declared: usize) {
        println!(
            "{file:<24} total {:>4} | accepted {:>4} | refused {:>4} | failures {}",
            self.total,
            self.accepted,
            self.refused,
            self.failures.len()
        );
        assert_eq!(
            self.total, declared,
            "{file}: ran fewer vectors than declared"
        );
        assert!(
            self.failures.is_empty(),
            "{file}:\n  {}",
            self.failures.join("\n  ")
        );
    }
}

fn hash_of(h: HashFunction) -> HashAlgorithm {
    match h {
        HashFunction::Sha2_256 => HashAlgorithm::Sha256,
        HashFunction::Sha2_384 => HashAlgorithm::Sha384,
        HashFunction::Sha2_512 => HashAlgorithm::Sha512,
        other => panic!("hash {other:?} is not one the firmware supports"),
    }
}

fn run_ecdsa(name: wycheproof::ecdsa::TestName) {
    use wycheproof::ecdsa::{TestGroupTypeId, TestSet};
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::default();
    for g in &set.test_groups {
        assert_eq!(g.test_type, TestGroupTypeId::Ecdsa, "not a DER ECDSA group");
        for t in &g.tests {
            tally.record(Case {
                tc_id: t.tc_id,
                expected: t.result,
                in_policy: true,
                spki: &g.der,
                hash: hash_of(g.hash),
                msg: &t.msg,
                sig: &t.sig,
            });
        }
    }
    tally.finish(&format!("{name:?}"), set.number_of_tests);
}

fn run_rsa(name: wycheproof::rsa_pkcs1_verify::TestName) {
    let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).unwrap();
    let mut tally = Tally::default();
    for g in &set.test_groups {
        let in_policy = RSA_POLICY_BITS.contains(&g.key_size);
        for t in &g.tests {
            tally.record(Case {
                tc_id: t.tc_id,
                expected: t.result,
                in_policy,
                spki: &g.der,
                hash: hash_of(g.hash),
                msg: &t.msg,
                sig: &t.sig,
            });
        }
    }
    tally.finish(&format!("{name:?}"), set.number_of_tests);
}

macro_rules! ecdsa {
    ($($t:ident => $n:ident),* $(,)?) => {$(
        #[test]
        fn $t() { run_ecdsa(wycheproof::ecdsa::TestName::$n) }
    )*};
}

macro_rules! rsa {
    ($($t:ident => $n:ident),* $(,)?) => {$(
        #[test]
        fn $t() { run_rsa(wycheproof::rsa_pkcs1_verify::TestName::$n) }
    )*};
}

ecdsa! {
    ecdsa_secp256r1_sha256 => EcdsaSecp256r1Sha256,
    ecdsa_secp256r1_sha512 => EcdsaSecp256r1Sha512,
    ecdsa_secp384r1_sha256 => EcdsaSecp384r1Sha256,
    ecdsa_secp384r1_sha384 => EcdsaSecp384r1Sha384,
    ecdsa_secp384r1_sha512 => EcdsaSecp384r1Sha512,
}

rsa! {
    rsa_2048_sha256 => Rsa2048Sha256,
    rsa_2048_sha384 => Rsa2048Sha384,
    rsa_2048_sha512 => Rsa2048Sha512,
    rsa_3072_sha256 => Rsa3072Sha256,
    rsa_4096_sha512 => Rsa4096Sha512,
    // Outside policy: every vector refused, although aws-lc's own
    // parameters would take 8192-bit keys.
    rsa_8192_sha256 => Rsa8192Sha256,
}

//! Wycheproof vectors through the firmware's signature-verification path.
//!
//! Every vector goes through exactly what the firmware does with a signature
//! it is handed: the message is hashed with [`Crypto::digest`], then
//! [`Crypto::verify`] gets the group's DER SubjectPublicKeyInfo
//! (`publicKeyDer`), the hash algorithm, the digest and the signature as is
//! (DER for ECDSA, the raw PKCS#1 v1.5 block for RSA).
//!
//! Per file, Wycheproof's verdict must match ours: `valid` must verify,
//! `invalid` must be refused, `acceptable` may go either way and is counted
//! apart. One test per file so that a failure names the file.
//!
//! Policy: `verify` takes RSA moduli of 2048 to 4096 bits only. In a group
//! whose key is outside that range every vector must be refused; a `valid`
//! vector refused for that reason is counted as "refused by policy", not as
//! agreement, and accepting any vector there is a disagreement.
//!
//! The vectors come from the `wycheproof` crate (the C2SP/wycheproof JSON,
//! Apache-2.0), which embeds the JSON and parses it with unknown fields
//! denied, so a schema change in a new version fails loudly here.

use sam_firmware::crypto::{Crypto, portable::Portable};
use sam_proto::ids::HashAlgorithm;
use std::fmt::Write as _;
use wycheproof::{EllipticCurve, HashFunction, TestResult};

type Outcome = Result<(), Box<dyn std::error::Error>>;

/// The RSA modulus sizes `verify` accepts (see `portable.rs`).
const RSA_POLICY_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// One vector, whatever its family.
struct Case<'a> {
    tc_id: usize,
    comment: &'a str,
    flags: String,
    expected: TestResult,
    /// Whether the key is one our policy admits at all.
    in_policy: bool,
    spki: &'a [u8],
    hash: HashAlgorithm,
    msg: &'a [u8],
    sig: &'a [u8],
}

#[derive(Debug, Default)]
struct Tally {
    total: usize,
    valid_agree: usize,
    invalid_agree: usize,
    acceptable_ok: usize,
    acceptable_err: usize,
    policy_refused: usize,
    disagreements: Vec<String>,
}

impl Tally {
    fn record(&mut self, case: &Case<'_>) {
        self.total += 1;
        let digest = Portable.digest(case.hash, &[case.msg]);
        let ours_ok = Portable
            .verify(case.spki, case.hash, digest.as_bytes(), case.sig)
            .is_ok();
        let agrees = match (case.in_policy, case.expected, ours_ok) {
            // Outside policy nothing may verify.
            (false, _, true) => false,
            (false, TestResult::Valid, false) => {
                self.policy_refused += 1;
                true
            }
            (true, TestResult::Valid, true) => {
                self.valid_agree += 1;
                true
            }
            (_, TestResult::Invalid, false) => {
                self.invalid_agree += 1;
                true
            }
            (_, TestResult::Acceptable, true) => {
                self.acceptable_ok += 1;
                true
            }
            (_, TestResult::Acceptable, false) => {
                self.acceptable_err += 1;
                true
            }
            (true, TestResult::Valid, false) | (true, TestResult::Invalid, true) => false,
        };
        if !agrees {
            self.disagreements.push(format!(
                "tcId {}: wycheproof {:?}{}, ours {} ({}; flags [{}])",
                case.tc_id,
                case.expected,
                if case.in_policy {
                    ""
                } else {
                    " (key outside policy)"
                },
                if ours_ok { "Ok" } else { "Err" },
                case.comment,
                case.flags,
            ));
        }
    }

    /// Prints the per-file line and fails on any disagreement.
    fn finish(self, file: &str, declared_total: usize) -> Outcome {
        println!(
            "{file:<34} total {:>4} | valid-agree {:>4} | invalid-agree {:>4} | \
             acceptable ok/err {:>2}/{:<2} | policy-refused {:>2} | disagreements {}",
            self.total,
            self.valid_agree,
            self.invalid_agree,
            self.acceptable_ok,
            self.acceptable_err,
            self.policy_refused,
            self.disagreements.len(),
        );
        let mut detail = String::new();
        for d in &self.disagreements {
            writeln!(detail, "  {file}: {d}")?;
        }
        assert_eq!(
            self.total, declared_total,
            "{file}: ran fewer vectors than the file declares"
        );
        assert!(
            self.disagreements.is_empty(),
            "{file}: {} disagreement(s) with Wycheproof:\n{detail}",
            self.disagreements.len()
        );
        Ok(())
    }
}

fn hash_of(h: HashFunction) -> Result<HashAlgorithm, String> {
    match h {
        HashFunction::Sha2_256 => Ok(HashAlgorithm::Sha256),
        HashFunction::Sha2_384 => Ok(HashAlgorithm::Sha384),
        HashFunction::Sha2_512 => Ok(HashAlgorithm::Sha512),
        other => Err(format!("hash {other:?} is not one the firmware supports")),
    }
}

fn flags<F: std::fmt::Debug>(flags: &[F]) -> String {
    flags
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ECDSA with DER signatures. All groups hold keys on `curve`, which is in
/// policy (P-256 and P-384 are the curves `verify` takes).
fn run_ecdsa(name: wycheproof::ecdsa::TestName, curve: EllipticCurve) -> Outcome {
    use wycheproof::ecdsa::{TestGroupTypeId, TestSet};
    let file = format!("{name:?}");
    let set = TestSet::load(name)?;
    let mut tally = Tally::default();
    for group in &set.test_groups {
        if group.test_type != TestGroupTypeId::Ecdsa {
            return Err(
                format!("{file}: group of type {:?}, not DER ECDSA", group.test_type).into(),
            );
        }
        if group.key.curve != curve {
            return Err(format!("{file}: group key on {:?}", group.key.curve).into());
        }
        let hash = hash_of(group.hash)?;
        for t in &group.tests {
            tally.record(&Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                flags: flags(&t.flags),
                expected: t.result,
                in_policy: true,
                spki: &group.der,
                hash,
                msg: &t.msg,
                sig: &t.sig,
            });
        }
    }
    tally.finish(&file, set.number_of_tests)
}

/// RSA PKCS#1 v1.5. Groups whose modulus is outside [`RSA_POLICY_BITS`] must
/// be refused whole.
fn run_rsa(name: wycheproof::rsa_pkcs1_verify::TestName) -> Outcome {
    use wycheproof::rsa_pkcs1_verify::TestSet;
    let file = format!("{name:?}");
    let set = TestSet::load(name)?;
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let hash = hash_of(group.hash)?;
        let in_policy = RSA_POLICY_BITS.contains(&group.key_size);
        for t in &group.tests {
            tally.record(&Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                flags: flags(&t.flags),
                expected: t.result,
                in_policy,
                spki: &group.der,
                hash,
                msg: &t.msg,
                sig: &t.sig,
            });
        }
    }
    tally.finish(&file, set.number_of_tests)
}

macro_rules! ecdsa_tests {
    ($($test:ident => $name:ident on $curve:ident),* $(,)?) => {$(
        #[test]
        fn $test() -> Outcome {
            run_ecdsa(wycheproof::ecdsa::TestName::$name, EllipticCurve::$curve)
        }
    )*};
}

macro_rules! rsa_tests {
    ($($test:ident => $name:ident),* $(,)?) => {$(
        #[test]
        fn $test() -> Outcome {
            run_rsa(wycheproof::rsa_pkcs1_verify::TestName::$name)
        }
    )*};
}

// Every SHA-2 (256/384/512) file for the two curves `verify` takes. There is
// no P-256 with SHA-384 file; P-384 with SHA-256 is included because
// `verify` does not tie the hash to the curve.
ecdsa_tests! {
    ecdsa_secp256r1_sha256 => EcdsaSecp256r1Sha256 on Secp256r1,
    ecdsa_secp256r1_sha512 => EcdsaSecp256r1Sha512 on Secp256r1,
    ecdsa_secp384r1_sha256 => EcdsaSecp384r1Sha256 on Secp384r1,
    ecdsa_secp384r1_sha384 => EcdsaSecp384r1Sha384 on Secp384r1,
    ecdsa_secp384r1_sha512 => EcdsaSecp384r1Sha512 on Secp384r1,
}

// Every in-policy modulus size with every hash the firmware supports.
rsa_tests! {
    rsa_signature_2048_sha256 => Rsa2048Sha256,
    rsa_signature_2048_sha384 => Rsa2048Sha384,
    rsa_signature_2048_sha512 => Rsa2048Sha512,
    rsa_signature_3072_sha256 => Rsa3072Sha256,
    rsa_signature_3072_sha384 => Rsa3072Sha384,
    rsa_signature_3072_sha512 => Rsa3072Sha512,
    rsa_signature_4096_sha256 => Rsa4096Sha256,
    rsa_signature_4096_sha384 => Rsa4096Sha384,
    rsa_signature_4096_sha512 => Rsa4096Sha512,
}

// 8192-bit keys are outside policy: every vector must be refused, and the
// valid ones show up as "policy-refused". These pin the upper bound.
rsa_tests! {
    rsa_signature_8192_sha256 => Rsa8192Sha256,
    rsa_signature_8192_sha384 => Rsa8192Sha384,
    rsa_signature_8192_sha512 => Rsa8192Sha512,
}

// Wycheproof only has 2048/3072/4096/8192-bit RSA keys, so it cannot see the
// lower edge of the policy. These keys are just below it: the signatures are
// genuine (the `rsa` crate, which itself accepts down to 1024 bits, verifies
// them), so `verify` must refuse them for their size alone.

/// The message both probe signatures sign.
const PROBE_MSG: &[u8] = b"sam policy probe";

/// SPKI of a 2047-bit RSA key (`openssl genrsa 2047`).
const RSA2047_SPKI: &str = concat!(
    "30820121300d06092a864886f70d01010105000382010e003082010902820100588458f9bde60762",
    "69c1af60103ea49cff110412b2562319f28efe56233cd07c7b4b87bbcd9e689ac2f33019c612ced5",
    "521f00aca034a7b3cec06911ec9719d271a016439b695ac9e845c59c198bd75ae50e4bfa5fcaaa20",
    "1097131a7f3a52d7ef0baed66f4387f29c46a3f207bc2f0456c0185b6e7feeac9ced8362261c90ca",
    "361611d02de654be8a741ceeb059ead234aa96388c23f41ae9ac223dc2c6aae538bf59f5cd6a6162",
    "3f4b6446a733becb0bf207b0e571413101dcf7e4cff3eab12f06902186b67f609391094339c5b54b",
    "e253b84e50cc33513455d71f5e2d035d7cb6a510d6fe3e12452f183f57ab356ed217ad7eae8075c5",
    "affc53da74f9f27f0203010001",
);

/// `openssl dgst -sha256 -sign` of [`PROBE_MSG`] with that key.
const RSA2047_SIG: &str = concat!(
    "24c73a4b9ee82961b423cf80e17ed25e65d9862cbfbe89c3f53b7497bf78f1c026320923e74d4669",
    "f2c4b08a969eeeb96675e65e5b4a7adc646a4e1ab4d76e3eeeae2ee79bd2d4b69ff3b4e9e5486151",
    "fe1ae71077514c91b9f0828a11fd079dadf68bc585bf536e07afe660283529a4dc1c4e2eb9bb8022",
    "de152d6747aed43079da45855a8d163cdde5af30442d37bdfa8dc0ff181d18f09bef0e009467c4f3",
    "947be841ba77a7c0d3df814275c260bb7750f7680d7ae6b7b5676aa2423a13a84a8a940b4686ffe8",
    "b994238e8d70d83ef08204aaaf48eb60e1f92cd94b04f03db083fb7d8bbddccb2093ff620620542d",
    "fa0413ffc666b4e5b69767aeac8eada1",
);

/// SPKI of a 1985-bit RSA key (`openssl genrsa 1985`).
const RSA1985_SPKI: &str = concat!(
    "30820119300d06092a864886f70d01010105000382010600308201010281f901d6cab52716ed165b",
    "f2fd8bde1005fa5e3ac85eb39354b58d12fdbfc20db7ee28dea2b3fb34d88e5f389a3bab87e74a94",
    "904ee217d5bb3d0443aaa323c08ecc569bd79c8c167e9e40d906c58f9c39efd7f7195ad4177520fd",
    "eeaf4b3e39c5c8ededae5b53fad52dbab6ddb92fcd09e587419cbdc0860927ca8642497836de3ca6",
    "dde6995d783a5b0947f81b45cdf07a319b1e70093b400889a687f4805d174aa3b0ebb15d11634053",
    "191663d5fefa85a93b74dcf59804b9a213200d4d4a8873ecdfb4447a6cafbbe3a32779e54f1e6df0",
    "8f4bd440ceada1ede69d03436b655f4d398dcbbf678a33ba6546090885df99e34d1bb5c2c1fbc3ef",
    "0203010001",
);

/// `openssl dgst -sha256 -sign` of [`PROBE_MSG`] with that key.
const RSA1985_SIG: &str = concat!(
    "003a7f22f34217dc0165beaf16c2b93e2c3bd739721abac2f77e64288c3370dc716c451fa6280db4",
    "82f537b5fdba3b71bc9b4fe5f8a42a2e60f152ed4759831eaec7e68b0384e346966c1ced677ef791",
    "8675f43bdd97f6b12aad30ccb87157b6ea97c3a49a2417f0691ef36310a040f4b55bf03eb4320291",
    "87b813ebd704880e222c16805afd9c0ab6449ef9811ac9abb9222f221f04e63ea6231a77bde67936",
    "ea96d69867135a7d31808e99566e64a10843178471b8cce055fed34b24a9da9c0a928fccb1cd980e",
    "c657aab82b97d24d8e368a1d3e4a09e120f61f6bc8df17883d947a8e114c7c61d2d1cc50af1eccca",
    "9cc5ba1c2d43d73f7e",
);

#[test]
fn rsa_modulus_just_below_policy_is_refused() -> Outcome {
    use rsa::pkcs8::DecodePublicKey;
    for (bits, spki, sig) in [
        (2047, RSA2047_SPKI, RSA2047_SIG),
        (1985, RSA1985_SPKI, RSA1985_SIG),
    ] {
        let spki = hex::decode(spki)?;
        let sig = hex::decode(sig)?;
        let digest = Portable.digest(HashAlgorithm::Sha256, &[PROBE_MSG]);
        // The signature is good: only the size policy may refuse it.
        let key = rsa::RsaPublicKey::from_public_key_der(&spki)?;
        assert_eq!(rsa::traits::PublicKeyParts::n(&key).bits(), bits);
        key.verify(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            digest.as_bytes(),
            &sig,
        )?;
        let ours = Portable.verify(&spki, HashAlgorithm::Sha256, digest.as_bytes(), &sig);
        println!("rsa {bits}-bit key (below policy): verify -> {ours:?}");
        assert!(
            ours.is_err(),
            "a {bits}-bit RSA key passed the 2048-bit minimum"
        );
    }
    Ok(())
}

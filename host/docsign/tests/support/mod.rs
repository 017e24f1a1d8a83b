//! Shared helpers of the document-signing tests: a test PKI (the signing
//! CA and a P-256 signer of sam-testkeys, an RSA signer and an RFC 3161
//! time-stamp authority made by openssl), the stand-in SAM that signs the
//! to-be-signed hash, openssl as the TSA and as the verifier, and small
//! PDFs written by lopdf.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use sam_docsign::SignerCert;
use sam_proto::ids::HashAlgorithm;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs openssl with `args`; whether it exited 0, and its output.
pub use sam_harness::openssl::run as openssl;

/// Runs openssl with `args`; its output, or a panic with it.
pub fn openssl_ok(args: &[&str]) -> String {
    let (ok, text) = openssl(args);
    assert!(ok, "openssl {} said no:\n{text}", args.join(" "));
    text
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Which key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// The P-256 key of sam-testkeys, signed in Rust.
    P256,
    /// An RSA-2048 key made and used by openssl (`pkeyutl`).
    Rsa2048,
}

/// The test PKI in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: sam_testkeys::SigningCa,
    /// The signing CA's certificate (PEM file): the trust anchor.
    pub ca_pem: PathBuf,
    pub p256: p256::ecdsa::SigningKey,
    pub p256_signer: SignerCert,
    pub rsa_key: PathBuf,
    pub rsa_signer: SignerCert,
    /// The TSA's root (PEM file) and the openssl `ts` configuration.
    pub tsa_ca_pem: PathBuf,
    pub tsa_config: PathBuf,
    counter: AtomicUsize,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = sam_testkeys::SigningCa::new(16);
        let ca_pem = dir.path().join("ca.pem");
        sam_harness::openssl::write_cert_pem(&ca_pem, &ca.cert).unwrap();
        let now = unix_now();
        let p256 = sam_testkeys::p256_key(16, 3);
        let p256_cert = ca.issue_now(&sam_testkeys::spki(p256.verifying_key()), now);
        let p256_signer = SignerCert {
            certificate: p256_cert,
            chain: vec![ca.cert.clone()],
        };

        let rsa_key = dir.path().join("rsa.key");
        openssl_ok(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            s(&rsa_key),
        ]);
        let rsa_spki = dir.path().join("rsa.spki");
        openssl_ok(&[
            "pkey",
            "-in",
            s(&rsa_key),
            "-pubout",
            "-outform",
            "DER",
            "-out",
            s(&rsa_spki),
        ]);
        let rsa_cert = ca.issue_now(&std::fs::read(&rsa_spki).unwrap(), now);
        let rsa_signer = SignerCert {
            certificate: rsa_cert,
            chain: Vec::new(),
        };

        let (tsa_ca_pem, tsa_config) = make_tsa(dir.path());
        Self {
            dir,
            ca,
            ca_pem,
            p256,
            p256_signer,
            rsa_key,
            rsa_signer,
            tsa_ca_pem,
            tsa_config,
            counter: AtomicUsize::new(0),
        }
    }

    pub fn signer(&self, key: KeyType) -> &SignerCert {
        match key {
            KeyType::P256 => &self.p256_signer,
            KeyType::Rsa2048 => &self.rsa_signer,
        }
    }

    /// A fresh directory for one case.
    pub fn case_dir(&self, name: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let d = self
            .dir
            .path()
            .join(format!("{n}-{}", name.replace(['/', ' '], "-")));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The stand-in SAM: the signature over the prehashed `tbs_hash`
    /// (made with `hash`) by `key`, DER ECDSA or PKCS#1 v1.5.
    pub fn sign(&self, key: KeyType, hash: HashAlgorithm, tbs_hash: &[u8]) -> Vec<u8> {
        match key {
            KeyType::P256 => sam_testkeys::sign_prehash(&self.p256, tbs_hash),
            KeyType::Rsa2048 => {
                let d = self.case_dir("rsa-sign");
                std::fs::write(d.join("tbs"), tbs_hash).unwrap();
                let md = match hash {
                    HashAlgorithm::Sha256 => "digest:sha256",
                    HashAlgorithm::Sha384 => "digest:sha384",
                    HashAlgorithm::Sha512 => "digest:sha512",
                };
                openssl_ok(&[
                    "pkeyutl",
                    "-sign",
                    "-inkey",
                    s(&self.rsa_key),
                    "-pkeyopt",
                    md,
                    "-in",
                    s(&d.join("tbs")),
                    "-out",
                    s(&d.join("sig")),
                ]);
                std::fs::read(d.join("sig")).unwrap()
            }
        }
    }

    /// openssl as the TSA: the DER `TimeStampToken` over `data`
    /// (`openssl ts -query` with the TSA certificate requested, then
    /// `openssl ts -reply -token_out`).
    pub fn timestamp(&self, data: &[u8]) -> Vec<u8> {
        let d = self.case_dir("tsa");
        std::fs::write(d.join("data"), data).unwrap();
        openssl_ok(&[
            "ts",
            "-query",
            "-data",
            s(&d.join("data")),
            "-sha256",
            "-cert",
            "-out",
            s(&d.join("q.tsq")),
        ]);
        openssl_ok(&[
            "ts",
            "-reply",
            "-config",
            s(&self.tsa_config),
            "-queryfile",
            s(&d.join("q.tsq")),
            "-token_out",
            "-out",
            s(&d.join("token.der")),
        ]);
        std::fs::read(d.join("token.der")).unwrap()
    }

    /// `openssl ts -verify` of `token` over `data` against the TSA's root.
    pub fn ts_verify(&self, data: &[u8], token: &[u8]) -> (bool, String) {
        let d = self.case_dir("ts-verify");
        std::fs::write(d.join("data"), data).unwrap();
        std::fs::write(d.join("token.der"), token).unwrap();
        openssl(&[
            "ts",
            "-verify",
            "-data",
            s(&d.join("data")),
            "-in",
            s(&d.join("token.der")),
            "-token_in",
            "-CAfile",
            s(&self.tsa_ca_pem),
        ])
    }

    /// A file with both roots (the signing CA and the TSA's), PEM.
    pub fn all_roots_pem(&self) -> PathBuf {
        let p = self.dir.path().join("roots.pem");
        if !p.exists() {
            let mut both = std::fs::read(&self.ca_pem).unwrap();
            both.extend(std::fs::read(&self.tsa_ca_pem).unwrap());
            std::fs::write(&p, both).unwrap();
        }
        p
    }
}

/// A TSA root and a TSA certificate (P-256, critical extendedKeyUsage
/// timeStamping) made by openssl in `dir`, and the `openssl ts -reply`
/// configuration that signs with them.
fn make_tsa(dir: &Path) -> (PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    for key in ["tsa-ca.key", "tsa.key"] {
        openssl_ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            s(&p(key)),
        ]);
    }
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&p("tsa-ca.key")),
        "-subj",
        "/CN=SAM Test TSA Root/O=SAM Development/C=DE",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        s(&p("tsa-ca.pem")),
    ]);
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        s(&p("tsa.key")),
        "-subj",
        "/CN=SAM Test TSA/O=SAM Development/C=DE",
        "-out",
        s(&p("tsa.csr")),
    ]);
    std::fs::write(
        p("tsa.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=critical,timeStamping\n\
         subjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    openssl_ok(&[
        "x509",
        "-req",
        "-in",
        s(&p("tsa.csr")),
        "-CA",
        s(&p("tsa-ca.pem")),
        "-CAkey",
        s(&p("tsa-ca.key")),
        "-set_serial",
        "7",
        "-days",
        "3650",
        "-extfile",
        s(&p("tsa.ext")),
        "-out",
        s(&p("tsa.pem")),
    ]);
    std::fs::write(p("tsa-serial"), "01\n").unwrap();
    let config = format!(
        "[ tsa ]\n\
         default_tsa = tsa_config1\n\
         [ tsa_config1 ]\n\
         serial = {serial}\n\
         crypto_device = builtin\n\
         signer_cert = {cert}\n\
         certs = {ca}\n\
         signer_key = {key}\n\
         signer_digest = sha256\n\
         default_policy = 1.3.6.1.4.1.99999.16.1\n\
         digests = sha256, sha384, sha512\n\
         accuracy = secs:1\n\
         ordering = no\n\
         tsa_name = yes\n\
         ess_cert_id_chain = no\n\
         ess_cert_id_alg = sha256\n",
        serial = s(&p("tsa-serial")),
        cert = s(&p("tsa.pem")),
        ca = s(&p("tsa-ca.pem")),
        key = s(&p("tsa.key")),
    );
    std::fs::write(p("ts.cnf"), config).unwrap();
    (p("tsa-ca.pem"), p("ts.cnf"))
}

/// A PDF of `pages` pages with a line of text each, written by lopdf:
/// a classic cross-reference table, or (`modern`) object streams and a
/// cross-reference stream.
pub fn make_pdf(pages: usize, modern: bool) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for i in 0..pages {
        let text = format!(
            "BT /F1 24 Tf 72 720 Td (Page {} of the SAM PAdES test) Tj ET",
            i + 1
        );
        let content_id = doc.add_object(Stream::new(dictionary! {}, text.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(Object::Reference(page_id));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => i64::try_from(pages).unwrap(),
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    if modern {
        doc.save_modern(&mut out).unwrap();
    } else {
        doc.reference_table.cross_reference_type = lopdf::xref::XrefType::CrossReferenceTable;
        doc.save_to(&mut out).unwrap();
        assert!(out.windows(6).any(|w| w == b"\nxref\n" || w == b"\rxref\n"));
    }
    out
}

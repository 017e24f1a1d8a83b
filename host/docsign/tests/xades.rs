#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! XAdES signatures from `sam_docsign::xades`, checked by tools nobody
//! here wrote: xmlsec1 verifies the XML signature (references, signature
//! value, certificate chain), openssl plays the SAM (signs the hash) and
//! the time-stamp authority, `openssl ts -verify` checks the embedded
//! token over the `ds:SignatureValue` that python3-lxml canonicalizes
//! from the signed XML on its own.

use sam_docsign::xades::{self, XadesPrepared};
use sam_docsign::{DocError, Level, Packaging, Prepared, SignerCert};
use sam_proto::ids::HashAlgorithm;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

/// Runs `cmd`; a tool that is not installed fails the test with the
/// Debian package that brings it.
fn run(cmd: &mut Command, package: &str) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {cmd:?} ({e}): install the Debian package {package}"),
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = run(
        Command::new("openssl").args(args).current_dir(dir),
        "openssl",
    );
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EXTENSIONS: &str = "\
[intermediate]
basicConstraints=critical,CA:TRUE,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
[signer]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
[tsa]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=critical,timeStamping
";

/// A test CA (P-256) in a fresh folder, issuing the signer's certificate
/// for a key of `key_kind` (`ec` P-256, `ec384` P-384 or `rsa` 2048); the key stands for the
/// SAM's.
struct Pki {
    dir: tempfile::TempDir,
    signer: SignerCert,
}

const P256: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

impl Pki {
    fn new(key_kind: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ext.cnf"), EXTENSIONS).unwrap();
        let mut ca = vec!["req", "-x509"];
        ca.extend_from_slice(P256);
        ca.extend_from_slice(&[
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=XAdES test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(d, &ca);
        let newkey: &[&str] = match key_kind {
            "rsa" => &["-newkey", "rsa:2048"],
            "ec384" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            _ => P256,
        };
        Self::issue(d, "signer", "signer", newkey, "/CN=XAdES test signer/O=SAM");
        let certificate = std::fs::read(d.join("signer.der")).unwrap();
        Self {
            dir,
            signer: SignerCert {
                certificate,
                chain: vec![],
            },
        }
    }

    /// A key `name.key` and its certificate `name.pem` / `name.der` from
    /// the CA, with the extensions of `section` of [`EXTENSIONS`].
    fn issue(d: &Path, name: &str, section: &str, newkey: &[&str], subject: &str) {
        Self::issue_by(d, "ca", name, section, newkey, subject);
    }

    /// [`Pki::issue`] by the CA whose key and certificate are
    /// `issuer.key` and `issuer.pem`.
    fn issue_by(d: &Path, issuer: &str, name: &str, section: &str, newkey: &[&str], subject: &str) {
        let (issuer_pem, issuer_key) = (format!("{issuer}.pem"), format!("{issuer}.key"));
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let mut args = vec!["req", "-new"];
        args.extend_from_slice(newkey);
        args.extend_from_slice(&["-nodes", "-keyout", &key, "-out", &csr, "-subj", subject]);
        openssl(d, &args);
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &issuer_pem,
                "-CAkey",
                &issuer_key,
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                "ext.cnf",
                "-extensions",
                section,
                "-out",
                &pem,
            ],
        );
        let der = format!("{name}.der");
        openssl(d, &["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The SAM's part: openssl signs the prepared hash as it is (DER
    /// ECDSA, or PKCS#1 v1.5 over the DigestInfo of `digest`).
    fn sam_sign(&self, key: &str, hash: &[u8], digest: &str) -> Vec<u8> {
        std::fs::write(self.path("tbs.bin"), hash).unwrap();
        let opt = format!("digest:{digest}");
        openssl(
            self.dir.path(),
            &[
                "pkeyutl", "-sign", "-inkey", key, "-in", "tbs.bin", "-out", "sig.bin", "-pkeyopt",
                &opt,
            ],
        );
        std::fs::read(self.path("sig.bin")).unwrap()
    }

    /// `xmlsec1 --verify` of `signed` (written as `file`) in the PKI's
    /// folder, trusting only the test CA: (accepted, xmlsec1's output).
    fn xmlsec_verify(&self, file: &str, signed: &[u8]) -> (bool, String) {
        std::fs::write(self.path(file), signed).unwrap();
        let out = run(
            Command::new("xmlsec1")
                .args(["--verify", "--trusted-pem", "ca.pem", file])
                .current_dir(self.dir.path()),
            "xmlsec1",
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Accepted means both references checked: the document and the
        // signed properties.
        let ok = out.status.success() && text.contains("SignedInfo References (ok/all): 2/2");
        (ok, text)
    }
}

fn prepare(
    pki: &Pki,
    doc: &[u8],
    name: &str,
    hash: HashAlgorithm,
    packaging: Packaging,
    level: Level,
) -> XadesPrepared {
    xades::prepare(
        doc,
        name,
        &pki.signer,
        hash,
        packaging,
        level,
        SystemTime::now(),
    )
    .unwrap()
}

/// An enveloped SHA-256 B-B signature of `doc`, as prepare answers.
fn enveloped(pki: &Pki, doc: &[u8]) -> Result<XadesPrepared, DocError> {
    xades::prepare(
        doc,
        "",
        &pki.signer,
        HashAlgorithm::Sha256,
        Packaging::Enveloped,
        Level::BB,
        SystemTime::now(),
    )
}

/// [`DOCUMENT`] signed enveloped, B-B, SHA-256, by the PKI's signer.
fn signed_document(pki: &Pki) -> Vec<u8> {
    let p = enveloped(pki, DOCUMENT.as_bytes()).unwrap();
    let sig = pki.sam_sign("signer.key", p.to_be_signed_hash(), "sha256");
    p.finish(&sig, None).unwrap()
}

const DOCUMENT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!-- an invoice -->\n\
<inv:Invoice xmlns:inv=\"urn:example:invoice\" xmlns=\"urn:example:default\" version='2'>\n\
  <inv:Payee>Zoë &amp; Søn, Ærø</inv:Payee>\r\n\
  <Amount currency=\"EUR\">100.00</Amount>\n\
  <Note><![CDATA[pay <soon>]]></Note><!-- </inv:Invoice> -->\n\
</inv:Invoice>\n\
<?pi after?>\n";

#[test]
fn enveloped_b_b_verifies_with_xmlsec1_for_p256_and_rsa() {
    for kind in ["ec", "rsa"] {
        let pki = Pki::new(kind);
        let signed = signed_document(&pki);
        let (ok, out) = pki.xmlsec_verify("signed.xml", &signed);
        assert!(ok, "{kind}: xmlsec1 refuses the enveloped signature: {out}");
        // The document keeps its own bytes around the signature.
        let text = String::from_utf8(signed.clone()).unwrap();
        let (head, tail) = DOCUMENT.rsplit_once("</inv:Invoice>").unwrap();
        assert!(text.starts_with(&format!("{head}<ds:Signature ")), "{text}");
        let end = format!("</ds:Signature></inv:Invoice>{tail}");
        assert!(text.ends_with(&end), "{text}");

        // One byte of the signed content changed: xmlsec1 refuses.
        let tampered = text.replacen("100.00", "900.00", 1);
        assert_ne!(tampered, text);
        let (ok, out) = pki.xmlsec_verify("tampered.xml", tampered.as_bytes());
        assert!(!ok, "{kind}: xmlsec1 accepts a modified document: {out}");
        // Nor a modified signed property.
        let tampered = text.replacen("<xades:SigningTime>2", "<xades:SigningTime>1", 1);
        assert_ne!(tampered, text);
        let (ok, out) = pki.xmlsec_verify("tampered-props.xml", tampered.as_bytes());
        assert!(
            !ok,
            "{kind}: xmlsec1 accepts modified signed properties: {out}"
        );
    }
}

/// P-384 with SHA-384, into an empty document element that binds the
/// signature's own prefixes to other namespaces.
#[test]
fn enveloped_p384_into_an_empty_element_that_rebinds_ds_and_xades() {
    let pki = Pki::new("ec384");
    let doc = b"<root xmlns:ds=\"urn:not-xmldsig\" xmlns:xades=\"urn:not-xades\" a=\"1\"/>";
    let p = prepare(
        &pki,
        doc,
        "",
        HashAlgorithm::Sha384,
        Packaging::Enveloped,
        Level::BB,
    );
    let sig = pki.sam_sign("signer.key", p.to_be_signed_hash(), "sha384");
    let signed = p.finish(&sig, None).unwrap();
    let (ok, out) = pki.xmlsec_verify("empty.xml", &signed);
    assert!(ok, "xmlsec1 refuses: {out}");
    let tampered = String::from_utf8(signed)
        .unwrap()
        .replacen("a=\"1\"", "a=\"2\"", 1);
    let (ok, out) = pki.xmlsec_verify("empty-tampered.xml", tampered.as_bytes());
    assert!(!ok, "xmlsec1 accepts a modified attribute: {out}");
}

#[test]
fn detached_b_b_verifies_with_xmlsec1_next_to_its_document() {
    for (kind, hash, name) in [
        ("ec", HashAlgorithm::Sha256, "sha256"),
        ("rsa", HashAlgorithm::Sha512, "sha512"),
    ] {
        let pki = Pki::new(kind);
        let document: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        let p = prepare(
            &pki,
            &document,
            "contract v1.pdf",
            hash,
            Packaging::Detached,
            Level::BB,
        );
        let sig = pki.sam_sign("signer.key", p.to_be_signed_hash(), name);
        let signed = p.finish(&sig, None).unwrap();
        std::fs::write(pki.path("contract v1.pdf"), &document).unwrap();
        let (ok, out) = pki.xmlsec_verify("contract.pdf.xml", &signed);
        assert!(ok, "{kind}: xmlsec1 refuses the detached signature: {out}");

        let mut tampered = document.clone();
        tampered[4321] ^= 1;
        std::fs::write(pki.path("contract v1.pdf"), &tampered).unwrap();
        let (ok, out) = pki.xmlsec_verify("contract.pdf.xml", &signed);
        assert!(
            !ok,
            "{kind}: xmlsec1 accepts a modified detached document: {out}"
        );
    }
}

/// A signature from another key is refused before any XML is made.
#[test]
fn a_signature_by_another_key_is_refused() {
    let pki = Pki::new("ec");
    let p = prepare(
        &pki,
        DOCUMENT.as_bytes(),
        "",
        HashAlgorithm::Sha256,
        Packaging::Enveloped,
        Level::BB,
    );
    Pki::issue(pki.dir.path(), "other", "signer", P256, "/CN=other");
    let sig = pki.sam_sign("other.key", p.to_be_signed_hash(), "sha256");
    assert!(matches!(
        p.finish(&sig, None),
        Err(DocError::BadSignature(_))
    ));
    let sig = pki.sam_sign("signer.key", p.to_be_signed_hash(), "sha256");
    assert!(p.finish(&sig, None).is_ok());
}

#[test]
fn malformed_xml_is_refused_by_prepare() {
    let pki = Pki::new("ec");
    let cases: &[&[u8]] = &[
        b"",
        b"not xml",
        b"<a><b></a>",
        b"<a></a><b/>",
        b"<a x='1' x='2'/>",
        b"<p:a/>",
        b"<a>&undefined;</a>",
        b"<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
        b"<a>\xff</a>",
    ];
    let try_prepare = |doc: &[u8]| enveloped(&pki, doc);
    for doc in cases {
        let r = try_prepare(doc);
        assert!(
            matches!(r, Err(DocError::InvalidDocument(_))),
            "{:?}: {r:?}",
            String::from_utf8_lossy(doc)
        );
    }
    assert!(try_prepare(b"<a/>").is_ok());
    assert!(try_prepare("\u{FEFF}<a/>".as_bytes()).is_ok());
    let huge = vec![b' '; xades::MAX_XML_BYTES + 1];
    let r = try_prepare(&huge);
    assert!(matches!(r, Err(DocError::TooLarge { .. })), "{r:?}");
}

/// The test TSA's `openssl ts -reply` configuration.
const TSA_CONFIG: &str = "\
[tsa]
default_tsa = tsa_config
[tsa_config]
serial = tsaserial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
";

/// Takes the exclusive-canonical `ds:SignatureValue` (argv 2) and the
/// decoded `EncapsulatedTimeStamp` (argv 3) out of a signed XML (argv 1).
const EXTRACT: &str = r#"
import sys, base64
from lxml import etree
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
doc = etree.parse(sys.argv[1])
values = doc.findall(".//{%s}SignatureValue" % DS)
tokens = doc.findall(".//{%s}QualifyingProperties/{%s}UnsignedProperties/{%s}UnsignedSignatureProperties/{%s}SignatureTimeStamp/{%s}EncapsulatedTimeStamp" % (XADES, XADES, XADES, XADES, XADES))
assert len(values) == 1 and len(tokens) == 1, (len(values), len(tokens))
with open(sys.argv[2], "wb") as f:
    f.write(etree.tostring(values[0], method="c14n", exclusive=True, with_comments=False))
with open(sys.argv[3], "wb") as f:
    f.write(base64.b64decode(tokens[0].text))
"#;

impl Pki {
    /// openssl as the TSA: a `TimeStampToken` (SHA-256 imprint) over
    /// `data`, signed by a TSA certificate of the test CA.
    fn timestamp(&self, data: &[u8]) -> Vec<u8> {
        let d = self.dir.path();
        if !self.path("tsa.pem").exists() {
            Pki::issue(d, "tsa", "tsa", P256, "/CN=XAdES test TSA");
            std::fs::write(self.path("tsa.cnf"), TSA_CONFIG).unwrap();
            std::fs::write(self.path("tsaserial"), "01\n").unwrap();
        }
        std::fs::write(self.path("tsdata.bin"), data).unwrap();
        openssl(
            d,
            &[
                "ts",
                "-query",
                "-data",
                "tsdata.bin",
                "-sha256",
                "-cert",
                "-out",
                "req.tsq",
            ],
        );
        openssl(
            d,
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                "req.tsq",
                "-signer",
                "tsa.pem",
                "-inkey",
                "tsa.key",
                "-token_out",
                "-out",
                "token.der",
            ],
        );
        std::fs::read(self.path("token.der")).unwrap()
    }

    /// `openssl ts -verify` of the token embedded in `signed_file` over
    /// its `ds:SignatureValue`, both taken out by python3-lxml; `tamper`
    /// changes the canonical data first. (verified, openssl's output).
    fn ts_verify_embedded(&self, signed_file: &str, tamper: bool) -> (bool, String) {
        let d = self.dir.path();
        let out = run(
            Command::new("python3")
                .args(["-c", EXTRACT, signed_file, "sv.c14n", "embedded.tst"])
                .current_dir(d),
            "python3-lxml",
        );
        assert!(
            out.status.success(),
            "python3-lxml (Debian package python3-lxml) could not extract: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if tamper {
            let mut data = std::fs::read(self.path("sv.c14n")).unwrap();
            let i = data.len() / 2;
            data[i] ^= 1;
            std::fs::write(self.path("sv.c14n"), data).unwrap();
        }
        let out = run(
            Command::new("openssl")
                .args([
                    "ts",
                    "-verify",
                    "-in",
                    "embedded.tst",
                    "-token_in",
                    "-data",
                    "sv.c14n",
                    "-CAfile",
                    "ca.pem",
                ])
                .current_dir(d),
            "openssl",
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.status.success() && text.contains("Verification: OK"),
            text,
        )
    }
}

#[test]
fn b_t_carries_a_time_stamp_over_the_signature_value_enveloped_and_detached() {
    let pki = Pki::new("ec");
    let document = b"<payload>time-stamped</payload>".to_vec();
    std::fs::write(pki.path("payload.xml"), &document).unwrap();
    for (packaging, file) in [
        (Packaging::Enveloped, "bt-enveloped.xml"),
        (Packaging::Detached, "bt-detached.xml"),
    ] {
        let p = prepare(
            &pki,
            &document,
            "payload.xml",
            HashAlgorithm::Sha256,
            packaging,
            Level::BT,
        );
        let sig = pki.sam_sign("signer.key", p.to_be_signed_hash(), "sha256");
        // -B-T without its token is refused.
        assert!(matches!(p.finish(&sig, None), Err(DocError::Timestamp(_))));
        let token = pki.timestamp(&p.timestamped_data(&sig).unwrap());
        let signed = p.finish(&sig, Some(&token)).unwrap();
        let (ok, out) = pki.xmlsec_verify(file, &signed);
        assert!(
            ok,
            "{packaging:?}: xmlsec1 refuses the B-T signature: {out}"
        );
        let (ok, out) = pki.ts_verify_embedded(file, false);
        assert!(ok, "{packaging:?}: openssl ts -verify refuses: {out}");
        let (ok, out) = pki.ts_verify_embedded(file, true);
        assert!(
            !ok,
            "{packaging:?}: the token verifies over other data: {out}"
        );
    }
}

/// Long text in the signed document. libxml2 hands its canonical form
/// over in pieces, which the `libxml` binding decodes one by one: a
/// multi-byte character split between two pieces turns into U+FFFD. A
/// document where that happens is refused (never signed over the wrong
/// text); short non-ASCII text nodes and long ASCII ones sign.
#[test]
fn long_text_signs_and_verifies_or_is_refused_never_signed_wrong() {
    let pki = Pki::new("ec");
    let short_non_ascii = "<p>Ærø – 😀 – Zoë</p>".repeat(2_000);
    let long_ascii = "a&amp;b ".repeat(20_000);
    let long_non_ascii = "é€😀".repeat(20_000);
    for (name, body, must_sign) in [
        ("many-short.xml", short_non_ascii, true),
        ("long-ascii.xml", long_ascii, true),
        ("long-non-ascii.xml", long_non_ascii, false),
    ] {
        let doc = format!("<t>{body}</t>");
        let p = match enveloped(&pki, doc.as_bytes()) {
            Ok(p) => p,
            Err(DocError::InvalidDocument(m)) if !must_sign && m.contains("U+FFFD") => continue,
            Err(e) => panic!("{name}: {e:?}"),
        };
        let sig = pki.sam_sign("signer.key", p.to_be_signed_hash(), "sha256");
        let signed = p.finish(&sig, None).unwrap();
        let (ok, out) = pki.xmlsec_verify(name, &signed);
        assert!(ok, "{name}: xmlsec1 refuses: {out}");
    }
}

/// A signer under an intermediate CA: the chain goes into `ds:KeyInfo`
/// and xmlsec1 builds the path to the root it trusts from there.
#[test]
fn the_chain_in_key_info_leads_xmlsec1_to_the_root() {
    let mut pki = Pki::new("ec");
    let d = pki.dir.path().to_path_buf();
    Pki::issue(
        &d,
        "inter",
        "intermediate",
        P256,
        "/CN=XAdES test intermediate",
    );
    Pki::issue_by(
        &d,
        "inter",
        "signer",
        "signer",
        P256,
        "/CN=XAdES chained signer",
    );
    pki.signer = SignerCert {
        certificate: std::fs::read(d.join("signer.der")).unwrap(),
        chain: vec![std::fs::read(d.join("inter.der")).unwrap()],
    };
    let signed = signed_document(&pki);
    let (ok, out) = pki.xmlsec_verify("chained.xml", &signed);
    assert!(ok, "xmlsec1 refuses the chained signer: {out}");
    // Without the intermediate in KeyInfo there is no path to the root.
    pki.signer.chain.clear();
    let signed = signed_document(&pki);
    let (ok, out) = pki.xmlsec_verify("unchained.xml", &signed);
    assert!(!ok, "xmlsec1 accepts a signer it has no path for: {out}");
}

/// libxml2 from several threads at once, as in the service: the same
/// input prepared at the same instant gives the same hash everywhere, and
/// that signature verifies.
#[test]
fn preparing_in_parallel_threads_is_deterministic() {
    let pki = Pki::new("ec");
    let at = SystemTime::now();
    let make = || {
        xades::prepare(
            DOCUMENT.as_bytes(),
            "",
            &pki.signer,
            HashAlgorithm::Sha256,
            Packaging::Enveloped,
            Level::BB,
            at,
        )
        .unwrap()
    };
    let hashes: Vec<Vec<u8>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| make().to_be_signed_hash().to_vec())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(hashes.len(), 20);
    assert!(hashes.iter().all(|h| *h == hashes[0]));
    let p = make();
    assert_eq!(p.to_be_signed_hash(), hashes[0]);
    let sig = pki.sam_sign("signer.key", p.to_be_signed_hash(), "sha256");
    let (ok, out) = pki.xmlsec_verify("parallel.xml", &p.finish(&sig, None).unwrap());
    assert!(ok, "xmlsec1 refuses: {out}");
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! PAdES-B-B and -B-T checked by two readers nobody here wrote:
//! poppler's `pdfsig` (Debian poppler-utils) and pyHanko's validator
//! (PyPI `pyhanko==0.38.0`), both installed by `ci/install-deps.sh`.
//!
//! The PDFs: written by lopdf (one page with a classic cross-reference
//! table, three pages with object streams and a cross-reference stream),
//! and `tests/data/pyhanko-two-pages.pdf`, written by pyHanko's
//! `PdfFileWriter`.

mod support;

use sam_docsign::pades::{self, PadesOptions, PadesPrepared};
use sam_docsign::{DocError, Level, Prepared};
use sam_proto::ids::HashAlgorithm;
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime};
use support::{KeyType, Pki, make_pdf, s};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/pyhanko-two-pages.pdf"
);

/// pyHanko's validator: one line per signature of `argv[1]`, validated
/// against the signer's root `argv[2]` and the TSA's root `argv[3]`.
const PYHANKO_VALIDATE: &str = r#"
import asyncio, io, sys
from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

def roots(path):
    data = open(path, 'rb').read()
    return [x509.Certificate.load(d) for _, _, d in pem.unarmor(data, multiple=True)]

data = open(sys.argv[1], 'rb').read()
reader = PdfFileReader(io.BytesIO(data))
for sig in reader.embedded_signatures:
    vc = ValidationContext(trust_roots=roots(sys.argv[2]), allow_fetching=False)
    ts_vc = ValidationContext(trust_roots=roots(sys.argv[3]), allow_fetching=False)
    st = asyncio.run(async_validate_pdf_signature(sig, vc, ts_validation_context=ts_vc))
    ts = st.timestamp_validity
    ts_text = 'none' if ts is None else f'intact={ts.intact} valid={ts.valid} trusted={ts.trusted}'
    print(f"field={sig.field_name} subfilter={sig.sig_object['/SubFilter']} "
          f"intact={st.intact} valid={st.valid} trusted={st.trusted} "
          f"coverage={st.coverage.name} timestamp[{ts_text}] bottom_line={st.bottom_line}")
"#;

fn pyhanko(pki: &Pki, pdf: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PYHANKO_VALIDATE)
        .arg(pdf)
        .arg(&pki.ca_pem)
        .arg(&pki.tsa_ca_pem)
        .output()
        .expect("python3 (ci/install-deps.sh installs pyHanko)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyHanko (ci/install-deps.sh installs pyhanko==0.38.0): {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `pdfsig -nocert` (the signature and the byte range; the certificate
/// is pyHanko's to judge, pdfsig would need an NSS database for it).
fn pdfsig(pdf: &Path) -> String {
    let out = Command::new("pdfsig")
        .arg("-nocert")
        .arg(pdf)
        .output()
        .expect("pdfsig (poppler-utils; ci/install-deps.sh installs it)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Prepares, signs (and time-stamps), finishes.
fn sign_pdf(pki: &Pki, pdf: &[u8], key: KeyType, hash: HashAlgorithm, level: Level) -> Vec<u8> {
    let prepared = pades::prepare(pdf, pki.signer(key), hash, level, SystemTime::now()).unwrap();
    finish(pki, &prepared, key, hash, level)
}

fn finish(
    pki: &Pki,
    prepared: &PadesPrepared,
    key: KeyType,
    hash: HashAlgorithm,
    level: Level,
) -> Vec<u8> {
    let sig = pki.sign(key, hash, prepared.to_be_signed_hash());
    let token = match level {
        Level::BB => None,
        Level::BT => Some(pki.timestamp(&prepared.timestamped_data(&sig).unwrap())),
    };
    prepared.finish(&sig, token.as_deref()).unwrap()
}

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("lopdf-1-page-xref-table", make_pdf(1, false)),
        ("lopdf-3-pages-xref-stream", make_pdf(3, true)),
        ("pyhanko-fixture", std::fs::read(FIXTURE).unwrap()),
    ]
}

#[test]
fn pades_b_b_and_b_t_are_valid_for_pdfsig_and_pyhanko() {
    let pki = Pki::new();
    let cases = [
        (KeyType::P256, HashAlgorithm::Sha256, Level::BB),
        (KeyType::P256, HashAlgorithm::Sha256, Level::BT),
        (KeyType::Rsa2048, HashAlgorithm::Sha384, Level::BB),
        (KeyType::Rsa2048, HashAlgorithm::Sha256, Level::BT),
    ];
    for (input, pdf) in inputs() {
        for (key, hash, level) in cases {
            let name = format!("{input} {key:?} {hash:?} {level:?}");
            let dir = pki.case_dir(&name);
            let signed = sign_pdf(&pki, &pdf, key, hash, level);
            assert_eq!(
                &signed[..pdf.len()],
                &pdf[..],
                "{name}: not an incremental update"
            );
            let path = dir.join("signed.pdf");
            std::fs::write(&path, &signed).unwrap();

            let poppler = pdfsig(&path);
            for want in [
                "Signature #1:",
                "Signature Type: ETSI.CAdES.detached",
                "Total document signed",
                "Signature Validation: Signature is Valid.",
            ] {
                assert!(
                    poppler.contains(want),
                    "{name}: pdfsig: {want} missing:\n{poppler}"
                );
            }
            assert!(!poppler.contains("Signature #2"), "{name}:\n{poppler}");

            let hanko = pyhanko(&pki, &path);
            assert!(
                hanko.contains("subfilter=/ETSI.CAdES.detached")
                    && hanko.contains("intact=True valid=True trusted=True coverage=ENTIRE_FILE")
                    && hanko.contains("bottom_line=True"),
                "{name}: pyHanko: {hanko}"
            );
            match level {
                Level::BB => assert!(hanko.contains("timestamp[none]"), "{name}: {hanko}"),
                Level::BT => assert!(
                    hanko.contains("timestamp[intact=True valid=True trusted=True]"),
                    "{name}: pyHanko saw no valid signature time-stamp: {hanko}"
                ),
            }

            // One byte of the signed range changed (in the original
            // revision): pdfsig and pyHanko both say no.
            let mut tampered = signed.clone();
            let at = tampered
                .windows(b"Page 1".len())
                .position(|w| w == b"Page 1" || w == b"page 1")
                .expect("the page text");
            tampered[at] ^= 0x01;
            let bad = dir.join("tampered.pdf");
            std::fs::write(&bad, &tampered).unwrap();
            let poppler = pdfsig(&bad);
            assert!(
                !poppler.contains("Signature is Valid")
                    && poppler.contains("Signature Validation:"),
                "{name}: pdfsig accepted a changed byte:\n{poppler}"
            );
            let hanko = pyhanko(&pki, &bad);
            assert!(hanko.contains("intact=False"), "{name}: pyHanko: {hanko}");
        }
    }
}

/// The structure the update adds, read back with lopdf: the field is in
/// /Fields with /SigFlags 3, its widget on page 1 (of three), invisible,
/// the dictionary's /ByteRange covers the file but /Contents, whose CMS
/// has no signing-time attribute.
#[test]
fn the_update_adds_an_invisible_field_on_page_one() {
    let pki = Pki::new();
    let pdf = make_pdf(3, false);
    let prepared = pades::prepare(
        &pdf,
        pki.signer(KeyType::P256),
        HashAlgorithm::Sha256,
        Level::BB,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(prepared.field_name(), "Signature1");
    let signed = finish(
        &pki,
        &prepared,
        KeyType::P256,
        HashAlgorithm::Sha256,
        Level::BB,
    );
    let [zero, a, b, c] = prepared.byte_range();
    assert_eq!((zero, b + c), (0, signed.len()));
    assert_eq!((signed[a], signed[b - 1]), (b'<', b'>'));

    let doc = lopdf::Document::load_mem(&signed).unwrap();
    let pages: Vec<_> = doc.get_pages().into_values().collect();
    assert_eq!(pages.len(), 3);
    let catalog = doc.catalog().unwrap();
    let form = catalog
        .get_deref(b"AcroForm", &doc)
        .unwrap()
        .as_dict()
        .unwrap();
    assert_eq!(form.get(b"SigFlags").unwrap().as_i64().unwrap(), 3);
    let fields = form.get_deref(b"Fields", &doc).unwrap().as_array().unwrap();
    assert_eq!(fields.len(), 1);
    let field_id = fields[0].as_reference().unwrap();
    let field = doc.get_dictionary(field_id).unwrap();
    assert_eq!(field.get(b"FT").unwrap().as_name().unwrap(), b"Sig");
    assert_eq!(field.get(b"T").unwrap().as_str().unwrap(), b"Signature1");
    assert_eq!(field.get(b"P").unwrap().as_reference().unwrap(), pages[0]);
    let rect: Vec<f32> = field
        .get(b"Rect")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_float().unwrap())
        .collect();
    assert_eq!(rect, [0.0; 4]);
    let annots = doc
        .get_dictionary(pages[0])
        .unwrap()
        .get_deref(b"Annots", &doc)
        .unwrap()
        .as_array()
        .unwrap();
    assert!(annots.contains(&lopdf::Object::Reference(field_id)));
    for other in &pages[1..] {
        assert!(!doc.get_dictionary(*other).unwrap().has(b"Annots"));
    }
    let sig = field.get_deref(b"V", &doc).unwrap().as_dict().unwrap();
    assert_eq!(sig.get(b"Type").unwrap().as_name().unwrap(), b"Sig");
    assert_eq!(
        sig.get(b"Filter").unwrap().as_name().unwrap(),
        b"Adobe.PPKLite"
    );
    assert_eq!(
        sig.get(b"SubFilter").unwrap().as_name().unwrap(),
        b"ETSI.CAdES.detached"
    );
    assert!(
        sig.get(b"M")
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with(b"D:20")
    );
    let range: Vec<i64> = sig
        .get(b"ByteRange")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect();
    let want: Vec<i64> = prepared
        .byte_range()
        .iter()
        .map(|&n| i64::try_from(n).unwrap())
        .collect();
    assert_eq!(range, want);
    // The CMS, zero-padded: detached, no signing-time (EN 319 142-1).
    let contents = sig.get(b"Contents").unwrap().as_str().unwrap();
    assert_eq!(contents.len(), prepared.reserved());
    let cms = der_prefix(contents);
    let dir = pki.case_dir("structure");
    std::fs::write(dir.join("sig.p7s"), cms).unwrap();
    let printed = support::openssl_ok(&[
        "cms",
        "-cmsout",
        "-print",
        "-inform",
        "DER",
        "-in",
        s(&dir.join("sig.p7s")),
    ]);
    for want in [
        "contentType",
        "messageDigest",
        "id-smime-aa-signingCertificateV2",
        "eContent: <ABSENT>",
    ] {
        assert!(printed.contains(want), "{want}:\n{printed}");
    }
    assert!(!printed.contains("signingTime"), "{printed}");
}

/// The DER TLV at the start of `bytes` (the zero padding cut off).
fn der_prefix(bytes: &[u8]) -> &[u8] {
    use der::Reader as _;
    der::SliceReader::new(bytes).unwrap().tlv_bytes().unwrap()
}

/// A signed PDF signed again: the second signature's update keeps the
/// first one's bytes, both are valid, the first covers its revision.
#[test]
fn a_signed_pdf_takes_a_second_signature() {
    let pki = Pki::new();
    let once = sign_pdf(
        &pki,
        &std::fs::read(FIXTURE).unwrap(),
        KeyType::P256,
        HashAlgorithm::Sha256,
        Level::BT,
    );
    let prepared = pades::prepare(
        &once,
        pki.signer(KeyType::Rsa2048),
        HashAlgorithm::Sha256,
        Level::BB,
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(prepared.field_name(), "Signature2");
    let twice = finish(
        &pki,
        &prepared,
        KeyType::Rsa2048,
        HashAlgorithm::Sha256,
        Level::BB,
    );
    assert_eq!(&twice[..once.len()], &once[..]);
    let dir = pki.case_dir("twice");
    let path = dir.join("twice.pdf");
    std::fs::write(&path, &twice).unwrap();
    let poppler = pdfsig(&path);
    assert_eq!(
        poppler.matches("Signature is Valid.").count(),
        2,
        "pdfsig:\n{poppler}"
    );
    assert!(poppler.contains("Signature #2:"), "{poppler}");
    let hanko = pyhanko(&pki, &path);
    let lines: Vec<&str> = hanko.lines().collect();
    assert_eq!(lines.len(), 2, "{hanko}");
    assert!(
        lines[0].contains("field=Signature1")
            && lines[0].contains("intact=True valid=True trusted=True")
            && lines[0].contains("timestamp[intact=True valid=True trusted=True]"),
        "{hanko}"
    );
    assert!(
        lines[1].contains("field=Signature2")
            && lines[1].contains("intact=True valid=True trusted=True coverage=ENTIRE_FILE"),
        "{hanko}"
    );
}

#[test]
fn what_cannot_be_signed_is_refused() {
    let pki = Pki::new();
    let signer = pki.signer(KeyType::P256);
    let prepare = |pdf: &[u8]| {
        pades::prepare(
            pdf,
            signer,
            HashAlgorithm::Sha256,
            Level::BB,
            SystemTime::now(),
        )
    };
    let invalid = |r: Result<PadesPrepared, DocError>, what: &str| match r {
        Err(DocError::InvalidDocument(m)) => m,
        other => panic!("{what}: {other:?}"),
    };
    invalid(prepare(b"<html>not a pdf</html>"), "HTML");
    invalid(prepare(b""), "empty");
    invalid(
        prepare(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog"),
        "truncated",
    );
    let mut cut = make_pdf(1, false);
    cut.truncate(cut.len() / 2);
    invalid(prepare(&cut), "cut in half");

    // Cross-reference data that had to be rebuilt: an update's /Prev
    // would point at nothing.
    let mut broken = make_pdf(1, false);
    let at = broken
        .windows(b"\nxref\n".len())
        .rposition(|w| w == b"\nxref\n")
        .unwrap();
    broken[at + 1..at + 5].copy_from_slice(b"xxxx");
    let m = invalid(prepare(&broken), "broken xref");
    assert!(m.contains("cross-reference"), "{m}");

    // Certified with no changes permitted (DocMDP P 1).
    let m = invalid(prepare(&certified_pdf(1)), "DocMDP 1");
    assert!(m.contains("DocMDP"), "{m}");
    assert!(
        prepare(&certified_pdf(2)).is_ok(),
        "DocMDP 2 allows signing"
    );

    // Encrypted, with a user password and without one (lopdf decrypts
    // that one when it reads it).
    for user_password in ["user", ""] {
        let m = invalid(prepare(&encrypted_pdf(user_password)), "encrypted");
        assert!(m.contains("encrypted"), "{m}");
    }
}

/// A PDF whose catalog names a DocMDP certification signature with
/// permission `p` (the signature itself is a stand-in: only the
/// permission is read).
fn certified_pdf(p: i64) -> Vec<u8> {
    use lopdf::{Object, dictionary};
    let mut doc = lopdf::Document::load_mem(&make_pdf(1, false)).unwrap();
    let sig = doc.add_object(dictionary! {
        "Type" => "Sig",
        "Filter" => "Adobe.PPKLite",
        "SubFilter" => "ETSI.CAdES.detached",
        "Reference" => vec![Object::Dictionary(dictionary! {
            "Type" => "SigRef",
            "TransformMethod" => "DocMDP",
            "TransformParams" => dictionary! { "Type" => "TransformParams", "P" => p, "V" => "1.2" },
        })],
    });
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    doc.get_dictionary_mut(root)
        .unwrap()
        .set("Perms", dictionary! { "DocMDP" => sig });
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A PDF encrypted by lopdf (RC4, 128-bit).
fn encrypted_pdf(user_password: &str) -> Vec<u8> {
    use lopdf::encryption::{EncryptionState, EncryptionVersion, Permissions};
    let mut doc = lopdf::Document::load_mem(&make_pdf(1, false)).unwrap();
    let id = lopdf::Object::String(vec![0x5a; 16], lopdf::StringFormat::Hexadecimal);
    doc.trailer.set("ID", vec![id.clone(), id]);
    let version = EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: Permissions::all(),
    };
    let state = EncryptionState::try_from(version).unwrap();
    doc.encrypt(&state).unwrap();
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

#[test]
fn the_level_decides_the_time_stamp_and_the_reservation_holds() {
    let pki = Pki::new();
    let key = KeyType::P256;
    let hash = HashAlgorithm::Sha256;
    let pdf = make_pdf(1, false);

    let bt = pades::prepare(&pdf, pki.signer(key), hash, Level::BT, SystemTime::now()).unwrap();
    let sig = pki.sign(key, hash, bt.to_be_signed_hash());
    assert!(matches!(
        bt.finish(&sig, None),
        Err(DocError::InvalidInput(_))
    ));
    let bb = pades::prepare(&pdf, pki.signer(key), hash, Level::BB, SystemTime::now()).unwrap();
    let sig = pki.sign(key, hash, bb.to_be_signed_hash());
    let token = pki.timestamp(&sig);
    assert!(matches!(
        bb.finish(&sig, Some(&token)),
        Err(DocError::InvalidInput(_))
    ));
    assert!(bt.reserved() > bb.reserved() + 16 * 1024 - 256);

    // A time-stamp token larger than the reservation is refused, not cut.
    let small = pades::prepare_with(
        &pdf,
        pki.signer(key),
        hash,
        Level::BT,
        SystemTime::now(),
        &PadesOptions {
            timestamp_reserve: 64,
        },
    )
    .unwrap();
    let sig = pki.sign(key, hash, small.to_be_signed_hash());
    let token = pki.timestamp(&sig);
    match small.finish(&sig, Some(&token)) {
        Err(DocError::Timestamp(m)) => assert!(m.contains("reserved"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A signature by another key.
    let wrong = pki.sign(KeyType::Rsa2048, hash, small.to_be_signed_hash());
    assert!(matches!(
        small.finish(&wrong, Some(&token)),
        Err(DocError::BadSignature(_))
    ));
}

/// Not a benchmark: how long preparing and finishing 100 PAdES-B-B
/// documents takes (the stand-in SAM's signing not counted), printed for
/// the record (`cargo test --release -p sam-docsign --test pades --
/// --nocapture throughput`).
#[test]
fn throughput_of_100_documents() {
    let pki = Pki::new();
    let key = KeyType::P256;
    let hash = HashAlgorithm::Sha256;
    let signer = pki.signer(key);
    for (name, pdf) in [
        ("1 page", make_pdf(1, false)),
        ("3 pages, xref stream", make_pdf(3, true)),
    ] {
        let (mut preparing, mut finishing) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        let mut bytes = 0;
        for _ in 0..100 {
            let t = Instant::now();
            let prepared =
                pades::prepare(&pdf, signer, hash, Level::BB, SystemTime::now()).unwrap();
            preparing += t.elapsed();
            let sig = pki.sign(key, hash, prepared.to_be_signed_hash());
            let t = Instant::now();
            let signed = prepared.finish(&sig, None).unwrap();
            finishing += t.elapsed();
            bytes += signed.len();
        }
        println!(
            "PAdES-B-B x100 ({name}, {} -> {} bytes): prepare {:.1} ms, finish {:.1} ms, \
             total {:.1} ms ({:.2} ms per document)",
            pdf.len(),
            bytes / 100,
            preparing.as_secs_f64() * 1e3,
            finishing.as_secs_f64() * 1e3,
            (preparing + finishing).as_secs_f64() * 1e3,
            (preparing + finishing).as_secs_f64() * 1e3 / 100.0
        );
    }
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Document signing end to end (seed §7.3, the SAK REST interface): a
//! real samd with `[csc]` and `[sak]` enabled, the real firmware on the
//! simulator, the dev IdP and dev TSA over HTTP, the signer's
//! environment made with our own client library — and every container
//! checked by a verifier nobody here wrote (`openssl cms`, `pdfsig`,
//! `xmlsec1`, `openssl smime`). Then every refusal the service answers,
//! and the firmware's refusal of a SAD the service never saw used.

#[path = "csc/bench.rs"]
mod bench;
mod support;
#[path = "csc/verify.rs"]
mod verify;

use bench::Bench;
use sam_docsign::client::{SakClient, SakClientError, approve, document};
use sam_docsign::wire::{CreateRequest, Document, HashAlgorithmRef, KeyObject, ProofReport};
use sam_harness::documents::lopdf;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use verify::run;

/// The `[sak]` section: chain and TSA from the dev PKI and dev IdP.
fn sak_section(b_extra: &str) -> String {
    format!(
        "\n[sak]\nenabled = true\nsad_wait_secs = 20\nchain_certificates = [\"{{ca_pem}}\"]\ntsa_url = \"{{idp_url}}/tsa\"\ntsa_trust_anchors = [\"{{ca_pem}}\"]\n{b_extra}\n"
    )
}

async fn start(extra: &str) -> Bench {
    Bench::start(&sak_section(extra)).await
}

fn client(b: &Bench) -> Arc<SakClient> {
    let ca = b.deployment.pki().path(sam_devpki::files::TLS_CA_CERT);
    Arc::new(
        SakClient::new(
            &format!("https://localhost:{}", b.csc_port),
            &ca,
            Duration::from_secs(60),
        )
        .unwrap(),
    )
}

/// A two-page PDF written by lopdf.
fn pdf() -> Vec<u8> {
    pdf_with(|_| {})
}

/// [`pdf`] with `extra` added to the catalog.
fn pdf_with(extra: impl FnOnce(&mut lopdf::Dictionary)) -> Vec<u8> {
    sam_harness::documents::pdf_with(&["Contract, page 1", "Contract, page 2"], extra).unwrap()
}

const XML: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<invoice number=\"2026-117\"><to>ACME &amp; Sons</to><total currency=\"EUR\">1290.00</total></invoice>\n";
const TEXT: &[u8] = b"Minutes of the board meeting, 3 December 2026.\nAll resolutions passed.\n";

fn sha256() -> HashAlgorithmRef {
    HashAlgorithmRef {
        oid: Some("2.16.840.1.101.3.4.2.1".into()),
        name: None,
    }
}

fn create(
    key_object: &KeyObject,
    documents: &[Document],
    report: Option<ProofReport>,
    format: &str,
) -> CreateRequest {
    CreateRequest {
        key_object: key_object.clone(),
        documents: documents.to_vec(),
        proof_report: report,
        hash_algorithm: sha256(),
        signature_container_format: format.into(),
    }
}

/// `create-signatures` in the background: it answers once the SAD came.
fn spawn_create(
    sak: &Arc<SakClient>,
    request: CreateRequest,
) -> tokio::task::JoinHandle<Result<BTreeMap<String, Vec<u8>>, SakClientError>> {
    let sak = Arc::clone(sak);
    tokio::spawn(async move { sak.create_signatures(&request).await })
}

fn signing_ca(b: &Bench) -> PathBuf {
    b.deployment.pki().path(sam_devpki::files::CA_CERT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sad_signs_a_pdf_an_xml_file_and_a_text_file_and_outside_verifiers_accept_them() {
    let b = start("").await;
    let sak = client(&b);
    let dir = tempfile::tempdir().unwrap();
    let ca = signing_ca(&b);
    let certificate = b.certificate(b.signer, b.ec).await;
    let pdf = pdf();
    let mine: [(&str, &[u8]); 3] = [("contract", &pdf), ("invoice", XML), ("minutes", TEXT)];
    let documents = vec![
        document("contract", "contract.pdf", &pdf, Some("PAdES-B-T")),
        document("invoice", "invoice.xml", XML, Some("XAdES-B-T")),
        document("minutes", "minutes.txt", TEXT, None),
    ];

    // The signer's environment: a SAD key and a token binding it; the
    // SAK opens a process for the key.
    let (sad_key, token) = b.sad_token(b.signer).await;
    let key_object = sak.open(&token, b.ec, &certificate).await.unwrap();
    assert_eq!(key_object.key_id, b.ec.to_string());

    // The trusted checker passes all three and names their types.
    let report = sak.check(&documents).await.unwrap();
    let types: BTreeMap<&str, &str> = report
        .checked_documents
        .iter()
        .map(|c| (c.document_id.as_str(), c.mime_type.as_str()))
        .collect();
    assert_eq!(
        types,
        BTreeMap::from([
            ("contract", "application/pdf"),
            ("invoice", "application/xml"),
            ("minutes", "text/plain")
        ])
    );
    assert!(report.checked_documents.iter().all(|c| c.proof_result));

    // create-signatures waits; the signer's environment reads the
    // SAD-TBS, checks it against its documents, signs it.
    let request = create(&key_object, &documents, Some(report), "CAdES-B-T");
    let waiting = spawn_create(&sak, request);
    let sad_data = sak
        .sad_data(&key_object.uuid, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(sad_data.documents.len(), 3);
    // A signer's environment refuses a SAD-TBS over another document.
    let other: [(&str, &[u8]); 3] = [
        ("contract", &pdf),
        ("invoice", XML),
        ("minutes", b"changed"),
    ];
    assert!(approve(&sad_data, &other, &sad_key).is_err());
    let (signature, sad) = approve(&sad_data, &mine, &sad_key).unwrap();
    sak.send_sad_signature(&key_object.uuid, &signature)
        .await
        .unwrap();
    let containers = waiting.await.unwrap().unwrap();
    assert_eq!(containers.len(), 3);

    // CAdES-B-T: openssl verifies it, and it carries a time-stamp.
    let (ok, out) = verify::cades(dir.path(), &ca, &containers["minutes"], TEXT);
    println!(
        "openssl cms -verify (minutes.txt, CAdES-B-T): {}",
        out.trim()
    );
    assert!(ok && out.contains("Verification successful"), "{out}");
    let printed = verify::cms_print(dir.path(), &containers["minutes"]);
    assert!(printed.contains("id-smime-aa-timeStampToken"), "{printed}");
    let (ok, out) = verify::cades(dir.path(), &ca, &containers["minutes"], b"changed");
    assert!(!ok, "openssl accepted a changed document: {out}");

    // PAdES-B-T: pdfsig says valid and the whole document signed; the
    // original bytes are the signed PDF's prefix (an incremental update).
    let signed_pdf = &containers["contract"];
    assert!(signed_pdf.starts_with(&pdf));
    let (ok, out) = verify::pades(dir.path(), signed_pdf);
    println!("pdfsig (contract.pdf, PAdES-B-T):\n{out}");
    assert!(ok, "{out}");
    assert!(out.contains("Signature is Valid"), "{out}");
    assert!(out.contains("ETSI.CAdES.detached"), "{out}");
    assert!(out.contains("Total document signed"), "{out}");
    let mut edited = signed_pdf.clone();
    let at = pdf.len() / 2;
    edited[at] ^= 0x01;
    let (_, out) = verify::pades(dir.path(), &edited);
    assert!(
        !out.contains("Signature is Valid"),
        "pdfsig accepted an edited PDF: {out}"
    );

    // XAdES-B-T: xmlsec1 verifies it.
    let (ok, out) = verify::xades(dir.path(), &ca, &containers["invoice"]);
    println!("xmlsec1 --verify (invoice.xml, XAdES-B-T): {}", out.trim());
    assert!(ok && out.contains("OK"), "{out}");

    // The process is finished: the SAD cannot be used again, neither at
    // the service (no prepared batch has it) nor at the firmware, which
    // refuses it as replayed when it goes straight to samd's /signing.
    let again = sak.basic_sign(&sad).await.unwrap_err();
    assert!(
        matches!(&again, SakClientError::Refused { status: 404, reason, .. } if reason == "not_found"),
        "{again}"
    );
    let fw = b.ssa().sign_sad(&sad).await.unwrap_err();
    assert!(fw.to_string().contains("ReplayedSad"), "{fw}");

    // The metrics count the SAK operations.
    let metrics = b.metrics().await;
    for op in [
        "sak_key",
        "sak_check_documents",
        "sak_create_signatures",
        "sak_sad_data",
        "sak_sad_signature",
        "sak_basic_sign",
    ] {
        assert!(metrics.contains(op), "{op} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_sign_answers_every_format_and_csc_timestamps_verify() {
    let b = start("").await;
    let sak = client(&b);
    let dir = tempfile::tempdir().unwrap();
    let ca = signing_ca(&b);
    let certificate = b.certificate(b.signer, b.ec).await;
    let mail = b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe aus dem Vorstand.\n".to_vec();
    let pdf = pdf();
    let documents = vec![
        document("env", "a.txt", TEXT, Some("CAdES-B-B-enveloping")),
        document("det", "b.txt", TEXT, Some("CAdES-B-B")),
        document("pdf", "c.pdf", &pdf, Some("PAdES-B-B")),
        document("mail", "d.eml", &mail, Some("S/MIME")),
    ];
    let mine: [(&str, &[u8]); 4] = [("env", TEXT), ("det", TEXT), ("pdf", &pdf), ("mail", &mail)];
    let (sad_key, token) = b.sad_token(b.signer).await;
    let key_object = sak.open(&token, b.ec, &certificate).await.unwrap();
    let report = sak.check(&documents).await.unwrap();
    let request = create(&key_object, &documents, Some(report), "CAdES-B-B");
    let waiting = spawn_create(&sak, request);
    let sad_data = sak
        .sad_data(&key_object.uuid, Duration::from_secs(20))
        .await
        .unwrap();
    let (_, sad) = approve(&sad_data, &mine, &sad_key).unwrap();
    // The remote SAK's path: the complete SAD, the containers back — and
    // the waiting create-signatures call gets the same.
    let containers = sak.basic_sign(&sad).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), containers);

    let (ok, out) = verify::cades(dir.path(), &ca, &containers["det"], TEXT);
    assert!(ok, "{out}");
    // Enveloping: openssl finds the content inside.
    let env = dir.path().join("env.p7s");
    std::fs::write(&env, &containers["env"]).unwrap();
    let content = dir.path().join("env.out");
    let (ok, out) = run(Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in",
        ])
        .arg(&env)
        .arg("-CAfile")
        .arg(&ca)
        .arg("-out")
        .arg(&content));
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(&content).unwrap(), TEXT);
    let (ok, out) = verify::pades(dir.path(), &containers["pdf"]);
    assert!(ok && out.contains("Signature is Valid"), "{out}");
    // S/MIME: openssl smime verifies the multipart/signed message.
    let eml = dir.path().join("signed.eml");
    std::fs::write(&eml, &containers["mail"]).unwrap();
    let (ok, out) = run(Command::new("openssl")
        .args([
            "smime",
            "-verify",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
            "-in",
        ])
        .arg(&eml)
        .arg("-CAfile")
        .arg(&ca));
    println!("openssl smime -verify (d.eml): {}", out.trim());
    assert!(ok && out.contains("Verification successful"), "{out}");

    // CSC signatures/timestamp on the same TSA: listed in info, a token
    // over the client's hash with the client's nonce, which openssl ts
    // verifies; v1 takes hashAlgo.
    let bearer = b.bearer(b.signer);
    let info = b.post("/csc/v2/info", None, &json!({})).await.ok();
    assert!(
        info["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("signatures/timestamp")),
        "{info}"
    );
    let digest = sam_client::verify::digest(sam_proto::ids::HashAlgorithm::Sha256, TEXT);
    let text = dir.path().join("stamped.txt");
    std::fs::write(&text, TEXT).unwrap();
    for (v, alg_key) in [("v2", "hashAlgorithmOID"), ("v1", "hashAlgo")] {
        let answer = b
            .post(
                &format!("/csc/{v}/signatures/timestamp"),
                Some(&bearer),
                &json!({"hash": bench::b64(&digest), alg_key: "2.16.840.1.101.3.4.2.1", "nonce": "0badc0ffee"}),
            )
            .await
            .ok();
        let token = dir.path().join(format!("{v}.tst"));
        std::fs::write(&token, bench::unb64(&answer["timestamp"])).unwrap();
        let (ok, out) = run(Command::new("openssl")
            .args(["ts", "-verify", "-token_in", "-in"])
            .arg(&token)
            .arg("-data")
            .arg(&text)
            .arg("-CAfile")
            .arg(&ca));
        println!(
            "openssl ts -verify (CSC {v} signatures/timestamp): {}",
            out.trim()
        );
        assert!(ok && out.contains("Verification: OK"), "{out}");
        let (_, printed) = run(Command::new("openssl")
            .args(["ts", "-reply", "-token_in", "-text", "-in"])
            .arg(&token));
        assert!(printed.to_lowercase().contains("badc0ffee"), "{printed}");
    }
    let r = b
        .post(
            "/csc/v2/signatures/timestamp",
            Some(&bearer),
            &json!({"hash": bench::b64(&digest), "hashAlgorithmOID": "1.2.3"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    let r = b
        .post(
            "/csc/v2/signatures/timestamp",
            Some(&bearer),
            &json!({"hash": "AAAA", "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    let r = b
        .post(
            "/csc/v2/signatures/timestamp",
            None,
            &json!({"hash": bench::b64(&digest), "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (401, json!("invalid_token"))
    );
}

fn refused(r: &SakClientError, status: u16, reason: &str, message_has: &str) {
    match r {
        SakClientError::Refused {
            status: s,
            reason: why,
            message,
        } => {
            assert_eq!((*s, why.as_str()), (status, reason), "{message}");
            assert!(
                message.contains(message_has),
                "{message:?} lacks {message_has:?}"
            );
        }
        other => panic!("not a refusal: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_of_the_service_and_the_firmware() {
    // A TSA that is not there, short waits, small limits.
    let b = Bench::start(
        "\n[sak]\nenabled = true\nsad_wait_secs = 3\nmax_open_processes = 4\nmax_document_bytes = 200000\ntsa_url = \"http://127.0.0.1:9/tsa\"\ntsa_trust_anchors = [\"{ca_pem}\"]\n",
    )
    .await;
    let sak = client(&b);
    let certificate = b.certificate(b.signer, b.ec).await;
    let rsa_certificate = b.certificate(b.signer, b.rsa).await;
    let (sad_key, token) = b.sad_token(b.signer).await;
    let text = [document("t", "t.txt", TEXT, None)];

    // /smartcard/remote-signature/key.
    let e = sak
        .open(b"not a token", b.ec, &certificate)
        .await
        .unwrap_err();
    refused(&e, 401, "invalid_token", "idToken");
    let login = b.bearer(b.signer);
    let login = bench::unb64(&json!(login.strip_prefix("Bearer ").unwrap()));
    let e = sak.open(&login, b.ec, &certificate).await.unwrap_err();
    refused(&e, 401, "invalid_token", "no SAD key");
    let e = sak
        .open(&token, b.other_ec, &certificate)
        .await
        .unwrap_err();
    refused(
        &e,
        400,
        "invalid_request",
        "not a signer key of the token's user",
    );
    let e = sak.open(&token, b.ec, &rsa_certificate).await.unwrap_err();
    refused(&e, 400, "invalid_request", "not the one registered");

    // The trusted checker refuses a PDF with JavaScript, and
    // create-signatures refuses it with the checker's reason.
    let js_pdf = pdf_with(|c| {
        c.set(
            "OpenAction",
            lopdf::dictionary! { "S" => "JavaScript", "JS" => lopdf::Object::string_literal("app.alert(1)") },
        );
    });
    let js = [document("js", "js.pdf", &js_pdf, Some("PAdES-B-B"))];
    let report = sak.check(&js).await.unwrap();
    assert!(!report.checked_documents[0].proof_result);
    let ko = sak.open(&token, b.ec, &certificate).await.unwrap();
    let e = sak
        .create_signatures(&create(&ko, &js, Some(report), "PAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 400, "document_refused", "JavaScript");

    // Reports: missing, altered, of other bytes.
    let report = sak.check(&text).await.unwrap();
    let e = sak
        .create_signatures(&create(&ko, &text, None, "CAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 400, "invalid_request", "proofReport is required");
    let mut altered = report.clone();
    altered.creation_time += 1;
    let e = sak
        .create_signatures(&create(&ko, &text, Some(altered), "CAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 400, "invalid_request", "altered");
    let swapped = [document("t", "t.txt", b"other bytes", None)];
    let e = sak
        .create_signatures(&create(&ko, &swapped, Some(report.clone()), "CAdES-B-B"))
        .await
        .unwrap_err();
    refused(
        &e,
        400,
        "invalid_request",
        "not the one the proofReport checked",
    );

    // Formats, hash algorithms, batch and size limits.
    let e = sak
        .create_signatures(&create(&ko, &text, Some(report.clone()), "PAdES-B-LTA"))
        .await
        .unwrap_err();
    refused(
        &e,
        400,
        "invalid_request",
        "unknown signatureContainerFormat",
    );
    let mut md5 = create(&ko, &text, Some(report.clone()), "CAdES-B-B");
    md5.hash_algorithm = HashAlgorithmRef {
        oid: None,
        name: Some("MD5".into()),
    };
    let e = sak.create_signatures(&md5).await.unwrap_err();
    refused(&e, 400, "invalid_request", "unsupported hash algorithm");
    let many: Vec<Document> = (0..129)
        .map(|i| document(&i.to_string(), "t.txt", TEXT, None))
        .collect();
    let e = sak
        .create_signatures(&create(&ko, &many, None, "CAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 400, "invalid_request", "batch limit");
    let big = [document("big", "big.txt", &vec![b'a'; 200_001], None)];
    let e = sak
        .create_signatures(&create(&ko, &big, None, "CAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 413, "too_large", "200000");
    // A PDF format for a text file: the format refuses the document.
    let e = sak
        .create_signatures(&create(&ko, &text, Some(report.clone()), "PAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 400, "document_refused", "\"t\"");

    // -B-T with a TSA that does not answer: prepared, signed by the
    // firmware, and then refused as timestamp_failed.
    let ko_t = sak.open(&token, b.ec, &certificate).await.unwrap();
    let waiting = spawn_create(
        &sak,
        create(&ko_t, &text, Some(report.clone()), "CAdES-B-T"),
    );
    let data = sak
        .sad_data(&ko_t.uuid, Duration::from_secs(10))
        .await
        .unwrap();
    let (signature, _) = approve(&data, &[("t", TEXT)], &sad_key).unwrap();
    let e = sak
        .send_sad_signature(&ko_t.uuid, &signature)
        .await
        .unwrap_err();
    refused(&e, 502, "timestamp_failed", "");
    refused(
        &waiting.await.unwrap().unwrap_err(),
        502,
        "timestamp_failed",
        "",
    );

    // The process steps: unknown, not prepared yet, prepared twice, a bad
    // SAD signature (refused, nothing spent), no SAD in time.
    let e = sak
        .sad_data("00000000-0000-4000-8000-000000000000", Duration::ZERO)
        .await
        .unwrap_err();
    refused(&e, 404, "not_found", "no such remote signature process");
    // The firmware makes the identity token single use: a new batch
    // needs a new token (and SAD key).
    let (sad_key, token) = b.sad_token(b.signer).await;
    let ko2 = sak.open(&token, b.ec, &certificate).await.unwrap();
    let e = sak.sad_data(&ko2.uuid, Duration::ZERO).await.unwrap_err();
    refused(&e, 409, "wrong_stage", "no documents");
    let waiting = spawn_create(&sak, create(&ko2, &text, Some(report.clone()), "CAdES-B-B"));
    let data = sak
        .sad_data(&ko2.uuid, Duration::from_secs(10))
        .await
        .unwrap();
    let e = sak
        .create_signatures(&create(&ko2, &text, Some(report.clone()), "CAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 409, "wrong_stage", "already prepared");
    let (signature, sad) = approve(&data, &[("t", TEXT)], &sad_key).unwrap();
    let mut bad = signature.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let e = sak.send_sad_signature(&ko2.uuid, &bad).await.unwrap_err();
    refused(&e, 400, "invalid_request", "SAD signature does not verify");

    // The firmware's own single use: the SAD goes to samd's /signing
    // first (as a compromised SAK could send it), and the batch the
    // service still holds for it is then refused by the firmware.
    b.ssa().sign_sad(&sad).await.unwrap();
    let e = sak
        .send_sad_signature(&ko2.uuid, &signature)
        .await
        .unwrap_err();
    refused(&e, 500, "signing_refused", "ReplayedSad");
    refused(
        &waiting.await.unwrap().unwrap_err(),
        500,
        "signing_refused",
        "ReplayedSad",
    );

    // No SAD within sad_wait_secs.
    let ko3 = sak.open(&token, b.ec, &certificate).await.unwrap();
    let e = sak
        .create_signatures(&create(&ko3, &text, Some(report.clone()), "CAdES-B-B"))
        .await
        .unwrap_err();
    refused(&e, 504, "sad_timeout", "3 s");
    let e = sak.sad_data(&ko3.uuid, Duration::ZERO).await.unwrap_err();
    refused(&e, 404, "not_found", "");

    // The table is bounded: 4 processes at most.
    let mut open = Vec::new();
    let busy = loop {
        match sak.open(&token, b.ec, &certificate).await {
            Ok(k) => open.push(k),
            Err(e) => break e,
        }
        assert!(open.len() <= 4, "more than max_open_processes");
    };
    refused(&busy, 503, "busy", "too many");

    // CSC signatures/timestamp with a TSA that does not answer.
    let digest = sam_client::verify::digest(sam_proto::ids::HashAlgorithm::Sha256, TEXT);
    let r = b
        .post(
            "/csc/v2/signatures/timestamp",
            Some(&b.bearer(b.signer)),
            &json!({"hash": bench::b64(&digest), "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (503, json!("temporarily_unavailable")),
        "{}",
        r.json()
    );

    // Routing and bodies.
    let raw = |method: &'static str, path: &'static str, body: &'static [u8]| {
        let b = &b;
        async move { b.raw(method, path, None, body.to_vec()).await }
    };
    let r = raw("GET", "/smartcard/remote-signature/key", b"").await;
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (405, json!("method_not_allowed"))
    );
    let r = raw("POST", "/digest/nothing/here", b"{}").await;
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (404, json!("not_found"))
    );
    let r = raw("POST", "/trusted-checker/check-documents", b"{not json").await;
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (400, json!("invalid_request"))
    );
    assert_eq!(r.json()["exception"], "SecureFrameworkException");
    let r = raw("POST", "/trusted-checker/check-document", b"{}").await;
    assert_eq!(r.status, 400, "{}", r.json());
}

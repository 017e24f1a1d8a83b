#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! CSC `signatures/signDoc` end to end: a real samd with `[csc]` and
//! `[sak]` enabled, the real firmware on the simulator, the dev IdP and
//! dev TSA over HTTP. The signer's environment computes the to-be-signed
//! hashes of its documents (with `sam_docsign::signdoc`), makes the seed
//! SAD over them and authorizes them with `credentials/authorize`; then
//! `signDoc` with the documents, and every container is checked by a
//! verifier nobody here wrote (`pdfsig`, `xmlsec1`, `openssl cms`). Then
//! the refusals, each a CSC error.

#[path = "csc/bench.rs"]
mod bench;
mod support;
#[path = "csc/verify.rs"]
mod verify;

use bench::{Bench, ECDSA_SHA256, ID_SHA256, b64, unb64};
use sam_devpki::unix_now;
use sam_docsign::SignerCert;
use sam_docsign::signdoc::{
    Limits, SignDocDigests, SignDocDocument, SignDocRequest, SignedProp, generalized_time,
    to_be_signed_hashes,
};
use sam_proto::command::MAX_HASHES;
use sam_proto::ids::HashAlgorithm;
use serde_json::{Value, json};

/// The document limit of these tests' samd (small, so that a document
/// near it and one just over it are quick).
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// `[sak]` with the dev PKI's chain, and the dev TSA unless `tsa` is false.
fn sak_section(tsa: bool) -> String {
    let tsa = if tsa {
        "tsa_url = \"{idp_url}/tsa\"\ntsa_trust_anchors = [\"{ca_pem}\"]\n"
    } else {
        ""
    };
    format!(
        "\n[sak]\nenabled = true\nmax_document_bytes = {MAX_DOCUMENT_BYTES}\nchain_certificates = [\"{{ca_pem}}\"]\n{tsa}"
    )
}

const XML: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<invoice number=\"2026-118\"><to>ACME &amp; Sons</to><total currency=\"EUR\">990.00</total></invoice>\n";
const TEXT: &[u8] = b"Minutes of the board meeting, 4 December 2026.\nAll resolutions passed.\n";

fn pdf() -> Vec<u8> {
    sam_harness::documents::pdf(&["Order, page 1", "Order, page 2"]).unwrap()
}

fn signing_time() -> Option<Vec<SignedProp>> {
    Some(vec![SignedProp {
        attribute_name: "signing-time".into(),
        attribute_value: generalized_time(unix_now()),
    }])
}

/// A `documents[]` entry signed with the EC key, SHA-256.
fn doc(data: &[u8], format: &str, level: &str) -> SignDocDocument {
    SignDocDocument {
        document: b64(data),
        signature_format: format.into(),
        conformance_level: Some(level.into()),
        sign_algo: ECDSA_SHA256.into(),
        sign_algo_params: None,
        signed_props: signing_time(),
        signed_envelope_property: None,
    }
}

fn request(b: &Bench, documents: Vec<SignDocDocument>) -> SignDocRequest {
    SignDocRequest {
        credential_id: b.ec.to_string(),
        sad: None,
        documents: Some(documents),
        document_digests: None,
        operation_mode: None,
        client_data: None,
    }
}

fn digests(b: &Bench, hashes: &[Vec<u8>], level: &str) -> SignDocRequest {
    SignDocRequest {
        document_digests: Some(vec![SignDocDigests {
            hashes: hashes.iter().map(|h| b64(h)).collect(),
            hash_algorithm_oid: ID_SHA256.into(),
            signature_format: "C".into(),
            conformance_level: Some(level.into()),
            sign_algo: ECDSA_SHA256.into(),
            sign_algo_params: None,
            signed_props: signing_time(),
            signed_envelope_property: None,
        }]),
        documents: None,
        ..request(b, Vec::new())
    }
}

/// The EC credential's certificate and chain, as `credentials/info`
/// lists them.
async fn signer(b: &Bench) -> SignerCert {
    let info = b
        .post(
            "/csc/v2/credentials/info",
            Some(&b.bearer(b.signer)),
            &json!({"credentialID": b.ec.to_string(), "certificates": "chain"}),
        )
        .await
        .ok();
    let mut certs: Vec<Vec<u8>> = info["cert"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(unb64)
        .collect();
    assert!(certs.len() >= 2, "{info}");
    let certificate = certs.remove(0);
    SignerCert {
        certificate,
        chain: certs,
    }
}

/// The signer's environment: the to-be-signed hashes of `req`, a seed
/// SAD over them, `credentials/authorize`; `req` with the handle.
async fn authorize(b: &Bench, mut req: SignDocRequest) -> SignDocRequest {
    let signer = signer(b).await;
    let hashes = to_be_signed_hashes(
        req.clone(),
        &signer,
        HashAlgorithm::Sha256,
        &Limits {
            max_document_bytes: MAX_DOCUMENT_BYTES,
            timestamps: true,
            now: unix_now(),
        },
    )
    .unwrap();
    let seed = b
        .seed_sad(b.signer, b.ec, HashAlgorithm::Sha256, &hashes)
        .await;
    let auth = b
        .authorize_v2(&b.bearer(b.signer), b.ec, ID_SHA256, &hashes, &seed)
        .await
        .ok();
    req.sad = Some(auth["SAD"].as_str().unwrap().to_owned());
    req
}

async fn sign_doc(b: &Bench, req: &SignDocRequest) -> support::Resp {
    b.post(
        "/csc/v2/signatures/signDoc",
        Some(&b.bearer(b.signer)),
        &serde_json::to_value(req).unwrap(),
    )
    .await
}

/// A CSC error: status, `error`, and a description containing `has`.
fn refused(r: &support::Resp, status: u16, error: &str, has: &str) {
    let body = r.json();
    assert_eq!(r.status, status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.contains(has), "{d:?} lacks {has:?}");
}

fn methods(info: &Value) -> Vec<String> {
    info["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_doc_signs_a_pdf_an_xml_file_a_text_and_digests_and_refuses_the_rest() {
    let b = Bench::start(&sak_section(true)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = b.deployment.pki().path(sam_devpki::files::CA_CERT);

    // info: v2 lists signDoc with the document service; v1 has none.
    let v2 = b.post("/csc/v2/info", None, &json!({})).await.ok();
    assert!(
        methods(&v2).contains(&"signatures/signDoc".to_owned()),
        "{v2}"
    );
    let v1 = b.post("/csc/v1/info", None, &json!({})).await.ok();
    assert!(!methods(&v1).iter().any(|m| m.contains("signDoc")), "{v1}");

    // One authorization, three documents, three formats, all -B-T.
    let pdf = pdf();
    let req = authorize(
        &b,
        request(
            &b,
            vec![
                doc(&pdf, "P", "Ades-B-T"),
                doc(XML, "X", "Ades-B-T"),
                doc(TEXT, "C", "Ades-B-T"),
            ],
        ),
    )
    .await;
    let answer = sign_doc(&b, &req).await.ok();
    assert!(answer.get("SignatureObject").is_none(), "{answer}");
    let signed: Vec<Vec<u8>> = answer["DocumentWithSignature"]
        .as_array()
        .unwrap()
        .iter()
        .map(unb64)
        .collect();
    assert_eq!(signed.len(), 3);

    // PAdES-B-T: pdfsig says valid, whole document, and sees an edit.
    assert!(signed[0].starts_with(&pdf));
    let (ok, out) = verify::pades(dir.path(), &signed[0]);
    println!("pdfsig (signDoc P Ades-B-T):\n{out}");
    assert!(ok && out.contains("Signature is Valid"), "{out}");
    assert!(out.contains("ETSI.CAdES.detached"), "{out}");
    assert!(out.contains("Total document signed"), "{out}");
    let mut edited = signed[0].clone();
    edited[pdf.len() / 2] ^= 0x01;
    let (_, out) = verify::pades(dir.path(), &edited);
    assert!(!out.contains("Signature is Valid"), "{out}");

    // XAdES-B-T (enveloped): xmlsec1 verifies it.
    let (ok, out) = verify::xades(dir.path(), &ca, &signed[1]);
    println!("xmlsec1 --verify (signDoc X Ades-B-T): {}", out.trim());
    assert!(ok && out.contains("OK"), "{out}");

    // CAdES-B-T detached: openssl verifies it over the text, not over
    // another text, and it carries a signature time-stamp.
    let (ok, out) = verify::cades(dir.path(), &ca, &signed[2], TEXT);
    println!("openssl cms -verify (signDoc C Ades-B-T): {}", out.trim());
    assert!(ok && out.contains("Verification successful"), "{out}");
    let (ok, _) = verify::cades(dir.path(), &ca, &signed[2], b"other minutes");
    assert!(!ok);
    let printed = verify::cms_print(dir.path(), &signed[2]);
    assert!(printed.contains("id-smime-aa-timeStampToken"), "{printed}");

    // The authorization is used: the same request again is refused.
    let again = sign_doc(&b, &req).await;
    refused(&again, 400, "invalid_request", "unknown or already used");

    // documentDigests: a detached CAdES-B-B over each digest; openssl
    // verifies it with the content.
    let texts: [&[u8]; 2] = [TEXT, b"Second text.\n"];
    let hashes: Vec<Vec<u8>> = texts
        .iter()
        .map(|t| sam_client::verify::digest(HashAlgorithm::Sha256, t))
        .collect();
    let req = authorize(&b, digests(&b, &hashes, "Ades-B-B")).await;
    let answer = sign_doc(&b, &req).await.ok();
    assert!(answer.get("DocumentWithSignature").is_none(), "{answer}");
    let sigs = answer["SignatureObject"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    for (t, s) in texts.iter().zip(sigs) {
        let (ok, out) = verify::cades(dir.path(), &ca, &unb64(s), t);
        println!(
            "openssl cms -verify (signDoc documentDigests): {}",
            out.trim()
        );
        assert!(ok && out.contains("Verification successful"), "{out}");
    }

    // Refusals that need no authorization leave the handle usable.
    let good = authorize(&b, request(&b, vec![doc(TEXT, "C", "Ades-B-B")])).await;
    let mut unknown = good.clone();
    unknown.documents.as_mut().unwrap()[0].signature_format = "J".into();
    refused(
        &sign_doc(&b, &unknown).await,
        400,
        "invalid_request",
        "documents[0].signature_format",
    );
    let mut level = good.clone();
    level.documents.as_mut().unwrap()[0].conformance_level = Some("Ades-B-LTA".into());
    refused(
        &sign_doc(&b, &level).await,
        400,
        "invalid_request",
        "Ades-B-LTA",
    );
    let mut certification = good.clone();
    certification.documents = Some(vec![SignDocDocument {
        signed_envelope_property: Some("Certification".into()),
        ..doc(&pdf, "P", "Ades-B-B")
    }]);
    refused(
        &sign_doc(&b, &certification).await,
        400,
        "invalid_request",
        "certification signatures",
    );
    // A CAdES-detached document is streamed, but one that looks like a
    // PDF is still checked whole: JavaScript is refused.
    let js_pdf = sam_harness::documents::pdf_with(&["Order"], |c| {
        c.set(
            "OpenAction",
            sam_harness::documents::lopdf::dictionary! { "S" => "JavaScript", "JS" => sam_harness::documents::lopdf::Object::string_literal("app.alert(1)") },
        );
    })
    .unwrap();
    let mut js = good.clone();
    js.documents = Some(vec![doc(&js_pdf, "C", "Ades-B-B")]);
    refused(
        &sign_doc(&b, &js).await,
        400,
        "invalid_request",
        "JavaScript",
    );
    let mut no_time = good.clone();
    no_time.documents.as_mut().unwrap()[0].signed_props = None;
    refused(
        &sign_doc(&b, &no_time).await,
        400,
        "invalid_request",
        "signing-time is required",
    );
    let mut too_many = good.clone();
    too_many.documents = Some(vec![doc(TEXT, "C", "Ades-B-B"); MAX_HASHES + 1]);
    refused(
        &sign_doc(&b, &too_many).await,
        400,
        "invalid_request",
        "the firmware's batch limit",
    );
    // A document just over the limit; nothing of it is signed.
    let mut oversize = good.clone();
    oversize.documents = Some(vec![doc(
        &vec![b'a'; MAX_DOCUMENT_BYTES + 1],
        "C",
        "Ades-B-B",
    )]);
    refused(
        &sign_doc(&b, &oversize).await,
        413,
        "invalid_request",
        "max_document_bytes",
    );
    // The handle survived all of that.
    let answer = sign_doc(&b, &good).await.ok();
    let cms = unb64(&answer["DocumentWithSignature"][0]);
    assert!(verify::cades(dir.path(), &ca, &cms, TEXT).0);

    // A document at the limit is signed.
    let big: Vec<u8> = (0..MAX_DOCUMENT_BYTES)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let req = authorize(&b, request(&b, vec![doc(&big, "C", "Ades-B-B")])).await;
    let answer = sign_doc(&b, &req).await.ok();
    let cms = unb64(&answer["DocumentWithSignature"][0]);
    let (ok, out) = verify::cades(dir.path(), &ca, &cms, &big);
    assert!(ok, "{out}");

    // Another document than the authorized one: refused, and the handle
    // is used up (as with signHash's other hashes).
    let req = authorize(&b, request(&b, vec![doc(TEXT, "C", "Ades-B-B")])).await;
    let mut other = req.clone();
    other.documents.as_mut().unwrap()[0].document = b64(b"not the minutes");
    refused(
        &sign_doc(&b, &other).await,
        400,
        "invalid_request",
        "does not authorize the to-be-signed hash of documents[0]",
    );
    refused(
        &sign_doc(&b, &req).await,
        400,
        "invalid_request",
        "unknown or already used",
    );

    // A signAlgo of another key type: refused.
    let mut req = authorize(&b, request(&b, vec![doc(TEXT, "C", "Ades-B-B")])).await;
    req.documents.as_mut().unwrap()[0].sign_algo = bench::RSA_SHA256.into();
    refused(
        &sign_doc(&b, &req).await,
        400,
        "invalid_request",
        "signAlgo",
    );

    // No bearer: invalid_token.
    let r = b
        .post(
            "/csc/v2/signatures/signDoc",
            None,
            &serde_json::to_value(&good).unwrap(),
        )
        .await;
    refused(&r, 401, "invalid_token", "");

    let metrics = b.metrics().await;
    assert!(
        metrics.contains("csc_v2_signatures_signDoc"),
        "signDoc missing from /metrics"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_doc_without_a_tsa_refuses_b_t_and_signs_b_b() {
    let b = Bench::start(&sak_section(false)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = b.deployment.pki().path(sam_devpki::files::CA_CERT);
    let req = authorize(&b, request(&b, vec![doc(XML, "X", "Ades-B-B")])).await;
    let mut bt = req.clone();
    bt.documents.as_mut().unwrap()[0].conformance_level = Some("Ades-B-T".into());
    refused(
        &sign_doc(&b, &bt).await,
        400,
        "invalid_request",
        "needs a time-stamp authority",
    );
    // B-B still signs under the same authorization.
    let answer = sign_doc(&b, &req).await.ok();
    let (ok, out) = verify::xades(dir.path(), &ca, &unb64(&answer["DocumentWithSignature"][0]));
    assert!(ok && out.contains("OK"), "{out}");
    b.stop().await;
}

/// The OAuth2 flow's credential-scope access token is the handle itself:
/// `signDoc` takes it from the bearer when the request carries no `SAD`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_doc_under_an_oauth2_credential_token() {
    use base64::Engine as _;
    use sam_client::form;
    use sha2::Digest as _;
    let b = Bench::start(&sak_section(false)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = b.deployment.pki().path(sam_devpki::files::CA_CERT);
    let req = request(&b, vec![doc(TEXT, "C", "Ades-B-B")]);
    let hashes = to_be_signed_hashes(
        req.clone(),
        &signer(&b).await,
        HashAlgorithm::Sha256,
        &Limits {
            max_document_bytes: MAX_DOCUMENT_BYTES,
            timestamps: false,
            now: unix_now(),
        },
    )
    .unwrap();

    // The authorization-code flow over the to-be-signed hash.
    let redirect = "http://127.0.0.1:9/callback";
    let verifier = "a-long-enough-pkce-code-verifier-0123456789-abcdefgh";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let details = json!([{"type": "credential", "credentialID": b.ec.to_string(),
            "documentDigests": [{"hash": b64(&hashes[0]), "label": "minutes.txt"}],
            "hashAlgorithmOID": ID_SHA256}])
    .to_string();
    let query = form::encode_pairs([
        ("response_type", "code"),
        ("client_id", "csc-test"),
        ("redirect_uri", redirect),
        ("scope", "credential"),
        ("authorization_details", details.as_str()),
        ("state", "st-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("login_hint", b.signer.to_string().as_str()),
    ]);
    let to_idp = format!("{}/oauth2/authorize?{query}", b.idp_url);
    let (status, back) = bench::http_get(&to_idp).await;
    assert_eq!(status, 302);
    let back = back.unwrap();
    let q = form::parse(back.split_once('?').unwrap().1).unwrap();
    let code = form::get(&q, "code").unwrap().to_owned();
    let body = form::encode_pairs([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "csc-test"),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ]);
    let answer = b
        .raw("POST", "/csc/v2/oauth2/token", None, body.into_bytes())
        .await
        .ok();
    let access = format!("Bearer {}", answer["access_token"].as_str().unwrap());

    let body = serde_json::to_value(&req).unwrap();
    assert!(body.get("SAD").is_none());
    let signed = b
        .post("/csc/v2/signatures/signDoc", Some(&access), &body)
        .await
        .ok();
    let cms = unb64(&signed["DocumentWithSignature"][0]);
    let (ok, out) = verify::cades(dir.path(), &ca, &cms, TEXT);
    assert!(ok, "{out}");
    // Used: the token is no bearer any more.
    let again = b
        .post("/csc/v2/signatures/signDoc", Some(&access), &body)
        .await;
    refused(&again, 401, "invalid_token", "");
    b.stop().await;
}

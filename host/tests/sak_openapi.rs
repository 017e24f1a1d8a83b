#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `host/docsign/openapi.yaml` describes exactly the SAK operations the
//! document-signing service serves, every `reason` and status it answers
//! with, and its wire types (`sam_docsign::wire`), with the checker of
//! samd's own OpenAPI test.

#[path = "support/openapi.rs"]
mod openapi_check;

use openapi_check::{Checker, Coverage, answer, assert_covered, request};
use sam_docsign::SakError;
use sam_docsign::wire::{
    BasicSign, CheckAnswer, CheckDocument, CheckRequest, CreateRequest, Document, HashAlgorithmRef,
    KeyAnswer, KeyObject, KeyRequest, PendingDocument, ProofReport, SadData, SadSignature,
    Signatures,
};
use std::collections::BTreeSet;

const DOC: &str = include_str!("../docsign/openapi.yaml");
const KID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn paths_and_methods_are_the_served_operations() {
    let c = Checker::from_yaml(DOC);
    let mut documented = BTreeSet::new();
    for (path, item) in c.doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = sam_docsign::service::endpoints()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(documented, served);
    // Each documented operation routes to an operation, with its method.
    for (method, path) in &served {
        let concrete = path.replace("{uuid}", KID);
        assert!(
            sam_docsign::service::route(&method.to_uppercase(), &concrete).is_ok(),
            "{method} {path}"
        );
        assert!(sam_docsign::service::serves(&concrete));
    }
}

#[test]
fn every_reason_and_status_is_documented() {
    let c = Checker::from_yaml(DOC);
    let reasons: BTreeSet<&str> =
        c.doc["components"]["schemas"]["Error"]["properties"]["reason"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
    let description = c.doc["info"]["description"].as_str().unwrap();
    let mut used = BTreeSet::new();
    for (reason, status) in SakError::ALL {
        assert!(reasons.contains(reason), "{reason} missing from the schema");
        let row = format!("| {reason} | {status} |");
        assert!(description.contains(&row), "table row {row:?} missing");
        used.insert(reason);
    }
    assert_eq!(
        reasons, used,
        "the schema lists reasons the service never answers"
    );
}

#[test]
fn the_schemas_describe_the_wire_types() {
    let c = Checker::from_yaml(DOC);
    let mut cov = Coverage::default();
    let cov = &mut cov;
    request(
        &c,
        cov,
        "KeyRequest",
        &KeyRequest {
            id_token: s("MII="),
            key_id: s(KID),
            certificate: s("MII="),
        },
    );
    let key_object = KeyObject {
        uuid: s(KID),
        key_id: s(KID),
        certificate: s("MII="),
        expires_at: 1_800_000_000,
    };
    answer(
        &c,
        cov,
        "KeyAnswer",
        &KeyAnswer {
            key_object: key_object.clone(),
        },
    );
    let doc = |format: Option<String>| Document {
        id: s("1"),
        file_name: s("a.pdf"),
        data: s("JVBERi0="),
        signature_container_format: format,
    };
    let entry = CheckDocument {
        document_id: s("1"),
        error_message: s(""),
        hash_value: s("00ff"),
        mime_type: s("application/pdf"),
        proof_result: true,
    };
    let report = ProofReport {
        checked_documents: vec![entry],
        creation_time: 1_800_000_000,
        signature: s("AAA="),
    };
    for (one, many) in [(Some(doc(None)), None), (None, Some(vec![doc(None)]))] {
        request(
            &c,
            cov,
            "CheckRequest",
            &CheckRequest {
                document: one,
                documents: many,
            },
        );
    }
    answer(
        &c,
        cov,
        "CheckAnswer",
        &CheckAnswer {
            proof_report: report.clone(),
        },
    );
    for full in [true, false] {
        request(
            &c,
            cov,
            "CreateRequest",
            &CreateRequest {
                key_object: key_object.clone(),
                documents: vec![doc(full.then(|| s("PAdES-B-T")))],
                proof_report: full.then(|| report.clone()),
                hash_algorithm: HashAlgorithmRef {
                    oid: full.then(|| s("2.16.840.1.101.3.4.2.1")),
                    name: Some(s("SHA-256")),
                },
                signature_container_format: s("CAdES-B-B"),
            },
        );
    }
    answer(
        &c,
        cov,
        "SadData",
        &SadData {
            sad_data: s("MII="),
            documents: vec![PendingDocument {
                id: s("1"),
                file_name: s("a.pdf"),
                format: s("PAdES-B-T"),
                document_hash: s("AAA="),
                to_be_signed_hash: s("AAA="),
            }],
        },
    );
    request(
        &c,
        cov,
        "SadSignature",
        &SadSignature {
            sad_signature: s("MEUC"),
        },
    );
    request(&c, cov, "BasicSign", &BasicSign { sad: s("MII=") });
    answer(
        &c,
        cov,
        "Signatures",
        &Signatures::from([(s("1"), s("MII="))]),
    );
    for (reason, status) in SakError::ALL {
        let e = SakError {
            status,
            reason,
            message: s("why"),
        };
        answer(&c, cov, "Error", &e.body());
    }
    assert_covered(cov);
}

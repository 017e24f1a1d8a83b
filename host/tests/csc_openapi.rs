#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `host/csc/openapi.yaml` describes exactly the CSC endpoints the service
//! serves, every error code and status it answers with, and its wire types
//! (`sam_csc::wire`), with the checker of samd's own OpenAPI test.

#[path = "support/openapi.rs"]
mod openapi_check;

use openapi_check::{Checker, Coverage, answer, assert_covered};
use sam_csc::CscError;
use sam_csc::wire::{
    AuthData, AuthInfoV2, AuthorizeAnswer, AuthorizeRequestV1, AuthorizeRequestV2, CertInfo,
    CredentialDetails, CredentialInfoV1, CredentialInfoV2, DocumentDigest, InfoAnswer, InfoRequest,
    KeyInfo, ListAnswerV1, ListAnswerV2, ListRequest, LoginAnswer, OAuthTokenAnswer, RevokeRequest,
    SignHashAnswer, SignHashRequestV1, SignHashRequestV2, TimestampAnswer, TimestampRequest,
};
use sam_docsign::signdoc::{
    SignDocAnswer, SignDocDigests, SignDocDocument, SignDocRequest, SignedProp,
};
use std::collections::BTreeSet;

const DOC: &str = include_str!("../csc/openapi.yaml");
const KID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";

#[test]
fn paths_and_methods_are_the_served_endpoints() {
    let c = Checker::from_yaml(DOC);
    let mut documented = BTreeSet::new();
    for (path, item) in c.doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = sam_csc::service::endpoints()
        .into_iter()
        .map(|(m, p)| (m.to_owned(), p))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn every_error_code_and_status_is_documented() {
    let c = Checker::from_yaml(DOC);
    let codes: BTreeSet<&str> =
        c.doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
    let description = c.doc["info"]["description"].as_str().unwrap();
    let mut used = BTreeSet::new();
    for (code, status) in CscError::ALL {
        assert!(codes.contains(code), "{code} missing from the schema");
        let row = format!("| {code} | {status} |");
        assert!(description.contains(&row), "table row {row:?} missing");
        used.insert(code);
    }
    assert_eq!(
        codes, used,
        "the schema lists codes the service never answers"
    );
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn the_schemas_describe_the_wire_types() {
    let c = Checker::from_yaml(DOC);
    let mut cov = Coverage::default();
    let cov = &mut cov;
    for oauth2 in [Some(s("https://localhost:8444/csc/v2")), None] {
        answer(
            &c,
            cov,
            "InfoAnswer",
            &InfoAnswer {
                specs: s("2.0.0.2"),
                name: s("SAM"),
                logo: s("https://localhost:8444/csc/logo.png"),
                region: s("EU"),
                lang: s("en-US"),
                description: s("d"),
                auth_type: vec![s("external"), s("oauth2code")],
                oauth2: oauth2.clone(),
                methods: vec![s("credentials/list")],
            },
        );
    }
    answer(
        &c,
        cov,
        "LoginAnswer",
        &LoginAnswer {
            access_token: s("t"),
            expires_in: 60,
        },
    );
    for token in [Some(s("t")), None] {
        answer(
            &c,
            cov,
            "RevokeRequest",
            &RevokeRequest {
                token: token.clone(),
                token_type_hint: token,
            },
        );
    }
    answer(
        &c,
        cov,
        "ListRequest",
        &ListRequest {
            user_id: Some(s(KID)),
            credential_info: Some(true),
            certificates: Some(s("chain")),
            cert_info: Some(true),
            only_valid: Some(false),
            max_results: Some(10),
        },
    );
    answer(&c, cov, "ListRequest", &ListRequest::default());
    let key = |curve: Option<String>| KeyInfo {
        status: s("enabled"),
        algo: vec![s("1.2.840.10045.4.3.2")],
        len: 256,
        curve,
    };
    let full_cert = CertInfo {
        status: Some(s("valid")),
        certificates: Some(vec![s("MII=")]),
        issuer_dn: Some(s("CN=CA")),
        serial_number: Some(s("0A")),
        subject_dn: Some(s("CN=Signer")),
        valid_from: Some(s("20260101000000Z")),
        valid_to: Some(s("20270101000000Z")),
    };
    let sparse_cert = CertInfo::default();
    let v2 = |id: Option<String>, curve, cert: &CertInfo| CredentialInfoV2 {
        credential_id: id,
        description: s(""),
        key: key(curve),
        cert: cert.clone(),
        auth: AuthInfoV2 {
            mode: s("explicit"),
        },
        scal: s("2"),
        multisign: 128,
        lang: s("en-US"),
    };
    let full_v2 = v2(Some(s(KID)), Some(s("1.2.840.10045.3.1.7")), &full_cert);
    answer(&c, cov, "CredentialInfoV2", &full_v2);
    answer(&c, cov, "CredentialInfoV2", &v2(None, None, &sparse_cert));
    for cert in [&full_cert, &sparse_cert] {
        answer(
            &c,
            cov,
            "CredentialInfoV1",
            &CredentialInfoV1 {
                description: s(""),
                key: key(None),
                cert: cert.clone(),
                auth_mode: s("explicit"),
                scal: s("2"),
                multisign: 128,
                lang: s("en-US"),
            },
        );
    }
    for infos in [Some(vec![full_v2.clone()]), None] {
        answer(
            &c,
            cov,
            "ListAnswerV2",
            &ListAnswerV2 {
                credential_ids: vec![s(KID)],
                credential_infos: infos,
            },
        );
    }
    answer(
        &c,
        cov,
        "ListAnswerV1",
        &ListAnswerV1 {
            credential_ids: vec![s(KID)],
        },
    );
    for (certificates, flag) in [(Some(s("single")), Some(true)), (None, None)] {
        answer(
            &c,
            cov,
            "InfoRequest",
            &InfoRequest {
                credential_id: s(KID),
                certificates,
                cert_info: flag,
                auth_info: flag,
            },
        );
    }
    for full in [true, false] {
        answer(
            &c,
            cov,
            "AuthorizeRequestV2",
            &AuthorizeRequestV2 {
                credential_id: s(KID),
                num_signatures: 1,
                hashes: full.then(|| vec![s("AAA=")]),
                hash_algorithm_oid: full.then(|| s("2.16.840.1.101.3.4.2.1")),
                auth_data: full.then(|| {
                    vec![AuthData {
                        id: s("SAD"),
                        value: s("MII="),
                    }]
                }),
            },
        );
        answer(
            &c,
            cov,
            "AuthorizeRequestV1",
            &AuthorizeRequestV1 {
                credential_id: s(KID),
                num_signatures: 1,
                hash: full.then(|| vec![s("AAA=")]),
                client_data: full.then(|| s("MII=")),
            },
        );
        answer(
            &c,
            cov,
            "SignHashRequestV2",
            &SignHashRequestV2 {
                credential_id: s(KID),
                sad: full.then(|| s("h")),
                hashes: vec![s("AAA=")],
                hash_algorithm_oid: full.then(|| s("2.16.840.1.101.3.4.2.1")),
                sign_algo: s("1.2.840.10045.4.3.2"),
            },
        );
        answer(
            &c,
            cov,
            "SignHashRequestV1",
            &SignHashRequestV1 {
                credential_id: s(KID),
                sad: full.then(|| s("h")),
                hash: vec![s("AAA=")],
                hash_algo: full.then(|| s("2.16.840.1.101.3.4.2.1")),
                sign_algo: s("1.2.840.10045.4.3.2"),
            },
        );
    }
    answer(
        &c,
        cov,
        "AuthorizeAnswer",
        &AuthorizeAnswer {
            sad: s("h"),
            expires_in: 300,
        },
    );
    answer(
        &c,
        cov,
        "SignHashAnswer",
        &SignHashAnswer {
            signatures: vec![s("MEUC")],
        },
    );
    for full in [true, false] {
        answer(
            &c,
            cov,
            "TimestampRequest",
            &TimestampRequest {
                hash: s("AAA="),
                hash_algorithm_oid: s("2.16.840.1.101.3.4.2.1"),
                nonce: full.then(|| s("0a1b")),
                client_data: full.then(|| s("x")),
            },
        );
    }
    answer(
        &c,
        cov,
        "TimestampAnswer",
        &TimestampAnswer {
            timestamp: s("MII="),
        },
    );
    for full in [true, false] {
        let props = full.then(|| {
            vec![SignedProp {
                attribute_name: s("signing-time"),
                attribute_value: Some(s("20261204201500Z")),
            }]
        });
        answer(
            &c,
            cov,
            "SignDocRequest",
            &SignDocRequest {
                credential_id: s(KID),
                sad: full.then(|| s("h")),
                documents: Some(vec![SignDocDocument {
                    document: s("JVBERi0="),
                    signature_format: s("P"),
                    conformance_level: full.then(|| s("Ades-B-T")),
                    sign_algo: s("1.2.840.10045.4.3.2"),
                    sign_algo_params: full.then(|| s("")),
                    signed_props: props.clone(),
                    signed_envelope_property: full.then(|| s("Revision")),
                }]),
                document_digests: None,
                operation_mode: full.then(|| s("S")),
                client_data: full.then(|| s("x")),
            },
        );
        answer(
            &c,
            cov,
            "SignDocRequest",
            &SignDocRequest {
                credential_id: s(KID),
                sad: None,
                documents: None,
                document_digests: Some(vec![SignDocDigests {
                    hashes: vec![s("AAA=")],
                    hash_algorithm_oid: s("2.16.840.1.101.3.4.2.1"),
                    signature_format: s("C"),
                    conformance_level: full.then(|| s("Ades-B-B")),
                    sign_algo: s("1.2.840.10045.4.3.2"),
                    sign_algo_params: full.then(|| s("")),
                    signed_props: props,
                    signed_envelope_property: full.then(|| s("Detached")),
                }]),
                operation_mode: None,
                client_data: None,
            },
        );
        answer(
            &c,
            cov,
            "SignDocAnswer",
            &SignDocAnswer {
                document_with_signature: full.then(|| vec![s("JVBERi0=")]),
                signature_object: (!full).then(|| vec![s("MII=")]),
            },
        );
    }
    answer(
        &c,
        cov,
        "SignedProp",
        &SignedProp {
            attribute_name: s("signing-time"),
            attribute_value: None,
        },
    );
    let details = |label: Option<String>| CredentialDetails {
        kind: s("credential"),
        credential_id: s(KID),
        document_digests: vec![DocumentDigest {
            hash: s("AAA="),
            label,
        }],
        hash_algorithm_oid: s("2.16.840.1.101.3.4.2.1"),
    };
    answer(
        &c,
        cov,
        "OAuthTokenAnswer",
        &OAuthTokenAnswer {
            access_token: s("h"),
            token_type: s("Bearer"),
            expires_in: 60,
            authorization_details: vec![details(Some(s("doc"))), details(None)],
        },
    );
    for (code, status) in CscError::ALL {
        let e = CscError {
            status,
            error: code,
            description: s("why"),
        };
        answer(&c, cov, "Error", &e.body());
    }
    // The form of oauth2/token is not JSON; its fields are the ones the
    // service forwards.
    let form: BTreeSet<&str> = c.doc["components"]["schemas"]["OAuthTokenForm"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        form,
        BTreeSet::from([
            "grant_type",
            "code",
            "client_id",
            "redirect_uri",
            "code_verifier"
        ])
    );
    assert_covered(cov);
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `openapi.yaml` describes exactly the routes the daemon serves, and
//! every error type it can answer with.

#[path = "support/openapi.rs"]
mod openapi_check;

use sam_host::api::error::{HostError, http_status};
use sam_host::api::routes::ROUTES;
use sam_proto::ErrorType;
use std::collections::BTreeSet;

fn document() -> serde_yaml::Value {
    let text = include_str!("../openapi.yaml");
    serde_yaml::from_str(text).unwrap()
}

#[test]
fn paths_and_methods_match_the_route_table() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            documented.insert((
                method.as_str().unwrap().to_uppercase(),
                path.as_str().unwrap().to_owned(),
            ));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn every_error_type_and_status_is_documented() {
    let doc = document();
    let names: BTreeSet<&str> =
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["type"]["enum"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
    let description = doc["info"]["description"].as_str().unwrap();
    for e in ErrorType::ALL {
        assert!(
            names.contains(e.name()),
            "{} missing from the schema",
            e.name()
        );
        let row = format!(
            "| {} | {} | {} |",
            e.name(),
            e.code(),
            http_status(e).as_u16()
        );
        assert!(description.contains(&row), "table row {row:?} missing");
    }
    for h in HostError::ALL {
        assert!(
            names.contains(h.name()),
            "{} missing from the schema",
            h.name()
        );
        assert!(description.contains(&format!("| {} | {} |", h.code(), h.status().as_u16())));
    }
}

// ---------------------------------------------------------------------
// The schemas against the wire types (`sam_client::wire`).
//
// Every body type is serialized from a full example (every optional field
// set) and from a sparse one (every optional field empty) and validated
// against the document's schema, read as closed (a field the type writes
// but the document does not list fails). Every property the document
// lists must be written by at least one example, so the document cannot
// describe a field the types do not have. Requests must also refuse an
// unknown field and read their own JSON back.

use openapi_check::{Checker, Coverage, answer, assert_covered, request};
use sam_client::wire::admin::{
    Approval, Approvals, AuditCheck, AuditPage, AuditRow, ChainBreak, Checked, Checkpoint,
    DecodedAudit, EnrolAnswer, EnrolRequest, FirmwareStatus, IdpKeysAnswer, IdpKeysRequest,
    InitAnswer, InitRequest, IntegrityReport, OperatorLogon, PolicyAnswer, PolicyRequest,
    ReachableFirmware, StatusAnswer, StoreStatus, UndecodableAudit, UnreachableFirmware,
};
use sam_client::wire::error::{ErrorAnswer, ErrorBody};
use sam_client::wire::keymgr::{ObjectsAnswer, RegisterAnswer, RegisterRequest};
use sam_client::wire::peering::{
    Challenge, Container, CredentialBody, DeleteAnswer, DeleteParams, KeyPairAnswer, KeyPairParams,
    PeeringSigningAnswer, PrivilegedUserParams, SigningParams, UserAnswer, UserParams, operation,
};
use sam_client::wire::signing::{SignatureFormat, SigningAnswer, SigningRequest};
use sam_client::wire::{B64, Health};
use sam_proto::ids::KeyAlgorithm;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const UID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";

fn approvals() -> Approvals {
    Approvals {
        challenge: B64(vec![7; 32]),
        approvals: vec![Approval {
            admin: B64(vec![4; 65]),
            signature: B64(vec![0x30; 70]),
        }],
    }
}

#[test]
fn the_schemas_describe_the_wire_types() {
    let c = Checker::from_yaml(include_str!("../openapi.yaml"));
    let mut cov = Coverage::default();
    let bytes = B64(vec![1, 2, 3]);
    let user = UserParams {
        userid: UID.into(),
        certificates: vec![bytes.clone()],
    };
    let token = CredentialBody::identity_token(&[0x30, 0]).with_proof(&[7; 32], &[0x30, 0]);
    let technical = CredentialBody::technical_signature(&[1], UID.into());
    request(
        &c,
        &mut cov,
        "Container",
        &Container::new(operation::CREATE_SIGNER, Some(token.clone()), user.clone()),
    );
    request(
        &c,
        &mut cov,
        "Container",
        &Container::new(
            operation::CREATE_PRIVILEGED_USER,
            Some(technical),
            PrivilegedUserParams {
                userid: UID.into(),
                certificates: vec![],
                technical_certificate: Some(bytes.clone()),
            },
        ),
    );
    for algorithm in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa3072] {
        let params = KeyPairParams::new(UID.into(), algorithm);
        assert_eq!(params.key_algorithm(), Some(algorithm));
        request(
            &c,
            &mut cov,
            "Container",
            &Container::new(operation::GENERATE_KEY_PAIR, Some(token.clone()), params),
        );
    }
    for (algorithm, parameters) in [("ec", json!("P-384")), ("RSA", json!(4096))] {
        let params = KeyPairParams {
            userid: UID.into(),
            algorithm: algorithm.into(),
            parameters,
            subject: Some(bytes.clone()),
        };
        assert!(params.key_algorithm().is_some());
        request(&c, &mut cov, "KeyPairParams", &params);
    }
    request(
        &c,
        &mut cov,
        "Container",
        &Container::new(
            operation::DELETE_KEY_PAIR,
            Some(token.clone()),
            DeleteParams { keyid: UID.into() },
        ),
    );
    let sad = SigningParams { sad: bytes.clone() };
    request(
        &c,
        &mut cov,
        "Container",
        &Container::new(operation::SIGNING, None, sad.clone()),
    );
    request(&c, &mut cov, "SigningParams", &sad);
    for signature_format in [None, Some(SignatureFormat::Cms), Some(SignatureFormat::Raw)] {
        request(
            &c,
            &mut cov,
            "SigningRequest",
            &SigningRequest {
                sad: bytes.clone(),
                signature_format,
            },
        );
    }
    request(&c, &mut cov, "UserParams", &user);
    answer(
        &c,
        &mut cov,
        "UserAnswer",
        &UserAnswer {
            userid: UID.into(),
            role: "Signer".into(),
            generation: 2,
            audit_seq: 9,
        },
    );
    let key = KeyPairAnswer {
        keyid: UID.into(),
        userid: UID.into(),
        algorithm: "EC P-256".into(),
        publickey: bytes.clone(),
        attestation: bytes.clone(),
        csr: Some(bytes.clone()),
        audit_seq: Some(3),
    };
    answer(&c, &mut cov, "KeyPairAnswer", &key);
    answer(
        &c,
        &mut cov,
        "KeyPairAnswer",
        &KeyPairAnswer {
            csr: None,
            audit_seq: None,
            ..key
        },
    );
    answer(
        &c,
        &mut cov,
        "DeleteAnswer",
        &DeleteAnswer {
            keyid: UID.into(),
            state: "DESTROYED".into(),
            audit_seq: 4,
        },
    );
    answer(
        &c,
        &mut cov,
        "PeeringSigningAnswer",
        &PeeringSigningAnswer {
            sigbin: vec![bytes.clone()],
            audit_seq: 5,
        },
    );
    for (audit_seq, signature_format) in [
        (Some(6), SignatureFormat::Cms),
        (None, SignatureFormat::Raw),
    ] {
        answer(
            &c,
            &mut cov,
            "SigningAnswer",
            &SigningAnswer {
                signature_format,
                signatures: BTreeMap::from([("0".to_owned(), bytes.clone())]),
                audit_seq,
            },
        );
    }
    answer(
        &c,
        &mut cov,
        "Challenge",
        &Challenge {
            challenge: B64(vec![0; 32]),
            expires: 1_900_000_000,
        },
    );
    request(
        &c,
        &mut cov,
        "InitRequest",
        &InitRequest {
            admins: vec![B64(vec![4; 65])],
            mbk_slot: 0,
            operator: OperatorLogon {
                user: "hsm-operator".into(),
                response: B64(vec![1; 32]),
            },
            approvals: approvals(),
        },
    );
    answer(
        &c,
        &mut cov,
        "InitAnswer",
        &InitAnswer {
            attestation_key: bytes.clone(),
            audit_seq: 0,
        },
    );
    request(
        &c,
        &mut cov,
        "IdpKeysRequest",
        &IdpKeysRequest {
            certificates: vec![bytes.clone()],
            approvals: approvals(),
        },
    );
    answer(
        &c,
        &mut cov,
        "IdpKeysAnswer",
        &IdpKeysAnswer {
            fingerprints: vec!["ab".into()],
            audit_seq: 1,
        },
    );
    request(
        &c,
        &mut cov,
        "PolicyRequest",
        &PolicyRequest {
            max_token_lifetime: 600,
            signing_cas: vec![bytes.clone()],
            checkpoint_interval: 64,
            approvals: approvals(),
        },
    );
    answer(&c, &mut cov, "PolicyAnswer", &PolicyAnswer { audit_seq: 2 });
    request(
        &c,
        &mut cov,
        "EnrolRequest",
        &EnrolRequest {
            userid: UID.into(),
            certificates: vec![bytes.clone()],
            approvals: approvals(),
        },
    );
    answer(
        &c,
        &mut cov,
        "EnrolAnswer",
        &EnrolAnswer {
            userid: UID.into(),
            role: "PrivilegedUser".into(),
            audit_seq: 2,
        },
    );
    let store = StoreStatus {
        path: "samd.db".into(),
        failed: false,
        users: 1,
        objects: 2,
        audit_records: 3,
        last_audit_seq: Some(2),
    };
    answer(
        &c,
        &mut cov,
        "StatusAnswer",
        &StatusAnswer {
            firmware: FirmwareStatus::Reachable(ReachableFirmware {
                reachable: true,
                version: "1.0".into(),
                state: "Operational".into(),
                boot: 1,
                next_audit_seq: 3,
                audit_head: "00".into(),
                attestation_key: Some(bytes.clone()),
                admins: 2,
                idp_keys: 1,
            }),
            transport: "inprocess".into(),
            store: store.clone(),
        },
    );
    answer(
        &c,
        &mut cov,
        "StatusAnswer",
        &StatusAnswer {
            firmware: FirmwareStatus::Unreachable(UnreachableFirmware {
                reachable: false,
                error: "NotOperational".into(),
                detail: "down".into(),
            }),
            transport: "socket".into(),
            store: StoreStatus {
                last_audit_seq: None,
                ..store
            },
        },
    );
    let decoded = DecodedAudit {
        seq: 1,
        time: 2,
        boot: 1,
        action: "Signing".into(),
        outcome: "ok".into(),
        cause: None,
        note: None,
        actor: Some(UID.into()),
        target_user: Some(UID.into()),
        key_id: Some(UID.into()),
        prev: "00".into(),
        mac: "11".into(),
        record: bytes.clone(),
    };
    answer(
        &c,
        &mut cov,
        "AuditPage",
        &AuditPage {
            records: vec![
                AuditRow::Decoded(decoded.clone()),
                AuditRow::Decoded(DecodedAudit {
                    outcome: "InvalidInput".into(),
                    cause: Some("samd: a base64 field does not decode".into()),
                    note: Some("certificates[0]: invalid base64".into()),
                    actor: None,
                    target_user: None,
                    key_id: None,
                    ..decoded
                }),
                AuditRow::Undecodable(UndecodableAudit {
                    seq: 3,
                    error: "bad".into(),
                    record: bytes.clone(),
                }),
            ],
            checkpoints: vec![Checkpoint {
                next_seq: 3,
                head: "00".repeat(32),
                boot: 1,
                time: 1_700_000_000,
                signature: bytes.clone(),
            }],
            next_after: Some(3),
        },
    );
    answer(
        &c,
        &mut cov,
        "AuditPage",
        &AuditPage {
            records: vec![],
            checkpoints: vec![],
            next_after: None,
        },
    );
    answer(
        &c,
        &mut cov,
        "Checkpoint",
        &Checkpoint {
            next_seq: 0,
            head: "00".repeat(32),
            boot: 2,
            time: -1,
            signature: bytes.clone(),
        },
    );
    for (chain_break, next_seq) in [
        (
            Some(ChainBreak {
                seq: 4,
                expected_seq: 3,
            }),
            Some(9),
        ),
        (None, None),
    ] {
        answer(
            &c,
            &mut cov,
            "IntegrityReport",
            &IntegrityReport {
                ok: chain_break.is_none(),
                users: Checked {
                    checked: 1,
                    bad: vec![UID.into()],
                },
                keys: Checked {
                    checked: 0,
                    bad: vec![],
                },
                audit: AuditCheck {
                    checked: 5,
                    chain_break,
                    complete: true,
                    next_seq,
                },
            },
        );
    }
    let mut register = RegisterRequest::certificate(UID.into(), &[0x30], None);
    request(&c, &mut cov, "RegisterRequest", &register);
    register.attributes.insert("note".into(), json!("x"));
    register.content_hint = Some("signing".into());
    request(&c, &mut cov, "RegisterRequest", &register);
    register.credential = Some(CredentialBody::identity_token(&[0x30]));
    request(&c, &mut cov, "RegisterRequest", &register);
    let object = json!({
        "id": UID, "value": null, "objecttype": "PRIVATE_KEY", "state": "ACTIVE",
        "keyid": UID, "userid": UID, "attributes": {"created": "2026-01-01T00:00:00Z"},
        "dateattributes": {"activation": "2026-01-01T00:00:00Z", "not-after": "2027-01-01T00:00:00Z"},
    });
    let Value::Object(object) = object else {
        unreachable!()
    };
    answer(
        &c,
        &mut cov,
        "RegisterAnswer",
        &RegisterAnswer {
            object: object.clone(),
            audit_seq: 3,
        },
    );
    answer(
        &c,
        &mut cov,
        "ObjectsAnswer",
        &ObjectsAnswer {
            objects: vec![object],
        },
    );
    for status in ["up", "ready"] {
        answer(
            &c,
            &mut cov,
            "Health",
            &Health {
                status: status.into(),
            },
        );
    }
    answer(
        &c,
        &mut cov,
        "Error",
        &ErrorAnswer {
            error: ErrorBody {
                kind: "ReplayedSad".into(),
                code: 15,
                detail: "again".into(),
            },
        },
    );

    assert_covered(&cov);
}

#[test]
fn every_route_body_names_its_schema() {
    let c = Checker::from_yaml(include_str!("../openapi.yaml"));
    let body = |method: &str, path: &str| {
        let op = &c.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path}");
        let req = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(str::to_owned);
        let ok = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let ok = match ok.get("anyOf") {
            Some(list) => list
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["$ref"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join("|"),
            None => ok["$ref"].as_str().unwrap_or("").to_owned(),
        };
        (req, ok)
    };
    let s = |n: &str| format!("#/components/schemas/{n}");
    let table: &[(&str, &str, Option<&str>, &str)] = &[
        (
            "post",
            "/peering",
            Some("Container"),
            "UserAnswer|KeyPairAnswer|DeleteAnswer|PeeringSigningAnswer",
        ),
        ("post", "/peering/challenge", None, "Challenge"),
        ("post", "/signing", Some("SigningRequest"), "SigningAnswer"),
        ("get", "/private-keys", None, ""),
        ("get", "/objects", None, ""),
        (
            "post",
            "/objects",
            Some("RegisterRequest"),
            "RegisterAnswer",
        ),
        ("get", "/admin/status", None, "StatusAnswer"),
        ("post", "/admin/challenge", None, "Challenge"),
        ("post", "/admin/init", Some("InitRequest"), "InitAnswer"),
        (
            "post",
            "/admin/idp-keys",
            Some("IdpKeysRequest"),
            "IdpKeysAnswer",
        ),
        (
            "post",
            "/admin/policy",
            Some("PolicyRequest"),
            "PolicyAnswer",
        ),
        (
            "post",
            "/admin/enrol-privileged-user",
            Some("EnrolRequest"),
            "EnrolAnswer",
        ),
        ("post", "/admin/integrity", None, "IntegrityReport"),
        ("get", "/admin/audit", None, "AuditPage"),
        ("post", "/admin/audit/checkpoint", None, "Checkpoint"),
        ("get", "/healthz", None, "Health"),
        ("get", "/readyz", None, "Health"),
    ];
    for (method, path, req, ok) in table {
        let (doc_req, doc_ok) = body(method, path);
        assert_eq!(doc_req, req.map(s), "{method} {path} request");
        let want: Vec<String> = ok.split('|').filter(|n| !n.is_empty()).map(s).collect();
        assert_eq!(doc_ok, want.join("|"), "{method} {path} answer");
    }
    // The object queries answer through the shared response.
    let objects = &c.doc["components"]["responses"]["Objects"]["content"]["application/json"]["schema"]
        ["$ref"];
    assert_eq!(objects.as_str(), Some(s("ObjectsAnswer").as_str()));
    // Every route of the daemon is in the table (and so has its bodies named).
    assert_eq!(
        table.len() + 1,
        ROUTES.len(),
        "a route without a row (metrics is text)"
    );
}

#[test]
fn the_token_extension_oids_and_layouts_are_documented() {
    let doc = document();
    let description = doc["info"]["description"].as_str().unwrap();
    let readme = include_str!("../README.md");
    let vectors = include_str!("../testvectors/README.md");
    use sam_proto::asn1::oids;
    for oid in [
        oids::SAD_PUBLIC_KEY,
        oids::SIGNING_SCOPE,
        oids::IDENTIFICATION_LEVEL,
        oids::IDENTITY_TOKEN_TYPE,
    ] {
        let dotted = format!("`{oid}`");
        assert!(
            description.contains(&dotted),
            "{dotted} missing from openapi.yaml"
        );
        assert!(
            readme.contains(&dotted),
            "{dotted} missing from host/README.md"
        );
    }
    for ty in [
        "SignedIdentityToken ::=",
        "CompactIdentityToken ::=",
        "CompactExtension  ::=",
        "SAD ::=",
        "SADTBS ::=",
    ] {
        assert!(description.contains(ty), "{ty} missing from openapi.yaml");
        assert!(readme.contains(ty), "{ty} missing from host/README.md");
    }
    // Every vector file the README lists is committed.
    for line in vectors.lines().filter(|l| l.starts_with("| `")) {
        let name = line.split('`').nth(1).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testvectors")
            .join(name);
        assert!(path.is_file(), "{} listed but missing", path.display());
    }
}

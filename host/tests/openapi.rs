#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `openapi.yaml` describes exactly the routes the daemon serves, and
//! every error type it can answer with.

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

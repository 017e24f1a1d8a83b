//! The SAM Peering Interface container (`host/src/api/container.rs`,
//! included by path so that the target links neither samd's network stack
//! nor aws-lc): parsing and credential resolution never panic, refusals
//! carry the seed's error types, and whatever is accepted is consistent:
//! the container written back as JSON parses to the same container, and a
//! resolved credential is exactly the canonical base64 of its value.
//!
//! An input starting with 0xFF (never JSON: not UTF-8) is a credential
//! value instead: the rest as raw bytes and as a base64 candidate string.
#![no_main]

#[path = "../../host/src/api/container.rs"]
mod container;

/// samd's body reader (it refuses duplicate keys), by path for the same
/// reason.
#[path = "../../host/client/src/wire/strict.rs"]
#[allow(dead_code)]
mod strict;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use container::{Container, ContainerError, Operation, RawCredential};
use libfuzzer_sys::fuzz_target;
use sam_proto::ErrorType;
use sam_proto::asn1::SignedIdentityToken;
use sam_proto::command::{Credential, MAX_CREDENTIAL_LEN};
use sam_proto::ids::Uuid;
use serde_json::{Map, Value};

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0xFF, value)) => credential_value(value),
        _ => container_body(data),
    }
});

fn container_body(data: &[u8]) {
    let c = match container::parse(data, strict::value_from_slice) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                matches!(
                    e.error,
                    ErrorType::ContainerParseError | ErrorType::UnknownMessageType
                ),
                "{e:?}"
            );
            if serde_json::from_slice::<Value>(data).is_err() {
                assert_eq!(e.error, ErrorType::ContainerParseError);
            }
            return;
        }
    };
    assert_eq!(Operation::parse(c.operation.name()), Some(c.operation));
    assert!(c.params.is_object(), "{c:?}");
    assert!(
        c.credential.is_some() || c.operation == Operation::Signing,
        "{c:?}"
    );
    let text = serde_json::to_vec(&to_json(&c)).expect("a Value serializes");
    let again = container::parse(&text, strict::value_from_slice)
        .unwrap_or_else(|e| panic!("the written-back container is refused: {e:?}"));
    assert_eq!(again.operation, c.operation);
    assert_eq!(again.credential, c.credential);
    assert!(same(&again.params, &c.params), "{again:?} != {c:?}");
    if let Some(raw) = &c.credential {
        check_resolve(raw);
    }
}

fn credential_value(value: &[u8]) {
    // The bytes as the credential: accepted exactly up to the bound.
    let raw = RawCredential {
        kind: "identity_token".into(),
        value: STANDARD.encode(value),
        userid: None,
        proof: None,
    };
    let resolved = check_resolve(&raw);
    assert_eq!(resolved.is_some(), value.len() <= MAX_CREDENTIAL_LEN);
    // The bytes as the base64 text and as the technical user's UserID.
    let text = String::from_utf8_lossy(value).into_owned();
    check_resolve(&RawCredential {
        kind: "technical_signature".into(),
        value: text.clone(),
        userid: Some(text.clone()),
        proof: Some((text.clone(), text)),
    });
}

/// Resolves `raw` and checks the outcome; the credential if accepted.
fn check_resolve(raw: &RawCredential) -> Option<Credential> {
    let kind = match raw.kind.as_str() {
        "identity_token" => Some(Credential::IDENTITY_TOKEN),
        "technical_signature" => Some(Credential::TECHNICAL_SIGNATURE),
        _ => None,
    };
    let r = match container::resolve(raw) {
        Ok(r) => r,
        Err(ContainerError { error, detail }) => {
            if kind.is_none() {
                assert_eq!(error, ErrorType::UnknownCredentialType, "{detail}");
            } else {
                assert_eq!(error, ErrorType::AuthenticationError, "{detail}");
            }
            return None;
        }
    };
    assert_eq!(Some(r.credential.kind), kind);
    let bytes = r.credential.value.as_slice();
    assert!(bytes.len() <= MAX_CREDENTIAL_LEN);
    assert_eq!(STANDARD.encode(bytes), raw.value, "non-canonical base64");
    // A proof reaches the firmware exactly as sent.
    match (&r.proof, &raw.proof) {
        (None, None) => {}
        (Some(p), Some((challenge, signature))) => {
            assert_eq!(&STANDARD.encode(p.challenge), challenge, "proof challenge");
            assert_eq!(&STANDARD.encode(p.signature.as_slice()), signature, "proof signature");
        }
        _ => panic!("the proof was lost or invented"),
    }
    if let Some(actor) = r.actor {
        assert_eq!(Uuid::parse(&actor.to_string()).ok(), Some(actor));
        let named = if r.credential.kind == Credential::IDENTITY_TOKEN {
            let token = SignedIdentityToken::from_der_strict(bytes)
                .unwrap_or_else(|e| panic!("an actor from a token that does not decode: {e}"));
            token.data.user_id
        } else {
            raw.userid.clone().unwrap_or_default()
        };
        assert_eq!(Uuid::parse(&named).ok(), Some(actor));
    } else if r.credential.kind == Credential::TECHNICAL_SIGNATURE {
        assert!(
            raw.userid
                .as_deref()
                .and_then(|u| Uuid::parse(u).ok())
                .is_none()
        );
    }
    Some(r.credential)
}

/// The container as a peer writes it.
fn to_json(c: &Container) -> Value {
    let mut map = Map::new();
    map.insert("operation".into(), c.operation.name().into());
    if let Some(raw) = &c.credential {
        let mut cred = Map::new();
        cred.insert("type".into(), raw.kind.clone().into());
        cred.insert("value".into(), raw.value.clone().into());
        if let Some(u) = &raw.userid {
            cred.insert("userid".into(), u.clone().into());
        }
        if let Some((challenge, signature)) = &raw.proof {
            let mut proof = Map::new();
            proof.insert("challenge".into(), challenge.clone().into());
            proof.insert("signature".into(), signature.clone().into());
            cred.insert("proof".into(), Value::Object(proof));
        }
        map.insert("credential".into(), Value::Object(cred));
    }
    map.insert("params".into(), c.params.clone());
    Value::Object(map)
}

/// JSON equality, except that floats may differ in the last place:
/// serde_json's default float parser is not exact.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.to_bits().abs_diff(y.to_bits()) <= 1,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

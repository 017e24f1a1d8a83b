//! The Key Manager interface (seed §7.4): `GET /private-keys`,
//! `GET /objects`, `POST /objects`.

use super::B64;
use super::peering::CredentialBody;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The answer to `POST /objects`: the registered certificate object and
/// the sequence number of the firmware's audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterAnswer {
    /// The certificate as a managed object.
    pub object: ManagedObject,
    /// `seq` of the firmware's audit record of the registration.
    pub audit_seq: u64,
}

/// A managed object as samd renders it: `id`, `value` (base64, null for a
/// wrapped private key), `objecttype`, `state`, `keyid`, `userid`,
/// `attributes`, `dateattributes`, or only the fields a query's `return`
/// parameters selected. That selection is why this is an open map rather
/// than a struct.
pub type ManagedObject = Map<String, Value>;

/// The fields a query's `return` parameter may select.
pub const OBJECT_FIELDS: [&str; 8] = [
    "id",
    "value",
    "objecttype",
    "state",
    "keyid",
    "userid",
    "attributes",
    "dateattributes",
];

/// The answer to the object queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsAnswer {
    /// Matching objects, ordered by id.
    pub objects: Vec<ManagedObject>,
}

/// A link of a registered object to another object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The other object's id (for the key: its KeyID).
    pub id: String,
    /// The other object's type (`PRIVATE_KEY`).
    #[serde(rename = "type")]
    pub kind: String,
}

/// `POST /objects`: register a certificate for a key. The firmware checks
/// the certificate and who asks (the key's owner or a Privileged User), so
/// the request carries that user's credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The credential of the key's owner or of a Privileged User.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialBody>,
    /// Only `CERTIFICATE`.
    pub objecttype: String,
    /// The DER certificate.
    pub value: B64,
    /// A `PRIVATE_KEY` link names the key.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Free attributes kept with the object.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    /// Stored as the attribute `contentHint`.
    #[serde(
        default,
        rename = "contentHint",
        skip_serializing_if = "Option::is_none"
    )]
    pub content_hint: Option<String>,
}

impl RegisterRequest {
    /// The certificate `der` for the key `key_id`, asked by the holder of
    /// `credential`.
    pub fn certificate(key_id: String, der: &[u8], credential: Option<CredentialBody>) -> Self {
        Self {
            credential,
            objecttype: "CERTIFICATE".into(),
            value: B64::of(der),
            links: vec![Link {
                id: key_id,
                kind: "PRIVATE_KEY".into(),
            }],
            attributes: Map::new(),
            content_hint: None,
        }
    }
}

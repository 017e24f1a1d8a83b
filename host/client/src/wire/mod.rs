//! The JSON contract of samd: the request and answer bodies of every
//! endpoint, as one set of types that samd deserializes, and that samctl
//! and this library serialize (and the other way round for answers).
//!
//! Why one module: when the daemon and its clients each spelled the
//! bodies (private serde structs on one side, `json!` literals on the
//! other), a renamed field broke at run time only. Here a change is a
//! compile error on every side, and `host/tests/openapi.rs` checks the
//! OpenAPI document against these types.
//!
//! Rules that hold for every type:
//! * requests refuse unknown fields (`deny_unknown_fields`), and every
//!   body is read with [`strict::from_slice`], which also refuses a key
//!   given twice in one object (plain serde_json keeps the last one, so a
//!   proxy and samd could read different values from the same bytes);
//! * binary fields are standard base64 with padding ([`B64`]);
//! * UserIDs and KeyIDs travel as text and are parsed by whoever uses
//!   them, so that a bad one gets that side's precise error.

pub mod admin;
mod b64;
pub mod error;
pub mod keymgr;
pub mod peering;
pub mod signing;
pub mod strict;

pub use b64::B64;

use serde::{Deserialize, Serialize};

/// `GET /healthz` and `GET /readyz` answers: `{"status": "up" | "ready"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `up` (the process runs) or `ready` (firmware and store usable).
    pub status: String,
}

/// The body of the `POST`s that take none (`/admin/challenge`,
/// `/peering/challenge`, `/admin/integrity`): `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

//! Bytes as standard base64 text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes carried as a standard base64 string (with padding).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct B64(pub Vec<u8>);

impl B64 {
    /// A copy of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// Copies of every item.
    pub fn all<T: AsRef<[u8]>>(items: &[T]) -> Vec<Self> {
        items.iter().map(|i| Self::of(i.as_ref())).collect()
    }

    /// The bytes of every item.
    pub fn into_vecs(items: Vec<Self>) -> Vec<Vec<u8>> {
        items.into_iter().map(|b| b.0).collect()
    }
}

impl From<Vec<u8>> for B64 {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

//! JSON reading that refuses a key given twice in one object.
//!
//! serde_json keeps the last of two equal keys without a word. A body
//! such as `{"sad": A, "sad": B}` can then mean A to a logging proxy or
//! a WAF and B to samd; refusing it keeps one meaning per byte string.
//! The reader builds a [`Value`] through its own visitor (the nesting
//! limit of serde_json still applies), then the typed conversion runs on
//! that value.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why a body was refused.
#[derive(Debug)]
pub enum StrictError {
    /// Not one well-formed JSON value, or a key given twice.
    Syntax(serde_json::Error),
    /// Well-formed JSON that does not fit the expected type.
    Shape(serde_json::Error),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(e) | Self::Shape(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StrictError {}

/// One JSON value without duplicate keys, and nothing after it.
pub fn value_from_slice(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(value) = StrictValue::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// `T` from a body without duplicate keys.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StrictError> {
    let value = value_from_slice(bytes).map_err(StrictError::Syntax)?;
    serde_json::from_value(value).map_err(StrictError::Shape)
}

/// A [`Value`] whose objects had no key twice.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so `from` never yields null here.
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate key `{key}`")));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"a": 1, "a": 1}"#,
            r#"{"a": 1, "b": {"c": 2, "c": 3}}"#,
            r#"{"list": [{"x": true, "x": false}]}"#,
        ] {
            let e = value_from_slice(body.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("duplicate key"), "{body}: {e}");
        }
    }

    #[test]
    fn well_formed_bodies_read_as_serde_json_reads_them() {
        for body in [
            r#"{"a": 1, "b": [1, -2, 3.5, "x", null, true], "c": {"d": {}}}"#,
            "[]",
            "\"text\"",
            r#"{"big": 18446744073709551615, "neg": -9223372036854775808}"#,
        ] {
            let strict = value_from_slice(body.as_bytes()).unwrap();
            let plain: Value = serde_json::from_str(body).unwrap();
            assert_eq!(strict, plain, "{body}");
        }
    }

    #[test]
    fn trailing_bytes_and_garbage_are_syntax_errors() {
        for body in [&b"{} {}"[..], b"{", b"nope", b"\xff"] {
            assert!(value_from_slice(body).is_err());
            assert!(matches!(
                from_slice::<Value>(body),
                Err(StrictError::Syntax(_))
            ));
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            x: u8,
        }
        assert!(matches!(
            from_slice::<Needs>(br#"{"x": "no"}"#),
            Err(StrictError::Shape(_))
        ));
    }
}

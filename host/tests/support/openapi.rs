//! Checking JSON against an OpenAPI document's schemas, read as closed:
//! a field a wire type writes but the document does not list fails, and
//! [`Coverage`] records which documented properties some example wrote,
//! so [`assert_covered`] can refuse a document that describes fields no
//! type has. Shared by the OpenAPI tests of samd and of the CSC service.
#![allow(dead_code)]

use sam_client::wire::strict;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub fn to_json(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap()
}

/// Documented properties per schema location, and those an example wrote.
#[derive(Default)]
pub struct Coverage {
    pub documented: BTreeMap<String, BTreeSet<String>>,
    pub written: BTreeMap<String, BTreeSet<String>>,
}

pub struct Checker {
    pub doc: serde_json::Value,
}

impl Checker {
    /// A checker of the OpenAPI document `yaml`.
    pub fn from_yaml(yaml: &str) -> Self {
        let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        Self {
            doc: serde_json::to_value(doc).unwrap(),
        }
    }

    pub fn schema(&self, name: &str) -> (&Value, String) {
        let s = &self.doc["components"]["schemas"][name];
        assert!(s.is_object(), "no schema {name}");
        (s, format!("#/components/schemas/{name}"))
    }

    fn resolve<'a>(&'a self, schema: &'a Value, at: String) -> (&'a Value, String) {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                self.schema(name)
            }
            None => (schema, at),
        }
    }

    /// Checks `v` against `schema`; the properties written, per location.
    pub fn check(
        &self,
        schema: &Value,
        at: String,
        v: &Value,
        cov: &mut Coverage,
    ) -> Result<(), String> {
        let (schema, at) = self.resolve(schema, at);
        if v.is_null() {
            return if schema["nullable"] == json!(true) {
                Ok(())
            } else {
                Err(format!("{at}: null where the document does not allow it"))
            };
        }
        for (key, exactly_one) in [("anyOf", false), ("oneOf", true)] {
            if let Some(alternatives) = schema.get(key).and_then(Value::as_array) {
                let mut passed = Vec::new();
                let mut why = Vec::new();
                for (i, alt) in alternatives.iter().enumerate() {
                    let mut trial = Coverage::default();
                    match self.check(alt, format!("{at}/{key}/{i}"), v, &mut trial) {
                        Ok(()) => passed.push(trial),
                        Err(e) => why.push(e),
                    }
                }
                if passed.is_empty() || (exactly_one && passed.len() > 1) {
                    return Err(format!(
                        "{at}: {} alternatives fit {v}: {why:?}",
                        passed.len()
                    ));
                }
                for trial in passed {
                    for (k, set) in trial.documented {
                        cov.documented.entry(k).or_default().extend(set);
                    }
                    for (k, set) in trial.written {
                        cov.written.entry(k).or_default().extend(set);
                    }
                }
                return Ok(());
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(v)
        {
            return Err(format!("{at}: {v} is not one of {allowed:?}"));
        }
        let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
        let fits = match kind {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            other => return Err(format!("{at}: schema without a known type ({other:?})")),
        };
        if !fits {
            return Err(format!("{at}: {v} is not of type {kind}"));
        }
        if let Some(items) = v.as_array() {
            for (i, item) in items.iter().enumerate() {
                self.check(&schema["items"], format!("{at}/items"), item, cov)
                    .map_err(|e| format!("[{i}] {e}"))?;
            }
        }
        if let Some(map) = v.as_object() {
            let open = schema["additionalProperties"] == json!(true);
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for r in required {
                    let r = r.as_str().unwrap();
                    if !map.contains_key(r) {
                        return Err(format!("{at}: required `{r}` missing in {v}"));
                    }
                }
            }
            // A map (`additionalProperties` a schema): every value fits it.
            if let Some(values) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, field) in map {
                    self.check(values, format!("{at}/additionalProperties"), field, cov)
                        .map_err(|e| format!("[{k}] {e}"))?;
                }
                if props.is_none() {
                    return Ok(());
                }
            }
            let Some(props) = props else {
                return if open || map.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{at}: an object without documented properties: {v}"
                    ))
                };
            };
            cov.documented
                .entry(at.clone())
                .or_default()
                .extend(props.keys().cloned());
            for (k, field) in map {
                match props.get(k) {
                    Some(s) => {
                        self.check(s, format!("{at}/{k}"), field, cov)?;
                        cov.written.entry(at.clone()).or_default().insert(k.clone());
                    }
                    None if open => {}
                    None => return Err(format!("{at}: `{k}` is not documented")),
                }
            }
        }
        Ok(())
    }
}

/// A request type: it is an answer type that also refuses an unknown
/// field.
pub fn request<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    c: &Checker,
    cov: &mut Coverage,
    schema: &str,
    value: &T,
) {
    let mut extra = answer(c, cov, schema, value);
    extra
        .as_object_mut()
        .unwrap()
        .insert("unexpected".into(), json!(1));
    assert!(
        serde_json::from_value::<T>(extra).is_err(),
        "{schema} accepts an unknown field"
    );
}

/// An answer type: it validates and reads its own JSON back; its JSON.
pub fn answer<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    c: &Checker,
    cov: &mut Coverage,
    schema: &str,
    value: &T,
) -> Value {
    let v = to_json(value);
    let (s, at) = c.schema(schema);
    c.check(s, at, &v, cov)
        .unwrap_or_else(|e| panic!("{schema}: {e}"));
    let text = serde_json::to_vec(&v).unwrap();
    assert_eq!(&strict::from_slice::<T>(&text).unwrap(), value, "{schema}");
    v
}

/// Every documented property was written by some example.
pub fn assert_covered(cov: &Coverage) {
    for (at, documented) in &cov.documented {
        let written = cov.written.get(at).cloned().unwrap_or_default();
        let missing: Vec<_> = documented.difference(&written).collect();
        assert!(
            missing.is_empty(),
            "{at} documents {missing:?}, which no wire type writes"
        );
    }
}

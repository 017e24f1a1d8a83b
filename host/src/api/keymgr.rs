//! The Key Manager REST interface (seed §7.4): query keys and objects,
//! register a certificate for a key.
//!
//! The key manager holds metadata and public material. Its states mirror
//! what the firmware decided, but decide nothing: the firmware keeps each
//! key's state itself (PRE_ACTIVE until it registered a certificate,
//! forgotten once deleted) and refuses to sign with a key that is not
//! active, whatever state the host reports.
//!
//! The queries are scoped by the caller's identity token (`Authorization:
//! Bearer`, seed §7.4), see [`App::list_objects`]; registration is
//! authorized by the firmware through the request's `credential`.

use super::App;
use super::container::RawCredential;
use super::error::{ApiError, HostError};
use super::json::{b64, parse_body};
use super::response::{Reply, ok_json};
use crate::store::{ManagedObject, ObjectFilter, ObjectState, ObjectType, WriteBatch, WriteOp};
use der::Decode;
use sam_client::wire::keymgr::{OBJECT_FIELDS, ObjectsAnswer, RegisterAnswer, RegisterRequest};
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::codes::Cause;
use sam_proto::command::RegisterCertificate;
use sam_proto::ids::{Role, Uuid};
use sam_proto::records::MAX_CERT_LEN;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Most objects one query returns.
const MAX_RESULTS: u32 = 1000;

/// Decodes `%XX` escapes and `+` of a query component.
fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::refused(
            ErrorType::MessageParseError,
            Cause::HostBadQuery,
            "malformed query string",
        )
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// A parsed object query.
#[derive(Debug, Default)]
struct Query {
    filter: ObjectFilter,
    fields: Vec<String>,
}

fn parse_query(query: Option<&str>, private_keys: bool) -> Result<Query, ApiError> {
    let mut q = Query::default();
    q.filter.limit = MAX_RESULTS;
    let bad = |m: String| ApiError::refused(ErrorType::MessageParseError, Cause::HostBadQuery, m);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k)?;
        let v = percent_decode(v)?;
        match k.as_str() {
            "id" => q.filter.id = Some(v),
            "state" => {
                q.filter.state = Some(
                    ObjectState::parse(&v).ok_or_else(|| bad(format!("unknown state {v:?}")))?,
                );
            }
            "objecttype" if !private_keys => {
                q.filter.object_type = Some(
                    ObjectType::parse(&v)
                        .ok_or_else(|| bad(format!("unsupported object type {v:?}")))?,
                );
            }
            "keyid" => q.filter.key_id = Some(v),
            "userid" => q.filter.user_id = Some(v),
            "limit" => {
                let n: u32 = v.parse().map_err(|_| bad(format!("bad limit {v:?}")))?;
                q.filter.limit = n.clamp(1, MAX_RESULTS);
            }
            "return" => {
                if !OBJECT_FIELDS.contains(&v.as_str()) {
                    return Err(bad(format!("unknown field {v:?} in return")));
                }
                q.fields.push(v);
            }
            other => return Err(bad(format!("unsupported query parameter {other:?}"))),
        }
    }
    if private_keys {
        q.filter.object_type = Some(ObjectType::PrivateKey);
        // Seed §7.4.1: the private keys "with the ACTIVE status", unless
        // the caller filters by another state.
        q.filter.state.get_or_insert(ObjectState::Active);
    }
    Ok(q)
}

/// RFC 3339 UTC text of Unix seconds.
fn rfc3339(unix: i64) -> Option<String> {
    let secs = u64::try_from(unix).ok()?;
    der::DateTime::from_unix_duration(Duration::from_secs(secs))
        .ok()
        .map(|d| d.to_string())
}

/// The JSON form of an object (seed Table 42). The wrapped key itself is
/// never returned: no client needs it, and it stays between the host and
/// the firmware.
fn object_json(o: &ManagedObject, fields: &[String]) -> Map<String, Value> {
    let mut attributes = match &o.attributes {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut dates = Map::new();
    for key in ["activation", "not-after"] {
        if let Some(v) = attributes.remove(key) {
            dates.insert(key.into(), v);
        }
    }
    attributes.insert("created".into(), json!(rfc3339(o.created)));
    let value = match (o.object_type, &o.value) {
        (ObjectType::PrivateKey, _) | (_, None) => Value::Null,
        (_, Some(v)) => Value::String(b64(v)),
    };
    let mut out = Map::new();
    out.insert("id".into(), json!(o.id));
    out.insert("value".into(), value);
    out.insert("objecttype".into(), json!(o.object_type.name()));
    out.insert("state".into(), json!(o.state.name()));
    out.insert("keyid".into(), json!(o.key_id));
    out.insert("userid".into(), json!(o.user_id));
    out.insert("attributes".into(), Value::Object(attributes));
    out.insert("dateattributes".into(), Value::Object(dates));
    if !fields.is_empty() {
        out.retain(|k, _| fields.iter().any(|f| f == k));
    }
    out
}

impl App {
    /// `GET /objects` and `GET /private-keys`, scoped by the caller's
    /// bearer token (seed §7.4: `authorization: "Bearer: MII..."`) to the
    /// users [`Self::visible_users`] returns. A `userid` filter outside
    /// that scope matches nothing, as if those objects did not exist.
    pub(super) async fn list_objects(
        &self,
        query: Option<&str>,
        authorization: Option<&str>,
        private_keys: bool,
    ) -> Result<Reply, ApiError> {
        let visible = self.visible_users(authorization).await?;
        let q = parse_query(query, private_keys)?;
        let users: Vec<String> = match &q.filter.user_id {
            Some(asked) => visible.into_iter().filter(|v| v == asked).collect(),
            None => visible,
        };
        let mut objects = Vec::new();
        for user in users {
            let filter = ObjectFilter {
                user_id: Some(user),
                ..q.filter.clone()
            };
            objects.extend(self.store.objects(filter).await?);
        }
        objects.sort_by(|a, b| a.id.cmp(&b.id));
        objects.truncate(usize::try_from(q.filter.limit).unwrap_or(usize::MAX));
        Ok(ok_json(&ObjectsAnswer {
            objects: objects.iter().map(|o| object_json(o, &q.fields)).collect(),
        }))
    }

    /// Whose objects the holder of the bearer token in `authorization`
    /// may see: its own, and for a Privileged User also those of the
    /// Signers it manages ([`crate::store::Store::managed_signers`]). The
    /// token is checked against `[tokens] idp_certificates` (issuer,
    /// signature, validity at samd's clock, identification level); a
    /// missing or refused token is [`HostError::Unauthorized`].
    ///
    /// This is a filter of what samd shows, not a security boundary: samd
    /// is untrusted, and every signature still needs a SAD the firmware
    /// checks. It keeps one SSA's users from listing another's keys.
    async fn visible_users(&self, authorization: Option<&str>) -> Result<Vec<String>, ApiError> {
        let now = u64::try_from(crate::store::unix_now()).unwrap_or(0);
        let token = self
            .tokens
            .verify_header(authorization, now)
            .map_err(|e| ApiError::host(HostError::Unauthorized, e.to_string()))?;
        let user = token.user_id.to_string();
        let role = self.store.user(user.clone()).await?.map(|r| r.record.role);
        let mut users = vec![user.clone()];
        if role == Some(Role::PrivilegedUser) {
            users.extend(self.store.managed_signers(user).await?);
        }
        Ok(users)
    }

    /// `POST /objects`: registers a certificate for a key. The key is
    /// named by a link of type `PRIVATE_KEY` to its KeyID. The firmware
    /// decides (RegisterCertificate): it authenticates the credential (the
    /// key's owner or a Privileged User), checks the certificate against
    /// the policy's signing CAs, its validity, key usage and public key,
    /// activates the key and audits. Only then does samd store the
    /// certificate: the key (and its public key) become `ACTIVE`, an
    /// earlier certificate of the key `DEACTIVATED`. samd's own checks
    /// below only give clearer errors; they decide nothing.
    pub(super) async fn register_object(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: RegisterRequest = parse_body(body)?;
        let invalid = |m: String| ApiError::seed(ErrorType::InvalidInput, m);
        let credential = p.credential.clone().ok_or_else(|| {
            ApiError::seed(ErrorType::ContainerParseError, "`credential` is missing")
        })?;
        if p.objecttype != ObjectType::Certificate.name() {
            return Err(invalid(format!(
                "only CERTIFICATE objects can be registered, not {:?}",
                p.objecttype
            )));
        }
        let link = p
            .links
            .iter()
            .find(|l| l.kind == ObjectType::PrivateKey.name())
            .ok_or_else(|| invalid("a link of type PRIVATE_KEY to the key is required".into()))?;
        let key_uuid = Uuid::parse(&link.id)
            .map_err(|_| invalid(format!("link id {:?} is not a KeyID", link.id)))?;
        let key_id = key_uuid.to_string();
        let stored = self.store.signer_key(key_id.clone()).await?;
        let raw = RawCredential {
            kind: credential.kind,
            value: b64(&credential.value.0),
            userid: credential.userid,
            proof: credential
                .proof
                .as_ref()
                .map(|p| (b64(&p.challenge.0), b64(&p.signature.0))),
        };
        let auth = self.authentication(&raw).await?;
        let certificate = Blob::<MAX_CERT_LEN>::new(&p.value.0).map_err(|_| {
            invalid(format!(
                "the certificate is longer than {MAX_CERT_LEN} bytes"
            ))
        })?;
        let req = RegisterCertificate {
            auth,
            key_id: key_uuid,
            wrapped: stored.as_ref().map(|(w, _)| w.clone()),
            certificate,
        };
        let registered = match self.firmware.call(&req).await {
            Ok(r) => r,
            Err(r) => return Err(self.refused(r).await),
        };
        let user_id = stored
            .as_ref()
            .map(|(w, _)| w.user_id.to_string())
            .unwrap_or_default();
        let cert = x509_cert::Certificate::from_der(&p.value.0)
            .map_err(|e| invalid(format!("the value is not a DER X.509 certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let now = crate::store::unix_now();
        let mut attributes = p.attributes;
        attributes.insert("subject".into(), json!(tbs.subject().to_string()));
        attributes.insert("activation".into(), json!(rfc3339(now)));
        attributes.insert("not-after".into(), json!(rfc3339(registered.not_after)));
        if let Some(hint) = p.content_hint {
            attributes.insert("contentHint".into(), json!(hint));
        }
        let n = self.store.certificate_count(key_id.clone()).await?;
        let certificate = ManagedObject {
            id: format!("{key_id}/certificate/{n}"),
            object_type: ObjectType::Certificate,
            state: ObjectState::Active,
            key_id: key_id.clone(),
            user_id,
            value: Some(p.value.0),
            attributes: Value::Object(attributes),
            created: now,
            updated: now,
        };
        let object = object_json(&certificate, &[]);
        let audit_seq = registered.audit.entry.seq;
        self.store
            .write(WriteBatch {
                audit: vec![registered.audit],
                ops: vec![WriteOp::ActivateCertificate {
                    key_id,
                    certificate,
                }],
            })
            .await?;
        Ok(ok_json(&RegisterAnswer { object, audit_seq }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings() {
        let q = parse_query(Some("state=ACTIVE&objecttype=CERTIFICATE&return=id"), false).unwrap();
        assert_eq!(q.filter.state, Some(ObjectState::Active));
        assert_eq!(q.filter.object_type, Some(ObjectType::Certificate));
        assert_eq!(q.fields, ["id"]);
        let q = parse_query(None, true).unwrap();
        assert_eq!(q.filter.state, Some(ObjectState::Active));
        assert_eq!(q.filter.object_type, Some(ObjectType::PrivateKey));
        assert!(parse_query(Some("state=SLEEPING"), false).is_err());
        assert!(parse_query(Some("name%3Bcontains=x"), false).is_err());
        assert_eq!(percent_decode("a%2Fb+c").unwrap(), "a/b c");
        assert!(percent_decode("%G0").is_err());
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
    }
}

//! The key manager (seed §7.4): listing objects and private keys with
//! their filters as a query string, and registering a certificate for a
//! key.

use super::print_json;
use crate::ctl::approval::parse_uuid;
use crate::ctl::cli::{
    ObjectFilter, ObjectsArgs, PrivateKeysArgs, RegisterCertificateArgs, TokenArg,
};
use crate::ctl::client::Client;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::files;
use crate::ctl::settings::Settings;
use sam_client::Method;
use sam_client::wire::keymgr::{ObjectsAnswer, RegisterAnswer, RegisterRequest};
use std::path::Path;

pub(super) async fn objects(s: &Settings, a: ObjectsArgs) -> CtlResult<u8> {
    let mut q = query(&a.filter)?;
    if let Some(t) = &a.object_type {
        q.push(("objecttype", t.clone()));
    }
    print_json(&query_as(s, &a.filter.token, &with_query("/objects", &q)).await?)
}

pub(super) async fn private_keys(s: &Settings, a: PrivateKeysArgs) -> CtlResult<u8> {
    let q = query(&a.filter)?;
    print_json(&query_as(s, &a.filter.token, &with_query("/private-keys", &q)).await?)
}

/// `GET path` presenting the identity token in the file `token` as the
/// key manager's bearer token (seed §7.4): samd shows what that user may
/// see.
async fn query_as(s: &Settings, token: &Path, path: &str) -> CtlResult<ObjectsAnswer> {
    let der = files::der_document(token, "identity token")?;
    let authorization = sam_client::bearer::bearer_header(&der);
    Client::new(s)?
        .send_authorized(Method::GET, path, None, Some(&authorization))
        .await?
        .into_json()
}

pub(super) async fn register_certificate(
    s: &Settings,
    a: RegisterCertificateArgs,
) -> CtlResult<u8> {
    let key_id = parse_uuid(&a.key_id, "--key-id")?;
    let cert = files::certificates(&a.certificate)?
        .into_iter()
        .next()
        .ok_or_else(|| CtlError::usage("--cert: no certificate"))?;
    print_json(&register(s, &a.token, key_id, &cert).await?)
}

/// Registers the DER certificate `cert` for `key_id` (`POST /objects`),
/// asked by the user of `token`: samd's answer.
pub(super) async fn register(
    s: &Settings,
    token: &TokenArg,
    key_id: sam_proto::ids::Uuid,
    cert: &[u8],
) -> CtlResult<RegisterAnswer> {
    let client = Client::new(s)?;
    let (code, intent) = sam_client::intent::register_certificate_intent(key_id, cert)
        .map_err(|e| CtlError::usage(e.to_string()))?;
    let credential =
        super::peering::signed_token(&client, &token.token, &token.token_key, code, &intent)
            .await?;
    let body = RegisterRequest::certificate(key_id.to_string(), cert, Some(credential));
    client.post("/objects", &body).await
}

fn query(f: &ObjectFilter) -> CtlResult<Vec<(&'static str, String)>> {
    let mut q = Vec::new();
    if let Some(v) = &f.id {
        q.push(("id", v.clone()));
    }
    if let Some(v) = &f.state {
        q.push(("state", v.clone()));
    }
    if let Some(v) = &f.key_id {
        q.push(("keyid", parse_uuid(v, "--key-id")?.to_string()));
    }
    if let Some(v) = &f.user_id {
        q.push(("userid", parse_uuid(v, "--user-id")?.to_string()));
    }
    if let Some(v) = f.limit {
        q.push(("limit", v.to_string()));
    }
    Ok(q)
}

/// `%XX`-escapes everything but unreserved characters.
fn escape(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn with_query(path: &str, q: &[(&str, String)]) -> String {
    if q.is_empty() {
        return path.to_owned();
    }
    let parts: Vec<String> = q
        .iter()
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect();
    format!("{path}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        assert_eq!(with_query("/objects", &[]), "/objects");
        assert_eq!(
            with_query(
                "/objects",
                &[("state", "PRE_ACTIVE".into()), ("id", "a/b c".into())]
            ),
            "/objects?state=PRE_ACTIVE&id=a%2Fb%20c"
        );
    }
}

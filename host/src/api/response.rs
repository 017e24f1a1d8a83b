//! Building responses.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

/// Every response the daemon sends.
pub type Reply = Response<Full<Bytes>>;

/// A JSON response. The bodies are `sam_client::wire` types (or plain
/// JSON values), which always serialize: their maps have string keys.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    with_type(status, bytes, "application/json")
}

/// A 200 JSON response.
pub fn ok_json(body: &impl serde::Serialize) -> Reply {
    json_response(StatusCode::OK, body)
}

/// A text response of `content_type`.
pub fn with_type(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

//! `application/x-www-form-urlencoded` text (URL query strings and OAuth2
//! form bodies, RFC 6749 appendix B): decoding with `+` and `%XX`, and
//! encoding of everything but the unreserved characters.

use std::fmt::Write as _;

/// A malformed escape or a value that is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormError;

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed form encoding")
    }
}

impl std::error::Error for FormError {}

/// Decodes one component.
pub fn decode(s: &str) -> Result<String, FormError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(FormError)?;
                let hex = std::str::from_utf8(hex).map_err(|_| FormError)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| FormError)?);
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
    String::from_utf8(out).map_err(|_| FormError)
}

/// The decoded `name=value` pairs of `text`, in order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, FormError> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// The value of `name` in `pairs` (the first).
pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Encodes one component (unreserved characters stay, the rest `%XX`).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Encodes `pairs` as `a=1&b=2`.
pub fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let text = encode_pairs([("a b", "x/y+z"), ("json", "[{\"k\":1}]"), ("empty", "")]);
        let pairs = parse(&text).unwrap();
        assert_eq!(get(&pairs, "a b"), Some("x/y+z"));
        assert_eq!(get(&pairs, "json"), Some("[{\"k\":1}]"));
        assert_eq!(get(&pairs, "empty"), Some(""));
        assert_eq!(get(&pairs, "missing"), None);
        assert_eq!(decode("a+b%2Fc").unwrap(), "a b/c");
        assert_eq!(decode("%G0"), Err(FormError));
        assert_eq!(decode("%4"), Err(FormError));
        assert_eq!(decode("%FF"), Err(FormError));
    }
}

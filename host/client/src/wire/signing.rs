//! `POST /signing`, the SSA's signing call (seed §7.2.1).
//!
//! ```text
//! POST /signing
//! {"sad": "<base64 DER SAD>", "signatureFormat": "cms" | "raw"}   (format optional, default "cms")
//!
//! 200 {"signatureFormat": "cms",
//!      "signatures": {"0": "<base64>", "1": "<base64>", ...},
//!      "audit_seq": 17}
//! ```
//!
//! Seed Table 24 answers a map id → signature container. The id is the
//! zero-based position of the hash in the SAD's `tbsHashValues`, as a
//! decimal string (`"0"`, `"1"`, ...): the SAD carries no other name for
//! a hash, and the position is what the caller already knows.

use super::B64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What `/signing` returns per hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureFormat {
    /// A detached CMS `SignedData` (DER `ContentInfo`, RFC 5652) without
    /// signed attributes, its signature directly over the SAD's hash
    /// (built by [`crate::cms::hash_signature`]). The signer is named by
    /// issuer and serial of the key's registered certificate, which the
    /// CMS carries; a key without one is named by a subjectKeyIdentifier
    /// ([`crate::cms::subject_key_identifier`]) and the CMS carries no
    /// certificate.
    #[default]
    #[serde(rename = "cms")]
    Cms,
    /// The bare signature values: DER `Ecdsa-Sig-Value` for EC keys, the
    /// raw PKCS#1 v1.5 signature for RSA keys (for integrators who build
    /// their own containers, such as CMS with signed attributes).
    #[serde(rename = "raw")]
    Raw,
}

/// The request of `POST /signing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningRequest {
    /// The DER SAD (seed §8.1).
    pub sad: B64,
    /// What to return per hash; absent means [`SignatureFormat::Cms`].
    #[serde(
        default,
        rename = "signatureFormat",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature_format: Option<SignatureFormat>,
}

/// The answer of `POST /signing`: one entry per hash of the SAD, keyed by
/// the hash's zero-based position in the SAD as a decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningAnswer {
    /// The format of the values of `signatures`.
    #[serde(rename = "signatureFormat")]
    pub signature_format: SignatureFormat,
    /// Position → base64 signature container (or bare value).
    pub signatures: BTreeMap<String, B64>,
    /// The firmware's audit sequence number of the signing.
    #[serde(default)]
    pub audit_seq: Option<u64>,
}

impl SigningAnswer {
    /// The values in SAD order; an answer whose ids are not exactly
    /// `"0"`..`"n-1"` is an error naming the first id that does not fit.
    pub fn in_order(self) -> Result<Vec<Vec<u8>>, String> {
        let n = self.signatures.len();
        let mut out: Vec<Option<Vec<u8>>> = vec![None; n];
        for (id, value) in self.signatures {
            let slot = id
                .parse::<usize>()
                .ok()
                .filter(|i| i.to_string() == id)
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| format!("signature id {id:?} is not a position below {n}"))?;
            *slot = Some(value.0);
        }
        out.into_iter()
            .map(|v| v.ok_or_else(|| "a signature position is missing".to_owned()))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn answer(ids: &[&str]) -> SigningAnswer {
        SigningAnswer {
            signature_format: SignatureFormat::Raw,
            signatures: ids
                .iter()
                .map(|id| ((*id).to_owned(), B64(id.as_bytes().to_vec())))
                .collect(),
            audit_seq: None,
        }
    }

    #[test]
    fn positions_come_back_in_sad_order() {
        // "10" sorts before "2" as text; the order is by number.
        let ids: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let values = answer(&refs).in_order().unwrap();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(v, i.to_string().as_bytes());
        }
    }

    #[test]
    fn ids_that_are_not_exactly_the_positions_are_refused() {
        for bad in [
            &["1"][..],
            &["0", "2"],
            &["00"],
            &["+0"],
            &["x"],
            &["0", "-1"],
        ] {
            assert!(answer(bad).in_order().is_err(), "{bad:?}");
        }
        assert_eq!(answer(&[]).in_order().unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn the_format_defaults_to_cms_and_is_spelled_in_lower_case() {
        let r: SigningRequest = serde_json::from_str(r#"{"sad": "MAA="}"#).unwrap();
        assert_eq!(r.signature_format.unwrap_or_default(), SignatureFormat::Cms);
        let r: SigningRequest =
            serde_json::from_str(r#"{"sad": "MAA=", "signatureFormat": "raw"}"#).unwrap();
        assert_eq!(r.signature_format, Some(SignatureFormat::Raw));
        assert!(
            serde_json::from_str::<SigningRequest>(r#"{"sad": "MAA=", "signatureFormat": "RAW"}"#)
                .is_err()
        );
    }
}

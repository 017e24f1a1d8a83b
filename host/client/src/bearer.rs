//! Checking an identity token presented as an HTTP bearer token.
//!
//! The hosts (samd's key manager, the CSC service) use a bearer token only
//! to decide what to *show* a caller: its own credentials, its own keys.
//! That decision is the host's, and the host is untrusted, so the check
//! here is a convenience filter, not a security boundary: every signature
//! still needs a SAD that the firmware verifies against its own IdP
//! anchors. The checks mirror the firmware's (trusted IdP by issuer and
//! serial, signature, validity window, identification level) so that a
//! token the firmware would refuse is refused here too, with a reason.

use crate::verify::{KeyKind, verify_message};
use der::{Decode, Encode};
use sam_proto::asn1::{IdentificationLevel, SignedIdentityToken, signature_hash};
use sam_proto::ids::{UserId, Uuid};
use std::fmt;
use x509_cert::Certificate;

/// Why a bearer token was refused. The text is safe to return to the
/// caller: it names no key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization: Bearer` header, or not base64 DER.
    Missing,
    /// Not a strict-DER `SignedIdentityToken`, or a field is unusable.
    Malformed(String),
    /// Signed by no configured IdP certificate.
    UntrustedIssuer,
    /// The IdP's signature does not verify.
    BadSignature,
    /// Before `notBefore`.
    NotYetValid,
    /// After `notAfter`.
    Expired,
    /// Identification level absent or below `Substantial`.
    LevelTooLow,
}

impl fmt::Display for BearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no bearer token"),
            Self::Malformed(why) => write!(f, "the bearer token is malformed: {why}"),
            Self::UntrustedIssuer => f.write_str("the bearer token's issuer is not a trusted IdP"),
            Self::BadSignature => f.write_str("the bearer token's signature does not verify"),
            Self::NotYetValid => f.write_str("the bearer token is not valid yet"),
            Self::Expired => f.write_str("the bearer token has expired"),
            Self::LevelTooLow => {
                f.write_str("the bearer token's identification level is below Substantial")
            }
        }
    }
}

impl std::error::Error for BearerError {}

/// One trusted IdP certificate, reduced to what token checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Anchor {
    issuer: Vec<u8>,
    serial: Vec<u8>,
    spki: Vec<u8>,
}

/// The IdP certificates whose tokens are accepted as bearer tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenVerifier {
    anchors: Vec<Anchor>,
}

/// What a verified token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The token's user.
    pub user_id: UserId,
    /// End of validity, Unix seconds (inclusive).
    pub not_after: u64,
    /// The DER SPKI of the SAD key the token binds, if any.
    pub sad_public_key: Option<Vec<u8>>,
    /// The parsed token.
    pub token: SignedIdentityToken,
}

impl TokenVerifier {
    /// A verifier trusting the DER certificates `certificates`.
    pub fn from_certificates_der(certificates: &[Vec<u8>]) -> Result<Self, BearerError> {
        let mut anchors = Vec::with_capacity(certificates.len());
        for der in certificates {
            let cert = Certificate::from_der(der)
                .map_err(|e| BearerError::Malformed(format!("IdP certificate: {e}")))?;
            let tbs = cert.tbs_certificate();
            anchors.push(Anchor {
                issuer: tbs
                    .issuer()
                    .to_der()
                    .map_err(|e| BearerError::Malformed(format!("IdP certificate issuer: {e}")))?,
                serial: tbs.serial_number().as_bytes().to_vec(),
                spki: tbs
                    .subject_public_key_info()
                    .to_der()
                    .map_err(|e| BearerError::Malformed(format!("IdP certificate key: {e}")))?,
            });
        }
        Ok(Self { anchors })
    }

    /// A verifier trusting every certificate of the PEM files `paths`.
    pub fn from_pem_files(paths: &[std::path::PathBuf]) -> Result<Self, crate::ClientError> {
        let mut ders = Vec::new();
        for p in paths {
            ders.extend(
                crate::read_pem_certificates(p)?
                    .into_iter()
                    .map(|c| c.as_ref().to_vec()),
            );
        }
        Self::from_certificates_der(&ders)
            .map_err(|e| crate::ClientError::Config(format!("IdP certificates: {e}")))
    }

    /// How many IdP certificates are trusted.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether no IdP certificate is trusted (every token is refused).
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Checks the DER token `der` at `now` (Unix seconds).
    pub fn verify(&self, der: &[u8], now: u64) -> Result<VerifiedToken, BearerError> {
        let token = SignedIdentityToken::from_der_strict(der)
            .map_err(|e| BearerError::Malformed(e.to_string()))?;
        let anchor = self
            .anchors
            .iter()
            .find(|a| token.signer.matches_parts(&a.issuer, &a.serial))
            .ok_or(BearerError::UntrustedIssuer)?;
        let (hash, scheme) = signature_hash(&token.signature_algorithm)
            .map_err(|_| BearerError::Malformed("unsupported signature algorithm".into()))?;
        let kind = KeyKind::of_spki(&anchor.spki).map_err(|_| BearerError::UntrustedIssuer)?;
        if scheme != Some(kind.scheme()) || scheme.is_none() {
            return Err(BearerError::Malformed(
                "the signature algorithm does not fit the IdP's key".into(),
            ));
        }
        let signed = token
            .signed_bytes()
            .map_err(|e| BearerError::Malformed(e.to_string()))?;
        verify_message(&anchor.spki, hash, &signed, token.signature.as_bytes())
            .map_err(|_| BearerError::BadSignature)?;
        let data = &token.data;
        let not_before = data.not_before.to_unix_duration().as_secs();
        let not_after = data.not_after.to_unix_duration().as_secs();
        if now < not_before {
            return Err(BearerError::NotYetValid);
        }
        if now > not_after {
            return Err(BearerError::Expired);
        }
        match data.identification_level() {
            Ok(Some(level)) if level >= IdentificationLevel::Substantial => {}
            Ok(_) => return Err(BearerError::LevelTooLow),
            Err(e) => return Err(BearerError::Malformed(e.to_string())),
        }
        let user_id: UserId = Uuid::parse(&data.user_id)
            .map_err(|_| BearerError::Malformed("userId is not a UUID".into()))?;
        let sad_public_key = match data.sad_public_key() {
            Ok(Some(spki)) => Some(
                spki.to_der()
                    .map_err(|e| BearerError::Malformed(e.to_string()))?,
            ),
            Ok(None) => None,
            Err(e) => return Err(BearerError::Malformed(e.to_string())),
        };
        Ok(VerifiedToken {
            user_id,
            not_after,
            sad_public_key,
            token,
        })
    }

    /// Checks the value of an `Authorization` header: `Bearer <base64
    /// DER token>` (the seed's `Bearer: MII...` spelling is accepted too).
    pub fn verify_header(
        &self,
        header: Option<&str>,
        now: u64,
    ) -> Result<VerifiedToken, BearerError> {
        let der = bearer_der(header)?;
        self.verify(&der, now)
    }
}

/// The `Authorization` header value that presents the DER identity token
/// `token_der`: `Bearer <standard base64>`.
pub fn bearer_header(token_der: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "Bearer {}",
        base64::engine::general_purpose::STANDARD.encode(token_der)
    )
}

/// The DER token of an `Authorization` header value.
pub fn bearer_der(header: Option<&str>) -> Result<Vec<u8>, BearerError> {
    use base64::Engine as _;
    let value = header.ok_or(BearerError::Missing)?.trim();
    let rest = value
        .strip_prefix("Bearer:")
        .or_else(|| value.strip_prefix("Bearer "))
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(BearerError::Missing)?
        .trim();
    if rest.is_empty() {
        return Err(BearerError::Missing);
    }
    base64::engine::general_purpose::STANDARD
        .decode(rest)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(rest))
        .map_err(|_| BearerError::Malformed("the bearer token is not base64".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sam_proto::asn1::IdentificationLevel;
    use sam_testkeys::{Idp, SadKey};

    const NOW: i64 = 1_800_000_000;

    fn user() -> UserId {
        Uuid::parse("7e0f6a39-5a5c-4c1e-9a44-2f4c9f1f0a01").unwrap()
    }

    #[test]
    fn a_trusted_token_names_its_user_and_sad_key() {
        let idp = Idp::p256(1);
        let sad = SadKey::new(3);
        let verifier =
            TokenVerifier::from_certificates_der(std::slice::from_ref(&idp.cert)).unwrap();
        let token = idp.token(user(), NOW - 10, NOW + 60, Some(&sad.spki()));
        let v = verifier.verify(&token, NOW as u64).unwrap();
        assert_eq!(v.user_id, user());
        assert_eq!(v.not_after, (NOW + 60) as u64);
        assert_eq!(v.sad_public_key, Some(sad.spki()));
        let header = format!(
            "Bearer {}",
            base64::engine::general_purpose::STANDARD.encode(&token)
        );
        assert_eq!(
            verifier
                .verify_header(Some(&header), NOW as u64)
                .unwrap()
                .user_id,
            user()
        );
        let seed_spelling = header.replacen("Bearer ", "Bearer: ", 1);
        assert!(
            verifier
                .verify_header(Some(&seed_spelling), NOW as u64)
                .is_ok()
        );
    }

    #[test]
    fn rsa_idp_tokens_verify_too() {
        let idp = Idp::rsa2048(2);
        let verifier =
            TokenVerifier::from_certificates_der(std::slice::from_ref(&idp.cert)).unwrap();
        let token = idp.token(user(), NOW - 10, NOW + 60, None);
        assert_eq!(verifier.verify(&token, NOW as u64).unwrap().user_id, user());
    }

    #[test]
    fn every_refusal_has_its_reason() {
        let idp = Idp::p256(1);
        let other = Idp::p256(9);
        let verifier =
            TokenVerifier::from_certificates_der(std::slice::from_ref(&idp.cert)).unwrap();
        let token = idp.token(user(), NOW - 10, NOW + 60, None);
        let now = NOW as u64;
        assert_eq!(
            verifier.verify(&other.token(user(), NOW - 10, NOW + 60, None), now),
            Err(BearerError::UntrustedIssuer)
        );
        assert_eq!(
            verifier.verify(&token, now - 11),
            Err(BearerError::NotYetValid)
        );
        assert_eq!(verifier.verify(&token, now + 61), Err(BearerError::Expired));
        let mut tampered = token.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            verifier.verify(&tampered, now),
            Err(BearerError::BadSignature | BearerError::Malformed(_))
        ));
        assert!(matches!(
            verifier.verify(b"not a token", now),
            Err(BearerError::Malformed(_))
        ));
        let mut low = Idp::p256(1);
        low.level = IdentificationLevel::Low;
        assert_eq!(
            verifier.verify(&low.token(user(), NOW - 10, NOW + 60, None), now),
            Err(BearerError::LevelTooLow)
        );
        assert_eq!(verifier.verify_header(None, now), Err(BearerError::Missing));
        assert_eq!(
            verifier.verify_header(Some("Basic abc"), now),
            Err(BearerError::Missing)
        );
        assert!(matches!(
            verifier.verify_header(Some("Bearer !!!"), now),
            Err(BearerError::Malformed(_))
        ));
        let empty = TokenVerifier::default();
        assert!(empty.is_empty());
        assert_eq!(empty.verify(&token, now), Err(BearerError::UntrustedIssuer));
    }
}

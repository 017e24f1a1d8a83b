//! Signing (seed §7.1.6 and the SSA's `POST /signing`, §7.2.1).
//!
//! The host parses the SAD only to find what to attach: the signer's
//! record (by the token's userId) and the wrapped key (by keyid). The
//! firmware re-checks all of it, in the order of its signing table. A SAD
//! the host cannot parse still goes to the firmware, so that the refusal
//! is audited like any other.
//!
//! # Single use across HSMs
//!
//! Each module's replay set sees only that module's signings, so with
//! several HSMs of one key domain a SAD could be signed once per module.
//! samd closes that in the store: the signing's audit record and the
//! digest of its identity token (SHA-256 of the token's signed bytes, the
//! very key of the firmware's replay set) are written in one transaction,
//! the digest under a UNIQUE key ([`WriteOp::UseToken`]). If another
//! signing (on any module whose samd shares the store) stored the digest
//! first, the transaction keeps the audit record, refuses the rest, and
//! the signature is withheld: the client gets `ReplayedSad`, as from the
//! firmware. The token rather than the SAD bytes is the key for the
//! firmware's reasons: a re-encoded or re-signed SAD, or a second SAD made
//! with the same token, carries the same token.

use super::App;
use super::error::ApiError;
use super::json::{B64, parse_body};
use super::response::{Reply, ok_json};
use crate::store::{ObjectFilter, ObjectState, ObjectType, WriteOp};
use sam_client::cms;
use sam_client::wire::signing::{SignatureFormat, SigningAnswer, SigningRequest};
use sam_proto::ErrorType;
use sam_proto::asn1::Sad;
use sam_proto::bounded::Blob;
use sam_proto::codes::Cause;
use sam_proto::command::{Credential, MAX_SAD_LEN, Signing};
use sam_proto::ids::Uuid;
use sha2::{Digest, Sha256};

impl App {
    /// Signs the hashes of `sad`; returns the signatures in SAD order and
    /// the audit sequence number.
    pub(super) async fn sign(
        &self,
        sad: Vec<u8>,
        credential: Option<Credential>,
    ) -> Result<(Vec<Vec<u8>>, u64), ApiError> {
        let (user_id, key_id, token) = match Sad::from_der_strict(&sad) {
            Ok(parsed) => (
                Uuid::parse(&parsed.tbs.identity_token.data.user_id).ok(),
                Uuid::parse(&parsed.tbs.key_id).ok(),
                token_digest(&parsed),
            ),
            Err(_) => (None, None, None),
        };
        let sad = Blob::<MAX_SAD_LEN>::from_vec(sad).map_err(|_| {
            ApiError::refused(
                ErrorType::MessageParseError,
                Cause::HostTooLong,
                format!("the SAD is longer than {MAX_SAD_LEN} bytes"),
            )
        })?;
        let signer = match user_id {
            Some(u) => self.store.user(u.to_string()).await?,
            None => None,
        };
        // Keys that are not PRE_ACTIVE or ACTIVE are withheld: the
        // firmware then answers, and audits, NotFound.
        let wrapped = match key_id {
            Some(k) => self
                .store
                .signer_key(k.to_string())
                .await?
                .filter(|(_, state)| state.usable_for_signing())
                .map(|(w, _)| w),
            None => None,
        };
        let req = Signing {
            sad,
            credential,
            signer,
            wrapped,
        };
        match self.firmware.call(&req).await {
            Ok(signed) => {
                let seq = signed.audit.entry.seq;
                // The firmware signs only a SAD that parses, so a missing
                // digest is a bug: the signature is withheld rather than
                // sent unchecked.
                let Some(digest) = token else {
                    self.persist("Signing", vec![signed.audit], Vec::new())
                        .await?;
                    return Err(unexpected_withheld(
                        "the firmware signed a SAD whose identity token samd cannot read".into(),
                    ));
                };
                self.persist(
                    "Signing",
                    vec![signed.audit],
                    vec![WriteOp::UseToken { digest }],
                )
                .await?;
                Ok((
                    signed
                        .signatures
                        .into_vec()
                        .into_iter()
                        .map(Blob::into_vec)
                        .collect(),
                    seq,
                ))
            }
            Err(r) => Err(self.refused(r).await),
        }
    }

    /// `POST /signing` (seed §7.2.1, Table 24): `{"sad": "<base64>",
    /// "signatureFormat": "cms" | "raw"}` in, `{"signatureFormat",
    /// "signatures": {"0": "<base64>", ...}, "audit_seq"}` out, keyed by
    /// the hash's zero-based position in the SAD (see
    /// [`sam_client::wire::signing`]).
    ///
    /// The CMS is built after the firmware signed, from the SAD's hash
    /// algorithm and hashes, the signature and the key's registered
    /// certificate (or, without one, its public key): nothing in it needs
    /// trust in samd, since a verifier checks the signature against the
    /// certificate, which the signing CA issued.
    pub(super) async fn ssa_signing(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: SigningRequest = parse_body(body)?;
        let format = p.signature_format.unwrap_or_default();
        // Parsed again here (sign() keeps only what it attaches): a SAD
        // the firmware signed with parsed there too.
        let parsed = Sad::from_der_strict(&p.sad.0).ok();
        let (signatures, seq) = self.sign(p.sad.0, None).await?;
        let values = match (format, parsed) {
            (SignatureFormat::Raw, _) => signatures,
            (SignatureFormat::Cms, Some(sad)) => self.containers(&sad, signatures).await?,
            (SignatureFormat::Cms, None) => {
                return Err(unexpected("the signed SAD does not parse".into()));
            }
        };
        Ok(ok_json(&SigningAnswer {
            signature_format: format,
            signatures: values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), B64(v)))
                .collect(),
            audit_seq: Some(seq),
        }))
    }

    /// One detached CMS per signature of `sad`'s hashes, naming the key's
    /// ACTIVE certificate, or its public key if it has none.
    async fn containers(
        &self,
        sad: &Sad,
        signatures: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, ApiError> {
        let hash = sad
            .hash_algorithm()
            .map_err(|_| unexpected("the signed SAD has no usable hash algorithm".into()))?;
        let key_id = Uuid::parse(&sad.tbs.key_id)
            .map_err(|_| unexpected("the signed SAD has no usable KeyID".into()))?
            .to_string();
        let object = |object_type| ObjectFilter {
            object_type: Some(object_type),
            state: Some(ObjectState::Active),
            key_id: Some(key_id.clone()),
            limit: 1,
            ..ObjectFilter::default()
        };
        let certificate = self
            .store
            .objects(object(ObjectType::Certificate))
            .await?
            .into_iter()
            .find_map(|o| o.value);
        let public_key = match certificate {
            Some(_) => None,
            None => {
                let mut filter = object(ObjectType::PublicKey);
                filter.state = None;
                self.store
                    .objects(filter)
                    .await?
                    .into_iter()
                    .find_map(|o| o.value)
            }
        };
        let signer = match (&certificate, &public_key) {
            (Some(c), _) => cms::SignerRef::Certificate(c),
            (None, Some(k)) => cms::SignerRef::PublicKey(k),
            (None, None) => {
                return Err(unexpected(format!(
                    "key {key_id} has neither a certificate nor a public key"
                )));
            }
        };
        let signer = cms::HashSigner::new(signer)
            .map_err(|e| unexpected(format!("the signer of key {key_id}: {e}")))?;
        if signatures.len() != sad.tbs.tbs_hash_values.len() {
            return Err(unexpected(format!(
                "{} signatures for {} hashes",
                signatures.len(),
                sad.tbs.tbs_hash_values.len()
            )));
        }
        signatures
            .iter()
            .zip(&sad.tbs.tbs_hash_values)
            .map(|(signature, hash_value)| {
                signer
                    .cms(hash, hash_value.as_bytes(), signature)
                    .map_err(|e| unexpected(format!("building the CMS: {e}")))
            })
            .collect()
    }
}

/// SHA-256 of the signed bytes of the SAD's identity token: the key of the
/// firmware's replay set (`firmware/src/ops/signing.rs`, checks 17-18),
/// and of the store's `used_tokens`.
pub(crate) fn token_digest(sad: &Sad) -> Option<[u8; 32]> {
    let signed = sad.tbs.identity_token.signed_bytes().ok()?;
    Some(Sha256::digest(&signed).into())
}

/// An UnexpectedError after the firmware signed, the signature withheld.
fn unexpected_withheld(log: String) -> ApiError {
    after_signing(
        "the signature was made but samd withheld it; see samd's log",
        log,
    )
}

/// An UnexpectedError after the firmware signed: the signature exists
/// and is audited, samd cannot package it.
fn unexpected(log: String) -> ApiError {
    after_signing(
        "the signature was made but samd could not build its CMS; see samd's log",
        log,
    )
}

fn after_signing(detail: &str, log: String) -> ApiError {
    ApiError {
        log_detail: Some(log),
        ..ApiError::seed(ErrorType::UnexpectedError, detail).accounted()
    }
}

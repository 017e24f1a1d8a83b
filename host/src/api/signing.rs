//! Signing (seed §7.1.6 and the SSA's `POST /signing`, §7.2.1).
//!
//! The host parses the SAD only to find what to attach: the signer's
//! record (by the token's userId) and the wrapped key (by keyid). The
//! firmware re-checks all of it, in the order of its signing table. A SAD
//! the host cannot parse still goes to the firmware, so that the refusal
//! is audited like any other.

use super::App;
use super::error::ApiError;
use super::json::{B64, parse_body};
use super::peering::SigningParams;
use super::response::{Reply, ok_json};
use sam_client::wire::signing::SigningAnswer;
use sam_proto::ErrorType;
use sam_proto::asn1::Sad;
use sam_proto::bounded::Blob;
use sam_proto::codes::Cause;
use sam_proto::command::{Credential, MAX_SAD_LEN, Signing};
use sam_proto::ids::Uuid;

impl App {
    /// Signs the hashes of `sad`; returns the signatures in SAD order and
    /// the audit sequence number.
    pub(super) async fn sign(
        &self,
        sad: Vec<u8>,
        credential: Option<Credential>,
    ) -> Result<(Vec<Vec<u8>>, u64), ApiError> {
        let (user_id, key_id) = match Sad::from_der_strict(&sad) {
            Ok(parsed) => (
                Uuid::parse(&parsed.tbs.identity_token.data.user_id).ok(),
                Uuid::parse(&parsed.tbs.key_id).ok(),
            ),
            Err(_) => (None, None),
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
                self.persist("Signing", vec![signed.audit], Vec::new())
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

    /// `POST /signing`: `{"sad": "<base64>"}` in, `{"signatures": [...]}`
    /// out, one base64 signature per hash of the SAD, in SAD order.
    pub(super) async fn ssa_signing(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let p: SigningParams = parse_body(body)?;
        let (signatures, seq) = self.sign(p.sad.0, None).await?;
        Ok(ok_json(&SigningAnswer {
            signatures: signatures.into_iter().map(B64).collect(),
            audit_seq: Some(seq),
        }))
    }
}

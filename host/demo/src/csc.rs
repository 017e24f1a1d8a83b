//! The CSC chapter: a signature application that speaks the Cloud
//! Signature Consortium API v2 to samd's CSC listener. The signer's
//! environment makes the seed SAD exactly as in the SSA chapter; the CSC
//! service turns it into a single-use handle, and `signHash` ends in the
//! same firmware call as `/signing`.

use crate::demo::{Demo, SignerKey, document_text, write};
use crate::signing::{Ssa, openssl_verify};
use sam_client::cms;
use sam_csc::client::{CscClient, CscClientError};
use sam_devpki::files;
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::{HashAlgorithm, UserId};

/// `ecdsa-with-SHA256`, the `signAlgo` of the P-256 key.
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

impl Demo {
    /// Document `n` signed through `/csc/v2`: credentials/list,
    /// credentials/authorize with the seed SAD, signatures/signHash, the
    /// CMS finished and checked by openssl; the handle used again is
    /// refused.
    pub fn sign_via_csc(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
        n: usize,
    ) -> Result<((), String), String> {
        let text = document_text(n);
        write(&self.out.join(format!("doc-{n}.txt")), &text)?;
        let prepared = cms::prepare(
            text.as_bytes(),
            &key.certificate,
            &[],
            HashAlgorithm::Sha256,
        )
        .map_err(|e| format!("CMS: {e}"))?;
        let hashes = vec![prepared.to_be_signed_hash.clone()];
        let bearer = self
            .idp
            .login_token(
                signer,
                IdentificationLevel::Substantial,
                sam_devpki::unix_now(),
                600,
            )
            .map_err(|e| format!("bearer token: {e}"))?;
        let csc = CscClient::new(&self.csc_url, &self.pki().path(files::TLS_CA_CERT), &bearer)
            .map_err(|e| e.to_string())?;
        let listed = self
            .rt
            .block_on(csc.credentials())
            .map_err(|e| format!("credentials/list: {e}"))?;
        if !listed.contains(&key.key_id.to_string()) {
            return Err(format!("credentials/list does not show {}", key.key_id));
        }
        let sad = self.sad(ssa, signer, key.key_id, hashes.clone())?;
        let handle = self
            .rt
            .block_on(csc.authorize(key.key_id, HashAlgorithm::Sha256, &hashes, &sad))
            .map_err(|e| format!("credentials/authorize: {e}"))?;
        let signatures = self
            .rt
            .block_on(csc.sign_hash(
                key.key_id,
                HashAlgorithm::Sha256,
                ECDSA_WITH_SHA256,
                &hashes,
                &handle,
            ))
            .map_err(|e| format!("signatures/signHash: {e}"))?;
        let signature = signatures.first().ok_or("no signature")?;
        let p7s = prepared
            .finish(signature)
            .map_err(|e| format!("doc-{n}: the SAM's signature: {e}"))?;
        write(&self.out.join(format!("doc-{n}.p7s")), p7s)?;
        openssl_verify(&self.out, n)?;
        let again = self.rt.block_on(csc.sign_hash(
            key.key_id,
            HashAlgorithm::Sha256,
            ECDSA_WITH_SHA256,
            &hashes,
            &handle,
        ));
        let refused = match again {
            Err(CscClientError::Refused {
                status,
                error,
                description,
            }) => format!("HTTP {status} {error} ({description})"),
            Ok(_) => return Err("the used handle signed again".into()),
            Err(e) => return Err(format!("the used handle: {e}")),
        };
        Ok((
            (),
            format!(
                "{}/csc/v2: credentials/list shows {} credential(s); credentials/authorize \
                 took the seed SAD (authData \"SAD\") and gave a single-use handle; \
                 signatures/signHash signed doc-{n}, openssl cms -verify: Verification \
                 successful; the handle again: {refused}",
                self.csc_url,
                listed.len()
            ),
        ))
    }
}

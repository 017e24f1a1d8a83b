//! The SSA's chapter: the development IdP, SADs made the SSA way, a batch
//! and a single signature, the refusals of a replayed SAD and of a deleted
//! key, and every CMS checked with openssl.

use crate::BATCH;
use crate::demo::{Demo, SignerKey, document_text, write};
use sam_client::{ClientError, IdpClient, IdpLogin, SadKey, SamClient, SignRequest, cms};
use sam_devpki::{DevIdpOptions, DevIdpServer, files};
use sam_proto::ErrorType;
use sam_proto::ids::{HashAlgorithm, KeyId, UserId};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// The SSA's clients.
pub struct Ssa {
    pub idp: IdpClient,
    pub sam: SamClient,
}

impl Demo {
    pub fn start_idp(&self) -> Result<((DevIdpServer, Ssa), String), String> {
        let server = self
            .rt
            .block_on(DevIdpServer::start_with_tsa(
                self.idp.clone(),
                std::net::SocketAddr::from(([127, 0, 0, 1], self.idp_port)),
                DevIdpOptions::default(),
                Some(Arc::new(self.pki().tsa().map_err(|e| e.to_string())?)),
            ))
            .map_err(|e| e.to_string())?;
        let detail = format!(
            "POST {0}/id-token/sad re-issues a login token with the SAD key, POST {0}/tsa \
             answers RFC 3161 requests; the SSA connects to samd with its own client \
             certificate",
            server.url()
        );
        let ssa = Ssa {
            idp: IdpClient::dev_plain_http(&server.url()).map_err(|e| e.to_string())?,
            sam: SamClient::from_pem_files(
                &self.url(),
                &self.pki().path(files::TLS_CA_CERT),
                &self.pki().path(files::SSA_CERT),
                &self.pki().path(files::SSA_KEY),
            )
            .map_err(|e| e.to_string())?,
        };
        Ok(((server, ssa), detail))
    }

    /// The signer's environment's first step: a temporary SAD key, and the
    /// signer's identity token with it embedded by the IdP.
    pub fn sad_token(&self, ssa: &Ssa, signer: UserId) -> Result<(SadKey, Vec<u8>), String> {
        let (login, _) = self.token(signer, "signer")?;
        let login = std::fs::read(&login).map_err(|e| e.to_string())?;
        let sad_key = SadKey::generate().map_err(|e| e.to_string())?;
        let public = sad_key.public_key_der().map_err(|e| e.to_string())?;
        let token = self
            .rt
            .block_on(ssa.idp.embed_sad_key(&IdpLogin::IdToken(login), &public))
            .map_err(|e| format!("IdP: {e}"))?;
        Ok((sad_key, token))
    }

    /// A SAD for `hashes` with `key`, made the SSA way: a temporary SAD key,
    /// the IdP embeds it in the signer's token, the SAD key signs the SAD.
    pub fn sad(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key_id: KeyId,
        hashes: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let request = SignRequest {
            key_id,
            hash_algorithm: HashAlgorithm::Sha256,
            hashes,
        };
        let (sad_key, token) = self.sad_token(ssa, signer)?;
        sad_key
            .sign_sad(&token, &request)
            .map_err(|e| format!("SAD: {e}"))
    }

    /// Writes `doc-N.txt` for `numbers`, signs them all with one SAD, writes
    /// `doc-N.p7s`; the SAD and the audit sequence number.
    pub fn sign_documents(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
        numbers: &[usize],
    ) -> Result<(Vec<u8>, Option<u64>), String> {
        let mut prepared = Vec::new();
        for n in numbers {
            let text = document_text(*n);
            write(&self.out.join(format!("doc-{n}.txt")), &text)?;
            prepared.push(
                cms::prepare(
                    text.as_bytes(),
                    &key.certificate,
                    &[],
                    HashAlgorithm::Sha256,
                )
                .map_err(|e| format!("CMS: {e}"))?,
            );
        }
        let hashes = prepared
            .iter()
            .map(|p| p.to_be_signed_hash.clone())
            .collect();
        let sad = self.sad(ssa, signer, key.key_id, hashes)?;
        let signed = self
            .rt
            .block_on(ssa.sam.sign_sad(&sad))
            .map_err(|e| format!("POST /signing: {e}"))?;
        if signed.signatures.len() != numbers.len() {
            return Err(format!(
                "{} signatures for {} hashes",
                signed.signatures.len(),
                numbers.len()
            ));
        }
        for ((n, p), signature) in numbers.iter().zip(&prepared).zip(&signed.signatures) {
            let p7s = p
                .finish(signature)
                .map_err(|e| format!("doc-{n}: the SAM's signature: {e}"))?;
            write(&self.out.join(format!("doc-{n}.p7s")), p7s)?;
        }
        Ok((sad, signed.audit_seq))
    }

    pub fn sign_batch(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
    ) -> Result<(Vec<u8>, String), String> {
        let numbers: Vec<usize> = (1..=BATCH).collect();
        let (sad, seq) = self.sign_documents(ssa, signer, key, &numbers)?;
        let len = sad.len();
        Ok((
            sad,
            format!(
                "1 SAD ({} bytes) carrying {BATCH} hashes → {BATCH} ECDSA P-256 signatures{}; \
                 doc-1..{BATCH}.p7s written",
                len,
                seq.map(|s| format!(" (audit record {s})"))
                    .unwrap_or_default()
            ),
        ))
    }

    pub fn sign_one(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
        n: usize,
    ) -> Result<((), String), String> {
        self.sign_documents(ssa, signer, key, &[n])?;
        Ok((
            (),
            format!("doc-{n}.p7s: RSA PKCS#1 v1.5 with SHA-256, made by the firmware"),
        ))
    }

    pub fn replay(&self, ssa: &Ssa, sad: &[u8]) -> Result<((), String), String> {
        match self.rt.block_on(ssa.sam.sign_sad(sad)) {
            Err(ClientError::Sam {
                error: ErrorType::ReplayedSad,
                status: 409,
                ..
            }) => Ok((
                (),
                "the same SAD again: ReplayedSad (HTTP 409), single use enforced in the firmware"
                    .into(),
            )),
            Ok(_) => Err("the replayed SAD was signed again".into()),
            Err(e) => Err(format!("refused, but not as ReplayedSad/409: {e}")),
        }
    }

    pub fn openssl_verify_all(&self) -> Result<((), String), String> {
        let mut verified = 0;
        for n in 1..=BATCH + 1 {
            openssl_verify(&self.out, n)?;
            verified += 1;
        }
        Ok((
            (),
            format!(
                "{verified}/{verified} \"Verification successful\" ({BATCH} × ECDSA P-256, 1 × \
                 RSA-3072) with -CAfile ca.pem"
            ),
        ))
    }

    pub fn sign_deleted(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
    ) -> Result<((), String), String> {
        let sad = self.sad(ssa, signer, key.key_id, vec![vec![0x5a; 32]])?;
        match self.rt.block_on(ssa.sam.sign_sad(&sad)) {
            Err(ClientError::Sam {
                error: ErrorType::NotFound,
                status,
                ..
            }) => Ok((
                (),
                format!("a valid SAD for the deleted key: NotFound (HTTP {status})"),
            )),
            Ok(_) => Err("the deleted key signed".into()),
            Err(e) => Err(format!("refused, but not as NotFound: {e}")),
        }
    }
}

/// `openssl cms -verify` of `doc-N.p7s` over `doc-N.txt` against `ca.pem`.
pub fn openssl_verify(out: &Path, n: usize) -> Result<(), String> {
    let result = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(out.join(format!("doc-{n}.p7s")))
        .arg("-content")
        .arg(out.join(format!("doc-{n}.txt")))
        .arg("-CAfile")
        .arg(out.join("ca.pem"))
        .args(["-purpose", "any", "-out"])
        .arg(if cfg!(unix) { "/dev/null" } else { "NUL" })
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    let stderr = String::from_utf8_lossy(&result.stderr);
    if result.status.success() && stderr.contains("Verification successful") {
        Ok(())
    } else {
        Err(format!(
            "doc-{n}.p7s: openssl cms -verify: {}",
            stderr.trim()
        ))
    }
}

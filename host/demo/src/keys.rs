//! The keys' chapter: signer keys generated in the firmware, their CSRs
//! certified by the development CA and registered, one key deleted.

use crate::demo::{Demo, SignerKey, field, pem, uuid, write};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_client::SamClient;
use sam_devpki::files;
use sam_harness::Connector;
use sam_proto::ids::UserId;
use serde_json::Value;

impl Demo {
    pub fn generate_key(
        &self,
        signer: UserId,
        algorithm: &str,
        name: &str,
    ) -> Result<(SignerKey, String), String> {
        let (token, token_key) = self.token(signer, "signer")?;
        let answer = self
            .samctl(
                Connector::Privileged,
                &[
                    &"generate-key",
                    &"--token",
                    &token,
                    &"--token-key",
                    &token_key,
                    &"--user-id",
                    &signer.to_string(),
                    &"--algorithm",
                    &algorithm,
                ],
            )?
            .checked("generate-key")?
            .parse_json()?;
        let key_id = uuid(field(&answer, "keyid")?)?;
        let csr = STANDARD
            .decode(field(&answer, "csr")?)
            .map_err(|e| format!("csr is not base64: {e}"))?;
        write(
            &self.work.join(format!("{name}.csr")),
            pem("CERTIFICATE REQUEST", &csr),
        )?;
        Ok((
            SignerKey {
                key_id,
                csr,
                certificate: Vec::new(),
            },
            format!("KeyID {key_id} (PRE_ACTIVE), CSR in work/{name}.csr"),
        ))
    }

    /// `key`'s CSR certified by the dev CA (written to `work/<name>.pem`)
    /// and registered with samd: the key becomes ACTIVE.
    pub fn certify_key(
        &self,
        signer: UserId,
        mut key: SignerKey,
        name: &str,
    ) -> Result<SignerKey, String> {
        let ra = SamClient::from_pem_files(
            &self.url(),
            &self.pki().path(files::TLS_CA_CERT),
            &self.pki().path(files::PRIVILEGED_CERT),
            &self.pki().path(files::PRIVILEGED_KEY),
        )
        .map_err(|e| e.to_string())?;
        key.certificate = self
            .ca
            .issue_from_csr(&key.csr)
            .map_err(|e| format!("the dev CA refused the {name} CSR: {e}"))?;
        let path = self.work.join(format!("{name}.pem"));
        write(&path, pem("CERTIFICATE", &key.certificate))?;
        // POST /objects with the registration authority's connector,
        // through sam-client (`samctl register-certificate --cert` is
        // shadowed by samctl's global --cert flag).
        let credential = sam_harness::setup::login(&self.idp, signer).map_err(|e| e.to_string())?;
        self.rt
            .block_on(ra.register_certificate(&credential, key.key_id, &key.certificate))
            .map_err(|e| format!("POST /objects ({name}): {e}"))?;
        self.require_active(signer, &[&key])?;
        Ok(key)
    }

    /// Fails unless every key of `keys` is among `signer`'s ACTIVE keys.
    fn require_active(&self, signer: UserId, keys: &[&SignerKey]) -> Result<(), String> {
        // The key manager shows the asker's keys: the signer's token.
        let (token, _) = self.token(signer, "signer-query")?;
        let active = self
            .samctl(
                Connector::Privileged,
                &[
                    &"private-keys",
                    &"--token",
                    &token,
                    &"--user-id",
                    &signer.to_string(),
                ],
            )?
            .checked("private-keys")?
            .parse_json()?;
        let ids: Vec<&str> = active
            .get("objects")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.get("keyid").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        for key in keys {
            if !ids.contains(&key.key_id.to_string().as_str()) {
                return Err(format!("key {} is not ACTIVE: {active}", key.key_id));
            }
        }
        Ok(())
    }

    pub fn certify(
        &self,
        signer: UserId,
        p256: SignerKey,
        rsa: SignerKey,
    ) -> Result<((SignerKey, SignerKey), String), String> {
        let p256 = self.certify_key(signer, p256, "ec-p256")?;
        let rsa = self.certify_key(signer, rsa, "rsa-3072")?;
        Ok((
            (p256, rsa),
            "2 certificates (work/ec-p256.pem, work/rsa-3072.pem) registered; both keys ACTIVE"
                .into(),
        ))
    }

    pub fn delete_key(&self, signer: UserId, key: &SignerKey) -> Result<((), String), String> {
        let (token, token_key) = self.token(signer, "signer")?;
        self.samctl(
            Connector::Privileged,
            &[
                &"delete-key",
                &"--token",
                &token,
                &"--token-key",
                &token_key,
                &"--key-id",
                &key.key_id.to_string(),
            ],
        )?
        .checked("delete-key")?;
        Ok((
            (),
            format!(
                "Delete_Signer_Key_Pair {}: the firmware authorized it, samd destroyed the \
                 wrapped key and its certificate",
                key.key_id
            ),
        ))
    }
}

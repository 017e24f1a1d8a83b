//! The administrators' chapter: dual-control firmware initialization, the
//! IdP key import, the first Privileged User, data integrity and the audit
//! export, all with samctl over the management connector.

use crate::demo::{Demo, uuid};
use sam_harness::Connector;
use sam_proto::ids::UserId;
use serde_json::Value;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

impl Demo {
    pub fn fw_init(&self) -> Result<((), String), String> {
        let [a1, a2] = self.admin_keys();
        let operator_key = self.deployment.simulator().operator_key();
        let operator: [&dyn AsRef<std::ffi::OsStr>; 4] = [
            &"--operator",
            &sam_harness::OPERATOR,
            &"--operator-key",
            &operator_key,
        ];
        // Two administrators are not enough without the HSM operator's
        // logon: whoever reaches the HSM first must not become its
        // administrators. The HSM checks the logon (here: a wrong secret).
        let wrong_key = self.work.join("wrong-operator.key");
        std::fs::write(&wrong_key, [0x5a; 32]).map_err(|e| format!("{e}"))?;
        let intruder = self.samctl(
            Connector::Management,
            &[
                &"fw",
                &"init",
                &"--operator",
                &sam_harness::OPERATOR,
                &"--operator-key",
                &wrong_key,
                &"--admin-key",
                &a1,
                &"--admin-key",
                &a2,
            ],
        )?;
        if intruder.code != 1 || !intruder.stderr.contains("NotAuthorized") {
            return Err(format!(
                "a wrong operator credential was not refused with NotAuthorized: {intruder:?}"
            ));
        }
        // One administrator alone is not enough: dual control is the
        // firmware's decision.
        let admin_pub = self.admin_pub(&a2)?;
        let alone_head: [&dyn AsRef<std::ffi::OsStr>; 6] = [
            &"fw",
            &"init",
            &"--admin-key",
            &a1,
            &"--admin-pub",
            &admin_pub,
        ];
        let alone_args = [&alone_head[..], &operator[..]].concat();
        let alone = self.samctl(Connector::Management, &alone_args)?;
        if alone.code != 1 || !alone.stderr.contains("NotAuthorized") {
            return Err(format!(
                "one administrator's approval was not refused with NotAuthorized: {alone:?}"
            ));
        }
        let both_head: [&dyn AsRef<std::ffi::OsStr>; 6] =
            [&"fw", &"init", &"--admin-key", &a1, &"--admin-key", &a2];
        let both_args = [&both_head[..], &operator[..]].concat();
        let out = self
            .samctl(Connector::Management, &both_args)?
            .checked("fw init")?;
        if out.stdout.trim() != "Initialization of SAM Firmware ... ok" {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        Ok((
            (),
            "a wrong HSM operator credential refused by the HSM (NotAuthorized); one approval \
             alone refused (NotAuthorized); with the operator's logon, admin-1 and admin-2: \
             \"Initialization of SAM Firmware ... ok\""
                .into(),
        ))
    }

    /// The public key (PEM SPKI) of an administrator's private key, derived
    /// with `openssl pkey -pubout` (the dev PKI holds only private keys).
    pub fn admin_pub(&self, key: &Path) -> Result<PathBuf, String> {
        let der = std::fs::read_to_string(key).map_err(|e| format!("{}: {e}", key.display()))?;
        let path = self.work.join("admin-2.pub");
        let out = Command::new("openssl")
            .args(["pkey", "-pubout", "-out"])
            .arg(&path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(der.as_bytes())?;
                }
                child.wait()
            })
            .map_err(|e| format!("openssl pkey: {e}"))?;
        if !out.success() {
            return Err("openssl pkey -pubout failed".into());
        }
        Ok(path)
    }

    pub fn set_idp_keys(&self) -> Result<((), String), String> {
        let [a1, a2] = self.admin_keys();
        let out = self
            .samctl(
                Connector::Management,
                &[
                    &"fw",
                    &"setidpkeys",
                    &self.idp_cert(),
                    &"--admin-key",
                    &a1,
                    &"--admin-key",
                    &a2,
                ],
            )?
            .checked("fw setidpkeys")?;
        if out.stdout.trim() != "Import of IdP Public Keys ... ok" {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        // The policy, under the same dual control: tokens live at most an
        // hour, and signer certificates must come from the dev CA.
        let ca = self.pki().path(sam_devpki::files::CA_CERT);
        let lifetime = sam_harness::setup::MAX_TOKEN_LIFETIME.to_string();
        self.samctl(
            Connector::Management,
            &[
                &"fw",
                &"policy",
                &"--max-token-lifetime",
                &lifetime,
                &"--signing-ca",
                &ca,
                &"--admin-key",
                &a1,
                &"--admin-key",
                &a2,
            ],
        )?
        .checked("fw policy")?;
        Ok((
            (),
            "idp.pem is the firmware's trust anchor for identity tokens: \"Import of IdP \
             Public Keys ... ok\"; the policy names ca.pem as the signing CA"
                .into(),
        ))
    }

    pub fn enrol(&self) -> Result<(UserId, String), String> {
        let [a1, a2] = self.admin_keys();
        let out = self
            .samctl(
                Connector::Management,
                &[
                    &"fw",
                    &"enrol",
                    &"--idp-cert",
                    &self.idp_cert(),
                    &"--admin-key",
                    &a1,
                    &"--admin-key",
                    &a2,
                ],
            )?
            .checked("fw enrol")?;
        let mut lines = out.stdout.lines();
        if lines.next() != Some("Enrolment of the first Privileged User ... ok") {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        let user = uuid(lines.next().unwrap_or_default())?;
        Ok((user, format!("Privileged User 1 is {user}")))
    }

    pub fn integrity_data(&self) -> Result<((), String), String> {
        let out = self
            .samctl(Connector::Management, &[&"integrity", &"data"])?
            .checked("integrity data")?;
        if out.stdout.lines().next() != Some("Data integrity check ... ok") {
            return Err(format!("unexpected output: {:?}", out.stdout));
        }
        Ok((
            (),
            "\"Data integrity check ... ok\" (0): the firmware verified every user record, \
             every wrapped key and the audit chain"
                .into(),
        ))
    }

    pub fn export_audit(&self) -> Result<((), String), String> {
        let path = self.out.join("audit.jsonl");
        self.samctl(
            Connector::Management,
            &[&"audit", &"export", &"--out", &path],
        )?
        .checked("audit export")?;
        // The export checks offline, against the SAM's attestation key.
        let key = self.out.join("sam-attestation.pem");
        self.samctl(
            Connector::Management,
            &[&"fw", &"status", &"--attestation-key", &key],
        )?
        .checked("fw status")?;
        let verified = self
            .samctl(
                Connector::Management,
                &[&"audit", &"verify", &path, &"--sam-key", &key],
            )?
            .checked("audit verify")?;
        if !verified
            .stdout
            .starts_with("Audit trail verification ... ok\n")
        {
            return Err(format!("audit verify: {}", verified.stdout));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("audit.jsonl: {e}"))?;
        let records = text
            .lines()
            .map(serde_json::from_str::<Value>)
            .filter(|r| r.as_ref().map_or(true, |r| r.get("checkpoint").is_none()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("audit.jsonl is not JSON Lines: {e}"))?;
        let outcome = |r: &Value| {
            format!(
                "{} {}",
                r.get("action").and_then(Value::as_str).unwrap_or("?"),
                r.get("outcome").and_then(Value::as_str).unwrap_or("?")
            )
        };
        let refused: Vec<String> = records
            .iter()
            .filter(|r| r.get("outcome").and_then(Value::as_str) != Some("ok"))
            .map(outcome)
            .collect();
        for want in ["Signing ReplayedSad", "Signing NotFound"] {
            if !refused.iter().any(|r| r == want) {
                return Err(format!("no audit record `{want}`; refusals: {refused:?}"));
            }
        }
        let in_order = records
            .iter()
            .enumerate()
            .all(|(i, r)| r.get("seq").and_then(Value::as_u64) == u64::try_from(i).ok());
        if records.is_empty() || !in_order {
            return Err(format!(
                "{} records, sequence numbers {}",
                records.len(),
                if in_order { "in order" } else { "NOT in order" }
            ));
        }
        Ok((
            (),
            format!(
                "{} hash-chained records (seq 0..{}), refusals audited too: {}; in audit.jsonl, \
                 verified offline against the SAM's attestation key",
                records.len(),
                records.len().saturating_sub(1),
                refused.join(", ")
            ),
        ))
    }
}

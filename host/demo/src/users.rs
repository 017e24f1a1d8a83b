//! The privileged users' chapter: a second Privileged User, a Signer and
//! its maintenance, with samctl's integrator commands over the
//! privileged-user connector.

use crate::demo::{Demo, field, uuid};
use sam_harness::Connector;
use sam_proto::ids::UserId;

impl Demo {
    pub fn create_privileged_user(&self, pu1: UserId) -> Result<(UserId, String), String> {
        let (token, token_key) = self.token(pu1, "pu-1")?;
        let answer = self
            .samctl(
                Connector::Privileged,
                &[
                    &"create-privileged-user",
                    &"--token",
                    &token,
                    &"--token-key",
                    &token_key,
                    &"--idp-cert",
                    &self.idp_cert(),
                ],
            )?
            .checked("create-privileged-user")?
            .parse_json()?;
        let role = field(&answer, "role")?;
        if role != "PrivilegedUser" {
            return Err(format!("the new user has role {role}"));
        }
        let user = uuid(field(&answer, "userid")?)?;
        Ok((
            user,
            format!(
                "Privileged User 2 is {user}, created over the peering interface with PU 1's \
                 identity token, its SAD key signing this one request"
            ),
        ))
    }

    pub fn create_signer(&self, pu2: UserId) -> Result<(UserId, String), String> {
        let (token, token_key) = self.token(pu2, "pu-2")?;
        let answer = self
            .samctl(
                Connector::Privileged,
                &[
                    &"create-signer",
                    &"--token",
                    &token,
                    &"--token-key",
                    &token_key,
                    &"--idp-cert",
                    &self.idp_cert(),
                ],
            )?
            .checked("create-signer")?
            .parse_json()?;
        let role = field(&answer, "role")?;
        if role != "Signer" {
            return Err(format!("the new user has role {role}"));
        }
        let user = uuid(field(&answer, "userid")?)?;
        Ok((user, format!("Signer {user}, created by PU 2")))
    }

    pub fn signer_maintenance(&self, pu2: UserId, signer: UserId) -> Result<((), String), String> {
        let (token, token_key) = self.token(pu2, "pu-2")?;
        self.samctl(
            Connector::Privileged,
            &[
                &"signer-maintenance",
                &"--token",
                &token,
                &"--token-key",
                &token_key,
                &"--user-id",
                &signer.to_string(),
                &"--idp-cert",
                &self.idp_cert(),
            ],
        )?
        .checked("signer-maintenance")?
        .parse_json()?;
        Ok((
            (),
            "PU 2 re-set the signer's list of IdP certificates; the firmware re-MACed the \
             user record"
                .into(),
        ))
    }
}

//! Management commands (seed §5.7): status, challenges, initialization and
//! IdP keys under dual control, the first Privileged User, and the data
//! integrity check.

use super::Failure;
use crate::anchors;
use crate::audit::{Refusal, Subject, refusal};
use crate::core::{FIRMWARE_VERSION, Firmware, encode};
use crate::platform::Platform;
use crate::state::{Challenges, Config, p256_point};
use core::sync::atomic::Ordering;
use sam_proto::ErrorType;
use sam_proto::approval::{OPERATOR_LOGON, bound_digest};
use sam_proto::bounded::{Blob, List};
use sam_proto::codes::Cause;
use sam_proto::command::{
    Audited, ChallengeIssued, EnrolPrivilegedUser, IdpKeysSet, InitFirmware, Initialized,
    IntegrityReport, OperatorLogon, SetIdpKeys, SetPolicy, Status, SubFunction, UserIssued,
    VerifyDataIntegrity,
};
use sam_proto::ids::Role;
use sam_proto::records::UserRecord;

impl<P: Platform> Firmware<P> {
    pub(super) fn status(&self) -> Result<Status, Failure> {
        let (next_audit_seq, audit_head, boot) = self.audit_position();
        let guard = self.operational.read();
        let op = guard.as_ref();
        let attestation_key = op
            .and_then(|op| p256_point(&op.keys.attestation_spki))
            .and_then(|p| Blob::new(p).ok());
        Ok(Status {
            firmware_version: FIRMWARE_VERSION,
            state: self.state(),
            boot,
            next_audit_seq,
            audit_head,
            attestation_key,
            admins: op.map_or(0, |op| op.config.admins.len() as u8),
            idp_keys: op.map_or(0, |op| op.config.idp_certs.len() as u8),
        })
    }

    pub(super) fn challenge(&self) -> Result<ChallengeIssued, Failure> {
        let challenge = self.random32()?;
        let expires = self.now()?.saturating_add(Challenges::LIFETIME);
        self.challenges.lock().issue(challenge, expires);
        Ok(ChallengeIssued { challenge, expires })
    }

    /// InitFirmware: enrol the administrators, derive the module keys.
    ///
    /// Before initialization there is no audit key, so a refused first
    /// initialization is answered without an audit record. Once
    /// initialized, the firmware refuses (and audits) any further
    /// initialization: re-keying would orphan every stored record.
    pub(super) fn init_firmware(&self, req: InitFirmware) -> Result<Initialized, Failure> {
        let code = SubFunction::InitFirmware;
        // The write lock is held from the check to the insert, so two
        // concurrent initializations cannot both pass the check.
        let mut guard = self.operational.write();
        if let Some(op) = guard.as_ref() {
            return Err(self.refuse(
                op,
                code,
                &Subject::default(),
                refusal(ErrorType::NotAuthorized, Cause::AlreadyInitialized),
            ));
        }
        let admins = &req.params.admins;
        if admins.len() < 2
            || admins
                .iter()
                .enumerate()
                .any(|(i, a)| admins.iter().skip(i + 1).any(|b| a == b))
            || admins
                .iter()
                .any(|a| p256_point(&crate::state::admin_spki(a)).is_none())
        {
            return Err(ErrorType::InvalidInput.into());
        }
        let params = encode(&req.params)?;
        // Consumes the challenge: a refused attempt cannot be retried with
        // it, so the operator's response to it is spent too.
        self.check_approvals(code, &params, &req.approvals, admins)?;
        self.check_operator(&req.operator, &req.approvals.challenge, &params)?;
        let config = Config {
            admins: req.params.admins.clone(),
            mbk_slot: req.params.mbk_slot,
            ..Config::default()
        };
        let op = self.make_operational(config.clone(), ErrorType::InvalidInput)?;
        config
            .store(&self.platform)
            .map_err(|_| ErrorType::NotOperational)?;
        let op = guard.insert(op);
        let attestation_key = p256_point(&op.keys.attestation_spki)
            .and_then(|p| Blob::new(p).ok())
            .ok_or(ErrorType::UnexpectedError)?;
        let audit = self.audit(&op.keys, code, None, &Subject::default())?;
        Ok(Initialized {
            attestation_key,
            audit,
        })
    }

    /// The HSM operator's logon for InitFirmware, checked by the platform
    /// (the HSM's own user authentication) over the digest that binds the
    /// parameters to the challenge the approvals consumed. Without it the
    /// first caller to reach an uninitialized module would choose its
    /// administrators (trust on first use). A refused logon is
    /// NotAuthorized and, like every refusal before initialization,
    /// unaudited: there is no audit key yet.
    fn check_operator(
        &self,
        logon: &OperatorLogon,
        challenge: &[u8; 32],
        params: &[u8],
    ) -> Result<(), ErrorType> {
        let message = bound_digest(
            OPERATOR_LOGON,
            SubFunction::InitFirmware,
            challenge,
            params,
            |p| self.sha256(p),
        );
        match self
            .platform
            .verify_operator(&logon.user, &message, &logon.response)
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(ErrorType::NotAuthorized),
            Err(_) => Err(ErrorType::NotOperational),
        }
    }

    /// SetIdpKeys: replace the IdP trust anchors, approved by two enrolled
    /// administrators.
    pub(super) fn set_idp_keys(&self, req: SetIdpKeys) -> Result<IdpKeysSet, Failure> {
        let code = SubFunction::SetIdpKeys;
        let mut guard = self.operational.write();
        let op = guard.as_mut().ok_or(ErrorType::NotOperational)?;
        let subject = Subject::default();
        let result = (|| -> Result<_, Refusal> {
            self.check_approvals(
                code,
                &encode(&req.params)?,
                &req.approvals,
                &op.config.admins,
            )
            .map_err(approvals_refused)?;
            let certs = &req.params.certificates;
            if certs.is_empty() {
                return Err(refusal(ErrorType::InvalidInput, Cause::NoCertificates));
            }
            let parsed = anchors::parse_all(self.crypto(), certs)
                .map_err(|_| refusal(ErrorType::InvalidInput, Cause::BadCertificate))?;
            let mut fingerprints = List::default();
            for a in &parsed {
                fingerprints
                    .push(a.fingerprint)
                    .map_err(|_| ErrorType::InvalidInput)?;
            }
            let config = Config {
                idp_certs: certs.clone(),
                ..op.config.clone()
            };
            config
                .store(&self.platform)
                .map_err(|_| ErrorType::NotOperational)?;
            op.config = config;
            op.anchors = parsed;
            Ok(fingerprints)
        })();
        self.conclude(op, code, &subject, result)
            .map(|(fingerprints, audit)| IdpKeysSet {
                fingerprints,
                audit,
            })
    }

    /// SetPolicy: the longest identity-token lifetime, the signing CAs and
    /// the audit checkpoint interval, approved by two enrolled
    /// administrators. A lifetime or interval of 0 or a CA
    /// certificate that does not parse is InvalidInput. The new CAs apply to
    /// certificates registered from now on; keys already active keep the
    /// certificate they were activated with until it expires (a key whose
    /// CA is withdrawn is deleted, not silently deactivated).
    pub(super) fn set_policy(&self, req: SetPolicy) -> Result<Audited, Failure> {
        let code = SubFunction::SetPolicy;
        let mut guard = self.operational.write();
        let op = guard.as_mut().ok_or(ErrorType::NotOperational)?;
        let result = (|| {
            self.check_approvals(
                code,
                &encode(&req.params)?,
                &req.approvals,
                &op.config.admins,
            )?;
            if req.params.max_token_lifetime == 0 || req.params.checkpoint_interval == 0 {
                return Err(ErrorType::InvalidInput);
            }
            for ca in req.params.signing_cas.iter() {
                anchors::parse(self.crypto(), ca).map_err(|_| ErrorType::InvalidInput)?;
            }
            let config = Config {
                policy: req.params.clone(),
                ..op.config.clone()
            };
            config
                .store(&self.platform)
                .map_err(|_| ErrorType::NotOperational)?;
            op.config = config;
            self.checkpoint_interval
                .store(req.params.checkpoint_interval, Ordering::Relaxed);
            Ok(())
        })();
        self.conclude(op, code, &Subject::default(), result)
            .map(|((), audit)| Audited { audit })
    }

    /// EnrolPrivilegedUser: the first Privileged User, approved by two
    /// administrators.
    pub(super) fn enrol_privileged_user(
        &self,
        req: EnrolPrivilegedUser,
    ) -> Result<UserIssued, Failure> {
        let code = SubFunction::EnrolPrivilegedUser;
        self.audited(
            code,
            |op, subject| -> Result<_, Refusal> {
                subject.target_user = Some(req.params.user_id);
                self.check_approvals(
                    code,
                    &encode(&req.params)?,
                    &req.approvals,
                    &op.config.admins,
                )
                .map_err(approvals_refused)?;
                let idp_certs = self
                    .fingerprints(&req.params.certificates)
                    .map_err(|e| refusal(e, Cause::BadCertificate))?;
                let record = UserRecord {
                    version: UserRecord::VERSION,
                    user_id: req.params.user_id,
                    role: Role::PrivilegedUser,
                    idp_certs,
                    technical_key: None,
                    generation: 0,
                };
                let sealed = self.seal_record(&op.keys, record)?;
                self.register_new_user(&sealed)?;
                Ok(sealed)
            },
            |record, audit| UserIssued { record, audit },
        )
    }

    /// VerifyDataIntegrity: which of the given records and keys are
    /// authentic (made by this firmware; whether they are still current is
    /// the registry's business, checked where they are used), and whether the audit records continue the chain. Not
    /// audited: it changes nothing, and auditing it would move the very
    /// tail it checks.
    pub(super) fn verify_data_integrity(
        &self,
        req: VerifyDataIntegrity,
    ) -> Result<IntegrityReport, Failure> {
        let guard = self.operational.read();
        let op = guard.as_ref().ok_or(ErrorType::NotOperational)?;
        let mut bad_users = List::default();
        for (i, u) in req.users.iter().enumerate() {
            if self.open_record(&op.keys, u).is_err() {
                bad_users
                    .push(index(i)?)
                    .map_err(|_| ErrorType::UnexpectedError)?;
            }
        }
        let mut bad_keys = List::default();
        for (i, k) in req.keys.iter().enumerate() {
            if self.unwrap_key(&op.keys, k).is_err() {
                bad_keys
                    .push(index(i)?)
                    .map_err(|_| ErrorType::UnexpectedError)?;
            }
        }
        let (audit_break, cursor) = self.verify_chain(&op.keys, &req.audit, req.cursor.as_ref())?;
        let (next_seq, head, _) = self.audit_position();
        let audit_complete =
            audit_break.is_none() && cursor.next_seq == next_seq && cursor.chain == head;
        Ok(IntegrityReport {
            bad_users,
            bad_keys,
            audit_break,
            cursor,
            audit_complete,
        })
    }
}

/// Dual control's NotAuthorized has its own cause; anything else (the
/// clock) keeps its type's.
fn approvals_refused(e: ErrorType) -> Refusal {
    match e {
        ErrorType::NotAuthorized => refusal(e, Cause::ApprovalsRefused),
        other => other.into(),
    }
}

fn index(i: usize) -> Result<u16, ErrorType> {
    u16::try_from(i).map_err(|_| ErrorType::UnexpectedError)
}

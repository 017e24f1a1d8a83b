//! User management over the peering interface (seed §7.1.1–7.1.3).
//!
//! The firmware issues every user record and tags it; the host only keeps
//! it. Which role may create or change which user is decided here (seed
//! Table 16), from the authenticated record of the acting user.

use super::{Failure, effective_target, require_role};
use crate::anchors;
use crate::audit::{Refusal, Subject, refusal};
use crate::core::{Firmware, Operational, mac_eq};
use crate::platform::Platform;
use crate::registry::{Change, registry_error};
use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::codes::Cause;
use sam_proto::command::{
    CreatePrivilegedUser, CreateSigner, NewUser, SignerMaintenance, SubFunction, UserIssued,
};
use sam_proto::ids::Role;
use sam_proto::intent::Intent;
use sam_proto::records::{
    CertFingerprint, MAX_CERT_LEN, MAX_IDP_CERTS, SealedUserRecord, UserRecord,
};

impl<P: Platform> Firmware<P> {
    /// Create_New_Privileged_User. With a technical certificate, the new
    /// user is a Privileged User Technical that authenticates by signature
    /// with that certificate's key; its IdP certificate list may then be
    /// empty. Otherwise the list must not be (InvalidInput).
    pub(super) fn create_privileged_user(
        &self,
        req: CreatePrivilegedUser,
    ) -> Result<UserIssued, Failure> {
        let code = SubFunction::CreatePrivilegedUser;
        let intent = |_| Intent::CreatePrivilegedUser {
            user: &req.user,
            technical_certificate: req.technical_certificate.as_ref(),
        };
        self.audited_user_op(code, &req.auth, intent, |op, actor, subject| {
            subject.target_user = Some(req.user.user_id);
            require_role(actor.role(), &[Role::PrivilegedUser])?;
            let technical_key = match &req.technical_certificate {
                None => None,
                Some(cert) => {
                    let bad = refusal(ErrorType::InvalidInput, Cause::BadCertificate);
                    let anchor = anchors::parse(self.crypto(), cert).map_err(|_| bad)?;
                    Some(Blob::from_vec(anchor.spki).map_err(|_| bad)?)
                }
            };
            let role = if technical_key.is_some() {
                Role::PrivilegedUserTechnical
            } else {
                Role::PrivilegedUser
            };
            let idp_certs = self.user_certificates(&req.user, technical_key.is_none())?;
            let sealed = self.seal_record(
                &op.keys,
                UserRecord {
                    version: UserRecord::VERSION,
                    user_id: req.user.user_id,
                    role,
                    idp_certs,
                    technical_key,
                    generation: 0,
                },
            )?;
            self.register_new_user(&sealed)?;
            Ok(sealed)
        })
    }

    /// Create_New_Signer: by a Privileged User or a Privileged User
    /// Technical. A UserID that is already registered is InvalidInput
    /// (see [`Firmware::register_new_user`] for the retry of a lost answer).
    pub(super) fn create_signer(&self, req: CreateSigner) -> Result<UserIssued, Failure> {
        let code = SubFunction::CreateSigner;
        let intent = |_| Intent::CreateSigner { user: &req.user };
        self.audited_user_op(code, &req.auth, intent, |op, actor, subject| {
            subject.target_user = Some(req.user.user_id);
            require_role(
                actor.role(),
                &[Role::PrivilegedUser, Role::PrivilegedUserTechnical],
            )?;
            let idp_certs = self.user_certificates(&req.user, true)?;
            let sealed = self.seal_record(
                &op.keys,
                UserRecord {
                    version: UserRecord::VERSION,
                    user_id: req.user.user_id,
                    role: Role::Signer,
                    idp_certs,
                    technical_key: None,
                    generation: 0,
                },
            )?;
            self.register_new_user(&sealed)?;
            Ok(sealed)
        })
    }

    /// Signer_Maintenance: replace the IdP certificates of a user.
    ///
    /// * `target: None` means the acting user itself.
    /// * A Signer may change only itself (another user: NotAuthorized).
    /// * A Privileged User may change Signers and itself, not other
    ///   privileged users (NotAuthorized).
    /// * A target record that fails its tag: InvalidInput.
    /// * Self-modification must keep the certificate of the IdP whose token
    ///   authenticated this very request, so that a user cannot lock itself
    ///   out by mistake (InvalidInput, seed §7.1.3).
    /// * The new record's generation is the old one plus one.
    /// * The target record must be the user's current one (a superseded
    ///   record: InvalidInput; for self-modification the actor's record is
    ///   the target: AuthenticationError), and so must the actor's record
    ///   (AuthenticationError). One exception makes a retry after a lost
    ///   answer idempotent: if the record this request produces is the one
    ///   already registered (the request was applied to the immediate
    ///   predecessor with the same certificates), it is issued again and
    ///   nothing changes. The caller is authenticated and chose the
    ///   certificates, so it learns nothing it did not ask for, and an older
    ///   record can never become current again.
    pub(super) fn signer_maintenance(&self, req: SignerMaintenance) -> Result<UserIssued, Failure> {
        let code = SubFunction::SignerMaintenance;
        let intent = |actor| Intent::SignerMaintenance {
            target: effective_target(req.target.as_ref(), actor),
            certificates: &req.certificates,
        };
        self.audited_user_op(code, &req.auth, intent, |op, actor, subject| {
            require_role(actor.role(), &[Role::PrivilegedUser, Role::Signer])?;
            let target_sealed = match &req.target {
                None => req.auth.actor.as_ref().ok_or(ErrorType::UnknownUser)?,
                Some(sealed) => sealed,
            };
            let target = match &req.target {
                None => actor.record.clone(),
                Some(sealed) => self
                    .open_record(&op.keys, sealed)
                    .map_err(|_| refusal(ErrorType::InvalidInput, Cause::TargetRecordInvalid))?
                    .clone(),
            };
            subject.target_user = Some(target.user_id);
            let own = target.user_id == actor.user_id();
            let allowed = match actor.role() {
                Role::Signer => own,
                Role::PrivilegedUser => own || target.role == Role::Signer,
                Role::PrivilegedUserTechnical => false,
            };
            if !allowed {
                return Err(refusal(ErrorType::NotAuthorized, Cause::NotOwnUser));
            }
            let new_user = NewUser {
                user_id: target.user_id,
                certificates: req.certificates.clone(),
            };
            let idp_certs = self.user_certificates(&new_user, true)?;
            if own && actor.via.is_some_and(|used| !idp_certs.contains(&used)) {
                return Err(refusal(ErrorType::InvalidInput, Cause::LockoutPrevented));
            }
            let generation = target
                .generation
                .checked_add(1)
                .ok_or(refusal(ErrorType::InvalidInput, Cause::LimitReached))?;
            let user_id = target.user_id;
            let sealed = self.seal_record(
                &op.keys,
                UserRecord {
                    idp_certs,
                    generation,
                    ..target
                },
            )?;
            // Checked and replaced under one write lock, so that two
            // maintenances of one user cannot both start from the same
            // current record.
            let mut registry = self.registry.write();
            let current = registry.user(&user_id);
            let retry = current.is_some_and(|mac| mac_eq(mac, &sealed.mac));
            let target_current = current.is_some_and(|mac| mac_eq(mac, &target_sealed.mac));
            // A superseded actor record passes only for its own retry.
            let actor_ok = actor.current || (own && retry);
            if !actor_ok {
                return Err(ErrorType::AuthenticationError.into());
            }
            if retry {
                return Ok(sealed);
            }
            if !target_current {
                return Err(refusal(ErrorType::InvalidInput, Cause::TargetRecordInvalid));
            }
            registry
                .commit(&self.platform, Change::PutUser(user_id, sealed.mac))
                .map_err(registry_error)?;
            Ok(sealed)
        })
    }

    /// The fingerprints of a new user's IdP certificates, each parsed by
    /// the firmware. An empty list is InvalidInput when `required`; a
    /// certificate that does not parse or holds an unusable key is
    /// InvalidInput; a certificate given twice is kept once.
    pub(super) fn user_certificates(
        &self,
        user: &NewUser,
        required: bool,
    ) -> Result<List<CertFingerprint, MAX_IDP_CERTS>, Refusal> {
        if required && user.certificates.is_empty() {
            return Err(refusal(ErrorType::InvalidInput, Cause::NoCertificates));
        }
        self.fingerprints(&user.certificates)
            .map_err(|e| refusal(e, Cause::BadCertificate))
    }

    /// The fingerprints of a list of certificates, duplicates removed.
    pub(super) fn fingerprints(
        &self,
        certs: &List<Blob<MAX_CERT_LEN>, MAX_IDP_CERTS>,
    ) -> Result<List<CertFingerprint, MAX_IDP_CERTS>, ErrorType> {
        let mut out = List::default();
        for cert in certs.iter() {
            let fp =
                anchors::fingerprint(self.crypto(), cert).map_err(|_| ErrorType::InvalidInput)?;
            if !out.contains(&fp) {
                out.push(fp).map_err(|_| ErrorType::InvalidInput)?;
            }
        }
        Ok(out)
    }

    /// Authenticates, runs `act`, audits, and wraps the issued record.
    fn audited_user_op<'i>(
        &self,
        code: SubFunction,
        auth: &sam_proto::command::Authentication,
        intent: impl FnOnce(sam_proto::ids::UserId) -> Intent<'i>,
        act: impl FnOnce(
            &Operational,
            &crate::auth::Actor,
            &mut Subject,
        ) -> Result<SealedUserRecord, Refusal>,
    ) -> Result<UserIssued, Failure> {
        self.authenticated(code, auth, intent, act, |record, audit| UserIssued {
            record,
            audit,
        })
    }
}

//! The operations, and the dispatch from sub-function codes to them.
//!
//! Every peering operation follows the same shape (seed §7.1, DESIGN §4):
//! authenticate the credential, check the role (seed Table 16), act, write
//! the audit record, answer. The audit record is written for success and
//! for every failure except the four errors the seed exempts; if it cannot
//! be written, the operation's result is discarded and the answer is
//! `NotOperational`: nothing leaves the firmware unaudited.

// A failure carries its audit record (about 150 bytes) back to the caller;
// failures are rare and boxing would add an allocation to every one.
#![allow(clippy::result_large_err)]

mod admin;
mod keys;
mod report;

pub use keys::attestation_digest;
mod signing;
mod users;

use crate::audit::{Refusal, Subject, refusal};
use crate::core::{Firmware, Operational, encode};
use crate::platform::Platform;
use alloc::vec::Vec;
use sam_proto::ErrorType;
use sam_proto::codes::Cause;
use sam_proto::command::{self as cmd, Command, ErrorAnswer, SubFunction};
use sam_proto::frame::{STATUS_OK, decode_request};
use sam_proto::records::{Action, AuditRecord};

/// A failed operation: its error and, unless exempt, its audit record.
#[derive(Debug)]
pub struct Failure {
    /// The error type.
    pub error: ErrorType,
    /// The audit record of the failure.
    pub audit: Option<AuditRecord>,
}

impl From<ErrorType> for Failure {
    fn from(error: ErrorType) -> Self {
        Self { error, audit: None }
    }
}

/// The firmware's answer to one command: a status word and a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// 0 for success, otherwise an [`ErrorType`] code.
    pub status: u16,
    /// The postcard body: the response, or an [`ErrorAnswer`].
    pub body: Vec<u8>,
}

impl Answer {
    pub(crate) fn failure(f: Failure) -> Self {
        let body = encode(&ErrorAnswer { audit: f.audit }).unwrap_or_default();
        Self {
            status: f.error.code(),
            body,
        }
    }
}

impl<P: Platform> Firmware<P> {
    /// Handles one command: the sub-function code and the request body in,
    /// the status and the answer body out. This is the whole interface of
    /// the firmware; the C-ABI shim in [`crate::abi`] only moves bytes.
    pub fn dispatch(&self, code: u16, body: &[u8]) -> Answer {
        // Status stays available in the Failed state: it is how an
        // operator learns why everything else is refused.
        if code != SubFunction::GetStatus.code() && self.state() == cmd::FirmwareState::Failed {
            return Answer::failure(ErrorType::NotOperational.into());
        }
        let Some(sf) = SubFunction::from_code(code) else {
            return Answer::failure(self.unknown_sub_function(code));
        };
        match sf {
            SubFunction::GetStatus => self.serve(body, |fw, _: cmd::GetStatus| fw.status()),
            SubFunction::GetChallenge => {
                self.serve(body, |fw, _: cmd::GetChallenge| fw.challenge())
            }
            SubFunction::InitFirmware => self.serve(body, Self::init_firmware),
            SubFunction::SetIdpKeys => self.serve(body, Self::set_idp_keys),
            SubFunction::SetPolicy => self.serve(body, Self::set_policy),
            SubFunction::EnrolPrivilegedUser => self.serve(body, Self::enrol_privileged_user),
            SubFunction::CreatePrivilegedUser => self.serve(body, Self::create_privileged_user),
            SubFunction::CreateSigner => self.serve(body, Self::create_signer),
            SubFunction::SignerMaintenance => self.serve(body, Self::signer_maintenance),
            SubFunction::GenerateKeyPair => self.serve(body, Self::generate_key_pair),
            SubFunction::SignCertificationRequest => {
                self.serve(body, Self::sign_certification_request)
            }
            SubFunction::DeleteKeyPair => self.serve(body, Self::delete_key_pair),
            SubFunction::RegisterCertificate => self.serve(body, Self::register_certificate),
            SubFunction::Signing => self.serve(body, Self::signing),
            SubFunction::VerifyDataIntegrity => self.serve(body, Self::verify_data_integrity),
            SubFunction::SyncAudit => self.serve(body, |fw, req: cmd::SyncAudit| {
                fw.sync_audit(req).map_err(Failure::from)
            }),
            SubFunction::ReportRefusal => self.serve(body, Self::report_refusal),
            SubFunction::GetAuditCheckpoint => self
                .serve(body, |fw, _: cmd::GetAuditCheckpoint| {
                    fw.audit_checkpoint().map_err(Failure::from)
                }),
        }
    }

    /// An unknown sub-function code is UnknownMessageType, audited (once
    /// initialized) with the code as it arrived: `Action::Unknown(code)`,
    /// since no `SubFunction` names it.
    fn unknown_sub_function(&self, code: u16) -> Failure {
        let error = refusal(ErrorType::UnknownMessageType, Cause::UnknownSubFunction);
        match self.operational.read().as_ref() {
            Some(op) => self.refuse(op, Action::Unknown(code), &Subject::default(), error),
            None => error.error.into(),
        }
    }

    /// Decodes a request strictly, runs the handler, encodes the answer. A
    /// body that does not decode is a `MessageParseError`, audited without
    /// an actor when the firmware is initialized (the seed exempts only
    /// container and credential errors).
    fn serve<C: Command>(
        &self,
        body: &[u8],
        handler: impl FnOnce(&Self, C) -> Result<C::Response, Failure>,
    ) -> Answer {
        let result = match decode_request::<C>(body) {
            Ok(req) => handler(self, req),
            Err(_) => Err(self.parse_failure(C::CODE)),
        };
        match result.and_then(|resp| encode(&resp).map_err(Failure::from)) {
            Ok(body) => Answer {
                status: STATUS_OK,
                body,
            },
            Err(f) => Answer::failure(f),
        }
    }

    fn parse_failure(&self, code: SubFunction) -> Failure {
        let error = refusal(ErrorType::MessageParseError, Cause::MalformedRequest);
        match self.operational.read().as_ref() {
            Some(op) => self.refuse(op, code, &Subject::default(), error),
            None => error.error.into(),
        }
    }

    /// Runs an audited operation on an initialized firmware. `act` fills in
    /// the subject as it learns it; `answer` builds the response around the
    /// audit record.
    fn audited<T, R, E: Into<Refusal>>(
        &self,
        code: SubFunction,
        act: impl FnOnce(&Operational, &mut Subject) -> Result<T, E>,
        answer: impl FnOnce(T, AuditRecord) -> R,
    ) -> Result<R, Failure> {
        let guard = self.operational.read();
        let op = guard.as_ref().ok_or(ErrorType::NotOperational)?;
        let mut subject = Subject::default();
        let result = act(op, &mut subject).map_err(Into::into);
        self.conclude(op, code, &subject, result)
            .map(|(t, audit)| answer(t, audit))
    }

    /// An audited refusal. If even the refusal cannot be audited, the
    /// answer is NotOperational: the audit trail is down, and saying so
    /// matters more than the original reason.
    fn refuse(
        &self,
        op: &Operational,
        action: impl Into<Action>,
        subject: &Subject,
        refusal: impl Into<Refusal>,
    ) -> Failure {
        let refusal = refusal.into();
        match self.audit(&op.keys, action, Some(refusal), subject) {
            Ok(audit) => Failure {
                error: refusal.error,
                audit: Some(audit),
            },
            Err(_) => Failure {
                error: ErrorType::NotOperational,
                audit: None,
            },
        }
    }

    /// Writes the audit record of an outcome.
    fn conclude<T, E: Into<Refusal>>(
        &self,
        op: &Operational,
        code: SubFunction,
        subject: &Subject,
        result: Result<T, E>,
    ) -> Result<(T, AuditRecord), Failure> {
        match result.map_err(Into::into) {
            Ok(t) => {
                let audit = self.audit(&op.keys, code, None, subject)?;
                Ok((t, audit))
            }
            Err(r) if r.error.is_audited() => Err(self.refuse(op, code, subject, r)),
            Err(r) => Err(r.error.into()),
        }
    }
}

/// NotAuthorized unless `role` is one of `allowed` (seed Table 16).
pub(crate) fn require_role(
    role: sam_proto::ids::Role,
    allowed: &[sam_proto::ids::Role],
) -> Result<(), ErrorType> {
    if allowed.contains(&role) {
        Ok(())
    } else {
        Err(ErrorType::NotAuthorized)
    }
}

/// The UserID a request's intent names for its target record: the
/// record's own, or the acting user's when the request names none. The
/// record's tag is checked later, by the operation; a record whose UserID
/// was altered fails it, and a record of another user gives another
/// intent, which the client's signature does not cover.
pub(crate) fn effective_target(
    target: Option<&sam_proto::records::SealedUserRecord>,
    actor: sam_proto::ids::UserId,
) -> sam_proto::ids::UserId {
    target.map_or(actor, |t| t.record.user_id)
}

impl<P: Platform> Firmware<P> {
    /// [`Self::audited`] for a peering operation: authenticates the acting
    /// user and checks its proof over the request's intent first (their
    /// failures are the unaudited ones of seed §7.1) and records it as the
    /// actor. `intent` maps the acting UserID to the request's
    /// [`sam_proto::intent::Intent`] (see [`Firmware::authenticate`]).
    fn authenticated<'i, T, R, E: Into<Refusal>>(
        &self,
        code: SubFunction,
        auth: &cmd::Authentication,
        intent: impl FnOnce(sam_proto::ids::UserId) -> sam_proto::intent::Intent<'i>,
        act: impl FnOnce(&Operational, &crate::auth::Actor, &mut Subject) -> Result<T, E>,
        answer: impl FnOnce(T, AuditRecord) -> R,
    ) -> Result<R, Failure> {
        self.audited(
            code,
            |op, subject| -> Result<T, Refusal> {
                let actor = self.authenticate(op, code, auth, intent)?;
                subject.actor = Some(actor.user_id());
                act(op, &actor, subject).map_err(Into::into)
            },
            answer,
        )
    }
}

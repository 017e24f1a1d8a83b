//! Report_Refusal: samd's refusals, audited by the firmware.
//!
//! samd refuses some requests before any firmware command exists for them
//! (a base64 field that does not decode, an unknown JSON field, an
//! unsupported algorithm name, an unknown container operation). Seed §7.1
//! exempts only four error types from auditing, so these refusals must
//! reach the audit trail too, and only the firmware writes it. samd
//! therefore reports each one; the firmware records it as a failure of the
//! operation samd names, with samd's cause and note and no actor.
//!
//! What the firmware enforces, because the host is not trusted: a report
//! can only *add* a failure record. It cannot name success, an exempt error
//! type (which the seed says leaves no record), or a firmware cause (so an
//! auditor can always tell samd's word from a firmware check); a note must
//! be UTF-8. Such a report is itself refused, and that refusal is audited
//! as a failed Report_Refusal. A compromised host can thus fill the trail
//! with invented refusals, as it could already by sending bad requests; it
//! cannot forge a success, change or remove a record.

use super::Failure;
use crate::audit::{Subject, refusal};
use crate::core::Firmware;
use crate::platform::Platform;
use sam_proto::ErrorType;
use sam_proto::codes::Cause;
use sam_proto::command::{Audited, ReportRefusal, SubFunction};
use sam_proto::records::Action;

impl<P: Platform> Firmware<P> {
    pub(super) fn report_refusal(&self, req: ReportRefusal) -> Result<Audited, Failure> {
        let guard = self.operational.read();
        let op = guard.as_ref().ok_or(ErrorType::NotOperational)?;
        let subject = Subject::default();
        // An unknown code must not pass itself off as a known one.
        let canonical = match req.action {
            Action::Unknown(code) => Action::from_code(code) == req.action,
            Action::Command(_) | Action::Host(_) => true,
        };
        let acceptable = req.error.is_audited()
            && req.cause.reported_by_host()
            && core::str::from_utf8(&req.note).is_ok()
            && canonical;
        if !acceptable {
            return Err(self.refuse(
                op,
                SubFunction::ReportRefusal,
                &subject,
                refusal(ErrorType::InvalidInput, Cause::ReportNotAuditable),
            ));
        }
        let audit = self.audit_noted(
            &op.keys,
            req.action,
            Some(refusal(req.error, req.cause)),
            Some(req.note),
            &subject,
        )?;
        Ok(Audited { audit })
    }
}

//! The audit record and chain verifier: any change to the host's copy of
//! the audit trail (a byte mask over its encoding) that still decodes is
//! reported as a break or as an incomplete trail. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sam_proto::bounded::List;
use sam_proto::command::{IntegrityReport, MAX_AUDIT_BATCH, VerifyDataIntegrity};
use sam_proto::frame::{decode_exact, encode_body};
use sam_proto::records::AuditRecord;

fuzz_target!(|mask: &[u8]| {
    let f = sam_fuzz::fixture();
    let original: List<AuditRecord, MAX_AUDIT_BATCH> = List::from_vec(f.audit.clone()).unwrap();
    let mut bytes = postcard::to_allocvec(&original).unwrap();
    for (b, m) in bytes.iter_mut().zip(mask) {
        *b ^= m;
    }
    let max = List::<AuditRecord, MAX_AUDIT_BATCH>::max_size(AuditRecord::MAX_SIZE);
    let Ok(edited) = decode_exact::<List<AuditRecord, MAX_AUDIT_BATCH>>(&bytes, max) else {
        return;
    };
    let req = VerifyDataIntegrity {
        users: List::default(),
        keys: List::default(),
        audit: edited.clone(),
        cursor: None,
    };
    let (status, answer) = f.bench.raw(0x0030, &encode_body(&req).unwrap());
    assert_eq!(status, 0);
    let report: IntegrityReport = decode_exact(&answer, usize::MAX).unwrap();
    let clean = report.audit_break.is_none() && report.audit_complete;
    assert_eq!(clean, *edited == *original, "verdict wrong");
});

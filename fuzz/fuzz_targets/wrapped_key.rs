//! The wrapped-key blob: any change the host makes to a genuine wrapped key
//! (a byte mask over its encoding) either fails to decode or is reported
//! as not authentic by the firmware. Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sam_proto::bounded::List;
use sam_proto::command::{IntegrityReport, VerifyDataIntegrity};
use sam_proto::frame::{decode_exact, encode_body};
use sam_proto::records::WrappedKey;

fuzz_target!(|mask: &[u8]| {
    let f = sam_fuzz::fixture();
    let mut bytes = postcard::to_allocvec(&f.key).unwrap();
    for (b, m) in bytes.iter_mut().zip(mask) {
        *b ^= m;
    }
    let Ok(edited) = decode_exact::<WrappedKey>(&bytes, WrappedKey::MAX_SIZE) else {
        return;
    };
    let req = VerifyDataIntegrity {
        users: List::default(),
        keys: List::from_vec(vec![edited.clone()]).unwrap(),
        audit: List::default(),
        cursor: None,
    };
    let (status, answer) = f.bench.raw(0x0030, &encode_body(&req).unwrap());
    assert_eq!(status, 0);
    let report: IntegrityReport = decode_exact(&answer, usize::MAX).unwrap();
    let flagged = !report.bad_keys.is_empty();
    assert_eq!(
        flagged,
        edited != f.key,
        "authenticity verdict wrong for {edited:?}"
    );
});

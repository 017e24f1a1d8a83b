//! Strict SAD decoding: never panics, and whatever it accepts re-encodes
//! to exactly the input (the parser admits only canonical DER).
#![no_main]

use der::Encode;
use libfuzzer_sys::fuzz_target;
use sam_proto::asn1::Sad;

fuzz_target!(|data: &[u8]| {
    if let Ok(sad) = Sad::from_der_strict(data) {
        assert_eq!(sad.to_der().ok().as_deref(), Some(data));
        let _ = sad.hash_algorithm();
        let _ = sad.signed_bytes();
        let token = &sad.tbs.identity_token.data;
        let _ = token.identification_level();
        let _ = token.sad_public_key();
        let _ = token.signing_scope();
    }
});

//! Strict identity-token decoding and every extension accessor.
#![no_main]

use der::Encode;
use libfuzzer_sys::fuzz_target;
use sam_proto::asn1::SignedIdentityToken;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = SignedIdentityToken::from_der_strict(data) {
        assert_eq!(token.to_der().ok().as_deref(), Some(data));
        let _ = token.signed_bytes();
        let _ = token.data.identification_level();
        let _ = token.data.sad_public_key();
        let _ = token.data.signing_scope();
        let _ = sam_proto::asn1::signature_hash(&token.signature_algorithm);
        let _ = token.signer.matches_parts(&[0x30, 0x00], &[1]);
    }
});

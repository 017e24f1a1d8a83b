#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests of the identity token: for tokens built from random
//! parts, `decode(encode(x)) == x`, and the strict decoder accepts exactly
//! the canonical encoding (`encode(decode(b)) == b`).

use der::asn1::{OctetString, SetOfVec};
use der::{Decode, Encode};
use proptest::prelude::*;
use sam_proto::asn1::{
    CompactGroupAssociation, CompactIdentityToken, CompactLongRoleAssociation,
    CompactRoleAssociation, CompactShortRoleAssociation, IdentificationLevel, IssuerSerial,
    SchemeKind, SignedIdentityToken, signature_algorithm,
};
use sam_proto::ids::HashAlgorithm;
use std::str::FromStr;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

fn level() -> impl Strategy<Value = Option<IdentificationLevel>> {
    prop_oneof![
        Just(None),
        Just(Some(IdentificationLevel::Low)),
        Just(Some(IdentificationLevel::Substantial)),
        Just(Some(IdentificationLevel::High)),
    ]
}

fn role() -> impl Strategy<Value = CompactRoleAssociation> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(|id| {
            CompactRoleAssociation::Short(CompactShortRoleAssociation {
                short_id: OctetString::new(id).unwrap(),
                extensions: SetOfVec::new(),
            })
        }),
        ("[a-z]{1,8}", "[a-z]{1,8}").prop_map(|(app, role)| {
            CompactRoleAssociation::Long(CompactLongRoleAssociation {
                app: app.as_str().into(),
                role: role.as_str().into(),
                extensions: SetOfVec::new(),
            })
        }),
    ]
}

fn group() -> impl Strategy<Value = CompactGroupAssociation> {
    (
        proptest::collection::vec(any::<u8>(), 1..8),
        proptest::collection::vec(role(), 0..3),
    )
        .prop_map(|(id, roles)| {
            let mut set = SetOfVec::new();
            for r in roles {
                // Equal elements cannot both be in a DER SET OF.
                let _ = set.insert(r);
            }
            CompactGroupAssociation {
                id: OctetString::new(id).unwrap(),
                role_associations: set,
                extensions: SetOfVec::new(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tokens_round_trip_and_are_canonical(
        user in "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        not_before in 0u64..4_000_000_000,
        lifetime in 0u64..1_000_000,
        level in level(),
        scope in proptest::option::of("[a-z]{1,12}"),
        groups in proptest::collection::vec(group(), 0..3),
        serial in 1u32..u32::MAX,
        signature in proptest::collection::vec(any::<u8>(), 1..80),
    ) {
        let mut data = CompactIdentityToken::new(&user, not_before, not_before + lifetime).unwrap();
        if let Some(l) = level {
            data = data.with_identification_level(l).unwrap();
        }
        if let Some(s) = &scope {
            data = data.with_signing_scope(s).unwrap();
        }
        for g in groups {
            data = data.with_group_association(g).unwrap();
        }
        let name = Name::from_str("CN=Prop IdP,O=SAM Development,C=DE").unwrap();
        let token = SignedIdentityToken {
            data,
            signer: IssuerSerial::new(&name, &SerialNumber::from(serial)).unwrap(),
            signature_algorithm: signature_algorithm(HashAlgorithm::Sha256, SchemeKind::Ecdsa),
            signature: OctetString::new(signature).unwrap(),
            token_type: None,
        };
        let der = token.to_der().unwrap();
        let strict = SignedIdentityToken::from_der_strict(&der).unwrap();
        prop_assert_eq!(&strict, &token);
        prop_assert_eq!(strict.to_der().unwrap(), der.clone());
        prop_assert_eq!(SignedIdentityToken::from_der(&der).unwrap(), token.clone());
        prop_assert_eq!(strict.data.identification_level().unwrap(), level);
        prop_assert_eq!(strict.data.signing_scope().unwrap(), scope);
        prop_assert_eq!(strict.data.user_id, user);
    }
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Tests of `sam_proto::asn1`: round trips, strictness, extensions,
//! algorithms, `IssuerSerial` matching and an external DER check.

use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use proptest::prelude::*;
use sam_proto::asn1::{
    Asn1Error, CompactExtension, CompactGroupAssociation, CompactIdentityToken,
    CompactLongRoleAssociation, CompactRoleAssociation, CompactShortRoleAssociation,
    IdentificationLevel, IssuerSerial, Oid, Sad, SadTbs, SchemeKind, SignedIdentityToken,
    digest_algorithm, oids, signature_algorithm, signature_hash,
};
use sam_proto::command::{MAX_HASHES, MAX_TOKEN_LEN};
use sam_proto::ids::HashAlgorithm;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::str::FromStr;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

const USER: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const KEY: &str = "11111111-2222-4333-8444-555555555555";
const NB: u64 = 1_700_000_000;
const NA: u64 = 1_700_003_600;

fn idp_name() -> Name {
    Name::from_str("CN=SAM Test IdP,O=SAM Development,C=DE").unwrap()
}

fn idp_serial() -> SerialNumber {
    SerialNumber::from(1001u32)
}

/// DER SubjectPublicKeyInfo of a (not necessarily valid) P-256 point.
fn sad_spki() -> Vec<u8> {
    let ec = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    let p256 = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    let mut point = vec![0x04];
    point.extend((1..=64).map(|i| i as u8));
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ec,
            parameters: Some(Any::encode_from(&p256).unwrap()),
        },
        subject_public_key: der::asn1::BitString::from_bytes(&point).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn groups() -> CompactGroupAssociation {
    let short = CompactRoleAssociation::Short(CompactShortRoleAssociation {
        short_id: OctetString::new(vec![1, 2, 3]).unwrap(),
        extensions: SetOfVec::new(),
    });
    let long = CompactRoleAssociation::Long(CompactLongRoleAssociation {
        app: "qes".into(),
        role: "signer".into(),
        extensions: SetOfVec::new(),
    });
    CompactGroupAssociation {
        id: OctetString::new(b"group-1".to_vec()).unwrap(),
        role_associations: SetOfVec::try_from(vec![long, short]).unwrap(),
        extensions: SetOfVec::new(),
    }
}

fn token_data() -> CompactIdentityToken {
    CompactIdentityToken::new(USER, NB, NA)
        .unwrap()
        .with_identification_level(IdentificationLevel::Substantial)
        .unwrap()
        .with_sad_public_key(&sad_spki())
        .unwrap()
        .with_signing_scope("signing")
        .unwrap()
        .with_group_association(groups())
        .unwrap()
}

fn token_from(data: CompactIdentityToken) -> SignedIdentityToken {
    SignedIdentityToken {
        data,
        signer: IssuerSerial::new(&idp_name(), &idp_serial()).unwrap(),
        signature_algorithm: signature_algorithm(HashAlgorithm::Sha256, SchemeKind::Ecdsa),
        signature: OctetString::new(vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]).unwrap(),
        token_type: None,
    }
}

fn token() -> SignedIdentityToken {
    token_from(token_data())
}

fn sad_with(hash: HashAlgorithm, hashes: Vec<Vec<u8>>) -> Sad {
    Sad {
        tbs: SadTbs {
            identity_token: token(),
            key_id: KEY.into(),
            hash_algorithm: digest_algorithm(hash),
            tbs_hash_values: hashes
                .into_iter()
                .map(|h| OctetString::new(h).unwrap())
                .collect(),
        },
        signature: OctetString::new(vec![0xAB; 70]).unwrap(),
    }
}

fn sad() -> Sad {
    sad_with(HashAlgorithm::Sha256, vec![vec![0x11; 32], vec![0x22; 32]])
}

/// Minimal DER TLV (short or long form length).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// Replaces the one occurrence of `from` in `bytes` by `to`.
fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let hits: Vec<usize> = (0..=bytes.len() - from.len())
        .filter(|&i| &bytes[i..i + from.len()] == from)
        .collect();
    assert_eq!(hits.len(), 1, "pattern must occur once");
    let i = hits[0];
    [&bytes[..i], to, &bytes[i + from.len()..]].concat()
}

// ---------------------------------------------------------------- round trips

#[test]
fn token_round_trips_and_is_canonical() {
    let t = token();
    let der = t.to_der().unwrap();
    let back = SignedIdentityToken::from_der_strict(&der).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.to_der().unwrap(), der);
    assert_eq!(back.signed_bytes().unwrap(), t.data.to_der().unwrap());
    assert_eq!(back.data.user_id, USER);
    assert_eq!(back.data.not_before.to_unix_duration().as_secs(), NB);
    assert_eq!(back.data.not_after.to_unix_duration().as_secs(), NA);
    assert_eq!(
        back.data.identification_level().unwrap(),
        Some(IdentificationLevel::Substantial)
    );
    assert_eq!(
        back.data.signing_scope().unwrap().as_deref(),
        Some("signing")
    );
    let spki = back.data.sad_public_key().unwrap().unwrap();
    assert_eq!(spki.to_der().unwrap(), sad_spki());
    assert_eq!(back.data.group_associations.len(), 1);
}

#[test]
fn token_without_extensions_has_none() {
    let t = token_from(CompactIdentityToken::new(USER, NB, NB).unwrap());
    let der = t.to_der().unwrap();
    let back = SignedIdentityToken::from_der_strict(&der).unwrap();
    assert_eq!(back.data.identification_level().unwrap(), None);
    assert_eq!(back.data.sad_public_key().unwrap(), None);
    assert_eq!(back.data.signing_scope().unwrap(), None);
    // Mandatory empty `[0] IMPLICIT` extensions: A0 00 at the end of data.
    assert!(
        back.signed_bytes()
            .unwrap()
            .ends_with(&[0x31, 0x00, 0xA0, 0x00])
    );
}

#[test]
fn sad_round_trips_and_is_canonical() {
    let s = sad();
    let der = s.to_der().unwrap();
    let back = Sad::from_der_strict(&der).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.to_der().unwrap(), der);
    assert_eq!(back.signed_bytes().unwrap(), s.tbs.to_der().unwrap());
    assert_eq!(back.hash_algorithm().unwrap(), HashAlgorithm::Sha256);
    assert_eq!(back.tbs.key_id, KEY);
    assert_eq!(back.tbs.tbs_hash_values.len(), 2);
}

#[test]
fn token_type_is_optional_but_fixed() {
    let mut t = token();
    t.token_type = Some(oids::IDENTITY_TOKEN_TYPE);
    let der = t.to_der().unwrap();
    assert_eq!(SignedIdentityToken::from_der_strict(&der).unwrap(), t);
    t.token_type = Some(oids::SIGNING_SCOPE);
    let der = t.to_der().unwrap();
    assert_eq!(
        SignedIdentityToken::from_der_strict(&der),
        Err(Asn1Error::UnsupportedTokenType)
    );
}

#[test]
fn role_association_choice_is_told_apart_by_first_element() {
    let g = groups();
    let der = g.to_der().unwrap();
    let back = CompactGroupAssociation::from_der(&der).unwrap();
    assert_eq!(back, g);
    let kinds: Vec<bool> = back
        .role_associations
        .iter()
        .map(|r| matches!(r, CompactRoleAssociation::Short(_)))
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&true) && kinds.contains(&false));
    // A SEQUENCE starting with neither OCTET STRING nor [0] is refused.
    let bad = tlv(0x30, &tlv(0x02, &[1]));
    assert!(CompactRoleAssociation::from_der(&bad).is_err());
    assert!(CompactRoleAssociation::from_der(&[0x30, 0x00]).is_err());
    // The long form really carries EXPLICIT [0] and [1] around UTF8Strings.
    let long = CompactLongRoleAssociation {
        app: "a".into(),
        role: "r".into(),
        extensions: SetOfVec::new(),
    };
    assert_eq!(
        CompactRoleAssociation::Long(long).to_der().unwrap(),
        [
            0x30, 0x0C, 0xA0, 0x03, 0x0C, 0x01, b'a', 0xA1, 0x03, 0x0C, 0x01, b'r', 0xA2, 0x00
        ]
    );
}

// ------------------------------------------------------------- strictness

#[test]
fn trailing_byte_is_refused() {
    let mut der = token().to_der().unwrap();
    der.push(0);
    assert_eq!(
        SignedIdentityToken::from_der_strict(&der),
        Err(Asn1Error::TrailingData)
    );
    let mut der = sad().to_der().unwrap();
    der.push(0);
    assert_eq!(Sad::from_der_strict(&der), Err(Asn1Error::TrailingData));
}

#[test]
fn ber_long_form_length_is_refused() {
    // Outer length as a non-minimal long form: 30 82 HH LL -> 30 83 00 HH LL.
    let der = sad().to_der().unwrap();
    assert_eq!(der[1], 0x82);
    let ber = [&[0x30, 0x83, 0x00][..], &der[2..]].concat();
    assert!(matches!(Sad::from_der_strict(&ber), Err(Asn1Error::Der(_))));

    // An inner short value in long form (keyid: 0C 24 -> 0C 81 24), with
    // every enclosing length recomputed minimally.
    let s = sad();
    let token = s.tbs.identity_token.to_der().unwrap();
    let alg = s.tbs.hash_algorithm.to_der().unwrap();
    let hashes = s.tbs.tbs_hash_values.to_der().unwrap();
    let sig = s.signature.to_der().unwrap();
    let build = |keyid: Vec<u8>| {
        let tbs = tlv(
            0x30,
            &[token.clone(), keyid, alg.clone(), hashes.clone()].concat(),
        );
        tlv(0x30, &[tbs, sig.clone()].concat())
    };
    let good = build(tlv(0x0C, KEY.as_bytes()));
    assert_eq!(
        good,
        s.to_der().unwrap(),
        "test builder matches the encoder"
    );
    let long_form = build([&[0x0C, 0x81, KEY.len() as u8][..], KEY.as_bytes()].concat());
    assert!(matches!(
        Sad::from_der_strict(&long_form),
        Err(Asn1Error::Der(_))
    ));
    // Indefinite length (BER only).
    let indefinite = [&[0x30, 0x80][..], &der[4..], &[0x00, 0x00]].concat();
    assert!(Sad::from_der_strict(&indefinite).is_err());
}

#[test]
fn directory_string_must_be_utf8string() {
    let der = token().to_der().unwrap();
    let utf8 = tlv(0x0C, USER.as_bytes());
    let printable = tlv(0x13, USER.as_bytes());
    let bad = replace_once(&der, &utf8, &printable);
    assert!(matches!(
        SignedIdentityToken::from_der_strict(&bad),
        Err(Asn1Error::Der(_))
    ));

    let der = sad().to_der().unwrap();
    let bad = replace_once(&der, &tlv(0x0C, KEY.as_bytes()), &tlv(0x13, KEY.as_bytes()));
    assert!(matches!(Sad::from_der_strict(&bad), Err(Asn1Error::Der(_))));
}

#[test]
fn unsorted_set_of_is_refused() {
    let t = token();
    let der = t.to_der().unwrap();
    let exts: Vec<Vec<u8>> = t
        .data
        .extensions
        .iter()
        .map(|e| e.to_der().unwrap())
        .collect();
    assert_eq!(exts.len(), 3);
    // Built in X.690 §11.6 order: encodings ascending as octet strings.
    assert!(exts.windows(2).all(|w| w[0] < w[1]));
    let sorted = exts.concat();
    let reversed: Vec<u8> = exts.iter().rev().flatten().copied().collect();
    assert_ne!(sorted, reversed);
    let bad = replace_once(&der, &sorted, &reversed);
    // `der` would accept (and sort) it; the strict decoder does not.
    assert!(SignedIdentityToken::from_der(&bad).is_ok());
    assert_eq!(
        SignedIdentityToken::from_der_strict(&bad),
        Err(Asn1Error::NotCanonical)
    );
    let s = sad();
    let sad_der = s.to_der().unwrap();
    let bad_sad = replace_once(&sad_der, &sorted, &reversed);
    assert_eq!(Sad::from_der_strict(&bad_sad), Err(Asn1Error::NotCanonical));
}

#[test]
fn oversize_inputs_are_refused() {
    let big = Any::new(der::Tag::OctetString, vec![0u8; MAX_TOKEN_LEN]).unwrap();
    let data = CompactIdentityToken::new(USER, NB, NA)
        .unwrap()
        .with_extension(Oid::from_dotted("2.25.1").unwrap(), big)
        .unwrap();
    let t = token_from(data);
    let der = t.to_der().unwrap();
    assert_eq!(
        SignedIdentityToken::from_der_strict(&der),
        Err(Asn1Error::TooLong)
    );
    // The same token inside a SAD (which itself is within MAX_SAD_LEN).
    let mut s = sad();
    s.tbs.identity_token = t;
    assert_eq!(
        Sad::from_der_strict(&s.to_der().unwrap()),
        Err(Asn1Error::TooLong)
    );
}

#[test]
fn hash_value_count_outside_one_to_max_is_refused() {
    let ok = sad_with(HashAlgorithm::Sha256, vec![vec![7; 32]; MAX_HASHES]);
    assert!(Sad::from_der_strict(&ok.to_der().unwrap()).is_ok());
    let one = sad_with(HashAlgorithm::Sha256, vec![vec![7; 32]]);
    assert!(Sad::from_der_strict(&one.to_der().unwrap()).is_ok());
    let too_many = sad_with(HashAlgorithm::Sha256, vec![vec![7; 32]; MAX_HASHES + 1]);
    assert_eq!(
        Sad::from_der_strict(&too_many.to_der().unwrap()),
        Err(Asn1Error::HashValueCount)
    );
    let none = sad_with(HashAlgorithm::Sha256, Vec::new());
    assert_eq!(
        Sad::from_der_strict(&none.to_der().unwrap()),
        Err(Asn1Error::HashValueCount)
    );
}

#[test]
fn issuer_serial_profile_is_enforced() {
    let mut t = token();
    t.signer.issuer.push(GeneralName::DirectoryName(idp_name()));
    let der = t.to_der().unwrap();
    assert_eq!(
        SignedIdentityToken::from_der_strict(&der),
        Err(Asn1Error::UnsupportedIssuer)
    );
    let mut t = token();
    t.signer.issuer_uid = Some(der::asn1::BitString::from_bytes(&[1]).unwrap());
    let der = t.to_der().unwrap();
    assert_eq!(
        SignedIdentityToken::from_der_strict(&der),
        Err(Asn1Error::UnsupportedIssuer)
    );
}

// -------------------------------------------------------------- extensions

#[test]
fn duplicate_extension_oid_is_refused() {
    let data = token_data();
    assert_eq!(
        data.clone().with_signing_scope("other").unwrap_err(),
        Asn1Error::DuplicateExtension
    );
    // A token whose IdP put the OID in twice decodes (the set is canonical)
    // but its accessor refuses to pick one.
    let mut exts: Vec<CompactExtension> = data.extensions.iter().cloned().collect();
    exts.push(CompactExtension {
        oid: oids::SIGNING_SCOPE,
        data: Any::encode_from(&String::from("other")).unwrap(),
    });
    let mut dup = data;
    dup.extensions = SetOfVec::try_from(exts).unwrap();
    let der = token_from(dup).to_der().unwrap();
    let back = SignedIdentityToken::from_der_strict(&der).unwrap();
    assert_eq!(
        back.data.signing_scope(),
        Err(Asn1Error::DuplicateExtension)
    );
    assert_eq!(
        back.data.identification_level(),
        Ok(Some(IdentificationLevel::Substantial))
    );
}

#[test]
fn extension_data_is_decoded_strictly() {
    let base = CompactIdentityToken::new(USER, NB, NA).unwrap();
    let with = |tag, bytes: &[u8]| {
        base.clone()
            .with_extension(
                oids::IDENTIFICATION_LEVEL,
                Any::new(tag, bytes.to_vec()).unwrap(),
            )
            .unwrap()
    };
    assert_eq!(
        with(der::Tag::Enumerated, &[3]).identification_level(),
        Ok(Some(IdentificationLevel::High))
    );
    // Unknown level, INTEGER instead of ENUMERATED, non-minimal encoding.
    for (tag, bytes) in [
        (der::Tag::Enumerated, &[4][..]),
        (der::Tag::Enumerated, &[0][..]),
        (der::Tag::Integer, &[2][..]),
        (der::Tag::Enumerated, &[0, 2][..]),
    ] {
        assert_eq!(
            with(tag, bytes).identification_level(),
            Err(Asn1Error::BadExtension)
        );
    }
    // Scope as PrintableString, SAD key that is not an SPKI.
    let scope = base
        .clone()
        .with_extension(
            oids::SIGNING_SCOPE,
            Any::new(der::Tag::PrintableString, b"signing".to_vec()).unwrap(),
        )
        .unwrap();
    assert_eq!(scope.signing_scope(), Err(Asn1Error::BadExtension));
    let key = base
        .clone()
        .with_extension(
            oids::SAD_PUBLIC_KEY,
            Any::new(der::Tag::OctetString, vec![1, 2]).unwrap(),
        )
        .unwrap();
    assert_eq!(key.sad_public_key(), Err(Asn1Error::BadExtension));
    // The builder refuses a SAD key that is not strict DER.
    let mut spki = sad_spki();
    spki.push(0);
    assert!(base.with_sad_public_key(&spki).is_err());
}

#[test]
fn identification_levels_are_ordered_and_enumerated() {
    use IdentificationLevel::*;
    assert!(Low < Substantial && Substantial < High);
    assert!(High >= Substantial && Substantial >= Substantial && Low < Substantial);
    assert_eq!(Substantial.to_der().unwrap(), [0x0A, 0x01, 0x02]);
    let mut v = vec![High, Low, Substantial];
    v.sort();
    assert_eq!(v, [Low, Substantial, High]);
}

#[test]
fn builder_refuses_reversed_window() {
    assert_eq!(
        CompactIdentityToken::new(USER, NA, NB),
        Err(Asn1Error::InvalidValue)
    );
}

// -------------------------------------------------------------- algorithms

#[test]
fn algorithm_identifiers_map_to_hash_and_scheme() {
    use HashAlgorithm::*;
    for hash in [Sha256, Sha384, Sha512] {
        assert_eq!(signature_hash(&digest_algorithm(hash)), Ok((hash, None)));
        for scheme in [SchemeKind::Ecdsa, SchemeKind::RsaPkcs1v15] {
            let alg = signature_algorithm(hash, scheme);
            assert_eq!(signature_hash(&alg), Ok((hash, Some(scheme))));
            let back = AlgorithmIdentifierOwned::from_der(&alg.to_der().unwrap()).unwrap();
            assert_eq!(back, alg);
        }
    }
    // Parameter rules: digest NULL ok, RSA absent ok, ECDSA NULL refused.
    let mut d = digest_algorithm(Sha384);
    d.parameters = Some(Any::null());
    assert_eq!(signature_hash(&d), Ok((Sha384, None)));
    let mut r = signature_algorithm(Sha512, SchemeKind::RsaPkcs1v15);
    r.parameters = None;
    assert_eq!(
        signature_hash(&r),
        Ok((Sha512, Some(SchemeKind::RsaPkcs1v15)))
    );
    let mut e = signature_algorithm(Sha256, SchemeKind::Ecdsa);
    e.parameters = Some(Any::null());
    assert_eq!(signature_hash(&e), Err(Asn1Error::UnsupportedAlgorithm));
    let mut r = signature_algorithm(Sha256, SchemeKind::RsaPkcs1v15);
    r.parameters = Some(Any::encode_from(&OctetString::new(vec![0]).unwrap()).unwrap());
    assert_eq!(signature_hash(&r), Err(Asn1Error::UnsupportedAlgorithm));
}

#[test]
fn unknown_algorithm_is_refused() {
    for oid in [
        "1.2.840.113549.1.1.10",  // RSASSA-PSS
        "1.2.840.113549.1.1.5",   // sha1WithRSAEncryption
        "1.3.14.3.2.26",          // SHA-1
        "2.16.840.1.101.3.4.2.8", // SHA3-256
        "1.3.101.112",            // Ed25519
    ] {
        let alg = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap(oid),
            parameters: None,
        };
        assert_eq!(
            signature_hash(&alg),
            Err(Asn1Error::UnsupportedAlgorithm),
            "{oid}"
        );
    }
    // A SAD with such an algorithm still parses; the firmware answers
    // InvalidAlgorithm after authenticating, so the parser leaves it.
    let mut s = sad();
    s.tbs.hash_algorithm.oid = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    let back = Sad::from_der_strict(&s.to_der().unwrap()).unwrap();
    assert_eq!(back.hash_algorithm(), Err(Asn1Error::UnsupportedAlgorithm));
}

// ------------------------------------------------------------ IssuerSerial

#[test]
fn issuer_serial_matches_its_certificate_only() {
    let is = IssuerSerial::new(&idp_name(), &idp_serial()).unwrap();
    let name_der = idp_name().to_der().unwrap();
    let serial = idp_serial();
    assert!(is.matches_parts(&name_der, serial.as_bytes()));
    assert!(!is.matches_parts(&name_der, SerialNumber::from(1002u32).as_bytes()));
    let other = Name::from_str("CN=Other IdP,O=SAM Development,C=DE").unwrap();
    assert!(!is.matches_parts(&other.to_der().unwrap(), serial.as_bytes()));
    assert!(!is.matches_parts(&[], serial.as_bytes()));
    assert_eq!(
        IssuerSerial::from_parts(&name_der, serial.as_bytes()).unwrap(),
        is
    );
    // Survives a strict round trip inside a token.
    let der = token().to_der().unwrap();
    let back = SignedIdentityToken::from_der_strict(&der).unwrap();
    assert!(back.signer.matches_parts(&name_der, serial.as_bytes()));
    // Serial numbers with the sign octet (high bit set) match too.
    let high = SerialNumber::new(&[0x80, 0x01]).unwrap();
    let is = IssuerSerial::new(&idp_name(), &high).unwrap();
    let is = IssuerSerial::from_der(&is.to_der().unwrap()).unwrap();
    assert!(is.matches_parts(&name_der, high.as_bytes()));
}

// -------------------------------------------------------------------- OIDs

#[test]
fn private_oids_are_uuid_arcs() {
    let expected = [
        (
            oids::SAD_PUBLIC_KEY,
            "2.25.101610348111714417413499899884494262504",
        ),
        (
            oids::SIGNING_SCOPE,
            "2.25.319104415683743927112214511656047321443",
        ),
        (
            oids::IDENTIFICATION_LEVEL,
            "2.25.166021955132934796161031780046376510314",
        ),
        (
            oids::IDENTITY_TOKEN_TYPE,
            "2.25.218916602236612049685572449811780891467",
        ),
    ];
    for (oid, text) in expected {
        assert_eq!(oid.to_string(), text);
        assert_eq!(Oid::from_dotted(text).unwrap(), oid);
        assert_eq!(oid.as_bytes()[0], 0x69);
        let der = oid.to_der().unwrap();
        assert_eq!(Oid::from_der(&der).unwrap(), oid);
        // Why `Oid` exists: const-oid refuses arcs above u32::MAX.
        assert!(ObjectIdentifier::from_bytes(oid.as_bytes()).is_err());
    }
    let distinct: std::collections::HashSet<_> = expected.iter().map(|(o, _)| *o).collect();
    assert_eq!(distinct.len(), 4);
}

#[test]
fn oid_validation() {
    let sha = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
    let o = Oid::try_from(&sha).unwrap();
    assert_eq!(o.to_string(), "2.16.840.1.101.3.4.2.1");
    assert_eq!(o.as_bytes(), sha.as_bytes());
    assert_eq!(Oid::from_uuid(0).to_string(), "2.25.0");
    assert_eq!(
        Oid::from_uuid(u128::MAX).to_string(),
        format!("2.25.{}", u128::MAX)
    );
    for bad in [
        &[][..],
        &[0x80, 0x01],
        &[0x2A, 0x86],
        &[0xFF; 20],
        &[0x01; 49],
    ] {
        assert_eq!(
            Oid::from_content(bad),
            Err(Asn1Error::InvalidOid),
            "{bad:02x?}"
        );
    }
    for bad in ["", "1", "3.1", "1.40", "2.25.", "2.+5", "2.025", "2.25.x"] {
        assert_eq!(Oid::from_dotted(bad), Err(Asn1Error::InvalidOid), "{bad}");
    }
    assert!(Oid::from_der(&[0x06, 0x02, 0x80, 0x01]).is_err());
}

// ----------------------------------------------------------- external check

#[test]
fn openssl_reads_the_sad_as_der() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let der = sad().to_der().unwrap();
    let child = Command::new("openssl")
        .args(["asn1parse", "-inform", "DER"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: openssl not available ({e})");
            return;
        }
    };
    child.stdin.take().unwrap().write_all(&der).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("Error"), "{text}");
    assert!(
        text.contains("UTF8STRING        :") && text.contains(KEY),
        "{text}"
    );
    assert!(text.contains("sha256"), "{text}");
    assert!(text.contains("cont [ 0 ]"), "{text}");
    assert!(text.contains("GENERALIZEDTIME"), "{text}");
}

// --------------------------------------------------------------- proptest

fn hash_strategy() -> impl Strategy<Value = HashAlgorithm> {
    prop_oneof![
        Just(HashAlgorithm::Sha256),
        Just(HashAlgorithm::Sha384),
        Just(HashAlgorithm::Sha512)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sad_tbs_round_trips(
        key_id in "\\PC{0,60}",
        hash in hash_strategy(),
        hashes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..=64), 1..=MAX_HASHES),
        signature in proptest::collection::vec(any::<u8>(), 0..=512),
    ) {
        let tbs = SadTbs {
            identity_token: token(),
            key_id,
            hash_algorithm: digest_algorithm(hash),
            tbs_hash_values: hashes.into_iter().map(|h| OctetString::new(h).unwrap()).collect(),
        };
        let tbs_der = tbs.to_der().unwrap();
        prop_assert_eq!(&SadTbs::from_der(&tbs_der).unwrap(), &tbs);
        let sad = Sad { tbs, signature: OctetString::new(signature).unwrap() };
        let der = sad.to_der().unwrap();
        let back = Sad::from_der_strict(&der).unwrap();
        prop_assert_eq!(back.to_der().unwrap(), der);
        prop_assert_eq!(back.signed_bytes().unwrap(), tbs_der);
        prop_assert_eq!(back.hash_algorithm().unwrap(), hash);
        prop_assert_eq!(back, sad);
    }
}

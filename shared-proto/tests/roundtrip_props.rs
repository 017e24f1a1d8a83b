#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Round-trip properties of every wire type, both ways:
//!
//! * `decode(encode(x)) == x` for values built from random parts, through
//!   the decoder the firmware and the host use (`decode_request`,
//!   `decode_response`, `decode_exact` with the type's bound, the strict
//!   DER decoders);
//! * `encode(decode(b)) == b` for every accepted `b`, fed with mutations
//!   of valid encodings (overwritten, inserted and removed bytes,
//!   truncations, and varints or DER lengths re-written in a longer form):
//!   whatever still decodes must re-encode to exactly the input.
//!
//! `frames.rs` holds the frame header and the bounded types' own tests,
//! `token_roundtrip.rs` and `asn1.rs` the unmutated token and SAD round
//! trips; this file adds every command, response, component and record,
//! the mutated DER inputs and the DER building blocks.

use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Tag};
use proptest::prelude::*;
use sam_proto::asn1::{
    CompactExtension, CompactGroupAssociation, CompactIdentityToken, CompactLongRoleAssociation,
    CompactRoleAssociation, CompactShortRoleAssociation, IdentificationLevel, IssuerSerial,
    MAX_OID_LEN, Oid, Sad, SadTbs, SchemeKind, SignedIdentityToken, digest_algorithm,
    signature_algorithm,
};
use sam_proto::bounded::{Blob, List};
use sam_proto::command::{
    ADMIN_KEY_LEN, Approval, Approvals, AuditCursor, AuditOutbox, Audited, Authentication,
    CertificationRequestSigned, ChallengeIssued, CreatePrivilegedUser, CreateSigner, Credential,
    DeleteKeyPair, EnrolPrivilegedUser, ErrorAnswer, FirmwareState, GenerateKeyPair,
    GetAuditCheckpoint, GetChallenge, GetStatus, IdpKeysParams, IdpKeysSet, InitFirmware,
    InitParams, Initialized, IntegrityReport, KeyPairGenerated, MAX_ADMIN_SIG_LEN, MAX_ADMINS,
    MAX_AUDIT_BATCH, MAX_CREDENTIAL_LEN, MAX_CRI_LEN, MAX_CSR_LEN, MAX_HASHES, MAX_IDP_KEYS,
    MAX_INTEGRITY_BATCH, MAX_OPERATOR_NAME_LEN, MAX_OPERATOR_RESPONSE_LEN, MAX_OUTBOX_BATCH,
    MAX_SAD_LEN, MAX_SIGNATURE_LEN, MAX_SUBJECT_LEN, NewUser, OperatorLogon, RequestProof,
    SetIdpKeys, SignCertificationRequest, Signed, SignerMaintenance, Signing, Status, SubFunction,
    SyncAudit, TechnicalSignature, UserIssued, VerifyDataIntegrity,
};
use sam_proto::error::ErrorType;
use sam_proto::frame::{FrameError, decode_exact, decode_request, decode_response, encode_body};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, Role, Uuid};
use sam_proto::records::{
    AuditCheckpoint, AuditEntry, AuditRecord, MAX_CERT_LEN, MAX_CHECKPOINT_SIG_LEN, MAX_IDP_CERTS,
    MAX_SEALED_KEY_LEN, MAX_SPKI_LEN, SealedUserRecord, UserRecord, WrappedKey,
};
use serde::Serialize;
use std::fmt::Debug;
use std::str::FromStr;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

// ---------------------------------------------------------------------------
// Mutations.
// ---------------------------------------------------------------------------

/// One change to a valid encoding. Positions are taken modulo the length.
#[derive(Clone, Debug)]
enum Mutation {
    Overwrite(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    /// The byte at the position, if it has no continuation bit, as the
    /// two-byte varint `b|0x80, 0x00`: the same number, written longer.
    LongVarint(usize),
    /// The byte at the position, if it is a short-form DER length
    /// (`< 0x80`), in the long form `0x81 b`: the same length, not DER.
    LongLength(usize),
}

impl Mutation {
    fn apply(&self, b: &mut Vec<u8>) {
        let len = b.len();
        match *self {
            Self::Overwrite(i, v) if len > 0 => b[i % len] = v,
            Self::Insert(i, v) => b.insert(i % (len + 1), v),
            Self::Remove(i) if len > 0 => {
                b.remove(i % len);
            }
            Self::Truncate(i) => b.truncate(i % (len + 1)),
            Self::LongVarint(i) if len > 0 && b[i % len] < 0x80 => {
                b[i % len] |= 0x80;
                b.insert(i % len + 1, 0x00);
            }
            Self::LongLength(i) if len > 0 && b[i % len] < 0x80 => {
                b.insert(i % len, 0x81);
            }
            _ => {}
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Overwrite(i, v)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::LongVarint),
        any::<usize>().prop_map(Mutation::LongLength),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

/// Each mutation on its own (they are likelier to still decode), then all
/// of them together.
fn mutated(enc: &[u8], muts: &[Mutation]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = muts
        .iter()
        .map(|m| {
            let mut b = enc.to_vec();
            m.apply(&mut b);
            b
        })
        .collect();
    let mut all = enc.to_vec();
    for m in muts {
        m.apply(&mut all);
    }
    out.push(all);
    out
}

/// Both properties for a postcard body: `value` survives encode and
/// decode, and every mutation of its encoding that `decode` accepts
/// re-encodes to exactly the mutated bytes.
fn check_postcard<T>(
    value: &T,
    muts: &[Mutation],
    decode: fn(&[u8]) -> Result<T, FrameError>,
) -> Result<(), TestCaseError>
where
    T: Serialize + PartialEq + Debug,
{
    let enc = encode_body(value).unwrap();
    prop_assert_eq!(&decode(&enc).unwrap(), value);
    for b in mutated(&enc, muts) {
        if let Ok(back) = decode(&b) {
            prop_assert_eq!(
                encode_body(&back).unwrap(),
                b,
                "accepted a non-canonical encoding of {:?}",
                back
            );
        }
    }
    Ok(())
}

/// The same for a strict DER decoder.
fn check_der<T>(
    value: &T,
    muts: &[Mutation],
    decode: fn(&[u8]) -> Result<T, sam_proto::asn1::Asn1Error>,
) -> Result<(), TestCaseError>
where
    T: Encode + PartialEq + Debug,
{
    let enc = value.to_der().unwrap();
    prop_assert_eq!(&decode(&enc).unwrap(), value);
    for b in mutated(&enc, muts) {
        if let Ok(back) = decode(&b) {
            prop_assert_eq!(back.to_der().unwrap(), b, "accepted non-DER: {:?}", back);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Strategies of the postcard types. Sizes stay small except that a blob is
// now and then at its bound; integers are small (one-byte varints) or
// anything (mostly the longest varints).
// ---------------------------------------------------------------------------

fn blob<const N: usize>() -> impl Strategy<Value = Blob<N>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..=N.min(24)),
        2 => prop::collection::vec(any::<u8>(), 0..=N.min(300)),
        1 => prop::collection::vec(any::<u8>(), N..=N),
    ]
    .prop_map(|v| Blob::from_vec(v).unwrap())
}

/// A list of up to three items (or its bound, if lower).
fn list<S, const N: usize>(item: S) -> impl Strategy<Value = List<S::Value, N>>
where
    S: Strategy,
    S::Value: Debug,
{
    prop::collection::vec(item, 0..=N.min(3)).prop_map(|v| List::from_vec(v).unwrap())
}

fn u16s() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..300, any::<u16>()]
}

fn u32s() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..300, any::<u32>()]
}

fn u64s() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..300, any::<u64>()]
}

fn i64s() -> impl Strategy<Value = i64> {
    prop_oneof![-150i64..150, any::<i64>()]
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid)
}

fn sub_function() -> impl Strategy<Value = SubFunction> {
    prop::sample::select(SubFunction::ALL.to_vec())
}

fn error_type() -> impl Strategy<Value = ErrorType> {
    prop::sample::select(ErrorType::ALL.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(vec![
        Role::PrivilegedUser,
        Role::Signer,
        Role::PrivilegedUserTechnical,
    ])
}

fn key_algorithm() -> impl Strategy<Value = KeyAlgorithm> {
    prop::sample::select(KeyAlgorithm::ALL.to_vec())
}

fn firmware_state() -> impl Strategy<Value = FirmwareState> {
    prop::sample::select(vec![
        FirmwareState::Uninitialized,
        FirmwareState::Operational,
        FirmwareState::Failed,
    ])
}

prop_compose! {
    fn audit_entry()(
        seq in u64s(),
        prev in any::<[u8; 32]>(),
        time in i64s(),
        boot in u32s(),
        action in prop_oneof![
            sub_function().prop_map(sam_proto::records::Action::Command),
            any::<u16>().prop_map(sam_proto::records::Action::Unknown),
        ],
        failure in prop::option::of(error_type()),
        cause in prop::option::of(prop::sample::select(sam_proto::codes::Cause::ALL.to_vec())),
        note in prop::option::of(blob::<{ sam_proto::records::MAX_NOTE_LEN }>()),
        actor in prop::option::of(uuid()),
        target_user in prop::option::of(uuid()),
        key_id in prop::option::of(uuid()),
    ) -> AuditEntry {
        AuditEntry {
            seq, prev, time, boot, action, failure, cause, note, actor, target_user, key_id,
        }
    }
}

prop_compose! {
    fn audit_record()(entry in audit_entry(), mac in any::<[u8; 32]>()) -> AuditRecord {
        AuditRecord { entry, mac }
    }
}

prop_compose! {
    fn user_record()(
        version in any::<u8>(),
        user_id in uuid(),
        role in role(),
        idp_certs in list::<_, MAX_IDP_CERTS>(any::<[u8; 32]>()),
        technical_key in prop::option::of(blob::<MAX_SPKI_LEN>()),
        generation in u32s(),
    ) -> UserRecord {
        UserRecord { version, user_id, role, idp_certs, technical_key, generation }
    }
}

prop_compose! {
    fn sealed_user()(record in user_record(), mac in any::<[u8; 32]>()) -> SealedUserRecord {
        SealedUserRecord { record, mac }
    }
}

prop_compose! {
    fn wrapped_key()(
        version in any::<u8>(),
        key_id in uuid(),
        user_id in uuid(),
        algorithm in key_algorithm(),
        created in i64s(),
        public_key in blob::<MAX_SPKI_LEN>(),
        nonce in any::<[u8; 12]>(),
        sealed in blob::<MAX_SEALED_KEY_LEN>(),
    ) -> WrappedKey {
        WrappedKey { version, key_id, user_id, algorithm, created, public_key, nonce, sealed }
    }
}

prop_compose! {
    fn credential()(kind in u16s(), value in blob::<MAX_CREDENTIAL_LEN>()) -> Credential {
        Credential { kind, value }
    }
}

prop_compose! {
    fn technical_signature()(
        challenge in any::<[u8; 32]>(),
        signature in blob::<MAX_SIGNATURE_LEN>(),
    ) -> TechnicalSignature {
        TechnicalSignature { challenge, signature }
    }
}

prop_compose! {
    fn request_proof()(
        challenge in any::<[u8; 32]>(),
        signature in blob::<MAX_SIGNATURE_LEN>(),
    ) -> RequestProof {
        RequestProof { challenge, signature }
    }
}

prop_compose! {
    fn authentication()(
        credential in credential(),
        actor in prop::option::of(sealed_user()),
        proof in prop::option::of(request_proof()),
    ) -> Authentication {
        Authentication { credential, actor, proof }
    }
}

prop_compose! {
    fn approvals()(
        challenge in any::<[u8; 32]>(),
        approvals in list::<_, MAX_ADMINS>(
            (blob::<ADMIN_KEY_LEN>(), blob::<MAX_ADMIN_SIG_LEN>())
                .prop_map(|(admin, signature)| Approval { admin, signature }),
        ),
    ) -> Approvals {
        Approvals { challenge, approvals }
    }
}

prop_compose! {
    fn new_user()(
        user_id in uuid(),
        certificates in list::<_, MAX_IDP_CERTS>(blob::<MAX_CERT_LEN>()),
    ) -> NewUser {
        NewUser { user_id, certificates }
    }
}

fn init_params() -> impl Strategy<Value = InitParams> {
    (list::<_, MAX_ADMINS>(blob::<ADMIN_KEY_LEN>()), any::<u8>())
        .prop_map(|(admins, mbk_slot)| InitParams { admins, mbk_slot })
}

fn idp_keys_params() -> impl Strategy<Value = IdpKeysParams> {
    list::<_, MAX_IDP_KEYS>(blob::<MAX_CERT_LEN>())
        .prop_map(|certificates| IdpKeysParams { certificates })
}

prop_compose! {
    fn audit_cursor()(
        next_seq in u64s(),
        chain in any::<[u8; 32]>(),
        mac in any::<[u8; 32]>(),
    ) -> AuditCursor {
        AuditCursor { next_seq, chain, mac }
    }
}

// Requests.

fn init_firmware() -> impl Strategy<Value = InitFirmware> {
    (
        init_params(),
        blob::<MAX_OPERATOR_NAME_LEN>(),
        blob::<MAX_OPERATOR_RESPONSE_LEN>(),
        approvals(),
    )
        .prop_map(|(params, user, response, approvals)| InitFirmware {
            params,
            operator: OperatorLogon { user, response },
            approvals,
        })
}

fn set_idp_keys() -> impl Strategy<Value = SetIdpKeys> {
    (idp_keys_params(), approvals())
        .prop_map(|(params, approvals)| SetIdpKeys { params, approvals })
}

fn enrol_privileged_user() -> impl Strategy<Value = EnrolPrivilegedUser> {
    (new_user(), approvals())
        .prop_map(|(params, approvals)| EnrolPrivilegedUser { params, approvals })
}

prop_compose! {
    fn create_privileged_user()(
        auth in authentication(),
        user in new_user(),
        technical_certificate in prop::option::of(blob::<MAX_CERT_LEN>()),
    ) -> CreatePrivilegedUser {
        CreatePrivilegedUser { auth, user, technical_certificate }
    }
}

fn create_signer() -> impl Strategy<Value = CreateSigner> {
    (authentication(), new_user()).prop_map(|(auth, user)| CreateSigner { auth, user })
}

prop_compose! {
    fn signer_maintenance()(
        auth in authentication(),
        target in prop::option::of(sealed_user()),
        certificates in list::<_, MAX_IDP_CERTS>(blob::<MAX_CERT_LEN>()),
    ) -> SignerMaintenance {
        SignerMaintenance { auth, target, certificates }
    }
}

prop_compose! {
    fn generate_key_pair()(
        auth in authentication(),
        target in prop::option::of(sealed_user()),
        algorithm in key_algorithm(),
        subject in prop::option::of(blob::<MAX_SUBJECT_LEN>()),
    ) -> GenerateKeyPair {
        GenerateKeyPair { auth, target, algorithm, subject }
    }
}

prop_compose! {
    fn sign_certification_request()(
        auth in authentication(),
        wrapped in wrapped_key(),
        request_info in blob::<MAX_CRI_LEN>(),
    ) -> SignCertificationRequest {
        SignCertificationRequest { auth, wrapped, request_info }
    }
}

prop_compose! {
    fn delete_key_pair()(
        auth in authentication(),
        key_id in uuid(),
        wrapped in prop::option::of(wrapped_key()),
    ) -> DeleteKeyPair {
        DeleteKeyPair { auth, key_id, wrapped }
    }
}

prop_compose! {
    fn signing()(
        sad in blob::<MAX_SAD_LEN>(),
        credential in prop::option::of(credential()),
        signer in prop::option::of(sealed_user()),
        wrapped in prop::option::of(wrapped_key()),
    ) -> Signing {
        Signing { sad, credential, signer, wrapped }
    }
}

prop_compose! {
    fn verify_data_integrity()(
        users in list::<_, MAX_INTEGRITY_BATCH>(sealed_user()),
        keys in list::<_, MAX_INTEGRITY_BATCH>(wrapped_key()),
        audit in list::<_, MAX_AUDIT_BATCH>(audit_record()),
        cursor in prop::option::of(audit_cursor()),
    ) -> VerifyDataIntegrity {
        VerifyDataIntegrity { users, keys, audit, cursor }
    }
}

prop_compose! {
    fn sync_audit()(
        stored in list::<_, MAX_OUTBOX_BATCH>(u64s()),
        fetch_from in prop::option::of(u64s()),
    ) -> SyncAudit {
        SyncAudit { stored, fetch_from }
    }
}

// Responses.

prop_compose! {
    fn status()(
        firmware_version in u16s(),
        state in firmware_state(),
        boot in u32s(),
        next_audit_seq in u64s(),
        audit_head in any::<[u8; 32]>(),
        attestation_key in prop::option::of(blob::<ADMIN_KEY_LEN>()),
        admins in any::<u8>(),
        idp_keys in any::<u8>(),
    ) -> Status {
        Status {
            firmware_version, state, boot, next_audit_seq, audit_head, attestation_key,
            admins, idp_keys,
        }
    }
}

fn challenge_issued() -> impl Strategy<Value = ChallengeIssued> {
    (any::<[u8; 32]>(), i64s())
        .prop_map(|(challenge, expires)| ChallengeIssued { challenge, expires })
}

fn initialized() -> impl Strategy<Value = Initialized> {
    (blob::<ADMIN_KEY_LEN>(), audit_record()).prop_map(|(attestation_key, audit)| Initialized {
        attestation_key,
        audit,
    })
}

fn idp_keys_set() -> impl Strategy<Value = IdpKeysSet> {
    (list::<_, MAX_IDP_KEYS>(any::<[u8; 32]>()), audit_record()).prop_map(
        |(fingerprints, audit)| IdpKeysSet {
            fingerprints,
            audit,
        },
    )
}

fn user_issued() -> impl Strategy<Value = UserIssued> {
    (sealed_user(), audit_record()).prop_map(|(record, audit)| UserIssued { record, audit })
}

prop_compose! {
    fn key_pair_generated()(
        wrapped in wrapped_key(),
        attestation in blob::<MAX_ADMIN_SIG_LEN>(),
        csr in prop::option::of(blob::<MAX_CSR_LEN>()),
        audit in audit_record(),
    ) -> KeyPairGenerated {
        KeyPairGenerated { wrapped, attestation, csr, audit }
    }
}

fn certification_request_signed() -> impl Strategy<Value = CertificationRequestSigned> {
    (blob::<MAX_CSR_LEN>(), audit_record())
        .prop_map(|(csr, audit)| CertificationRequestSigned { csr, audit })
}

fn audited() -> impl Strategy<Value = Audited> {
    audit_record().prop_map(|audit| Audited { audit })
}

fn signed() -> impl Strategy<Value = Signed> {
    (
        list::<_, MAX_HASHES>(blob::<MAX_SIGNATURE_LEN>()),
        audit_record(),
    )
        .prop_map(|(signatures, audit)| Signed { signatures, audit })
}

prop_compose! {
    fn integrity_report()(
        bad_users in list::<_, MAX_INTEGRITY_BATCH>(u16s()),
        bad_keys in list::<_, MAX_INTEGRITY_BATCH>(u16s()),
        audit_break in prop::option::of(u16s()),
        cursor in audit_cursor(),
        audit_complete in any::<bool>(),
    ) -> IntegrityReport {
        IntegrityReport { bad_users, bad_keys, audit_break, cursor, audit_complete }
    }
}

prop_compose! {
    fn audit_outbox()(
        records in list::<_, MAX_OUTBOX_BATCH>(audit_record()),
        more in any::<bool>(),
        kept in u32s(),
        next_seq in u64s(),
        checkpoint in prop::option::of(audit_checkpoint()),
    ) -> AuditOutbox {
        AuditOutbox { records, more, kept, next_seq, checkpoint }
    }
}

prop_compose! {
    fn audit_checkpoint()(
        next_seq in u64s(),
        head in any::<[u8; 32]>(),
        boot in u32s(),
        time in any::<i64>(),
        signature in blob::<MAX_CHECKPOINT_SIG_LEN>(),
    ) -> AuditCheckpoint {
        AuditCheckpoint { next_seq, head, boot, time, signature }
    }
}

// ---------------------------------------------------------------------------
// Postcard properties: one test per type.
// ---------------------------------------------------------------------------

macro_rules! postcard_props {
    ($($test:ident: $strategy:expr => $decode:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $test(value in $strategy, muts in mutations()) {
                    check_postcard(&value, &muts, $decode)?;
                }
            )*
        }
    };
}

postcard_props! {
    // Requests, through `decode_request` (the firmware's entry).
    get_status_request: Just(GetStatus) => decode_request::<GetStatus>;
    get_challenge_request: Just(GetChallenge) => decode_request::<GetChallenge>;
    init_firmware_request: init_firmware() => decode_request::<InitFirmware>;
    set_idp_keys_request: set_idp_keys() => decode_request::<SetIdpKeys>;
    enrol_privileged_user_request: enrol_privileged_user()
        => decode_request::<EnrolPrivilegedUser>;
    create_privileged_user_request: create_privileged_user()
        => decode_request::<CreatePrivilegedUser>;
    create_signer_request: create_signer() => decode_request::<CreateSigner>;
    signer_maintenance_request: signer_maintenance() => decode_request::<SignerMaintenance>;
    generate_key_pair_request: generate_key_pair() => decode_request::<GenerateKeyPair>;
    sign_certification_request_request: sign_certification_request()
        => decode_request::<SignCertificationRequest>;
    delete_key_pair_request: delete_key_pair() => decode_request::<DeleteKeyPair>;
    signing_request: signing() => decode_request::<Signing>;
    verify_data_integrity_request: verify_data_integrity()
        => decode_request::<VerifyDataIntegrity>;
    sync_audit_request: sync_audit() => decode_request::<SyncAudit>;

    // Responses, through `decode_response` (the host's entry).
    status_response: status() => decode_response::<GetStatus>;
    challenge_issued_response: challenge_issued() => decode_response::<GetChallenge>;
    initialized_response: initialized() => decode_response::<InitFirmware>;
    idp_keys_set_response: idp_keys_set() => decode_response::<SetIdpKeys>;
    user_issued_response: user_issued() => decode_response::<CreateSigner>;
    key_pair_generated_response: key_pair_generated() => decode_response::<GenerateKeyPair>;
    certification_request_signed_response: certification_request_signed()
        => decode_response::<SignCertificationRequest>;
    audited_response: audited() => decode_response::<DeleteKeyPair>;
    signed_response: signed() => decode_response::<Signing>;
    integrity_report_response: integrity_report() => decode_response::<VerifyDataIntegrity>;
    audit_outbox_response: audit_outbox() => decode_response::<SyncAudit>;
    audit_checkpoint_response: audit_checkpoint() => decode_response::<GetAuditCheckpoint>;
    error_answer_round_trips: prop::option::of(audit_record()).prop_map(|audit| ErrorAnswer { audit })
        => |b| decode_exact(b, ErrorAnswer::MAX_SIZE);

    // Components that travel on their own: signed by administrators
    // (InitParams, IdpKeysParams, NewUser), inside a credential
    // (TechnicalSignature), or checked against their own bound.
    init_params_round_trips: init_params() => |b| decode_exact(b, 1 << 16);
    idp_keys_params_round_trips: idp_keys_params() => |b| decode_exact(b, 1 << 16);
    new_user_round_trips: new_user() => |b| decode_exact(b, 1 << 16);
    technical_signature_round_trips: technical_signature() => |b| decode_exact(b, MAX_CREDENTIAL_LEN);
    credential_round_trips: credential() => |b| decode_exact(b, Credential::MAX_SIZE);
    authentication_round_trips: authentication() => |b| decode_exact(b, Authentication::MAX_SIZE);
    approvals_round_trips: approvals() => |b| decode_exact(b, Approvals::MAX_SIZE);
    audit_cursor_round_trips: audit_cursor() => |b| decode_exact(b, 10 + 32 + 32);

    // Records the host stores.
    user_record_round_trips: user_record() => |b| decode_exact(b, SealedUserRecord::MAX_SIZE);
    sealed_user_record_round_trips: sealed_user() => |b| decode_exact(b, SealedUserRecord::MAX_SIZE);
    wrapped_key_round_trips: wrapped_key() => |b| decode_exact(b, WrappedKey::MAX_SIZE);
    audit_entry_round_trips: audit_entry() => |b| decode_exact(b, AuditRecord::MAX_SIZE);
    audit_record_round_trips: audit_record() => |b| decode_exact(b, AuditRecord::MAX_SIZE);
}

/// The concrete inputs behind the `LongVarint` mutation: postcard itself
/// reads `81 00` as 1, `decode_exact` must not.
#[test]
fn over_long_varints_are_refused() {
    use FrameError::Malformed;
    assert_eq!(decode_exact::<u32>(&[0x01], 10), Ok(1));
    assert_eq!(decode_exact::<u32>(&[0x81, 0x00], 10), Err(Malformed));
    assert_eq!(decode_exact::<u64>(&[0x80, 0x80, 0x00], 10), Err(Malformed));
    assert_eq!(
        decode_exact::<Option<u16>>(&[1, 0x80, 0x00], 10),
        Err(Malformed)
    );
    assert_eq!(decode_exact::<i64>(&[0x82, 0x00], 10), Err(Malformed));
    // An enum's variant index and a blob's length prefix.
    assert_eq!(decode_exact::<Role>(&[0x81, 0x00], 10), Err(Malformed));
    assert_eq!(
        decode_exact::<Blob<8>>(&[0x81, 0x00, 0xaa], 10),
        Err(Malformed)
    );
    // In a whole request: GenerateKeyPair ends with the algorithm index
    // and an absent subject.
    let req = GenerateKeyPair {
        auth: Authentication {
            credential: Credential {
                kind: Credential::IDENTITY_TOKEN,
                value: Blob::from_vec(vec![1, 2, 3]).unwrap(),
            },
            actor: None,
            proof: None,
        },
        target: None,
        algorithm: KeyAlgorithm::EcP384,
        subject: None,
    };
    let mut body = encode_body(&req).unwrap();
    assert_eq!(decode_request::<GenerateKeyPair>(&body), Ok(req));
    assert_eq!(body.pop(), Some(0));
    assert_eq!(body.pop(), Some(1));
    body.extend([0x81, 0x00, 0x00]);
    assert_eq!(decode_request::<GenerateKeyPair>(&body), Err(Malformed));
}

// ---------------------------------------------------------------------------
// DER: the building blocks round trip through `der`, the strict decoders
// accept only DER.
// ---------------------------------------------------------------------------

/// An OID from its arcs: the root arcs in range, then up to six arcs of
/// any size that fit in [`MAX_OID_LEN`] bytes.
fn oid() -> impl Strategy<Value = Oid> {
    (
        0u128..3,
        0u128..40,
        prop::collection::vec(
            prop_oneof![0u128..200, any::<u64>().prop_map(u128::from), any::<u128>()],
            0..6,
        ),
    )
        .prop_filter_map("too long", |(a, b, rest)| {
            let mut text = format!("{a}.{b}");
            for arc in rest {
                text.push_str(&format!(".{arc}"));
            }
            Oid::from_dotted(&text).ok()
        })
}

fn any_value() -> impl Strategy<Value = Any> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|v| Any::new(Tag::OctetString, v).unwrap()),
        "\\PC{0,20}".prop_map(|s| Any::new(Tag::Utf8String, s.into_bytes()).unwrap()),
        Just(Any::null()),
    ]
}

fn extension() -> impl Strategy<Value = CompactExtension> {
    (oid(), any_value()).prop_map(|(oid, data)| CompactExtension { oid, data })
}

fn extensions() -> impl Strategy<Value = SetOfVec<CompactExtension>> {
    prop::collection::vec(extension(), 0..3).prop_map(|v| {
        let mut set = SetOfVec::new();
        for e in v {
            // Equal elements cannot both be in a DER SET OF.
            let _ = set.insert(e);
        }
        set
    })
}

fn octets(max: usize) -> impl Strategy<Value = OctetString> {
    prop::collection::vec(any::<u8>(), 0..=max).prop_map(|v| OctetString::new(v).unwrap())
}

fn short_role() -> impl Strategy<Value = CompactShortRoleAssociation> {
    (octets(8), extensions()).prop_map(|(short_id, extensions)| CompactShortRoleAssociation {
        short_id,
        extensions,
    })
}

fn long_role() -> impl Strategy<Value = CompactLongRoleAssociation> {
    ("\\PC{0,12}", "\\PC{0,12}", extensions()).prop_map(|(app, role, extensions)| {
        CompactLongRoleAssociation {
            app,
            role,
            extensions,
        }
    })
}

fn role_association() -> impl Strategy<Value = CompactRoleAssociation> {
    prop_oneof![
        short_role().prop_map(CompactRoleAssociation::Short),
        long_role().prop_map(CompactRoleAssociation::Long),
    ]
}

fn group() -> impl Strategy<Value = CompactGroupAssociation> {
    (
        octets(8),
        prop::collection::vec(role_association(), 0..3),
        extensions(),
    )
        .prop_map(|(id, roles, extensions)| {
            let mut role_associations = SetOfVec::new();
            for r in roles {
                let _ = role_associations.insert(r);
            }
            CompactGroupAssociation {
                id,
                role_associations,
                extensions,
            }
        })
}

fn level() -> impl Strategy<Value = IdentificationLevel> {
    prop::sample::select(vec![
        IdentificationLevel::Low,
        IdentificationLevel::Substantial,
        IdentificationLevel::High,
    ])
}

fn issuer() -> impl Strategy<Value = IssuerSerial> {
    ("[A-Za-z0-9 ]{1,16}", any::<u64>()).prop_map(|(cn, serial)| {
        let name = Name::from_str(&format!("CN={},O=SAM Development,C=DE", cn.trim())).unwrap();
        IssuerSerial::new(&name, &SerialNumber::from(serial)).unwrap()
    })
}

prop_compose! {
    fn compact_token()(
        user in "\\PC{0,40}",
        not_before in 0u64..4_000_000_000,
        lifetime in 0u64..1_000_000,
        level in prop::option::of(level()),
        scope in prop::option::of("\\PC{0,12}"),
        groups in prop::collection::vec(group(), 0..3),
        extra in prop::option::of(extension()),
    ) -> CompactIdentityToken {
        let mut t = CompactIdentityToken::new(&user, not_before, not_before + lifetime).unwrap();
        if let Some(l) = level {
            t = t.with_identification_level(l).unwrap();
        }
        if let Some(s) = &scope {
            t = t.with_signing_scope(s).unwrap();
        }
        if let Some(e) = extra {
            // Refused only if it repeats an OID already present.
            t = t.clone().with_extension(e.oid, e.data).unwrap_or(t);
        }
        for g in groups {
            t = t.with_group_association(g).unwrap();
        }
        t
    }
}

fn scheme() -> impl Strategy<Value = SchemeKind> {
    prop::sample::select(vec![SchemeKind::Ecdsa, SchemeKind::RsaPkcs1v15])
}

fn hash() -> impl Strategy<Value = HashAlgorithm> {
    prop::sample::select(vec![
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ])
}

prop_compose! {
    fn signed_token()(
        data in compact_token(),
        signer in issuer(),
        hash in hash(),
        scheme in scheme(),
        signature in octets(80),
    ) -> SignedIdentityToken {
        SignedIdentityToken {
            data,
            signer,
            signature_algorithm: signature_algorithm(hash, scheme),
            signature,
            token_type: None,
        }
    }
}

prop_compose! {
    fn sad()(
        identity_token in signed_token(),
        key_id in "\\PC{0,40}",
        hash in hash(),
        hashes in prop::collection::vec(octets(64), 1..4),
        signature in octets(96),
    ) -> Sad {
        Sad {
            tbs: SadTbs {
                identity_token,
                key_id,
                hash_algorithm: digest_algorithm(hash),
                tbs_hash_values: hashes,
            },
            signature,
        }
    }
}

/// `decode(encode(x)) == x` through `der`'s own decoder.
fn der_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Encode + for<'a> Decode<'a, Error = der::Error> + PartialEq + Debug,
{
    let enc = value.to_der().unwrap();
    prop_assert_eq!(&T::from_der(&enc).unwrap(), value);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn oids_round_trip(oid in oid(), muts in mutations()) {
        der_round_trip(&oid)?;
        prop_assert_eq!(Oid::from_dotted(&oid.to_string()), Ok(oid));
        prop_assert_eq!(Oid::from_content(oid.as_bytes()), Ok(oid));
        prop_assert!(oid.as_bytes().len() <= MAX_OID_LEN);
        // The OID decoder is strict on its own: whatever it accepts is
        // the content's only encoding.
        for b in mutated(&oid.to_der().unwrap(), &muts) {
            if let Ok(back) = Oid::from_der(&b) {
                prop_assert_eq!(back.to_der().unwrap(), b);
            }
        }
    }

    #[test]
    fn extensions_round_trip(ext in extension()) {
        der_round_trip(&ext)?;
    }

    #[test]
    fn role_associations_round_trip(short in short_role(), long in long_role(), any in role_association()) {
        der_round_trip(&short)?;
        der_round_trip(&long)?;
        der_round_trip(&any)?;
    }

    #[test]
    fn group_associations_round_trip(group in group()) {
        der_round_trip(&group)?;
    }

    #[test]
    fn issuer_serials_round_trip(issuer in issuer()) {
        der_round_trip(&issuer)?;
        prop_assert!(issuer.check_profile().is_ok());
    }

    #[test]
    fn compact_tokens_round_trip(token in compact_token()) {
        der_round_trip(&token)?;
    }

    #[test]
    fn strict_tokens_accept_only_der(token in signed_token(), muts in mutations()) {
        der_round_trip(&token)?;
        check_der(&token, &muts, SignedIdentityToken::from_der_strict)?;
    }

    #[test]
    fn strict_sads_accept_only_der(sad in sad(), muts in mutations()) {
        der_round_trip(&sad.tbs)?;
        der_round_trip(&sad)?;
        check_der(&sad, &muts, Sad::from_der_strict)?;
    }

    /// Two group associations swapped out of DER order (every length
    /// stays the same): `der` alone does not refuse it, the strict decoder
    /// must, since the bytes are not the value's DER.
    #[test]
    fn strict_tokens_refuse_an_unsorted_set(token in signed_token(), a in group(), b in group()) {
        let (ea, eb) = (a.to_der().unwrap(), b.to_der().unwrap());
        prop_assume!(ea != eb);
        let (lo, hi) = if ea < eb { (ea, eb) } else { (eb, ea) };
        let mut t = token;
        t.data.group_associations = SetOfVec::new();
        t.data.group_associations.insert(a).unwrap();
        t.data.group_associations.insert(b).unwrap();
        let good = t.to_der().unwrap();
        prop_assert_eq!(SignedIdentityToken::from_der_strict(&good), Ok(t));
        let sorted = [lo.as_slice(), hi.as_slice()].concat();
        let at = good.windows(sorted.len()).position(|w| w == sorted.as_slice()).unwrap();
        let mut swapped = good.clone();
        swapped[at..at + sorted.len()].copy_from_slice(&[hi.as_slice(), lo.as_slice()].concat());
        prop_assert!(SignedIdentityToken::from_der_strict(&swapped).is_err());
        if let Ok(lenient) = SignedIdentityToken::from_der(&swapped) {
            prop_assert_ne!(lenient.to_der().unwrap(), swapped);
        }
    }
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The host↔firmware wire format of `sam-proto`: size bounds of every
//! message, strict decoding of frames and bodies, round trips, and the
//! published code tables of `ErrorType` and `SubFunction`.
//!
//! The byte-exact encodings themselves are frozen in `golden.rs`.

use proptest::prelude::*;
use sam_proto::bounded::{Blob, List, varint_len};
use sam_proto::codes::{Cause, HostOperation};
use sam_proto::command::{
    ADMIN_KEY_LEN, Approval, Approvals, AuditCursor, AuditOutbox, Audited, Authentication,
    CertificateRegistered, CertificationRequestSigned, ChallengeIssued, Command,
    CreatePrivilegedUser, CreateSigner, Credential, DeleteKeyPair, EnrolPrivilegedUser,
    ErrorAnswer, FirmwareState, GenerateKeyPair, GetAuditCheckpoint, GetChallenge, GetStatus,
    IdpKeysParams, IdpKeysSet, InitFirmware, InitParams, Initialized, IntegrityReport,
    KeyPairGenerated, MAX_ADMIN_SIG_LEN, MAX_AUDIT_BATCH, MAX_CREDENTIAL_LEN, MAX_CSR_LEN,
    MAX_HASHES, MAX_IDP_KEYS, MAX_INTEGRITY_BATCH, MAX_OUTBOX_BATCH, MAX_SAD_LEN,
    MAX_SIGNATURE_LEN, NewUser, OperatorLogon, PolicyParams, RegisterCertificate, ReportRefusal,
    RequestProof, SetIdpKeys, SetPolicy, SignCertificationRequest, Signed, SignerMaintenance,
    Signing, Status, SubFunction, SyncAudit, TechnicalSignature, UserIssued, VerifyDataIntegrity,
};
use sam_proto::error::ErrorType;
use sam_proto::frame::{
    Frame, FrameError, HEADER_LEN, MAX_BODY_LEN, MAX_FRAME_LEN, PROTOCOL_VERSION, STATUS_OK,
    decode_exact, decode_frame, decode_frame_payload, decode_request, decode_response, encode_body,
    frame_len,
};
use sam_proto::ids::{KeyAlgorithm, Role, Uuid};
use sam_proto::records::{
    Action, AuditCheckpoint, AuditEntry, AuditRecord, CertFingerprint, MAX_IDP_CERTS, MAX_NOTE_LEN,
    MAX_SEALED_KEY_LEN, MAX_SPKI_LEN, SealedUserRecord, UserRecord, WrappedKey,
};
use std::collections::HashSet;

use FrameError::{Malformed, Oversize, TrailingBytes, Truncated};

// ---------------------------------------------------------------------------
// Builders: every message at its largest (`Max`) or as a small sample
// (`Small`), from one description so that both cover the same fields.
// ---------------------------------------------------------------------------

/// How full to build a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fill {
    /// Every Blob and List at its bound, every Option `Some`, every integer
    /// at its longest varint, the enum variants with the largest index.
    Max,
    /// Every Option still `Some`, but short blobs, one-item lists and
    /// one-byte integers.
    Small,
}

use Fill::{Max, Small};

impl Fill {
    fn blob<const N: usize>(self) -> Blob<N> {
        let len = match self {
            Max => N,
            Small => N.min(3),
        };
        Blob::from_vec(vec![0xa5; len]).unwrap()
    }

    fn list<T: Clone, const N: usize>(self, item: T) -> List<T, N> {
        let len = match self {
            Max => N,
            Small => 1,
        };
        List::from_vec(vec![item; len]).unwrap()
    }

    fn u16(self) -> u16 {
        match self {
            Max => u16::MAX,
            Small => 7,
        }
    }

    fn u32(self) -> u32 {
        match self {
            Max => u32::MAX,
            Small => 7,
        }
    }

    fn u64(self) -> u64 {
        match self {
            Max => u64::MAX,
            Small => 7,
        }
    }

    /// `i64::MIN` zigzags to `u64::MAX`, the longest varint.
    fn i64(self) -> i64 {
        match self {
            Max => i64::MIN,
            Small => 7,
        }
    }
}

/// 0x5a is neither a valid Option tag nor a small enum index, which the
/// cross-command tests rely on.
const UUID: Uuid = Uuid([0x5a; 16]);

fn audit(f: Fill) -> AuditRecord {
    AuditRecord {
        entry: AuditEntry {
            seq: f.u64(),
            prev: [0x22; 32],
            time: f.i64(),
            boot: f.u32(),
            action: match f {
                Max => Action::Unknown(u16::MAX),
                Small => SubFunction::VerifyDataIntegrity.into(),
            },
            failure: Some(ErrorType::ReplayedSad),
            cause: Some(Cause::HostOther),
            note: Some(f.blob()),
            actor: Some(UUID),
            target_user: Some(UUID),
            key_id: Some(UUID),
        },
        mac: [0x33; 32],
    }
}

fn sealed_user(f: Fill) -> SealedUserRecord {
    SealedUserRecord {
        record: UserRecord {
            version: UserRecord::VERSION,
            user_id: UUID,
            role: Role::PrivilegedUserTechnical,
            idp_certs: f.list([0x44; 32]),
            technical_key: Some(f.blob()),
            generation: f.u32(),
        },
        mac: [0x55; 32],
    }
}

fn wrapped(f: Fill) -> WrappedKey {
    WrappedKey {
        version: WrappedKey::VERSION,
        key_id: UUID,
        user_id: UUID,
        algorithm: KeyAlgorithm::Rsa4096,
        created: f.i64(),
        public_key: f.blob(),
        nonce: [0x66; 12],
        sealed: f.blob(),
    }
}

fn credential(f: Fill) -> Credential {
    Credential {
        kind: f.u16(),
        value: f.blob(),
    }
}

fn auth(f: Fill) -> Authentication {
    Authentication {
        credential: credential(f),
        actor: Some(sealed_user(f)),
        proof: Some(RequestProof {
            challenge: [0x66; 32],
            signature: f.blob(),
        }),
    }
}

fn approvals(f: Fill) -> Approvals {
    Approvals {
        challenge: [0x77; 32],
        approvals: f.list(Approval {
            admin: f.blob(),
            signature: f.blob(),
        }),
    }
}

fn new_user(f: Fill) -> NewUser {
    NewUser {
        user_id: UUID,
        certificates: f.list(f.blob()),
    }
}

fn cursor(f: Fill) -> AuditCursor {
    AuditCursor {
        next_seq: f.u64(),
        chain: [0x88; 32],
        mac: [0x99; 32],
    }
}

// Requests.

fn get_status(_: Fill) -> GetStatus {
    GetStatus
}

fn get_challenge(_: Fill) -> GetChallenge {
    GetChallenge
}

fn init_firmware(f: Fill) -> InitFirmware {
    InitFirmware {
        params: InitParams {
            admins: f.list(f.blob()),
            mbk_slot: u8::MAX,
        },
        operator: OperatorLogon {
            user: f.blob(),
            response: f.blob(),
        },
        approvals: approvals(f),
    }
}

fn set_idp_keys(f: Fill) -> SetIdpKeys {
    SetIdpKeys {
        params: IdpKeysParams {
            certificates: f.list(f.blob()),
        },
        approvals: approvals(f),
    }
}

fn enrol_privileged_user(f: Fill) -> EnrolPrivilegedUser {
    EnrolPrivilegedUser {
        params: new_user(f),
        approvals: approvals(f),
    }
}

fn create_privileged_user(f: Fill) -> CreatePrivilegedUser {
    CreatePrivilegedUser {
        auth: auth(f),
        user: new_user(f),
        technical_certificate: Some(f.blob()),
    }
}

fn create_signer(f: Fill) -> CreateSigner {
    CreateSigner {
        auth: auth(f),
        user: new_user(f),
    }
}

fn signer_maintenance(f: Fill) -> SignerMaintenance {
    SignerMaintenance {
        auth: auth(f),
        target: Some(sealed_user(f)),
        certificates: f.list(f.blob()),
    }
}

fn generate_key_pair(f: Fill) -> GenerateKeyPair {
    GenerateKeyPair {
        auth: auth(f),
        target: Some(sealed_user(f)),
        algorithm: KeyAlgorithm::Rsa4096,
        subject: Some(f.blob()),
    }
}

fn sign_certification_request(f: Fill) -> SignCertificationRequest {
    SignCertificationRequest {
        auth: auth(f),
        wrapped: wrapped(f),
        request_info: f.blob(),
    }
}

fn delete_key_pair(f: Fill) -> DeleteKeyPair {
    DeleteKeyPair {
        auth: auth(f),
        key_id: UUID,
        wrapped: Some(wrapped(f)),
    }
}

fn signing(f: Fill) -> Signing {
    Signing {
        sad: f.blob(),
        credential: Some(credential(f)),
        signer: Some(sealed_user(f)),
        wrapped: Some(wrapped(f)),
    }
}

fn verify_data_integrity(f: Fill) -> VerifyDataIntegrity {
    VerifyDataIntegrity {
        users: f.list(sealed_user(f)),
        keys: f.list(wrapped(f)),
        audit: f.list(audit(f)),
        cursor: Some(cursor(f)),
    }
}

fn report_refusal(f: Fill) -> ReportRefusal {
    ReportRefusal {
        action: match f {
            Max => Action::Unknown(u16::MAX),
            Small => SubFunction::Signing.into(),
        },
        error: ErrorType::ReplayedSad,
        cause: Cause::HostOther,
        note: f.blob(),
    }
}

fn sync_audit(f: Fill) -> SyncAudit {
    SyncAudit {
        stored: f.list(f.u64()),
        fetch_from: Some(f.u64()),
    }
}

fn set_policy(f: Fill) -> SetPolicy {
    SetPolicy {
        params: PolicyParams {
            max_token_lifetime: f.u32(),
            signing_cas: f.list(f.blob()),
            checkpoint_interval: f.u32(),
        },
        approvals: approvals(f),
    }
}

fn register_certificate(f: Fill) -> RegisterCertificate {
    RegisterCertificate {
        auth: auth(f),
        key_id: UUID,
        wrapped: Some(wrapped(f)),
        certificate: f.blob(),
    }
}

// Responses.

fn status(f: Fill) -> Status {
    Status {
        firmware_version: f.u16(),
        state: FirmwareState::Failed,
        boot: f.u32(),
        next_audit_seq: f.u64(),
        audit_head: [0x12; 32],
        attestation_key: Some(f.blob()),
        admins: u8::MAX,
        idp_keys: u8::MAX,
    }
}

fn challenge_issued(f: Fill) -> ChallengeIssued {
    ChallengeIssued {
        challenge: [0x13; 32],
        expires: f.i64(),
    }
}

fn initialized(f: Fill) -> Initialized {
    Initialized {
        attestation_key: f.blob(),
        audit: audit(f),
    }
}

fn idp_keys_set(f: Fill) -> IdpKeysSet {
    IdpKeysSet {
        fingerprints: f.list([0x14; 32]),
        audit: audit(f),
    }
}

fn user_issued(f: Fill) -> UserIssued {
    UserIssued {
        record: sealed_user(f),
        audit: audit(f),
    }
}

fn key_pair_generated(f: Fill) -> KeyPairGenerated {
    KeyPairGenerated {
        wrapped: wrapped(f),
        attestation: f.blob(),
        csr: Some(f.blob()),
        audit: audit(f),
    }
}

fn certification_request_signed(f: Fill) -> CertificationRequestSigned {
    CertificationRequestSigned {
        csr: f.blob(),
        audit: audit(f),
    }
}

fn audited(f: Fill) -> Audited {
    Audited { audit: audit(f) }
}

fn certificate_registered(f: Fill) -> CertificateRegistered {
    CertificateRegistered {
        fingerprint: [0x15; 32],
        not_before: f.i64(),
        not_after: f.i64(),
        audit: audit(f),
    }
}

fn signed(f: Fill) -> Signed {
    Signed {
        signatures: f.list(f.blob()),
        audit: audit(f),
    }
}

fn audit_outbox(f: Fill) -> AuditOutbox {
    AuditOutbox {
        records: f.list(audit(f)),
        more: true,
        kept: f.u32(),
        next_seq: f.u64(),
        checkpoint: Some(checkpoint(f)),
    }
}

fn checkpoint(f: Fill) -> AuditCheckpoint {
    AuditCheckpoint {
        next_seq: f.u64(),
        head: [0x16; 32],
        boot: f.u32(),
        time: f.i64(),
        signature: f.blob(),
    }
}

fn get_audit_checkpoint(_: Fill) -> GetAuditCheckpoint {
    GetAuditCheckpoint
}

fn integrity_report(f: Fill) -> IntegrityReport {
    IntegrityReport {
        bad_users: f.list(f.u16()),
        bad_keys: f.list(f.u16()),
        audit_break: Some(f.u16()),
        cursor: cursor(f),
        audit_complete: true,
    }
}

// ---------------------------------------------------------------------------
// 1. Size bounds.
// ---------------------------------------------------------------------------

/// Largest encoding of an `AuditRecord`: seq 10, prev 32, time 10, boot 5,
/// action 1 (serde variant index), failure 1 + 1, three `Option<Uuid>` of
/// 17, mac 32.
const AUDIT_MAX_LEN: usize = 214;
/// `AuditRecord::MAX_SIZE` budgets 3 bytes for `action` and 4 for `failure`
/// (room for a u16 varint code) where the variant index takes 1 and 2.
const AUDIT_SLACK: usize = 4;
/// `Option<u16>`, the longest `u16` varint.
const OPTION_U16_MAX: usize = 1 + 3;
/// `AuditCursor`: `next_seq` 10, chain 32, mac 32.
const CURSOR_MAX_LEN: usize = 10 + 32 + 32;
/// `AuditCheckpoint`: `next_seq` 10, head 32, boot 5, time 10, a DER
/// P-256 signature of at most 72 bytes with its length byte.
const CHECKPOINT_MAX_LEN: usize = 10 + 32 + 5 + 10 + 1 + 72;

/// Checks one command family: the maximal request against `C::MAX_SIZE`
/// (at most `slack` bytes of headroom), the maximal response against its
/// exact expected length, and both through a frame and back.
fn check_family<C>(name: &str, req: C, slack: usize, resp: C::Response, resp_len: usize)
where
    C: Command + PartialEq + Clone,
    C::Response: PartialEq + Clone,
{
    assert_eq!(
        format!("{:?}", C::CODE),
        name,
        "{name} is tied to the wrong sub-function"
    );
    assert!(
        C::MAX_SIZE <= MAX_BODY_LEN,
        "{name}: MAX_SIZE {} exceeds MAX_BODY_LEN {MAX_BODY_LEN}",
        C::MAX_SIZE
    );

    let body = encode_body(&req).unwrap();
    assert!(
        body.len() <= C::MAX_SIZE,
        "{name}: the largest request encodes to {} bytes, over MAX_SIZE {}",
        body.len(),
        C::MAX_SIZE
    );
    assert_eq!(
        C::MAX_SIZE - body.len(),
        slack,
        "{name}: MAX_SIZE {} is not the largest encoding {} plus the expected slack",
        C::MAX_SIZE,
        body.len()
    );
    assert_eq!(decode_request::<C>(&body), Ok(req.clone()), "{name}");

    // One byte past the bound is refused unread.
    let mut over = body.clone();
    over.resize(C::MAX_SIZE + 1, 0);
    assert_eq!(decode_request::<C>(&over), Err(Oversize), "{name}");

    // Through a request frame.
    let frame = Frame {
        word: C::CODE.code(),
        request_id: u32::MAX,
        body: &body,
    }
    .to_vec()
    .unwrap();
    assert_eq!(frame.len(), 4 + HEADER_LEN + body.len(), "{name}");
    let back = decode_frame(&frame).unwrap();
    assert_eq!(SubFunction::from_code(back.word), Some(C::CODE), "{name}");
    assert_eq!(back.request_id, u32::MAX, "{name}");
    assert_eq!(decode_request::<C>(back.body), Ok(req), "{name}");

    // The response.
    let rbody = encode_body(&resp).unwrap();
    assert!(rbody.len() <= MAX_BODY_LEN, "{name}: response too large");
    assert_eq!(
        rbody.len(),
        resp_len,
        "{name}: the largest response changed size"
    );
    assert_eq!(
        decode_response::<C>(&rbody),
        Ok(resp.clone()),
        "{name} response"
    );
    let frame = Frame {
        word: STATUS_OK,
        request_id: 0,
        body: &rbody,
    }
    .to_vec()
    .unwrap();
    let back = decode_frame(&frame).unwrap();
    assert_eq!(back.word, STATUS_OK);
    assert_eq!(decode_response::<C>(back.body), Ok(resp), "{name} response");
}

/// A small request decodes; with one byte more it is refused, and so is
/// every proper prefix of it.
fn check_strict_request<C: Command + PartialEq + Clone>(req: C) {
    let name = C::CODE.name();
    let body = encode_body(&req).unwrap();
    assert_eq!(decode_request::<C>(&body), Ok(req), "{name}");
    let mut long = body.clone();
    long.push(0);
    // A unit request has MAX_SIZE 0: the size check answers first.
    let want = if long.len() > C::MAX_SIZE {
        Oversize
    } else {
        TrailingBytes
    };
    assert_eq!(
        decode_request::<C>(&long),
        Err(want),
        "{name} with a trailing byte"
    );
    for cut in 0..body.len() {
        assert_eq!(
            decode_request::<C>(&body[..cut]),
            Err(Malformed),
            "{name} cut to {cut} of {} bytes",
            body.len()
        );
    }
}

/// The same for a response body.
fn check_strict_response<C>(resp: C::Response)
where
    C: Command,
    C::Response: PartialEq,
{
    let name = C::CODE.name();
    let body = encode_body(&resp).unwrap();
    assert_eq!(decode_response::<C>(&body), Ok(resp), "{name} response");
    let mut long = body.clone();
    long.push(0);
    assert_eq!(
        decode_response::<C>(&long),
        Err(TrailingBytes),
        "{name} response with a trailing byte"
    );
    for cut in 0..body.len() {
        assert_eq!(
            decode_response::<C>(&body[..cut]),
            Err(Malformed),
            "{name} response cut to {cut} of {} bytes",
            body.len()
        );
    }
}

/// One `#[test]` per command family, plus tests that walk every family.
macro_rules! families {
    ($(
        $test:ident: $req:ident = $build_req:ident, slack $slack:expr;
            $build_resp:ident, len $resp_len:expr;
    )*) => {
        $(
            #[test]
            fn $test() {
                check_family::<$req>(
                    stringify!($req),
                    $build_req(Max),
                    $slack,
                    $build_resp(Max),
                    $resp_len,
                );
            }
        )*

        /// The table below names every sub-function once, in row order: a
        /// new command without a family test fails here.
        #[test]
        fn families_cover_every_sub_function() {
            let codes = [$(<$req as Command>::CODE),*];
            assert_eq!(codes, SubFunction::ALL);
        }

        #[test]
        fn every_request_refuses_a_trailing_byte_and_every_truncation() {
            $(check_strict_request::<$req>($build_req(Small));)*
        }

        #[test]
        fn every_response_refuses_a_trailing_byte_and_every_truncation() {
            $(check_strict_response::<$req>($build_resp(Small));)*
        }
    };
}

families! {
    max_size_get_status: GetStatus = get_status, slack 0;
        status, len 3 + 1 + 5 + 10 + 32 + 1 + Blob::<ADMIN_KEY_LEN>::MAX_SIZE + 1 + 1;
    max_size_get_challenge: GetChallenge = get_challenge, slack 0;
        challenge_issued, len 32 + 10;
    max_size_init_firmware: InitFirmware = init_firmware, slack 0;
        initialized, len Blob::<ADMIN_KEY_LEN>::MAX_SIZE + AUDIT_MAX_LEN;
    max_size_set_idp_keys: SetIdpKeys = set_idp_keys, slack 0;
        idp_keys_set, len List::<CertFingerprint, MAX_IDP_KEYS>::max_size(32) + AUDIT_MAX_LEN;
    max_size_enrol_privileged_user: EnrolPrivilegedUser = enrol_privileged_user, slack 0;
        user_issued, len SealedUserRecord::MAX_SIZE + AUDIT_MAX_LEN;
    max_size_create_privileged_user: CreatePrivilegedUser = create_privileged_user, slack 0;
        user_issued, len SealedUserRecord::MAX_SIZE + AUDIT_MAX_LEN;
    max_size_create_signer: CreateSigner = create_signer, slack 0;
        user_issued, len SealedUserRecord::MAX_SIZE + AUDIT_MAX_LEN;
    max_size_signer_maintenance: SignerMaintenance = signer_maintenance, slack 0;
        user_issued, len SealedUserRecord::MAX_SIZE + AUDIT_MAX_LEN;
    max_size_generate_key_pair: GenerateKeyPair = generate_key_pair, slack 0;
        key_pair_generated,
        len WrappedKey::MAX_SIZE + Blob::<MAX_ADMIN_SIG_LEN>::MAX_SIZE + 1
            + Blob::<MAX_CSR_LEN>::MAX_SIZE + AUDIT_MAX_LEN;
    max_size_sign_certification_request: SignCertificationRequest = sign_certification_request,
        slack 0;
        certification_request_signed, len Blob::<MAX_CSR_LEN>::MAX_SIZE + AUDIT_MAX_LEN;
    max_size_delete_key_pair: DeleteKeyPair = delete_key_pair, slack 0;
        audited, len AUDIT_MAX_LEN;
    max_size_signing: Signing = signing, slack 0;
        signed,
        len List::<Blob<MAX_SIGNATURE_LEN>, MAX_HASHES>::max_size(
            Blob::<MAX_SIGNATURE_LEN>::MAX_SIZE,
        ) + AUDIT_MAX_LEN;
    max_size_verify_data_integrity: VerifyDataIntegrity = verify_data_integrity,
        slack MAX_AUDIT_BATCH * AUDIT_SLACK;
        integrity_report,
        len 2 * List::<u16, MAX_INTEGRITY_BATCH>::max_size(3) + OPTION_U16_MAX + CURSOR_MAX_LEN + 1;
    max_size_sync_audit: SyncAudit = sync_audit, slack 0;
        audit_outbox,
        len List::<AuditRecord, MAX_OUTBOX_BATCH>::max_size(AUDIT_MAX_LEN) + 1 + 5 + 10
            + 1 + CHECKPOINT_MAX_LEN;
    max_size_report_refusal: ReportRefusal = report_refusal, slack 4;
        audited, len AUDIT_MAX_LEN;
    max_size_set_policy: SetPolicy = set_policy, slack 0;
        audited, len AUDIT_MAX_LEN;
    max_size_register_certificate: RegisterCertificate = register_certificate, slack 0;
        certificate_registered, len 32 + 10 + 10 + AUDIT_MAX_LEN;
    max_size_get_audit_checkpoint: GetAuditCheckpoint = get_audit_checkpoint, slack 0;
        checkpoint, len CHECKPOINT_MAX_LEN;
}

/// Checks a building block with its own `MAX_SIZE` constant.
macro_rules! components {
    ($($test:ident: $value:expr, max $max:expr, slack $slack:expr;)*) => {$(
        #[test]
        fn $test() {
            let value = $value;
            let enc = postcard::to_allocvec(&value).unwrap();
            assert!(enc.len() <= $max, "{} bytes over the bound {}", enc.len(), $max);
            assert_eq!($max - enc.len(), $slack, "bound {} vs largest encoding {}", $max, enc.len());
            assert_eq!(decode_exact(&enc, $max), Ok(value));
        }
    )*};
}

components! {
    max_size_credential: credential(Max), max Credential::MAX_SIZE, slack 0;
    max_size_authentication: auth(Max), max Authentication::MAX_SIZE, slack 0;
    max_size_approvals: approvals(Max), max Approvals::MAX_SIZE, slack 0;
    max_size_sealed_user_record: sealed_user(Max), max SealedUserRecord::MAX_SIZE, slack 0;
    max_size_wrapped_key: wrapped(Max), max WrappedKey::MAX_SIZE, slack 0;
    max_size_audit_record: audit(Max), max AuditRecord::MAX_SIZE, slack AUDIT_SLACK;
    max_size_error_answer: ErrorAnswer { audit: Some(audit(Max)) },
        max ErrorAnswer::MAX_SIZE, slack AUDIT_SLACK;
}

#[test]
fn audit_record_max_len_is_what_the_tests_assume() {
    assert_eq!(
        postcard::to_allocvec(&audit(Max)).unwrap().len(),
        AUDIT_MAX_LEN
    );
    assert_eq!(AuditRecord::MAX_SIZE, AUDIT_MAX_LEN + AUDIT_SLACK);
}

#[test]
fn a_technical_signature_fits_in_a_credential() {
    let sig = TechnicalSignature {
        challenge: [1; 32],
        signature: Max.blob(),
    };
    let enc = postcard::to_allocvec(&sig).unwrap();
    assert_eq!(enc.len(), 32 + Blob::<MAX_SIGNATURE_LEN>::MAX_SIZE);
    assert!(enc.len() <= MAX_CREDENTIAL_LEN);
    let cred = Credential {
        kind: Credential::TECHNICAL_SIGNATURE,
        value: Blob::from_vec(enc).unwrap(),
    };
    let back: TechnicalSignature = decode_exact(&cred.value, MAX_CREDENTIAL_LEN).unwrap();
    assert_eq!(back, sig);
}

#[test]
fn blob_and_list_bounds_are_exact() {
    // The prefix of a maximal blob is the longest varint it can carry.
    for (len, max) in [
        (
            postcard::to_allocvec(&Max.blob::<ADMIN_KEY_LEN>())
                .unwrap()
                .len(),
            Blob::<ADMIN_KEY_LEN>::MAX_SIZE,
        ),
        (
            postcard::to_allocvec(&Max.blob::<MAX_SPKI_LEN>())
                .unwrap()
                .len(),
            Blob::<MAX_SPKI_LEN>::MAX_SIZE,
        ),
        (
            postcard::to_allocvec(&Max.blob::<MAX_SEALED_KEY_LEN>())
                .unwrap()
                .len(),
            Blob::<MAX_SEALED_KEY_LEN>::MAX_SIZE,
        ),
        (
            postcard::to_allocvec(&Max.blob::<MAX_SAD_LEN>())
                .unwrap()
                .len(),
            Blob::<MAX_SAD_LEN>::MAX_SIZE,
        ),
        (
            postcard::to_allocvec(&Max.list::<u8, 200>(0))
                .unwrap()
                .len(),
            List::<u8, 200>::max_size(1),
        ),
    ] {
        assert_eq!(len, max);
    }
    assert_eq!(Blob::<127>::MAX_SIZE, 128);
    assert_eq!(Blob::<128>::MAX_SIZE, 130);
    assert_eq!(varint_len(MAX_SAD_LEN), 3);
}

#[test]
fn the_largest_frame_is_within_the_frame_bound() {
    let largest = [
        InitFirmware::MAX_SIZE,
        SetIdpKeys::MAX_SIZE,
        EnrolPrivilegedUser::MAX_SIZE,
        CreatePrivilegedUser::MAX_SIZE,
        CreateSigner::MAX_SIZE,
        SignerMaintenance::MAX_SIZE,
        GenerateKeyPair::MAX_SIZE,
        SignCertificationRequest::MAX_SIZE,
        DeleteKeyPair::MAX_SIZE,
        Signing::MAX_SIZE,
        VerifyDataIntegrity::MAX_SIZE,
        SyncAudit::MAX_SIZE,
        SetPolicy::MAX_SIZE,
        RegisterCertificate::MAX_SIZE,
        ReportRefusal::MAX_SIZE,
        ErrorAnswer::MAX_SIZE,
    ]
    .into_iter()
    .max()
    .unwrap();
    assert!(HEADER_LEN + largest <= MAX_FRAME_LEN);
    assert_eq!(MAX_FRAME_LEN, HEADER_LEN + MAX_BODY_LEN);
    assert_eq!(MAX_BODY_LEN, 160 * 1024);
}

// ---------------------------------------------------------------------------
// 2. Strict decoding.
// ---------------------------------------------------------------------------

fn sample_frame() -> Vec<u8> {
    Frame {
        word: SubFunction::Signing.code(),
        request_id: 7,
        body: &[1, 2, 3],
    }
    .to_vec()
    .unwrap()
}

#[test]
fn an_oversize_body_is_refused_before_it_is_decoded() {
    // A unit request takes no body: one byte is over its bound, not a
    // trailing byte.
    assert_eq!(decode_request::<GetStatus>(&[0]), Err(Oversize));
    assert_eq!(decode_request::<GetChallenge>(&[0]), Err(Oversize));

    // A valid Signing padded past MAX_SIZE would be TrailingBytes if it
    // were decoded first.
    let mut body = encode_body(&signing(Small)).unwrap();
    body.resize(Signing::MAX_SIZE, 0);
    assert_eq!(decode_request::<Signing>(&body), Err(TrailingBytes));
    body.push(0);
    assert_eq!(decode_request::<Signing>(&body), Err(Oversize));

    // Garbage over the bound is Oversize, not Malformed.
    assert_eq!(
        decode_request::<DeleteKeyPair>(&vec![0xff; DeleteKeyPair::MAX_SIZE + 1]),
        Err(Oversize)
    );
    assert_eq!(
        decode_response::<Signing>(&vec![0xff; MAX_BODY_LEN + 1]),
        Err(Oversize)
    );
    assert_eq!(decode_exact::<u8>(&[0xff, 0xff], 1), Err(Oversize));

    // Nor can one be encoded.
    assert_eq!(encode_body(&vec![0u8; MAX_BODY_LEN]), Err(Oversize));
    assert_eq!(
        encode_body(&vec![0u8; MAX_BODY_LEN - varint_len(MAX_BODY_LEN)])
            .unwrap()
            .len(),
        MAX_BODY_LEN
    );
}

#[test]
fn a_trailing_byte_is_refused() {
    let mut body = encode_body(&signing(Small)).unwrap();
    body.push(0);
    assert_eq!(decode_request::<Signing>(&body), Err(TrailingBytes));
    let mut body = encode_body(&signed(Small)).unwrap();
    body.push(0);
    assert_eq!(decode_response::<Signing>(&body), Err(TrailingBytes));
    assert_eq!(decode_exact::<u8>(&[1, 0], 2), Err(TrailingBytes));
    // The largest VerifyDataIntegrity still has room below its bound (the
    // audit slack), so its trailing byte is caught by the exact-length rule.
    let mut body = encode_body(&verify_data_integrity(Max)).unwrap();
    body.push(0);
    assert!(body.len() <= VerifyDataIntegrity::MAX_SIZE);
    assert_eq!(
        decode_request::<VerifyDataIntegrity>(&body),
        Err(TrailingBytes)
    );
}

#[test]
fn a_truncated_body_is_refused() {
    let body = encode_body(&signing(Max)).unwrap();
    for cut in [0, 1, 2, 3, body.len() / 2, body.len() - 33, body.len() - 1] {
        assert_eq!(
            decode_request::<Signing>(&body[..cut]),
            Err(Malformed),
            "cut {cut}"
        );
    }
    let body = encode_body(&audit(Small)).unwrap();
    for cut in 0..body.len() {
        assert_eq!(
            decode_exact::<AuditRecord>(&body[..cut], AuditRecord::MAX_SIZE),
            Err(Malformed)
        );
    }
}

#[test]
fn a_blob_longer_than_its_bound_is_refused() {
    // Blob<8> with a prefix of 9 and nine bytes.
    let mut nine = vec![9u8];
    nine.extend([0xee; 9]);
    assert_eq!(decode_exact::<Blob<8>>(&nine, 100), Err(Malformed));
    assert_eq!(decode_exact::<Blob<9>>(&nine, 100).map(|b| b.len()), Ok(9));

    // In a real request: a SAD one byte over MAX_SAD_LEN, although the body
    // as a whole is well under Signing::MAX_SIZE.
    let sad_body = |sad_len: usize| {
        let mut body = postcard::to_allocvec(&u64::try_from(sad_len).unwrap()).unwrap();
        body.extend(std::iter::repeat_n(0x30, sad_len));
        body.extend([0, 0, 0]); // credential: None, signer: None, wrapped: None
        body
    };
    let over = sad_body(MAX_SAD_LEN + 1);
    assert!(over.len() < Signing::MAX_SIZE);
    assert_eq!(decode_request::<Signing>(&over), Err(Malformed));
    let ok = decode_request::<Signing>(&sad_body(MAX_SAD_LEN)).unwrap();
    assert_eq!(ok.sad.len(), MAX_SAD_LEN);

    // A huge announced length with only a few bytes behind it.
    let mut huge = postcard::to_allocvec(&u64::from(u32::MAX)).unwrap();
    huge.extend([1, 2, 3]);
    assert_eq!(decode_exact::<Blob<8>>(&huge, 100), Err(Malformed));
    assert_eq!(decode_request::<Signing>(&huge), Err(Malformed));

    // Lists too: nine administrators where eight are allowed.
    let nine_admins: Vec<Blob<ADMIN_KEY_LEN>> = vec![Small.blob(); 9];
    let mut body = postcard::to_allocvec(&nine_admins).unwrap();
    body.extend(postcard::to_allocvec(&approvals(Small)).unwrap());
    assert!(body.len() <= InitFirmware::MAX_SIZE);
    assert_eq!(decode_request::<InitFirmware>(&body), Err(Malformed));
    // A list announcing u32::MAX items is refused before allocating.
    let huge = postcard::to_allocvec(&u64::from(u32::MAX)).unwrap();
    assert_eq!(decode_exact::<List<u16, 16>>(&huge, 100), Err(Malformed));
    // 129 signatures where a SAD carries at most 128 hashes.
    let sigs: Vec<Blob<1>> = vec![Blob::default(); MAX_HASHES + 1];
    let mut body = postcard::to_allocvec(&sigs).unwrap();
    body.extend(postcard::to_allocvec(&audit(Small)).unwrap());
    assert_eq!(decode_response::<Signing>(&body), Err(Malformed));
}

#[test]
fn out_of_range_tags_and_varints_are_refused() {
    // Option tag 2.
    assert_eq!(
        decode_exact::<ErrorAnswer>(&[2], ErrorAnswer::MAX_SIZE),
        Err(Malformed)
    );
    // bool 2: audit_complete is the last byte of an IntegrityReport.
    let mut body = encode_body(&integrity_report(Small)).unwrap();
    *body.last_mut().unwrap() = 2;
    assert_eq!(
        decode_response::<VerifyDataIntegrity>(&body),
        Err(Malformed)
    );
    // KeyAlgorithm index 5: the last byte of a GenerateKeyPair without
    // subject.
    let mut body = encode_body(&GenerateKeyPair {
        subject: None,
        ..generate_key_pair(Small)
    })
    .unwrap();
    assert_eq!(body.last(), Some(&0));
    let at = body.len() - 2;
    body[at] = 4;
    assert_eq!(
        decode_request::<GenerateKeyPair>(&body).unwrap().algorithm,
        KeyAlgorithm::Rsa4096
    );
    body[at] = 5;
    assert_eq!(decode_request::<GenerateKeyPair>(&body), Err(Malformed));
    // FirmwareState index 3 (after a one-byte firmware_version).
    let mut body = encode_body(&status(Small)).unwrap();
    body[1] = 3;
    assert_eq!(decode_response::<GetStatus>(&body), Err(Malformed));
    // Action index 3, SubFunction index 18 and ErrorType index 15 in an
    // audit record: seq 1, prev 32, time 1, boot 1, then action at 35..37
    // (variant, sub-function), failure at 37..39.
    let good = encode_body(&audit(Small)).unwrap();
    assert_eq!(&good[35..37], &[0, 12]);
    assert_eq!(&good[37..39], &[1, 14]);
    let mut bad = good.clone();
    bad[35] = 3;
    assert_eq!(
        decode_exact::<AuditRecord>(&bad, AuditRecord::MAX_SIZE),
        Err(Malformed)
    );
    let mut bad = good.clone();
    bad[36] = 18;
    assert_eq!(
        decode_exact::<AuditRecord>(&bad, AuditRecord::MAX_SIZE),
        Err(Malformed)
    );
    let mut bad = good;
    bad[38] = 15;
    assert_eq!(
        decode_exact::<AuditRecord>(&bad, AuditRecord::MAX_SIZE),
        Err(Malformed)
    );
    // Varints longer than their type.
    assert_eq!(
        decode_exact::<u32>(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 10),
        Err(Malformed)
    );
    assert_eq!(
        decode_exact::<u32>(&[0xff, 0xff, 0xff, 0xff, 0x10], 10),
        Err(Malformed)
    );
    assert_eq!(decode_exact::<u16>(&[0xff, 0xff, 0x04], 10), Err(Malformed));
}

#[test]
fn a_wrong_protocol_version_is_refused() {
    let good = sample_frame();
    assert_eq!(PROTOCOL_VERSION, 2);
    assert_eq!(good[4], PROTOCOL_VERSION);
    for v in [0u8, 1, 3, 0x7f, 0xff] {
        let mut bad = good.clone();
        bad[4] = v;
        assert_eq!(decode_frame(&bad), Err(FrameError::Version(v)));
        assert_eq!(decode_frame_payload(&bad[4..]), Err(FrameError::Version(v)));
    }
    // The version is checked even when nothing follows it.
    assert_eq!(decode_frame_payload(&[1]), Err(FrameError::Version(1)));
}

#[test]
fn a_frame_whose_length_field_disagrees_is_refused() {
    let good = sample_frame();
    assert!(decode_frame(&good).is_ok());

    // Fewer bytes than announced, more bytes than announced.
    assert_eq!(decode_frame(&good[..good.len() - 1]), Err(Truncated));
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode_frame(&long), Err(TrailingBytes));
    let mut bumped = good.clone();
    bumped[3] += 1;
    assert_eq!(decode_frame(&bumped), Err(Truncated));
    let mut lowered = good.clone();
    lowered[3] -= 1;
    assert_eq!(decode_frame(&lowered), Err(TrailingBytes));

    // No room for a length prefix.
    for n in 0..4 {
        assert_eq!(decode_frame(&good[..n]), Err(Truncated));
    }
    // A length below the header.
    for len in 0..HEADER_LEN {
        let prefix = u32::try_from(len).unwrap().to_be_bytes();
        assert_eq!(frame_len(prefix), Err(Truncated));
        let mut bytes = prefix.to_vec();
        bytes.extend(vec![PROTOCOL_VERSION; len]);
        assert_eq!(decode_frame(&bytes), Err(Truncated), "len {len}");
        assert_eq!(decode_frame_payload(&bytes[4..]), Err(Truncated));
    }
    assert_eq!(frame_len(7u32.to_be_bytes()), Ok(HEADER_LEN));
    // A length above the bound is refused from the prefix alone.
    let max = u32::try_from(MAX_FRAME_LEN).unwrap();
    assert_eq!(frame_len(max.to_be_bytes()), Ok(MAX_FRAME_LEN));
    assert_eq!(frame_len((max + 1).to_be_bytes()), Err(Oversize));
    assert_eq!(frame_len(u32::MAX.to_be_bytes()), Err(Oversize));
    assert_eq!(decode_frame(&(max + 1).to_be_bytes()), Err(Oversize));

    // A body over MAX_BODY_LEN can be neither encoded nor decoded.
    let big = vec![0u8; MAX_BODY_LEN + 1];
    let frame = Frame {
        word: 1,
        request_id: 1,
        body: &big,
    };
    assert_eq!(frame.to_vec(), Err(Oversize));
    let mut out = vec![0xab];
    assert_eq!(frame.encode_into(&mut out), Err(Oversize));
    assert_eq!(out, [0xab], "nothing written on error");
    let mut payload = vec![PROTOCOL_VERSION, 0, 1, 0, 0, 0, 1];
    payload.extend(&big);
    assert_eq!(decode_frame_payload(&payload), Err(Oversize));
    // Exactly MAX_BODY_LEN is fine.
    let frame = Frame {
        word: 1,
        request_id: 1,
        body: &big[1..],
    };
    let bytes = frame.to_vec().unwrap();
    assert_eq!(decode_frame(&bytes), Ok(frame));
}

#[test]
fn a_body_of_another_command_is_refused() {
    // GetStatus takes no body at all.
    let body = encode_body(&signing(Small)).unwrap();
    assert_eq!(decode_request::<GetStatus>(&body), Err(Oversize));
    // An empty body is no Signing.
    assert_eq!(decode_request::<Signing>(&[]), Err(Malformed));
    // CreatePrivilegedUser is CreateSigner's fields and one more: that
    // field is left over.
    let cpu = CreatePrivilegedUser {
        technical_certificate: None,
        ..create_privileged_user(Small)
    };
    assert_eq!(
        decode_request::<CreateSigner>(&encode_body(&cpu).unwrap()),
        Err(TrailingBytes)
    );
    // Same `auth`, then a KeyID (0x5a…) where an Option tag is expected.
    let body = encode_body(&delete_key_pair(Small)).unwrap();
    assert_eq!(decode_request::<GenerateKeyPair>(&body), Err(Malformed));
    // Same `auth`, then two bytes where a 16-byte KeyID is expected.
    let gkp = GenerateKeyPair {
        target: None,
        algorithm: KeyAlgorithm::EcP256,
        ..generate_key_pair(Small)
    };
    assert_eq!(
        decode_request::<DeleteKeyPair>(&encode_body(&gkp).unwrap()),
        Err(Malformed)
    );
    // A Signing body is no VerifyDataIntegrity (the SAD length is read as a
    // user count over the bound).
    let body = encode_body(&signing(Max)).unwrap();
    assert_eq!(decode_request::<VerifyDataIntegrity>(&body), Err(Malformed));
    // A response where a request is expected.
    let body = encode_body(&signed(Small)).unwrap();
    assert_eq!(decode_request::<Signing>(&body), Err(Malformed));
}

#[test]
fn unit_requests_are_told_apart_by_the_frame_word_only() {
    // Both bodies are empty; the sub-function word is what tells the
    // dispatcher which one it got.
    assert!(encode_body(&GetStatus).unwrap().is_empty());
    assert!(encode_body(&GetChallenge).unwrap().is_empty());
    assert_eq!(decode_request::<GetChallenge>(&[]), Ok(GetChallenge));
    assert_ne!(GetStatus::CODE.code(), GetChallenge::CODE.code());
}

#[test]
fn every_frame_error_is_a_message_parse_error() {
    for e in [
        Truncated,
        Oversize,
        FrameError::Version(0),
        FrameError::Version(2),
        Malformed,
        TrailingBytes,
    ] {
        assert_eq!(ErrorType::from(e), ErrorType::MessageParseError, "{e:?}");
    }
}

// ---------------------------------------------------------------------------
// 4. Round trips.
// ---------------------------------------------------------------------------

fn blob<const N: usize>() -> impl Strategy<Value = Blob<N>> {
    prop::collection::vec(any::<u8>(), 0..=N).prop_map(|v| Blob::from_vec(v).unwrap())
}

fn list<S: Strategy, const N: usize>(item: S) -> impl Strategy<Value = List<S::Value, N>>
where
    S::Value: std::fmt::Debug,
{
    prop::collection::vec(item, 0..=N).prop_map(|v| List::from_vec(v).unwrap())
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid)
}

fn sub_function() -> impl Strategy<Value = SubFunction> {
    prop::sample::select(SubFunction::ALL.to_vec())
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        sub_function().prop_map(Action::Command),
        prop::sample::select(HostOperation::ALL.to_vec()).prop_map(Action::Host),
        any::<u16>().prop_map(Action::Unknown),
    ]
}

fn cause() -> impl Strategy<Value = Cause> {
    prop::sample::select(Cause::ALL.to_vec())
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

prop_compose! {
    fn audit_entry()(
        seq in any::<u64>(),
        prev in any::<[u8; 32]>(),
        time in any::<i64>(),
        boot in any::<u32>(),
        action in action(),
        failure in prop::option::of(error_type()),
        cause in prop::option::of(cause()),
        note in prop::option::of(blob::<MAX_NOTE_LEN>()),
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
    fn wrapped_key()(
        version in any::<u8>(),
        key_id in uuid(),
        user_id in uuid(),
        algorithm in key_algorithm(),
        created in any::<i64>(),
        public_key in blob::<MAX_SPKI_LEN>(),
        nonce in any::<[u8; 12]>(),
        sealed in blob::<MAX_SEALED_KEY_LEN>(),
    ) -> WrappedKey {
        WrappedKey { version, key_id, user_id, algorithm, created, public_key, nonce, sealed }
    }
}

prop_compose! {
    fn user_record()(
        version in any::<u8>(),
        user_id in uuid(),
        role in role(),
        idp_certs in list::<_, MAX_IDP_CERTS>(any::<[u8; 32]>()),
        technical_key in prop::option::of(blob::<MAX_SPKI_LEN>()),
        generation in any::<u32>(),
    ) -> UserRecord {
        UserRecord { version, user_id, role, idp_certs, technical_key, generation }
    }
}

/// Encodes, checks the bound, decodes strictly, compares.
fn round_trip<T>(value: &T, max: usize) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let enc = encode_body(value).unwrap();
    prop_assert!(enc.len() <= max, "{} > {}", enc.len(), max);
    prop_assert_eq!(&decode_exact::<T>(&enc, max).unwrap(), value);
    Ok(())
}

proptest! {
    #[test]
    fn frames_round_trip(
        word in any::<u16>(),
        request_id in any::<u32>(),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let frame = Frame { word, request_id, body: &body };
        let bytes = frame.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), 4 + HEADER_LEN + body.len());
        prop_assert_eq!(frame_len(bytes[..4].try_into().unwrap()), Ok(HEADER_LEN + body.len()));
        prop_assert_eq!(decode_frame(&bytes), Ok(frame.clone()));
        prop_assert_eq!(decode_frame_payload(&bytes[4..]), Ok(frame));
    }

    #[test]
    fn accepted_frames_re_encode_to_the_same_bytes(
        mut bytes in prop::collection::vec(any::<u8>(), 0..48),
        fix_len in any::<bool>(),
        fix_version in any::<bool>(),
    ) {
        if fix_len && bytes.len() >= 4 {
            let len = u32::try_from(bytes.len() - 4).unwrap();
            bytes[..4].copy_from_slice(&len.to_be_bytes());
        }
        if fix_version && bytes.len() >= 5 {
            bytes[4] = PROTOCOL_VERSION;
        }
        match decode_frame(&bytes) {
            Ok(frame) => prop_assert_eq!(frame.to_vec().unwrap(), bytes),
            Err(e) => prop_assert!(!(fix_len && fix_version && bytes.len() >= 4 + HEADER_LEN), "{:?}", e),
        }
    }

    #[test]
    fn blobs_round_trip(
        small in blob::<8>(),
        spki in blob::<MAX_SPKI_LEN>(),
        sealed in blob::<MAX_SEALED_KEY_LEN>(),
    ) {
        round_trip(&small, Blob::<8>::MAX_SIZE)?;
        round_trip(&spki, Blob::<MAX_SPKI_LEN>::MAX_SIZE)?;
        round_trip(&sealed, Blob::<MAX_SEALED_KEY_LEN>::MAX_SIZE)?;
    }

    #[test]
    fn blobs_decode_iff_within_their_bound(bytes in prop::collection::vec(any::<u8>(), 0..=64)) {
        let enc = postcard::to_allocvec(&Blob::<64>::from_vec(bytes.clone()).unwrap()).unwrap();
        let got = decode_exact::<Blob<32>>(&enc, 100);
        if bytes.len() <= 32 {
            prop_assert_eq!(got.unwrap().into_vec(), bytes);
        } else {
            prop_assert_eq!(got, Err(Malformed));
        }
    }

    #[test]
    fn lists_round_trip(
        words in list::<_, 16>(any::<u16>()),
        blobs in list::<_, 4>(blob::<8>()),
    ) {
        round_trip(&words, List::<u16, 16>::max_size(3))?;
        round_trip(&blobs, List::<Blob<8>, 4>::max_size(Blob::<8>::MAX_SIZE))?;
    }

    #[test]
    fn lists_decode_iff_within_their_bound(items in prop::collection::vec(any::<u16>(), 0..=32)) {
        let enc = postcard::to_allocvec(&items).unwrap();
        let got = decode_exact::<List<u16, 16>>(&enc, 1000);
        if items.len() <= 16 {
            prop_assert_eq!(got.unwrap().into_vec(), items);
        } else {
            prop_assert_eq!(got, Err(Malformed));
        }
    }

    #[test]
    fn uuids_round_trip(u in uuid()) {
        round_trip(&u, 16)?;
        prop_assert_eq!(encode_body(&u).unwrap(), u.0.to_vec());
        prop_assert_eq!(Uuid::parse(&u.to_string()), Ok(u));
    }

    #[test]
    fn audit_entries_round_trip(entry in audit_entry(), mac in any::<[u8; 32]>()) {
        round_trip(&entry, AuditRecord::MAX_SIZE - 32)?;
        round_trip(&AuditRecord { entry, mac }, AuditRecord::MAX_SIZE)?;
    }

    #[test]
    fn wrapped_keys_round_trip(key in wrapped_key()) {
        round_trip(&key, WrappedKey::MAX_SIZE)?;
        // Strict: one byte more or one byte less is refused.
        let mut enc = encode_body(&key).unwrap();
        enc.push(0);
        prop_assert_eq!(decode_exact::<WrappedKey>(&enc, WrappedKey::MAX_SIZE), Err(TrailingBytes));
        enc.truncate(enc.len() - 2);
        prop_assert_eq!(decode_exact::<WrappedKey>(&enc, WrappedKey::MAX_SIZE), Err(Malformed));
    }

    #[test]
    fn user_records_round_trip(record in user_record(), mac in any::<[u8; 32]>()) {
        round_trip(&record, SealedUserRecord::MAX_SIZE - 32)?;
        round_trip(&SealedUserRecord { record, mac }, SealedUserRecord::MAX_SIZE)?;
    }
}

// ---------------------------------------------------------------------------
// 5. Code tables: the public contract.
// ---------------------------------------------------------------------------

/// The published error codes. Never renumber; never reuse a code.
const ERROR_CODES: [(u16, &str); 15] = [
    (1, "ContainerParseError"),
    (2, "MessageParseError"),
    (3, "UnknownMessageType"),
    (4, "UnknownCredentialType"),
    (5, "AuthenticationError"),
    (6, "UnknownUser"),
    (7, "NotAuthorized"),
    (8, "NotOperational"),
    (9, "UnexpectedError"),
    (10, "InvalidInput"),
    (11, "NotFound"),
    (12, "InvalidAlgorithm"),
    (13, "InvalidAuthentication"),
    (14, "InvalidSignature"),
    (15, "ReplayedSad"),
];

/// The published sub-function codes with the Rust name and the seed's name.
const SUB_FUNCTIONS: [(u16, &str, &str); 18] = [
    (0x0001, "GetStatus", "Get_Status"),
    (0x0002, "GetChallenge", "Get_Challenge"),
    (0x0010, "InitFirmware", "Initialize_SAM_Firmware"),
    (0x0011, "SetIdpKeys", "Set_IdP_Public_Keys"),
    (0x0012, "EnrolPrivilegedUser", "Enrol_Privileged_User"),
    (0x0020, "CreatePrivilegedUser", "Create_New_Privileged_User"),
    (0x0021, "CreateSigner", "Create_New_Signer"),
    (0x0022, "SignerMaintenance", "Signer_Maintenance"),
    (0x0023, "GenerateKeyPair", "Generate_Signer_Key_Pair"),
    (
        0x0024,
        "SignCertificationRequest",
        "Sign_Certification_Request",
    ),
    (0x0025, "DeleteKeyPair", "Delete_Signer_Key_Pair"),
    (0x0026, "Signing", "Signing"),
    (0x0030, "VerifyDataIntegrity", "Check_Data_Integrity"),
    (0x0031, "SyncAudit", "Sync_Audit"),
    (0x0040, "ReportRefusal", "Report_Refusal"),
    (0x0013, "SetPolicy", "Set_Policy"),
    (0x0027, "RegisterCertificate", "Register_Certificate"),
    (0x0032, "GetAuditCheckpoint", "Get_Audit_Checkpoint"),
];

#[test]
fn error_codes_are_the_published_table() {
    assert_eq!(ErrorType::ALL.len(), ERROR_CODES.len());
    for (e, (code, name)) in ErrorType::ALL.into_iter().zip(ERROR_CODES) {
        assert_eq!(e.code(), code, "{name}");
        assert_eq!(e.name(), name);
        assert_eq!(e.to_string(), name);
        assert_eq!(format!("{e:?}"), name);
        assert_eq!(ErrorType::from_code(code), Some(e));
        assert_ne!(code, STATUS_OK, "{name} would read as success");
    }
    for code in 0..=u16::MAX {
        let want = ERROR_CODES.iter().find(|(c, _)| *c == code).copied();
        assert_eq!(
            ErrorType::from_code(code).map(|e| (e.code(), e.name())),
            want,
            "code {code}"
        );
    }
    assert_eq!(ErrorType::from_code(0), None);
    assert_eq!(ErrorType::from_code(16), None);
    let codes: HashSet<_> = ErrorType::ALL.iter().map(|e| e.code()).collect();
    let names: HashSet<_> = ErrorType::ALL.iter().map(|e| e.name()).collect();
    assert_eq!(codes.len(), 15);
    assert_eq!(names.len(), 15);
}

#[test]
fn sub_function_codes_are_the_published_table() {
    assert_eq!(SubFunction::ALL.len(), SUB_FUNCTIONS.len());
    for (s, (code, rust, seed)) in SubFunction::ALL.into_iter().zip(SUB_FUNCTIONS) {
        assert_eq!(s.code(), code, "{rust}");
        assert_eq!(format!("{s:?}"), rust);
        assert_eq!(s.name(), seed);
        assert_eq!(SubFunction::from_code(code), Some(s));
    }
    for code in 0..=u16::MAX {
        let want = SUB_FUNCTIONS.iter().find(|(c, ..)| *c == code).map(|t| t.0);
        assert_eq!(
            SubFunction::from_code(code).map(SubFunction::code),
            want,
            "code {code:#06x}"
        );
    }
    for unknown in [0x0000, 0x0003, 0x000f, 0x0014, 0x0028, 0x0033, 0xffff] {
        assert_eq!(SubFunction::from_code(unknown), None, "{unknown:#06x}");
    }
    let codes: HashSet<_> = SubFunction::ALL.iter().map(|s| s.code()).collect();
    let names: HashSet<_> = SubFunction::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(codes.len(), 18);
    assert_eq!(names.len(), 18);
}

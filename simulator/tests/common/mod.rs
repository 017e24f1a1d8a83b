//! Helpers shared by the simulator's integration tests: state directories,
//! typed calls, and two administrators who can initialize the firmware.
#![allow(dead_code, clippy::result_large_err)]

use sam_firmware::crypto::portable::Portable;
use sam_firmware::crypto::{Crypto, FirmwareRng, GeneratedKey, sha256};
use sam_firmware::platform::PlatformError;
use sam_firmware::state::p256_point;
use sam_proto::approval::{ADMIN_APPROVAL, OPERATOR_LOGON, bound_digest};
use sam_proto::bounded::{Blob, List};
use sam_proto::command::{
    Approval, Approvals, ChallengeIssued, Command, ErrorAnswer, GetChallenge, GetStatus,
    InitFirmware, InitParams, OperatorLogon, Status, SubFunction,
};
use sam_proto::frame::{MAX_BODY_LEN, decode_exact, encode_body};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm};
use sam_simulator::{CryptoBackend, Simulator};
use std::path::{Path, PathBuf};

/// The HSM operator every test state directory has.
pub const OPERATOR: &str = "operator";

/// A fresh, initialized state directory with the HSM operator [`OPERATOR`]
/// (removed when the guard drops).
pub fn state_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim");
    Simulator::init(&dir).unwrap();
    Simulator::add_operator(&dir, OPERATOR).unwrap();
    (tmp, dir)
}

/// An initialized state directory, opened.
pub fn open(backend: CryptoBackend) -> (tempfile::TempDir, PathBuf, Simulator) {
    let (tmp, dir) = state_dir();
    let sim = Simulator::open(&dir, backend).unwrap();
    (tmp, dir, sim)
}

/// An OS-backed firmware RNG source for calling `Crypto` directly.
pub fn os_random(buf: &mut [u8]) -> Result<(), PlatformError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| PlatformError)
}

pub fn rng_source() -> &'static (dyn Fn(&mut [u8]) -> Result<(), PlatformError> + Sync) {
    &os_random
}

/// A typed call through `Simulator::call`: `Ok(response)` or
/// `Err((status, ErrorAnswer))`.
pub fn typed<C: Command>(sim: &Simulator, req: &C) -> Result<C::Response, (u16, ErrorAnswer)> {
    let (status, body) = sim.call(C::CODE.code(), &encode_body(req).unwrap());
    decode_answer::<C>(status, &body)
}

pub fn decode_answer<C: Command>(
    status: u16,
    body: &[u8],
) -> Result<C::Response, (u16, ErrorAnswer)> {
    if status == 0 {
        Ok(decode_exact(body, MAX_BODY_LEN).unwrap())
    } else {
        Err((status, decode_exact(body, ErrorAnswer::MAX_SIZE).unwrap()))
    }
}

pub fn status(sim: &Simulator) -> Status {
    typed(sim, &GetStatus).unwrap()
}

/// An administrator: a P-256 key made with the portable engine.
pub struct Admin {
    pub key: GeneratedKey,
}

impl Admin {
    pub fn new() -> Self {
        let mut rng = FirmwareRng::new(rng_source());
        Self {
            key: Portable.generate(KeyAlgorithm::EcP256, &mut rng).unwrap(),
        }
    }

    pub fn point(&self) -> Blob<{ sam_proto::command::ADMIN_KEY_LEN }> {
        Blob::new(p256_point(&self.key.public_spki).unwrap()).unwrap()
    }

    pub fn approve(&self, code: SubFunction, challenge: &[u8; 32], params: &[u8]) -> Approval {
        let digest = bound_digest(ADMIN_APPROVAL, code, challenge, params, |p| {
            sha256(&Portable, p)
        });
        let mut rng = FirmwareRng::new(rng_source());
        let sig = Portable
            .sign(
                &self.key.private_pkcs8,
                KeyAlgorithm::EcP256,
                HashAlgorithm::Sha256,
                &digest,
                &mut rng,
            )
            .unwrap();
        Approval {
            admin: self.point(),
            signature: Blob::from_vec(sig).unwrap(),
        }
    }
}

/// An InitFirmware request approved by both administrators under
/// `challenge`, with the logon of the state directory `dir`'s operator
/// [`OPERATOR`] (its secret read from where the simulator keeps it).
pub fn init_request(dir: &Path, admins: &[Admin; 2], challenge: [u8; 32]) -> InitFirmware {
    let secret = sam_simulator::operators::secret(dir, OPERATOR.as_bytes())
        .unwrap()
        .expect("the state directory has the test operator");
    init_request_as(admins, challenge, OPERATOR.as_bytes(), &secret)
}

/// [`init_request`] with the logon of operator `user` holding `secret`.
pub fn init_request_as(
    admins: &[Admin; 2],
    challenge: [u8; 32],
    user: &[u8],
    secret: &[u8; 32],
) -> InitFirmware {
    let params = InitParams {
        admins: List::from_vec(admins.iter().map(Admin::point).collect()).unwrap(),
        mbk_slot: 0,
    };
    let bytes = encode_body(&params).unwrap();
    let mut approvals = List::default();
    for a in admins {
        approvals
            .push(a.approve(SubFunction::InitFirmware, &challenge, &bytes))
            .unwrap();
    }
    InitFirmware {
        operator: operator_logon(user, secret, &challenge, &bytes),
        params,
        approvals: Approvals {
            challenge,
            approvals,
        },
    }
}

/// The logon response the simulator checks, computed here with the
/// firmware's portable HMAC (not aws-lc, which the simulator uses).
pub fn operator_logon(
    user: &[u8],
    secret: &[u8; 32],
    challenge: &[u8; 32],
    params: &[u8],
) -> OperatorLogon {
    let message = bound_digest(
        OPERATOR_LOGON,
        SubFunction::InitFirmware,
        challenge,
        params,
        |p| sha256(&Portable, p),
    );
    OperatorLogon {
        user: Blob::new(user).unwrap(),
        response: Blob::new(&Portable.hmac_sha256(secret, &[&message])).unwrap(),
    }
}

/// Initializes the firmware in-process (GetChallenge, then InitFirmware).
pub fn initialize(sim: &Simulator) -> sam_proto::command::Initialized {
    let admins = [Admin::new(), Admin::new()];
    let ChallengeIssued { challenge, .. } = typed(sim, &GetChallenge).unwrap();
    let dir = sim.firmware().platform().state_dir().to_path_buf();
    typed(sim, &init_request(&dir, &admins, challenge)).unwrap()
}

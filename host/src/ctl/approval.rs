//! Dual control (seed §5.7, DESIGN §4): the administrators' approvals of
//! Initialize SAM Firmware, Set IdP Public Keys and the first Privileged
//! User.
//!
//! Each administrator signs (ECDSA P-256, DER) the digest of
//! `sam_proto::approval` for the sub-function, the challenge and
//! `postcard(params)` with a key that never leaves samctl, or never leaves
//! the administrator's own machine in the split form:
//!
//! 1. `--prepare request.json`: samctl gets a challenge from samd and
//!    writes the command, challenge and parameters ([`RequestFile`]);
//! 2. each administrator runs `samctl fw approve` offline on a copy of it
//!    and hands back an [`ApprovalFile`];
//! 3. `samctl fw submit` sends the request with the approvals.
//!
//! The firmware verifies everything; samctl does not pre-judge whether the
//! approvals suffice.

use super::error::{CtlError, CtlResult};
use super::files;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use sam_client::wire::B64;
use sam_client::wire::admin::{
    Approval, Approvals, EnrolRequest, IdpKeysRequest, InitRequest, OperatorLogon, PolicyRequest,
};
use sam_proto::approval::{ADMIN_APPROVAL, OPERATOR_LOGON, bound_digest};
use sam_proto::bounded::{Blob, List};
use sam_proto::command::{IdpKeysParams, InitParams, NewUser, PolicyParams, SubFunction};
use sam_proto::ids::Uuid;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The dual-control commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FwOp {
    /// Initialize SAM Firmware.
    Init,
    /// Set IdP Public Keys.
    Setidpkeys,
    /// The first Privileged User.
    Enrol,
    /// The firmware's policy: token lifetime and signing CAs.
    Policy,
}

impl FwOp {
    /// The firmware sub-function the approvals are bound to.
    pub const fn sub_function(self) -> SubFunction {
        match self {
            Self::Init => SubFunction::InitFirmware,
            Self::Setidpkeys => SubFunction::SetIdpKeys,
            Self::Enrol => SubFunction::EnrolPrivilegedUser,
            Self::Policy => SubFunction::SetPolicy,
        }
    }

    /// samd's endpoint.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Init => "/admin/init",
            Self::Setidpkeys => "/admin/idp-keys",
            Self::Enrol => "/admin/enrol-privileged-user",
            Self::Policy => "/admin/policy",
        }
    }

    /// The console lines.
    pub const fn lines(self) -> super::console::Lines {
        match self {
            Self::Init => super::console::INIT,
            Self::Setidpkeys => super::console::IDP_KEYS,
            Self::Enrol => super::console::ENROL,
            Self::Policy => super::console::POLICY,
        }
    }
}

/// The parameters of a dual-control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    /// The administrators to enrol (uncompressed SEC1 points) and the MBK
    /// slot.
    Init {
        /// Points.
        admins: Vec<Vec<u8>>,
        /// The HSM's MBK slot.
        mbk_slot: u8,
    },
    /// The IdP certificates (DER).
    Setidpkeys {
        /// Certificates.
        certificates: Vec<Vec<u8>>,
    },
    /// The first Privileged User.
    Enrol {
        /// The new UserID.
        user_id: Uuid,
        /// The IdP certificates for the user's tokens (DER).
        certificates: Vec<Vec<u8>>,
    },
    /// The policy.
    Policy {
        /// Longest identity-token validity, seconds.
        max_token_lifetime: u32,
        /// Signing CA certificates (DER).
        signing_cas: Vec<Vec<u8>>,
        /// Audit records between two periodic checkpoints.
        checkpoint_interval: u32,
    },
}

/// samd's request body of a dual-control command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum FwBody {
    /// `POST /admin/init`.
    Init(InitRequest),
    /// `POST /admin/idp-keys`.
    Setidpkeys(IdpKeysRequest),
    /// `POST /admin/enrol-privileged-user`.
    Enrol(EnrolRequest),
    /// `POST /admin/policy`.
    Policy(PolicyRequest),
}

/// A bounded list of blobs, or a usage error naming `what`.
pub fn list<const N: usize, const M: usize>(
    items: &[Vec<u8>],
    what: &str,
) -> CtlResult<List<Blob<N>, M>> {
    let blobs = items
        .iter()
        .map(|i| Blob::new(i).map_err(|_| CtlError::usage(format!("a {what} is over {N} bytes"))))
        .collect::<CtlResult<Vec<_>>>()?;
    List::from_vec(blobs).map_err(|_| CtlError::usage(format!("more than {M} {what}s")))
}

/// Parses a UUID argument.
pub fn parse_uuid(text: &str, what: &str) -> CtlResult<Uuid> {
    Uuid::parse(text.trim()).map_err(|_| CtlError::usage(format!("{what} {text:?} is not a UUID")))
}

impl Params {
    /// The command.
    pub const fn op(&self) -> FwOp {
        match self {
            Self::Init { .. } => FwOp::Init,
            Self::Setidpkeys { .. } => FwOp::Setidpkeys,
            Self::Enrol { .. } => FwOp::Enrol,
            Self::Policy { .. } => FwOp::Policy,
        }
    }

    /// The postcard bytes the approvals cover, exactly as the firmware
    /// encodes the parameters it receives.
    pub fn postcard(&self) -> CtlResult<Vec<u8>> {
        let bytes = match self {
            Self::Init { admins, mbk_slot } => postcard::to_allocvec(&InitParams {
                admins: list(admins, "administrator key")?,
                mbk_slot: *mbk_slot,
            }),
            Self::Setidpkeys { certificates } => postcard::to_allocvec(&IdpKeysParams {
                certificates: list(certificates, "IdP certificate")?,
            }),
            Self::Enrol {
                user_id,
                certificates,
            } => postcard::to_allocvec(&NewUser {
                user_id: *user_id,
                certificates: list(certificates, "IdP certificate")?,
            }),
            Self::Policy {
                max_token_lifetime,
                signing_cas,
                checkpoint_interval,
            } => postcard::to_allocvec(&PolicyParams {
                max_token_lifetime: *max_token_lifetime,
                signing_cas: list(signing_cas, "signing CA certificate")?,
                checkpoint_interval: *checkpoint_interval,
            }),
        };
        bytes.map_err(|e| CtlError::failed(format!("postcard: {e}")))
    }

    /// samd's body for this command with `approvals` (and, for init, the
    /// operator's logon).
    pub fn body(&self, approvals: Approvals, operator: Option<OperatorLogon>) -> FwBody {
        match self {
            Self::Init { admins, mbk_slot } => FwBody::Init(InitRequest {
                admins: B64::all(admins),
                mbk_slot: *mbk_slot,
                operator: operator.unwrap_or_default(),
                approvals,
            }),
            Self::Setidpkeys { certificates } => FwBody::Setidpkeys(IdpKeysRequest {
                certificates: B64::all(certificates),
                approvals,
            }),
            Self::Enrol {
                user_id,
                certificates,
            } => FwBody::Enrol(EnrolRequest {
                userid: user_id.to_string(),
                certificates: B64::all(certificates),
                approvals,
            }),
            Self::Policy {
                max_token_lifetime,
                signing_cas,
                checkpoint_interval,
            } => FwBody::Policy(PolicyRequest {
                max_token_lifetime: *max_token_lifetime,
                signing_cas: B64::all(signing_cas),
                checkpoint_interval: *checkpoint_interval,
                approvals,
            }),
        }
    }

    /// The parameters as a request file keeps them: samd's body without
    /// `approvals` (and the operator's logon, made at submission), so the
    /// file shows exactly what the administrators approve.
    pub fn to_json(&self) -> Value {
        let mut v =
            serde_json::to_value(self.body(Approvals::default(), None)).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("approvals");
            m.remove("operator");
        }
        v
    }

    /// Reads [`Self::to_json`] back, with the types of samd's bodies.
    pub fn from_json(op: FwOp, v: &Value) -> CtlResult<Self> {
        let mut v = v.clone();
        let Value::Object(m) = &mut v else {
            return Err(CtlError::usage("request: `params` is not an object"));
        };
        let none = serde_json::to_value(Approvals::default())
            .map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
        m.insert("approvals".into(), none);
        if op == FwOp::Init {
            let none = serde_json::to_value(OperatorLogon::default())
                .map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
            m.insert("operator".into(), none);
        }
        let bad = |e: serde_json::Error| CtlError::usage(format!("request: params: {e}"));
        Ok(match op {
            FwOp::Init => {
                let r: InitRequest = serde_json::from_value(v).map_err(bad)?;
                Self::Init {
                    admins: B64::into_vecs(r.admins),
                    mbk_slot: r.mbk_slot,
                }
            }
            FwOp::Setidpkeys => {
                let r: IdpKeysRequest = serde_json::from_value(v).map_err(bad)?;
                Self::Setidpkeys {
                    certificates: B64::into_vecs(r.certificates),
                }
            }
            FwOp::Enrol => {
                let r: EnrolRequest = serde_json::from_value(v).map_err(bad)?;
                Self::Enrol {
                    user_id: parse_uuid(&r.userid, "request: params.userid")?,
                    certificates: B64::into_vecs(r.certificates),
                }
            }
            FwOp::Policy => {
                let r: PolicyRequest = serde_json::from_value(v).map_err(bad)?;
                Self::Policy {
                    max_token_lifetime: r.max_token_lifetime,
                    signing_cas: B64::into_vecs(r.signing_cas),
                    checkpoint_interval: r.checkpoint_interval,
                }
            }
        })
    }

    /// What an administrator approves, for a human.
    pub fn describe(&self) -> Vec<String> {
        let certs = |certificates: &[Vec<u8>]| {
            certificates
                .iter()
                .map(|c| format!("  certificate {}", describe_certificate(c)))
                .collect::<Vec<_>>()
        };
        match self {
            Self::Init { admins, mbk_slot } => {
                let mut out = vec![format!(
                    "Initialize SAM Firmware from MBK slot {mbk_slot}, enrolling the administrators:"
                )];
                out.extend(admins.iter().map(|a| {
                    format!(
                        "  administrator key SHA-256 {}",
                        hex::encode(Sha256::digest(a))
                    )
                }));
                out
            }
            Self::Setidpkeys { certificates } => {
                let mut out = vec!["Set IdP Public Keys to:".into()];
                out.extend(certs(certificates));
                out
            }
            Self::Enrol {
                user_id,
                certificates,
            } => {
                let mut out = vec![format!(
                    "Enrol the first Privileged User {user_id}, with IdPs:"
                )];
                out.extend(certs(certificates));
                out
            }
            Self::Policy {
                max_token_lifetime,
                signing_cas,
                checkpoint_interval,
            } => {
                let mut out = vec![format!(
                    "Set the policy: identity tokens valid for at most {max_token_lifetime} s, an audit checkpoint at least every {checkpoint_interval} records, signer certificates issued by:"
                )];
                out.extend(certs(signing_cas));
                out
            }
        }
    }
}

/// `subject, SHA-256 fingerprint` of a DER certificate.
pub fn describe_certificate(der: &[u8]) -> String {
    use der::Decode as _;
    let fp = hex::encode(Sha256::digest(der));
    match x509_cert::Certificate::from_der(der) {
        Ok(c) => format!("{} (SHA-256 {fp})", c.tbs_certificate().subject()),
        Err(_) => format!("<not a certificate> (SHA-256 {fp})"),
    }
}

/// The HSM operator's logon for Initialize SAM Firmware, as the simulator
/// checks it: HMAC-SHA-256 under the operator's secret (the file `sam-simulator
/// init --operator` wrote) of the logon message, which binds the challenge
/// and the parameters the administrators approve. The secret stays in
/// samctl; samd only sees a response it cannot use twice. (A CP5 operator
/// logs on with the HSM's own tools and mechanism instead.)
pub fn operator_logon(
    user: &str,
    secret: &[u8; 32],
    params: &Params,
    challenge: &[u8; 32],
) -> CtlResult<OperatorLogon> {
    if user.is_empty() || user.len() > sam_proto::command::MAX_OPERATOR_NAME_LEN {
        return Err(CtlError::usage(format!(
            "operator name {user:?}: 1 to {} bytes",
            sam_proto::command::MAX_OPERATOR_NAME_LEN
        )));
    }
    let message = bound_digest(
        OPERATOR_LOGON,
        SubFunction::InitFirmware,
        challenge,
        &params.postcard()?,
        sha256,
    );
    Ok(OperatorLogon {
        user: user.to_owned(),
        response: B64(sam_simulator::operators::response(secret, &message).to_vec()),
    })
}

/// One administrator's approval, as samd's JSON takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalFile {
    /// The command approved.
    pub command: FwOp,
    /// The challenge (base64).
    pub challenge: String,
    /// The administrator's key (base64 SEC1 point).
    pub admin: String,
    /// The DER signature (base64).
    pub signature: String,
}

/// A prepared request, waiting for approvals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestFile {
    /// The command.
    pub command: FwOp,
    /// The challenge (base64).
    pub challenge: String,
    /// When the challenge expires (Unix seconds, firmware clock).
    pub expires: i64,
    /// The parameters, as samd's endpoint takes them.
    pub params: Value,
}

impl RequestFile {
    /// The challenge bytes.
    pub fn challenge(&self) -> CtlResult<[u8; 32]> {
        STANDARD
            .decode(&self.challenge)
            .ok()
            .and_then(|c| c.try_into().ok())
            .ok_or_else(|| CtlError::usage("request: the challenge is not 32 bytes of base64"))
    }

    /// The typed parameters.
    pub fn params(&self) -> CtlResult<Params> {
        Params::from_json(self.command, &self.params)
    }

    /// Reads a request file.
    pub fn load(path: &std::path::Path) -> CtlResult<Self> {
        serde_json::from_slice(&files::read(path)?)
            .map_err(|e| CtlError::usage(format!("{}: not a samctl request: {e}", path.display())))
    }
}

/// SHA-256 of the concatenation of `parts`: samctl's hash for the digests
/// whose layout [`sam_proto::approval`] fixes.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    parts.iter().for_each(|p| h.update(p));
    h.finalize().into()
}

/// Signs `params` for `challenge` with an administrator key.
pub fn approve(key: &SigningKey, params: &Params, challenge: &[u8; 32]) -> CtlResult<ApprovalFile> {
    let digest = bound_digest(
        ADMIN_APPROVAL,
        params.op().sub_function(),
        challenge,
        &params.postcard()?,
        sha256,
    );
    let sig: p256::ecdsa::DerSignature = key
        .sign_prehash(&digest)
        .map_err(|e| CtlError::failed(format!("signing the approval: {e}")))?;
    Ok(ApprovalFile {
        command: params.op(),
        challenge: STANDARD.encode(challenge),
        admin: STANDARD.encode(files::p256_point(key.verifying_key())),
        signature: STANDARD.encode(sig.as_bytes()),
    })
}

/// The body of samd's endpoint: the parameters, the approvals and (init)
/// the operator's logon. The approvals must be for this command and
/// challenge.
pub fn body(
    params: &Params,
    challenge: &[u8; 32],
    approvals: &[ApprovalFile],
    operator: Option<OperatorLogon>,
) -> CtlResult<FwBody> {
    let c = STANDARD.encode(challenge);
    for a in approvals {
        if a.command != params.op() || a.challenge != c {
            return Err(CtlError::usage(format!(
                "an approval by {} is for another request ({:?}, challenge {})",
                a.admin, a.command, a.challenge
            )));
        }
    }
    let unb64 = |text: &str, what: &str| {
        STANDARD
            .decode(text)
            .map(B64)
            .map_err(|_| CtlError::usage(format!("an approval's {what} is not base64: {text:?}")))
    };
    let list = approvals
        .iter()
        .map(|a| {
            Ok(Approval {
                admin: unb64(&a.admin, "admin key")?,
                signature: unb64(&a.signature, "signature")?,
            })
        })
        .collect::<CtlResult<Vec<_>>>()?;
    Ok(params.body(
        Approvals {
            challenge: B64::of(challenge),
            approvals: list,
        },
        operator,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_and_approvals_verify() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = files::p256_point(key.verifying_key());
        let params = Params::Init {
            admins: vec![point.clone(), point.clone()],
            mbk_slot: 3,
        };
        let back = Params::from_json(FwOp::Init, &params.to_json()).unwrap();
        assert_eq!(back, params);
        let challenge = [9u8; 32];
        let a = approve(&key, &params, &challenge).unwrap();
        assert_eq!(a.admin, STANDARD.encode(&point));
        let v = serde_json::to_value(
            body(&params, &challenge, std::slice::from_ref(&a), None).unwrap(),
        )
        .unwrap();
        assert_eq!(v["approvals"]["approvals"][0]["signature"], a.signature);
        assert_eq!(v["mbk_slot"], 3);
        assert!(body(&params, &[1u8; 32], &[a], None).is_err());
        // The signature verifies over the firmware's digest.
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let digest = bound_digest(
            ADMIN_APPROVAL,
            SubFunction::InitFirmware,
            &challenge,
            &params.postcard().unwrap(),
            sha256,
        );
        let sig = approve(&key, &params, &challenge).unwrap().signature;
        let sig =
            p256::ecdsa::DerSignature::try_from(STANDARD.decode(sig).unwrap().as_slice()).unwrap();
        let sig: p256::ecdsa::Signature = sig.try_into().unwrap();
        key.verifying_key().verify_prehash(&digest, &sig).unwrap();
    }
}

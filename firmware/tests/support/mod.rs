//! A test bench around one firmware instance on the deterministic
//! platform: two administrators, a development IdP with a real self-signed
//! X.509 certificate, identity tokens and SADs built with the `sam-proto`
//! DER types, and every request sent through the C-ABI entry.
//!
//! The operation tests use it, one file per operation family (`abi`,
//! `admin`, `lifecycle`, `users`, `keys`, `binding`, `signing`, `audit`), as trussed
//! keeps one test file per mechanism. Together they run the usage scenarios
//! of seed §3 (each file names the ones it covers) and give one negative
//! test per error type the firmware can give. (ContainerParseError belongs
//! to the host's JSON container and is tested there.)
#![allow(
    dead_code,
    clippy::result_large_err,
    clippy::cloned_ref_to_slice_refs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod pki;

use pki::{Admin, Idp, Peering, SadKey, SigningCa, request_proof, sha256};
use sam_firmware::Firmware;
use sam_firmware::abi::serve_into;
use sam_firmware::crypto::Crypto;
use sam_firmware::crypto::portable::Portable;
use sam_firmware::testing::TestPlatform;
use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::command::*;
use sam_proto::frame::{MAX_BODY_LEN, decode_exact, encode_body};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, UserId, Uuid};
use sam_proto::intent::Intent;
use sam_proto::records::{AuditRecord, SealedUserRecord, WrappedKey};

/// A refused request: its error and its audit record, if any.
#[derive(Debug)]
pub struct Refusal {
    pub error: ErrorType,
    pub audit: Option<AuditRecord>,
}

pub type Reply<T> = Result<T, Refusal>;

/// One firmware, its platform, and the people around it.
pub struct Bench {
    pub fw: Firmware<TestPlatform>,
    pub admins: [Admin; 2],
    pub idp: Idp,
    /// The SAD key the IdP binds in login tokens; it signs each peering
    /// request (its intent and a fresh challenge).
    pub token_key: SadKey,
    /// The signing CA of the policy set by [`Bench::ready`].
    pub ca: SigningCa,
    /// Every audit record the firmware returned, in order: what a host
    /// would store.
    pub audit: Vec<AuditRecord>,
    pub next_user: u64,
}

impl Bench {
    /// A booted, uninitialized firmware.
    pub fn new() -> Self {
        Self {
            fw: Firmware::boot(TestPlatform::new(1)),
            admins: [Admin::new(1), Admin::new(2)],
            idp: Idp::p256(1),
            token_key: SadKey::new(0xE1),
            ca: SigningCa::new(1),
            audit: Vec::new(),
            next_user: 1,
        }
    }

    /// Initialized with two administrators, the IdP imported and a policy
    /// naming the bench's signing CA.
    pub fn ready() -> Self {
        Self::new().into_ready()
    }

    /// [`Self::ready`] from this bench (whose IdP certificate a test may
    /// have replaced).
    pub fn into_ready(self) -> Self {
        let mut b = self;
        b.init().expect("init");
        b.set_idp_keys(&[b.idp.cert.clone()]).expect("set idp keys");
        b.set_policy(
            PolicyParams::DEFAULT_MAX_TOKEN_LIFETIME,
            &[b.ca.cert.clone()],
        )
        .expect("set policy");
        b
    }

    pub fn set_policy(&mut self, max_token_lifetime: u32, cas: &[Vec<u8>]) -> Reply<Audited> {
        let params = PolicyParams {
            max_token_lifetime,
            signing_cas: blobs(cas),
            checkpoint_interval: sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL,
        };
        let approvals = self.approve(SubFunction::SetPolicy, &params, &[0, 1]);
        let r = self.call(&SetPolicy { params, approvals })?;
        self.audit.push(r.audit.clone());
        Ok(r)
    }

    /// Registers `certificate` for `wrapped`, asked by `by`.
    pub fn register_certificate(
        &mut self,
        by: &SealedUserRecord,
        wrapped: &WrappedKey,
        certificate: &[u8],
    ) -> Reply<CertificateRegistered> {
        let req = self.signed(
            by,
            RegisterCertificate {
                auth: pki::unsigned(),
                key_id: wrapped.key_id,
                wrapped: Some(wrapped.clone()),
                certificate: Blob::new(certificate).unwrap(),
            },
        );
        let r = self.call(&req)?;
        self.audit.push(r.audit.clone());
        Ok(r)
    }

    /// Activates `wrapped` with a certificate of the bench's CA, valid now
    /// for a year, registered by `by`.
    pub fn activate(&mut self, by: &SealedUserRecord, wrapped: &WrappedKey) {
        let cert = self
            .ca
            .issue_now(&wrapped.public_key, self.fw.platform().time());
        self.register_certificate(by, wrapped, &cert)
            .expect("register certificate");
    }

    /// [`Self::generate`], then [`Self::activate`] by the same user: a key
    /// that can sign.
    pub fn generate_active(
        &mut self,
        by: &SealedUserRecord,
        target: Option<&SealedUserRecord>,
        algorithm: KeyAlgorithm,
    ) -> Reply<KeyPairGenerated> {
        let g = self.generate(by, target, algorithm)?;
        self.activate(by, &g.wrapped);
        Ok(g)
    }

    /// Sends raw bytes through the C-ABI entry; returns status and body.
    pub fn raw(&self, code: u16, body: &[u8]) -> (u32, Vec<u8>) {
        let mut answer = vec![0u8; MAX_BODY_LEN];
        let (status, len) = serve_into(&self.fw, code, body, &mut answer);
        answer.truncate(len);
        (status, answer)
    }

    /// Sends a typed request; decodes the typed answer.
    pub fn call<C: Command>(&mut self, req: &C) -> Reply<C::Response> {
        let body = encode_body(req).expect("encode request");
        let (status, answer) = self.raw(C::CODE.code(), &body);
        if status == 0 {
            let resp: C::Response = decode_exact(&answer, MAX_BODY_LEN).expect("decode response");
            Ok(resp)
        } else {
            let code = u16::try_from(status).expect("status is an error code");
            let error = ErrorType::from_code(code).expect("known error code");
            let ea: ErrorAnswer = decode_exact(&answer, ErrorAnswer::MAX_SIZE).expect("error body");
            if let Some(a) = &ea.audit {
                self.audit.push(a.clone());
            }
            Err(Refusal {
                error,
                audit: ea.audit,
            })
        }
    }

    /// The error of a refused call (panics on success).
    pub fn refused<C: Command>(&mut self, req: &C) -> Refusal {
        match self.call(req) {
            Ok(r) => panic!("{:?} succeeded: {r:?}", C::CODE),
            Err(e) => e,
        }
    }

    pub fn challenge(&mut self) -> [u8; 32] {
        self.call(&GetChallenge).expect("challenge").challenge
    }

    pub fn status(&mut self) -> Status {
        self.call(&GetStatus).expect("status")
    }

    /// Approvals of `params` for `code` by the given administrators.
    pub fn approve<T: serde::Serialize>(
        &mut self,
        code: SubFunction,
        params: &T,
        by: &[usize],
    ) -> Approvals {
        let challenge = self.challenge();
        let bytes = postcard::to_allocvec(params).unwrap();
        let mut approvals = List::default();
        for &i in by {
            approvals
                .push(self.admins[i].approve(code, &challenge, &bytes))
                .unwrap();
        }
        Approvals {
            challenge,
            approvals,
        }
    }

    /// InitFirmware's parameters: the two administrators, MBK slot 0.
    pub fn init_params(&self) -> InitParams {
        InitParams {
            admins: List::from_vec(self.admins.iter().map(|a| a.point()).collect()).unwrap(),
            mbk_slot: 0,
        }
    }

    /// A complete InitFirmware: the administrators' approvals and the test
    /// platform's operator logon, both over `params` and one challenge.
    pub fn init_request(&mut self, params: InitParams) -> InitFirmware {
        let approvals = self.approve(SubFunction::InitFirmware, &params, &[0, 1]);
        let operator = operator_logon(&params, &approvals.challenge);
        InitFirmware {
            params,
            operator,
            approvals,
        }
    }

    pub fn init(&mut self) -> Reply<Initialized> {
        let req = self.init_request(self.init_params());
        let r = self.call(&req)?;
        self.audit.push(r.audit.clone());
        Ok(r)
    }

    pub fn set_idp_keys(&mut self, certs: &[Vec<u8>]) -> Reply<IdpKeysSet> {
        let params = IdpKeysParams {
            certificates: blobs(certs),
        };
        let approvals = self.approve(SubFunction::SetIdpKeys, &params, &[0, 1]);
        let r = self.call(&SetIdpKeys { params, approvals })?;
        self.audit.push(r.audit.clone());
        Ok(r)
    }

    /// A fresh UserID.
    pub fn new_user_id(&mut self) -> UserId {
        self.next_user += 1;
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&self.next_user.to_be_bytes());
        Uuid::from_random(b)
    }

    /// The first Privileged User, enrolled by the administrators.
    pub fn enrol_privileged_user(&mut self) -> Reply<SealedUserRecord> {
        let params = NewUser {
            user_id: self.new_user_id(),
            certificates: blobs(&[self.idp.cert.clone()]),
        };
        let approvals = self.approve(SubFunction::EnrolPrivilegedUser, &params, &[0, 1]);
        let r = self.call(&EnrolPrivilegedUser { params, approvals })?;
        self.audit.push(r.audit.clone());
        Ok(r.record)
    }

    /// A login token for `record`'s user from the IdP, binding the
    /// bench's token key.
    pub fn login_token(&self, record: &SealedUserRecord) -> Vec<u8> {
        let now = self.fw.platform().time();
        self.idp.token(
            record.record.user_id,
            now - 60,
            now + 600,
            Some(&self.token_key.spki()),
        )
    }

    /// A bare identity-token credential for `record`'s user (what an SSA
    /// sends along with a SAD; no request proof).
    pub fn token_credential(&self, record: &SealedUserRecord) -> Credential {
        Credential {
            kind: Credential::IDENTITY_TOKEN,
            value: Blob::from_vec(self.login_token(record)).unwrap(),
        }
    }

    /// A credential for command `code` with `intent`: a login token for
    /// `record`'s user and the token key's proof over `intent` and a fresh
    /// challenge.
    pub fn token_auth(
        &self,
        record: &SealedUserRecord,
        code: SubFunction,
        intent: &Intent<'_>,
    ) -> Authentication {
        self.token_auth_with(
            record,
            code,
            intent,
            self.login_token(record),
            &self.token_key,
        )
    }

    /// [`Self::token_auth`] with a given login `token` and the `key` it
    /// binds.
    pub fn token_auth_with(
        &self,
        record: &SealedUserRecord,
        code: SubFunction,
        intent: &Intent<'_>,
        token: Vec<u8>,
        key: &SadKey,
    ) -> Authentication {
        // A firmware that serves no challenge (not operational) refuses
        // the request anyway; the test then sees why.
        let (status, answer) = self.raw(SubFunction::GetChallenge.code(), &[]);
        let challenge = match status {
            0 => decode_exact::<ChallengeIssued>(&answer, MAX_BODY_LEN)
                .map_or([0; 32], |c| c.challenge),
            _ => [0; 32],
        };
        Authentication {
            credential: Credential {
                kind: Credential::IDENTITY_TOKEN,
                value: Blob::from_vec(token).unwrap(),
            },
            actor: Some(record.clone()),
            proof: Some(request_proof(&key.key, code, &challenge, intent)),
        }
    }

    /// `req` authorized by `by`: its intent signed with a fresh challenge.
    pub fn signed<C: Peering>(&self, by: &SealedUserRecord, mut req: C) -> C {
        let auth = {
            let intent = req.intent(by.record.user_id);
            self.token_auth(by, C::CODE, &intent)
        };
        *req.auth_mut() = auth;
        req
    }

    pub fn create_signer(&mut self, by: &SealedUserRecord) -> Reply<SealedUserRecord> {
        let user = NewUser {
            user_id: self.new_user_id(),
            certificates: blobs(&[self.idp.cert.clone()]),
        };
        let req = self.signed(
            by,
            CreateSigner {
                auth: pki::unsigned(),
                user,
            },
        );
        let r = self.call(&req)?;
        self.audit.push(r.audit.clone());
        Ok(r.record)
    }

    pub fn generate(
        &mut self,
        by: &SealedUserRecord,
        target: Option<&SealedUserRecord>,
        algorithm: KeyAlgorithm,
    ) -> Reply<KeyPairGenerated> {
        let req = self.signed(
            by,
            GenerateKeyPair {
                auth: pki::unsigned(),
                target: target.cloned(),
                algorithm,
                subject: None,
            },
        );
        let r = self.call(&req)?;
        self.audit.push(r.audit.clone());
        Ok(r)
    }

    /// Signs with a SAD for `hashes`, built by the signer's client.
    pub fn sign(
        &mut self,
        signer: &SealedUserRecord,
        wrapped: &WrappedKey,
        sad: Vec<u8>,
    ) -> Reply<Signed> {
        let req = Signing {
            sad: Blob::from_vec(sad).unwrap(),
            credential: None,
            signer: Some(signer.clone()),
            wrapped: Some(wrapped.clone()),
        };
        let r = self.call(&req)?;
        self.audit.push(r.audit.clone());
        Ok(r)
    }

    /// An identity token for `signer` that binds `sad_key`, valid from a
    /// second ago for five minutes: what a signer's client gets from the
    /// IdP before it signs a SAD.
    pub fn sad_token(&self, signer: &SealedUserRecord, sad_key: &SadKey) -> Vec<u8> {
        let now = self.fw.platform().time();
        self.idp.token(
            signer.record.user_id,
            now - 1,
            now + 300,
            Some(&sad_key.spki()),
        )
    }

    /// A ready bench with a Privileged User, a Signer and one P-256 key.
    pub fn with_signer() -> (Self, SealedUserRecord, SealedUserRecord, WrappedKey) {
        Self::ready().into_signer()
    }

    /// [`Self::with_signer`] from this ready bench.
    pub fn into_signer(self) -> (Self, SealedUserRecord, SealedUserRecord, WrappedKey) {
        let mut b = self;
        let pu = b.enrol_privileged_user().expect("enrol");
        let signer = b.create_signer(&pu).expect("create signer");
        let key = b
            .generate_active(&signer, None, KeyAlgorithm::EcP256)
            .expect("generate")
            .wrapped;
        // Tokens for signing must be issued after boot.
        b.fw.platform().advance(5);
        (b, pu, signer, key)
    }
}

pub fn blobs<const N: usize, const M: usize>(items: &[Vec<u8>]) -> List<Blob<N>, M> {
    List::from_vec(items.iter().map(|c| Blob::new(c).unwrap()).collect()).unwrap()
}

/// `n` test hashes of `len` bytes: the SHA-256 of each index, cut to `len`
/// or padded with 7s past 32 bytes.
pub fn hashes(n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            sha256(&[&i.to_be_bytes()])[..len.min(32)]
                .iter()
                .copied()
                .chain(std::iter::repeat_n(7u8, len.saturating_sub(32)))
                .collect()
        })
        .collect()
}

/// A SAD for `n` SHA-256 hashes with a fresh token for `signer`.
pub fn sad_for(
    b: &Bench,
    signer: &SealedUserRecord,
    key_id: &str,
    n: usize,
    seed: u8,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let sad_key = SadKey::new(seed);
    let token = b.sad_token(signer, &sad_key);
    let hs = hashes(n, 32);
    (sad_key.sad(&token, key_id, HashAlgorithm::Sha256, &hs), hs)
}

/// Checks that `signed` holds one signature per hash, each verifying with
/// `spki`.
pub fn verify_all(spki: &[u8], hash: HashAlgorithm, hashes: &[Vec<u8>], signed: &Signed) {
    assert_eq!(signed.signatures.len(), hashes.len());
    for (h, s) in hashes.iter().zip(signed.signatures.iter()) {
        Portable
            .verify(spki, hash, h, s)
            .expect("signature verifies with the public key");
    }
}

/// The test platform's operator logon for `params` under `challenge`.
pub fn operator_logon(params: &InitParams, challenge: &[u8; 32]) -> OperatorLogon {
    pki::operator_logon(
        sam_firmware::testing::TEST_OPERATOR,
        &sam_firmware::testing::TEST_OPERATOR_SECRET,
        challenge,
        &postcard::to_allocvec(params).unwrap(),
    )
}

//! Section 2: the firmware pipeline in-process, no host.
//!
//! One [`Simulator`] on a temporary state directory (a real state file,
//! written with fsync on every audited operation), initialized through the
//! firmware's own commands with two administrators' approvals, two IdPs
//! (P-256 and RSA-2048), one Signer and a key of each algorithm. SADs
//! (one fresh identity token each: single use is per token) are prepared
//! before each timed run; the timed part is `Simulator::call(Signing)`.
//!
//! The firmware remembers every unexpired SAD it served (its replay set,
//! `sam_firmware::state::ReplaySet`, at most 65,536 entries; when that is
//! full of unexpired entries it refuses new SADs with NotOperational). A
//! full run sends more Signing requests than that, so the fixture restarts
//! the simulator (a new firmware boot, an empty replay set) before a run
//! would pass [`PER_BOOT`], and the tokens are valid for a few minutes
//! only ([`TOKEN_VALIDITY`]).

use crate::prims::{self, Backend, KEY_ALGS, PrimResult, alg_name, os_random};
use crate::stats::Runs;
use crate::{Budget, time_ops};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};
use sam_client::{SadKey, SignRequest};
use sam_devpki::{DevCa, DevIdp, IdpKeyType, TokenParams};
use sam_firmware::crypto::sha256;
use sam_firmware::platform::{Platform, Slot};
use sam_firmware::state::ReplaySet;
use sam_proto::approval::{ADMIN_APPROVAL, bound_digest};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::bounded::{Blob, List};
use sam_proto::command::{
    Approval, Approvals, Authentication, Command, CreateSigner, Credential, EnrolPrivilegedUser,
    GenerateKeyPair, GetChallenge, IdpKeysParams, InitFirmware, InitParams, MAX_OUTBOX_BATCH,
    NewUser, PolicyParams, RegisterCertificate, RequestProof, SetIdpKeys, SetPolicy, Signed,
    Signing, SubFunction, SyncAudit,
};
use sam_proto::frame::{MAX_BODY_LEN, decode_exact, encode_body};
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, UserId, Uuid};
use sam_proto::intent::Intent;
use sam_proto::records::{SealedUserRecord, WrappedKey};
use sam_simulator::{AwsLcCrypto, CryptoBackend, Faults, SimPlatform, Simulator};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which IdP signs the identity tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdpAlg {
    /// ECDSA P-256.
    P256,
    /// RSA-2048 PKCS#1 v1.5.
    Rsa2048,
}

impl IdpAlg {
    /// Both.
    pub const ALL: [IdpAlg; 2] = [IdpAlg::P256, IdpAlg::Rsa2048];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::Rsa2048 => "RSA-2048",
        }
    }

    /// The key algorithm whose verify primitive checks its tokens.
    pub fn key_alg(self) -> KeyAlgorithm {
        match self {
            Self::P256 => KeyAlgorithm::EcP256,
            Self::Rsa2048 => KeyAlgorithm::Rsa2048,
        }
    }
}

/// Hashes per SAD measured.
pub const BATCHES: [usize; 3] = [1, 10, 100];

/// Signing requests one firmware boot serves in the bench: the firmware's
/// replay-set capacity less a margin, so that no request is refused for
/// lack of room.
pub const PER_BOOT: usize = ReplaySet::CAPACITY - 4_096;

/// Lifetime of the bench's identity tokens, seconds: long enough for the
/// slowest preparation (thousands of RSA-signed tokens) plus its run,
/// short enough that the firmware's replay set can drop them soon after.
pub const TOKEN_VALIDITY: u64 = 300;

/// How long to wait after a boot before issuing Signing tokens: the
/// firmware refuses tokens issued in or before its boot second (replay
/// rule across restarts).
const AFTER_BOOT: Duration = Duration::from_millis(1100);

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    os_random(&mut b).map_err(|_| "the OS RNG failed".to_string())?;
    Ok(b)
}

fn err<E: core::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e:?}")
}

/// A booted simulator, its administrators and IdPs.
struct Base {
    /// `None` only while restarting.
    sim: Option<Simulator>,
    admins: [SigningKey; 2],
    idp_p256: DevIdp,
    idp_rsa: DevIdp,
}

impl Base {
    fn certs<const N: usize, const M: usize>(&self) -> Result<List<Blob<N>, M>, String> {
        let certs = vec![
            Blob::new(self.idp_p256.certificate_der()).map_err(err("cert"))?,
            Blob::new(self.idp_rsa.certificate_der()).map_err(err("cert"))?,
        ];
        List::from_vec(certs).map_err(err("certs"))
    }

    fn sim(&self) -> Result<&Simulator, String> {
        self.sim
            .as_ref()
            .ok_or_else(|| "the simulator is not open".into())
    }

    /// Sends a typed command; a refusal is an error.
    fn call<C: Command>(&self, req: &C) -> Result<C::Response, String> {
        let body = encode_body(req).map_err(err("encode"))?;
        let (status, answer) = self.sim()?.call(C::CODE.code(), &body);
        if status != 0 {
            return Err(format!("{:?} refused with status {status}", C::CODE));
        }
        decode_exact(&answer, MAX_BODY_LEN).map_err(err("decode"))
    }

    fn approve<T: serde::Serialize>(
        &self,
        code: SubFunction,
        params: &T,
    ) -> Result<Approvals, String> {
        let challenge = self.call(&GetChallenge)?.challenge;
        let bytes = postcard::to_allocvec(params).map_err(err("postcard"))?;
        let digest = bound_digest(ADMIN_APPROVAL, code, &challenge, &bytes, |p| {
            sha256(&AwsLcCrypto, p)
        });
        let mut approvals = List::default();
        for k in &self.admins {
            let sig: DerSignature = k.sign_prehash(&digest).map_err(err("approval"))?;
            approvals
                .push(Approval {
                    admin: Blob::new(k.verifying_key().to_sec1_point(false).as_bytes())
                        .map_err(err("admin point"))?,
                    signature: Blob::new(sig.as_bytes()).map_err(err("approval"))?,
                })
                .map_err(err("approvals"))?;
        }
        Ok(Approvals {
            challenge,
            approvals,
        })
    }

    /// A login token of `user` binding a fresh SAD key, and that key's
    /// proof for command `code` with `intent` over a fresh challenge.
    fn login(
        &self,
        user: UserId,
        record: &SealedUserRecord,
        code: SubFunction,
        intent: &Intent<'_>,
    ) -> Result<Authentication, String> {
        let now = unix_now();
        let key = SadKey::generate().map_err(err("token key"))?;
        let token = self
            .idp_p256
            .issue_token(&TokenParams {
                user_id: user,
                level: IdentificationLevel::Substantial,
                not_before: now.saturating_sub(60),
                not_after: now + 600,
                sad_public_key: Some(key.public_key_der().map_err(err("token key"))?),
            })
            .map_err(err("login token"))?;
        let challenge = self.call(&GetChallenge)?.challenge;
        let intent = intent.encode().ok_or("the intent does not encode")?;
        let signature = key
            .sign_request(code, &challenge, &intent)
            .map_err(err("request proof"))?;
        Ok(Authentication {
            credential: Credential {
                kind: Credential::IDENTITY_TOKEN,
                value: Blob::from_vec(token).map_err(err("token"))?,
            },
            actor: Some(record.clone()),
            proof: Some(RequestProof {
                challenge,
                signature: Blob::from_vec(signature).map_err(err("proof"))?,
            }),
        })
    }
}

/// A booted, initialized simulator with a Signer and one key per algorithm.
pub struct Fixture {
    base: Base,
    dir: PathBuf,
    /// Signing requests sent since the current boot.
    served: usize,
    /// Restarts made to keep below [`PER_BOOT`].
    pub reboots: usize,
    signer: SealedUserRecord,
    signer_id: UserId,
    keys: Vec<(KeyAlgorithm, HashAlgorithm, WrappedKey)>,
}

impl core::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

impl Fixture {
    /// Initializes `dir` as a state directory and sets everything up.
    pub fn new(dir: &Path) -> Result<Self, String> {
        Simulator::init(dir).map_err(err("simulator init"))?;
        let operator =
            Simulator::add_operator(dir, "bench-operator").map_err(err("simulator operator"))?;
        let sim = Simulator::open(dir, CryptoBackend::AwsLc).map_err(err("simulator open"))?;
        let admin = || -> Result<SigningKey, String> {
            SigningKey::from_slice(&random_bytes::<32>()?).map_err(err("admin key"))
        };
        let fx = Base {
            sim: Some(sim),
            admins: [admin()?, admin()?],
            idp_p256: DevIdp::generate(IdpKeyType::P256).map_err(err("IdP P-256"))?,
            idp_rsa: DevIdp::generate(IdpKeyType::Rsa2048).map_err(err("IdP RSA-2048"))?,
        };
        let signer_id = Uuid::from_random(random_bytes()?);
        let admins = List::from_vec(
            fx.admins
                .iter()
                .map(|k| Blob::new(k.verifying_key().to_sec1_point(false).as_bytes()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err("admin point"))?,
        )
        .map_err(err("admins"))?;
        let params = InitParams {
            admins,
            mbk_slot: 0,
        };
        let approvals = fx.approve(SubFunction::InitFirmware, &params)?;
        // The HSM operator's logon: HMAC-SHA-256 under its secret of the
        // logon message, as the simulator checks it.
        let message = sam_proto::approval::bound_digest(
            sam_proto::approval::OPERATOR_LOGON,
            SubFunction::InitFirmware,
            &approvals.challenge,
            &postcard::to_allocvec(&params).map_err(err("postcard"))?,
            |p| sha256(&AwsLcCrypto, p),
        );
        let operator = sam_proto::command::OperatorLogon {
            user: Blob::new(b"bench-operator").map_err(err("operator"))?,
            response: Blob::new(&sam_simulator::operators::response(&operator, &message))
                .map_err(err("operator"))?,
        };
        fx.call(&InitFirmware {
            params,
            operator,
            approvals,
        })?;
        let params = IdpKeysParams {
            certificates: fx.certs()?,
        };
        let approvals = fx.approve(SubFunction::SetIdpKeys, &params)?;
        fx.call(&SetIdpKeys { params, approvals })?;
        // A CA for the signer certificates: the firmware signs only with a
        // key whose certificate it registered.
        let ca = DevCa::generate().map_err(err("CA"))?;
        let params = PolicyParams {
            max_token_lifetime: 3600,
            signing_cas: List::from_vec(vec![
                Blob::from_vec(ca.certificate_der().map_err(err("CA"))?).map_err(err("CA"))?,
            ])
            .map_err(err("CA"))?,
            checkpoint_interval: sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL,
        };
        let approvals = fx.approve(SubFunction::SetPolicy, &params)?;
        fx.call(&SetPolicy { params, approvals })?;
        let params = NewUser {
            user_id: Uuid::from_random(random_bytes()?),
            certificates: fx.certs()?,
        };
        let pu_id = params.user_id;
        let approvals = fx.approve(SubFunction::EnrolPrivilegedUser, &params)?;
        let pu = fx.call(&EnrolPrivilegedUser { params, approvals })?.record;
        let user = NewUser {
            user_id: signer_id,
            certificates: fx.certs()?,
        };
        let auth = fx.login(
            pu_id,
            &pu,
            SubFunction::CreateSigner,
            &Intent::CreateSigner { user: &user },
        )?;
        let signer = fx.call(&CreateSigner { auth, user })?.record;
        let mut keys = Vec::new();
        for (alg, hash) in KEY_ALGS {
            let subject = sam_client::wire::peering::KeyPairParams::new(signer_id.to_string(), alg)
                .csr_subject()?;
            let subject = Some(Blob::from_vec(subject).map_err(err("subject"))?);
            let intent = Intent::GenerateKeyPair {
                target: signer_id,
                algorithm: alg,
                subject: subject.as_ref(),
            };
            let auth = fx.login(signer_id, &signer, SubFunction::GenerateKeyPair, &intent)?;
            let generated = fx.call(&GenerateKeyPair {
                auth,
                target: None,
                algorithm: alg,
                subject,
            })?;
            let csr = generated.csr.ok_or("no certification request")?;
            let certificate = Blob::from_vec(ca.issue_from_csr(&csr).map_err(err("certificate"))?)
                .map_err(err("certificate"))?;
            let key_id = generated.wrapped.key_id;
            let intent = Intent::RegisterCertificate {
                key_id,
                certificate: &certificate,
            };
            let auth = fx.login(
                signer_id,
                &signer,
                SubFunction::RegisterCertificate,
                &intent,
            )?;
            fx.call(&RegisterCertificate {
                auth,
                key_id,
                wrapped: Some(generated.wrapped.clone()),
                certificate,
            })?;
            keys.push((alg, hash, generated.wrapped));
        }
        // Signing tokens must be issued after the boot second (replay rule
        // across restarts), so let the clock move past it.
        std::thread::sleep(AFTER_BOOT);
        Ok(Self {
            base: fx,
            dir: dir.to_path_buf(),
            served: 0,
            reboots: 0,
            signer,
            signer_id,
            keys,
        })
    }

    /// Makes sure the current boot can serve `n` more Signing requests
    /// without filling the firmware's replay set: restarts the simulator
    /// on the same state directory if not. Call before preparing them.
    pub fn make_room(&mut self, n: usize) -> Result<(), String> {
        if n > PER_BOOT {
            return Err(format!(
                "{n} requests in one run exceed what one firmware boot can serve ({PER_BOOT})"
            ));
        }
        if self.served + n <= PER_BOOT {
            self.served += n;
            return Ok(());
        }
        drop(self.base.sim.take());
        let sim =
            Simulator::open(&self.dir, CryptoBackend::AwsLc).map_err(err("simulator reopen"))?;
        self.base.sim = Some(sim);
        std::thread::sleep(AFTER_BOOT);
        self.reboots += 1;
        self.served = n;
        Ok(())
    }

    /// `n` postcard `Signing` bodies, each with a fresh token and SAD key.
    pub fn prepare(
        &self,
        key: KeyAlgorithm,
        idp: IdpAlg,
        hashes: usize,
        n: usize,
    ) -> Result<Vec<Vec<u8>>, String> {
        let (_, hash, wrapped) = self
            .keys
            .iter()
            .find(|(a, _, _)| *a == key)
            .ok_or("no such key")?;
        let issuer = match idp {
            IdpAlg::P256 => &self.base.idp_p256,
            IdpAlg::Rsa2048 => &self.base.idp_rsa,
        };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let sad_key = SadKey::generate().map_err(err("SAD key"))?;
            let now = unix_now();
            let token = issuer
                .issue_token(&TokenParams {
                    user_id: self.signer_id,
                    level: IdentificationLevel::Substantial,
                    not_before: now,
                    not_after: now + TOKEN_VALIDITY,
                    sad_public_key: Some(sad_key.public_key_der().map_err(err("SAD key"))?),
                })
                .map_err(err("token"))?;
            let request = SignRequest {
                key_id: wrapped.key_id,
                hash_algorithm: *hash,
                hashes: (0..hashes)
                    .map(|j| {
                        let mut h = vec![0u8; hash.output_len()];
                        for (k, b) in h.iter_mut().enumerate() {
                            *b = (i ^ j ^ k) as u8;
                        }
                        h
                    })
                    .collect(),
            };
            let sad = sad_key.sign_sad(&token, &request).map_err(err("SAD"))?;
            let body = encode_body(&Signing {
                sad: Blob::from_vec(sad).map_err(err("SAD size"))?,
                credential: None,
                signer: Some(self.signer.clone()),
                wrapped: Some(wrapped.clone()),
            })
            .map_err(err("encode"))?;
            out.push(body);
        }
        Ok(out)
    }

    /// Runs prepared bodies on `threads` threads; returns the error count.
    ///
    /// Each thread acknowledges the audit records of its answers as samd
    /// does once it has stored them (`SyncAudit`), every
    /// [`MAX_OUTBOX_BATCH`]` / threads` records so that all threads
    /// together leave at most about [`MAX_OUTBOX_BATCH`] unacknowledged:
    /// without it the firmware's audit outbox, which rides in the counters
    /// slot, would sit at its capacity (1,024 records) and every durable
    /// store would rewrite all of them, measuring a host that never
    /// acknowledges rather than the pipeline.
    pub fn run(&self, bodies: &[Vec<u8>], threads: usize) -> usize {
        let Ok(sim) = self.base.sim() else {
            return bodies.len();
        };
        let code = Signing::CODE.code();
        let chunk = bodies.len().div_ceil(threads.max(1)).max(1);
        let batch = (MAX_OUTBOX_BATCH / threads.max(1)).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = bodies
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        let mut errors = 0usize;
                        let mut stored = Vec::with_capacity(batch);
                        for body in part {
                            let (status, answer) = sim.call(code, body);
                            let signed = (status == 0)
                                .then(|| decode_exact::<Signed>(&answer, MAX_BODY_LEN).ok())
                                .flatten();
                            match signed {
                                Some(signed) => stored.push(signed.audit.entry.seq),
                                None => errors += 1,
                            }
                            if stored.len() >= batch {
                                errors += acknowledge(sim, &mut stored);
                            }
                        }
                        errors + acknowledge(sim, &mut stored)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(usize::MAX / 4))
                .sum()
        })
    }
}

/// Tells the firmware that the host stored the audit records `stored`
/// (emptied); 1 if that was refused, else 0.
fn acknowledge(sim: &Simulator, stored: &mut Vec<u64>) -> usize {
    if stored.is_empty() {
        return 0;
    }
    let Ok(list) = List::from_vec(core::mem::take(stored)) else {
        return 1;
    };
    let req = SyncAudit {
        stored: list,
        fetch_from: None,
    };
    match encode_body(&req) {
        Ok(body) => usize::from(sim.call(SyncAudit::CODE.code(), &body).0 != 0),
        Err(_) => 1,
    }
}

/// One pipeline configuration's throughput.
#[derive(Clone, Debug)]
pub struct PipeResult {
    /// Signer key.
    pub key: KeyAlgorithm,
    /// IdP key.
    pub idp: IdpAlg,
    /// Hashes per SAD.
    pub hashes: usize,
    /// Worker threads.
    pub threads: usize,
    /// Signing requests per second, one value per run.
    pub req_s: Runs,
    /// Sum of the aws-lc primitive costs one request performs, seconds.
    pub prim_sum: f64,
    /// Refused requests over all runs.
    pub errors: usize,
}

impl PipeResult {
    /// Pipeline cost per request over the sum of its primitive costs.
    pub fn overhead(&self) -> f64 {
        (1.0 / self.req_s.median()) / self.prim_sum
    }

    /// Its label.
    pub fn label(&self) -> String {
        format!(
            "{} key, {} IdP, {} hash{}, {} thread{}",
            alg_name(self.key),
            self.idp.name(),
            self.hashes,
            if self.hashes == 1 { "" } else { "es" },
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// The aws-lc primitive costs of one Signing request (the digests, HMACs
/// and DER parsing are left out: they are the "pipeline" part).
pub fn primitive_sum(prims: &[PrimResult], key: KeyAlgorithm, idp: IdpAlg, hashes: usize) -> f64 {
    let b = Backend::AwsLc;
    prims::cost_of(prims, b, &prims::verify_name(idp.key_alg()))
        + prims::cost_of(prims, b, &prims::verify_name(KeyAlgorithm::EcP256))
        + prims::cost_of(prims, b, &prims::open_name(key))
        + hashes as f64 * prims::cost_of(prims, b, &prims::sign_name(key))
}

/// Measures one configuration.
pub fn measure(
    fx: &mut Fixture,
    budget: &Budget,
    prims: &[PrimResult],
    key: KeyAlgorithm,
    idp: IdpAlg,
    hashes: usize,
    threads: usize,
) -> Result<PipeResult, String> {
    // Calibrate: how many requests fill one run's time.
    fx.make_room(3)?;
    let probe = fx.prepare(key, idp, hashes, 2)?;
    let mut errors = fx.run(&probe, 1);
    let probe = fx.prepare(key, idp, hashes, 1)?;
    let t0 = Instant::now();
    errors += fx.run(&probe, 1);
    let each = t0.elapsed().as_secs_f64().max(1e-6);
    // At most two cores' worth of work per run: more threads than cores
    // do not add throughput, and a run must stay near `per_run`.
    let n = ((budget.per_run.as_secs_f64() * threads.min(2) as f64 / each) as usize)
        .clamp(threads.max(4), budget.max_iters.max(threads))
        .min(PER_BOOT);
    let mut values = Vec::new();
    for _ in 0..budget.repeats {
        fx.make_room(n)?;
        let bodies = fx.prepare(key, idp, hashes, n)?;
        let t0 = Instant::now();
        errors += fx.run(&bodies, threads);
        values.push(n as f64 / t0.elapsed().as_secs_f64());
    }
    Ok(PipeResult {
        key,
        idp,
        hashes,
        threads,
        req_s: Runs::new(values),
        prim_sum: primitive_sum(prims, key, idp, hashes),
        errors,
    })
}

/// Every configuration of section 2.
pub fn run(
    fx: &mut Fixture,
    budget: &Budget,
    prims: &[PrimResult],
) -> Result<Vec<PipeResult>, String> {
    let mut out = Vec::new();
    for (key, _) in KEY_ALGS {
        for idp in IdpAlg::ALL {
            for hashes in BATCHES {
                out.push(measure(fx, budget, prims, key, idp, hashes, 1)?);
            }
        }
    }
    for key in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
        for hashes in [1, 100] {
            out.push(measure(fx, budget, prims, key, IdpAlg::P256, hashes, 2)?);
        }
    }
    // More callers than cores: shows whether the firmware's group commit
    // of the audit counters shares one durable store among waiting calls.
    for threads in [8, 64] {
        out.push(scaling_row(fx, budget, prims, threads)?);
    }
    Ok(out)
}

/// The thread counts of the group-commit scaling rows (P-256 key, P-256
/// IdP, one hash), in the order `sam-bench --pipeline` prints them.
pub const SCALING_THREADS: [usize; 4] = [1, 2, 8, 64];

/// Only the scaling rows of section 2 (`sam-bench --pipeline`): the
/// P-256 pipeline at [`SCALING_THREADS`] threads, the figures the group
/// commit of the audit counters decides, with `hashes` hashes per SAD
/// (`--hashes`; one by default, as in the full bench's scaling rows).
pub fn scaling(
    fx: &mut Fixture,
    budget: &Budget,
    prims: &[PrimResult],
    hashes: usize,
) -> Result<Vec<PipeResult>, String> {
    let (key, idp) = (KeyAlgorithm::EcP256, IdpAlg::P256);
    SCALING_THREADS
        .iter()
        .map(|&threads| measure(fx, budget, prims, key, idp, hashes, threads))
        .collect()
}

/// One scaling row: P-256 key, P-256 IdP, one hash, `threads` threads.
fn scaling_row(
    fx: &mut Fixture,
    budget: &Budget,
    prims: &[PrimResult],
    threads: usize,
) -> Result<PipeResult, String> {
    let (key, idp) = (KeyAlgorithm::EcP256, IdpAlg::P256);
    measure(fx, budget, prims, key, idp, 1, threads)
}

/// The bare cost of the platform's durable store: `SimPlatform::store` of
/// the counters slot (one in-place write and one `fdatasync`, see the
/// simulator's `state_file.rs`), on a second state directory beside the
/// fixture's. Stores per second.
pub fn bare_store(dir: &Path, budget: &Budget) -> Result<Runs, String> {
    Simulator::init(dir).map_err(err("simulator init"))?;
    let platform = SimPlatform::open(dir, CryptoBackend::AwsLc, Arc::new(Faults::default()))
        .map_err(err("platform open"))?;
    let data = [0x5au8; 48];
    time_ops(budget, || {
        platform
            .store(Slot::Counters, &data)
            .map_err(|_| "store failed".to_string())
    })
}

/// Reference for [`bare_store`], measured in the same run because disk
/// latency on a shared machine varies by an order of magnitude between
/// runs: what a store cost with the simulator's previous format, which
/// replaced the whole file (write a temp file, fsync, rename, fsync the
/// directory). A 4 KiB file in `dir`. Replacements per second.
pub fn replace_reference(dir: &Path, budget: &Budget) -> Result<Runs, String> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).map_err(err("reference directory"))?;
    let bytes = vec![0x5au8; 4096];
    let (tmp, dst) = (dir.join("replace.tmp"), dir.join("replace.bin"));
    time_ops(budget, || {
        let mut f = std::fs::File::create(&tmp).map_err(err("create"))?;
        f.write_all(&bytes).map_err(err("write"))?;
        f.sync_all().map_err(err("fsync"))?;
        drop(f);
        std::fs::rename(&tmp, &dst).map_err(err("rename"))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err("directory fsync"))
    })
}

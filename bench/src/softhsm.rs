//! Section 4: the anchor. SoftHSM2's bare `C_Sign` through PKCS#11, on a
//! token the bench initializes in a temporary directory.

use crate::stats::Runs;
use crate::{Budget, time_ops};
use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::Path;
use std::time::Instant;

/// Where Debian's `softhsm2` package puts the PKCS#11 module.
pub const SOFTHSM_LIB: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// DER OID of prime256v1, the `CKA_EC_PARAMS` of a P-256 key.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER DigestInfo prefix of SHA-256, for prehashed `CKM_RSA_PKCS`.
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const PIN: &str = "98765432";

/// The anchor's figures: C_Sign per second.
#[derive(Clone, Debug)]
pub struct Anchor {
    /// P-256 (`CKM_ECDSA` over a SHA-256 hash), 1 thread.
    pub p256_1t: Runs,
    /// P-256, 2 threads (one session each).
    pub p256_2t: Runs,
    /// RSA-2048 (`CKM_RSA_PKCS` over a SHA-256 DigestInfo), 1 thread.
    pub rsa_1t: Runs,
    /// RSA-2048, 2 threads.
    pub rsa_2t: Runs,
}

fn err<E: core::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("SoftHSM2 {what}: {e}")
}

/// Writes a SoftHSM2 configuration with its own token directory into
/// `dir`; returns the configuration's path, for `SOFTHSM2_CONF`.
pub fn write_conf(dir: &Path) -> Result<std::path::PathBuf, String> {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).map_err(err("token dir"))?;
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .map_err(err("config"))?;
    Ok(conf)
}

/// Runs the anchor. `SOFTHSM2_CONF` must name a configuration made by
/// [`write_conf`] (the process sets it before it starts, see `main`).
pub fn run(budget: &Budget) -> Result<Anchor, String> {
    let pkcs11 = Pkcs11::new(SOFTHSM_LIB).map_err(err("load"))?;
    pkcs11
        .initialize(CInitializeArgs::OsThreads)
        .map_err(err("C_Initialize"))?;
    let slot = *pkcs11
        .get_slots_with_token()
        .map_err(err("slots"))?
        .first()
        .ok_or("SoftHSM2 has no slot")?;
    let so_pin = AuthPin::new("12345678".into());
    pkcs11
        .init_token(slot, &so_pin, "sam-bench")
        .map_err(err("C_InitToken"))?;
    // The initialized token may move to another slot id.
    let slot = *pkcs11
        .get_slots_with_initialized_token()
        .map_err(err("slots"))?
        .first()
        .ok_or("SoftHSM2 lost its token")?;
    {
        let s = pkcs11.open_rw_session(slot).map_err(err("session"))?;
        s.login(UserType::So, Some(&so_pin))
            .map_err(err("SO login"))?;
        s.init_pin(&AuthPin::new(PIN.into()))
            .map_err(err("C_InitPIN"))?;
        s.logout().map_err(err("logout"))?;
    }
    let session = pkcs11.open_rw_session(slot).map_err(err("session"))?;
    session
        .login(UserType::User, Some(&AuthPin::new(PIN.into())))
        .map_err(err("login"))?;
    let (_, ec_key) = session
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(P256_PARAMS.to_vec()),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
            ],
        )
        .map_err(err("P-256 key generation"))?;
    let (_, rsa_key) = session
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
            ],
        )
        .map_err(err("RSA-2048 key generation"))?;
    let hash = [0x42u8; 32];
    let mut digest_info = SHA256_DIGEST_INFO.to_vec();
    digest_info.extend_from_slice(&hash);
    let p256_1t = time_ops(budget, || sign(&session, &Mechanism::Ecdsa, ec_key, &hash))?;
    let p256_2t = two_threads(budget, &pkcs11, slot, || Mechanism::Ecdsa, ec_key, &hash)?;
    let rsa_1t = time_ops(budget, || {
        sign(&session, &Mechanism::RsaPkcs, rsa_key, &digest_info)
    })?;
    let rsa_2t = two_threads(
        budget,
        &pkcs11,
        slot,
        || Mechanism::RsaPkcs,
        rsa_key,
        &digest_info,
    )?;
    drop(session);
    pkcs11.finalize();
    Ok(Anchor {
        p256_1t,
        p256_2t,
        rsa_1t,
        rsa_2t,
    })
}

fn sign(session: &Session, mech: &Mechanism, key: ObjectHandle, data: &[u8]) -> Result<(), String> {
    session
        .sign(mech, key, data)
        .map(drop)
        .map_err(err("C_Sign"))
}

/// C_Sign on two threads, one session each (the user login is the
/// token's, shared by every session); signatures per second.
fn two_threads(
    budget: &Budget,
    pkcs11: &Pkcs11,
    slot: Slot,
    mech: fn() -> Mechanism<'static>,
    key: ObjectHandle,
    data: &[u8],
) -> Result<Runs, String> {
    let mut sessions = [
        pkcs11.open_rw_session(slot).map_err(err("session"))?,
        pkcs11.open_rw_session(slot).map_err(err("session"))?,
    ];
    // Calibrate on one thread.
    let t0 = Instant::now();
    sign(&sessions[0], &mech(), key, data)?;
    let each = t0.elapsed().as_secs_f64().max(1e-7);
    let per_thread = ((budget.per_run.as_secs_f64() / each) as usize).clamp(4, budget.max_iters);
    let mut values = Vec::new();
    for _ in 0..budget.repeats {
        let t0 = Instant::now();
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = sessions
                .iter_mut()
                .map(|sess| {
                    let sess: &mut Session = sess;
                    s.spawn(move || {
                        let mech = mech();
                        for _ in 0..per_thread {
                            sign(sess, &mech, key, data)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
                .collect()
        });
        for r in results {
            r?;
        }
        values.push((2 * per_thread) as f64 / t0.elapsed().as_secs_f64());
    }
    Ok(Runs::new(values))
}

/// `softhsm2-util --version`, if installed.
pub fn version() -> Option<String> {
    let out = std::process::Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

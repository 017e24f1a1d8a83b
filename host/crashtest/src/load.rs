//! The mixed load of a cycle: two signing clients that send a fresh SAD
//! per request, signer creation, key generation and key deletion, each a
//! task that records what it sent and what was acknowledged in the
//! [`Ledger`] until the kill stops it.

use crate::SAD_LIFETIME_SECS;
use crate::ledger::{Ledger, SadRecord};
use crate::rng::Rng;
use sam_client::{ClientError, Credential, SamClient};
use sam_devpki::DevIdp;
use sam_harness::setup;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, KeyId, UserId, Uuid};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What the load tasks share.
pub struct Shared {
    pub idp: DevIdp,
    pub ssa: SamClient,
    pub ra: SamClient,
    pub pu: UserId,
    pub s0: UserId,
    pub k0: KeyId,
    pub k0_public: Vec<u8>,
    pub ledger: Mutex<Ledger>,
    pub rng: Mutex<Rng>,
    /// Set at the kill: no new request after it.
    pub stop: AtomicBool,
    /// Simulator restarts so far (the firmware's boots after setup).
    pub boot_epoch: AtomicU32,
}

impl Shared {
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn rng(&self) -> MutexGuard<'_, Rng> {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A fresh login token of `user` (no SAD key) as a peering credential.
    fn login(&self, user: UserId) -> Result<Credential, String> {
        Ok(setup::login(&self.idp, user)?)
    }

    /// A fresh SAD for one hash with the setup key: a new SAD key and a
    /// new identity token carrying it, as the SSA flow makes them.
    fn sad(&self, hash: &[u8]) -> Result<Vec<u8>, String> {
        Ok(setup::fresh_sad(
            &self.idp,
            self.s0,
            self.k0,
            vec![hash.to_vec()],
            SAD_LIFETIME_SECS,
        )?)
    }

    /// Records an error while no kill has happened yet: none is expected.
    fn note(&self, l: &mut Ledger, what: &str, e: &ClientError) {
        if !self.stopped() {
            l.early_errors.0 += 1;
            if l.early_errors.1.is_none() {
                l.early_errors.1 = Some(format!("{what}: {e}"));
            }
        }
    }

    /// A short random pause between a task's requests, so the kinds mix.
    async fn pause(&self) {
        let ms = self.rng().below(6);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Sends one SAD (recorded first: it counts as sent even if the answer
/// never comes) and records the outcome; signatures are verified.
pub async fn send_sad(sh: &Shared, cycle: u32) -> Result<bool, String> {
    let hash: [u8; 32] = sh.rng().bytes();
    let der = sh.sad(&hash)?;
    let index = {
        let mut l = sh.ledger();
        l.sads.push(SadRecord {
            der: der.clone(),
            hash: hash.to_vec(),
            accepted: 0,
            made: Instant::now(),
            cycle,
            boot_epoch: sh.boot_epoch.load(Ordering::SeqCst),
        });
        l.sads.len() - 1
    };
    let r = sh.ssa.sign_sad(&der).await;
    let mut l = sh.ledger();
    l.cycle.signs.add(r.is_ok());
    match r {
        Ok(signed) => {
            if let Some(s) = l.sads.get_mut(index) {
                s.accepted += 1;
            }
            if let Err(e) = verify(sh, &hash, &signed.signatures) {
                l.violation.get_or_insert(e);
            }
            Ok(true)
        }
        Err(e) => {
            sh.note(&mut l, "Signing", &e);
            Ok(false)
        }
    }
}

/// An acknowledged signature must verify with the setup key.
pub fn verify(sh: &Shared, hash: &[u8], signatures: &[Vec<u8>]) -> Result<(), String> {
    match signatures {
        [one] => {
            sam_client::verify::verify_prehash(&sh.k0_public, HashAlgorithm::Sha256, hash, one)
                .map_err(|e| format!("an acknowledged signature does not verify: {e}"))
        }
        _ => Err(format!("{} signatures for one hash", signatures.len())),
    }
}

pub async fn signer_task(sh: Arc<Shared>, cycle: u32) -> Result<(), String> {
    while !sh.stopped() {
        send_sad(&sh, cycle).await?;
        sh.pause().await;
    }
    Ok(())
}

pub async fn creator_task(sh: Arc<Shared>) -> Result<(), String> {
    let idp_cert = sh.idp.certificate_der().to_vec();
    while !sh.stopped() {
        let user = Uuid::from_random(sh.rng().bytes());
        let cred = sh.login(sh.pu)?;
        let r = sh
            .ra
            .create_signer(&cred, user, std::slice::from_ref(&idp_cert))
            .await;
        {
            let mut l = sh.ledger();
            l.cycle.users.add(r.is_ok());
            match r {
                Ok(_) => {
                    l.users_acked.insert(user.to_string());
                    l.signers.push(user);
                }
                Err(e) => {
                    l.users_unacked.insert(user.to_string());
                    sh.note(&mut l, "Create_New_Signer", &e);
                }
            }
        }
        sh.pause().await;
    }
    Ok(())
}

pub async fn generator_task(sh: Arc<Shared>) -> Result<(), String> {
    while !sh.stopped() {
        let owner = {
            let l = sh.ledger();
            let i = sh.rng().below(l.signers.len() as u64) as usize;
            l.signers.get(i).copied().unwrap_or(sh.s0)
        };
        let cred = sh.login(owner)?;
        let r = sh
            .ra
            .generate_key_pair(&cred, owner, KeyAlgorithm::EcP256)
            .await;
        {
            let mut l = sh.ledger();
            l.cycle.keys.add(r.is_ok());
            match r {
                Ok(k) => {
                    if k.user_id != owner {
                        l.violation.get_or_insert(format!(
                            "key {} generated for {owner} came back owned by {}",
                            k.key_id, k.user_id
                        ));
                    }
                    l.keys_acked.insert(k.key_id.to_string(), owner.to_string());
                    l.deletable.push((k.key_id, owner));
                }
                Err(e) => {
                    l.gen_unacked += 1;
                    sh.note(&mut l, "Generate_Signer_Key_Pair", &e);
                }
            }
        }
        sh.pause().await;
    }
    Ok(())
}

pub async fn deleter_task(sh: Arc<Shared>) -> Result<(), String> {
    while !sh.stopped() {
        let pick = {
            let mut l = sh.ledger();
            if l.deletable.is_empty() {
                None
            } else {
                let i = sh.rng().below(l.deletable.len() as u64) as usize;
                Some(l.deletable.swap_remove(i))
            }
        };
        let Some((key, owner)) = pick else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let cred = sh.login(owner)?;
        let r = sh
            .ra
            .peering(
                "Delete_Signer_Key_Pair",
                Some(&cred),
                json!({"keyid": key.to_string()}),
            )
            .await;
        {
            let mut l = sh.ledger();
            l.cycle.deletes.add(r.is_ok());
            match r {
                Ok(_) => {
                    l.deletes_acked.insert(key.to_string());
                }
                Err(e) => {
                    // Never retried: a second deletion could add a second
                    // audit record for the key.
                    l.deletes_unacked.insert(key.to_string());
                    sh.note(&mut l, "Delete_Signer_Key_Pair", &e);
                }
            }
        }
        sh.pause().await;
    }
    Ok(())
}

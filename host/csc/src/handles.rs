//! The service's short-lived state: access tokens (`auth/login`) and
//! CSC "SAD" handles (`credentials/authorize`, the OAuth2 token flow).
//!
//! A handle is opaque and random; it stands for one checked seed SAD and
//! is bound to its user, credential, hash algorithm and hashes. It is
//! taken out of the table (under the lock) before the firmware is
//! called and never put back, so of two concurrent `signHash` calls with
//! one handle exactly one reaches the firmware. The digest of every seed
//! SAD that got a handle is kept until the SAD's token expires, so the
//! same seed SAD never gets a second handle. None of this is a security
//! boundary of the SAM (the firmware refuses a replayed or altered SAD
//! whatever the service does); it makes the service refuse first, with a
//! CSC error.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sam_proto::ids::{HashAlgorithm, KeyId, UserId};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What a handle authorizes: one seed SAD, checked at authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The signer.
    pub user: UserId,
    /// The credential (KeyID).
    pub key_id: KeyId,
    /// The hash algorithm of the hashes.
    pub hash_algorithm: HashAlgorithm,
    /// The hashes, in the SAD's order.
    pub hashes: Vec<Vec<u8>>,
    /// The DER seed SAD, sent to the firmware as it is.
    pub seed_sad: Vec<u8>,
    /// Unix seconds after which the handle is refused.
    pub expires: u64,
    /// Unix seconds after which the seed SAD is invalid anyway (its
    /// token's `notAfter`): until then its digest is remembered.
    pub sad_not_after: u64,
}

/// An access token of `auth/login`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Access {
    user: UserId,
    expires: u64,
}

/// Why a handle operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleError {
    /// No such handle (never issued, used, or another user's).
    Unknown,
    /// The handle is past its lifetime.
    Expired,
    /// This seed SAD already got a handle.
    SeedReused,
    /// The table is full.
    Full,
    /// The RNG failed.
    Rng,
}

#[derive(Debug, Default)]
struct Tables {
    grants: HashMap<String, Grant>,
    seen: HashMap<[u8; 32], u64>,
    access: HashMap<String, Access>,
}

/// Handles and access tokens.
#[derive(Debug)]
pub struct Handles {
    tables: Mutex<Tables>,
    max_open: usize,
}

/// A fresh opaque token: 32 random bytes, base64url.
fn random_token() -> Result<String, HandleError> {
    let mut raw = [0u8; 32];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut raw)
        .map_err(|_| HandleError::Rng)?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

impl Handles {
    /// Empty tables holding at most `max_open` handles and as many
    /// access tokens.
    pub fn new(max_open: usize) -> Self {
        Self {
            tables: Mutex::default(),
            max_open: max_open.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues a handle for `grant` at `now`.
    pub fn grant(&self, grant: Grant, now: u64) -> Result<String, HandleError> {
        let digest: [u8; 32] = Sha256::digest(&grant.seed_sad).into();
        let token = random_token()?;
        let mut t = self.lock();
        t.grants.retain(|_, g| g.expires >= now);
        t.seen.retain(|_, until| *until >= now);
        if t.seen.contains_key(&digest) {
            return Err(HandleError::SeedReused);
        }
        // The remembered digests outlive their handles; bound them too.
        if t.grants.len() >= self.max_open || t.seen.len() >= self.max_open.saturating_mul(4) {
            return Err(HandleError::Full);
        }
        t.seen
            .insert(digest, grant.sad_not_after.max(grant.expires));
        t.grants.insert(token.clone(), grant);
        Ok(token)
    }

    /// Takes the handle `token` of `user` (any user's if `None`: the
    /// OAuth2 access handle names its user itself) out of the table: it
    /// can never be used again, whatever follows. Another user's handle
    /// is left alone and reported as unknown.
    pub fn take(&self, token: &str, user: Option<UserId>, now: u64) -> Result<Grant, HandleError> {
        let mut t = self.lock();
        match t.grants.get(token) {
            None => return Err(HandleError::Unknown),
            Some(g) if user.is_some_and(|u| u != g.user) => return Err(HandleError::Unknown),
            Some(_) => {}
        }
        let g = t.grants.remove(token).ok_or(HandleError::Unknown)?;
        if g.expires < now {
            return Err(HandleError::Expired);
        }
        Ok(g)
    }

    /// Whether `token` is a live handle (for telling an OAuth2 access
    /// handle from an access token).
    pub fn is_grant(&self, token: &str) -> bool {
        self.lock().grants.contains_key(token)
    }

    /// Issues an access token for `user` valid until `expires`.
    pub fn login(&self, user: UserId, expires: u64, now: u64) -> Result<String, HandleError> {
        let token = random_token()?;
        let mut t = self.lock();
        t.access.retain(|_, a| a.expires >= now);
        if t.access.len() >= self.max_open {
            return Err(HandleError::Full);
        }
        t.access.insert(token.clone(), Access { user, expires });
        Ok(token)
    }

    /// The user and expiry of the access token `token`, if it is live.
    pub fn access(&self, token: &str, now: u64) -> Option<(UserId, u64)> {
        let t = self.lock();
        t.access
            .get(token)
            .filter(|a| a.expires >= now)
            .map(|a| (a.user, a.expires))
    }

    /// Revokes `user`'s access token `token`; whether there was one.
    pub fn revoke(&self, token: &str, user: UserId) -> bool {
        let mut t = self.lock();
        if t.access.get(token).is_some_and(|a| a.user == user) {
            t.access.remove(token);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sam_proto::ids::Uuid;

    fn grant(sad: &[u8], expires: u64) -> Grant {
        Grant {
            user: Uuid::from_random([1; 16]),
            key_id: Uuid::from_random([2; 16]),
            hash_algorithm: HashAlgorithm::Sha256,
            hashes: vec![vec![0; 32]],
            seed_sad: sad.to_vec(),
            expires,
            sad_not_after: expires + 100,
        }
    }

    #[test]
    fn a_handle_is_single_use_and_a_seed_sad_gets_one_handle() {
        let h = Handles::new(4);
        let g = grant(b"sad-1", 50);
        let t = h.grant(g.clone(), 10).unwrap();
        assert_eq!(h.grant(g.clone(), 10), Err(HandleError::SeedReused));
        let other = Uuid::from_random([9; 16]);
        assert_eq!(h.take(&t, Some(other), 10), Err(HandleError::Unknown));
        assert_eq!(h.take(&t, Some(g.user), 10).unwrap(), g);
        assert_eq!(h.take(&t, Some(g.user), 10), Err(HandleError::Unknown));
        // Used and expired handles do not free the seed SAD.
        assert_eq!(h.grant(g, 60), Err(HandleError::SeedReused));
    }

    #[test]
    fn expired_handles_are_refused_and_the_table_is_bounded() {
        let h = Handles::new(2);
        let t = h.grant(grant(b"a", 20), 10).unwrap();
        assert_eq!(h.take(&t, None, 21), Err(HandleError::Expired));
        h.grant(grant(b"b", 20), 10).unwrap();
        h.grant(grant(b"c", 20), 10).unwrap();
        assert_eq!(h.grant(grant(b"d", 20), 10), Err(HandleError::Full));
    }

    #[test]
    fn access_tokens_expire_and_are_revoked_by_their_user_only() {
        let h = Handles::new(2);
        let u = Uuid::from_random([1; 16]);
        let t = h.login(u, 100, 10).unwrap();
        assert_eq!(h.access(&t, 100), Some((u, 100)));
        assert_eq!(h.access(&t, 101), None);
        assert!(!h.revoke(&t, Uuid::from_random([3; 16])));
        assert!(h.revoke(&t, u));
        assert_eq!(h.access(&t, 50), None);
    }
}

//! Authenticating what the host stores: user records (HMAC) and signer keys
//! (AEAD).
//!
//! Opening either gives one answer for every kind of damage (bad tag, wrong
//! key, changed field, unknown version), so a host probing with edited
//! blobs learns nothing about which part it got wrong.

use crate::core::{Firmware, encode, mac_eq};
use crate::crypto::{Crypto, GeneratedKey};
use crate::keys::ModuleKeys;
use crate::platform::Platform;
use alloc::vec::Vec;
use sam_proto::ErrorType;
use sam_proto::bounded::Blob;
use sam_proto::ids::{KeyAlgorithm, KeyId, UserId};
use sam_proto::records::{SealedUserRecord, UserRecord, WrappedKey};
use zeroize::Zeroizing;

const RECORD_LABEL: &[u8] = b"sam/user-record/v1";
const WRAP_LABEL: &[u8] = b"sam/wrapped-key/v1";

/// A stored blob failed its authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tampered;

impl<P: Platform> Firmware<P> {
    fn record_mac(&self, keys: &ModuleKeys, record: &UserRecord) -> Result<[u8; 32], ErrorType> {
        Ok(self
            .crypto()
            .hmac_sha256(&keys.record, &[RECORD_LABEL, &encode(record)?]))
    }

    /// Tags a user record.
    pub(crate) fn seal_record(
        &self,
        keys: &ModuleKeys,
        record: UserRecord,
    ) -> Result<SealedUserRecord, ErrorType> {
        let mac = self.record_mac(keys, &record)?;
        Ok(SealedUserRecord { record, mac })
    }

    /// Checks a user record's tag and version.
    pub(crate) fn open_record<'a>(
        &self,
        keys: &ModuleKeys,
        sealed: &'a SealedUserRecord,
    ) -> Result<&'a UserRecord, Tampered> {
        let mac = self
            .record_mac(keys, &sealed.record)
            .map_err(|_| Tampered)?;
        if mac_eq(&mac, &sealed.mac) && sealed.record.version == UserRecord::VERSION {
            Ok(&sealed.record)
        } else {
            Err(Tampered)
        }
    }

    /// Wraps a freshly generated key for `owner`.
    pub(crate) fn wrap_key(
        &self,
        keys: &ModuleKeys,
        key_id: KeyId,
        owner: UserId,
        algorithm: KeyAlgorithm,
        created: i64,
        generated: &GeneratedKey,
    ) -> Result<WrappedKey, ErrorType> {
        let public_key =
            Blob::new(&generated.public_spki).map_err(|_| ErrorType::UnexpectedError)?;
        let mut nonce = [0u8; 12];
        self.platform
            .fill_random(&mut nonce)
            .map_err(|_| ErrorType::NotOperational)?;
        let mut wk = WrappedKey {
            version: WrappedKey::VERSION,
            key_id,
            user_id: owner,
            algorithm,
            created,
            public_key,
            nonce,
            sealed: Blob::default(),
        };
        let aad = wrap_aad(&wk)?;
        let ct = self
            .crypto()
            .aead_seal(&keys.wrap, &nonce, &aad, &generated.private_pkcs8)
            .map_err(|_| ErrorType::UnexpectedError)?;
        wk.sealed = Blob::from_vec(ct).map_err(|_| ErrorType::UnexpectedError)?;
        Ok(wk)
    }

    /// Opens a wrapped key: its PKCS#8 private key, zeroized on drop.
    pub(crate) fn unwrap_key(
        &self,
        keys: &ModuleKeys,
        wk: &WrappedKey,
    ) -> Result<Zeroizing<Vec<u8>>, Tampered> {
        if wk.version != WrappedKey::VERSION {
            return Err(Tampered);
        }
        let aad = wrap_aad(wk).map_err(|_| Tampered)?;
        self.crypto()
            .aead_open(&keys.wrap, &wk.nonce, &aad, &wk.sealed)
            .map_err(|_| Tampered)
    }
}

/// The associated data of a wrapped key: the label and every field before
/// the nonce (see the layout table on [`WrappedKey`]).
fn wrap_aad(wk: &WrappedKey) -> Result<Vec<u8>, ErrorType> {
    let mut aad = Vec::from(WRAP_LABEL);
    aad.extend_from_slice(&bound_fields(wk)?);
    Ok(aad)
}

/// The postcard encoding of the fields a wrapped key binds: version, KeyID,
/// UserID, algorithm, creation time and public key. The AEAD's associated
/// data and the attestation both cover exactly these.
pub(crate) fn bound_fields(wk: &WrappedKey) -> Result<Vec<u8>, ErrorType> {
    encode(&(
        wk.version,
        wk.key_id,
        wk.user_id,
        wk.algorithm,
        wk.created,
        &wk.public_key,
    ))
}

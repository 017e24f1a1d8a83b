//! What a token-authorized (or technically signed) peering request asks
//! for, as its client can compute it.
//!
//! A peering request carries, besides what the client sends, records and
//! wrapped keys that samd looks up in its database. A client far from
//! samd cannot know those bytes, so it cannot sign them. The [`Intent`]
//! holds only what the client chose: the operation's parameters and, for
//! an operation on an existing user, that user's UserID (the *effective
//! target*: the target record's UserID, or the acting user's own when the
//! request names no target). The firmware computes the same intent from
//! the request it received and checks the client's signature over
//!
//! `bound_digest(label, code, challenge, postcard(intent))`
//!
//! (see [`crate::approval`]): [`crate::approval::TOKEN_REQUEST`] with the
//! SAD key bound in an identity token, [`crate::approval::TECHNICAL`]
//! with a Privileged User Technical's key. The challenge comes from
//! GetChallenge and is single use, so one signature authorizes exactly
//! one operation with exactly these parameters, once.
//!
//! A host that substitutes a record cannot make it match: the firmware
//! takes the UserID from the record it opens, and a record of another
//! user gives another intent.

use crate::bounded::{Blob, List};
use crate::command::{MAX_CRI_LEN, MAX_SUBJECT_LEN, NewUser};
use crate::ids::{KeyAlgorithm, KeyId, UserId};
use crate::records::{MAX_CERT_LEN, MAX_IDP_CERTS};
use serde::Serialize;

/// One peering operation and the parameters its client chose. The
/// variant order is part of the signed encoding: append, never reorder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Intent<'a> {
    /// Create_New_Privileged_User.
    CreatePrivilegedUser {
        /// The new user.
        user: &'a NewUser,
        /// For a Privileged User Technical: its certificate (DER).
        technical_certificate: Option<&'a Blob<MAX_CERT_LEN>>,
    },
    /// Create_New_Signer.
    CreateSigner {
        /// The new signer.
        user: &'a NewUser,
    },
    /// Signer_Maintenance.
    SignerMaintenance {
        /// The maintained user.
        target: UserId,
        /// Its new IdP certificates (DER).
        certificates: &'a List<Blob<MAX_CERT_LEN>, MAX_IDP_CERTS>,
    },
    /// Generate_Signer_Key_Pair.
    GenerateKeyPair {
        /// The key's owner.
        target: UserId,
        /// Key type and size.
        algorithm: KeyAlgorithm,
        /// The subject (DER Name) of the certification request the
        /// firmware signs with the new key; `None` for no request.
        subject: Option<&'a Blob<MAX_SUBJECT_LEN>>,
    },
    /// Sign_Certification_Request.
    SignCertificationRequest {
        /// The key.
        key_id: KeyId,
        /// The DER CertificationRequestInfo to sign.
        request_info: &'a Blob<MAX_CRI_LEN>,
    },
    /// Delete_Signer_Key_Pair.
    DeleteKeyPair {
        /// The key.
        key_id: KeyId,
    },
    /// Register_Certificate (appended: the variant index is signed).
    RegisterCertificate {
        /// The key.
        key_id: KeyId,
        /// The certificate to register (DER).
        certificate: &'a Blob<MAX_CERT_LEN>,
    },
}

impl Intent<'_> {
    /// The postcard encoding that is signed. Encoding a value of bounded
    /// fields into a growable buffer cannot fail; `None` only if postcard
    /// itself did.
    pub fn encode(&self) -> Option<alloc::vec::Vec<u8>> {
        postcard::to_allocvec(self).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Uuid;

    /// The signed layout, as a remote client must reproduce it: the
    /// variant index, then the fields in order, postcard style.
    #[test]
    fn intents_keep_their_layout() {
        let key_id = Uuid::from_random([0x11; 16]);
        let mut want = alloc::vec![5u8];
        want.extend_from_slice(&key_id.0);
        assert_eq!(Intent::DeleteKeyPair { key_id }.encode(), Some(want));
        let target = Uuid::from_random([0x22; 16]);
        let subject = Blob::<MAX_SUBJECT_LEN>::new(&[0x30, 0x00]).unwrap();
        let mut want = alloc::vec![3u8];
        want.extend_from_slice(&target.0);
        want.extend_from_slice(&[1, 1, 2, 0x30, 0x00]);
        let intent = Intent::GenerateKeyPair {
            target,
            algorithm: KeyAlgorithm::EcP384,
            subject: Some(&subject),
        };
        assert_eq!(intent.encode(), Some(want));
    }
}

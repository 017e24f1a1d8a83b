//! The messages that approve a firmware command: an administrator's
//! dual-control approval and a Privileged User Technical's technical
//! signature (DESIGN §4).
//!
//! Both bind a signature to one command, its parameters and one fresh
//! challenge. The firmware verifies them and samctl (or a test) makes
//! them, so the layout lives here, once; the hash is passed in, because
//! the firmware computes it with its own crypto engine and samctl with
//! an ordinary SHA-256 library. `sha256` must return SHA-256 of the
//! concatenation of its parts.
//!
//! Layout: `SHA-256(label ‖ challenge ‖ code BE ‖ SHA-256(params))`, with
//! `code` the sub-function code as two big-endian bytes, `params` the
//! postcard encoding of what the signature covers (a dual-control
//! command's parameters; for a technical signature or a token's request
//! proof, the request's [`crate::intent::Intent`]), and a label per kind of
//! signer so that one can never stand in for the other.

use crate::command::SubFunction;

/// The label of an administrator's approval of a dual-control command
/// (ECDSA P-256).
pub const ADMIN_APPROVAL: &[u8] = b"sam/admin-approval/v1";

/// The label of a Privileged User Technical's technical signature over a
/// request's [`crate::intent::Intent`].
pub const TECHNICAL: &[u8] = b"sam/technical/v1";

/// The label of a request proof: the SAD key bound in an identity token
/// signs the request's [`crate::intent::Intent`], so that the token alone
/// authorizes nothing.
pub const TOKEN_REQUEST: &[u8] = b"sam/token-request/v1";

/// The label of the HSM operator's logon for InitFirmware: the message
/// the operator's response covers is the digest under this label of the
/// InitFirmware parameters, with the approvals' challenge. Binding the
/// parameters means a relayed response cannot initialize with other
/// administrators or another MBK slot; binding the single-use challenge
/// means it cannot be used twice.
pub const OPERATOR_LOGON: &[u8] = b"sam/operator-logon/v1";

/// The digest signed under `label` ([`ADMIN_APPROVAL`], [`TECHNICAL`],
/// [`TOKEN_REQUEST`] or [`OPERATOR_LOGON`])
/// for command `code` with parameters `params` under `challenge`.
pub fn bound_digest(
    label: &[u8],
    code: SubFunction,
    challenge: &[u8; 32],
    params: &[u8],
    mut sha256: impl FnMut(&[&[u8]]) -> [u8; 32],
) -> [u8; 32] {
    let inner = sha256(&[params]);
    sha256(&[label, challenge, &code.code().to_be_bytes(), &inner])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha256(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    /// Known answers, from the firmware's digests before the layout moved
    /// here and recomputed independently from the module comment: a
    /// signature made before must still verify.
    #[test]
    fn digests_keep_their_layout() {
        let a = bound_digest(
            ADMIN_APPROVAL,
            SubFunction::InitFirmware,
            &[7; 32],
            b"params",
            sha256,
        );
        let t = bound_digest(
            TECHNICAL,
            SubFunction::CreateSigner,
            &[9; 32],
            b"params",
            sha256,
        );
        assert_eq!(
            hex::encode(a),
            "20203a93653af418dd044d3d9812accac60a12cc8063ac1ee9890c52eea924d1"
        );
        assert_eq!(
            hex::encode(t),
            "8fcfcdb56fdceda81f3ceb7c0f7b88d8d7c0084e11a50d1b3c5ba20f2a707c4c"
        );
    }

    /// Known answer of the operator logon message, computed independently
    /// (Python hashlib) from the module comment's layout.
    #[test]
    fn operator_logon_digest_has_its_own_label() {
        let o = bound_digest(
            OPERATOR_LOGON,
            SubFunction::InitFirmware,
            &[5; 32],
            b"params",
            sha256,
        );
        assert_eq!(
            hex::encode(o),
            "21e0d6985e0a5de8f44b178969a86d9f8dcc261c04fe0f0dadfafa9ac059b757"
        );
    }
}

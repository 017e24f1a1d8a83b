//! Signer keys: generation, certification request, deletion (seed §7.1.4,
//! §7.1.5, §5.4).
//!
//! A private key exists in plaintext only inside one of these calls (and
//! inside Signing); it leaves the firmware only wrapped, and every
//! plaintext copy is a `Zeroizing` buffer that is wiped when the call ends,
//! on every path.

use super::{Failure, effective_target, require_role};
use crate::audit::{Refusal, Subject, refusal};
use crate::auth::Actor;
use crate::core::{Firmware, Operational};
use crate::crypto::Crypto;
use crate::platform::Platform;
use crate::registry::KeyState;
use crate::signer_cert;
use crate::signing_alg::csr_hash;
use der::{Decode, Encode};
use sam_proto::ErrorType;
use sam_proto::asn1::{SchemeKind, signature_algorithm};
use sam_proto::bounded::Blob;
use sam_proto::codes::Cause;
use sam_proto::command::{
    Audited, CertificateRegistered, CertificationRequestSigned, DeleteKeyPair, GenerateKeyPair,
    KeyPairGenerated, MAX_CSR_LEN, MAX_SUBJECT_LEN, RegisterCertificate, SignCertificationRequest,
    SubFunction,
};
use sam_proto::ids::{KeyAlgorithm, KeyId, Role, Uuid};
use sam_proto::intent::Intent;
use sam_proto::records::{SealedUserRecord, UserRecord, WrappedKey};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

/// Label of the attestation over a new key.
const ATTEST_LABEL: &[u8] = b"sam/attest/v1";

impl<P: Platform> Firmware<P> {
    /// Generate_Signer_Key_Pair.
    ///
    /// The key is for `target` (the acting user if `None`), which must be
    /// a Signer (InvalidInput otherwise, or if its record fails its tag). A
    /// Signer may generate only for itself (NotAuthorized). The answer
    /// carries the wrapped key and the attestation: an ECDSA P-256
    /// signature by the SAM's attestation key over [`attestation_digest`].
    ///
    /// With a `subject` (strict DER Name, InvalidInput otherwise), the
    /// firmware also builds the PKCS#10 request for that subject and the
    /// new key's own public key and signs it with the new key, in this
    /// same operation: the certification request is part of key
    /// generation, whose intent (subject included) the acting user signed,
    /// and no later call can obtain one for a key of another user.
    pub(super) fn generate_key_pair(
        &self,
        req: GenerateKeyPair,
    ) -> Result<KeyPairGenerated, Failure> {
        let code = SubFunction::GenerateKeyPair;
        let intent = |actor| Intent::GenerateKeyPair {
            target: effective_target(req.target.as_ref(), actor),
            algorithm: req.algorithm,
            subject: req.subject.as_ref(),
        };
        self.authenticated(
            code,
            &req.auth,
            intent,
            |op, actor, subject| -> Result<_, Refusal> {
                require_role(actor.role(), &[Role::PrivilegedUser, Role::Signer])?;
                let owner = self.target_signer(op, actor, req.target.as_ref())?;
                subject.target_user = Some(owner.user_id);
                let csr_subject = req.subject.as_ref().map(strict_name).transpose()?;
                let key_id = Uuid::from_random(self.random16()?);
                subject.key_id = Some(key_id);
                let created = self.now()?;
                let generated = self.with_rng(|rng| {
                    self.crypto()
                        .generate(req.algorithm, rng)
                        .map_err(|_| ErrorType::UnexpectedError)
                })?;
                let wrapped = self.wrap_key(
                    &op.keys,
                    key_id,
                    owner.user_id,
                    req.algorithm,
                    created,
                    &generated,
                )?;
                let csr = match csr_subject {
                    None => None,
                    Some(name) => {
                        let public_key =
                            SubjectPublicKeyInfoOwned::from_der(&generated.public_spki)
                                .map_err(|_| ErrorType::UnexpectedError)?;
                        let info = CertReqInfo {
                            version: Version::V1,
                            subject: name,
                            public_key,
                            attributes: Default::default(),
                        };
                        Some(self.sign_request_info(
                            info,
                            &generated.private_pkcs8,
                            req.algorithm,
                        )?)
                    }
                };
                drop(generated);
                let digest = attestation_digest(self.crypto(), &wrapped)?;
                let attestation = self.attest(&op.keys, &digest)?;
                // Registered last, once nothing else can fail before the
                // audit record: the key is PRE_ACTIVE until a certificate is
                // registered.
                self.register_new_key(key_id)?;
                Ok((wrapped, attestation, csr))
            },
            |(wrapped, attestation, csr), audit| KeyPairGenerated {
                wrapped,
                attestation,
                csr,
                audit,
            },
        )
    }

    /// Sign_Certification_Request: a PKCS#10 request signed by a signer
    /// key, for a CertificationRequestInfo its owner proposes.
    ///
    /// Only the key's owner may ask: a Signer for its own key (another
    /// user's key: NotAuthorized; a Privileged User: NotAuthorized, it gets
    /// the request at key generation, see [`Self::generate_key_pair`]).
    /// The firmware signs only a strict-DER CertificationRequestInfo of
    /// version 1 whose subjectPKInfo is byte for byte the public key bound
    /// in the wrapped key (InvalidInput otherwise): a host cannot obtain a
    /// proof of possession for a key it substituted.
    pub(super) fn sign_certification_request(
        &self,
        req: SignCertificationRequest,
    ) -> Result<CertificationRequestSigned, Failure> {
        let code = SubFunction::SignCertificationRequest;
        let intent = |_| Intent::SignCertificationRequest {
            key_id: req.wrapped.key_id,
            request_info: &req.request_info,
        };
        self.authenticated(
            code,
            &req.auth,
            intent,
            |op, actor, subject| -> Result<_, Refusal> {
                subject.key_id = Some(req.wrapped.key_id);
                subject.target_user = Some(req.wrapped.user_id);
                require_role(actor.role(), &[Role::Signer])?;
                let private = self
                    .unwrap_key(&op.keys, &req.wrapped)
                    .map_err(|_| refusal(ErrorType::InvalidInput, Cause::WrappedKeyInvalid))?;
                if actor.user_id() != req.wrapped.user_id {
                    return Err(refusal(ErrorType::NotAuthorized, Cause::NotOwnKey));
                }
                self.key_state(&req.wrapped.key_id)?;
                let bad_info = refusal(ErrorType::InvalidInput, Cause::BadRequestInfo);
                let info = CertReqInfo::from_der(&req.request_info).map_err(|_| bad_info)?;
                let reencoded = info.to_der().map_err(|_| bad_info)?;
                let key = info.public_key.to_der().map_err(|_| bad_info)?;
                if reencoded != req.request_info.as_slice()
                    || info.version != Version::V1
                    || key != req.wrapped.public_key.as_slice()
                {
                    return Err(bad_info);
                }
                let csr = self.sign_request_info(info, &private, req.wrapped.algorithm)?;
                drop(private);
                Ok(csr)
            },
            |csr, audit| CertificationRequestSigned { csr, audit },
        )
    }

    /// The DER PKCS#10 request of `info`, signed with the PKCS#8 key
    /// `private` of algorithm `alg`.
    fn sign_request_info(
        &self,
        info: CertReqInfo,
        private: &[u8],
        alg: KeyAlgorithm,
    ) -> Result<Blob<MAX_CSR_LEN>, ErrorType> {
        let der = info.to_der().map_err(|_| ErrorType::InvalidInput)?;
        let hash = csr_hash(alg);
        let digest = self.crypto().digest(hash, &[&der]);
        let signature = self.with_rng(|rng| {
            self.crypto()
                .sign(private, alg, hash, digest.as_bytes(), rng)
                .map_err(|_| ErrorType::UnexpectedError)
        })?;
        let scheme = if alg.rsa_bits().is_some() {
            SchemeKind::RsaPkcs1v15
        } else {
            SchemeKind::Ecdsa
        };
        let csr = CertReq {
            info,
            algorithm: signature_algorithm(hash, scheme),
            signature: der::asn1::BitString::from_bytes(&signature)
                .map_err(|_| ErrorType::UnexpectedError)?,
        };
        let der = csr.to_der().map_err(|_| ErrorType::UnexpectedError)?;
        Blob::from_vec(der).map_err(|_| ErrorType::InvalidInput)
    }

    /// Delete_Signer_Key_Pair: the firmware authorizes, forgets the key and
    /// audits; the host deletes its copy. No wrapped key for `key_id` (the
    /// host found none, or gave one with another KeyID) is NotFound, and so
    /// is a KeyID the registry does not hold (already deleted: a retained
    /// copy stays dead); a wrapped key that fails its tag is InvalidInput; a
    /// Signer may delete only its own keys, a Privileged User any
    /// (NotAuthorized otherwise).
    pub(super) fn delete_key_pair(&self, req: DeleteKeyPair) -> Result<Audited, Failure> {
        let code = SubFunction::DeleteKeyPair;
        let intent = |_| Intent::DeleteKeyPair { key_id: req.key_id };
        self.authenticated(
            code,
            &req.auth,
            intent,
            |op, actor, subject| -> Result<_, Refusal> {
                self.managed_key(op, actor, subject, req.key_id, req.wrapped.as_ref())?;
                Ok(self.update_key(req.key_id, None)?)
            },
            |(), audit| Audited { audit },
        )
    }

    /// The checks Delete_Signer_Key_Pair and Register_Certificate share:
    /// the actor is a Privileged User or a Signer, the host gave the
    /// wrapped key of `key_id` (NotFound otherwise), its tag holds
    /// (InvalidInput), and a Signer acts on its own keys only
    /// (NotAuthorized). Fills the audit subject as it learns it.
    fn managed_key<'w>(
        &self,
        op: &Operational,
        actor: &Actor,
        subject: &mut Subject,
        key_id: KeyId,
        wrapped: Option<&'w WrappedKey>,
    ) -> Result<&'w WrappedKey, Refusal> {
        subject.key_id = Some(key_id);
        require_role(actor.role(), &[Role::PrivilegedUser, Role::Signer])?;
        let wrapped = wrapped
            .filter(|w| w.key_id == key_id)
            .ok_or(refusal(ErrorType::NotFound, Cause::KeyNotFound))?;
        subject.target_user = Some(wrapped.user_id);
        self.unwrap_key(&op.keys, wrapped)
            .map_err(|_| refusal(ErrorType::InvalidInput, Cause::WrappedKeyInvalid))?;
        if actor.role() == Role::Signer && actor.user_id() != wrapped.user_id {
            return Err(refusal(ErrorType::NotAuthorized, Cause::NotOwnKey));
        }
        Ok(wrapped)
    }

    /// Register_Certificate: activates a key with a certificate the
    /// firmware checked ([`crate::signer_cert::check`] against the policy's
    /// signing CAs, at the platform time).
    ///
    /// Authorized like the other key operations: the key's owner (a
    /// Signer, for its own keys only) or a Privileged User (NotAuthorized
    /// otherwise). No wrapped key for `key_id`, or a key the registry does
    /// not hold, is NotFound; a wrapped key that fails its tag is
    /// InvalidInput; a certificate that fails a check is InvalidInput. A
    /// key that is already active gets the new certificate (renewal).
    pub(super) fn register_certificate(
        &self,
        req: RegisterCertificate,
    ) -> Result<CertificateRegistered, Failure> {
        let code = SubFunction::RegisterCertificate;
        let intent = |_| Intent::RegisterCertificate {
            key_id: req.key_id,
            certificate: &req.certificate,
        };
        self.authenticated(
            code,
            &req.auth,
            intent,
            |op, actor, subject| -> Result<_, Refusal> {
                let wrapped =
                    self.managed_key(op, actor, subject, req.key_id, req.wrapped.as_ref())?;
                self.key_state(&req.key_id)?;
                let accepted = signer_cert::check(
                    self.crypto(),
                    &req.certificate,
                    &wrapped.public_key,
                    &op.config.policy.signing_cas,
                    self.now()?,
                )
                .map_err(|_| refusal(ErrorType::InvalidInput, Cause::CertificateRefused))?;
                let state = KeyState::Active {
                    fingerprint: accepted.fingerprint,
                    not_before: accepted.not_before,
                    not_after: accepted.not_after,
                };
                self.update_key(req.key_id, Some(state))?;
                Ok(accepted)
            },
            |accepted, audit| CertificateRegistered {
                fingerprint: accepted.fingerprint,
                not_before: accepted.not_before,
                not_after: accepted.not_after,
                audit,
            },
        )
    }

    /// The Signer a key operation is for: the actor itself, or the
    /// authenticated `target`.
    fn target_signer(
        &self,
        op: &Operational,
        actor: &Actor,
        target: Option<&SealedUserRecord>,
    ) -> Result<UserRecord, Refusal> {
        let record = match target {
            None => actor.record.clone(),
            Some(sealed) => self
                .open_current(&op.keys, sealed)
                .map_err(|_| refusal(ErrorType::InvalidInput, Cause::TargetRecordInvalid))?
                .clone(),
        };
        if actor.role() == Role::Signer && record.user_id != actor.user_id() {
            return Err(refusal(ErrorType::NotAuthorized, Cause::NotOwnUser));
        }
        if record.role != Role::Signer {
            return Err(refusal(ErrorType::InvalidInput, Cause::TargetNotSigner));
        }
        Ok(record)
    }

    /// 16 random bytes.
    fn random16(&self) -> Result<[u8; 16], ErrorType> {
        let mut b = [0u8; 16];
        self.platform
            .fill_random(&mut b)
            .map_err(|_| ErrorType::NotOperational)?;
        Ok(b)
    }
}

/// A subject Name in strict DER (decodes, and encodes back to the same
/// bytes); InvalidInput otherwise.
fn strict_name(der: &Blob<MAX_SUBJECT_LEN>) -> Result<Name, ErrorType> {
    let name = Name::from_der(der).map_err(|_| ErrorType::InvalidInput)?;
    let again = name.to_der().map_err(|_| ErrorType::InvalidInput)?;
    if again != der.as_slice() {
        return Err(ErrorType::InvalidInput);
    }
    Ok(name)
}

/// What the attestation key signs for a new key:
/// `SHA-256("sam/attest/v1" ‖ postcard(version, key_id, user_id, algorithm,
/// created, public_key))`, the same fields that the wrapped key binds as
/// associated data. A relying party holding the attestation key (from
/// GetStatus) learns that this public key was generated inside a SAM for
/// this user and KeyID.
pub fn attestation_digest<C: Crypto + ?Sized>(
    crypto: &C,
    wk: &WrappedKey,
) -> Result<[u8; 32], ErrorType> {
    let bytes = crate::sealing::bound_fields(wk)?;
    Ok(crate::crypto::sha256(crypto, &[ATTEST_LABEL, &bytes]))
}

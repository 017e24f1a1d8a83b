//! DEV-ONLY identity provider: issues `SignedIdentityToken`s (seed §8.2)
//! and implements `POST /id-token/sad` (seed §7.5.1) as a library call.

use crate::{DEV_ORGANIZATION, DevPkiError, rand};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::{Decode, Encode};
use rcgen::{
    CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, PublicKeyData, RsaKeySize, SigningKey,
};
use sam_client::idp::EmbedSadKeyRequest;
use sam_client::verify::{KeyKind, verify_message};
use sam_proto::asn1::{
    CompactIdentityToken, IdentificationLevel, IssuerSerial, SchemeKind, SignedIdentityToken, oids,
    signature_algorithm,
};
use sam_proto::ids::{HashAlgorithm, UserId, Uuid};
use std::fmt;
use std::path::Path;
use x509_cert::Certificate;

/// The IdP's key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdpKeyType {
    /// ECDSA P-256, tokens signed `ecdsa-with-SHA256` (the default).
    #[default]
    P256,
    /// RSA-2048, tokens signed `sha256WithRSAEncryption`.
    Rsa2048,
}

/// What goes into a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParams {
    /// The user.
    pub user_id: UserId,
    /// The identification level (the firmware signs only for
    /// `Substantial` or `High`).
    pub level: IdentificationLevel,
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity (inclusive), Unix seconds.
    pub not_after: u64,
    /// The DER SPKI of a SAD key; when given, the token also carries the
    /// scope `"signing"`.
    pub sad_public_key: Option<Vec<u8>>,
}

/// A refusal of `POST /id-token/sad`, with the seed's statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpRefusal {
    /// 400, 404 or 500.
    pub status: u16,
    /// `InvalidRequest`, `Unauthorized` or `InternalError`.
    pub kind: &'static str,
    /// Why.
    pub detail: String,
}

impl IdpRefusal {
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            kind: "InvalidRequest",
            detail: format!("invalid request data: {}", detail.into()),
        }
    }

    fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            status: 404,
            kind: "Unauthorized",
            detail: format!("authenticated session not available: {}", detail.into()),
        }
    }

    fn internal(detail: impl fmt::Display) -> Self {
        dev_warn!("IdP internal error: {detail}");
        Self {
            status: 500,
            kind: "InternalError",
            detail: "unexpected internal error".into(),
        }
    }
}

/// A DEV-ONLY identity provider: a key and its self-signed certificate.
///
/// The certificate is what the administrators import into the firmware
/// (`SetIdpKeys`) and list in each user's record; the token's `signer`
/// names it by issuer and serial number.
pub struct DevIdp {
    key: KeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
    spki: Vec<u8>,
    signer: IssuerSerial,
    scheme: SchemeKind,
}

impl fmt::Debug for DevIdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIdp")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl DevIdp {
    /// A new IdP with a fresh key and a self-signed certificate valid for
    /// ten years.
    pub fn generate(kind: IdpKeyType) -> Result<Self, DevPkiError> {
        let key = match kind {
            IdpKeyType::P256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            IdpKeyType::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?,
        };
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "SAM DEV-ONLY Identity Provider");
        params
            .distinguished_name
            .push(DnType::OrganizationName, DEV_ORGANIZATION);
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(rcgen::SerialNumber::from_slice(rand::serial()?.as_bytes()));
        crate::pki::set_validity(&mut params, 3650)?;
        let cert = params.self_signed(&key)?;
        dev_info!("generated an identity provider key ({kind:?}) and certificate");
        Self::from_parts(key, cert.der().to_vec(), cert.pem())
    }

    /// The IdP of a certificate and its key, both PEM.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, DevPkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let cert_der = crate::pki::pem_certificate(cert_pem)?;
        Self::from_parts(key, cert_der, cert_pem.to_owned())
    }

    /// The IdP of the PEM files `cert` and `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, DevPkiError> {
        Self::from_pem(&crate::pki::read(cert)?, &crate::pki::read(key)?)
    }

    fn from_parts(key: KeyPair, cert_der: Vec<u8>, cert_pem: String) -> Result<Self, DevPkiError> {
        let cert = Certificate::from_der(&cert_der)?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info().to_der()?;
        if spki != key.subject_public_key_info() {
            return Err(DevPkiError::Crypto(
                "the IdP key does not belong to the IdP certificate".into(),
            ));
        }
        let scheme = KeyKind::of_spki(&spki)?.scheme();
        let signer = IssuerSerial::new(tbs.issuer(), tbs.serial_number())?;
        Ok(Self {
            key,
            cert_der,
            cert_pem,
            spki,
            signer,
            scheme,
        })
    }

    /// The DER certificate (to import into the firmware and to list in
    /// user records).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The PEM certificate.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The PKCS#8 PEM of the key.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A signed token (DER `SignedIdentityToken`) for `params`.
    pub fn issue_token(&self, params: &TokenParams) -> Result<Vec<u8>, DevPkiError> {
        let mut data = CompactIdentityToken::new(
            &params.user_id.to_string(),
            params.not_before,
            params.not_after,
        )?
        .with_identification_level(params.level)?;
        if let Some(spki) = &params.sad_public_key {
            data = data
                .with_sad_public_key(spki)?
                .with_signing_scope(sam_client::SIGNING_SCOPE)?;
        }
        let signature = self.key.sign(&data.to_der()?)?;
        let token = SignedIdentityToken {
            data,
            signer: self.signer.clone(),
            signature_algorithm: signature_algorithm(HashAlgorithm::Sha256, self.scheme),
            signature: der::asn1::OctetString::new(signature)?,
            token_type: Some(oids::IDENTITY_TOKEN_TYPE),
        };
        let der = token.to_der()?;
        dev_info!(
            "issued an identity token for user {} (level {:?}, valid {}..={}{})",
            params.user_id,
            params.level,
            params.not_before,
            params.not_after,
            if params.sad_public_key.is_some() {
                ", with a SAD key and scope \"signing\""
            } else {
                ""
            }
        );
        Ok(der)
    }

    /// A login token for `user_id`: valid from `now` for `lifetime_secs`,
    /// no SAD key.
    pub fn login_token(
        &self,
        user_id: UserId,
        level: IdentificationLevel,
        now: u64,
        lifetime_secs: u64,
    ) -> Result<Vec<u8>, DevPkiError> {
        self.issue_token(&TokenParams {
            user_id,
            level,
            not_before: now,
            not_after: now.saturating_add(lifetime_secs),
            sad_public_key: None,
        })
    }

    /// Checks a token this IdP issued: strict DER, `signer` is this IdP's
    /// certificate, the signature verifies, `now` is inside the validity.
    /// The decoded token.
    pub fn verify_token(&self, der: &[u8], now: u64) -> Result<SignedIdentityToken, DevPkiError> {
        let token = SignedIdentityToken::from_der_strict(der)?;
        if token.signer != self.signer {
            return Err(DevPkiError::Refused(
                "the token is not from this IdP".into(),
            ));
        }
        verify_message(
            &self.spki,
            HashAlgorithm::Sha256,
            &token.signed_bytes()?,
            token.signature.as_bytes(),
        )?;
        let nb = token.data.not_before.to_unix_duration().as_secs();
        let na = token.data.not_after.to_unix_duration().as_secs();
        if now < nb || now > na {
            return Err(DevPkiError::Refused(format!(
                "the token is valid {nb}..={na}, not at {now}"
            )));
        }
        Ok(token)
    }

    /// `POST /id-token/sad` as a function: the re-issued token (DER) with
    /// the SAD key of `request`, valid from `now` for `lifetime_secs`.
    ///
    /// The user is the one of `request.id_token`, a token of this IdP that
    /// verifies and is valid at `now`, and its identification level is
    /// kept. `request.user_id` (DEV-ONLY: the user is believed without
    /// any authentication) is accepted only if `dev_user_id_level` is
    /// given, and then gets that level.
    pub fn embed_sad_key(
        &self,
        request: &EmbedSadKeyRequest,
        now: u64,
        lifetime_secs: u64,
        dev_user_id_level: Option<IdentificationLevel>,
    ) -> Result<Vec<u8>, IdpRefusal> {
        let sad_key = STANDARD
            .decode(request.sad_public_key.as_bytes())
            .map_err(|e| IdpRefusal::invalid(format!("sadPublicKey is not base64: {e}")))?;
        KeyKind::of_spki(&sad_key)
            .map_err(|e| IdpRefusal::invalid(format!("sadPublicKey: {e}")))?;
        let (user_id, level) = match (&request.id_token, &request.user_id) {
            (Some(token), None) => {
                let der = STANDARD
                    .decode(token.as_bytes())
                    .map_err(|e| IdpRefusal::invalid(format!("idToken is not base64: {e}")))?;
                let login = self
                    .verify_token(&der, now)
                    .map_err(|e| IdpRefusal::unauthorized(e.to_string()))?;
                let user = Uuid::parse(&login.data.user_id)
                    .map_err(|_| IdpRefusal::invalid("the token's userId is not a UUID"))?;
                let level = login
                    .data
                    .identification_level()
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        IdpRefusal::unauthorized("the token has no identification level")
                    })?;
                (user, level)
            }
            (None, Some(user)) => {
                let level = dev_user_id_level.ok_or_else(|| {
                    IdpRefusal::unauthorized("userId login is switched off; send idToken")
                })?;
                let user =
                    Uuid::parse(user).map_err(|_| IdpRefusal::invalid("userId is not a UUID"))?;
                dev_warn!("believing userId {user} without authentication");
                (user, level)
            }
            _ => {
                return Err(IdpRefusal::invalid(
                    "give exactly one of idToken and userId",
                ));
            }
        };
        self.issue_token(&TokenParams {
            user_id,
            level,
            not_before: now,
            not_after: now.saturating_add(lifetime_secs),
            sad_public_key: Some(sad_key),
        })
        .map_err(IdpRefusal::internal)
    }
}

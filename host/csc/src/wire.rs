//! The JSON of both API versions: CSC v2.0.0.2 under `/csc/v2` and CSC
//! v1.0.4.0 under `/csc/v1`. Requests are read leniently (unknown
//! members are ignored: deployed clients send extras such as
//! `clientData` or `signAlgoParams`); answers are written exactly.
//! The service works on one internal model ([`crate::service`]); these
//! types are its two renderings.

use serde::{Deserialize, Serialize};

/// `info` (both versions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoAnswer {
    /// `"2.0.0.2"` or `"1.0.4.0"`.
    pub specs: String,
    /// The service's name.
    pub name: String,
    /// URI of the logo.
    pub logo: String,
    /// ISO 3166-1 alpha-2 code.
    pub region: String,
    /// Language of the answers (`en-US`).
    pub lang: String,
    /// Free text.
    pub description: String,
    /// Authorization mechanisms: `external` (an identity token of the
    /// IdP as bearer) and, when configured, `oauth2code`.
    #[serde(rename = "authType")]
    pub auth_type: Vec<String>,
    /// OAuth2 base URI, when OAuth2 is offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<String>,
    /// The methods of this version the service implements.
    pub methods: Vec<String>,
}

/// `auth/login` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAnswer {
    /// Opaque access token for later calls.
    pub access_token: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// `auth/revoke` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct RevokeRequest {
    /// The token to revoke; absent: the bearer token of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `access_token` (the only kind this service issues).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<String>,
}

/// `credentials/list` request (both versions; v1 knows only `userID`,
/// `maxResults`, `pageToken`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ListRequest {
    /// Must be the caller's own UserID if given.
    #[serde(default, rename = "userID", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// v2: also return the credentials' info.
    #[serde(
        default,
        rename = "credentialInfo",
        skip_serializing_if = "Option::is_none"
    )]
    pub credential_info: Option<bool>,
    /// v2: which certificates with `credentialInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<String>,
    /// v2: certificate details with `credentialInfo`.
    #[serde(default, rename = "certInfo", skip_serializing_if = "Option::is_none")]
    pub cert_info: Option<bool>,
    /// v2: only credentials with a valid certificate.
    #[serde(default, rename = "onlyValid", skip_serializing_if = "Option::is_none")]
    pub only_valid: Option<bool>,
    /// v1: at most this many IDs.
    #[serde(
        default,
        rename = "maxResults",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<u32>,
}

/// `credentials/list` answer, v2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAnswerV2 {
    /// The caller's credentials.
    #[serde(rename = "credentialIDs")]
    pub credential_ids: Vec<String>,
    /// With `credentialInfo: true`: the info of each, in the same order.
    #[serde(
        default,
        rename = "credentialInfos",
        skip_serializing_if = "Option::is_none"
    )]
    pub credential_infos: Option<Vec<CredentialInfoV2>>,
}

/// `credentials/list` answer, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAnswerV1 {
    /// The caller's credentials.
    #[serde(rename = "credentialIDs")]
    pub credential_ids: Vec<String>,
}

/// `credentials/info` request (both versions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct InfoRequest {
    /// The credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// `none`, `single` (default) or `chain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<String>,
    /// Certificate details (`issuerDN`, ...).
    #[serde(default, rename = "certInfo", skip_serializing_if = "Option::is_none")]
    pub cert_info: Option<bool>,
    /// v2: the `auth` object.
    #[serde(default, rename = "authInfo", skip_serializing_if = "Option::is_none")]
    pub auth_info: Option<bool>,
}

/// `key` of `credentials/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// `enabled` or `disabled`.
    pub status: String,
    /// Signature algorithm OIDs the key signs with.
    pub algo: Vec<String>,
    /// Key length in bits.
    pub len: u32,
    /// Curve OID of an EC key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
}

/// `cert` of `credentials/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    /// `valid`, `expired`, `not_yet_valid` (or absent without a
    /// certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Base64 DER certificates, the signer's first, then its chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<Vec<String>>,
    /// RFC 4514 issuer.
    #[serde(default, rename = "issuerDN", skip_serializing_if = "Option::is_none")]
    pub issuer_dn: Option<String>,
    /// Serial number, hex.
    #[serde(
        default,
        rename = "serialNumber",
        skip_serializing_if = "Option::is_none"
    )]
    pub serial_number: Option<String>,
    /// RFC 4514 subject.
    #[serde(default, rename = "subjectDN", skip_serializing_if = "Option::is_none")]
    pub subject_dn: Option<String>,
    /// GeneralizedTime text `YYYYMMDDHHMMSSZ`.
    #[serde(default, rename = "validFrom", skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// GeneralizedTime text `YYYYMMDDHHMMSSZ`.
    #[serde(default, rename = "validTo", skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
}

/// `auth` of a v2 `credentials/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfoV2 {
    /// `explicit` (credentials/authorize) or `oauth2code`.
    pub mode: String,
}

/// `credentials/info` answer, v2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfoV2 {
    /// The credential (in `credentialInfos` of `credentials/list`).
    #[serde(
        default,
        rename = "credentialID",
        skip_serializing_if = "Option::is_none"
    )]
    pub credential_id: Option<String>,
    /// Free text.
    pub description: String,
    /// The key.
    pub key: KeyInfo,
    /// The certificate.
    pub cert: CertInfo,
    /// How to authorize.
    pub auth: AuthInfoV2,
    /// `"2"`: the hashes are bound to the authorization.
    #[serde(rename = "SCAL")]
    pub scal: String,
    /// Most signatures one authorization may give.
    pub multisign: u32,
    /// Language.
    pub lang: String,
}

/// `credentials/info` answer, v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialInfoV1 {
    /// Free text.
    pub description: String,
    /// The key.
    pub key: KeyInfo,
    /// The certificate.
    pub cert: CertInfo,
    /// `explicit` or `oauth2code`.
    #[serde(rename = "authMode")]
    pub auth_mode: String,
    /// `"2"`.
    #[serde(rename = "SCAL")]
    pub scal: String,
    /// Most signatures one authorization may give.
    pub multisign: u32,
    /// Language.
    pub lang: String,
}

/// One entry of v2 `authData`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuthData {
    /// `SAD`: the base64 DER seed §8.1 SAD.
    pub id: String,
    /// The value.
    pub value: String,
}

/// `credentials/authorize` request, v2.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuthorizeRequestV2 {
    /// The credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// Signatures to authorize: the number of hashes.
    #[serde(rename = "numSignatures")]
    pub num_signatures: u32,
    /// Base64 hashes (required: SCAL 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Vec<String>>,
    /// Dotted OID of the hash algorithm.
    #[serde(
        default,
        rename = "hashAlgorithmOID",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_algorithm_oid: Option<String>,
    /// `[{"id": "SAD", "value": "<base64 DER seed SAD>"}]`.
    #[serde(default, rename = "authData", skip_serializing_if = "Option::is_none")]
    pub auth_data: Option<Vec<AuthData>>,
}

/// `credentials/authorize` request, v1 (pyHanko's
/// `format_csc_auth_request` shape).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuthorizeRequestV1 {
    /// The credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// Signatures to authorize: the number of hashes.
    #[serde(rename = "numSignatures")]
    pub num_signatures: u32,
    /// Base64 hashes (required: SCAL 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Vec<String>>,
    /// The base64 DER seed SAD.
    #[serde(
        default,
        rename = "clientData",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_data: Option<String>,
}

/// `credentials/authorize` answer (both versions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeAnswer {
    /// The opaque, single-use handle.
    #[serde(rename = "SAD")]
    pub sad: String,
    /// Seconds it stays valid.
    #[serde(rename = "expiresIn")]
    pub expires_in: u64,
}

/// `signatures/signHash` request, v2.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SignHashRequestV2 {
    /// The credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// The handle of `credentials/authorize`; absent with an OAuth2
    /// credential-scope access token.
    #[serde(default, rename = "SAD", skip_serializing_if = "Option::is_none")]
    pub sad: Option<String>,
    /// Base64 hashes.
    pub hashes: Vec<String>,
    /// Dotted OID of the hash algorithm.
    #[serde(
        default,
        rename = "hashAlgorithmOID",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_algorithm_oid: Option<String>,
    /// Dotted OID of the signature algorithm.
    #[serde(rename = "signAlgo")]
    pub sign_algo: String,
}

/// `signatures/signHash` request, v1 (pyHanko's `CSCSigner` shape).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SignHashRequestV1 {
    /// The credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// The handle of `credentials/authorize`.
    #[serde(default, rename = "SAD", skip_serializing_if = "Option::is_none")]
    pub sad: Option<String>,
    /// Base64 hashes.
    pub hash: Vec<String>,
    /// Dotted OID of the hash algorithm (may be implied by `signAlgo`).
    #[serde(default, rename = "hashAlgo", skip_serializing_if = "Option::is_none")]
    pub hash_algo: Option<String>,
    /// Dotted OID of the signature algorithm.
    #[serde(rename = "signAlgo")]
    pub sign_algo: String,
}

/// `signatures/signHash` answer (both versions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignHashAnswer {
    /// Base64 signatures, one per hash in order: DER `ECDSA-Sig-Value`
    /// for EC keys, the raw PKCS#1 v1.5 signature for RSA keys.
    pub signatures: Vec<String>,
}

/// `signatures/timestamp` request (v2: `hashAlgorithmOID`; v1:
/// `hashAlgo`, read as an alias).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampRequest {
    /// The base64 hash to time-stamp.
    pub hash: String,
    /// Dotted OID of its hash algorithm.
    #[serde(rename = "hashAlgorithmOID", alias = "hashAlgo")]
    pub hash_algorithm_oid: String,
    /// The client's nonce, hexadecimal; the token carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Opaque client data (ignored).
    #[serde(
        default,
        rename = "clientData",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_data: Option<String>,
}

/// `signatures/timestamp` answer (both versions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimestampAnswer {
    /// The base64 DER RFC 3161 `TimeStampToken`.
    pub timestamp: String,
}

/// One document digest of OAuth2 `authorization_details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentDigest {
    /// Base64 hash.
    pub hash: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// OAuth2 `authorization_details` of type `credential` (CSC v2.0.0.2
/// §8.4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialDetails {
    /// `credential`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// The hashes to sign.
    #[serde(rename = "documentDigests")]
    pub document_digests: Vec<DocumentDigest>,
    /// Dotted OID of the hash algorithm.
    #[serde(rename = "hashAlgorithmOID")]
    pub hash_algorithm_oid: String,
}

/// What the IdP's token endpoint answers: the seed SAD the user's
/// authorization produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdpSadToken {
    /// `SAD`.
    pub token_type: String,
    /// Base64 DER seed SAD.
    pub sad: String,
    /// Seconds the SAD's token stays valid.
    pub expires_in: u64,
    /// The details the SAD was made for.
    pub authorization_details: Vec<CredentialDetails>,
}

/// `oauth2/token` answer: the credential-scope access token is the
/// single-use handle itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthTokenAnswer {
    /// The handle, for `Authorization: Bearer` of `signatures/signHash`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
    /// What it authorizes.
    pub authorization_details: Vec<CredentialDetails>,
}

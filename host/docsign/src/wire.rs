//! The JSON of the SAK REST interface (seed §7.3, Tables 26–37), field
//! for field. Binary values travel base64 (standard alphabet, padded).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /smartcard/remote-signature/key` (Table 26).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRequest {
    /// The requesting user's identity token (base64 DER), binding the
    /// SAD key of the signer's environment.
    pub id_token: String,
    /// The KeyID of the signer key.
    pub key_id: String,
    /// The key's certificate (base64 DER or PEM).
    pub certificate: String,
}

/// The key object of a remote signature process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyObject {
    /// The process ID: the `{uuid}` of `/digest/remote-signature/{uuid}`.
    pub uuid: String,
    /// The KeyID.
    #[serde(default)]
    pub key_id: String,
    /// The certificate the containers name (base64 DER).
    #[serde(default)]
    pub certificate: String,
    /// Unix seconds after which the process is gone.
    #[serde(default)]
    pub expires_at: u64,
}

/// The answer of `/smartcard/remote-signature/key`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyAnswer {
    /// The created key object.
    pub key_object: KeyObject,
}

/// `Document` (Tables 28, 35).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    /// The document's identifier; the key of its container in the answer.
    pub id: String,
    /// Its file name (the detached XAdES reference names it).
    #[serde(default)]
    pub file_name: String,
    /// The document, base64.
    pub data: String,
    /// This document's container format, overriding the request's
    /// `signatureContainerFormat` (an extension of the seed's type, so
    /// that one SAD covers a PDF, an XML file and a text file at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_container_format: Option<String>,
}

/// `HashAlgorithm` (Table 30): an OID, a name, or both (then they must
/// agree).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HashAlgorithmRef {
    /// Dotted OID, e.g. `2.16.840.1.101.3.4.2.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    /// Name, e.g. `SHA-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `checkDocument` (Table 37).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckDocument {
    /// The document's identifier.
    pub document_id: String,
    /// Why the check failed; empty when it passed.
    pub error_message: String,
    /// SHA-256 of the document, lowercase hex.
    pub hash_value: String,
    /// The detected MIME type.
    pub mime_type: String,
    /// Whether the document may be signed.
    pub proof_result: bool,
}

/// `ProofReport` (Tables 29, 36), signed by the service that made it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProofReport {
    /// One entry per checked document.
    pub checked_documents: Vec<CheckDocument>,
    /// Unix seconds of the check.
    #[serde(alias = "creationtime")]
    pub creation_time: u64,
    /// The service's authentication tag over the report (base64).
    pub signature: String,
}

/// `POST /trusted-checker/check-document(s)` (Table 34): one document or
/// several.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// One document (`check-document`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
    /// Several (`check-documents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<Document>>,
}

/// The answer of the trusted checker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CheckAnswer {
    /// The report.
    pub proof_report: ProofReport,
}

/// `POST /digest/create-signature(s)` (Table 27).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    /// The key object of `/smartcard/remote-signature/key` (its `uuid`
    /// names the process).
    pub key_object: KeyObject,
    /// The documents, one container each.
    pub documents: Vec<Document>,
    /// The trusted checker's report on these documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_report: Option<ProofReport>,
    /// The hash algorithm.
    pub hash_algorithm: HashAlgorithmRef,
    /// One of the names of [`crate::ContainerFormat`].
    pub signature_container_format: String,
}

/// What a signer's environment sees of one document before it signs the
/// SAD (the answer of `GET /digest/remote-signature/{uuid}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PendingDocument {
    /// The document's identifier.
    pub id: String,
    /// Its file name.
    pub file_name: String,
    /// The container format.
    pub format: String,
    /// The hash of the document's bytes (the hash algorithm of the SAD),
    /// base64: what the signer's environment compares with its copy.
    pub document_hash: String,
    /// The hash the SAD names for it (over the container's signed
    /// attributes or `SignedInfo`), base64.
    pub to_be_signed_hash: String,
}

/// The answer of `GET /digest/remote-signature/{uuid}` (Table 31).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SadData {
    /// DER `SADTBS` (seed §8.1), base64: the signer's environment signs
    /// it with its SAD key.
    #[serde(rename = "sad-data")]
    pub sad_data: String,
    /// The documents, in the order of the SAD's hashes.
    pub documents: Vec<PendingDocument>,
}

/// `POST /digest/remote-signature/{uuid}` (Table 32).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SadSignature {
    /// The SAD key's signature over DER(`SADTBS`), base64.
    #[serde(alias = "signature")]
    pub sad_signature: String,
}

/// `POST /digest/remote-signature/basic/sign` (Table 33).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BasicSign {
    /// The complete DER SAD, base64.
    pub sad: String,
}

/// The answer with containers: document id → base64 container (the
/// seed's example `{"123": "MIIHtQ…"}`).
pub type Signatures = BTreeMap<String, String>;

/// An error answer. Every error is the seed's `SecureFrameworkException`;
/// `reason` is a stable code, `message` the detail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Always `SecureFrameworkException` (seed Tables 26–34).
    pub exception: String,
    /// A stable code (`invalid_request`, `not_found`, ...).
    pub reason: String,
    /// What went wrong.
    pub message: String,
}

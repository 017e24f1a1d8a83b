//! CSC `signatures/signDoc` (v2.0.0.2 §11.11) on the document service's
//! own code: the same preparation and finishing as the SAK paths, under
//! a handle of `credentials/authorize` (the CSC service takes it, single
//! use, and hands it over through [`sam_csc::DocSigner`]).
//!
//! SCAL2 here: the firmware signs exactly the hashes the seed SAD names,
//! and for a container those are the hashes of what the container signs
//! (the CMS signed attributes, the XAdES `SignedInfo`, the signed
//! attributes over a PDF's byte range), not of the documents. So the
//! signer's environment computes them first — with [`to_be_signed_hashes`],
//! the code the service runs — from the documents, the credential's
//! certificate and chain (`credentials/info`, `certificates=chain`) and a
//! signing time it names in each entry's `signed_props`
//! (`signing-time`), makes the seed SAD over them and authorizes them;
//! `signDoc` recomputes them from the request and refuses a request whose
//! hashes are not, in order, the authorized ones. Preparing is
//! deterministic for that reason: the same inputs give the same hashes.
//!
//! The request: `documents[]` (`document` base64, `signature_format`
//! `C`/`X`/`P`, `conformance_level` `Ades-B-B`/`Ades-B-T`, `signAlgo`,
//! `signed_envelope_property`, `signed_props`) answers
//! `DocumentWithSignature[]` (a detached CAdES signature for `C`
//! `Detached`); `documentDigests[]` (`hashes`, `hashAlgorithmOID`,
//! `signature_format` `C` only) answers `SignatureObject[]`, one detached
//! CAdES signature per hash. One request is one SAD: all its entries
//! together are at most the firmware's hash limit.

use crate::{ContainerFormat, DocError, Level, Packaging, Prepared, Sak, SignerCert};
use crate::{cades, checker, documents};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_csc::algo::{self, SignAlgo};
pub use sam_csc::service::generalized_time;
use sam_csc::{Authorized, Backend, CscError, DocSigner, SignDocTarget};
use sam_proto::command::MAX_HASHES;
use sam_proto::ids::HashAlgorithm;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How far a `signing-time` may be from the service's clock, seconds:
/// the signer's environment fixes it before `credentials/authorize`,
/// and a handle lives `handle_lifetime_secs` (300 s by default).
pub const MAX_SIGNING_TIME_SKEW_SECS: u64 = 900;

/// The `signed_props` name of the signing time; its value is a
/// GeneralizedTime `YYYYMMDDhhmmssZ`.
pub const SIGNING_TIME: &str = "signing-time";

/// One signed attribute of `signed_props`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProp {
    /// The attribute's name.
    pub attribute_name: String,
    /// Its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_value: Option<String>,
}

/// One entry of `documents[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignDocDocument {
    /// The document, base64.
    pub document: String,
    /// `C` (CAdES), `X` (XAdES) or `P` (PAdES).
    pub signature_format: String,
    /// `Ades-B-B` (default) or `Ades-B-T`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformance_level: Option<String>,
    /// The signature algorithm OID; its hash must be the authorized one.
    #[serde(rename = "signAlgo")]
    pub sign_algo: String,
    /// Not used (no algorithm here takes parameters).
    #[serde(
        rename = "signAlgoParams",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sign_algo_params: Option<String>,
    /// The signed attributes the request fixes: `signing-time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_props: Option<Vec<SignedProp>>,
    /// `C`: `Detached` (default), `Attached` or `Enveloping`; `X`:
    /// `Enveloped` (default); `P`: `Revision` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_envelope_property: Option<String>,
}

/// One entry of `documentDigests[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignDocDigests {
    /// The documents' digests, base64.
    pub hashes: Vec<String>,
    /// Their hash algorithm; it must be the authorized one.
    #[serde(rename = "hashAlgorithmOID")]
    pub hash_algorithm_oid: String,
    /// `C` only: a detached CAdES signature per digest.
    pub signature_format: String,
    /// `Ades-B-B` (default) or `Ades-B-T`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conformance_level: Option<String>,
    /// The signature algorithm OID.
    #[serde(rename = "signAlgo")]
    pub sign_algo: String,
    /// Not used.
    #[serde(
        rename = "signAlgoParams",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sign_algo_params: Option<String>,
    /// The signed attributes the request fixes: `signing-time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_props: Option<Vec<SignedProp>>,
    /// `Detached` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_envelope_property: Option<String>,
}

/// The `signatures/signDoc` request (v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignDocRequest {
    /// The credential.
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// The handle of `credentials/authorize`; absent with an OAuth2
    /// credential-scope bearer.
    #[serde(rename = "SAD", default, skip_serializing_if = "Option::is_none")]
    pub sad: Option<String>,
    /// Documents to sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<SignDocDocument>>,
    /// Digests to sign.
    #[serde(
        rename = "documentDigests",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub document_digests: Option<Vec<SignDocDigests>>,
    /// `S` (synchronous, the default); the asynchronous mode is not
    /// offered.
    #[serde(
        rename = "operationMode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub operation_mode: Option<String>,
    /// Not used.
    #[serde(
        rename = "clientData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_data: Option<String>,
}

/// The `signatures/signDoc` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignDocAnswer {
    /// The signed documents (or detached signatures), base64, in the
    /// order of `documents[]`.
    #[serde(
        rename = "DocumentWithSignature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub document_with_signature: Option<Vec<String>>,
    /// The detached CAdES signatures, base64, one per digest of
    /// `documentDigests[]`, in order.
    #[serde(
        rename = "SignatureObject",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub signature_object: Option<Vec<String>>,
}

/// What one entry signs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    /// A document (decoded).
    Document(Vec<u8>),
    /// A document signed CAdES-detached, still base64: only its digest
    /// is needed, computed in a stream when the hash algorithm is known
    /// (the authorized one), so the decoded document is never held.
    Base64(String),
    /// A digest, in the algorithm of the entry.
    Digest(Vec<u8>, HashAlgorithm),
}

/// One signature of the request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    content: Content,
    format: ContainerFormat,
    sign_algo: String,
    signing_time: SystemTime,
    /// `documents[i]` or `documentDigests[i].hashes[j]`, for errors.
    name: String,
}

/// A parsed and checked `signDoc` request, waiting for its handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignDocPlan {
    entries: Vec<Entry>,
    digests: bool,
}

impl SignDocPlan {
    /// How many signatures it needs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it needs none (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What the plan is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest document after base64 decoding.
    pub max_document_bytes: usize,
    /// Whether a TSA is configured (`Ades-B-T`).
    pub timestamps: bool,
    /// The clock, Unix seconds.
    pub now: u64,
}

fn bad(what: &str, why: impl std::fmt::Display) -> CscError {
    CscError::invalid_request(format!("Invalid parameter {what}: {why}"))
}

fn level(what: &str, conformance_level: Option<&str>) -> Result<Level, CscError> {
    match conformance_level
        .map(|l| l.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("ades-b-b" | "ades-b") => Ok(Level::BB),
        Some("ades-b-t" | "ades-t") => Ok(Level::BT),
        Some(_) => Err(bad(
            &format!("{what}.conformance_level"),
            format!(
                "{:?} is not offered (Ades-B-B or Ades-B-T)",
                conformance_level.unwrap_or_default()
            ),
        )),
    }
}

/// The container of `signature_format` / `signed_envelope_property`.
fn container(
    what: &str,
    format: &str,
    envelope: Option<&str>,
    level: Level,
) -> Result<ContainerFormat, CscError> {
    let envelope = envelope.map(|e| e.trim().to_ascii_lowercase());
    let envelope_name = format!("{what}.signed_envelope_property");
    let unfit = |e: &str, fits: &str| {
        bad(
            &envelope_name,
            format!("{e:?} does not apply to this signature_format ({fits})"),
        )
    };
    match (format.trim(), envelope.as_deref()) {
        ("C", None | Some("detached")) => Ok(ContainerFormat::Cades(Packaging::Detached, level)),
        ("C", Some("attached" | "enveloping")) => {
            Ok(ContainerFormat::Cades(Packaging::Enveloping, level))
        }
        ("C", Some(e)) => Err(unfit(e, "Detached, Attached or Enveloping")),
        ("X", None | Some("enveloped")) => Ok(ContainerFormat::Xades(Packaging::Enveloped, level)),
        ("X", Some("detached")) => Err(bad(
            &envelope_name,
            "a detached XAdES signature names its document by file name, and signDoc carries \
             none; use Enveloped, or the SAK's XAdES-B-*-detached",
        )),
        ("X", Some(e)) => Err(unfit(e, "Enveloped")),
        ("P", None | Some("revision")) => Ok(ContainerFormat::Pades(level)),
        ("P", Some("certification")) => Err(bad(
            &envelope_name,
            "certification signatures (DocMDP) are not built; use Revision (an approval \
             signature)",
        )),
        ("P", Some(e)) => Err(unfit(e, "Revision")),
        (other, _) => Err(bad(
            &format!("{what}.signature_format"),
            format!("{other:?} is not offered (C, X or P)"),
        )),
    }
}

/// The `signing-time` of `signed_props`, checked against the clock.
fn signing_time(
    what: &str,
    props: Option<&[SignedProp]>,
    now: u64,
) -> Result<SystemTime, CscError> {
    let name = format!("{what}.signed_props");
    let mut time = None;
    for p in props.unwrap_or_default() {
        if p.attribute_name != SIGNING_TIME {
            return Err(bad(
                &name,
                format!(
                    "the attribute {:?} is not offered (only {SIGNING_TIME})",
                    p.attribute_name
                ),
            ));
        }
        if time.is_some() {
            return Err(bad(&name, format!("{SIGNING_TIME} is given twice")));
        }
        let value = p.attribute_value.as_deref().unwrap_or_default();
        let secs = parse_generalized_time(value).ok_or_else(|| {
            bad(
                &name,
                format!("{SIGNING_TIME} {value:?} is not a GeneralizedTime YYYYMMDDhhmmssZ"),
            )
        })?;
        if secs.abs_diff(now) > MAX_SIGNING_TIME_SKEW_SECS {
            return Err(bad(
                &name,
                format!(
                    "{SIGNING_TIME} is more than {MAX_SIGNING_TIME_SKEW_SECS} s from the service's clock"
                ),
            ));
        }
        time = Some(UNIX_EPOCH + Duration::from_secs(secs));
    }
    time.ok_or_else(|| {
        bad(
            &name,
            format!(
                "{SIGNING_TIME} is required: the authorized hashes cover the signed attributes, \
                 and the signing time is one of them"
            ),
        )
    })
}

/// Unix seconds of a GeneralizedTime `YYYYMMDDhhmmssZ`.
pub fn parse_generalized_time(text: &str) -> Option<u64> {
    let digits = text.strip_suffix('Z')?;
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r)?.parse::<u16>().ok();
    let to8 = |v: u16| u8::try_from(v).ok();
    let t = der::DateTime::new(
        n(0..4)?,
        to8(n(4..6)?)?,
        to8(n(6..8)?)?,
        to8(n(8..10)?)?,
        to8(n(10..12)?)?,
        to8(n(12..14)?)?,
    )
    .ok()?;
    Some(t.unix_duration().as_secs())
}

fn document_error(what: &str, e: DocError) -> CscError {
    match e {
        DocError::TooLarge { limit } => CscError::document_too_large(what, limit),
        other => bad(what, other),
    }
}

fn decode_document(what: &str, text: &str, limit: usize) -> Result<Vec<u8>, CscError> {
    documents::decode_base64(text, limit).map_err(|e| document_error(what, e))
}

/// The trusted checker's verdict (the SAK's `check-documents`).
fn check_document(what: &str, data: &[u8]) -> Result<(), CscError> {
    match checker::check(data).refusal {
        Some(why) => Err(bad(what, format!("refused by the checker: {why}"))),
        None => Ok(()),
    }
}

/// Parses and checks `req` against `limits`: everything that needs no
/// authorization. The documents are decoded (within the limit) and
/// checked by the trusted checker (an encrypted PDF, a PDF with
/// JavaScript, launch actions or embedded files, XML with a DTD, an empty
/// document are refused).
///
/// A document signed CAdES-detached is not held decoded: its size is
/// checked in one streamed pass, and it is decoded whole for the checker
/// only if it could be refused ([`checker::may_refuse`]: PDF, XML or
/// empty by content).
pub fn plan(req: SignDocRequest, limits: &Limits) -> Result<SignDocPlan, CscError> {
    if req
        .operation_mode
        .as_deref()
        .is_some_and(|m| m.trim() != "S")
    {
        return Err(bad("operationMode", "only S (synchronous) is offered"));
    }
    let documents = req.documents.unwrap_or_default();
    let digests = req.document_digests.unwrap_or_default();
    let count = documents.len() + digests.iter().map(|d| d.hashes.len()).sum::<usize>();
    if !documents.is_empty() && !digests.is_empty() {
        return Err(CscError::invalid_request(
            "give documents or documentDigests, not both (one SAD names the hashes of one list)",
        ));
    }
    if count == 0 {
        return Err(CscError::invalid_request(
            "Missing parameter documents or documentDigests",
        ));
    }
    if count > MAX_HASHES {
        return Err(CscError::invalid_request(format!(
            "{count} signatures in one request; one SAD carries at most {MAX_HASHES} (the \
             firmware's batch limit, multisign)"
        )));
    }
    let mut entries = Vec::with_capacity(count);
    for (i, d) in documents.into_iter().enumerate() {
        let what = format!("documents[{i}]");
        let level = level(&what, d.conformance_level.as_deref())?;
        let format = container(
            &what,
            &d.signature_format,
            d.signed_envelope_property.as_deref(),
            level,
        )?;
        if level == Level::BT && !limits.timestamps {
            return Err(no_tsa(&what));
        }
        let signing_time = signing_time(&what, d.signed_props.as_deref(), limits.now)?;
        let name = format!("{what}.document");
        let content = if format == ContainerFormat::Cades(Packaging::Detached, level) {
            let scan = documents::scan_base64(&d.document, limits.max_document_bytes)
                .map_err(|e| document_error(&name, e))?;
            if checker::may_refuse(&scan.head, scan.len) {
                let data = decode_document(&name, &d.document, limits.max_document_bytes)?;
                check_document(&name, &data)?;
            }
            Content::Base64(d.document)
        } else {
            let data = decode_document(&name, &d.document, limits.max_document_bytes)?;
            check_document(&name, &data)?;
            Content::Document(data)
        };
        entries.push(Entry {
            content,
            format,
            sign_algo: d.sign_algo.clone(),
            signing_time,
            name: what,
        });
    }
    for (i, d) in digests.iter().enumerate() {
        let what = format!("documentDigests[{i}]");
        let level = level(&what, d.conformance_level.as_deref())?;
        if d.signature_format.trim() != "C" {
            return Err(bad(
                &format!("{what}.signature_format"),
                format!(
                    "{:?}: a digest is signed as a detached CAdES signature only (C)",
                    d.signature_format
                ),
            ));
        }
        let format = container(&what, "C", d.signed_envelope_property.as_deref(), level)?;
        if format != ContainerFormat::Cades(Packaging::Detached, level) {
            return Err(bad(
                &format!("{what}.signed_envelope_property"),
                "a digest has no content to envelop (Detached)",
            ));
        }
        if level == Level::BT && !limits.timestamps {
            return Err(no_tsa(&what));
        }
        let hash = algo::hash_from_oid(d.hash_algorithm_oid.trim())
            .ok_or_else(|| bad(&format!("{what}.hashAlgorithmOID"), "unsupported"))?;
        let signing_time = signing_time(&what, d.signed_props.as_deref(), limits.now)?;
        for (j, h) in d.hashes.iter().enumerate() {
            let name = format!("{what}.hashes[{j}]");
            let digest = STANDARD
                .decode(h.trim())
                .ok()
                .filter(|v| v.len() == hash.output_len())
                .ok_or_else(|| bad(&name, "not a base64 digest of hashAlgorithmOID's length"))?;
            entries.push(Entry {
                content: Content::Digest(digest, hash),
                format,
                sign_algo: d.sign_algo.clone(),
                signing_time,
                name,
            });
        }
    }
    Ok(SignDocPlan {
        entries,
        digests: !digests.is_empty(),
    })
}

fn no_tsa(what: &str) -> CscError {
    bad(
        &format!("{what}.conformance_level"),
        "Ades-B-T needs a time-stamp authority, and none is configured ([sak] tsa_url)",
    )
}

/// The prepared containers of `plan` for `signer`, hashing with `hash`
/// (the authorized hash algorithm), in order.
fn prepare_plan(
    plan: &SignDocPlan,
    signer: &SignerCert,
    hash: HashAlgorithm,
) -> Result<Vec<Box<dyn Prepared>>, CscError> {
    plan.entries
        .iter()
        .map(|e| {
            let prepared = match &e.content {
                Content::Document(data) => {
                    documents::prepare(e.format, data, "", signer, hash, e.signing_time)
                }
                Content::Base64(text) => documents::digest_base64(text, hash).and_then(|digest| {
                    cades::prepare(
                        &digest,
                        None,
                        signer,
                        hash,
                        e.format.level(),
                        e.signing_time,
                    )
                    .map(|p| Box::new(p) as Box<dyn Prepared>)
                }),
                Content::Digest(digest, digest_hash) => {
                    if *digest_hash != hash {
                        return Err(bad(
                            &e.name,
                            "its hashAlgorithmOID is not the authorized hash algorithm",
                        ));
                    }
                    cades::prepare(digest, None, signer, hash, e.format.level(), e.signing_time)
                        .map(|p| Box::new(p) as Box<dyn Prepared>)
                }
            };
            prepared.map_err(|err| bad(&e.name, err))
        })
        .collect()
}

/// The hashes a SAD for `req` must name, in order: what the signer's
/// environment authorizes before `signDoc`, computed by the code the
/// service runs. `signer` is the credential's certificate with the chain
/// `credentials/info` lists; `hash` the SAD's hash algorithm.
pub fn to_be_signed_hashes(
    req: SignDocRequest,
    signer: &SignerCert,
    hash: HashAlgorithm,
    limits: &Limits,
) -> Result<Vec<Vec<u8>>, CscError> {
    let plan = plan(req, limits)?;
    Ok(prepare_plan(&plan, signer, hash)?
        .iter()
        .map(|p| p.to_be_signed_hash().to_vec())
        .collect())
}

fn csc_error(e: DocError) -> CscError {
    match e {
        DocError::Timestamp(m) => CscError::unavailable(format!("the time-stamp authority: {m}")),
        DocError::BadSignature(m) => {
            CscError::server_error(format!("the firmware's signature does not verify: {m}"))
        }
        DocError::InvalidDocument(m) | DocError::InvalidInput(m) => CscError::invalid_request(m),
        other => CscError::server_error(other.to_string()),
    }
}

impl<B: Backend> DocSigner for Sak<B> {
    type Request = SignDocPlan;

    fn parse_sign_doc(&self, body: &[u8]) -> Result<(SignDocPlan, SignDocTarget), CscError> {
        let req: SignDocRequest = serde_json::from_slice(body)
            .map_err(|e| CscError::invalid_request(format!("malformed JSON request: {e}")))?;
        let target = SignDocTarget {
            credential_id: req.credential_id.clone(),
            handle: req.sad.clone(),
        };
        let plan = plan(
            req,
            &Limits {
                max_document_bytes: self.config().max_document_bytes,
                timestamps: self.has_tsa(),
                now: unix_now(),
            },
        )?;
        Ok((plan, target))
    }

    async fn sign_doc(
        &self,
        plan: SignDocPlan,
        authorized: Authorized,
    ) -> Result<Vec<u8>, CscError> {
        let grant = &authorized.grant;
        let hash = grant.hash_algorithm;
        for e in &plan.entries {
            match algo::sign_algo_hash(&e.sign_algo, authorized.algorithm) {
                Some(SignAlgo::WithHash(h)) if h != hash => {
                    return Err(bad(
                        &format!("{}.signAlgo", e.name),
                        "its hash is not the authorized hash algorithm",
                    ));
                }
                Some(_) => {}
                None => {
                    return Err(bad(
                        &format!("{}.signAlgo", e.name),
                        "not an algorithm of the credential's key",
                    ));
                }
            }
        }
        let signer = SignerCert {
            certificate: authorized.certificate.clone(),
            chain: authorized.chain.clone(),
        };
        let prepared = prepare_plan(&plan, &signer, hash)?;
        if prepared.len() != grant.hashes.len() {
            return Err(bad(
                "SAD",
                format!(
                    "it authorizes {} hashes and the request makes {} signatures",
                    grant.hashes.len(),
                    prepared.len()
                ),
            ));
        }
        if let Some(e) = plan
            .entries
            .iter()
            .zip(&prepared)
            .zip(&grant.hashes)
            .find(|((_, p), h)| p.to_be_signed_hash() != h.as_slice())
            .map(|((e, _), _)| e)
        {
            return Err(bad(
                "SAD",
                format!(
                    "it does not authorize the to-be-signed hash of {} (another document, \
                     signing time, certificate chain or order than the signer authorized)",
                    e.name
                ),
            ));
        }
        let signatures = self.backend().sign(grant.seed_sad.clone()).await?;
        if signatures.len() != prepared.len() {
            return Err(CscError::server_error(
                "the firmware answered another number of signatures",
            ));
        }
        let containers = self
            .finish_all(
                hash,
                plan.entries
                    .iter()
                    .zip(&prepared)
                    .map(|(e, p)| (e.format.level(), p.as_ref())),
                &signatures,
            )
            .await
            .map_err(csc_error)?;
        let encoded: Vec<String> = containers.iter().map(|c| STANDARD.encode(c)).collect();
        let answer = if plan.digests {
            SignDocAnswer {
                document_with_signature: None,
                signature_object: Some(encoded),
            }
        } else {
            SignDocAnswer {
                document_with_signature: Some(encoded),
                signature_object: None,
            }
        };
        serde_json::to_vec(&answer).map_err(|e| CscError::server_error(e.to_string()))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generalized_times_round_trip_and_bad_ones_are_refused() {
        let t = parse_generalized_time("20261204201500Z").unwrap();
        assert_eq!(generalized_time(t).as_deref(), Some("20261204201500Z"));
        for bad in [
            "20261204201500",
            "2026-12-04T20:15:00Z",
            "20261304201500Z",
            "",
        ] {
            assert_eq!(parse_generalized_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_map_to_containers_and_the_rest_is_refused() {
        use Level::{BB, BT};
        assert_eq!(
            container("d", "C", None, BB).unwrap(),
            ContainerFormat::Cades(Packaging::Detached, BB)
        );
        assert_eq!(
            container("d", "C", Some("Enveloping"), BT).unwrap(),
            ContainerFormat::Cades(Packaging::Enveloping, BT)
        );
        assert_eq!(
            container("d", "X", None, BT).unwrap(),
            ContainerFormat::Xades(Packaging::Enveloped, BT)
        );
        assert_eq!(
            container("d", "P", Some("Revision"), BB).unwrap(),
            ContainerFormat::Pades(BB)
        );
        for (f, e) in [
            ("P", Some("Certification")),
            ("X", Some("Detached")),
            ("J", None),
            ("C", Some("Enveloped")),
        ] {
            assert_eq!(
                container("d", f, e, BB).unwrap_err().error,
                "invalid_request"
            );
        }
        assert_eq!(level("d", Some("ades-b-t")).unwrap(), BT);
        assert!(level("d", Some("Ades-B-LTA")).is_err());
    }
}

//! The dual-control `fw` family (seed: manageFW): `init`, `setidpkeys`
//! and `enrol` get a challenge, collect the administrators' approvals (or
//! write a request for them with `--prepare`) and submit; `approve` and
//! `submit` are the split form; `keygen` and `status`.

use super::{failed, print_json, user_id_or_random};
use crate::ctl::approval::FwBody;
use crate::ctl::approval::{self, ApprovalFile, Params, RequestFile};
use crate::ctl::audit_verify::sam_key_spki;
use crate::ctl::cli::{FwCommand, OperatorArgs};
use crate::ctl::client::Client;
use crate::ctl::console;
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::files;
use crate::ctl::settings::Settings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_client::wire::Empty;
use sam_client::wire::admin::{
    EnrolAnswer, FirmwareStatus, IdpKeysAnswer, InitAnswer, OperatorLogon, PolicyAnswer,
    StatusAnswer,
};
use sam_client::wire::peering::Challenge;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What a dual-control command ended with.
enum Done {
    /// `--prepare`: the request was written.
    Prepared,
    /// samd's answer to `init`.
    Initialized(InitAnswer),
    /// samd's answer to `setidpkeys`.
    IdpKeysSet(IdpKeysAnswer),
    PolicySet(PolicyAnswer),
    /// samd's answer to `enrol`.
    Enrolled(EnrolAnswer),
}

fn load_keys(paths: &[PathBuf]) -> CtlResult<Vec<p256::ecdsa::SigningKey>> {
    paths.iter().map(|p| files::p256_key(p)).collect()
}

/// The operator's name and secret, if given.
fn load_operator(o: &OperatorArgs) -> CtlResult<Option<(String, zeroize::Zeroizing<[u8; 32]>)>> {
    let (Some(name), Some(path)) = (&o.operator, &o.operator_key) else {
        return Ok(None);
    };
    let bytes = zeroize::Zeroizing::new(files::read(path)?);
    let secret = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        CtlError::usage(format!(
            "{}: an HSM operator key holds 32 bytes, this one {}",
            path.display(),
            bytes.len()
        ))
    })?;
    Ok(Some((name.clone(), zeroize::Zeroizing::new(secret))))
}

/// The operator's logon for `params` under `challenge` (init only).
fn logon(
    params: &Params,
    operator: Option<&(String, zeroize::Zeroizing<[u8; 32]>)>,
    challenge: &[u8; 32],
) -> CtlResult<Option<OperatorLogon>> {
    match (params, operator) {
        (Params::Init { .. }, Some((name, secret))) => Ok(Some(approval::operator_logon(
            name, secret, params, challenge,
        )?)),
        (Params::Init { .. }, None) => Err(CtlError::usage(
            "initialization needs the HSM operator's logon: --operator NAME --operator-key FILE",
        )),
        _ => Ok(None),
    }
}

/// Gets a challenge, then either writes the request (`prepare`) or signs
/// it with `keys` (plus the `extra` approvals) and submits it.
async fn dual_control(
    s: &Settings,
    params: &Params,
    keys: &[p256::ecdsa::SigningKey],
    operator: Option<&(String, zeroize::Zeroizing<[u8; 32]>)>,
    prepare: Option<&Path>,
) -> CtlResult<Done> {
    params.postcard()?;
    let client = Client::new(s)?;
    let c: Challenge = client.post("/admin/challenge", &Empty {}).await?;
    let request = RequestFile {
        command: params.op(),
        challenge: STANDARD.encode(&c.challenge.0),
        expires: c.expires,
        params: params.to_json(),
    };
    let challenge = request.challenge()?;
    if let Some(path) = prepare {
        let text = serde_json::to_vec_pretty(&request)
            .map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
        files::write_out(path, &text)?;
        eprintln!(
            "samctl: request written to {}; its challenge expires at {} (firmware clock). Each \
             administrator: samctl fw approve --admin-key KEY --request {} > approvalN.json; \
             then: samctl fw submit --request {} --approval approval1.json --approval approval2.json",
            path.display(),
            request.expires,
            path.display(),
            path.display()
        );
        return Ok(Done::Prepared);
    }
    let approvals = keys
        .iter()
        .map(|k| approval::approve(k, params, &challenge))
        .collect::<CtlResult<Vec<_>>>()?;
    let operator = logon(params, operator, &challenge)?;
    submit(s, &client, params, &challenge, &approvals, operator).await
}

async fn submit(
    s: &Settings,
    client: &Client,
    params: &Params,
    challenge: &[u8; 32],
    approvals: &[ApprovalFile],
    operator: Option<OperatorLogon>,
) -> CtlResult<Done> {
    s.note(
        1,
        format!("{} approval(s) for {:?}", approvals.len(), params.op()),
    );
    let body = approval::body(params, challenge, approvals, operator)?;
    let path = params.op().path();
    Ok(match body {
        FwBody::Init(_) => Done::Initialized(client.post(path, &body).await?),
        FwBody::Setidpkeys(_) => Done::IdpKeysSet(client.post(path, &body).await?),
        FwBody::Enrol(_) => Done::Enrolled(client.post(path, &body).await?),
        FwBody::Policy(_) => Done::PolicySet(client.post(path, &body).await?),
    })
}

/// Prints the outcome of a dual-control command; the exit code.
fn finish(s: &Settings, params: &Params, r: CtlResult<Done>) -> u8 {
    let lines = params.op().lines();
    let answer = match r {
        Ok(Done::Prepared) => return 0,
        Ok(done) => done,
        Err(e) => return failed(lines, &e),
    };
    println!("{}", lines.ok);
    // The notes quote the values as JSON strings, as they always have.
    let quoted = |text: &str| Value::String(text.to_owned());
    match (answer, params) {
        (Done::Initialized(a), _) => {
            s.note(
                1,
                format!(
                    "attestation key (SEC1, base64): {}",
                    quoted(&STANDARD.encode(&a.attestation_key.0))
                ),
            );
            // Always shown: the value an auditor writes down to check audit
            // exports against later (`samctl audit verify --sam-key`).
            if let Ok((_, fingerprint)) = sam_key_spki(&a.attestation_key.0) {
                s.note(0, format!("attestation key SHA-256 (SPKI) {fingerprint}"));
            }
        }
        (Done::IdpKeysSet(a), _) => {
            for f in &a.fingerprints {
                s.note(1, format!("IdP certificate SHA-256 {}", quoted(f)));
            }
        }
        (Done::PolicySet(a), _) => s.note(1, format!("audit seq {}", a.audit_seq)),
        (_, Params::Enrol { user_id, .. }) => println!("{user_id}"),
        (Done::Enrolled(a), _) => println!("{}", a.userid),
        (Done::Prepared, _) => {}
    }
    0
}

pub(super) async fn fw(s: &Settings, command: FwCommand) -> CtlResult<u8> {
    match command {
        FwCommand::Init {
            admin_pubs,
            mbk_slot,
            operator,
            approvers,
        } => {
            let made = (|| {
                let keys = load_keys(&approvers.admin_keys)?;
                let mut admins: Vec<Vec<u8>> = keys
                    .iter()
                    .map(|k| files::p256_point(k.verifying_key()))
                    .collect();
                for p in &admin_pubs {
                    admins.push(files::admin_point(p)?);
                }
                let mut seen = Vec::new();
                admins.retain(|a| {
                    let new = !seen.contains(a);
                    seen.push(a.clone());
                    new
                });
                if admins.is_empty() {
                    return Err(CtlError::usage(
                        "give the administrators: --admin-key, --admin-pub",
                    ));
                }
                let operator = load_operator(&operator)?;
                if operator.is_none() && approvers.prepare.is_none() {
                    return Err(CtlError::usage(
                        "give the HSM operator: --operator NAME --operator-key FILE",
                    ));
                }
                Ok((keys, operator, Params::Init { admins, mbk_slot }))
            })();
            let (keys, operator, params) = match made {
                Ok(m) => m,
                Err(e) => return Ok(failed(console::INIT, &e)),
            };
            let r = dual_control(
                s,
                &params,
                &keys,
                operator.as_ref(),
                approvers.prepare.as_deref(),
            )
            .await;
            Ok(finish(s, &params, r))
        }
        FwCommand::Setidpkeys {
            certificates,
            approvers,
        } => {
            let made = (|| {
                Ok::<_, CtlError>((
                    load_keys(&approvers.admin_keys)?,
                    Params::Setidpkeys {
                        certificates: files::all_certificates(&certificates)?,
                    },
                ))
            })();
            let (keys, params) = match made {
                Ok(m) => m,
                Err(e) => return Ok(failed(console::IDP_KEYS, &e)),
            };
            let r = dual_control(s, &params, &keys, None, approvers.prepare.as_deref()).await;
            Ok(finish(s, &params, r))
        }
        FwCommand::Policy {
            max_token_lifetime,
            signing_cas,
            checkpoint_interval,
            approvers,
        } => {
            let made = (|| {
                Ok::<_, CtlError>((
                    load_keys(&approvers.admin_keys)?,
                    Params::Policy {
                        max_token_lifetime,
                        signing_cas: files::all_certificates(&signing_cas)?,
                        checkpoint_interval,
                    },
                ))
            })();
            let (keys, params) = match made {
                Ok(m) => m,
                Err(e) => return Ok(failed(console::POLICY, &e)),
            };
            let r = dual_control(s, &params, &keys, None, approvers.prepare.as_deref()).await;
            Ok(finish(s, &params, r))
        }
        FwCommand::Enrol {
            user_id,
            idp_certs,
            approvers,
        } => {
            let made = (|| {
                Ok::<_, CtlError>((
                    load_keys(&approvers.admin_keys)?,
                    Params::Enrol {
                        user_id: user_id_or_random(user_id.as_deref())?,
                        certificates: files::all_certificates(&idp_certs)?,
                    },
                ))
            })();
            let (keys, params) = match made {
                Ok(m) => m,
                Err(e) => return Ok(failed(console::ENROL, &e)),
            };
            let r = dual_control(s, &params, &keys, None, approvers.prepare.as_deref()).await;
            Ok(finish(s, &params, r))
        }
        FwCommand::Approve {
            admin_key,
            request,
            out,
        } => {
            let req = RequestFile::load(&request)?;
            let params = req.params()?;
            let challenge = req.challenge()?;
            let key = files::p256_key(&admin_key)?;
            for line in params.describe() {
                eprintln!("{line}");
            }
            eprintln!(
                "challenge {} expires at {} (Unix seconds, firmware clock)",
                req.challenge, req.expires
            );
            eprintln!(
                "approved by administrator key SHA-256 {}",
                hex::encode(Sha256::digest(files::p256_point(key.verifying_key())))
            );
            let a = approval::approve(&key, &params, &challenge)?;
            let mut text = serde_json::to_vec_pretty(&a)
                .map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
            text.push(b'\n');
            files::write_out(out.as_deref().unwrap_or(Path::new("-")), &text)?;
            Ok(0)
        }
        FwCommand::Submit {
            request,
            approvals,
            admin_keys,
            operator,
        } => {
            let req = RequestFile::load(&request)?;
            let params = req.params()?;
            let r = async {
                let challenge = req.challenge()?;
                let mut all = Vec::new();
                for p in &approvals {
                    let a: ApprovalFile =
                        serde_json::from_slice(&files::read(p)?).map_err(|e| {
                            CtlError::usage(format!("{}: not a samctl approval: {e}", p.display()))
                        })?;
                    all.push(a);
                }
                for k in load_keys(&admin_keys)? {
                    all.push(approval::approve(&k, &params, &challenge)?);
                }
                let operator = logon(&params, load_operator(&operator)?.as_ref(), &challenge)?;
                submit(s, &Client::new(s)?, &params, &challenge, &all, operator).await
            }
            .await;
            Ok(finish(s, &params, r))
        }
        FwCommand::Keygen { out, pub_out } => {
            let (key_pem, pub_pem, point) = files::new_p256_key()?;
            files::write_private(&out, key_pem.as_bytes())?;
            if let Some(p) = pub_out {
                files::write_out(&p, pub_pem.as_bytes())?;
            }
            println!(
                "administrator key SHA-256 {}",
                hex::encode(Sha256::digest(&point))
            );
            Ok(0)
        }
        FwCommand::Status { attestation_key } => {
            let status: StatusAnswer = Client::new(s)?.get("/admin/status").await?;
            let point = match &status.firmware {
                FirmwareStatus::Reachable(f) => f.attestation_key.clone(),
                FirmwareStatus::Unreachable(_) => None,
            };
            let spki = point
                .map(|p| sam_key_spki(&p.0).map_err(CtlError::failed))
                .transpose()?;
            let mut shown = serde_json::to_value(&status)
                .map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
            if let (Some((_, fingerprint)), Some(firmware)) = (&spki, shown.get_mut("firmware")) {
                firmware["attestation_key_sha256"] = Value::String(fingerprint.clone());
            }
            match (attestation_key, &spki) {
                (Some(out), Some((der, _))) => {
                    files::write_out(&out, files::pem("PUBLIC KEY", der).as_bytes())?;
                }
                (Some(_), None) => {
                    return Err(CtlError::failed(
                        "the firmware has no attestation key yet (not initialized)",
                    ));
                }
                (None, _) => {}
            }
            print_json(&shown)
        }
    }
}

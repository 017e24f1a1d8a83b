//! What each subcommand does.

use super::approval::{self, ApprovalFile, Params, RequestFile, parse_uuid};
use super::checksum;
use super::cli::{
    Algorithm, ChecksumArgs, Command, CreatePrivilegedUserArgs, CreateSignerArgs, ExportAuditArgs,
    FwCommand, GenerateKeyArgs, IntegrityCodeArgs, IntegrityCommand, ObjectFilter, StartArgs,
    StopArgs,
};
use super::client::{Client, Method};
use super::console::{self, Lines};
use super::error::{CtlError, CtlResult};
use super::files;
use super::process;
use super::settings::{Settings, default_checksums, own_dir};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sam_firmware::auth::technical_digest;
use sam_firmware::crypto::portable::Portable;
use sam_proto::bounded::Blob;
use sam_proto::command::{NewUser, SubFunction, TechnicalSignature};
use sam_proto::ids::Uuid;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs a command; returns the exit code. Errors that are not reported
/// through a Table 52 line come back as `Err` and are printed by the
/// caller.
pub async fn run(s: &Settings, command: Command) -> CtlResult<u8> {
    match command {
        Command::Start(a) => start(s, a).await,
        Command::Stop(a) => stop(s, &a),
        Command::Checksum(a) => checksum_files(s, a),
        Command::Integrity(IntegrityCommand::Code(a)) => integrity_code(s, a),
        Command::Integrity(IntegrityCommand::Data) => integrity_data(s).await,
        Command::Fw(f) => fw(s, f).await,
        Command::CreatePrivilegedUser(a) => create_privileged_user(s, a).await,
        Command::CreateSigner(a) => create_signer(s, a).await,
        Command::SignerMaintenance(a) => {
            let user_id = parse_uuid(&a.user_id, "--user-id")?;
            let certificates = files::all_certificates(&a.idp_certs)?;
            let body = container(
                "Signer_Maintenance",
                Some(token_credential(&a.token.token)?),
                json!({"userid": user_id.to_string(), "certificates": b64_all(&certificates)}),
            );
            print_json(&Client::new(s)?.post("/peering", &body).await?)
        }
        Command::GenerateKey(a) => generate_key(s, a).await,
        Command::DeleteKey(a) => {
            let key_id = parse_uuid(&a.key_id, "--key-id")?;
            let body = container(
                "Delete_Signer_Key_Pair",
                Some(token_credential(&a.token.token)?),
                json!({"keyid": key_id.to_string()}),
            );
            print_json(&Client::new(s)?.post("/peering", &body).await?)
        }
        Command::Sign(a) => {
            let sad = files::der_document(&a.sad, "SAD")?;
            let body = container("Signing", None, json!({"sad": STANDARD.encode(sad)}));
            print_json(&Client::new(s)?.post("/peering", &body).await?)
        }
        Command::Objects(a) => {
            let mut q = query(&a.filter)?;
            if let Some(t) = &a.object_type {
                q.push(("objecttype", t.clone()));
            }
            print_json(&Client::new(s)?.get(&with_query("/objects", &q)).await?)
        }
        Command::PrivateKeys(a) => {
            let q = query(&a.filter)?;
            print_json(
                &Client::new(s)?
                    .get(&with_query("/private-keys", &q))
                    .await?,
            )
        }
        Command::RegisterCertificate(a) => {
            let key_id = parse_uuid(&a.key_id, "--key-id")?;
            let cert = files::certificates(&a.certificate)?
                .into_iter()
                .next()
                .ok_or_else(|| CtlError::usage("--cert: no certificate"))?;
            let body = json!({
                "objecttype": "CERTIFICATE",
                "value": STANDARD.encode(cert),
                "links": [{"id": key_id.to_string(), "type": "PRIVATE_KEY"}],
            });
            print_json(&Client::new(s)?.post("/objects", &body).await?)
        }
        Command::ExportAudit(a) => export_audit(s, a).await,
    }
}

/// Prints the failed line of `lines` and the error; the exit code.
fn failed(lines: Lines, e: &CtlError) -> u8 {
    println!("{}", lines.failed);
    eprintln!("samctl: {e}");
    e.exit_code()
}

/// The value at a JSON pointer, null if absent.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

fn print_json(v: &Value) -> CtlResult<u8> {
    let text =
        serde_json::to_string_pretty(v).map_err(|e| CtlError::failed(format!("JSON: {e}")))?;
    println!("{text}");
    Ok(0)
}

fn b64_all(items: &[Vec<u8>]) -> Vec<String> {
    items.iter().map(|i| STANDARD.encode(i)).collect()
}

// ---------------------------------------------------------------- start/stop

fn instance(given: Option<String>, s: &Settings) -> String {
    given
        .or_else(|| s.file.instance.clone())
        .unwrap_or_default()
}

fn pid_file(given: Option<PathBuf>, s: &Settings, subsystem: &str) -> PathBuf {
    given
        .or_else(|| s.file.pid_file.clone())
        .unwrap_or_else(|| process::default_pid_file(subsystem))
}

/// The URL of samd's listen address (wildcards become loopback).
fn listen_url(listen: std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(v) if v.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v) if v.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("https://{}", std::net::SocketAddr::new(ip, listen.port()))
}

/// What a readiness probe found.
enum Probe {
    /// `/readyz` said ready.
    Ready,
    /// samd answers but is not ready (why).
    Up(String),
    /// No answer yet (why).
    Down(String),
}

async fn probe(client: Option<&Client>, host: &str, port: u16) -> Probe {
    match client {
        Some(c) => match c.send(Method::GET, "/readyz", None).await {
            Ok(a) if a.status == 200 => Probe::Ready,
            Ok(a) => Probe::Up(a.error().to_string()),
            Err(e) => Probe::Down(e.to_string()),
        },
        None => match tokio::net::TcpStream::connect((host, port)).await {
            Ok(_) => Probe::Up(
                "readiness not checked: no client certificate (--cert, --key, --ca)".into(),
            ),
            Err(e) => Probe::Down(format!("cannot connect to {host}:{port}: {e}")),
        },
    }
}

/// Stops a child that did not come up: SIGTERM, then SIGKILL.
fn put_down(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = process::signal(pid, false);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

async fn start(s: &Settings, a: StartArgs) -> CtlResult<u8> {
    let subsystem = console::subsystem(&instance(a.instance.clone(), s));
    let pid_file = pid_file(a.pid_file.clone(), s, &subsystem);
    let abandon = |e: CtlError| {
        println!("{}", console::start_abandoned(&subsystem));
        eprintln!("samctl: {e}");
        e.exit_code()
    };
    if let Some(pid) = process::read_pid(&pid_file)? {
        if process::alive(pid) {
            println!("{}", console::already_running(&subsystem));
            s.note(1, format!("pid {pid} ({})", pid_file.display()));
            return Ok(0);
        }
        s.note(
            1,
            format!("removing the stale pid file {}", pid_file.display()),
        );
        process::remove_pid(&pid_file);
    }

    // Code integrity first (Table 52, Start).
    let checksums = match a.checksums.clone().or_else(|| s.file.checksums.clone()) {
        Some(p) => Some(p),
        None => Some(default_checksums()?).filter(|p| p.exists()),
    };
    match checksums {
        Some(p) => match checksum::load(&p) {
            Ok(entries) => {
                if !checksum::check_all(&entries, true) {
                    println!("{}", console::start_abandoned(&subsystem));
                    return Ok(1);
                }
            }
            Err(e) => return Ok(abandon(e)),
        },
        None => eprintln!(
            "samctl: warning: no checksum file (--checksums, or sam.sha512 next to samctl): \
             code integrity not checked"
        ),
    }

    // samd's configuration: checked here for a clear message, and the
    // source of the address to probe.
    let samd_config = a
        .samd_config
        .clone()
        .or_else(|| s.file.samd_config.clone())
        .unwrap_or_else(|| PathBuf::from("samd.toml"));
    let samd_config = match samd_config.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            return Ok(abandon(CtlError::usage(format!(
                "samd configuration {}: {e}",
                samd_config.display()
            ))));
        }
    };
    let config =
        match crate::config::Config::load(&samd_config).and_then(|c| c.connectors().map(|_| c)) {
            Ok(c) => c,
            Err(e) => return Ok(abandon(CtlError::usage(e.0))),
        };
    let url = if s.url_given {
        s.url.clone()
    } else {
        listen_url(config.server.listen)
    };
    let endpoint = match super::client::samd_location(&url) {
        Ok(e) => e,
        Err(e) => return Ok(abandon(e)),
    };
    let client = if s.cert.is_some() && s.key.is_some() && s.ca.is_some() {
        match Client::for_url(s, &url) {
            Ok(c) => Some(c.with_timeout(Duration::from_secs(5))),
            Err(e) => return Ok(abandon(e)),
        }
    } else {
        None
    };
    let samd = match a.samd.clone().or_else(|| s.file.samd.clone()) {
        Some(p) => p,
        None => process::default_samd()?,
    };
    let log_file = a
        .log_file
        .clone()
        .or_else(|| s.file.log_file.clone())
        .unwrap_or_else(|| pid_file.with_extension("log"));
    let log = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .and_then(|f| Ok((f.try_clone()?, f)))
    {
        Ok(l) => l,
        Err(e) => {
            return Ok(abandon(CtlError::failed(format!(
                "log file {}: {e}",
                log_file.display()
            ))));
        }
    };
    s.note(
        1,
        format!(
            "starting {} --config {} (log {})",
            samd.display(),
            samd_config.display(),
            log_file.display()
        ),
    );
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        match std::process::Command::new(&samd)
            .arg("--config")
            .arg(&samd_config)
            .stdin(std::process::Stdio::null())
            .stdout(log.0)
            .stderr(log.1)
            .process_group(0)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return Ok(abandon(CtlError::failed(format!(
                    "cannot run {}: {e}",
                    samd.display()
                ))));
            }
        }
    };

    let deadline = Instant::now() + Duration::from_secs(a.wait);
    let not_ready = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(abandon(CtlError::failed(format!(
                "samd exited during start ({status}); the end of {}:\n{}",
                log_file.display(),
                process::log_tail(&log_file, 20)
            ))));
        }
        let last = match probe(client.as_ref(), endpoint.host(), endpoint.port()).await {
            Probe::Ready => break None,
            Probe::Up(why) => break Some(why),
            Probe::Down(why) => why,
        };
        if Instant::now() >= deadline {
            put_down(&mut child);
            return Ok(abandon(CtlError::failed(format!(
                "samd did not answer /readyz at {url} within {} s ({last}); see {}",
                a.wait,
                log_file.display()
            ))));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if let Err(e) = process::write_pid(&pid_file, child.id()) {
        put_down(&mut child);
        return Ok(abandon(e));
    }
    println!("{}", console::started(&subsystem));
    if let Some(why) = not_ready {
        eprintln!("samctl: note: samd answers but is not ready: {why}");
    }
    s.note(
        1,
        format!(
            "pid {} in {}, log {}",
            child.id(),
            pid_file.display(),
            log_file.display()
        ),
    );
    Ok(0)
}

fn stop(s: &Settings, a: &StopArgs) -> CtlResult<u8> {
    let subsystem = console::subsystem(&instance(a.instance.clone(), s));
    let pid_file = pid_file(a.pid_file.clone(), s, &subsystem);
    let pid = match process::read_pid(&pid_file)? {
        Some(p) if process::alive(p) => p,
        other => {
            if other.is_some() {
                s.note(
                    1,
                    format!("removing the stale pid file {}", pid_file.display()),
                );
                process::remove_pid(&pid_file);
            }
            println!("{}", console::not_running(&subsystem));
            return Ok(0);
        }
    };
    if let Err(e) = process::signal(pid, false) {
        println!("{}", console::stop_failed(&subsystem));
        eprintln!("samctl: {e}");
        return Ok(1);
    }
    s.note(1, format!("SIGTERM sent to pid {pid}"));
    if process::wait_gone(pid, Duration::from_secs(a.wait)) {
        process::remove_pid(&pid_file);
        println!("{}", console::stopped(&subsystem));
        Ok(0)
    } else {
        println!("{}", console::stop_failed(&subsystem));
        eprintln!(
            "samctl: samd (pid {pid}) is still running after {} s; it lets in-flight requests \
             finish for shutdown_grace_secs",
            a.wait
        );
        Ok(1)
    }
}

// ---------------------------------------------------------------- integrity

fn checksum_files(s: &Settings, a: ChecksumArgs) -> CtlResult<u8> {
    let out = match a.out.or_else(|| s.file.checksums.clone()) {
        Some(p) => p,
        None => default_checksums()?,
    };
    let binaries = if a.binaries.is_empty() {
        let d = own_dir()?;
        let mut v = vec![d.join("samd"), d.join("samctl")];
        let sim = d.join("sam-simulator");
        if sim.exists() {
            v.push(sim);
        }
        v
    } else {
        a.binaries
    };
    let text = checksum::make(&binaries)?;
    files::write_out(&out, text.as_bytes())?;
    if out != Path::new("-") {
        eprintln!(
            "samctl: {} checksums written to {}",
            binaries.len(),
            out.display()
        );
    }
    Ok(0)
}

fn integrity_code(s: &Settings, a: IntegrityCodeArgs) -> CtlResult<u8> {
    let path = match a.checksums.or_else(|| s.file.checksums.clone()) {
        Some(p) => p,
        None => default_checksums()?,
    };
    s.note(1, format!("checksum file {}", path.display()));
    match checksum::load(&path) {
        Ok(entries) => Ok(if checksum::check_all(&entries, false) {
            0
        } else {
            1
        }),
        Err(e) => {
            println!("{}", console::code_failed("SAM"));
            eprintln!("samctl: {e}");
            Ok(1)
        }
    }
}

async fn integrity_data(s: &Settings) -> CtlResult<u8> {
    let lines = console::DATA_INTEGRITY;
    let report = match async { Client::new(s)?.post("/admin/integrity", &json!({})).await }.await {
        Ok(r) => r,
        Err(e) => return Ok(failed(lines, &e)),
    };
    let ok = report.get("ok").and_then(Value::as_bool) == Some(true);
    println!("{}", if ok { lines.ok } else { lines.failed });
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for u in list(at(&report, "/users/bad")) {
        println!("  user {u}: the record fails the firmware's check");
    }
    for k in list(at(&report, "/keys/bad")) {
        println!("  key {k}: the wrapped key fails the firmware's check");
    }
    let audit = at(&report, "/audit");
    if let Some(b) = audit.get("break").filter(|b| !b.is_null()) {
        println!(
            "  audit chain breaks at stored record {} (expected record {})",
            at(b, "/seq"),
            at(b, "/expected_seq")
        );
    } else if audit.get("complete").and_then(Value::as_bool) == Some(false) {
        println!(
            "  audit chain incomplete: record {} and later, which the firmware issued, are \
             missing from the store",
            at(audit, "/next_seq")
        );
    }
    if s.verbose >= 1 {
        println!(
            "  checked {} users, {} keys, {} audit records",
            at(&report, "/users/checked"),
            at(&report, "/keys/checked"),
            at(audit, "/checked")
        );
    }
    Ok(if ok { 0 } else { 1 })
}

// ---------------------------------------------------------------- fw

/// What a dual-control command ended with.
enum Done {
    /// `--prepare`: the request was written.
    Prepared,
    /// samd's answer.
    Submitted(Value),
}

fn load_keys(paths: &[PathBuf]) -> CtlResult<Vec<p256::ecdsa::SigningKey>> {
    paths.iter().map(|p| files::p256_key(p)).collect()
}

/// Gets a challenge, then either writes the request (`prepare`) or signs
/// it with `keys` (plus the `extra` approvals) and submits it.
async fn dual_control(
    s: &Settings,
    params: &Params,
    keys: &[p256::ecdsa::SigningKey],
    prepare: Option<&Path>,
) -> CtlResult<Done> {
    params.postcard()?;
    let client = Client::new(s)?;
    let c = client.post("/admin/challenge", &json!({})).await?;
    let challenge_b64 = c
        .get("challenge")
        .and_then(Value::as_str)
        .ok_or_else(|| CtlError::failed("samd's challenge answer has no challenge"))?;
    let request = RequestFile {
        command: params.op(),
        challenge: challenge_b64.to_owned(),
        expires: c.get("expires").and_then(Value::as_i64).unwrap_or(0),
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
    submit(s, &client, params, &challenge, &approvals).await
}

async fn submit(
    s: &Settings,
    client: &Client,
    params: &Params,
    challenge: &[u8; 32],
    approvals: &[ApprovalFile],
) -> CtlResult<Done> {
    s.note(
        1,
        format!("{} approval(s) for {:?}", approvals.len(), params.op()),
    );
    let body = approval::body(params, challenge, approvals)?;
    Ok(Done::Submitted(
        client.post(params.op().path(), &body).await?,
    ))
}

/// Prints the outcome of a dual-control command; the exit code.
fn finish(s: &Settings, params: &Params, r: CtlResult<Done>) -> u8 {
    let lines = params.op().lines();
    let answer = match r {
        Ok(Done::Prepared) => return 0,
        Ok(Done::Submitted(v)) => v,
        Err(e) => return failed(lines, &e),
    };
    println!("{}", lines.ok);
    match params {
        Params::Init { .. } => s.note(
            1,
            format!(
                "attestation key (SEC1, base64): {}",
                at(&answer, "/attestation_key")
            ),
        ),
        Params::Setidpkeys { .. } => {
            for f in at(&answer, "/fingerprints")
                .as_array()
                .into_iter()
                .flatten()
            {
                s.note(1, format!("IdP certificate SHA-256 {f}"));
            }
        }
        Params::Enrol { user_id, .. } => println!("{user_id}"),
    }
    0
}

fn random_uuid() -> CtlResult<Uuid> {
    Ok(Uuid::from_random(files::random::<16>()?))
}

fn user_id_or_random(given: Option<&str>) -> CtlResult<Uuid> {
    match given {
        Some(u) => parse_uuid(u, "--user-id"),
        None => random_uuid(),
    }
}

async fn fw(s: &Settings, command: FwCommand) -> CtlResult<u8> {
    match command {
        FwCommand::Init {
            admin_pubs,
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
                Ok((keys, Params::Init { admins }))
            })();
            let (keys, params) = match made {
                Ok(m) => m,
                Err(e) => return Ok(failed(console::INIT, &e)),
            };
            let r = dual_control(s, &params, &keys, approvers.prepare.as_deref()).await;
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
            let r = dual_control(s, &params, &keys, approvers.prepare.as_deref()).await;
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
            let r = dual_control(s, &params, &keys, approvers.prepare.as_deref()).await;
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
                submit(s, &Client::new(s)?, &params, &challenge, &all).await
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
        FwCommand::Status => print_json(&Client::new(s)?.get("/admin/status").await?),
    }
}

// ---------------------------------------------------------------- peering

fn token_credential(path: &Path) -> CtlResult<Value> {
    let token = files::der_document(path, "identity token")?;
    Ok(json!({"type": "identity_token", "value": STANDARD.encode(token)}))
}

fn container(operation: &str, credential: Option<Value>, params: Value) -> Value {
    let mut c = json!({"operation": operation, "params": params});
    if let (Some(cred), Value::Object(m)) = (credential, &mut c) {
        m.insert("credential".into(), cred);
    }
    c
}

async fn create_privileged_user(s: &Settings, a: CreatePrivilegedUserArgs) -> CtlResult<u8> {
    let user_id = user_id_or_random(a.user_id.as_deref())?;
    let mut params = json!({
        "userid": user_id.to_string(),
        "certificates": b64_all(&files::all_certificates(&a.idp_certs)?),
    });
    if let (Some(t), Value::Object(m)) = (&a.technical_cert, &mut params) {
        let cert = files::certificates(t)?
            .into_iter()
            .next()
            .ok_or_else(|| CtlError::usage("--technical-cert: no certificate"))?;
        m.insert("technical_certificate".into(), json!(STANDARD.encode(cert)));
    }
    let body = container(
        "Create_New_Privileged_User",
        Some(token_credential(&a.token.token)?),
        params,
    );
    print_json(&Client::new(s)?.post("/peering", &body).await?)
}

async fn create_signer(s: &Settings, a: CreateSignerArgs) -> CtlResult<u8> {
    let user_id = user_id_or_random(a.user_id.as_deref())?;
    let certificates = files::all_certificates(&a.idp_certs)?;
    let client = Client::new(s)?;
    let credential = match (&a.token, &a.technical_key, &a.technical_user) {
        (Some(t), _, _) => token_credential(t)?,
        (None, Some(k), Some(u)) => {
            let technical_user = parse_uuid(u, "--technical-user")?;
            let key = files::TechnicalKey::load(k)?;
            let c = client.post("/peering/challenge", &json!({})).await?;
            let challenge: [u8; 32] = c
                .get("challenge")
                .and_then(Value::as_str)
                .and_then(|t| STANDARD.decode(t).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| CtlError::failed("samd's challenge answer has no challenge"))?;
            let params = NewUser {
                user_id,
                certificates: approval::list(&certificates, "IdP certificate")?,
            };
            let bytes = postcard::to_allocvec(&params)
                .map_err(|e| CtlError::failed(format!("postcard: {e}")))?;
            let digest = technical_digest(&Portable, SubFunction::CreateSigner, &challenge, &bytes);
            let signature = Blob::from_vec(key.sign_prehash(&digest)?)
                .map_err(|_| CtlError::failed("the technical signature is too long"))?;
            let ts = postcard::to_allocvec(&TechnicalSignature {
                challenge,
                signature,
            })
            .map_err(|e| CtlError::failed(format!("postcard: {e}")))?;
            json!({
                "type": "technical_signature",
                "value": STANDARD.encode(ts),
                "userid": technical_user.to_string(),
            })
        }
        _ => {
            return Err(CtlError::usage(
                "give --token, or --technical-key with --technical-user",
            ));
        }
    };
    let body = container(
        "Create_New_Signer",
        Some(credential),
        json!({"userid": user_id.to_string(), "certificates": b64_all(&certificates)}),
    );
    print_json(&client.post("/peering", &body).await?)
}

async fn generate_key(s: &Settings, a: GenerateKeyArgs) -> CtlResult<u8> {
    let (algorithm, parameters) = match a.algorithm {
        Algorithm::EcP256 => ("EC", json!({"curve": "1.2.840.10045.3.1.7"})),
        Algorithm::EcP384 => ("EC", json!({"curve": "1.3.132.0.34"})),
        Algorithm::Rsa2048 => ("RSA", json!({"bits": 2048})),
        Algorithm::Rsa3072 => ("RSA", json!({"bits": 3072})),
        Algorithm::Rsa4096 => ("RSA", json!({"bits": 4096})),
    };
    let user_id = parse_uuid(&a.user_id, "--user-id")?;
    let body = container(
        "Generate_Signer_Key_Pair",
        Some(token_credential(&a.token.token)?),
        json!({
            "userid": user_id.to_string(),
            "algorithm": algorithm,
            "parameters": parameters,
        }),
    );
    print_json(&Client::new(s)?.post("/peering", &body).await?)
}

// ---------------------------------------------------------------- key manager

fn query(f: &ObjectFilter) -> CtlResult<Vec<(&'static str, String)>> {
    let mut q = Vec::new();
    if let Some(v) = &f.id {
        q.push(("id", v.clone()));
    }
    if let Some(v) = &f.state {
        q.push(("state", v.clone()));
    }
    if let Some(v) = &f.key_id {
        q.push(("keyid", parse_uuid(v, "--key-id")?.to_string()));
    }
    if let Some(v) = &f.user_id {
        q.push(("userid", parse_uuid(v, "--user-id")?.to_string()));
    }
    if let Some(v) = f.limit {
        q.push(("limit", v.to_string()));
    }
    Ok(q)
}

/// `%XX`-escapes everything but unreserved characters.
fn escape(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn with_query(path: &str, q: &[(&str, String)]) -> String {
    if q.is_empty() {
        return path.to_owned();
    }
    let parts: Vec<String> = q
        .iter()
        .map(|(k, v)| format!("{k}={}", escape(v)))
        .collect();
    format!("{path}?{}", parts.join("&"))
}

// ---------------------------------------------------------------- audit

async fn export_audit(s: &Settings, a: ExportAuditArgs) -> CtlResult<u8> {
    let client = Client::new(s)?;
    let to_stdout = a.out == Path::new("-");
    let mut out: Box<dyn std::io::Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&a.out)
                .map_err(|e| CtlError::failed(format!("{}: {e}", a.out.display())))?,
        ))
    };
    let io = |e: std::io::Error| CtlError::failed(format!("{}: {e}", a.out.display()));
    let mut after = a.after;
    let mut n = 0u64;
    loop {
        let answer = client
            .send(
                Method::GET,
                &format!("/admin/audit?after={after}&limit=1000"),
                None,
            )
            .await?;
        if answer.status == 404 && answer.error().samd_kind() == Some("RouteNotFound") {
            return Err(CtlError::failed(
                "this samd has no GET /admin/audit endpoint; update samd to export the audit records",
            ));
        }
        let page = answer.into_json()?;
        for r in at(&page, "/records").as_array().into_iter().flatten() {
            writeln!(out, "{r}").map_err(io)?;
            n += 1;
        }
        match page.get("next_after").and_then(Value::as_i64) {
            Some(next) if next > after => after = next,
            _ => break,
        }
    }
    out.flush().map_err(io)?;
    if !to_stdout {
        eprintln!("samctl: {n} audit records written to {}", a.out.display());
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_urls() {
        assert_eq!(with_query("/objects", &[]), "/objects");
        assert_eq!(
            with_query(
                "/objects",
                &[("state", "PRE_ACTIVE".into()), ("id", "a/b c".into())]
            ),
            "/objects?state=PRE_ACTIVE&id=a%2Fb%20c"
        );
        assert_eq!(
            listen_url("0.0.0.0:8443".parse().unwrap()),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            listen_url("[::]:9443".parse().unwrap()),
            "https://[::1]:9443"
        );
        let c = container("Signing", None, json!({"sad": ""}));
        assert!(c.get("credential").is_none());
    }
}

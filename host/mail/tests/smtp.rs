#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The SMTP server side against Python's smtplib: the EHLO extensions,
//! the 5xx codes of bad sequences, SIZE (announced and not), line
//! limits, STARTTLS with the configured certificate checked by the
//! client, the network allow-list, and the spool holding a message once
//! it got its 250.

mod support;

use sam_devpki::{DevPki, DevPkiOptions, files};
use std::path::Path;
use support::{Relay, smtplib, submit};

fn config(dir: &Path, port: u16, pki: &DevPki, networks: &str) -> String {
    format!(
        r#"
[smtp]
listen = "127.0.0.1:{port}"
hostname = "relay.test"
accepted_domains = ["example.net"]
allowed_networks = [{networks}]
max_message_bytes = 20000
tls_cert = "{cert}"
tls_key = "{key}"

[spool]
dir = "{spool}"

[forward]
# Nothing listens there: this test looks at the spool only.
next_hop = "127.0.0.1:9"
retry_initial_secs = 3600
"#,
        cert = pki.path(files::SERVER_CERT).display(),
        key = pki.path(files::SERVER_KEY).display(),
        spool = dir.join("spool").display(),
    )
}

#[test]
fn smtp_session_codes_size_starttls_and_spool() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), &DevPkiOptions::default()).unwrap();
    let port = sam_harness::free_port().unwrap();
    let relay = Relay::start(
        dir.path(),
        &config(dir.path(), port, &pki, "\"127.0.0.0/8\""),
        port,
    );
    let ca = pki.path(files::TLS_CA_CERT).display().to_string();
    let p = smtplib(&["probe", "127.0.0.1", &port.to_string(), &ca]);
    let log = relay.log_text();
    let code = |k: &str| p[k].as_i64().unwrap_or_else(|| panic!("{k}: {p}\n{log}"));
    let features: Vec<&str> = p["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for f in [
        "size",
        "8bitmime",
        "pipelining",
        "starttls",
        "enhancedstatuscodes",
    ] {
        assert!(features.contains(&f), "{f} not in {features:?}");
    }
    assert_eq!(p["size"], "20000");
    assert_eq!(code("mail_before_ehlo"), 503);
    assert_eq!(code("rcpt_before_mail"), 503);
    assert_eq!(code("data_before_mail"), 503);
    assert_eq!(code("unknown_command"), 500);
    assert_eq!(code("mail_too_big"), 552);
    assert_eq!(code("mail_bad_param"), 555);
    assert_eq!(code("mail"), 250);
    assert_eq!(code("nested_mail"), 503);
    assert_eq!(code("data_before_rcpt"), 503);
    assert_eq!(code("rcpt_foreign_domain"), 550);
    assert_eq!(code("rcpt"), 250);
    assert_eq!(code("starttls_in_transaction"), 503);
    assert_eq!(code("rset"), 250);
    assert_eq!(code("noop"), 250);
    assert_eq!(code("long_line"), 500);
    assert_eq!(code("data_over_size"), 552);
    assert_eq!(code("data_exactly_size"), 250);
    assert_eq!(code("quit"), 221);
    assert_eq!(code("starttls"), 220);
    let after: Vec<&str> = p["features_after_tls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!after.contains(&"starttls"), "{after:?}");
    assert!(
        p["tls_version"].as_str().unwrap().starts_with("TLSv1."),
        "{p}"
    );
    // The message may already have moved on from incoming/ (the signer
    // passes it unsigned): the spool is both folders.
    let spooled = || -> Vec<std::path::PathBuf> {
        ["incoming", "outgoing"]
            .iter()
            .flat_map(|d| std::fs::read_dir(dir.path().join("spool").join(d)).unwrap())
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect()
    };
    assert_eq!(
        spooled().len(),
        1,
        "only the message of exactly SIZE bytes was spooled"
    );

    // A message over STARTTLS with an 8-bit body and a dot-stuffed line:
    // spooled with its envelope, the body byte for byte, dots unstuffed.
    let body: &[u8] = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: s\r\n\r\n\xc3\xa9t\xc3\xa9\r\n.leading dot\r\n..two\r\n";
    let msg = dir.path().join("m.eml");
    std::fs::write(&msg, body).unwrap();
    let (c, r) = submit(
        port,
        "a@example.org",
        "b@example.net",
        &msg,
        &["--starttls", &ca, "--8bit"],
    );
    assert_eq!(c, 250, "{r}");
    let files = spooled();
    assert_eq!(files.len(), 2, "{files:?}");
    let stored = files
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .find(|m| m.ends_with(body))
        .expect("the message over STARTTLS");
    assert!(
        stored.ends_with(body),
        "{}",
        String::from_utf8_lossy(&stored)
    );
    let text = String::from_utf8_lossy(&stored);
    assert!(text.contains("\"eight_bit\":true"), "{text}");
    assert!(text.contains("\"rcpt_to\":[\"b@example.net\"]"), "{text}");
    assert!(text.contains("with ESMTPS id"), "{text}");
}

#[test]
fn clients_outside_the_allowed_networks_get_554_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), &DevPkiOptions::default()).unwrap();
    let port = sam_harness::free_port().unwrap();
    let mut relay = Relay::start(
        dir.path(),
        &config(dir.path(), port, &pki, "\"192.0.2.0/24\""),
        port,
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut greeting = String::new();
    std::io::Read::read_to_string(&mut s, &mut greeting).unwrap();
    assert!(greeting.starts_with("554 "), "{greeting}");
    let status = relay
        .process
        .terminate(std::time::Duration::from_secs(15))
        .unwrap();
    assert!(status.success(), "{status:?}: {}", relay.log_text());
    assert!(relay.log_text().contains("stopped"), "{}", relay.log_text());
}

/// A message whose delivery had begun when the relay died (its
/// `.sending` marker is in the spool): sent again at start, and the log
/// says it may be duplicated.
#[test]
fn a_delivery_begun_before_a_crash_is_resent_and_logged() {
    use sam_mail::spool::{Envelope, Spool, Stage};
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), &DevPkiOptions::default()).unwrap();
    let (port, hop) = (
        sam_harness::free_port().unwrap(),
        sam_harness::free_port().unwrap(),
    );
    let spool = Spool::open(&dir.path().join("spool")).unwrap();
    let id = spool.new_id();
    let envelope = Envelope {
        id: id.clone(),
        mail_from: "a@example.org".into(),
        rcpt_to: vec!["b@example.net".into()],
        eight_bit: false,
        accepted_unix: sam_devpki::unix_now(),
        client: "test".into(),
    };
    let msg = b"From: a@example.org\r\nMessage-ID: <crash@example.org>\r\n\r\n.dot\r\nbody\r\n";
    spool.store(Stage::Outgoing, &envelope, msg).unwrap();
    assert!(!spool.mark_sending(&id).unwrap());
    drop(spool);
    let next = support::NextHop::start(dir.path(), hop);
    let config = config(dir.path(), port, &pki, "\"127.0.0.0/8\"")
        .replace("127.0.0.1:9", &format!("127.0.0.1:{hop}"));
    let relay = Relay::start(dir.path(), &config, port);
    let got = next.wait_for(std::time::Duration::from_secs(20), |r| !r.is_empty());
    assert_eq!(got.len(), 1, "{}", relay.log_text());
    assert_eq!(
        got[0].0, msg,
        "the message arrives as spooled, dots restored"
    );
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while dir
        .path()
        .join("spool/outgoing")
        .read_dir()
        .unwrap()
        .next()
        .is_some()
    {
        assert!(
            std::time::Instant::now() < end,
            "still spooled after the 250"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = relay.log_text();
    assert!(
        log.contains("POSSIBLY DUPLICATED") && log.contains(&id),
        "{log}"
    );
}

#[test]
fn help_teaches_and_check_reads_the_configuration() {
    let out = std::process::Command::new(support::SAM_MAIL)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for needle in [
        "multipart/signed",
        "ONE SAD",
        "possibly duplicated",
        "--config",
    ] {
        assert!(help.contains(needle), "{needle} not in --help:\n{help}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[spool]\ndir = \"/x\"\n").unwrap();
    let out = std::process::Command::new(support::SAM_MAIL)
        .args(["--check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("forward"),
        "{out:?}"
    );
}

/// `forward.starttls = "required"`: TLS to the next hop with its
/// certificate checked against `tls_ca` (aiosmtpd requiring STARTTLS
/// gets the message over TLS); a next hop that offers no STARTTLS gets
/// nothing and the relay says why.
#[test]
fn starttls_to_the_next_hop_is_required_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), &DevPkiOptions::default()).unwrap();
    let ca = pki.path(files::TLS_CA_CERT);
    let forward = format!(
        "next_hop = \"127.0.0.1:{{hop}}\"\nstarttls = \"required\"\ntls_ca = \"{}\"\nretry_initial_secs = 1\nretry_max_secs = 1",
        ca.display()
    );
    let msg = dir.path().join("m.eml");
    std::fs::write(
        &msg,
        b"From: a@example.org\r\nSubject: tls\r\n\r\nover TLS\r\n",
    )
    .unwrap();
    let mut seen = Vec::new();
    for (name, tls, extra) in [
        ("tls", true, ""),
        ("plain", false, ""),
        ("wrong-name", true, "\ntls_name = \"wrong.example\""),
    ] {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let (port, hop) = (
            sam_harness::free_port().unwrap(),
            sam_harness::free_port().unwrap(),
        );
        let cert = pki.path(files::SERVER_CERT);
        let key = pki.path(files::SERVER_KEY);
        let next =
            support::NextHop::start_tls(&sub, hop, tls.then_some((cert.as_path(), key.as_path())));
        let config = config(&sub, port, &pki, "\"127.0.0.0/8\"");
        let config = config.replace(
            "next_hop = \"127.0.0.1:9\"\nretry_initial_secs = 3600",
            &(forward.replace("{hop}", &hop.to_string()) + extra),
        );
        assert!(config.contains("starttls = \"required\""), "{config}");
        let relay = Relay::start(&sub, &config, port);
        let (c, r) = submit(port, "a@example.org", "b@example.net", &msg, &[]);
        assert_eq!(c, 250, "{r}");
        let got = next.wait_for(
            std::time::Duration::from_secs(if name == "tls" { 20 } else { 4 }),
            |r| !r.is_empty(),
        );
        seen.push((
            name,
            got.len(),
            got.first().map(|g| g.1["tls"].clone()),
            relay.log_text(),
        ));
    }
    let (_, n, tls, log) = &seen[0];
    assert_eq!(*n, 1, "{log}");
    assert_eq!(tls.clone(), Some(serde_json::json!(true)));
    let (_, n, _, log) = &seen[1];
    assert_eq!(*n, 0, "delivered without TLS: {log}");
    assert!(log.contains("offers no STARTTLS"), "{log}");
    let (_, n, _, log) = &seen[2];
    assert_eq!(*n, 0, "delivered to a certificate for another name: {log}");
    assert!(log.contains("TLS with the next hop"), "{log}");
}

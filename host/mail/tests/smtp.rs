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
    let spool = dir.path().join("spool/incoming");
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "nothing refused was spooled"
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
    let files: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let stored = std::fs::read(&files[0]).unwrap();
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
fn clients_outside_the_allowed_networks_get_554() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::create(&dir.path().join("pki"), &DevPkiOptions::default()).unwrap();
    let port = sam_harness::free_port().unwrap();
    let _relay = Relay::start(
        dir.path(),
        &config(dir.path(), port, &pki, "\"192.0.2.0/24\""),
        port,
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut greeting = String::new();
    std::io::Read::read_to_string(&mut s, &mut greeting).unwrap();
    assert!(greeting.starts_with("554 "), "{greeting}");
}

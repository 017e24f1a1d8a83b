#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! sam-mail end to end with parts nobody here wrote: Python's smtplib
//! submits, the relay signs with keys in a real samd on the simulated HSM
//! (sam-harness), aiosmtpd receives at the next hop, and `openssl smime
//! -verify` checks the signatures against the dev CA. Two senders (P-256
//! and RSA keys), several messages of one sender in ONE SAD, an unknown
//! sender, an expired certificate, an 8-bit body, a next hop that is down
//! and comes up (retry), a recipient the next hop never takes (bounce),
//! and the refuse policy for unknown senders.

mod support;

use sam_proto::ids::KeyAlgorithm;
use std::time::Duration;
use support::{NextHop, Relay, World, find, metric, smime_verify, submit};

/// The Content-* fields and body of a message as sent: what the signed
/// part must be, byte for byte.
fn entity(sent: &[u8]) -> Vec<u8> {
    let split = sent.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&sent[..split + 2]).to_string();
    let mut out = Vec::new();
    for field in head.split_inclusive("\r\n") {
        if field.to_ascii_lowercase().starts_with("content-") {
            out.extend_from_slice(field.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&sent[split + 4..]);
    out
}

fn header_block(m: &[u8]) -> String {
    let end = m
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(m.len());
    String::from_utf8_lossy(&m[..end]).to_string()
}

#[test]
fn relay_signs_batches_passes_retries_and_bounces() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), &[KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048]);
    let now = sam_devpki::unix_now();
    let alice_cert = w.certificate(0, now - 60, "alice");
    let bob_cert = w.certificate(1, now - 60, "bob");
    let dave_cert = w.certificate(0, now - 2 * 366 * 86_400, "dave-expired");
    // Issued 355 days ago, valid a year: expires in about 10 days.
    let erin_cert = w.certificate(1, now - 355 * 86_400, "erin-expiring");
    let (port, http, hop) = (
        sam_harness::free_port().unwrap(),
        sam_harness::free_port().unwrap(),
        sam_harness::free_port().unwrap(),
    );
    let senders = [
        ("alice@example.org", 0, alice_cert.as_path()),
        ("bob@example.org", 1, bob_cert.as_path()),
        ("dave@example.org", 0, dave_cert.as_path()),
        ("erin@example.org", 1, erin_cert.as_path()),
    ];
    // A window long enough to catch every submission in one batch.
    let config = w.config(
        port,
        http,
        hop,
        &senders,
        "batch_window_ms = 3000",
        "retry_initial_secs = 1\nretry_max_secs = 2\nbounce_after_secs = 20",
    );
    let relay = Relay::start(dir.path(), &config, port);

    let alice_8bit: &[u8] = b"From: Alice <alice@example.org>\r\nTo: x@example.net\r\nSubject: caf\xc3\xa9\r\nMessage-ID: <m1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe, \xe2\x82\xac 10\r\n.a dot line\r\nFrom the start\r\n";
    let alice_2: &[u8] = b"From: alice@example.org\r\nTo: y@example.net\r\nSubject: second\r\nMessage-ID: <m2@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\npart one\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b1--\r\n";
    let bob: &[u8] = b"From: Bob <bob@example.org>\r\nTo: x@example.net\r\nSubject: from bob\r\nMessage-ID: <m3@example.org>\r\nContent-Type: text/plain\r\n\r\nbob's text\r\n";
    let carol: &[u8] = b"From: carol@example.org\r\nTo: x@example.net\r\nSubject: unknown sender\r\nMessage-ID: <m4@example.org>\r\n\r\nnot signed\r\n";
    let dave: &[u8] = b"From: dave@example.org\r\nTo: x@example.net\r\nSubject: expired\r\nMessage-ID: <m5@example.org>\r\n\r\nexpired certificate\r\n";
    let stuck: &[u8] = b"From: alice@example.org\r\nTo: tempfail@example.net\r\nSubject: never delivered\r\nMessage-ID: <m6@example.org>\r\n\r\nstuck\r\n";
    let both: &[u8] = b"From: alice@example.org\r\nSender: Bob <bob@example.org>\r\nTo: x@example.net\r\nSubject: two signers\r\nMessage-ID: <m7@example.org>\r\nContent-Type: text/plain\r\n\r\nsigned by both\r\n";
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [u8], &'a [&'a str]);
    let cases: [Case; 7] = [
        ("both", "bob@example.org", "x@example.net", both, &[]),
        (
            "alice-8bit",
            "alice@example.org",
            "x@example.net",
            alice_8bit,
            &["--8bit"],
        ),
        (
            "alice-2",
            "alice@example.org",
            "y@example.net",
            alice_2,
            &[],
        ),
        ("bob", "bob@example.org", "x@example.net", bob, &[]),
        ("carol", "carol@example.org", "x@example.net", carol, &[]),
        ("dave", "dave@example.org", "x@example.net", dave, &[]),
        (
            "stuck",
            "alice@example.org",
            // z takes it at once, tempfail never: only tempfail bounces.
            "tempfail@example.net,z@example.net",
            stuck,
            &[],
        ),
    ];
    for (name, from, to, bytes, extra) in cases {
        let (code, reply) = submit(port, from, to, &w.message(name, bytes), extra);
        assert_eq!(code, 250, "{name}: {reply}\n{}", relay.log_text());
    }
    // The next hop is down: deliveries are deferred, then it comes up.
    std::thread::sleep(Duration::from_millis(4500));
    assert!(
        metric(http, "sam_mail_deferred_total").unwrap() >= 1.0,
        "{}",
        relay.log_text()
    );
    let next = NextHop::start(dir.path(), hop);
    // Room for a slow machine: the next hop is up long before bounce_after.
    let got = next.wait_for(Duration::from_secs(90), |r| r.len() >= 8);
    let log = relay.log_text();
    assert_eq!(got.len(), 8, "7 messages and 1 bounce expected\n{log}");

    let ca = w.ca();
    // Alice's two messages and Bob's: signed, verified by openssl against
    // the dev CA, the inner entity byte for byte, the right signer.
    for (name, sent, mid, cert) in [
        ("alice-8bit", alice_8bit, "<m1@example.org>", &alice_cert),
        ("alice-2", alice_2, "<m2@example.org>", &alice_cert),
        ("bob", bob, "<m3@example.org>", &bob_cert),
    ] {
        let m = find(&got, mid).unwrap_or_else(|| panic!("{name} not received"));
        let head = header_block(m);
        assert!(
            head.contains("multipart/signed; protocol=\"application/pkcs7-signature\""),
            "{name}: {head}"
        );
        assert!(
            head.contains(&format!("Message-ID: {mid}"))
                && head.contains("Received: from client.example"),
            "{head}"
        );
        let (ok, inner, signer, out) = smime_verify(dir.path(), name, m, &ca);
        assert!(ok, "{name}: {out}");
        // The external verifier's verdict, for the record (--nocapture).
        println!("openssl smime -verify {name}: {}", out.trim());
        assert_eq!(
            String::from_utf8_lossy(&inner),
            String::from_utf8_lossy(&entity(sent)),
            "{name}"
        );
        assert_eq!(inner, entity(sent), "{name}");
        let want = std::fs::read_to_string(cert).unwrap();
        assert_eq!(
            signer.trim(),
            want.trim(),
            "{name}: signed by the wrong key"
        );
        // A changed byte in the signed part no longer verifies.
        let mut bad = m.to_vec();
        let want_entity = entity(sent);
        let at = bad
            .windows(want_entity.len())
            .position(|w| w == want_entity)
            .unwrap()
            + want_entity.len()
            - 3;
        bad[at] ^= 1;
        let (ok, _, _, _) = smime_verify(dir.path(), &format!("{name}-bad"), &bad, &ca);
        assert!(!ok, "{name}: a changed message verified");
    }
    // From and Sender both sign: Bob's signature (the Sender, second
    // round) wraps Alice's, each verified by openssl, the innermost
    // content the entity as sent.
    let m = find(&got, "<m7@example.org>").unwrap();
    let (ok, inner, signer, out) = smime_verify(dir.path(), "both-outer", m, &ca);
    assert!(ok, "{out}");
    assert_eq!(
        signer.trim(),
        std::fs::read_to_string(&bob_cert).unwrap().trim()
    );
    assert!(
        String::from_utf8_lossy(&inner)
            .starts_with("MIME-Version: 1.0\r\nContent-Type: multipart/signed;")
    );
    let (ok, innermost, signer, out) = smime_verify(dir.path(), "both-inner", &inner, &ca);
    assert!(ok, "{out}");
    assert_eq!(
        signer.trim(),
        std::fs::read_to_string(&alice_cert).unwrap().trim()
    );
    assert_eq!(innermost, entity(both));
    let meta = |mid: &str| {
        got.iter()
            .find(|(m, _)| header_block(m).contains(mid))
            .unwrap()
            .1
            .clone()
    };
    assert!(
        meta("<m1@example.org>")["mail_options"]
            .to_string()
            .contains("BODY=8BITMIME")
    );
    let m1 = header_block(find(&got, "<m1@example.org>").unwrap());
    assert!(m1.contains("Content-Transfer-Encoding: 8bit"), "{m1}");
    let m3 = header_block(find(&got, "<m3@example.org>").unwrap());
    assert!(!m3.contains("Content-Transfer-Encoding"), "{m3}");
    // Carol (no key) and Dave (expired certificate) pass as they came.
    for (sent, mid) in [(carol, "<m4@example.org>"), (dave, "<m5@example.org>")] {
        let m = find(&got, mid).unwrap();
        assert!(m.ends_with(sent), "{}", String::from_utf8_lossy(m));
        assert!(!header_block(m).contains("multipart/signed"));
    }
    assert!(log.contains("expired or not yet valid"), "{log}");
    // Expiry: warned in the log, the days left in the metrics.
    let expires = |a: &str| {
        metric(
            http,
            &format!("sam_mail_certificate_expires_in_seconds{{address=\"{a}\"}}"),
        )
        .unwrap()
    };
    assert!(expires("dave@example.org") < 0.0);
    let erin_days = expires("erin@example.org") / 86_400.0;
    assert!((5.0..15.0).contains(&erin_days), "{erin_days}");
    assert!(expires("alice@example.org") / 86_400.0 > 300.0);
    let warned = |a: &str, what: &str| log.lines().any(|l| l.contains(what) && l.contains(a));
    assert!(warned("dave@example.org", "HAS EXPIRED"), "{log}");
    assert!(warned("erin@example.org", "expires soon"), "{log}");
    assert!(!warned("alice@example.org", "expires soon"), "{log}");
    // One SAD per key for the batch: Alice's two messages in one.
    // Alice x3 (the stuck message too), Bob, and the one of both. One
    // SAD per key and round: Alice's four first signatures in one, Bob's
    // in another, Bob's second signature of the two-signer message.
    assert_eq!(metric(http, "sam_mail_signed_total"), Some(5.0));
    assert_eq!(metric(http, "sam_mail_sads_total"), Some(3.0), "{log}");
    assert_eq!(metric(http, "sam_mail_unsigned_total"), Some(1.0));
    assert_eq!(
        metric(http, "sam_mail_certificate_invalid_total"),
        Some(1.0)
    );
    // The stuck message: a DSN to its envelope sender after bounce_after.
    let metas: Vec<_> = got.iter().map(|(_, m)| m.to_string()).collect();
    let dsn = got
        .iter()
        .find(|(_, meta)| meta["mail_from"] == "" || meta["mail_from"] == "<>")
        .unwrap_or_else(|| panic!("no bounce in {metas:?}"));
    assert_eq!(dsn.1["rcpt_tos"], serde_json::json!(["alice@example.org"]));
    let text = String::from_utf8_lossy(&dsn.0);
    assert!(text.contains("report-type=delivery-status"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822; tempfail@example.net"),
        "{text}"
    );
    assert!(
        text.contains("Action: failed") && text.contains("Message-ID: <m6@example.org>"),
        "{text}"
    );
    assert!(
        !text.contains("Final-Recipient: rfc822; z@example.net"),
        "{text}"
    );
    assert_eq!(
        meta("<m6@example.org>")["rcpt_tos"],
        serde_json::json!(["z@example.net"])
    );
    assert_eq!(metric(http, "sam_mail_bounced_total"), Some(1.0));
    assert_eq!(metric(http, "sam_mail_forwarded_total"), Some(8.0));
    assert_eq!(
        metric(http, "sam_mail_queue_size{stage=\"outgoing\"}"),
        Some(0.0)
    );
    assert!(
        std::fs::read_dir(dir.path().join("spool/outgoing"))
            .unwrap()
            .next()
            .is_none()
    );
    drop(relay);

    // unknown_sender = "refuse": Carol gets 550, Alice still 250.
    let config = w.config(
        port,
        http,
        hop,
        &senders,
        "unknown_sender = \"refuse\"\nbatch_window_ms = 50",
        "",
    );
    let relay = Relay::start(dir.path(), &config, port);
    let (code, _) = submit(
        port,
        "carol@example.org",
        "x@example.net",
        &w.message("carol", carol),
        &[],
    );
    assert_eq!(code, 550, "{}", relay.log_text());
    let (code, _) = submit(
        port,
        "alice@example.org",
        "x@example.net",
        &w.message("alice-2", alice_2),
        &[],
    );
    assert_eq!(code, 250);
    // A recipient the next hop refuses for good: bounced at once (5.x.x),
    // the other recipient gets the message.
    let refused: &[u8] = b"From: alice@example.org\r\nTo: ok@example.net, refuse@example.net\r\nSubject: one refused\r\nMessage-ID: <m8@example.org>\r\n\r\nhalf\r\n";
    let (code, _) = submit(
        port,
        "alice@example.org",
        "ok@example.net,refuse@example.net",
        &w.message("refused", refused),
        &[],
    );
    assert_eq!(code, 250);
    let got = next.wait_for(Duration::from_secs(30), |r| r.len() >= 11);
    assert_eq!(got.len(), 11, "{}", relay.log_text());
    let m8: Vec<_> = got
        .iter()
        .filter(|(m, _)| header_block(m).contains("<m8@example.org>"))
        .collect();
    assert_eq!(m8.len(), 1);
    assert_eq!(m8[0].1["rcpt_tos"], serde_json::json!(["ok@example.net"]));
    let dsn = got
        .iter()
        .rev()
        .find(|(m, _)| {
            String::from_utf8_lossy(m).contains("Final-Recipient: rfc822; refuse@example.net")
        })
        .expect("a bounce for refuse@");
    let text = String::from_utf8_lossy(&dsn.0);
    assert!(
        text.contains("Status: 5.0.0") && text.contains("550 5.1.1"),
        "{text}"
    );
}

/// samd or the IdP failing (here: the relay's login token is gone): the
/// message stays in the spool, unsigned and not forwarded, and is signed
/// once the token is back; nothing goes out unsigned meanwhile.
#[test]
fn a_failed_signing_is_retried_and_never_sent_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let stage = support::AliceStage::start(dir.path(), "batch_window_ms = 50\nretry_secs = 1", "");
    let token = dir.path().join("relay.token");
    let saved = std::fs::read(&token).unwrap();
    std::fs::remove_file(&token).unwrap();
    let msg: &[u8] = b"From: alice@example.org\r\nTo: x@example.net\r\nMessage-ID: <retry@example.org>\r\nContent-Type: text/plain\r\n\r\nwait for it\r\n";
    let (code, reply) = submit(
        stage.port,
        "alice@example.org",
        "x@example.net",
        &stage.w.message("retry", msg),
        &[],
    );
    assert_eq!(code, 250, "{reply}");
    std::thread::sleep(Duration::from_millis(3000));
    let failures = metric(stage.http, "sam_mail_signing_failures_total").unwrap();
    assert!(failures >= 2.0, "{failures}: {}", stage.relay.log_text());
    assert!(
        stage.next.received().is_empty(),
        "sent before it was signed"
    );
    assert_eq!(
        metric(stage.http, "sam_mail_queue_size{stage=\"incoming\"}"),
        Some(1.0)
    );
    std::fs::write(&token, saved).unwrap();
    let got = stage
        .next
        .wait_for(Duration::from_secs(20), |r| !r.is_empty());
    assert_eq!(got.len(), 1, "{}", stage.relay.log_text());
    let (ok, inner, _, out) = smime_verify(dir.path(), "retry", &got[0].0, &stage.w.ca());
    assert!(ok, "{out}");
    assert_eq!(inner, entity(msg));
}

/// DEV-ONLY `signing.dev_user_id`: no token file; the development IdP,
/// started to accept `userId`, issues the technical user's tokens, and
/// the mail is signed. The same relay against an IdP that wants a login
/// token signs nothing (the firmware never sees a SAD).
#[test]
fn dev_user_id_gets_tokens_from_the_dev_idp() {
    use sam_devpki::{DevIdpOptions, DevIdpServer};
    let dir = tempfile::tempdir().unwrap();
    let w = World::start(dir.path(), &[KeyAlgorithm::EcP256]);
    let cert = w.certificate(0, sam_devpki::unix_now() - 60, "alice");
    let believing =
        w.rt.block_on(DevIdpServer::start(
            std::sync::Arc::new(w.d.deployment.pki().idp().unwrap()),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            DevIdpOptions {
                accept_user_id: Some(sam_proto::asn1::IdentificationLevel::Substantial),
                ..DevIdpOptions::default()
            },
        ))
        .unwrap();
    let [port, http, hop] = [(); 3].map(|()| sam_harness::free_port().unwrap());
    let next = NextHop::start(dir.path(), hop);
    let senders = [("alice@example.org", 0, cert.as_path())];
    let base = w.config(
        port,
        http,
        hop,
        &senders,
        "batch_window_ms = 50\nretry_secs = 1",
        "",
    );
    let token_line = format!(
        "login_token = \"{}\"",
        dir.path().join("relay.token").display()
    );
    assert!(base.contains(&token_line));
    let dev = base.replace(&token_line, &format!("dev_user_id = \"{}\"", w.d.signer));
    let msg: &[u8] = b"From: alice@example.org\r\nTo: x@example.net\r\nMessage-ID: <dev@example.org>\r\nContent-Type: text/plain\r\n\r\ndev token\r\n";
    // An IdP that does not believe userId: refused, retried, nothing sent.
    let relay = Relay::start(dir.path(), &dev, port);
    let (code, _) = submit(
        port,
        "alice@example.org",
        "x@example.net",
        &w.message("dev", msg),
        &[],
    );
    assert_eq!(code, 250);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        metric(http, "sam_mail_signing_failures_total").unwrap() >= 1.0,
        "{}",
        relay.log_text()
    );
    assert!(next.received().is_empty());
    assert!(
        relay.log_text().contains("userId login is switched off"),
        "{}",
        relay.log_text()
    );
    drop(relay);
    // The believing IdP: the waiting message is signed.
    let dev = dev.replace(
        &format!("idp_url = \"{}\"", w.idp_url),
        &format!("idp_url = \"{}\"", believing.url()),
    );
    assert!(dev.contains(&believing.url()));
    let relay = Relay::start(dir.path(), &dev, port);
    let got = next.wait_for(Duration::from_secs(20), |r| !r.is_empty());
    assert_eq!(got.len(), 1, "{}", relay.log_text());
    let (ok, inner, _, out) = smime_verify(dir.path(), "dev", &got[0].0, &w.ca());
    assert!(ok, "{out}");
    assert_eq!(inner, entity(msg));
    assert!(relay.log_text().contains("[DEV-ONLY]"));
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! SIGKILL of the relay under a stream of messages (smtplib, one
//! connection each), restart, and at the end: every message answered
//! 250 arrived at the next hop (aiosmtpd), signed and verified by
//! openssl; a message that arrived more than once is covered by a
//! "POSSIBLY DUPLICATED" line in the relay's log.
//!
//! `SAM_MAIL_KILLS` sets the number of kills (default 6, a short run for
//! CI).

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{AliceStage, Relay, smime_verify};

fn message_id(m: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(m);
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .map(|s| s.trim().to_string())
}

#[test]
fn sigkill_under_a_stream_loses_no_accepted_message() {
    let kills: usize = std::env::var("SAM_MAIL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let AliceStage {
        w,
        next,
        mut relay,
        port,
        ..
    } = AliceStage::start(
        dir.path(),
        "batch_window_ms = 50\nretry_secs = 1",
        "retry_initial_secs = 1\nretry_max_secs = 1",
    );
    let client_dir = dir.path().join("client");
    std::fs::create_dir_all(&client_dir).unwrap();
    let total = 1_000_000;
    let mut stream = Command::new("python3")
        .arg(support::py("smtp_client.py"))
        .args([
            "stream",
            "127.0.0.1",
            &port.to_string(),
            "alice@example.org",
            "x@example.net",
        ])
        .arg(&client_dir)
        .arg(total.to_string())
        .spawn()
        .unwrap();
    // Kills at moments spread over 0.2..1.2 s, from a clock-seeded
    // generator (the seed is printed to repeat a run).
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill seed {seed}");
    for _ in 0..kills {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(200 + seed % 1000));
        relay.process.kill().unwrap();
        relay = Relay::start_on(dir.path(), &relay.config.clone(), port);
    }
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(client_dir.join("stop"), b"").unwrap();
    let end = Instant::now() + Duration::from_secs(300);
    while stream.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "the submitting client did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let accepted: Vec<String> = std::fs::read_to_string(client_dir.join("accepted.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    // The stream kept going through the kills (a kill every 0.7 s on
    // average; the client sends far more than one message a second).
    assert!(
        accepted.len() > 2 * kills,
        "only {} accepted over {kills} kills",
        accepted.len()
    );
    let got = next.wait_for(Duration::from_secs(120), |r| {
        let ids: std::collections::HashSet<_> =
            r.iter().filter_map(|(m, _)| message_id(m)).collect();
        accepted.iter().all(|a| ids.contains(a))
    });
    let log = relay.log_text();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (m, _) in &got {
        *counts.entry(message_id(m).unwrap()).or_default() += 1;
    }
    let lost: Vec<_> = accepted
        .iter()
        .filter(|a| !counts.contains_key(*a))
        .collect();
    assert!(
        lost.is_empty(),
        "lost after 250: {lost:?}\n{}",
        sam_harness::log_tail(&relay.log, 40)
    );
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    let logged = log.matches("POSSIBLY DUPLICATED").count();
    assert!(
        duplicates <= logged,
        "{duplicates} duplicates, {logged} logged"
    );
    // Every message arrived signed; openssl checks them all.
    let ca = w.ca();
    for (i, (m, _)) in got.iter().enumerate() {
        let (ok, _, _, out) = smime_verify(dir.path(), &format!("k{i}"), m, &ca);
        assert!(ok, "message {i}: {out}");
    }
    println!(
        "kills {kills}: {} answered 250, {} received ({} distinct), {duplicates} duplicated, {logged} logged as possibly duplicated",
        accepted.len(),
        got.len(),
        counts.len()
    );
}

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Throughput (ignored by default, it measures):
//! `cargo test -p sam-mail --test throughput -- --ignored --nocapture`.
//! smtplib submits N messages over 1 and over 64 concurrent connections;
//! the time runs until aiosmtpd has every one, signed (a sample checked
//! by openssl), batches of one SAD per key on.

mod support;

use std::time::{Duration, Instant};
use support::{AliceStage, metric, smime_verify, smtplib};

#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn signed_messages_per_second_with_1_and_64_clients() {
    let n: usize = std::env::var("SAM_MAIL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    let dir = tempfile::tempdir().unwrap();
    let AliceStage {
        w,
        next,
        relay,
        port,
        http,
    } = AliceStage::start(dir.path(), "", "concurrency = 8");
    let mut done = 0usize;
    for clients in [1usize, 64] {
        let sads_before = metric(http, "sam_mail_sads_total").unwrap();
        let start = Instant::now();
        let r = smtplib(&[
            "bench",
            "127.0.0.1",
            &port.to_string(),
            "alice@example.org",
            "x@example.net",
            &n.to_string(),
            &clients.to_string(),
        ]);
        assert_eq!(r["errors"], serde_json::json!([]), "{r}");
        let submitted = start.elapsed();
        done += n;
        let got = next.wait_for(Duration::from_secs(600), |g| g.len() >= done);
        assert_eq!(got.len(), done, "{}", sam_harness::log_tail(&relay.log, 30));
        let secs = start.elapsed().as_secs_f64();
        let sads = metric(http, "sam_mail_sads_total").unwrap() - sads_before;
        let log = relay.log_text();
        let bounces: Vec<_> = log
            .lines()
            .filter(|l| l.contains("bounc") || l.contains("for good"))
            .take(5)
            .collect();
        assert!(bounces.is_empty(), "{bounces:#?}");
        let (ok, _, _, out) = smime_verify(
            dir.path(),
            &format!("bench-{clients}"),
            &got[done - 1].0,
            &w.ca(),
        );
        assert!(ok, "{out}");
        println!(
            "{clients} client(s): {n} messages submitted in {:.2} s, all received signed after {secs:.2} s: {:.1} signed messages/s, {sads} SADs",
            submitted.as_secs_f64(),
            n as f64 / secs
        );
    }
}

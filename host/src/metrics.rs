//! Prometheus metrics in the text exposition format.
//!
//! Hand-rolled: four metric families do not justify a metrics framework in
//! the dependency tree. Label values come from fixed sets (route and
//! operation names, seed error names), never from client input, so the
//! number of series stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative histogram with [`BUCKETS`].
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (bound, n) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if v <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The daemon's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    in_flight: AtomicI64,
    firmware: Mutex<BTreeMap<&'static str, Histogram>>,
    commits: Mutex<Histogram>,
    committed_batches: Mutex<u64>,
}

/// Decrements the in-flight gauge when the request ends, on every path.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A new, empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a request as in flight until the guard drops.
    pub fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records a finished request: its operation (route or peering
    /// operation name), outcome (`ok` or a seed error name) and latency.
    pub fn observe_request(&self, operation: &str, outcome: &str, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((operation.to_owned(), outcome.to_owned()))
                .or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            m.entry(operation.to_owned()).or_default().observe(seconds);
        }
    }

    /// Records one firmware round trip.
    pub fn observe_firmware(&self, sub_function: &'static str, seconds: f64) {
        if let Ok(mut m) = self.firmware.lock() {
            m.entry(sub_function).or_default().observe(seconds);
        }
    }

    /// Records one group commit of `batches` write batches.
    pub fn observe_commit(&self, batches: usize, seconds: f64) {
        if let Ok(mut h) = self.commits.lock() {
            h.observe(seconds);
        }
        if let Ok(mut n) = self.committed_batches.lock() {
            *n += batches as u64;
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP samd_requests_total Requests by operation and outcome.\n");
        out.push_str("# TYPE samd_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((op, outcome), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "samd_requests_total{{operation=\"{op}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP samd_request_duration_seconds Request latency by operation.\n");
        out.push_str("# TYPE samd_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (op, h) in m.iter() {
                h.render(
                    &mut out,
                    "samd_request_duration_seconds",
                    &format!("operation=\"{op}\""),
                );
            }
        }
        out.push_str("# HELP samd_requests_in_flight Requests being served.\n");
        out.push_str("# TYPE samd_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "samd_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP samd_firmware_roundtrip_seconds Firmware call latency by sub-function.\n",
        );
        out.push_str("# TYPE samd_firmware_roundtrip_seconds histogram\n");
        if let Ok(m) = self.firmware.lock() {
            for (sf, h) in m.iter() {
                h.render(
                    &mut out,
                    "samd_firmware_roundtrip_seconds",
                    &format!("sub_function=\"{sf}\""),
                );
            }
        }
        out.push_str("# HELP samd_store_commit_seconds Duration of one durable group commit.\n");
        out.push_str("# TYPE samd_store_commit_seconds histogram\n");
        if let Ok(h) = self.commits.lock() {
            h.render(&mut out, "samd_store_commit_seconds", "");
        }
        out.push_str("# HELP samd_store_batches_total Write batches made durable.\n");
        out.push_str("# TYPE samd_store_batches_total counter\n");
        if let Ok(n) = self.committed_batches.lock() {
            let _ = writeln!(out, "samd_store_batches_total {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauge() {
        let m = Metrics::new();
        {
            let _g = m.start_request();
            m.observe_request("Signing", "ok", 0.003);
            m.observe_request("Signing", "ReplayedSad", 0.2);
        }
        m.observe_firmware("Signing", 0.002);
        m.observe_commit(3, 0.004);
        let text = m.render();
        assert!(text.contains("samd_requests_total{operation=\"Signing\",outcome=\"ok\"} 1"));
        assert!(text.contains(
            "samd_request_duration_seconds_bucket{operation=\"Signing\",le=\"0.005\"} 1"
        ));
        assert!(
            text.contains(
                "samd_request_duration_seconds_bucket{operation=\"Signing\",le=\"+Inf\"} 2"
            )
        );
        assert!(text.contains("samd_requests_in_flight 0"));
        assert!(text.contains("samd_firmware_roundtrip_seconds_count{sub_function=\"Signing\"} 1"));
        assert!(text.contains("samd_store_commit_seconds_count 1"));
        assert!(text.contains("samd_store_batches_total 3"));
    }
}

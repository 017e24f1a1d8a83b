//! report.json, report.md and the throughput plot.

use crate::Results;
use crate::pipeline::{IdpAlg, PipeResult};
use crate::prims::{Backend, alg_name};
use crate::stats::{Runs, fmt_num, num};
use sam_proto::ids::KeyAlgorithm;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

/// Keys report.json must carry (numbers, or null when not measured).
pub const REQUIRED_KEYS: [&str; 8] = [
    "pipeline_overhead_ratio",
    "full_p256_b1_vs_softhsm",
    "full_p256_b100_vs_softhsm",
    "full_rsa2048_b1_vs_softhsm",
    "scaling_2c_over_1c",
    "p99_over_p50_64c",
    "samd_peak_rss_mib",
    "errors",
];

/// A target: key, comparison, bound.
struct Target {
    key: &'static str,
    at_most: bool,
    bound: f64,
}

const TARGETS: [Target; 8] = [
    Target {
        key: "pipeline_overhead_ratio",
        at_most: true,
        bound: 1.10,
    },
    Target {
        key: "full_p256_b1_vs_softhsm",
        at_most: false,
        bound: 0.4,
    },
    Target {
        key: "full_p256_b100_vs_softhsm",
        at_most: false,
        bound: 2.0,
    },
    Target {
        key: "full_rsa2048_b1_vs_softhsm",
        at_most: false,
        bound: 1.0,
    },
    Target {
        key: "scaling_2c_over_1c",
        at_most: false,
        bound: 1.8,
    },
    Target {
        key: "p99_over_p50_64c",
        at_most: true,
        bound: 4.0,
    },
    Target {
        key: "samd_peak_rss_mib",
        at_most: true,
        bound: 150.0,
    },
    Target {
        key: "errors",
        at_most: true,
        bound: 0.0,
    },
];

fn find(
    r: &Results,
    key: KeyAlgorithm,
    idp: IdpAlg,
    hashes: usize,
    threads: usize,
) -> Option<&PipeResult> {
    r.pipeline
        .iter()
        .find(|p| p.key == key && p.idp == idp && p.hashes == hashes && p.threads == threads)
}

fn median_of(p: Option<&PipeResult>) -> f64 {
    p.map(|p| p.req_s.median()).unwrap_or(f64::NAN)
}

/// Signatures per second of the in-process pipeline (1 or 2 threads,
/// whichever is faster) over SoftHSM2's 2-thread C_Sign: both use the
/// machine's two cores.
fn pipeline_vs_softhsm(r: &Results, key: KeyAlgorithm, hashes: usize) -> f64 {
    let Ok(a) = &r.anchor else {
        return f64::NAN;
    };
    let soft = match key {
        KeyAlgorithm::EcP256 => a.p256_2t.median().max(a.p256_1t.median()),
        _ => a.rsa_2t.median().max(a.rsa_1t.median()),
    };
    let best = median_of(find(r, key, IdpAlg::P256, hashes, 1)).max(median_of(find(
        r,
        key,
        IdpAlg::P256,
        hashes,
        2,
    )));
    best * hashes as f64 / soft
}

fn full_find(
    r: &Results,
    key: KeyAlgorithm,
    hashes: usize,
    clients: usize,
) -> Option<&crate::fullstack::FullResult> {
    r.full
        .as_ref()
        .ok()?
        .results
        .iter()
        .find(|f| f.key == key && f.hashes == hashes && f.clients == clients)
}

/// Full-stack signatures per second (best N) over SoftHSM2's best C_Sign.
fn full_vs_softhsm(r: &Results, key: KeyAlgorithm, hashes: usize) -> f64 {
    let (Ok(a), Ok(full)) = (&r.anchor, &r.full) else {
        return f64::NAN;
    };
    let soft = match key {
        KeyAlgorithm::EcP256 => a.p256_2t.median().max(a.p256_1t.median()),
        _ => a.rsa_2t.median().max(a.rsa_1t.median()),
    };
    let best = full
        .results
        .iter()
        .filter(|f| f.key == key && f.hashes == hashes)
        .map(|f| f.req_s.median())
        .fold(f64::NAN, f64::max);
    best * hashes as f64 / soft
}

/// The machine: nproc, CPU model, rustc.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    json!({ "nproc": nproc, "cpu": cpu, "rustc": rustc, "os": std::env::consts::OS })
}

/// Versions of the crates that compute, from the workspace's Cargo.lock.
fn crate_versions() -> Value {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .unwrap_or_default();
    let mut out = Map::new();
    let wanted = [
        "aws-lc-rs",
        "aws-lc-sys",
        "p256",
        "p384",
        "rsa",
        "aes-gcm",
        "cryptoki",
    ];
    let mut name: Option<&str> = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = \"") {
            name = n.strip_suffix('"');
        } else if let Some(v) = line.strip_prefix("version = \"")
            && let Some(n) = name.take()
            && wanted.contains(&n)
        {
            out.insert(n.to_string(), json!(v.trim_end_matches('"')));
        }
    }
    out.insert(
        "softhsm2".into(),
        crate::softhsm::version().map_or(Value::Null, Value::String),
    );
    Value::Object(out)
}

/// report.json.
pub fn json(r: &Results) -> Value {
    let headline = find(r, KeyAlgorithm::EcP256, IdpAlg::P256, 1, 1);
    let overhead = headline.map(PipeResult::overhead).unwrap_or(f64::NAN);
    let scaling =
        median_of(find(r, KeyAlgorithm::EcP256, IdpAlg::P256, 1, 2)) / median_of(headline);
    let scaling_rsa = median_of(find(r, KeyAlgorithm::Rsa2048, IdpAlg::P256, 1, 2))
        / median_of(find(r, KeyAlgorithm::Rsa2048, IdpAlg::P256, 1, 1));
    let full_errors: usize = r
        .full
        .as_ref()
        .map(|f| {
            f.results.iter().map(|x| x.errors).sum::<usize>()
                + f.csc
                    .as_ref()
                    .map_or(0, |c| c.iter().map(|x| x.errors).sum::<usize>())
        })
        .unwrap_or(0);
    let csc = match r.full.as_ref().map(|f| &f.csc) {
        Ok(Ok(c)) => Value::Array(c.iter().map(|x| json!({
            "clients": x.clients, "signatures_per_s": x.req_s.json(), "p50_ms": x.p50_ms.json(),
            "signing_requests_per_s_median": num(x.signing_req_s),
            "csc_over_signing": num(x.ratio()), "errors": x.errors,
        })).collect()),
        Ok(Err(why)) => json!({ "missing": why }),
        Err(why) => json!({ "missing": why }),
    };
    let documents = match r.full.as_ref().map(|f| &f.documents) {
        Ok(Ok(d)) => Value::Array(d.iter().map(|x| json!({
            "format": x.format, "documents_per_sad": x.documents, "documents_per_s": x.docs_s.json(),
            "check_ms": x.check_ms.json(), "prepare_ms": x.prepare_ms.json(), "sign_ms": x.sign_ms.json(),
            "pdf_bytes": x.pdf_bytes,
        })).collect()),
        Ok(Err(why)) | Err(why) => json!({ "missing": why }),
    };
    let pades_bt = match r.full.as_ref().map(|f| &f.documents) {
        Ok(Ok(d)) => d
            .iter()
            .find(|x| x.format == "PAdES-B-T")
            .map_or(f64::NAN, |x| x.docs_s.median()),
        _ => f64::NAN,
    };
    let csc_ratio = |n: usize| match r.full.as_ref().map(|f| &f.csc) {
        Ok(Ok(c)) => c
            .iter()
            .find(|x| x.clients == n)
            .map_or(f64::NAN, |x| x.ratio()),
        _ => f64::NAN,
    };
    let errors: usize = r.pipeline.iter().map(|p| p.errors).sum::<usize>() + full_errors;
    let c64 = full_find(r, KeyAlgorithm::EcP256, 1, 64);
    let p99_over_p50 = c64.map_or(f64::NAN, |f| f.p99_ms.median() / f.p50_ms.median());
    let rss = r.full.as_ref().map_or(f64::NAN, |f| f.peak_rss_mib);
    let full = match &r.full {
        Ok(f) => Value::Array(f.results.iter().map(|x| json!({
            "key": alg_name(x.key), "hashes": x.hashes, "clients": x.clients,
            "requests_per_s": x.req_s.json(), "p50_ms": x.p50_ms.json(), "p99_ms": x.p99_ms.json(),
            "errors": x.errors,
        })).collect()),
        Err(why) => json!({ "missing": why }),
    };
    let prims: Vec<Value> = r
        .prims
        .iter()
        .map(|p| json!({ "backend": p.backend.name(), "op": p.name, "ops_per_s": p.ops.json() }))
        .collect();
    let pipeline: Vec<Value> = r
        .pipeline
        .iter()
        .map(|p| {
            json!({
                "key": alg_name(p.key), "idp": p.idp.name(), "hashes": p.hashes,
                "threads": p.threads, "requests_per_s": p.req_s.json(),
                "signatures_per_s_median": num(p.req_s.median() * p.hashes as f64),
                "primitive_sum_us": num(p.prim_sum * 1e6),
                "overhead_ratio": num(p.overhead()), "errors": p.errors,
            })
        })
        .collect();
    let anchor = match &r.anchor {
        Ok(a) => json!({
            "p256_c_sign_per_s_1t": a.p256_1t.json(), "p256_c_sign_per_s_2t": a.p256_2t.json(),
            "rsa2048_c_sign_per_s_1t": a.rsa_1t.json(), "rsa2048_c_sign_per_s_2t": a.rsa_2t.json(),
        }),
        Err(why) => json!({ "missing": why }),
    };
    json!({
        "pipeline_overhead_ratio": num(overhead),
        "full_p256_b1_vs_softhsm": num(full_vs_softhsm(r, KeyAlgorithm::EcP256, 1)),
        "full_p256_b100_vs_softhsm": num(full_vs_softhsm(r, KeyAlgorithm::EcP256, 100)),
        "full_rsa2048_b1_vs_softhsm": num(full_vs_softhsm(r, KeyAlgorithm::Rsa2048, 1)),
        "scaling_2c_over_1c": num(scaling),
        "p99_over_p50_64c": num(p99_over_p50),
        "samd_peak_rss_mib": num(rss),
        "errors": errors,
        "pipeline_p256_b1_vs_softhsm": num(pipeline_vs_softhsm(r, KeyAlgorithm::EcP256, 1)),
        "pipeline_p256_b100_vs_softhsm": num(pipeline_vs_softhsm(r, KeyAlgorithm::EcP256, 100)),
        "pipeline_rsa2048_b1_vs_softhsm": num(pipeline_vs_softhsm(r, KeyAlgorithm::Rsa2048, 1)),
        "scaling_2c_over_1c_rsa2048": num(scaling_rsa),
        "bare_state_store_per_s": r.bare_store.json(),
        "state_replace_reference_per_s": r.replace_reference.json(),
        "quick": r.quick,
        "profile": if r.dev { "dev" } else { "release" },
        "pipeline_reboots": r.reboots,
        "repeats": r.budget.repeats,
        "run_seconds": r.budget.per_run.as_secs_f64(),
        "elapsed_s": num(r.elapsed),
        "machine": machine(),
        "crates": crate_versions(),
        "primitives": prims,
        "pipeline": pipeline,
        "softhsm2": anchor,
        "full_stack": full,
        "csc_signhash_over_signing_1c": num(csc_ratio(1)),
        "csc_signhash_over_signing_8c": num(csc_ratio(8)),
        "csc": csc,
        "documents": documents,
        "sak_pades_bt_documents_per_s": num(pades_bt),
    })
}

fn verdict(t: &Target, v: Option<f64>) -> &'static str {
    match v {
        None => "not measured",
        Some(x) if (t.at_most && x <= t.bound) || (!t.at_most && x >= t.bound) => "met",
        Some(_) => "not met",
    }
}

/// report.md.
pub fn markdown(r: &Results, j: &Value) -> String {
    let mut s = String::new();
    let m = &j["machine"];
    let _ = writeln!(
        s,
        "# SAM benchmark{}{}\n",
        if r.quick { " (--quick)" } else { "" },
        if r.dev {
            " — dev-profile binaries: a smoke test, figures not comparable to a release run"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "Machine: {} × {}, {}; {}. Each figure is median (min–max) over {} runs of ~{:.1} s. Whole run: {:.0} s.\n",
        m["nproc"],
        m["cpu"].as_str().unwrap_or("?"),
        m["os"].as_str().unwrap_or("?"),
        m["rustc"].as_str().unwrap_or("?"),
        r.budget.repeats,
        r.budget.per_run.as_secs_f64(),
        r.elapsed
    );
    let _ = write!(s, "Crates:");
    if let Some(c) = j["crates"].as_object() {
        for (k, v) in c {
            let _ = write!(s, " {k} {},", v.as_str().unwrap_or("missing"));
        }
    }
    s.push_str(
        "\n\n## Targets\n\n| figure | value | target | verdict |\n| --- | --- | --- | --- |\n",
    );
    for t in &TARGETS {
        let v = j.get(t.key).and_then(Value::as_f64);
        let _ = writeln!(
            s,
            "| `{}` | {} | {} {} | {} |",
            t.key,
            match v {
                None => "null".into(),
                Some(x) if t.key == "errors" => format!("{x:.0}"),
                Some(x) => fmt_num(x),
            },
            if t.at_most { "≤" } else { "≥" },
            t.bound,
            verdict(t, v)
        );
    }
    s.push_str("\nFull-stack ratios: best throughput over N (signatures/s) over SoftHSM2's best C_Sign/s (1 or 2 threads). In-process equivalents: ");
    for k in [
        "pipeline_p256_b1_vs_softhsm",
        "pipeline_p256_b100_vs_softhsm",
        "pipeline_rsa2048_b1_vs_softhsm",
        "scaling_2c_over_1c_rsa2048",
    ] {
        let _ = write!(
            s,
            "`{k}` = {}; ",
            j.get(k)
                .and_then(Value::as_f64)
                .map_or("null".into(), fmt_num)
        );
    }
    s.push_str("\n\n## 1. Primitives (operations/s, through the firmware's `Crypto` trait)\n\n| operation | portable (RustCrypto) | aws-lc-rs | aws-lc / portable |\n| --- | --- | --- | --- |\n");
    let names: Vec<&String> = r
        .prims
        .iter()
        .filter(|p| p.backend == Backend::Portable)
        .map(|p| &p.name)
        .collect();
    for n in names {
        let get = |b: Backend| {
            r.prims
                .iter()
                .find(|p| p.backend == b && &p.name == n)
                .map(|p| &p.ops)
        };
        let (Some(pt), Some(al)) = (get(Backend::Portable), get(Backend::AwsLc)) else {
            continue;
        };
        let _ = writeln!(
            s,
            "| {n} | {} | {} | {} |",
            pt.cell(),
            al.cell(),
            fmt_num(al.median() / pt.median())
        );
    }
    s.push_str("\n## 2. Firmware pipeline in-process (`Simulator::call(Signing)`, aws-lc back-end, real state file with fsync)\n\n");
    s.push_str("| signer key | IdP | hashes/SAD | threads | requests/s | signatures/s (median) | primitives µs/request | pipeline / primitives |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for p in &r.pipeline {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            alg_name(p.key),
            p.idp.name(),
            p.hashes,
            p.threads,
            p.req_s.cell(),
            fmt_num(p.req_s.median() * p.hashes as f64),
            fmt_num(p.prim_sum * 1e6),
            fmt_num(p.overhead())
        );
    }
    let store = &r.bare_store;
    let reference = &r.replace_reference;
    let _ = writeln!(
        s,
        "\nBare `SimPlatform::store` of the counters slot (one in-place `pwrite` and one `fdatasync`), alone: {} stores/s, i.e. {} µs each. \
For reference, in the same run, replacing a 4 KiB file the previous format's way (write temp, fsync, rename, fsync dir): {} /s, i.e. {} µs. \
Every Signing request issues one audit record whose counters must be durable before the answer, so one thread cannot exceed the store rate; \
the primitives' sum is the other part of the cost. Simulator restarts in this section (to stay below the firmware's replay set of 65,536 unexpired SADs): {}.\n",
        store.cell(),
        fmt_num(1e6 / store.median()),
        reference.cell(),
        fmt_num(1e6 / reference.median()),
        r.reboots
    );
    s.push_str("## 3. Full stack (samd + in-process simulator + SQLite, mutual TLS on loopback, `SamClient::sign_sad`, SADs prepared before)\n\n");
    match &r.full {
        Ok(f) => {
            s.push_str("| signer key | hashes/SAD | clients | requests/s | p50 ms | p99 ms | errors |\n| --- | --- | --- | --- | --- | --- | --- |\n");
            for x in &f.results {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    alg_name(x.key),
                    x.hashes,
                    x.clients,
                    x.req_s.cell(),
                    x.p50_ms.cell(),
                    x.p99_ms.cell(),
                    x.errors
                );
            }
            let _ = writeln!(
                s,
                "\nsamd peak RSS (VmHWM): {} MiB.\n",
                fmt_num(f.peak_rss_mib)
            );
            csc_markdown(&mut s, &f.csc);
            documents_markdown(&mut s, &f.documents);
        }
        Err(why) => {
            let _ = writeln!(
                s,
                "Not measured: {why}. The `full_*`, `p99_over_p50_64c` and `samd_peak_rss_mib` keys are null.\n"
            );
        }
    }
    s.push_str("## 4. SoftHSM2 anchor (bare `C_Sign`, prehashed: `CKM_ECDSA`, `CKM_RSA_PKCS` over a SHA-256 DigestInfo)\n\n");
    match &r.anchor {
        Ok(a) => {
            s.push_str("| key | 1 thread | 2 threads | 2 / 1 |\n| --- | --- | --- | --- |\n");
            for (n, one, two) in [
                ("P-256", &a.p256_1t, &a.p256_2t),
                ("RSA-2048", &a.rsa_1t, &a.rsa_2t),
            ] {
                let _ = writeln!(
                    s,
                    "| {n} | {} | {} | {} |",
                    one.cell(),
                    two.cell(),
                    fmt_num(two.median() / one.median())
                );
            }
        }
        Err(why) => {
            let _ = writeln!(s, "Not measured: {why}. The ratios to SoftHSM2 are null.");
        }
    }
    notes(&mut s, r);
    s.push_str("\nPlot: `throughput.svg` (throughput against concurrency).\n");
    s
}

/// Section 3b: CSC `signHash` beside `/signing`.
fn csc_markdown(s: &mut String, csc: &Result<Vec<crate::csc::CscResult>, String>) {
    s.push_str("### 3b. CSC v2 `credentials/authorize` + `signatures/signHash` beside `/signing` (same samd, P-256, 1 hash per SAD)\n\n");
    match csc {
        Ok(c) => {
            s.push_str("| clients | CSC signatures/s | CSC p50 ms | `/signing` requests/s | CSC / `/signing` | errors |\n| --- | --- | --- | --- | --- | --- |\n");
            for x in c {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    x.clients,
                    x.req_s.cell(),
                    x.p50_ms.cell(),
                    fmt_num(x.signing_req_s),
                    fmt_num(x.ratio()),
                    x.errors
                );
            }
            s.push_str("\nA CSC signature is two HTTPS exchanges on the CSC listener (server-authenticated TLS, a bearer-token check on each) ending in the same firmware call as one `/signing` request.\n\n");
        }
        Err(why) => {
            let _ = writeln!(s, "Not measured: {why}.\n");
        }
    }
}

/// Section 3c: document signing through the SAK.
fn documents_markdown(s: &mut String, docs: &Result<Vec<crate::documents::DocResult>, String>) {
    s.push_str("### 3c. Document signing through the SAK (seed §7.3): one SAD for a batch of PDFs, P-256, SHA-256\n\n");
    match docs {
        Ok(d) => {
            s.push_str("| format | documents / SAD | documents/s | trusted checker ms | prepare ms | sign + finish ms | PDF bytes |\n| --- | --- | --- | --- | --- | --- | --- |\n");
            for x in d {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    x.format,
                    x.documents,
                    x.docs_s.cell(),
                    x.check_ms.cell(),
                    x.prepare_ms.cell(),
                    x.sign_ms.cell(),
                    x.pdf_bytes
                );
            }
            s.push_str("\nThe phases are timed in the run: the trusted checker over every document (`check-documents`, with the key object), preparing every container until the SAD-TBS can be read, and from the signer's SAD signature to the finished containers (one firmware call for the whole batch, a signature check per document, and for `-B-T` one request to the dev TSA per document).\n\n");
        }
        Err(why) => {
            let _ = writeln!(s, "Not measured: {why}.\n");
        }
    }
}

/// What limits the figures, from this run's own numbers.
fn notes(s: &mut String, r: &Results) {
    s.push_str("\n## Notes: what limits the figures (computed from this run)\n\n");
    let store_us = 1e6 / r.bare_store.median();
    if let Some(h) = find(r, KeyAlgorithm::EcP256, IdpAlg::P256, 1, 1) {
        let req_us = 1e6 / h.req_s.median();
        let prim_us = h.prim_sum * 1e6;
        let _ = writeln!(
            s,
            "* Overhead ratio (P-256 key, P-256 IdP, 1 hash, 1 thread): a request costs {} µs, its public-key and AEAD \
primitives {} µs. The bare durable store of the audit counters (`SimPlatform::store`: one in-place write and one \
`fdatasync`) costs {} µs on its own, i.e. {}% of the request; the rest ({} µs) is DER parsing, digests, HMACs, \
postcard, the audit acknowledgement (`SyncAudit`, as samd sends it) and the answer. Every Signing request must make \
its audit counter durable before it answers, so the ratio cannot approach 1.10 while one flush to disk per request \
costs about as much as the signature itself; it does approach 1 where the signing dominates (RSA and 100-hash \
batches above). The flush is the disk's (a virtual disk here): only storage with a cheaper durable write (the \
CP5's own non-volatile memory) lifts it, not code. The primitives themselves include, per signature, parsing and \
checking the PKCS#8 private key in the simulator's `Crypto::sign` (aws-lc `EC_KEY_check_key`, `RSA_check_key`, \
and for RSA a fresh blinding value, a modular inversion): a profile of this section puts that near half of a \
P-256 or RSA-2048 signature; an HSM keeps a parsed key object instead.",
            fmt_num(req_us),
            fmt_num(prim_us),
            fmt_num(store_us),
            fmt_num(100.0 * store_us / req_us),
            fmt_num(req_us - prim_us - store_us)
        );
    }
    let threads: Vec<String> = [1usize, 2, 8, 64]
        .into_iter()
        .filter_map(|t| {
            find(r, KeyAlgorithm::EcP256, IdpAlg::P256, 1, t)
                .map(|p| format!("{t} → {}", fmt_num(p.req_s.median())))
        })
        .collect();
    let _ = writeln!(
        s,
        "* Scaling (P-256, 1 hash, requests/s by calling threads): {}. The firmware makes the counters durable by \
group commit (`persist_through` in `firmware/src/audit.rs`): one caller (the leader) snapshots the counters \
after claiming the store, so each store covers every record issued so far; the others block in \
`Platform::wait_for_store` (the simulator: a condition variable) and are woken once, when the store they wait \
for has finished. A record issued during a store waits for it and is covered by the next, which one of those \
waiters leads at once; the stores run back to back, each carrying the whole backlog, so the flush rate times \
the batch size bounds throughput, not the flush rate alone, and past that the two cores do. Both cores are also shared with the other builds on this machine.",
        threads.join(", ")
    );
    if let (Ok(full), Ok(a)) = (&r.full, &r.anchor) {
        let one = full
            .results
            .iter()
            .find(|f| f.key == KeyAlgorithm::EcP256 && f.hashes == 1 && f.clients == 1);
        if let Some(one) = one {
            let _ = writeln!(
                s,
                "* Full stack against SoftHSM2: one P-256 request through samd takes {} ms at 1 client (p50) against \
{} µs for SoftHSM2's bare C_Sign; the same store-per-request and the lock above bound it (samd also commits \
the audit record to SQLite before answering). Batches amortize it: with 100 hashes per SAD the full stack \
signs {} signatures/s.",
                fmt_num(one.p50_ms.median()),
                fmt_num(1e6 / a.p256_1t.median()),
                fmt_num(
                    full.results
                        .iter()
                        .filter(|f| f.key == KeyAlgorithm::EcP256 && f.hashes == 100)
                        .map(|f| f.req_s.median() * 100.0)
                        .fold(f64::NAN, f64::max)
                )
            );
        }
    }
    s.push_str("* The machine is shared with other builds: fsync latency in particular varies between runs by an order of magnitude; compare figures within one report.\n");
}

/// One plotted series: a name, a colour and (concurrency, ops/s) points.
type Series = (String, &'static str, Vec<(f64, f64)>);

/// The throughput plot: operations/s against concurrency (threads),
/// log-scaled y axis, hand-written SVG.
pub fn svg(r: &Results) -> String {
    let mut series: Vec<Series> = Vec::new();
    let colours = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
    ];
    for (i, (key, hashes)) in [
        (KeyAlgorithm::EcP256, 1),
        (KeyAlgorithm::Rsa2048, 1),
        (KeyAlgorithm::EcP256, 100),
        (KeyAlgorithm::Rsa2048, 100),
    ]
    .into_iter()
    .enumerate()
    {
        let pts: Vec<(f64, f64)> = [1usize, 2, 8, 64]
            .into_iter()
            .filter_map(|t| {
                find(r, key, IdpAlg::P256, hashes, t)
                    .map(|p| (t as f64, p.req_s.median() * hashes as f64))
            })
            .collect();
        let c = colours.get(i).copied().unwrap_or("#000");
        series.push((
            format!("SAM pipeline {} ×{hashes} (signatures/s)", alg_name(key)),
            c,
            pts,
        ));
    }
    if let Ok(f) = &r.full {
        for (key, hashes, c) in [
            (KeyAlgorithm::EcP256, 1, "#17becf"),
            (KeyAlgorithm::EcP256, 100, "#bcbd22"),
            (KeyAlgorithm::Rsa2048, 1, "#e377c2"),
        ] {
            let pts: Vec<(f64, f64)> = f
                .results
                .iter()
                .filter(|x| x.key == key && x.hashes == hashes)
                .map(|x| (x.clients as f64, x.req_s.median() * hashes as f64))
                .collect();
            series.push((
                format!("full stack {} ×{hashes} (signatures/s)", alg_name(key)),
                c,
                pts,
            ));
        }
    }
    if let Ok(a) = &r.anchor {
        let pts = |one: &Runs, two: &Runs| vec![(1.0, one.median()), (2.0, two.median())];
        series.push((
            "SoftHSM2 C_Sign P-256".into(),
            "#ff7f0e",
            pts(&a.p256_1t, &a.p256_2t),
        ));
        series.push((
            "SoftHSM2 C_Sign RSA-2048".into(),
            "#8c564b",
            pts(&a.rsa_1t, &a.rsa_2t),
        ));
    }
    let (w, h, left, right, top, bottom) = (720.0, 420.0, 70.0, 300.0, 30.0, 50.0);
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let lo = all
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(1.0)
        .log10()
        .floor();
    let hi = all
        .iter()
        .copied()
        .fold(1.0, f64::max)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let x_of = |t: f64| left + t.max(1.0).log2() / 6.0 * (w - left - right);
    let y_of = |v: f64| top + (hi - v.max(1.0).log10()) / (hi - lo) * (h - top - bottom);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="18" font-size="14">Throughput against concurrency (log scale)</text>"#
    );
    let (x0, x1, y0, y1) = (left, w - right, top, h - bottom);
    let _ = writeln!(
        s,
        r#"<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="black"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>"#
    );
    let mut e = lo;
    while e <= hi {
        let y = y_of(10f64.powf(e));
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            fmt_num(10f64.powf(e))
        );
        e += 1.0;
    }
    for t in [1.0, 2.0, 8.0, 64.0] {
        let x = x_of(t);
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{t}</text>"#,
            y1 + 18.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">threads / concurrent requests</text>"#,
        (x0 + x1) / 2.0,
        h - 10.0
    );
    for (i, (name, colour, pts)) in series.iter().enumerate() {
        let path: Vec<String> = pts
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(t, v)| format!("{:.1},{:.1}", x_of(t), y_of(v)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for &(t, v) in pts.iter().filter(|p| p.1.is_finite()) {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x_of(t),
                y_of(v)
            );
        }
        let ly = top + 16.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="3" fill="{colour}"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            x1 + 12.0,
            ly + 4.0,
            x1 + 30.0,
            ly + 9.0
        );
    }
    s.push_str("</svg>\n");
    s
}

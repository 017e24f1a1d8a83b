//! Peak memory of CSC `signDoc`'s preparation of one big document, the
//! figure behind "bounded" in the README (Linux: `VmHWM`).
//!
//! ```text
//! cargo run --release -p sam-docsign --example signdoc_memory -- make C Detached 60 body.json
//! cargo run --release -p sam-docsign --example signdoc_memory -- run body.json
//! ```
//!
//! `make` writes the JSON body of a signDoc request with one document of
//! the given MiB (`C` text, `X` XML, `P` a PDF); `run` reads it (what
//! samd holds after reading the body) and runs the service's steps
//! before the firmware: parse, the size and checker pass, the
//! preparation and the to-be-signed hash. It prints the body size and
//! the process's peak resident memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use base64::Engine as _;
use sam_docsign::SignerCert;
use sam_docsign::signdoc::{Limits, SignDocDocument, SignDocRequest, SignedProp};
use sam_proto::ids::HashAlgorithm;
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

fn document(format: &str, mib: usize) -> Vec<u8> {
    let n = mib * 1024 * 1024;
    match format {
        "C" => (0..n).map(|i| b'a' + (i % 26) as u8).collect(),
        "X" => {
            let mut x = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc>".to_vec();
            while x.len() < n {
                x.extend_from_slice(b"<line>some text of the document</line>\n");
            }
            x.extend_from_slice(b"</doc>\n");
            x
        }
        "P" => {
            let text = "x".repeat(n);
            sam_harness::documents::pdf(&[&text]).unwrap()
        }
        other => panic!("format {other}: C, X or P"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let signer = {
        let ca = sam_testkeys::SigningCa::new(16);
        let key = sam_testkeys::p256_key(16, 3);
        SignerCert {
            certificate: ca.issue_now(&sam_testkeys::spki(key.verifying_key()), now() as i64),
            chain: vec![ca.cert.clone()],
        }
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["make", format, envelope, mib, file] => {
            let data = document(format, mib.parse().unwrap());
            let req = SignDocRequest {
                credential_id: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9".into(),
                sad: Some("handle".into()),
                documents: Some(vec![SignDocDocument {
                    document: base64::engine::general_purpose::STANDARD.encode(&data),
                    signature_format: (*format).into(),
                    conformance_level: None,
                    sign_algo: "1.2.840.10045.4.3.2".into(),
                    sign_algo_params: None,
                    signed_props: Some(vec![SignedProp {
                        attribute_name: "signing-time".into(),
                        attribute_value: sam_docsign::signdoc::generalized_time(now()),
                    }]),
                    signed_envelope_property: Some((*envelope).into()),
                }]),
                document_digests: None,
                operation_mode: None,
                client_data: None,
            };
            std::fs::write(file, serde_json::to_vec(&req).unwrap()).unwrap();
            println!("document {} bytes", data.len());
        }
        ["run", file] => {
            let body = std::fs::read(file).unwrap();
            let req: SignDocRequest = serde_json::from_slice(&body).unwrap();
            let limits = Limits {
                max_document_bytes: 64 * 1024 * 1024,
                timestamps: true,
                now: now(),
            };
            let hashes = sam_docsign::signdoc::to_be_signed_hashes(
                req,
                &signer,
                HashAlgorithm::Sha256,
                &limits,
            )
            .unwrap();
            assert_eq!(hashes.len(), 1);
            println!(
                "body {:.1} MiB, peak resident {:.1} MiB",
                body.len() as f64 / 1048576.0,
                peak_mib()
            );
        }
        _ => panic!("make FORMAT ENVELOPE MIB FILE | run FILE"),
    }
}

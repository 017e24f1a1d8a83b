//! The document chapter: a PDF, an XML invoice and a text file signed in
//! ONE batch with ONE SAD through samd's SAK paths (seed §7.3), as
//! PAdES-B-T, XAdES-B-T and CAdES-B-T with time-stamps from the dev TSA,
//! and each container checked by a verifier nobody here wrote: `pdfsig`
//! (poppler), `xmlsec1` and `openssl cms`.

use crate::demo::{Demo, SignerKey, write};
use crate::signing::Ssa;
use sam_devpki::files;
use sam_docsign::client::{SakClient, approve, document};
use sam_docsign::wire::{CreateRequest, HashAlgorithmRef};
use sam_proto::ids::UserId;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const INVOICE: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<invoice number=\"2026-117\">\n  <to>ACME &amp; Sons</to>\n  <total currency=\"EUR\">1290.00</total>\n</invoice>\n";
const MINUTES: &[u8] = b"Minutes of the board meeting, 3 December 2026.\nAll resolutions passed.\n";

/// A two-page contract, written with the SAK's own PDF library.
fn contract_pdf() -> Result<Vec<u8>, String> {
    sam_harness::documents::pdf(&[
        "Service contract, page 1 of 2",
        "Service contract, page 2 of 2",
    ])
    .map_err(|e| format!("contract.pdf: {e}"))
}

/// Runs a verifier; its exit status and everything it printed.
fn verdict(cmd: &mut Command) -> Result<(bool, String), String> {
    let out = cmd.output().map_err(|e| {
        format!(
            "{:?}: {e} (ci/install-deps.sh installs it)",
            cmd.get_program()
        )
    })?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// The line of `text` that contains `needle`, trimmed.
fn line_with<'a>(text: &'a str, needle: &str) -> Option<&'a str> {
    text.lines().map(str::trim).find(|l| l.contains(needle))
}

fn pdfsig(file: &Path) -> Result<String, String> {
    let (ok, out) = verdict(Command::new("pdfsig").arg(file))?;
    let valid = line_with(&out, "Signature Validation:").map(|l| l.trim_start_matches("- "));
    match (ok, valid, line_with(&out, "Total document signed")) {
        (true, Some(v), Some(_)) if v.contains("Signature is Valid") => Ok(format!(
            "pdfsig: {v}, total document signed{}",
            if out.contains("ETSI.CAdES.detached") {
                ", ETSI.CAdES.detached"
            } else {
                ""
            }
        )),
        _ => Err(format!("pdfsig {}: {}", file.display(), out.trim())),
    }
}

fn xmlsec1(file: &Path, ca: &Path) -> Result<String, String> {
    let (ok, out) = verdict(
        Command::new("xmlsec1")
            .arg("--verify")
            .arg("--trusted-pem")
            .arg(ca)
            .arg(file),
    )?;
    match (ok, line_with(&out, "SignedInfo References (ok/all)")) {
        (true, Some(refs)) if out.lines().any(|l| l.trim() == "OK") => {
            Ok(format!("xmlsec1 --verify: OK, {refs}"))
        }
        _ => Err(format!("xmlsec1 {}: {}", file.display(), out.trim())),
    }
}

fn openssl_cms(p7s: &Path, content: &Path, ca: &Path) -> Result<String, String> {
    let (ok, out) = verdict(
        Command::new("openssl")
            .args([
                "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in",
            ])
            .arg(p7s)
            .arg("-content")
            .arg(content)
            .arg("-CAfile")
            .arg(ca)
            .args(["-out", if cfg!(unix) { "/dev/null" } else { "NUL" }]),
    )?;
    let (_, printed) = verdict(
        Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "DER", "-in"])
            .arg(p7s),
    )?;
    match line_with(&out, "Verification successful") {
        Some(v) if ok && printed.contains("id-smime-aa-timeStampToken") => Ok(format!(
            "openssl cms -verify: {v}, with a signature time-stamp"
        )),
        _ => Err(format!("openssl cms {}: {}", p7s.display(), out.trim())),
    }
}

impl Demo {
    /// The SAK remote flow for three documents with one SAD; each signed
    /// file written next to its original and checked by its verifier.
    pub fn sign_documents_via_sak(
        &self,
        ssa: &Ssa,
        signer: UserId,
        key: &SignerKey,
    ) -> Result<((), String), String> {
        let pdf = contract_pdf()?;
        let originals: [(&str, &str, &[u8], Option<&str>); 3] = [
            ("contract", "contract.pdf", &pdf, Some("PAdES-B-T")),
            ("invoice", "invoice.xml", INVOICE, Some("XAdES-B-T")),
            ("minutes", "minutes.txt", MINUTES, Some("CAdES-B-T")),
        ];
        let mut documents = Vec::new();
        for (id, name, data, format) in originals {
            write(&self.out.join(name), data)?;
            documents.push(document(id, name, data, format));
        }
        let sak = Arc::new(
            SakClient::new(
                &self.csc_url,
                &self.pki().path(files::TLS_CA_CERT),
                Duration::from_secs(60),
            )
            .map_err(|e| e.to_string())?,
        );
        // The signer's environment: a SAD key bound into the signer's token.
        let (sad_key, token) = self.sad_token(ssa, signer)?;

        let key_object = self
            .rt
            .block_on(sak.open(&token, key.key_id, &key.certificate))
            .map_err(|e| format!("/smartcard/remote-signature/key: {e}"))?;
        let report = self
            .rt
            .block_on(sak.check(&documents))
            .map_err(|e| format!("/trusted-checker/check-documents: {e}"))?;
        if let Some(bad) = report.checked_documents.iter().find(|c| !c.proof_result) {
            return Err(format!(
                "the trusted checker refused {}: {}",
                bad.document_id, bad.error_message
            ));
        }
        let request = CreateRequest {
            key_object: key_object.clone(),
            documents,
            proof_report: Some(report),
            hash_algorithm: HashAlgorithmRef {
                oid: None,
                name: Some("SHA-256".into()),
            },
            signature_container_format: "CAdES-B-T".into(),
        };
        let waiting = {
            let sak = Arc::clone(&sak);
            self.rt
                .spawn(async move { sak.create_signatures(&request).await })
        };
        let sad_data = self
            .rt
            .block_on(sak.sad_data(&key_object.uuid, Duration::from_secs(30)))
            .map_err(|e| format!("GET /digest/remote-signature/{{uuid}}: {e}"))?;
        let mine: Vec<(&str, &[u8])> = originals.iter().map(|(id, _, d, _)| (*id, *d)).collect();
        let (signature, _) =
            approve(&sad_data, &mine, &sad_key).map_err(|e| format!("the signer's check: {e}"))?;
        self.rt
            .block_on(sak.send_sad_signature(&key_object.uuid, &signature))
            .map_err(|e| format!("POST /digest/remote-signature/{{uuid}}: {e}"))?;
        let containers = self
            .rt
            .block_on(waiting)
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("/digest/create-signatures: {e}"))?;
        let get = |id: &str| {
            containers
                .get(id)
                .ok_or_else(|| format!("no container for {id}"))
        };
        let signed_pdf = self.out.join("contract-signed.pdf");
        let signed_xml = self.out.join("invoice-signed.xml");
        let p7s = self.out.join("minutes.txt.p7s");
        write(&signed_pdf, get("contract")?)?;
        write(&signed_xml, get("invoice")?)?;
        write(&p7s, get("minutes")?)?;
        let ca = self.out.join("ca.pem");
        let verdicts = [
            format!("contract-signed.pdf (PAdES-B-T) {}", pdfsig(&signed_pdf)?),
            format!(
                "invoice-signed.xml (XAdES-B-T) {}",
                xmlsec1(&signed_xml, &ca)?
            ),
            format!(
                "minutes.txt.p7s (CAdES-B-T) {}",
                openssl_cms(&p7s, &self.out.join("minutes.txt"), &ca)?
            ),
        ];
        Ok((
            (),
            format!(
                "ONE SAD over {} hashes (the signer's environment checked each document's \
                 hash first); time-stamps from the dev TSA; {}",
                sad_data.documents.len(),
                verdicts.join("; ")
            ),
        ))
    }
}

//! `samctl mail`: the seal keys of the mail relay sam-mail. `csr`
//! generates a key for a sender address in the SAM (Generate_Signer_Key_Pair
//! with the address in the request's subject) and records it as pending in
//! sam-mail's senders file; `register` checks the issued certificate
//! against that key (public key, validity, address), registers it with
//! samd and switches the address to the new key.

use super::print_json;
use crate::ctl::approval::parse_uuid;
use crate::ctl::cli::{MailCommand, MailCsrArgs, MailRegisterArgs};
use crate::ctl::error::{CtlError, CtlResult};
use crate::ctl::files;
use crate::ctl::settings::Settings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use der::asn1::{Ia5StringRef, Utf8StringRef};
use der::{Decode, Encode};
use sam_mail::senders::{PendingKey, SendersFile, folder};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};

/// `emailAddress` (PKCS #9).
const EMAIL_ADDRESS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");
const COMMON_NAME: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
const ORGANIZATION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.4.10");
/// PKCS #7 / CMS signedData.
const SIGNED_DATA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");

pub(super) async fn mail(s: &Settings, command: MailCommand) -> CtlResult<u8> {
    match command {
        MailCommand::Csr(a) => csr(s, a).await,
        MailCommand::Register(a) => register(s, a).await,
    }
}

#[derive(Serialize)]
struct CsrAnswer {
    address: String,
    keyid: String,
    csr: String,
    senders: String,
}

#[derive(Serialize)]
struct RegisterAnswer {
    address: String,
    keyid: String,
    certificate: String,
    not_after: String,
    /// The address's previous key, which no longer signs for it.
    replaced: Option<String>,
}

/// A mail address as the relay compares it: one `@`, a local part and a
/// domain, printable ASCII without spaces (IA5String in the subject).
fn check_address(address: &str) -> CtlResult<()> {
    let ok = address.len() <= 254
        && address.bytes().all(|b| b.is_ascii_graphic())
        && !address.contains(['<', '>', '"', ',', '\\'])
        && matches!(address.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(CtlError::usage(format!(
            "--address {address:?} is not a mail address (local@domain, ASCII)"
        )))
    }
}

fn rdn(oid: der::asn1::ObjectIdentifier, value: der::Any) -> CtlResult<RelativeDistinguishedName> {
    let mut rdn = RelativeDistinguishedName::default();
    rdn.insert(AttributeTypeAndValue { oid, value })
        .map_err(|e| CtlError::failed(format!("subject: {e}")))?;
    Ok(rdn)
}

/// The DER subject `[O=organization,]CN=address,emailAddress=address`
/// (emailAddress as IA5String, PKCS #9).
pub fn mail_subject(address: &str, organization: Option<&str>) -> CtlResult<Vec<u8>> {
    let bad = |e: der::Error| CtlError::usage(format!("subject: {e}"));
    let utf8 = |v: &str| -> CtlResult<der::Any> {
        der::Any::encode_from(&Utf8StringRef::new(v).map_err(bad)?).map_err(bad)
    };
    let mut rdns = RdnSequence::default();
    if let Some(o) = organization {
        rdns.push(rdn(ORGANIZATION, utf8(o)?)?);
    }
    rdns.push(rdn(COMMON_NAME, utf8(address)?)?);
    let email = der::Any::encode_from(&Ia5StringRef::new(address).map_err(bad)?).map_err(bad)?;
    rdns.push(rdn(EMAIL_ADDRESS, email)?);
    rdns.to_der().map_err(bad)
}

async fn csr(s: &Settings, a: MailCsrArgs) -> CtlResult<u8> {
    check_address(&a.address)?;
    let user_id = parse_uuid(&a.user_id, "--user-id")?;
    let mut senders = SendersFile::load_or_empty(&a.senders).map_err(CtlError::failed)?;
    let subject = mail_subject(&a.address, a.organization.as_deref())?;
    let answer = super::peering::generate(s, &a.token, user_id, a.algorithm, Some(subject)).await?;
    let csr = answer
        .csr
        .ok_or_else(|| CtlError::failed("samd's answer has no certification request"))?;
    let out = a
        .out
        .unwrap_or_else(|| folder(&a.senders).join(format!("{}.csr", a.address)));
    std::fs::write(&out, files::pem("CERTIFICATE REQUEST", &csr.0))
        .map_err(|e| CtlError::failed(format!("{}: {e}", out.display())))?;
    senders.pending.push(PendingKey {
        address: a.address.clone(),
        key_id: answer.keyid.clone(),
        public_key: STANDARD.encode(&answer.publickey.0),
        csr: out.clone(),
    });
    senders.save(&a.senders).map_err(CtlError::failed)?;
    print_json(&CsrAnswer {
        address: a.address,
        keyid: answer.keyid,
        csr: out.display().to_string(),
        senders: a.senders.display().to_string(),
    })
}

/// The certificates of a PEM (CERTIFICATE sections or one PKCS7), DER
/// certificate or DER PKCS#7 file, each DER.
pub fn certificate_file(path: &Path) -> CtlResult<Vec<Vec<u8>>> {
    let bytes =
        std::fs::read(path).map_err(|e| CtlError::usage(format!("{}: {e}", path.display())))?;
    let not = |why: &str| CtlError::usage(format!("{}: not a certificate ({why})", path.display()));
    let ders = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        match der::pem::decode_vec(&bytes) {
            Ok(("PKCS7", der)) => pkcs7_certificates(&der)
                .ok_or_else(|| not("a PKCS7 section without certificates"))?,
            _ => files::certificates(path).map_err(|_| not("no CERTIFICATE or PKCS7 section"))?,
        }
    } else if Certificate::from_der(&bytes).is_ok() {
        vec![bytes]
    } else {
        pkcs7_certificates(&bytes)
            .ok_or_else(|| not("neither a DER certificate nor a DER PKCS#7 with certificates"))?
    };
    for d in &ders {
        Certificate::from_der(d).map_err(|e| not(&format!("X.509: {e}")))?;
    }
    Ok(ders)
}

/// The certificates of a DER PKCS#7/CMS SignedData (certs-only bundle).
fn pkcs7_certificates(der: &[u8]) -> Option<Vec<Vec<u8>>> {
    let ci = cms::content_info::ContentInfo::from_der(der).ok()?;
    if ci.content_type != SIGNED_DATA {
        return None;
    }
    let sd: cms::signed_data::SignedData = ci.content.decode_as().ok()?;
    let certs: Vec<Vec<u8>> = sd
        .certificates?
        .0
        .iter()
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
            cms::cert::CertificateChoices::Other(_) => None,
        })
        .collect();
    (!certs.is_empty()).then_some(certs)
}

/// Whether `cert` names `address` in its subjectAltName (rfc822Name) or
/// its subject (emailAddress), without regard to case.
fn names_address(cert: &Certificate, address: &str) -> bool {
    let tbs = cert.tbs_certificate();
    let in_san = matches!(
        tbs.get_extension::<SubjectAltName>(),
        Ok(Some((_, san))) if san.0.iter().any(|n| matches!(n, GeneralName::Rfc822Name(m) if m.as_str().eq_ignore_ascii_case(address)))
    );
    let in_subject = tbs.subject().iter().any(|atv| {
        atv.oid == EMAIL_ADDRESS
            && atv
                .value
                .decode_as::<Ia5StringRef<'_>>()
                .is_ok_and(|v| v.as_str().eq_ignore_ascii_case(address))
    });
    in_san || in_subject
}

/// The leaf of `chain` for the pending key, checked; the chain with the
/// leaf first.
pub fn check_certificate(
    chain: Vec<Vec<u8>>,
    pending: &PendingKey,
    now: SystemTime,
) -> CtlResult<(Vec<Vec<u8>>, Certificate)> {
    let spki = STANDARD
        .decode(&pending.public_key)
        .map_err(|_| CtlError::failed("the senders file's public_key is not base64"))?;
    let refused = |why: String| CtlError::failed(format!("certificate refused: {why}"));
    let mut leaf = None;
    for (i, d) in chain.iter().enumerate() {
        let c = Certificate::from_der(d).map_err(|e| refused(format!("X.509: {e}")))?;
        let key = c
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| refused(format!("X.509: {e}")))?;
        if key == spki {
            leaf = Some((i, c));
            break;
        }
    }
    let Some((i, cert)) = leaf else {
        return Err(refused(format!(
            "no certificate in the file is for the public key of {}'s pending key {} (wrong key)",
            pending.address, pending.key_id
        )));
    };
    let validity = cert.tbs_certificate().validity();
    if now > validity.not_after.to_system_time() {
        return Err(refused(format!(
            "expired (notAfter {})",
            validity.not_after
        )));
    }
    if now < validity.not_before.to_system_time() {
        return Err(refused(format!(
            "not valid yet (notBefore {})",
            validity.not_before
        )));
    }
    if !names_address(&cert, &pending.address) {
        return Err(refused(format!(
            "it names {} neither as subjectAltName rfc822Name nor as subject emailAddress",
            pending.address
        )));
    }
    let mut chain = chain;
    let leaf_der = chain.remove(i);
    chain.insert(0, leaf_der);
    Ok((chain, cert))
}

async fn register(s: &Settings, a: MailRegisterArgs) -> CtlResult<u8> {
    check_address(&a.address)?;
    let mut senders = SendersFile::load(&a.senders).map_err(CtlError::failed)?;
    let pending = senders.pending(&a.address).cloned().ok_or_else(|| {
        CtlError::failed(format!(
            "{} has no pending key in {}: `samctl mail csr` first",
            a.address,
            a.senders.display()
        ))
    })?;
    let chain = certificate_file(&a.certificate)?;
    let (chain, cert) = check_certificate(chain, &pending, SystemTime::now())?;
    let key_id = parse_uuid(&pending.key_id, "the pending key_id")?;
    let leaf = chain
        .first()
        .ok_or_else(|| CtlError::failed("no certificate"))?;
    super::keys::register(s, &a.token, key_id, leaf).await?;
    let name = PathBuf::from(format!("{}.pem", pending.address));
    let path = folder(&a.senders).join(&name);
    let pem: String = chain.iter().map(|d| files::pem("CERTIFICATE", d)).collect();
    std::fs::write(&path, pem).map_err(|e| CtlError::failed(format!("{}: {e}", path.display())))?;
    let replaced = senders
        .activate(&pending.key_id, name)
        .map_err(CtlError::failed)?;
    senders.save(&a.senders).map_err(CtlError::failed)?;
    print_json(&RegisterAnswer {
        address: pending.address,
        keyid: pending.key_id,
        certificate: path.display().to_string(),
        not_after: cert.tbs_certificate().validity().not_after.to_string(),
        replaced: replaced.map(|r| r.key_id),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_the_subject() {
        for bad in ["", "a", "@b", "a@", "a b@c", "a@b@c", "<a@b>", "ä@b.de"] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
        check_address("invoices+2026@example.org").unwrap();
        let der = mail_subject("a@example.org", Some("Example AG")).unwrap();
        let name = x509_cert::name::Name::from_der(&der).unwrap();
        let attributes: Vec<_> = name.iter().collect();
        let oids: Vec<_> = attributes.iter().map(|a| a.oid).collect();
        assert_eq!(oids, [ORGANIZATION, COMMON_NAME, EMAIL_ADDRESS]);
        assert_eq!(der::Tagged::tag(&attributes[2].value), der::Tag::Ia5String);
        assert_eq!(
            attributes[2]
                .value
                .decode_as::<Ia5StringRef<'_>>()
                .unwrap()
                .as_str(),
            "a@example.org"
        );
        assert!(mail_subject("a@example.org", None).unwrap().len() < der.len());
    }
}

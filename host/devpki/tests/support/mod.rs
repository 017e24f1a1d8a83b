//! Shared test helpers: openssl as a subprocess, and a firmware on the
//! deterministic test platform set up with a development PKI.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use sam_devpki::{DevCa, DevIdp, DevPki};
use sam_firmware::Firmware;
use sam_firmware::abi::serve_into;
use sam_firmware::crypto::portable::Portable;
use sam_firmware::crypto::sha256;
use sam_firmware::testing::TestPlatform;
use sam_proto::ErrorType;
use sam_proto::approval::{ADMIN_APPROVAL, bound_digest};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::bounded::{Blob, List};
use sam_proto::command::*;
use sam_proto::frame::{MAX_BODY_LEN, decode_exact, encode_body};
use sam_proto::ids::{KeyAlgorithm, UserId, Uuid};
use sam_proto::records::{MAX_CERT_LEN, MAX_IDP_CERTS, SealedUserRecord, WrappedKey};
use std::path::Path;
use std::process::Command as Process;

/// Runs openssl with `args`; its combined output if it exits 0, a panic
/// with that output otherwise.
pub fn openssl_ok(args: &[&str]) -> String {
    let (ok, text) = openssl(args);
    assert!(ok, "openssl {} said no:\n{text}", args.join(" "));
    text
}

/// Runs openssl with `args`; whether it exited 0, and its output.
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Process::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}); ci/install-deps.sh installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Writes `der` as a PEM certificate file.
pub fn write_cert_pem(path: &Path, der: &[u8]) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    std::fs::write(path, pem).unwrap();
}

/// Verifies a detached CMS signature with openssl against `ca_pem`.
pub fn openssl_cms_verify(
    dir: &Path,
    document: &[u8],
    p7s: &[u8],
    ca_pem: &Path,
) -> (bool, String) {
    let doc = dir.join("doc.txt");
    let sig = dir.join("doc.p7s");
    std::fs::write(&doc, document).unwrap();
    std::fs::write(&sig, p7s).unwrap();
    openssl(&[
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        sig.to_str().unwrap(),
        "-content",
        doc.to_str().unwrap(),
        "-CAfile",
        ca_pem.to_str().unwrap(),
        "-purpose",
        "any",
        "-out",
        dir.join("verified.out").to_str().unwrap(),
    ])
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    i64::try_from(sam_devpki::unix_now()).unwrap()
}

/// A refused firmware call.
#[derive(Debug)]
pub struct Refusal {
    pub error: ErrorType,
}

/// One firmware on the test platform with the development PKI's
/// administrators and IdP.
pub struct Bench {
    pub fw: Firmware<TestPlatform>,
    pub admins: [SigningKey; 2],
    pub idp: DevIdp,
    /// The development CA, registered with the firmware as the signing CA.
    pub ca: DevCa,
    pub next_user: u8,
}

impl Bench {
    /// A firmware booted with its clock at the real time minus a minute,
    /// initialized by the PKI's two administrators, the PKI's IdP imported,
    /// the PKI's CA set as the signing CA of the policy.
    pub fn new(pki: &DevPki) -> Self {
        let platform = TestPlatform::new(7);
        platform.set_time(now() - 60);
        let admins =
            [0, 1].map(|i| SigningKey::from_pkcs8_der(&pki.admin_key_pkcs8(i).unwrap()).unwrap());
        let mut b = Self {
            fw: Firmware::boot(platform),
            admins,
            idp: pki.idp().unwrap(),
            ca: pki.ca().unwrap(),
            next_user: 0,
        };
        let params = InitParams {
            admins: List::from_vec(b.admins.iter().map(point).collect()).unwrap(),
            mbk_slot: 0,
        };
        let approvals = b.approve(SubFunction::InitFirmware, &params);
        // The test platform's HSM operator logs on.
        let operator = sam_testkeys::operator_logon(
            sam_firmware::testing::TEST_OPERATOR,
            &sam_firmware::testing::TEST_OPERATOR_SECRET,
            &approvals.challenge,
            &postcard::to_allocvec(&params).unwrap(),
        );
        b.call(&InitFirmware {
            params,
            operator,
            approvals,
        })
        .unwrap();
        let params = IdpKeysParams {
            certificates: List::from_vec(vec![Blob::new(b.idp.certificate_der()).unwrap()])
                .unwrap(),
        };
        let approvals = b.approve(SubFunction::SetIdpKeys, &params);
        b.call(&SetIdpKeys { params, approvals }).unwrap();
        let params = PolicyParams {
            max_token_lifetime: 3600,
            signing_cas: List::from_vec(vec![
                Blob::from_vec(b.ca.certificate_der().unwrap()).unwrap(),
            ])
            .unwrap(),
            checkpoint_interval: sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL,
        };
        let approvals = b.approve(SubFunction::SetPolicy, &params);
        b.call(&SetPolicy { params, approvals }).unwrap();
        b
    }

    /// Sends a typed request through the C-ABI entry.
    pub fn call<C: Command>(&mut self, req: &C) -> Result<C::Response, Refusal> {
        let body = encode_body(req).unwrap();
        let mut answer = vec![0u8; MAX_BODY_LEN];
        let (status, len) = serve_into(&self.fw, C::CODE.code(), &body, &mut answer);
        answer.truncate(len);
        if status == 0 {
            Ok(decode_exact(&answer, MAX_BODY_LEN).unwrap())
        } else {
            let code = u16::try_from(status).unwrap();
            Err(Refusal {
                error: ErrorType::from_code(code).unwrap(),
            })
        }
    }

    /// Both administrators approve `params` for `code`.
    pub fn approve<T: serde::Serialize>(&mut self, code: SubFunction, params: &T) -> Approvals {
        let challenge = self.call(&GetChallenge).unwrap().challenge;
        let bytes = postcard::to_allocvec(params).unwrap();
        let digest = bound_digest(ADMIN_APPROVAL, code, &challenge, &bytes, |p| {
            sha256(&Portable, p)
        });
        let approvals = self
            .admins
            .iter()
            .map(|k| {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let sig: p256::ecdsa::DerSignature = k.sign_prehash(&digest).unwrap();
                Approval {
                    admin: point(k),
                    signature: Blob::new(sig.as_bytes()).unwrap(),
                }
            })
            .collect();
        Approvals {
            challenge,
            approvals: List::from_vec(approvals).unwrap(),
        }
    }

    /// The firmware clock.
    pub fn time(&self) -> u64 {
        u64::try_from(self.fw.platform().time()).unwrap()
    }

    pub fn new_user_id(&mut self) -> UserId {
        self.next_user += 1;
        let mut b = [0x5a; 16];
        b[15] = self.next_user;
        Uuid::from_random(b)
    }

    /// A credential for command `code` with `intent`: a login token from
    /// the development IdP binding a fresh SAD key, and that key's proof
    /// over `intent` and a fresh challenge.
    pub fn token_auth(
        &mut self,
        record: &SealedUserRecord,
        code: SubFunction,
        intent: &sam_proto::intent::Intent<'_>,
    ) -> Authentication {
        let key = sam_client::SadKey::generate().unwrap();
        let token = self
            .idp
            .issue_token(&sam_devpki::TokenParams {
                user_id: record.record.user_id,
                level: IdentificationLevel::Substantial,
                not_before: self.time() - 30,
                not_after: self.time() + 600,
                sad_public_key: Some(key.public_key_der().unwrap()),
            })
            .unwrap();
        let challenge = self.call(&GetChallenge).unwrap().challenge;
        let signature = key
            .sign_request(code, &challenge, &intent.encode().unwrap())
            .unwrap();
        Authentication {
            credential: Credential {
                kind: Credential::IDENTITY_TOKEN,
                value: Blob::from_vec(token).unwrap(),
            },
            actor: Some(record.clone()),
            proof: Some(RequestProof {
                challenge,
                signature: Blob::from_vec(signature).unwrap(),
            }),
        }
    }

    fn idp_certs(&self) -> List<Blob<MAX_CERT_LEN>, MAX_IDP_CERTS> {
        List::from_vec(vec![Blob::new(self.idp.certificate_der()).unwrap()]).unwrap()
    }

    /// A Privileged User (enrolled by the administrators) and a Signer
    /// created by it.
    pub fn signer(&mut self) -> SealedUserRecord {
        let params = NewUser {
            user_id: self.new_user_id(),
            certificates: self.idp_certs(),
        };
        let approvals = self.approve(SubFunction::EnrolPrivilegedUser, &params);
        let pu = self
            .call(&EnrolPrivilegedUser { params, approvals })
            .unwrap()
            .record;
        let user = NewUser {
            user_id: self.new_user_id(),
            certificates: self.idp_certs(),
        };
        let intent = sam_proto::intent::Intent::CreateSigner { user: &user };
        let auth = self.token_auth(&pu, SubFunction::CreateSigner, &intent);
        self.call(&CreateSigner { auth, user }).unwrap().record
    }

    /// A new key of `signer`, active: the firmware's certification request
    /// for it certified by the development CA and registered by `signer`.
    pub fn generate(&mut self, signer: &SealedUserRecord, algorithm: KeyAlgorithm) -> WrappedKey {
        use der::Encode as _;
        let name: x509_cert::name::Name =
            format!("CN={},O=SAM DEV-ONLY signers,C=DE", signer.record.user_id)
                .parse()
                .unwrap();
        let subject = Some(Blob::from_vec(name.to_der().unwrap()).unwrap());
        let intent = sam_proto::intent::Intent::GenerateKeyPair {
            target: signer.record.user_id,
            algorithm,
            subject: subject.as_ref(),
        };
        let auth = self.token_auth(signer, SubFunction::GenerateKeyPair, &intent);
        let generated = self
            .call(&GenerateKeyPair {
                auth,
                target: None,
                algorithm,
                subject,
            })
            .unwrap();
        let csr = generated.csr.expect("a CSR for the subject").into_vec();
        let certificate = Blob::from_vec(self.ca.issue_from_csr(&csr).unwrap()).unwrap();
        let key = generated.wrapped;
        let intent = sam_proto::intent::Intent::RegisterCertificate {
            key_id: key.key_id,
            certificate: &certificate,
        };
        let auth = self.token_auth(signer, SubFunction::RegisterCertificate, &intent);
        self.call(&RegisterCertificate {
            auth,
            key_id: key.key_id,
            wrapped: Some(key.clone()),
            certificate,
        })
        .unwrap();
        key
    }

    /// Signs with a SAD.
    pub fn sign(
        &mut self,
        signer: &SealedUserRecord,
        wrapped: &WrappedKey,
        sad: Vec<u8>,
    ) -> Result<Vec<Vec<u8>>, Refusal> {
        let signed = self.call(&Signing {
            sad: Blob::from_vec(sad).unwrap(),
            credential: None,
            signer: Some(signer.clone()),
            wrapped: Some(wrapped.clone()),
        })?;
        Ok(signed
            .signatures
            .into_vec()
            .into_iter()
            .map(Blob::into_vec)
            .collect())
    }
}

/// The uncompressed SEC1 point of an administrator.
pub fn point(key: &SigningKey) -> Blob<ADMIN_KEY_LEN> {
    Blob::new(key.verifying_key().to_sec1_point(false).as_bytes()).unwrap()
}

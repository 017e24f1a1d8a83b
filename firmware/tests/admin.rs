//! The administrators' operations: dual control of InitFirmware (seed US7)
//! and the development IdP certificates they import with SetIdpKeys.

mod support;

use sam_proto::ErrorType;
use sam_proto::bounded::List;
use sam_proto::command::*;
use support::Bench;

#[test]
fn dual_control_needs_two_distinct_administrators() {
    let mut b = Bench::new();
    let params = InitParams {
        admins: List::from_vec(b.admins.iter().map(|a| a.point()).collect()).unwrap(),
    };
    let approvals = b.approve(SubFunction::InitFirmware, &params, &[0, 0]);
    assert_eq!(
        b.refused(&InitFirmware {
            params: params.clone(),
            approvals
        })
        .error,
        ErrorType::NotAuthorized
    );
    let approvals = b.approve(SubFunction::InitFirmware, &params, &[0]);
    assert_eq!(
        b.refused(&InitFirmware {
            params: params.clone(),
            approvals
        })
        .error,
        ErrorType::NotAuthorized
    );
    // Approvals for other parameters do not count.
    let other = InitParams {
        admins: List::from_vec(vec![b.admins[1].point(), b.admins[0].point()]).unwrap(),
    };
    let mut approvals = b.approve(SubFunction::InitFirmware, &other, &[0, 1]);
    assert_eq!(
        b.refused(&InitFirmware {
            params: params.clone(),
            approvals: approvals.clone()
        })
        .error,
        ErrorType::NotAuthorized
    );
    // A used challenge does not count again.
    approvals.challenge = [0; 32];
    assert_eq!(
        b.refused(&InitFirmware { params, approvals }).error,
        ErrorType::NotAuthorized
    );
    b.init().unwrap();
    // Re-initialization is refused and audited.
    let r = b.init().unwrap_err();
    assert_eq!(r.error, ErrorType::NotAuthorized);
    assert!(r.audit.is_some());
}

#[test]
fn development_idp_certificates_are_accepted_by_openssl() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("openssl not installed; ci/install-deps.sh installs it");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sam-idp-certs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let idps = [
        ("p256", support::pki::Idp::p256(1)),
        ("rsa", support::pki::Idp::rsa2048(1)),
    ];
    for (name, idp) in idps {
        let der = dir.join(format!("{name}.der"));
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&der, &idp.cert).unwrap();
        let conv = std::process::Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&der)
            .arg("-out")
            .arg(&pem)
            .status()
            .unwrap();
        assert!(
            conv.success(),
            "{name}: openssl cannot read the certificate"
        );
        // Self-signed: it verifies against itself, signature included.
        let out = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(&pem)
            .arg(&pem)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

//! The administrators' operations: dual control of InitFirmware (seed US7)
//! and the development IdP certificates they import with SetIdpKeys.

mod support;

use sam_firmware::testing::{TEST_MBK_SLOTS, TEST_OPERATOR, TEST_OPERATOR_SECRET};
use sam_proto::ErrorType;
use sam_proto::bounded::{Blob, List};
use sam_proto::command::*;
use support::pki::operator_logon;
use support::{Bench, operator_logon as test_logon};

#[test]
fn dual_control_needs_two_distinct_administrators() {
    let mut b = Bench::new();
    let params = b.init_params();
    let init = |_: &mut Bench, params: &InitParams, approvals: Approvals| InitFirmware {
        params: params.clone(),
        operator: test_logon(params, &approvals.challenge),
        approvals,
    };
    let approvals = b.approve(SubFunction::InitFirmware, &params, &[0, 0]);
    let req = init(&mut b, &params, approvals);
    assert_eq!(b.refused(&req).error, ErrorType::NotAuthorized);
    let approvals = b.approve(SubFunction::InitFirmware, &params, &[0]);
    let req = init(&mut b, &params, approvals);
    assert_eq!(b.refused(&req).error, ErrorType::NotAuthorized);
    // Approvals for other parameters do not count.
    let other = InitParams {
        admins: List::from_vec(vec![b.admins[1].point(), b.admins[0].point()]).unwrap(),
        mbk_slot: 0,
    };
    let mut approvals = b.approve(SubFunction::InitFirmware, &other, &[0, 1]);
    let req = init(&mut b, &params, approvals.clone());
    assert_eq!(b.refused(&req).error, ErrorType::NotAuthorized);
    // A used challenge does not count again.
    approvals.challenge = [0; 32];
    let req = init(&mut b, &params, approvals);
    assert_eq!(b.refused(&req).error, ErrorType::NotAuthorized);
    b.init().unwrap();
    // Re-initialization is refused and audited.
    let r = b.init().unwrap_err();
    assert_eq!(r.error, ErrorType::NotAuthorized);
    assert!(r.audit.is_some());
}

/// Issue 13 item 1: whoever reaches an uninitialized module first must not
/// become its administrators. Two valid approvals by keys the caller made
/// up are not enough: the HSM operator must log on, and the platform
/// checks the logon. Without a logon response, with one for another user,
/// or with a response made with a wrong secret, InitFirmware is refused,
/// unaudited (there is no audit key before initialization) and the
/// firmware stays uninitialized.
#[test]
fn init_without_a_valid_operator_logon_is_refused() {
    let mut b = Bench::new();
    let params = b.init_params();
    let bytes = postcard::to_allocvec(&params).unwrap();
    // (user, secret): `None` sends an empty response.
    let cases: [(&[u8], Option<[u8; 32]>); 3] = [
        (TEST_OPERATOR, None),
        (TEST_OPERATOR, Some([0x0c; 32])),
        (b"intruder", Some(TEST_OPERATOR_SECRET)),
    ];
    for (user, secret) in cases {
        let mut req = b.init_request(params.clone());
        req.operator = match secret {
            None => OperatorLogon {
                user: Blob::new(user).unwrap(),
                response: Blob::default(),
            },
            Some(secret) => operator_logon(user, &secret, &req.approvals.challenge, &bytes),
        };
        let r = b.refused(&req);
        assert_eq!(r.error, ErrorType::NotAuthorized, "{user:?} {secret:?}");
        assert!(r.audit.is_none());
        assert_eq!(b.status().state, FirmwareState::Uninitialized);
    }
    // The same request with the operator's logon succeeds.
    b.init().unwrap();
    assert_eq!(b.status().state, FirmwareState::Operational);
}

/// A logon response is spent with its challenge, and it covers the
/// parameters: a host that relayed (or recorded) an operator's logon can
/// neither send it again nor attach it to administrators of its own
/// choosing under a fresh challenge.
#[test]
fn replayed_operator_logon_is_refused() {
    let mut b = Bench::new();
    let params = b.init_params();
    // The operator's logon for a request refused for another reason (one
    // approval missing): the challenge is consumed.
    let mut first = b.init_request(params.clone());
    first.approvals.approvals = List::from_vec(vec![first.approvals.approvals[0].clone()]).unwrap();
    assert_eq!(b.refused(&first).error, ErrorType::NotAuthorized);
    // Replayed with its challenge and complete approvals: refused.
    let bytes = postcard::to_allocvec(&params).unwrap();
    let code = SubFunction::InitFirmware;
    let mut again = first.clone();
    again.approvals.approvals = List::from_vec(
        b.admins
            .iter()
            .map(|a| a.approve(code, &first.approvals.challenge, &bytes))
            .collect(),
    )
    .unwrap();
    assert_eq!(b.refused(&again).error, ErrorType::NotAuthorized);
    // The recorded response under a fresh challenge, for the attacker's own
    // administrators (with their valid approvals): refused.
    let attackers = [support::pki::Admin::new(7), support::pki::Admin::new(8)];
    let theirs = InitParams {
        admins: List::from_vec(attackers.iter().map(|a| a.point()).collect()).unwrap(),
        mbk_slot: 0,
    };
    let challenge = b.challenge();
    let their_bytes = postcard::to_allocvec(&theirs).unwrap();
    let approvals = Approvals {
        challenge,
        approvals: List::from_vec(
            attackers
                .iter()
                .map(|a| a.approve(SubFunction::InitFirmware, &challenge, &their_bytes))
                .collect(),
        )
        .unwrap(),
    };
    let forged = InitFirmware {
        params: theirs,
        operator: first.operator.clone(),
        approvals,
    };
    assert_eq!(b.refused(&forged).error, ErrorType::NotAuthorized);
    assert_eq!(b.status().state, FirmwareState::Uninitialized);
}

/// The MBK slot is the operator's choice among the HSM's slots; a slot the
/// platform does not have is refused (InvalidInput: the request names
/// something that does not exist), and the firmware stays uninitialized.
#[test]
fn unknown_mbk_slot_is_refused() {
    let mut b = Bench::new();
    let mut params = b.init_params();
    params.mbk_slot = 9;
    assert!(!TEST_MBK_SLOTS.contains(&9));
    let req = b.init_request(params);
    let r = b.refused(&req);
    assert_eq!(r.error, ErrorType::InvalidInput);
    assert!(r.audit.is_none());
    assert_eq!(b.status().state, FirmwareState::Uninitialized);
}

/// The slot chosen at initialization is kept: after a restart the module
/// keys come from the same slot (slot 1's MBK differs from slot 0's, so
/// the attestation key tells them apart).
#[test]
fn boot_derives_keys_from_the_chosen_mbk_slot() {
    let mut on_0 = Bench::new();
    let key_0 = on_0.init().unwrap().attestation_key;
    let mut b = Bench::new();
    let mut params = b.init_params();
    params.mbk_slot = 1;
    let req = b.init_request(params);
    let key_1 = b.call(&req).unwrap().attestation_key;
    assert_ne!(key_0, key_1);
    let restarted = sam_firmware::Firmware::boot(b.fw.platform().restarted());
    assert_eq!(restarted.state(), FirmwareState::Operational);
    b.fw = restarted;
    assert_eq!(b.status().attestation_key, Some(key_1));
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

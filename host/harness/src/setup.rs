//! The setup every signing deployment starts with, and the tokens and
//! SADs its clients send: the same steps as the demo tells, without the
//! story.

use crate::{HarnessError, Result, Samctl};
use sam_client::{Credential, GeneratedKey, SadKey, SamClient, SignRequest};
use sam_devpki::{DevCa, DevIdp, DevPki, TokenParams, files, unix_now};
use sam_proto::asn1::IdentificationLevel;
use sam_proto::ids::{HashAlgorithm, KeyAlgorithm, KeyId, UserId, Uuid};

/// Dual-control firmware initialization (with the logon of `simulator`'s
/// HSM operator), IdP key import, the policy (tokens of at most
/// [`MAX_TOKEN_LIFETIME`] seconds, the dev PKI's signing CA) and enrolment
/// of the first Privileged User, each approved by both of the dev PKI's
/// administrators, through `samctl` (with the management connector).
/// Returns the Privileged User.
pub fn initialize_firmware(
    samctl: &Samctl,
    pki: &DevPki,
    simulator: &crate::SimulatorSpec,
) -> Result<UserId> {
    let [a1, a2] = files::ADMIN_KEYS.map(|k| pki.path(k).display().to_string());
    let idp_cert = pki.path(files::IDP_CERT).display().to_string();
    let operator_key = simulator.operator_key().display().to_string();
    let ca_cert = pki.path(files::CA_CERT).display().to_string();
    let lifetime = MAX_TOKEN_LIFETIME.to_string();
    let approved = |what: &str, args: &[&str]| {
        let both = ["--admin-key", a1.as_str(), "--admin-key", a2.as_str()];
        samctl.run([args, &both].concat())?.checked(what)
    };
    approved(
        "fw init",
        &[
            "fw",
            "init",
            "--operator",
            crate::OPERATOR,
            "--operator-key",
            &operator_key,
        ],
    )?;
    approved("fw setidpkeys", &["fw", "setidpkeys", &idp_cert])?;
    approved(
        "fw policy",
        &[
            "fw",
            "policy",
            "--max-token-lifetime",
            &lifetime,
            "--signing-ca",
            &ca_cert,
        ],
    )?;
    let enrolled = approved("fw enrol", &["fw", "enrol", "--idp-cert", &idp_cert])?;
    enrolled
        .stdout
        .lines()
        .find_map(|l| Uuid::parse(l.trim()).ok())
        .ok_or_else(|| HarnessError::new("samctl fw enrol printed no UserID"))
}

/// The longest token lifetime the harness's policy allows: one hour, above
/// every token the harness and its users issue.
pub const MAX_TOKEN_LIFETIME: u32 = 3600;

/// A fresh login token of `user` (identification level substantial, valid
/// from 5 s ago for 10 minutes) binding a fresh SAD key, as a peering
/// credential: the key signs each request's intent.
pub fn login(idp: &DevIdp, user: UserId) -> Result<Credential> {
    let key = SadKey::generate().map_err(HarnessError::context("token key"))?;
    let now = unix_now();
    let token = idp
        .issue_token(&TokenParams {
            user_id: user,
            level: IdentificationLevel::Substantial,
            not_before: now.saturating_sub(5),
            not_after: now + 600,
            sad_public_key: Some(
                key.public_key_der()
                    .map_err(HarnessError::context("token key"))?,
            ),
        })
        .map_err(HarnessError::context("login token"))?;
    Ok(Credential::IdentityToken {
        token,
        key: std::sync::Arc::new(key),
    })
}

/// A SAD for SHA-256 `hashes` with `key_id`, made the SSA way: a fresh
/// SAD key, a fresh identity token of `signer` carrying it (valid from
/// now for `validity_secs`), the SAD signed by the SAD key.
pub fn fresh_sad(
    idp: &DevIdp,
    signer: UserId,
    key_id: KeyId,
    hashes: Vec<Vec<u8>>,
    validity_secs: u64,
) -> Result<Vec<u8>> {
    let sad_key = SadKey::generate().map_err(HarnessError::context("SAD key"))?;
    let now = unix_now();
    let token = idp
        .issue_token(&TokenParams {
            user_id: signer,
            level: IdentificationLevel::Substantial,
            not_before: now,
            not_after: now + validity_secs,
            sad_public_key: Some(
                sad_key
                    .public_key_der()
                    .map_err(HarnessError::context("SAD key"))?,
            ),
        })
        .map_err(HarnessError::context("SAD token"))?;
    let request = SignRequest {
        key_id,
        hash_algorithm: HashAlgorithm::Sha256,
        hashes,
    };
    sad_key
        .sign_sad(&token, &request)
        .map_err(HarnessError::context("SAD"))
}

/// Creates the Signer `signer` (by the Privileged User `pu`, trusting the
/// IdP's certificate) and generates one key of each of `algorithms` for
/// it, over the privileged-user connector `ra`; each key's certificate is
/// issued by the dev PKI's signing CA `ca` from the key's CSR and
/// registered by the signer, so every key is ACTIVE and can sign.
pub async fn create_signer_with_keys(
    ra: &SamClient,
    idp: &DevIdp,
    ca: &DevCa,
    pu: UserId,
    signer: UserId,
    algorithms: &[KeyAlgorithm],
) -> Result<Vec<GeneratedKey>> {
    ra.create_signer(&login(idp, pu)?, signer, &[idp.certificate_der().to_vec()])
        .await
        .map_err(HarnessError::context("Create_New_Signer"))?;
    let mut keys = Vec::new();
    for &alg in algorithms {
        let key = ra
            .generate_key_pair(&login(idp, signer)?, signer, alg)
            .await
            .map_err(HarnessError::context("Generate_Signer_Key_Pair"))?;
        activate(ra, idp, ca, signer, &key).await?;
        keys.push(key);
    }
    Ok(keys)
}

/// Issues a certificate for `key` (from its CSR) by the signing CA `ca`
/// and registers it, asked by the key's owner `owner`: the key becomes
/// ACTIVE in the firmware.
pub async fn activate(
    ra: &SamClient,
    idp: &DevIdp,
    ca: &DevCa,
    owner: UserId,
    key: &GeneratedKey,
) -> Result<()> {
    let csr = key
        .csr
        .as_deref()
        .ok_or_else(|| HarnessError::new("the new key has no certification request"))?;
    let certificate = ca
        .issue_from_csr(csr)
        .map_err(HarnessError::context("certificate"))?;
    ra.register_certificate(&login(idp, owner)?, key.key_id, &certificate)
        .await
        .map_err(HarnessError::context("Register_Certificate"))?;
    Ok(())
}

/// A samd on its in-process simulated HSM, set up for signing: firmware
/// initialized ([`initialize_firmware`]), a Signer created by the first
/// Privileged User with one ACTIVE key per algorithm
/// ([`create_signer_with_keys`]), and the firmware's boot second passed,
/// so that tokens issued now are fresh enough to sign with.
#[derive(Debug)]
pub struct SigningDeployment {
    /// The folder, its dev PKI and binaries.
    pub deployment: crate::Deployment,
    /// The running samd (killed on drop).
    pub samd: crate::Samd,
    /// samd's base URL.
    pub url: String,
    /// The dev PKI's IdP (whose certificate samd's `[tokens]` trusts).
    pub idp: DevIdp,
    /// The first Privileged User.
    pub privileged_user: UserId,
    /// The Signer.
    pub signer: UserId,
    /// The Signer's keys, in the order of the algorithms asked for; each
    /// has its dev-CA certificate registered.
    pub keys: Vec<GeneratedKey>,
    /// `https://localhost:PORT` of samd's CSC listener, if enabled
    /// ([`Self::start_with_csc`]).
    pub csc_url: Option<String>,
}

impl SigningDeployment {
    /// Sets it all up in `dir` with the binaries `bins` (samd, samctl and
    /// sam-simulator): the Signer `signer` (any UUID: the HSM is new) with
    /// keys of `algorithms`; the async steps run on `rt`.
    pub fn start(
        dir: &std::path::Path,
        bins: crate::Binaries,
        signer: UserId,
        algorithms: &[KeyAlgorithm],
        rt: &tokio::runtime::Runtime,
    ) -> Result<Self> {
        Self::start_inner(dir, bins, signer, algorithms, rt, false)
    }

    /// [`Self::start`] with samd's CSC listener enabled on a free port
    /// ([`crate::Deployment::csc_section`]); its URL in
    /// [`Self::csc_url`].
    pub fn start_with_csc(
        dir: &std::path::Path,
        bins: crate::Binaries,
        signer: UserId,
        algorithms: &[KeyAlgorithm],
        rt: &tokio::runtime::Runtime,
    ) -> Result<Self> {
        Self::start_inner(dir, bins, signer, algorithms, rt, true)
    }

    fn start_inner(
        dir: &std::path::Path,
        bins: crate::Binaries,
        signer: UserId,
        algorithms: &[KeyAlgorithm],
        rt: &tokio::runtime::Runtime,
        csc: bool,
    ) -> Result<Self> {
        use crate::{Connector, Crypto, Tool};
        bins.require(&[Tool::Samd, Tool::Samctl, Tool::Simulator])?;
        let deployment = crate::Deployment::create(dir, bins)?;
        let simulator = deployment.simulator();
        simulator.init(deployment.bins())?;
        let mut spec = deployment.samd("samd", simulator.in_process_link(Crypto::AwsLc))?;
        let csc_url = if csc {
            let port = crate::free_port()?;
            spec.config = spec.config.with_section(&deployment.csc_section(port, ""));
            Some(format!("https://localhost:{port}"))
        } else {
            None
        };
        let url = spec.url();
        let mut samd = spec.spawn(deployment.bins())?;
        samd.wait_for(
            &deployment.identity(Connector::Management),
            "/healthz",
            std::time::Duration::from_secs(30),
        )?;
        let privileged_user = initialize_firmware(
            &deployment.samctl(&url, Connector::Management),
            deployment.pki(),
            &simulator,
        )?;
        let idp = deployment
            .pki()
            .idp()
            .map_err(HarnessError::context("dev IdP"))?;
        let ca = deployment
            .pki()
            .ca()
            .map_err(HarnessError::context("dev signing CA"))?;
        let ra = deployment.identity(Connector::Privileged).client(&url)?;
        let keys = rt.block_on(create_signer_with_keys(
            &ra,
            &idp,
            &ca,
            privileged_user,
            signer,
            algorithms,
        ))?;
        // Signing tokens must be issued after the firmware's boot second.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        Ok(Self {
            deployment,
            samd,
            url,
            idp,
            privileged_user,
            signer,
            keys,
            csc_url,
        })
    }

    /// The development IdP's `POST /id-token/sad` on a free loopback port,
    /// served on `rt` (which must keep running, e.g. a multi-thread
    /// runtime): its URL is what `sam-sign --idp` and
    /// `IdpClient::dev_plain_http` take.
    pub fn serve_idp(&self, rt: &tokio::runtime::Runtime) -> Result<sam_devpki::DevIdpServer> {
        let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let idp = self
            .deployment
            .pki()
            .idp()
            .map_err(HarnessError::context("dev IdP"))?;
        rt.block_on(sam_devpki::DevIdpServer::start(
            std::sync::Arc::new(idp),
            listen,
            sam_devpki::DevIdpOptions::default(),
        ))
        .map_err(HarnessError::context("dev IdP server"))
    }

    /// [`Self::login_token`] of `user`, written to `path` as one line of
    /// base64 (what `sam-sign --token` reads).
    pub fn write_login_token(&self, user: UserId, path: &std::path::Path) -> Result<()> {
        use base64::Engine as _;
        let token = self.login_token(user)?;
        let text = base64::engine::general_purpose::STANDARD.encode(token);
        std::fs::write(path, text + "\n").map_err(HarnessError::context(path.display()))
    }

    /// A login token of `user` as the IdP's login would give it (level
    /// substantial, valid from 5 s ago for 10 minutes, no SAD key): what a
    /// user hands to `sam-sign` or `RemoteSignatureApi::login`.
    pub fn login_token(&self, user: UserId) -> Result<Vec<u8>> {
        let now = unix_now();
        self.idp
            .issue_token(&TokenParams {
                user_id: user,
                level: IdentificationLevel::Substantial,
                not_before: now.saturating_sub(5),
                not_after: now + 600,
                sad_public_key: None,
            })
            .map_err(HarnessError::context("login token"))
    }
}

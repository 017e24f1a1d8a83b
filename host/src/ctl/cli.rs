//! The command line of `samctl` (clap derive).

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// samctl: management and integrator CLI of the Signature Activation
/// Module.
///
/// The management operations of seed §5.7 (manageSAM / manageFW: start,
/// stop, code and data integrity, firmware initialization, IdP keys) and
/// one command per SAM Peering Interface operation for integrators. samctl
/// talks to samd over mutual-TLS HTTPS with the certificate of a peer
/// connector; administrator keys stay with samctl (or offline with each
/// administrator) and never reach samd.
///
/// Connection settings come from the flags, else from SAMCTL_URL,
/// SAMCTL_CERT, SAMCTL_KEY, SAMCTL_CA, SAMCTL_TIMEOUT, else from the TOML
/// file given by --config / SAMCTL_CONFIG (keys: url, cert, key, ca,
/// timeout_secs, samd, samd_config, pid_file, log_file, checksums,
/// instance; relative paths are relative to the file).
///
/// Exit codes: 0 ok (also for a warning), 1 failed, 2 usage error.
#[derive(Parser, Debug)]
#[command(
    name = "samctl",
    version,
    after_long_help = "\
Example:
  samctl --url https://127.0.0.1:8443 --ca ca.pem --cert samctl.pem --key samctl.key fw status
  SAMCTL_CONFIG=/etc/sam/samctl.toml samctl integrity data

A samctl.toml:
  url = \"https://127.0.0.1:8443\"
  ca = \"ca.pem\"
  cert = \"samctl.pem\"
  key = \"samctl.key\"
  samd_config = \"/etc/sam/samd.toml\"
  pid_file = \"/run/sam/samd.pid\"
  checksums = \"/etc/sam/sam.sha512\""
)]
pub struct Cli {
    /// Connection and configuration flags, valid for every subcommand.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// samctl's own TOML configuration file.
    #[arg(long, global = true, env = "SAMCTL_CONFIG", value_name = "TOML")]
    pub config: Option<PathBuf>,
    /// samd's base URL [default: https://127.0.0.1:8443].
    #[arg(long, global = true, env = "SAMCTL_URL", value_name = "URL")]
    pub url: Option<String>,
    /// PEM client certificate of samctl's peer connector.
    #[arg(long, global = true, env = "SAMCTL_CERT", value_name = "PEM")]
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, global = true, env = "SAMCTL_KEY", value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// PEM CA certificate(s) that issued samd's server certificate.
    #[arg(long, global = true, env = "SAMCTL_CA", value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Seconds one request to samd may take [default: 120].
    #[arg(long, global = true, env = "SAMCTL_TIMEOUT", value_name = "SECS")]
    pub timeout: Option<u64>,
    /// More output (requests, counts, details); repeat for more.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start samd in the background (seed: manageSAM start).
    #[command(after_long_help = "\
Example:
  samctl --ca ca.pem --cert samctl.pem --key samctl.key \\
      start --samd-config /etc/sam/samd.toml --pid-file /run/sam/samd.pid --checksums /etc/sam/sam.sha512

Checks the code integrity first when a checksum file is given (or
sam.sha512 exists next to samctl), starts samd, waits until /readyz
answers, writes the pid file. Lines (seed Table 52):
  samd code integrity check ... ok
  The subsystem \"samd\" has been started ... ok                    (0)
  The subsystem \"samd\" is already running ... warning             (0)
  Starting the subsystem \"samd\" has been abandoned ... failed     (1)")]
    Start(StartArgs),
    /// Stop samd: SIGTERM, then wait for it to exit (seed: manageSAM stop).
    #[command(after_long_help = "\
Example:
  samctl stop --pid-file /run/sam/samd.pid

Lines (seed Table 52):
  The subsystem \"samd\" has been stopped ... ok          (0)
  The subsystem \"samd\" is not running ... warning       (0)")]
    Stop(StopArgs),
    /// Write the SHA-512 checksums of the deployed binaries (checksumSAM.sh).
    #[command(after_long_help = "\
Example:
  samctl checksum --out /etc/sam/sam.sha512                       # samd, samctl, sam-simulator next to samctl
  samctl checksum --out sam.sha512 /usr/bin/samd /usr/bin/samctl

The file is in sha512sum format with absolute paths, so
`sha512sum -c sam.sha512` checks it too.")]
    Checksum(ChecksumArgs),
    /// Code and data integrity checks (seed: manageSAM integrity).
    #[command(
        subcommand,
        after_long_help = "\
Example:
  samctl integrity code --checksums /etc/sam/sam.sha512
  samctl integrity data"
    )]
    Integrity(IntegrityCommand),
    /// Firmware management with two administrators (seed: manageFW).
    #[command(
        subcommand,
        after_long_help = "\
Example:
  samctl fw init --operator hsmop --operator-key hsmop.key --admin-key admin1.pem --admin-key admin2.pem
  samctl fw setidpkeys idp.pem --admin-key admin1.pem --admin-key admin2.pem
  samctl fw status"
    )]
    Fw(FwCommand),
    /// Create_New_Privileged_User (seed §7.1.1).
    #[command(after_long_help = "\
Example:
  samctl create-privileged-user --token pu.token --token-key pu.key --user-id 5f0c...-... --idp-cert idp.pem
  samctl create-privileged-user --token pu.token --token-key pu.key --technical-cert ra-robot.pem

Prints samd's JSON answer ({userid, role, generation, audit_seq}).")]
    CreatePrivilegedUser(CreatePrivilegedUserArgs),
    /// Create_New_Signer (seed §7.1.2).
    #[command(after_long_help = "\
Example:
  samctl create-signer --token pu.token --token-key pu.key --idp-cert idp.pem
  samctl create-signer --technical-key robot.key --technical-user 7d3a...-... --idp-cert idp.pem

Without --user-id a random UUID is used. Prints samd's JSON answer.")]
    CreateSigner(CreateSignerArgs),
    /// Signer_Maintenance: replace a signer's IdP certificates (seed §7.1.3).
    #[command(after_long_help = "\
Example:
  samctl signer-maintenance --token pu.token --token-key pu.key --user-id 0b6e...-... --idp-cert new-idp.pem")]
    SignerMaintenance(SignerMaintenanceArgs),
    /// Generate_Signer_Key_Pair (seed §7.1.4).
    #[command(after_long_help = "\
Example:
  samctl generate-key --token signer.token --token-key signer.key --user-id 0b6e...-... --algorithm ec-p256

Prints {keyid, userid, algorithm, publickey, attestation, csr, audit_seq}.")]
    GenerateKey(GenerateKeyArgs),
    /// Delete_Signer_Key_Pair (seed §7.1.5).
    #[command(after_long_help = "\
Example:
  samctl delete-key --token signer.token --token-key signer.key --key-id 9a1f...-...")]
    DeleteKey(DeleteKeyArgs),
    /// Signing with a SAD (seed §7.1.6).
    #[command(after_long_help = "\
Example:
  samctl sign --sad request.sad

Prints {sigbin: [base64 signatures], audit_seq}.")]
    Sign(SignArgs),
    /// Key manager: managed objects (seed §7.4.2).
    #[command(after_long_help = "\
Example:
  samctl objects --token pu.token --key-id 9a1f...-... --type CERTIFICATE_REQUEST")]
    Objects(ObjectsArgs),
    /// Key manager: signer keys, ACTIVE by default (seed §7.4.1).
    #[command(after_long_help = "\
Example:
  samctl private-keys --token pu.token --user-id 0b6e...-...
  samctl private-keys --token signer.token --state PRE_ACTIVE")]
    PrivateKeys(PrivateKeysArgs),
    /// Key manager: register a certificate for a key (seed §7.4.3).
    #[command(after_long_help = "\
Example:
  samctl register-certificate --key-id 9a1f...-... --certificate signer.pem")]
    RegisterCertificate(RegisterCertificateArgs),
    /// Export the stored audit records as JSON Lines.
    #[command(after_long_help = "\
Example:
  samctl export-audit --out audit.jsonl
  samctl export-audit --out - --after 1200 | jq .

The export is the records as stored; `samctl integrity data` verifies them.")]
    ExportAudit(ExportAuditArgs),
    /// The audit trail: export it, verify an export offline.
    #[command(
        subcommand,
        after_long_help = "\
Example:
  samctl audit export --out audit.jsonl
  samctl audit verify audit.jsonl --sam-key sam.pem"
    )]
    Audit(AuditCommand),
    /// Seal keys of the mail relay sam-mail: a key and PKCS#10 request
    /// for a sender address, the issued certificate registered.
    #[command(
        subcommand,
        after_long_help = "\
Example:
  samctl mail csr --token relay.token --token-key relay.key --user-id 0b6e...-... \\
      --address invoices@example.org --senders /etc/sam-mail/senders.toml
  openssl x509 -req -in /etc/sam-mail/invoices@example.org.csr -CA ca.pem -CAkey ca.key ...
  samctl mail register --token relay.token --token-key relay.key \\
      --address invoices@example.org --certificate issued.p7b --senders /etc/sam-mail/senders.toml
  systemctl restart sam-mail

sam-mail reads the senders file (its signing.senders_file) at start."
    )]
    Mail(MailCommand),
}

/// `mail ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum MailCommand {
    /// Generate_Signer_Key_Pair for a sender address: the firmware makes
    /// the key and signs a PKCS#10 request for the address.
    #[command(after_long_help = "\
Example:
  samctl mail csr --token relay.token --token-key relay.key --user-id 0b6e...-... \\
      --address invoices@example.org --organization \"Example AG\" --senders senders.toml

The key belongs to the relay's technical user (--user-id, a Signer; the
token is that user's or a Privileged User's). The request's subject is
[O=<organization>,]CN=<address>,emailAddress=<address> (requested
extensions cannot be added: the firmware signs the request it builds at
generation); a CA for S/MIME adds the subjectAltName rfc822Name, e.g.
openssl x509 -req ... -extfile with subjectAltName=email:copy. The
request goes to --out (default <address>.csr beside the senders file) as
PEM; the key is recorded as [[pending]] in the senders file, where the
address's current key keeps signing until `samctl mail register`. Prints
{address, keyid, csr, senders}.")]
    Csr(MailCsrArgs),
    /// Register the certificate issued for a pending key: checked, sent
    /// to samd (the key becomes ACTIVE), mapped to the address.
    #[command(after_long_help = "\
Example:
  samctl mail register --token relay.token --token-key relay.key \\
      --address invoices@example.org --certificate issued.pem --senders senders.toml

The certificate may be PEM (one or more CERTIFICATE sections, the chain
after the leaf or in any order), DER, or a PKCS#7 certs-only bundle
(openssl crl2pkcs7 output, PEM or DER). Refused, with nothing changed:
a file without a certificate, no certificate for the address's pending
key (wrong key), a certificate expired or not yet valid, one that names
neither in its subjectAltName (rfc822Name) nor in its subject
(emailAddress) the address. Then the certificate is registered with samd,
the chain written as PEM to <address>.pem beside the senders file, and the
address switched to the new key (its previous key no longer signs for it).
Prints {address, keyid, certificate, not_after, replaced}.")]
    Register(MailRegisterArgs),
}

/// `mail csr`.
#[derive(Args, Debug, Clone)]
pub struct MailCsrArgs {
    /// Who asks.
    #[command(flatten)]
    pub token: TokenArg,
    /// The key's owner: the relay's technical user (a Signer).
    #[arg(long, value_name = "UUID")]
    pub user_id: String,
    /// The sender address the key seals for.
    #[arg(long, value_name = "ADDRESS")]
    pub address: String,
    /// The organization (O=) in the request's subject.
    #[arg(long, value_name = "NAME")]
    pub organization: Option<String>,
    /// The algorithm.
    #[arg(long, value_enum, default_value = "ec-p256")]
    pub algorithm: Algorithm,
    /// sam-mail's senders file (created if missing).
    #[arg(long, value_name = "TOML")]
    pub senders: PathBuf,
    /// Where to write the PEM request [default: <address>.csr beside the
    /// senders file].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `mail register`.
#[derive(Args, Debug, Clone)]
pub struct MailRegisterArgs {
    /// Who asks: the key's owner or a Privileged User.
    #[command(flatten)]
    pub token: TokenArg,
    /// The sender address.
    #[arg(long, value_name = "ADDRESS")]
    pub address: String,
    /// The issued certificate: PEM, DER or PKCS#7 (with its chain).
    #[arg(long, value_name = "CERTFILE")]
    pub certificate: PathBuf,
    /// sam-mail's senders file.
    #[arg(long, value_name = "TOML")]
    pub senders: PathBuf,
}

/// `audit ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Export the stored audit records and signed checkpoints as JSON
    /// Lines, ending at a checkpoint the firmware signs now.
    #[command(after_long_help = "\
Example:
  samctl audit export --out audit.jsonl

samd first has the firmware sign a checkpoint of its chain; the export
stops at it. docs/audit-export.md describes the file byte by byte.")]
    Export(ExportAuditArgs),
    /// Verify an export offline: no samd, no firmware.
    #[command(after_long_help = "\
Example:
  samctl fw status --attestation-key sam.pem
  samctl audit verify audit.jsonl --sam-key sam.pem

KEY is the SAM's attestation public key: a file holding PEM SPKI
(-----BEGIN PUBLIC KEY-----), DER SPKI or a hex uncompressed SEC1 point,
or that hex itself.

Lines (in the style of seed Table 52):
  Audit trail verification ... ok          (0)
  Audit trail verification ... failed      (1)
followed by what is wrong; a key that cannot be read exits 2.")]
    Verify(VerifyAuditArgs),
}

/// `audit verify`.
#[derive(Args, Debug, Clone)]
pub struct VerifyAuditArgs {
    /// The export.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The attestation public key (file or hex).
    #[arg(long, value_name = "KEY")]
    pub sam_key: String,
}

/// `start`.
#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    /// Instance id: the subsystem is "sam<ID>"; without it, "samd".
    #[arg(value_name = "INSTANCE")]
    pub instance: Option<String>,
    /// samd's configuration file [default: samd.toml].
    #[arg(long, value_name = "TOML")]
    pub samd_config: Option<PathBuf>,
    /// The pid file [default: sam<INSTANCE>.pid, samd.pid].
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// samd's log (stderr) [default: the pid file with .log].
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// The samd binary [default: samd next to samctl].
    #[arg(long, value_name = "PATH")]
    pub samd: Option<PathBuf>,
    /// Checksum file for the code integrity check before the start
    /// [default: sam.sha512 next to samctl, if it exists].
    #[arg(long, value_name = "FILE")]
    pub checksums: Option<PathBuf>,
    /// Seconds to wait for /readyz.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub wait: u64,
}

/// `stop`.
#[derive(Args, Debug, Clone)]
pub struct StopArgs {
    /// Instance id, as for start.
    #[arg(value_name = "INSTANCE")]
    pub instance: Option<String>,
    /// The pid file [default: sam<INSTANCE>.pid, samd.pid].
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Seconds to wait for samd to exit (it lets in-flight requests finish
    /// for shutdown_grace_secs).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub wait: u64,
}

/// `checksum`.
#[derive(Args, Debug, Clone)]
pub struct ChecksumArgs {
    /// Where to write the checksums [default: sam.sha512 next to samctl].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The binaries [default: samd, samctl and sam-simulator next to samctl].
    #[arg(value_name = "BINARY")]
    pub binaries: Vec<PathBuf>,
}

/// `integrity ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum IntegrityCommand {
    /// Recompute the SHA-512 of the deployed binaries and compare.
    #[command(after_long_help = "\
Example:
  samctl integrity code --checksums /etc/sam/sam.sha512

Lines (seed Table 52), one per binary:
  samd code integrity check ... ok            (0)
  samd code integrity check ... failed.       (1)")]
    Code(IntegrityCodeArgs),
    /// Have the firmware verify every stored record and the audit chain.
    #[command(after_long_help = "\
Example:
  samctl integrity data

Lines (seed Table 52):
  Data integrity check ... ok          (0)
  Data integrity check ... failed      (1)
followed by the bad users, bad keys and where the audit chain breaks.

The audit chain is checked from where the last intact check ended (its
last batch again, then every new record); --full checks it from seq 0.")]
    Data(IntegrityDataArgs),
}

/// `integrity data`.
#[derive(Args, Debug, Clone, Default)]
pub struct IntegrityDataArgs {
    /// Check the whole audit chain from its first record, not only what
    /// was added since the last intact check.
    #[arg(long)]
    pub full: bool,
}

/// `integrity code`.
#[derive(Args, Debug, Clone)]
pub struct IntegrityCodeArgs {
    /// The checksum file [default: sam.sha512 next to samctl].
    #[arg(long, value_name = "FILE")]
    pub checksums: Option<PathBuf>,
}

/// Administrator keys and the offline (split) form of a dual-control
/// command.
#[derive(Args, Debug, Clone, Default)]
pub struct Approvers {
    /// An administrator's P-256 private key (PEM or DER, PKCS#8 or SEC1)
    /// to approve with here; repeat for each administrator.
    #[arg(long = "admin-key", value_name = "KEY")]
    pub admin_keys: Vec<PathBuf>,
    /// Do not submit: get a challenge and write the request for offline
    /// approval (`samctl fw approve`) to this file.
    #[arg(long, value_name = "FILE")]
    pub prepare: Option<PathBuf>,
}

/// The HSM operator who logs on for `fw init` (seed `manageFW init
/// LogonPass=<user>,<credential>`).
#[derive(Args, Debug, Clone, Default)]
pub struct OperatorArgs {
    /// The HSM operator's user name (`sam-simulator init --operator`).
    #[arg(long, value_name = "NAME", requires = "operator_key")]
    pub operator: Option<String>,
    /// The operator's secret (32 bytes, the file `sam-simulator init
    /// --operator-key` wrote); it stays here, samd gets a single-use response.
    #[arg(long, value_name = "FILE", requires = "operator")]
    pub operator_key: Option<PathBuf>,
}

/// `fw ...`.
#[derive(Subcommand, Debug, Clone)]
pub enum FwCommand {
    /// Initialize the firmware and enrol the administrators.
    #[command(after_long_help = "\
Example (both administrators at one machine, with the HSM operator):
  samctl fw init --operator hsmop --operator-key hsmop.key --admin-key admin1.pem --admin-key admin2.pem

Example (each administrator signs offline):
  samctl fw init --admin-pub admin1.pub --admin-pub admin2.pub --mbk-slot 0 --prepare init.json
  samctl fw approve --admin-key admin1.pem --request init.json > approval1.json   # administrator 1
  samctl fw approve --admin-key admin2.pem --request init.json > approval2.json   # administrator 2
  samctl fw submit --request init.json --approval approval1.json --approval approval2.json \
    --operator hsmop --operator-key hsmop.key

The enrolled administrators are the public keys of every --admin-key and
--admin-pub. The HSM operator (seed: manageFW init LogonPass=<user>,<credential>)
logs on with a response over the challenge and the parameters; the HSM, not
samd, checks it. The challenge expires after 5 minutes. The firmware requires
the operator's logon and two distinct enrolled administrators; samctl does not
check that itself.
Lines (seed Table 52):
  Initialization of SAM Firmware ... ok        (0)
  Initialization of SAM Firmware ... failed    (1)")]
    Init {
        /// An administrator to enrol who does not approve here: P-256
        /// public key (PEM/DER SubjectPublicKeyInfo, or hex SEC1 point).
        #[arg(long = "admin-pub", value_name = "KEY")]
        admin_pubs: Vec<PathBuf>,
        /// The HSM's MBK slot the module keys are derived from.
        #[arg(long, default_value_t = 0, value_name = "N")]
        mbk_slot: u8,
        /// The HSM operator who logs on (required unless --prepare).
        #[command(flatten)]
        operator: OperatorArgs,
        /// Who approves.
        #[command(flatten)]
        approvers: Approvers,
    },
    /// Replace the IdP public keys (trust anchors of identity tokens).
    #[command(after_long_help = "\
Example:
  samctl fw setidpkeys idp-2025.pem idp-2026.der --admin-key admin1.pem --admin-key admin2.pem

Lines (seed Table 52):
  Import of IdP Public Keys ... ok       (0)
  Import of Public Keys ... failed       (1)")]
    Setidpkeys {
        /// IdP certificates (PEM, several per file allowed, or DER).
        #[arg(value_name = "CERTFILE", required = true)]
        certificates: Vec<PathBuf>,
        /// Who approves.
        #[command(flatten)]
        approvers: Approvers,
    },
    /// Set the firmware's policy: the longest identity-token lifetime it
    /// accepts and the CAs whose signer certificates it registers.
    #[command(after_long_help = "\
Example:
  samctl fw policy --max-token-lifetime 900 --signing-ca ca.pem --admin-key admin1.pem --admin-key admin2.pem

Until a policy is set, tokens may live one hour and no certificate can be
registered (no key can sign).")]
    Policy {
        /// Longest validity (notAfter - notBefore) of an identity token, seconds.
        #[arg(long, value_name = "SECONDS")]
        max_token_lifetime: u32,
        /// Certificates of the CAs that issue signer certificates (PEM or DER).
        #[arg(long = "signing-ca", value_name = "CERTFILE")]
        signing_cas: Vec<PathBuf>,
        /// Audit records between two checkpoints the firmware signs of its
        /// own accord (at least 1).
        #[arg(long, value_name = "RECORDS", default_value_t = sam_proto::records::DEFAULT_CHECKPOINT_INTERVAL)]
        checkpoint_interval: u32,
        /// Who approves.
        #[command(flatten)]
        approvers: Approvers,
    },
    /// Enrol the first Privileged User.
    #[command(after_long_help = "\
Example:
  samctl fw enrol --idp-cert idp.pem --admin-key admin1.pem --admin-key admin2.pem

Prints the line and the new user's UUID (random unless --user-id).")]
    Enrol {
        /// The new user's UUID [default: random].
        #[arg(long, value_name = "UUID")]
        user_id: Option<String>,
        /// IdP certificates that may sign this user's identity tokens.
        #[arg(long = "idp-cert", value_name = "CERTFILE", required = true)]
        idp_certs: Vec<PathBuf>,
        /// Who approves.
        #[command(flatten)]
        approvers: Approvers,
    },
    /// Approve a prepared request offline (no connection to samd).
    #[command(after_long_help = "\
Example:
  samctl fw approve --admin-key admin1.pem --request init.json > approval1.json

Shows on stderr what is approved (command, administrators' key
fingerprints, certificate subjects, user) before signing.")]
    Approve {
        /// The administrator's private key.
        #[arg(long = "admin-key", value_name = "KEY", required = true)]
        admin_key: PathBuf,
        /// The request written by --prepare.
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        /// Where to write the approval [default: stdout].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Submit a prepared request with its approvals.
    #[command(after_long_help = "\
Example:
  samctl fw submit --request init.json --approval approval1.json --approval approval2.json

Prints the line of the request's operation (Table 52).")]
    Submit {
        /// The request written by --prepare.
        #[arg(long, value_name = "FILE")]
        request: PathBuf,
        /// An approval written by `samctl fw approve`.
        #[arg(long = "approval", value_name = "FILE")]
        approvals: Vec<PathBuf>,
        /// Also approve here with these keys.
        #[arg(long = "admin-key", value_name = "KEY")]
        admin_keys: Vec<PathBuf>,
        /// For `init`: the HSM operator who logs on.
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Create a new P-256 administrator key (PKCS#8 PEM, mode 0600).
    #[command(after_long_help = "\
Example:
  samctl fw keygen --out admin1.pem --pub-out admin1.pub

Prints the public key's SHA-256 fingerprint (hex of the SEC1 point).")]
    Keygen {
        /// The private key file (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Also write the public key (PEM SubjectPublicKeyInfo).
        #[arg(long, value_name = "FILE")]
        pub_out: Option<PathBuf>,
    },
    /// Firmware state, administrators, IdP keys and store counts (JSON).
    #[command(after_long_help = "\
Example:
  samctl fw status
  samctl fw status --attestation-key sam.pem

`firmware.attestation_key_sha256` is the SHA-256 of the attestation key's
DER SubjectPublicKeyInfo (what `fw init` prints), for `samctl audit verify`.")]
    Status {
        /// Also write the attestation public key (PEM SubjectPublicKeyInfo).
        #[arg(long, value_name = "FILE")]
        attestation_key: Option<PathBuf>,
    },
}

/// An acting user's identity token and the key it binds.
#[derive(Args, Debug, Clone)]
pub struct TokenArg {
    /// The acting user's identity token (DER, base64 or PEM), carrying a
    /// SAD public key.
    #[arg(long, value_name = "FILE")]
    pub token: PathBuf,
    /// The private key of the token's SAD key (P-256 or P-384, PEM or
    /// DER): it signs this request with a fresh firmware challenge.
    #[arg(long, value_name = "KEY")]
    pub token_key: PathBuf,
}

/// `create-privileged-user`.
#[derive(Args, Debug, Clone)]
pub struct CreatePrivilegedUserArgs {
    /// Who asks.
    #[command(flatten)]
    pub token: TokenArg,
    /// The new user's UUID [default: random].
    #[arg(long, value_name = "UUID")]
    pub user_id: Option<String>,
    /// IdP certificates that may sign the new user's identity tokens.
    #[arg(long = "idp-cert", value_name = "CERTFILE")]
    pub idp_certs: Vec<PathBuf>,
    /// Make a Privileged User Technical authenticated by this
    /// certificate's key.
    #[arg(long, value_name = "CERTFILE")]
    pub technical_cert: Option<PathBuf>,
}

/// `create-signer`.
#[derive(Args, Debug, Clone)]
pub struct CreateSignerArgs {
    /// The acting Privileged User's identity token.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "technical_key",
        conflicts_with = "technical_key",
        requires = "token_key"
    )]
    pub token: Option<PathBuf>,
    /// The private key of the token's SAD key (with `--token`).
    #[arg(long, value_name = "KEY", requires = "token")]
    pub token_key: Option<PathBuf>,
    /// Or: the private key of a Privileged User Technical (P-256 or P-384,
    /// PEM or DER).
    #[arg(long, value_name = "KEY", requires = "technical_user")]
    pub technical_key: Option<PathBuf>,
    /// The Privileged User Technical's UUID.
    #[arg(long, value_name = "UUID", requires = "technical_key")]
    pub technical_user: Option<String>,
    /// The new signer's UUID [default: random].
    #[arg(long, value_name = "UUID")]
    pub user_id: Option<String>,
    /// IdP certificates that may sign the signer's identity tokens.
    #[arg(long = "idp-cert", value_name = "CERTFILE", required = true)]
    pub idp_certs: Vec<PathBuf>,
}

/// `signer-maintenance`.
#[derive(Args, Debug, Clone)]
pub struct SignerMaintenanceArgs {
    /// Who asks.
    #[command(flatten)]
    pub token: TokenArg,
    /// The signer.
    #[arg(long, value_name = "UUID")]
    pub user_id: String,
    /// The signer's new set of IdP certificates.
    #[arg(long = "idp-cert", value_name = "CERTFILE", required = true)]
    pub idp_certs: Vec<PathBuf>,
}

/// Key algorithms of Generate_Signer_Key_Pair.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
}

/// `generate-key`.
#[derive(Args, Debug, Clone)]
pub struct GenerateKeyArgs {
    /// Who asks.
    #[command(flatten)]
    pub token: TokenArg,
    /// The key's owner (a Signer).
    #[arg(long, value_name = "UUID")]
    pub user_id: String,
    /// The algorithm.
    #[arg(long, value_enum, default_value = "ec-p256")]
    pub algorithm: Algorithm,
    /// The subject of the certification request the firmware signs with
    /// the new key (RFC 4514, e.g. `CN=Jane Doe,O=Example,C=DE`)
    /// [default: CN=<user-id>].
    #[arg(long, value_name = "DN")]
    pub subject: Option<String>,
}

/// `delete-key`.
#[derive(Args, Debug, Clone)]
pub struct DeleteKeyArgs {
    /// Who asks.
    #[command(flatten)]
    pub token: TokenArg,
    /// The key.
    #[arg(long, value_name = "UUID")]
    pub key_id: String,
}

/// `sign`.
#[derive(Args, Debug, Clone)]
pub struct SignArgs {
    /// The SAD (DER, base64 or PEM).
    #[arg(long, value_name = "FILE")]
    pub sad: PathBuf,
}

/// Who asks, and the filters, of the key manager queries.
#[derive(Args, Debug, Clone, Default)]
pub struct ObjectFilter {
    /// The asking user's identity token (DER, base64 or PEM), sent as
    /// `Authorization: Bearer`: samd shows that user's objects (a
    /// Privileged User's also those of the Signers it manages). Its SAD
    /// key is not needed.
    #[arg(long, value_name = "FILE")]
    pub token: PathBuf,
    /// Object id.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// State (PRE_ACTIVE, ACTIVE, DEACTIVATED, COMPROMISED, DESTROYED,
    /// DESTROYED_COMPROMISED).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// KeyID.
    #[arg(long, value_name = "UUID")]
    pub key_id: Option<String>,
    /// Owner's UserID.
    #[arg(long, value_name = "UUID")]
    pub user_id: Option<String>,
    /// At most this many objects (1..1000).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
}

/// `objects`.
#[derive(Args, Debug, Clone)]
pub struct ObjectsArgs {
    /// Filters.
    #[command(flatten)]
    pub filter: ObjectFilter,
    /// Object type (PRIVATE_KEY, PUBLIC_KEY, CERTIFICATE_REQUEST,
    /// CERTIFICATE).
    #[arg(long = "type", value_name = "TYPE")]
    pub object_type: Option<String>,
}

/// `private-keys`.
#[derive(Args, Debug, Clone)]
pub struct PrivateKeysArgs {
    /// Filters.
    #[command(flatten)]
    pub filter: ObjectFilter,
}

/// `register-certificate`.
#[derive(Args, Debug, Clone)]
pub struct RegisterCertificateArgs {
    /// Who asks: the key's owner or a Privileged User (the firmware checks).
    #[command(flatten)]
    pub token: TokenArg,
    /// The key.
    #[arg(long, value_name = "UUID")]
    pub key_id: String,
    /// The certificate (PEM or DER) for the key's public key. Not `--cert`:
    /// that global flag is samctl's own client certificate.
    #[arg(long, value_name = "CERTFILE")]
    pub certificate: PathBuf,
}

/// `export-audit`, `audit export`.
#[derive(Args, Debug, Clone)]
pub struct ExportAuditArgs {
    /// Where to write the JSON Lines (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Only records with a sequence number above this.
    #[arg(long, value_name = "SEQ", default_value_t = -1, allow_negative_numbers = true)]
    pub after: i64,
}

//! `sam-sign`: signs files through the SAM with the seed's Remote
//! Signature API (§7.6, `sam_client::remote`), and makes SADs for other
//! front doors. See `sam-sign --help`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sam_client::{
    ClientError, IdpClient, IdpLogin, RemoteSignatureApi, SadMaker, SamClient,
    read_pem_certificates, tls_config,
};
use sam_proto::command::MAX_HASHES;
use sam_proto::ids::{HashAlgorithm, KeyId, Uuid};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "sam-sign",
    version,
    about = "Sign files through the SAM (detached CMS), or make a SAD for other front doors",
    long_about = "\
Sign files through the Signature Activation Module, with the seed's Remote
Signature API (seed §7.6): log in with your identity token, let the IdP bind
a temporary SAD key into it, sign a SAD (seed §8.1) over the files' hashes
with that key, and have samd's POST /signing return one detached CMS per
file. The SAM decides in its firmware: it checks the IdP's token, the SAD's
signature and that the SAD was never used before.

Files are hashed here, streaming (64 KiB at a time); only the hashes leave
this machine. A SAD holds at most 128 hashes; more files take one SAD (and
one IdP round trip) per 128.

`sam-sign sad` stops before samd: it prints the base64 DER SAD for given
hashes, for a front door that takes a SAD, such as a CSC service's
credentials/authorize.

The IdP is reached over plain HTTP for http:// URLs (the development IdP
of sam-devpki, loopback only) and over HTTPS for https:// URLs, trusting
--idp-ca.",
    after_long_help = "\
Examples:
  # Sign two files with key 9a1f...; writes contract.pdf.p7s and annex.pdf.p7s
  sam-sign sign --samd https://localhost:8443 --tls-ca dev-pki/tls-ca.pem \\
      --cert dev-pki/connector-ssa.pem --key dev-pki/connector-ssa.key \\
      --idp http://127.0.0.1:8480 --token alice.token \\
      --key-id 9a1f0c2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b contract.pdf annex.pdf

  # Check one with openssl against the signing CA
  openssl cms -verify -binary -inform DER -in contract.pdf.p7s \\
      -content contract.pdf -CAfile dev-pki/ca.pem -out /dev/null

  # A SAD over one SHA-256 hash (base64), printed as one base64 line
  sam-sign sad --idp http://127.0.0.1:8480 --token alice.token \\
      --key-id 9a1f0c2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b --hash-algorithm sha256 \\
      --hash \"$(openssl dgst -sha256 -binary contract.pdf | base64)\"

Exit status: 0 done, 1 refused or failed (the reason on standard error),
2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sign files: writes FILE.p7s (DER detached CMS) next to each FILE.
    Sign(SignArgs),
    /// Print the base64 DER SAD (seed §8.1) for the given hashes.
    Sad(SadArgs),
}

/// Who logs in, where the IdP is, and which key.
#[derive(Args, Debug)]
struct LoginArgs {
    /// The IdP's base URL (http:// only for the development IdP).
    #[arg(long, value_name = "URL")]
    idp: String,
    /// CA certificates (PEM) of an https:// IdP.
    #[arg(long, value_name = "PEM")]
    idp_ca: Option<PathBuf>,
    /// Your identity token from the IdP's login (DER, base64 or PEM).
    #[arg(long, value_name = "FILE")]
    token: PathBuf,
    /// The KeyID of your signing key in the SAM.
    #[arg(long, value_name = "UUID")]
    key_id: String,
}

#[derive(Args, Debug)]
struct SignArgs {
    /// samd's base URL.
    #[arg(long, value_name = "URL")]
    samd: String,
    /// CA certificates (PEM) that issued samd's TLS certificate.
    #[arg(long, value_name = "PEM")]
    tls_ca: PathBuf,
    /// The SSA connector's client certificate chain (PEM).
    #[arg(long, value_name = "PEM")]
    cert: PathBuf,
    /// The SSA connector's private key (PEM).
    #[arg(long, value_name = "PEM")]
    key: PathBuf,
    #[command(flatten)]
    login: LoginArgs,
    /// The digest of the files and of the signatures.
    #[arg(long, value_enum, default_value_t = Hash::Sha256)]
    hash_algorithm: Hash,
    /// The files to sign.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
struct SadArgs {
    #[command(flatten)]
    login: LoginArgs,
    /// The digest algorithm of the hashes.
    #[arg(long, value_enum)]
    hash_algorithm: Hash,
    /// A hash to sign (standard base64), once per hash, in order.
    #[arg(long = "hash", required = true, value_name = "B64")]
    hashes: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl From<Hash> for HashAlgorithm {
    fn from(h: Hash) -> Self {
        match h {
            Hash::Sha256 => Self::Sha256,
            Hash::Sha384 => Self::Sha384,
            Hash::Sha512 => Self::Sha512,
        }
    }
}

/// Why sam-sign failed: the text goes to standard error.
#[derive(Debug)]
enum SignError {
    /// A bad argument or file.
    Input(String),
    /// The IdP, samd or the SAM refused, or could not be reached.
    Client(ClientError),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(why) => f.write_str(why),
            Self::Client(e) => write!(f, "{e}"),
        }
    }
}

impl From<ClientError> for SignError {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sam-sign: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Sign(a) => rt.block_on(sign(a)),
        Command::Sad(a) => rt.block_on(sad(a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sam-sign: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The IdP client, the login token and the KeyID of `a`.
fn login(a: &LoginArgs) -> Result<(Arc<IdpClient>, Vec<u8>, KeyId), SignError> {
    let idp = if a.idp.starts_with("https://") {
        let ca = a
            .idp_ca
            .as_deref()
            .ok_or_else(|| SignError::Input("an https:// IdP needs --idp-ca".into()))?;
        IdpClient::new(&a.idp, tls_config(read_pem_certificates(ca)?, None)?)?
    } else {
        IdpClient::dev_plain_http(&a.idp)?
    };
    let bytes = std::fs::read(&a.token)
        .map_err(|e| SignError::Input(format!("--token {}: {e}", a.token.display())))?;
    let token = sam_client::der_document(&bytes).ok_or_else(|| {
        SignError::Input(format!(
            "--token {}: neither DER, base64 nor PEM",
            a.token.display()
        ))
    })?;
    let key_id = Uuid::parse(&a.key_id)
        .map_err(|_| SignError::Input(format!("--key-id {:?} is not a UUID", a.key_id)))?;
    Ok((Arc::new(idp), token, key_id))
}

/// `sam-sign sign`.
async fn sign(a: SignArgs) -> Result<(), SignError> {
    let (idp, token, key_id) = login(&a.login)?;
    let sam = SamClient::from_pem_files(&a.samd, &a.tls_ca, &a.cert, &a.key)?;
    let hash = HashAlgorithm::from(a.hash_algorithm);
    let mut digests = Vec::with_capacity(a.files.len());
    for file in &a.files {
        let f = std::fs::File::open(file)
            .map_err(|e| SignError::Input(format!("{}: {e}", file.display())))?;
        let digest = sam_client::verify::digest_reader(hash, f)
            .map_err(|e| SignError::Input(format!("{}: {e}", file.display())))?;
        digests.push(digest);
    }
    let mut signer = RemoteSignatureApi::new(Arc::new(sam), idp)
        .login(token)
        .await?;
    for (files, hashes) in a.files.chunks(MAX_HASHES).zip(digests.chunks(MAX_HASHES)) {
        let mut signed = signer.sign(hash, key_id, hashes.to_vec()).await?;
        for (i, file) in files.iter().enumerate() {
            let cms = signed.remove(&i.to_string()).ok_or_else(|| {
                SignError::Client(ClientError::Protocol(format!("no signature #{i}")))
            })?;
            let out = p7s_path(file);
            std::fs::write(&out, &cms)
                .map_err(|e| SignError::Input(format!("{}: {e}", out.display())))?;
            println!(
                "{}: signed, {} ({} bytes)",
                file.display(),
                out.display(),
                cms.len()
            );
        }
    }
    Ok(())
}

/// `FILE.p7s` beside `FILE`.
fn p7s_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".p7s");
    PathBuf::from(name)
}

/// `sam-sign sad`: exactly one line of standard base64 on stdout.
async fn sad(a: SadArgs) -> Result<(), SignError> {
    let (idp, token, key_id) = login(&a.login)?;
    let hashes = a
        .hashes
        .iter()
        .map(|h| {
            STANDARD
                .decode(h.trim())
                .map_err(|_| SignError::Input(format!("--hash {h:?} is not standard base64")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut maker = SadMaker::login(idp, IdpLogin::IdToken(token)).await?;
    let sad = maker
        .sad(HashAlgorithm::from(a.hash_algorithm), key_id, hashes)
        .await?;
    println!("{}", STANDARD.encode(sad));
    Ok(())
}

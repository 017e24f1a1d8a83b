//! samctl's settings: flags, then `SAMCTL_*` variables (both through
//! clap), then the TOML file of `--config`, then defaults.

use super::cli::Global;
use super::error::{CtlError, CtlResult};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// samd's default URL.
pub const DEFAULT_URL: &str = "https://127.0.0.1:8443";

/// Default seconds per request.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// The keys of `samctl.toml`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// samd's base URL.
    pub url: Option<String>,
    /// Client certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Client key (PEM).
    pub key: Option<PathBuf>,
    /// samd's server CA (PEM).
    pub ca: Option<PathBuf>,
    /// Seconds per request.
    pub timeout_secs: Option<u64>,
    /// The samd binary.
    pub samd: Option<PathBuf>,
    /// samd's configuration file.
    pub samd_config: Option<PathBuf>,
    /// The pid file.
    pub pid_file: Option<PathBuf>,
    /// samd's log file.
    pub log_file: Option<PathBuf>,
    /// The checksum file of the deployed binaries.
    pub checksums: Option<PathBuf>,
    /// The instance id.
    pub instance: Option<String>,
}

impl FileSettings {
    /// Parses TOML text; relative paths are taken relative to `base`.
    pub fn parse(text: &str, base: &Path) -> CtlResult<Self> {
        let mut s: Self =
            toml::from_str(text).map_err(|e| CtlError::usage(format!("samctl.toml: {e}")))?;
        for p in [
            &mut s.cert,
            &mut s.key,
            &mut s.ca,
            &mut s.samd,
            &mut s.samd_config,
            &mut s.pid_file,
            &mut s.log_file,
            &mut s.checksums,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(s)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> CtlResult<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CtlError::usage(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, base)
    }
}

/// Everything a command needs to know about where things are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// samd's base URL.
    pub url: String,
    /// Whether the URL was given (flag, variable or file) rather than the
    /// default; `start` otherwise derives it from samd's listen address.
    pub url_given: bool,
    /// Client certificate.
    pub cert: Option<PathBuf>,
    /// Client key.
    pub key: Option<PathBuf>,
    /// Server CA.
    pub ca: Option<PathBuf>,
    /// Per request.
    pub timeout: Duration,
    /// `-v` count.
    pub verbose: u8,
    /// The rest of the file.
    pub file: FileSettings,
}

impl Settings {
    /// Merges the flags (which clap already merged with the environment)
    /// with the configuration file.
    pub fn resolve(global: &Global) -> CtlResult<Self> {
        let file = match &global.config {
            Some(p) => FileSettings::load(p)?,
            None => FileSettings::default(),
        };
        let url = global.url.clone().or_else(|| file.url.clone());
        Ok(Self {
            url_given: url.is_some(),
            url: url.unwrap_or_else(|| DEFAULT_URL.to_owned()),
            cert: global.cert.clone().or_else(|| file.cert.clone()),
            key: global.key.clone().or_else(|| file.key.clone()),
            ca: global.ca.clone().or_else(|| file.ca.clone()),
            timeout: Duration::from_secs(
                global
                    .timeout
                    .or(file.timeout_secs)
                    .unwrap_or(DEFAULT_TIMEOUT_SECS)
                    .max(1),
            ),
            verbose: global.verbose,
            file,
        })
    }

    /// Prints `message` on stderr if at least `level` `-v` were given.
    pub fn note(&self, level: u8, message: impl AsRef<str>) {
        if self.verbose >= level {
            eprintln!("samctl: {}", message.as_ref());
        }
    }
}

/// The directory of samctl's own executable, where samd, sam-simulator
/// and the default checksum file are looked for.
pub fn own_dir() -> CtlResult<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| CtlError::failed(format!("cannot find samctl's own executable: {e}")))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| CtlError::failed("samctl's executable has no directory"))
}

/// The default checksum file: `sam.sha512` next to samctl.
pub fn default_checksums() -> CtlResult<PathBuf> {
    Ok(own_dir()?.join("sam.sha512"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let f = FileSettings::parse(
            "url = \"https://sam.example:9443\"\nca = \"ca.pem\"\ncert = \"/abs/c.pem\"\ntimeout_secs = 5\n",
            Path::new("/etc/sam"),
        )
        .unwrap();
        assert_eq!(f.ca, Some(PathBuf::from("/etc/sam/ca.pem")));
        assert_eq!(f.cert, Some(PathBuf::from("/abs/c.pem")));
        assert!(FileSettings::parse("bogus = 1", Path::new(".")).is_err());

        let s = Settings::resolve(&Global::default()).unwrap();
        assert_eq!((s.url.as_str(), s.url_given), (DEFAULT_URL, false));
        assert_eq!(s.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));
    }
}

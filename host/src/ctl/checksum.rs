//! Code integrity (seed §5.7): SHA-512 of the deployed binaries against a
//! checksum file in `sha512sum` format, made in advance by `samctl
//! checksum` (the seed's checksumSAM.sh).

use super::error::{CtlError, CtlResult};
use sha2::{Digest, Sha512};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// SHA-512 of a file, hex.
pub fn sha512_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha512::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(h.finalize()))
}

/// One line of a checksum file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Expected SHA-512, lower-case hex.
    pub sha512: String,
    /// The file (relative paths are relative to the checksum file).
    pub path: PathBuf,
}

impl Entry {
    /// The component name for the console (`XYZ` of Table 52): the file
    /// name.
    pub fn component(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// Makes the `sha512sum` line of each file, with absolute paths.
pub fn make(binaries: &[PathBuf]) -> CtlResult<String> {
    let mut out = String::new();
    for b in binaries {
        let abs = b
            .canonicalize()
            .map_err(|e| CtlError::failed(format!("{}: {e}", b.display())))?;
        let sum =
            sha512_file(&abs).map_err(|e| CtlError::failed(format!("{}: {e}", abs.display())))?;
        let name = abs
            .to_str()
            .filter(|s| !s.contains('\n') && !s.contains('\\'))
            .ok_or_else(|| {
                CtlError::usage(format!(
                    "{}: the path cannot be written in sha512sum format",
                    abs.display()
                ))
            })?;
        out.push_str(&format!("{sum}  {name}\n"));
    }
    Ok(out)
}

/// Parses a checksum file: `<128 hex>  <path>` or `<128 hex> *<path>`
/// lines; blank lines and `#` comments are skipped.
pub fn parse(text: &str, base: &Path) -> CtlResult<Vec<Entry>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || {
            CtlError::usage(format!(
                "checksum file line {}: not `<sha512>  <path>`",
                n + 1
            ))
        };
        let (sum, rest) = line.split_once(' ').ok_or_else(bad)?;
        let path = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(bad)?;
        if sum.len() != 128 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) || path.is_empty() {
            return Err(bad());
        }
        let path = PathBuf::from(path);
        out.push(Entry {
            sha512: sum.to_ascii_lowercase(),
            path: if path.is_relative() {
                base.join(path)
            } else {
                path
            },
        });
    }
    if out.is_empty() {
        return Err(CtlError::usage("the checksum file lists no file"));
    }
    Ok(out)
}

/// Reads and parses a checksum file.
pub fn load(path: &Path) -> CtlResult<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CtlError::failed(format!("checksum file {}: {e}", path.display())))?;
    parse(&text, path.parent().unwrap_or_else(|| Path::new(".")))
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Matches.
    Ok,
    /// Differs: the SHA-512 found.
    Differs(String),
    /// Cannot be read.
    Unreadable(String),
}

/// Checks one entry.
pub fn check(e: &Entry) -> Verdict {
    match sha512_file(&e.path) {
        Ok(s) if s == e.sha512 => Verdict::Ok,
        Ok(s) => Verdict::Differs(s),
        Err(err) => Verdict::Unreadable(err.to_string()),
    }
}

/// Checks every entry, printing one Table 52 line per component (with the
/// Check Code Integrity or the Start wording) and, for a failure, why.
/// True if all match.
pub fn check_all(entries: &[Entry], at_start: bool) -> bool {
    let mut ok = true;
    for e in entries {
        let c = e.component();
        match check(e) {
            Verdict::Ok => println!("{}", super::console::code_ok(&c)),
            v => {
                ok = false;
                if at_start {
                    println!("{}", super::console::code_failed_at_start(&c));
                } else {
                    println!("{}", super::console::code_failed(&c));
                }
                match v {
                    Verdict::Differs(found) => println!(
                        "  {}: SHA-512 differs (expected {}..., found {}...)",
                        e.path.display(),
                        e.sha512.get(..16).unwrap_or_default(),
                        found.get(..16).unwrap_or_default()
                    ),
                    Verdict::Unreadable(why) => {
                        println!("  {}: cannot be read: {why}", e.path.display());
                    }
                    Verdict::Ok => {}
                }
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512sum_format() {
        let sum = "ab".repeat(64);
        let e = parse(
            &format!("# deployed\n{sum}  /usr/bin/samd\n{sum} *rel/samctl\n\n"),
            Path::new("/etc/sam"),
        )
        .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].component(), "samd");
        assert_eq!(e[1].path, PathBuf::from("/etc/sam/rel/samctl"));
        assert!(parse("abc  x\n", Path::new(".")).is_err());
        assert!(parse("", Path::new(".")).is_err());
        assert!(parse(&format!("{sum}x"), Path::new(".")).is_err());
    }

    #[test]
    fn known_answer() {
        let dir = std::env::temp_dir().join(format!("samctl-sum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("abc");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            sha512_file(&f).unwrap(),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        let text = make(std::slice::from_ref(&f)).unwrap();
        let entries = parse(&text, &dir).unwrap();
        assert_eq!(check(&entries[0]), Verdict::Ok);
        std::fs::write(&f, b"abd").unwrap();
        assert!(matches!(check(&entries[0]), Verdict::Differs(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

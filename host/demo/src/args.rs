//! The command line.

use std::path::{Path, PathBuf};

/// The command line.
#[derive(Debug)]
pub struct Args {
    pub out: PathBuf,
    pub bin_dir: PathBuf,
}

impl Args {
    /// `None` for `--help`.
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut out = PathBuf::from("target/demo");
        let mut bin_dir = None;
        while let Some(a) = it.next() {
            match a.as_str() {
                "--out" => out = it.next().ok_or("--out needs a folder")?.into(),
                "--bin-dir" => bin_dir = Some(it.next().ok_or("--bin-dir needs a folder")?.into()),
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let bin_dir = match bin_dir {
            Some(d) => d,
            None => std::env::current_exe()
                .map_err(|e| format!("own executable: {e}"))?
                .parent()
                .map(Path::to_path_buf)
                .ok_or("own executable has no folder")?,
        };
        Ok(Some(Self { out, bin_dir }))
    }
}

//! The command line.

use std::path::PathBuf;

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
        let mut bin_dir: Option<PathBuf> = None;
        while let Some(a) = it.next() {
            match a.as_str() {
                "--out" => out = it.next().ok_or("--out needs a folder")?.into(),
                "--bin-dir" => bin_dir = Some(it.next().ok_or("--bin-dir needs a folder")?.into()),
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let bin_dir = sam_harness::Binaries::from_option(bin_dir.as_deref())?
            .dir()
            .to_path_buf();
        Ok(Some(Self { out, bin_dir }))
    }
}

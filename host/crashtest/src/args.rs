//! The command line.

use crate::rng;
use std::path::PathBuf;

/// The command line.
#[derive(Debug)]
pub struct Args {
    pub cycles: u32,
    pub seed: u64,
    pub bin_dir: PathBuf,
    pub keep: bool,
    pub tolerate_audit_gaps: bool,
}

impl Args {
    /// `None` for `--help`.
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Self>, String> {
        let mut cycles = 50;
        let mut seed = None;
        let mut bin_dir: Option<PathBuf> = None;
        let mut keep = false;
        let mut tolerate_audit_gaps = false;
        while let Some(a) = it.next() {
            match a.as_str() {
                "--cycles" => {
                    let v = it.next().ok_or("--cycles needs a number")?;
                    cycles = v
                        .parse()
                        .map_err(|_| format!("--cycles: not a number: {v}"))?;
                }
                "--seed" => {
                    let v = it.next().ok_or("--seed needs a number")?;
                    seed = Some(
                        v.parse::<u64>()
                            .map_err(|_| format!("--seed: not a number: {v}"))?,
                    );
                }
                "--bin-dir" => bin_dir = Some(it.next().ok_or("--bin-dir needs a folder")?.into()),
                "--keep" => keep = true,
                "--tolerate-audit-gaps" => tolerate_audit_gaps = true,
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        let bin_dir = sam_harness::Binaries::from_option(bin_dir.as_deref())?
            .dir()
            .to_path_buf();
        Ok(Some(Self {
            cycles,
            seed: seed.unwrap_or_else(rng::clock_seed),
            bin_dir,
            keep,
            tolerate_audit_gaps,
        }))
    }
}

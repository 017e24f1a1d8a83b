//! The console: one numbered line per step with ✓ or ✗ and its duration.

use crate::STEPS;
use std::io::Write as _;
use std::time::Instant;

/// A step that did not behave.
#[derive(Debug)]
pub struct Failed {
    pub step: usize,
    pub title: String,
    pub detail: String,
}

/// Numbers and prints the steps.
#[derive(Debug)]
pub struct Story {
    n: usize,
    pub started: Instant,
    last: Instant,
}

impl Story {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            n: 0,
            started: now,
            last: now,
        }
    }

    /// Prints the line of the next step: its outcome was computed since the
    /// previous step.
    pub fn step<T>(
        &mut self,
        title: &str,
        outcome: Result<(T, String), String>,
    ) -> Result<T, Failed> {
        self.n += 1;
        let secs = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let line = match &outcome {
            Ok((_, detail)) => format!("[{:>2}/{STEPS}] ✓ {title}: {detail} ({secs:.1} s)", self.n),
            Err(detail) => format!("[{:>2}/{STEPS}] ✗ {title}: {detail}", self.n),
        };
        println!("{line}");
        let _ = std::io::stdout().flush();
        outcome.map(|(v, _)| v).map_err(|detail| Failed {
            step: self.n,
            title: title.to_owned(),
            detail,
        })
    }

    /// Marks the start of the next step's work (for its duration).
    pub fn begin(&mut self) {
        self.last = Instant::now();
    }
}

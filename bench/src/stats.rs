//! Repeated measurements: min, median and max of a figure over runs.

use serde_json::{Value, json};

/// One figure measured several times.
#[derive(Clone, Debug, Default)]
pub struct Runs {
    /// One value per run, in run order.
    pub values: Vec<f64>,
}

impl Runs {
    /// A figure from its runs.
    pub fn new(values: Vec<f64>) -> Self {
        Self { values }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .values
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Smallest value (NaN if there is none).
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    /// Largest value (NaN if there is none).
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// Median (mean of the two middle values for an even count).
    pub fn median(&self) -> f64 {
        median(&self.sorted())
    }

    /// JSON `{min, median, max, runs}`.
    pub fn json(&self) -> Value {
        json!({
            "min": num(self.min()),
            "median": num(self.median()),
            "max": num(self.max()),
            "runs": self.values.len(),
        })
    }

    /// `median (min–max)` for a table cell.
    pub fn cell(&self) -> String {
        format!(
            "{} ({}–{})",
            fmt_num(self.median()),
            fmt_num(self.min()),
            fmt_num(self.max())
        )
    }
}

/// Median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    let upper = sorted.get(mid).copied().unwrap_or(f64::NAN);
    if n % 2 == 1 {
        upper
    } else {
        let lower = sorted
            .get(mid.saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN);
        (lower + upper) / 2.0
    }
}

/// The value at quantile `q` (0..=1) of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied().unwrap_or(f64::NAN)
}

/// A JSON number, or null for NaN/infinite.
pub fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// A number for a table: three significant digits, or "–".
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quantiles() {
        let r = Runs::new(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!(r.min(), 1.0);
        assert_eq!(r.max(), 10.0);
        assert_eq!(r.median(), 2.5);
    }
}

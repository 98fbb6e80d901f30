//! The significance tests behind the gate: Welch's unequal-variance t-test on per-interval
//! samples, and a two-proportion z-test on error counts. Pure functions.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::report::model::QueryStats;
use crate::scenario::plan::Metric;

/// Below this many per-interval samples on either side, no test is run.
pub const MIN_SAMPLES: usize = 5;

/// One-sided p-values of a two-sample test, for both directions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleTest {
    /// P-value of H1 "current > baseline".
    pub p_greater: f64,
    /// P-value of H1 "current < baseline".
    pub p_less: f64,
    pub n_baseline: u64,
    pub n_current: u64,
}

/// The per-interval samples of a metric, or None when the report does not record them
/// (p90, p99.9, max, error rate). Intervals without a successful query are skipped for latency
/// metrics (their percentiles are undefined) but count as zero throughput.
pub fn interval_samples(q: &QueryStats, metric: Metric) -> Option<Vec<f64>> {
    let iv = &q.intervals;
    let lat = |f: fn(&crate::report::model::IntervalStats) -> f64| {
        Some(iv.iter().filter(|i| i.count > 0).map(f).collect())
    };
    match metric {
        Metric::MeanMs => lat(|i| i.mean_ms),
        Metric::P50Ms => lat(|i| i.p50_ms),
        Metric::P95Ms => lat(|i| i.p95_ms),
        Metric::P99Ms => lat(|i| i.p99_ms),
        Metric::ThroughputQps => {
            let mut prev = 0.0;
            let mut out = Vec::with_capacity(iv.len());
            for i in iv {
                let width = i.t_s - prev;
                prev = i.t_s;
                // A degenerate (zero-width) interval carries no rate information.
                if width > 1e-9 {
                    out.push(i.count as f64 / width);
                }
            }
            Some(out)
        }
        Metric::P90Ms | Metric::P999Ms | Metric::MaxMs | Metric::ErrorRate => None,
    }
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = if x.len() > 1 {
        x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var)
}

/// Welch's t-test of `current` against `baseline` (both need at least 2 samples), one-sided in
/// both directions. With zero variance on both sides the difference is exact: p = 0 in its
/// direction, 1 otherwise (and 1 both ways when the means are equal).
pub fn welch(baseline: &[f64], current: &[f64]) -> SampleTest {
    welch_with_run_noise(baseline, current, 0.0)
}

/// Welch's t-test with an extra, known variance `run_var` of the difference of means: the
/// run-to-run variation that intervals of one run cannot show (two runs, so callers pass twice
/// the variance of one run's level). It counts as known (infinite degrees of freedom) in the
/// Welch-Satterthwaite approximation.
pub fn welch_with_run_noise(baseline: &[f64], current: &[f64], run_var: f64) -> SampleTest {
    let (n1, n2) = (baseline.len(), current.len());
    let (m1, v1) = mean_var(baseline);
    let (m2, v2) = mean_var(current);
    let (s1, s2) = (v1 / n1 as f64, v2 / n2 as f64);
    let run_var = if run_var.is_finite() {
        run_var.max(0.0)
    } else {
        0.0
    };
    let se2 = s1 + s2 + run_var;
    let diff = m2 - m1;
    let (p_greater, p_less) = if se2.is_nan() || se2 <= 0.0 || n1 < 2 || n2 < 2 {
        if diff > 0.0 {
            (0.0, 1.0)
        } else if diff < 0.0 {
            (1.0, 0.0)
        } else {
            (1.0, 1.0)
        }
    } else {
        let t = diff / se2.sqrt();
        let denom = s1 * s1 / (n1 as f64 - 1.0) + s2 * s2 / (n2 as f64 - 1.0);
        if denom > 0.0 {
            match StudentsT::new(0.0, 1.0, se2 * se2 / denom) {
                Ok(dist) => (1.0 - dist.cdf(t), dist.cdf(t)),
                Err(_) => (1.0, 1.0),
            }
        } else {
            // Only the known run-to-run variance: a z-test.
            let normal = Normal::standard();
            (1.0 - normal.cdf(t), normal.cdf(t))
        }
    };
    SampleTest {
        p_greater,
        p_less,
        n_baseline: n1 as u64,
        n_current: n2 as u64,
    }
}

/// Two-proportion z-test (pooled) of the error share `errors / total`, one-sided both ways.
pub fn two_proportion(b_errors: u64, b_total: u64, c_errors: u64, c_total: u64) -> SampleTest {
    let (n1, n2) = (b_total as f64, c_total as f64);
    let (p1, p2) = (b_errors as f64 / n1, c_errors as f64 / n2);
    let pooled = (b_errors + c_errors) as f64 / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let (p_greater, p_less) = if se.is_nan() || se <= 0.0 {
        // Both sides all-success or all-error: identical proportions.
        (1.0, 1.0)
    } else {
        let z = (p2 - p1) / se;
        let normal = Normal::standard();
        (1.0 - normal.cdf(z), normal.cdf(z))
    };
    SampleTest {
        p_greater,
        p_less,
        n_baseline: b_total,
        n_current: c_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_detects_a_clear_shift_and_not_its_opposite() {
        let b = [10.0, 11.0, 9.5, 10.2, 10.8, 9.9];
        let c = [13.0, 12.5, 13.4, 12.9, 13.1, 12.7];
        let t = welch(&b, &c);
        assert!(t.p_greater < 0.001, "{t:?}");
        assert!(t.p_less > 0.999, "{t:?}");
    }

    #[test]
    fn welch_matches_a_reference_value() {
        // Reference computed by hand: means 2 and 3, variances 2.5 and 2.5, n = 5 each,
        // t = 1 / sqrt(1) = 1, df = 8; one-sided p = 0.17330.
        let b = [0.0, 1.0, 2.0, 3.0, 4.0];
        let c = [1.0, 2.0, 3.0, 4.0, 5.0];
        let t = welch(&b, &c);
        assert!((t.p_greater - 0.17330).abs() < 1e-4, "{t:?}");
        assert!((t.p_greater + t.p_less - 1.0).abs() < 1e-12);
    }

    #[test]
    fn welch_zero_variance_is_exact() {
        let same = [2.0; 6];
        assert_eq!(welch(&same, &same).p_greater, 1.0);
        let up = [3.0; 6];
        assert_eq!(welch(&same, &up).p_greater, 0.0);
        assert_eq!(welch(&up, &same).p_less, 0.0);
    }

    #[test]
    fn run_noise_widens_the_test() {
        let b = [0.0, 0.1, -0.1, 0.05, -0.05, 0.0];
        let c: Vec<f64> = b.iter().map(|x| x + 0.2).collect();
        let plain = welch(&b, &c).p_greater;
        let noisy = welch_with_run_noise(&b, &c, 2.0 * 0.05f64.powi(2)).p_greater;
        assert!(plain < 0.01 && noisy > plain, "{plain} {noisy}");
        // Zero within-run variance and a known run variance: a z-test, z = 0.2 / 0.1 = 2.
        let flat = [1.0; 6];
        let up = [1.2; 6];
        let z = welch_with_run_noise(&flat, &up, 0.01).p_greater;
        assert!((z - 0.02275).abs() < 1e-4, "{z}");
    }

    #[test]
    fn two_proportion_flags_many_new_errors_only() {
        let t = two_proportion(0, 10_000, 50, 10_000);
        assert!(t.p_greater < 1e-6, "{t:?}");
        let t = two_proportion(1, 10_000, 2, 10_000);
        assert!(t.p_greater > 0.05, "{t:?}");
        assert_eq!(two_proportion(0, 100, 0, 100).p_greater, 1.0);
    }
}

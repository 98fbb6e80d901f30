//! The statistics behind the gate, as pure functions: tail probabilities of Student's t and the
//! normal distribution, the empirical-Bayes prior of Smyth's moderated t-statistic (a scaled
//! inverse-chi-square prior fitted to many sample variances by the method of moments), Holm's
//! step-down adjustment, and a two-proportion z-test for error counts.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::gamma::digamma;

/// Upper tail P(T > t) of Student's t with `df` degrees of freedom; `None` = infinite degrees
/// of freedom (the standard normal).
pub fn t_sf(t: f64, df: Option<f64>) -> f64 {
    if t.is_nan() {
        return 1.0;
    }
    match df {
        Some(df) if df.is_finite() && df > 0.0 => match StudentsT::new(0.0, 1.0, df) {
            Ok(dist) => 1.0 - dist.cdf(t),
            Err(_) => 1.0,
        },
        _ => 1.0 - Normal::standard().cdf(t),
    }
}

/// The `1 - p` quantile of Student's t (the critical value of a one-sided test at level `p`);
/// `None` = normal.
pub fn t_critical(p: f64, df: Option<f64>) -> f64 {
    let p = p.clamp(1e-15, 0.5);
    match df {
        Some(df) if df.is_finite() && df > 0.0 => match StudentsT::new(0.0, 1.0, df) {
            Ok(dist) => dist.inverse_cdf(1.0 - p),
            Err(_) => f64::INFINITY,
        },
        _ => Normal::standard().inverse_cdf(1.0 - p),
    }
}

/// Sample mean and variance (n - 1 denominator; 0 for fewer than two values).
pub fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.is_empty() {
        return (f64::NAN, 0.0);
    }
    let mean = x.iter().sum::<f64>() / n;
    let var = if x.len() > 1 {
        x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var)
}

/// The trigamma function (the derivative of digamma), for x > 0: recurrence up to x >= 6, then
/// the asymptotic series. Accurate to about 1e-10.
pub fn trigamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let mut x = x;
    let mut acc = 0.0;
    while x < 6.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    acc + 1.0 / x
        + r / 2.0
        + r / x * (1.0 / 6.0 - r * (1.0 / 30.0 - r * (1.0 / 42.0 - r * (1.0 / 30.0))))
}

/// The tetragamma function (the derivative of trigamma, negative), for x > 0: recurrence up to
/// x >= 6, then the asymptotic series.
fn tetragamma(x: f64) -> f64 {
    let mut x = x;
    let mut acc = 0.0;
    while x < 6.0 {
        acc -= 2.0 / (x * x * x);
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    acc - r * (1.0 + 1.0 / x + r * (0.5 - r * (1.0 / 6.0 - r * (1.0 / 6.0 - r * 0.3))))
}

/// Inverse of trigamma for y > 0 (Newton's method, as limma's `trigammaInverse`).
pub fn trigamma_inverse(y: f64) -> f64 {
    if y.is_nan() || y <= 0.0 {
        return f64::NAN;
    }
    if y > 1e7 {
        return 1.0 / y.sqrt();
    }
    if y < 1e-6 {
        return 1.0 / y;
    }
    let mut x = 0.5 + 1.0 / y;
    for _ in 0..100 {
        let tri = trigamma(x);
        let dif = tri * (1.0 - tri / y) / tetragamma(x);
        x += dif;
        if (dif / x).abs() < 1e-12 {
            break;
        }
    }
    x
}

/// A scaled inverse-chi-square prior for the per-run variances of many gates: `df` degrees of
/// freedom (`None` = infinite: every gate has the variance `s2`) around the variance `s2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub s2: f64,
    pub df: Option<f64>,
}

impl Prior {
    /// The moderated (posterior) variance of a gate with sample variance `s2` on `d` degrees of
    /// freedom, and the degrees of freedom of the moderated t-statistic.
    pub fn moderate(&self, s2: f64, d: f64) -> (f64, Option<f64>) {
        match self.df {
            None => (self.s2, None),
            Some(d0) => ((d0 * self.s2 + d * s2) / (d0 + d), Some(d0 + d)),
        }
    }
}

/// Fit the prior of Smyth's moderated t-statistic (Smyth 2004, "Linear models and empirical
/// Bayes methods for assessing differential expression", section 6.2) to sample variances that
/// each have `d` degrees of freedom, by the method of moments on their logarithms:
/// `log s2 - digamma(d/2) + log(d/2)` has mean `log s0^2 - digamma(d0/2) + log(d0/2)` and
/// variance `trigamma(d/2) + trigamma(d0/2)`. Needs at least three positive variances; `None`
/// otherwise. When the logs vary no more than sampling alone explains, Smyth's estimate of the
/// prior's degrees of freedom is infinite; here it is capped at the degrees of freedom of all
/// the variances together (`n * d`): with tens of gates, not thousands of genes, the typical
/// variance is itself only known that well.
pub fn fit_prior(s2: &[f64], d: f64) -> Option<Prior> {
    let logs: Vec<f64> = s2
        .iter()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.ln() - digamma(d / 2.0) + (d / 2.0).ln())
        .collect();
    if logs.len() < 3 || d.is_nan() || d <= 0.0 {
        return None;
    }
    let (mean, var) = mean_var(&logs);
    let excess = var - trigamma(d / 2.0);
    let cap = logs.len() as f64 * d;
    let d0 = if excess > 0.0 {
        (2.0 * trigamma_inverse(excess)).min(cap)
    } else {
        cap
    };
    let s2 = (mean + digamma(d0 / 2.0) - (d0 / 2.0).ln()).exp();
    Some(Prior { s2, df: Some(d0) })
}

/// [`fit_prior`] robust to hypervariable gates, after Phipson, Lee, Majewski, Alexander and Smyth
/// (2016, "Robust hyperparameter estimation protects against hypervariable genes and improves
/// power to detect differential expression"): a few gates whose run-to-run variance is far above
/// the rest (a tail metric that one scheduler stall moves, a query disturbed by its neighbours
/// in the mix) make the log-variances spread, so the plain fit concludes that gates share
/// nothing (prior degrees of freedom near 0) and every gate is left with its own k - 1 degrees
/// of freedom: three runs then cannot see a 30% change anywhere.
///
/// Here gates are flagged as hypervariable when their log-variance lies above the rest by more
/// the median by 2.3 robust standard deviations (1.4826 x the median absolute deviation, at
/// least the sampling spread of a log-variance on `d` degrees of freedom), then, refitting
/// without them, above what the fitted prior predicts (one-sided 1% under the normal
/// approximation of log F(d, d0)), until no more are flagged. The prior is fitted to the other gates; the flagged gates are not
/// moderated (they keep their own variance, which is large, on `d` degrees of freedom). Returns
/// the prior and, per input, whether it was flagged.
pub fn fit_prior_robust(s2: &[f64], d: f64) -> Option<(Prior, Vec<bool>)> {
    if d.is_nan() || d <= 0.0 {
        return None;
    }
    let z: Vec<f64> = s2
        .iter()
        .map(|v| {
            if v.is_finite() && *v > 0.0 {
                v.ln()
            } else {
                f64::NAN
            }
        })
        .collect();
    let finite: Vec<f64> = z.iter().copied().filter(|x| x.is_finite()).collect();
    if finite.len() < 3 {
        return None;
    }
    let sampling_sd = trigamma(d / 2.0).sqrt();
    let med = median_of(&finite);
    let mad = median_of(&finite.iter().map(|x| (x - med).abs()).collect::<Vec<_>>());
    let scale = (1.4826 * mad).max(sampling_sd);
    // One-sided 1% of the standard normal.
    const CUT: f64 = 2.326;
    let mut flagged: Vec<bool> = z
        .iter()
        .map(|x| x.is_finite() && *x > med + CUT * scale)
        .collect();
    let mut prior = None;
    for _ in 0..10 {
        let kept: Vec<f64> = s2
            .iter()
            .zip(&flagged)
            .filter(|(_, f)| !**f)
            .map(|(v, _)| *v)
            .collect();
        let Some(p) = fit_prior(&kept, d) else {
            break;
        };
        let d0 = p.df.unwrap_or(f64::INFINITY);
        let tri0 = if d0.is_finite() {
            trigamma(d0 / 2.0)
        } else {
            0.0
        };
        let spread = (trigamma(d / 2.0) + tri0).sqrt();
        // E[log s2] under the prior: log s0^2 + digamma(d/2) - log(d/2) - (digamma(d0/2) -
        // log(d0/2)); the last term is ~0 for large d0.
        let centre = p.s2.ln() + digamma(d / 2.0)
            - (d / 2.0).ln()
            - if d0.is_finite() {
                digamma(d0 / 2.0) - (d0 / 2.0).ln()
            } else {
                0.0
            };
        // The set only grows: a gate flagged from the median and MAD stays flagged (refitting
        // with it back in would let it widen the prior that judges it).
        let next: Vec<bool> = z
            .iter()
            .zip(&flagged)
            .map(|(x, f)| *f || (x.is_finite() && *x > centre + CUT * spread))
            .collect();
        prior = Some(p);
        if next == flagged {
            break;
        }
        // Never flag so many that fewer than three remain.
        if next.iter().filter(|f| !**f).count() < 3 {
            break;
        }
        flagged = next;
    }
    let prior = match prior {
        Some(p) => p,
        None => {
            flagged = vec![false; s2.len()];
            fit_prior(s2, d)?
        }
    };
    Some((prior, flagged))
}

/// The median of `v` (the mean of the middle two for an even count); None when empty.
pub(crate) fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn median_of(v: &[f64]) -> f64 {
    median(v).unwrap_or(f64::NAN)
}

/// Holm-adjusted p-values (step-down, monotone), in input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![1.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

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
        (t_sf(z, None), t_sf(-z, None))
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
    fn t_tails_match_reference_values() {
        // t = 1 with 8 df: one-sided p = 0.17330 (tables); the normal at 1.96: 0.025.
        assert!((t_sf(1.0, Some(8.0)) - 0.17330).abs() < 1e-4);
        assert!((t_sf(1.959964, None) - 0.025).abs() < 1e-6);
        assert!((t_critical(0.025, None) - 1.959964).abs() < 1e-5);
        // t(2) at 0.05: 2.919986.
        assert!((t_critical(0.05, Some(2.0)) - 2.919986).abs() < 1e-4);
        assert_eq!(t_sf(f64::NAN, None), 1.0);
    }

    #[test]
    fn trigamma_and_its_inverse() {
        // trigamma(1) = pi^2 / 6, trigamma(0.5) = pi^2 / 2.
        let pi2 = std::f64::consts::PI.powi(2);
        assert!(
            (trigamma(1.0) - pi2 / 6.0).abs() < 1e-9,
            "{}",
            trigamma(1.0)
        );
        assert!((trigamma(0.5) - pi2 / 2.0).abs() < 1e-9);
        assert!((trigamma(10.0) - 0.105_166_335_681_685).abs() < 1e-10);
        for x in [0.05, 0.3, 1.0, 2.5, 17.0, 400.0] {
            let back = trigamma_inverse(trigamma(x));
            assert!((back - x).abs() / x < 1e-6, "{x} -> {back}");
        }
    }

    #[test]
    fn prior_of_equal_variances_is_as_sure_as_all_the_data() {
        // Variances that vary less than chi-square sampling predicts: the prior weighs as
        // much as all of them together (4 variances x 2 df), not infinitely.
        let p = fit_prior(&[0.01, 0.01, 0.01, 0.01], 2.0).unwrap();
        assert_eq!(p.df, Some(8.0));
        assert!(p.s2 > 0.0);
        let (v, df) = p.moderate(0.5, 2.0);
        assert_eq!(df, Some(10.0));
        assert!((v - (8.0 * p.s2 + 2.0 * 0.5) / 10.0).abs() < 1e-12);
        assert!(fit_prior(&[0.01, 0.02], 2.0).is_none());
        assert_eq!(Prior { s2: 1.0, df: None }.moderate(0.5, 2.0), (1.0, None));
    }

    #[test]
    fn prior_of_spread_variances_has_finite_df_and_shrinks() {
        let s2 = [1e-4, 1e-2, 4e-4, 9e-2, 2e-3, 5e-5, 3e-2, 1e-3];
        let p = fit_prior(&s2, 2.0).unwrap();
        let d0 = p.df.expect("finite");
        assert!(d0 > 0.0 && d0 < 10.0, "{p:?}");
        let (small, df) = p.moderate(1e-5, 2.0);
        assert!(small > 1e-5 && small < p.s2, "{p:?} {small}");
        assert_eq!(df, Some(d0 + 2.0));
        let (big, _) = p.moderate(1.0, 2.0);
        assert!(big < 1.0 && big > p.s2);
    }

    #[test]
    fn holm_matches_hand_computed_values() {
        // Sorted 0.01, 0.02, 0.04 with m = 3: 0.03, max(0.03, 0.04), max(0.04, 0.04).
        let adj = holm(&[0.04, 0.01, 0.02]);
        let want = [0.04, 0.03, 0.04];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
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

#[cfg(test)]
mod robust_prior_tests {
    use super::*;

    #[test]
    fn hypervariable_gates_do_not_take_the_prior_down_with_them() {
        // Run-to-run sd (%) of 14 p95 gates measured on three runs: nine around 2-6%, five
        // hypervariable (a scheduler stall, neighbours in the mix).
        let sd = [
            3.34, 22.4, 2.16, 4.67, 3.86, 26.35, 3.54, 5.77, 2.36, 81.5, 3.83, 13.9, 21.8, 3.79,
        ];
        let s2: Vec<f64> = sd.iter().map(|x: &f64| (x / 100.0).powi(2)).collect();
        let plain = fit_prior(&s2, 2.0).unwrap();
        let (robust, flagged) = fit_prior_robust(&s2, 2.0).unwrap();
        eprintln!("plain {plain:?}\nrobust {robust:?}\nflagged {flagged:?}");
        assert!(plain.df.unwrap() < 2.0, "{plain:?}");
        assert!(robust.df.unwrap() > 10.0, "{robust:?}");
        assert!(flagged[9] && flagged[5] && flagged[1], "{flagged:?}");
        assert!(!flagged[0] && !flagged[8], "{flagged:?}");
    }
}

//! Least-squares fit of a power law y = a · x^k on log-log axes: how a query's p95 grows with
//! the number of rows. The exponent k is what `bench sweep` reports and `bench plan` uses.

/// A fitted power law y = exp(ln_a) · x^k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerFit {
    /// Growth exponent: 0 = flat, 1 = linear in x.
    pub k: f64,
    /// Natural log of the coefficient a.
    pub ln_a: f64,
    /// Coefficient of determination on the log-log points (1 when two points).
    pub r_squared: f64,
    /// Points used (positive x and y only).
    pub n: usize,
}

impl PowerFit {
    /// The fitted y at x.
    pub fn predict(&self, x: f64) -> f64 {
        (self.ln_a + self.k * x.ln()).exp()
    }
}

/// Fit y = a · x^k by ordinary least squares on (ln x, ln y). Points with a non-positive or
/// non-finite coordinate are ignored. None when fewer than two distinct x remain.
pub fn fit_power_law(points: &[(f64, f64)]) -> Option<PowerFit> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite() && *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = logs.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = logs.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= f64::EPSILON {
        return None;
    }
    let k = sxy / sxx;
    let ln_a = my - k * mx;
    let r_squared = if syy <= f64::EPSILON {
        1.0
    } else {
        (sxy * sxy) / (sxx * syy)
    };
    Some(PowerFit {
        k,
        ln_a,
        r_squared,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn exact_power_law_is_recovered() {
        // y = 3 x^0.5
        let pts: Vec<(f64, f64)> = [100.0, 400.0, 1600.0, 6400.0]
            .iter()
            .map(|&x: &f64| (x, 3.0 * x.sqrt()))
            .collect();
        let f = fit_power_law(&pts).unwrap();
        assert!(close(f.k, 0.5), "k = {}", f.k);
        assert!(close(f.ln_a, 3f64.ln()));
        assert!(close(f.r_squared, 1.0));
        assert!(close(f.predict(10_000.0), 300.0));
    }

    #[test]
    fn two_points_give_the_slope_between_them() {
        // p95 doubles when rows go up 4x: k = ln 2 / ln 4 = 0.5.
        let f = fit_power_law(&[(1000.0, 2.0), (4000.0, 4.0)]).unwrap();
        assert!(close(f.k, 0.5));
        assert_eq!(f.n, 2);
    }

    #[test]
    fn noisy_points_hand_computed() {
        // ln x = 0, 1, 2 (x = 1, e, e^2); ln y = 0, 2, 3 -> slope 1.5, intercept 1/6.
        let e = std::f64::consts::E;
        let f = fit_power_law(&[(1.0, 1.0), (e, e * e), (e * e, e.powi(3))]).unwrap();
        assert!(close(f.k, 1.5));
        assert!(close(f.ln_a, 1.0 / 6.0));
        // r^2 = sxy^2 / (sxx syy) = 9 / (2 * 14/3) = 27/28
        assert!(close(f.r_squared, 27.0 / 28.0));
    }

    #[test]
    fn degenerate_input_has_no_fit() {
        assert!(fit_power_law(&[]).is_none());
        assert!(fit_power_law(&[(10.0, 1.0)]).is_none());
        assert!(fit_power_law(&[(10.0, 1.0), (10.0, 2.0)]).is_none());
        assert!(fit_power_law(&[(10.0, 0.0), (20.0, 2.0)]).is_none());
    }
}

//! Run-to-run noise of each gate (query x metric), on the log scale, where a difference is a
//! log ratio.
//!
//! - **k >= 2 baseline runs: measured, with a run effect.** Runs on a shared machine differ as
//!   wholes (a busier neighbour slows every query of a run), so the model is two-way: ln(value)
//!   of gate g in run r = gate level + the run's shift for that metric + the gate's own noise.
//!   A run's shift is the median over the metric's gates of its deviations from the baseline
//!   means (robust: a regression in a minority of queries does not move it), over the gates of
//!   the gate's own phase (alone or mix) when that phase has enough of them. Each gate's own
//!   noise is the sample variance of its residuals over the k runs (k - 1 degrees of freedom),
//!   moderated with Smyth's empirical-Bayes prior fitted to all gates of the same metric
//!   (`significance::fit_prior`), so three runs give a usable estimate. The gate is tested on its
//!   change net of the current run's shift; the shift itself is one more gate per metric, judged
//!   against the spread of the baseline runs' shifts (k - 1 degrees of freedom, unmoderated).
//! - **One baseline run: a default.** The assumed run-to-run standard deviation (`--run-noise`,
//!   default [`super::DEFAULT_RUN_NOISE_PCT`]) plus the within-run sampling error of both runs'
//!   values (from the histogram's order statistics), tested on the normal distribution.

use serde::Serialize;

use super::significance::{self, Prior};
use crate::scenario::plan::Metric;

/// Floor of any noise estimate: the HdrHistogram's resolution (3 significant digits).
pub const RESOLUTION_SD: f64 = 0.001;
/// Gates of one metric needed to fit its own prior; with fewer, the prior of all gates is used.
const MIN_GATES_PER_PRIOR: usize = 3;
/// Gates of one metric needed to estimate a run's shift for it: the shift a gate is judged
/// against is the median of the other gates, which a changed query must not drag along (with
/// fewer, no shift is removed).
pub const MIN_GATES_FOR_SHIFT: usize = 5;

/// Where a gate's noise estimate comes from.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NoiseSource {
    /// The spread over the baseline's runs, moderated across the metric's gates.
    Measured,
    /// Measured below the `--run-noise` floor; the floor was used.
    Floor,
    /// One baseline run: the assumed default plus within-run sampling error.
    Default,
}

impl NoiseSource {
    pub fn label(self) -> &'static str {
        match self {
            NoiseSource::Measured => "measured",
            NoiseSource::Floor => "floor",
            NoiseSource::Default => "default",
        }
    }
}

/// What the estimate needs of one gate.
#[derive(Debug, Clone)]
pub struct GateSample {
    pub metric: Metric,
    /// ln(value) of each baseline run.
    pub baseline_logs: Vec<f64>,
    /// ln(value) of the current run (0 when there is none, e.g. `bench baseline show`).
    pub current_log: f64,
    /// Within-run sampling variance of ln(value) of the baseline's run and of the current run
    /// (one-run baselines only; 0 when unknown).
    pub within_baseline: f64,
    pub within_current: f64,
    /// The query was measured in the mixed phase (`mix:` names), not alone.
    pub mixed: bool,
}

/// The noise of one gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateNoise {
    /// ln(current / baseline) net of the current run's shift for this metric: what is tested.
    pub net_log: f64,
    /// The shift removed (ln; 0 when none is): the current run's minus the baseline runs' mean.
    pub shift_log: f64,
    /// Standard deviation of one run's ln(value) between runs, net of the run shift.
    pub sd: f64,
    /// Degrees of freedom of the test; None = infinite (normal).
    pub df: Option<f64>,
    pub source: NoiseSource,
}

/// The prior fitted to the gates of one metric (or of all metrics), for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PriorInfo {
    /// A metric name, or "all" for the prior of every gate.
    pub metric: String,
    /// Gates it was fitted to.
    pub gates: usize,
    /// The prior's typical run-to-run standard deviation, percent.
    pub sd_pct: f64,
    /// Its weight in degrees of freedom; None = infinite (every gate gets the typical value).
    pub df: Option<f64>,
}

/// The shift of a whole run for one metric: the median over its gates of ln(current /
/// baseline), tested against the spread of the baseline runs' own shifts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunShift {
    pub metric: Metric,
    /// Gates the median is over.
    pub gates: usize,
    /// The current run's shift minus the mean of the baseline runs' shifts (ln).
    pub shift_log: f64,
    /// Standard deviation of a run's shift between runs (ln), floored at the resolution.
    pub sd: f64,
    /// k - 1.
    pub df: f64,
}

/// How the comparison's noise was obtained, for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoiseSummary {
    /// Runs in the baseline.
    pub baseline_runs: usize,
    /// "measured" (k >= 2) or "default" (one run).
    pub source: NoiseSource,
    /// One-run baselines: the assumed run-to-run standard deviation, percent.
    pub default_pct: Option<f64>,
    /// Multi-run baselines: the `--run-noise` floor, percent, when one was given.
    pub floor_pct: Option<f64>,
    /// Multi-run baselines: the fitted priors.
    pub priors: Vec<PriorInfo>,
}

/// Percent of a log-scale standard deviation: exp(sd) - 1.
pub fn pct(sd: f64) -> f64 {
    (sd.exp() - 1.0) * 100.0
}

/// Log-scale standard deviation of a percentage: ln(1 + pct / 100).
pub fn log_sd(pct: f64) -> f64 {
    (1.0 + pct / 100.0).ln()
}

/// Estimate every gate's noise (and, for k >= 2, the current run's shift per metric).
/// `floor_pct` (k >= 2) bounds the measured noise from below; `default_pct` is the assumed
/// noise of a one-run baseline.
pub fn estimate(
    gates: &[GateSample],
    runs: usize,
    floor_pct: Option<f64>,
    default_pct: f64,
) -> (Vec<GateNoise>, Vec<RunShift>, NoiseSummary) {
    if runs < 2 {
        let assumed = log_sd(default_pct);
        let out = gates
            .iter()
            .map(|g| GateNoise {
                net_log: g.current_log - g.baseline_logs.first().copied().unwrap_or_default(),
                shift_log: 0.0,
                sd: (assumed * assumed + (g.within_baseline + g.within_current) / 2.0)
                    .sqrt()
                    .max(RESOLUTION_SD),
                df: None,
                source: NoiseSource::Default,
            })
            .collect();
        return (
            out,
            Vec::new(),
            NoiseSummary {
                baseline_runs: runs,
                source: NoiseSource::Default,
                default_pct: Some(default_pct),
                floor_pct: None,
                priors: vec![],
            },
        );
    }

    let k = runs;
    let d = (k - 1) as f64;
    let floor = floor_pct.map(log_sd).unwrap_or(0.0).max(RESOLUTION_SD);
    // Deviations from each gate's baseline mean, per baseline run and for the current run.
    let means: Vec<f64> = gates
        .iter()
        .map(|g| significance::mean_var(&g.baseline_logs).0)
        .collect();
    let mut metrics: Vec<Metric> = Vec::new();
    for g in gates {
        if !metrics.contains(&g.metric) {
            metrics.push(g.metric);
        }
    }
    // Run shifts per metric: the median over the metric's gates of each run's deviations.
    // Gate g is judged net of the shift of the *other* gates (leave-one-out), so its own
    // noise does not leak into the shift it is measured against.
    let dev = |i: usize, r: usize| gates[i].baseline_logs[r] - means[i];
    let cur_dev = |i: usize| gates[i].current_log - means[i];
    // The shift is the phase's where the phase has enough gates of the metric: the queries
    // measured alone and those of the mix run at different moments and under different load,
    // so a disturbance during the mix moves every mix query and none of the others.
    let same_phase =
        |i: usize, j: usize| gates[j].metric == gates[i].metric && gates[j].mixed == gates[i].mixed;
    let peers: Vec<Vec<usize>> = (0..gates.len())
        .map(|i| {
            let phase = (0..gates.len()).filter(|&j| same_phase(i, j)).count();
            (0..gates.len())
                .filter(|&j| {
                    j != i
                        && gates[j].metric == gates[i].metric
                        && (phase < MIN_GATES_FOR_SHIFT || same_phase(i, j))
                })
                .collect()
        })
        .collect();
    // Per gate: the baseline runs' leave-one-out shifts and the current run's (zeros when the
    // metric has too few gates to estimate a shift).
    let loo: Vec<(Vec<f64>, f64)> = (0..gates.len())
        .map(|i| {
            let p = &peers[i];
            if p.len() + 1 < MIN_GATES_FOR_SHIFT {
                return (vec![0.0; k], 0.0);
            }
            let base = (0..k)
                .map(|r| median(p.iter().map(|&j| dev(j, r)).collect()))
                .collect();
            (base, median(p.iter().map(|&j| cur_dev(j)).collect()))
        })
        .collect();

    // Residual variances, floored at the resolution so identical values cannot claim
    // certainty.
    let s2: Vec<f64> = (0..gates.len())
        .map(|i| {
            let resid: Vec<f64> = (0..k).map(|r| dev(i, r) - loo[i].0[r]).collect();
            significance::mean_var(&resid).1.max(RESOLUTION_SD.powi(2))
        })
        .collect();

    // Robust fits: hypervariable gates are left out of each prior and not moderated.
    let all_fit = significance::fit_prior_robust(&s2, d);
    let all_prior = all_fit.as_ref().map(|(p, _)| *p);
    let mut hypervariable = vec![false; gates.len()];
    let mut priors = Vec::new();
    if let Some(p) = all_prior {
        priors.push(prior_info("all", gates.len(), &p));
    }
    // One prior per metric and kind of phase: a query measured alone and a query measured in
    // the mix (sharing the clients with the others, so its tail moves with its neighbours)
    // have noise of different kinds, and one prior over both would be wide enough for neither.
    // With too few gates of a group, the metric's prior over both kinds; with too few of
    // those, the prior of all gates.
    let fit_group = |idx: &[usize], hv: &mut Vec<bool>| -> Option<Prior> {
        if idx.len() < MIN_GATES_PER_PRIOR {
            return None;
        }
        let of: Vec<f64> = idx.iter().map(|&i| s2[i]).collect();
        let (p, flags) = significance::fit_prior_robust(&of, d)?;
        for (&i, f) in idx.iter().zip(flags) {
            hv[i] = f;
        }
        Some(p)
    };
    let mut group_priors: Vec<(Metric, bool, Option<Prior>)> = Vec::new();
    let mut metric_priors: Vec<(Metric, Option<Prior>)> = Vec::new();
    for &m in &metrics {
        let idx: Vec<usize> = (0..gates.len()).filter(|&i| gates[i].metric == m).collect();
        let mut hv_metric = vec![false; gates.len()];
        let p = fit_group(&idx, &mut hv_metric);
        if let Some(p) = &p {
            priors.push(prior_info(m.name(), idx.len(), p));
        }
        metric_priors.push((m, p));
        for mixed in [false, true] {
            let gi: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| gates[i].mixed == mixed)
                .collect();
            if gi.is_empty() {
                continue;
            }
            let mut hv_group = vec![false; gates.len()];
            let gp = if gi.len() < idx.len() {
                fit_group(&gi, &mut hv_group)
            } else {
                None
            };
            let (prior, hv) = match gp {
                Some(gp) => {
                    let label = format!("{} ({})", m.name(), if mixed { "mix" } else { "alone" });
                    priors.push(prior_info(&label, gi.len(), &gp));
                    (Some(gp), &hv_group)
                }
                None => match p {
                    Some(p) => (Some(p), &hv_metric),
                    None => (None, &vec![false; gates.len()]),
                },
            };
            for &i in &gi {
                hypervariable[i] = match (&prior, &all_fit) {
                    (Some(_), _) => hv[i],
                    (None, Some((_, flags))) => flags[i],
                    (None, None) => false,
                };
            }
            group_priors.push((m, mixed, prior));
        }
    }

    let out = gates
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (base_shifts, cur_shift) = &loo[i];
            let shift_log = cur_shift - significance::mean_var(base_shifts).0;
            let net_log = cur_dev(i) - shift_log;
            let mut prior = group_priors
                .iter()
                .find(|(m, mixed, _)| *m == g.metric && *mixed == g.mixed)
                .and_then(|(_, _, p)| *p)
                .or(all_prior);
            if peers[i].len() + 1 < MIN_GATES_FOR_SHIFT {
                // No shift removed: the gates' variances share the runs' shifts, so together
                // they know little more than one gate does; the prior weighs as one gate.
                if let Some(p) = &mut prior {
                    p.df = Some(p.df.map_or(d, |x| x.min(d)));
                }
            }
            // Moderated, and never below the prior's typical variance: measured on real runs,
            // gates whose k baseline runs spread 2-3% spread 5-7% over 36 runs of the same
            // code, so a gate is not judged quieter than its group's typical gate.
            let (var, df) = match prior {
                Some(p) if !hypervariable[i] => {
                    let (v, df) = p.moderate(s2[i], d);
                    (v.max(p.s2), df)
                }
                _ => (s2[i], Some(d)),
            };
            let sd = var.sqrt();
            let (sd, source) = if sd < floor && floor_pct.is_some() {
                (floor, NoiseSource::Floor)
            } else {
                (sd.max(floor), NoiseSource::Measured)
            };
            GateNoise {
                net_log,
                shift_log,
                sd,
                df,
                source,
            }
        })
        .collect();
    // The whole run's shift per metric (all its gates), against the baseline runs' shifts.
    let run_shifts = metrics
        .iter()
        .filter_map(|&m| {
            let idx: Vec<usize> = (0..gates.len()).filter(|&i| gates[i].metric == m).collect();
            if idx.len() < MIN_GATES_FOR_SHIFT {
                return None;
            }
            let base: Vec<f64> = (0..k)
                .map(|r| median(idx.iter().map(|&i| dev(i, r)).collect()))
                .collect();
            let cur = median(idx.iter().map(|&i| cur_dev(i)).collect());
            let (mean, var) = significance::mean_var(&base);
            Some(RunShift {
                metric: m,
                gates: idx.len(),
                shift_log: cur - mean,
                sd: var.sqrt().max(floor),
                df: d,
            })
        })
        .collect();
    (
        out,
        run_shifts,
        NoiseSummary {
            baseline_runs: runs,
            source: NoiseSource::Measured,
            default_pct: None,
            floor_pct,
            priors,
        },
    )
}

/// The median, 0 for no values (no shift).
fn median(v: Vec<f64>) -> f64 {
    significance::median(&v).unwrap_or(0.0)
}

fn prior_info(metric: &str, gates: usize, p: &Prior) -> PriorInfo {
    PriorInfo {
        metric: metric.into(),
        gates,
        sd_pct: pct(p.s2.sqrt()),
        df: p.df,
    }
}

/// Within-run sampling variance of ln(quantile q) of a histogram with `n` values, from the
/// order statistics: the rank of the q-quantile has standard deviation sqrt(n q (1 - q)), so
/// the values at ranks n q -/+ that bracket one standard error. None when it cannot be read.
pub fn quantile_log_var(histogram: &str, q: f64) -> Option<f64> {
    if histogram.is_empty() {
        return None;
    }
    let h = crate::stats::decode_histogram(histogram).ok()?;
    let n = h.len() as f64;
    if n < 2.0 {
        return None;
    }
    let half = (n * q * (1.0 - q)).sqrt() / n;
    let lo = h.value_at_quantile((q - half).max(0.0)) as f64;
    let hi = h.value_at_quantile((q + half).min(1.0)) as f64;
    if lo <= 0.0 || hi <= 0.0 {
        return None;
    }
    Some(((hi.ln() - lo.ln()) / 2.0).powi(2))
}

/// Within-run sampling variance of ln(mean) of a histogram: (sd / mean)^2 / n.
pub fn mean_log_var(histogram: &str) -> Option<f64> {
    if histogram.is_empty() {
        return None;
    }
    let h = crate::stats::decode_histogram(histogram).ok()?;
    let (n, mean, sd) = (h.len() as f64, h.mean(), h.stdev());
    (n >= 2.0 && mean > 0.0).then(|| (sd / mean).powi(2) / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(metric: Metric, logs: &[f64]) -> GateSample {
        GateSample {
            metric,
            baseline_logs: logs.to_vec(),
            current_log: logs.iter().sum::<f64>() / logs.len() as f64,
            within_baseline: 0.0,
            within_current: 0.0,
            mixed: false,
        }
    }

    #[test]
    fn one_run_uses_the_default_plus_within_run_error() {
        let mut g = gate(Metric::P95Ms, &[1.0]);
        g.within_baseline = 0.01;
        g.within_current = 0.03;
        let (n, _, s) = estimate(&[g], 1, None, 10.0);
        assert_eq!(s.source, NoiseSource::Default);
        assert_eq!(s.default_pct, Some(10.0));
        let want = (log_sd(10.0).powi(2) + 0.02).sqrt();
        assert!((n[0].sd - want).abs() < 1e-12);
        assert_eq!(n[0].df, None);
    }

    #[test]
    fn several_runs_are_measured_and_moderated() {
        // Four p50 gates: three steady (sd ~1%), one noisy (sd ~20%).
        let gates = vec![
            gate(Metric::P50Ms, &[0.0, 0.01, -0.01]),
            gate(Metric::P50Ms, &[1.0, 1.012, 0.99]),
            gate(Metric::P50Ms, &[2.0, 2.008, 1.993]),
            gate(Metric::P50Ms, &[3.0, 3.2, 2.8]),
        ];
        let (n, _, s) = estimate(&gates, 3, None, 10.0);
        assert_eq!(s.source, NoiseSource::Measured);
        assert!(s.priors.iter().any(|p| p.metric == "p50_ms"), "{s:?}");
        for g in &n {
            assert_eq!(g.source, NoiseSource::Measured);
            assert!(g.df.is_none_or(|d| d >= 2.0), "{g:?}");
        }
        // The noisy gate stays the noisiest; the steady ones stay well below it.
        assert!(n[3].sd > 3.0 * n[0].sd, "{n:?}");
        // A floor lifts what is below it and says so.
        let (n, _, s) = estimate(&gates, 3, Some(5.0), 10.0);
        assert_eq!(s.floor_pct, Some(5.0));
        assert_eq!(n[0].source, NoiseSource::Floor);
        assert!((n[0].sd - log_sd(5.0)).abs() < 1e-12);
        assert_eq!(n[3].source, NoiseSource::Measured);
    }

    #[test]
    fn no_gate_is_judged_quieter_than_its_groups_typical_gate() {
        // Four p50 gates spread about 2% over four runs, one only 0.2%: four runs are too few
        // to tell it is quieter, so it gets at least the prior's typical noise.
        let gates = vec![
            gate(Metric::P50Ms, &[0.0, 0.02, -0.02, 0.01]),
            gate(Metric::P50Ms, &[1.0, 1.022, 0.98, 1.0]),
            gate(Metric::P50Ms, &[2.0, 1.98, 2.018, 2.004]),
            gate(Metric::P50Ms, &[3.0, 3.021, 2.982, 2.99]),
            gate(Metric::P50Ms, &[4.0, 4.002, 3.998, 4.001]),
        ];
        let (n, _, s) = estimate(&gates, 4, None, 10.0);
        let prior = s
            .priors
            .iter()
            .find(|p| p.metric == "p50_ms")
            .expect("a p50 prior");
        let own = significance::mean_var(&[0.0, 0.002, -0.002, 0.001])
            .1
            .sqrt();
        assert!(n[4].sd >= log_sd(prior.sd_pct) - 1e-9, "{n:?} {prior:?}");
        assert!(n[4].sd > 5.0 * own, "{n:?}");
        assert_eq!(n[4].source, NoiseSource::Measured);
    }

    #[test]
    fn identical_runs_are_floored_at_the_resolution() {
        let gates = vec![gate(Metric::P50Ms, &[1.0, 1.0, 1.0])];
        let (n, _, _) = estimate(&gates, 3, None, 10.0);
        assert!((n[0].sd - RESOLUTION_SD).abs() < 1e-12, "{n:?}");
        assert_eq!(n[0].df, Some(2.0));
    }

    #[test]
    fn order_statistics_bracket_a_quantile() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(1000 + v).unwrap();
        }
        let enc = crate::stats::encode_histogram(&h);
        let v = quantile_log_var(&enc, 0.5).unwrap();
        // Uniform on [1001, 11000]: rank sd 50 -> +/- 50 values around 6000: ln ratio ~0.0167.
        let sd = v.sqrt();
        assert!(sd > 0.004 && sd < 0.02, "{sd}");
        assert!(quantile_log_var("", 0.5).is_none());
        assert!(mean_log_var(&enc).unwrap() > 0.0);
    }
}

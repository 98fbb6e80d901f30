//! One gate (a query and a metric) before the noise is known: its whole-phase values, whether a
//! phase can estimate it (gateability), the sample the noise model needs, the tests waiting for
//! the multiple-testing adjustment, and the verdict from an adjusted p-value.

use super::speed::{speed_of, SpeedScale};
use super::{noise, significance, ComparisonRow, Method, RowVerdict, MIN_TAIL_QUERIES};
use crate::model::report::QueryStats;
use crate::scenario::plan::Metric;

/// Whole-run value of a metric.
pub fn metric_value(q: &QueryStats, metric: Metric) -> f64 {
    q.metric(metric)
}

/// Which statistic of a phase's per-interval values the noise model tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IntervalValue {
    /// The geometric mean of the intervals (the mean on the log scale), the default.
    Mean,
    /// A quantile of the intervals in [0, 0.5], interpolated on the log scale (0.5: the
    /// median, 0.25: the lower quartile, 0: the fastest interval).
    Quantile(f64),
}

impl IntervalValue {
    /// How reports name it: "geometric mean of the intervals", "lower quartile of the
    /// intervals", ...
    pub fn name(self) -> String {
        match self {
            IntervalValue::Mean => "geometric mean of the intervals".into(),
            IntervalValue::Quantile(0.5) => "median of the intervals".into(),
            IntervalValue::Quantile(0.25) => "lower quartile of the intervals".into(),
            IntervalValue::Quantile(0.0) => "fastest interval".into(),
            IntervalValue::Quantile(q) => {
                let s = format!("{q:.3}");
                let s = s.trim_end_matches('0').trim_end_matches('.');
                format!("{s} quantile of the intervals")
            }
        }
    }

    /// The quantile, None for the mean.
    pub fn quantile(self) -> Option<f64> {
        match self {
            IntervalValue::Mean => None,
            IntervalValue::Quantile(q) => Some(q),
        }
    }

    /// `mean`, or a quantile in [0, 0.5] (`0.25`; `median` for 0.5).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "mean" => return Ok(IntervalValue::Mean),
            "median" => return Ok(IntervalValue::Quantile(0.5)),
            _ => {}
        }
        match s.trim().parse::<f64>() {
            Ok(q) if (0.0..=0.5).contains(&q) => Ok(IntervalValue::Quantile(q)),
            _ => Err(format!(
                "expected `mean`, `median` or a quantile between 0 and 0.5, got `{s}`"
            )),
        }
    }
}

/// The value the noise model tests: the statistic `how` (by default the geometric mean) of
/// the phase's per-interval values, when every interval can estimate the metric (at least 4
/// intervals, each with the queries `min_queries` asks of a phase); else the whole-phase
/// value. Why the mean: measured on real runs, the host ran in two states about 1.8x apart
/// and switched between them within seconds, so a phase's intervals fall in either; a
/// quantile of the intervals (the median, the lower quartile) or of the whole phase jumps
/// from one state to the other when the share of slow intervals crosses it, the mean moves
/// in proportion to that share (docs/ci-gate.md, "Eleventh session").
///
/// With `speed` (the run and its baseline carry the host-speed reference, see [`SpeedScale`]),
/// every interval's value is first brought to the baseline's host speed; the whole-phase
/// fallback by the run's [`speed_of`].
pub fn tested_value(
    q: &QueryStats,
    metric: Metric,
    how: IntervalValue,
    speed: Option<SpeedScale>,
) -> f64 {
    let whole = || match (speed, speed_of(q)) {
        (Some(s), Some(own)) => metric_value(q, metric) * s.factor(own),
        _ => metric_value(q, metric),
    };
    let need = min_queries(metric).unwrap_or(u64::MAX);
    let mut v: Vec<f64> = Vec::new();
    for i in &q.intervals {
        let scale = match (speed, i.ref_p50_ms) {
            (None, _) => 1.0,
            (Some(s), Some(own)) if own > 0.0 => s.factor(own),
            (Some(_), _) => return whole(),
        };
        match i.metric(metric) {
            Some(x) if i.count >= need && x > 0.0 => v.push(x * scale),
            _ => return whole(),
        }
    }
    if v.len() < 4 {
        return whole();
    }
    match how {
        IntervalValue::Mean => (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp(),
        IntervalValue::Quantile(quantile) => {
            v.sort_by(f64::total_cmp);
            quantile_of_sorted_log(&v, quantile)
        }
    }
}

/// The `q` quantile of sorted positive values, linearly interpolated between order statistics
/// on the log scale (so q = 0.5 of an even count is the geometric mean of the middle two).
fn quantile_of_sorted_log(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let f = pos - lo as f64;
    if f == 0.0 {
        return v[lo];
    }
    (v[lo].ln() * (1.0 - f) + v[hi].ln() * f).exp()
}

/// Fewest queries a phase needs for `metric` to be estimated over it; None = never (the
/// maximum is a single query).
pub fn min_queries(metric: Metric) -> Option<u64> {
    let beyond = |q: f64| (MIN_TAIL_QUERIES as f64 / (1.0 - q)).round() as u64;
    match metric {
        Metric::P50Ms => Some(beyond(0.50)),
        Metric::P90Ms => Some(beyond(0.90)),
        Metric::P95Ms => Some(beyond(0.95)),
        Metric::P99Ms => Some(beyond(0.99)),
        Metric::P999Ms => Some(beyond(0.999)),
        Metric::MeanMs | Metric::ThroughputQps => Some(2 * MIN_TAIL_QUERIES),
        Metric::MaxMs => None,
        Metric::ErrorRate => Some(1),
    }
}

/// A tested row waiting for the multiple-testing adjustment.
pub(super) struct Pending {
    pub(super) row: usize,
    /// ln of the worsening (net of the run shift), positive = worse.
    pub(super) worse: f64,
    /// Raw one-sided p-value in the direction of the observed change.
    pub(super) p: f64,
    /// Standard error of the tested log difference (for the detectable change).
    pub(super) se: Option<f64>,
    pub(super) df: Option<f64>,
    /// A whole-run shift, tested in its own family.
    pub(super) run_family: bool,
}

impl Pending {
    pub(super) fn tested(
        row: usize,
        worse: f64,
        se: f64,
        df: Option<f64>,
        run_family: bool,
    ) -> Self {
        let t = worse / se;
        let p = if worse >= 0.0 {
            significance::t_sf(t, df)
        } else {
            significance::t_sf(-t, df)
        };
        Pending {
            row,
            worse,
            p,
            se: Some(se),
            df,
            run_family,
        }
    }
}

/// The worsening both estimates of a gate agree on (log scale, positive = worse): the smaller
/// in magnitude when they point the same way, none when they disagree.
pub(super) fn agreed_worsening(tested: f64, whole: f64) -> f64 {
    if tested > 0.0 && whole > 0.0 {
        tested.min(whole)
    } else if tested < 0.0 && whole < 0.0 {
        tested.max(whole)
    } else {
        0.0
    }
}

/// Holm-adjust each family of tests within itself (the query gates, and the whole-run shifts,
/// `run_family`): per test, (its index in `tests`, the adjusted p-value, its family's size).
pub(super) fn holm_by_family<T>(
    tests: &[T],
    run_family: impl Fn(&T) -> bool,
    p: impl Fn(&T) -> f64,
) -> Vec<(usize, f64, usize)> {
    let mut out = Vec::with_capacity(tests.len());
    for family in [false, true] {
        let idx: Vec<usize> = (0..tests.len())
            .filter(|&i| run_family(&tests[i]) == family)
            .collect();
        let adjusted = significance::holm(&idx.iter().map(|&i| p(&tests[i])).collect::<Vec<_>>());
        out.extend(
            idx.iter()
                .zip(adjusted)
                .map(|(&i, adj)| (i, adj, idx.len())),
        );
    }
    out
}

/// The smallest worsening, percent, that could be significant at Holm's first step: one-sided
/// alpha over the families and the `family_size` tests of the gate's family.
pub(super) fn detectable_pct(
    alpha: f64,
    families: f64,
    family_size: usize,
    df: Option<f64>,
    se: f64,
) -> f64 {
    let crit = significance::t_critical(alpha / families / family_size.max(1) as f64, df);
    (crit * se).exp_m1() * 100.0
}

pub(super) enum Prepared {
    /// Tested on the noise of the runs.
    Sample(noise::GateSample),
    /// Tested on pooled error counts.
    Proportion(significance::SampleTest),
    /// Decided already (not gateable, no data, no successful query).
    Decided,
}

pub(super) fn empty_row(query: &str, metric: Metric, baseline: f64, current: f64) -> ComparisonRow {
    ComparisonRow {
        query: query.into(),
        metric,
        baseline,
        current,
        change_pct: relative_change(baseline, current).map(|x| x * 100.0),
        net_change_pct: None,
        noise_pct: None,
        noise_source: None,
        detectable_pct: None,
        df: None,
        p_value: None,
        p_raw: None,
        n_baseline: 0,
        n_current: 0,
        method: Method::None,
        verdict: RowVerdict::NoSignificantChange,
        note: None,
        confirm_change_pct: Vec::new(),
        speed_reference_ms: None,
        speed_exponent: None,
        basis: None,
    }
}

pub(super) fn prepare_row(
    bqs: &[&QueryStats],
    c: &QueryStats,
    metric: Metric,
    how: IntervalValue,
    speed_reference: bool,
) -> (ComparisonRow, Prepared) {
    let k = bqs.len();
    if metric == Metric::ErrorRate {
        let (errors, total) = bqs
            .iter()
            .fold((0, 0), |(e, t), q| (e + q.errors, t + q.count + q.errors));
        let baseline = if total == 0 {
            0.0
        } else {
            errors as f64 / total as f64
        };
        let mut row = empty_row(&c.name, metric, baseline, c.error_rate());
        let nc = c.count + c.errors;
        row.n_baseline = total;
        row.n_current = nc;
        if total == 0 || nc == 0 {
            row.verdict = if total == 0 {
                RowVerdict::NoBaselineData
            } else {
                RowVerdict::NotGateable
            };
            row.note = Some("no queries ran".into());
            return (row, Prepared::Decided);
        }
        row.method = Method::TwoProportion;
        return (
            row,
            Prepared::Proportion(significance::two_proportion(errors, total, c.errors, nc)),
        );
    }

    // With the host-speed reference in every run, each run's values are brought to the
    // baseline's host speed (`SpeedScale`).
    let speed = if speed_reference {
        SpeedScale::fit(bqs, c, metric)
    } else {
        None
    };
    let at_speed = |q: &QueryStats| match (speed, speed_of(q)) {
        (Some(s), Some(own)) => metric_value(q, metric) * s.factor(own),
        _ => metric_value(q, metric),
    };
    let values: Vec<f64> = bqs.iter().map(|q| at_speed(q)).collect();
    let current = at_speed(c);
    let baseline_count = bqs.iter().map(|q| q.count).min().unwrap_or(0);
    let positive = values.iter().all(|v| *v > 0.0);
    let baseline = if k == 1 {
        values[0]
    } else if positive {
        (values.iter().map(|v| v.ln()).sum::<f64>() / k as f64).exp()
    } else {
        values.iter().sum::<f64>() / k as f64
    };
    let mut row = empty_row(&c.name, metric, baseline, current);
    row.n_baseline = baseline_count;
    row.n_current = c.count;
    row.speed_reference_ms = speed.map(|s| s.reference_ms);
    row.speed_exponent = speed.map(|s| s.exponent);

    let empty_runs = bqs.iter().filter(|q| q.count == 0).count();
    if empty_runs > 0 {
        row.verdict = RowVerdict::NoBaselineData;
        row.note = Some(format!(
            "no successful query in {empty_runs} of the {k} baseline run(s)"
        ));
        return (row, Prepared::Decided);
    }
    if c.count == 0 {
        // Every query failed: latency figures are meaningless, and passing would mean the gate
        // checked nothing.
        row.verdict = RowVerdict::Regression;
        row.change_pct = None;
        row.note = Some(format!(
            "no successful query in the current run ({} errors)",
            c.errors
        ));
        return (row, Prepared::Decided);
    }
    match min_queries(metric) {
        None => {
            row.verdict = RowVerdict::NotGateable;
            row.note = Some(format!(
                "not gateable: {} is a single query's latency, which no run estimates (gate \
                 p99 or p999 instead)",
                metric.name()
            ));
            return (row, Prepared::Decided);
        }
        // Decided by the baseline alone: a slower current run completes fewer queries, and a
        // regression must not make its own gate "not gateable".
        Some(need) if baseline_count < need => {
            row.verdict = RowVerdict::NotGateable;
            row.note = Some(format!(
                "not gateable: {} needs at least {need} queries in the phase, the baseline{} \
                 {baseline_count}; lengthen the phase",
                metric.name(),
                if k > 1 {
                    "'s runs have at least"
                } else {
                    " has"
                },
            ));
            return (row, Prepared::Decided);
        }
        Some(_) => {}
    }
    if !positive || current <= 0.0 {
        row.verdict = RowVerdict::NotGateable;
        row.note = Some(format!("not gateable: a zero {}", metric.name()));
        return (row, Prepared::Decided);
    }
    let tested: Vec<f64> = bqs
        .iter()
        .map(|q| tested_value(q, metric, how, speed))
        .collect();
    let tested_current = tested_value(c, metric, how, speed);
    if speed.is_some() {
        // Brought to one host speed, the tested values are what the row shows: a whole phase's
        // percentile cannot be corrected interval by interval, and judged beside the tested
        // value it would bring the host's speed back into the verdict.
        row.baseline = (tested.iter().map(|v| v.ln()).sum::<f64>() / k as f64).exp();
        row.current = tested_current;
        row.change_pct = relative_change(row.baseline, row.current).map(|x| x * 100.0);
    }
    let sample = noise::GateSample {
        metric,
        baseline_logs: tested.iter().map(|v| v.ln()).collect(),
        current_log: tested_current.ln(),
        within_baseline: if k == 1 {
            within_log_var(bqs[0], metric)
        } else {
            0.0
        },
        within_current: if k == 1 {
            within_log_var(c, metric)
        } else {
            0.0
        },
        mixed: c.name.starts_with("mix:"),
    };
    (row, Prepared::Sample(sample))
}

/// Within-run sampling variance of ln(whole-phase value), for one-run baselines: order
/// statistics of the histogram for percentiles, its spread for the mean, the intervals'
/// spread for throughput. 0 when the report does not carry what it needs.
fn within_log_var(q: &QueryStats, metric: Metric) -> f64 {
    let quantile = |p: f64| noise::quantile_log_var(&q.histogram, p).unwrap_or(0.0);
    match metric {
        Metric::P50Ms => quantile(0.50),
        Metric::P90Ms => quantile(0.90),
        Metric::P95Ms => quantile(0.95),
        Metric::P99Ms => quantile(0.99),
        Metric::P999Ms => quantile(0.999),
        Metric::MeanMs => noise::mean_log_var(&q.histogram).unwrap_or(0.0),
        Metric::ThroughputQps => {
            let mut prev = 0.0;
            let mut rates = Vec::new();
            for i in &q.intervals {
                let width = i.t_s - prev;
                prev = i.t_s;
                if width > 1e-9 {
                    rates.push(i.count as f64 / width);
                }
            }
            let (mean, var) = significance::mean_var(&rates);
            if rates.len() >= 2 && mean > 0.0 {
                var / rates.len() as f64 / (mean * mean)
            } else {
                0.0
            }
        }
        Metric::MaxMs | Metric::ErrorRate => 0.0,
    }
}

fn relative_change(baseline: f64, current: f64) -> Option<f64> {
    if baseline == 0.0 {
        if current == 0.0 {
            Some(0.0)
        } else {
            None
        }
    } else {
        Some((current - baseline) / baseline)
    }
}

pub(super) fn decide_tested(
    row: &mut ComparisonRow,
    worse: f64,
    p_adj: f64,
    threshold: f64,
    alpha: f64,
) {
    row.p_value = Some(p_adj);
    let significant = p_adj < alpha;
    row.verdict = if significant && worse > threshold {
        RowVerdict::Regression
    } else if significant && -worse > threshold {
        RowVerdict::Improvement
    } else if significant {
        RowVerdict::WithinThreshold
    } else {
        RowVerdict::NoSignificantChange
    };
    if !significant && worse > threshold {
        row.note = Some(format!(
            "exceeds the threshold but not significant (p = {}, alpha = {alpha})",
            super::fmt_p(p_adj)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_is_judged_on_the_worsening_both_estimates_agree_on() {
        assert_eq!(agreed_worsening(0.3, 0.1), 0.1);
        assert_eq!(agreed_worsening(0.1, 0.3), 0.1);
        assert_eq!(agreed_worsening(-0.3, -0.1), -0.1);
        assert_eq!(agreed_worsening(0.3, -0.6), 0.0);
        assert_eq!(agreed_worsening(-0.3, 0.6), 0.0);
    }

    /// A phase of 16 intervals of 100 queries each at the given p50s (ms).
    fn phase(p50s: &[f64], whole_p50: f64) -> QueryStats {
        use crate::model::report::{IntervalStats, Percentiles};
        QueryStats {
            name: "q".into(),
            mode: "closed".into(),
            clients: 1,
            rate: None,
            count: 100 * p50s.len() as u64,
            errors: 0,
            errors_by_sqlstate: Default::default(),
            rows_returned: 0,
            duration_s: 4.0,
            throughput_qps: 400.0,
            latency_ms: Percentiles {
                p50: whole_p50,
                p95: 2.0 * whole_p50,
                ..Default::default()
            },
            schedule_lag_ms: None,
            histogram: String::new(),
            intervals: p50s
                .iter()
                .enumerate()
                .map(|(i, &p)| IntervalStats {
                    t_s: 0.25 * (i + 1) as f64,
                    count: 100,
                    mean_ms: p,
                    p50_ms: p,
                    p95_ms: 2.0 * p,
                    p99_ms: 3.0 * p,
                    ref_p50_ms: None,
                })
                .collect(),
            plan: None,
            evidence: None,
        }
    }

    #[test]
    fn the_mean_of_the_intervals_follows_the_share_of_slow_intervals_a_quantile_jumps() {
        // The host in two states 1.8x apart, as measured on the development machine: 4 of 16
        // intervals fast in one run, 5 in the next (a run-to-run difference of one interval).
        let run = |fast: usize| {
            let mut p50s = vec![1.0; fast];
            p50s.extend(vec![1.8; 16 - fast]);
            phase(&p50s, 1.8)
        };
        let (a, b) = (run(4), run(5));
        let q25 = IntervalValue::Quantile(0.25);
        let jump =
            tested_value(&b, Metric::P50Ms, q25, None) / tested_value(&a, Metric::P50Ms, q25, None);
        assert!(
            jump < 0.8,
            "the lower quartile jumps between the states: {jump}"
        );
        let step = tested_value(&b, Metric::P50Ms, IntervalValue::Mean, None)
            / tested_value(&a, Metric::P50Ms, IntervalValue::Mean, None);
        // One interval in 16 moves the log-mean by ln(1.8) / 16.
        assert!(
            (step.ln() + 1.8f64.ln() / 16.0).abs() < 1e-9,
            "mean step {step}"
        );
        // A slower query moves every interval, and so the mean by its size.
        let slower: Vec<f64> = a.intervals.iter().map(|i| i.p50_ms * 1.1).collect();
        let m = tested_value(
            &phase(&slower, 1.98),
            Metric::P50Ms,
            IntervalValue::Mean,
            None,
        );
        assert!(
            (m / tested_value(&a, Metric::P50Ms, IntervalValue::Mean, None) - 1.1).abs() < 1e-9
        );
    }

    #[test]
    fn the_mean_is_geometric_and_quantiles_interpolate_on_the_log_scale() {
        let q = phase(&[1.0, 2.0, 4.0, 8.0], 3.0);
        assert!(
            (tested_value(&q, Metric::P50Ms, IntervalValue::Mean, None) - 8f64.sqrt()).abs() < 1e-9
        );
        // Position 0.5 x 3 = 1.5: halfway between 2 and 4 on the log scale.
        let median = IntervalValue::Quantile(0.5);
        assert!((tested_value(&q, Metric::P50Ms, median, None) - 8f64.sqrt()).abs() < 1e-9);
        assert_eq!(
            tested_value(&q, Metric::P50Ms, IntervalValue::Quantile(0.0), None),
            1.0
        );
        // 1/3 of the way: exactly the second value.
        let third = IntervalValue::Quantile(1.0 / 3.0);
        assert!((tested_value(&q, Metric::P50Ms, third, None) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn interval_values_parse_and_name_themselves() {
        assert_eq!(IntervalValue::parse("mean"), Ok(IntervalValue::Mean));
        assert_eq!(
            IntervalValue::parse("median"),
            Ok(IntervalValue::Quantile(0.5))
        );
        assert_eq!(
            IntervalValue::parse("0.25"),
            Ok(IntervalValue::Quantile(0.25))
        );
        for bad in ["0.6", "-0.1", "p25", ""] {
            let e = IntervalValue::parse(bad).unwrap_err();
            assert!(e.contains("`mean`") && e.contains(bad), "{e}");
        }
        assert_eq!(
            IntervalValue::Mean.name(),
            "geometric mean of the intervals"
        );
        assert_eq!(
            IntervalValue::Quantile(0.25).name(),
            "lower quartile of the intervals"
        );
        assert_eq!(
            IntervalValue::Quantile(0.1).name(),
            "0.1 quantile of the intervals"
        );
        assert_eq!(IntervalValue::Mean.quantile(), None);
    }

    #[test]
    fn intervals_that_cannot_estimate_the_metric_fall_back_to_the_whole_phase() {
        // 100 queries an interval: enough for p50 (20), not for p95 (200).
        let q = phase(&[1.0, 1.0, 1.0, 1.0, 2.0], 1.2);
        assert_eq!(
            tested_value(&q, Metric::P95Ms, IntervalValue::Mean, None),
            2.4
        );
        // Fewer than 4 intervals: the whole phase.
        let q = phase(&[1.0, 2.0, 3.0], 1.9);
        assert_eq!(
            tested_value(&q, Metric::P50Ms, IntervalValue::Mean, None),
            1.9
        );
    }

    #[test]
    fn min_queries_follow_the_tail_rule() {
        assert_eq!(min_queries(Metric::P50Ms), Some(20));
        assert_eq!(min_queries(Metric::P95Ms), Some(200));
        assert_eq!(min_queries(Metric::P99Ms), Some(1000));
        assert_eq!(min_queries(Metric::P999Ms), Some(10_000));
        assert_eq!(min_queries(Metric::MaxMs), None);
    }
}

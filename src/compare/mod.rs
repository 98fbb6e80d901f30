//! Regression comparison of two summary.json reports: the CI gate.
//!
//! `compare` pairs the queries of a baseline and a current report and, for each query and
//! gated metric, decides a verdict from the whole-run value (the change shown to the user) and
//! a one-sided significance test on the per-interval samples (`stats`). A row fails the gate
//! only when the change is worse than the threshold AND significant, with p-values
//! Holm-adjusted over all the gates so alpha bounds the false-alarm rate of the whole gate.
//! Rendering to text,
//! markdown, JUnit and JSON lives in `render`; parsing of the CLI's lists and of report files in
//! `input` (report files are read by `report::read_summary`). The method is documented in docs/ci-gate.md.

mod input;
mod render;
pub mod stats;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::BenchError;
use crate::report::model::{QueryStats, Summary};
use crate::scenario::plan::{GatePlan, Metric};

pub use input::{parse_metrics, parse_percent, restrict_to_queries, MetricList};

/// Read a summary.json for comparison: `report::read_summary` (clear `BenchError::Config`
/// errors, naming the file, for unreadable, malformed or foreign JSON). Kept here so callers of
/// the gate need one module.
pub fn read_summary_file(path: &std::path::Path) -> anyhow::Result<Summary> {
    crate::report::read_summary(path)
}
use stats::MIN_SAMPLES;

/// Default tolerated slowdown, percent.
pub const DEFAULT_MAX_REGRESSION_PCT: f64 = 10.0;
/// Default significance level.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// Default run-to-run standard deviation assumed by the test, percent.
pub const DEFAULT_RUN_NOISE_PCT: f64 = 5.0;
/// Default gated metrics.
pub const DEFAULT_METRICS: [Metric; 3] = [Metric::P50Ms, Metric::P95Ms, Metric::P99Ms];
/// Without a significance test (too few samples, or a metric with no per-interval samples),
/// a row fails only when the change exceeds this many times the threshold.
pub const FALLBACK_MARGIN: f64 = 2.0;

/// How to compare. `max_regression_pct` is in percent (10 = 10%).
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    pub max_regression_pct: f64,
    pub metrics: Vec<Metric>,
    pub alpha: f64,
    /// Compare reports of different scenarios/configurations anyway (with a warning).
    pub force: bool,
    /// Expected run-to-run standard deviation of a metric on the machine, percent (5 = 5%).
    /// Intervals of one run cannot show how much a whole run shifts (a slower runner, a noisy
    /// neighbour for the whole run); the test adds this as a known variance.
    pub run_noise_pct: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            max_regression_pct: DEFAULT_MAX_REGRESSION_PCT,
            metrics: DEFAULT_METRICS.to_vec(),
            alpha: DEFAULT_ALPHA,
            force: false,
            run_noise_pct: DEFAULT_RUN_NOISE_PCT,
        }
    }
}

impl CompareOptions {
    /// Options from a scenario's `[gate]` table (what `bench run --baseline` uses).
    pub fn from_gate(gate: &GatePlan) -> Self {
        CompareOptions {
            max_regression_pct: gate.max_regression_pct,
            metrics: gate.metrics.clone(),
            alpha: gate.alpha,
            force: false,
            run_noise_pct: DEFAULT_RUN_NOISE_PCT,
        }
    }

    fn validate(&self) -> Result<(), BenchError> {
        if !self.max_regression_pct.is_finite() || self.max_regression_pct < 0.0 {
            return Err(BenchError::Config(format!(
                "max regression must be a finite percentage >= 0, got {}",
                self.max_regression_pct
            )));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(BenchError::Config(format!(
                "alpha must be between 0 and 1 (exclusive), got {}",
                self.alpha
            )));
        }
        if !self.run_noise_pct.is_finite() || self.run_noise_pct < 0.0 {
            return Err(BenchError::Config(format!(
                "run noise must be a finite percentage >= 0, got {}",
                self.run_noise_pct
            )));
        }
        if self.metrics.is_empty() {
            return Err(BenchError::Config(
                "no metric to compare: the gate would check nothing".into(),
            ));
        }
        Ok(())
    }
}

/// The verdict for one query and metric.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RowVerdict {
    /// Worse by more than the threshold and significant: fails the gate.
    Regression,
    /// Better by more than the threshold and significant.
    Improvement,
    /// Not significant (or, without a test, beyond the threshold but within the margin).
    NoSignificantChange,
    /// A difference that is significant (or, without a test, any difference) but no larger
    /// than the threshold.
    WithinThreshold,
    /// The baseline has no successful query to compare against (not a failure; warned).
    NoBaselineData,
}

impl RowVerdict {
    pub fn label(self) -> &'static str {
        match self {
            RowVerdict::Regression => "regression",
            RowVerdict::Improvement => "improvement",
            RowVerdict::NoSignificantChange => "no significant change",
            RowVerdict::WithinThreshold => "within threshold",
            RowVerdict::NoBaselineData => "no baseline data",
        }
    }
}

/// How a row's significance was decided.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// One-sided Welch t-test on log per-interval samples (latency metrics).
    WelchLog,
    /// One-sided Welch t-test on per-interval throughput.
    Welch,
    /// One-sided two-proportion z-test on error counts.
    TwoProportion,
    /// No test: decided on the threshold times `FALLBACK_MARGIN`.
    ThresholdMargin,
    /// Nothing to decide (no baseline data).
    None,
}

/// One gate: a query and a metric.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComparisonRow {
    pub query: String,
    pub metric: Metric,
    /// Whole-run value of the baseline (from `latency_ms`, `throughput_qps`, error counts).
    pub baseline: f64,
    pub current: f64,
    /// Relative change in percent, (current - baseline) / baseline * 100; None when the
    /// baseline is zero and the current is not.
    pub change_pct: Option<f64>,
    /// One-sided p-value in the direction of the observed change, Holm-adjusted over all the
    /// tested gates of the comparison; None without a test.
    pub p_value: Option<f64>,
    /// The same p-value before the adjustment.
    pub p_raw: Option<f64>,
    /// Samples on each side that the test used (intervals, or queries for error_rate).
    pub n_baseline: u64,
    pub n_current: u64,
    pub method: Method,
    pub verdict: RowVerdict,
    pub note: Option<String>,
}

impl ComparisonRow {
    pub fn failed(&self) -> bool {
        self.verdict == RowVerdict::Regression
    }
}

/// The result of comparing two reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub scenario: String,
    pub max_regression_pct: f64,
    pub alpha: f64,
    pub run_noise_pct: f64,
    pub metrics: Vec<Metric>,
    pub rows: Vec<ComparisonRow>,
    /// Queries in the current report only.
    pub added: Vec<String>,
    /// Queries in the baseline only.
    pub removed: Vec<String>,
    /// Environment differences, forced comparisons, degraded or interrupted inputs.
    pub warnings: Vec<String>,
}

impl Comparison {
    /// True when at least one row is a regression.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(ComparisonRow::failed)
    }

    pub fn regressions(&self) -> impl Iterator<Item = &ComparisonRow> {
        self.rows.iter().filter(|r| r.failed())
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("failed".into(), serde_json::Value::Bool(self.failed()));
        }
        v
    }
}

/// Compare `current` against `baseline`. Refuses (`BenchError::Config`, exit 2) reports of
/// different scenarios or configurations unless `opts.force`, and comparisons that would
/// check nothing (no query in common).
pub fn compare(
    baseline: &Summary,
    current: &Summary,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    opts.validate()?;
    let mut warnings = Vec::new();
    check_same_scenario(baseline, current, opts.force, &mut warnings)?;
    environment_warnings(baseline, current, &mut warnings);
    for (label, s) in [("baseline", baseline), ("current", current)] {
        if s.interrupted {
            warnings.push(format!(
                "the {label} run was interrupted: its figures cover a partial run"
            ));
        }
        if s.degraded {
            warnings.push(format!("the {label} run is degraded: some queries failed"));
        }
    }

    let base: BTreeMap<&str, &QueryStats> = baseline
        .queries
        .iter()
        .map(|q| (q.name.as_str(), q))
        .collect();
    let cur: BTreeMap<&str, &QueryStats> = current
        .queries
        .iter()
        .map(|q| (q.name.as_str(), q))
        .collect();
    let added: Vec<String> = current
        .queries
        .iter()
        .filter(|q| !base.contains_key(q.name.as_str()))
        .map(|q| q.name.clone())
        .collect();
    let removed: Vec<String> = baseline
        .queries
        .iter()
        .filter(|q| !cur.contains_key(q.name.as_str()))
        .map(|q| q.name.clone())
        .collect();

    let metrics: Vec<Metric> = {
        let mut seen = BTreeSet::new();
        opts.metrics
            .iter()
            .copied()
            .filter(|m| seen.insert(*m))
            .collect()
    };
    let mut rows = Vec::new();
    let mut pending: Vec<(usize, Tested)> = Vec::new();
    // Current report order: the order the scenario declares its queries.
    for cq in &current.queries {
        let Some(bq) = base.get(cq.name.as_str()) else {
            continue;
        };
        if bq.mode != cq.mode || bq.clients != cq.clients || bq.rate != cq.rate {
            warnings.push(format!(
                "query {}: load differs (baseline {} x{} clients, current {} x{} clients)",
                cq.name, bq.mode, bq.clients, cq.mode, cq.clients
            ));
        }
        for &metric in &metrics {
            let (row, tested) = compare_row(bq, cq, metric, opts);
            if let Some(t) = tested {
                pending.push((rows.len(), t));
            }
            rows.push(row);
        }
    }
    // Holm step-down over every tested gate: alpha bounds the chance that noise fails the
    // gate as a whole, however many queries and metrics it checks.
    let adjusted = holm(&pending.iter().map(|(_, t)| t.p).collect::<Vec<_>>());
    for ((idx, t), adj) in pending.iter().zip(adjusted) {
        decide_tested(
            &mut rows[*idx],
            t.worse,
            adj,
            opts.max_regression_pct / 100.0,
            opts.alpha,
        );
    }
    if rows.is_empty() {
        return Err(BenchError::Config(format!(
            "no query in common between the baseline ({}) and the current report ({}): the gate \
             would check nothing",
            names(&baseline.queries),
            names(&current.queries)
        ))
        .into());
    }
    for r in &rows {
        if r.verdict == RowVerdict::NoBaselineData {
            warnings.push(format!(
                "query {} has no successful query in the baseline: {} not gated (refresh the \
                 baseline)",
                r.query,
                r.metric.name()
            ));
        }
    }

    Ok(Comparison {
        scenario: current.scenario.name.clone(),
        max_regression_pct: opts.max_regression_pct,
        alpha: opts.alpha,
        run_noise_pct: opts.run_noise_pct,
        metrics,
        rows,
        added,
        removed,
        warnings,
    })
}

fn names(queries: &[QueryStats]) -> String {
    if queries.is_empty() {
        return "no queries".into();
    }
    queries
        .iter()
        .map(|q| q.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_same_scenario(
    baseline: &Summary,
    current: &Summary,
    force: bool,
    warnings: &mut Vec<String>,
) -> Result<(), BenchError> {
    let (b, c) = (&baseline.scenario, &current.scenario);
    let mut diffs = Vec::new();
    if b.name != c.name {
        diffs.push(format!("scenario name `{}` vs `{}`", b.name, c.name));
    }
    if b.fingerprint != c.fingerprint {
        let paths = resolved_differences(&b.resolved, &c.resolved);
        if paths.is_empty() {
            // Same configuration, hashed by another bench build (the fingerprint follows the
            // plan's serialisation); the resolved scenarios are what the fingerprint stands for.
            warnings.push(format!(
                "scenario fingerprints differ ({} vs {}) but the resolved scenarios are \
                 identical: reports from different bench builds?",
                b.fingerprint, c.fingerprint
            ));
        } else {
            const SHOWN: usize = 6;
            let mut list = paths
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if paths.len() > SHOWN {
                list.push_str(&format!(" and {} more", paths.len() - SHOWN));
            }
            diffs.push(format!(
                "scenario fingerprint {} vs {}: the resolved configurations differ in {list}",
                b.fingerprint, c.fingerprint
            ));
        }
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let what = diffs.join("; ");
    if force {
        warnings.push(format!(
            "compared despite different scenarios (--force): {what}"
        ));
        Ok(())
    } else {
        Err(BenchError::Config(format!(
            "refusing to compare reports of different scenarios or configurations: {what}; \
             pass --force to compare anyway"
        )))
    }
}

/// Paths (`fleet.wells`, `queries[2].mode`) where two resolved scenarios differ, ignoring what
/// the fingerprint ignores: the file path, the description, and the end instant when both
/// scenarios say `end = "now"`.
pub fn resolved_differences(b: &serde_json::Value, c: &serde_json::Value) -> Vec<String> {
    let normalise = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("file");
            o.remove("description");
            if let Some(f) = o.get_mut("fleet").and_then(|f| f.as_object_mut()) {
                if f.get("end_is_now") == Some(&serde_json::Value::Bool(true)) {
                    f.remove("end");
                }
            }
        }
        v
    };
    let mut out = Vec::new();
    json_diff(&normalise(b), &normalise(c), String::new(), &mut out);
    out
}

fn json_diff(b: &serde_json::Value, c: &serde_json::Value, path: String, out: &mut Vec<String>) {
    use serde_json::Value;
    match (b, c) {
        (Value::Object(bo), Value::Object(co)) => {
            let keys: BTreeSet<&String> = bo.keys().chain(co.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (bo.get(k), co.get(k)) {
                    (Some(x), Some(y)) => json_diff(x, y, p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(ba), Value::Array(ca)) if ba.len() == ca.len() => {
            for (i, (x, y)) in ba.iter().zip(ca).enumerate() {
                json_diff(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ if b == c => {}
        _ => out.push(if path.is_empty() {
            "(root)".into()
        } else {
            path
        }),
    }
}

fn environment_warnings(baseline: &Summary, current: &Summary, warnings: &mut Vec<String>) {
    let (b, c) = (&baseline.environment, &current.environment);
    let mut diff = |what: &str, bv: String, cv: String| {
        if bv != cv {
            warnings.push(format!(
                "environment differs: {what} {bv} (baseline) vs {cv} (current)"
            ));
        }
    };
    diff(
        "PostgreSQL",
        b.postgres_version.clone(),
        c.postgres_version.clone(),
    );
    diff(
        "TimescaleDB",
        b.timescaledb_version.clone(),
        c.timescaledb_version.clone(),
    );
    diff("edition", b.edition.clone(), c.edition.clone());
    diff("server", b.server.clone(), c.server.clone());
    diff("cores", b.cores.to_string(), c.cores.to_string());
    diff("memory", gib(b.memory_bytes), gib(c.memory_bytes));
    diff("OS", b.os.clone(), c.os.clone());
    let keys: BTreeSet<&String> = b.settings.keys().chain(c.settings.keys()).collect();
    for k in keys {
        let bv = b.settings.get(k).map_or("(unset)", String::as_str);
        let cv = c.settings.get(k).map_or("(unset)", String::as_str);
        diff(&format!("setting {k}"), bv.to_string(), cv.to_string());
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Whole-run value of a metric.
pub fn metric_value(q: &QueryStats, metric: Metric) -> f64 {
    q.metric(metric)
}

/// A row whose verdict waits for the multiple-testing adjustment.
struct Tested {
    /// Relative change, positive = worse.
    worse: f64,
    /// Raw one-sided p-value in the direction of the observed change.
    p: f64,
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

fn compare_row(
    b: &QueryStats,
    c: &QueryStats,
    metric: Metric,
    opts: &CompareOptions,
) -> (ComparisonRow, Option<Tested>) {
    let threshold = opts.max_regression_pct / 100.0;
    let baseline = metric_value(b, metric);
    let current = metric_value(c, metric);
    let change = relative_change(baseline, current);
    let mut row = ComparisonRow {
        query: c.name.clone(),
        metric,
        baseline,
        current,
        change_pct: change.map(|x| x * 100.0),
        p_value: None,
        p_raw: None,
        n_baseline: 0,
        n_current: 0,
        method: Method::None,
        verdict: RowVerdict::NoSignificantChange,
        note: None,
    };

    let latency = !matches!(metric, Metric::ErrorRate | Metric::ThroughputQps);
    if latency {
        if b.count == 0 {
            row.verdict = RowVerdict::NoBaselineData;
            row.note = Some("no successful query in the baseline".into());
            return (row, None);
        }
        if c.count == 0 {
            // Every query failed: latency figures are meaningless, and passing would mean the
            // gate checked nothing.
            row.verdict = RowVerdict::Regression;
            row.change_pct = None;
            row.note = Some(format!(
                "no successful query in the current run ({} errors)",
                c.errors
            ));
            return (row, None);
        }
    }

    // Positive = worse, as a fraction; None = infinitely worse (from zero).
    let worse = change.map(|x| if metric.higher_is_better() { -x } else { x });

    let test = match metric {
        Metric::ErrorRate => {
            let (nb, nc) = (b.count + b.errors, c.count + c.errors);
            if nb == 0 || nc == 0 {
                row.verdict = if nb == 0 {
                    RowVerdict::NoBaselineData
                } else {
                    RowVerdict::NoSignificantChange
                };
                row.note = Some("no queries ran".into());
                return (row, None);
            }
            row.method = Method::TwoProportion;
            Some(stats::two_proportion(b.errors, nb, c.errors, nc))
        }
        _ => {
            let bs = stats::interval_samples(b, metric);
            let cs = stats::interval_samples(c, metric);
            match (bs, cs) {
                (Some(bs), Some(cs)) => {
                    row.n_baseline = bs.len() as u64;
                    row.n_current = cs.len() as u64;
                    if bs.len() < MIN_SAMPLES || cs.len() < MIN_SAMPLES {
                        row.note = Some(format!(
                            "insufficient samples ({} vs {} intervals, need {MIN_SAMPLES}): \
                             decided on {FALLBACK_MARGIN}x the threshold",
                            bs.len(),
                            cs.len()
                        ));
                        None
                    } else if latency {
                        row.method = Method::WelchLog;
                        // On the log scale a relative run-to-run sd is (nearly) absolute.
                        let sd = (1.0 + opts.run_noise_pct / 100.0).ln();
                        let (bl, cl) = (log_all(&bs), log_all(&cs));
                        Some(stats::welch_with_run_noise(&bl, &cl, 2.0 * sd * sd))
                    } else {
                        row.method = Method::Welch;
                        let level = (mean(&bs) + mean(&cs)) / 2.0;
                        let sd = opts.run_noise_pct / 100.0 * level;
                        Some(stats::welch_with_run_noise(&bs, &cs, 2.0 * sd * sd))
                    }
                }
                _ => {
                    row.note = Some(format!(
                        "no per-interval samples for {}: decided on {FALLBACK_MARGIN}x the \
                         threshold",
                        metric.name()
                    ));
                    None
                }
            }
        }
    };

    let worse_v = worse.unwrap_or(f64::INFINITY);
    match test {
        Some(t) => {
            // `t` tests "current > baseline"; flip for metrics where higher is better.
            let (p_worse, p_better) = if metric.higher_is_better() {
                (t.p_less, t.p_greater)
            } else {
                (t.p_greater, t.p_less)
            };
            let p = if worse_v >= 0.0 { p_worse } else { p_better };
            row.p_raw = Some(p);
            if metric == Metric::ErrorRate {
                row.n_baseline = t.n_baseline;
                row.n_current = t.n_current;
            }
            (row, Some(Tested { worse: worse_v, p }))
        }
        None => {
            row.method = Method::ThresholdMargin;
            decide_margin(&mut row, worse_v, threshold);
            (row, None)
        }
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn log_all(v: &[f64]) -> Vec<f64> {
    // Latency is close to log-normal; on the log scale the difference of means is the log of
    // the ratio, so the test is about a relative change. Floor at the histograms' resolution
    // (1 microsecond) so a zero cannot become an infinite outlier.
    v.iter().map(|x| x.max(1e-3).ln()).collect()
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

fn decide_tested(row: &mut ComparisonRow, worse: f64, p_adj: f64, threshold: f64, alpha: f64) {
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
            fmt_p(p_adj)
        ));
    }
}

fn decide_margin(row: &mut ComparisonRow, worse: f64, threshold: f64) {
    let margin = threshold * FALLBACK_MARGIN;
    row.verdict = if worse > margin {
        RowVerdict::Regression
    } else if -worse > margin {
        RowVerdict::Improvement
    } else if worse.abs() <= threshold {
        RowVerdict::WithinThreshold
    } else {
        RowVerdict::NoSignificantChange
    };
}

pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn resolved_differences_ignore_now_file_and_description() {
        let a = serde_json::json!({
            "file": "a.toml", "description": "x",
            "fleet": {"wells": 20, "end": "2026-01-01T00:00:00Z", "end_is_now": true},
            "queries": [{"name": "q", "mode": {"clients": 1}}]
        });
        let mut b = a.clone();
        b["file"] = "b.toml".into();
        b["fleet"]["end"] = "2026-02-01T00:00:00Z".into();
        assert!(resolved_differences(&a, &b).is_empty());
        b["fleet"]["wells"] = 40.into();
        b["queries"][0]["mode"]["clients"] = 2.into();
        assert_eq!(
            resolved_differences(&a, &b),
            vec!["fleet.wells", "queries[0].mode.clients"]
        );
        // A fixed end instant is part of the configuration.
        let mut c = a.clone();
        c["fleet"]["end_is_now"] = false.into();
        let mut d = c.clone();
        d["fleet"]["end"] = "2026-03-01T00:00:00Z".into();
        assert_eq!(resolved_differences(&c, &d), vec!["fleet.end"]);
    }

    #[test]
    fn margin_fallback_needs_twice_the_threshold() {
        let mut row = ComparisonRow {
            query: "q".into(),
            metric: Metric::P95Ms,
            baseline: 1.0,
            current: 1.15,
            change_pct: Some(15.0),
            p_value: None,
            p_raw: None,
            n_baseline: 3,
            n_current: 3,
            method: Method::ThresholdMargin,
            verdict: RowVerdict::NoSignificantChange,
            note: None,
        };
        decide_margin(&mut row, 0.15, 0.10);
        assert_eq!(row.verdict, RowVerdict::NoSignificantChange);
        decide_margin(&mut row, 0.21, 0.10);
        assert_eq!(row.verdict, RowVerdict::Regression);
        decide_margin(&mut row, -0.25, 0.10);
        assert_eq!(row.verdict, RowVerdict::Improvement);
        decide_margin(&mut row, 0.05, 0.10);
        assert_eq!(row.verdict, RowVerdict::WithinThreshold);
    }
}

//! The result of a comparison: one row per query and metric with its verdict, and the
//! comparison as a whole (what failed, what was not gated).

use super::*;

/// The verdict for one query and metric.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RowVerdict {
    /// Worse by more than the threshold and significant: fails the gate.
    Regression,
    /// Better by more than the threshold and significant.
    Improvement,
    /// Not significant.
    NoSignificantChange,
    /// A significant difference no larger than the threshold.
    WithinThreshold,
    /// The baseline has no successful query to compare against (not a failure; warned).
    NoBaselineData,
    /// The phase cannot estimate this metric (too few queries): not gated, listed with the
    /// reason.
    NotGateable,
    /// A regression in the current run that a confirmation run did not reproduce.
    Unconfirmed,
}

impl RowVerdict {
    pub fn label(self) -> &'static str {
        match self {
            RowVerdict::Regression => "regression",
            RowVerdict::Improvement => "improvement",
            RowVerdict::NoSignificantChange => "no significant change",
            RowVerdict::WithinThreshold => "within threshold",
            RowVerdict::NoBaselineData => "no baseline data",
            RowVerdict::NotGateable => "not gateable",
            RowVerdict::Unconfirmed => "not confirmed",
        }
    }

    /// Rows that checked nothing: listed as not gated.
    pub fn not_gated(self) -> bool {
        matches!(self, RowVerdict::NoBaselineData | RowVerdict::NotGateable)
    }
}

/// How a row's significance was decided.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// One-sided t-test of the current run's ln(value) against the baseline runs' mean, with
    /// the measured (moderated) run-to-run variance.
    RunT,
    /// One-sided z-test with the assumed run-to-run noise (one-run baseline).
    DefaultNoiseZ,
    /// One-sided two-proportion z-test on error counts (baseline runs pooled).
    TwoProportion,
    /// No test (not gateable, no data).
    None,
}

/// One gate: a query and a metric.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComparisonRow {
    pub query: String,
    pub metric: Metric,
    /// Baseline value: the geometric mean of the baseline runs' whole-phase values (for
    /// error_rate, the pooled rate).
    pub baseline: f64,
    pub current: f64,
    /// Relative change in percent, (current - baseline) / baseline * 100; None when the
    /// baseline is zero and the current is not.
    pub change_pct: Option<f64>,
    /// The change net of the current run's shift for this metric (multi-run baselines; equal
    /// to `change_pct` otherwise), percent: what the threshold and the test judge.
    pub net_change_pct: Option<f64>,
    /// Run-to-run standard deviation of one run's value used by the test, percent.
    pub noise_pct: Option<f64>,
    pub noise_source: Option<NoiseSource>,
    /// Smallest worsening that could be significant in this comparison (at the first Holm
    /// step, alpha / tested gates), percent.
    pub detectable_pct: Option<f64>,
    /// Degrees of freedom of the test; None = infinite (normal) or no test.
    pub df: Option<f64>,
    /// One-sided p-value in the direction of the observed change, Holm-adjusted over all the
    /// tested gates of the comparison; None without a test.
    pub p_value: Option<f64>,
    /// The same p-value before the adjustment.
    pub p_raw: Option<f64>,
    /// Queries in the phase: the fewest of the baseline runs, and the current run's (for
    /// error_rate, queries plus errors).
    pub n_baseline: u64,
    pub n_current: u64,
    pub method: Method,
    pub verdict: RowVerdict,
    pub note: Option<String>,
    /// The change in each confirmation run (`bench compare --confirm`), percent.
    pub confirm_change_pct: Vec<Option<f64>>,
    /// The baseline's host-speed reference (ms) when every run carried one
    /// (`[run] speed_reference`): `baseline`, `current` and the tested values are then each
    /// run's values brought to that speed (divided by the run's reference, interval by
    /// interval, times this). None: the raw values.
    pub speed_reference_ms: Option<f64>,
    /// How strongly this gate's values follow the reference, fitted on the baseline's runs
    /// (0: not at all, they are compared as measured; 1: in proportion): a value is multiplied
    /// by (speed_reference_ms / the reference when it was measured)^speed_exponent.
    pub speed_exponent: Option<f64>,
    /// What the test of this row was computed from, for pooling runs (`--pool`); not reported.
    #[serde(skip)]
    pub basis: Option<TestBasis>,
}

/// The inputs of a tested row's test, on the log scale with positive = worse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestBasis {
    /// The tested worsening (a low quantile of the intervals, net of the run's shift).
    pub worse_log: f64,
    /// The worsening both estimates agree on, which the threshold judges.
    pub judged_log: f64,
    /// One run's run-to-run standard deviation.
    pub sd_log: f64,
    /// Runs in the baseline.
    pub baseline_runs: usize,
    pub df: Option<f64>,
    /// A whole-run shift, tested in its own family.
    pub run_family: bool,
}

impl ComparisonRow {
    pub fn failed(&self) -> bool {
        self.verdict == RowVerdict::Regression
    }
}

/// The result of comparing a run against a baseline.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub scenario: String,
    pub max_regression_pct: f64,
    pub alpha: f64,
    /// The statistic of a phase's per-interval values that was tested: `mean` (their
    /// geometric mean) or `quantile` (of `interval_quantile`); metrics the intervals cannot
    /// estimate are tested on the whole phase.
    pub interval_statistic: &'static str,
    /// The quantile tested when `interval_statistic` is `quantile`, else null.
    pub interval_quantile: Option<f64>,
    /// How the run-to-run noise was obtained (runs in the baseline, default or measured).
    pub noise: NoiseSummary,
    pub metrics: Vec<Metric>,
    pub rows: Vec<ComparisonRow>,
    /// Queries in the current report only.
    pub added: Vec<String>,
    /// Queries in the baseline only.
    pub removed: Vec<String>,
    /// Environment differences, forced comparisons, degraded or interrupted inputs.
    pub warnings: Vec<String>,
    /// Confirmation runs intersected into the verdicts (`bench compare --confirm`), or pooled
    /// with the current run (`--pool`).
    pub confirmation_runs: usize,
    /// The confirmation runs were pooled with the current run: every gate tested on their
    /// mean, a regression beyond the threshold in each (`bench compare --confirm ... --pool`).
    pub pooled: bool,
}

impl Comparison {
    /// True when at least one row is a regression.
    pub fn failed(&self) -> bool {
        self.rows.iter().any(ComparisonRow::failed)
    }

    pub fn regressions(&self) -> impl Iterator<Item = &ComparisonRow> {
        self.rows.iter().filter(|r| r.failed())
    }

    /// Rows that were not gated (not gateable, or no baseline data), with their reasons.
    pub fn not_gated(&self) -> impl Iterator<Item = &ComparisonRow> {
        self.rows.iter().filter(|r| r.verdict.not_gated())
    }

    /// How reports name the tested statistic of the intervals.
    pub fn interval_value_name(&self) -> String {
        match self.interval_quantile {
            Some(q) => super::IntervalValue::Quantile(q).name(),
            None => super::IntervalValue::Mean.name(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("failed".into(), serde_json::Value::Bool(self.failed()));
        }
        v
    }
}

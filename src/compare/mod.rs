//! Regression comparison of a run against a baseline of k runs: the CI gate.
//!
//! `compare_baseline` pairs the queries of the baseline's runs and the current run and, for
//! each query and gated metric (a *gate*), tests whether the current run's whole-phase value is
//! worse than the baseline's runs allow: the baseline's k runs measure the metric's run-to-run
//! noise (`noise`), and the current run is judged as one more draw from that distribution (a
//! t-test of one new observation against a sample, with moderated variances). A gate fails only
//! when the change is worse than the threshold AND significant, with p-values Holm-adjusted
//! over all gates so alpha bounds the false-alarm rate of the whole gate. Gates whose value a
//! phase cannot estimate (too few queries beyond a percentile) are not gated and listed.
//! `confirm` intersects a comparison with those of confirmation runs.
//!
//! The rows and their verdicts: `comparison`; the judging itself: `judge`; the gate of
//! `bench run --baseline`: `run_gate`. Baseline files: `baseline`; one gate's gateability, sample and verdict: `gates`; the noise
//! model: `noise`; comparability checks and warnings: `consistency`; rendering to
//! text, markdown, JUnit and JSON: `render`; parsing of the CLI's lists: `input`. The method is
//! documented in docs/ci-gate.md.

mod baseline;
mod consistency;
mod gates;
mod input;
pub mod noise;
mod render;
mod run_gate;
pub mod significance;
mod speed;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::BenchError;
use crate::model::report::{QueryStats, Summary};
use crate::scenario::defaults;
use crate::scenario::plan::{GatePlan, Metric};

pub use baseline::{Baseline, BASELINE_FORMAT, BASELINE_SCHEMA_VERSION, DEFAULT_BASELINE_RUNS};
pub use consistency::resolved_differences;
use gates::{
    agreed_worsening, decide_tested, detectable_pct, empty_row, holm_by_family, prepare_row,
    Pending, Prepared,
};
pub use gates::{metric_value, min_queries, IntervalValue};
pub use input::{parse_metrics, parse_percent, restrict_baseline, restrict_to_queries, MetricList};
pub use noise::{NoiseSource, NoiseSummary};
pub use render::render_baseline;
pub use run_gate::apply_gate;
pub use speed::{speed_of, SpeedScale};

mod comparison;
mod judge;
mod pool;

pub use comparison::*;
pub use judge::*;
pub use pool::pool;

/// Read a summary.json for comparison: `report::read_summary` (clear `BenchError::Config`
/// errors, naming the file, for unreadable, malformed or foreign JSON).
pub fn read_summary_file(path: &std::path::Path) -> anyhow::Result<Summary> {
    crate::report::read_summary(path)
}

/// Run-to-run standard deviation assumed for a one-run baseline, percent (the setting the
/// workflow used for shared hosted runners before baselines held several runs). On a loaded
/// shared machine the real noise of tail percentiles is far larger: a one-run baseline is a
/// fallback that says so, not a calibrated gate (docs/ci-gate.md, "Calibration").
pub const DEFAULT_RUN_NOISE_PCT: f64 = 25.0;
/// The `query` of the rows that gate a whole run's shift (one per metric).
pub const RUN_SHIFT_QUERY: &str = "(all queries)";
/// A percentile is gateable only when the phase holds at least this many queries beyond it
/// (p50: 20 queries, p95: 200, p99: 1,000); the mean and throughput need this many at all.
pub const MIN_TAIL_QUERIES: u64 = 10;
/// Which statistic of a phase's per-interval values the noise model tests: their geometric
/// mean. On the development machine the host ran in two states about 1.8x apart and switched
/// within seconds; a quantile of the intervals (the median, the lower quartile) jumps between
/// the states with the share of slow intervals, the mean follows that share smoothly: over 36
/// identical runs it halved the run-to-run noise of the p50 gates against the lower quartile
/// (docs/ci-gate.md, "Eleventh session").
pub const DEFAULT_INTERVAL_VALUE: IntervalValue = IntervalValue::Mean;

/// How to compare. `max_regression_pct` is in percent (10 = 10%).
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    pub max_regression_pct: f64,
    pub metrics: Vec<Metric>,
    pub alpha: f64,
    /// Compare reports of different scenarios/configurations anyway (with a warning).
    pub force: bool,
    /// Run-to-run standard deviation, percent (5 = 5%). With a one-run baseline it is the
    /// assumed noise (None: [`DEFAULT_RUN_NOISE_PCT`]); with several runs the noise is
    /// measured and this, when given, is a floor under the measurement.
    pub run_noise_pct: Option<f64>,
    /// Also gate the whole run's shift (every query slower at once). Off by default: on a
    /// shared machine it is what a busier neighbour looks like (docs/ci-gate.md).
    pub gate_run_shift: bool,
    /// The statistic of the per-interval values that is tested. Default
    /// [`DEFAULT_INTERVAL_VALUE`], the geometric mean.
    pub interval_value: IntervalValue,
    /// Bring every run's values to the baseline's host speed when all of them carry the
    /// speed reference (`[run] speed_reference`); on by default.
    pub speed_reference: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            // The gate's defaults are the scenario's `[gate]` defaults: one definition.
            max_regression_pct: defaults::MAX_REGRESSION_PCT,
            metrics: defaults::GATE_METRICS.to_vec(),
            alpha: defaults::ALPHA,
            force: false,
            run_noise_pct: None,
            gate_run_shift: false,
            interval_value: DEFAULT_INTERVAL_VALUE,
            speed_reference: true,
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
            run_noise_pct: None,
            gate_run_shift: false,
            interval_value: DEFAULT_INTERVAL_VALUE,
            speed_reference: true,
        }
    }

    fn validate(&self) -> Result<(), BenchError> {
        if !self.max_regression_pct.is_finite() || self.max_regression_pct < 0.0 {
            return Err(BenchError::Config(format!(
                "max regression must be a finite percentage >= 0, got {}",
                self.max_regression_pct
            )));
        }
        if !defaults::alpha_ok(self.alpha) {
            return Err(BenchError::Config(format!(
                "alpha must be {}, got {}",
                defaults::ALPHA_RANGE,
                self.alpha
            )));
        }
        if let Some(n) = self.run_noise_pct {
            if !n.is_finite() || n < 0.0 {
                return Err(BenchError::Config(format!(
                    "run noise must be a finite percentage >= 0, got {n}"
                )));
            }
        }
        if let Some(q) = self.interval_value.quantile() {
            if !(0.0..=0.5).contains(&q) {
                return Err(BenchError::Config(format!(
                    "interval quantile must be between 0 and 0.5 (0.5: the median of the \
                     intervals), got {q}"
                )));
            }
        }
        if self.metrics.is_empty() {
            return Err(BenchError::Config(
                "no metric to compare: the gate would check nothing".into(),
            ));
        }
        Ok(())
    }
}

pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

//! The metrics a target, a gate and a report row are expressed in (`p95_ms`, `error_rate`,
//! ...). Scenario files name them, the report model reads them off a query's figures, the
//! gate compares them: one vocabulary, defined here below all three.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    MeanMs,
    P50Ms,
    P90Ms,
    P95Ms,
    P99Ms,
    P999Ms,
    MaxMs,
    /// errors / (count + errors), upper bound.
    ErrorRate,
    /// Lower bound.
    ThroughputQps,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::MeanMs,
        Metric::P50Ms,
        Metric::P90Ms,
        Metric::P95Ms,
        Metric::P99Ms,
        Metric::P999Ms,
        Metric::MaxMs,
        Metric::ErrorRate,
        Metric::ThroughputQps,
    ];

    /// The name used in scenario files and check names, e.g. "p95_ms".
    pub fn name(self) -> &'static str {
        match self {
            Metric::MeanMs => "mean_ms",
            Metric::P50Ms => "p50_ms",
            Metric::P90Ms => "p90_ms",
            Metric::P95Ms => "p95_ms",
            Metric::P99Ms => "p99_ms",
            Metric::P999Ms => "p999_ms",
            Metric::MaxMs => "max_ms",
            Metric::ErrorRate => "error_rate",
            Metric::ThroughputQps => "throughput_qps",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// True when larger measured values are better (the threshold is a minimum).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::ThroughputQps)
    }
}

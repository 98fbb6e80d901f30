//! Pure evaluation: targets x measurements -> [`CheckResult`]s. Latency targets and the
//! shared result builders are here; the rules per concern are in `plans` (pruning and
//! speedup), `chunks`, `compression` and `policies` (compression and retention policies).
//! No I/O here; every function is unit-tested on synthetic values.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::facts::{
    ChunkCompression, ChunkScan, CompressionBytes, CompressionDetails, PlanChunks, PolicyJob,
    RetentionState,
};
use crate::model::report::{ByteSplit, CheckResult, CheckStatus, PlanEvidence, QueryStats};
use crate::scenario::plan::{Metric, PlanCacheMode, QueryPlan};

pub use crate::format::{fmt_num, fmt_secs};

mod chunks;
mod compression;
mod plans;
mod policies;

pub use chunks::*;
pub use compression::*;
pub use plans::*;
pub use policies::*;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn result(
    name: String,
    kind: &str,
    target: String,
    measured: Option<f64>,
    status: CheckStatus,
    note: Option<String>,
) -> CheckResult {
    CheckResult {
        name,
        kind: kind.to_string(),
        target,
        measured,
        measured_text: None,
        status,
        note,
    }
}

fn pass_if(ok: bool) -> CheckStatus {
    if ok {
        CheckStatus::Pass
    } else {
        CheckStatus::Fail
    }
}

/// The value of `metric` in `stats`.
pub fn metric_value(stats: &QueryStats, metric: Metric) -> f64 {
    stats.metric(metric)
}

/// One `latency.<query>.<metric>` result per target of every query. A query with targets but no
/// statistics (it did not run) fails; so does a latency target of a query without one
/// successful execution.
pub fn latency_checks(queries: &[QueryPlan], stats: &[QueryStats]) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for q in queries {
        let found = stats.iter().find(|s| s.name == q.name);
        for t in &q.targets {
            let name = format!("latency.{}.{}", q.name, t.metric.name());
            let op = if t.metric.higher_is_better() {
                ">="
            } else {
                "<="
            };
            let target = format!("{op} {}", fmt_num(t.threshold));
            let Some(s) = found else {
                out.push(result(
                    name,
                    "latency",
                    target,
                    None,
                    CheckStatus::Fail,
                    Some(format!(
                        "no statistics for query `{}`: it did not run",
                        q.name
                    )),
                ));
                continue;
            };
            let is_latency = !matches!(t.metric, Metric::ErrorRate | Metric::ThroughputQps);
            if is_latency && s.count == 0 {
                out.push(result(
                    name,
                    "latency",
                    target,
                    None,
                    CheckStatus::Fail,
                    Some(format!(
                        "query `{}` had no successful execution ({} errors)",
                        q.name, s.errors
                    )),
                ));
                continue;
            }
            let v = metric_value(s, t.metric);
            let ok = if t.metric.higher_is_better() {
                v >= t.threshold
            } else {
                v <= t.threshold
            };
            let note =
                (s.errors > 0).then(|| format!("{} errors of {}", s.errors, s.count + s.errors));
            out.push(result(name, "latency", target, Some(v), pass_if(ok), note));
        }
    }
    out
}

/// The note of every check this server cannot measure.
pub fn unsupported_note(edition: &str) -> String {
    format!("unsupported: needs TimescaleDB community edition (this server: {edition})")
}

/// A check that this server cannot measure. Its effect on the verdict follows
/// `[checks] unsupported` (see [`crate::checks::verdict`]).
pub fn unsupported_check(name: String, kind: &str, target: String, edition: &str) -> CheckResult {
    result(
        name,
        kind,
        target,
        None,
        CheckStatus::Unsupported,
        Some(unsupported_note(edition)),
    )
}

#[cfg(test)]
mod tests;

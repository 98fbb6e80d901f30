//! Pure evaluation: targets x measurements -> [`CheckResult`]s, and the verdict rule.
//! No I/O here; every function is unit-tested on synthetic values.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::facts::{ChunkScan, CompressionBytes, PolicyJob, RetentionState};
use crate::report::model::{CheckResult, CheckStatus, QueryStats, Verdict};
use crate::scenario::plan::{Metric, QueryPlan, UnsupportedEffect};

/// The production settings the seed's migration notes claim, per hypertable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableSpec {
    pub table: &'static str,
    pub chunk_interval_s: u64,
    pub compress_after_s: u64,
    pub drop_after_s: u64,
}

const DAY: u64 = 86_400;

/// `esp_telemetry`: 1-day chunks, compress after 7 d, drop after 30 d.
pub const TELEMETRY: TableSpec = TableSpec {
    table: "esp_telemetry",
    chunk_interval_s: DAY,
    compress_after_s: 7 * DAY,
    drop_after_s: 30 * DAY,
};

/// `diagnostic_results`: 7-day chunks, compress after 14 d, drop after 90 d.
pub const DIAGNOSTICS: TableSpec = TableSpec {
    table: "diagnostic_results",
    chunk_interval_s: 7 * DAY,
    compress_after_s: 14 * DAY,
    drop_after_s: 90 * DAY,
};

/// Both hypertables, telemetry first.
pub const TABLES: [TableSpec; 2] = [TELEMETRY, DIAGNOSTICS];

/// A number as the shortest readable text: 10 -> "10", 0.5 -> "0.5", 1/3 -> "0.333".
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// Seconds as a short duration: 86400 -> "1 d", 3600 -> "1 h", 90 -> "90 s".
pub fn fmt_secs(s: f64) -> String {
    let d = DAY as f64;
    if s != 0.0 && (s / d).fract() == 0.0 {
        format!("{} d", fmt_num(s / d))
    } else if s != 0.0 && (s / 3600.0).fract() == 0.0 {
        format!("{} h", fmt_num(s / 3600.0))
    } else {
        format!("{} s", fmt_num(s))
    }
}

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

/// errors / (count + errors) of a query; 0 when nothing ran.
pub fn error_rate(stats: &QueryStats) -> f64 {
    stats.error_rate()
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

/// How the prepared-statement form of a query was planned, for the pruning check.
#[derive(Debug, Clone, PartialEq)]
pub enum PreparedScan {
    /// Chunk scans of the generic plan after executor-startup exclusion.
    Measured(ChunkScan),
    /// Could not be measured (e.g. PREPARE could not infer a custom query's parameter types).
    Failed(String),
}

/// `pruning.<query>.chunks_scanned <= max`. `literal` is the plan with the parameters inlined
/// (planner exclusion); `prepared` the generic plan of the prepared statement as the query
/// runner sends it (startup exclusion). Measured is the larger of the two, so the check holds
/// for clients with and without prepared statements.
pub fn pruning_check(
    query: &str,
    max: u64,
    literal: &ChunkScan,
    prepared: Option<&PreparedScan>,
) -> CheckResult {
    let name = format!("pruning.{query}.chunks_scanned");
    let target = format!("<= {max}");
    if literal.hypertables.is_empty() {
        return result(
            name,
            "pruning",
            target,
            None,
            CheckStatus::Fail,
            Some("the plan touches no hypertable of the bench schema".into()),
        );
    }
    let mut note = format!(
        "{} of {} chunks ({})",
        literal.scanned,
        literal.total,
        literal.hypertables.join(", ")
    );
    let mut scanned = literal.scanned;
    match prepared {
        Some(PreparedScan::Measured(p)) => {
            note.push_str(&format!(
                "; prepared statement (generic plan): {} of {}",
                p.scanned, p.total
            ));
            scanned = scanned.max(p.scanned);
        }
        Some(PreparedScan::Failed(why)) => {
            note.push_str(&format!("; prepared statement not measured: {why}"));
        }
        None => {}
    }
    result(
        name,
        "pruning",
        target,
        Some(scanned as f64),
        pass_if(scanned <= max),
        Some(note),
    )
}

/// Median of some durations, in milliseconds (None when empty).
pub fn median_ms(samples: &[Duration]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    Some(if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    })
}

/// `pruning_speedup.<query> >= min`: median time with pruning defeated / median time pruned.
/// `pruned` / `defeated` are the chunk scans of both plans, shown in the note so a reader sees
/// that pruning really was defeated.
pub fn speedup_check(
    query: &str,
    min: f64,
    pruned_times: &[Duration],
    defeated_times: &[Duration],
    pruned: &ChunkScan,
    defeated: &ChunkScan,
) -> CheckResult {
    let name = format!("pruning_speedup.{query}");
    let target = format!(">= {}", fmt_num(min));
    let (Some(p), Some(d)) = (median_ms(pruned_times), median_ms(defeated_times)) else {
        return result(
            name,
            "pruning_speedup",
            target,
            None,
            CheckStatus::Fail,
            Some("no timing samples".into()),
        );
    };
    let ratio = if p > 0.0 { d / p } else { f64::INFINITY };
    let mut note = format!(
        "median {} ms pruned ({} of {} chunks) vs {} ms unpruned ({} of {} chunks), {} runs each",
        fmt_num(p),
        pruned.scanned,
        pruned.total,
        fmt_num(d),
        defeated.scanned,
        defeated.total,
        pruned_times.len().min(defeated_times.len())
    );
    let mut status = pass_if(ratio >= min);
    if defeated.scanned < defeated.total {
        // The baseline still pruned: the ratio understates the real speedup and proves nothing.
        note.push_str("; pruning could not be fully defeated, so the ratio is not meaningful");
        status = CheckStatus::Fail;
    }
    result(
        name,
        "pruning_speedup",
        target,
        Some(ratio),
        status,
        Some(note),
    )
}

/// Chunks a table holding data over `span_s` seconds may have with `interval_s` chunks aligned
/// to the epoch: ceil(span / interval) full-or-partial chunks, plus one when the span straddles
/// a chunk boundary. When the data actually present (first and last row) reaches past the
/// nominal span (live ingest after the end) or fills less of it (sparse diagnostics), the
/// range follows the data: the bounds become the aligned chunks between first and last row.
pub fn expected_chunks(
    span_s: u64,
    interval_s: u64,
    data: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> (u64, u64) {
    let interval_s = interval_s.max(1);
    let nominal = span_s.div_ceil(interval_s);
    let (mut lo, mut hi) = (nominal, nominal + 1);
    if let Some((first, last)) = data {
        let i = interval_s as i64;
        let aligned = (last.timestamp().div_euclid(i) - first.timestamp().div_euclid(i) + 1) as u64;
        lo = lo.min(aligned);
        hi = hi.max(aligned);
    } else {
        lo = 0;
    }
    (lo, hi)
}

/// `chunks.<table>.count` within [lo, hi] of [`expected_chunks`].
pub fn chunk_count_check(
    table: &str,
    count: u64,
    span_s: u64,
    interval_s: u64,
    data: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> CheckResult {
    let (lo, hi) = expected_chunks(span_s, interval_s, data);
    let range = match data {
        Some((a, b)) => format!("rows {} .. {}", ts(a), ts(b)),
        None => "no rows".to_string(),
    };
    let note = format!(
        "span {} / chunk interval {} -> {}..{} chunks; {range}",
        fmt_secs(span_s as f64),
        fmt_secs(interval_s as f64),
        lo,
        hi
    );
    result(
        format!("chunks.{table}.count"),
        "chunks",
        format!("in [{lo}, {hi}]"),
        Some(count as f64),
        pass_if(count >= lo && count <= hi),
        Some(note),
    )
}

/// `chunks.<table>.interval_s == expected` (None: the table is not a hypertable).
pub fn chunk_interval_check(table: &str, actual_s: Option<u64>, expected_s: u64) -> CheckResult {
    let name = format!("chunks.{table}.interval_s");
    let target = format!("== {expected_s}");
    match actual_s {
        Some(a) => result(
            name,
            "chunks",
            target,
            Some(a as f64),
            pass_if(a == expected_s),
            Some(format!("{} chunks", fmt_secs(a as f64))),
        ),
        None => result(
            name,
            "chunks",
            target,
            None,
            CheckStatus::Fail,
            Some(format!("{table} is not a hypertable in the bench schema")),
        ),
    }
}

/// The note of every check this server cannot measure.
pub fn unsupported_note(edition: &str) -> String {
    format!("unsupported: needs TimescaleDB community edition (this server: {edition})")
}

/// A check that this server cannot measure. Its effect on the verdict follows
/// `[checks] unsupported` (see [`verdict`]).
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

/// Storage reduction in percent: (1 - after / before) * 100.
pub fn reduction_pct(b: &CompressionBytes) -> Option<f64> {
    (b.before_bytes > 0).then(|| (1.0 - b.after_bytes as f64 / b.before_bytes as f64) * 100.0)
}

/// `compression.<table>.reduction_pct >= min` over the chunks the policy would compress.
pub fn compression_check(
    table: &str,
    min_pct: f64,
    compress_after_s: u64,
    bytes: &CompressionBytes,
) -> CheckResult {
    let name = format!("compression.{table}.reduction_pct");
    let target = format!(">= {}", fmt_num(min_pct));
    if bytes.chunks == 0 {
        return result(
            name,
            "compression",
            target,
            None,
            CheckStatus::Fail,
            Some(format!(
                "no chunk ends more than {} before the data end: the span is too short to \
                 measure compression",
                fmt_secs(compress_after_s as f64)
            )),
        );
    }
    let Some(pct) = reduction_pct(bytes) else {
        return result(
            name,
            "compression",
            target,
            None,
            CheckStatus::Fail,
            Some("compression statistics report 0 bytes before compression".into()),
        );
    };
    let note = format!(
        "{} chunks older than {}: {} -> {} bytes ({}x)",
        bytes.chunks,
        fmt_secs(compress_after_s as f64),
        bytes.before_bytes,
        bytes.after_bytes,
        if bytes.after_bytes > 0 {
            fmt_num(bytes.before_bytes as f64 / bytes.after_bytes as f64)
        } else {
            "inf".into()
        }
    );
    result(
        name,
        "compression",
        target,
        Some(pct),
        pass_if(pct >= min_pct),
        Some(note),
    )
}

/// `policies.<table>.<kind>` (kind "compression" or "retention"): exactly the expected job.
pub fn policy_check(
    table: &str,
    kind: &str,
    expected_after_s: u64,
    jobs: &[PolicyJob],
) -> CheckResult {
    let proc_name = match kind {
        "compression" => "policy_compression",
        _ => "policy_retention",
    };
    let key = if kind == "compression" {
        "compress_after"
    } else {
        "drop_after"
    };
    let name = format!("policies.{table}.{kind}");
    let target = format!("{key} == {}", fmt_secs(expected_after_s as f64));
    let mine: Vec<&PolicyJob> = jobs
        .iter()
        .filter(|j| j.hypertable == table && j.proc_name == proc_name)
        .collect();
    let mut r = result(name, "policies", target, None, CheckStatus::Fail, None);
    match mine.as_slice() {
        [] => r.note = Some(format!("no {proc_name} job for {table}")),
        [j] => {
            r.measured = j.after_s;
            r.measured_text = Some(match j.after_s {
                Some(s) => format!("{key} = {} (job {})", fmt_secs(s), j.job_id),
                None => format!("job {} config {}", j.job_id, j.config),
            });
            r.status = pass_if(j.after_s == Some(expected_after_s as f64));
        }
        many => {
            r.note = Some(format!(
                "{} {proc_name} jobs for {table} (jobs {}); expected one",
                many.len(),
                many.iter()
                    .map(|j| j.job_id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
    r
}

/// The target text of a retention check.
pub fn retention_target(window_s: u64, chunk_interval_s: u64) -> String {
    format!(
        "no chunk before data end - {}, oldest row >= cutoff - {}",
        fmt_secs(window_s as f64),
        fmt_secs(chunk_interval_s as f64)
    )
}

/// `retention.<table>`: no chunk lies wholly before the cutoff, and the oldest row is at most
/// one chunk interval older than the cutoff (retention drops whole chunks only, so the chunk
/// that holds the cutoff keeps its older rows). Measured: the oldest row's age beyond the
/// cutoff, seconds (0 when none is older).
pub fn retention_check(table: &str, window_s: u64, st: &RetentionState) -> CheckResult {
    let name = format!("retention.{table}");
    let target = retention_target(window_s, st.chunk_interval_s);
    let over_s = st
        .oldest_row
        .map(|o| (st.cutoff - o).num_seconds().max(0) as f64)
        .unwrap_or(0.0);
    let row_ok = over_s <= st.chunk_interval_s as f64;
    let ok = st.chunks_before_cutoff == 0 && row_ok;
    let mut note = format!(
        "cutoff {}; {}; dropped {} chunks; {} chunks left before the cutoff; oldest row {}",
        ts(st.cutoff),
        st.method,
        st.dropped,
        st.chunks_before_cutoff,
        st.oldest_row.map(ts).unwrap_or_else(|| "none".into())
    );
    if !row_ok {
        note.push_str(" (older than cutoff - chunk interval)");
    }
    let mut r = result(
        name,
        "retention",
        target,
        Some(over_s),
        pass_if(ok),
        Some(note),
    );
    r.measured_text = Some(format!(
        "oldest row {} s before the cutoff",
        fmt_num(over_s)
    ));
    r
}

/// The verdict over all checks: Fail when any check failed, or when a check is Unsupported and
/// the scenario says `unsupported = "fail"`; Pass otherwise (Skipped never fails). An
/// interrupted run is the caller's to mark.
pub fn verdict(checks: &[CheckResult], unsupported: UnsupportedEffect) -> Verdict {
    let failed = checks.iter().any(|c| counts_as_failure(c, unsupported));
    if failed {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// Whether one check makes the verdict fail under the given effect.
pub fn counts_as_failure(check: &CheckResult, unsupported: UnsupportedEffect) -> bool {
    match check.status {
        CheckStatus::Fail => true,
        CheckStatus::Unsupported => unsupported == UnsupportedEffect::Fail,
        CheckStatus::Pass | CheckStatus::Skipped => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Percentiles;
    use crate::scenario::plan::{Builtin, LoadMode, QueryKind, StopCondition, Target};
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn qplan(name: &str, targets: Vec<(Metric, f64)>) -> QueryPlan {
        QueryPlan {
            name: name.into(),
            kind: QueryKind::Builtin(Builtin::Latest24h),
            mode: LoadMode::Closed { clients: 1 },
            warmup: Duration::from_secs(1),
            stop: StopCondition::Count { count: 10 },
            weight: 0,
            targets: targets
                .into_iter()
                .map(|(metric, threshold)| Target { metric, threshold })
                .collect(),
            max_chunks_scanned: None,
            min_pruning_speedup: None,
            writes: false,
        }
    }

    fn stats(name: &str, count: u64, errors: u64, p95: f64) -> QueryStats {
        QueryStats {
            name: name.into(),
            mode: "closed".into(),
            clients: 1,
            rate: None,
            count,
            errors,
            errors_by_sqlstate: BTreeMap::new(),
            rows_returned: 0,
            duration_s: 10.0,
            throughput_qps: count as f64 / 10.0,
            latency_ms: Percentiles {
                mean: p95 / 2.0,
                p50: p95 / 2.0,
                p90: p95,
                p95,
                p99: p95,
                p999: p95,
                max: p95,
            },
            schedule_lag_ms: None,
            histogram: String::new(),
            intervals: vec![],
        }
    }

    #[test]
    fn latency_pass_and_fail() {
        let plan = vec![qplan(
            "latest_24h",
            vec![(Metric::P95Ms, 10.0), (Metric::ThroughputQps, 50.0)],
        )];
        let r = latency_checks(&plan, &[stats("latest_24h", 1000, 0, 4.2)]);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, "latency.latest_24h.p95_ms");
        assert_eq!(r[0].target, "<= 10");
        assert_eq!(r[0].measured, Some(4.2));
        assert_eq!(r[0].status, CheckStatus::Pass);
        assert_eq!(r[1].name, "latency.latest_24h.throughput_qps");
        assert_eq!(r[1].target, ">= 50");
        assert_eq!(r[1].status, CheckStatus::Pass);

        let r = latency_checks(&plan, &[stats("latest_24h", 100, 0, 12.5)]);
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert_eq!(r[0].measured, Some(12.5));
        assert_eq!(r[1].status, CheckStatus::Fail, "10 qps < 50 qps");
    }

    #[test]
    fn error_rate_target() {
        let plan = vec![qplan("q", vec![(Metric::ErrorRate, 0.01)])];
        let r = latency_checks(&plan, &[stats("q", 90, 10, 1.0)]);
        assert_eq!(r[0].measured, Some(0.1));
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert!(r[0].note.as_deref().unwrap().contains("10 errors of 100"));
    }

    #[test]
    fn missing_query_stats_is_a_failed_check_not_silence() {
        let plan = vec![qplan("agg_7d_fleet", vec![(Metric::P95Ms, 50.0)])];
        let r = latency_checks(&plan, &[stats("latest_24h", 10, 0, 1.0)]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert_eq!(r[0].measured, None);
        assert!(r[0].note.as_deref().unwrap().contains("agg_7d_fleet"));
    }

    #[test]
    fn no_successful_execution_fails_latency_target() {
        let plan = vec![qplan("q", vec![(Metric::P50Ms, 50.0)])];
        let r = latency_checks(&plan, &[stats("q", 0, 5, 0.0)]);
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert_eq!(r[0].measured, None);
    }

    #[test]
    fn unsupported_follows_the_effect() {
        let checks = vec![
            result(
                "a".into(),
                "latency",
                "<= 1".into(),
                Some(0.5),
                CheckStatus::Pass,
                None,
            ),
            unsupported_check(
                "compression.esp_telemetry.reduction_pct".into(),
                "compression",
                ">= 90".into(),
                "apache",
            ),
        ];
        assert_eq!(
            checks[1].note.as_deref(),
            Some("unsupported: needs TimescaleDB community edition (this server: apache)")
        );
        assert_eq!(verdict(&checks, UnsupportedEffect::Skip), Verdict::Pass);
        assert_eq!(verdict(&checks, UnsupportedEffect::Fail), Verdict::Fail);
        let mut failing = checks.clone();
        failing[0].status = CheckStatus::Fail;
        assert_eq!(verdict(&failing, UnsupportedEffect::Skip), Verdict::Fail);
        assert_eq!(verdict(&[], UnsupportedEffect::Fail), Verdict::Pass);
    }

    #[test]
    fn pruning_counts() {
        let scan = ChunkScan {
            scanned: 2,
            total: 30,
            hypertables: vec!["esp_telemetry".into()],
        };
        let r = pruning_check("latest_24h", 2, &scan, None);
        assert_eq!(r.status, CheckStatus::Pass);
        assert_eq!(r.note.as_deref(), Some("2 of 30 chunks (esp_telemetry)"));
        assert_eq!(
            pruning_check("latest_24h", 1, &scan, None).status,
            CheckStatus::Fail
        );
        assert_eq!(
            pruning_check("x", 5, &ChunkScan::default(), None).status,
            CheckStatus::Fail
        );
        // The prepared statement's generic plan scanning everything fails the check.
        let all = PreparedScan::Measured(ChunkScan {
            scanned: 30,
            ..scan.clone()
        });
        let r = pruning_check("latest_24h", 2, &scan, Some(&all));
        assert_eq!((r.status, r.measured), (CheckStatus::Fail, Some(30.0)));
        assert!(r
            .note
            .unwrap()
            .ends_with("prepared statement (generic plan): 30 of 30"));
        let failed = PreparedScan::Failed("could not determine data type of parameter $1".into());
        let r = pruning_check("latest_24h", 2, &scan, Some(&failed));
        assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(2.0)));
        assert!(r
            .note
            .unwrap()
            .contains("not measured: could not determine"));
    }

    #[test]
    fn speedup_uses_medians_and_requires_defeated_pruning() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        let pruned = ChunkScan {
            scanned: 1,
            total: 10,
            hypertables: vec!["t".into()],
        };
        let full = ChunkScan {
            scanned: 10,
            total: 10,
            hypertables: vec!["t".into()],
        };
        let r = speedup_check(
            "q",
            10.0,
            &ms(&[2, 1, 100]),
            &ms(&[30, 20, 25]),
            &pruned,
            &full,
        );
        assert_eq!(r.measured, Some(12.5));
        assert_eq!(r.status, CheckStatus::Pass);
        let r = speedup_check(
            "q",
            20.0,
            &ms(&[2, 1, 100]),
            &ms(&[30, 20, 25]),
            &pruned,
            &full,
        );
        assert_eq!(r.status, CheckStatus::Fail);
        let r = speedup_check(
            "q",
            10.0,
            &ms(&[2, 1, 100]),
            &ms(&[30, 20, 25]),
            &pruned,
            &pruned,
        );
        assert_eq!(r.status, CheckStatus::Fail);
        assert!(r.note.unwrap().contains("could not be fully defeated"));
        assert_eq!(
            speedup_check("q", 1.0, &[], &ms(&[1]), &pruned, &full).status,
            CheckStatus::Fail
        );
        assert_eq!(median_ms(&ms(&[4, 1, 3, 2])), Some(2.5));
    }

    #[test]
    fn chunk_counts_within_alignment_tolerance() {
        let day = 86_400;
        let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2025, 1, d, h, 0, 0).unwrap();
        // 10 days from midnight to midnight: 10 chunks (11 if it straddled a boundary).
        assert_eq!(
            expected_chunks(10 * day, day, Some((at(1, 0), at(10, 23)))),
            (10, 11)
        );
        // 10 days from noon to noon: 11 aligned chunks.
        let data = Some((at(1, 12), at(11, 11)));
        assert_eq!(expected_chunks(10 * day, day, data), (10, 11));
        assert_eq!(
            chunk_count_check("t", 11, 10 * day, day, data).status,
            CheckStatus::Pass
        );
        assert_eq!(
            chunk_count_check("t", 12, 10 * day, day, data).status,
            CheckStatus::Fail
        );
        assert_eq!(
            chunk_count_check("t", 9, 10 * day, day, data).status,
            CheckStatus::Fail
        );
        // Live ingest past the end: one more chunk is allowed.
        assert_eq!(
            expected_chunks(10 * day, day, Some((at(1, 12), at(12, 1)))),
            (10, 12)
        );
        // Sparse data covering 3 days of a 10-day span: 3 chunks are enough.
        assert_eq!(
            expected_chunks(10 * day, day, Some((at(5, 0), at(7, 1)))),
            (3, 11)
        );
        // 7-day chunks over 30 days: 5 or 6.
        assert_eq!(expected_chunks(30 * day, 7 * day, None), (0, 6));
    }

    #[test]
    fn chunk_interval() {
        let r = chunk_interval_check("esp_telemetry", Some(86_400), TELEMETRY.chunk_interval_s);
        assert_eq!(
            (r.status, r.target.as_str()),
            (CheckStatus::Pass, "== 86400")
        );
        assert_eq!(
            chunk_interval_check("d", Some(86_400), DIAGNOSTICS.chunk_interval_s).status,
            CheckStatus::Fail
        );
        assert_eq!(chunk_interval_check("d", None, 1).status, CheckStatus::Fail);
    }

    #[test]
    fn compression_reduction() {
        let b = CompressionBytes {
            chunks: 3,
            before_bytes: 1000,
            after_bytes: 80,
        };
        let r = compression_check("esp_telemetry", 90.0, 7 * 86_400, &b);
        assert_eq!(r.measured, Some(92.0));
        assert_eq!(r.status, CheckStatus::Pass);
        assert!(r.note.unwrap().contains("12.5x"));
        let r = compression_check("esp_telemetry", 95.0, 7 * 86_400, &b);
        assert_eq!(r.status, CheckStatus::Fail);
        let none = CompressionBytes::default();
        let r = compression_check("esp_telemetry", 90.0, 7 * 86_400, &none);
        assert_eq!((r.status, r.measured), (CheckStatus::Fail, None));
    }

    #[test]
    fn policies() {
        let job = |id, proc_name: &str, ht: &str, after: f64| PolicyJob {
            job_id: id,
            proc_name: proc_name.into(),
            hypertable: ht.into(),
            after_s: Some(after),
            config: "{}".into(),
        };
        let jobs = vec![
            job(1000, "policy_retention", "esp_telemetry", 30.0 * 86_400.0),
            job(1002, "policy_compression", "esp_telemetry", 7.0 * 86_400.0),
            job(
                1003,
                "policy_compression",
                "diagnostic_results",
                7.0 * 86_400.0,
            ),
        ];
        let r = policy_check("esp_telemetry", "compression", 7 * 86_400, &jobs);
        assert_eq!(r.status, CheckStatus::Pass);
        assert_eq!(
            r.measured_text.as_deref(),
            Some("compress_after = 7 d (job 1002)")
        );
        assert_eq!(
            policy_check("esp_telemetry", "retention", 30 * 86_400, &jobs).status,
            CheckStatus::Pass
        );
        let r = policy_check("diagnostic_results", "compression", 14 * 86_400, &jobs);
        assert_eq!(r.status, CheckStatus::Fail, "7 d is not 14 d");
        let r = policy_check("diagnostic_results", "retention", 90 * 86_400, &jobs);
        assert_eq!(r.status, CheckStatus::Fail);
        assert!(r.note.unwrap().contains("no policy_retention job"));
    }

    #[test]
    fn retention() {
        let cutoff = Utc.with_ymd_and_hms(2025, 1, 10, 12, 0, 0).unwrap();
        let mut st = RetentionState {
            cutoff,
            chunks_before_cutoff: 0,
            oldest_row: Some(Utc.with_ymd_and_hms(2025, 1, 10, 0, 0, 0).unwrap()),
            chunk_interval_s: 86_400,
            method: "drop_chunks".into(),
            dropped: 3,
        };
        let r = retention_check("esp_telemetry", 30 * 86_400, &st);
        assert_eq!(r.status, CheckStatus::Pass);
        assert_eq!(r.measured, Some(43_200.0));
        st.chunks_before_cutoff = 1;
        assert_eq!(retention_check("t", 1, &st).status, CheckStatus::Fail);
        st.chunks_before_cutoff = 0;
        st.oldest_row = Some(Utc.with_ymd_and_hms(2025, 1, 8, 0, 0, 0).unwrap());
        assert_eq!(retention_check("t", 1, &st).status, CheckStatus::Fail);
        st.oldest_row = None;
        assert_eq!(retention_check("t", 1, &st).status, CheckStatus::Pass);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fmt_num(10.0), "10");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(1.0 / 3.0), "0.333");
        assert_eq!(fmt_secs(7.0 * 86_400.0), "7 d");
        assert_eq!(fmt_secs(7200.0), "2 h");
        assert_eq!(fmt_secs(90.0), "90 s");
    }
}

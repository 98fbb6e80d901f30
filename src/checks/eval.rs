//! Pure evaluation: targets x measurements -> [`CheckResult`]s, and the verdict rule.
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

/// One plan of a query as the checks phase measured it (`EXPLAIN ANALYZE`).
#[derive(Debug, Clone, PartialEq)]
pub enum PlanProbe {
    Measured(PlanChunks),
    /// Could not be measured (e.g. PREPARE could not infer a custom query's parameter types).
    Failed(String),
}

/// Both plans of a query's prepared statement, as the query runner sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlans {
    /// The custom plan (`force_custom_plan`: planned with the parameter values, so the planner
    /// excludes chunks). None for a query without parameters, whose only plan is the generic
    /// one.
    pub custom: Option<PlanProbe>,
    /// The generic plan (`force_generic_plan`: parameters unknown at planning, so chunks can
    /// only be excluded at executor startup or at run time).
    pub generic: PlanProbe,
}

impl QueryPlans {
    /// The plans a client in `mode` can run, with their labels: `auto` may run either.
    pub fn reachable(&self, mode: PlanCacheMode) -> Vec<(&'static str, &PlanProbe)> {
        let mut out = Vec::new();
        if let Some(c) = self.custom.as_ref().filter(|_| mode.allows_custom()) {
            out.push(("custom plan", c));
        }
        if mode.allows_generic() || self.custom.is_none() {
            out.push(("generic plan", &self.generic));
        }
        out
    }

    /// The plans as report fields (custom, generic) and a note on those not measured.
    pub fn report(&self) -> (Option<PlanChunks>, Option<PlanChunks>, Option<String>) {
        let mut notes = Vec::new();
        let mut take = |label: &str, p: Option<&PlanProbe>| match p {
            Some(PlanProbe::Measured(c)) => Some(c.clone()),
            Some(PlanProbe::Failed(why)) => {
                notes.push(format!("{label} not measured: {why}"));
                None
            }
            None => None,
        };
        let custom = take("custom plan", self.custom.as_ref());
        let generic = take("generic plan", Some(&self.generic));
        if self.custom.is_none() {
            notes.push("no parameters: the generic plan is the only plan".to_string());
        }
        (
            custom,
            generic,
            (!notes.is_empty()).then(|| notes.join("; ")),
        )
    }
}

/// "generic plan: 32 of 32 chunks executed (32 planned, 0 excluded at startup, 25 compressed;
/// 123 ms)".
pub fn describe_plan(label: &str, p: &PlanChunks) -> String {
    let mut parts = vec![
        format!("{} planned", p.chunks_planned),
        format!("{} excluded at startup", p.chunks_excluded_startup),
    ];
    if p.chunks_excluded_runtime > 0 {
        parts.push(format!(
            "{} excluded at run time",
            p.chunks_excluded_runtime
        ));
    }
    parts.push(format!("{} compressed", p.chunks_executed_compressed));
    let ms = p
        .execution_ms
        .map(|m| format!("; {} ms", fmt_num(m)))
        .unwrap_or_default();
    format!(
        "{label}: {} of {} chunks executed ({}{ms})",
        p.chunks_executed,
        p.chunks_total,
        parts.join(", ")
    )
}

/// `pruning.<query>.chunks_scanned <= max`: chunks actually *executed* (EXPLAIN ANALYZE), by
/// the plans a client in the query's `mode` can run: under `auto` the plan cache may pick the
/// custom or the generic plan, so measured is the larger of the two; a forced mode counts its
/// plan only. `ran` (the query phase's plan counters) is reported, not judged.
pub fn pruning_check(
    query: &str,
    max: u64,
    mode: PlanCacheMode,
    plans: &QueryPlans,
    ran: Option<&PlanEvidence>,
) -> CheckResult {
    let name = format!("pruning.{query}.chunks_scanned");
    let target = format!("<= {max}");
    let mut notes = Vec::new();
    let mut hypertables: Vec<String> = Vec::new();
    let mut executed: Option<u64> = None;
    for (label, probe) in plans.reachable(mode) {
        match probe {
            PlanProbe::Measured(p) => {
                notes.push(describe_plan(label, p));
                if !p.hypertables.is_empty() {
                    executed = Some(executed.unwrap_or(0).max(p.chunks_executed));
                }
                for h in &p.hypertables {
                    if !hypertables.contains(h) {
                        hypertables.push(h.clone());
                    }
                }
            }
            PlanProbe::Failed(why) => notes.push(format!("{label} not measured: {why}")),
        }
    }
    // The plan the mode rules out is still shown, so a reader sees what the setting avoids.
    if let (Some(PlanProbe::Measured(c)), false) = (&plans.custom, mode.allows_custom()) {
        notes.push(format!(
            "not counted under {}: {}",
            mode.name(),
            describe_plan("custom plan", c)
        ));
    }
    if let (PlanProbe::Measured(g), false, true) = (
        &plans.generic,
        mode.allows_generic(),
        plans.custom.is_some(),
    ) {
        notes.push(format!(
            "not counted under {}: {}",
            mode.name(),
            describe_plan("generic plan", g)
        ));
    }
    if let Some(ran) = ran {
        if let (Some(c), Some(g)) = (ran.custom_plans, ran.generic_plans) {
            notes.push(format!(
                "the query phase ran {c} custom and {g} generic plans (plan_cache_mode {})",
                ran.plan_cache_mode
            ));
        }
    }
    hypertables.sort();
    let note_text = if hypertables.is_empty() {
        notes.join("; ")
    } else {
        format!("{}; {}", hypertables.join(", "), notes.join("; "))
    };
    let Some(executed) = executed else {
        let why = if notes.iter().any(|n| n.contains("not measured")) {
            "no plan could be measured"
        } else {
            "the plan touches no hypertable of the bench schema"
        };
        return result(
            name,
            "pruning",
            target,
            None,
            CheckStatus::Fail,
            Some(format!("{why}; {note_text}")),
        );
    };
    result(
        name,
        "pruning",
        target,
        Some(executed as f64),
        pass_if(executed <= max),
        Some(note_text),
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

/// Rows per compressed batch below which the per-batch fixed costs dominate (a batch holds up
/// to 1000 rows; below a tenth of that, headers and metadata outweigh the compressed values).
pub const FEW_ROWS_PER_SEGMENT: f64 = 100.0;

/// A ratio counts as far below the target when it is less than half the target's ratio.
pub const FAR_BELOW_FACTOR: f64 = 0.5;

/// PostgreSQL's page size: the smallest non-empty relation.
const PAGE_BYTES: u64 = 8192;

fn ratio_of(before: u64, after: u64) -> Option<f64> {
    (before > 0 && after > 0).then(|| before as f64 / after as f64)
}

/// Sum per-chunk compression facts into the table's figures.
pub fn compression_details(
    value_columns: &[&str],
    per_chunk: Vec<ChunkCompression>,
) -> CompressionDetails {
    let rows: u64 = per_chunk.iter().map(|c| c.rows).sum();
    let segments = per_chunk
        .iter()
        .map(|c| c.segments)
        .sum::<Option<u64>>()
        .filter(|_| !per_chunk.is_empty());
    let before = per_chunk
        .iter()
        .fold(ByteSplit::default(), |a, c| a + c.before);
    let after = per_chunk
        .iter()
        .fold(ByteSplit::default(), |a, c| a + c.after);
    let values_before: Option<u64> = per_chunk.iter().map(|c| c.values_before_bytes).sum();
    let values_after: Option<u64> = per_chunk.iter().map(|c| c.values_after_bytes).sum();
    let (values_before, values_after) = if per_chunk.is_empty() {
        (None, None)
    } else {
        (values_before, values_after)
    };
    CompressionDetails {
        chunks: per_chunk.len() as u64,
        rows,
        segments,
        rows_per_segment: segments.filter(|&s| s > 0).map(|s| rows as f64 / s as f64),
        before,
        after,
        ratio: ratio_of(before.total_bytes, after.total_bytes),
        value_columns: value_columns.iter().map(|c| c.to_string()).collect(),
        values_before_bytes: values_before,
        values_after_bytes: values_after,
        values_ratio: values_before
            .zip(values_after)
            .and_then(|(b, a)| ratio_of(b, a)),
        per_chunk,
    }
}

/// The totals the older checks and `storage[]` carry.
pub fn compression_bytes(d: &CompressionDetails) -> CompressionBytes {
    CompressionBytes {
        chunks: d.chunks,
        before_bytes: d.before.total_bytes,
        after_bytes: d.after.total_bytes,
    }
}

fn split_text(b: &ByteSplit) -> String {
    format!(
        "table {}, index {}, toast {}",
        b.table_bytes, b.index_bytes, b.toast_bytes
    )
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!(
            "{}%",
            fmt_num((part as f64 / whole as f64 * 100.0 * 10.0).round() / 10.0)
        )
    }
}

/// Why a ratio is below 1 or far below the target, from the per-chunk facts: every cause the
/// figures show, with its numbers.
pub fn compression_causes(d: &CompressionDetails) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(rps), Some(segs)) = (d.rows_per_segment, d.segments) {
        if rps < FEW_ROWS_PER_SEGMENT && segs > 0 && d.rows > 0 {
            let per_batch = (d.after.table_bytes + d.after.toast_bytes) as f64 / segs as f64;
            let same_rows = d.before.table_bytes as f64 / d.rows as f64 * rps;
            out.push(format!(
                "few rows per segment: {} rows in {} segments, {} rows per segment on average \
                 (a batch holds up to 1000), so each batch's fixed cost (tuple header, \
                 segment-by values, min/max metadata, a header per compressed column) \
                 dominates: {} bytes per compressed batch against {} bytes for the same rows \
                 uncompressed",
                d.rows,
                segs,
                fmt_num(rps),
                fmt_num(per_batch.round()),
                fmt_num(same_rows.round())
            ));
        }
    }
    // Toast holds compressed data once values are large; only a bare toast relation (its
    // index's one page per chunk) is a fixed cost.
    let bare_toast = if d.after.toast_bytes <= PAGE_BYTES * d.chunks {
        d.after.toast_bytes
    } else {
        0
    };
    let fixed = d.after.index_bytes + bare_toast;
    if d.chunks > 0 && d.after.total_bytes > 0 && fixed * 4 >= d.after.total_bytes {
        out.push(format!(
            "per-chunk fixed overhead: the compressed chunks' indexes{} take {} of the {} bytes \
             after compression ({}; {} bytes per chunk over {} chunks), whatever the data",
            if bare_toast > 0 {
                " and empty toast"
            } else {
                ""
            },
            fixed,
            d.after.total_bytes,
            pct(fixed, d.after.total_bytes),
            fmt_num((fixed as f64 / d.chunks as f64).round()),
            d.chunks
        ));
    }
    if d.chunks > 0 && d.rows / d.chunks.max(1) < 10_000 {
        out.push(format!(
            "small chunks: {} rows per chunk on average, so the fixed pages of each relation \
             ({PAGE_BYTES} bytes minimum) weigh on both sides",
            fmt_num((d.rows as f64 / d.chunks as f64).round())
        ));
    }
    if let (Some(v), Some(r)) = (d.values_ratio, d.ratio) {
        if v > r * 1.5 {
            out.push(format!(
                "the value columns alone compress {}x: the rest of the compressed bytes \
                 (identity, timestamps, segment-by values, metadata, indexes) holds the ratio down",
                fmt_num(v)
            ));
        }
    }
    out
}

/// `compression.<table>.reduction_pct >= min` from per-chunk facts, with the split of before and
/// after bytes in the note and, when the ratio is below 1 or below half the target's ratio, the
/// causes the figures show (see [`compression_causes`]).
pub fn compression_details_check(
    table: &str,
    min_pct: f64,
    compress_after_s: u64,
    d: &CompressionDetails,
) -> CheckResult {
    let mut r = compression_check(table, min_pct, compress_after_s, &compression_bytes(d));
    let Some(ratio) = d.ratio else {
        return r;
    };
    let mut note = r.note.take().unwrap_or_default();
    note.push_str(&format!(
        "; before: {}; after: {}",
        split_text(&d.before),
        split_text(&d.after)
    ));
    if d.before.total_bytes > 0 {
        note.push_str(&format!(
            " (indexes {} of the before bytes)",
            pct(d.before.index_bytes, d.before.total_bytes)
        ));
    }
    match (d.segments, d.rows_per_segment) {
        (Some(s), Some(rps)) => note.push_str(&format!(
            "; {} rows in {} segments ({} rows per segment)",
            d.rows,
            s,
            fmt_num(rps)
        )),
        _ => note.push_str(&format!("; {} rows", d.rows)),
    }
    if let (Some(b), Some(a)) = (d.values_before_bytes, d.values_after_bytes) {
        note.push_str(&format!(
            "; value columns alone: {b} -> {a} bytes ({}x)",
            d.values_ratio.map(fmt_num).unwrap_or_else(|| "-".into())
        ));
    }
    let target_ratio = if min_pct < 100.0 {
        1.0 / (1.0 - min_pct / 100.0)
    } else {
        f64::INFINITY
    };
    let why = if ratio < 1.0 {
        Some(format!("compression grew the data ({}x)", fmt_num(ratio)))
    } else if ratio < target_ratio * FAR_BELOW_FACTOR {
        Some(format!(
            "the ratio {}x is far below the target's {}x",
            fmt_num(ratio),
            fmt_num(target_ratio)
        ))
    } else {
        None
    };
    if let Some(why) = why {
        let causes = compression_causes(d);
        if causes.is_empty() {
            note.push_str(&format!("; {why}: no cause found in the per-chunk figures"));
        } else {
            note.push_str(&format!("; {why}. Why: {}", causes.join("; ")));
        }
    }
    r.note = Some(note);
    r
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::verdict;
    use crate::model::report::Percentiles;
    use crate::model::report::Verdict;
    use crate::model::tables::{DIAGNOSTICS, TELEMETRY};
    use crate::scenario::plan::UnsupportedEffect;
    use crate::scenario::plan::{Builtin, LoadMode, QueryKind, StopCondition, Threshold};
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
                .map(|(metric, threshold)| Threshold { metric, threshold })
                .collect(),
            max_chunks_scanned: None,
            min_pruning_speedup: None,
            writes: false,
            plan_cache_mode: Default::default(),
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
            plan: None,
            evidence: None,
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
        assert_eq!(
            verdict(false, false, &checks, UnsupportedEffect::Skip),
            Verdict::Pass
        );
        assert_eq!(
            verdict(false, false, &checks, UnsupportedEffect::Fail),
            Verdict::Fail
        );
        let mut failing = checks.clone();
        failing[0].status = CheckStatus::Fail;
        assert_eq!(
            verdict(false, false, &failing, UnsupportedEffect::Skip),
            Verdict::Fail
        );
        assert_eq!(
            verdict(false, false, &[], UnsupportedEffect::Fail),
            Verdict::Pass
        );
    }

    fn scan(total: u64, planned: u64, startup: u64, executed: u64, compressed: u64) -> PlanChunks {
        PlanChunks {
            chunks_total: total,
            chunks_planned: planned,
            chunks_excluded_startup: startup,
            chunks_excluded_runtime: 0,
            chunks_executed: executed,
            chunks_executed_compressed: compressed,
            hypertables: vec!["esp_telemetry".into()],
            execution_ms: Some(1.5),
            planning_ms: Some(0.2),
        }
    }

    /// last_value on TimescaleDB 2.23.1 community (tests/fixtures/explain): the custom plan
    /// executes 1 of 32 chunks, the generic plan (ConstraintAwareAppend, 0 excluded at
    /// startup) all 32, 25 of them compressed.
    fn last_value_plans() -> QueryPlans {
        QueryPlans {
            custom: Some(PlanProbe::Measured(scan(32, 1, 0, 1, 0))),
            generic: PlanProbe::Measured(scan(32, 32, 0, 32, 25)),
        }
    }

    #[test]
    fn pruning_counts_executed_chunks_of_the_reachable_plans() {
        let ran = PlanEvidence {
            plan_cache_mode: "auto".into(),
            custom_plans: Some(0),
            generic_plans: Some(812),
            ..Default::default()
        };
        // auto: the plan cache may pick the generic plan, so its 32 chunks count.
        let r = pruning_check(
            "last_value",
            2,
            PlanCacheMode::Auto,
            &last_value_plans(),
            Some(&ran),
        );
        assert_eq!((r.status, r.measured), (CheckStatus::Fail, Some(32.0)));
        let note = r.note.unwrap();
        assert!(
            note.contains("custom plan: 1 of 32 chunks executed (1 planned, 0 excluded at startup, 0 compressed; 1.5 ms)"),
            "{note}"
        );
        assert!(
            note.contains("generic plan: 32 of 32 chunks executed (32 planned, 0 excluded at startup, 25 compressed; 1.5 ms)"),
            "{note}"
        );
        assert!(note.contains("ran 0 custom and 812 generic plans (plan_cache_mode auto)"));
        assert!(note.starts_with("esp_telemetry; "), "{note}");

        // force_custom_plan: only the custom plan can run; the generic one is shown, not counted.
        let r = pruning_check(
            "last_value",
            2,
            PlanCacheMode::ForceCustomPlan,
            &last_value_plans(),
            None,
        );
        assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(1.0)));
        assert!(r
            .note
            .unwrap()
            .contains("not counted under force_custom_plan: generic plan: 32 of 32"));
        let r = pruning_check(
            "last_value",
            40,
            PlanCacheMode::ForceGenericPlan,
            &last_value_plans(),
            None,
        );
        assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(32.0)));
    }

    #[test]
    fn planned_but_never_executed_chunks_do_not_count() {
        // An ordered append under LIMIT plans 32 chunks and runs 1.
        let plans = QueryPlans {
            custom: None,
            generic: PlanProbe::Measured(scan(32, 32, 0, 1, 0)),
        };
        let r = pruning_check("latest", 2, PlanCacheMode::ForceCustomPlan, &plans, None);
        // Without parameters the generic plan is the only plan, whatever the mode.
        assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(1.0)));
        assert_eq!(
            plans.report().2.as_deref(),
            Some("no parameters: the generic plan is the only plan")
        );
    }

    #[test]
    fn unmeasured_or_empty_plans() {
        let failed = QueryPlans {
            custom: Some(PlanProbe::Measured(scan(30, 2, 0, 2, 0))),
            generic: PlanProbe::Failed("could not determine data type of parameter $1".into()),
        };
        let r = pruning_check("q", 2, PlanCacheMode::Auto, &failed, None);
        assert_eq!((r.status, r.measured), (CheckStatus::Pass, Some(2.0)));
        assert!(r
            .note
            .unwrap()
            .contains("generic plan not measured: could not determine"));
        let (c, g, note) = failed.report();
        assert!(c.is_some() && g.is_none());
        assert!(note.unwrap().starts_with("generic plan not measured"));

        let none = QueryPlans {
            custom: None,
            generic: PlanProbe::Failed("boom".into()),
        };
        let r = pruning_check("q", 2, PlanCacheMode::Auto, &none, None);
        assert_eq!((r.status, r.measured), (CheckStatus::Fail, None));
        assert!(r.note.unwrap().starts_with("no plan could be measured"));

        let elsewhere = QueryPlans {
            custom: None,
            generic: PlanProbe::Measured(PlanChunks::default()),
        };
        let r = pruning_check("q", 2, PlanCacheMode::Auto, &elsewhere, None);
        assert_eq!(r.status, CheckStatus::Fail);
        assert!(r
            .note
            .unwrap()
            .starts_with("the plan touches no hypertable"));
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

    fn at(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, d, 0, 0, 0).unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn chunk_facts(
        name: &str,
        rows: u64,
        segments: u64,
        before: [u64; 3],
        after: [u64; 3],
        values: (u64, u64),
    ) -> ChunkCompression {
        let split = |b: [u64; 3]| ByteSplit {
            table_bytes: b[0],
            index_bytes: b[1],
            toast_bytes: b[2],
            total_bytes: b[0] + b[1] + b[2],
        };
        ChunkCompression {
            chunk: name.into(),
            range_start: at(1),
            range_end: at(8),
            rows,
            segments: Some(segments),
            rows_per_segment: Some(rows as f64 / segments as f64),
            before: split(before),
            after: split(after),
            values_before_bytes: Some(values.0),
            values_after_bytes: Some(values.1),
        }
    }

    /// diagnostic_results on TimescaleDB 2.23.1 community, default scenario (100 wells, 32 d):
    /// the three chunks older than 14 days, as chunk_columnstore_stats and the compressed
    /// chunks reported them (summary.json of a `bench run` on that server).
    fn diagnostics_facts() -> CompressionDetails {
        compression_details(
            DIAGNOSTICS.value_columns,
            vec![
                chunk_facts(
                    "_hyper_2_33_chunk",
                    317,
                    179,
                    [73728, 106496, 8192],
                    [122880, 32768, 8192],
                    (22870, 51907),
                ),
                chunk_facts(
                    "_hyper_2_34_chunk",
                    257,
                    172,
                    [65536, 65536, 8192],
                    [114688, 32768, 8192],
                    (18538, 46950),
                ),
                chunk_facts(
                    "_hyper_2_38_chunk",
                    40,
                    36,
                    [8192, 49152, 8192],
                    [49152, 16384, 8192],
                    (2901, 8965),
                ),
            ],
        )
    }

    #[test]
    fn compression_details_sum_per_chunk_facts() {
        let d = diagnostics_facts();
        assert_eq!((d.chunks, d.rows, d.segments), (3, 614, Some(387)));
        assert_eq!(d.before.total_bytes, 188416 + 139264 + 65536);
        assert_eq!(d.after.total_bytes, 163840 + 155648 + 73728);
        assert_eq!(d.before.index_bytes, 106496 + 65536 + 49152);
        assert!((d.rows_per_segment.unwrap() - 614.0 / 387.0).abs() < 1e-12);
        assert_eq!(d.values_before_bytes, Some(44309));
        assert_eq!(d.values_ratio, Some(44309.0 / 107822.0));
        assert_eq!(d.value_columns, vec!["condition", "confidence", "message"]);
        let empty = compression_details(&["a"], vec![]);
        assert_eq!((empty.chunks, empty.segments, empty.ratio), (0, None, None));
    }

    #[test]
    fn a_ratio_below_one_says_why_with_numbers() {
        // All three chunks: 393216 -> 393216 bytes, 1x against the 6.667x of 85%.
        let d = diagnostics_facts();
        let r = compression_details_check("diagnostic_results", 85.0, 14 * 86_400, &d);
        assert_eq!((r.status, r.measured), (CheckStatus::Fail, Some(0.0)));
        let note = r.note.unwrap();
        assert!(
            note.contains("before: table 147456, index 221184, toast 24576"),
            "{note}"
        );
        assert!(
            note.contains("after: table 286720, index 81920, toast 24576"),
            "{note}"
        );
        assert!(
            note.contains("(indexes 56.3% of the before bytes)"),
            "{note}"
        );
        assert!(
            note.contains("614 rows in 387 segments (1.587 rows per segment)"),
            "{note}"
        );
        assert!(
            note.contains("the ratio 1x is far below the target's 6.667x. Why: "),
            "{note}"
        );
        // (286720 + 24576) / 387 = 804 bytes per batch; 147456 / 614 x 1.587 = 381 bytes.
        assert!(
            note.contains("804 bytes per compressed batch against 381 bytes"),
            "{note}"
        );
        assert!(
            note.contains("indexes and empty toast take 106496 of the 393216 bytes"),
            "{note}"
        );
        assert!(note.contains("small chunks: 205 rows per chunk"), "{note}");
        assert!(
            note.contains("value columns alone: 44309 -> 107822 bytes (0.411x)"),
            "{note}"
        );

        // The two chunks that grew: 204800 -> 229376 bytes.
        let mut two = d.per_chunk.clone();
        two.remove(0);
        let d = compression_details(DIAGNOSTICS.value_columns, two);
        let r = compression_details_check("diagnostic_results", 85.0, 14 * 86_400, &d);
        let m = r.measured.unwrap();
        assert!(
            (m - (1.0 - 229376.0 / 204800.0) * 100.0).abs() < 1e-9,
            "{m}"
        );
        let note = r.note.unwrap();
        assert!(note.contains("compression grew the data (0.893x). Why: few rows per segment: 297 rows in 208 segments"), "{note}");
    }

    #[test]
    fn a_good_ratio_gets_the_split_but_no_excuse() {
        // One esp_telemetry chunk of the same run: 143,979 rows, 200 segments.
        let d = compression_details(
            TELEMETRY.value_columns,
            vec![chunk_facts(
                "_hyper_1_1_chunk",
                143_979,
                200,
                [19_038_208, 15_826_944, 8192],
                [90112, 32768, 3_923_968],
                (9_398_776, 3_386_032),
            )],
        );
        let r = compression_details_check("esp_telemetry", 85.0, 7 * 86_400, &d);
        assert_eq!(r.status, CheckStatus::Pass);
        let note = r.note.unwrap();
        assert!(
            note.contains("(indexes 45.4% of the before bytes)"),
            "{note}"
        );
        assert!(!note.contains("Why"), "{note}");
        let r = compression_details_check("esp_telemetry", 90.0, 7 * 86_400, &d);
        assert_eq!(r.status, CheckStatus::Fail, "8.6x is 88.4%");
        // 8.6x is not far below the 10x of 90%: no cause is claimed.
        assert!(!r.note.unwrap().contains("Why"));
        // Against 99% (100x) it is far below: the causes are looked for.
        let r = compression_details_check("esp_telemetry", 99.0, 7 * 86_400, &d);
        let note = r.note.unwrap();
        assert!(note.contains("far below the target's 100x"), "{note}");
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

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
mod tests;

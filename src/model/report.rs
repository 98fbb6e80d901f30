//! The report model: what `summary.json` holds. It is the contract between `bench run`
//! (writer), `bench compare` and `bench plan` (readers). Field changes bump `SCHEMA_VERSION`
//! and must keep the pinned test in `tests/` green (docs/report-format.md documents fields).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the summary.json layout. Readers refuse other versions with a clear error.
pub const SCHEMA_VERSION: u32 = 1;

/// Marker so foreign JSON is recognised as such.
pub const FORMAT_NAME: &str = "esp-bench-summary";

mod data;
mod shard;

pub use data::*;
pub use shard::*;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Always "esp-bench-summary".
    pub format: String,
    pub schema_version: u32,
    pub bench_version: String,
    pub scenario: ScenarioEcho,
    pub environment: Environment,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: String,
    /// Stopped by SIGINT/SIGTERM: figures cover what ran until then.
    pub interrupted: bool,
    /// Some queries failed (errors counted per SQLSTATE) but the run finished.
    pub degraded: bool,
    pub load: Vec<LoadResult>,
    /// The data checked against the ledger and the generator before it was measured: after
    /// the load, or before a reuse. Empty in reports written before this existed.
    #[serde(default)]
    pub verification: Vec<Verification>,
    /// How the hypertables were brought to the state the queries measured (`[run] state`).
    #[serde(default)]
    pub preparation: Option<Preparation>,
    /// Some query ran with `writes = true` (outside the read-only query transactions).
    #[serde(default)]
    pub writes: bool,
    pub storage: Vec<TableStorage>,
    pub queries: Vec<QueryStats>,
    pub checks: Vec<CheckResult>,
    /// Present when the run was compared against a baseline (`--baseline`).
    pub comparison: Option<serde_json::Value>,
    pub verdict: Verdict,
    /// Present in the report of one shard of a sharded run (`--shard K/N`): which part of the
    /// fleet and of the load it ran, and what `bench merge` needs to merge it losslessly.
    /// Absent in unsharded and merged reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardReport>,
    /// What the machine and the server did per stats interval of each phase. None when not
    /// captured (older reports, or capture switched off).
    #[serde(default)]
    pub resources: Option<ResourceSeries>,
    /// One line per failed check: why, backed by a number from the plan or the server, and
    /// the suggested next step.
    #[serde(default)]
    pub explanations: Vec<Explanation>,
    /// Measured alternatives requested by `[run] what_if` (e.g. a continuous aggregate).
    #[serde(default)]
    pub what_if: Vec<WhatIf>,
}

/// Resource samples per stats interval (`summary.resources`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceSeries {
    /// Width of one sample, seconds (the scenario's stats interval).
    pub interval_s: f64,
    /// What `server_cpu_pct` covers, e.g. "embedded: postmaster and its children (/proc)", or
    /// why it is absent on an external server.
    pub server_scope: String,
    /// Anything not captured, and why.
    pub notes: Vec<String>,
    pub samples: Vec<ResourceSample>,
}

/// One stats interval of one phase.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceSample {
    /// The phase (e.g. "latest_24h", "mix").
    pub phase: String,
    /// Seconds since the start of the phase's measured stage, at the interval's end (as
    /// `queries[].intervals[].t_s`).
    pub t_s: f64,
    /// Unix milliseconds at the interval's end.
    pub unix_ms: f64,
    /// Server CPU over the interval, percent of one core (None: not measurable).
    pub server_cpu_pct: Option<f64>,
    /// bench's own CPU, percent of one core, and resident memory at the interval's end.
    pub bench_cpu_pct: f64,
    pub bench_rss_bytes: u64,
    /// Deltas over the interval (None: the server does not expose them).
    pub wal_bytes: Option<u64>,
    pub checkpoints: Option<u64>,
    pub buffers_backend: Option<u64>,
    pub buffers_checkpoint: Option<u64>,
    pub buffers_clean: Option<u64>,
    /// Live-ingest rows per second committed in the interval (None without live ingest).
    pub ingest_rows_per_s: Option<f64>,
}

/// Why one failed check failed (`summary.explanations[]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// The check's `name`.
    pub check: String,
    /// One line with the number behind it, e.g. "executes 31 of 33 chunks, 12 480 shared
    /// blocks read (not cached); server mean 118 ms of the client's 121 ms".
    pub reason: String,
    pub next_step: Option<String>,
}

/// A measured alternative for a failing query (`summary.what_if[]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    pub query: String,
    /// e.g. "cagg".
    pub kind: String,
    /// What was built and run, e.g. the continuous aggregate's definition and the query.
    pub sql: String,
    pub baseline_p95_ms: f64,
    pub alternative_p95_ms: f64,
    pub note: String,
}

/// The scenario as run, resolved (defaults filled in), so two reports can be compared
/// config and result side by side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEcho {
    pub name: String,
    /// Path as given on the command line.
    pub file: String,
    /// Hex SHA-256-free fingerprint (FNV-1a 64) of the resolved scenario JSON, used by
    /// `compare` to refuse comparing different configurations.
    pub fingerprint: String,
    /// The resolved scenario (validated plan) as JSON.
    pub resolved: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// e.g. "15.20".
    pub postgres_version: String,
    /// e.g. "2.19.3".
    pub timescaledb_version: String,
    /// "apache" or "community".
    pub edition: String,
    /// "embedded" or "external".
    pub server: String,
    /// Logical CPUs of the machine running bench.
    pub cores: u32,
    /// Physical memory of the machine running bench, bytes.
    pub memory_bytes: u64,
    pub os: String,
    /// Benchmark-relevant server settings (shared_buffers, work_mem, jit, ...).
    pub settings: BTreeMap<String, String>,
    /// Merged reports (`bench merge`): every shard that ran, in shard order. `cores`,
    /// `memory_bytes` and `os` above are the leader's (shard 0). Absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardEnvironment>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadResult {
    /// "esp_telemetry" or "diagnostic_results".
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_sec: f64,
    pub workers: u32,
    pub batch_size: u32,
    /// Batches retried after a transient failure (never duplicated).
    pub retries: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableStorage {
    pub table: String,
    pub rows: u64,
    /// True when `rows` is an exact count(*); false above 50 million rows, where it is
    /// TimescaleDB's approximate_row_count.
    pub rows_exact: bool,
    pub chunks: u64,
    /// Chunk interval in seconds.
    pub chunk_interval_s: u64,
    /// Total bytes (heap + indexes + toast) before compression, measured after the query phase.
    pub total_bytes: u64,
    pub heap_bytes: u64,
    pub index_bytes: u64,
    pub toast_bytes: u64,
    /// Bytes of the chunks the compression policy would compress, before and after compressing
    /// them (None when compression was not measured, e.g. on the Apache edition).
    pub compressed_before_bytes: Option<u64>,
    pub compressed_after_bytes: Option<u64>,
    pub compressed_chunks: Option<u64>,
    /// Per-chunk compression facts behind those figures, with before/after split into table,
    /// index and toast bytes and the ratio of the value columns alone (None when compression
    /// was not measured).
    pub compression: Option<CompressionDetails>,
}

/// Bytes of a relation set split as TimescaleDB's compression statistics report them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ByteSplit {
    pub table_bytes: u64,
    pub index_bytes: u64,
    pub toast_bytes: u64,
    pub total_bytes: u64,
}

impl std::ops::Add for ByteSplit {
    type Output = ByteSplit;

    /// Field-wise sum.
    fn add(self, o: ByteSplit) -> ByteSplit {
        ByteSplit {
            table_bytes: self.table_bytes + o.table_bytes,
            index_bytes: self.index_bytes + o.index_bytes,
            toast_bytes: self.toast_bytes + o.toast_bytes,
            total_bytes: self.total_bytes + o.total_bytes,
        }
    }
}

/// One compressed chunk: what it holds and what compression made of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChunkCompression {
    /// Chunk table name (in TimescaleDB's internal schema).
    pub chunk: String,
    pub range_start: chrono::DateTime<chrono::Utc>,
    pub range_end: chrono::DateTime<chrono::Utc>,
    /// Rows in the chunk (`count(*)`).
    pub rows: u64,
    /// Compressed batches (rows of the compressed chunk's table): one per segment-by value
    /// and up to 1000 rows each. None when the compressed chunk could not be found.
    pub segments: Option<u64>,
    /// rows / segments.
    pub rows_per_segment: Option<f64>,
    /// Before compression, as TimescaleDB measured it when compressing.
    pub before: ByteSplit,
    pub after: ByteSplit,
    /// Bytes of the value columns alone: uncompressed (`count(column)` x the type's width, or
    /// `sum(pg_column_size(column))` for variable-width types) ...
    pub values_before_bytes: Option<u64>,
    /// ... and compressed (`sum(pg_column_size(column))` over the compressed chunk's table).
    pub values_after_bytes: Option<u64>,
}

/// The compressed chunks of one hypertable, summed, with their per-chunk facts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CompressionDetails {
    pub chunks: u64,
    pub rows: u64,
    /// None when a chunk's segments are unknown.
    pub segments: Option<u64>,
    pub rows_per_segment: Option<f64>,
    pub before: ByteSplit,
    pub after: ByteSplit,
    /// before.total_bytes / after.total_bytes.
    pub ratio: Option<f64>,
    /// The value columns of `values_*` (e.g. the nine telemetry channels).
    pub value_columns: Vec<String>,
    pub values_before_bytes: Option<u64>,
    pub values_after_bytes: Option<u64>,
    /// values_before_bytes / values_after_bytes: data compression without index overhead.
    pub values_ratio: Option<f64>,
    pub per_chunk: Vec<ChunkCompression>,
}

/// Latency distribution summary in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryStats {
    pub name: String,
    /// "closed" (N clients back to back) or "fixed_rate".
    pub mode: String,
    pub clients: u32,
    /// Target queries/s in fixed-rate mode.
    pub rate: Option<f64>,
    pub count: u64,
    pub errors: u64,
    /// Error count by SQLSTATE (or "connection", "timeout").
    pub errors_by_sqlstate: BTreeMap<String, u64>,
    pub rows_returned: u64,
    /// Measured phase length (warmup excluded), seconds.
    pub duration_s: f64,
    pub throughput_qps: f64,
    pub latency_ms: Percentiles,
    /// Fixed rate only: how late each query started against its schedule.
    pub schedule_lag_ms: Option<Percentiles>,
    /// The merged HdrHistogram (microseconds), V2+deflate serialised, base64.
    pub histogram: String,
    /// Per-interval samples for the statistical regression gate.
    pub intervals: Vec<IntervalStats>,
    /// Which plan the phase ran (custom or generic) and the chunks each plan scans. None when
    /// not measured (e.g. an interrupted run).
    pub plan: Option<PlanEvidence>,
    /// The plan and server-side evidence behind the numbers. None when not captured.
    #[serde(default)]
    pub evidence: Option<QueryEvidence>,
}

/// The evidence behind one query phase's numbers (`queries[].evidence`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct QueryEvidence {
    /// One representative execution's plan, summarised.
    pub plan: Option<PlanSummary>,
    /// Report-relative files holding the saved plans, e.g. "plans/latest_24h.json",
    /// "plans/latest_24h.txt" (and the generic plan's, when it differs).
    pub plan_files: Vec<String>,
    /// pg_stat_statements deltas over the phase.
    pub server: Option<ServerTime>,
    /// Why `server` is missing (e.g. pg_stat_statements not installed, and how to enable it).
    pub server_note: Option<String>,
    /// The contents of `plan_files` (report-relative path, text), which `report::files`
    /// writes; not part of summary.json (a summary read back has none).
    #[serde(skip)]
    pub documents: Vec<(String, String)>,
}

/// One line of plan facts (`queries[].evidence.plan`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanSummary {
    /// "custom" or "generic".
    pub plan: String,
    /// The top plan node, e.g. "Custom Scan (ChunkAppend)" or "Finalize GroupAggregate".
    pub top_node: String,
    pub rows: u64,
    pub chunks_executed: u64,
    pub shared_hit_blocks: u64,
    pub shared_read_blocks: u64,
    pub workers_launched: u64,
    pub execution_ms: Option<f64>,
    pub planning_ms: Option<f64>,
    /// The same as one line, as the console prints it.
    pub line: String,
}

/// pg_stat_statements deltas for one query over one phase (`queries[].evidence.server`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerTime {
    pub calls: u64,
    pub mean_exec_ms: f64,
    pub stddev_exec_ms: f64,
    pub mean_plan_ms: Option<f64>,
    pub rows: u64,
    pub shared_blks_hit: u64,
    pub shared_blks_read: u64,
    pub shared_blks_written: u64,
    pub temp_blks_read: u64,
    pub temp_blks_written: u64,
    /// Client mean latency minus the server's mean (planning + execution), ms.
    pub client_minus_server_ms: Option<f64>,
}

/// Which plan a query phase ran and what each of its plans scans.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanEvidence {
    /// `plan_cache_mode` set on the phase's connections: "auto", "force_custom_plan" or
    /// "force_generic_plan".
    pub plan_cache_mode: String,
    /// Executions of the measured stage planned with a custom plan, summed over the phase's
    /// connections (`pg_prepared_statements.custom_plans`, PostgreSQL 14+; None when the
    /// server does not report it).
    pub custom_plans: Option<u64>,
    /// The same for the generic (cached) plan.
    pub generic_plans: Option<u64>,
    /// EXPLAIN ANALYZE of the custom plan (None when not measured, e.g. a query without
    /// parameters, whose only plan is the generic one).
    pub custom: Option<PlanChunks>,
    /// EXPLAIN ANALYZE of the generic plan.
    pub generic: Option<PlanChunks>,
    /// Why a plan was not measured.
    pub note: Option<String>,
}

/// The chunks one plan touches, from `EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON)`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanChunks {
    /// All chunks of the hypertables the plan touches.
    pub chunks_total: u64,
    /// Chunks in the plan: scan nodes present plus those removed at executor startup
    /// (chunks_total - chunks_planned were excluded by the planner).
    pub chunks_planned: u64,
    /// "Chunks excluded during startup" of ChunkAppend / ConstraintAwareAppend, summed.
    pub chunks_excluded_startup: u64,
    /// "Chunks excluded during runtime" of ChunkAppend (an average per loop), summed.
    pub chunks_excluded_runtime: u64,
    /// Chunks whose scan node ran at least once ("Actual Loops" > 0).
    pub chunks_executed: u64,
    /// Executed chunks read through a decompression node (ColumnarScan, DecompressChunk).
    pub chunks_executed_compressed: u64,
    /// Hypertables the plan touches, sorted.
    pub hypertables: Vec<String>,
    /// "Execution Time" and "Planning Time" of the EXPLAIN ANALYZE, ms.
    pub execution_ms: Option<f64>,
    pub planning_ms: Option<f64>,
}

impl QueryStats {
    /// errors / (count + errors); 0 when nothing ran.
    pub fn error_rate(&self) -> f64 {
        let all = self.count + self.errors;
        if all == 0 {
            0.0
        } else {
            self.errors as f64 / all as f64
        }
    }

    /// The whole-run value of `metric`: what targets are checked against and the gate compares.
    pub fn metric(&self, metric: crate::model::Metric) -> f64 {
        use crate::model::Metric;
        let l = &self.latency_ms;
        match metric {
            Metric::MeanMs => l.mean,
            Metric::P50Ms => l.p50,
            Metric::P90Ms => l.p90,
            Metric::P95Ms => l.p95,
            Metric::P99Ms => l.p99,
            Metric::P999Ms => l.p999,
            Metric::MaxMs => l.max,
            Metric::ErrorRate => self.error_rate(),
            Metric::ThroughputQps => self.throughput_qps,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IntervalStats {
    /// Seconds since the start of the measured phase, at the interval's end.
    pub t_s: f64,
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The median latency of the host-speed reference (`[run] speed_reference`) in this
    /// interval, on the phase's own connections: a fixed CPU-bound statement run between the
    /// query's executions, so that the interval's values can be divided by how fast the
    /// machine ran at that moment (docs/ci-gate.md, "Speed reference"). None when the phase
    /// ran without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_p50_ms: Option<f64>,
}

impl IntervalStats {
    /// The interval's value of `metric`, for the metrics an interval records (None for the
    /// others).
    pub fn metric(&self, metric: crate::model::Metric) -> Option<f64> {
        use crate::model::Metric;
        match metric {
            Metric::MeanMs => Some(self.mean_ms),
            Metric::P50Ms => Some(self.p50_ms),
            Metric::P95Ms => Some(self.p95_ms),
            Metric::P99Ms => Some(self.p99_ms),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    /// Not measurable here (e.g. compression on the Apache edition); counts as a failure only
    /// when the scenario says `unsupported = "fail"`.
    Unsupported,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckResult {
    /// Stable name, e.g. "latency.latest_24h.p95_ms", "compression.esp_telemetry.reduction_pct".
    pub name: String,
    /// "latency", "pruning", "pruning_speedup", "chunks", "compression", "policies",
    /// "retention", "gate".
    pub kind: String,
    /// Human-readable target, e.g. "<= 10".
    pub target: String,
    pub measured: Option<f64>,
    /// Measured value as text when not a number (e.g. a policy's settings).
    pub measured_text: Option<String>,
    pub status: CheckStatus,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    #[default]
    Pass,
    Fail,
    Interrupted,
}

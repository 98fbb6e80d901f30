//! The sharded-run parts of the report model: one shard's section (`summary.shard`), the
//! lossless parts of its statistics, and the shards of a merged report.

use super::*;

/// One shard's part of a sharded run (`summary.shard`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardReport {
    /// The run every shard joined (the leader's run id).
    pub run_id: String,
    /// K of `--shard K/N`; 0 is the leader.
    pub index: u32,
    /// N of `--shard K/N`.
    pub count: u32,
    /// This shard's wells: fleet well numbers `wells_start..wells_end` (0-based, end excluded).
    pub wells_start: u32,
    pub wells_end: u32,
    /// Host name of the machine (or pod) the shard ran on.
    pub host: String,
    /// Operating-system process id of the shard's bench.
    pub pid: u32,
    /// The server's clock minus this shard's clock when it joined, milliseconds.
    pub clock_offset_ms: f64,
    /// Width of the per-interval samples, seconds.
    pub stats_interval_s: f64,
    /// One entry per entry of `queries`, same order: what a lossless merge needs.
    pub queries: Vec<ShardQueryDetail>,
}

/// The parts of one shard's query statistics that `queries[]` summarises lossily.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardQueryDetail {
    pub name: String,
    /// Start of the measured stage (after warmup), Unix milliseconds on the server's clock.
    pub measured_from_ms: f64,
    /// Fixed rate only: the schedule-lag HdrHistogram (µs), V2+deflate, base64.
    pub lag_histogram: Option<String>,
    /// One latency HdrHistogram (µs, V2+deflate, base64) per entry of the query's
    /// `intervals`, same order.
    pub interval_histograms: Vec<String>,
}

/// One shard of a merged report (`environment.shards[]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ShardEnvironment {
    pub index: u32,
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    pub os: String,
    pub cores: u32,
    pub memory_bytes: u64,
    pub bench_version: String,
    pub wells_start: u32,
    pub wells_end: u32,
    pub clock_offset_ms: f64,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: String,
    /// The shard's own verdict (its queries' errors; checks are the leader's).
    pub verdict: Verdict,
}

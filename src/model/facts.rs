//! Measurements as plain data: what `db::measure` reads from the server and what the pure
//! evaluation functions of `checks` judge. Keeping them here, below both, lets `db` read them
//! without depending on `checks`, and the evaluation be unit-tested on synthetic values
//! without a server.

use chrono::{DateTime, Utc};

/// Measurement facts that summary.json carries as they are (one definition, in the report
/// model): per-chunk compression facts and the chunks a plan scans.
pub use crate::model::report::{ByteSplit, ChunkCompression, CompressionDetails, PlanChunks};

/// One chunk of a hypertable, from `timescaledb_information.chunks`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkInfo {
    pub hypertable: String,
    pub schema: String,
    pub name: String,
    pub range_start: DateTime<Utc>,
    pub range_end: DateTime<Utc>,
    pub is_compressed: bool,
}

/// What an EXPLAIN plan touches: chunk scans against the chunks of the hypertables involved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChunkScan {
    /// Distinct chunks scanned by the plan.
    pub scanned: u64,
    /// All chunks of the hypertables the plan touches.
    pub total: u64,
    /// Hypertables the plan touches (through a chunk or the root table), sorted.
    pub hypertables: Vec<String>,
}

/// A policy job from `timescaledb_information.jobs`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyJob {
    pub job_id: i32,
    /// "policy_compression" or "policy_retention".
    pub proc_name: String,
    pub hypertable: String,
    /// `compress_after` or `drop_after` in seconds, when the config holds an interval.
    pub after_s: Option<f64>,
    /// The job's config as JSON text, for the report when it does not parse.
    pub config: String,
}

/// Bytes of a set of chunks before and after compression.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CompressionBytes {
    pub chunks: u64,
    pub before_bytes: u64,
    pub after_bytes: u64,
}

/// The state of a hypertable after retention ran.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionState {
    /// Data end minus the retention window.
    pub cutoff: DateTime<Utc>,
    /// Chunks whose whole range ends at or before the cutoff (must be 0).
    pub chunks_before_cutoff: u64,
    /// Oldest remaining row, None when the table is empty.
    pub oldest_row: Option<DateTime<Utc>>,
    /// Chunk interval, seconds: rows in the chunk holding the cutoff may be up to this old.
    pub chunk_interval_s: u64,
    /// How retention ran, e.g. "drop_chunks(older_than => ...)" or "run_job(1001)".
    pub method: String,
    /// Chunks dropped by this run.
    pub dropped: u64,
}

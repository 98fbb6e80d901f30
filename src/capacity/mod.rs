//! Capacity planning: project storage, chunk sizing, ingest headroom and query latency for
//! fleet sizes from one measured `bench run` summary (`bench plan`), and turn `bench sweep`
//! measurements into fitted growth exponents.
//!
//! Pure, unit-tested parts: `project` (projection formulas), `fit` (log-log least squares),
//! `sweep` (sweep rows and fits), `table` (console tables), `units` (duration and size
//! parsers). Files: `io` (summary in, CSV in and out), `plots` (SVG charts), `report` (the
//! files of a sweep folder). `build_plan` strings them together for `bench plan`.

pub mod fit;
pub mod io;
pub mod plots;
pub mod project;
pub mod report;
pub mod sweep;
pub mod table;
pub mod units;

use std::path::PathBuf;
use std::time::Duration;

use crate::error::BenchError;

pub use fit::{fit_power_law, PowerFit};
pub use project::{
    project_fleet, Assumptions, IndexModel, LatencyModel, Measured, PlanRow, Projection,
    QueryProjection, RowSplit, CHUNK_INTERVAL_LADDER, CHUNK_MEMORY_FRACTION,
};
pub use sweep::{fit_rows, sweep_rows, FitRow, SweepRow};

/// A validated `bench plan` request.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    /// summary.json of the measured run.
    pub from: PathBuf,
    /// Fleet sizes to project, in the order given (each > 0).
    pub wells: Vec<u32>,
    pub interval: Duration,
    pub retention: Duration,
    pub compress_after: Duration,
    /// Server memory; None = the bench host's memory recorded in the summary.
    pub memory_bytes: Option<u64>,
    /// Chunk interval; None = the measured run's.
    pub chunk_interval: Option<Duration>,
    /// sweep.csv whose fitted exponents project latency.
    pub sweep: Option<PathBuf>,
    /// The projected fleet's indexes.
    pub indexes: IndexModel,
}

/// Production chunk interval of esp_telemetry, used when neither the summary nor the command
/// line gives one.
const PRODUCTION_CHUNK_INTERVAL_S: u64 = 86_400;

/// Read the summary (and sweep), and project every requested fleet size.
pub fn build_plan(req: &PlanRequest) -> anyhow::Result<Vec<Projection>> {
    let summary = io::read_summary(&req.from)?;
    let measured = Measured::from_summary(&summary)
        .map_err(|msg| BenchError::Config(format!("summary {}: {msg}", req.from.display())))?;
    let latency = match &req.sweep {
        Some(path) => Some(sweep::latency_model(&io::read_sweep_csv(path)?)),
        None => None,
    };
    let (memory_bytes, memory_source) = match req.memory_bytes {
        Some(m) => (m, "--memory".to_string()),
        None if measured.host_memory_bytes > 0 => (
            measured.host_memory_bytes,
            "bench host (summary environment.memory_bytes)".to_string(),
        ),
        None => {
            return Err(BenchError::Config(format!(
                "summary {} does not record the machine's memory; pass --memory (e.g. 64GiB)",
                req.from.display()
            ))
            .into())
        }
    };
    let (chunk_interval_s, chunk_interval_source) = match req.chunk_interval {
        Some(d) => (d.as_secs().max(1), "--chunk-interval".to_string()),
        None if measured.chunk_interval_s > 0 => (
            measured.chunk_interval_s,
            "measured run (summary storage.chunk_interval_s)".to_string(),
        ),
        None => (
            PRODUCTION_CHUNK_INTERVAL_S,
            "production default (1d)".to_string(),
        ),
    };
    let assumptions = Assumptions {
        interval: req.interval,
        retention: req.retention,
        compress_after: req.compress_after,
        memory_bytes,
        memory_source,
        chunk_interval_s,
        chunk_interval_source,
        chunk_memory_fraction: CHUNK_MEMORY_FRACTION,
        indexes: req.indexes,
    };
    Ok(req
        .wells
        .iter()
        .map(|&w| project_fleet(&measured, &assumptions, w, latency.as_ref()))
        .collect())
}

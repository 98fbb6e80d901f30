//! The projection formulas of `bench plan`, pure functions of measured figures (`Measured`,
//! taken from one summary.json) and explicit assumptions (`Assumptions`, from the command
//! line). One `PlanRow` per fleet size; every field is a documented CSV column
//! (docs/capacity-planning.md).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::units::duration_label;
use crate::model::report::Summary;

// The table every projection is about: the telemetry hypertable dominates rows and bytes.
use crate::model::tables::TELEMETRY_TABLE;

/// TimescaleDB's guidance: the newest chunk of a hypertable, indexes included, should fit in
/// about 25% of the server's memory.
pub const CHUNK_MEMORY_FRACTION: f64 = 0.25;

/// Chunk intervals considered for the recommendation, in seconds: 1h 2h 4h 6h 12h 1d 2d 7d.
pub const CHUNK_INTERVAL_LADDER: [u64; 8] = [
    3_600,
    2 * 3_600,
    4 * 3_600,
    6 * 3_600,
    12 * 3_600,
    86_400,
    2 * 86_400,
    7 * 86_400,
];

const SECS_PER_DAY: f64 = 86_400.0;

/// Bytes per row of the telemetry table split by what holds them, so a fleet with another
/// index set can be projected: uncompressed heap (+ toast) and indexes, the compressed side's
/// data and own indexes, and the channel (value column) bytes alone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowSplit {
    /// Uncompressed table + toast bytes per row.
    pub heap_bytes_per_row: f64,
    /// Index bytes per row of the measured schema (primary key and indexes).
    pub index_bytes_per_row: f64,
    /// After compression: table + toast bytes per row (the compressed batches).
    pub compressed_data_bytes_per_row: Option<f64>,
    /// After compression: the compressed chunks' own index bytes per row (TimescaleDB's
    /// segment-by index, whatever indexes the hypertable has).
    pub compressed_index_bytes_per_row: Option<f64>,
    /// The value columns alone, uncompressed and compressed, bytes per row.
    pub channel_bytes_per_row: Option<f64>,
    pub channel_bytes_per_row_compressed: Option<f64>,
    /// Where the split comes from.
    pub source: String,
}

impl RowSplit {
    /// From the compressed chunks' before/after split when the summary has it (the cleanest
    /// measurement: TimescaleDB sized each chunk uncompressed right before compressing it),
    /// else from the table's storage figures (uncompressed side only).
    pub fn from_storage(st: &crate::model::report::TableStorage) -> RowSplit {
        if let Some(c) = st.compression.as_ref().filter(|c| c.rows > 0) {
            let per = |b: u64| b as f64 / c.rows as f64;
            return RowSplit {
                heap_bytes_per_row: per(c.before.table_bytes + c.before.toast_bytes),
                index_bytes_per_row: per(c.before.index_bytes),
                compressed_data_bytes_per_row: Some(per(c.after.table_bytes + c.after.toast_bytes)),
                compressed_index_bytes_per_row: Some(per(c.after.index_bytes)),
                channel_bytes_per_row: c.values_before_bytes.map(per),
                channel_bytes_per_row_compressed: c.values_after_bytes.map(per),
                source: format!(
                    "{} compressed chunks, {} rows (storage.compression)",
                    c.chunks, c.rows
                ),
            };
        }
        let per = |b: u64| b as f64 / st.rows.max(1) as f64;
        RowSplit {
            heap_bytes_per_row: per(st.heap_bytes + st.toast_bytes),
            index_bytes_per_row: per(st.index_bytes),
            source: "table storage (storage.heap_bytes, index_bytes, toast_bytes); no \
                     compressed split measured"
                .to_string(),
            ..Default::default()
        }
    }

    /// Compressed bytes per row (data + the compressed chunks' own indexes), when measured.
    pub fn compressed_bytes_per_row(&self) -> Option<f64> {
        Some(self.compressed_data_bytes_per_row? + self.compressed_index_bytes_per_row?)
    }
}

/// Which indexes the projected fleet has (`bench plan --indexes`, `--index-bytes-per-row`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum IndexModel {
    /// The measured schema's indexes: bytes per row and compression ratio as measured.
    #[default]
    Measured,
    /// No index on the hypertable: heap bytes only; compressed chunks keep TimescaleDB's own.
    None,
    /// This many index bytes per uncompressed row instead of the measured ones.
    BytesPerRow(f64),
}

impl IndexModel {
    /// The CSV's `index_model` text.
    pub fn label(self) -> String {
        match self {
            IndexModel::Measured => "measured (the run's schema)".to_string(),
            IndexModel::None => "none (--indexes none)".to_string(),
            IndexModel::BytesPerRow(b) => format!("--index-bytes-per-row {b}"),
        }
    }
}

/// What one `bench run` measured, reduced to the figures a projection scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Telemetry rows in the table when storage was measured.
    pub rows: u64,
    /// total_bytes / rows of the telemetry table (heap + indexes + toast).
    pub bytes_per_row: f64,
    /// compressed_before_bytes / compressed_after_bytes, when chunks were compressed.
    pub compression_ratio: Option<f64>,
    /// Where the ratio came from, or why it is missing.
    pub compression_note: String,
    /// Telemetry load rate (rows / seconds over the load results), when a load ran.
    pub ingest_rows_per_sec: Option<f64>,
    /// The telemetry chunk interval of the measured run, seconds.
    pub chunk_interval_s: u64,
    /// Physical memory of the machine that ran bench (0 = unknown).
    pub host_memory_bytes: u64,
    /// (query name, p95 ms) of every query with at least one successful sample.
    pub queries: Vec<(String, f64)>,
    /// Bytes per row by what holds them.
    pub split: RowSplit,
}

impl Measured {
    /// Extract the measured figures from a summary. Errors (as text) when the summary holds
    /// no usable telemetry storage figures.
    pub fn from_summary(s: &Summary) -> Result<Measured, String> {
        let st = s
            .storage
            .iter()
            .find(|t| t.table == TELEMETRY_TABLE)
            .ok_or_else(|| {
                format!(
                    "the summary has no storage figures for {TELEMETRY_TABLE}, so there is \
                     nothing to project from"
                )
            })?;
        if st.rows == 0 {
            return Err(format!(
                "the summary's {TELEMETRY_TABLE} storage figures count 0 rows, so bytes per row \
                 is unknown"
            ));
        }
        let (compression_ratio, compression_note) =
            match (st.compressed_before_bytes, st.compressed_after_bytes) {
                (Some(before), Some(after)) if before > 0 && after > 0 => (
                    Some(before as f64 / after as f64),
                    match st.compressed_chunks {
                        Some(n) => format!("measured on {n} compressed chunks"),
                        None => "measured".to_string(),
                    },
                ),
                _ if s.environment.edition.eq_ignore_ascii_case("apache") => {
                    (None, "not measured (apache edition)".to_string())
                }
                _ => (
                    None,
                    "not measured (no chunk was compressed in the run)".to_string(),
                ),
            };
        let loads: Vec<_> = s
            .load
            .iter()
            .filter(|l| l.table == TELEMETRY_TABLE)
            .collect();
        let rows: u64 = loads.iter().map(|l| l.rows).sum();
        let secs: f64 = loads.iter().map(|l| l.seconds).sum();
        let ingest_rows_per_sec = if rows > 0 && secs > 0.0 {
            Some(rows as f64 / secs)
        } else {
            loads
                .iter()
                .map(|l| l.rows_per_sec)
                .find(|r| r.is_finite() && *r > 0.0)
        };
        Ok(Measured {
            rows: st.rows,
            bytes_per_row: st.total_bytes as f64 / st.rows as f64,
            compression_ratio,
            compression_note,
            ingest_rows_per_sec,
            chunk_interval_s: st.chunk_interval_s,
            host_memory_bytes: s.environment.memory_bytes,
            split: RowSplit::from_storage(st),
            queries: s
                .queries
                .iter()
                .filter(|q| q.count > 0)
                .map(|q| (q.name.clone(), q.latency_ms.p95))
                .collect(),
        })
    }
}

/// The planner's assumptions: what the user asked about, and where defaults came from. Each
/// is echoed as a CSV column.
#[derive(Debug, Clone, PartialEq)]
pub struct Assumptions {
    /// Sample interval of every well.
    pub interval: Duration,
    /// Retention window (rows older than this are dropped).
    pub retention: Duration,
    /// Age after which chunks are compressed.
    pub compress_after: Duration,
    /// Server memory the chunk recommendation is sized against.
    pub memory_bytes: u64,
    /// "--memory" or "bench host (summary)".
    pub memory_source: String,
    /// Chunk interval for `chunk_bytes`, seconds.
    pub chunk_interval_s: u64,
    /// "--chunk-interval" or "measured run (summary)".
    pub chunk_interval_source: String,
    /// Share of memory the newest chunk may take (TimescaleDB guidance: 0.25).
    pub chunk_memory_fraction: f64,
    /// The projected fleet's indexes.
    pub indexes: IndexModel,
}

/// One CSV row of `bench plan`: one fleet size. Column order is field order; the per-query
/// latency columns follow these (see `Projection`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PlanRow {
    pub wells: u32,
    #[serde(serialize_with = "num")]
    pub interval_s: f64,
    #[serde(serialize_with = "num")]
    pub rows_per_day: f64,
    #[serde(serialize_with = "num")]
    pub retention_days: f64,
    #[serde(serialize_with = "num")]
    pub rows_retained: f64,
    #[serde(serialize_with = "num")]
    pub bytes_per_row_measured: f64,
    #[serde(serialize_with = "opt_num")]
    pub compression_ratio_measured: Option<f64>,
    pub compression_note: String,
    /// The projected fleet's indexes (`--indexes`, `--index-bytes-per-row`).
    pub index_model: String,
    /// Uncompressed table + toast bytes per row (no index).
    #[serde(serialize_with = "num")]
    pub heap_bytes_per_row: f64,
    /// Index bytes per row as measured.
    #[serde(serialize_with = "num")]
    pub index_bytes_per_row_measured: f64,
    /// Index bytes per row of the projected fleet.
    #[serde(serialize_with = "num")]
    pub index_bytes_per_row: f64,
    /// The value (channel) columns alone, bytes per row, uncompressed and compressed.
    #[serde(serialize_with = "opt_num")]
    pub channel_bytes_per_row: Option<f64>,
    #[serde(serialize_with = "opt_num")]
    pub channel_bytes_per_row_compressed: Option<f64>,
    #[serde(serialize_with = "opt_num")]
    pub channel_compression_ratio: Option<f64>,
    /// After compression: batches (table + toast) and the compressed chunks' own indexes.
    #[serde(serialize_with = "opt_num")]
    pub compressed_data_bytes_per_row: Option<f64>,
    #[serde(serialize_with = "opt_num")]
    pub compressed_index_bytes_per_row: Option<f64>,
    /// Where the split comes from.
    pub split_source: String,
    /// Uncompressed bytes per row the projection uses: measured, or heap + the assumed index
    /// bytes.
    #[serde(serialize_with = "num")]
    pub bytes_per_row_projected: f64,
    /// Compression ratio the projection uses: measured, or bytes_per_row_projected / compressed
    /// bytes per row.
    #[serde(serialize_with = "opt_num")]
    pub compression_ratio_projected: Option<f64>,
    #[serde(serialize_with = "opt_num")]
    pub bytes_per_row_compressed: Option<f64>,
    #[serde(serialize_with = "num")]
    pub compress_after_days: f64,
    pub raw_storage_bytes: u64,
    pub compressed_storage_bytes: Option<u64>,
    pub chunk_interval_s: u64,
    pub chunk_interval_source: String,
    pub chunk_bytes: u64,
    pub memory_bytes: u64,
    pub memory_source: String,
    #[serde(serialize_with = "num")]
    pub chunk_memory_fraction: f64,
    pub chunk_fits_memory: bool,
    pub recommended_chunk_interval: String,
    pub recommended_chunk_interval_s: Option<u64>,
    pub recommended_chunk_bytes: Option<u64>,
    #[serde(serialize_with = "num")]
    pub ingest_rows_per_sec_required: f64,
    #[serde(serialize_with = "opt_num")]
    pub ingest_rows_per_sec_measured: Option<f64>,
    #[serde(serialize_with = "opt_num")]
    pub ingest_headroom: Option<f64>,
    pub rows_measured: u64,
    /// Largest telemetry row count the sweep measured (None without a sweep).
    pub sweep_rows_max: Option<u64>,
    /// rows_retained / sweep_rows_max: above 1 the latency projection extrapolates beyond
    /// what was measured.
    #[serde(serialize_with = "opt_num")]
    pub extrapolation_factor: Option<f64>,
    pub latency_model: String,
}

/// What a sweep contributes to a plan: each query's fitted p95 growth exponent and the range
/// of rows it was fitted on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatencyModel {
    /// Query name -> k in p95 ~ rows^k.
    pub exponents: BTreeMap<String, f64>,
    /// Largest telemetry row count measured by the sweep.
    pub rows_max: u64,
}

/// Latency projection of one query at one fleet size.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryProjection {
    pub name: String,
    /// p95 measured in the summary, ms.
    pub p95_ms_measured: f64,
    /// Growth exponent k fitted by `bench sweep` (None without a sweep or without this query).
    pub exponent: Option<f64>,
    /// p95_ms_measured × (rows_retained / rows_measured)^k.
    pub p95_ms_projected: Option<f64>,
}

/// A plan row with its per-query latency projections.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub row: PlanRow,
    pub queries: Vec<QueryProjection>,
}

/// Rows written by `wells` wells sampling every `interval` over `span`, computed exactly in
/// integer nanoseconds when the division is exact (so rows/day is wells × 86400 / interval).
pub fn rows_in(wells: u32, span: Duration, interval: Duration) -> f64 {
    let num = u128::from(wells) * span.as_nanos();
    let den = interval.as_nanos().max(1);
    if num.is_multiple_of(den) {
        (num / den) as f64
    } else {
        num as f64 / den as f64
    }
}

/// Rows per day: wells × 86400 / interval.
pub fn rows_per_day(wells: u32, interval: Duration) -> f64 {
    rows_in(wells, Duration::from_secs(86_400), interval)
}

/// Storage over the retention window when chunks older than `compress_after` are compressed at
/// `ratio`: the newest `compress_after` of rows at `bytes_per_row`, the rest at
/// `bytes_per_row / ratio`.
pub fn compressed_storage_bytes(
    wells: u32,
    interval: Duration,
    retention: Duration,
    compress_after: Duration,
    bytes_per_row: f64,
    ratio: f64,
) -> f64 {
    let hot = compress_after.min(retention);
    let cold = retention - hot;
    rows_in(wells, hot, interval) * bytes_per_row
        + rows_in(wells, cold, interval) * bytes_per_row / ratio
}

/// Bytes of one chunk, indexes included, covering `chunk_s` seconds of the fleet's rows.
pub fn chunk_bytes(wells: u32, interval: Duration, chunk_s: u64, bytes_per_row: f64) -> f64 {
    rows_in(wells, Duration::from_secs(chunk_s), interval) * bytes_per_row
}

/// The largest interval of `CHUNK_INTERVAL_LADDER` whose chunk fits in `fraction` of
/// `memory_bytes`; None when even the smallest does not.
pub fn recommend_chunk_interval(
    wells: u32,
    interval: Duration,
    bytes_per_row: f64,
    memory_bytes: u64,
    fraction: f64,
) -> Option<u64> {
    let budget = memory_bytes as f64 * fraction;
    CHUNK_INTERVAL_LADDER
        .iter()
        .rev()
        .copied()
        .find(|&s| chunk_bytes(wells, interval, s, bytes_per_row) <= budget)
}

/// p95(rows) = p95_measured × (rows / rows_measured)^k.
pub fn project_p95(p95_measured: f64, rows_measured: f64, rows: f64, k: f64) -> f64 {
    p95_measured * (rows / rows_measured).powf(k)
}

/// Project one fleet size. `latency` holds what the sweep measured, or is None when no sweep
/// was given.
pub fn project_fleet(
    m: &Measured,
    a: &Assumptions,
    wells: u32,
    latency: Option<&LatencyModel>,
) -> Projection {
    let interval_s = a.interval.as_secs_f64();
    let rows_retained = rows_in(wells, a.retention, a.interval);
    let required = f64::from(wells) / interval_s;
    let sp = &m.split;
    let (index_bpr, bpr, ratio) = match a.indexes {
        IndexModel::Measured => (sp.index_bytes_per_row, m.bytes_per_row, m.compression_ratio),
        IndexModel::None | IndexModel::BytesPerRow(_) => {
            let idx = match a.indexes {
                IndexModel::BytesPerRow(b) => b,
                _ => 0.0,
            };
            let bpr = sp.heap_bytes_per_row + idx;
            let ratio = sp
                .compressed_bytes_per_row()
                .filter(|&c| c > 0.0)
                .map(|c| bpr / c);
            (idx, bpr, ratio)
        }
    };
    let chunk = chunk_bytes(wells, a.interval, a.chunk_interval_s, bpr);
    let budget = a.memory_bytes as f64 * a.chunk_memory_fraction;
    let rec = recommend_chunk_interval(
        wells,
        a.interval,
        bpr,
        a.memory_bytes,
        a.chunk_memory_fraction,
    );
    let pct = a.chunk_memory_fraction * 100.0;
    let row = PlanRow {
        wells,
        interval_s,
        rows_per_day: rows_per_day(wells, a.interval),
        retention_days: a.retention.as_secs_f64() / SECS_PER_DAY,
        rows_retained,
        bytes_per_row_measured: m.bytes_per_row,
        compression_ratio_measured: m.compression_ratio,
        compression_note: m.compression_note.clone(),
        index_model: a.indexes.label(),
        heap_bytes_per_row: sp.heap_bytes_per_row,
        index_bytes_per_row_measured: sp.index_bytes_per_row,
        index_bytes_per_row: index_bpr,
        channel_bytes_per_row: sp.channel_bytes_per_row,
        channel_bytes_per_row_compressed: sp.channel_bytes_per_row_compressed,
        channel_compression_ratio: sp
            .channel_bytes_per_row
            .zip(sp.channel_bytes_per_row_compressed)
            .filter(|(_, c)| *c > 0.0)
            .map(|(u, c)| u / c),
        compressed_data_bytes_per_row: sp.compressed_data_bytes_per_row,
        compressed_index_bytes_per_row: sp.compressed_index_bytes_per_row,
        split_source: sp.source.clone(),
        bytes_per_row_projected: bpr,
        compression_ratio_projected: ratio,
        bytes_per_row_compressed: ratio.map(|r| bpr / r),
        compress_after_days: a.compress_after.as_secs_f64() / SECS_PER_DAY,
        raw_storage_bytes: (rows_retained * bpr).round() as u64,
        compressed_storage_bytes: ratio.map(|r| {
            compressed_storage_bytes(wells, a.interval, a.retention, a.compress_after, bpr, r)
                .round() as u64
        }),
        chunk_interval_s: a.chunk_interval_s,
        chunk_interval_source: a.chunk_interval_source.clone(),
        chunk_bytes: chunk.round() as u64,
        memory_bytes: a.memory_bytes,
        memory_source: a.memory_source.clone(),
        chunk_memory_fraction: a.chunk_memory_fraction,
        chunk_fits_memory: chunk <= budget,
        recommended_chunk_interval: match rec {
            Some(s) => duration_label(s),
            None => format!("none (a 1h chunk exceeds {pct}% of memory)"),
        },
        recommended_chunk_interval_s: rec,
        recommended_chunk_bytes: rec.map(|s| chunk_bytes(wells, a.interval, s, bpr).round() as u64),
        ingest_rows_per_sec_required: required,
        ingest_rows_per_sec_measured: m.ingest_rows_per_sec,
        ingest_headroom: m.ingest_rows_per_sec.map(|r| r / required),
        rows_measured: m.rows,
        sweep_rows_max: latency.map(|l| l.rows_max),
        extrapolation_factor: latency
            .filter(|l| l.rows_max > 0)
            .map(|l| rows_retained / l.rows_max as f64),
        latency_model: match latency {
            Some(_) => {
                "p95 = p95_measured x (rows_retained / rows_measured)^k, k fitted by bench sweep"
                    .to_string()
            }
            None => "not projected (no --sweep given)".to_string(),
        },
    };
    let queries = m
        .queries
        .iter()
        .map(|(name, p95)| {
            let exponent = latency.and_then(|l| l.exponents.get(name).copied());
            QueryProjection {
                name: name.clone(),
                p95_ms_measured: *p95,
                exponent,
                p95_ms_projected: exponent
                    .map(|k| project_p95(*p95, m.rows as f64, rows_retained, k)),
            }
        })
        .collect();
    Projection { row, queries }
}

/// Numbers as Rust prints them: integers without a trailing ".0", shortest exact otherwise.
fn num<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn opt_num<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests;

//! Realism estimator: how a data source moves and compresses, channel by channel, at several
//! sampling intervals. It models TimescaleDB's float (Gorilla) and integer (delta-delta)
//! compression on the bare table shape (segment by well, order by time descending, batches of
//! 1000 rows that never cross a chunk), and measures the texture that drives it: step sizes in
//! quantisation units, exact repeats, lag-1 autocorrelation of differences, NULL share.
//!
//! Sources are the generator (`datagen::Fleet`) and real data read from CSV ([`input`]).
//! Coarser intervals are decimations of the source (every k-th sample of each series), as a
//! historian sampled less often would see it. Pure: no I/O apart from reading the CSV.

pub mod codec;
pub mod input;
pub mod reference;
pub mod stats;
#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::datagen::{Fleet, CHANNELS, CHANNEL_NAMES, CHANNEL_RESOLUTION};
pub use input::RealData;
use stats::{ChannelAcc, ChannelStats, TimeAcc};

/// The sampling intervals reported by default, seconds: 1 s, production's 10 s, and the
/// default scenario's 60 s.
pub const LEVELS_S: [u64; 3] = [1, 10, 60];

/// Real instances are re-based to start together at this instant (2026-01-01T00:00:00Z,
/// an hour and a day boundary), the way they were loaded for the measured figures.
pub const REAL_ALIGN_START_US: i64 = 1_767_225_600_000_000;

/// What to estimate: the sampling intervals and the chunk interval that cuts batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub levels_s: Vec<u64>,
    pub chunk_us: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            levels_s: LEVELS_S.to_vec(),
            chunk_us: 86_400_000_000,
        }
    }
}

/// Figures for one source at one sampling interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelReport {
    pub interval_s: u64,
    /// Every k-th sample of the source.
    pub decimation: u64,
    pub rows: u64,
    /// Modelled bytes per row of the time column (delta-delta).
    pub time_bytes_per_row: Option<f64>,
    /// Modelled bytes per non-null value over all channels.
    pub bytes_per_value: Option<f64>,
    pub null_share: Option<f64>,
    pub channels: Vec<ChannelStats>,
}

impl LevelReport {
    pub fn channel(&self, name: &str) -> Option<&ChannelStats> {
        self.channels.iter().find(|c| c.channel == name)
    }
}

/// Figures for one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    /// "generated" or "real".
    pub kind: String,
    /// What was estimated: a scenario, a fleet shape, or a path.
    pub source: String,
    /// Series (wells or instances).
    pub series: u64,
    pub rows: u64,
    pub base_interval_s: u64,
    pub chunk_interval_s: u64,
    pub levels: Vec<LevelReport>,
}

impl SourceReport {
    pub fn level(&self, interval_s: u64) -> Option<&LevelReport> {
        self.levels.iter().find(|l| l.interval_s == interval_s)
    }
}

struct Level {
    interval_s: u64,
    factor: u64,
    accs: Vec<ChannelAcc>,
    time: TimeAcc,
}

/// Streaming estimator over series of rows (one series per well or instance).
pub struct Estimator {
    channels: Vec<String>,
    levels: Vec<Level>,
    chunk_us: i64,
    base_interval_s: u64,
    series: u64,
    rows: u64,
}

impl Estimator {
    /// Levels that are not whole multiples of `base_interval_s` are left out.
    pub fn new(channels: Vec<String>, base_interval_s: u64, opts: &Options) -> Estimator {
        let base = base_interval_s.max(1);
        let mut levels_s = opts.levels_s.clone();
        levels_s.sort_unstable();
        levels_s.dedup();
        let levels = levels_s
            .into_iter()
            .filter(|l| *l >= base && l % base == 0)
            .map(|l| Level {
                interval_s: l,
                factor: l / base,
                accs: (0..channels.len())
                    .map(|_| ChannelAcc::new(opts.chunk_us))
                    .collect(),
                time: TimeAcc::new(opts.chunk_us),
            })
            .collect();
        Estimator {
            channels,
            levels,
            chunk_us: opts.chunk_us,
            base_interval_s: base,
            series: 0,
            rows: 0,
        }
    }

    /// One row of the current series: its sample index (for decimation), time, values and
    /// the quantisation unit of each value.
    #[inline]
    pub fn push(&mut self, sample: u64, ts_us: i64, values: &[Option<f64>], units: &[f64]) {
        self.rows += 1;
        for l in &mut self.levels {
            if !sample.is_multiple_of(l.factor) {
                continue;
            }
            l.time.push(ts_us);
            for (c, acc) in l.accs.iter_mut().enumerate() {
                acc.push(ts_us, values[c], units[c]);
            }
        }
    }

    pub fn end_series(&mut self) {
        self.series += 1;
        for l in &mut self.levels {
            l.time.end_series();
            for acc in &mut l.accs {
                acc.end_series();
            }
        }
    }

    pub fn finish(self, kind: &str, source: &str) -> SourceReport {
        let levels = self
            .levels
            .iter()
            .map(|l| {
                let channels: Vec<ChannelStats> = l
                    .accs
                    .iter()
                    .zip(&self.channels)
                    .map(|(a, name)| a.finish(name))
                    .collect();
                let bytes: u64 = channels.iter().map(|c| c.bytes).sum();
                let values: u64 = channels.iter().map(|c| c.values).sum();
                let cells: u64 = channels.iter().map(|c| c.rows).sum();
                let nulls: u64 = channels.iter().map(|c| c.nulls).sum();
                LevelReport {
                    interval_s: l.interval_s,
                    decimation: l.factor,
                    rows: channels.first().map(|c| c.rows).unwrap_or(0),
                    time_bytes_per_row: l.time.bytes_per_row(),
                    bytes_per_value: (values > 0).then(|| bytes as f64 / values as f64),
                    null_share: (cells > 0).then(|| nulls as f64 / cells as f64),
                    channels,
                }
            })
            .collect();
        SourceReport {
            kind: kind.to_string(),
            source: source.to_string(),
            series: self.series,
            rows: self.rows,
            base_interval_s: self.base_interval_s,
            chunk_interval_s: (self.chunk_us / 1_000_000).max(0) as u64,
            levels,
        }
    }
}

/// Receives the rows of a source, series by series, in time order.
pub trait RowSink {
    /// One row: its well or instance name, sample index (for decimation), time, values and
    /// the quantisation unit of each value.
    fn row(&mut self, well: &str, sample: u64, ts_us: i64, values: &[Option<f64>], units: &[f64]);
    /// The current series ends.
    fn end_series(&mut self);
}

impl RowSink for Estimator {
    #[inline]
    fn row(&mut self, _well: &str, sample: u64, ts_us: i64, values: &[Option<f64>], units: &[f64]) {
        self.push(sample, ts_us, values, units);
    }
    fn end_series(&mut self) {
        Estimator::end_series(self);
    }
}

/// How generated wells are laid out in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Every well over the fleet's whole span (what bench loads).
    Continuous,
    /// Well `i` keeps only its first `lengths[i]` samples, all wells starting together: the
    /// layout of a set of real instances, so batches and chunks fill exactly as theirs do.
    Instances(Vec<u64>),
}

impl Layout {
    /// Samples well `well` keeps (`u64::MAX`: all).
    fn limit(&self, well: u32) -> u64 {
        match self {
            Layout::Continuous => u64::MAX,
            Layout::Instances(l) => l.get(well as usize).copied().unwrap_or(0),
        }
    }
}

/// A fleet plan for the instances layout: one well per length, 1 s samples, starting at
/// [`REAL_ALIGN_START_US`] like the real instances.
pub fn instances_plan(
    lengths: &[u64],
    template: &crate::scenario::FleetPlan,
) -> crate::scenario::FleetPlan {
    let longest = lengths.iter().copied().max().unwrap_or(1).max(1);
    let span = std::time::Duration::from_secs(longest);
    let end =
        chrono::DateTime::from_timestamp_micros(REAL_ALIGN_START_US + longest as i64 * 1_000_000)
            .unwrap_or(template.end);
    crate::scenario::FleetPlan {
        wells: lengths.len() as u32,
        sample_interval: std::time::Duration::from_secs(1),
        span,
        end,
        end_is_now: false,
        ..template.clone()
    }
}

/// Every row of the fleet over its span, well by well, in time order within each block (late
/// rows put back in place, duplicates kept, as the server stores them).
pub fn walk_fleet(fleet: &Fleet, layout: &Layout, sink: &mut impl RowSink) {
    let interval_us = fleet.interval_us();
    let mut rows = Vec::new();
    let mut current: Option<u32> = None;
    for b in fleet.blocks_iter() {
        let limit = layout.limit(b.well);
        if b.first_sample >= limit {
            continue;
        }
        if current.is_some_and(|w| w != b.well) {
            sink.end_series();
        }
        current = Some(b.well);
        rows.clear();
        fleet.telemetry_block(&b, &mut rows);
        rows.sort_by_key(|r| r.ts_us);
        for r in &rows {
            let sample = ((r.ts_us - fleet.start_us()) / interval_us).max(0) as u64;
            if sample >= limit {
                continue;
            }
            let vals: [Option<f64>; CHANNELS] = r.values();
            sink.row(
                r.well_id.as_str(),
                sample,
                r.ts_us,
                &vals,
                &CHANNEL_RESOLUTION,
            );
        }
    }
    if current.is_some() {
        sink.end_series();
    }
}

/// The well id real instance `i` (0-based) is stored under: `REAL-001`, `REAL-002`, ... The
/// same length as the generated ids (`WELL-001`), so an uncompressed row has the same size
/// and the before/after ratios compare data, not id lengths (a 27-character file name as the
/// id makes every row 16 bytes longer and the real ratio 14% higher).
pub fn real_well_id(i: usize) -> String {
    format!("REAL-{:03}", i + 1)
}

/// Every row of the real data, instance by instance. Each instance is re-based to
/// [`REAL_ALIGN_START_US`]; a sample's index is its offset from the instance's first sample
/// in base intervals (rows off that grid are skipped).
pub fn walk_real(data: &RealData, sink: &mut impl RowSink) {
    let base_us = data.base_interval_s() as i64 * 1_000_000;
    let n = data.channels.len();
    for (i, inst) in data.instances.iter().enumerate() {
        let id = real_well_id(i);
        let Some(&t0) = inst.ts_us.first() else {
            continue;
        };
        for (row, &t) in inst.ts_us.iter().enumerate() {
            let off = t - t0;
            if off % base_us != 0 {
                continue;
            }
            sink.row(
                &id,
                (off / base_us) as u64,
                REAL_ALIGN_START_US + off,
                &inst.values[row * n..(row + 1) * n],
                &inst.units[row * n..(row + 1) * n],
            );
        }
        sink.end_series();
    }
}

/// Estimate the generator's data (see [`walk_fleet`]).
pub fn estimate_fleet(
    fleet: &Fleet,
    layout: &Layout,
    source: &str,
    opts: &Options,
) -> SourceReport {
    let base_s = (fleet.interval_us() / 1_000_000).max(1) as u64;
    let mut est = Estimator::new(
        CHANNEL_NAMES.iter().map(|s| s.to_string()).collect(),
        base_s,
        opts,
    );
    walk_fleet(fleet, layout, &mut est);
    est.finish("generated", source)
}

/// Estimate real data (see [`walk_real`]).
pub fn estimate_real(data: &RealData, source: &str, opts: &Options) -> SourceReport {
    let mut est = Estimator::new(data.channels.clone(), data.base_interval_s(), opts);
    walk_real(data, &mut est);
    est.finish("real", source)
}

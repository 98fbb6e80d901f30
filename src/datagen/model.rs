//! The fleet model: per-well parameters and instruments, the blocks and episodes of a fleet,
//! and the imperfect-data layer (dropouts, stuck, spiky, dead and missing sensors, duplicates,
//! late rows). The signal itself is in `signal`. docs/telemetry-model.md documents every
//! constant here; keep the two in step.

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal, Weibull};

use super::episodes::{day_episodes, intervals, Episode, DAY_US};
use super::rng::{at, mix, pcg, stream_key, unit};
use super::sensors::{self, Sensor};
use super::{
    Block, Condition, DiagnosticRow, Severity, TelemetryRow, WellId, BLOCK_SAMPLES, CHANNELS,
};
use crate::scenario::{DirtyRates, FleetPlan};

mod diagnostics;
mod signal;
mod well;

use signal::{quant, Noise};
use well::{fraction, rate, Well};

// Random stream ids (one key per well and stream).
const S_PARAMS: u64 = 1;
const S_FSET: u64 = 2;
const S_FSLOW: u64 = 3;
const S_RES: u64 = 4;
const S_FLUID: u64 = 5;
const S_FLUID2: u64 = 6;
const S_PQ: u64 = 7;
const S_TIN: u64 = 8;
const S_VIB: u64 = 9;
const S_GASLOCK: u64 = 10;
const S_SAND: u64 = 11;
const S_SENSOR: u64 = 12;
const S_DROPOUT: u64 = 13;
const S_SPIKE: u64 = 14;
const S_DUP: u64 = 15;
const S_LATE: u64 = 16;
const S_MODE: u64 = 17;
const S_FTRIM: u64 = 18;
const S_FJIT: u64 = 19;
const S_NOISE: u64 = 0x100; // + channel
const S_STUCK: u64 = 0x200; // + channel
const S_EPISODE: u64 = 0x300; // + condition index
const S_MEM_FAST: u64 = 0x400; // + channel
const S_MEM_SLOW: u64 = 0x500; // + channel

const K_FSET: usize = 0;
const K_FSLOW: usize = 1;
const K_RES: usize = 2;
const K_FLUID: usize = 3;
const K_FLUID2: usize = 4;
const K_PQ: usize = 5;
const K_TIN: usize = 6;
const K_VIB: usize = 7;
const K_GASLOCK: usize = 8;
const K_SAND: usize = 9;
const K_DROPOUT: usize = 10;
const K_SPIKE: usize = 11;
const K_DUP: usize = 12;
const K_LATE: usize = 13;
const K_FTRIM: usize = 14;
const K_FJIT: usize = 15;
const NKEYS: usize = 16;
const KEY_STREAMS: [u64; NKEYS] = [
    S_FSET, S_FSLOW, S_RES, S_FLUID, S_FLUID2, S_PQ, S_TIN, S_VIB, S_GASLOCK, S_SAND, S_DROPOUT,
    S_SPIKE, S_DUP, S_LATE, S_FTRIM, S_FJIT,
];

/// 1 / resolution per channel (see `CHANNEL_RESOLUTION`).
pub(crate) const QUANT_INV: [f64; CHANNELS] =
    [100.0, 10.0, 1.0, 1.0, 1.0, 100.0, 100.0, 1000.0, 10.0];

/// Longest dropout or stuck interval, in samples (bounds the look-back into earlier cells).
pub(crate) const MAX_INTERVAL_SAMPLES: u64 = 4 * BLOCK_SAMPLES;
/// Longest late-arrival displacement, in samples (never beyond the block end).
pub(crate) const MAX_LATE_SAMPLES: u64 = 64;

/// A seeded fleet of wells. Cheap to share across threads (`&Fleet` is `Sync`).
#[derive(Debug, Clone)]
pub struct Fleet {
    seed: u64,
    wells: u32,
    start_us: i64,
    end_us: i64,
    interval_us: i64,
    samples: u64,
    faults: [f64; 4],
    dirty: DirtyRates,
    dropout_mean: f64,
    stuck_mean: f64,
    injected: Vec<(u32, Episode)>,
}

/// Iterator over a fleet's blocks in well-major order.
#[derive(Debug, Clone)]
pub struct Blocks<'a> {
    fleet: &'a Fleet,
    next: u64,
    end: u64,
}

impl Iterator for Blocks<'_> {
    type Item = Block;
    fn next(&mut self) -> Option<Block> {
        if self.next >= self.end {
            return None;
        }
        let b = self.fleet.block(self.next);
        self.next += 1;
        b
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.end - self.next).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Blocks<'_> {}

impl Fleet {
    /// Build the fleet. O(1): per-well parameters are derived when a well is first needed.
    pub fn new(plan: &FleetPlan) -> Fleet {
        let seed = plan.seed;
        let interval_us = i64::try_from(plan.sample_interval.as_micros())
            .unwrap_or(i64::MAX)
            .max(1);
        let span_us = i64::try_from(plan.span.as_micros()).unwrap_or(i64::MAX);
        let end_us = plan.end.timestamp_micros();
        let start_us = end_us.saturating_sub(span_us);
        let samples = (span_us / interval_us).max(0) as u64;
        let d = &plan.dirty;
        let dirty = DirtyRates {
            dropout_rate: fraction(d.dropout_rate),
            dropout_mean: d.dropout_mean,
            stuck_rate: fraction(d.stuck_rate),
            stuck_mean: d.stuck_mean,
            spike_rate: fraction(d.spike_rate),
            duplicate_rate: fraction(d.duplicate_rate),
            late_rate: fraction(d.late_rate),
            dead_sensor_fraction: fraction(d.dead_sensor_fraction),
            missing_sensor_fraction: fraction(d.missing_sensor_fraction),
        };
        let mean_samples =
            |dur: std::time::Duration| (dur.as_micros() as f64 / interval_us as f64).max(1.0);
        let f = &plan.faults;
        let faults = [
            rate(f.gas_lock_per_day),
            rate(f.pump_off_per_day),
            rate(f.sand_per_day),
            rate(f.trip_per_day),
        ];

        Fleet {
            seed,
            wells: plan.wells,
            start_us,
            end_us,
            interval_us,
            samples,
            faults,
            dropout_mean: mean_samples(dirty.dropout_mean),
            stuck_mean: mean_samples(dirty.stuck_mean),
            dirty,
            injected: Vec::new(),
        }
    }

    pub fn wells(&self) -> u32 {
        self.wells
    }

    /// Samples per well in the span (span / interval, rounded down).
    pub fn samples_per_well(&self) -> u64 {
        self.samples
    }

    /// First sample instant (span start), Unix microseconds.
    pub fn start_us(&self) -> i64 {
        self.start_us
    }

    /// End of the span (exclusive; the first live sample is stamped here), Unix microseconds.
    pub fn end_us(&self) -> i64 {
        self.end_us
    }

    pub fn interval_us(&self) -> i64 {
        self.interval_us
    }

    /// The id of a well (inline; no allocation).
    pub fn well_id(&self, well: u32) -> WellId {
        WellId::new(well)
    }

    /// Timestamp of a sample index (sample 0 = span start). Any index works (live ingest).
    #[inline]
    pub fn sample_time_us(&self, sample: u64) -> i64 {
        let s = i64::try_from(sample).unwrap_or(i64::MAX);
        self.start_us
            .saturating_add(s.saturating_mul(self.interval_us))
    }

    /// Blocks per well: ceil(samples_per_well / BLOCK_SAMPLES).
    pub fn blocks_per_well(&self) -> u64 {
        self.samples.div_ceil(BLOCK_SAMPLES)
    }

    /// Total blocks of the span for the whole fleet.
    pub fn block_count(&self) -> u64 {
        self.blocks_per_well() * self.wells as u64
    }

    /// The block at a position of the well-major order, or None past the end.
    pub fn block(&self, index: u64) -> Option<Block> {
        let bpw = self.blocks_per_well();
        if bpw == 0 || index >= self.block_count() {
            return None;
        }
        let well = (index / bpw) as u32;
        let first_sample = (index % bpw) * BLOCK_SAMPLES;
        Some(Block {
            index,
            well,
            first_sample,
            end_sample: (first_sample + BLOCK_SAMPLES).min(self.samples),
        })
    }

    /// All blocks of the span in their fixed well-major order.
    pub fn blocks(&self) -> Vec<Block> {
        self.blocks_iter().collect()
    }

    /// All blocks lazily (no allocation; prefer this for very large fleets).
    pub fn blocks_iter(&self) -> Blocks<'_> {
        Blocks {
            fleet: self,
            next: 0,
            end: self.block_count(),
        }
    }

    /// Add a fault episode to a well (tests and demonstrations); it behaves like a drawn one.
    pub fn inject_episode(&mut self, well: u32, episode: Episode) {
        self.injected.push((well, episode));
    }

    /// Fault episodes of a well that overlap `[from_us, to_us)`, sorted by onset.
    pub fn episodes(&self, well: u32, from_us: i64, to_us: i64) -> Vec<Episode> {
        let mut out = Vec::new();
        if let Some(w) = self.well(well) {
            self.episodes_into(&w, well, from_us, to_us, &mut out);
        }
        out
    }

    fn episodes_into(&self, w: &Well, well: u32, from_us: i64, to_us: i64, out: &mut Vec<Episode>) {
        if to_us <= from_us {
            return;
        }
        let from = out.len();
        // Episodes last less than a day, so only the previous day's can reach into this one.
        let first_day = from_us.div_euclid(DAY_US) - 1;
        let last_day = (to_us - 1).div_euclid(DAY_US);
        for (ki, kind) in Condition::ALL.into_iter().enumerate() {
            if self.faults[ki] <= 0.0 {
                continue;
            }
            for day in first_day..=last_day {
                day_episodes(w.episode_keys[ki], kind, self.faults[ki], day, out);
            }
        }
        out.extend(
            self.injected
                .iter()
                .filter(|(i, _)| *i == well)
                .map(|(_, e)| *e),
        );
        let mut i = from;
        while i < out.len() {
            if out[i].end_us > from_us && out[i].start_us < to_us {
                i += 1;
            } else {
                out.swap_remove(i);
            }
        }
        out[from..].sort_by_key(|e| (e.start_us, e.kind));
    }

    /// Rows of one block in emission order: dropouts omitted, duplicates repeated in place,
    /// late rows displaced up to `MAX_LATE_SAMPLES` later (never past the block end). Appends.
    pub fn telemetry_block(&self, block: &Block, out: &mut Vec<TelemetryRow>) {
        self.emit(block.well, block.first_sample, block.end_sample, true, out);
    }

    /// Live ingest: the row of any sample index (normally >= `samples_per_well`), or None when
    /// the sample falls in a dropout or the well does not exist. Stuck, spiky, dead and missing
    /// sensors apply; duplicates and late arrival do not (a live stream is stamped on arrival).
    pub fn telemetry_sample(&self, well: u32, sample: u64) -> Option<TelemetryRow> {
        let mut out = Vec::with_capacity(1);
        self.emit(well, sample, sample.saturating_add(1), false, &mut out);
        out.pop()
    }

    /// Number of rows `telemetry_block` emits for a block, without computing values.
    pub fn block_row_count(&self, block: &Block) -> u64 {
        self.block_row_count_between(block, i64::MIN, i64::MAX)
    }

    /// Number of rows `telemetry_block` emits for a block whose timestamps lie in
    /// `[from_us, to_us)`, without computing values (the load verification's expectation).
    pub fn block_row_count_between(&self, block: &Block, from_us: i64, to_us: i64) -> u64 {
        let Some(w) = self.well(block.well) else {
            return 0;
        };
        let w = &w;
        let (s0, s1) = (block.first_sample, block.end_sample.max(block.first_sample));
        let dropped = self.dropout_mask(w, s0, s1);
        let mut n = 0;
        for s in s0..s1 {
            let t = self.sample_time_us(s);
            if t >= from_us && t < to_us && !dropped[(s - s0) as usize] {
                n += 1 + self.is_duplicate(w, s) as u64;
            }
        }
        n
    }

    fn dropout_mask(&self, w: &Well, s0: u64, s1: u64) -> Vec<bool> {
        let mut mask = vec![false; (s1 - s0) as usize];
        let mut gaps = Vec::new();
        intervals(
            w.keys[K_DROPOUT],
            self.dirty.dropout_rate,
            self.dropout_mean,
            BLOCK_SAMPLES,
            MAX_INTERVAL_SAMPLES,
            s0..s1,
            &mut gaps,
        );
        for (a, b) in gaps {
            let a = a.max(s0);
            let b = b.min(s1);
            for m in &mut mask[(a - s0) as usize..(b - s0) as usize] {
                *m = true;
            }
        }
        mask
    }

    #[inline]
    fn is_duplicate(&self, w: &Well, s: u64) -> bool {
        self.dirty.duplicate_rate > 0.0 && unit(at(w.keys[K_DUP], s)) < self.dirty.duplicate_rate
    }

    fn emit(&self, well: u32, s0: u64, s1: u64, block_mode: bool, out: &mut Vec<TelemetryRow>) {
        let Some(w) = self.well(well) else {
            return;
        };
        let w = &w;
        if s1 <= s0 {
            return;
        }
        let t0 = self.sample_time_us(s0);
        let t1 = self.sample_time_us(s1);
        let mut eps = Vec::new();
        self.episodes_into(w, well, t0, t1.max(t0.saturating_add(1)), &mut eps);
        let dropped = self.dropout_mask(w, s0, s1);

        // Stuck intervals per channel, with the value they froze at.
        let mut stuck: [Vec<(u64, u64, f64)>; CHANNELS] = Default::default();
        if self.dirty.stuck_rate > 0.0 {
            let mut ivs = Vec::new();
            for (c, frozen) in stuck.iter_mut().enumerate() {
                if w.sensors[c] != Sensor::Ok {
                    continue;
                }
                ivs.clear();
                intervals(
                    w.stuck_keys[c],
                    self.dirty.stuck_rate,
                    self.stuck_mean,
                    BLOCK_SAMPLES,
                    MAX_INTERVAL_SAMPLES,
                    s0..s1,
                    &mut ivs,
                );
                for &(a, b) in &ivs {
                    frozen.push((a, b, self.clean_at(w, well, a)[c]));
                }
            }
        }
        let any_stuck = stuck.iter().any(|v| !v.is_empty());
        // Dead sensors frozen at a value read the one they read at the span start.
        let frozen_at = if w.sensors.contains(&Sensor::Frozen) {
            self.clean_at(w, well, 0)
        } else {
            [0.0; CHANNELS]
        };
        let mut nz = Noise::new(w);
        let spike = self.dirty.spike_rate.min(1.0 / CHANNELS as f64);
        let late_rate = if block_mode {
            self.dirty.late_rate
        } else {
            0.0
        };
        let mut pending: Vec<(u64, TelemetryRow, bool)> = Vec::new();

        out.reserve((s1 - s0).min(1 << 16) as usize);
        for s in s0..s1 {
            if !dropped[(s - s0) as usize] {
                let t_us = self.sample_time_us(s);
                let clean = self.clean(w, t_us, &eps, &mut nz);
                let mut vals = [None; CHANNELS];
                let spike_ch = if spike > 0.0 {
                    let h = at(w.keys[K_SPIKE], s);
                    let u = unit(h);
                    if u < spike * CHANNELS as f64 {
                        Some((((u / spike) as usize).min(CHANNELS - 1), mix(h)))
                    } else {
                        None
                    }
                } else {
                    None
                };
                for c in 0..CHANNELS {
                    vals[c] = match w.sensors[c] {
                        Sensor::Missing => None,
                        Sensor::Zero => Some(0.0),
                        Sensor::Frozen => Some(frozen_at[c]),
                        Sensor::Ok => {
                            let mut x = clean[c];
                            let mut frozen = false;
                            if any_stuck {
                                if let Some(&(_, _, v)) =
                                    stuck[c].iter().find(|(a, b, _)| *a <= s && s < *b)
                                {
                                    x = v;
                                    frozen = true;
                                }
                            }
                            if let (false, Some((sc, h))) = (frozen, spike_ch) {
                                if sc == c {
                                    let g = (h & 0xFFFF) as f64 / 65_536.0;
                                    let factor = if h & 0x1_0000 != 0 {
                                        2.0 + 4.0 * g
                                    } else {
                                        0.3 * g
                                    };
                                    x = quant(x * factor, QUANT_INV[c]);
                                }
                            }
                            Some(x)
                        }
                    };
                }
                let row = TelemetryRow::from_values(t_us, well, w.id, vals);
                let dup = block_mode && self.is_duplicate(w, s);
                let late = late_rate > 0.0 && {
                    let h = at(w.keys[K_LATE], s);
                    if unit(h) < late_rate {
                        pending.push((s.saturating_add(1 + h % MAX_LATE_SAMPLES), row, dup));
                        true
                    } else {
                        false
                    }
                };
                if !late {
                    out.push(row);
                    if dup {
                        out.push(row);
                    }
                }
            }
            if !pending.is_empty() {
                let mut i = 0;
                while i < pending.len() {
                    if pending[i].0 <= s {
                        let (_, row, dup) = pending.remove(i);
                        out.push(row);
                        if dup {
                            out.push(row);
                        }
                    } else {
                        i += 1;
                    }
                }
            }
        }
        for (_, row, dup) in pending {
            out.push(row);
            if dup {
                out.push(row);
            }
        }
    }
}

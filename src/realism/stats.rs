//! Per-channel statistics of one data source at one sampling interval, accumulated one sample
//! at a time with flat memory (one chunk of one series is buffered, for batching).
//!
//! A source is a set of series (one per well or instance). Samples of a series arrive in time
//! order. Batching follows TimescaleDB's layout for the bare table: a batch never crosses a
//! series (segment by well) or a chunk, and within a chunk the rows are stored newest first
//! (order by ts DESC) in batches of [`codec::BATCH_ROWS`].

use serde::Serialize;

use super::codec::{self, BatchBytes};

/// Upper bounds (inclusive, in quantisation units) of the step-size buckets reported.
pub const STEP_BUCKETS: [(&str, u64); 6] = [
    ("0", 0),
    ("1", 1),
    ("2-3", 3),
    ("4-15", 15),
    ("16-255", 255),
    (">=256", u64::MAX),
];

/// Sums for one series' lag-1 autocorrelation of differences.
#[derive(Debug, Clone, Copy, Default)]
struct PairSums {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl PairSums {
    fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.syy += y * y;
        self.sxy += x * y;
    }

    fn corr(&self) -> Option<f64> {
        if self.n < 3.0 {
            return None;
        }
        let cov = self.sxy - self.sx * self.sy / self.n;
        let vx = self.sxx - self.sx * self.sx / self.n;
        let vy = self.syy - self.sy * self.sy / self.n;
        // A series whose differences never change (constant or dead) has no autocorrelation.
        if vx <= 1e-12 * self.n || vy <= 1e-12 * self.n {
            return None;
        }
        Some((cov / (vx * vy).sqrt()).clamp(-1.0, 1.0))
    }
}

/// Accumulator of one channel of one source at one sampling interval.
#[derive(Debug, Clone)]
pub struct ChannelAcc {
    chunk_us: i64,
    chunk: Option<i64>,
    /// Values of the current (series, chunk), oldest first.
    buf: Vec<Option<f64>>,
    bytes: BatchBytes,
    batches: u64,
    rows: u64,
    nulls: u64,
    /// Previous non-null value of the series and its quantisation unit.
    prev: Option<(f64, f64)>,
    /// Previous difference, in units (signed), while the chain of non-null samples holds.
    prev_diff: Option<f64>,
    pairs: u64,
    repeats: u64,
    /// Step sizes in units: bucket 0 holds 0, bucket k holds [2^(k-1), 2^k).
    steps: [u64; 65],
    series_ac: PairSums,
    ac_sum: f64,
    ac_weight: f64,
    ac_series: u64,
}

impl ChannelAcc {
    pub fn new(chunk_us: i64) -> ChannelAcc {
        ChannelAcc {
            chunk_us: chunk_us.max(1),
            chunk: None,
            buf: Vec::new(),
            bytes: BatchBytes::default(),
            batches: 0,
            rows: 0,
            nulls: 0,
            prev: None,
            prev_diff: None,
            pairs: 0,
            repeats: 0,
            steps: [0; 65],
            series_ac: PairSums::default(),
            ac_sum: 0.0,
            ac_weight: 0.0,
            ac_series: 0,
        }
    }

    /// One sample of the current series at `ts_us`; `unit` is the value's quantisation step.
    #[inline]
    pub fn push(&mut self, ts_us: i64, value: Option<f64>, unit: f64) {
        let chunk = ts_us.div_euclid(self.chunk_us);
        if self.chunk != Some(chunk) {
            self.flush_chunk();
            self.chunk = Some(chunk);
        }
        self.buf.push(value);
        self.rows += 1;
        let Some(v) = value else {
            self.nulls += 1;
            self.prev = None;
            self.prev_diff = None;
            return;
        };
        if let Some((p, pu)) = self.prev {
            self.pairs += 1;
            let u = unit.max(pu);
            let diff = if u > 0.0 { (v - p) / u } else { 0.0 };
            let k = diff.abs().round();
            if v == p {
                self.repeats += 1;
            }
            let bucket = if k < 0.5 {
                0
            } else {
                // k >= 1: bucket = floor(log2 k) + 1, capped.
                (64 - (k.min(9.0e18) as u64).leading_zeros()) as usize
            };
            self.steps[bucket.min(64)] += 1;
            if let Some(pd) = self.prev_diff {
                self.series_ac.add(pd, diff);
            }
            self.prev_diff = Some(diff);
        }
        self.prev = Some((v, unit));
    }

    /// The current series ends (the next sample belongs to another well or instance).
    pub fn end_series(&mut self) {
        self.flush_chunk();
        self.chunk = None;
        self.prev = None;
        self.prev_diff = None;
        if let Some(r) = self.series_ac.corr() {
            self.ac_sum += r * self.series_ac.n;
            self.ac_weight += self.series_ac.n;
            self.ac_series += 1;
        }
        self.series_ac = PairSums::default();
    }

    fn flush_chunk(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        // Newest first, cut from the newest end.
        self.buf.reverse();
        for batch in self.buf.chunks(codec::BATCH_ROWS) {
            if let Some(b) = codec::gorilla_batch(batch) {
                self.bytes.add(b);
                self.batches += 1;
            }
        }
        self.buf.clear();
    }

    /// The summary. Call after the last `end_series`.
    pub fn finish(&self, channel: &str) -> ChannelStats {
        let values = self.rows - self.nulls;
        let per_value = |b: usize| {
            if values == 0 {
                None
            } else {
                Some(b as f64 / values as f64)
            }
        };
        let share = |n: u64| {
            if self.pairs == 0 {
                None
            } else {
                Some(n as f64 / self.pairs as f64)
            }
        };
        let mut buckets = Vec::with_capacity(STEP_BUCKETS.len());
        let mut k = 0usize;
        for (label, hi) in STEP_BUCKETS {
            let mut n = 0;
            // Histogram bucket k holds steps up to 2^k - 1 (bucket 0 holds 0).
            while k < self.steps.len() && (k == 0 || (1u128 << k) - 1 <= hi as u128) {
                n += self.steps[k];
                k += 1;
            }
            buckets.push(StepBucket {
                steps: label.to_string(),
                share: share(n),
            });
        }
        ChannelStats {
            channel: channel.to_string(),
            rows: self.rows,
            nulls: self.nulls,
            null_share: if self.rows == 0 {
                None
            } else {
                Some(self.nulls as f64 / self.rows as f64)
            },
            values,
            batches: self.batches,
            bytes: self.bytes.total() as u64,
            bytes_per_value: per_value(self.bytes.total()),
            payload_bytes_per_value: per_value(self.bytes.payload),
            repeat_share: share(self.repeats),
            step_p50: self.quantile(0.5),
            step_p90: self.quantile(0.9),
            step_p99: self.quantile(0.99),
            step_buckets: buckets,
            diff_lag1_autocorr: if self.ac_weight > 0.0 {
                Some(self.ac_sum / self.ac_weight)
            } else {
                None
            },
            autocorr_series: self.ac_series,
        }
    }

    /// Upper bound of the histogram bucket holding quantile `q` of the steps, in units.
    fn quantile(&self, q: f64) -> Option<u64> {
        if self.pairs == 0 {
            return None;
        }
        let target = (q * self.pairs as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (k, n) in self.steps.iter().enumerate() {
            seen += n;
            if seen >= target {
                return Some(if k == 0 { 0 } else { (1u64 << k.min(63)) - 1 });
            }
        }
        None
    }
}

/// Share of steps in one size bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepBucket {
    /// Step size range in quantisation units, e.g. "2-3".
    pub steps: String,
    pub share: Option<f64>,
}

/// What the estimator reports for one channel of one source at one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelStats {
    pub channel: String,
    /// Samples, NULL or not.
    pub rows: u64,
    pub nulls: u64,
    pub null_share: Option<f64>,
    /// Non-null samples.
    pub values: u64,
    /// Compressed batches holding at least one value.
    pub batches: u64,
    /// Modelled compressed bytes (Gorilla), all batches.
    pub bytes: u64,
    /// Modelled compressed bytes per non-null value.
    pub bytes_per_value: Option<f64>,
    /// The same without the fixed per-batch headers: what the values themselves cost.
    pub payload_bytes_per_value: Option<f64>,
    /// Share of consecutive non-null pairs whose values are identical.
    pub repeat_share: Option<f64>,
    /// Quantiles of |step| in quantisation units (upper bound of a power-of-two bucket).
    pub step_p50: Option<u64>,
    pub step_p90: Option<u64>,
    pub step_p99: Option<u64>,
    pub step_buckets: Vec<StepBucket>,
    /// Lag-1 autocorrelation of sample-to-sample differences: mean over series, weighted by
    /// pairs (series with constant differences have none and are left out).
    pub diff_lag1_autocorr: Option<f64>,
    pub autocorr_series: u64,
}

/// The time column's modelled cost (delta-delta), for the same rows.
#[derive(Debug, Clone, Default)]
pub struct TimeAcc {
    chunk_us: i64,
    chunk: Option<i64>,
    buf: Vec<Option<i64>>,
    bytes: BatchBytes,
    rows: u64,
}

impl TimeAcc {
    pub fn new(chunk_us: i64) -> TimeAcc {
        TimeAcc {
            chunk_us: chunk_us.max(1),
            ..Default::default()
        }
    }

    #[inline]
    pub fn push(&mut self, ts_us: i64) {
        let chunk = ts_us.div_euclid(self.chunk_us);
        if self.chunk != Some(chunk) {
            self.flush_chunk();
            self.chunk = Some(chunk);
        }
        self.buf.push(Some(ts_us));
        self.rows += 1;
    }

    pub fn end_series(&mut self) {
        self.flush_chunk();
        self.chunk = None;
    }

    fn flush_chunk(&mut self) {
        self.buf.reverse();
        for batch in self.buf.chunks(codec::BATCH_ROWS) {
            if let Some(b) = codec::deltadelta_batch(batch) {
                self.bytes.add(b);
            }
        }
        self.buf.clear();
    }

    pub fn bytes_per_row(&self) -> Option<f64> {
        if self.rows == 0 {
            None
        } else {
            Some(self.bytes.total() as f64 / self.rows as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn steps_repeats_and_nulls() {
        let mut a = ChannelAcc::new(DAY);
        for (i, v) in [
            Some(10.0),
            Some(10.0),
            Some(11.0),
            Some(14.0),
            None,
            Some(20.0),
            Some(20.5),
        ]
        .into_iter()
        .enumerate()
        {
            a.push(i as i64 * 1_000_000, v, 0.5);
        }
        a.end_series();
        let s = a.finish("x");
        assert_eq!((s.rows, s.nulls, s.values), (7, 1, 6));
        // Pairs: 10->10 (0), 10->11 (2 units), 11->14 (6 units), 20->20.5 (1 unit).
        assert_eq!(s.repeat_share, Some(0.25));
        let shares: Vec<_> = s.step_buckets.iter().map(|b| b.share).collect();
        assert_eq!(
            shares,
            vec![
                Some(0.25),
                Some(0.25),
                Some(0.25),
                Some(0.25),
                Some(0.0),
                Some(0.0)
            ]
        );
        assert_eq!(s.step_p50, Some(1));
        assert_eq!(s.step_p99, Some(7));
        assert_eq!(s.batches, 1);
    }

    #[test]
    fn batches_break_at_chunks_and_series() {
        let mut a = ChannelAcc::new(3_600_000_000);
        // Two hours of 1 s samples: two chunks of 3600, each 4 batches (1000, 1000, 1000, 600).
        for s in 0..7200i64 {
            a.push(s * 1_000_000, Some((s % 17) as f64), 1.0);
        }
        a.end_series();
        for s in 0..10i64 {
            a.push(s * 1_000_000, Some(1.0), 1.0);
        }
        a.end_series();
        assert_eq!(a.finish("x").batches, 9);
    }

    #[test]
    fn random_walk_differences_are_uncorrelated_and_alternation_is_negative() {
        let mut h = 12345u64;
        let mut next = || {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            if h & 1 == 0 {
                1.0
            } else {
                -1.0
            }
        };
        let mut a = ChannelAcc::new(DAY);
        let mut x = 0.0;
        for s in 0..20_000i64 {
            x += next();
            a.push(s * 1_000_000, Some(x), 1.0);
        }
        a.end_series();
        let r = a.finish("walk").diff_lag1_autocorr.expect("defined");
        assert!(r.abs() < 0.05, "{r}");
        let mut b = ChannelAcc::new(DAY);
        for s in 0..1000i64 {
            b.push(s * 1_000_000, Some((s % 2) as f64), 1.0);
        }
        b.end_series();
        let r = b.finish("alt").diff_lag1_autocorr.expect("defined");
        assert!(r < -0.99, "{r}");
    }
}

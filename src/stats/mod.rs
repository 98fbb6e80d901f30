//! Query statistics without raw samples: each worker owns a [`Recorder`] (one HdrHistogram per
//! query per stats interval, in microseconds, 3 significant digits, auto-resizing) and sends a
//! [`Batch`] on a small channel whenever its clock crosses an interval boundary. The
//! [`Collector`] merges batches with `Histogram::add`, turns every interval that all workers
//! have passed into an [`IntervalStats`] row, and folds it into the run total, so memory stays
//! flat however long the run. No locks in the hot path: a worker touches only its own state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use tokio::sync::mpsc;

use crate::model::report::{IntervalStats, Percentiles, QueryStats};

/// Significant digits kept by every latency histogram.
pub const SIGFIG: u8 = 3;

/// A fresh auto-resizing latency histogram (microseconds).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant digits is a valid histogram precision")
}

/// Record `v`, growing the histogram as needed (`saturating_record` would clamp instead of
/// resizing and silently cap outliers).
pub fn record(h: &mut Histogram<u64>, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Duration as whole microseconds, at least 1 (HdrHistogram's lowest discernible value).
pub fn micros(d: Duration) -> u64 {
    (d.as_micros().min(u64::MAX as u128) as u64).max(1)
}

/// Counters and histograms of one query over some stretch of time (an interval, or the run).
#[derive(Debug, Clone)]
pub struct QueryAgg {
    /// Latency of successful executions, µs.
    pub latency: Histogram<u64>,
    /// Fixed rate only: actual start − intended start, µs.
    pub lag: Histogram<u64>,
    /// Failed executions by SQLSTATE (or "connection", "timeout").
    pub errors: BTreeMap<String, u64>,
    pub rows: u64,
}

impl Default for QueryAgg {
    fn default() -> Self {
        QueryAgg {
            latency: new_histogram(),
            lag: new_histogram(),
            errors: BTreeMap::new(),
            rows: 0,
        }
    }
}

impl QueryAgg {
    /// Merge `other` into `self`. Auto-resizing histograms of the same precision always add.
    pub fn add(&mut self, other: &QueryAgg) {
        self.latency
            .add(&other.latency)
            .expect("auto-resizing histograms of equal precision add");
        self.lag
            .add(&other.lag)
            .expect("auto-resizing histograms of equal precision add");
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.rows += other.rows;
    }

    pub fn is_empty(&self) -> bool {
        self.latency.is_empty() && self.lag.is_empty() && self.errors.is_empty() && self.rows == 0
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// What a worker sends when it leaves an interval (or finishes): its measurements for that
/// interval, one entry per query that saw activity.
#[derive(Debug)]
pub struct Batch {
    pub worker: usize,
    /// Interval index: floor((event time − phase start) / stats interval).
    pub interval: u64,
    pub queries: Vec<(usize, QueryAgg)>,
    /// The worker is finished; no batch with a lower or equal interval follows.
    pub done: bool,
}

/// One worker's recorder. Owned by the worker task; `record_*` touch only local state except
/// at interval boundaries, where the finished interval is sent to the collector.
pub struct Recorder {
    worker: usize,
    t0: Instant,
    interval: Duration,
    current: u64,
    /// Completions after a duration-bounded phase's end (queries in flight at the deadline)
    /// count in the last interval instead of opening a short, noisy one of their own.
    last: u64,
    slots: Vec<Option<QueryAgg>>,
    tx: mpsc::Sender<Batch>,
}

impl Recorder {
    /// `t0` is the start of the measured phase; `queries` the number of queries recorded;
    /// `length` the phase's planned duration when it is duration-bounded.
    pub fn new(
        worker: usize,
        queries: usize,
        t0: Instant,
        interval: Duration,
        length: Option<Duration>,
        tx: mpsc::Sender<Batch>,
    ) -> Recorder {
        let interval = interval.max(Duration::from_millis(1));
        let last = match length {
            Some(len) => (len.as_nanos().div_ceil(interval.as_nanos()) as u64).saturating_sub(1),
            None => u64::MAX,
        };
        Recorder {
            worker,
            t0,
            interval,
            current: 0,
            last,
            slots: vec![None; queries],
            tx,
        }
    }

    fn interval_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.t0);
        ((since.as_nanos() / self.interval.as_nanos()) as u64).min(self.last)
    }

    async fn advance(&mut self, at: Instant) {
        let idx = self.interval_of(at);
        if idx > self.current {
            self.flush(false).await;
            self.current = idx;
        }
    }

    async fn flush(&mut self, done: bool) {
        let queries: Vec<(usize, QueryAgg)> = self
            .slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.take().map(|a| (i, a)))
            .collect();
        if queries.is_empty() && !done {
            return;
        }
        // A closed channel means the collector is gone (run torn down): nothing to keep.
        let _ = self
            .tx
            .send(Batch {
                worker: self.worker,
                interval: self.current,
                queries,
                done,
            })
            .await;
    }

    fn slot(&mut self, query: usize) -> &mut QueryAgg {
        self.slots[query].get_or_insert_with(QueryAgg::default)
    }

    /// A successful execution that completed at `at`.
    pub async fn record_ok(
        &mut self,
        query: usize,
        at: Instant,
        latency: Duration,
        lag: Option<Duration>,
        rows: u64,
    ) {
        self.advance(at).await;
        let s = self.slot(query);
        record(&mut s.latency, micros(latency));
        if let Some(lag) = lag {
            // Lag may legitimately be 0; record 0 µs as such (lowest value 1 rounds 0 in).
            record(&mut s.lag, lag.as_micros().min(u64::MAX as u128) as u64);
        }
        s.rows += rows;
    }

    /// A failed execution that ended at `at`, classified as `kind` (SQLSTATE, "connection", ...).
    pub async fn record_error(
        &mut self,
        query: usize,
        at: Instant,
        kind: &str,
        lag: Option<Duration>,
    ) {
        self.advance(at).await;
        let s = self.slot(query);
        *s.errors.entry(kind.to_string()).or_default() += 1;
        if let Some(lag) = lag {
            record(&mut s.lag, lag.as_micros().min(u64::MAX as u128) as u64);
        }
    }

    /// Send what is left and tell the collector this worker is done.
    pub async fn finish(mut self) {
        self.flush(true).await;
    }
}

/// Merges batches from `workers` recorders into per-query totals and per-interval rows.
pub struct Collector {
    queries: usize,
    interval: Duration,
    /// Per worker: every interval below this is complete for that worker.
    watermarks: Vec<u64>,
    pending: BTreeMap<u64, Vec<QueryAgg>>,
    totals: Vec<QueryAgg>,
    intervals: Vec<Vec<IntervalStats>>,
    interval_histograms: Vec<Vec<String>>,
}

/// The merged result for one query.
#[derive(Debug, Clone)]
pub struct Merged {
    pub total: QueryAgg,
    pub intervals: Vec<IntervalStats>,
    /// Each interval's latency histogram, encoded ([`encode_histogram`]), parallel to
    /// `intervals`: a few hundred bytes each, kept so shards merge per interval losslessly.
    pub interval_histograms: Vec<String>,
}

impl Collector {
    pub fn new(workers: usize, queries: usize, interval: Duration) -> Collector {
        Collector {
            queries,
            interval: interval.max(Duration::from_millis(1)),
            watermarks: vec![0; workers],
            pending: BTreeMap::new(),
            totals: vec![QueryAgg::default(); queries],
            intervals: vec![Vec::new(); queries],
            interval_histograms: vec![Vec::new(); queries],
        }
    }

    pub fn absorb(&mut self, batch: Batch) {
        if !batch.queries.is_empty() {
            let slot = self
                .pending
                .entry(batch.interval)
                .or_insert_with(|| vec![QueryAgg::default(); self.queries]);
            for (q, agg) in &batch.queries {
                slot[*q].add(agg);
            }
        }
        let mark = if batch.done {
            u64::MAX
        } else {
            batch.interval + 1
        };
        if let Some(w) = self.watermarks.get_mut(batch.worker) {
            *w = (*w).max(mark);
        }
        let complete_below = self.watermarks.iter().copied().min().unwrap_or(u64::MAX);
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() >= complete_below {
                break;
            }
            let (idx, aggs) = entry.remove_entry();
            self.finalize(idx, aggs);
        }
    }

    fn finalize(&mut self, idx: u64, aggs: Vec<QueryAgg>) {
        let t_s = (idx + 1) as f64 * self.interval.as_secs_f64();
        for (q, agg) in aggs.into_iter().enumerate() {
            if agg.is_empty() {
                continue;
            }
            self.intervals[q].push(interval_stats(t_s, &agg.latency));
            self.interval_histograms[q].push(encode_histogram(&agg.latency));
            self.totals[q].add(&agg);
        }
    }

    /// Finalize everything still pending and return one `Merged` per query.
    pub fn finish(mut self) -> Vec<Merged> {
        let pending = std::mem::take(&mut self.pending);
        for (idx, aggs) in pending {
            self.finalize(idx, aggs);
        }
        self.totals
            .into_iter()
            .zip(self.intervals)
            .zip(self.interval_histograms)
            .map(|((total, intervals), interval_histograms)| Merged {
                total,
                intervals,
                interval_histograms,
            })
            .collect()
    }

    /// Drain `rx` until every sender is gone, then finish.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Batch>) -> Vec<Merged> {
        while let Some(b) = rx.recv().await {
            self.absorb(b);
        }
        self.finish()
    }
}

/// One per-interval sample from that interval's latency histogram (µs).
pub fn interval_stats(t_s: f64, h: &Histogram<u64>) -> IntervalStats {
    IntervalStats {
        t_s,
        count: h.len(),
        mean_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
        p50_ms: quantile_ms(h, 0.50),
        p95_ms: quantile_ms(h, 0.95),
        p99_ms: quantile_ms(h, 0.99),
        ref_p50_ms: None,
    }
}

fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Summary of a µs histogram in milliseconds (all zero when empty).
pub fn percentiles_ms(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        mean: h.mean() / 1000.0,
        p50: quantile_ms(h, 0.50),
        p90: quantile_ms(h, 0.90),
        p95: quantile_ms(h, 0.95),
        p99: quantile_ms(h, 0.99),
        p999: quantile_ms(h, 0.999),
        max: h.max() as f64 / 1000.0,
    }
}

/// The figures of `q` that follow from its merged latency histogram and its count and measured
/// time: throughput (0 without measured time), percentiles and the serialised histogram. For
/// statistics put together from parts (shards, rounds).
pub fn set_merged_latency(q: &mut QueryStats, latency: &Histogram<u64>) {
    q.throughput_qps = if q.duration_s > 0.0 {
        q.count as f64 / q.duration_s
    } else {
        0.0
    };
    q.latency_ms = percentiles_ms(latency);
    q.histogram = encode_histogram(latency);
}

/// V2 + deflate serialisation of a histogram, base64 (standard alphabet, padded).
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serialising a histogram into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// Inverse of [`encode_histogram`].
pub fn decode_histogram(s: &str) -> anyhow::Result<Histogram<u64>> {
    use anyhow::Context as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .context("histogram is not valid base64")?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("histogram is not a V2 HdrHistogram: {e:?}"))?;
    Ok(h)
}

/// The classic HdrHistogram percentile-distribution text (`.hgrm`), values in milliseconds.
pub fn hgrm(h: &Histogram<u64>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            let q = v.quantile_iterated_to();
            let inv = if q < 1.0 {
                format!("{:>14.2}", 1.0 / (1.0 - q))
            } else {
                format!("{:>14}", "")
            };
            let total: u64 = h.count_between(0, v.value_iterated_to());
            let _ = writeln!(
                out,
                "{:>12.3} {:>14.12} {:>10} {}",
                v.value_iterated_to() as f64 / 1000.0,
                q,
                total,
                inv
            );
        }
    }
    let mean = if h.is_empty() { 0.0 } else { h.mean() / 1000.0 };
    let stdev = if h.is_empty() {
        0.0
    } else {
        h.stdev() / 1000.0
    };
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        mean, stdev
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / 1000.0,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

/// What a lossless merge of shards needs beyond `QueryStats` (see `report::model::
/// ShardQueryDetail`); `measured_from_ms` is the measured stage's start, Unix ms on this
/// process's clock (the pipeline shifts it to the server's).
pub fn query_detail(
    name: &str,
    shape: &PhaseShape,
    merged: &Merged,
    measured_from_ms: f64,
) -> crate::model::report::ShardQueryDetail {
    crate::model::report::ShardQueryDetail {
        name: name.to_string(),
        measured_from_ms,
        lag_histogram: shape.rate.map(|_| encode_histogram(&merged.total.lag)),
        interval_histograms: merged.interval_histograms.clone(),
    }
}

/// How a query phase was driven, for the report.
#[derive(Debug, Clone)]
pub struct PhaseShape {
    /// "closed" or "fixed_rate".
    pub mode: &'static str,
    pub clients: u32,
    pub rate: Option<f64>,
    /// Measured phase length, seconds.
    pub duration_s: f64,
}

/// Turn a merged result into the report's `QueryStats`.
pub fn query_stats(name: &str, shape: &PhaseShape, merged: &Merged) -> QueryStats {
    let t = &merged.total;
    let count = t.latency.len();
    QueryStats {
        name: name.to_string(),
        mode: shape.mode.to_string(),
        clients: shape.clients,
        rate: shape.rate,
        count,
        errors: t.error_count(),
        errors_by_sqlstate: t.errors.clone(),
        rows_returned: t.rows,
        duration_s: shape.duration_s,
        throughput_qps: if shape.duration_s > 0.0 {
            count as f64 / shape.duration_s
        } else {
            0.0
        },
        latency_ms: percentiles_ms(&t.latency),
        schedule_lag_ms: shape.rate.map(|_| percentiles_ms(&t.lag)),
        histogram: encode_histogram(&t.latency),
        intervals: merged.intervals.clone(),
        plan: None,
        evidence: None,
    }
}

#[cfg(test)]
mod tests;

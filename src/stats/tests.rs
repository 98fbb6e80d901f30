use super::*;
use proptest::prelude::*;

fn hist_of(values: &[u64]) -> Histogram<u64> {
    let mut h = new_histogram();
    for &v in values {
        record(&mut h, v);
    }
    h
}

fn same(a: &Histogram<u64>, b: &Histogram<u64>) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.max(), b.max());
    assert_eq!(a.min(), b.min());
    for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(a.value_at_quantile(q), b.value_at_quantile(q));
    }
    let ra: Vec<(u64, u64)> = a
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    let rb: Vec<(u64, u64)> = b
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    assert_eq!(ra, rb);
}

proptest! {
    /// Merging per-worker histograms equals recording every value into one.
    #[test]
    fn merge_equals_single(values in prop::collection::vec(1u64..50_000_000, 0..400),
                           workers in 1usize..8) {
        let single = hist_of(&values);
        let mut merged = new_histogram();
        for w in 0..workers {
            let part: Vec<u64> = values.iter().copied().skip(w).step_by(workers).collect();
            merged.add(hist_of(&part)).unwrap();
        }
        same(&single, &merged);
    }

    /// The collector (intervals, watermarks, totals) loses and duplicates nothing.
    #[test]
    fn collector_equals_single(events in prop::collection::vec((0usize..4, 0u64..20, 1u64..1_000_000, 0usize..2), 0..300)) {
        let workers = 4;
        let mut c = Collector::new(workers, 2, Duration::from_secs(1));
        // Each worker sends its events interval by interval, in order.
        for w in 0..workers {
            let mut mine: Vec<_> = events.iter().filter(|e| e.0 == w).collect();
            mine.sort_by_key(|e| e.1);
            let mut i = 0;
            while i < mine.len() {
                let iv = mine[i].1;
                let mut aggs = vec![QueryAgg::default(), QueryAgg::default()];
                while i < mine.len() && mine[i].1 == iv {
                    record(&mut aggs[mine[i].3].latency, mine[i].2);
                    aggs[mine[i].3].rows += 1;
                    i += 1;
                }
                c.absorb(Batch { worker: w, interval: iv, queries: aggs.into_iter().enumerate().collect(), done: false });
            }
            c.absorb(Batch { worker: w, interval: 0, queries: vec![], done: true });
        }
        let merged = c.finish();
        for (q, m) in merged.iter().enumerate() {
            let vals: Vec<u64> = events.iter().filter(|e| e.3 == q).map(|e| e.2).collect();
            same(&hist_of(&vals), &m.total.latency);
            prop_assert_eq!(m.total.rows, vals.len() as u64);
            let interval_count: u64 = m.intervals.iter().map(|i| i.count).sum();
            prop_assert_eq!(interval_count, vals.len() as u64);
            // Interval rows are in time order, one per interval with data.
            let ts: Vec<f64> = m.intervals.iter().map(|i| i.t_s).collect();
            prop_assert!(ts.windows(2).all(|w| w[0] < w[1]));
        }
    }
}

#[test]
fn histogram_round_trips_through_base64() {
    let h = hist_of(&[1, 10, 100, 1000, 123_456, 9_999_999]);
    let back = decode_histogram(&encode_histogram(&h)).unwrap();
    same(&h, &back);
    assert!(decode_histogram("not base64!").is_err());
    assert!(decode_histogram("aGVsbG8=").is_err());
}

#[test]
fn percentiles_are_ordered_and_in_ms() {
    let values: Vec<u64> = (1..=10_000).collect();
    let p = percentiles_ms(&hist_of(&values));
    assert!(p.p50 <= p.p90 && p.p90 <= p.p95 && p.p95 <= p.p99);
    assert!(p.p99 <= p.p999 && p.p999 <= p.max);
    assert!((p.p50 - 5.0).abs() < 0.01, "p50 {}", p.p50);
    assert!((p.max - 10.0).abs() < 0.01, "max {}", p.max);
    assert_eq!(percentiles_ms(&new_histogram()), Percentiles::default());
}

#[tokio::test]
async fn recorder_sends_intervals_and_counts_errors() {
    let (tx, rx) = mpsc::channel(4);
    let t0 = Instant::now();
    let collector = tokio::spawn(Collector::new(1, 1, Duration::from_secs(1)).run(rx));
    // A 3 s phase: the completion at 3.2 s (in flight at the deadline) joins interval 2.
    let mut r = Recorder::new(
        0,
        1,
        t0,
        Duration::from_secs(1),
        Some(Duration::from_secs(3)),
        tx,
    );
    r.record_ok(0, t0, Duration::from_millis(2), None, 3).await;
    r.record_ok(
        0,
        t0 + Duration::from_millis(2500),
        Duration::from_millis(4),
        None,
        1,
    )
    .await;
    r.record_error(0, t0 + Duration::from_millis(2600), "57P01", None)
        .await;
    r.record_ok(
        0,
        t0 + Duration::from_millis(3200),
        Duration::from_millis(4),
        None,
        0,
    )
    .await;
    r.finish().await;
    let merged = collector.await.unwrap();
    let m = &merged[0];
    assert_eq!(m.total.latency.len(), 3);
    assert_eq!(m.total.rows, 4);
    assert_eq!(m.total.errors.get("57P01"), Some(&1));
    let ts: Vec<f64> = m.intervals.iter().map(|i| i.t_s).collect();
    assert_eq!(ts, vec![1.0, 3.0]);
    assert_eq!(m.intervals[1].count, 2);
    let shape = PhaseShape {
        mode: "closed",
        clients: 1,
        rate: None,
        duration_s: 2.0,
    };
    let qs = query_stats("q", &shape, m);
    assert_eq!(qs.count, 3);
    assert_eq!(qs.errors, 1);
    assert_eq!(qs.throughput_qps, 1.5);
    assert!(qs.schedule_lag_ms.is_none());
    assert!(hgrm(&m.total.latency).contains("Total count"));
}

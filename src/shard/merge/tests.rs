use super::*;
use crate::model::report::{Environment, Percentiles, ScenarioEcho};
use crate::stats::{encode_histogram, record};
use proptest::prelude::*;

fn hist(values: &[u64]) -> Histogram<u64> {
    let mut h = new_histogram();
    for &v in values {
        record(&mut h, v);
    }
    h
}

/// A shard's report with one closed-loop query whose intervals hold `per_interval`.
fn shard_summary(index: u32, count: u32, start_ms: f64, per_interval: &[Vec<u64>]) -> Summary {
    let all: Vec<u64> = per_interval.iter().flatten().copied().collect();
    let h = hist(&all);
    let intervals: Vec<IntervalStats> = per_interval
        .iter()
        .enumerate()
        .map(|(i, v)| interval_stats((i + 1) as f64 * 0.5, &hist(v)))
        .collect();
    Summary {
        format: crate::model::report::FORMAT_NAME.into(),
        schema_version: crate::model::report::SCHEMA_VERSION,
        bench_version: "0.1.0".into(),
        scenario: ScenarioEcho {
            name: "t".into(),
            file: "t.toml".into(),
            fingerprint: "f".into(),
            resolved: serde_json::json!({}),
        },
        environment: Environment::default(),
        started_at: format!("2026-01-01T00:00:0{index}Z"),
        finished_at: format!("2026-01-01T00:01:0{index}Z"),
        interrupted: false,
        degraded: false,
        load: vec![LoadResult {
            table: "esp_telemetry".into(),
            rows: 100 * u64::from(index + 1),
            seconds: 1.0 + f64::from(index),
            rows_per_sec: 0.0,
            workers: 1,
            batch_size: 10,
            retries: 0,
        }],
        verification: vec![],
        preparation: None,
        writes: false,
        storage: vec![],
        queries: vec![QueryStats {
            name: "q".into(),
            mode: "closed".into(),
            clients: 1,
            rate: None,
            count: h.len(),
            errors: u64::from(index),
            errors_by_sqlstate: BTreeMap::from([("57014".into(), u64::from(index))]),
            rows_returned: 10,
            duration_s: per_interval.len() as f64 * 0.5,
            throughput_qps: 0.0,
            latency_ms: Percentiles::default(),
            schedule_lag_ms: None,
            histogram: encode_histogram(&h),
            intervals,
            plan: None,
            evidence: None,
        }],
        checks: vec![],
        comparison: None,
        verdict: Verdict::Pass,
        resources: None,
        explanations: vec![],
        what_if: vec![],
        shard: Some(ShardReport {
            run_id: "r".into(),
            index,
            count,
            wells_start: index,
            wells_end: index + 1,
            host: format!("h{index}"),
            pid: 1,
            clock_offset_ms: 0.0,
            stats_interval_s: 0.5,
            queries: vec![ShardQueryDetail {
                name: "q".into(),
                measured_from_ms: start_ms,
                lag_histogram: None,
                interval_histograms: per_interval
                    .iter()
                    .map(|v| encode_histogram(&hist(v)))
                    .collect(),
            }],
        }),
    }
}

fn input(s: Summary) -> ShardInput {
    ShardInput {
        path: PathBuf::from(format!(
            "shard-{}/summary.json",
            s.shard.as_ref().map_or(99, |x| x.index)
        )),
        summary: s,
    }
}

#[test]
fn merges_counts_histograms_and_aligns_intervals() {
    // Shard 1 started 20 ms later: its intervals still land on the leader's.
    let a = shard_summary(0, 2, 1_000_000.0, &[vec![100, 200], vec![300]]);
    let b = shard_summary(1, 2, 1_000_020.0, &[vec![400], vec![500, 600]]);
    let m = merge(&[input(b), input(a)]).unwrap();
    let q = &m.queries[0];
    assert_eq!(q.count, 6);
    assert_eq!(q.clients, 2);
    assert_eq!(q.errors, 1);
    assert_eq!(q.errors_by_sqlstate.get("57014"), Some(&1));
    let h = decode_histogram(&q.histogram).unwrap();
    assert_eq!(h, hist(&[100, 200, 300, 400, 500, 600]));
    assert_eq!(q.intervals.len(), 2);
    assert_eq!(q.intervals[0].t_s, 0.5);
    assert_eq!(q.intervals[0].count, 3);
    assert_eq!(q.intervals[1].count, 3);
    assert!((q.duration_s - 1.02).abs() < 1e-9, "{}", q.duration_s);
    assert_eq!(m.load[0].rows, 300);
    assert_eq!(m.load[0].seconds, 2.0);
    assert_eq!(m.environment.shards.len(), 2);
    assert_eq!(m.environment.shards[1].host, "h1");
    assert!(m.shard.is_none());
    assert_eq!(m.started_at, "2026-01-01T00:00:00Z");
}

#[test]
fn missing_duplicated_and_foreign_shards_are_errors() {
    let a = || shard_summary(0, 3, 0.0, &[vec![1]]);
    let b = || shard_summary(1, 3, 0.0, &[vec![1]]);
    let e = merge(&[input(a()), input(b())]).unwrap_err().to_string();
    assert!(e.contains("shard 2/3 is missing"), "{e}");
    let e = merge(&[input(a()), input(b()), input(b())])
        .unwrap_err()
        .to_string();
    assert!(e.contains("shard 1/3") && e.contains("twice"), "{e}");
    let mut other = b();
    other.shard.as_mut().unwrap().run_id = "other".into();
    let e = merge(&[input(a()), input(other)]).unwrap_err().to_string();
    assert!(e.contains("run `other`"), "{e}");
    let mut plain = a();
    plain.shard = None;
    let e = merge(&[input(plain)]).unwrap_err().to_string();
    assert!(e.contains("not a shard's report"), "{e}");
}

proptest! {
    /// The merged histogram equals one histogram of every shard's values.
    #[test]
    fn merged_histogram_equals_recording_everything(
        shards in proptest::collection::vec(
            proptest::collection::vec(proptest::collection::vec(1u64..5_000_000, 0..20), 1..5),
            1..6),
    ) {
        let n = shards.len() as u32;
        let inputs: Vec<ShardInput> = shards
            .iter()
            .enumerate()
            .map(|(k, iv)| input(shard_summary(k as u32, n, 1e6 + k as f64, iv)))
            .collect();
        let m = merge(&inputs).unwrap();
        let all: Vec<u64> = shards.iter().flatten().flatten().copied().collect();
        let got = decode_histogram(&m.queries[0].histogram).unwrap();
        prop_assert_eq!(got, hist(&all));
        let in_intervals: u64 = m.queries[0].intervals.iter().map(|i| i.count).sum();
        prop_assert_eq!(in_intervals, all.len() as u64);
    }
}

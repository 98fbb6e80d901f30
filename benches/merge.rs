//! `bench merge` cost: 64 shard summaries, each with 10 queries of 60 one-second intervals
//! (a 1-minute phase) and ~2,000 recorded latencies per query, merged in memory and from disk
//! (reading 64 summary.json files included).
//!
//!     cargo bench --bench merge

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion};

// The shared Summary fixture of the tests.
#[path = "../tests/common/summary.rs"]
mod summary;
use esp_bench::report::model::*;
use esp_bench::shard::merge::{merge, merge_dirs, ShardInput};
use esp_bench::stats::{encode_histogram, interval_stats, new_histogram, record};

const SHARDS: u32 = 64;
const QUERIES: usize = 10;
const INTERVALS: usize = 60;
const PER_INTERVAL: u64 = 35;

fn shard(index: u32) -> Summary {
    let mut queries = Vec::new();
    let mut details = Vec::new();
    for q in 0..QUERIES {
        let mut total = new_histogram();
        let mut intervals = Vec::new();
        let mut hists = Vec::new();
        for i in 0..INTERVALS {
            let mut h = new_histogram();
            for j in 0..PER_INTERVAL {
                // A spread of latencies from ~0.3 ms to ~80 ms, different per shard and query.
                let x = (j * 7919 + i as u64 * 104_729 + u64::from(index) * 31 + q as u64) % 1000;
                let v = 300 + x * x * 80 / 1000;
                record(&mut h, v);
                record(&mut total, v);
            }
            intervals.push(interval_stats((i + 1) as f64, &h));
            hists.push(encode_histogram(&h));
        }
        let name = format!("query_{q}");
        queries.push(QueryStats {
            name: name.clone(),
            mode: "closed".into(),
            clients: 2,
            rate: None,
            count: total.len(),
            errors: 0,
            errors_by_sqlstate: BTreeMap::new(),
            rows_returned: total.len() * 10,
            duration_s: INTERVALS as f64,
            throughput_qps: total.len() as f64 / INTERVALS as f64,
            latency_ms: esp_bench::stats::percentiles_ms(&total),
            schedule_lag_ms: None,
            histogram: encode_histogram(&total),
            intervals,
            plan: None,
            evidence: None,
        });
        details.push(ShardQueryDetail {
            name,
            measured_from_ms: 1.767e12 + f64::from(index % 7),
            lag_histogram: None,
            interval_histograms: hists,
        });
    }
    let mut s = summary::summary(queries);
    s.scenario.name = "scaleout".into();
    s.scenario.file = "scenario.toml".into();
    s.scenario.fingerprint = "0123456789abcdef".into();
    s.scenario.resolved = serde_json::json!({});
    s.environment = Environment::default();
    s.finished_at = "2026-01-01T00:05:00Z".into();
    s.load = vec![LoadResult {
        table: "esp_telemetry".into(),
        rows: 1_000_000,
        seconds: 10.0,
        rows_per_sec: 100_000.0,
        workers: 8,
        batch_size: 100_000,
        retries: 0,
    }];
    s.shard = Some(ShardReport {
        run_id: "bench".into(),
        index,
        count: SHARDS,
        wells_start: index * 10,
        wells_end: index * 10 + 10,
        host: format!("pod-{index}"),
        pid: 1,
        clock_offset_ms: 0.0,
        stats_interval_s: 1.0,
        queries: details,
    });
    s
}

fn bench_merge(c: &mut Criterion) {
    let inputs: Vec<ShardInput> = (0..SHARDS)
        .map(|k| ShardInput {
            path: format!("shard-{k}/summary.json").into(),
            summary: shard(k),
        })
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let dirs: Vec<std::path::PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(k, i)| {
            let d = dir.path().join(format!("shard-{k}"));
            std::fs::create_dir_all(&d).expect("mkdir");
            let text = serde_json::to_string(&i.summary).expect("json");
            std::fs::write(d.join("summary.json"), text).expect("write");
            d
        })
        .collect();
    let mut g = c.benchmark_group("merge_64_shards");
    g.sample_size(10);
    g.bench_function("in_memory", |b| b.iter(|| merge(&inputs).expect("merge")));
    g.bench_function("from_disk", |b| {
        b.iter(|| merge_dirs(&dirs).expect("merge"))
    });
    g.finish();
}

criterion_group!(benches, bench_merge);
criterion_main!(benches);

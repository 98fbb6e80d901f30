//! Generator throughput per core: rows/s of `Fleet::telemetry_block` plus binary COPY encoding
//! (what a load worker does per row), and of generation alone. Single-threaded on purpose.
//!
//! Run: `cargo bench --bench datagen` (target: >= 2 million rows/s per core, binary encoding
//! included).
use std::time::Duration;

use bytes::BytesMut;
use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use esp_bench::datagen::{self, encode, Fleet};
use esp_bench::scenario::FleetPlan;

fn fleet() -> Fleet {
    let plan = FleetPlan {
        wells: 16,
        sample_interval: Duration::from_secs(1),
        span: Duration::from_secs(86_400),
        end: Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid instant"),
        end_is_now: false,
        seed: 42,
        faults: datagen::default_faults(),
        dirty: datagen::default_dirty(),
    };
    Fleet::new(&plan)
}

fn telemetry(c: &mut Criterion) {
    let fleet = fleet();
    // A spread of blocks over wells and the day, so episodes and dirty data are included.
    let blocks: Vec<_> = fleet.blocks_iter().step_by(7).take(32).collect();
    let mut rows = Vec::with_capacity(datagen::BLOCK_SAMPLES as usize * 2);
    let mut n = 0u64;
    for b in &blocks {
        rows.clear();
        fleet.telemetry_block(b, &mut rows);
        n += rows.len() as u64;
    }
    let mut g = c.benchmark_group("datagen");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);

    let mut buf = BytesMut::with_capacity(1 << 24);
    g.bench_function("telemetry_generate_and_binary_encode", |b| {
        b.iter(|| {
            buf.clear();
            encode::binary_header(&mut buf);
            for blk in &blocks {
                rows.clear();
                fleet.telemetry_block(blk, &mut rows);
                for r in &rows {
                    encode::telemetry_binary(r, &mut buf);
                }
            }
            encode::binary_trailer(&mut buf);
            buf.len()
        })
    });
    g.bench_function("telemetry_generate_only", |b| {
        b.iter(|| {
            let mut total = 0;
            for blk in &blocks {
                rows.clear();
                fleet.telemetry_block(blk, &mut rows);
                total += rows.len();
            }
            total
        })
    });
    let mut csv = Vec::with_capacity(1 << 24);
    g.bench_function("telemetry_generate_and_csv_encode", |b| {
        b.iter(|| {
            csv.clear();
            for blk in &blocks {
                rows.clear();
                fleet.telemetry_block(blk, &mut rows);
                for r in &rows {
                    encode::telemetry_csv(r, &mut csv);
                }
            }
            csv.len()
        })
    });
    g.finish();

    // Live ingest: one row per well at a sample index past the span (no block amortisation).
    let mut g = c.benchmark_group("datagen_live");
    let wells = fleet.wells();
    let first = fleet.samples_per_well();
    g.throughput(Throughput::Elements(wells as u64 * 16));
    g.bench_function("telemetry_sample_and_binary_encode", |b| {
        b.iter(|| {
            buf.clear();
            for s in first..first + 16 {
                for w in 0..wells {
                    if let Some(r) = fleet.telemetry_sample(w, s) {
                        encode::telemetry_binary(&r, &mut buf);
                    }
                }
            }
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, telemetry);
criterion_main!(benches);

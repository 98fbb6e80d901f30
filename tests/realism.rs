//! `bench realism`: the estimator on the real 3W data (when `../shared/data/3w` is there), and
//! the server's own figures on the bare table shape (community tier: compression needs the
//! community edition; set ESP_BENCH_COMMUNITY_PG_BIN).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use esp_bench::datagen;
use esp_bench::db::realism::{measure, Inputs, TableFigures};
use esp_bench::db::Target;
use esp_bench::realism::{self, input, reference, Layout, Options};
use esp_bench::scenario::FleetPlan;

/// The real data, laid out as CI does: `../shared/data/3w` from the repository root.
fn real_data(test: &str) -> Option<input::RealData> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/3w");
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: needs the 3W real data at {}: {test}",
            dir.display()
        );
        return None;
    }
    Some(input::read(&dir, &["class".to_string()]).expect("the 3W files parse"))
}

/// The generator in the layout of the 20 real instances (seed 42, default faults and dirty
/// data), as `bench realism --layout instances` builds it.
fn generated_like_real() -> (FleetPlan, Layout) {
    let template = FleetPlan {
        wells: 1,
        sample_interval: Duration::from_secs(1),
        span: Duration::from_secs(3600),
        end: Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid instant"),
        end_is_now: false,
        seed: 42,
        faults: datagen::default_faults(),
        dirty: datagen::default_dirty(),
    };
    let lengths = reference::INSTANCE_ROWS.to_vec();
    (
        realism::instances_plan(&lengths, &template),
        Layout::Instances(lengths),
    )
}

#[test]
fn estimator_reproduces_the_server_on_real_data() {
    let Some(data) = real_data("estimator_reproduces_the_server_on_real_data") else {
        return;
    };
    assert_eq!(data.instances.len(), 20);
    assert_eq!(data.instance_samples(), reference::INSTANCE_ROWS.to_vec());
    let r = realism::estimate_real(&data, "3w", &Options::default());
    for (li, level) in r.levels.iter().enumerate() {
        for real in reference::REAL_CHANNELS {
            let got = level
                .channel(real.name)
                .and_then(|c| c.bytes_per_value)
                .expect("channel present");
            let server = real.bytes_per_value[li];
            assert!(
                (got - server).abs() <= 0.05,
                "{} at {} s: modelled {got:.3}, server {server:.2}",
                real.name,
                level.interval_s
            );
        }
    }
    let null = r.levels[0].null_share.expect("rows");
    assert!((null - reference::REAL_NULL_SHARE).abs() < 0.01, "{null}");
}

fn ratio_of(tables: &[TableFigures], kind: &str, chunk_s: u64) -> f64 {
    tables
        .iter()
        .find(|t| t.kind == kind && t.interval_s == 1 && t.chunk_interval_s == chunk_s)
        .and_then(|t| t.ratio)
        .unwrap_or_else(|| panic!("no {kind} figures at {chunk_s} s chunks"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_data_compresses_like_real_on_the_bare_shape() {
    let Some(bin) = common::community_bin("generated_data_compresses_like_real_on_the_bare_shape")
    else {
        return;
    };
    let target = common::community_target(&bin).await;
    let leftovers = common::Leftovers::of(target.server.as_ref().expect("embedded"));
    let (plan, layout) = generated_like_real();
    let real = real_data("generated_data_compresses_like_real_on_the_bare_shape (real part)");
    let inputs = Inputs {
        generated: Some((plan, layout, "generated like real".into())),
        real: real.clone().map(|d| (d, "3w".into())),
        levels_s: vec![1],
    };
    let figures = measure(&target, &inputs).await.expect("measured");
    for t in &figures.tables {
        eprintln!(
            "{} 1 s, {} s chunks: {} rows, {} chunks, {} -> {} bytes, ratio {:.2}x, {:.2} B/v",
            t.kind,
            t.chunk_interval_s,
            t.rows,
            t.chunks,
            t.before_bytes,
            t.after_bytes,
            t.ratio.unwrap_or(0.0),
            t.bytes_per_value.unwrap_or(0.0)
        );
    }
    for (chunk_s, real_ratio) in [
        (3600, reference::REAL_RATIO_1H_CHUNKS),
        (86_400, reference::REAL_RATIO_1D_CHUNKS),
    ] {
        let got = ratio_of(&figures.tables, "generated", chunk_s);
        assert!(
            (got / real_ratio - 1.0).abs() <= 0.15,
            "generated ratio {got:.2}x at {chunk_s} s chunks, real {real_ratio}x"
        );
        if real.is_some() {
            // The shape itself reproduces the published real measurement.
            let r = ratio_of(&figures.tables, "real", chunk_s);
            assert!(
                (r / real_ratio - 1.0).abs() <= 0.02,
                "real ratio {r:.2}x at {chunk_s} s chunks, published {real_ratio}x"
            );
        }
    }
    // Every chunk was compressed, and everything bench created is gone again.
    assert!(figures
        .tables
        .iter()
        .all(|t| t.chunks > 0 && t.after_bytes > 0));
    let client = target.connect().await.expect("connect");
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'esp_bench'",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(left, 0, "bench's schema was not removed");
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM timescaledb_information.hypertables \
             WHERE hypertable_name LIKE 'realism_%'",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(tables, 0);
    drop(client);
    target.close().await.expect("server stops");
    leftovers.assert_gone();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realism_refuses_a_schema_it_does_not_own() {
    let Some(bin) = common::community_bin("realism_refuses_a_schema_it_does_not_own") else {
        return;
    };
    let server = common::community_server_with(&bin, Default::default()).await;
    let target = Target::for_server(server, "theirs").expect("target");
    let client = target.connect().await.expect("connect");
    client
        .batch_execute("CREATE SCHEMA theirs; CREATE TABLE theirs.keep (x int)")
        .await
        .expect("setup");
    let (plan, layout) = generated_like_real();
    let inputs = Inputs {
        generated: Some((plan, layout, "generated".into())),
        real: None,
        levels_s: vec![60],
    };
    let err = measure(&target, &inputs).await.expect_err("foreign schema");
    let msg = format!("{err:#}");
    assert!(msg.contains("not created by esp-bench"), "{msg}");
    let kept: i64 = client
        .query_one("SELECT count(*) FROM theirs.keep", &[])
        .await
        .expect("the foreign table is untouched")
        .get(0);
    assert_eq!(kept, 0);
    drop(client);
    target.close().await.expect("server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realism_needs_the_community_edition_for_server_figures() {
    // The default embedded server is the Apache edition here: a clear environment error.
    let target = common::target().await;
    let info = {
        let c = target.connect().await.expect("connect");
        esp_bench::db::detect::detect(&c).await.expect("detect")
    };
    if info.edition.is_community() {
        eprintln!("SKIPPED: the default server is the community edition; nothing to refuse");
        target.close().await.expect("stop");
        return;
    }
    let (plan, layout) = generated_like_real();
    let inputs = Inputs {
        generated: Some((plan, layout, "generated".into())),
        real: None,
        levels_s: vec![60],
    };
    let err = measure(&target, &inputs).await.expect_err("apache edition");
    let msg = format!("{err:#}");
    assert!(msg.contains("community edition"), "{msg}");
    assert_eq!(
        esp_bench::error::exit_code_for(&err),
        std::process::ExitCode::from(2)
    );
    target.close().await.expect("stop");
}

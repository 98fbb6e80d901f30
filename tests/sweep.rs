//! `bench sweep` outputs: CSV headers pinned, exponents fitted from the measurements, plots
//! that parse as SVG. At the bottom, a small sweep end to end against embedded servers: once
//! through the binary, once in-process to check each size's schema is fresh and dropped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use esp_bench::db::schema::{schema_ownership, Ownership};
use esp_bench::run::pipeline::RunOptions;
use esp_bench::sweep::{run_sweep, SweepOptions};
use tokio_util::sync::CancellationToken;

use esp_bench::capacity::report::write_sweep_outputs;
use esp_bench::report::model::*;

/// A summary measured at `wells` wells (1 row per well per 10 s over one day), where
/// `scan` slows down linearly with rows and `point` does not.
fn summary_at(wells: u32) -> Summary {
    let rows = u64::from(wells) * 8_640;
    let q = |name: &str, p95: f64| QueryStats {
        name: name.into(),
        mode: "closed".into(),
        clients: 1,
        rate: None,
        count: 50,
        errors: 0,
        errors_by_sqlstate: BTreeMap::new(),
        rows_returned: 50,
        duration_s: 1.0,
        throughput_qps: 50.0,
        latency_ms: Percentiles {
            mean: p95 / 2.0,
            p50: p95 / 2.0,
            p90: p95,
            p95,
            p99: p95 * 1.5,
            p999: p95 * 2.0,
            max: p95 * 2.0,
        },
        schedule_lag_ms: None,
        histogram: String::new(),
        intervals: vec![],
        plan: None,
        evidence: None,
    };
    let mut s = common::summary::summary(vec![q("point", 2.0), q("scan", rows as f64 / 10_000.0)]);
    s.scenario.name = "tiny".into();
    s.scenario.file = "tiny.toml".into();
    s.scenario.fingerprint = "0".into();
    s.scenario.resolved = serde_json::json!({});
    s.environment = Environment::default();
    s.load = vec![LoadResult {
        table: "esp_telemetry".into(),
        rows,
        seconds: 2.0,
        rows_per_sec: rows as f64 / 2.0,
        workers: 1,
        batch_size: 1000,
        retries: 0,
    }];
    s.storage = vec![
        TableStorage {
            table: "esp_telemetry".into(),
            rows,
            rows_exact: true,
            chunks: 1,
            chunk_interval_s: 86_400,
            total_bytes: rows * 150,
            heap_bytes: rows * 100,
            index_bytes: rows * 50,
            toast_bytes: 0,
            compressed_before_bytes: None,
            compressed_after_bytes: None,
            compressed_chunks: None,
            compression: None,
        },
        TableStorage {
            table: "diagnostic_results".into(),
            rows: 10,
            rows_exact: true,
            chunks: 1,
            chunk_interval_s: 7 * 86_400,
            total_bytes: 16_384,
            heap_bytes: 8_192,
            index_bytes: 8_192,
            toast_bytes: 0,
            compressed_before_bytes: None,
            compressed_after_bytes: None,
            compressed_chunks: None,
            compression: None,
        },
    ];
    s
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name),
    )
    .unwrap()
    .trim_end()
    .to_string()
}

fn assert_valid_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
}

#[test]
fn sweep_outputs_have_pinned_headers_fits_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<(u32, Summary)> = [50, 100, 200, 400].map(|w| (w, summary_at(w))).into();
    let out = write_sweep_outputs(dir.path(), &runs).unwrap();

    let sweep = std::fs::read_to_string(&out.sweep_csv).unwrap();
    assert_eq!(sweep.lines().next().unwrap(), golden("sweep-header.csv"));
    assert_eq!(
        sweep.lines().count(),
        1 + 4 * 2,
        "one row per size and query"
    );
    let fit = std::fs::read_to_string(&out.fit_csv).unwrap();
    assert_eq!(fit.lines().next().unwrap(), golden("fit-header.csv"));

    let k: BTreeMap<&str, f64> = out
        .fits
        .iter()
        .map(|f| (f.query.as_str(), f.exponent_k.unwrap()))
        .collect();
    assert!(k["point"].abs() < 1e-9, "flat query: k = {}", k["point"]);
    assert!(
        (k["scan"] - 1.0).abs() < 1e-9,
        "linear query: k = {}",
        k["scan"]
    );
    assert_eq!(out.fits[1].rows_min, 50 * 8_640);
    assert_eq!(out.fits[1].rows_max, 400 * 8_640);
    assert_eq!(out.rows[0].storage_bytes, 50 * 8_640 * 150 + 16_384);
    assert_eq!(out.rows[0].bytes_per_row, 150.0);

    // The sweep.csv reads back for `bench plan --sweep`.
    let back = esp_bench::capacity::io::read_sweep_csv(&out.sweep_csv).unwrap();
    assert_eq!(back, out.rows);

    let names: Vec<String> = out
        .plots
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["sweep-latency.svg", "sweep-storage.svg"]);
    for p in &out.plots {
        assert_valid_svg(p);
    }
    let html = std::fs::read_to_string(&out.index).unwrap();
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(out.text.contains("scan"));
}

/// A ci.toml-like scenario small enough to run twice in seconds: two built-in queries with a
/// fixed count, no checks that need much data.
fn tiny_scenario(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        r#"[scenario]
name = "tiny"

[fleet]
wells = 2
sample_interval = "300s"
span = "3d"
end = "2025-01-31T00:00:00Z"
seed = 7

[load]
workers = 1
batch_size = 5000

[run]
warmup = "0s"
duration = "1s"
stats_interval = "1s"
statement_timeout = "10s"

[[queries]]
name = "latest_24h"
count = 30

[[queries]]
name = "agg_7d_fleet"
count = 30

[checks]
chunk_counts = false
policies = false
retention = false
"#,
    )
    .unwrap();
    path
}

#[test]
fn sweep_of_two_sizes_writes_csv_fit_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = tiny_scenario(dir.path());
    let out = dir.path().join("sweep");
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "sweep",
            scenario.to_str().unwrap(),
            "--wells",
            "4,2",
            "--out",
        ])
        .arg(&out)
        .env_remove("DATABASE_URL")
        .output()
        .expect("bench runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("k (p95 ~ rows^k)"), "{stdout}");

    let rows = esp_bench::capacity::io::read_sweep_csv(&out.join("sweep.csv")).unwrap();
    assert_eq!(rows.len(), 4, "two sizes x two queries");
    assert_eq!(
        rows.iter().map(|r| r.wells).collect::<Vec<_>>(),
        [2, 2, 4, 4],
        "sizes run in ascending order"
    );
    for r in &rows {
        assert_eq!(r.count, 30, "{r:?}");
        assert!(r.p95_ms > 0.0 && r.p95_ms >= r.p50_ms, "{r:?}");
        assert!(r.storage_bytes > 0 && r.bytes_per_row > 0.0, "{r:?}");
        assert!(r.ingest_rows_per_sec.is_some_and(|v| v > 0.0), "{r:?}");
    }
    // Twice the wells, about twice the rows: each size ran on its own fresh schema.
    let (small, large) = (rows[0].rows, rows[2].rows);
    assert!(
        small > 0 && large > small * 3 / 2 && large < small * 5 / 2,
        "{small} -> {large}"
    );

    let fit = std::fs::read_to_string(out.join("fit.csv")).unwrap();
    let mut r = csv::Reader::from_reader(fit.as_bytes());
    let k_col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "exponent_k")
        .unwrap();
    let ks: Vec<f64> = r
        .records()
        .map(|rec| {
            rec.unwrap()[k_col]
                .parse::<f64>()
                .expect("an exponent per query")
        })
        .collect();
    assert_eq!(ks.len(), 2);
    assert!(ks.iter().all(|k| k.is_finite()));

    for name in ["sweep-latency.svg", "sweep-storage.svg"] {
        assert_valid_svg(&out.join(name));
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2);
    for w in [2, 4] {
        let summary = out.join(format!("wells-{w}/summary.json"));
        let s = esp_bench::report::read_summary(&summary).unwrap();
        assert!(s.storage.iter().any(|t| t.table == "esp_telemetry"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_uses_fresh_schemas_and_drops_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let plan = esp_bench::scenario::load_config(&tiny_scenario(dir.path())).unwrap();
    let mut t = common::target().await;
    let opts = SweepOptions {
        keep_schemas: false,
        run: RunOptions::quiet(CancellationToken::new()),
    };
    let mut seen = Vec::new();
    let swept = run_sweep(&mut t, &plan, &[1, 2], opts.clone(), |w, s| {
        seen.push((w, s.storage.len()));
        Ok(())
    })
    .await
    .expect("sweep runs");
    assert_eq!(swept.runs.len(), 2);
    assert!(!swept.interrupted);
    assert_eq!(seen.len(), 2);
    assert_eq!(t.schema, "esp_bench", "target schema restored");
    let client = t.connect().await.unwrap();
    for s in ["esp_bench_w1", "esp_bench_w2"] {
        assert_eq!(
            schema_ownership(&client, s).await.unwrap(),
            Ownership::Absent,
            "{s}"
        );
    }
    // A schema of a size's name that bench did not create is refused before anything runs,
    // and left alone.
    client
        .batch_execute("CREATE SCHEMA esp_bench_w2; CREATE TABLE esp_bench_w2.keep_me (x int)")
        .await
        .unwrap();
    let err = run_sweep(&mut t, &plan, &[1, 2], opts, |_, _| Ok(()))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("esp_bench_w2 already exists"),
        "{err:#}"
    );
    assert_eq!(
        schema_ownership(&client, "esp_bench_w1").await.unwrap(),
        Ownership::Absent,
        "nothing ran"
    );
    let n: i64 = client
        .query_one("SELECT count(*) FROM esp_bench_w2.keep_me", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    drop(client);
    t.close().await.unwrap();
}

//! `bench plan` end to end through the real binary (no server needed): pinned CSV header,
//! rows/day, hand-computed projections, latency projection from a sweep, plots that parse as
//! SVG, and clear exit-2 errors for malformed or foreign input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use esp_bench::plan::io::write_csv;
use esp_bench::plan::SweepRow;
use esp_bench::report::model::*;
use hdrhistogram::serialization::Serializer as _;

/// A histogram of 1..=2000 ms-ish values (microseconds), V2+deflate base64.
fn histogram() -> String {
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for v in 1..=2000u64 {
        h.record(500 + v * v).unwrap();
    }
    let mut buf = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(&h, &mut buf)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(&buf)
}

fn query(name: &str, p95: f64) -> QueryStats {
    QueryStats {
        name: name.into(),
        mode: "closed".into(),
        clients: 2,
        rate: None,
        count: 2000,
        errors: 0,
        errors_by_sqlstate: BTreeMap::new(),
        rows_returned: 2000,
        duration_s: 10.0,
        throughput_qps: 200.0,
        latency_ms: Percentiles {
            mean: 1.5,
            p50: 1.0,
            p90: 2.0,
            p95,
            p99: p95 * 2.0,
            p999: p95 * 3.0,
            max: p95 * 4.0,
        },
        schedule_lag_ms: None,
        histogram: histogram(),
        intervals: vec![],
        plan: None,
        evidence: None,
    }
}

/// A measured run: 864,000 telemetry rows at 200 bytes/row, compressed 10x, loaded at
/// 108,000 rows/s, two queries.
fn summary() -> Summary {
    Summary {
        format: FORMAT_NAME.into(),
        schema_version: SCHEMA_VERSION,
        bench_version: "0.1.0".into(),
        scenario: ScenarioEcho {
            name: "ci".into(),
            file: "scenarios/ci.toml".into(),
            fingerprint: "0".into(),
            resolved: serde_json::json!({}),
        },
        environment: Environment {
            edition: "community".into(),
            memory_bytes: 8 << 30,
            ..Default::default()
        },
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        degraded: false,
        load: vec![LoadResult {
            table: "esp_telemetry".into(),
            rows: 864_000,
            seconds: 8.0,
            rows_per_sec: 108_000.0,
            workers: 2,
            batch_size: 10_000,
            retries: 0,
        }],
        verification: vec![],
        preparation: None,
        writes: false,
        storage: vec![TableStorage {
            table: "esp_telemetry".into(),
            rows: 864_000,
            rows_exact: true,
            chunks: 3,
            chunk_interval_s: 86_400,
            total_bytes: 172_800_000,
            heap_bytes: 120_000_000,
            index_bytes: 52_800_000,
            toast_bytes: 0,
            compressed_before_bytes: Some(100_000_000),
            compressed_after_bytes: Some(10_000_000),
            compressed_chunks: Some(2),
            compression: None,
        }],
        queries: vec![query("latest_24h", 5.0), query("agg_7d_fleet", 40.0)],
        checks: vec![],
        comparison: None,
        verdict: Verdict::Pass,
        shard: None,
        resources: None,
        explanations: vec![],
        what_if: vec![],
    }
}

fn write_summary(dir: &Path, s: &Summary) -> PathBuf {
    let p = dir.join("summary.json");
    std::fs::write(&p, serde_json::to_string_pretty(s).unwrap()).unwrap();
    p
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("bench runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

fn assert_valid_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert!(
        doc.descendants().any(|n| n.has_tag_name("text")),
        "{} has no text labels",
        path.display()
    );
}

#[test]
fn plan_writes_one_row_per_fleet_size_with_pinned_header() {
    let dir = tempfile::tempdir().unwrap();
    let from = write_summary(dir.path(), &summary());
    let out = dir.path().join("plan.csv");
    let o = bench(&[
        "plan",
        "--from",
        s(&from),
        "--wells",
        "200,1000,5000",
        "--interval",
        "10s",
        "--retention",
        "30d",
        "--compress-after",
        "7d",
        "--memory",
        "64GiB",
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("1,728,000"), "table on stdout:\n{stdout}");

    let text = std::fs::read_to_string(&out).unwrap();
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/plan-header.csv"),
    )
    .unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        golden.trim_end(),
        "plan.csv header changed"
    );

    let (_, rows) = read_csv(&out);
    assert_eq!(rows.len(), 3);
    for (row, wells) in rows.iter().zip([200u64, 1000, 5000]) {
        assert_eq!(row["wells"], wells.to_string());
        // rows/day = wells x 86400 / interval, exactly.
        assert_eq!(row["rows_per_day"], (wells * 86_400 / 10).to_string());
        assert_eq!(row["rows_retained"], (wells * 86_400 / 10 * 30).to_string());
    }
    // Hand-computed for 200 wells: 51,840,000 rows x 200 B; 7 hot days at 200 B plus 23 days
    // at 20 B; a 1-day chunk is 1,728,000 x 200 B; 64 GiB x 25% holds a 7-day chunk.
    let r = &rows[0];
    assert_eq!(r["bytes_per_row_measured"], "200");
    assert_eq!(r["compression_ratio_measured"], "10");
    assert_eq!(r["raw_storage_bytes"], "10368000000");
    assert_eq!(r["compressed_storage_bytes"], "3214080000");
    assert_eq!(r["chunk_bytes"], "345600000");
    assert_eq!(r["recommended_chunk_interval"], "7d");
    assert_eq!(r["memory_bytes"], (64u64 << 30).to_string());
    assert_eq!(r["ingest_rows_per_sec_required"], "20");
    assert_eq!(r["ingest_rows_per_sec_measured"], "108000");
    assert_eq!(r["ingest_headroom"], "5400");
    assert_eq!(r["p95_ms_projected_latest_24h"], "");
    assert_eq!(r["extrapolation_factor"], "");
    // 5000 wells: a 1-day chunk is 8.64 GB, a 2-day one 17.28 GB > 16 GiB: 1d.
    assert_eq!(rows[2]["recommended_chunk_interval"], "1d");

    let storage_plot = dir.path().join("plan-storage.svg");
    assert_valid_svg(&storage_plot);
    let html = std::fs::read_to_string(dir.path().join("plan.html")).unwrap();
    assert!(html.contains("<svg"), "plots inlined");
    assert!(
        !html.contains("src=\"http") && !html.contains("<link") && !html.contains("<script"),
        "the page must not load anything"
    );
}

#[test]
fn plan_projects_latency_from_a_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let from = write_summary(dir.path(), &summary());
    // agg_7d_fleet doubles when rows quadruple (k = 0.5); latest_24h stays flat (k = 0).
    let row = |wells: u32, rows: u64, query: &str, p95: f64| SweepRow {
        wells,
        rows,
        query: query.into(),
        count: 100,
        errors: 0,
        p50_ms: p95 / 2.0,
        p95_ms: p95,
        p99_ms: p95 * 2.0,
        throughput_qps: 10.0,
        ingest_rows_per_sec: Some(1e5),
        storage_bytes: rows * 250,
        telemetry_bytes: rows * 200,
        bytes_per_row: 200.0,
    };
    let sweep = dir.path().join("sweep.csv");
    write_csv(
        &sweep,
        &[
            row(50, 1000, "agg_7d_fleet", 1.0),
            row(50, 1000, "latest_24h", 3.0),
            row(200, 4000, "agg_7d_fleet", 2.0),
            row(200, 4000, "latest_24h", 3.0),
        ],
    )
    .unwrap();
    let out = dir.path().join("p.csv");
    let o = bench(&[
        "plan",
        "--from",
        s(&from),
        "--wells",
        "200",
        "--interval",
        "10s",
        "--retention",
        "30d",
        "--sweep",
        s(&sweep),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, rows) = read_csv(&out);
    let r = &rows[0];
    // 51,840,000 / 864,000 = 60 times the measured rows: 40 ms x 60^0.5.
    let agg: f64 = r["p95_ms_projected_agg_7d_fleet"].parse().unwrap();
    assert!((agg - 40.0 * 60f64.sqrt()).abs() < 1e-6, "{agg}");
    // The sweep's largest size held 4,000 rows: the projection reaches 12,960x beyond it.
    assert_eq!(r["sweep_rows_max"], "4000");
    assert_eq!(r["extrapolation_factor"], "12960");
    let k: f64 = r["p95_exponent_agg_7d_fleet"].parse().unwrap();
    assert!((k - 0.5).abs() < 1e-12);
    let flat: f64 = r["p95_ms_projected_latest_24h"].parse().unwrap();
    assert!((flat - 5.0).abs() < 1e-9);
    // Memory defaults to the host's, recorded in the summary, and says so.
    assert_eq!(r["memory_bytes"], (8u64 << 30).to_string());
    assert!(r["memory_source"].contains("summary"));
    assert_valid_svg(&dir.path().join("p-latency.svg"));
}

fn assert_config_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn malformed_or_foreign_summary_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 6] = [
        ("empty.json", "", "empty.json"),
        (
            "broken.json",
            "{\"format\": \"esp-bench-summary\", ",
            "broken.json",
        ),
        (
            "foreign.json",
            "{\"name\": \"something else\"}",
            "not an esp-bench summary",
        ),
        ("array.json", "[1, 2, 3]", "not an esp-bench summary"),
        (
            "future.json",
            "{\"format\": \"esp-bench-summary\", \"schema_version\": 999}",
            "999",
        ),
        (
            "partial.json",
            "{\"format\": \"esp-bench-summary\", \"schema_version\": 1, \"queries\": []}",
            "partial.json",
        ),
    ];
    for (name, text, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let o = bench(&[
            "plan",
            "--from",
            s(&p),
            "--wells",
            "10",
            "--interval",
            "10s",
        ]);
        assert_config_error(&o, needle);
    }
    let missing = dir.path().join("missing.json");
    let o = bench(&[
        "plan",
        "--from",
        s(&missing),
        "--wells",
        "10",
        "--interval",
        "10s",
    ]);
    assert_config_error(&o, "missing.json");
}

#[test]
fn a_summary_without_telemetry_storage_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = summary();
    sm.storage.clear();
    let from = write_summary(dir.path(), &sm);
    let o = bench(&[
        "plan",
        "--from",
        s(&from),
        "--wells",
        "10",
        "--interval",
        "10s",
    ]);
    assert_config_error(&o, "no storage figures for esp_telemetry");
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let from = write_summary(dir.path(), &summary());
    let f = s(&from);
    let o = bench(&["plan", "--from", f, "--wells", "10", "--interval", "0s"]);
    assert_config_error(&o, "--interval");
    let o = bench(&["plan", "--from", f, "--wells", "0", "--interval", "10s"]);
    assert_config_error(&o, "--wells");
    let o = bench(&[
        "plan",
        "--from",
        f,
        "--wells",
        "10",
        "--interval",
        "10s",
        "--memory",
        "lots",
    ]);
    assert_config_error(&o, "--memory");
    let bad_sweep = dir.path().join("notasweep.csv");
    std::fs::write(&bad_sweep, "a,b\n1,2\n").unwrap();
    let o = bench(&[
        "plan",
        "--from",
        f,
        "--wells",
        "10",
        "--interval",
        "10s",
        "--sweep",
        s(&bad_sweep),
    ]);
    assert_config_error(&o, "not a sweep.csv");
}

#[test]
fn run_report_plots_are_valid_svg_and_indexed_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = summary();
    // A query with no successful sample gets no plot; one without a histogram falls back to
    // the summary's percentiles.
    sm.queries.push(QueryStats {
        count: 0,
        histogram: String::new(),
        ..query("all_failed", 1.0)
    });
    sm.queries.push(QueryStats {
        histogram: String::new(),
        ..query("no_histogram", 3.0)
    });
    let plots = esp_bench::report::plot::write_run_plots(dir.path(), &sm).unwrap();
    let names: Vec<String> = plots
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "latency-latest_24h.svg",
            "latency-agg_7d_fleet.svg",
            "latency-no_histogram.svg"
        ]
    );
    for p in &plots {
        assert_valid_svg(p);
    }
    let text = std::fs::read_to_string(&plots[0]).unwrap();
    assert!(text.contains("99.9%"), "log percentile axis labels");

    let index = esp_bench::report::html::tables::write_tables_page(
        dir.path(),
        "index.html",
        "run <ci>",
        "",
        vec![],
        &plots,
        vec![],
        vec![],
    )
    .unwrap();
    let html = std::fs::read_to_string(index).unwrap();
    assert!(html.contains("run &lt;ci&gt;"));
    assert_eq!(html.matches("<svg").count(), 3, "every plot inlined");
    assert!(!html.contains("src=\"http"), "no external resources");

    let broken = QueryStats {
        histogram: "not base64!".into(),
        ..query("broken", 1.0)
    };
    sm.queries = vec![broken];
    let err = esp_bench::report::plot::write_run_plots(dir.path(), &sm).unwrap_err();
    assert!(format!("{err:#}").contains("broken"), "{err:#}");
}

/// The summary of [`summary`] with the compressed chunks' split: 2 chunks, 576,000 rows,
/// before 115.2 MB (heap 63.36 MB + toast 0.0 + indexes 51.84 MB = 110 + 90 B/row), after
/// 11.52 MB (20 B/row: 18 data + 2 index); the channels alone 72 -> 16 B/row.
fn summary_with_split() -> Summary {
    let mut s = summary();
    let split = |t: u64, i: u64, x: u64| ByteSplit {
        table_bytes: t,
        index_bytes: i,
        toast_bytes: x,
        total_bytes: t + i + x,
    };
    let st = &mut s.storage[0];
    st.compressed_before_bytes = Some(115_200_000);
    st.compressed_after_bytes = Some(11_520_000);
    st.compression = Some(CompressionDetails {
        chunks: 2,
        rows: 576_000,
        segments: Some(1_000),
        rows_per_segment: Some(576.0),
        before: split(63_360_000, 51_840_000, 0),
        after: split(576_000, 1_152_000, 9_792_000),
        ratio: Some(10.0),
        value_columns: vec!["frequency_hz".into()],
        values_before_bytes: Some(41_472_000),
        values_after_bytes: Some(9_216_000),
        values_ratio: Some(4.5),
        per_chunk: vec![],
    });
    s
}

fn plan_row(args: &[&str], summary: &Summary) -> (Output, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let from = write_summary(dir.path(), summary);
    let out = dir.path().join("plan.csv");
    let mut all = vec![
        "plan",
        "--from",
        s(&from),
        "--wells",
        "200",
        "--interval",
        "10s",
        "--memory",
        "64GiB",
        "-o",
        s(&out),
    ];
    all.extend_from_slice(args);
    let o = bench(&all);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, mut rows) = read_csv(&out);
    (o, rows.remove(0))
}

#[test]
fn plan_projects_other_index_sets_from_the_measured_split() {
    let sm = summary_with_split();
    // Measured indexes: the projection is unchanged (200 B/row, 10x) and the split is shown.
    let (o, r) = plan_row(&[], &sm);
    assert_eq!(r["index_model"], "measured (the run's schema)");
    assert_eq!(r["heap_bytes_per_row"], "110");
    assert_eq!(r["index_bytes_per_row_measured"], "90");
    assert_eq!(r["index_bytes_per_row"], "90");
    assert_eq!(r["channel_bytes_per_row"], "72");
    assert_eq!(r["channel_bytes_per_row_compressed"], "16");
    assert_eq!(r["channel_compression_ratio"], "4.5");
    assert_eq!(r["compressed_data_bytes_per_row"], "18");
    assert_eq!(r["compressed_index_bytes_per_row"], "2");
    assert_eq!(r["bytes_per_row_projected"], "200");
    assert_eq!(r["compression_ratio_projected"], "10");
    assert_eq!(r["raw_storage_bytes"], "10368000000");
    assert!(r["split_source"].contains("2 compressed chunks, 576000 rows"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("bytes/row: heap 110.0 + index 90.0"),
        "{stdout}"
    );

    // No indexes: 110 B/row uncompressed, 20 B/row compressed (5.5x). 200 wells at 10 s keep
    // 51,840,000 rows: raw 5,702,400,000 B; compressed 7 d x 110 B + 23 d x 20 B.
    let (o, r) = plan_row(&["--indexes", "none"], &sm);
    assert_eq!(r["index_model"], "none (--indexes none)");
    assert_eq!(r["index_bytes_per_row"], "0");
    assert_eq!(r["bytes_per_row_projected"], "110");
    assert_eq!(r["compression_ratio_projected"], "5.5");
    assert_eq!(r["bytes_per_row_compressed"], "20");
    assert_eq!(r["raw_storage_bytes"], "5702400000");
    assert_eq!(
        r["compressed_storage_bytes"],
        (12_096_000u64 * 110 + 39_744_000 * 20).to_string()
    );
    assert_eq!(r["chunk_bytes"], (1_728_000u64 * 110).to_string());
    assert_eq!(r["compression_ratio_measured"], "10");
    assert!(String::from_utf8_lossy(&o.stdout).contains("compression projected"));

    // Another index set, 30 B/row: 140 B/row, 7x.
    let (_, r) = plan_row(&["--index-bytes-per-row", "30"], &sm);
    assert_eq!(r["bytes_per_row_projected"], "140");
    assert_eq!(r["compression_ratio_projected"], "7");
    assert_eq!(r["index_model"], "--index-bytes-per-row 30");

    // Without the split (an Apache run, or an older summary) the table's storage figures give
    // the uncompressed side: heap 120,000,000 / 864,000 rows.
    let (_, r) = plan_row(&["--indexes", "none"], &summary());
    assert_eq!(
        r["bytes_per_row_projected"],
        (120_000_000.0f64 / 864_000.0).to_string()
    );
    assert_eq!(r["compression_ratio_projected"], "");
    assert_eq!(r["compressed_storage_bytes"], "");
    assert!(r["split_source"].starts_with("table storage"));
}

#[test]
fn index_flags_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let from = write_summary(dir.path(), &summary());
    let f = s(&from);
    let base = ["plan", "--from", f, "--wells", "10", "--interval", "10s"];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        bench(&a)
    };
    assert_config_error(&run(&["--index-bytes-per-row=-3"]), "--index-bytes-per-row");
    assert_config_error(
        &run(&["--index-bytes-per-row", "NaN"]),
        "--index-bytes-per-row",
    );
    assert_config_error(&run(&["--indexes", "some"]), "--indexes");
    assert_config_error(
        &run(&["--indexes", "none", "--index-bytes-per-row", "5"]),
        "cannot be used with",
    );
}

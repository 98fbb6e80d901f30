//! summary.json is a contract (`bench compare`, `bench plan` and users' scripts read it): its
//! key structure is pinned by tests/golden/summary-keys.txt, so any field change fails here
//! until the golden file and docs/report-format.md are updated together. Regenerate the golden
//! file with `UPDATE_GOLDEN=1 cargo test --test report_schema`.
//!
//! Also: the report files round-trip, foreign or malformed JSON is a configuration error, and
//! the .hgrm percentile file of a known histogram has the right percentiles.

use std::collections::BTreeMap;
use std::path::Path;

use esp_bench::error::BenchError;
use esp_bench::report::files::HeaderOf;
use esp_bench::report::model::*;
use esp_bench::report::{read_summary, write_reports};
use serde_json::{json, Value};

/// Maps whose keys are data (SQLSTATEs, setting names), not schema.
const MAPS: [&str; 2] = ["environment.settings", "queries[].errors_by_sqlstate"];
/// Free-form JSON.
const OPAQUE: [&str; 2] = ["scenario.resolved", "comparison"];

fn histogram_of(values_us: impl IntoIterator<Item = u64>) -> String {
    let mut h = esp_bench::stats::new_histogram();
    for v in values_us {
        h.record(v).unwrap();
    }
    esp_bench::stats::encode_histogram(&h)
}

fn percentiles(base: f64) -> Percentiles {
    Percentiles {
        mean: base,
        p50: base,
        p90: base * 1.5,
        p95: base * 2.0,
        p99: base * 3.0,
        p999: base * 4.0,
        max: base * 5.0,
    }
}

fn plan_chunks(executed: u64, compressed: u64) -> PlanChunks {
    PlanChunks {
        chunks_total: 32,
        chunks_planned: 32,
        chunks_excluded_startup: 32 - executed,
        chunks_excluded_runtime: 0,
        chunks_executed: executed,
        chunks_executed_compressed: compressed,
        hypertables: vec!["esp_telemetry".into()],
        execution_ms: Some(1.5),
        planning_ms: Some(0.25),
    }
}

fn compression_details() -> CompressionDetails {
    let split = |t: u64, i: u64, x: u64| ByteSplit {
        table_bytes: t,
        index_bytes: i,
        toast_bytes: x,
        total_bytes: t + i + x,
    };
    let chunk = ChunkCompression {
        chunk: "_hyper_1_1_chunk".into(),
        range_start: "2026-01-01T00:00:00Z".parse().unwrap(),
        range_end: "2026-01-02T00:00:00Z".parse().unwrap(),
        rows: 5760,
        segments: Some(20),
        rows_per_segment: Some(288.0),
        before: split(761_856, 630_784, 8192),
        after: split(16_384, 32_768, 180_224),
        values_before_bytes: Some(414_720),
        values_after_bytes: Some(150_000),
    };
    CompressionDetails {
        chunks: 1,
        rows: 5760,
        segments: Some(20),
        rows_per_segment: Some(288.0),
        before: chunk.before,
        after: chunk.after,
        ratio: Some(6.1),
        value_columns: vec!["frequency_hz".into()],
        values_before_bytes: Some(414_720),
        values_after_bytes: Some(150_000),
        values_ratio: Some(2.76),
        per_chunk: vec![chunk],
    }
}

/// A summary with every optional field present and every list and map non-empty.
fn full_summary() -> Summary {
    Summary {
        format: FORMAT_NAME.into(),
        schema_version: SCHEMA_VERSION,
        bench_version: "0.1.0".into(),
        scenario: ScenarioEcho {
            name: "ci".into(),
            file: "scenarios/ci.toml".into(),
            fingerprint: "0123456789abcdef".into(),
            resolved: json!({ "name": "ci", "fleet": { "wells": 20 } }),
        },
        environment: Environment {
            postgres_version: "15.20".into(),
            timescaledb_version: "2.19.3".into(),
            edition: "apache".into(),
            server: "embedded".into(),
            cores: 2,
            memory_bytes: 8 << 30,
            os: "linux".into(),
            settings: BTreeMap::from([("work_mem".to_string(), "4MB".to_string())]),
            shards: vec![ShardEnvironment {
                index: 0,
                run_id: "ci-20260101T000000Z-42".into(),
                host: "bench-0".into(),
                pid: 42,
                os: "Linux 6.1 x86_64".into(),
                cores: 2,
                memory_bytes: 8 << 30,
                bench_version: "0.1.0".into(),
                wells_start: 0,
                wells_end: 10,
                clock_offset_ms: 0.4,
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:01:00Z".into(),
                verdict: Verdict::Pass,
            }],
        },
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        degraded: true,
        load: vec![LoadResult {
            table: "esp_telemetry".into(),
            rows: 201_600,
            seconds: 4.5,
            rows_per_sec: 44_800.0,
            workers: 2,
            batch_size: 20_000,
            retries: 0,
        }],
        verification: vec![Verification {
            stage: "after load".into(),
            verified: false,
            seconds: 0.4,
            tables: vec![TableVerification {
                table: "esp_telemetry".into(),
                window_start: "2025-12-01T00:00:00Z".into(),
                window_end: "2026-01-01T00:00:00Z".into(),
                expected_rows: 287_985,
                stored_rows: 244_795,
                ledger_rows: 287_985,
                ledger_complete: true,
                wells: 20,
                wells_mismatched: 3,
                mismatches: vec![WellMismatch {
                    well_id: "WELL-001".into(),
                    expected: 14_400,
                    stored: 0,
                }],
                ok: false,
                note: "esp_telemetry: 244,795 rows, generator 287,985, ledger 287,985; wells WELL-001..003 missing".into(),
            }],
        }],
        preparation: Some(Preparation {
            state: "steady".into(),
            seconds: 3.5,
            analyze_seconds: 0.4,
            maintenance: "VACUUM (ANALYZE)".into(),
            tables: vec![TablePreparation {
                table: "esp_telemetry".into(),
                compress_after_s: 604_800,
                drop_after_s: 2_592_000,
                compress_cutoff: "2025-12-25T00:00:00Z".into(),
                drop_cutoff: "2025-12-02T00:00:00Z".into(),
                chunks_before: 33,
                chunks_dropped: 2,
                chunks_compressed: 23,
                chunks_compressed_total: 23,
                chunks_after: 31,
                compression_applied: true,
                compress_seconds: 3.4,
                drop_seconds: 0.1,
            }],
            notes: vec!["apache edition: history stays uncompressed".into()],
        }),
        writes: true,
        storage: vec![TableStorage {
            table: "esp_telemetry".into(),
            rows: 201_600,
            rows_exact: true,
            chunks: 36,
            chunk_interval_s: 86_400,
            total_bytes: 40_000_000,
            heap_bytes: 30_000_000,
            index_bytes: 9_000_000,
            toast_bytes: 8192,
            compressed_before_bytes: Some(30_000_000),
            compressed_after_bytes: Some(3_000_000),
            compressed_chunks: Some(28),
            compression: Some(compression_details()),
        }],
        queries: vec![QueryStats {
            name: "latest_24h".into(),
            mode: "fixed_rate".into(),
            clients: 2,
            rate: Some(100.0),
            count: 10_000,
            errors: 3,
            errors_by_sqlstate: BTreeMap::from([("57014".to_string(), 3)]),
            rows_returned: 2_880_000,
            duration_s: 100.0,
            throughput_qps: 100.0,
            latency_ms: percentiles(2.0),
            schedule_lag_ms: Some(percentiles(0.1)),
            histogram: histogram_of(1..=10_000),
            intervals: vec![IntervalStats {
                t_s: 0.5,
                count: 50,
                mean_ms: 2.0,
                p50_ms: 2.0,
                p95_ms: 4.0,
                p99_ms: 6.0,
                ref_p50_ms: Some(0.4),
            }],
            plan: Some(PlanEvidence {
                plan_cache_mode: "auto".into(),
                custom_plans: Some(0),
                generic_plans: Some(9_995),
                custom: Some(plan_chunks(1, 0)),
                generic: Some(plan_chunks(32, 25)),
                note: Some("x".into()),
            }),
            evidence: Some(QueryEvidence {
                plan: Some(PlanSummary {
                    plan: "custom".into(),
                    top_node: "Custom Scan (ChunkAppend)".into(),
                    rows: 288,
                    chunks_executed: 2,
                    shared_hit_blocks: 40,
                    shared_read_blocks: 2,
                    workers_launched: 0,
                    execution_ms: Some(1.5),
                    planning_ms: Some(0.4),
                    line: "custom plan: 2 chunks, 288 rows".into(),
                }),
                plan_files: vec!["plans/latest_24h.json".into()],
                server: Some(ServerTime {
                    calls: 10_000,
                    mean_exec_ms: 1.4,
                    stddev_exec_ms: 0.2,
                    mean_plan_ms: Some(0.3),
                    rows: 2_880_000,
                    shared_blks_hit: 400_000,
                    shared_blks_read: 20,
                    shared_blks_written: 0,
                    temp_blks_read: 0,
                    temp_blks_written: 0,
                    client_minus_server_ms: Some(0.3),
                }),
                server_note: Some("x".into()),
                // Not serialised: the plan files' contents.
                documents: Vec::new(),
            }),
        }],
        checks: vec![CheckResult {
            name: "latency.latest_24h.p95_ms".into(),
            kind: "latency".into(),
            target: "<= 10".into(),
            measured: Some(4.0),
            measured_text: Some("4 ms".into()),
            status: CheckStatus::Pass,
            note: Some("3 errors of 10003".into()),
        }],
        comparison: Some(json!({ "baseline": "x" })),
        verdict: Verdict::Fail,
        shard: Some(ShardReport {
            run_id: "ci-20260101T000000Z-42".into(),
            index: 0,
            count: 2,
            wells_start: 0,
            wells_end: 10,
            host: "bench-0".into(),
            pid: 42,
            clock_offset_ms: 0.4,
            stats_interval_s: 0.5,
            queries: vec![ShardQueryDetail {
                name: "latest_24h".into(),
                measured_from_ms: 1_767_225_600_000.5,
                lag_histogram: Some(histogram_of(1..=100)),
                interval_histograms: vec![histogram_of(1..=50)],
            }],
        }),
        resources: Some(ResourceSeries {
            interval_s: 0.5,
            server_scope: "embedded".into(),
            notes: vec!["x".into()],
            samples: vec![ResourceSample {
                phase: "latest_24h".into(),
                t_s: 0.5,
                unix_ms: 1_767_225_600_500.0,
                server_cpu_pct: Some(80.0),
                bench_cpu_pct: 5.0,
                bench_rss_bytes: 20_000_000,
                wal_bytes: Some(1_000),
                checkpoints: Some(0),
                buffers_backend: Some(0),
                buffers_checkpoint: Some(0),
                buffers_clean: Some(0),
                ingest_rows_per_s: Some(100.0),
            }],
        }),
        explanations: vec![Explanation {
            check: "latency.latest_24h.p95_ms".into(),
            reason: "x".into(),
            next_step: Some("y".into()),
        }],
        what_if: vec![WhatIf {
            query: "agg_7d_fleet".into(),
            kind: "cagg".into(),
            sql: "x".into(),
            baseline_p95_ms: 300.0,
            alternative_p95_ms: 3.0,
            note: "x".into(),
        }],
    }
}

/// The same summary with every optional field absent.
fn minimal_summary() -> Summary {
    let mut s = full_summary();
    s.comparison = None;
    for q in &mut s.queries {
        q.rate = None;
        q.schedule_lag_ms = None;
        q.plan = None;
    }
    if let Some(sh) = &mut s.shard {
        for d in &mut sh.queries {
            d.lag_histogram = None;
        }
    }
    for t in &mut s.storage {
        t.compressed_before_bytes = None;
        t.compressed_after_bytes = None;
        t.compressed_chunks = None;
        t.compression = None;
    }
    for c in &mut s.checks {
        c.measured = None;
        c.measured_text = None;
        c.note = None;
    }
    s
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key path with its JSON type: `queries[].latency_ms.p95: number`.
fn key_types(v: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    if !path.is_empty() {
        out.insert(path.to_string(), type_name(v).to_string());
    }
    if OPAQUE.contains(&path) {
        return;
    }
    match v {
        Value::Object(map) if MAPS.contains(&path) => {
            if let Some(first) = map.values().next() {
                key_types(first, &format!("{path}.*"), out);
            }
        }
        Value::Object(map) => {
            for (k, child) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                key_types(child, &p, out);
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                key_types(first, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// The pinned structure: each key path, its type, and "optional" when it is null in the
/// minimal summary.
fn structure() -> String {
    let mut full = BTreeMap::new();
    key_types(
        &serde_json::to_value(full_summary()).unwrap(),
        "",
        &mut full,
    );
    let mut minimal = BTreeMap::new();
    key_types(
        &serde_json::to_value(minimal_summary()).unwrap(),
        "",
        &mut minimal,
    );
    let mut out = String::new();
    for (path, ty) in &full {
        let optional = minimal.get(path).map(String::as_str) == Some("null");
        // Integers and floats are both JSON numbers; a float field holding 4.0 still
        // serialises as 4.0, so the distinction is stable.
        out.push_str(&format!(
            "{path}: {ty}{}\n",
            if optional { " | null" } else { "" }
        ));
    }
    out
}

#[test]
fn summary_json_key_structure_matches_golden() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/summary-keys.txt");
    let actual = structure();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run UPDATE_GOLDEN=1 cargo test --test report_schema",
            golden.display()
        )
    });
    assert_eq!(
        actual, expected,
        "summary.json structure changed: update tests/golden/summary-keys.txt \
         (UPDATE_GOLDEN=1), docs/report-format.md, and SCHEMA_VERSION if readers break"
    );
}

#[test]
fn every_documented_key_is_in_the_docs() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-format.md"),
    )
    .unwrap();
    for line in structure().lines() {
        let path = line.split(':').next().unwrap();
        assert!(
            docs.contains(&format!("`{path}`")),
            "docs/report-format.md does not document `{path}`"
        );
    }
    for col in esp_bench::report::files::QueryRow::header()
        .iter()
        .chain(esp_bench::report::files::CheckRow::header())
    {
        assert!(
            docs.contains(&format!("`{col}`")),
            "docs/report-format.md does not document column `{col}`"
        );
    }
}

#[test]
fn reports_round_trip_and_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    for summary in [full_summary(), minimal_summary()] {
        let files = write_reports(dir.path(), &summary).unwrap();
        let back = read_summary(&files.summary_json).unwrap();
        assert_eq!(back, summary);

        let results = std::fs::read_to_string(&files.results_csv).unwrap();
        let mut lines = results.lines();
        assert_eq!(
            lines.next().unwrap(),
            esp_bench::report::files::QueryRow::header().join(",")
        );
        let row: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(row[0], "latest_24h");
        assert_eq!(row[13], "4.0", "p95_ms column");
        assert_eq!(lines.next(), None);

        let checks = std::fs::read_to_string(&files.checks_csv).unwrap();
        assert_eq!(checks.lines().count(), 2);
        assert!(checks
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("latency.latest_24h.p95_ms,latency,<= 10,"));
        assert!(checks.contains(",pass,"));

        assert_eq!(files.hgrm, vec![dir.path().join("latest_24h.hgrm")]);
    }
}

#[test]
fn empty_csvs_still_have_their_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = full_summary();
    s.queries.clear();
    s.checks.clear();
    let files = write_reports(dir.path(), &s).unwrap();
    let results = std::fs::read_to_string(files.results_csv).unwrap();
    assert_eq!(
        results.trim_end(),
        esp_bench::report::files::QueryRow::header().join(",")
    );
    assert!(files.hgrm.is_empty());
}

fn config_error(path: &Path) -> String {
    let err = read_summary(path).expect_err("must be refused");
    assert!(
        matches!(
            err.downcast_ref::<BenchError>(),
            Some(BenchError::Config(_))
        ),
        "not a config error: {err:#}"
    );
    let msg = format!("{err:#}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    msg
}

#[test]
fn foreign_and_malformed_json_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.json");

    std::fs::write(&p, r#"{"format": "oha", "summary": {}}"#).unwrap();
    assert!(config_error(&p).contains("not an esp-bench summary"));

    std::fs::write(&p, r#"[1, 2, 3]"#).unwrap();
    assert!(config_error(&p).contains("not an esp-bench summary"));

    let mut v = serde_json::to_value(full_summary()).unwrap();
    v["schema_version"] = json!(SCHEMA_VERSION + 1);
    std::fs::write(&p, v.to_string()).unwrap();
    assert!(config_error(&p).contains(&format!("schema_version {}", SCHEMA_VERSION + 1)));

    let mut v = serde_json::to_value(full_summary()).unwrap();
    v.as_object_mut().unwrap().remove("queries");
    std::fs::write(&p, v.to_string()).unwrap();
    assert!(config_error(&p).contains("queries"));

    let mut v = serde_json::to_value(full_summary()).unwrap();
    v["surprise"] = json!(1);
    std::fs::write(&p, v.to_string()).unwrap();
    assert!(config_error(&p).contains("surprise"));

    std::fs::write(&p, "{ not json").unwrap();
    assert!(config_error(&p).contains("not valid JSON"));

    assert!(config_error(&dir.path().join("missing.json")).contains("failed to read"));
}

/// (value ms, percentile) pairs of the distribution lines of an .hgrm file.
fn hgrm_lines(text: &str) -> Vec<(f64, f64, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let v = cols.first()?.parse::<f64>().ok()?;
            let p = cols.get(1)?.parse::<f64>().ok()?;
            let n = cols.get(2)?.parse::<u64>().ok()?;
            Some((v, p, n))
        })
        .collect()
}

#[test]
fn hgrm_of_a_known_histogram_has_the_right_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = full_summary();
    // 1..=10000 µs, once each: the q-quantile is q * 10 ms.
    s.queries[0].histogram = histogram_of(1..=10_000);
    let files = write_reports(dir.path(), &s).unwrap();
    let text = std::fs::read_to_string(&files.hgrm[0]).unwrap();

    let header = text.lines().next().unwrap();
    for col in ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"] {
        assert!(header.contains(col), "{header}");
    }
    let lines = hgrm_lines(&text);
    assert!(lines.len() > 20, "{text}");
    let at = |q: f64| {
        lines
            .iter()
            .find(|(_, p, _)| *p >= q)
            .unwrap_or_else(|| panic!("no line at {q}"))
            .0
    };
    for q in [0.5, 0.9, 0.99] {
        let v = at(q);
        let want = q * 10.0;
        assert!(
            (v - want).abs() <= want * 0.002,
            "p{q}: {v} ms, want {want}"
        );
    }
    let last = lines.last().unwrap();
    assert_eq!(last.1, 1.0);
    assert_eq!(last.2, 10_000);
    assert!((last.0 - 10.0).abs() < 0.01, "max {}", last.0);
    // Percentiles and counts never decrease.
    assert!(lines
        .windows(2)
        .all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2));

    assert!(text.contains("#[Mean    ="), "{text}");
    let max_line = text.lines().find(|l| l.starts_with("#[Max")).unwrap();
    assert!(max_line.contains("10.0"), "{max_line}");
    assert!(
        max_line.contains("Total count    =        10000]"),
        "{max_line}"
    );
}

#[test]
fn a_corrupt_histogram_is_an_error_naming_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = full_summary();
    s.queries[0].histogram = "not base64!".into();
    let err = write_reports(dir.path(), &s).unwrap_err();
    assert!(format!("{err:#}").contains("latest_24h"), "{err:#}");
}

#[test]
fn query_names_mapping_to_one_file_name_get_distinct_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = full_summary();
    let mut other = s.queries[0].clone();
    s.queries[0].name = "mix:latest_24h".into();
    other.name = "mix_latest_24h".into();
    s.queries.push(other);
    let files = write_reports(dir.path(), &s).unwrap();
    assert_eq!(
        files.hgrm,
        vec![
            dir.path().join("mix_latest_24h.hgrm"),
            dir.path().join("mix_latest_24h-2.hgrm")
        ]
    );
    assert!(files.hgrm.iter().all(|p| p.exists()));
}

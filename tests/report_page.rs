//! The report pages as a reader sees them: a run's index.html (from a summary with every
//! evidence field filled, failing), `bench compare --html`, and the pages of `bench sweep` and
//! `bench plan`. Their HTML is checked for the verdict banner, failed-first order, human units
//! and nothing loaded from outside; then, where Chromium is installed (Debian's `chromium`,
//! which `make setup` offers), each page is loaded headless: no console error, the banner and
//! the failed checks in the DOM in order, and a non-empty PNG screenshot saved under target/
//! (target/report-page*.png). Without Chromium the browser part prints a SKIPPED line. One test
//! renders the page of a real small `bench run` (an embedded server, a few seconds of queries,
//! one target set to fail) the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use esp_bench::report::model::*;
use esp_bench::report::write_reports;
use serde_json::json;

mod common;

fn histogram(center_ms: f64, n: u64) -> String {
    let mut h = esp_bench::stats::new_histogram();
    for i in 0..n {
        // A skewed spread around the centre: most near it, a tail up to 3x.
        let f = 0.6 + 2.4 * ((i * 7919) % n) as f64 / n as f64;
        let f = if i % 10 == 0 {
            f
        } else {
            0.6 + (f - 0.6) * 0.25
        };
        h.record((center_ms * f * 1000.0) as u64).unwrap();
    }
    esp_bench::stats::encode_histogram(&h)
}

/// `n` intervals of 0.5 s: a warm-up in the first few, then steady with a bump at 6 s (the
/// checkpoint in the resource series).
fn intervals(p50: f64, qps: f64, n: usize) -> Vec<IntervalStats> {
    (1..=n)
        .map(|i| {
            let warm = if i <= 3 { 1.0 + 0.8 / i as f64 } else { 1.0 };
            let bump = if (12..=13).contains(&i) { 1.6 } else { 1.0 };
            let wobble = 1.0 + 0.08 * ((i * 37 % 11) as f64 / 11.0 - 0.5);
            let m = p50 * warm * bump * wobble;
            IntervalStats {
                t_s: i as f64 * 0.5,
                count: (qps * 0.5 / (warm * bump)).round() as u64,
                mean_ms: m * 1.1,
                p50_ms: m,
                p95_ms: m * 2.1,
                p99_ms: m * 3.0,
                ref_p50_ms: None,
            }
        })
        .collect()
}

fn query(name: &str, p50: f64, qps: f64, evidence: Option<QueryEvidence>) -> QueryStats {
    let count = (qps * 10.0) as u64;
    QueryStats {
        name: name.into(),
        mode: "closed".into(),
        clients: 2,
        rate: None,
        count,
        errors: 0,
        errors_by_sqlstate: BTreeMap::new(),
        rows_returned: count * 24,
        duration_s: 10.0,
        throughput_qps: qps,
        latency_ms: Percentiles {
            mean: p50 * 1.1,
            p50,
            p90: p50 * 1.8,
            p95: p50 * 2.1,
            p99: p50 * 3.0,
            p999: p50 * 3.5,
            max: p50 * 4.0,
        },
        schedule_lag_ms: None,
        histogram: histogram(p50, count.max(1)),
        intervals: intervals(p50, qps, 20),
        plan: None,
        evidence,
    }
}

fn check(
    name: &str,
    kind: &str,
    target: &str,
    measured: Option<f64>,
    status: CheckStatus,
    note: Option<&str>,
) -> CheckResult {
    CheckResult {
        name: name.into(),
        kind: kind.into(),
        target: target.into(),
        measured,
        measured_text: None,
        status,
        note: note.map(Into::into),
    }
}

fn resources(phases: &[&str]) -> ResourceSeries {
    let mut samples = Vec::new();
    for phase in phases {
        for i in 1..=20u64 {
            samples.push(ResourceSample {
                phase: phase.to_string(),
                t_s: i as f64 * 0.5,
                unix_ms: 1_767_225_600_000.0 + i as f64 * 500.0,
                server_cpu_pct: Some(140.0 + (i % 4) as f64 * 8.0),
                bench_cpu_pct: 18.0 + (i % 3) as f64,
                bench_rss_bytes: 40_000_000,
                wal_bytes: Some(if (12..=13).contains(&i) {
                    24_000_000
                } else {
                    3_000_000
                }),
                checkpoints: Some(u64::from(i == 12)),
                buffers_backend: Some(10),
                buffers_checkpoint: Some(if i == 12 { 4_000 } else { 0 }),
                buffers_clean: Some(0),
                ingest_rows_per_s: Some(2_000.0 - (i % 5) as f64 * 20.0),
            });
        }
    }
    ResourceSeries {
        interval_s: 0.5,
        server_scope: "embedded: postmaster and its children (/proc)".into(),
        notes: vec![],
        samples,
    }
}

/// A failing run of the default scenario's shape, with every evidence field present: a slow
/// fleet aggregate, a pruning speedup short of its target, a regression gate, unsupported
/// compression checks, resources, explanations and a what-if.
fn failing_summary() -> Summary {
    let agg_evidence = QueryEvidence {
        plan: Some(PlanSummary {
            plan: "custom".into(),
            top_node: "Finalize GroupAggregate".into(),
            rows: 20,
            chunks_executed: 8,
            shared_hit_blocks: 1_204,
            shared_read_blocks: 12_480,
            workers_launched: 1,
            execution_ms: Some(118.2),
            planning_ms: Some(1.4),
            line: "custom plan: Finalize GroupAggregate, 8 chunks, 20 rows, hit 1204 read 12480"
                .into(),
        }),
        plan_files: vec![
            "plans/agg_7d_fleet.json".into(),
            "plans/agg_7d_fleet.txt".into(),
        ],
        server: Some(ServerTime {
            calls: 1_200,
            mean_exec_ms: 117.6,
            stddev_exec_ms: 9.3,
            mean_plan_ms: Some(1.3),
            rows: 24_000,
            shared_blks_hit: 1_444_800,
            shared_blks_read: 14_976_000,
            shared_blks_written: 0,
            temp_blks_read: 0,
            temp_blks_written: 0,
            client_minus_server_ms: Some(2.9),
        }),
        server_note: None,
        documents: Vec::new(),
    };
    let latest_evidence = QueryEvidence {
        plan: Some(PlanSummary {
            plan: "custom".into(),
            top_node: "Custom Scan (ChunkAppend)".into(),
            rows: 288,
            chunks_executed: 2,
            shared_hit_blocks: 40,
            shared_read_blocks: 0,
            workers_launched: 0,
            execution_ms: Some(1.5),
            planning_ms: Some(0.4),
            line: "custom plan: 2 chunks, 288 rows".into(),
        }),
        plan_files: vec!["plans/latest_24h.json".into()],
        server: None,
        server_note: Some(
            "pg_stat_statements is not installed on this server: add it to \
             shared_preload_libraries and CREATE EXTENSION pg_stat_statements"
                .into(),
        ),
        documents: Vec::new(),
    };
    let mut queries = vec![
        query("latest_24h", 1.9, 900.0, Some(latest_evidence)),
        query("agg_7d_fleet", 62.0, 40.0, Some(agg_evidence)),
        query("last_value", 37.0, 50.0, None),
        query("mix:latest_24h", 2.4, 300.0, None),
        query("mix:agg_7d_fleet", 70.0, 10.0, None),
        query("mix:last_value", 3.3, 200.0, None),
    ];
    queries[2].errors = 3;
    queries[2].errors_by_sqlstate.insert("57014".to_string(), 3);
    let mut policy = check(
        "policies.esp_telemetry.compression",
        "policies",
        "compress_after == 7 d",
        None,
        CheckStatus::Unsupported,
        Some("unsupported: needs TimescaleDB community edition (this server: apache)"),
    );
    policy.measured_text = None;
    let mut retention = check(
        "retention.esp_telemetry",
        "retention",
        "no chunk before data end - 30 d, oldest row >= cutoff - 1 d",
        Some(38_400.0),
        CheckStatus::Pass,
        Some("cutoff 2026-11-01T10:44:46Z; dropped 0 chunks"),
    );
    retention.measured_text = Some("oldest row 38400 s before the cutoff".into());
    let checks = vec![
        check(
            "latency.latest_24h.p95_ms",
            "latency",
            "<= 10",
            Some(3.99),
            CheckStatus::Pass,
            None,
        ),
        check(
            "latency.agg_7d_fleet.p95_ms",
            "latency",
            "<= 50",
            Some(130.2),
            CheckStatus::Fail,
            None,
        ),
        check(
            "latency.last_value.p95_ms",
            "latency",
            "<= 100",
            Some(77.7),
            CheckStatus::Pass,
            Some("3 errors of 503"),
        ),
        check(
            "latency.last_value.error_rate",
            "latency",
            "<= 0.01",
            Some(0.006),
            CheckStatus::Pass,
            None,
        ),
        check(
            "pruning.latest_24h.chunks_scanned",
            "pruning",
            "<= 2",
            Some(2.0),
            CheckStatus::Pass,
            Some("esp_telemetry; custom plan: 2 of 33 chunks executed"),
        ),
        check(
            "pruning_speedup.latest_24h",
            "pruning_speedup",
            ">= 10",
            Some(1.5),
            CheckStatus::Fail,
            Some("median 1.9 ms pruned (2 of 33 chunks) vs 2.85 ms unpruned (33 of 33 chunks)"),
        ),
        check(
            "chunks.esp_telemetry.count",
            "chunks",
            "in [32, 34]",
            Some(33.0),
            CheckStatus::Pass,
            Some("span 33 d / chunk interval 1 d -> 32..34 chunks"),
        ),
        check(
            "chunks.diagnostic_results.interval_s",
            "chunks",
            "== 604800",
            Some(604_800.0),
            CheckStatus::Pass,
            Some("7 d chunks"),
        ),
        check(
            "compression.esp_telemetry.reduction_pct",
            "compression",
            ">= 90",
            None,
            CheckStatus::Unsupported,
            Some("unsupported: needs TimescaleDB community edition (this server: apache)"),
        ),
        policy,
        retention,
        check(
            "gate.regression",
            "gate",
            "<= 10% slower (alpha 0.05, 1 baseline run, default noise)",
            Some(233.3),
            CheckStatus::Fail,
            Some("1 regression(s) over 13 gated comparison(s): agg_7d_fleet p95_ms +233.3%"),
        ),
    ];
    Summary {
        format: FORMAT_NAME.into(),
        schema_version: SCHEMA_VERSION,
        bench_version: "0.1.0".into(),
        scenario: ScenarioEcho {
            name: "default".into(),
            file: "scenarios/default.toml".into(),
            fingerprint: "0123456789abcdef".into(),
            resolved: json!({ "name": "default", "checks": { "unsupported": "skip" } }),
        },
        environment: Environment {
            postgres_version: "15.20".into(),
            timescaledb_version: "2.19.3".into(),
            edition: "apache".into(),
            server: "embedded".into(),
            cores: 2,
            memory_bytes: 8 << 30,
            os: "Linux 6.1 x86_64".into(),
            settings: BTreeMap::from([
                ("shared_buffers".to_string(), "128MB".to_string()),
                ("work_mem".to_string(), "4MB".to_string()),
                ("jit".to_string(), "off".to_string()),
            ]),
            shards: vec![],
        },
        started_at: "2026-12-01T10:00:00Z".into(),
        finished_at: "2026-12-01T10:04:10Z".into(),
        interrupted: false,
        degraded: true,
        load: vec![
            LoadResult {
                table: "esp_telemetry".into(),
                rows: 5_702_400,
                seconds: 61.3,
                rows_per_sec: 93_024.5,
                workers: 2,
                batch_size: 20_000,
                retries: 1,
            },
            LoadResult {
                table: "diagnostic_results".into(),
                rows: 4_800,
                seconds: 0.4,
                rows_per_sec: 12_000.0,
                workers: 2,
                batch_size: 20_000,
                retries: 0,
            },
        ],
        verification: vec![Verification {
            stage: "after load".into(),
            verified: true,
            seconds: 2.1,
            tables: vec![TableVerification {
                table: "esp_telemetry".into(),
                window_start: "2026-10-29T00:00:00Z".into(),
                window_end: "2026-12-01T00:00:00Z".into(),
                expected_rows: 5_702_400,
                stored_rows: 5_702_400,
                ledger_rows: 5_702_400,
                ledger_complete: true,
                wells: 200,
                wells_mismatched: 0,
                mismatches: vec![],
                ok: true,
                note: "esp_telemetry: 5,702,400 rows, as generated and as the ledger records"
                    .into(),
            }],
        }],
        preparation: Some(Preparation {
            state: "steady".into(),
            seconds: 4.2,
            analyze_seconds: 0.8,
            maintenance: "VACUUM (ANALYZE)".into(),
            tables: vec![TablePreparation {
                table: "esp_telemetry".into(),
                compress_after_s: 604_800,
                drop_after_s: 2_592_000,
                compress_cutoff: "2026-11-24T00:00:00Z".into(),
                drop_cutoff: "2026-11-01T00:00:00Z".into(),
                chunks_before: 34,
                chunks_dropped: 1,
                chunks_compressed: 0,
                chunks_compressed_total: 0,
                chunks_after: 33,
                compression_applied: false,
                compress_seconds: 0.0,
                drop_seconds: 0.2,
            }],
            notes: vec!["apache edition: history stays uncompressed".into()],
        }),
        writes: false,
        storage: vec![TableStorage {
            table: "esp_telemetry".into(),
            rows: 5_702_400,
            rows_exact: true,
            chunks: 33,
            chunk_interval_s: 86_400,
            total_bytes: 1_288_490_189,
            heap_bytes: 905_969_664,
            index_bytes: 382_520_525,
            toast_bytes: 8_192,
            compressed_before_bytes: None,
            compressed_after_bytes: None,
            compressed_chunks: None,
            compression: None,
        }],
        queries,
        checks,
        comparison: None,
        verdict: Verdict::Fail,
        shard: None,
        resources: Some(resources(&[
            "latest_24h",
            "agg_7d_fleet",
            "last_value",
            "mix",
        ])),
        explanations: vec![
            Explanation {
                check: "latency.agg_7d_fleet.p95_ms".into(),
                reason: "executes 8 of 33 chunks and reads 12,480 shared blocks from disk (90% \
                         not cached); the server's mean is 118 ms of the client's 121 ms, so the \
                         time is spent in the scan, not the client"
                    .into(),
                next_step: Some(
                    "pre-aggregate: a continuous aggregate over 1 h buckets (measure it with \
                     [run] what_if = [\"cagg\"])"
                        .into(),
                ),
            },
            Explanation {
                check: "pruning_speedup.latest_24h".into(),
                reason: "the unpruned plan reads 33 chunks in 2.85 ms: at this data size every \
                         chunk is cached, so skipping 31 of them saves little"
                    .into(),
                next_step: Some(
                    "measure on a larger fleet (more wells or days), or cold (cache = \"cold\")"
                        .into(),
                ),
            },
        ],
        what_if: vec![WhatIf {
            query: "agg_7d_fleet".into(),
            kind: "cagg".into(),
            sql: "CREATE MATERIALIZED VIEW agg_1h WITH (timescaledb.continuous) AS SELECT \
                  time_bucket('1 hour', ts) ..."
                .into(),
            baseline_p95_ms: 130.2,
            alternative_p95_ms: 3.1,
            note: "same rows returned".into(),
        }],
    }
}

/// The baseline the failing run is compared with: the same run with agg_7d_fleet at 30%.
fn baseline_of(s: &Summary) -> Summary {
    let mut b = s.clone();
    b.checks.clear();
    b.explanations.clear();
    b.what_if.clear();
    b.verdict = Verdict::Pass;
    b.degraded = false;
    for q in &mut b.queries {
        if q.name == "agg_7d_fleet" {
            let f = 0.3;
            let l = &mut q.latency_ms;
            for v in [
                &mut l.mean,
                &mut l.p50,
                &mut l.p90,
                &mut l.p95,
                &mut l.p99,
                &mut l.p999,
                &mut l.max,
            ] {
                *v *= f;
            }
            q.histogram = histogram(62.0 * f, q.count);
        }
        q.errors = 0;
        q.errors_by_sqlstate.clear();
    }
    b
}

/// Chromium, when installed: /usr/bin/chromium, else `chromium` on PATH.
fn chromium(test: &str) -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join("chromium");
            if c.is_file() {
                return Some(c);
            }
        }
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: needs chromium: {test} (install Debian's `chromium`, e.g. via `make setup` as \
         root)"
    );
    None
}

/// Run headless Chromium on `page` with `extra` flags; killed after 90 s.
fn run_chromium(bin: &Path, page: &Path, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("chromium starts");
    // Drain both pipes while waiting: a large DOM would fill the pipe and stall Chromium.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium waits") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {} within 90 s", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Load `page` headless: its DOM (after load) and a screenshot saved to `png`; asserts no
/// console error and a non-empty PNG. Returns the DOM.
fn load_in_chromium(bin: &Path, page: &Path, png: &Path) -> String {
    let dom = run_chromium(bin, page, &["--dump-dom"]);
    assert!(
        dom.status.success(),
        "chromium --dump-dom {}: {}",
        page.display(),
        String::from_utf8_lossy(&dom.stderr)
    );
    let log = String::from_utf8_lossy(&dom.stderr).into_owned();
    // The pages run no script: any console message (":CONSOLE", e.g. "Uncaught ...") is a fault.
    for bad in ["Uncaught", ":CONSOLE", "Failed to load resource"] {
        assert!(
            !log.contains(bad),
            "{}: the page logged `{bad}`:\n{log}",
            page.display()
        );
    }
    let _ = std::fs::remove_file(png);
    let shot = run_chromium(
        bin,
        page,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
            "--hide-scrollbars",
        ],
    );
    assert!(
        shot.status.success(),
        "chromium --screenshot {}: {}",
        page.display(),
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(png).expect("screenshot written");
    assert!(
        bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a non-empty PNG ({} bytes)",
        png.display(),
        bytes.len()
    );
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// Where the screenshots go: target/ (the parent of cargo's integration-test tmp dir).
fn screenshot(name: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join(name)
}

fn assert_offline(html: &str, what: &str) {
    for bad in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(bad), "{what} loads from outside: `{bad}`");
    }
}

fn pos(html: &str, needle: &str) -> usize {
    html.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not on the page"))
}

/// The order the failed checks must appear in, and the first passed one after them.
const FAILED: [&str; 3] = [
    "check-latency.agg_7d_fleet.p95_ms",
    "check-pruning_speedup.latest_24h",
    "check-gate.regression",
];

fn assert_run_page(html: &str) {
    // The engine escapes `/` in text; the DOM Chromium dumps does not.
    let html = &html.replace("&#x2f;", "/");
    // The banner first, with a word and a sentence, not colour only.
    let banner = pos(html, "id=\"verdict\"");
    assert!(banner < pos(html, "id=\"failed-checks\""));
    assert!(html.contains(">FAIL<"), "verdict word");
    assert!(html.contains("3 of 12 checks failed"), "verdict sentence");
    // Failed checks first, in check order, then the others.
    let mut last = banner;
    for id in FAILED {
        let p = pos(html, &format!("id=\"{id}\""));
        assert!(p > last, "{id} out of order");
        last = p;
    }
    assert!(last < pos(html, "id=\"other-checks\""));
    assert!(pos(html, "id=\"other-checks\"") < pos(html, "latency.latest_24h.p95_ms</td>"));
    // Each failed check carries its evidence.
    for needle in [
        "executes 8 of 33 chunks",
        "Next step:",
        "Finalize GroupAggregate",
        "mean execution 118 ms",
        "client minus server 2.9 ms",
        "read 14,976,000 blocks (114 GiB)",
        "per call hit 1,204, read 12,480",
        "plans/agg_7d_fleet.json",
        "130 ms → <b>3.1 ms</b>",
    ] {
        assert!(html.contains(needle), "evidence `{needle}` missing");
    }
    // Human units, never raw seconds or float counts.
    for needle in [
        "= 7 d",
        "33 chunks",
        "32 to 34 chunks",
        "≤ 50 ms",
        "≥ 10×",
        "1.5×",
        "1.2 GiB",
        "oldest row 10.7 h before the cutoff",
        "+233%",
    ] {
        assert!(html.contains(needle), "unit `{needle}` missing");
    }
    for raw in ["604800", "33.000", "38400", ".000<"] {
        assert!(!html.contains(raw), "raw figure `{raw}` on the page");
    }
    // The overview chart and one time series per phase, with the resource panels.
    assert!(html.contains("id=\"fig-overview\""));
    for phase in ["latest_24h", "agg_7d_fleet", "last_value", "mix"] {
        assert!(
            html.contains(&format!("id=\"fig-timeseries-{phase}\"")),
            "time series of {phase}"
        );
    }
    for panel in [
        "CPU (% of a core)",
        "WAL written /s",
        "live ingest (rows/s)",
        "checkpoint (1)",
    ] {
        assert!(html.contains(panel), "resource panel `{panel}`");
    }
    // The tables stay.
    for id in [
        "queries",
        "storage",
        "load",
        "verification",
        "preparation",
        "environment",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "table {id}");
    }
    assert_offline(html, "index.html");
}

/// A fresh folder under cargo's tmp dir for integration tests, kept after the test so the
/// pages can be opened by hand.
fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-page")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn run_page_explains_a_failed_verdict() {
    let dir = out_dir("run");
    let summary = failing_summary();
    let files = write_reports(&dir, &summary).expect("reports written");
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    assert_run_page(&html);
    assert_eq!(files.phase_plots.len(), 4, "{:?}", files.phase_plots);
    assert!(files.compare_html.is_none(), "no baseline, no compare page");

    // Without any evidence the page still renders, saying what is missing.
    let mut bare = summary.clone();
    bare.resources = None;
    bare.explanations.clear();
    bare.what_if.clear();
    for q in &mut bare.queries {
        q.evidence = None;
        q.intervals.clear();
    }
    let bare_dir = out_dir("bare");
    let files = write_reports(&bare_dir, &bare).expect("reports written");
    let html = std::fs::read_to_string(&files.index_html).unwrap();
    assert!(html.contains("not captured in this report"));
    assert!(html.contains("No per-interval samples in this report."));
    assert!(html.contains("were not captured in this report"));
    assert!(files.phase_plots.is_empty());

    // The other verdicts read without colour too: a word, a sentence, a shape.
    let mut stopped = summary.clone();
    stopped.verdict = Verdict::Interrupted;
    stopped.interrupted = true;
    let html = std::fs::read_to_string(
        write_reports(&out_dir("interrupted"), &stopped)
            .unwrap()
            .index_html,
    )
    .unwrap();
    assert!(html.contains(">INTERRUPTED<") && html.contains("stopped by a signal"));
    assert!(html.contains("aria-label=\"verdict INTERRUPTED\""));
    let mut passed = summary.clone();
    passed.verdict = Verdict::Pass;
    passed.degraded = false;
    passed.checks.retain(|c| c.status != CheckStatus::Fail);
    let html = std::fs::read_to_string(
        write_reports(&out_dir("passed"), &passed)
            .unwrap()
            .index_html,
    )
    .unwrap();
    assert!(html.contains(">PASS<") && html.contains("7 of 9 checks passed; none failed"));
    assert!(html.contains("No check failed."));

    let Some(bin) = chromium("run_page_explains_a_failed_verdict") else {
        return;
    };
    let dom = load_in_chromium(
        &bin,
        &dir.join("index.html"),
        &screenshot("report-page.png"),
    );
    assert_run_page(&dom);
    load_in_chromium(
        &bin,
        &bare_dir.join("index.html"),
        &screenshot("report-page-bare.png"),
    );
}

#[test]
fn compare_sweep_and_plan_pages_render() {
    let dir = out_dir("compare-sweep-plan");
    let current = failing_summary();
    let baseline = baseline_of(&current);
    let write = |name: &str, s: &Summary| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_string(s).unwrap()).unwrap();
        p
    };
    let base = write("baseline.json", &baseline);
    let cur = write("current.json", &current);
    let page = dir.join("out/compare.html");
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["compare", "--format", "junit", "--html"])
        .arg(&page)
        .arg(&base)
        .arg(&cur)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "a regression: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("<testsuite"),
        "JUnit stays on stdout"
    );
    let html = std::fs::read_to_string(&page)
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(html.contains("id=\"verdict\"") && html.contains(">FAIL<"));
    let regression = pos(&html, "✗ regression");
    assert!(
        regression < pos(&html, "✓ no significant change"),
        "regressions first"
    );
    assert!(
        html.contains("agg_7d_fleet") && html.contains("+233%"),
        "the change"
    );
    assert!(
        html.contains("±25%") && html.contains("assumed 25% run-to-run"),
        "the noise the test assumed"
    );
    assert_offline(&html, "compare.html");

    // A run gated against a baseline writes the same page beside its index.
    let mut gated = current.clone();
    gated.comparison = Some(
        esp_bench::compare::compare(&baseline, &current, &Default::default())
            .unwrap()
            .to_json(),
    );
    let run_dir = dir.join("run");
    let files = write_reports(&run_dir, &gated).unwrap();
    assert!(files.compare_html.is_some());
    let index = std::fs::read_to_string(&files.index_html).unwrap();
    assert!(index.contains("href=\"compare.html\""));

    // bench sweep's index.html: tables of the measurements and the fit, plots inlined.
    let sweep_dir = dir.join("sweep");
    let mut small = baseline.clone();
    small.storage[0].rows /= 4;
    small.storage[0].total_bytes /= 4;
    for q in &mut small.queries {
        q.latency_ms.p95 /= 2.0;
    }
    let sweep = esp_bench::capacity::report::write_sweep_outputs(
        &sweep_dir,
        &[(50, small), (200, baseline)],
    )
    .unwrap();
    let sweep_html = std::fs::read_to_string(&sweep.index).unwrap();
    assert!(sweep_html.contains("<table class=\"grid\">") && sweep_html.contains("Growth of p95"));
    assert!(sweep_html.matches("<svg").count() >= 2, "plots inlined");
    assert_offline(&sweep_html, "sweep index.html");

    // bench plan's page beside its CSV.
    let plan_csv = dir.join("plan/plan.csv");
    std::fs::create_dir_all(plan_csv.parent().unwrap()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["plan", "--from"])
        .arg(&cur)
        .args([
            "--wells",
            "200,1000,5000",
            "--interval",
            "10s",
            "--memory",
            "64GiB",
            "-o",
        ])
        .arg(&plan_csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan_page = dir.join("plan/plan.html");
    let plan_html = std::fs::read_to_string(&plan_page).unwrap();
    assert!(
        plan_html.contains("<table class=\"grid\">") && plan_html.contains("recommended chunk")
    );
    assert_offline(&plan_html, "plan.html");

    let Some(bin) = chromium("compare_sweep_and_plan_pages_render") else {
        return;
    };
    let dom = load_in_chromium(&bin, &page, &screenshot("report-page-compare.png"));
    assert!(dom.contains("id=\"verdict\""));
    load_in_chromium(&bin, &sweep.index, &screenshot("report-page-sweep.png"));
    load_in_chromium(&bin, &plan_page, &screenshot("report-page-plan.png"));
}

/// A small real run: 5 wells x 3 days, two queries and a mix for about a second each, with one
/// target no server can meet so the page has a real failed check with real evidence.
const SMALL_RUN: &str = r#"
[scenario]
name = "report-page"
description = "a small real run for the report page test"

[fleet]
wells = 5
sample_interval = "300s"
span = "3d"
end = "now"
seed = 11

[load]
workers = 2
batch_size = 5000

[run]
warmup = "200ms"
duration = "1500ms"
stats_interval = "250ms"
statement_timeout = "10s"

[[queries]]
name = "latest_24h"
weight = 2
targets = { p95_ms = 0.001 }
max_chunks_scanned = 2

[[queries]]
name = "agg_7d_fleet"
weight = 1
targets = { p95_ms = 1000 }

[mix]
clients = 2
warmup = "200ms"
duration = "1500ms"

[checks]
unsupported = "skip"
chunk_counts = true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_run_page_renders() {
    let dir = out_dir("real-run");
    let scenario = dir.join("report-page.toml");
    std::fs::write(&scenario, SMALL_RUN).unwrap();
    let plan = esp_bench::scenario::load_config(&scenario).expect("the small scenario is valid");
    let target = common::target().await;
    let opts = esp_bench::run::RunOptions::quiet(tokio_util::sync::CancellationToken::new());
    let summary = esp_bench::run::run_scenario(&plan, &target, opts).await;
    target.close().await.expect("embedded server stops");
    let summary = summary.expect("the small scenario runs");
    assert_eq!(
        summary.verdict,
        Verdict::Fail,
        "the impossible target fails"
    );

    let files = write_reports(&dir, &summary).expect("reports written");
    let html = std::fs::read_to_string(&files.index_html)
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(html.contains("id=\"verdict\"") && html.contains(">FAIL<"));
    let failed = pos(&html, "id=\"check-latency.latest_24h.p95_ms\"");
    assert!(failed < pos(&html, "id=\"other-checks\""), "failed first");
    assert!(html.contains("≤ 1 µs"), "the target in human units");
    assert!(
        html.contains("id=\"fig-timeseries-latest_24h\"")
            && html.contains("id=\"fig-timeseries-mix\""),
        "a time series per phase"
    );
    assert!(html.contains("1 d"), "the chunk interval in days");
    assert_offline(&html, "index.html of a real run");

    let Some(bin) = chromium("real_run_page_renders") else {
        return;
    };
    let dom = load_in_chromium(
        &bin,
        &files.index_html,
        &screenshot("report-page-real-run.png"),
    );
    assert!(pos(&dom, "id=\"verdict\"") < pos(&dom, "id=\"check-latency.latest_24h.p95_ms\""));
}

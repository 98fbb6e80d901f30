//! The regression gate (`bench compare`) on synthetic reports: detection of a real regression,
//! the false-positive rate on pairs drawn from one distribution, verdicts, refusals, golden
//! markdown and JUnit output, and the CLI's exit codes on bad input.
//!
//! Set UPDATE_GOLDEN=1 to rewrite tests/golden/compare-*.{md,xml} after an intended change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use esp_bench::compare::{self, CompareOptions, RowVerdict};
use esp_bench::error::BenchError;
use esp_bench::report::model::{
    Environment, IntervalStats, Percentiles, QueryStats, ScenarioEcho, Summary, Verdict,
    FORMAT_NAME, SCHEMA_VERSION,
};
use esp_bench::scenario::plan::Metric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

// ---------------------------------------------------------------------------------------------
// Synthetic reports

fn environment() -> Environment {
    Environment {
        postgres_version: "17.6".into(),
        timescaledb_version: "2.23.1".into(),
        edition: "community".into(),
        server: "external".into(),
        cores: 4,
        memory_bytes: 16 << 30,
        os: "linux".into(),
        settings: BTreeMap::from([("shared_buffers".into(), "1GB".into())]),
        shards: Vec::new(),
    }
}

fn summary(queries: Vec<QueryStats>) -> Summary {
    Summary {
        format: FORMAT_NAME.into(),
        schema_version: SCHEMA_VERSION,
        bench_version: "0.1.0".into(),
        scenario: ScenarioEcho {
            name: "ci".into(),
            file: "scenarios/ci.toml".into(),
            fingerprint: "00c0ffee00c0ffee".into(),
            resolved: serde_json::json!({"name": "ci"}),
        },
        environment: environment(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:01:00Z".into(),
        interrupted: false,
        degraded: false,
        load: vec![],
        verification: vec![],
        preparation: None,
        writes: false,
        storage: vec![],
        queries,
        checks: vec![],
        comparison: None,
        verdict: Verdict::Pass,
        shard: None,
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn query_stats(
    name: &str,
    intervals: Vec<IntervalStats>,
    whole: Percentiles,
    count: u64,
) -> QueryStats {
    let duration_s = intervals.last().map_or(0.0, |i| i.t_s);
    QueryStats {
        name: name.into(),
        mode: "closed".into(),
        clients: 4,
        rate: None,
        count,
        errors: 0,
        errors_by_sqlstate: BTreeMap::new(),
        rows_returned: count * 10,
        duration_s,
        throughput_qps: if duration_s > 0.0 {
            count as f64 / duration_s
        } else {
            0.0
        },
        latency_ms: whole,
        schedule_lag_ms: None,
        histogram: String::new(),
        intervals,
    }
}

/// How a synthetic query's latency is drawn: log-normal per query, with each interval scaled by
/// its own log-normal "noisy neighbour" factor, and the whole run by one more (a faster or
/// slower runner), as on a shared CI machine.
#[derive(Clone, Copy)]
struct Shape {
    median_ms: f64,
    sigma: f64,
    interval_noise: f64,
    /// Sigma of the log-normal factor that scales a whole run.
    run_noise: f64,
    intervals: usize,
    per_interval: usize,
}

const CI_SHAPE: Shape = Shape {
    median_ms: 2.0,
    sigma: 0.6,
    interval_noise: 0.08,
    run_noise: 0.05,
    intervals: 30,
    per_interval: 100,
};

/// The same without whole-run shifts.
const STEADY: Shape = Shape {
    run_noise: 0.0,
    ..CI_SHAPE
};

/// Fill a query's intervals and whole-run percentiles from seeded draws; `slowdown` multiplies
/// every latency (1.3 = 30% slower).
fn synthetic_query(
    name: &str,
    shape: Shape,
    slowdown: f64,
    run_factor: f64,
    rng: &mut StdRng,
) -> QueryStats {
    let base = LogNormal::new((shape.median_ms * slowdown).ln(), shape.sigma).unwrap();
    let noise = LogNormal::new(0.0, shape.interval_noise).unwrap();
    let mut all = Vec::with_capacity(shape.intervals * shape.per_interval);
    let mut intervals = Vec::with_capacity(shape.intervals);
    for i in 0..shape.intervals {
        let factor = noise.sample(rng) * run_factor;
        let mut v: Vec<f64> = (0..shape.per_interval)
            .map(|_| base.sample(rng) * factor)
            .collect();
        v.sort_by(f64::total_cmp);
        intervals.push(IntervalStats {
            t_s: (i + 1) as f64,
            count: v.len() as u64,
            mean_ms: v.iter().sum::<f64>() / v.len() as f64,
            p50_ms: percentile(&v, 0.50),
            p95_ms: percentile(&v, 0.95),
            p99_ms: percentile(&v, 0.99),
        });
        all.extend(v);
    }
    all.sort_by(f64::total_cmp);
    let whole = Percentiles {
        mean: all.iter().sum::<f64>() / all.len() as f64,
        p50: percentile(&all, 0.50),
        p90: percentile(&all, 0.90),
        p95: percentile(&all, 0.95),
        p99: percentile(&all, 0.99),
        p999: percentile(&all, 0.999),
        max: *all.last().unwrap(),
    };
    query_stats(name, intervals, whole, all.len() as u64)
}

fn synthetic_run(seed: u64, shape: Shape, slowdowns: &[(&str, f64)]) -> Summary {
    let mut rng = StdRng::seed_from_u64(seed);
    let run_factor = LogNormal::new(0.0, shape.run_noise)
        .unwrap()
        .sample(&mut rng);
    summary(
        slowdowns
            .iter()
            .map(|(name, s)| synthetic_query(name, shape, *s, run_factor, &mut rng))
            .collect(),
    )
}

const QUERIES: [(&str, f64); 3] = [
    ("latest_24h", 1.0),
    ("agg_7d_fleet", 1.0),
    ("last_value", 1.0),
];

fn opts() -> CompareOptions {
    CompareOptions::default()
}

// ---------------------------------------------------------------------------------------------
// Verdicts

#[test]
fn a_30_percent_p95_regression_fails_and_names_query_and_metric() {
    let base = synthetic_run(1, STEADY, &QUERIES);
    let cur = synthetic_run(
        2,
        STEADY,
        &[
            ("latest_24h", 1.3),
            ("agg_7d_fleet", 1.0),
            ("last_value", 1.0),
        ],
    );
    let opts = CompareOptions {
        metrics: vec![Metric::P95Ms],
        ..opts()
    };
    let cmp = compare::compare(&base, &cur, &opts).unwrap();
    assert!(cmp.failed(), "{}", cmp.to_text());
    let failed: Vec<_> = cmp
        .regressions()
        .map(|r| (r.query.as_str(), r.metric))
        .collect();
    assert_eq!(
        failed,
        vec![("latest_24h", Metric::P95Ms)],
        "{}",
        cmp.to_text()
    );
    let text = cmp.to_text();
    assert!(text.contains("latest_24h") && text.contains("p95_ms") && text.contains("REGRESSION"));
    let junit = cmp.to_junit();
    assert!(
        junit.contains("message=\"regression in query latest_24h metric p95_ms"),
        "{junit}"
    );
}

#[test]
fn identical_reports_pass() {
    let a = synthetic_run(7, CI_SHAPE, &QUERIES);
    let all = CompareOptions {
        metrics: Metric::ALL.to_vec(),
        ..opts()
    };
    let cmp = compare::compare(&a, &a, &all).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    assert_eq!(cmp.rows.len(), 3 * Metric::ALL.len());
    assert!(cmp.warnings.is_empty(), "{:?}", cmp.warnings);
    for r in &cmp.rows {
        assert_eq!(r.change_pct, Some(0.0), "{r:?}");
        assert!(
            matches!(
                r.verdict,
                RowVerdict::NoSignificantChange | RowVerdict::WithinThreshold
            ),
            "{r:?}"
        );
    }
}

#[test]
fn improvements_are_shown_and_do_not_fail() {
    let base = synthetic_run(3, CI_SHAPE, &QUERIES);
    let cur = synthetic_run(
        4,
        CI_SHAPE,
        &[
            ("latest_24h", 1.0),
            ("agg_7d_fleet", 0.6),
            ("last_value", 1.0),
        ],
    );
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    let improved: Vec<_> = cmp
        .rows
        .iter()
        .filter(|r| r.verdict == RowVerdict::Improvement)
        .map(|r| r.query.as_str())
        .collect();
    assert_eq!(improved, vec!["agg_7d_fleet"; 3], "{}", cmp.to_text());
    assert!(cmp.to_markdown().contains("improvement"));
}

#[test]
fn a_large_but_noisy_change_is_not_significant() {
    // Only the whole-run figure moved (e.g. one bad interval); the intervals do not support it.
    let base = synthetic_run(5, CI_SHAPE, &QUERIES);
    let mut cur = base.clone();
    cur.queries[0].latency_ms.p95 *= 1.5;
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    let row = cmp
        .rows
        .iter()
        .find(|r| r.query == "latest_24h" && r.metric == Metric::P95Ms)
        .unwrap();
    assert_eq!(row.verdict, RowVerdict::NoSignificantChange);
    assert!(
        row.note.as_deref().unwrap().contains("not significant"),
        "{row:?}"
    );
}

#[test]
fn too_few_intervals_fall_back_to_a_wider_margin() {
    let shape = Shape {
        intervals: 3,
        ..CI_SHAPE
    };
    let base = synthetic_run(8, shape, &[("latest_24h", 1.0)]);
    // 15% slower: over the 10% threshold but under the 2x margin.
    let mut cur = base.clone();
    cur.queries[0].latency_ms.p95 *= 1.15;
    let p95 = CompareOptions {
        metrics: vec![Metric::P95Ms],
        ..opts()
    };
    let cmp = compare::compare(&base, &cur, &p95).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    assert!(cmp.rows[0]
        .note
        .as_deref()
        .unwrap()
        .contains("insufficient samples"));
    // 30% slower: beyond the margin, fails.
    cur.queries[0].latency_ms.p95 = base.queries[0].latency_ms.p95 * 1.3;
    let cmp = compare::compare(&base, &cur, &p95).unwrap();
    assert!(cmp.failed(), "{}", cmp.to_text());
}

#[test]
fn a_query_that_only_failed_is_a_regression() {
    let base = synthetic_run(9, CI_SHAPE, &[("latest_24h", 1.0)]);
    let mut cur = base.clone();
    let q = &mut cur.queries[0];
    q.errors = q.count;
    q.count = 0;
    q.intervals.iter_mut().for_each(|i| i.count = 0);
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert!(cmp.failed());
    assert!(cmp.rows[0]
        .note
        .as_deref()
        .unwrap()
        .contains("no successful query"));
}

#[test]
fn new_errors_fail_the_error_rate_gate() {
    let base = synthetic_run(10, CI_SHAPE, &[("latest_24h", 1.0)]);
    let mut cur = base.clone();
    cur.queries[0].errors = 300;
    let cmp = compare::compare(
        &base,
        &cur,
        &CompareOptions {
            metrics: vec![Metric::ErrorRate],
            ..opts()
        },
    )
    .unwrap();
    assert!(cmp.failed(), "{}", cmp.to_text());
    assert_eq!(cmp.rows[0].change_pct, None);
}

#[test]
fn added_and_removed_queries_are_reported_not_failed() {
    let base = synthetic_run(11, CI_SHAPE, &[("latest_24h", 1.0), ("old_query", 1.0)]);
    let cur = synthetic_run(12, CI_SHAPE, &[("latest_24h", 1.0), ("new_query", 1.0)]);
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    assert_eq!(cmp.added, vec!["new_query"]);
    assert_eq!(cmp.removed, vec!["old_query"]);
    assert!(cmp.rows.iter().all(|r| r.query == "latest_24h"));
    let md = cmp.to_markdown();
    assert!(
        md.contains("**Added queries** (not gated): `new_query`"),
        "{md}"
    );
    assert!(
        md.contains("**Removed queries** (not gated): `old_query`"),
        "{md}"
    );
}

#[test]
fn no_query_in_common_is_an_error_not_a_pass() {
    let base = synthetic_run(13, CI_SHAPE, &[("a", 1.0)]);
    let cur = synthetic_run(14, CI_SHAPE, &[("b", 1.0)]);
    let err = compare::compare(&base, &cur, &opts()).unwrap_err();
    assert!(err.downcast_ref::<BenchError>().is_some());
    assert!(err.to_string().contains("no query in common"), "{err}");
}

#[test]
fn unknown_metric_and_query_names_are_errors() {
    let e = compare::parse_metrics("p50,p95,p42").unwrap_err();
    assert!(e.to_string().contains("p42"), "{e}");
    let a = synthetic_run(15, CI_SHAPE, &QUERIES);
    let e =
        compare::restrict_to_queries(&a, &a, &["latest_24h".into(), "nope".into()]).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let (b, c) = compare::restrict_to_queries(&a, &a, &["last_value".into()]).unwrap();
    assert_eq!(b.queries.len(), 1);
    assert_eq!(c.queries[0].name, "last_value");
}

#[test]
fn different_fingerprints_are_refused_unless_forced() {
    let base = synthetic_run(16, CI_SHAPE, &QUERIES);
    let mut cur = base.clone();
    cur.scenario.fingerprint = "1111222233334444".into();
    cur.scenario.resolved = serde_json::json!({"name": "ci", "fleet": {"wells": 40}});
    let err = compare::compare(&base, &cur, &opts()).unwrap_err();
    assert!(matches!(
        err.downcast_ref::<BenchError>(),
        Some(BenchError::Config(_))
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("--force") && msg.contains("differ in fleet"),
        "{msg}"
    );
    let forced = CompareOptions {
        force: true,
        ..opts()
    };
    let cmp = compare::compare(&base, &cur, &forced).unwrap();
    assert!(!cmp.failed());
    assert!(
        cmp.warnings.iter().any(|w| w.contains("--force")),
        "{:?}",
        cmp.warnings
    );
}

#[test]
fn a_fingerprint_from_another_build_with_the_same_scenario_is_accepted() {
    let base = synthetic_run(18, CI_SHAPE, &QUERIES);
    let mut cur = base.clone();
    cur.scenario.fingerprint = "1111222233334444".into();
    cur.scenario.file = "elsewhere/ci.toml".into();
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert!(!cmp.failed());
    assert!(
        cmp.warnings
            .iter()
            .any(|w| w.contains("resolved scenarios are identical")),
        "{:?}",
        cmp.warnings
    );
}

#[test]
fn environment_differences_are_warned() {
    let base = synthetic_run(17, CI_SHAPE, &QUERIES);
    let mut cur = base.clone();
    cur.environment.timescaledb_version = "2.24.0".into();
    cur.environment.edition = "apache".into();
    cur.environment.cores = 2;
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert!(!cmp.failed());
    let w = cmp.warnings.join("\n");
    assert!(w.contains("TimescaleDB 2.23.1 (baseline) vs 2.24.0"), "{w}");
    assert!(w.contains("edition") && w.contains("cores"), "{w}");
}

// ---------------------------------------------------------------------------------------------
// Noise: false positives and power, seeded and deterministic

/// Runs `trials` comparisons of independently drawn reports; returns how many failed.
fn failures(trials: u64, shape: Shape, slowdown: f64, seed0: u64, opts: &CompareOptions) -> u64 {
    let cur_queries: Vec<(&str, f64)> = QUERIES
        .iter()
        .map(|(n, _)| (*n, if *n == "latest_24h" { slowdown } else { 1.0 }))
        .collect();
    (0..trials)
        .filter(|t| {
            let base = synthetic_run(seed0 + 2 * t, shape, &QUERIES);
            let cur = synthetic_run(seed0 + 2 * t + 1, shape, &cur_queries);
            compare::compare(&base, &cur, opts).unwrap().failed()
        })
        .count() as u64
}

#[test]
fn same_distribution_passes_in_at_least_95_of_100_trials() {
    // Three queries x p50/p95/p99 = nine gates per trial, so a trial is a false positive when
    // any of nine gates fails. Default options: 10%, alpha 0.05, 5% run-to-run noise.
    let fp = failures(100, CI_SHAPE, 1.0, 1_000, &opts());
    println!("false positives (30 intervals x 100 queries, 5% run shifts): {fp}/100");
    let fp_steady = failures(100, STEADY, 1.0, 3_000, &opts());
    println!("false positives (same, no run shifts): {fp_steady}/100");
    let small = Shape {
        intervals: 6,
        per_interval: 20,
        interval_noise: 0.15,
        ..CI_SHAPE
    };
    let fp_small = failures(100, small, 1.0, 5_000, &opts());
    println!("false positives (6 noisy intervals x 20 queries, 5% run shifts): {fp_small}/100");
    // What the run-noise term buys: the same pairs judged on intervals alone.
    let no_term = CompareOptions {
        run_noise_pct: 0.0,
        ..opts()
    };
    let fp_no_term = failures(100, CI_SHAPE, 1.0, 1_000, &no_term);
    println!("false positives with --run-noise 0 (intervals alone): {fp_no_term}/100");

    assert!(
        fp <= 5,
        "{fp} of 100 same-distribution pairs failed the gate"
    );
    assert!(
        fp_steady <= 5,
        "{fp_steady} of 100 steady pairs failed the gate"
    );
    assert!(
        fp_small <= 5,
        "{fp_small} of 100 small noisy pairs failed the gate"
    );
}

#[test]
fn a_30_percent_slowdown_is_caught_in_at_least_95_of_100_trials() {
    let caught = failures(100, STEADY, 1.3, 9_000, &opts());
    println!("30% slowdowns detected (no run shifts): {caught}/100");
    assert!(
        caught >= 95,
        "only {caught} of 100 30% slowdowns were caught"
    );
    // With 5% whole-run shifts on both sides, one run against one baseline cannot separate
    // every 30% slowdown from a slow runner at a 5% family-wise alpha: measured, not hidden.
    let caught_shifted = failures(100, CI_SHAPE, 1.3, 9_000, &opts());
    println!("30% slowdowns detected (5% run shifts): {caught_shifted}/100");
    assert!(
        caught_shifted >= 75,
        "only {caught_shifted} of 100 were caught"
    );
    // A steady slowdown below the threshold never fails, however significant.
    let small = failures(100, STEADY, 1.05, 11_000, &opts());
    println!("5% slowdowns failed (no run shifts): {small}/100");
    assert_eq!(small, 0);
}

#[test]
fn the_synthetic_generator_is_deterministic() {
    let a = synthetic_run(42, CI_SHAPE, &QUERIES);
    let b = synthetic_run(42, CI_SHAPE, &QUERIES);
    assert_eq!(a, b);
    let mut rng = StdRng::seed_from_u64(1);
    let _: u32 = rng.random();
}

// ---------------------------------------------------------------------------------------------
// Golden files: hand-made deterministic reports, no RNG, so the output is stable everywhere.

/// Intervals scaled by a fixed wiggle around the given whole-run percentiles.
fn fixed_query(name: &str, n: usize, scale: f64) -> QueryStats {
    const WIGGLE: [f64; 10] = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.02, 0.98];
    let (mean, p50, p95, p99) = (1.2 * scale, 1.0 * scale, 2.5 * scale, 4.0 * scale);
    let intervals = (0..n)
        .map(|i| {
            let w = WIGGLE[i % WIGGLE.len()];
            IntervalStats {
                t_s: (i + 1) as f64 * 5.0,
                count: 500,
                mean_ms: mean * w,
                p50_ms: p50 * w,
                p95_ms: p95 * w,
                p99_ms: p99 * w,
            }
        })
        .collect();
    let whole = Percentiles {
        mean,
        p50,
        p90: 2.0 * scale,
        p95,
        p99,
        p999: 8.0 * scale,
        max: 12.0 * scale,
    };
    query_stats(name, intervals, whole, 500 * n as u64)
}

fn golden_pair() -> (Summary, Summary) {
    let base = summary(vec![
        fixed_query("latest_24h", 10, 1.0),
        fixed_query("agg_7d_fleet", 10, 10.0),
        fixed_query("last_value", 10, 3.0),
        fixed_query("dashboard_hourly", 3, 2.0),
        fixed_query("diagnostics_recent", 10, 1.0),
    ]);
    let mut cur = summary(vec![
        fixed_query("latest_24h", 10, 1.3),
        fixed_query("agg_7d_fleet", 10, 6.0),
        fixed_query("last_value", 10, 3.0),
        fixed_query("dashboard_hourly", 3, 2.3),
        fixed_query("top_vibration", 10, 1.0),
    ]);
    cur.environment.timescaledb_version = "2.23.0".into();
    (base, cur)
}

fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("golden file {name}: {e} (UPDATE_GOLDEN=1 creates it)"));
    assert_eq!(
        actual, expected,
        "output differs from tests/golden/{name} (UPDATE_GOLDEN=1 rewrites it)"
    );
}

#[test]
fn golden_markdown_and_junit() {
    let (base, cur) = golden_pair();
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert!(cmp.failed());
    check_golden("compare-regression.md", &cmp.to_markdown());
    check_golden("compare-regression.xml", &cmp.to_junit());
    let same = compare::compare(&base, &base, &opts()).unwrap();
    assert!(!same.failed());
    check_golden("compare-pass.md", &same.to_markdown());
    check_golden("compare-pass.xml", &same.to_junit());
}

#[test]
fn json_output_carries_rows_and_verdict() {
    let (base, cur) = golden_pair();
    let v = compare::compare(&base, &cur, &opts()).unwrap().to_json();
    assert_eq!(v["failed"], true);
    assert_eq!(v["scenario"], "ci");
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query"] == "latest_24h" && r["metric"] == "p95_ms")
        .unwrap();
    assert_eq!(row["verdict"], "regression");
    assert_eq!(v["added"][0], "top_vibration");
    assert_eq!(v["removed"][0], "diagnostics_recent");
}

// ---------------------------------------------------------------------------------------------
// The CLI: exit codes and error messages

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .expect("run bench")
}

fn write_json(dir: &Path, name: &str, s: &Summary) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(s).unwrap()).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_exit_codes_for_pass_and_regression() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = golden_pair();
    let a = write_json(dir.path(), "a.json", &base);
    let b = write_json(dir.path(), "b.json", &cur);

    let out = bench(&["compare", s(&a), s(&a)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = bench(&["compare", s(&a), s(&b), "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| `latest_24h` | p95_ms |"), "{stdout}");

    // A generous threshold lets the same comparison pass; --queries narrows it.
    let out = bench(&["compare", s(&a), s(&b), "--max-regression", "50%"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = bench(&[
        "compare",
        s(&a),
        s(&b),
        "--queries",
        "last_value",
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // Valid --metrics lists, short and full names.
    let out = bench(&[
        "compare",
        s(&a),
        s(&b),
        "--metrics",
        "p50,mean_ms,throughput",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout.contains("mean_ms") && stdout.contains("throughput_qps"),
        "{stdout}"
    );
    assert!(!stdout.contains("p95_ms"), "{stdout}");
    let out = bench(&[
        "compare",
        s(&a),
        s(&b),
        "--format",
        "json",
        "--metrics",
        "p95",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["metrics"], serde_json::json!(["p95_ms"]));
    assert_eq!(v["failed"], true);
}

#[test]
fn cli_defaults_come_from_the_baseline_gate_table() {
    let dir = tempfile::tempdir().unwrap();
    let (mut base, mut cur) = golden_pair();
    let gate =
        serde_json::json!({"max_regression_pct": 50.0, "metrics": ["p95_ms"], "alpha": 0.01});
    for s in [&mut base, &mut cur] {
        s.scenario.resolved = serde_json::json!({"name": "ci", "gate": gate});
    }
    let a = write_json(dir.path(), "a.json", &base);
    let b = write_json(dir.path(), "b.json", &cur);
    let out = bench(&["compare", s(&a), s(&b), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["max_regression_pct"], 50.0);
    assert_eq!(v["alpha"], 0.01);
    assert_eq!(v["metrics"], serde_json::json!(["p95_ms"]));
    // Flags override the table.
    let out = bench(&["compare", s(&a), s(&b), "--max-regression", "10"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn cli_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = golden_pair();
    let a = write_json(dir.path(), "a.json", &base);
    let mut other = base.clone();
    other.scenario.fingerprint = "ffff".into();
    other.scenario.resolved = serde_json::json!({"name": "ci", "run": {"duration": "9s"}});
    let o = write_json(dir.path(), "other.json", &other);

    for (args, needle) in [
        (vec!["--metrics", "p50,p97"], "p97"),
        (
            vec!["--queries", "latest_24h,no_such_query"],
            "no_such_query",
        ),
        (vec!["--max-regression", "ten"], "ten"),
    ] {
        let mut all = vec!["compare", s(&a), s(&a)];
        all.extend(args);
        let out = bench(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(needle), "{all:?}: {stderr}");
    }

    let out = bench(&["compare", s(&a), s(&o)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    let out = bench(&["compare", s(&a), s(&o), "--force"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn cli_malformed_or_foreign_json_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = golden_pair();
    let good = write_json(dir.path(), "good.json", &base);
    let full = serde_json::to_string(&base).unwrap();
    let mut wrong_type = serde_json::to_value(&base).unwrap();
    wrong_type["queries"] = serde_json::json!("not a list");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "foreign.json",
            r#"{"foo":1}"#.into(),
            "not an esp-bench summary",
        ),
        ("array.json", "[1, 2, 3]".into(), "not an esp-bench summary"),
        (
            "truncated.json",
            full[..full.len() / 2].into(),
            "not valid JSON",
        ),
        ("garbage.json", "hello world".into(), "not valid JSON"),
        ("empty.json", String::new(), "not valid JSON"),
        (
            "wrongtype.json",
            wrong_type.to_string(),
            "malformed esp-bench summary",
        ),
        (
            "version.json",
            r#"{"format":"esp-bench-summary","schema_version":99}"#.into(),
            "schema_version 99",
        ),
    ];
    for (name, content, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        for args in [["compare", s(&p), s(&good)], ["compare", s(&good), s(&p)]] {
            let out = bench(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
            assert!(
                stderr.contains(name),
                "{name}: error does not name the file: {stderr}"
            );
            assert!(stderr.contains(needle), "{name}: {stderr}");
            assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        }
    }
    let missing = dir.path().join("missing.json");
    let out = bench(&["compare", s(&missing), s(&good)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("missing.json"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// Invariants over arbitrary reports

fn arb_query(name: &'static str) -> impl proptest::strategy::Strategy<Value = QueryStats> {
    use proptest::prelude::*;
    (
        prop::collection::vec((0u64..50, 0.001f64..1e4, 0.5f64..3.0), 0..12),
        0u64..5,
    )
        .prop_map(move |(iv, errors)| {
            let intervals: Vec<IntervalStats> = iv
                .iter()
                .enumerate()
                .map(|(i, &(count, p50, spread))| IntervalStats {
                    t_s: (i + 1) as f64,
                    count,
                    mean_ms: p50 * 1.1,
                    p50_ms: p50,
                    p95_ms: p50 * spread,
                    p99_ms: p50 * spread * 1.5,
                })
                .collect();
            let count: u64 = intervals.iter().map(|i| i.count).sum();
            let first = iv.first().map_or(1.0, |v| v.1);
            let whole = Percentiles {
                mean: first * 1.1,
                p50: first,
                p90: first * 1.5,
                p95: first * 2.0,
                p99: first * 3.0,
                p999: first * 4.0,
                max: first * 5.0,
            };
            let mut q = query_stats(name, intervals, whole, count);
            q.errors = errors;
            q
        })
}

proptest::proptest! {
    #[test]
    fn comparing_a_report_with_itself_never_fails(q in arb_query("q")) {
        let a = summary(vec![q]);
        let all = CompareOptions { metrics: Metric::ALL.to_vec(), ..opts() };
        let cmp = compare::compare(&a, &a, &all).unwrap();
        let no_success = a.queries[0].count == 0;
        // The only failure allowed: a query with no successful execution at all.
        proptest::prop_assert!(!cmp.failed() || no_success, "{}", cmp.to_text());
    }

    #[test]
    fn a_regression_always_exceeds_the_threshold(qa in arb_query("q"), qb in arb_query("q")) {
        let (a, b) = (summary(vec![qa]), summary(vec![qb]));
        let all = CompareOptions { metrics: Metric::ALL.to_vec(), ..opts() };
        let cmp = compare::compare(&a, &b, &all).unwrap();
        for r in cmp.regressions() {
            let worse = r.change_pct.map(|c| if r.metric.higher_is_better() { -c } else { c });
            proptest::prop_assert!(worse.is_none_or(|w| w > 10.0), "{r:?}");
        }
        // Every renderer copes with whatever came out.
        let _ = (cmp.to_text(), cmp.to_markdown(), cmp.to_junit(), cmp.to_json());
    }
}

//! The regression gate (`bench compare`, `bench baseline`) on synthetic reports: detection of a
//! real regression against baselines of k runs, the false-positive rate on runs drawn from one
//! distribution, gateability, confirmation runs, verdicts, refusals, baseline files, golden
//! markdown and JUnit output, and the CLI's exit codes on bad input.
//!
//! Set UPDATE_GOLDEN=1 to rewrite tests/golden/compare-*.{md,xml} after an intended change.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use esp_bench::compare::{self, Baseline, CompareOptions, NoiseSource, RowVerdict};
use esp_bench::error::BenchError;
use esp_bench::report::model::{IntervalStats, Percentiles, QueryStats, Summary};
use esp_bench::scenario::plan::Metric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

// ---------------------------------------------------------------------------------------------
// Synthetic reports

// The shared fixture (tests/common/summary.rs).
use common::summary::summary;

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
        plan: None,
        evidence: None,
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
            ref_p50_ms: None,
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

/// A baseline of `k` runs drawn with seeds `seed..seed + k`.
fn synthetic_baseline(seed: u64, k: u64, shape: Shape, queries: &[(&str, f64)]) -> Baseline {
    let runs = (0..k)
        .map(|i| synthetic_run(seed + i, shape, queries))
        .collect();
    Baseline::from_runs(runs, "synthetic").unwrap()
}

/// Eight queries: enough (>= 5 per metric) for the gate to estimate each run's shift.
const MANY: [(&str, f64); 8] = [
    ("q1", 1.0),
    ("q2", 1.0),
    ("q3", 1.0),
    ("q4", 1.0),
    ("q5", 1.0),
    ("q6", 1.0),
    ("q7", 1.0),
    ("q8", 1.0),
];

const QUERIES: [(&str, f64); 3] = [
    ("latest_24h", 1.0),
    ("agg_7d_fleet", 1.0),
    ("last_value", 1.0),
];

fn opts() -> CompareOptions {
    CompareOptions::default()
}

/// The row of a query and metric.
fn row<'a>(cmp: &'a compare::Comparison, q: &str, m: Metric) -> &'a compare::ComparisonRow {
    cmp.rows
        .iter()
        .find(|r| r.query == q && r.metric == m)
        .unwrap_or_else(|| panic!("no row {q} {m:?}: {}", cmp.to_text()))
}

// ---------------------------------------------------------------------------------------------
// Verdicts

#[test]
fn a_30_percent_p95_regression_fails_and_names_query_and_metric() {
    let base = synthetic_baseline(1, 3, STEADY, &QUERIES);
    let cur = synthetic_run(
        20,
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
    let cmp = compare::compare_baseline(&base, &cur, &opts).unwrap();
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
    // The noise was measured from the three runs, and it is shown next to the change.
    assert_eq!(cmp.noise.baseline_runs, 3);
    assert_eq!(cmp.noise.source, NoiseSource::Measured);
    let r = row(&cmp, "latest_24h", Metric::P95Ms);
    assert_eq!(r.method, compare::Method::RunT);
    let noise = r.noise_pct.expect("noise");
    assert!(noise > 0.5 && noise < 20.0, "{r:?}");
    let text = cmp.to_text();
    assert!(text.contains("latest_24h") && text.contains("p95_ms") && text.contains("REGRESSION"));
    assert!(
        text.contains("baseline of 3 runs: noise measured"),
        "{text}"
    );
    assert!(text.contains(&format!("±{noise:.1}%")), "{text}");
    let junit = cmp.to_junit();
    assert!(
        junit.contains("message=\"regression in query latest_24h metric p95_ms"),
        "{junit}"
    );
}

/// A run whose intervals each fall on a fast or a 1.9x slower host (query `i`'s phase has
/// `slow_share(i)` of them slow, drawn per interval as the development machine switched), with
/// the host-speed reference (0.3 ms fast, 0.57 ms slow, each with 2% noise) recorded in every
/// interval; `slowdowns` multiply the queries' latencies.
fn host_run(seed: u64, slow_share: impl Fn(usize) -> f64, slowdowns: &[(&str, f64)]) -> Summary {
    let mut rng = StdRng::seed_from_u64(seed);
    let jitter = LogNormal::new(0.0, 0.02).unwrap();
    let queries = slowdowns
        .iter()
        .enumerate()
        .map(|(q, (name, slowdown))| {
            let base = LogNormal::new((2.0 * slowdown).ln(), 0.3).unwrap();
            let mut all = Vec::new();
            let mut intervals = Vec::new();
            for i in 0..16 {
                let slow = rng.random_bool(slow_share(q));
                let host = if slow { 1.9 } else { 1.0 };
                let mut v: Vec<f64> = (0..100).map(|_| base.sample(&mut rng) * host).collect();
                v.sort_by(f64::total_cmp);
                intervals.push(IntervalStats {
                    t_s: 0.25 * (i + 1) as f64,
                    count: 100,
                    mean_ms: v.iter().sum::<f64>() / 100.0,
                    p50_ms: percentile(&v, 0.50),
                    p95_ms: percentile(&v, 0.95),
                    p99_ms: percentile(&v, 0.99),
                    ref_p50_ms: Some(0.3 * host * jitter.sample(&mut rng)),
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
        })
        .collect();
    summary(queries)
}

/// The host-speed reference (`[run] speed_reference`): a current run whose first three phases
/// spent most of their intervals on the slow host, against a baseline that spent few there, is
/// no regression once every run is brought to the baseline's host speed. As measured, those
/// three queries look 50-80% slower, which the run's shift (a median over all eight) does not
/// remove, and the gate fails. A real 25% median slowdown of one query on a slow host is still
/// caught, and only that query is blamed. The rows say what was done.
#[test]
fn the_speed_reference_removes_the_host_speed_and_keeps_a_real_slowdown() {
    let slow_phases = |q: usize| if q < 3 { 0.85 } else { 0.15 };
    let runs = (0..4).map(|i| host_run(100 + i, |_| 0.15, &MANY)).collect();
    let base = Baseline::from_runs(runs, "synthetic").unwrap();
    let p50 = CompareOptions {
        metrics: vec![Metric::P50Ms],
        ..opts()
    };
    let slow_host = host_run(200, slow_phases, &MANY);
    let raw = CompareOptions {
        speed_reference: false,
        ..p50.clone()
    };
    let as_measured = compare::compare_baseline(&base, &slow_host, &raw).unwrap();
    let blamed: Vec<&str> = as_measured
        .regressions()
        .map(|r| r.query.as_str())
        .collect();
    assert!(
        !blamed.is_empty() && blamed.iter().all(|q| ["q1", "q2", "q3"].contains(q)),
        "{}",
        as_measured.to_text()
    );
    assert!(as_measured
        .rows
        .iter()
        .all(|r| r.speed_reference_ms.is_none()));

    let cmp = compare::compare_baseline(&base, &slow_host, &p50).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    for r in cmp
        .rows
        .iter()
        .filter(|r| r.query != compare::RUN_SHIFT_QUERY)
    {
        let reference = r
            .speed_reference_ms
            .expect("every run carries the reference");
        assert!(reference > 0.3 && reference < 0.57, "{r:?}");
        let e = r.speed_exponent.expect("fitted");
        assert!(
            e > 0.8 && e <= 1.0,
            "CPU-bound queries follow the reference: {r:?}"
        );
        assert!(r.change_pct.unwrap().abs() < 7.5, "{r:?}");
    }
    assert!(
        cmp.to_text()
            .contains("8 of 8 gates brought to the baseline's host speed"),
        "{}",
        cmp.to_text()
    );

    let mut slower = MANY;
    slower[2].1 = 1.25;
    let regressed = host_run(300, slow_phases, &slower);
    let cmp = compare::compare_baseline(&base, &regressed, &p50).unwrap();
    let failed: Vec<&str> = cmp.regressions().map(|r| r.query.as_str()).collect();
    assert_eq!(failed, ["q3"], "{}", cmp.to_text());
}

/// A baseline recorded with the reference and a current run without it (or the other way
/// round) are compared as measured, and the comparison says so.
#[test]
fn runs_without_the_speed_reference_are_compared_as_measured_with_a_warning() {
    let runs = (0..3).map(|i| host_run(400 + i, |_| 0.1, &MANY)).collect();
    let base = Baseline::from_runs(runs, "synthetic").unwrap();
    let mut bare = host_run(500, |_| 0.1, &MANY);
    for q in &mut bare.queries {
        for i in &mut q.intervals {
            i.ref_p50_ms = None;
        }
    }
    let cmp = compare::compare_baseline(&base, &bare, &opts()).unwrap();
    assert!(cmp.rows.iter().all(|r| r.speed_reference_ms.is_none()));
    assert!(
        cmp.warnings
            .iter()
            .any(|w| w.contains("3 of the 4 runs carry the host-speed reference")),
        "{:?}",
        cmp.warnings
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
                RowVerdict::NoSignificantChange | RowVerdict::NotGateable
            ),
            "{r:?}"
        );
    }
    // The maximum is never gated, and says why.
    let max = row(&cmp, "latest_24h", Metric::MaxMs);
    assert_eq!(max.verdict, RowVerdict::NotGateable);
    assert!(
        max.note.as_deref().unwrap().contains("single query"),
        "{max:?}"
    );
}

#[test]
fn a_one_run_baseline_says_its_noise_is_a_default_and_which() {
    let base = synthetic_run(3, CI_SHAPE, &QUERIES);
    let cur = synthetic_run(4, CI_SHAPE, &QUERIES);
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    assert_eq!(cmp.noise.baseline_runs, 1);
    assert_eq!(cmp.noise.source, NoiseSource::Default);
    assert_eq!(cmp.noise.default_pct, Some(compare::DEFAULT_RUN_NOISE_PCT));
    for r in cmp.rows.iter().filter(|r| !r.verdict.not_gated()) {
        assert_eq!(r.noise_source, Some(NoiseSource::Default), "{r:?}");
        assert_eq!(r.method, compare::Method::DefaultNoiseZ, "{r:?}");
    }
    let text = cmp.to_text();
    assert!(
        text.contains("baseline of 1 run: noise not measured, default 25% run-to-run"),
        "{text}"
    );
    assert!(text.contains("(default)"), "{text}");
    let md = cmp.to_markdown();
    assert!(md.contains("noise not measured, default 25%"), "{md}");
    // --run-noise sets the default.
    let cmp = compare::compare(
        &base,
        &cur,
        &CompareOptions {
            run_noise_pct: Some(40.0),
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(cmp.noise.default_pct, Some(40.0));
}

#[test]
fn a_noise_floor_lifts_a_measured_noise_and_says_so() {
    let base = synthetic_baseline(30, 3, STEADY, &QUERIES);
    let cur = synthetic_run(40, STEADY, &QUERIES);
    let cmp = compare::compare_baseline(
        &base,
        &cur,
        &CompareOptions {
            run_noise_pct: Some(50.0),
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(cmp.noise.floor_pct, Some(50.0));
    let r = row(&cmp, "latest_24h", Metric::P50Ms);
    assert_eq!(r.noise_source, Some(NoiseSource::Floor), "{r:?}");
    assert!((r.noise_pct.unwrap() - 50.0).abs() < 1e-9, "{r:?}");
    assert!(cmp.to_text().contains("±50.0% (floor)"));
}

#[test]
fn improvements_are_shown_and_do_not_fail() {
    let base = synthetic_baseline(3, 3, CI_SHAPE, &QUERIES);
    let cur = synthetic_run(
        24,
        CI_SHAPE,
        &[
            ("latest_24h", 1.0),
            ("agg_7d_fleet", 0.6),
            ("last_value", 1.0),
        ],
    );
    let cmp = compare::compare_baseline(&base, &cur, &opts()).unwrap();
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
fn a_change_within_the_measured_noise_is_not_significant() {
    // Baseline runs that disagree by about 30% among themselves: a 40% slower current run is
    // within what they allow.
    let runs = [0.75, 1.0, 1.3]
        .iter()
        .enumerate()
        .map(|(i, f)| scaled(synthetic_run(5 + i as u64, STEADY, &QUERIES), *f))
        .collect();
    let base = Baseline::from_runs(runs, "test").unwrap();
    let mut cur = synthetic_run(50, STEADY, &QUERIES);
    for q in &mut cur.queries {
        q.latency_ms.p95 = row_value(&base, &q.name) * 1.4;
    }
    let cmp = compare::compare_baseline(
        &base,
        &cur,
        &CompareOptions {
            metrics: vec![Metric::P95Ms],
            ..opts()
        },
    )
    .unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    let r = row(&cmp, "latest_24h", Metric::P95Ms);
    assert_eq!(r.verdict, RowVerdict::NoSignificantChange);
    assert!(
        r.note.as_deref().unwrap().contains("not significant"),
        "{r:?}"
    );
    assert!(r.detectable_pct.unwrap() > 40.0, "{r:?}");
}

/// Every latency of a run times `f` (a slower or faster machine).
fn scaled(mut s: Summary, f: f64) -> Summary {
    for q in &mut s.queries {
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
        for i in &mut q.intervals {
            i.mean_ms *= f;
            i.p50_ms *= f;
            i.p95_ms *= f;
            i.p99_ms *= f;
        }
    }
    s
}

/// Geometric mean of a query's p95 over a baseline's runs.
fn row_value(b: &Baseline, name: &str) -> f64 {
    let logs: Vec<f64> = b
        .runs()
        .iter()
        .map(|r| {
            r.queries
                .iter()
                .find(|q| q.name == name)
                .unwrap()
                .latency_ms
                .p95
                .ln()
        })
        .collect();
    (logs.iter().sum::<f64>() / logs.len() as f64).exp()
}

#[test]
fn percentiles_a_phase_cannot_estimate_are_not_gated_and_listed() {
    // 30 intervals x 5 queries = 150 queries: p50 is gateable (>= 20), p95 (>= 200) and p99
    // (>= 1,000) are not.
    let short = Shape {
        per_interval: 5,
        ..CI_SHAPE
    };
    let base = synthetic_baseline(8, 3, short, &[("latest_24h", 1.0)]);
    let cur = synthetic_run(80, short, &[("latest_24h", 3.0)]);
    let cmp = compare::compare_baseline(&base, &cur, &opts()).unwrap();
    let p50 = row(&cmp, "latest_24h", Metric::P50Ms);
    assert_eq!(p50.verdict, RowVerdict::Regression, "{}", cmp.to_text());
    for m in [Metric::P95Ms, Metric::P99Ms] {
        let r = row(&cmp, "latest_24h", m);
        assert_eq!(r.verdict, RowVerdict::NotGateable, "{r:?}");
        let note = r.note.as_deref().unwrap();
        assert!(
            note.contains("needs at least") && note.contains("150"),
            "{note}"
        );
    }
    assert_eq!(cmp.not_gated().count(), 2);
    let text = cmp.to_text();
    assert!(text.contains("1 gated, 2 not gated"), "{text}");
    assert!(
        text.contains("not gated: latest_24h p95_ms: not gateable: p95_ms needs at least 200"),
        "{text}"
    );
    let md = cmp.to_markdown();
    assert!(md.contains("**Not gated**"), "{md}");
    let junit = cmp.to_junit();
    assert!(junit.contains("skipped=\"2\""), "{junit}");

    // Nothing gateable at all: refused, not passed.
    let tiny = Shape {
        per_interval: 1,
        intervals: 10,
        ..CI_SHAPE
    };
    let base = synthetic_baseline(9, 3, tiny, &[("latest_24h", 1.0)]);
    let cur = synthetic_run(90, tiny, &[("latest_24h", 1.0)]);
    let err = compare::compare_baseline(&base, &cur, &opts()).unwrap_err();
    assert!(err.downcast_ref::<BenchError>().is_some(), "{err}");
    assert!(err.to_string().contains("no gate could be tested"), "{err}");
}

#[test]
fn a_regression_counts_only_when_the_confirmation_reproduces_it() {
    let base = synthetic_baseline(60, 3, CI_SHAPE, &QUERIES);
    let slow = [
        ("latest_24h", 1.5),
        ("agg_7d_fleet", 1.0),
        ("last_value", 1.0),
    ];
    let first =
        compare::compare_baseline(&base, &synthetic_run(70, CI_SHAPE, &slow), &opts()).unwrap();
    assert!(first.failed(), "{}", first.to_text());
    // A confirmation run without the slowdown: not confirmed, the gate passes, and says why.
    let clean =
        compare::compare_baseline(&base, &synthetic_run(71, CI_SHAPE, &QUERIES), &opts()).unwrap();
    let cmp = compare::confirm(first.clone(), std::slice::from_ref(&clean));
    assert!(!cmp.failed(), "{}", cmp.to_text());
    assert_eq!(cmp.confirmation_runs, 1);
    let r = row(&cmp, "latest_24h", Metric::P95Ms);
    assert_eq!(r.verdict, RowVerdict::Unconfirmed);
    assert!(
        r.note.as_deref().unwrap().contains("not reproduced"),
        "{r:?}"
    );
    assert_eq!(r.confirm_change_pct.len(), 1);
    assert!(cmp.to_text().contains(", confirm "), "{}", cmp.to_text());
    // A confirmation run with the slowdown: confirmed.
    let again =
        compare::compare_baseline(&base, &synthetic_run(72, CI_SHAPE, &slow), &opts()).unwrap();
    let cmp = compare::confirm(first, &[again]);
    assert!(cmp.failed(), "{}", cmp.to_text());
    assert!(cmp.to_text().contains("1 confirmation run"));
}

#[test]
fn a_gate_fails_only_when_its_intervals_and_its_whole_phase_both_worsened() {
    // The tested value (the geometric mean of the intervals' p50) doubles while the whole phase's p50
    // improves: the displayed change is an improvement, so no regression may be reported.
    let base = summary(vec![fixed_query("q", 10, 500, 1.0)]);
    let mut cur = summary(vec![fixed_query("q", 10, 500, 1.0)]);
    for i in &mut cur.queries[0].intervals {
        i.p50_ms *= 2.0;
    }
    cur.queries[0].latency_ms.p50 *= 0.9;
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    let r = row(&cmp, "q", Metric::P50Ms);
    assert_ne!(r.verdict, RowVerdict::Regression, "{r:?}");
    assert!(
        r.p_value.is_some_and(|p| p < 0.05),
        "the intervals' change is significant: {r:?}"
    );
    let note = r.note.as_deref().unwrap_or_default();
    assert!(note.contains("whole phase -10.0%"), "{note}");

    // Both worsened: judged on the smaller, +30%, which exceeds the threshold.
    cur.queries[0].latency_ms.p50 = base.queries[0].latency_ms.p50 * 1.3;
    let cmp = compare::compare(&base, &cur, &opts()).unwrap();
    let r = row(&cmp, "q", Metric::P50Ms);
    assert_eq!(r.verdict, RowVerdict::Regression, "{r:?}");
    assert!(
        r.note
            .as_deref()
            .unwrap_or_default()
            .contains("judged on the smaller"),
        "{r:?}"
    );
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
    let base = synthetic_baseline(10, 3, CI_SHAPE, &[("latest_24h", 1.0)]);
    let mut cur = synthetic_run(100, CI_SHAPE, &[("latest_24h", 1.0)]);
    cur.queries[0].errors = 300;
    let cmp = compare::compare_baseline(
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
    assert_eq!(cmp.rows[0].method, compare::Method::TwoProportion);
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

/// `trials` comparisons, each of a fresh `k`-run baseline and a fresh current run whose
/// latest_24h is `slowdown` times slower; returns how many failed. FP_TRIALS=N overrides the
/// number of trials (for measuring rates more precisely; the assertions assume the default).
fn failures(
    trials: u64,
    k: u64,
    shape: Shape,
    slowdown: f64,
    seed0: u64,
    opts: &CompareOptions,
) -> u64 {
    let cur_queries: Vec<(&str, f64)> = QUERIES
        .iter()
        .map(|(n, _)| (*n, if *n == "latest_24h" { slowdown } else { 1.0 }))
        .collect();
    let trials = std::env::var("FP_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(trials);
    (0..trials)
        .filter(|t| {
            let seed = seed0 + t * (k + 1);
            let base = synthetic_baseline(seed, k, shape, &QUERIES);
            let cur = synthetic_run(seed + k, shape, &cur_queries);
            compare::compare_baseline(&base, &cur, opts)
                .unwrap()
                .failed()
        })
        .count() as u64
}

#[test]
fn same_distribution_fails_at_about_alpha() {
    // Three queries x p50/p95/p99 = nine gates per trial, so a trial is a false positive when
    // any of nine gates fails. Default options: 10%, alpha 0.05, so the method allows about 5
    // failures in 100; with 1,000 trials (FP_TRIALS=1000) these cases measured 4.3%, 1.6%,
    // 3.3%, 2.8% and 0% (docs/ci-gate.md). The bound below is the 99th percentile of
    // Binomial(100, 0.05): a rate above alpha fails it.
    let fp = failures(100, 3, CI_SHAPE, 1.0, 1_000, &opts());
    println!("false positives (3-run baselines, 5% run shifts): {fp}/100");
    let fp_steady = failures(100, 3, STEADY, 1.0, 3_000, &opts());
    println!("false positives (3-run baselines, no run shifts): {fp_steady}/100");
    let fp_k5 = failures(100, 5, CI_SHAPE, 1.0, 5_000, &opts());
    println!("false positives (5-run baselines, 5% run shifts): {fp_k5}/100");
    let noisy = Shape {
        run_noise: 0.3,
        ..CI_SHAPE
    };
    let fp_noisy = failures(100, 3, noisy, 1.0, 7_000, &opts());
    println!("false positives (3-run baselines, 30% run shifts): {fp_noisy}/100");
    let fp_single = failures(100, 1, CI_SHAPE, 1.0, 9_000, &opts());
    println!("false positives (one-run baselines, default noise): {fp_single}/100");
    for (what, n) in [
        ("5% run shifts", fp),
        ("steady", fp_steady),
        ("5-run baselines", fp_k5),
        ("30% run shifts", fp_noisy),
        ("one-run baselines", fp_single),
    ] {
        assert!(
            n <= 11,
            "{n} of 100 same-distribution trials ({what}) failed the gate"
        );
    }
}

#[test]
fn a_30_percent_slowdown_is_caught_more_often_with_more_runs() {
    // Three queries: too few to remove the runs' shifts, so the 5% whole-run shifts count as
    // noise (with eight queries they do not: `run_shifts_are_removed_...` catches >= 90%).
    let caught = failures(100, 3, CI_SHAPE, 1.3, 11_000, &opts());
    println!("30% slowdowns detected (3-run baselines, 5% run shifts): {caught}/100");
    assert!(
        caught >= 55,
        "only {caught} of 100 30% slowdowns were caught"
    );
    let caught_k5 = failures(100, 5, CI_SHAPE, 1.3, 13_000, &opts());
    println!("30% slowdowns detected (5-run baselines, 5% run shifts): {caught_k5}/100");
    assert!(caught_k5 >= caught, "{caught_k5} < {caught}");
    // One run cannot measure the noise: with the 10% default it cannot separate a 30%
    // slowdown from a slow runner often. Measured, not hidden.
    let caught_single = failures(100, 1, CI_SHAPE, 1.3, 15_000, &opts());
    println!("30% slowdowns detected (one-run baselines, default noise): {caught_single}/100");
    // A real slowdown below the threshold fails only when its estimate lands above the
    // threshold (the estimate is noisy): rarely.
    let small = failures(100, 3, STEADY, 1.05, 17_000, &opts());
    println!("5% slowdowns failed (3-run baselines, no run shifts): {small}/100");
    assert!(small <= 15, "{small} of 100 5% slowdowns failed a 10% gate");
    let tiny = failures(100, 3, STEADY, 1.01, 19_000, &opts());
    println!("1% slowdowns failed (3-run baselines, no run shifts): {tiny}/100");
    assert!(tiny <= 11, "{tiny} of 100 1% slowdowns failed a 10% gate");
}

/// `trials` comparisons of two current runs (latest_24h `s1` and `s2` times slower) against
/// a fresh `k`-run baseline; returns how many failed with the runs intersected (`--confirm`)
/// and how many pooled (`--confirm --pool`).
fn two_run_failures(
    trials: u64,
    k: u64,
    (s1, s2): (f64, f64),
    seed0: u64,
    opts: &CompareOptions,
) -> (u64, u64) {
    let with = |s: f64| -> Vec<(&str, f64)> {
        QUERIES
            .iter()
            .map(|(n, _)| (*n, if *n == "latest_24h" { s } else { 1.0 }))
            .collect()
    };
    let (mut confirmed, mut pooled) = (0, 0);
    for t in 0..trials {
        let seed = seed0 + t * (k + 2);
        let base = synthetic_baseline(seed, k, CI_SHAPE, &QUERIES);
        let c1 = synthetic_run(seed + k, CI_SHAPE, &with(s1));
        let c2 = synthetic_run(seed + k + 1, CI_SHAPE, &with(s2));
        let j1 = compare::compare_baseline(&base, &c1, opts).unwrap();
        let j2 = compare::compare_baseline(&base, &c2, opts).unwrap();
        confirmed += compare::confirm(j1.clone(), std::slice::from_ref(&j2)).failed() as u64;
        let p = compare::pool(vec![j1, j2], opts);
        assert!(p.pooled && p.confirmation_runs == 1);
        pooled += p.failed() as u64;
    }
    (confirmed, pooled)
}

#[test]
fn pooling_two_runs_catches_more_than_intersecting_them_within_the_same_bound() {
    let (confirmed, pooled) = two_run_failures(100, 3, (1.2, 1.2), 21_000, &opts());
    println!("20% slowdowns in both runs: {confirmed}/100 confirmed, {pooled}/100 pooled");
    assert!(
        pooled >= confirmed + 10,
        "pooling caught {pooled}, intersecting {confirmed} of 100"
    );
    // No slowdown: the pooled test keeps alpha (the bound as in same_distribution_...).
    let (confirmed, pooled) = two_run_failures(100, 3, (1.0, 1.0), 23_000, &opts());
    println!("no slowdown: {confirmed}/100 confirmed, {pooled}/100 pooled");
    assert!(
        pooled <= 11,
        "{pooled} of 100 same-distribution pairs failed pooled"
    );
    // One disturbed run (+60%) beside a normal one: the mean is far off, but the normal run
    // did not worsen beyond the threshold, so the pooled gate holds.
    let (confirmed, pooled) = two_run_failures(100, 3, (1.6, 1.0), 25_000, &opts());
    println!("one run +60%, the other unchanged: {confirmed}/100 confirmed, {pooled}/100 pooled");
    assert!(
        pooled <= 11,
        "{pooled} of 100 pairs with one disturbed run failed pooled"
    );
}

/// `trials` comparisons of `slowdowns.len()` current runs (latest_24h slower by each factor)
/// against a fresh `k`-run baseline, pooled (`--confirm ... --pool`): how many failed.
fn pooled_failures(
    trials: u64,
    k: u64,
    slowdowns: &[f64],
    seed0: u64,
    opts: &CompareOptions,
) -> u64 {
    let m = slowdowns.len() as u64;
    let mut failed = 0;
    for t in 0..trials {
        let seed = seed0 + t * (k + m);
        let base = synthetic_baseline(seed, k, CI_SHAPE, &QUERIES);
        let judged: Vec<_> = slowdowns
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let slowed: Vec<(&str, f64)> = QUERIES
                    .iter()
                    .map(|(n, _)| (*n, if *n == "latest_24h" { s } else { 1.0 }))
                    .collect();
                let run = synthetic_run(seed + k + i as u64, CI_SHAPE, &slowed);
                compare::compare_baseline(&base, &run, opts).unwrap()
            })
            .collect();
        let p = compare::pool(judged, opts);
        assert!(p.pooled && p.confirmation_runs == slowdowns.len() - 1);
        failed += p.failed() as u64;
    }
    failed
}

#[test]
fn three_pooled_runs_against_four_catch_more_and_one_disturbed_run_does_not_fail_them() {
    let two = pooled_failures(100, 3, &[1.2, 1.2], 31_000, &opts());
    let three = pooled_failures(100, 4, &[1.2, 1.2, 1.2], 33_000, &opts());
    println!("20% slowdowns: {two}/100 pooled 2 against 3, {three}/100 pooled 3 against 4");
    assert!(
        three >= two + 5,
        "3 against 4 caught {three}, 2 against 3 {two}"
    );
    let none = pooled_failures(100, 4, &[1.0, 1.0, 1.0], 35_000, &opts());
    println!("no slowdown: {none}/100");
    assert!(
        none <= 11,
        "{none} of 100 same-distribution triples failed pooled"
    );
    // One run +60% beside two unchanged ones: the majority did not worsen beyond the threshold.
    let one = pooled_failures(100, 4, &[1.6, 1.0, 1.0], 37_000, &opts());
    println!("one run +60%, two unchanged: {one}/100");
    assert!(
        one <= 11,
        "{one} of 100 triples with one disturbed run failed pooled"
    );
    // Two slowed runs and a disturbed-fast one: the majority still worsened.
    let two_of_three = pooled_failures(100, 4, &[1.5, 1.5, 0.8], 39_000, &opts());
    println!("+50%, +50%, -20%: {two_of_three}/100");
    assert!(two_of_three >= 50, "{two_of_three} of 100");
}

#[test]
fn a_pooled_gate_says_when_one_run_did_not_worsen_beyond_the_threshold() {
    let base = Baseline::from_runs(
        vec![golden_run(1, 0.98), golden_run(2, 1.0), golden_run(3, 1.02)],
        "golden",
    )
    .unwrap();
    let with = |day: u32, scale: f64| {
        let mut s = golden_run(day, 1.0);
        s.queries[0] = fixed_query("latest_24h", 10, 500, scale);
        compare::compare_baseline(&base, &s, &opts()).unwrap()
    };
    let verdict = |p: &compare::Comparison| {
        let r = row(p, "latest_24h", Metric::P50Ms);
        (r.verdict, r.note.clone().unwrap_or_default())
    };
    // +50% beside an unchanged run: they disagree beyond their noise, so they are not pooled
    // and the regression, in one run only, does not count.
    let slow = with(4, 1.5);
    assert!(slow.failed(), "{}", slow.to_text());
    let p = compare::pool(vec![slow.clone(), with(5, 1.0)], &opts());
    let (v, note) = verdict(&p);
    assert_eq!(v, RowVerdict::Unconfirmed, "{note}");
    assert!(
        note.contains("disagree beyond their noise (+50.0%, +0.0%)"),
        "{note}"
    );
    assert!(p.to_text().contains("1 pooled run"), "{}", p.to_text());
    assert_eq!(
        row(&p, "latest_24h", Metric::P50Ms)
            .confirm_change_pct
            .len(),
        1
    );
    // +14% and +6%: one effect, significant together, but not beyond the 10% threshold in the
    // second run.
    let p = compare::pool(vec![with(4, 1.14), with(5, 1.06)], &opts());
    let (v, note) = verdict(&p);
    assert_eq!(v, RowVerdict::WithinThreshold, "{note}\n{}", p.to_text());
    assert!(
        note.contains("not beyond the threshold in both runs"),
        "{note}"
    );
    // Both +50%: a regression, tested on their mean.
    let p = compare::pool(vec![slow.clone(), with(5, 1.5)], &opts());
    assert_eq!(verdict(&p).0, RowVerdict::Regression, "{}", p.to_text());
    // Three runs that disagree: the current run and one other +50%, one unchanged: a regression
    // in 2 of the 3 runs, each judged alone; 1 of 3 is not, whichever run it is.
    let p = compare::pool(vec![slow.clone(), with(5, 1.0), with(6, 1.5)], &opts());
    let (v, note) = verdict(&p);
    assert_eq!(v, RowVerdict::Regression, "{note}\n{}", p.to_text());
    assert!(note.contains("a regression in 2 of the 3 runs"), "{note}");
    assert!(p.failed());
    for runs in [
        vec![with(4, 1.0), slow.clone(), with(6, 1.0)],
        vec![slow, with(5, 1.0), with(6, 1.0)],
    ] {
        let p = compare::pool(runs, &opts());
        assert!(!p.failed(), "{}", p.to_text());
    }
}

#[test]
fn a_shift_of_the_whole_mix_phase_is_removed_a_single_mix_query_is_not() {
    let run = |w: f64, mix: f64, one: f64| {
        let mut q: Vec<QueryStats> = (0..6)
            .map(|i| fixed_query(&format!("q{i}"), 10, 500, (1.0 + i as f64) * w))
            .collect();
        q.extend((0..5).map(|i| {
            let f = if i == 0 { mix * one } else { mix };
            fixed_query(&format!("mix:m{i}"), 10, 500, (1.0 + i as f64) * w * f)
        }));
        summary(q)
    };
    let base = Baseline::from_runs(
        vec![
            run(0.98, 1.0, 1.0),
            run(1.0, 1.02, 1.0),
            run(1.02, 0.99, 1.0),
        ],
        "mix",
    )
    .unwrap();
    // Every mix query 30% slower, the queries alone unchanged: the mix phase's shift (a
    // disturbance during it), not a regression of five queries.
    let cmp = compare::compare_baseline(&base, &run(1.0, 1.3, 1.0), &opts()).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    // One mix query 30% slower: a regression.
    let cmp = compare::compare_baseline(&base, &run(1.0, 1.0, 1.3), &opts()).unwrap();
    assert_eq!(
        row(&cmp, "mix:m0", Metric::P50Ms).verdict,
        RowVerdict::Regression,
        "{}",
        cmp.to_text()
    );
}

/// With eight queries the gate removes each run's shift: runs that differ as wholes (the
/// noisy-neighbour model: every query of a run scaled by one factor, sd 15%) neither fail the
/// gate nor hide a slowdown of one query.
#[test]
fn run_shifts_are_removed_when_there_are_enough_queries() {
    let shifted = Shape {
        run_noise: 0.15,
        ..CI_SHAPE
    };
    let trials = |slowdown: f64, seed0: u64, opts: &CompareOptions| {
        (0..100u64)
            .filter(|t| {
                let seed = seed0 + t * 4;
                let base = synthetic_baseline(seed, 3, shifted, &MANY);
                let mut cur_q = MANY;
                cur_q[0].1 = slowdown;
                let cur = synthetic_run(seed + 3, shifted, &cur_q);
                let cmp = compare::compare_baseline(&base, &cur, opts).unwrap();
                if slowdown > 1.0 {
                    cmp.regressions().any(|r| r.query == "q1")
                } else {
                    cmp.failed()
                }
            })
            .count()
    };
    let fp = trials(1.0, 21_000, &opts());
    println!("false positives (8 queries, 15% run shifts): {fp}/100");
    assert!(fp <= 11, "{fp}");
    let caught = trials(1.3, 23_000, &opts());
    println!("30% slowdowns of one query detected (8 queries, 15% run shifts): {caught}/100");
    assert!(caught >= 90, "{caught}");

    // One run's shift: reported as the `(all queries)` rows, not gated by default, warned
    // when it exceeds the threshold; --gate-run-shift gates it.
    let base = synthetic_baseline(25_000, 3, CI_SHAPE, &MANY);
    let all_slow: Vec<(&str, f64)> = MANY.iter().map(|(n, _)| (*n, 1.5)).collect();
    let cur = synthetic_run(25_010, CI_SHAPE, &all_slow);
    let cmp = compare::compare_baseline(&base, &cur, &opts()).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    let shift = row(&cmp, compare::RUN_SHIFT_QUERY, Metric::P50Ms);
    assert_eq!(shift.verdict, RowVerdict::NotGateable, "{shift:?}");
    assert!((shift.change_pct.unwrap() - 50.0).abs() < 10.0, "{shift:?}");
    assert!(
        cmp.warnings
            .iter()
            .any(|w| w.contains("every query's p50_ms moved by +")),
        "{:?}",
        cmp.warnings
    );
    let gated = CompareOptions {
        gate_run_shift: true,
        ..opts()
    };
    let cmp = compare::compare_baseline(&base, &cur, &gated).unwrap();
    let shift = row(&cmp, compare::RUN_SHIFT_QUERY, Metric::P50Ms);
    assert_eq!(shift.verdict, RowVerdict::Regression, "{}", cmp.to_text());
    // A large improvement of one query does not turn the others into regressions.
    let mut better = MANY;
    better[2].1 = 0.5;
    let cur = synthetic_run(25_020, CI_SHAPE, &better);
    let cmp = compare::compare_baseline(&base, &cur, &opts()).unwrap();
    assert!(!cmp.failed(), "{}", cmp.to_text());
    assert_eq!(
        row(&cmp, "q3", Metric::P50Ms).verdict,
        RowVerdict::Improvement
    );
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

/// `n` intervals of `per_interval` queries, scaled by a fixed wiggle around the given
/// whole-run percentiles.
fn fixed_query(name: &str, n: usize, per_interval: u64, scale: f64) -> QueryStats {
    const WIGGLE: [f64; 10] = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.02, 0.98];
    let (mean, p50, p95, p99) = (1.2 * scale, 1.0 * scale, 2.5 * scale, 4.0 * scale);
    let intervals = (0..n)
        .map(|i| {
            let w = WIGGLE[i % WIGGLE.len()];
            IntervalStats {
                t_s: (i + 1) as f64 * 5.0,
                count: per_interval,
                mean_ms: mean * w,
                p50_ms: p50 * w,
                p95_ms: p95 * w,
                p99_ms: p99 * w,
                ref_p50_ms: None,
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
    query_stats(name, intervals, whole, per_interval * n as u64)
}

/// Run `day` of the golden baseline, `w` its run-to-run wiggle.
fn golden_run(day: u32, w: f64) -> Summary {
    let mut s = summary(vec![
        fixed_query("latest_24h", 10, 500, 1.0 * w),
        fixed_query("agg_7d_fleet", 10, 500, 10.0 / w),
        fixed_query("last_value", 10, 500, 3.0 * w),
        fixed_query("dashboard_hourly", 3, 50, 2.0 * w),
        fixed_query("diagnostics_recent", 10, 500, 1.0),
    ]);
    s.started_at = format!("2026-01-{day:02}T00:00:00Z");
    s
}

fn golden_pair() -> (Baseline, Summary) {
    let base = Baseline::from_runs(
        vec![golden_run(1, 0.98), golden_run(2, 1.0), golden_run(3, 1.02)],
        "golden",
    )
    .unwrap();
    let mut cur = summary(vec![
        fixed_query("latest_24h", 10, 500, 1.3),
        fixed_query("agg_7d_fleet", 10, 500, 6.0),
        fixed_query("last_value", 10, 500, 3.0),
        fixed_query("dashboard_hourly", 3, 50, 2.3),
        fixed_query("top_vibration", 10, 500, 1.0),
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
    let cmp = compare::compare_baseline(&base, &cur, &opts()).unwrap();
    assert!(cmp.failed(), "{}", cmp.to_text());
    check_golden("compare-regression.md", &cmp.to_markdown());
    check_golden("compare-regression.xml", &cmp.to_junit());
    check_golden("compare-regression.txt", &cmp.to_text());
    let same = compare::compare_baseline(&base, base.latest(), &opts()).unwrap();
    assert!(!same.failed(), "{}", same.to_text());
    check_golden("compare-pass.md", &same.to_markdown());
    check_golden("compare-pass.xml", &same.to_junit());
    // A one-run baseline says its noise is a default.
    let single = compare::compare(base.latest(), &cur, &opts()).unwrap();
    check_golden("compare-single-run.md", &single.to_markdown());
}

#[test]
fn json_output_carries_rows_noise_and_verdict() {
    let (base, cur) = golden_pair();
    let v = compare::compare_baseline(&base, &cur, &opts())
        .unwrap()
        .to_json();
    assert_eq!(v["failed"], true);
    assert_eq!(v["scenario"], "ci");
    assert_eq!(v["noise"]["baseline_runs"], 3);
    assert_eq!(v["noise"]["source"], "measured");
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query"] == "latest_24h" && r["metric"] == "p95_ms")
        .unwrap();
    assert_eq!(row["verdict"], "regression");
    assert_eq!(row["noise_source"], "measured");
    assert!(row["noise_pct"].as_f64().unwrap() > 0.0, "{row}");
    assert!(row["detectable_pct"].as_f64().unwrap() > 0.0, "{row}");
    assert_eq!(v["added"][0], "top_vibration");
    assert_eq!(v["removed"][0], "diagnostics_recent");
    let ng = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["query"] == "dashboard_hourly" && r["metric"] == "p99_ms")
        .unwrap();
    assert_eq!(ng["verdict"], "not_gateable", "{ng}");
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

fn write_baseline(dir: &Path, name: &str, b: &Baseline) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, b.to_json().unwrap()).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_exit_codes_for_pass_and_regression() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = golden_pair();
    let a = write_baseline(dir.path(), "a.json", &base);
    let a1 = write_json(dir.path(), "a1.json", base.latest());
    let b = write_json(dir.path(), "b.json", &cur);

    let out = bench(&["compare", s(&a), s(&a1)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A summary.json is a one-run baseline.
    let out = bench(&["compare", s(&a1), s(&a1)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("baseline of 1 run: noise not measured"),
        "{out:?}"
    );

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
    let (base, mut cur) = golden_pair();
    let gate =
        serde_json::json!({"max_regression_pct": 50.0, "metrics": ["p95_ms"], "alpha": 0.01});
    let mut runs = base.runs().to_vec();
    for s in runs.iter_mut().chain([&mut cur]) {
        s.scenario.resolved = serde_json::json!({"name": "ci", "gate": gate});
    }
    let base = Baseline::from_runs(runs, "test").unwrap();
    let a = write_baseline(dir.path(), "a.json", &base);
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
    let base = base.latest().clone();
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
    let base = base.latest().clone();
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

#[test]
fn cli_baseline_files_are_checked_and_errors_name_the_file_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = golden_pair();
    let c = write_json(dir.path(), "cur.json", &cur);
    let run = serde_json::to_value(base.latest()).unwrap();
    let mut other = run.clone();
    other["scenario"]["fingerprint"] = "ffff".into();
    other["scenario"]["resolved"] = serde_json::json!({"name": "ci", "run": {"duration": "9s"}});
    let mut interrupted = run.clone();
    interrupted["interrupted"] = true.into();
    let file = |runs: serde_json::Value| {
        serde_json::json!({"format": "esp-bench-baseline", "schema_version": 1, "runs": runs})
            .to_string()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("b-empty.json", file(serde_json::json!([])), "holds no runs"),
        (
            "b-version.json",
            r#"{"format":"esp-bench-baseline","schema_version":7,"runs":[]}"#.into(),
            "baseline schema_version 7",
        ),
        (
            "b-foreign-run.json",
            file(serde_json::json!([run, {"foo": 1}])),
            "runs[1] is not an esp-bench summary",
        ),
        (
            "b-mixed.json",
            file(serde_json::json!([run, other])),
            "runs[1] has another configuration than runs[0] (differs in run)",
        ),
        (
            "b-interrupted.json",
            file(serde_json::json!([interrupted])),
            "runs[0] was interrupted",
        ),
        (
            "b-unknown-key.json",
            r#"{"format":"esp-bench-baseline","schema_version":1,"runs":[],"extra":1}"#.into(),
            "malformed esp-bench baseline",
        ),
    ];
    for (name, content, needle) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let out = bench(&["compare", s(&p), s(&c)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{name}: {stderr}");
        assert!(stderr.contains(needle), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn cli_baseline_add_show_and_compare_with_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let (base, cur) = golden_pair();
    let runs: Vec<PathBuf> = base
        .runs()
        .iter()
        .enumerate()
        .map(|(i, r)| write_json(dir.path(), &format!("r{i}.json"), r))
        .collect();
    let c = write_json(dir.path(), "cur.json", &cur);
    let b = dir.path().join("baselines/ci.json");

    // Created with two runs, extended with a third.
    let out = bench(&["baseline", "add", s(&b), s(&runs[0]), s(&runs[1])]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 runs of scenario ci"));
    let out = bench(&["baseline", "add", s(&b), s(&runs[2])]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let read = Baseline::read(&b).unwrap();
    assert_eq!(read.len(), 3);
    let started = |b: &Baseline| {
        b.runs()
            .iter()
            .map(|r| r.started_at.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(started(&read), started(&base));

    // show: the runs and each metric's measured noise.
    let out = bench(&["baseline", "show", s(&b)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 runs"), "{text}");
    assert!(
        text.contains("latest_24h p95_ms: ") && text.contains("noise ±"),
        "{text}"
    );
    assert!(
        text.contains("dashboard_hourly p99_ms") && text.contains("not gateable"),
        "{text}"
    );

    // The gate: a regression that the same run confirms fails; one that a clean re-run does
    // not reproduce passes, listed as not confirmed.
    let out = bench(&["compare", s(&b), s(&c)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = bench(&["compare", s(&b), s(&c), "--confirm", s(&c)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = bench(&["compare", s(&b), s(&c), "--confirm", s(&runs[1])]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text.contains("not confirmed") && text.contains("1 confirmation run"),
        "{text}"
    );
    // Pooled: the regression twice fails; --pool without runs to pool is bad input.
    let out = bench(&["compare", s(&b), s(&c), "--confirm", s(&c), "--pool"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text.contains("1 pooled run"), "{text}");
    let out = bench(&["compare", s(&b), s(&c), "--pool"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // --keep trims to the newest runs.
    let out = bench(&["baseline", "add", s(&b), s(&runs[0]), "--keep", "2"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let read = Baseline::read(&b).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(
        read.runs()[1].queries[0].latency_ms.p50,
        base.runs()[0].queries[0].latency_ms.p50
    );

    // A plain summary.json becomes the first run of a baseline file.
    let single = dir.path().join("single.json");
    std::fs::copy(&runs[0], &single).unwrap();
    let out = bench(&["baseline", "add", s(&single), s(&runs[1])]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(Baseline::read(&single).unwrap().len(), 2);

    // Runs of another configuration, and interrupted runs, are refused, naming the file.
    let mut other = base.latest().clone();
    other.scenario.fingerprint = "ffff".into();
    other.scenario.resolved = serde_json::json!({"name": "ci", "fleet": {"wells": 3}});
    let o = write_json(dir.path(), "other.json", &other);
    let out = bench(&["baseline", "add", s(&b), s(&o)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("other.json") && stderr.contains("fleet"),
        "{stderr}"
    );
    let mut cut = base.latest().clone();
    cut.interrupted = true;
    let i = write_json(dir.path(), "cut.json", &cut);
    let out = bench(&["baseline", "add", s(&b), s(&i)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cut.json") && stderr.contains("interrupted"),
        "{stderr}"
    );
    // The baseline is untouched by a refused add.
    assert_eq!(Baseline::read(&b).unwrap().len(), 2);
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
                    ref_p50_ms: None,
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
        let no_success = a.queries[0].count == 0;
        let cmp = match compare::compare(&a, &a, &all) {
            Ok(cmp) => cmp,
            // Nothing gateable at all is refused (exit 2), never passed.
            Err(e) => {
                proptest::prop_assert!(e.to_string().contains("no gate could be tested"), "{e}");
                return Ok(());
            }
        };
        // The only failure allowed: a query with no successful execution at all.
        proptest::prop_assert!(!cmp.failed() || no_success, "{}", cmp.to_text());
    }

    #[test]
    fn a_regression_always_exceeds_the_threshold(qa in arb_query("q"), qb in arb_query("q")) {
        let (a, b) = (summary(vec![qa]), summary(vec![qb]));
        let all = CompareOptions { metrics: Metric::ALL.to_vec(), ..opts() };
        let cmp = match compare::compare(&a, &b, &all) {
            Ok(cmp) => cmp,
            Err(e) => {
                proptest::prop_assert!(e.to_string().contains("no gate could be tested"), "{e}");
                return Ok(());
            }
        };
        for r in cmp.regressions() {
            let worse = r.change_pct.map(|c| if r.metric.higher_is_better() { -c } else { c });
            proptest::prop_assert!(worse.is_none_or(|w| w > 10.0), "{r:?}");
        }
        // Every renderer copes with whatever came out.
        let _ = (cmp.to_text(), cmp.to_markdown(), cmp.to_junit(), cmp.to_json());
    }
}

//! `scenarios/ci.toml` end to end through the library (`exec::run_scenario`, then the report
//! writers) against an embedded server: the report's structure and sane values.

use std::path::Path;

use esp_bench::report::model::{CheckStatus, Verdict, FORMAT_NAME, SCHEMA_VERSION};
use esp_bench::run::pipeline::{run_scenario, RunOptions, LIVE_INGEST_TABLE};
use esp_bench::scenario::plan::{QueryKind, StopCondition};
use tokio_util::sync::CancellationToken;

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_scenario_end_to_end() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ci.toml");
    let plan = esp_bench::scenario::load_config(&path).expect("scenarios/ci.toml is valid");
    let target = common::target().await;
    let opts = RunOptions::quiet(CancellationToken::new());
    let summary = run_scenario(&plan, &target, opts).await;
    target.close().await.expect("embedded server stops");
    let summary = summary.expect("ci scenario runs");

    // Identity and environment.
    assert_eq!(summary.format, FORMAT_NAME);
    assert_eq!(summary.schema_version, SCHEMA_VERSION);
    assert_eq!(summary.scenario.name, "ci");
    assert!(!summary.scenario.fingerprint.is_empty());
    assert!(summary.scenario.resolved.get("queries").is_some());
    let env = &summary.environment;
    assert!(!env.postgres_version.is_empty());
    assert!(!env.timescaledb_version.is_empty());
    assert!(
        env.edition == "apache" || env.edition == "community",
        "{}",
        env.edition
    );
    assert_eq!(env.server, "embedded");
    assert!(env.cores >= 1 && env.memory_bytes > 0);
    assert!(
        env.settings.contains_key("shared_buffers"),
        "{:?}",
        env.settings
    );
    assert!(summary.started_at <= summary.finished_at);
    assert!(!summary.interrupted);

    // Load: both tables, then the live-ingest row (ci.toml has [ingest]).
    let tables: Vec<&str> = summary.load.iter().map(|l| l.table.as_str()).collect();
    assert!(tables.contains(&"esp_telemetry"), "{tables:?}");
    assert!(tables.contains(&"diagnostic_results"), "{tables:?}");
    assert!(tables.contains(&LIVE_INGEST_TABLE), "{tables:?}");
    for l in &summary.load {
        assert!(l.rows > 0 && l.seconds > 0.0, "{l:?}");
    }

    // One entry per query, then the mix entries.
    let names: Vec<&str> = summary.queries.iter().map(|q| q.name.as_str()).collect();
    for (i, q) in plan.queries.iter().enumerate() {
        assert_eq!(names[i], q.name);
        assert!(matches!(q.kind, QueryKind::Builtin(_)));
    }
    let mixed: Vec<&str> = names[plan.queries.len()..].to_vec();
    assert!(
        !mixed.is_empty() && mixed.iter().all(|n| n.starts_with("mix:")),
        "{names:?}"
    );
    for q in &summary.queries {
        let l = &q.latency_ms;
        assert!(q.count > 0, "{}: no executions", q.name);
        assert_eq!(q.errors, 0, "{}: {:?}", q.name, q.errors_by_sqlstate);
        assert!(q.throughput_qps > 0.0 && q.duration_s > 0.0, "{}", q.name);
        assert!(
            0.0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p95,
            "{}: {l:?}",
            q.name
        );
        assert!(
            l.p95 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
            "{}: {l:?}",
            q.name
        );
        assert!(l.mean <= l.max, "{}: {l:?}", q.name);
        assert_eq!(q.mode, "closed");
        assert!(q.schedule_lag_ms.is_none());
        assert!(!q.intervals.is_empty(), "{}", q.name);
        assert_eq!(q.intervals.iter().map(|i| i.count).sum::<u64>(), q.count);
        let h = esp_bench::stats::decode_histogram(&q.histogram).unwrap();
        assert_eq!(h.len(), q.count);
        // ci.toml records the host-speed reference in every interval (closed loop throughout).
        assert!(
            q.intervals
                .iter()
                .all(|i| i.ref_p50_ms.is_some_and(|r| r > 0.0)),
            "{}: {:?}",
            q.name,
            q.intervals
        );
    }
    assert_eq!(summary.scenario.resolved["run"]["speed_reference"], true);
    assert!(
        summary
            .queries
            .iter()
            .all(|q| !q.name.contains("speed_reference")),
        "the reference has no report entry"
    );
    // latest_24h returns the last day of one well: 288 samples at 300 s, minus dirty-data gaps.
    let latest = &summary.queries[0];
    assert!(latest.rows_returned > 0);

    // Checks: latency targets for every query, and the check kinds the scenario asks for.
    let kinds: Vec<&str> = summary.checks.iter().map(|c| c.kind.as_str()).collect();
    for kind in [
        "latency",
        "pruning",
        "chunks",
        "compression",
        "policies",
        "retention",
    ] {
        assert!(kinds.contains(&kind), "no {kind} check in {kinds:?}");
    }
    for q in &plan.queries {
        let prefix = format!("latency.{}.", q.name);
        assert!(
            summary.checks.iter().any(|c| c.name.starts_with(&prefix)),
            "{prefix}"
        );
    }
    let failed = summary.checks.iter().any(|c| c.status == CheckStatus::Fail);
    assert_eq!(summary.verdict == Verdict::Fail, failed || summary.degraded);
    assert!(!summary.storage.is_empty());

    // Report files.
    let dir = tempfile::tempdir().unwrap();
    let files = esp_bench::report::write_reports(dir.path(), &summary).expect("reports written");
    assert!(files.summary_json.is_file() && files.results_csv.is_file());
    assert_eq!(files.hgrm.len(), summary.queries.len());
    for h in &files.hgrm {
        assert!(
            h.is_file() && h.extension().is_some_and(|e| e == "hgrm"),
            "{h:?}"
        );
    }
    let csv = std::fs::read_to_string(&files.results_csv).unwrap();
    assert_eq!(csv.lines().count(), summary.queries.len() + 1);
    // summary.json reads back (floats may differ in the last bit after a JSON round trip).
    let back = esp_bench::compare::read_summary_file(&files.summary_json).unwrap();
    assert_eq!(back.verdict, summary.verdict);
    assert_eq!(back.checks.len(), summary.checks.len());
    for (b, q) in back.queries.iter().zip(&summary.queries) {
        assert_eq!(
            (&b.name, b.count, &b.histogram),
            (&q.name, q.count, &q.histogram)
        );
    }
    // No interval shorter than the rest at the end: completions after the deadline count in
    // the last planned interval.
    for (q, qp) in summary.queries.iter().zip(&plan.queries) {
        if let StopCondition::Duration { duration } = qp.stop {
            let planned = (duration.as_secs_f64() / plan.run.stats_interval.as_secs_f64()).ceil();
            assert!(
                q.intervals.len() as f64 <= planned,
                "{}: {:?}",
                q.name,
                q.intervals
            );
        }
    }
    assert!(esp_bench::report::console::render(&summary).contains("latest_24h"));

    // Evidence capture (issue 13): plans, server time and resource series for every query.
    for q in &summary.queries {
        let ev = q
            .evidence
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no evidence", q.name));
        assert!(ev.plan.is_some(), "{}: no plan summary", q.name);
        for f in &ev.plan_files {
            assert!(dir.path().join(f).is_file(), "{}: {f} not written", q.name);
        }
        let server = ev
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no server time: {:?}", q.name, ev.server_note));
        assert!(server.calls > 0, "{}: {server:?}", q.name);
    }
    let r = summary.resources.as_ref().expect("resource series");
    assert!(!r.samples.is_empty());
    assert!(r.samples.iter().all(|x| x.server_cpu_pct.is_some()));
    // ci.toml has live ingest: its rate is sampled.
    assert!(r
        .samples
        .iter()
        .any(|x| x.ingest_rows_per_s.unwrap_or(0.0) > 0.0));
}

//! The evidence capture of `bench run` (issue 13) against real embedded servers: saved plans
//! (`plans/<query>.json` and `.txt`), pg_stat_statements deltas per phase, resource samples
//! per stats interval, explanations of failed checks, cold caches, and `what_if = ["cagg"]`
//! (community edition; on the Apache edition the explanation says it needs community).
//!
//! The community test needs `ESP_BENCH_COMMUNITY_PG_BIN` (see tests/common) and prints one
//! `SKIPPED: needs community edition` line without it.

use std::collections::BTreeMap;

use chrono::Utc;
use esp_bench::db::Target;
use esp_bench::report::model::{QueryStats, Summary};
use esp_bench::run::{run_scenario, RunOptions};
use esp_bench::scenario::plan::Plan;
use tokio_util::sync::CancellationToken;

mod common;

fn plan(src: &str) -> Plan {
    esp_bench::scenario::parse(src, "capture.toml", Utc::now())
        .unwrap_or_else(|e| panic!("test scenario is valid: {e}"))
}

fn opts() -> RunOptions {
    RunOptions::quiet(CancellationToken::new())
}

fn query<'a>(s: &'a Summary, name: &str) -> &'a QueryStats {
    s.queries
        .iter()
        .find(|q| q.name == name)
        .unwrap_or_else(|| panic!("no query {name} in {:?}", names(s)))
}

fn names(s: &Summary) -> Vec<&str> {
    s.queries.iter().map(|q| q.name.as_str()).collect()
}

/// A small fleet, two built-ins: `agg_7d_fleet` with a target no server meets (so it fails
/// and is explained), `latest_24h` with one every server meets. `extra` goes into `[run]`.
fn scenario(extra_run: &str) -> Plan {
    plan(&format!(
        r#"
[fleet]
wells = 4
sample_interval = "600s"
span = "9d"
end = "2026-01-01T00:00:00Z"

[run]
warmup = "200ms"
duration = "1500ms"
stats_interval = "250ms"
{extra_run}

[[queries]]
name = "latest_24h"
targets = {{ p95_ms = 10000 }}

[[queries]]
name = "agg_7d_fleet"
targets = {{ p95_ms = 0.001 }}

[checks]
chunk_counts = false
policies = false
retention = false
"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_plans_server_time_resources_and_explanations() {
    let p = scenario("");
    let target = common::target().await;
    let summary = run_scenario(&p, &target, opts()).await;
    target.close().await.expect("embedded server stops");
    let s = summary.expect("scenario runs");

    // Plans: one line in the summary, files in the report.
    let dir = tempfile::tempdir().expect("temp dir");
    esp_bench::report::write_reports(dir.path(), &s).expect("reports written");
    for name in ["latest_24h", "agg_7d_fleet"] {
        let q = query(&s, name);
        let ev = q.evidence.as_ref().expect("evidence captured");
        let plan = ev.plan.as_ref().expect("plan summary");
        assert!(plan.chunks_executed > 0, "{plan:?}");
        assert!(
            plan.shared_hit_blocks + plan.shared_read_blocks > 0,
            "{plan:?}"
        );
        assert!(!plan.top_node.is_empty() && plan.line.contains("chunks executed"));
        assert!(
            ev.plan_files.contains(&format!("plans/{name}.json"))
                && ev.plan_files.contains(&format!("plans/{name}.txt")),
            "{:?}",
            ev.plan_files
        );
        for f in &ev.plan_files {
            let text = std::fs::read_to_string(dir.path().join(f))
                .unwrap_or_else(|e| panic!("{f} written: {e}"));
            if f.ends_with(".json") {
                let doc: serde_json::Value = serde_json::from_str(&text).expect("plan is JSON");
                assert!(
                    doc[0]["Plan"]["Shared Hit Blocks"].is_number(),
                    "BUFFERS: {f}"
                );
                assert!(doc[0]["Execution Time"].is_number(), "ANALYZE: {f}");
            } else {
                assert!(text.contains("Execution Time:"), "{f}: {text}");
                assert!(text.contains("esp_telemetry"), "{f}: {text}");
            }
        }
        // Server time from pg_stat_statements (preloaded by the embedded server).
        let server = ev
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("server time of {name}: {:?}", ev.server_note));
        assert!(server.calls > 0, "{server:?}");
        // The deltas start when the warmup ends, timed from before the phase's connections
        // open: about the client's count (the boundary moves with the set-up time).
        assert!(
            server.calls * 2 >= q.count && server.calls <= q.count * 3 / 2 + 20,
            "{server:?} vs {}",
            q.count
        );
        assert!(server.mean_exec_ms > 0.0 && server.stddev_exec_ms >= 0.0);
        assert!(server.client_minus_server_ms.is_some());
        assert!(server.shared_blks_hit + server.shared_blks_read > 0);
    }
    // The console shows the evidence line.
    let console = esp_bench::report::console::render(&s);
    assert!(
        console.contains("agg_7d_fleet: custom plan:")
            || console.contains("agg_7d_fleet: generic plan:"),
        "{console}"
    );

    // Resources per stats interval of each phase, server CPU from /proc on embedded.
    let r = s.resources.as_ref().expect("resource series");
    assert_eq!(r.interval_s, 0.25);
    assert!(r.server_scope.starts_with("embedded"), "{}", r.server_scope);
    for phase in ["latest_24h", "agg_7d_fleet"] {
        let samples: Vec<_> = r.samples.iter().filter(|x| x.phase == phase).collect();
        assert!(samples.len() >= 4, "{phase}: {samples:?}");
        for x in &samples {
            assert!(x.server_cpu_pct.is_some(), "{x:?}");
            assert!(x.bench_cpu_pct >= 0.0 && x.bench_rss_bytes > 0, "{x:?}");
            assert!(x.wal_bytes.is_some() && x.checkpoints.is_some(), "{x:?}");
            assert!(x.ingest_rows_per_s.is_none(), "no live ingest: {x:?}");
        }
        // The server worked during the phase.
        assert!(samples
            .iter()
            .any(|x| x.server_cpu_pct.unwrap_or(0.0) > 0.0));
        // Times count from the end of the warmup (200 ms), one interval apart.
        assert!(samples[0].t_s < 0.25, "{samples:?}");
        assert!(samples.windows(2).all(|w| w[1].t_s > w[0].t_s));
        assert!(samples.last().is_some_and(|x| x.t_s > 1.0), "{samples:?}");
    }

    // One explanation per failed check, backed by server and plan numbers.
    assert_eq!(s.explanations.len(), 1, "{:#?}", s.explanations);
    let e = &s.explanations[0];
    assert_eq!(e.check, "latency.agg_7d_fleet.p95_ms");
    assert!(e.reason.contains("server mean"), "{}", e.reason);
    assert!(e.reason.contains("chunks ("), "{}", e.reason);
    assert_eq!(
        e.next_step.as_deref(),
        Some("a continuous aggregate: set [run] what_if = [\"cagg\"] to measure it")
    );
    assert!(s.what_if.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_off_records_no_evidence() {
    let p = scenario("capture = false");
    let target = common::target().await;
    let summary = run_scenario(&p, &target, opts()).await;
    target.close().await.expect("embedded server stops");
    let s = summary.expect("scenario runs");
    assert!(s.resources.is_none());
    assert!(
        s.queries.iter().all(|q| q.evidence.is_none()),
        "{:?}",
        s.queries
    );
    // Explanations still come from the checks.
    assert_eq!(s.explanations.len(), 1);
    let dir = tempfile::tempdir().expect("temp dir");
    esp_bench::report::write_reports(dir.path(), &s).expect("reports written");
    assert!(!dir.path().join("plans").exists());
}

/// On a server bench did not start, pg_stat_statements is used only when installed: here it is
/// not loaded, so the report says it is missing and how to enable it, and server CPU is not
/// measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_server_without_pg_stat_statements_says_how_to_enable_it() {
    let server = common::server_with(BTreeMap::from([(
        "shared_preload_libraries".to_string(),
        "timescaledb".to_string(),
    )]))
    .await;
    let target = Target::for_url(&server.url(), "esp_bench").expect("target by URL");
    assert!(!target.is_embedded());
    let summary = run_scenario(&scenario(""), &target, opts()).await;
    let created = {
        let c = target.connect().await.expect("connects");
        c.query_opt(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'",
            &[],
        )
        .await
        .expect("reads pg_extension")
        .is_some()
    };
    server.stop().await.expect("server stops");
    let s = summary.expect("scenario runs");
    assert!(
        !created,
        "bench created an extension on a server it did not start"
    );
    let ev = query(&s, "agg_7d_fleet")
        .evidence
        .as_ref()
        .expect("evidence");
    assert!(ev.server.is_none());
    let note = ev.server_note.as_deref().expect("server note");
    assert!(note.contains("not installed"), "{note}");
    assert!(note.contains("shared_preload_libraries"), "{note}");
    // Plans still work without it.
    assert!(ev.plan.is_some());
    let r = s.resources.as_ref().expect("resources");
    assert!(r.server_scope.contains("external"), "{}", r.server_scope);
    assert!(r.samples.iter().all(|x| x.server_cpu_pct.is_none()));
    assert!(r.samples.iter().all(|x| x.wal_bytes.is_some()));
}

/// `cache = "both"`: every phase runs cold (after a restart of the embedded server), reported
/// as `cold:<query>`, then hot under its own name; the run ends cleanly (writer lock taken
/// again, jobs resumed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_and_hot_phases_are_kept_apart() {
    let p = scenario("cache = \"both\"");
    let target = common::target().await;
    let pid_before = target.server.as_ref().map(|s| s.postmaster_pid());
    let summary = run_scenario(&p, &target, opts()).await;
    let pid_after = target.server.as_ref().map(|s| s.postmaster_pid());
    target.close().await.expect("embedded server stops");
    let s = summary.expect("scenario runs");
    assert_ne!(pid_before, pid_after, "the server was restarted");
    assert_eq!(
        names(&s),
        vec![
            "cold:latest_24h",
            "latest_24h",
            "cold:agg_7d_fleet",
            "agg_7d_fleet"
        ]
    );
    // The cold run's server time is its own.
    let cold = query(&s, "cold:agg_7d_fleet");
    let hot = query(&s, "agg_7d_fleet");
    let (cs, hs) = (
        cold.evidence
            .as_ref()
            .and_then(|e| e.server.as_ref())
            .expect("cold server time"),
        hot.evidence
            .as_ref()
            .and_then(|e| e.server.as_ref())
            .expect("hot server time"),
    );
    assert!(cs.calls > 0 && hs.calls > 0);
    // Restarted: the cold run read blocks that the hot run finds in shared_buffers.
    assert!(cs.shared_blks_read > 0, "{cs:?}");
    let phases: std::collections::BTreeSet<&str> = s
        .resources
        .as_ref()
        .expect("resources")
        .samples
        .iter()
        .map(|x| x.phase.as_str())
        .collect();
    assert!(phases.contains("cold:agg_7d_fleet") && phases.contains("agg_7d_fleet"));
    // Targets judge the hot runs.
    assert!(s
        .checks
        .iter()
        .any(|c| c.name == "latency.agg_7d_fleet.p95_ms"));
    assert!(!s.checks.iter().any(|c| c.name.starts_with("latency.cold:")));
    // Whether the OS cache could be dropped here is said either way when it could not.
    let notes = &s.preparation.as_ref().expect("preparation").notes;
    if std::fs::write("/proc/sys/vm/drop_caches", "1").is_err() {
        assert!(
            notes
                .iter()
                .any(|n| n.contains("OS page cache was not dropped")),
            "{notes:?}"
        );
    }
}

/// On an external server a cold phase is refused with a note, and the phases run hot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_on_an_external_server_runs_hot_and_says_so() {
    let server = common::server().await;
    let target = Target::for_url(&server.url(), "esp_bench").expect("target by URL");
    let summary = run_scenario(
        &scenario("cache = \"cold\"\ncapture = false"),
        &target,
        opts(),
    )
    .await;
    server.stop().await.expect("server stops");
    let s = summary.expect("scenario runs");
    assert_eq!(names(&s), vec!["latest_24h", "agg_7d_fleet"]);
    let notes = &s.preparation.as_ref().expect("preparation").notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("bench restarts only its own embedded server")),
        "{notes:?}"
    );
}

/// The Apache edition has no continuous aggregates: `what_if = ["cagg"]` measures nothing,
/// and the failed check's next step says why, never a raw SQL error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_cagg_on_apache_says_it_needs_community() {
    let p = scenario("what_if = [\"cagg\"]\ncapture = false");
    let target = common::target().await;
    let summary = run_scenario(&p, &target, opts()).await;
    target.close().await.expect("embedded server stops");
    let s = summary.expect("scenario runs");
    if s.environment.edition == "community" {
        eprintln!(
            "SKIPPED: the default server is the community edition: the Apache message is not shown"
        );
        return;
    }
    assert!(s.what_if.is_empty());
    let e = s
        .explanations
        .iter()
        .find(|e| e.check == "latency.agg_7d_fleet.p95_ms")
        .expect("explanation");
    let next = e.next_step.as_deref().unwrap_or("");
    assert!(
        next.contains("need the TimescaleDB community edition"),
        "{next}"
    );
    assert!(
        !next.contains("ERROR") && !next.contains("db error"),
        "{next}"
    );
}

/// The community edition: the failing aggregate is measured against a continuous aggregate
/// with the same runner, recorded as a WhatIf, and the aggregate is dropped afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_cagg_measures_the_failing_aggregate_on_community() {
    let Some(bin) =
        common::community_bin("what_if_cagg_measures_the_failing_aggregate_on_community")
    else {
        return;
    };
    let p = scenario("what_if = [\"cagg\"]");
    let target = common::community_target(&bin).await;
    let summary = run_scenario(&p, &target, opts()).await;
    let left = {
        let c = target.connect().await.expect("connects");
        c.query_opt(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'esp_bench' AND c.relname = 'whatif_telemetry_hourly'",
            &[],
        )
        .await
        .expect("reads pg_class")
        .is_some()
    };
    target.close().await.expect("embedded server stops");
    let s = summary.expect("scenario runs");
    assert_eq!(s.environment.edition, "community");
    assert!(!left, "the what-if continuous aggregate was dropped");
    assert_eq!(s.what_if.len(), 1, "{:#?}", s.what_if);
    let w = &s.what_if[0];
    assert_eq!(
        (w.query.as_str(), w.kind.as_str()),
        ("agg_7d_fleet", "cagg")
    );
    assert!(w.sql.contains("timescaledb.continuous"), "{}", w.sql);
    assert!(
        w.alternative_p95_ms > 0.0 && w.baseline_p95_ms > 0.0,
        "{w:?}"
    );
    assert!(w.note.contains("executions"), "{}", w.note);
    let e = s
        .explanations
        .iter()
        .find(|e| e.check == "latency.agg_7d_fleet.p95_ms")
        .expect("explanation");
    assert!(
        e.next_step
            .as_deref()
            .unwrap_or("")
            .contains("a continuous aggregate: measured p95"),
        "{:?}",
        e.next_step
    );
}

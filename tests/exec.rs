//! The query runner against a real (embedded) PostgreSQL+TimescaleDB server: fixed-rate
//! queueing, closed-loop counts, a backend killed mid-phase, and SIGINT/SIGTERM on a `bench run`
//! subprocess. Assertions are about structure and orderings, never absolute time budgets.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use esp_bench::db::Target;
use esp_bench::exec::queries::ParamContext;
use esp_bench::exec::{run_phase, run_phase_dedicated, ExecSettings, Phase};
use esp_bench::report::model::{QueryStats, Verdict};
use esp_bench::run::pipeline::{run_scenario, RunOptions, QUERY_APPLICATION_NAME};
use esp_bench::scenario::plan::{LoadMode, QueryKind, QueryPlan, StopCondition};
use tokio_util::sync::CancellationToken;

mod common;
use common::target;

fn settings(app: &str) -> ExecSettings {
    let end = chrono::Utc::now();
    ExecSettings {
        seed: 1,
        ctx: ParamContext {
            wells: 10,
            data_start: end - chrono::Duration::days(1),
            data_end: end,
        },
        stats_interval: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(30),
        application_name: app.to_string(),
        read_only: true,
        speed_reference: false,
    }
}

fn custom(name: &str, sql: &str, mode: LoadMode, stop: StopCondition) -> QueryPlan {
    QueryPlan {
        name: name.into(),
        kind: QueryKind::Custom {
            sql: sql.into(),
            params: vec![],
            time_bounded: false,
        },
        mode,
        warmup: Duration::from_millis(100),
        stop,
        weight: 1,
        targets: vec![],
        max_chunks_scanned: None,
        min_pruning_speedup: None,
        writes: false,
        plan_cache_mode: Default::default(),
    }
}

async fn phase(target: &Target, q: &QueryPlan, app: &str) -> QueryStats {
    // The pipeline's path: its own thread and connections to the same server.
    let conn = Target::for_url(&target.url, &target.schema).unwrap();
    let out = run_phase_dedicated(
        conn,
        Phase::single(q, 0),
        settings(app),
        CancellationToken::new(),
    )
    .await
    .expect("phase runs");
    assert!(!out.interrupted);
    assert_eq!(out.stats.len(), 1);
    out.stats.into_iter().next().unwrap()
}

fn assert_ordered(s: &QueryStats) {
    let l = &s.latency_ms;
    assert!(l.p50 <= l.p90 && l.p90 <= l.p95 && l.p95 <= l.p99, "{l:?}");
    assert!(l.p99 <= l.p999 && l.p999 <= l.max, "{l:?}");
}

/// At a rate above what one connection can serve, latency timed from the intended start
/// includes the queue: well above the service time, and above the same query in closed loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_above_capacity_shows_queueing() {
    let t = target().await;
    // Service time >= 20 ms, so one connection serves at most 50/s; ask for 100/s.
    let sleep = "SELECT pg_sleep(0.02)";
    let secs = StopCondition::Duration {
        duration: Duration::from_secs(2),
    };
    let fixed = custom(
        "slow_fixed",
        sleep,
        LoadMode::FixedRate {
            rate: 100.0,
            clients: 1,
        },
        secs.clone(),
    );
    let closed = custom("slow_closed", sleep, LoadMode::Closed { clients: 1 }, secs);
    let f = phase(&t, &fixed, "esp-bench-test-fixed").await;
    let c = phase(&t, &closed, "esp-bench-test-closed").await;
    t.close().await.unwrap();

    assert_eq!(f.mode, "fixed_rate");
    assert_eq!(f.rate, Some(100.0));
    assert!(f.count > 0 && f.errors == 0, "{f:?}");
    assert_ordered(&f);
    assert_ordered(&c);
    // Closed loop measures the service time (>= 20 ms).
    assert!(c.latency_ms.p50 >= 20.0, "closed p50 {}", c.latency_ms.p50);
    // Queueing: the fixed-rate median is well above the service time...
    assert!(
        f.latency_ms.p50 > 2.0 * c.latency_ms.p50,
        "fixed p50 {} vs closed p50 {}",
        f.latency_ms.p50,
        c.latency_ms.p50
    );
    // ...the server could not keep up with the schedule...
    assert!(f.throughput_qps < 100.0, "{}", f.throughput_qps);
    // ...and the schedule lag says how late queries started.
    let lag = f
        .schedule_lag_ms
        .as_ref()
        .expect("fixed rate reports schedule lag");
    assert!(lag.p50 > 0.0 && lag.max > 0.0, "{lag:?}");
    assert!(
        lag.max <= f.latency_ms.max,
        "lag {lag:?} latency {:?}",
        f.latency_ms
    );
    assert!(c.schedule_lag_ms.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_runs_exactly_count_queries() {
    let t = target().await;
    let q = custom(
        "one",
        "SELECT 1",
        LoadMode::Closed { clients: 2 },
        StopCondition::Count { count: 500 },
    );
    // In the caller's runtime this time (the inline path).
    let out = run_phase(
        &t,
        &Phase::single(&q, 0),
        &settings("esp-bench-test-count"),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    t.close().await.unwrap();
    let s = &out.stats[0];
    assert_eq!(s.mode, "closed");
    assert_eq!(s.clients, 2);
    assert_eq!(s.count, 500);
    assert_eq!(s.errors, 0);
    assert_eq!(s.rows_returned, 500);
    assert!(s.throughput_qps > 0.0 && s.duration_s > 0.0);
    assert_eq!(s.intervals.iter().map(|i| i.count).sum::<u64>(), 500);
    assert_ordered(s);
    let h = esp_bench::stats::decode_histogram(&s.histogram).unwrap();
    assert_eq!(h.len(), 500);
}

/// `[run] speed_reference`: a closed-loop phase runs the host-speed reference between its
/// executions, on the same connections, and every interval records its median; the
/// reference's executions are not the query's (its count, rows and histogram are the query's
/// alone), and the report has no entry for the reference. A fixed-rate phase (whose schedule
/// the reference would shift) and a phase without the setting record none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_speed_reference_is_recorded_per_interval_and_kept_out_of_the_query() {
    let t = target().await;
    let mut with = settings("esp-bench-test-speed-reference");
    with.speed_reference = true;
    with.stats_interval = Duration::from_millis(250);
    // A query slower than the reference's spacing (10 ms): one reference after each.
    let slow = custom(
        "slow",
        "SELECT pg_sleep(0.012)",
        LoadMode::Closed { clients: 1 },
        StopCondition::Count { count: 60 },
    );
    let out = run_phase_dedicated(
        Target::for_url(&t.url, &t.schema).unwrap(),
        Phase::single(&slow, 0),
        with.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(out.stats.len(), 1, "no report entry for the reference");
    let s = &out.stats[0];
    assert_eq!(s.count, 60);
    assert_eq!(s.rows_returned, 60);
    assert_eq!(s.intervals.iter().map(|i| i.count).sum::<u64>(), 60);
    assert_eq!(
        esp_bench::stats::decode_histogram(&s.histogram)
            .unwrap()
            .len(),
        60
    );
    // The query sleeps 12 ms; the reference is CPU work well under a millisecond here: an
    // interval's reference median is its own, not the query's.
    assert!(s.intervals.len() >= 2, "{:?}", s.intervals);
    for i in &s.intervals {
        let r = i.ref_p50_ms.expect("every interval records the reference");
        assert!(
            r > 0.0 && r < i.p50_ms,
            "reference {r} ms, query p50 {} ms",
            i.p50_ms
        );
    }

    // The mix: every query's intervals carry the phase's reference.
    let a = custom(
        "a",
        "SELECT 1",
        LoadMode::Closed { clients: 2 },
        StopCondition::Duration {
            duration: Duration::from_millis(600),
        },
    );
    let mut b = a.clone();
    b.name = "b".into();
    let mut mix = Phase::single(&a, 0);
    mix.label = "mix:".into();
    mix.queries = vec![a.clone(), b];
    let out = run_phase(&t, &mix, &with, &CancellationToken::new())
        .await
        .unwrap();
    let names: Vec<&str> = out.stats.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["mix:a", "mix:b"]);
    for s in &out.stats {
        assert!(!s.intervals.is_empty());
        assert!(
            s.intervals.iter().all(|i| i.ref_p50_ms.is_some()),
            "{:?}",
            s.intervals
        );
    }

    // Fixed rate, or no setting: nothing recorded.
    let fixed = custom(
        "fixed",
        "SELECT 1",
        LoadMode::FixedRate {
            rate: 200.0,
            clients: 1,
        },
        StopCondition::Duration {
            duration: Duration::from_millis(600),
        },
    );
    let out = run_phase(
        &t,
        &Phase::single(&fixed, 0),
        &with,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(out.stats[0]
        .intervals
        .iter()
        .all(|i| i.ref_p50_ms.is_none()));
    let out = run_phase(
        &t,
        &Phase::single(&a, 0),
        &settings("esp-bench-test-no-reference"),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(out.stats[0]
        .intervals
        .iter()
        .all(|i| i.ref_p50_ms.is_none()));
    t.close().await.unwrap();
}

/// The runner's own wire (`db::wire`): a reply of 3,000 wide rows, read across many socket
/// reads, is counted exactly; an execution the server rejects is counted under its SQLSTATE and
/// the same connection goes on (a broken one would count "connection" errors). `dedicated`
/// runs the phase on its own thread, where one client executes with blocking system calls.
async fn wire_counts_every_row_and_survives_server_errors(dedicated: bool) {
    let t = target().await;
    let mut q = custom(
        "wide",
        "SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 3000) g \
         WHERE CASE WHEN right($1, 1) IN ('0', '1') THEN 1 / (g - g) ELSE 1 END = 1",
        LoadMode::Closed { clients: 1 },
        StopCondition::Count { count: 200 },
    );
    if let QueryKind::Custom { params, .. } = &mut q.kind {
        *params = vec![esp_bench::scenario::plan::ParamGen::RandomWell];
    }
    let settings = settings("esp-bench-test-wire");
    // The measured stage draws its wells from stream 0, indexes 0..200 (see exec::queries).
    let failing = (0..200u64)
        .filter(|&i| {
            let v = esp_bench::exec::queries::values_for(
                &q,
                &settings.ctx,
                &mut esp_bench::exec::queries::rng_for(settings.seed, 0, i),
            );
            matches!(&v[0], esp_bench::exec::queries::ParamValue::Text(w)
                if w.ends_with('0') || w.ends_with('1'))
        })
        .count() as u64;
    assert!(failing > 0 && failing < 200, "{failing}");
    let s = if dedicated {
        phase(&t, &q, "esp-bench-test-wire").await
    } else {
        let out = run_phase(
            &t,
            &Phase::single(&q, 0),
            &settings,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        out.stats.into_iter().next().unwrap()
    };
    t.close().await.unwrap();
    assert_eq!(s.errors, failing, "{:?}", s.errors_by_sqlstate);
    assert_eq!(
        s.errors_by_sqlstate.get("22012").copied(),
        Some(failing),
        "division by zero, and nothing else: {:?}",
        s.errors_by_sqlstate
    );
    assert_eq!(s.count, 200 - failing);
    assert_eq!(s.rows_returned, (200 - failing) * 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_counts_every_row_and_survives_server_errors() {
    wire_counts_every_row_and_survives_server_errors(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blocking_wire_counts_every_row_and_survives_server_errors() {
    wire_counts_every_row_and_survives_server_errors(true).await;
}

/// Long replies are read with a low-water mark (`db::wire::coalesce`). A reply shorter than
/// the mark never reaches it, so only the wire's patience ends the wait. Here the same
/// parameters give 1,500 wide rows or, at random, 3: every reply must still be counted whole,
/// and the phase must end (without the patience it would hang on the first short reply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_shorter_than_the_low_water_mark_is_read_whole() {
    let t = target().await;
    let q = custom(
        "shrinking",
        "SELECT g, repeat('x', 200) AS pad FROM generate_series(1, \
         CASE WHEN random() < 0.25 THEN 3 ELSE 1500 END) g",
        LoadMode::Closed { clients: 2 },
        StopCondition::Count { count: 300 },
    );
    let before = esp_bench::db::wire::coalesced();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        run_phase(
            &t,
            &Phase::single(&q, 0),
            &settings("esp-bench-test-lowat"),
            &CancellationToken::new(),
        ),
    )
    .await
    .expect("the phase ends: a short reply does not leave the wire waiting")
    .unwrap();
    t.close().await.unwrap();
    let s = out.stats.into_iter().next().unwrap();
    assert_eq!(s.errors, 0, "{:?}", s.errors_by_sqlstate);
    assert_eq!(s.count, 300);
    // Each reply is 3 or 1,500 rows: anything else is a reply cut short or run together.
    let long = (s.rows_returned - 3 * 300) / 1497;
    assert_eq!(
        s.rows_returned,
        3 * (300 - long) + 1500 * long,
        "{}",
        s.rows_returned
    );
    assert!(long > 150 && long < 300, "{long} long replies of 300");
    let after = esp_bench::db::wire::coalesced();
    assert!(
        after.armed > before.armed,
        "long replies were read with a mark"
    );
    assert!(
        after.late > before.late,
        "short replies outlasted the wire's patience"
    );
    assert_eq!(
        after.unstamped, 0,
        "a reply read late ends when its last byte arrived (its receive timestamp), \
         not when the wire read it"
    );
    assert_ordered(&s);
}

/// A one-client phase on its own thread blocks in the wire's `recv` while the server works.
/// Cancelling the phase then still ends it, and a cancel request stops the server-side
/// statement: the 30 s sleep is gone from pg_stat_activity long before it would have ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_blocked_execution_ends_the_phase_and_the_statement() {
    let t = target().await;
    let mut q = custom(
        "sleeper",
        "SELECT pg_sleep(30)",
        LoadMode::Closed { clients: 1 },
        StopCondition::Count { count: 1 },
    );
    q.warmup = Duration::ZERO;
    let app = "esp-bench-test-blocked";
    let observer = t.connect().await.unwrap();
    let active = || async {
        observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
                &[&app],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let cancel = CancellationToken::new();
    let conn = Target::for_url(&t.url, &t.schema).unwrap();
    let run = tokio::spawn(run_phase_dedicated(
        conn,
        Phase::single(&q, 0),
        settings(app),
        cancel.clone(),
    ));
    // Wait (bounded) until the statement runs on the server, then cancel the phase.
    let mut seen = false;
    for _ in 0..200 {
        if active().await > 0 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the statement never showed as active");
    cancel.cancel();
    let out = run.await.unwrap().expect("the phase ends");
    assert!(out.interrupted);
    let mut gone = false;
    for _ in 0..100 {
        if active().await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(observer);
    t.close().await.unwrap();
    assert!(gone, "the cancelled statement still runs on the server");
}

/// A tiny scenario: little data, one slow custom query, checks that need data switched off.
fn tiny_scenario(dir: &Path, name: &str, duration: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[scenario]
name = "{name}"

[fleet]
wells = 2
sample_interval = "60s"
span = "1d"
end = "2025-01-31T00:00:00Z"

[run]
warmup = "0s"
duration = "{duration}"
stats_interval = "1s"

[checks]
chunk_counts = false
policies = false
retention = false

[[queries]]
name = "slow"
sql = "SELECT pg_sleep(0.01)"
clients = 2
"#
        ),
    )
    .unwrap();
    path
}

/// pg_terminate_backend on the query connections mid-phase: errors are counted, the run
/// finishes, and the summary is marked degraded (verdict fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backend_is_counted_and_marks_the_run_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let plan = esp_bench::scenario::load_config(&tiny_scenario(dir.path(), "kill", "4s")).unwrap();
    let t = target().await;
    let killer_conn = t.connect().await.unwrap();
    let cancel = CancellationToken::new();
    let opts = RunOptions::quiet(cancel.clone());
    let killer = async {
        // Wait until the query connections exist, then terminate them all once.
        for _ in 0..600 {
            let n: i64 = killer_conn
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    &[&QUERY_APPLICATION_NAME],
                )
                .await
                .unwrap()
                .get(0);
            if n >= 2 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let killed = killer_conn
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1",
                        &[&QUERY_APPLICATION_NAME],
                    )
                    .await
                    .unwrap();
                return killed.len();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        0
    };
    let (summary, killed) = tokio::join!(run_scenario(&plan, &t, opts), killer);
    drop(killer_conn);
    t.close().await.unwrap();
    let summary = summary.expect("the run finishes despite the killed backends");
    assert!(killed >= 2, "killed {killed} backends");
    assert!(!summary.interrupted);
    assert!(summary.degraded);
    assert_eq!(summary.verdict, Verdict::Fail);
    let q = &summary.queries[0];
    assert!(q.errors > 0, "{:?}", q.errors_by_sqlstate);
    assert_eq!(q.errors, q.errors_by_sqlstate.values().sum::<u64>());
    // The workers reconnected and went on.
    assert!(q.count > 0);
}

fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, ...
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if ppid == pid {
            out.push(p);
        }
    }
    out
}

/// `bench run` interrupted during the query phase: partial report with interrupted = true,
/// exit 130, and the embedded server is gone.
fn interrupt_during_query_phase(signal: nix::sys::signal::Signal) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = tiny_scenario(dir.path(), "interrupt", "120s");
    let out = dir.path().join("report");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let mut in_queries = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("query phase") {
            in_queries = true;
            break;
        }
    }
    assert!(
        in_queries,
        "never reached the query phase:\n{}",
        seen.join("\n")
    );
    let postgres: Vec<u32> = children_of(pid);
    assert!(
        !postgres.is_empty(),
        "the embedded postmaster is a child of bench"
    );
    std::thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    // Keep draining stderr so the child never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = child.wait().unwrap();
    let rest = drain.join().unwrap();
    assert_eq!(status.code(), Some(130), "stderr:\n{}", rest.join("\n"));
    let text = std::fs::read_to_string(out.join("summary.json")).expect("partial summary.json");
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["verdict"], "interrupted");
    // What was measured before the signal is kept.
    assert!(
        summary["queries"][0]["count"].as_u64().unwrap() > 0,
        "{text}"
    );
    for p in postgres {
        assert!(
            common::wait_until_gone(p, Duration::from_secs(10)),
            "process {p} (embedded postgres) left behind"
        );
    }
    assert!(
        common::run_dirs_of(pid).is_empty(),
        "the embedded server's temporary directory was left behind"
    );
}

#[test]
fn sigint_during_query_phase_writes_partial_report_and_stops_server() {
    interrupt_during_query_phase(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_during_query_phase_writes_partial_report_and_stops_server() {
    interrupt_during_query_phase(nix::sys::signal::Signal::SIGTERM);
}

//! The database as production holds it, and proof that nothing was lost (issue: production
//! state). Two tiers:
//!
//! - **Apache tier** (always runs, on the embedded server `make setup` installs): one writer
//!   per schema, the read-only query phase, verification of loaded and reused data, steady
//!   state (retention only on this edition).
//! - **Community tier** (production's edition): runs when `ESP_BENCH_COMMUNITY_PG_BIN` points at
//!   PostgreSQL binaries with community TimescaleDB; otherwise each test prints one visible
//!   `SKIPPED: needs community edition` line. It covers loads that the policies would race,
//!   a reuse after retention dropped the data, steady-state compression before the queries,
//!   and a killed run's paused jobs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use esp_bench::db::guard::{LockWait, WriteGuard};
use esp_bench::db::Target;
use esp_bench::error::BenchError;
use esp_bench::run::pipeline::{run_scenario, RunOptions};
use tokio_util::sync::CancellationToken;

mod common;

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("DATABASE_URL");
    c
}

fn quiet() -> RunOptions {
    RunOptions::quiet(CancellationToken::new())
}

/// A scenario file with `fleet` and `extra` sections and a short query phase.
fn scenario(dir: &Path, name: &str, fleet: &str, extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[scenario]\nname = \"{name}\"\n\n[fleet]\n{fleet}\n\n[load]\nworkers = 2\n\
             batch_size = 5000\n\n[run]\nwarmup = \"0s\"\nduration = \"1s\"\n\
             stats_interval = \"500ms\"\n{extra}"
        ),
    )
    .unwrap();
    path
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A fixed end `days` before now, at a whole hour (reproducible bytes within one test).
fn end_days_ago(days: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::days(days);
    rfc3339(t - chrono::Duration::seconds(t.timestamp() % 3600))
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
}

/// Two wells, one day: enough rows for a query phase, loaded in a moment.
const SMALL_FLEET: &str =
    "wells = 2\nsample_interval = \"300s\"\nspan = \"1d\"\nend = \"2025-01-31T00:00:00Z\"";

/// The query ran and none of its executions failed.
fn assert_no_errors(q: &esp_bench::model::report::QueryStats) {
    assert_eq!(q.errors, 0, "{:?}", q.errors_by_sqlstate);
}

const NO_CHECKS: &str = "\n[checks]\nchunk_counts = false\npolicies = false\nretention = false\n";

// ---------------------------------------------------------------------------------------
// Apache tier
// ---------------------------------------------------------------------------------------

/// A second writer on the same schema is refused with a message naming the holder (exit 2),
/// `--wait` queues behind it, and another schema is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_per_schema() {
    let target = common::target().await;
    let first = WriteGuard::acquire(&target, "bench load", LockWait::NoWait)
        .await
        .expect("first writer");
    let err = WriteGuard::acquire(&target, "bench run", LockWait::NoWait)
        .await
        .expect_err("second writer on the same schema is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("in use by another bench command") && msg.contains("bench load"),
        "{msg}"
    );
    assert!(matches!(
        err.downcast_ref::<BenchError>(),
        Some(BenchError::Config(_))
    ));
    assert_eq!(
        esp_bench::error::exit_code_for(&err),
        std::process::ExitCode::from(2)
    );
    // Another schema is another lock.
    let other = Target::for_url(&target.url, "esp_bench_other").unwrap();
    let g = WriteGuard::acquire(&other, "bench load", LockWait::NoWait)
        .await
        .expect("another schema is free");
    g.release().await.unwrap();

    // --wait: blocks until the first writer releases.
    let waiter_target = Target::for_url(&target.url, &target.schema).unwrap();
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let g = WriteGuard::acquire(&waiter_target, "bench run", LockWait::Wait)
            .await
            .expect("waiting writer gets the lock");
        let waited = started.elapsed();
        g.release().await.unwrap();
        waited
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiter.is_finished(), "the waiter must wait for the holder");
    first.release().await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("the waiter finishes once the lock is free")
        .unwrap();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    target.close().await.unwrap();
}

/// Two `bench load` processes on one schema: one loads, the other stops with a clear message
/// (exit 2), never a raw SQL error, and the data is complete once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_loads_give_a_clear_message() {
    let server = common::server().await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "two",
        &format!(
            "wells = 20\nsample_interval = \"60s\"\nspan = \"3d\"\nend = \"{}\"",
            end_days_ago(1)
        ),
        NO_CHECKS,
    );
    let spawn = || {
        bench()
            .args(["load", path.to_str().unwrap(), "--progress", "quiet"])
            .args(["--database-url", &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn();
    let b = spawn();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    let texts = [
        String::from_utf8_lossy(&a.stderr).to_string(),
        String::from_utf8_lossy(&b.stderr).to_string(),
    ];
    // Either both succeed one after the other (the second found everything in the ledger
    // after the first finished), or one was refused by name while the other loaded.
    for (code, text) in codes.iter().zip(&texts) {
        match code {
            Some(0) => {}
            Some(2) => assert!(
                text.contains("in use by another bench command")
                    && text.contains("esp-bench writer: bench load"),
                "{text}"
            ),
            other => panic!("unexpected exit {other:?}: {text}"),
        }
        assert!(!text.contains("pg_namespace"), "raw SQL error: {text}");
        assert!(!text.contains("duplicate key"), "raw SQL error: {text}");
    }
    assert!(codes.contains(&Some(0)), "{texts:?}");
    // The loaded data is exactly the generator's.
    let target = Target::for_url(&url, "esp_bench").unwrap();
    let client = target.connect().await.unwrap();
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let fleet = esp_bench::datagen::Fleet::new(&plan.fleet);
    let checks = esp_bench::load::verify::check_tables(&client, "esp_bench", &fleet)
        .await
        .unwrap();
    for c in &checks {
        assert!(c.exact(), "{c}");
    }
    drop(client);
    server.stop().await.unwrap();
}

/// Scenario SQL cannot write: a DELETE on a table outside bench's schema is refused before
/// anything is loaded, naming the query, and the table keeps its rows. A query that switches
/// the read-only protection off is refused when the scenario is read; `writes = true` is
/// refused on a server bench did not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_sql_cannot_write_outside_bench() {
    let target = common::target().await;
    let client = target.connect().await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE public.precious (id int PRIMARY KEY, v text); \
             INSERT INTO public.precious SELECT g, 'keep' FROM generate_series(1, 100) g",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fleet = SMALL_FLEET;
    for (name, sql) in [
        (
            "delete_precious",
            "DELETE FROM public.precious WHERE id > 0",
        ),
        (
            "cte_delete",
            "WITH d AS (DELETE FROM public.precious RETURNING 1) SELECT count(*) FROM d",
        ),
        (
            "update_precious",
            "UPDATE public.precious SET v = 'gone' WHERE id > 0",
        ),
    ] {
        let path = scenario(
            dir.path(),
            name,
            fleet,
            &format!("{NO_CHECKS}\n[[queries]]\nname = \"{name}\"\nsql = \"{sql}\"\n"),
        );
        let plan = esp_bench::scenario::load_config(&path).unwrap();
        let err = run_scenario(&plan, &target, quiet())
            .await
            .expect_err("a writing query is refused");
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!("query `{name}` writes")) && msg.contains("read-only"),
            "{msg}"
        );
        assert_eq!(
            esp_bench::error::exit_code_for(&err),
            std::process::ExitCode::from(2)
        );
        // Refused before loading: the ledger is empty.
        assert_eq!(
            count(&client, "SELECT count(*) FROM esp_bench.esp_telemetry").await,
            0
        );
    }
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM public.precious WHERE v = 'keep'"
        )
        .await,
        100
    );

    // Switching the protection off is refused when the scenario is read (file, line, field).
    let path = scenario(
        dir.path(),
        "escape",
        fleet,
        "\n[[queries]]\nname = \"escape\"\nsql = \"SELECT set_config('default_transaction_read_only', 'off', false)\"\n",
    );
    let err = esp_bench::scenario::load_config(&path).expect_err("escape refused");
    let msg = err.to_string();
    assert!(
        msg.contains("escape.toml:")
            && msg.contains("queries[0].sql")
            && msg.contains("set_config"),
        "{msg}"
    );

    // writes = true runs only on bench's own embedded server: refused on an external URL.
    let path = scenario(
        dir.path(),
        "writer",
        fleet,
        &format!(
            "{NO_CHECKS}\n[[queries]]\nname = \"writer\"\nsql = \"DELETE FROM public.precious WHERE id < 0\"\nwrites = true\n"
        ),
    );
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let external = Target::for_url(&target.url, "esp_bench").unwrap();
    let err = run_scenario(&plan, &external, quiet())
        .await
        .expect_err("writes = true refused on an external server");
    assert!(
        format!("{err:#}").contains("writing queries run only on bench's embedded"),
        "{err:#}"
    );
    // On the embedded server it runs, and the report marks the run as writing.
    let summary = run_scenario(&plan, &target, quiet()).await.unwrap();
    assert!(summary.writes);
    assert_no_errors(&summary.queries[0]);
    drop(client);
    target.close().await.unwrap();
}

/// A parameter whose values cannot be sent as the type the SQL gives its `$n` (a TOML integer,
/// sent as int8, for `LIMIT $2::int`, an int4) would fail every execution before reaching the
/// server: it is refused before anything is loaded, naming the file, line and field (exit 2).
/// The same query with a type that fits runs without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_of_the_wrong_type_is_refused_with_file_line_and_field() {
    let target = common::target().await;
    let client = target.connect().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fleet = SMALL_FLEET;
    let query = |limit: &str| {
        format!(
            "{NO_CHECKS}\n[[queries]]\nname = \"latest_rows\"\n\
             sql = \"SELECT * FROM esp_telemetry WHERE well_id = $1 LIMIT {limit}\"\n\
             params = [\n  {{ kind = \"random_well\" }},\n  {{ kind = \"fixed\", value = 25 }},\n]\n"
        )
    };
    let path = scenario(dir.path(), "wrong_type", fleet, &query("$2::int"));
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let err = run_scenario(&plan, &target, quiet())
        .await
        .expect_err("an int8 value for an int4 parameter is refused");
    let msg = format!("{err:#}");
    let line = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .position(|l| l.contains("value = 25"))
        .unwrap()
        + 1;
    assert!(
        msg.contains(&format!("wrong_type.toml:{line}:"))
            && msg.contains("field `queries[0].params[1]`")
            && msg.contains("query `latest_rows`: parameter $2 is sent as int8")
            && msg.contains("makes $2 int4"),
        "{msg}"
    );
    assert_eq!(
        esp_bench::error::exit_code_for(&err),
        std::process::ExitCode::from(2)
    );
    // Refused before loading: nothing was written.
    assert_eq!(
        count(&client, "SELECT count(*) FROM esp_bench.esp_telemetry").await,
        0
    );

    let path = scenario(dir.path(), "right_type", fleet, &query("$2::int8"));
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let summary = run_scenario(&plan, &target, quiet()).await.unwrap();
    assert!(summary.queries[0].count > 0);
    assert_no_errors(&summary.queries[0]);
    drop(client);
    target.close().await.unwrap();
}

/// A reuse whose rows vanished behind bench's back (here: chunks dropped as a retention
/// policy would) is refused with numbers and exit 1, and never measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_of_vanished_data_is_refused_with_numbers() {
    let target = common::target().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "reuse",
        &format!(
            "wells = 6\nsample_interval = \"120s\"\nspan = \"4d\"\nend = \"{}\"",
            end_days_ago(2)
        ),
        &format!("reuse_data = true\nstate = \"fresh\"\n{NO_CHECKS}\n[[queries]]\nname = \"latest_24h\"\n"),
    );
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let first = run_scenario(&plan, &target, quiet()).await.unwrap();
    let v = &first.verification;
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].stage, "after load");
    assert!(v[0].verified, "{v:?}");
    let tel = &v[0].tables[0];
    assert_eq!(tel.stored_rows, tel.expected_rows);
    assert_eq!(tel.stored_rows, tel.ledger_rows);

    // The second run reuses and verifies.
    let second = run_scenario(&plan, &target, quiet()).await.unwrap();
    assert!(second.load.is_empty(), "reused, not loaded");
    assert_eq!(second.verification[0].stage, "before reuse");
    assert!(second.verification[0].verified);

    // Rows of three wells vanish (as if a policy or a person removed them).
    let client = target.connect().await.unwrap();
    client
        .batch_execute(
            "DELETE FROM esp_bench.esp_telemetry WHERE well_id IN ('WELL-001', 'WELL-002', 'WELL-003')",
        )
        .await
        .unwrap();
    let err = run_scenario(&plan, &target, quiet())
        .await
        .expect_err("reuse of incomplete data is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("esp_telemetry:") && msg.contains("wells WELL-001..003 missing"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "ledger {}",
            esp_bench::load::verify::fmt_count(tel.ledger_rows)
        )),
        "{msg}"
    );
    assert_eq!(
        esp_bench::error::exit_code_for(&err),
        std::process::ExitCode::from(1)
    );
    drop(client);
    target.close().await.unwrap();
}

/// `state = "steady"` on the Apache edition: retention is applied from the data end before
/// the queries, the preparation is reported, and it says history stays uncompressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_on_apache_applies_retention_and_says_what_differs() {
    let target = common::target().await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "steady",
        "wells = 3\nsample_interval = \"600s\"\nspan = \"34d\"\nend = \"2025-01-31T00:00:00Z\"",
        "\n[checks]\npolicies = false\n\n[[queries]]\nname = \"history_30d_daily\"\n",
    );
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let s = run_scenario(&plan, &target, quiet()).await.unwrap();
    target.close().await.unwrap();
    let p = s.preparation.as_ref().expect("preparation recorded");
    assert_eq!(p.state, "steady");
    let tel = p
        .tables
        .iter()
        .find(|t| t.table == "esp_telemetry")
        .unwrap();
    assert!(tel.chunks_dropped >= 3, "{tel:?}");
    assert_eq!(tel.drop_cutoff, "2025-01-01T00:00:00Z");
    if s.environment.edition == "apache" {
        assert!(!tel.compression_applied);
        assert_eq!(tel.chunks_compressed, 0);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("uncompressed, unlike production")),
            "{:?}",
            p.notes
        );
    }
    // The retention check agrees: nothing older than the window is left.
    let ret = s
        .checks
        .iter()
        .find(|c| c.name == "retention.esp_telemetry")
        .unwrap();
    assert_eq!(
        ret.status,
        esp_bench::report::model::CheckStatus::Pass,
        "{ret:?}"
    );
    // The history query ran.
    let h = s
        .queries
        .iter()
        .find(|q| q.name == "history_30d_daily")
        .unwrap();
    assert!(h.count > 0 && h.errors == 0, "{h:?}");
}

/// `bench load` says it checked, and with what figures.
#[test]
fn bench_load_reports_its_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "loadv",
        "wells = 4\nsample_interval = \"300s\"\nspan = \"2d\"\nend = \"2025-01-31T00:00:00Z\"",
        NO_CHECKS,
    );
    let out = bench()
        .args(["load", path.to_str().unwrap(), "--progress", "quiet"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("verified esp_telemetry:") && stdout.contains("all 4 wells match"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verified: every table matches the ledger and the generator"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------
// Community tier
// ---------------------------------------------------------------------------------------

async fn jobs_scheduled(client: &tokio_postgres::Client) -> (i64, i64) {
    let r = client
        .query_one(
            "SELECT count(*) FILTER (WHERE scheduled), count(*) FROM timescaledb_information.jobs \
             WHERE hypertable_schema = 'esp_bench'",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

/// The issue's scenario: 20 wells x 10 days x 60 s ending a month ago. Without bench pausing
/// the jobs, the retention policy dropped loaded batches during the load. Now every row is
/// kept and verified, the jobs are scheduled again afterwards, and once the retention policy
/// has run, a reuse is refused with numbers and never measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_load_keeps_every_row_and_reuse_after_retention_is_refused() {
    let Some(bin) = common::community_bin(
        "community_load_keeps_every_row_and_reuse_after_retention_is_refused",
    ) else {
        return;
    };
    let server = common::community_server_with(&bin, Default::default()).await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "month_old",
        &format!(
            "wells = 20\nsample_interval = \"60s\"\nspan = \"10d\"\nend = \"{}\"",
            end_days_ago(30)
        ),
        &format!("reuse_data = true\n{NO_CHECKS}\n[[queries]]\nname = \"latest_24h\"\n"),
    );
    let out = bench()
        .args(["load", path.to_str().unwrap(), "--progress", "quiet"])
        .args(["--database-url", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("retention policy keeps only what is newer than now()"),
        "the load must warn that the policy will drop the data: {stderr}"
    );
    assert!(stdout.contains("all 20 wells match"), "{stdout}");
    println!("{stdout}");

    let target = Target::for_url(&url, "esp_bench").unwrap();
    let client = target.connect().await.unwrap();
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let fleet = esp_bench::datagen::Fleet::new(&plan.fleet);
    // Every row was there when the load verified it (asserted above): checking again here
    // would race the retention job, which is scheduled again and may already have run.
    // The jobs are scheduled again, and bench's record of paused jobs is empty.
    assert_eq!(jobs_scheduled(&client).await, (4, 4));
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM esp_bench.esp_bench_paused_jobs"
        )
        .await,
        0
    );

    // The retention policy runs (as its schedule would make it): it drops the month-old data.
    let job: i32 = client
        .query_one(
            "SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_schema = 'esp_bench' \
             AND hypertable_name = 'esp_telemetry' AND proc_name = 'policy_retention'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // On PG 15.20 the job may report "cannot drop portal" after its work: count rows instead.
    let _ = client.execute("CALL run_job($1)", &[&job]).await;
    let left = count(&client, "SELECT count(*) FROM esp_bench.esp_telemetry").await;
    let total: u64 =
        esp_bench::load::verify::generator_digest(&fleet, esp_bench::load::Table::Telemetry).rows;
    assert!(
        (left as u64) < total,
        "retention dropped nothing ({left} of {total})"
    );

    let out = bench()
        .args(["run", path.to_str().unwrap()])
        .args(["--database-url", &url])
        .args(["--out", dir.path().join("report").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    println!("{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the data in the schema is not what bench loaded (before reuse)")
            && stderr.contains(&format!(
                "ledger {}",
                esp_bench::load::verify::fmt_count(total)
            )),
        "{stderr}"
    );
    assert!(
        stderr.contains("missing") || stderr.contains("short"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("report/summary.json").exists(),
        "nothing was measured"
    );
    drop(client);
    server.stop().await.unwrap();
}

/// `bench run` on the community edition compresses the chunks older than the compression
/// window before any query runs, reports it, and the history query's plan reads compressed
/// chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_steady_state_compresses_before_the_queries() {
    let Some(bin) = common::community_bin("community_steady_state_compresses_before_the_queries")
    else {
        return;
    };
    let target = common::community_target(&bin).await;
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "steady_c",
        "wells = 5\nsample_interval = \"300s\"\nspan = \"33d\"\nend = \"now\"",
        "\n[checks]\ntelemetry_min_reduction_pct = 50\n\n[[queries]]\nname = \"history_30d_daily\"\nmax_chunks_scanned = 32\n",
    );
    let plan = esp_bench::scenario::load_config(&path).unwrap();
    let s = run_scenario(&plan, &target, quiet()).await.unwrap();
    let p = s.preparation.clone().expect("preparation");
    let tel = p
        .tables
        .iter()
        .find(|t| t.table == "esp_telemetry")
        .unwrap();
    println!("{tel:?}");
    assert!(tel.compression_applied);
    assert!(tel.chunks_dropped >= 2, "{tel:?}");
    assert!(tel.chunks_compressed >= 20, "{tel:?}");
    assert_eq!(tel.chunks_compressed, tel.chunks_compressed_total);

    // The history query, as measured, reads compressed chunks.
    let client = target.connect().await.unwrap();
    let q = plan.query("history_30d_daily").unwrap();
    let sql = esp_bench::run::checks::literal_sql(&plan, q, 0);
    let explain: serde_json::Value = client
        .query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), &[])
        .await
        .unwrap()
        .get(0);
    let text = explain.to_string();
    assert!(
        text.contains("DecompressChunk") || text.contains("ColumnarScan"),
        "the history plan reads no compressed chunk: {text}"
    );
    let h = s
        .queries
        .iter()
        .find(|q| q.name == "history_30d_daily")
        .unwrap();
    assert!(h.count > 0 && h.errors == 0);
    // The compression check uses the preparation's chunks.
    let c = s
        .checks
        .iter()
        .find(|c| c.name == "compression.esp_telemetry.reduction_pct")
        .unwrap();
    println!("{c:?}");
    assert!(c.measured.is_some(), "{c:?}");
    // The jobs are back on.
    assert_eq!(jobs_scheduled(&client).await, (4, 4));
    drop(client);
    target.close().await.unwrap();
}

/// kill -9 of `bench run` on a kept server leaves its jobs paused; the next bench command on
/// that schema switches them back on and says so, and `bench info` lists paused jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_killed_run_leaves_nothing_switched_off() {
    let Some(bin) = common::community_bin("community_killed_run_leaves_nothing_switched_off")
    else {
        return;
    };
    let server = common::community_server_with(&bin, Default::default()).await;
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "killed",
        "wells = 4\nsample_interval = \"300s\"\nspan = \"3d\"\nend = \"now\"",
        &format!("{NO_CHECKS}\n[[queries]]\nname = \"slow\"\nsql = \"SELECT pg_sleep(0.05)\"\nduration = \"60s\"\n"),
    );
    let mut child = bench()
        .args(["run", path.to_str().unwrap()])
        .args(["--database-url", &url])
        .args(["--out", dir.path().join("r").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let target = Target::for_url(&url, "esp_bench").unwrap();
    let client = target.connect().await.unwrap();
    // Wait until the run is in its query phase with the jobs paused.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let querying = count(
            &client,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'esp-bench-query'",
        )
        .await;
        if querying > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never reached its query phase"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        jobs_scheduled(&client).await,
        (0, 4),
        "jobs paused during the run"
    );
    let info = bench()
        .args(["info", "--database-url", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("paused by `bench run`"), "{text}");
    assert!(text.contains("running"), "{text}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    // The server notices the dead connections; the jobs stay paused until a bench command.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &client,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'esp-bench writer%'",
    )
    .await
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the killed writer's session stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(jobs_scheduled(&client).await, (0, 4));

    // The next bench command (here: bench info) restores them and says so.
    let info = bench()
        .args(["info", "--database-url", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&info.stdout).to_string();
    let stderr = String::from_utf8_lossy(&info.stderr).to_string();
    println!("{stdout}{stderr}");
    assert!(info.status.success(), "{stderr}");
    assert!(
        stderr.contains("restored policy job") && stderr.contains("bench run"),
        "{stderr}"
    );
    assert!(stdout.contains("scheduled"), "{stdout}");
    assert_eq!(jobs_scheduled(&client).await, (4, 4));
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM esp_bench.esp_bench_paused_jobs"
        )
        .await,
        0
    );
    drop(client);
    server.stop().await.unwrap();
}

//! The evidence a report gives for its figures, against real embedded servers: which plan each
//! query phase ran (`plan_cache_mode`, the plan cache's custom/generic counters), the chunks
//! each plan executes (EXPLAIN ANALYZE: planned but never executed chunks do not count), and,
//! on the community edition, compressed chunks read through the decompression node and the
//! per-chunk compression facts behind the compression check.
//!
//! The Apache tests run everywhere; the community tests need `ESP_BENCH_COMMUNITY_PG_BIN`
//! (see tests/common) and print one `SKIPPED: needs community edition` line without it.

use std::collections::BTreeMap;

use chrono::Utc;
use esp_bench::db::detect::detect;
use esp_bench::report::model::{CheckResult, CheckStatus, PlanChunks, QueryStats, Summary};
use esp_bench::run::checks::run_checks_phase;
use esp_bench::run::pipeline::{run_scenario, RunOptions};
use esp_bench::scenario::plan::Plan;
use tokio_util::sync::CancellationToken;

mod common;

fn plan(src: &str) -> Plan {
    esp_bench::scenario::parse(src, "evidence.toml", Utc::now())
        .unwrap_or_else(|e| panic!("test scenario is valid: {e}"))
}

fn opts() -> RunOptions {
    RunOptions::quiet(CancellationToken::new())
}

fn query<'a>(s: &'a Summary, name: &str) -> &'a QueryStats {
    s.queries
        .iter()
        .find(|q| q.name == name)
        .unwrap_or_else(|| panic!("no query {name} in the summary"))
}

fn check<'a>(checks: &'a [CheckResult], name: &str) -> &'a CheckResult {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
}

/// (custom, generic) plans the measured stage of a query phase ran.
fn ran(q: &QueryStats) -> (u64, u64) {
    let p = q.plan.as_ref().expect("plan evidence");
    (
        p.custom_plans.expect("PostgreSQL 14+ reports custom_plans"),
        p.generic_plans
            .expect("PostgreSQL 14+ reports generic_plans"),
    )
}

const ONE: &str = r#"sql = "SELECT $1::int8 + 1"
params = [{ kind = "fixed", value = 1 }]"#;

/// `plan_cache_mode` reaches the query connections of each phase (its own, the mix's), and
/// the report counts the plans the measured stage ran: PostgreSQL plans the first 5
/// executions of a connection with custom plans, then uses the generic plan (here it is never
/// dearer); a warmup runs those first 5, so they are not in the measured stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_cache_mode_is_set_and_the_plans_run_are_counted() {
    let p = plan(&format!(
        r#"
[fleet]
wells = 2
sample_interval = "600s"
span = "1d"
end = "2026-01-01T00:00:00Z"

[run]
warmup = "0s"

[[queries]]
name = "auto"
{ONE}
count = 20
weight = 1

[[queries]]
name = "custom"
{ONE}
count = 20
plan_cache_mode = "force_custom_plan"
weight = 1

[[queries]]
name = "generic"
{ONE}
count = 20
plan_cache_mode = "force_generic_plan"

[[queries]]
name = "warmed"
{ONE}
warmup = "300ms"
duration = "1s"

[[queries]]
name = "setting_is_generic"
sql = "SELECT 1 WHERE current_setting('plan_cache_mode') = 'force_generic_plan'"
count = 5
plan_cache_mode = "force_generic_plan"

[[queries]]
name = "setting_is_auto"
sql = "SELECT 1 WHERE current_setting('plan_cache_mode') = 'auto'"
count = 5

[mix]
clients = 1
count = 40
plan_cache_mode = "force_custom_plan"

[checks]
chunk_counts = false
policies = false
retention = false
"#
    ));
    let target = common::target().await;
    let summary = run_scenario(&p, &target, opts()).await;
    target.close().await.expect("embedded server stops");
    let s = summary.expect("scenario runs");

    assert_eq!(ran(query(&s, "auto")), (5, 15));
    assert_eq!(ran(query(&s, "custom")), (20, 0));
    assert_eq!(ran(query(&s, "generic")), (0, 20));
    let warmed = query(&s, "warmed");
    let (c, g) = ran(warmed);
    assert_eq!(c, 0, "the warmup ran the custom plans: {warmed:?}");
    assert_eq!(g, warmed.count, "{warmed:?}");
    // The setting itself, seen from the query connections.
    assert_eq!(query(&s, "setting_is_generic").rows_returned, 5);
    assert_eq!(query(&s, "setting_is_auto").rows_returned, 5);
    for name in ["auto", "custom", "generic"] {
        let ev = query(&s, name).plan.as_ref().unwrap();
        let expected = match name {
            "auto" => "auto",
            "custom" => "force_custom_plan",
            _ => "force_generic_plan",
        };
        assert_eq!(ev.plan_cache_mode, expected);
        // The plans of a query on no hypertable: measured, touching nothing.
        let g = ev.generic.as_ref().expect("generic plan measured");
        assert_eq!((g.chunks_total, g.chunks_executed), (0, 0), "{g:?}");
        assert!(ev.custom.is_some() && ev.note.is_none(), "{ev:?}");
    }
    // The mix runs under [mix] plan_cache_mode, whatever the queries' own keys say.
    let (m_auto, m_custom) = (query(&s, "mix:auto"), query(&s, "mix:custom"));
    assert_eq!(
        m_auto.plan.as_ref().unwrap().plan_cache_mode,
        "force_custom_plan"
    );
    assert_eq!(ran(m_auto), (m_auto.count, 0));
    assert_eq!(ran(m_custom), (m_custom.count, 0));
    assert_eq!(m_auto.count + m_custom.count, 40);
    // A query without parameters has one plan, the generic one.
    let ev = query(&s, "setting_is_auto").plan.as_ref().unwrap();
    assert!(ev.custom.is_none() && ev.generic.is_some(), "{ev:?}");
    assert_eq!(
        ev.note.as_deref(),
        Some("no parameters: the generic plan is the only plan")
    );
    assert_eq!(ran(query(&s, "setting_is_auto")), (0, 5));
}

/// On real data the report gives both plans of every query with the chunks they planned and
/// executed, and the pruning check counts executed chunks: an ordered append under LIMIT plans
/// every chunk and runs one, and passes `max_chunks_scanned = 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_and_executed_chunks_are_in_the_report() {
    let p = plan(
        r#"
[fleet]
wells = 4
sample_interval = "600s"
span = "6d"
end = "2026-01-01T00:00:00Z"
seed = 5

[run]
warmup = "200ms"
duration = "1s"
stats_interval = "500ms"

[[queries]]
name = "latest_24h"
max_chunks_scanned = 2
weight = 1

[[queries]]
name = "last_value"
max_chunks_scanned = 2
plan_cache_mode = "force_custom_plan"
weight = 1

[[queries]]
name = "newest_rows"
sql = "SELECT * FROM esp_telemetry WHERE well_id = $1 ORDER BY \"timestamp\" DESC LIMIT 5"
params = [{ kind = "random_well" }]
time_bounded = true
max_chunks_scanned = 1

[mix]
clients = 1
duration = "1s"

[checks]
policies = false
retention = false
"#,
    );
    let target = common::target().await;
    let summary = run_scenario(&p, &target, opts()).await;
    target.close().await.expect("embedded server stops");
    let s = summary.expect("scenario runs");
    let chunks = s
        .storage
        .iter()
        .find(|t| t.table == "esp_telemetry")
        .expect("telemetry storage")
        .chunks;
    // 6 days from midnight to midnight: 6 daily chunks.
    assert_eq!(chunks, 6);

    let scans = |name: &str| -> (PlanChunks, PlanChunks) {
        let ev = query(&s, name).plan.clone().expect("plan evidence");
        (
            ev.custom.expect("custom plan"),
            ev.generic.expect("generic plan"),
        )
    };
    for name in ["latest_24h", "last_value", "newest_rows"] {
        let (c, g) = scans(name);
        for p in [&c, &g] {
            assert_eq!(p.chunks_total, chunks, "{name}: {p:?}");
            assert_eq!(p.hypertables, vec!["esp_telemetry".to_string()]);
            assert!(p.chunks_executed <= p.chunks_planned, "{name}: {p:?}");
            assert!(p.chunks_planned <= p.chunks_total, "{name}: {p:?}");
            assert_eq!(
                p.chunks_executed_compressed, 0,
                "Apache: nothing compressed"
            );
            assert!(p.execution_ms.is_some() && p.planning_ms.is_some());
        }
        // Every execution of the measured stage ran one plan or the other.
        let q = query(&s, name);
        let (cp, gp) = ran(q);
        assert_eq!(cp + gp, q.count + q.errors, "{name}: {q:?}");
    }

    // latest_24h: the custom plan keeps 1-2 chunks; the generic plan plans all 6 and removes
    // the others at executor startup.
    let (c, g) = scans("latest_24h");
    assert!((1..=2).contains(&c.chunks_executed), "{c:?}");
    assert_eq!(g.chunks_planned, chunks, "{g:?}");
    assert_eq!(
        g.chunks_executed + g.chunks_excluded_startup,
        chunks,
        "{g:?}"
    );
    let pr = check(&s.checks, "pruning.latest_24h.chunks_scanned");
    assert_eq!(pr.status, CheckStatus::Pass, "{pr:?}");
    assert_eq!(
        pr.measured,
        Some(c.chunks_executed.max(g.chunks_executed) as f64)
    );

    // last_value under force_custom_plan: the phase ran custom plans only, and only the
    // custom plan counts.
    let lv = query(&s, "last_value");
    assert_eq!(ran(lv), (lv.count, 0));
    let (c, g) = scans("last_value");
    let pr = check(&s.checks, "pruning.last_value.chunks_scanned");
    assert_eq!(pr.measured, Some(c.chunks_executed as f64), "{pr:?}");
    let note = pr.note.as_deref().unwrap();
    assert!(
        note.contains(&format!(
            "not counted under force_custom_plan: generic plan: {} of {chunks} chunks executed",
            g.chunks_executed
        )),
        "{note}"
    );

    // The ordered append under LIMIT 5: every chunk planned, the newest one executed, the
    // rest "never executed". Counting planned chunks would fail max_chunks_scanned = 1.
    let (c, g) = scans("newest_rows");
    for p in [&c, &g] {
        assert_eq!(p.chunks_planned, chunks, "{p:?}");
        assert_eq!(p.chunks_executed, 1, "{p:?}");
    }
    let pr = check(&s.checks, "pruning.newest_rows.chunks_scanned");
    assert_eq!(
        (pr.status, pr.measured),
        (CheckStatus::Pass, Some(1.0)),
        "{pr:?}"
    );
    assert!(
        pr.note
            .as_deref()
            .unwrap()
            .contains(&format!("1 of {chunks} chunks executed ({chunks} planned")),
        "{pr:?}"
    );

    // The mix reuses the statements: its entries carry the same plans, counted on the mix's
    // own connections.
    let mix = query(&s, "mix:latest_24h");
    let ev = mix.plan.as_ref().unwrap();
    assert_eq!(ev.plan_cache_mode, "auto");
    assert_eq!(
        ev.custom,
        query(&s, "latest_24h").plan.as_ref().unwrap().custom
    );
    let (cp, gp) = ran(mix);
    assert_eq!(cp + gp, mix.count + mix.errors);
}

/// Sum of the per-row bytes of the nine channels (count x 8) and the rows, in one chunk's
/// time range, read from the hypertable itself.
async fn chunk_truth(
    client: &tokio_postgres::Client,
    start: chrono::DateTime<Utc>,
    end: chrono::DateTime<Utc>,
) -> (u64, u64) {
    let counts: Vec<String> = esp_bench::datagen::CHANNEL_NAMES
        .iter()
        .map(|c| format!("count({c})"))
        .collect();
    let sql = format!(
        "SELECT count(*), ({})::int8 * 8 FROM esp_telemetry \
         WHERE \"timestamp\" >= $1 AND \"timestamp\" < $2",
        counts.join(" + ")
    );
    let row = client
        .query_one(sql.as_str(), &[&start, &end])
        .await
        .unwrap();
    (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64)
}

/// Community edition: the compression check and summary.json carry the per-chunk facts
/// (rows, segments, before/after split into table, index and toast, the channel bytes alone),
/// and the note gives the split; the compressed chunks are read through the decompression
/// node, which the plans count as scans of the chunk; and the generic plan of `last_value`
/// scans every chunk (ConstraintAwareAppend cannot exclude on parameters) while its custom
/// plan scans one, as issue 10 reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn community_compressed_chunks_explain_themselves() {
    let Some(bin) = common::community_bin("community_compressed_chunks_explain_themselves") else {
        return;
    };
    // The production density (100 wells every 60 s, 144,000 rows per daily chunk) over 10
    // days ending at a fixed midnight; policy jobs never run on this throwaway server.
    let p = plan(
        r#"
[fleet]
wells = 100
sample_interval = "60s"
span = "10d"
end = "2026-11-01T00:00:00Z"
seed = 42

[load]
workers = 2
batch_size = 50000

[run]
warmup = "200ms"
duration = "1s"
stats_interval = "500ms"

[[queries]]
name = "last_value"
max_chunks_scanned = 2

[[queries]]
name = "history_9d"
sql = "SELECT time_bucket('1 day', \"timestamp\") AS day, avg(flow_rate) FROM esp_telemetry WHERE well_id = $1 AND \"timestamp\" > $2::timestamptz - interval '9 days' GROUP BY day ORDER BY day"
params = [{ kind = "random_well" }, { kind = "data_end" }]
time_bounded = true

[checks]
telemetry_min_reduction_pct = 80
diagnostics_min_reduction_pct = 85
policies = false
retention = false
"#,
    );
    let server = common::community_server_with(
        &bin,
        BTreeMap::from([(
            "timescaledb.max_background_workers".to_string(),
            "0".to_string(),
        )]),
    )
    .await;
    let target = esp_bench::db::Target::for_server(server, "esp_bench").expect("target");
    let summary = run_scenario(&p, &target, opts()).await;
    let s = match summary {
        Ok(s) => s,
        Err(e) => {
            target.close().await.expect("embedded server stops");
            panic!("scenario runs: {e:#}");
        }
    };
    let client = target.connect().await.expect("connect");
    let info = detect(&client).await.expect("detect");
    assert_eq!(info.edition.to_string(), "community");

    // --- The compression facts, against the table itself.
    let st = s
        .storage
        .iter()
        .find(|t| t.table == "esp_telemetry")
        .expect("telemetry storage");
    let d = st.compression.as_ref().expect("compression details");
    // Chunks ending at or before 2026-10-25 (data end - 7 d): Oct 22, 23, 24.
    assert_eq!(d.chunks, 3, "{d:#?}");
    assert_eq!(st.compressed_chunks, Some(3));
    assert_eq!(st.compressed_before_bytes, Some(d.before.total_bytes));
    assert_eq!(st.compressed_after_bytes, Some(d.after.total_bytes));
    assert_eq!(
        d.value_columns,
        esp_bench::datagen::CHANNEL_NAMES.map(String::from).to_vec()
    );
    let mut rows = 0;
    for c in &d.per_chunk {
        let (truth_rows, truth_values) = chunk_truth(&client, c.range_start, c.range_end).await;
        assert_eq!(c.rows, truth_rows, "{c:?}");
        assert_eq!(c.values_before_bytes, Some(truth_values), "{c:?}");
        // 100 wells x ~1440 rows a day, at most 1000 rows per batch: 2 batches per well.
        assert_eq!(c.segments, Some(200), "{c:?}");
        assert!((c.rows_per_segment.unwrap() - c.rows as f64 / 200.0).abs() < 1e-9);
        for b in [&c.before, &c.after] {
            assert_eq!(b.total_bytes, b.table_bytes + b.index_bytes + b.toast_bytes);
        }
        assert!(c.before.index_bytes > 0 && c.after.toast_bytes > 0, "{c:?}");
        assert!(c.values_after_bytes.unwrap() < c.values_before_bytes.unwrap());
        rows += c.rows;
    }
    assert_eq!(d.rows, rows);
    assert_eq!(d.segments, Some(600));
    let ratio = d.ratio.unwrap();
    let values_ratio = d.values_ratio.unwrap();
    assert!(ratio > 1.0 && values_ratio > 1.0, "{d:#?}");
    let c = check(&s.checks, "compression.esp_telemetry.reduction_pct");
    let note = c.note.as_deref().unwrap();
    assert!(note.contains(&format!(
        "before: table {}, index {}, toast {}",
        d.before.table_bytes, d.before.index_bytes, d.before.toast_bytes
    )));
    assert!(
        note.contains(&format!("{} rows in 600 segments", d.rows)),
        "{note}"
    );
    assert!(note.contains("value columns alone: "), "{note}");

    // Diagnostics (7-day chunks, compressed after 14 d): 10 days hold no chunk old enough, and
    // the check says so instead of reporting a ratio. (The "why" of tiny segments is pinned
    // with a real server's figures in the unit tests of checks::eval.)
    let dd = s
        .storage
        .iter()
        .find(|t| t.table == "diagnostic_results")
        .and_then(|t| t.compression.as_ref())
        .expect("diagnostics compression details");
    assert_eq!((dd.chunks, dd.ratio), (0, None));
    let c = check(&s.checks, "compression.diagnostic_results.reduction_pct");
    assert_eq!((c.status, c.measured), (CheckStatus::Fail, None));
    assert!(c
        .note
        .as_deref()
        .unwrap()
        .starts_with("no chunk ends more than 14 d before the data end"));

    // --- The plans, now that history is compressed (the checks phase again, as steady state
    // would measure them), on analysed tables as autovacuum leaves them in production: without
    // statistics the planner neither skip-scans the newest chunk nor merges per-chunk scans.
    client
        .batch_execute("ANALYZE esp_telemetry; ANALYZE diagnostic_results")
        .await
        .expect("analyze");
    let out = run_checks_phase(&client, &info, &target.schema, &p, &s.queries)
        .await
        .expect("checks phase");
    let plans = |name: &str| {
        let (_, qp) = out
            .plans
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no plans for {name}"));
        qp.report()
    };
    // history_9d reads Oct 23..31: 9 chunks, Oct 23 and 24 compressed (ColumnarScan).
    let (c, g, _) = plans("history_9d");
    for p in [c.unwrap(), g.unwrap()] {
        assert_eq!(p.chunks_total, 10, "{p:?}");
        assert_eq!(p.chunks_executed, 9, "{p:?}");
        assert_eq!(p.chunks_executed_compressed, 2, "{p:?}");
    }
    // last_value: the custom plan reads one chunk; the generic plan all 10, through
    // ConstraintAwareAppend with no startup exclusion, 3 of them compressed.
    let (c, g, _) = plans("last_value");
    let (c, g) = (c.unwrap(), g.unwrap());
    println!("last_value custom: {c:?}");
    println!("last_value generic: {g:?}");
    assert_eq!(
        (c.chunks_executed, c.chunks_executed_compressed),
        (1, 0),
        "{c:?}"
    );
    assert_eq!(
        (
            g.chunks_planned,
            g.chunks_excluded_startup,
            g.chunks_executed,
            g.chunks_executed_compressed
        ),
        (10, 0, 10, 3),
        "{g:?}"
    );
    let pr = check(&out.checks, "pruning.last_value.chunks_scanned");
    println!("{}: {}", pr.name, pr.note.as_deref().unwrap_or(""));
    assert_eq!((pr.status, pr.measured), (CheckStatus::Fail, Some(10.0)));
    assert!(pr.note.as_deref().unwrap().contains(
        "generic plan: 10 of 10 chunks executed (10 planned, 0 excluded at startup, 3 compressed"
    ));

    drop(client);
    target.close().await.expect("embedded server stops");
}

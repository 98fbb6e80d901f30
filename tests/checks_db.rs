//! The checks phase against a real (embedded) PostgreSQL+TimescaleDB server: chunk pruning
//! read from EXPLAIN, pruning defeated for the speedup baseline, chunk counts, storage,
//! retention, and compression/policies on the Apache edition (unsupported, with its note and
//! no SQL error). The data is inserted here with generate_series, independent of the loader.

mod common;

use chrono::{DateTime, Duration, Utc};
use esp_bench::checks::verdict;
use esp_bench::db::detect::{detect, Edition, ServerInfo};
use esp_bench::error::BenchError;
use esp_bench::report::model::{CheckResult, CheckStatus, Verdict};
use esp_bench::run::checks::{run_checks_phase, run_checks_phase_until, ChecksOutcome};
use esp_bench::scenario::plan::{Plan, UnsupportedEffect};
use tokio_postgres::Client;

const WELLS: u32 = 4;

/// A scenario over `span_days` of data ending now, with the given extra TOML.
fn plan(span_days: u32, extra: &str) -> Plan {
    let src = format!(
        r#"
[scenario]
name = "checks-db"

[fleet]
wells = {WELLS}
sample_interval = "600s"
span = "{span_days}d"
end = "now"
seed = 3

{extra}
"#
    );
    esp_bench::scenario::parse(&src, "checks-db.toml", Utc::now())
        .unwrap_or_else(|e| panic!("test scenario is valid: {e}"))
}

/// Apply bench's schema and fill both hypertables over the plan's span: telemetry every 10 min
/// per well, one diagnostic per well every 6 h.
async fn setup(client: &Client, schema: &str, plan: &Plan) -> ServerInfo {
    let info = detect(client).await.expect("detect");
    esp_bench::db::schema::apply(client, schema, &info)
        .await
        .expect("schema applies");
    let wells: Vec<String> = (0..WELLS).map(esp_bench::datagen::well_id).collect();
    let end = plan.fleet.end;
    let start = plan.fleet.start();
    client
        .execute(
            "INSERT INTO esp_telemetry (\"timestamp\", well_id, frequency_hz, flow_rate, vibration_g) \
             SELECT ts, w, 55, 1000 + 10 * sin(extract(epoch FROM ts) / 3600), 0.2 \
             FROM generate_series($1::timestamptz, $2::timestamptz, interval '10 minutes') ts, \
                  unnest($3::text[]) w",
            &[&start, &end, &wells],
        )
        .await
        .expect("insert telemetry");
    client
        .execute(
            "INSERT INTO diagnostic_results (\"timestamp\", well_id, condition, severity, confidence) \
             SELECT ts, w, 'gas_lock', 'warning', 0.9 \
             FROM generate_series($1::timestamptz, $2::timestamptz, interval '6 hours') ts, \
                  unnest($3::text[]) w",
            &[&start, &end, &wells],
        )
        .await
        .expect("insert diagnostics");
    client
        .batch_execute("ANALYZE esp_telemetry; ANALYZE diagnostic_results")
        .await
        .expect("analyze");
    info
}

fn check<'a>(out: &'a ChecksOutcome, name: &str) -> &'a CheckResult {
    out.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#?}", out.checks))
}

async fn chunk_count(client: &Client, table: &str) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM timescaledb_information.chunks \
             WHERE hypertable_schema = current_schema() AND hypertable_name = $1",
            &[&table],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_chunk_counts_and_storage() {
    let target = common::target_in("checks_read").await;
    let client = target.connect().await.expect("connect");
    let plan = plan(
        10,
        r#"
[[queries]]
name = "latest_24h"
max_chunks_scanned = 2
min_pruning_speedup = 1

[[queries]]
name = "agg_7d_fleet"
max_chunks_scanned = 8

[checks]
chunk_counts = true
policies = false
retention = false
"#,
    );
    let info = setup(&client, &target.schema, &plan).await;
    let total = chunk_count(&client, "esp_telemetry").await;
    // 10 days ending at an arbitrary instant: 11 daily chunks (10 when it ends at midnight).
    assert!((10..=11).contains(&total), "{total} telemetry chunks");

    let out = run_checks_phase(&client, &info, &target.schema, &plan, &[])
        .await
        .expect("checks phase");

    // The last 24 h touch today's chunk and yesterday's, in the custom and in the generic plan
    // of the prepared statement (EXPLAIN ANALYZE; measured is the larger of both under auto).
    let p = check(&out, "pruning.latest_24h.chunks_scanned");
    assert_eq!(p.status, CheckStatus::Pass, "{p:?}");
    let scanned = p.measured.unwrap();
    assert!((1.0..=2.0).contains(&scanned), "{p:?}");
    let note = p.note.as_deref().unwrap();
    assert!(note.starts_with("esp_telemetry; custom plan: "), "{note}");
    assert!(
        note.contains(&format!(
            "generic plan: {scanned} of {total} chunks executed"
        )) || note.contains(&format!(
            "custom plan: {scanned} of {total} chunks executed"
        )),
        "{note}"
    );
    let p = check(&out, "pruning.agg_7d_fleet.chunks_scanned");
    assert!(
        (7.0..=8.0).contains(&p.measured.unwrap()),
        "7 days touch 7-8 daily chunks: {p:?}"
    );

    // The speedup baseline really scanned every chunk.
    let s = check(&out, "pruning_speedup.latest_24h");
    assert!(s.measured.unwrap() > 0.0, "{s:?}");
    let note = s.note.as_deref().unwrap();
    assert!(
        note.contains(&format!("({total} of {total} chunks)")),
        "pruning not defeated: {note}"
    );
    assert!(!note.contains("could not be fully defeated"), "{note}");

    let c = check(&out, "chunks.esp_telemetry.count");
    assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
    assert_eq!(c.measured, Some(total as f64));
    let c = check(&out, "chunks.esp_telemetry.interval_s");
    assert_eq!((c.status, c.measured), (CheckStatus::Pass, Some(86_400.0)));
    let c = check(&out, "chunks.diagnostic_results.interval_s");
    assert_eq!((c.status, c.measured), (CheckStatus::Pass, Some(604_800.0)));
    let c = check(&out, "chunks.diagnostic_results.count");
    assert_eq!(c.status, CheckStatus::Pass, "{c:?}");

    let st = out
        .storage
        .iter()
        .find(|s| s.table == "esp_telemetry")
        .expect("telemetry storage");
    let rows: i64 = client
        .query_one("SELECT count(*) FROM esp_telemetry", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(st.rows, rows as u64);
    assert!(st.rows_exact);
    assert_eq!(st.chunks, total as u64);
    assert_eq!(st.chunk_interval_s, 86_400);
    assert!(st.heap_bytes > 0 && st.index_bytes > 0);
    assert!(st.total_bytes >= st.heap_bytes + st.index_bytes);
    assert_eq!(out.storage.len(), 2);

    // Ctrl-C during the phase: interrupted, not a failed check.
    let cancel = tokio_util::sync::CancellationToken::new();
    cancel.cancel();
    let err = run_checks_phase_until(&client, &info, &target.schema, &plan, &[], None, &cancel)
        .await
        .expect_err("cancelled");
    assert!(
        matches!(
            err.downcast_ref::<BenchError>(),
            Some(BenchError::Interrupted)
        ),
        "{err:#}"
    );

    drop(client);
    target.close().await.expect("server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_compression_and_policies() {
    let target = common::target_in("checks_write").await;
    let client = target.connect().await.expect("connect");
    let plan = plan(
        40,
        r#"
[checks]
unsupported = "skip"
chunk_counts = false
telemetry_min_reduction_pct = 90
diagnostics_min_reduction_pct = 85
policies = true
retention = true
"#,
    );
    let info = setup(&client, &target.schema, &plan).await;
    let before = chunk_count(&client, "esp_telemetry").await;
    assert!(before >= 40, "{before} chunks");

    let out = run_checks_phase(&client, &info, &target.schema, &plan, &[])
        .await
        .expect("checks phase");

    // Retention: nothing wholly older than end - 30 d remains; whole chunks only.
    let r = check(&out, "retention.esp_telemetry");
    assert_eq!(r.status, CheckStatus::Pass, "{r:?}");
    let cutoff = plan.fleet.end - Duration::days(30);
    let oldest: DateTime<Utc> = client
        .query_one("SELECT min(\"timestamp\") FROM esp_telemetry", &[])
        .await
        .unwrap()
        .get(0);
    assert!(oldest >= cutoff - Duration::days(1), "oldest row {oldest}");
    assert!(
        oldest < cutoff + Duration::days(1),
        "kept too little: {oldest}"
    );
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM timescaledb_information.chunks \
             WHERE hypertable_schema = current_schema() \
               AND hypertable_name = 'esp_telemetry' AND range_end <= $1",
            &[&cutoff],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert!(chunk_count(&client, "esp_telemetry").await <= 31);
    let r = check(&out, "retention.diagnostic_results");
    assert_eq!(r.status, CheckStatus::Pass, "{r:?}");

    match info.edition {
        Edition::Apache => {
            assert!(r.note.as_deref().unwrap().contains("drop_chunks"), "{r:?}");
            let note = "unsupported: needs TimescaleDB community edition (this server: apache)";
            for name in [
                "compression.esp_telemetry.reduction_pct",
                "compression.diagnostic_results.reduction_pct",
                "policies.esp_telemetry.compression",
                "policies.esp_telemetry.retention",
                "policies.diagnostic_results.compression",
                "policies.diagnostic_results.retention",
            ] {
                let c = check(&out, name);
                assert_eq!(c.status, CheckStatus::Unsupported, "{c:?}");
                assert_eq!(c.note.as_deref(), Some(note));
                assert_eq!(c.measured, None);
            }
            assert!(out
                .storage
                .iter()
                .all(|s| s.compressed_after_bytes.is_none()));
            // Skip by default: unsupported does not fail the run; on request it does.
            assert!(out.checks.iter().all(|c| c.status != CheckStatus::Fail));
            assert_eq!(
                verdict(false, false, &out.checks, UnsupportedEffect::Skip),
                Verdict::Pass
            );
            assert_eq!(
                verdict(false, false, &out.checks, UnsupportedEffect::Fail),
                Verdict::Fail
            );
        }
        Edition::Community => {
            for (table, kind) in [
                ("esp_telemetry", "compression"),
                ("esp_telemetry", "retention"),
                ("diagnostic_results", "compression"),
                ("diagnostic_results", "retention"),
            ] {
                let c = check(&out, &format!("policies.{table}.{kind}"));
                assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
            }
            let c = check(&out, "compression.esp_telemetry.reduction_pct");
            assert!(c.measured.is_some(), "{c:?}");
            let st = out
                .storage
                .iter()
                .find(|s| s.table == "esp_telemetry")
                .unwrap();
            assert!(st.compressed_chunks.unwrap() >= 30, "{st:?}");
            assert!(st.compressed_after_bytes.unwrap() < st.compressed_before_bytes.unwrap());
        }
    }

    drop(client);
    target.close().await.expect("server stops");
}

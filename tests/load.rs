//! `bench load` against a real embedded server: the tables hold exactly the generator's rows
//! (count and order-independent checksum, both tables), a re-run resumes without loading
//! twice, `--reset` starts over, a batch whose first attempt fails by an injected fault
//! (backend terminated mid-COPY, or COMMIT acknowledgement lost) is neither lost nor
//! duplicated, and cancellation leaves the ledger consistent with the tables.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::Utc;
use esp_bench::datagen::Fleet;
use esp_bench::db::{detect, schema, Target};
use esp_bench::error::BenchError;
use esp_bench::load::source::Source;
use esp_bench::load::verify::{self, TableCheck};
use esp_bench::load::{
    self, FaultAction, FaultEvent, FaultHook, FaultPoint, LoadOptions, ProgressMode,
};
use esp_bench::load::{batch, Table};
use esp_bench::scenario::{self, Plan};
use tokio_util::sync::CancellationToken;

/// 5 wells x 10 days at 60 s: 14,400 samples per well = 4 blocks per well, 20 blocks; batches
/// of 2 blocks (10 batches) over 3 workers.
fn plan() -> Plan {
    let toml = r#"
[fleet]
wells = 5
sample_interval = "60s"
span = "10d"
end = "2026-01-01T00:00:00Z"
seed = 42

[load]
workers = 3
batch_size = 8000
max_retries = 5
"#;
    scenario::parse(toml, "load-test.toml", Utc::now()).expect("test scenario is valid")
}

async fn prepared_target() -> Target {
    let target = common::target().await;
    let client = target.connect().await.expect("connect");
    let info = detect::detect(&client).await.expect("detect");
    schema::apply(&client, &target.schema, &info)
        .await
        .expect("apply schema");
    target
}

/// Key of the `i`-th telemetry batch of a fresh load of `plan`.
fn batch_key(plan: &Plan, fleet: &Fleet, i: usize) -> u64 {
    let src = Source::new(Table::Telemetry, fleet);
    let loaded = vec![false; src.units()];
    let batches = batch::plan_batches(src.est_rows(), &loaded, u64::from(plan.load.batch_size));
    assert!(
        batches.len() > i,
        "the test fleet has only {} batches",
        batches.len()
    );
    batches[i].key()
}

fn quiet() -> LoadOptions {
    LoadOptions {
        progress: ProgressMode::Quiet,
        ..Default::default()
    }
}

async fn checks(target: &Target, fleet: &Fleet) -> Vec<TableCheck> {
    let client = target.connect().await.expect("connect");
    verify::check_tables(&client, &target.schema, fleet)
        .await
        .expect("read tables back")
}

fn assert_exact(checks: &[TableCheck]) {
    for c in checks {
        assert!(c.generator.rows > 0, "{c}");
        assert!(c.exact(), "table differs from the generator: {c}");
    }
}

/// A hook that terminates the attempt's backend (from its own connection) at `point` of the
/// first attempt of batch `key` of esp_telemetry, returning `action`. Counts firings.
fn kill_once(
    target: &Target,
    key: u64,
    point: FaultPoint,
    action: FaultAction,
) -> (FaultHook, Arc<AtomicU32>) {
    let fired = Arc::new(AtomicU32::new(0));
    let url = target.url.clone();
    let schema_name = target.schema.clone();
    let count = fired.clone();
    let hook: FaultHook = Arc::new(move |ev: FaultEvent| {
        let url = url.clone();
        let schema_name = schema_name.clone();
        let count = count.clone();
        Box::pin(async move {
            if ev.table != "esp_telemetry"
                || ev.batch_key != key
                || ev.attempt != 0
                || ev.point != point
            {
                return FaultAction::Continue;
            }
            let killer = Target::for_url(&url, &schema_name).expect("target");
            let client = killer.connect().await.expect("killer connects");
            let killed: bool = client
                .query_one("SELECT pg_terminate_backend($1)", &[&ev.backend_pid])
                .await
                .expect("pg_terminate_backend")
                .get(0);
            assert!(killed, "backend {} was not terminated", ev.backend_pid);
            count.fetch_add(1, Ordering::SeqCst);
            action
        })
    });
    (hook, fired)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_equals_generator_and_rerun_resumes_without_duplicates() {
    let target = prepared_target().await;
    let plan = plan();
    let fleet = Fleet::new(&plan.fleet);

    let results = load::load_all(&target, &plan, &fleet, quiet())
        .await
        .expect("load");
    let c = checks(&target, &fleet).await;
    assert_exact(&c);
    assert_eq!(results.len(), 2);
    for (r, c) in results.iter().zip(&c) {
        assert_eq!(r.table, c.table);
        assert_eq!(r.rows, c.generator.rows, "rows reported for {}", r.table);
        assert_eq!(r.retries, 0);
    }

    // A second run finds every batch in the ledger and loads nothing.
    let again = load::load_all(&target, &plan, &fleet, quiet())
        .await
        .expect("re-run");
    assert!(again.iter().all(|r| r.rows == 0), "{again:?}");
    assert_exact(&checks(&target, &fleet).await);
    let account = load::account(&target, &plan, &fleet)
        .await
        .expect("account");
    assert!(account.complete(), "{account}");

    // A different batch size does not change what a complete load holds.
    let mut other = plan.clone();
    other.load.batch_size = 3000;
    let third = load::load_all(&target, &other, &fleet, quiet())
        .await
        .expect("re-run");
    assert!(third.iter().all(|r| r.rows == 0), "{third:?}");

    // A different fleet is refused, not mixed in.
    let mut foreign = plan.clone();
    foreign.fleet.seed = 43;
    let err = load::load_all(&target, &foreign, &Fleet::new(&foreign.fleet), quiet())
        .await
        .expect_err("a different fleet must be refused");
    assert!(format!("{err:#}").contains("different fleet"), "{err:#}");

    // --reset empties tables and ledger; the next load loads everything again.
    load::reset(&target).await.expect("reset");
    let after_reset = checks(&target, &fleet).await;
    assert!(after_reset
        .iter()
        .all(|c| c.stored.rows == 0 && c.ledger_rows == 0));
    let reloaded = load::load_all(&target, &plan, &fleet, quiet())
        .await
        .expect("reload");
    assert_eq!(reloaded[0].rows, c[0].generator.rows);
    assert_exact(&checks(&target, &fleet).await);

    target.close().await.expect("stop server");
}

/// One injected fault a load must survive: the batch of esp_telemetry whose first attempt
/// loses its backend, where in the attempt, and what the loader is told afterwards.
struct FaultCase {
    batch: usize,
    point: FaultPoint,
    action: FaultAction,
}

/// The fault cases, one test each below.
const MID_COPY: FaultCase = FaultCase {
    batch: 2,
    point: FaultPoint::MidCopy,
    action: FaultAction::Continue,
};
/// The batch commits, then its connection dies before the loader learns it: the retry must
/// find the batch in the ledger instead of loading it again.
const LOST_COMMIT_ACK: FaultCase = FaultCase {
    batch: 4,
    point: FaultPoint::AfterCommit,
    action: FaultAction::LoseCommitAck,
};
const BEFORE_COMMIT: FaultCase = FaultCase {
    batch: 0,
    point: FaultPoint::BeforeCommit,
    action: FaultAction::Continue,
};

/// Load under `case`'s fault on a fresh server: the fault fires once, the batch is retried,
/// and the tables hold exactly the generator's rows. Returns what the load reported and the
/// checks of the stored data.
async fn survives(case: FaultCase) -> (Vec<esp_bench::report::model::LoadResult>, Vec<TableCheck>) {
    let target = prepared_target().await;
    let plan = plan();
    let fleet = Fleet::new(&plan.fleet);
    let (hook, fired) = kill_once(
        &target,
        batch_key(&plan, &fleet, case.batch),
        case.point,
        case.action,
    );
    let opts = LoadOptions {
        fault: Some(hook),
        ..quiet()
    };
    let results = load::load_all(&target, &plan, &fleet, opts)
        .await
        .expect("load survives");
    assert_eq!(fired.load(Ordering::SeqCst), 1, "the fault fired once");
    assert!(results[0].retries >= 1, "{results:?}");
    let c = checks(&target, &fleet).await;
    assert_exact(&c);
    target.close().await.expect("stop server");
    (results, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_mid_copy_is_retried_not_lost() {
    survives(MID_COPY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_with_lost_ack_is_not_loaded_twice() {
    let (results, c) = survives(LOST_COMMIT_ACK).await;
    assert_eq!(
        results[0].rows, c[0].generator.rows,
        "the settled batch is counted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_before_commit_is_rolled_back_and_retried() {
    survives(BEFORE_COMMIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_leaves_ledger_consistent_and_rerun_completes() {
    let target = prepared_target().await;
    let plan = plan();
    let fleet = Fleet::new(&plan.fleet);
    let cancel = CancellationToken::new();
    // Cancel while batch 3 is mid-COPY: it (and any other batch still streaming) rolls back.
    let key = batch_key(&plan, &fleet, 3);
    let token = cancel.clone();
    let hook: FaultHook = Arc::new(move |ev: FaultEvent| {
        let token = token.clone();
        Box::pin(async move {
            if ev.table == "esp_telemetry" && ev.batch_key == key && ev.point == FaultPoint::MidCopy
            {
                token.cancel();
            }
            FaultAction::Continue
        })
    });
    let opts = LoadOptions {
        progress: ProgressMode::Quiet,
        cancel,
        fault: Some(hook),
    };
    let err = load::load_all(&target, &plan, &fleet, opts)
        .await
        .expect_err("a cancelled load reports interruption");
    assert!(
        err.chain().any(|c| matches!(
            c.downcast_ref::<BenchError>(),
            Some(BenchError::Interrupted)
        )),
        "{err:#}"
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("rows committed") && msg.contains("batches outstanding"),
        "{msg}"
    );

    let c = checks(&target, &fleet).await;
    for t in &c {
        assert!(
            t.consistent(),
            "ledger and table disagree after cancellation: {t}"
        );
    }
    assert!(
        c[0].stored.rows < c[0].generator.rows,
        "cancelled before the end: {}",
        c[0]
    );
    let account = load::account(&target, &plan, &fleet)
        .await
        .expect("account");
    assert!(!account.complete());
    assert_eq!(account.tables[0].rows, c[0].stored.rows, "{account}");
    assert!(
        msg.contains(&format!("{} rows committed", c[0].stored.rows)),
        "{msg}"
    );

    let resumed = load::load_all(&target, &plan, &fleet, quiet())
        .await
        .expect("resume");
    assert_eq!(resumed[0].rows + c[0].stored.rows, c[0].generator.rows);
    assert_exact(&checks(&target, &fleet).await);
    target.close().await.expect("stop server");
}

async fn telemetry_after(
    target: &Target,
    end: chrono::DateTime<Utc>,
) -> (i64, i64, Option<chrono::DateTime<Utc>>) {
    let client = target.connect().await.expect("connect");
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT well_id), min(\"timestamp\") FROM esp_telemetry \
             WHERE \"timestamp\" >= $1",
            &[&end],
        )
        .await
        .expect("count live rows");
    (row.get(0), row.get(1), row.get(2))
}

async fn wait_for_rows(target: &Target, end: chrono::DateTime<Utc>, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while telemetry_after(target, end).await.0 < n {
        assert!(
            std::time::Instant::now() < deadline,
            "live ingest wrote fewer than {n} rows in 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_ingest_continues_the_history_in_real_time() {
    let target = prepared_target().await;
    let mut plan = plan();
    let fleet = Fleet::new(&plan.fleet);
    let end = plan.fleet.end;

    // Natural rate: every well's first live sample (stamped at the data end) is due at once.
    plan.ingest = None;
    let live =
        load::LiveIngest::start(&target, &plan, &fleet, CancellationToken::new()).expect("start");
    wait_for_rows(&target, end, 5).await;
    let stats = live.stop().await;
    assert_eq!(stats.errors, 0, "{stats:?}");
    let (rows, wells, first) = telemetry_after(&target, end).await;
    assert_eq!(rows as u64, stats.rows, "{stats:?}");
    assert_eq!(wells, 5);
    assert_eq!(
        first,
        Some(end),
        "the first live sample is stamped at the data end"
    );

    // Target rate: rows/s paced, in batches.
    plan.ingest = Some(scenario::IngestPlan {
        rows_per_sec: Some(400.0),
        batch_size: 50,
    });
    let before = rows;
    let live =
        load::LiveIngest::start(&target, &plan, &fleet, CancellationToken::new()).expect("start");
    wait_for_rows(&target, end, before + 200).await;
    let stats = live.stop().await;
    assert_eq!(stats.errors, 0, "{stats:?}");
    assert!(stats.batches >= 2, "{stats:?}");
    let (rows, _, _) = telemetry_after(&target, end).await;
    assert_eq!(
        (rows - before) as u64,
        stats.rows,
        "every committed row counted once: {stats:?}"
    );
    target.close().await.expect("stop server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_retries_fail_with_an_exact_account_and_rerun_completes() {
    let target = prepared_target().await;
    let mut plan = plan();
    plan.load.max_retries = 0;
    let fleet = Fleet::new(&plan.fleet);
    let (hook, fired) = kill_once(
        &target,
        batch_key(&plan, &fleet, 1),
        FaultPoint::MidCopy,
        FaultAction::Continue,
    );
    let opts = LoadOptions {
        fault: Some(hook),
        ..quiet()
    };
    let err = load::load_all(&target, &plan, &fleet, opts)
        .await
        .expect_err("no retries allowed: the load fails");
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    let msg = format!("{err:#}");
    assert!(msg.contains("gave up after 0 retries"), "{msg}");
    let c = checks(&target, &fleet).await;
    for t in &c {
        assert!(t.consistent(), "{t}");
    }
    assert!(
        msg.contains(&format!(
            "esp_telemetry: {} rows committed",
            c[0].stored.rows
        )),
        "the account names exactly the committed rows: {msg}"
    );
    assert!(c[0].stored.rows < c[0].generator.rows);

    plan.load.max_retries = 5;
    load::load_all(&target, &plan, &fleet, quiet())
        .await
        .expect("the re-run completes");
    assert_exact(&checks(&target, &fleet).await);
    target.close().await.expect("stop server");
}

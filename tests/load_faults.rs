//! Faults during `bench load` (issue 7): loader backends terminated repeatedly, and the
//! server restarted mid-load. Either way the tables end up with exactly the generator's rows
//! (count plus order-independent checksum): no loss, no duplicates; a load that gives up says
//! exactly what it committed, and a re-run completes.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use esp_bench::datagen::Fleet;
use esp_bench::db::{detect, schema, Target};
use esp_bench::load::verify::{self, TableCheck};
use esp_bench::load::{
    self, FaultAction, FaultEvent, FaultHook, FaultPoint, LoadOptions, ProgressMode,
};
use esp_bench::scenario::{self, Plan};
use tokio::sync::Notify;

/// 5 wells x 30 days at 60 s = 216,000 telemetry rows in 55 blocks; ~27 batches over 3 workers.
fn plan(max_retries: u32) -> Plan {
    let toml = format!(
        r#"
[fleet]
wells = 5
sample_interval = "60s"
span = "30d"
end = "2026-01-01T00:00:00Z"
seed = 9

[load]
workers = 3
batch_size = 8000
max_retries = {max_retries}
"#
    );
    scenario::parse(&toml, "load-faults.toml", Utc::now()).expect("test scenario is valid")
}

async fn apply_schema(target: &Target) {
    let client = target.connect().await.expect("connect");
    let info = detect::detect(&client).await.expect("detect");
    schema::apply(&client, &target.schema, &info)
        .await
        .expect("apply schema");
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
        assert!(c.exact(), "lost or duplicated rows: {c}");
        assert_eq!(c.lost(), 0, "{c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_during_load_lose_and_duplicate_nothing() {
    let target = common::target().await;
    apply_schema(&target).await;
    let plan = plan(20);
    let fleet = Fleet::new(&plan.fleet);

    const KILLS: u32 = 8;
    let kills = Arc::new(AtomicU32::new(0));
    // Slow the first COPYs down a little so the killer finds loader backends mid-batch.
    let seen = kills.clone();
    let hook: FaultHook = Arc::new(move |ev: FaultEvent| {
        let seen = seen.clone();
        Box::pin(async move {
            if ev.point == FaultPoint::MidCopy && seen.load(Ordering::SeqCst) < KILLS {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            FaultAction::Continue
        })
    });
    let opts = LoadOptions {
        progress: ProgressMode::Quiet,
        fault: Some(hook),
        ..Default::default()
    };

    let done = tokio_util::sync::CancellationToken::new();
    let killer = {
        let client = target.connect().await.expect("killer connects");
        let kills = kills.clone();
        let done = done.clone();
        async move {
            while !done.is_cancelled() && kills.load(Ordering::SeqCst) < KILLS {
                let rows = client
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1 AND pid <> pg_backend_pid() LIMIT 1",
                        &[&load::APPLICATION_NAME],
                    )
                    .await
                    .expect("terminate loader backends");
                let n = rows.iter().filter(|r| r.get::<_, bool>(0)).count() as u32;
                kills.fetch_add(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let loading = async {
        let r = load::load_all(&target, &plan, &fleet, opts).await;
        done.cancel();
        r
    };
    let (results, ()) = tokio::join!(loading, killer);
    let results = results.expect("the load survives terminated backends");
    let killed = kills.load(Ordering::SeqCst);
    assert!(killed >= 1, "the killer terminated no loader backend");
    let retries: u64 = results.iter().map(|r| r.retries).sum();
    assert!(
        retries >= 1,
        "{killed} backends terminated but no batch retried: {results:?}"
    );
    let c = checks(&target, &fleet).await;
    assert_exact(&c);
    assert_eq!(results[0].rows, c[0].generator.rows);
    eprintln!("terminated {killed} loader backends; {retries} batch retries; 0 lost, 0 duplicated");
    target.close().await.expect("stop server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_during_load_resumes_exactly() {
    let mut server = common::server().await;
    let target = Target::for_url(&server.url(), "esp_bench").expect("target");
    apply_schema(&target).await;
    let plan = plan(6);
    let fleet = Fleet::new(&plan.fleet);

    // Restart once three batches have committed, while the others are in flight.
    let committed = Arc::new(AtomicU32::new(0));
    let restart_now = Arc::new(Notify::new());
    let hook: FaultHook = {
        let committed = committed.clone();
        let restart_now = restart_now.clone();
        Arc::new(move |ev: FaultEvent| {
            let committed = committed.clone();
            let restart_now = restart_now.clone();
            Box::pin(async move {
                if ev.point == FaultPoint::AfterCommit
                    && committed.fetch_add(1, Ordering::SeqCst) + 1 == 3
                {
                    restart_now.notify_one();
                }
                if ev.point == FaultPoint::MidCopy {
                    // Keep batches in flight long enough to be hit by the restart.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                FaultAction::Continue
            })
        })
    };
    let opts = LoadOptions {
        progress: ProgressMode::Quiet,
        fault: Some(hook),
        ..Default::default()
    };
    let loading = load::load_all(&target, &plan, &fleet, opts);
    let restarting = async {
        tokio::time::timeout(Duration::from_secs(120), restart_now.notified())
            .await
            .expect("three batches commit");
        server.restart().await.expect("restart the server");
    };
    let (first, ()) = tokio::join!(loading, restarting);

    match &first {
        Ok(results) => {
            eprintln!("the load rode through the restart: {results:?}");
            let retries: u64 = results.iter().map(|r| r.retries).sum();
            assert!(
                retries >= 1,
                "a restart mid-load must cost retries: {results:?}"
            );
        }
        Err(err) => {
            let msg = format!("{err:#}");
            eprintln!("the load gave up: {msg}");
            assert!(
                msg.contains("rows committed") && msg.contains("batches outstanding"),
                "{msg}"
            );
        }
    }
    // Whatever happened, the ledger and the tables agree.
    for c in checks(&target, &fleet).await {
        assert!(
            c.consistent(),
            "ledger and table disagree after the restart: {c}"
        );
    }
    // A re-run completes, and the result is exact.
    load::load_all(
        &target,
        &plan,
        &fleet,
        LoadOptions {
            progress: ProgressMode::Quiet,
            ..Default::default()
        },
    )
    .await
    .expect("the re-run completes");
    assert_exact(&checks(&target, &fleet).await);

    server.stop().await.expect("stop server");
}

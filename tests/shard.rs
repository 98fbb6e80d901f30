//! Sharded load generation (`--shard K/N`, `bench merge`) with real `bench` processes against
//! one embedded server each test (docs/sharding.md):
//!
//! - three `bench load` shards store exactly the generator's rows (digest per table), the same
//!   rows per well as one unsharded load into another schema, in disjoint ledger batches;
//! - three `bench run` shards: the merged histogram of every query is the sum of the shards'
//!   histograms, counts add up, the fixed rates add up to the scenario's rate, a query with one
//!   client runs on the leader only, `bench compare` and `bench plan` read the merged report,
//!   and a missing or duplicated shard fails the merge;
//! - SIGKILL of one shard mid-load fails the other shards naming it, leaves no row duplicated
//!   (table = ledger), fails the merge, and a plain re-run then loads exactly the generator's
//!   rows;
//! - refusals: a follower without a leader, with another scenario, with another shard count, a
//!   second leader and a plain command on the leader's schema all stop with exit 2 and a message
//!   naming the shard or the lock.
//!
//! No assertion is about how long something took.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use esp_bench::datagen::Fleet;
use esp_bench::db::Target;
use esp_bench::load::{self, verify, Table};
use esp_bench::report::model::Summary;

mod common;

/// A bench child with its output captured in files (no pipe can fill up and block it).
struct Proc {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    what: String,
}

struct Done {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn spawn(dir: &Path, what: &str, args: &[&str]) -> Proc {
    let out = dir.join(format!("{what}.stdout"));
    let err = dir.join(format!("{what}.stderr"));
    let child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .env_remove("DATABASE_URL")
        .env_remove("PGPASSWORD")
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("spawn bench");
    Proc {
        child,
        out,
        err,
        what: what.to_string(),
    }
}

impl Proc {
    /// Wait (bounded: a hung shard fails the test instead of hanging it).
    fn wait(mut self) -> Done {
        let deadline = Instant::now() + Duration::from_secs(150);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not finish: {}",
                    self.what,
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Done {
            code: status.code(),
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

fn run_to_end(dir: &Path, what: &str, args: &[&str]) -> Done {
    spawn(dir, what, args).wait()
}

fn ok(d: &Done, what: &str) {
    assert_eq!(
        d.code,
        Some(0),
        "{what} failed\nstdout:\n{}\nstderr:\n{}",
        d.stdout,
        d.stderr
    );
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, format!("[scenario]\nname = \"{name}\"\n\n{body}")).unwrap();
    p
}

/// 7 wells over 3 shards: 2, 2 and 3 wells. A fixed end, so every process (and the reference
/// load) generates the same fleet.
const FLEET: &str = r#"
[fleet]
wells = 7
sample_interval = "600s"
span = "3d"
end = "2026-01-01T00:00:00Z"
seed = 11

[load]
workers = 1
batch_size = 300
"#;

const RUN: &str = r#"
[ingest]
rows_per_sec = 30
batch_size = 10

[run]
warmup = "200ms"
duration = "1500ms"
stats_interval = "500ms"
statement_timeout = "5s"
state = "fresh"

[[queries]]
name = "latest_24h"
clients = 3
targets = { p95_ms = 2000, error_rate = 0 }

[[queries]]
name = "last_value"
rate = 30
clients = 3
count = 45

[[queries]]
# One client: only the leader runs it.
name = "agg_7d_well"
clients = 1

[checks]
chunk_counts = false
policies = false
retention = false
"#;

fn plan_of(path: &Path) -> esp_bench::scenario::Plan {
    esp_bench::scenario::load_config(path).expect("valid scenario")
}

fn read(dir: &Path) -> Summary {
    esp_bench::report::read_summary(&dir.join("summary.json")).expect("summary.json")
}

async fn per_well(target: &Target, table: Table) -> BTreeMap<String, u64> {
    let client = target.connect().await.unwrap();
    let lo = chrono::DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let hi = chrono::DateTime::parse_from_rfc3339("2100-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    verify::stored_per_well(&client, &target.schema, table, lo, hi)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shard_loads_store_exactly_one_process_rows() {
    let server = common::server().await;
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(tmp.path(), "shardload", FLEET);
    let s = scenario.to_str().unwrap();
    let procs: Vec<Proc> = (0..3)
        .map(|k| {
            let shard = format!("{k}/3");
            spawn(
                tmp.path(),
                &format!("load{k}"),
                &[
                    "load",
                    s,
                    "--database-url",
                    &url,
                    "--shard",
                    &shard,
                    "--shard-timeout",
                    "60s",
                    "--progress",
                    "quiet",
                ],
            )
        })
        .collect();
    let done: Vec<Done> = procs.into_iter().map(Proc::wait).collect();
    for (k, d) in done.iter().enumerate() {
        ok(d, &format!("bench load --shard {k}/3"));
    }
    assert!(
        done[0].stdout.contains("verified: every table matches"),
        "{}",
        done[0].stdout
    );
    assert!(done[1].stdout.contains("shard 1/3"), "{}", done[1].stdout);

    let plan = plan_of(&scenario);
    let fleet = Fleet::new(&plan.fleet);
    let sharded = Target::for_url(&url, "esp_bench").unwrap();
    let client = sharded.connect().await.unwrap();
    // Exactly the generator's rows: none lost, none duplicated (count + digest per table).
    for check in verify::check_tables(&client, "esp_bench", &fleet)
        .await
        .unwrap()
    {
        assert!(check.exact(), "{check}");
    }
    // The same rows per well as one process loading everything into another schema.
    let reference = Target::for_url(&url, "esp_ref").unwrap();
    {
        let c = reference.connect().await.unwrap();
        let info = esp_bench::db::detect::detect(&c).await.unwrap();
        esp_bench::db::schema::apply(&c, "esp_ref", &info)
            .await
            .unwrap();
    }
    let opts = load::LoadOptions {
        progress: load::ProgressMode::Quiet,
        ..Default::default()
    };
    load::load_all(&reference, &plan, &fleet, opts)
        .await
        .unwrap();
    for table in Table::ALL {
        let a = per_well(&sharded, table).await;
        let b = per_well(&reference, table).await;
        if table == Table::Telemetry {
            assert_eq!(a.len(), 7, "{table:?}: {a:?}");
        }
        assert!(!a.is_empty(), "{table:?}");
        assert_eq!(a, b, "{table:?}: sharded vs one process");
    }
    // Every ledger batch lies within one shard's wells: the shards' batches are disjoint.
    for table in Table::ALL {
        let src = load::source::Source::new(table, &fleet);
        let batches = esp_bench::db::copy::ledger_batches(&client, "esp_bench", table.name())
            .await
            .unwrap();
        let mut shards_seen = std::collections::BTreeSet::new();
        for b in &batches {
            let shard_of = |unit: u64| {
                let well = src.unit_well(unit as usize);
                (0..3u32)
                    .find(|&k| {
                        esp_bench::shard::wells_of(
                            7,
                            esp_bench::shard::ShardSpec { index: k, count: 3 },
                        )
                        .contains(&well)
                    })
                    .unwrap()
            };
            let first = shard_of(b.first_unit);
            assert_eq!(first, shard_of(b.first_unit + b.units - 1), "{b:?}");
            shards_seen.insert(first);
        }
        if table == Table::Telemetry {
            assert_eq!(shards_seen.len(), 3, "{table:?}: every shard loaded");
        }
    }
    drop(client);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shard_runs_merge_losslessly() {
    let server = common::server().await;
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(tmp.path(), "shardrun", &format!("{FLEET}{RUN}"));
    let s = scenario.to_str().unwrap().to_string();
    let dirs: Vec<PathBuf> = (0..3)
        .map(|k| tmp.path().join(format!("shard{k}")))
        .collect();
    let procs: Vec<Proc> = (0..3)
        .map(|k| {
            let shard = format!("{k}/3");
            spawn(
                tmp.path(),
                &format!("run{k}"),
                &[
                    "run",
                    &s,
                    "--database-url",
                    &url,
                    "--shard",
                    &shard,
                    "--run-id",
                    "merge-test",
                    "--shard-timeout",
                    "60s",
                    "--out",
                    dirs[k].to_str().unwrap(),
                ],
            )
        })
        .collect();
    let done: Vec<Done> = procs.into_iter().map(Proc::wait).collect();
    for (k, d) in done.iter().enumerate() {
        ok(d, &format!("bench run --shard {k}/3"));
    }
    let shards: Vec<Summary> = dirs.iter().map(|d| read(d)).collect();
    for (k, sm) in shards.iter().enumerate() {
        let sh = sm.shard.as_ref().expect("shard section");
        assert_eq!((sh.index, sh.count), (k as u32, 3));
        assert_eq!(sh.run_id, "merge-test");
        assert_eq!(sh.queries.len(), sm.queries.len());
    }
    // The leader verified the whole fleet after every shard loaded.
    let v = &shards[0].verification[0];
    assert!(v.verified, "{v:?}");
    assert!(v.tables.iter().all(|t| t.wells == 7 && t.ok), "{v:?}");
    // One client: only the leader ran agg_7d_well; the others recorded no phase for it.
    assert!(shards[0].queries.iter().any(|q| q.name == "agg_7d_well"));
    assert!(shards[1..]
        .iter()
        .all(|sm| sm.queries.iter().all(|q| q.name != "agg_7d_well")));

    let merged_dir = tmp.path().join("merged");
    let args: Vec<&str> = ["merge"]
        .into_iter()
        .chain(dirs.iter().rev().map(|d| d.to_str().unwrap()))
        .chain(["--out", merged_dir.to_str().unwrap()])
        .collect();
    let m = run_to_end(tmp.path(), "merge", &args);
    ok(&m, "bench merge");
    assert!(
        m.stdout.contains("merged 3 shard(s) of run `merge-test`"),
        "{}",
        m.stdout
    );
    let merged = read(&merged_dir);
    assert!(merged.shard.is_none());
    assert_eq!(merged.environment.shards.len(), 3);
    assert_eq!(merged.checks, shards[0].checks, "checks are the leader's");
    let plan = plan_of(&scenario);
    for q in &merged.queries {
        let parts: Vec<&esp_bench::report::model::QueryStats> = shards
            .iter()
            .filter_map(|sm| sm.queries.iter().find(|x| x.name == q.name))
            .collect();
        // The merged histogram equals the merge of the shard histograms.
        let mut sum = esp_bench::stats::new_histogram();
        for p in &parts {
            sum.add(esp_bench::stats::decode_histogram(&p.histogram).unwrap())
                .unwrap();
        }
        let got = esp_bench::stats::decode_histogram(&q.histogram).unwrap();
        assert_eq!(got, sum, "{}", q.name);
        assert_eq!(q.count, parts.iter().map(|p| p.count).sum::<u64>());
        assert_eq!(q.count, got.len());
        assert_eq!(
            q.intervals.iter().map(|i| i.count).sum::<u64>(),
            q.count,
            "{}: interval samples cover every execution",
            q.name
        );
        let want = plan.query(&q.name).unwrap();
        let clients = match want.mode {
            esp_bench::scenario::LoadMode::Closed { clients }
            | esp_bench::scenario::LoadMode::FixedRate { clients, .. } => clients,
        };
        assert_eq!(q.clients, clients, "{}: clients add up", q.name);
    }
    // The fixed rates of the shards add up to the scenario's, and so do the counts.
    let lv = merged
        .queries
        .iter()
        .find(|q| q.name == "last_value")
        .unwrap();
    let shard_rates: f64 = shards
        .iter()
        .filter_map(|sm| sm.queries.iter().find(|q| q.name == "last_value"))
        .map(|q| q.rate.unwrap())
        .sum();
    assert!((shard_rates - 30.0).abs() < 1e-9, "{shard_rates}");
    assert!((lv.rate.unwrap() - 30.0).abs() < 1e-9, "{:?}", lv.rate);
    assert_eq!(lv.count + lv.errors, 45);
    assert!(lv.schedule_lag_ms.is_some());
    // Live ingest ran on every shard (each its wells) and is summed.
    let live: u64 = shards
        .iter()
        .flat_map(|sm| sm.load.iter())
        .filter(|l| l.table == esp_bench::run::pipeline::LIVE_INGEST_TABLE)
        .map(|l| l.rows)
        .sum();
    let merged_live = merged
        .load
        .iter()
        .find(|l| l.table == esp_bench::run::pipeline::LIVE_INGEST_TABLE)
        .unwrap();
    assert_eq!(merged_live.rows, live);
    assert!(shards.iter().all(|sm| sm
        .load
        .iter()
        .any(|l| l.table == esp_bench::run::pipeline::LIVE_INGEST_TABLE && l.rows > 0)));

    // bench compare and bench plan read the merged report.
    let mpath = merged_dir.join("summary.json");
    let mp = mpath.to_str().unwrap();
    ok(
        &run_to_end(tmp.path(), "compare", &["compare", mp, mp]),
        "bench compare",
    );
    let plan_out = tmp.path().join("plan.csv");
    ok(
        &run_to_end(
            tmp.path(),
            "plan",
            &[
                "plan",
                "--from",
                mp,
                "--wells",
                "100,1000",
                "--interval",
                "10s",
                "--retention",
                "30d",
                "-o",
                plan_out.to_str().unwrap(),
            ],
        ),
        "bench plan",
    );

    // A missing or a duplicated shard is an error naming it.
    let d = |k: usize| dirs[k].to_str().unwrap();
    let missing = run_to_end(
        tmp.path(),
        "merge-missing",
        &["merge", d(0), d(1), "-o", mp],
    );
    assert_eq!(missing.code, Some(2), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("shard 2/3 is missing"),
        "{}",
        missing.stderr
    );
    let twice = run_to_end(
        tmp.path(),
        "merge-twice",
        &["merge", d(0), d(1), d(1), d(2)],
    );
    assert_eq!(twice.code, Some(2), "{}", twice.stderr);
    assert!(
        twice.stderr.contains("shard 1/3") && twice.stderr.contains("twice"),
        "{}",
        twice.stderr
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_shard_fails_the_run_and_the_merge_and_duplicates_nothing() {
    let server = common::server().await;
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    // Many small batches, so shard 2 is killed between commits of its load.
    let body = r#"
[fleet]
wells = 6
sample_interval = "60s"
span = "6d"
end = "2026-01-01T00:00:00Z"
seed = 5

[load]
workers = 1
batch_size = 200

[run]
warmup = "0s"
duration = "500ms"
stats_interval = "250ms"
state = "fresh"

[[queries]]
name = "last_value"

[checks]
chunk_counts = false
policies = false
retention = false
"#;
    let scenario = write(tmp.path(), "shardkill", body);
    let s = scenario.to_str().unwrap().to_string();
    let dirs: Vec<PathBuf> = (0..3).map(|k| tmp.path().join(format!("k{k}"))).collect();
    let mut procs: Vec<Option<Proc>> = (0..3)
        .map(|k| {
            let shard = format!("{k}/3");
            Some(spawn(
                tmp.path(),
                &format!("kill{k}"),
                &[
                    "run",
                    &s,
                    "--database-url",
                    &url,
                    "--shard",
                    &shard,
                    "--shard-timeout",
                    "60s",
                    "--out",
                    dirs[k].to_str().unwrap(),
                ],
            ))
        })
        .collect();
    // Wait until shard 2 (wells 4 and 5) has committed a telemetry batch, then SIGKILL it.
    let plan = plan_of(&scenario);
    let fleet = Fleet::new(&plan.fleet);
    let first_unit_of_shard2 = fleet.blocks_per_well() * 4;
    let target = Target::for_url(&url, "esp_bench").unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "shard 2 never committed a batch");
        let committed = match target.connect().await {
            Ok(c) => esp_bench::db::copy::ledger_batches(&c, "esp_bench", "esp_telemetry")
                .await
                .map(|b| b.iter().any(|b| b.first_unit >= first_unit_of_shard2))
                .unwrap_or(false),
            Err(_) => false,
        };
        if committed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut victim = procs[2].take().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim.child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = victim.child.wait();
    let leader = procs[0].take().unwrap().wait();
    let other = procs[1].take().unwrap().wait();
    // The leader names the dead shard; the other follower stops because the run failed.
    assert_eq!(leader.code, Some(2), "{}", leader.stderr);
    assert!(
        leader.stderr.contains("shard 2/3") && leader.stderr.contains("is gone"),
        "{}",
        leader.stderr
    );
    assert_eq!(other.code, Some(2), "{}", other.stderr);
    assert!(
        other.stderr.contains("shard 1/3") && other.stderr.contains("failed"),
        "{}",
        other.stderr
    );
    assert!(other.stderr.contains("shard 2/3"), "{}", other.stderr);
    // The merge fails: no report of the killed shard (nor of the failed ones).
    let d = |k: usize| dirs[k].to_str().unwrap();
    let m = run_to_end(tmp.path(), "merge-killed", &["merge", d(0), d(1), d(2)]);
    assert_eq!(m.code, Some(2), "{}", m.stderr);
    assert!(m.stderr.contains("no shard report"), "{}", m.stderr);

    // No row duplicated or lost against the ledger: the table holds exactly the generator's
    // rows of the batches the ledger records.
    let client = target.connect().await.unwrap();
    for check in verify::check_tables(&client, "esp_bench", &fleet)
        .await
        .unwrap()
    {
        assert!(check.consistent(), "{check}");
    }
    // The leader released the schema: a plain load resumes and completes exactly.
    let resume = run_to_end(
        tmp.path(),
        "resume",
        &["load", &s, "--database-url", &url, "--progress", "quiet"],
    );
    ok(&resume, "bench load after the killed run");
    for check in verify::check_tables(&client, "esp_bench", &fleet)
        .await
        .unwrap()
    {
        assert!(check.exact(), "{check}");
    }
    drop(client);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_stops_the_followers() {
    let server = common::server().await;
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"
[fleet]
wells = 6
sample_interval = "60s"
span = "6d"
end = "2026-01-01T00:00:00Z"
seed = 5

[load]
workers = 1
batch_size = 200
"#;
    let scenario = write(tmp.path(), "leaderkill", body);
    let s = scenario.to_str().unwrap().to_string();
    let mut procs: Vec<Option<Proc>> = (0..3)
        .map(|k| {
            let shard = format!("{k}/3");
            Some(spawn(
                tmp.path(),
                &format!("lk{k}"),
                &[
                    "load",
                    &s,
                    "--database-url",
                    &url,
                    "--shard",
                    &shard,
                    "--shard-timeout",
                    "60s",
                    "--progress",
                    "quiet",
                ],
            ))
        })
        .collect();
    // Once the leader has committed a batch, SIGKILL it.
    let target = Target::for_url(&url, "esp_bench").unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(
            Instant::now() < deadline,
            "the leader never committed a batch"
        );
        let committed = match target.connect().await {
            Ok(c) => esp_bench::db::copy::ledger_batches(&c, "esp_bench", "esp_telemetry")
                .await
                .map(|b| b.iter().any(|b| b.first_unit == 0))
                .unwrap_or(false),
            Err(_) => false,
        };
        if committed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut leader = procs[0].take().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(leader.child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = leader.child.wait();
    for (k, p) in procs.iter_mut().enumerate().skip(1) {
        let d = p.take().unwrap().wait();
        assert_eq!(d.code, Some(2), "shard {k}: {}", d.stderr);
        assert!(
            d.stderr.contains(&format!("shard {k}/3")) && d.stderr.contains("leader"),
            "shard {k}: {}",
            d.stderr
        );
    }
    // Nothing duplicated; the schema is free again and a plain load completes it exactly.
    let plan = plan_of(&scenario);
    let fleet = Fleet::new(&plan.fleet);
    let client = target.connect().await.unwrap();
    for check in verify::check_tables(&client, "esp_bench", &fleet)
        .await
        .unwrap()
    {
        assert!(check.consistent(), "{check}");
    }
    let resume = run_to_end(
        tmp.path(),
        "resume",
        &["load", &s, "--database-url", &url, "--progress", "quiet"],
    );
    ok(&resume, "bench load after the leader was killed");
    for check in verify::check_tables(&client, "esp_bench", &fleet)
        .await
        .unwrap()
    {
        assert!(check.exact(), "{check}");
    }
    drop(client);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_shard_and_the_lock() {
    let server = common::server().await;
    let url = server.url();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = write(tmp.path(), "shardref", FLEET);
    let s = scenario.to_str().unwrap();
    // The same scenario name with another seed: another fingerprint.
    let odir = tmp.path().join("other");
    std::fs::create_dir_all(&odir).unwrap();
    let other = write(&odir, "shardref", &FLEET.replace("seed = 11", "seed = 12"));
    let o = other.to_str().unwrap();
    let common_args = |shard: &str| -> Vec<String> {
        [
            "load",
            s,
            "--database-url",
            &url,
            "--shard",
            shard,
            "--progress",
            "quiet",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };

    // A follower without a leader gives up after its timeout, naming itself.
    let alone = run_to_end(
        tmp.path(),
        "alone",
        &[
            "run",
            s,
            "--database-url",
            &url,
            "--shard",
            "1/2",
            "--shard-timeout",
            "2s",
        ],
    );
    assert_eq!(alone.code, Some(2), "{}", alone.stderr);
    assert!(
        alone.stderr.contains("shard 1/2: no leader"),
        "{}",
        alone.stderr
    );

    // Ctrl-C stops a follower's wait for its leader at once (exit 130).
    let waiting = spawn(
        tmp.path(),
        "waiting",
        &[
            "run",
            s,
            "--database-url",
            &url,
            "--shard",
            "1/2",
            "--shard-timeout",
            "120s",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&waiting.err)
        .unwrap_or_default()
        .contains("waiting for the leader")
    {
        assert!(
            Instant::now() < deadline,
            "the follower never started waiting"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(waiting.child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let waited = waiting.wait();
    assert_eq!(waited.code, Some(130), "{}", waited.stderr);

    // The leader waits at its first barrier for shard 1.
    let mut args = common_args("0/2");
    args.extend(["--shard-timeout".into(), "60s".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let leader = spawn(tmp.path(), "leader", &refs);
    // Until its run is open.
    let target = Target::for_url(&url, "esp_bench").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the leader never opened its run");
        if let Ok(c) = target.connect().await {
            if esp_bench::db::coord::tables_exist(&c, "esp_bench")
                .await
                .unwrap_or(false)
                && !esp_bench::db::coord::live_runs(&c, "esp_bench")
                    .await
                    .unwrap_or_default()
                    .is_empty()
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A plain command on the schema stops at the leader's writer lock.
    let plain = run_to_end(
        tmp.path(),
        "plain",
        &["load", s, "--database-url", &url, "--progress", "quiet"],
    );
    assert_eq!(plain.code, Some(2), "{}", plain.stderr);
    assert!(
        plain.stderr.contains("in use by another bench command"),
        "{}",
        plain.stderr
    );
    // So does a second leader.
    let second = run_to_end(tmp.path(), "second", &refs);
    assert_eq!(second.code, Some(2), "{}", second.stderr);
    assert!(
        second.stderr.contains("in use by another bench command"),
        "{}",
        second.stderr
    );
    // A follower of another scenario is refused, naming itself.
    let foreign = run_to_end(
        tmp.path(),
        "foreign",
        &[
            "load",
            o,
            "--database-url",
            &url,
            "--shard",
            "1/2",
            "--progress",
            "quiet",
        ],
    );
    assert_eq!(foreign.code, Some(2), "{}", foreign.stderr);
    assert!(
        foreign.stderr.contains("shard 1/2 refused") && foreign.stderr.contains("fingerprint"),
        "{}",
        foreign.stderr
    );
    // So is one that counts the shards differently.
    let a3 = common_args("1/3");
    let r3: Vec<&str> = a3.iter().map(String::as_str).collect();
    let three = run_to_end(tmp.path(), "three", &r3);
    assert_eq!(three.code, Some(2), "{}", three.stderr);
    assert!(
        three.stderr.contains("shard 1/3 refused") && three.stderr.contains("2 shards"),
        "{}",
        three.stderr
    );
    // The right follower joins and both finish.
    let a1 = common_args("1/2");
    let r1: Vec<&str> = a1.iter().map(String::as_str).collect();
    let follower = run_to_end(tmp.path(), "follower", &r1);
    ok(&follower, "follower 1/2");
    let leader = leader.wait();
    ok(&leader, "leader 0/2");
    assert!(leader.stdout.contains("verified"), "{}", leader.stdout);
    server.stop().await.unwrap();
}

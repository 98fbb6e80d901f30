//! `bench load`: wiring only. Scenario -> target -> schema -> `load::load_all` -> summary.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::cli::{ServerArgs, ShardArgs, WriterArgs};
use crate::datagen::Fleet;
use crate::db::guard::WriteGuard;
use crate::db::{detect, schema, Target};
use crate::error::Outcome;
use crate::load::{self, LoadOptions, Partition, ProgressMode};
use crate::model::report::{LoadResult, Verification};
use crate::shard::coord::{Coordinator, ShardOptions};

/// Arguments of `bench load`.
///
/// Loads both tables (esp_telemetry, then diagnostic_results) over parallel binary COPY,
/// one transaction per batch, recorded in a ledger table (esp_bench_load_ledger) in bench's
/// schema. Re-running on the same target resumes: batches already loaded are skipped, so
/// nothing is loaded twice. Starting over is never implicit: pass --reset (or run
/// `bench schema reset --yes`).
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Scenario file (TOML).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub writer: WriterArgs,

    #[command(flatten)]
    pub sharding: ShardArgs,

    /// Skip the check of the loaded rows against the ledger and the generator (rows per table
    /// and per well). For measuring the loader alone; `bench run` always verifies.
    #[arg(long)]
    pub no_verify: bool,

    /// Parallel COPY workers, each on its own connection (default: the scenario's
    /// [load] workers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,

    /// Rows per COPY batch, one transaction each; rounded to whole generator blocks
    /// (default: the scenario's [load] batch_size).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,

    /// Empty bench's tables and the load ledger first, then load everything. Without it a
    /// re-run resumes: batches the ledger (esp_bench_load_ledger) records as committed are
    /// skipped, so nothing is loaded twice; data of a different fleet is refused, not mixed.
    #[arg(long)]
    pub reset: bool,

    /// Progress display on stderr: auto (bars on a terminal, a line every 5 s otherwise),
    /// bars, plain, or quiet.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_progress)]
    pub progress: ProgressMode,
}

fn parse_progress(s: &str) -> Result<ProgressMode, String> {
    match s {
        "auto" => Ok(ProgressMode::Auto),
        "bars" => Ok(ProgressMode::Bars),
        "plain" => Ok(ProgressMode::Plain),
        "quiet" => Ok(ProgressMode::Quiet),
        other => Err(format!(
            "unknown progress mode {other:?} (auto, bars, plain, quiet)"
        )),
    }
}

pub async fn run(args: LoadArgs) -> anyhow::Result<Outcome> {
    let mut plan = crate::scenario::load_config(&args.scenario)?;
    if let Some(w) = args.workers {
        plan.load.workers = w;
    }
    if let Some(b) = args.batch_size {
        plan.load.batch_size = b;
    }
    args.sharding.check_server(&args.server)?;
    let shard = args.sharding.options();
    if let Some(s) = shard.as_ref().filter(|s| !s.spec.is_leader()) {
        let settings = plan.server_settings.clone();
        let results = super::with_target(&args.server, &settings, async |target| {
            load_follower(&args, &mut plan, target, s).await
        })
        .await?;
        let mut out = summary(&results);
        out.push_str(&format!(
            "shard {}: loaded its wells; the leader (shard 0) verifies the whole fleet once \
             every shard has loaded\n",
            s.spec
        ));
        print!("{out}");
        return Ok(Outcome::Pass);
    }
    let fleet = Fleet::new(&plan.fleet);
    let result = super::with_target(&args.server, &plan.server_settings, async |target| {
        let mut guard = WriteGuard::acquire(target, "bench load", args.writer.lock_wait()).await?;
        let r = load_locked(&args, &plan, &fleet, target, &mut guard, shard.as_ref()).await;
        let resumed = guard.release().await;
        let r = r?;
        let n = resumed.context("switching the schema's policy jobs back on")?;
        if n > 0 {
            eprintln!("resumed {n} policy job(s) paused for the load");
        }
        anyhow::Ok(r)
    })
    .await;
    let (results, verification) = result?;
    let mut out = summary(&results);
    if let Some(v) = &verification {
        for t in &v.tables {
            out.push_str(&format!("verified {}\n", t.note));
        }
        out.push_str(&format!(
            "verified: every table matches the ledger and the generator ({:.2} s)\n",
            v.seconds
        ));
    } else {
        out.push_str("not verified (--no-verify)\n");
    }
    print!("{out}");
    Ok(Outcome::Pass)
}

async fn load_locked(
    args: &LoadArgs,
    plan: &crate::scenario::Plan,
    fleet: &Fleet,
    target: &Target,
    guard: &mut WriteGuard,
    shard: Option<&ShardOptions>,
) -> anyhow::Result<(Vec<LoadResult>, Option<Verification>)> {
    let client = target.connect().await?;
    let info = detect::detect(&client).await?;
    schema::apply_paused(&client, &target.schema, &info, guard)
        .await
        .with_context(|| format!("applying the schema in {}", target.schema))?;
    if info.edition.is_community() {
        let how = "bench keeps the jobs paused while it loads, but they are scheduled again \
                   when it ends; a later `bench run` with reuse_data verifies the data and \
                   refuses a set the policy has cut";
        for w in crate::run::retention::retention_warnings(plan, true, how) {
            eprintln!("{w}");
        }
    }
    if args.reset {
        load::reset(target).await?;
        eprintln!(
            "reset: emptied bench's tables and the load ledger in {}",
            target.schema
        );
    }
    let opts = LoadOptions {
        progress: args.progress,
        cancel: crate::shutdown::token(),
        fault: None,
    };
    let Some(s) = shard else {
        let results = load::load_all(target, plan, fleet, opts).await?;
        if args.no_verify {
            return Ok((results, None));
        }
        let v = load::verify(target, plan, fleet, "after load", &[]).await?;
        if !v.verified {
            return Err(load::verification_error(&v));
        }
        return Ok((results, Some(v)));
    };
    // The leader of a sharded load: the ledger exists before any follower writes.
    load::account(target, plan, fleet).await?;
    let mut coord = Coordinator::open_leader(
        target,
        guard,
        plan,
        s,
        "load",
        false,
        crate::shutdown::token(),
        true,
    )
    .await?;
    let r = async {
        coord.pass("start", None).await?;
        let part = Partition {
            wells: Some(crate::shard::wells_of(plan.fleet.wells, s.spec)),
            gate: None,
            who: coord.who(),
        };
        let results = load::load_partition(target, plan, fleet, opts, &part).await?;
        let b = coord.arrive("loaded", None).await?;
        eprintln!(
            "shard {}: loaded; waiting for every shard to finish loading",
            s.spec
        );
        coord.wait_all(&b).await?;
        if args.no_verify {
            return anyhow::Ok((results, None));
        }
        let v = load::verify(target, plan, fleet, "after load", &[]).await?;
        if !v.verified {
            return Err(load::verification_error(&v));
        }
        Ok((results, Some(v)))
    }
    .await;
    match &r {
        Ok(_) => coord.close().await?,
        Err(e) => coord.fail(&format!("{e:#}")).await,
    }
    r
}

/// A follower of a sharded load: join the leader's run, load this shard's wells through the
/// run's write gate, report arrival. The leader verifies the whole fleet.
async fn load_follower(
    args: &LoadArgs,
    plan: &mut crate::scenario::Plan,
    target: &Target,
    s: &ShardOptions,
) -> anyhow::Result<Vec<LoadResult>> {
    if args.reset {
        eprintln!(
            "shard {}: --reset is the leader's (shard 0) job; this shard resets nothing",
            s.spec
        );
    }
    let cancel = crate::shutdown::token();
    let mut coord =
        Coordinator::join_follower(target, plan, s, "load", cancel.clone(), true).await?;
    let fleet = Fleet::new(&plan.fleet);
    let r = async {
        coord.pass("start", None).await?;
        let part = Partition {
            wells: Some(crate::shard::wells_of(plan.fleet.wells, s.spec)),
            gate: Some(coord.write_gate()),
            who: coord.who(),
        };
        let opts = LoadOptions {
            progress: args.progress,
            cancel,
            fault: None,
        };
        let results = load::load_partition(target, plan, &fleet, opts, &part).await?;
        coord.arrive("loaded", None).await?;
        anyhow::Ok(results)
    }
    .await;
    match r {
        Ok(r) => Ok(r),
        Err(e) => Err(coord.failed(e).await),
    }
}

/// The per-table summary: rows, seconds, rows/s.
pub fn summary(results: &[LoadResult]) -> String {
    let mut out = format!(
        "{:<20} {:>12} {:>9} {:>12} {:>8} {:>8}\n",
        "table", "rows", "seconds", "rows/s", "workers", "retries"
    );
    for r in results {
        out.push_str(&format!(
            "{:<20} {:>12} {:>9.2} {:>12.0} {:>8} {:>8}\n",
            r.table, r.rows, r.seconds, r.rows_per_sec, r.workers, r.retries
        ));
    }
    out
}

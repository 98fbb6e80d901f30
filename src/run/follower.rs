//! A follower's `bench run --shard K/N` (K > 0): join the leader's run, load this shard's
//! wells, run this shard's part of every query phase between the run's barriers (with live
//! ingest of its wells), then post the shard's summary to the leader and return it. A follower
//! holds no writer lock, applies no schema, runs no verification, preparation or checks: the
//! leader does those for the whole fleet. Every write goes through the run's write gate.

use anyhow::Context as _;
use chrono::Utc;

use super::fleet::shard_report;
use super::phases::{load_options, queries_under_ingest};
use super::pipeline::RunOptions;
use super::read_only::refuse_writes_on_external;
use super::summary::{summary, Measured};
use crate::db::Target;
use crate::error::is_interrupt;
use crate::model::report::{QueryStats, Summary};
use crate::scenario::Plan;
use crate::shard::coord::{Coordinator, ShardOptions};

/// Run `plan` as follower `shard.spec` of the leader's run on `target`.
pub async fn run_follower(
    plan: &Plan,
    target: &Target,
    opts: &RunOptions,
    shard: &ShardOptions,
) -> anyhow::Result<Summary> {
    refuse_writes_on_external(plan, target)?;
    let started_at = Utc::now();
    let mut plan = plan.clone();
    let mut coord = Coordinator::join_follower(
        target,
        &mut plan,
        shard,
        "run",
        opts.cancel.clone(),
        opts.progress,
    )
    .await?;
    let result = follow(&plan, target, opts, &mut coord, started_at).await;
    match result {
        Ok(s) => {
            if s.interrupted {
                coord.fail("interrupted").await;
            }
            Ok(s)
        }
        Err(e) => Err(coord.failed(e).await),
    }
}

async fn follow(
    plan: &Plan,
    target: &Target,
    opts: &RunOptions,
    coord: &mut Coordinator,
    started_at: chrono::DateTime<Utc>,
) -> anyhow::Result<Summary> {
    let cancel = opts.cancel.clone();
    let label = coord.spec.label();
    let say = |msg: &str| {
        if opts.progress {
            eprintln!("[{} {label}] {msg}", plan.name);
        }
    };
    let client = target.connect().await.context("connecting to the server")?;
    let (_, env) = super::host::detect(&client, target).await?;
    drop(client);
    let fleet = crate::datagen::Fleet::new(&plan.fleet);
    let part = crate::shard::divide(plan, coord.spec);
    let wells = crate::shard::wells_of(plan.fleet.wells, coord.spec);
    let gate = coord.write_gate();

    let mut interrupted = false;
    let mut load = Vec::new();
    let mut queries: Vec<QueryStats> = Vec::new();
    let mut details = Vec::new();
    let mut ingest_errors = 0;
    match coord.pass("start", None).await {
        Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
        r => r?,
    }
    if !interrupted && !coord.run.reuse {
        say(&format!("loading wells {wells:?}"));
        let load_opts = load_options(opts.progress, &cancel);
        let partition = crate::load::Partition {
            wells: Some(wells.clone()),
            gate: Some(gate.clone()),
            who: coord.who(),
        };
        match crate::load::load_partition(target, plan, &fleet, load_opts, &partition).await {
            Ok(r) => load = r,
            Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
            Err(e) => return Err(e.context(format!("{label}: loading its wells"))),
        }
    }
    if !interrupted {
        say("loaded; waiting for the leader's verification and preparation");
        match coord.pass("loaded", None).await {
            Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
            r => r?,
        }
    }
    if !interrupted && !cancel.is_cancelled() {
        let run = queries_under_ingest(
            &part,
            target,
            &fleet,
            wells.clone(),
            Some(gate.clone()),
            &cancel,
            &say,
            Some(&mut *coord),
            // Evidence capture (issue 13) is the leader's: its server figures cover every shard.
            &mut crate::probe::capture::Capture::off(),
        )
        .await?;
        queries = run.queries;
        details = run.details;
        ingest_errors = run.ingest_errors;
        load.extend(run.ingest);
        interrupted |= run.interrupted;
    }
    interrupted |= cancel.is_cancelled();
    for d in &mut details {
        d.measured_from_ms += coord.clock_offset_ms;
    }
    let degraded = ingest_errors > 0 || queries.iter().any(|q| q.errors > 0);
    let measured = Measured {
        interrupted,
        degraded,
        load,
        verification: Vec::new(),
        preparation: None,
        storage: Vec::new(),
        queries,
        checks: Vec::new(),
        verdict: crate::checks::verdict(interrupted, degraded, &[], plan.checks.unsupported),
        shard: Some(shard_report(coord, plan, &details)),
        resources: None,
        explanations: Vec::new(),
        what_if: Vec::new(),
    };
    let summary = summary(plan, env, started_at, measured)?;
    if !interrupted {
        let payload = serde_json::to_string(&summary).context("serialising the shard's summary")?;
        coord
            .arrive("queries done", Some(&payload))
            .await
            .context("posting the shard's statistics to the leader")?;
        say("done: statistics posted to the leader (its report holds the fleet's checks)");
    }
    Ok(summary)
}

//! The `bench run` pipeline as a library function: detect the server -> apply the schema ->
//! load (or reuse) the data -> query phases (optionally under live ingest) -> checks -> the
//! `Summary`. `cmd::run` wires it to the command line; `bench sweep` and the tests call
//! [`run_scenario`] directly. Writing reports is the caller's job, so a sweep can run many
//! scenarios and report once.
//!
//! Interruption (the cancellation token) never turns into an error here once the server is
//! reachable: the phases stop, and the summary is returned with `interrupted = true` and
//! whatever was measured, so the caller can write a partial report.

use anyhow::Context as _;
use chrono::{SecondsFormat, Utc};
use tokio_util::sync::CancellationToken;

use super::fleet::{gather_fleet, shard_report};
use super::phases::{load_options, queries_under_ingest};
use super::read_only::{preflight_read_only, refuse_writes_seen};
use super::retention::{declared_windows, retention_cutoffs, retention_warnings};
use super::summary::{summary, Measured};
use crate::db::Target;
use crate::error::is_interrupt;
use crate::model::report::{Environment, QueryStats, Summary};
use crate::scenario::plan::{DataState, Plan};
use crate::shard::coord::{Coordinator, ShardOptions};
use crate::shard::ShardSpec;

pub use super::phases::{LIVE_INGEST_TABLE, QUERY_APPLICATION_NAME};
pub use super::read_only::refuse_writes_on_external;

/// Options of one run that are not part of the scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stops the run (default: the process-wide SIGINT/SIGTERM token).
    pub cancel: CancellationToken,
    /// Print one line per phase on stderr.
    pub progress: bool,
    /// Empty bench's own tables and load ledger before loading (`bench run --reset`). Never
    /// implied: without it, data of another fleet in the schema is refused, not replaced.
    pub reset: bool,
    /// What to do when another bench command holds the schema's writer lock.
    pub lock_wait: crate::db::guard::LockWait,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            cancel: crate::shutdown::token(),
            progress: true,
            reset: false,
            lock_wait: crate::db::guard::LockWait::NoWait,
        }
    }
}

impl RunOptions {
    /// No progress lines, and a cancellation token of its own instead of the process-wide
    /// one: for a run embedded in another program (or a test).
    pub fn quiet(cancel: CancellationToken) -> Self {
        RunOptions {
            cancel,
            progress: false,
            ..RunOptions::default()
        }
    }
}

/// Run `plan` against `target` end to end and return its summary (reports not written).
///
/// The whole run holds the schema's writer lock and keeps the schema's policy jobs paused
/// (`db::guard`); they are switched back on whatever happens, before this returns.
pub async fn run_scenario(
    plan: &Plan,
    target: &Target,
    opts: RunOptions,
) -> anyhow::Result<Summary> {
    run_scenario_sharded(plan, target, opts, None).await
}

/// [`run_scenario`] as one shard of a sharded run (`--shard K/N`, see `crate::shard`), or
/// unsharded when `shard` is `None`. The leader (shard 0) holds the writer lock like an
/// unsharded run; a follower takes none and joins the leader's run.
pub async fn run_scenario_sharded(
    plan: &Plan,
    target: &Target,
    opts: RunOptions,
    shard: Option<&ShardOptions>,
) -> anyhow::Result<Summary> {
    if let Some(s) = shard.filter(|s| !s.spec.is_leader()) {
        return super::follower::run_follower(plan, target, &opts, s).await;
    }
    refuse_writes_on_external(plan, target)?;
    let mut guard = crate::db::guard::WriteGuard::acquire(target, "bench run", opts.lock_wait)
        .await
        .context("taking the schema's writer lock")?;
    let result = run_locked(plan, target, &opts, &mut guard, shard).await;
    let resumed = guard.release().await;
    let summary = result?;
    let n = resumed.context("switching the schema's policy jobs back on")?;
    if n > 0 && opts.progress {
        eprintln!(
            "[{}] resumed {n} policy job(s) paused for the run",
            plan.name
        );
    }
    Ok(summary)
}

async fn run_locked(
    plan: &Plan,
    target: &Target,
    opts: &RunOptions,
    guard: &mut crate::db::guard::WriteGuard,
    shard: Option<&ShardOptions>,
) -> anyhow::Result<Summary> {
    let cancel = opts.cancel.clone();
    let started_at = Utc::now();
    let say = |msg: &str| {
        if opts.progress {
            eprintln!("[{}] {msg}", plan.name);
        }
    };

    let client = target.connect().await.context("connecting to the server")?;
    let (info, environment) = super::host::detect(&client, target).await?;
    // Policy jobs are created paused (in the schema's own transaction) and stay paused until
    // the guard is released: no compression or retention job rewrites chunks mid-load or
    // mid-measurement, and none drops a fixed-end data set before it is queried.
    let report = crate::db::schema::apply_paused(&client, &target.schema, &info, guard)
        .await
        .with_context(|| format!("applying the schema in {}", target.schema))?;
    if !guard.paused().is_empty() {
        say(&format!(
            "paused {} policy job(s) for the run (switched back on when it ends)",
            guard.paused().len()
        ));
    }
    drop(report);
    preflight_read_only(plan, target).await?;
    drop(client);
    if opts.reset && !cancel.is_cancelled() {
        say("--reset: emptying bench's tables and load ledger");
        crate::load::reset(target)
            .await
            .context("resetting bench's tables (--reset)")?;
    }
    let windows = {
        let client = target.connect().await?;
        crate::db::steady::policy_windows(&client, &target.schema, &declared_windows()).await?
    };
    let fleet = crate::datagen::Fleet::new(&plan.fleet);

    // A sharded run: open it now that the schema, the reset and the ledger are in place, so
    // followers never race the leader on them.
    let mut coordinator = match shard {
        Some(s) if !cancel.is_cancelled() => {
            // Creates the ledger (followers only read it) and decides on reuse.
            let complete = crate::load::account(target, plan, &fleet)
                .await
                .context("reading the load ledger")?
                .complete();
            let reuse = plan.run.reuse_data && complete;
            Some(
                Coordinator::open_leader(
                    target,
                    guard,
                    plan,
                    s,
                    "run",
                    reuse,
                    cancel.clone(),
                    opts.progress,
                )
                .await
                .context("opening the sharded run")?,
            )
        }
        _ => None,
    };
    let ctx = RunContext {
        plan,
        target,
        opts,
        info: &info,
        environment,
        started_at,
        windows: &windows,
        fleet: &fleet,
    };
    let result = measure(&ctx, coordinator.as_mut()).await;
    // A cold phase restarted the embedded server, which closed the writer lock's session:
    // take it again so the paused jobs are switched back on.
    if !plan.run.cache.is_hot() && target.is_embedded() {
        if let Err(e) = guard.reconnect(target).await {
            if result.is_ok() {
                return Err(e);
            }
        }
    }
    if let Some(c) = &coordinator {
        match &result {
            Ok(s) if !s.interrupted => c.close().await.context("closing the sharded run")?,
            Ok(_) => c.fail("the leader was interrupted").await,
            Err(e) => c.fail(&format!("{e:#}")).await,
        }
    }
    result
}

/// What every stage of a run after the schema needs.
pub(crate) struct RunContext<'a> {
    pub plan: &'a Plan,
    pub target: &'a Target,
    pub opts: &'a RunOptions,
    pub info: &'a crate::db::detect::ServerInfo,
    pub environment: Environment,
    pub started_at: chrono::DateTime<Utc>,
    pub windows: &'a [crate::db::steady::Windows],
    pub fleet: &'a crate::datagen::Fleet,
}

/// Load (or reuse), prepare, query, check: the run after the schema is in place. With a
/// coordinator this process is the leader of a sharded run: it loads its wells, verifies the
/// whole fleet once every shard has loaded, and evaluates the checks on every shard's
/// statistics; its summary holds its own statistics and the fleet's checks.
async fn measure(
    ctx: &RunContext<'_>,
    mut coord: Option<&mut Coordinator>,
) -> anyhow::Result<Summary> {
    let RunContext {
        plan,
        target,
        opts,
        info,
        windows,
        fleet,
        ..
    } = *ctx;
    let cancel = opts.cancel.clone();
    let say = |msg: &str| {
        if opts.progress {
            eprintln!("[{}] {msg}", plan.name);
        }
    };
    let spec = coord.as_ref().map_or(ShardSpec::WHOLE, |c| c.spec);
    let part = crate::shard::divide(plan, spec);
    let wells = crate::shard::wells_of(plan.fleet.wells, spec);

    let mut interrupted = false;
    let mut load = Vec::new();
    let mut verification = Vec::new();
    let mut reused = false;
    let mut loaded_barrier = None;
    if !cancel.is_cancelled() {
        if let Some(c) = coord.as_deref_mut() {
            match c.pass("start", None).await {
                Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
                r => r?,
            }
        }
        let reuse = match coord.as_deref() {
            Some(c) => c.run.reuse,
            None => {
                plan.run.reuse_data
                    && crate::load::account(target, plan, fleet)
                        .await
                        .context("reading the load ledger")?
                        .complete()
            }
        };
        if interrupted {
        } else if reuse {
            say("data already loaded (reuse_data = true): verifying it before it is reused");
            let from = match plan.run.state {
                DataState::Steady => retention_cutoffs(plan, windows),
                DataState::Fresh => Vec::new(),
            };
            let v = crate::load::verify(target, plan, fleet, "before reuse", &from)
                .await
                .context("verifying the reused data")?;
            for t in &v.tables {
                say(&t.note);
            }
            if !v.verified {
                return Err(crate::load::verification_error(&v));
            }
            reused = true;
            verification.push(v);
            if let Some(c) = coord.as_deref_mut() {
                let b = c.arrive("loaded", None).await?;
                c.wait_all(&b).await?;
                loaded_barrier = Some(b);
            }
        } else {
            let how = format!(
                "bench keeps the policy jobs paused while it works and applies retention from \
                 the data end ({}) instead",
                plan.fleet.end.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            for w in retention_warnings(plan, info.edition.is_community(), &how) {
                say(&w);
            }
            say(&match coord.as_deref() {
                Some(c) => format!("loading data ({}: wells {wells:?})", c.spec.label()),
                None => "loading data".to_string(),
            });
            let load_opts = load_options(opts.progress, &cancel);
            let partition = crate::load::Partition {
                wells: coord.as_ref().map(|_| wells.clone()),
                gate: None,
                who: coord.as_ref().map(|c| c.who()).unwrap_or_default(),
            };
            match crate::load::load_partition(target, plan, fleet, load_opts, &partition).await {
                Ok(results) => load = results,
                Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
                Err(e) => return Err(e.context("loading the scenario's data")),
            }
            // Every shard has loaded its wells before the whole fleet is verified.
            if !interrupted && !cancel.is_cancelled() {
                if let Some(c) = coord.as_deref_mut() {
                    let b = c.arrive("loaded", None).await?;
                    say("waiting for every shard to finish loading");
                    match c.wait_all(&b).await {
                        Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
                        r => r?,
                    }
                    loaded_barrier = Some(b);
                }
            }
            if !interrupted && !cancel.is_cancelled() {
                let v = crate::load::verify(target, plan, fleet, "after load", &[])
                    .await
                    .context("verifying the loaded data")?;
                say(&format!(
                    "verified the load against the ledger and the generator in {:.2} s",
                    v.seconds
                ));
                if !v.verified {
                    return Err(crate::load::verification_error(&v));
                }
                verification.push(v);
            }
        }
    }

    // Storage as loaded, then the state production keeps.
    let mut storage_before = None;
    let mut preparation = None;
    if !interrupted && !cancel.is_cancelled() {
        let client = target.connect().await?;
        storage_before = Some(
            crate::run::checks::measure_storage(&client, info, &target.schema)
                .await
                .context("measuring storage")?,
        );
        let mut prep = match plan.run.state {
            DataState::Steady => {
                say("bringing the hypertables to steady state (compression and retention from the data end)");
                let r = tokio::select! {
                    r = crate::db::steady::prepare(&client, info, &target.schema, windows, plan.fleet.end) => Some(r),
                    _ = cancel.cancelled() => {
                        let _ = client.cancel_token().cancel_query(tokio_postgres::NoTls).await;
                        None
                    }
                };
                match r {
                    Some(r) => r.context("steady-state preparation")?,
                    None => {
                        interrupted = true;
                        crate::db::steady::fresh(0.0)
                    }
                }
            }
            DataState::Fresh => crate::db::steady::fresh(
                crate::db::steady::maintain(
                    &client,
                    &target.schema,
                    windows,
                    crate::db::steady::Maintenance::Analyze,
                )
                .await
                .context("gathering planner statistics (ANALYZE)")?,
            ),
        };
        if reused {
            prep.notes.push(
                "data reused: storage figures describe the data as found, not as loaded".into(),
            );
        }
        for line in crate::db::steady::summary_lines(&prep) {
            say(&line);
        }
        preparation = Some(prep);
    }
    // The followers wait at `loaded` while the leader verifies and prepares.
    if let (Some(c), Some(b)) = (coord.as_deref(), &loaded_barrier) {
        if !interrupted && !cancel.is_cancelled() {
            c.release(b, crate::shard::coord::START_LEAD).await?;
            c.wait_release(b).await?;
        }
    }

    let mut queries: Vec<QueryStats> = Vec::new();
    let mut details = Vec::new();
    let mut ingest_errors = 0;
    // Evidence capture: pg_stat_statements, resource samples, cold phases.
    let mut capture = crate::probe::capture::Capture::off();
    let mut resources = None;
    if !interrupted && !cancel.is_cancelled() {
        capture = crate::probe::capture::Capture::start(plan, target).await;
        capture.plan_cache(plan, target, part.ingest.is_some(), coord.is_some());
        for n in capture.cache_notes() {
            say(n);
        }
        if let Some(ip) = &part.ingest {
            say(&format!(
                "live ingest during the query phase: {}",
                match ip.rows_per_sec {
                    Some(r) => format!("{r} rows/s"),
                    None => "every well at its sample interval".to_string(),
                }
            ));
        }
        let run = queries_under_ingest(
            &part,
            target,
            fleet,
            wells.clone(),
            None,
            &cancel,
            &say,
            coord.as_deref_mut(),
            &mut capture,
        )
        .await?;
        queries = run.queries;
        details = run.details;
        ingest_errors = run.ingest_errors;
        load.extend(run.ingest);
        interrupted |= run.interrupted;
        refuse_writes_seen(&queries)?;
    }
    let cache_notes: Vec<String> = capture.cache_notes().to_vec();
    if capture.enabled() {
        resources = capture.finish(&mut queries);
    }
    interrupted |= cancel.is_cancelled();
    let offset = coord.as_ref().map_or(0.0, |c| c.clock_offset_ms);
    for d in &mut details {
        d.measured_from_ms += offset;
    }

    // A sharded run: every shard's statistics, for the checks.
    let mut fleet_queries = queries.clone();
    let mut fleet_degraded = false;
    if let Some(c) = coord.as_deref_mut() {
        if !interrupted {
            let own = shard_report(c, plan, &details);
            let (q, degraded) = gather_fleet(c, &own, &queries, &cancel, &say).await?;
            fleet_queries = q;
            fleet_degraded = degraded;
            refuse_writes_seen(&fleet_queries)?;
        }
    }

    let (checks, storage) = if interrupted {
        (Vec::new(), storage_before.unwrap_or_default())
    } else {
        say("running checks");
        let client = target
            .connect()
            .await
            .context("connecting for the checks phase")?;
        match crate::run::checks::run_checks_phase_until(
            &client,
            info,
            &target.schema,
            plan,
            &fleet_queries,
            storage_before,
            &cancel,
        )
        .await
        {
            Ok(o) => {
                o.annotate(&mut queries);
                if plan.run.capture {
                    crate::probe::evidence::attach_plans(&o.plan_documents, &mut queries);
                }
                (o.checks, o.storage)
            }
            Err(e) if is_interrupt(&e, &cancel) => {
                interrupted = true;
                (Vec::new(), Vec::new())
            }
            Err(e) => return Err(e.context("checks phase")),
        }
    };
    // What-if alternatives, then one explanation per failed check.
    let (what_if, explanations) = if interrupted {
        (Vec::new(), Vec::new())
    } else {
        crate::probe::whatif::run_and_explain(
            plan, target, info, &checks, &queries, &storage, &cancel, &say,
        )
        .await
    };
    if let Some(p) = preparation.as_mut() {
        p.notes.extend(cache_notes);
    }
    let degraded = ingest_errors > 0 || queries.iter().any(|q| q.errors > 0);
    let verdict = crate::checks::verdict(
        interrupted,
        degraded || fleet_degraded,
        &checks,
        plan.checks.unsupported,
    );

    let measured = Measured {
        interrupted,
        degraded,
        load,
        verification,
        preparation,
        storage,
        queries,
        checks,
        verdict,
        shard: coord.as_deref().map(|c| shard_report(c, plan, &details)),
        resources,
        explanations,
        what_if,
    };
    summary(plan, ctx.environment.clone(), ctx.started_at, measured)
}

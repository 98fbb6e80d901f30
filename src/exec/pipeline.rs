//! The `bench run` pipeline as a library function: detect the server -> apply the schema ->
//! load (or reuse) the data -> query phases (optionally under live ingest) -> checks -> the
//! `Summary`. `cmd::run` wires it to the command line; `bench sweep` and the tests call
//! [`run_scenario`] directly. Writing reports is the caller's job, so a sweep can run many
//! scenarios and report once.
//!
//! Interruption (the cancellation token) never turns into an error here once the server is
//! reachable: the phases stop, and the summary is returned with `interrupted = true` and
//! whatever was measured, so the caller can write a partial report.

use std::collections::BTreeMap;

use anyhow::Context as _;
use chrono::{SecondsFormat, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::db::Target;
use crate::error::BenchError;
use crate::exec::queries::ParamContext;
use crate::exec::runner::{run_phase_dedicated, ExecSettings, Phase};
use crate::report::model::{
    CheckResult, Environment, LoadResult, QueryStats, ScenarioEcho, Summary, Verdict, FORMAT_NAME,
    SCHEMA_VERSION,
};
use crate::scenario::plan::{DataState, Plan, UnsupportedEffect};
use crate::shard::coord::{Coordinator, ShardOptions};
use crate::shard::ShardSpec;

/// `table` of the load row that reports live ingest during the query phase.
pub const LIVE_INGEST_TABLE: &str = "esp_telemetry (live ingest)";

/// `application_name` of the query connections; fault tests terminate backends by it.
pub const QUERY_APPLICATION_NAME: &str = "esp-bench-query";

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

pub(crate) fn is_interrupt(err: &anyhow::Error, cancel: &CancellationToken) -> bool {
    cancel.is_cancelled()
        || err.chain().any(|c| {
            matches!(
                c.downcast_ref::<BenchError>(),
                Some(BenchError::Interrupted)
            )
        })
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
        return super::sharded::run_follower(plan, target, &opts, s).await;
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

/// Queries that write run only where no user data can be: on bench's embedded throwaway
/// server. Refused (exit 2) on any other server, before anything is touched.
pub fn refuse_writes_on_external(plan: &Plan, target: &Target) -> anyhow::Result<()> {
    let writing: Vec<&str> = plan
        .queries
        .iter()
        .filter(|q| q.writes)
        .map(|q| q.name.as_str())
        .collect();
    if !writing.is_empty() && !target.is_embedded() {
        return Err(BenchError::Config(format!(
            "query {} sets `writes = true`: writing queries run only on bench's embedded \
             throwaway server, never on a server given by --database-url, because their SQL \
             could write outside bench's schema",
            writing
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    Ok(())
}

/// Data older than now() minus a retention policy's window will be dropped by that policy
/// once it runs: say so before loading.
pub fn retention_warnings(plan: &Plan, community: bool, what_bench_does: &str) -> Vec<String> {
    if !community {
        return Vec::new();
    }
    let now = Utc::now();
    let start = plan.fleet.start();
    crate::checks::eval::TABLES
        .iter()
        .filter_map(|spec| {
            let policy_cutoff = now - chrono::Duration::seconds(spec.drop_after_s as i64);
            (start < policy_cutoff).then(|| {
                format!(
                    "note: {}: this scenario's data starts {} but its retention policy keeps \
                     only what is newer than now() - {} ({}): once the policy runs it drops \
                     that part. {what_bench_does}",
                    spec.table,
                    start.to_rfc3339_opts(SecondsFormat::Secs, true),
                    crate::checks::eval::fmt_secs(spec.drop_after_s as f64),
                    policy_cutoff.to_rfc3339_opts(SecondsFormat::Secs, true),
                )
            })
        })
        .collect()
}

/// The windows of production's policies as the migration notes declare them.
pub fn declared_windows() -> Vec<crate::db::steady::Windows> {
    crate::checks::eval::TABLES
        .iter()
        .map(|t| crate::db::steady::Windows {
            table: t.table,
            compress_after_s: t.compress_after_s,
            drop_after_s: t.drop_after_s,
        })
        .collect()
}

/// Each table's retention cutoff (data end − drop_after): what steady state keeps.
fn retention_cutoffs(
    plan: &Plan,
    windows: &[crate::db::steady::Windows],
) -> Vec<(crate::load::Table, chrono::DateTime<Utc>)> {
    crate::load::Table::ALL
        .iter()
        .filter_map(|t| {
            windows.iter().find(|w| w.table == t.name()).map(|w| {
                (
                    *t,
                    plan.fleet.end - chrono::Duration::seconds(w.drop_after_s as i64),
                )
            })
        })
        .collect()
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
    let info = crate::db::detect::detect(&client)
        .await
        .context("detecting the server's PostgreSQL and TimescaleDB versions")?;
    let settings = server_settings(&client).await?;
    let environment = environment(&info, target, settings);
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
    // Evidence capture (issue 13): a cold phase restarted the embedded server, which closed
    // the writer lock's session; take it again so the paused jobs are switched back on.
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
            let load_opts = crate::load::LoadOptions {
                progress: if opts.progress {
                    crate::load::ProgressMode::Auto
                } else {
                    crate::load::ProgressMode::Quiet
                },
                cancel: cancel.clone(),
                fault: None,
            };
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
            crate::checks::phase::measure_storage(&client, info, &target.schema)
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
                crate::db::steady::analyze(&client, &target.schema, windows)
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
    // Evidence capture (issue 13): pg_stat_statements, resource samples, cold phases.
    let mut capture = crate::probe::capture::Capture::off();
    let mut resources = None;
    if !interrupted && !cancel.is_cancelled() {
        capture = crate::probe::capture::Capture::start(plan, target).await;
        capture.plan_cache(plan, target, part.ingest.is_some(), coord.is_some());
        for n in capture.cache_notes() {
            say(n);
        }
        let ingest = match &part.ingest {
            Some(ip) => {
                say(&format!(
                    "live ingest during the query phase: {}",
                    match ip.rows_per_sec {
                        Some(r) => format!("{r} rows/s"),
                        None => "every well at its sample interval".to_string(),
                    }
                ));
                Some(
                    crate::load::LiveIngest::start_partition(
                        target,
                        &part,
                        fleet,
                        wells.clone(),
                        None,
                        cancel.clone(),
                    )
                    .context("starting live ingest")?,
                )
            }
            None => None,
        };
        capture.set_ingest(ingest.as_ref().map(|i| i.committed_rows()));
        let result = query_phases(
            &part,
            target,
            &cancel,
            &say,
            &mut queries,
            &mut details,
            coord.as_deref_mut(),
            &mut capture,
        )
        .await;
        if let Some(ingest) = ingest {
            let st = ingest.stop().await;
            ingest_errors = st.errors;
            load.push(LoadResult {
                table: LIVE_INGEST_TABLE.to_string(),
                rows: st.rows,
                seconds: st.seconds,
                rows_per_sec: st.rows_per_sec,
                workers: 1,
                batch_size: plan.ingest.as_ref().map_or(0, |i| i.batch_size),
                retries: st.errors,
            });
        }
        match result {
            Ok(was_interrupted) => interrupted |= was_interrupted,
            Err(e) if is_interrupt(&e, &cancel) => interrupted = true,
            Err(e) => return Err(e),
        }
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
        match crate::checks::run_checks_phase_until(
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
                // Evidence capture (issue 13): the plans as evidence and report files.
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
    // Evidence capture (issue 13): what-if alternatives, then one explanation per failed check.
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
    let verdict = verdict(
        interrupted,
        degraded || fleet_degraded,
        &checks,
        plan.checks.unsupported,
    );

    Ok(Summary {
        format: FORMAT_NAME.to_string(),
        schema_version: SCHEMA_VERSION,
        bench_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: ScenarioEcho {
            name: plan.name.clone(),
            file: plan.file.clone(),
            fingerprint: crate::scenario::fingerprint(plan),
            resolved: serde_json::to_value(plan).context("serialising the resolved scenario")?,
        },
        environment: ctx.environment.clone(),
        started_at: ctx.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        interrupted,
        degraded,
        load,
        verification,
        preparation,
        writes: plan.queries.iter().any(|q| q.writes),
        storage,
        queries,
        checks,
        comparison: None,
        verdict,
        shard: coord.as_deref().map(|c| shard_report(c, plan, &details)),
        resources,
        explanations,
        what_if,
    })
}

/// This shard's `summary.shard` section.
pub(crate) fn shard_report(
    c: &Coordinator,
    plan: &Plan,
    details: &[crate::report::model::ShardQueryDetail],
) -> crate::report::model::ShardReport {
    let wells = crate::shard::wells_of(plan.fleet.wells, c.spec);
    crate::report::model::ShardReport {
        run_id: c.run.run_id.clone(),
        index: c.spec.index,
        count: c.spec.count,
        wells_start: wells.start,
        wells_end: wells.end,
        host: crate::shard::coord::host_name(),
        pid: std::process::id(),
        clock_offset_ms: c.clock_offset_ms,
        stats_interval_s: plan.run.stats_interval.as_secs_f64(),
        queries: details.to_vec(),
    }
}

/// Leader: wait for every shard's report at the last barrier and merge their statistics with
/// its own. Returns the fleet's statistics and whether any follower was degraded.
async fn gather_fleet(
    c: &mut Coordinator,
    own: &crate::report::model::ShardReport,
    queries: &[QueryStats],
    cancel: &CancellationToken,
    say: &impl Fn(&str),
) -> anyhow::Result<(Vec<QueryStats>, bool)> {
    let b = c.arrive("queries done", None).await?;
    say("waiting for every shard's statistics");
    match c.wait_all(&b).await {
        Err(e) if is_interrupt(&e, cancel) => return Err(BenchError::Interrupted.into()),
        r => r?,
    }
    let mut followers: Vec<Summary> = Vec::new();
    for (k, payload) in c.payloads().await? {
        if k == 0 {
            continue;
        }
        let text = payload.ok_or_else(|| {
            BenchError::Environment(format!(
                "shard {k}/{} reached the end without posting its statistics",
                c.spec.count
            ))
        })?;
        let s: Summary = serde_json::from_str(&text).map_err(|e| {
            BenchError::Environment(format!(
                "shard {k}/{} posted statistics bench cannot read: {e}",
                c.spec.count
            ))
        })?;
        followers.push(s);
    }
    let paths: Vec<std::path::PathBuf> = (0..c.spec.count)
        .map(|k| std::path::PathBuf::from(format!("shard {k}/{}", c.spec.count)))
        .collect();
    let mut parts = vec![crate::shard::merge::QueryPart {
        path: &paths[0],
        shard: own,
        queries,
    }];
    for f in &followers {
        let Some(sh) = f.shard.as_ref() else { continue };
        parts.push(crate::shard::merge::QueryPart {
            path: &paths[(sh.index as usize).min(paths.len() - 1)],
            shard: sh,
            queries: &f.queries,
        });
    }
    let merged = crate::shard::merge::merge_queries(&parts)?;
    let degraded = followers.iter().any(|f| f.degraded || f.interrupted);
    Ok((merged, degraded))
}

/// SQLSTATE 25006: a statement tried to write in a read-only transaction.
const READ_ONLY_VIOLATION: &str = "25006";

/// A query that tried to write during the query phase ends the run (exit 2), naming it.
fn refuse_writes_seen(queries: &[QueryStats]) -> anyhow::Result<()> {
    let offenders: Vec<String> = queries
        .iter()
        .filter(|q| q.errors_by_sqlstate.contains_key(READ_ONLY_VIOLATION))
        .map(|q| format!("`{}`", q.name))
        .collect();
    if offenders.is_empty() {
        return Ok(());
    }
    Err(BenchError::Config(format!(
        "query {} tried to write during the query phase (SQLSTATE 25006, read-only \
         transaction): the query phase is read-only; a query that must write sets \
         `writes = true` (embedded server only)",
        offenders.join(", ")
    ))
    .into())
}

/// Run each custom query that does not declare `writes = true` once, in a read-only
/// transaction that is rolled back, before any data is loaded: a query that writes is refused
/// (exit 2) before it can touch anything, naming the query. Other failures are left to the
/// query phase, which counts them.
async fn preflight_read_only(plan: &Plan, target: &Target) -> anyhow::Result<()> {
    let customs: Vec<(usize, &crate::scenario::plan::QueryPlan)> = plan
        .queries
        .iter()
        .enumerate()
        .filter(|(_, q)| {
            !q.writes && matches!(q.kind, crate::scenario::plan::QueryKind::Custom { .. })
        })
        .collect();
    if customs.is_empty() {
        return Ok(());
    }
    let client = target.connect().await?;
    let ctx = ParamContext::from_plan(plan);
    for (i, q) in customs {
        let sql = crate::exec::queries::sql_for(q);
        let mut rng = crate::exec::queries::rng_for(plan.fleet.seed, 0xF11E_0000 + i as u64, 0);
        let params = crate::exec::queries::params_for(q, &ctx, &mut rng);
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        client
            .batch_execute("BEGIN READ ONLY; SET LOCAL statement_timeout = '5s'")
            .await
            .context("preflight of the custom queries")?;
        let r = client.query(sql.as_str(), &refs).await;
        let _ = client.batch_execute("ROLLBACK").await;
        if let Err(e) = r {
            if e.code().map(|c| c.code()) == Some(READ_ONLY_VIOLATION) {
                return Err(BenchError::Config(format!(
                    "query `{}` writes ({}): the query phase is read-only, so bench refuses it \
                     before loading anything. A query that must write sets `writes = true`, and \
                     then runs only on bench's embedded throwaway server",
                    q.name,
                    crate::db::pg_error_text(&e)
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// Every per-query phase in file order, then the mix. Returns true when interrupted.
///
/// With a coordinator (a sharded run) every phase starts at a barrier, so all shards measure
/// the same window; a shard whose share of a phase is nothing (0 clients, or a count of 0)
/// records no phase for it but still meets the barrier.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn query_phases(
    plan: &Plan,
    target: &Target,
    cancel: &CancellationToken,
    say: &impl Fn(&str),
    out: &mut Vec<QueryStats>,
    details: &mut Vec<crate::report::model::ShardQueryDetail>,
    mut coord: Option<&mut Coordinator>,
    capture: &mut crate::probe::capture::Capture,
) -> anyhow::Result<bool> {
    let settings = ExecSettings {
        seed: plan.fleet.seed,
        ctx: ParamContext::from_plan(plan),
        stats_interval: plan.run.stats_interval,
        statement_timeout: plan.run.statement_timeout,
        application_name: QUERY_APPLICATION_NAME.to_string(),
        read_only: true,
    };
    let offset = coord
        .as_ref()
        .map_or(0, |c| crate::shard::stream_offset(c.spec));
    let mut phases: Vec<Phase> = plan
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| Phase::single(q, i))
        .collect();
    if let Some(mix) = &plan.mix {
        let weighted: Vec<_> = plan
            .queries
            .iter()
            .filter(|q| q.weight > 0)
            .cloned()
            .collect();
        if !weighted.is_empty() {
            phases.push(Phase {
                label: "mix:".into(),
                queries: weighted,
                mode: mix.mode.clone(),
                warmup: mix.warmup,
                stop: mix.stop.clone(),
                stream: plan.queries.len() as u64,
                plan_cache_mode: mix.plan_cache_mode,
            });
        }
    }
    for mut phase in phases {
        if cancel.is_cancelled() {
            return Ok(true);
        }
        let name = match phase.queries.as_slice() {
            [one] if phase.label.is_empty() => one.name.clone(),
            _ => "mix".to_string(),
        };
        if let Some(c) = coord.as_deref_mut() {
            match c.pass(&format!("phase {name}"), None).await {
                Err(e) if is_interrupt(&e, cancel) => return Ok(true),
                r => r?,
            }
            if !crate::shard::runs_anything(&phase.mode, &phase.stop) {
                say(&format!("query phase {name}: no clients on this shard"));
                continue;
            }
            phase.stream += offset;
        }
        // Evidence capture (issue 13): each cache state the scenario asks for (cold first).
        for run in capture.cache_runs() {
            if cancel.is_cancelled() {
                return Ok(true);
            }
            let (phase, name) = capture
                .prepare_phase(target, &phase, &name, run, say)
                .await?;
            say(&format!("query phase {name}"));
            let probe = capture.begin(target, &phase, &name).await;
            // The phase runs on its own thread, on its own connections to the same target.
            let conn = Target::for_url(&target.url, &target.schema)?;
            let mut phase_settings = settings.clone();
            phase_settings.read_only = !phase.queries.iter().any(|q| q.writes);
            let outcome = run_phase_dedicated(conn, phase.clone(), phase_settings, cancel.clone())
                .await
                .with_context(|| format!("query phase `{name}`"))?;
            capture.end(probe, &outcome.stats).await;
            out.extend(outcome.stats);
            details.extend(outcome.details);
            if outcome.interrupted {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Interrupted beats everything; then any failed check or a degraded run fails.
pub fn verdict(
    interrupted: bool,
    degraded: bool,
    checks: &[CheckResult],
    unsupported: UnsupportedEffect,
) -> Verdict {
    if interrupted {
        return Verdict::Interrupted;
    }
    let failed = checks
        .iter()
        .any(|c| crate::checks::eval::counts_as_failure(c, unsupported));
    if failed || degraded {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// Server settings that shape benchmark results, as the server reports them.
pub const REPORTED_SETTINGS: [&str; 14] = [
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_connections",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "jit",
    "random_page_cost",
    "synchronous_commit",
    "fsync",
    "timescaledb.max_background_workers",
    "timescaledb.license",
];

pub(crate) async fn server_settings(client: &Client) -> anyhow::Result<BTreeMap<String, String>> {
    let names: Vec<String> = REPORTED_SETTINGS.iter().map(|s| s.to_string()).collect();
    let rows = client
        .query(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1)",
            &[&names],
        )
        .await
        .context("reading the server's settings")?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
        .collect())
}

pub(crate) fn environment(
    info: &crate::db::detect::ServerInfo,
    target: &Target,
    settings: BTreeMap<String, String>,
) -> Environment {
    Environment {
        postgres_version: info.postgres_version.clone(),
        timescaledb_version: info.timescaledb_version.clone(),
        edition: info.edition.to_string(),
        server: if target.is_embedded() {
            "embedded".into()
        } else {
            "external".into()
        },
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_bytes: memory_bytes().unwrap_or(0),
        os: os_description(),
        settings,
        shards: Vec::new(),
    }
}

/// `MemTotal` from /proc/meminfo, bytes.
pub fn memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn os_description() -> String {
    match nix::sys::utsname::uname() {
        Ok(u) => format!(
            "{} {} {}",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy(),
            u.machine().to_string_lossy()
        ),
        Err(_) => std::env::consts::OS.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::CheckStatus;

    fn check(status: CheckStatus) -> CheckResult {
        CheckResult {
            name: "x".into(),
            kind: "latency".into(),
            target: "<= 1".into(),
            measured: Some(1.0),
            measured_text: None,
            status,
            note: None,
        }
    }

    #[test]
    fn verdict_rules() {
        let skip = UnsupportedEffect::Skip;
        let fail = UnsupportedEffect::Fail;
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Pass)], skip),
            Verdict::Pass
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Fail)], skip),
            Verdict::Fail
        );
        assert_eq!(
            verdict(false, true, &[check(CheckStatus::Pass)], skip),
            Verdict::Fail
        );
        assert_eq!(
            verdict(true, true, &[check(CheckStatus::Fail)], skip),
            Verdict::Interrupted
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Unsupported)], skip),
            Verdict::Pass
        );
        assert_eq!(
            verdict(false, false, &[check(CheckStatus::Unsupported)], fail),
            Verdict::Fail
        );
    }

    #[test]
    fn meminfo_parses() {
        assert_eq!(
            parse_meminfo("MemTotal:       16318480 kB\nMemFree: 1 kB\n"),
            Some(16318480 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
    }
}

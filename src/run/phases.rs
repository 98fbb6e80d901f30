//! The query phases of a run: every query's phase in file order, then the mix, each on its
//! own connections; optionally under live ingest of the shard's wells. The leader and the
//! followers of a sharded run share this.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::datagen::Fleet;
use crate::db::Target;
use crate::error::is_interrupt;
use crate::exec::queries::ParamContext;
use crate::exec::runner::{run_phase_dedicated, ExecSettings, Phase};
use crate::model::report::{LoadResult, QueryStats, ShardQueryDetail};
use crate::scenario::plan::Plan;
use crate::shard::coord::Coordinator;

/// `table` of the load row that reports live ingest during the query phase.
pub const LIVE_INGEST_TABLE: &str = "esp_telemetry (live ingest)";

pub use crate::exec::QUERY_APPLICATION_NAME;

/// What the query phases measured, and live ingest's figures when it ran.
pub(crate) struct QueryRun {
    pub queries: Vec<QueryStats>,
    pub details: Vec<ShardQueryDetail>,
    /// The live-ingest load row, when the scenario has `[ingest]`.
    pub ingest: Option<LoadResult>,
    /// Batches live ingest failed to write.
    pub ingest_errors: u64,
    pub interrupted: bool,
}

/// The query phases of `part` (the whole plan, or one shard's part of it), under live ingest
/// of `wells` when the scenario has `[ingest]` (through the run's write `gate` in a sharded
/// run). Ingest is stopped, and its figures kept, whatever the phases returned. An
/// interruption is not an error: it comes back as `interrupted`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn queries_under_ingest(
    part: &Plan,
    target: &Target,
    fleet: &Fleet,
    wells: std::ops::Range<u32>,
    gate: Option<String>,
    cancel: &CancellationToken,
    say: &impl Fn(&str),
    coord: Option<&mut Coordinator>,
    capture: &mut crate::probe::capture::Capture,
) -> anyhow::Result<QueryRun> {
    let ingest = match &part.ingest {
        Some(_) => Some(
            crate::load::LiveIngest::start_partition(
                target,
                part,
                fleet,
                wells,
                gate,
                cancel.clone(),
            )
            .context("starting live ingest")?,
        ),
        None => None,
    };
    capture.set_ingest(ingest.as_ref().map(|i| i.committed_rows()));
    let mut run = QueryRun {
        queries: Vec::new(),
        details: Vec::new(),
        ingest: None,
        ingest_errors: 0,
        interrupted: false,
    };
    let result = query_phases(
        part,
        target,
        cancel,
        say,
        &mut run.queries,
        &mut run.details,
        coord,
        capture,
    )
    .await;
    // A query's rounds become one entry (a query with one round is kept as it is).
    let (queries, details) = super::rounds::merge_rounds(
        std::mem::take(&mut run.queries),
        std::mem::take(&mut run.details),
    )?;
    run.queries = queries;
    run.details = details;
    if let Some(ingest) = ingest {
        let st = ingest.stop().await;
        run.ingest_errors = st.errors;
        run.ingest = Some(LoadResult {
            table: LIVE_INGEST_TABLE.to_string(),
            rows: st.rows,
            seconds: st.seconds,
            rows_per_sec: st.rows_per_sec,
            workers: 1,
            batch_size: part.ingest.as_ref().map_or(0, |i| i.batch_size),
            retries: st.errors,
        });
    }
    match result {
        Ok(was_interrupted) => run.interrupted = was_interrupted,
        Err(e) if is_interrupt(&e, cancel) => run.interrupted = true,
        Err(e) => return Err(e),
    }
    Ok(run)
}

/// The loader's options for a run: progress bars when the run reports progress.
pub(crate) fn load_options(progress: bool, cancel: &CancellationToken) -> crate::load::LoadOptions {
    crate::load::LoadOptions {
        progress: if progress {
            crate::load::ProgressMode::Auto
        } else {
            crate::load::ProgressMode::Quiet
        },
        cancel: cancel.clone(),
        fault: None,
    }
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
    details: &mut Vec<ShardQueryDetail>,
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
        speed_reference: plan.run.speed_reference,
    };
    let offset = coord
        .as_ref()
        .map_or(0, |c| crate::shard::stream_offset(c.spec));
    // Round 1 of every query, then round 2, ... (`[run] rounds`; one round by default).
    let rounds = plan.run.rounds.max(1);
    let mut phases: Vec<(Phase, u32)> = (0..rounds)
        .flat_map(|r| {
            plan.queries
                .iter()
                .enumerate()
                .map(move |(i, q)| (super::rounds::round_of(q, i, r, rounds), r))
        })
        .collect();
    if let Some(mix) = &plan.mix {
        let weighted: Vec<_> = plan
            .queries
            .iter()
            .filter(|q| q.weight > 0)
            .cloned()
            .collect();
        if !weighted.is_empty() {
            phases.push((
                Phase {
                    label: "mix:".into(),
                    queries: weighted,
                    mode: mix.mode.clone(),
                    warmup: mix.warmup,
                    stop: mix.stop.clone(),
                    stream: plan.queries.len() as u64,
                    plan_cache_mode: mix.plan_cache_mode,
                },
                0,
            ));
        }
    }
    // Where each query's next round starts on its phase's time axis: the measured time of its
    // rounds so far.
    let mut measured_s: std::collections::HashMap<String, f64> = Default::default();
    for (mut phase, round) in phases {
        if cancel.is_cancelled() {
            return Ok(true);
        }
        let name = match phase.queries.as_slice() {
            [one] if phase.label.is_empty() => one.name.clone(),
            _ => "mix".to_string(),
        };
        let shown = if rounds > 1 && name != "mix" {
            format!("{name} (round {} of {rounds})", round + 1)
        } else {
            name.clone()
        };
        if let Some(c) = coord.as_deref_mut() {
            match c.pass(&format!("phase {shown}"), None).await {
                Err(e) if is_interrupt(&e, cancel) => return Ok(true),
                r => r?,
            }
            if !crate::shard::runs_anything(&phase.mode, &phase.stop) {
                say(&format!("query phase {shown}: no clients on this shard"));
                continue;
            }
            phase.stream += offset;
        }
        // Each cache state the scenario asks for (cold first), with the evidence capture
        // around each.
        for run in capture.cache_runs() {
            if cancel.is_cancelled() {
                return Ok(true);
            }
            let (phase, run_name) = capture
                .prepare_phase(target, &phase, &name, run, say)
                .await?;
            say(&format!(
                "query phase {}",
                shown.replacen(&name, &run_name, 1)
            ));
            let offset = measured_s.get(&run_name).copied().unwrap_or(0.0);
            let probe = capture.begin(target, &phase, &run_name, offset).await;
            // The phase runs on its own thread, on its own connections to the same target.
            let conn = Target::for_url(&target.url, &target.schema)?;
            let mut phase_settings = settings.clone();
            phase_settings.read_only = !phase.queries.iter().any(|q| q.writes);
            let outcome = run_phase_dedicated(conn, phase.clone(), phase_settings, cancel.clone())
                .await
                .with_context(|| format!("query phase `{shown}`"))?;
            if let Some(s) = outcome.stats.first() {
                *measured_s.entry(run_name.clone()).or_default() += s.duration_s;
            }
            capture.end(probe).await;
            out.extend(outcome.stats);
            details.extend(outcome.details);
            if outcome.interrupted {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

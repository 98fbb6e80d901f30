//! The query runner: one worker function drives both load modes.
//!
//! * Closed loop: each of `clients` connections sends the next query when the previous returns.
//! * Fixed rate: execution `i` of the phase is *intended* to start at `t0 + i / rate`. Workers
//!   take the next index from a shared atomic counter, sleep until its intended start and run
//!   it. Latency is `completion − intended start`, so when the server falls behind the queueing
//!   delay is in the numbers (coordinated omission is not hidden); the schedule lag
//!   (`actual start − intended start`) is recorded separately.
//!
//! Each execution's parameters come from an RNG seeded by (scenario seed, phase stream, index),
//! the index being shared by all workers, so a phase draws the same parameter sequence at any
//! concurrency. A warmup stage (not recorded) precedes the measured stage on the same
//! connections and prepared statements. Errors are counted per SQLSTATE ("connection" when the
//! connection is gone, "timeout" for statement_timeout) and the run continues; a closed
//! connection is re-opened. Cancellation stops promptly and keeps what was measured.
//!
//! Every connection runs with the phase's `plan_cache_mode`. After the warmup and again after
//! the measured stage, the runner reads each connection's `pg_prepared_statements` counters
//! (custom and generic plans, PostgreSQL 14+), so the report says which plan the measured
//! executions ran.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::stream::{FuturesUnordered, StreamExt as _};
use rand::Rng;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_util::sync::CancellationToken;

use crate::db::wire::{self, WireError};
use crate::exec::drive::absorb_self_wakes;
use crate::exec::pacing::Pacer;
use crate::exec::queries::{params_for, rng_for, sql_for, ParamContext};
pub use crate::exec::session::{classify, Connect, Opened};
use crate::exec::session::{measured_plan_counts, open_session, plan_counts, Session};
use crate::model::report::{PlanEvidence, QueryStats};
use crate::scenario::plan::{
    LoadMode, PlanCacheMode, QueryPlan, StopCondition, SPEED_REFERENCE_SPACING, SPEED_REFERENCE_SQL,
};
use crate::stats::{query_stats, Batch, Collector, PhaseShape, Recorder};

/// Settings shared by every phase of a run.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    pub seed: u64,
    pub ctx: ParamContext,
    pub stats_interval: Duration,
    /// Zero disables the timeout.
    pub statement_timeout: Duration,
    /// `application_name` of the query connections (lets operators and tests find them).
    pub application_name: String,
    /// Run every statement in a read-only transaction (`default_transaction_read_only = on`):
    /// the query phase cannot write unless a query of the phase says `writes = true`.
    pub read_only: bool,
    /// `[run] speed_reference`: closed-loop phases run the host-speed reference between their
    /// executions and record its median per stats interval.
    pub speed_reference: bool,
}

/// One query phase: a single query, or the weighted mix.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Prefix of the reported query names ("" for single-query phases, "mix:" for the mix).
    pub label: String,
    /// The queries; with more than one, each execution picks one by `weight`.
    pub queries: Vec<QueryPlan>,
    pub mode: LoadMode,
    pub warmup: Duration,
    pub stop: StopCondition,
    /// Separates this phase's parameter sequence from the other phases'.
    pub stream: u64,
    /// Set on every connection of the phase.
    pub plan_cache_mode: PlanCacheMode,
}

impl Phase {
    /// The phase that runs `plan` alone; `index` is its position in the scenario.
    pub fn single(plan: &QueryPlan, index: usize) -> Phase {
        Phase {
            label: String::new(),
            queries: vec![plan.clone()],
            mode: plan.mode.clone(),
            warmup: plan.warmup,
            stop: plan.stop.clone(),
            stream: index as u64,
            plan_cache_mode: plan.plan_cache_mode,
        }
    }

    pub fn clients(&self) -> u32 {
        match self.mode {
            LoadMode::Closed { clients } | LoadMode::FixedRate { clients, .. } => clients.max(1),
        }
    }

    fn rate(&self) -> Option<f64> {
        match self.mode {
            LoadMode::FixedRate { rate, .. } => Some(rate),
            LoadMode::Closed { .. } => None,
        }
    }
}

/// What a phase produced.
#[derive(Debug, Clone)]
pub struct PhaseOutcome {
    /// One entry per query of the phase (with at least one execution or error).
    pub stats: Vec<QueryStats>,
    /// Parallel to `stats`: the histograms a merge of shards needs (`bench merge`).
    pub details: Vec<crate::model::report::ShardQueryDetail>,
    /// Cancelled before its stop condition.
    pub interrupted: bool,
}

/// State shared by the workers of one stage (warmup or measured). The workers of a stage are
/// futures polled together in the phase's task (like pgbench's one thread for all clients);
/// each worker reads its own connection's replies through its wire (`db::wire`), or, alone on
/// the thread, blocks in the wire's system calls.
struct Stage<'a, C> {
    connector: &'a C,
    queries: &'a [QueryPlan],
    sqls: &'a [String],
    names: &'a [String],
    /// Cumulative weights for the mix; empty for a single query.
    cumulative: &'a [u64],
    rate: Option<f64>,
    stop: StopCondition,
    t0: Instant,
    deadline: Option<Instant>,
    next: AtomicU64,
    cancel: CancellationToken,
    seed: u64,
    stream: u64,
    settings: &'a ExecSettings,
    plan_cache_mode: PlanCacheMode,
    /// The stage's one worker has the thread to itself: its executions block in the wire's
    /// system calls instead of going through the runtime (see [`run_phase_dedicated`]).
    blocking: bool,
    /// The statement (and recorder slot) of the host-speed reference, after the queries'; None
    /// without `[run] speed_reference` or in a fixed-rate phase (it would shift the schedule).
    reference: Option<usize>,
}

impl<C: Connect> Stage<'_, C> {
    fn pick(&self, rng: &mut impl Rng) -> usize {
        match self.cumulative.last() {
            None => 0,
            Some(&total) => {
                let x = rng.random_range(0..total.max(1));
                self.cumulative.partition_point(|&c| c <= x)
            }
        }
    }

    /// Execute statement `stmt` of session `s`; None when the stage was cancelled meanwhile
    /// (the server-side work is then cancelled, best effort).
    async fn execute(
        &self,
        s: &mut Session,
        stmt: usize,
        refs: &[&(dyn ToSql + Sync)],
        cancelled: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    ) -> Option<Result<wire::Executed, WireError>> {
        let client = s.client.as_ref().expect("session connected");
        // The wire runs the Bind/Execute/Sync tokio-postgres's `execute` would, and reads
        // the data rows without parsing them (the count comes from the CommandComplete
        // tag): the rows cross the wire and are read, and bench's CPU per row is a header
        // scan (see `db::wire`).
        if s.wire.is_blocking() {
            match s.wire.execute_blocking(&s.stmts[stmt], refs, &self.cancel) {
                Err(WireError::Cancelled) => {
                    wire::cancel(&client.cancel_token(), s.wire.addr()).await;
                    None
                }
                r => Some(r),
            }
        } else {
            tokio::select! {
                biased;
                r = s.wire.execute(&s.stmts[stmt], refs) => Some(r),
                _ = cancelled => {
                    // Best effort: stop the server-side work of the abandoned query.
                    wire::cancel(&client.cancel_token(), s.wire.addr()).await;
                    None
                }
            }
        }
    }

    /// Run the host-speed reference on `s` when the last one on it is at least
    /// `SPEED_REFERENCE_SPACING` ago, and record its latency in the reference's slot. False
    /// when the stage was cancelled meanwhile.
    async fn maybe_reference(
        &self,
        s: &mut Session,
        rec: &mut Option<Recorder>,
        last: &mut Option<Instant>,
        cancelled: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    ) -> bool {
        let Some(slot) = self.reference else {
            return true;
        };
        let start = Instant::now();
        if last.is_some_and(|t| start.saturating_duration_since(t) < SPEED_REFERENCE_SPACING)
            || self.deadline.is_some_and(|d| start >= d)
            || s.wire.is_broken()
            || s.client.as_ref().is_none_or(|c| c.is_closed())
        {
            return true;
        }
        *last = Some(start);
        let Some(result) = self.execute(s, slot, &[], cancelled).await else {
            return false;
        };
        let done = match &result {
            Ok(e) => e.arrived.unwrap_or_else(Instant::now),
            Err(_) => Instant::now(),
        };
        if let Some(r) = rec.as_mut() {
            match result {
                Ok(e) => {
                    let latency = done.saturating_duration_since(start);
                    r.record_ok(slot, done, latency, None, e.rows).await;
                }
                Err(e) => r.record_error(slot, done, &classify(&e), None).await,
            }
        }
        true
    }

    /// Run until the stop condition or cancellation; returns the session for the next stage.
    async fn work(&self, mut s: Session, mut rec: Option<Recorder>) -> Session {
        let mut last_reference: Option<Instant> = None;
        let pacer = Pacer::new();
        // One cancellation future for the whole stage: it registers with the token once,
        // instead of once per query (a lock and an allocation a `SELECT 1` would pay).
        let cancelled = self.cancel.cancelled();
        tokio::pin!(cancelled);
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if let StopCondition::Count { count } = self.stop {
                if i >= count {
                    break;
                }
            }
            let intended = self
                .rate
                .map(|r| self.t0 + Duration::from_secs_f64(i as f64 / r));
            if let Some(t) = intended {
                if self.deadline.is_some_and(|d| t >= d) {
                    break;
                }
                if !pacer.wait_until(t, &self.cancel).await {
                    break;
                }
            }
            let start = Instant::now();
            if self.deadline.is_some_and(|d| start >= d) {
                break;
            }
            let lag = intended.map(|t| start.saturating_duration_since(t));

            let mut rng = rng_for(self.seed, self.stream, i);
            let q = self.pick(&mut rng);
            let params = params_for(&self.queries[q], &self.settings.ctx, &mut rng);

            if s.wire.is_broken() || s.client.as_ref().is_none_or(|c| c.is_closed()) {
                match open_session(
                    self.connector,
                    self.sqls,
                    self.names,
                    self.settings,
                    self.plan_cache_mode,
                    self.blocking,
                )
                .await
                {
                    Ok(new) => s = new,
                    Err(_) => {
                        if let Some(r) = rec.as_mut() {
                            r.record_error(q, Instant::now(), "connection", lag).await;
                        }
                        // Back off a little so a dead server does not spin a core.
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                            _ = &mut cancelled => break,
                        }
                        continue;
                    }
                }
            }
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let Some(result) = self.execute(&mut s, q, &refs, cancelled.as_mut()).await else {
                break;
            };
            let now = Instant::now();
            // A reply the wire read late on purpose ends when its last byte arrived.
            let done = match &result {
                Ok(e) => e.arrived.unwrap_or(now),
                Err(_) => now,
            };
            let latency = done.saturating_duration_since(intended.unwrap_or(start));
            match result {
                Ok(wire::Executed { rows, .. }) => {
                    if let Some(r) = rec.as_mut() {
                        r.record_ok(q, done, latency, lag, rows).await;
                    }
                }
                Err(e) => {
                    if let Some(r) = rec.as_mut() {
                        r.record_error(q, done, &classify(&e), lag).await;
                    }
                    if s.wire.is_broken() || s.client.as_ref().is_none_or(|c| c.is_closed()) {
                        s.client = None;
                    }
                }
            }
            if !self
                .maybe_reference(&mut s, &mut rec, &mut last_reference, cancelled.as_mut())
                .await
            {
                break;
            }
        }
        if let Some(r) = rec {
            r.finish().await;
        }
        s
    }
}

/// [`run_phase`] on a dedicated OS thread with a single-threaded runtime, which also drives
/// the phase's connections: like `pgbench -j 1`, every client and connection lives on one
/// thread, so no query pays for a wake-up across threads (on a multi-threaded runtime that
/// costs tens of microseconds per query, more than a `SELECT 1` takes on loopback). The caller's
/// runtime stays free for signals and live ingest. Dropping the returned future cancels the
/// phase.
pub async fn run_phase_dedicated<C: Connect + Send + 'static>(
    connector: C,
    phase: Phase,
    settings: ExecSettings,
    cancel: CancellationToken,
) -> anyhow::Result<PhaseOutcome> {
    let local = cancel.child_token();
    let guard = local.clone().drop_guard();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("esp-bench-query".into())
        .spawn(move || {
            // Sockets and timers only: the signal and process drivers would add their checks
            // to every park of the runtime, that is to every query.
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .context("starting the query thread's runtime")
                .and_then(|rt| {
                    // One client has the thread to itself: its calls may block in the kernel.
                    let blocking = phase.clients() == 1;
                    rt.block_on(run_phase_on(
                        &connector, &phase, &settings, &local, blocking,
                    ))
                });
            let _ = tx.send(result);
        })
        .context("spawning the query thread")?;
    let result = rx
        .await
        .map_err(|_| anyhow::anyhow!("the query thread panicked"))?;
    guard.disarm();
    result
}

/// Run one phase on fresh connections: warmup (not recorded), then the measured stage.
/// Fails only when the connections cannot be opened or a statement cannot be prepared at the
/// start (a configuration or environment error); failures after that are counted.
pub async fn run_phase<C: Connect>(
    connector: &C,
    phase: &Phase,
    settings: &ExecSettings,
    cancel: &CancellationToken,
) -> anyhow::Result<PhaseOutcome> {
    run_phase_on(connector, phase, settings, cancel, false).await
}

/// [`run_phase`]; with `blocking`, the phase's one client executes with blocking system calls
/// (`db::wire::Wire::execute_blocking`), for a thread that serves nothing else.
async fn run_phase_on<C: Connect>(
    connector: &C,
    phase: &Phase,
    settings: &ExecSettings,
    cancel: &CancellationToken,
    blocking: bool,
) -> anyhow::Result<PhaseOutcome> {
    let blocking = blocking && phase.clients() == 1;
    let clients = phase.clients() as usize;
    let queries = &phase.queries[..];
    let mut sqls: Vec<String> = queries.iter().map(sql_for).collect();
    let mut names: Vec<String> = queries
        .iter()
        .map(|q| format!("{}{}", phase.label, q.name))
        .collect();
    // The host-speed reference is prepared after the queries: statement (and slot) n.
    let reference = (settings.speed_reference && phase.rate().is_none()).then(|| {
        sqls.push(SPEED_REFERENCE_SQL.to_string());
        names.push(format!("{}speed_reference", phase.label));
        queries.len()
    });
    let cumulative: Vec<u64> = if queries.len() > 1 {
        queries
            .iter()
            .scan(0u64, |acc, q| {
                *acc += u64::from(q.weight);
                Some(*acc)
            })
            .collect()
    } else {
        Vec::new()
    };

    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(
            open_session(
                connector,
                &sqls,
                &names,
                settings,
                phase.plan_cache_mode,
                blocking,
            )
            .await?,
        );
    }

    let make_stage = |stop: StopCondition, stream: u64| {
        let t0 = Instant::now();
        let deadline = match stop {
            StopCondition::Duration { duration } => Some(t0 + duration),
            StopCondition::Count { .. } => None,
        };
        Stage {
            connector,
            queries,
            sqls: &sqls,
            names: &names,
            cumulative: &cumulative,
            rate: phase.rate(),
            stop,
            t0,
            deadline,
            next: AtomicU64::new(0),
            cancel: cancel.clone(),
            seed: settings.seed,
            stream,
            settings,
            plan_cache_mode: phase.plan_cache_mode,
            blocking,
            reference,
        }
    };

    if !phase.warmup.is_zero() && !cancel.is_cancelled() {
        let stage = make_stage(
            StopCondition::Duration {
                duration: phase.warmup,
            },
            phase.stream * 2 + 1,
        );
        sessions = absorb_self_wakes(
            sessions
                .into_iter()
                .map(|s| stage.work(s, None))
                .collect::<FuturesUnordered<_>>()
                .collect(),
        )
        .await;
        // The measured stage counts plans from here (the warmup ran the first custom plans).
        for s in &mut sessions {
            if let Some(c) = plan_counts(s, &sqls).await {
                s.base = c;
            }
        }
    }

    let stage = make_stage(phase.stop.clone(), phase.stream * 2);
    let measured_from_ms = unix_ms_now();
    let (tx, rx) = mpsc::channel::<Batch>(clients * 2 + 2);
    let collector = Collector::new(clients, sqls.len(), settings.stats_interval).run(rx);
    let recorders: Vec<Recorder> = (0..sessions.len())
        .map(|w| {
            Recorder::new(
                w,
                sqls.len(),
                stage.t0,
                settings.stats_interval,
                match phase.stop {
                    StopCondition::Duration { duration } => Some(duration),
                    StopCondition::Count { .. } => None,
                },
                tx.clone(),
            )
        })
        .collect();
    drop(tx);
    // FuturesUnordered polls only the workers whose query completed (join_all polls all); its
    // yields to the runtime are absorbed (see `absorb_self_wakes`). Sessions close when dropped.
    let run_workers = sessions
        .into_iter()
        .zip(recorders)
        .map(|(s, rec)| stage.work(s, Some(rec)))
        .collect::<FuturesUnordered<_>>()
        .collect::<Vec<Session>>();
    let (sessions, merged) =
        absorb_self_wakes(async { tokio::join!(run_workers, collector) }).await;
    let duration_s = stage.t0.elapsed().as_secs_f64();
    let mut sessions = sessions;
    let counts = measured_plan_counts(&mut sessions, &sqls).await;
    for s in sessions {
        s.close().await;
    }

    let shape = PhaseShape {
        mode: if phase.rate().is_some() {
            "fixed_rate"
        } else {
            "closed"
        },
        clients: clients as u32,
        rate: phase.rate(),
        duration_s,
    };
    // The reference's median per interval, by the interval's end.
    let reference_p50: Vec<(f64, f64)> = reference
        .and_then(|r| merged.get(r))
        .map(|m| {
            m.intervals
                .iter()
                .filter(|i| i.count > 0)
                .map(|i| (i.t_s, i.p50_ms))
                .collect()
        })
        .unwrap_or_default();
    let mut merged = merged;
    merged.truncate(queries.len());
    for m in &mut merged {
        for i in &mut m.intervals {
            i.ref_p50_ms = reference_p50
                .iter()
                .find(|(t, _)| (t - i.t_s).abs() < 1e-9)
                .map(|&(_, p50)| p50);
        }
    }
    // Index into the phase's queries, with its merged recorder and name.
    let kept: Vec<(usize, &crate::stats::Merged, &String)> = merged
        .iter()
        .zip(names.iter())
        .enumerate()
        .filter(|(_, (m, _))| queries.len() == 1 || !m.total.is_empty())
        .map(|(q, (m, name))| (q, m, name))
        .collect();
    let stats = kept
        .iter()
        .map(|&(q, m, name)| {
            let mut st = query_stats(name, &shape, m);
            st.plan = Some(PlanEvidence {
                plan_cache_mode: phase.plan_cache_mode.name().to_string(),
                custom_plans: counts.as_ref().map(|c| c[q].custom),
                generic_plans: counts.as_ref().map(|c| c[q].generic),
                ..Default::default()
            });
            st
        })
        .collect();
    let details = kept
        .iter()
        .map(|&(_, m, name)| crate::stats::query_detail(name, &shape, m, measured_from_ms))
        .collect();
    Ok(PhaseOutcome {
        stats,
        details,
        interrupted: cancel.is_cancelled(),
    })
}

/// Now as Unix milliseconds (fractional).
fn unix_ms_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

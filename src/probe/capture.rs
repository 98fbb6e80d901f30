//! The evidence capture of `bench run` around its query phases: before each phase, the
//! pg_stat_statements counters of the phase's statements and a resource sampler; after it,
//! the counters' deltas (`queries[].evidence.server`) and the samples (`summary.resources`).
//! Switched off by `[run] capture = false` (or `bench run --no-capture`), when nothing here runs.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;

use super::sampler::{Sampler, SamplerConfig};
use crate::db::stat_statements::{self, Availability, Counters, Watched};
use crate::db::Target;
use crate::exec::queries;
use crate::exec::runner::Phase;
use crate::model::report::{QueryEvidence, QueryStats, ResourceSample, ResourceSeries};
use crate::scenario::plan::{CacheMode, Plan};

/// RNG stream of the parameters used to plan a statement for its query identifier.
const QUERY_ID_STREAM: u64 = 0xCA97_0000;

/// The capture of one run.
pub struct Capture {
    enabled: bool,
    interval: Duration,
    seed: u64,
    ctx: queries::ParamContext,
    embedded: bool,
    stat: Option<Availability>,
    samples: Vec<ResourceSample>,
    notes: Vec<String>,
    /// By query statistics name (`<q>`, `mix:<q>`, `cold:<q>`): the counters' growth over each
    /// measured stage, summed over a query's rounds (`[run] rounds`).
    server: Vec<(String, Counters)>,
    ingested: Option<Arc<AtomicU64>>,
    /// `[run] cache` as it can run here (cold refused: hot).
    cache: CacheMode,
    cache_notes: Vec<String>,
    /// Time spent in `begin` and `end` (bench's own capture work around the phases).
    spent: Duration,
    phases: u32,
    /// The capture's own connection, kept across phases (a cold restart closes it).
    conn: Option<Arc<Client>>,
    /// Query identifiers by SQL text (the mix and cold runs reuse their query's).
    query_ids: std::collections::BTreeMap<String, Option<i64>>,
    /// The first failure to read pg_stat_statements (the servers' notes name it).
    stat_error: Option<String>,
}

/// One run of a phase in one cache state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheRun {
    Hot,
    Cold,
}

/// One phase's capture in flight.
pub struct PhaseProbe {
    client: Option<Arc<Client>>,
    names: Vec<String>,
    watched: Vec<Watched>,
    /// The counters at the end of the phase's warmup (a task that waits for it).
    before: Option<tokio::task::JoinHandle<anyhow::Result<Vec<Counters>>>>,
    sampler: Option<Sampler>,
}

impl Capture {
    /// Nothing captured.
    pub fn off() -> Capture {
        Capture {
            enabled: false,
            interval: Duration::from_secs(1),
            seed: 0,
            ctx: queries::ParamContext {
                wells: 1,
                data_start: chrono::Utc::now(),
                data_end: chrono::Utc::now(),
            },
            embedded: false,
            stat: None,
            samples: Vec::new(),
            notes: Vec::new(),
            server: Vec::new(),
            ingested: None,
            cache: CacheMode::Hot,
            cache_notes: Vec::new(),
            spent: Duration::ZERO,
            phases: 0,
            conn: None,
            query_ids: Default::default(),
            stat_error: None,
        }
    }

    /// The capture's connection, opened (again) when missing or closed.
    async fn connection(&mut self, target: &Target) -> anyhow::Result<Arc<Client>> {
        if let Some(c) = self.conn.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let c = Arc::new(target.connect().await?);
        self.conn = Some(c.clone());
        Ok(c)
    }

    /// Decide how `[run] cache` runs here: cold phases need bench's embedded server, no live
    /// ingest and no sharding; otherwise the phases run hot and a note says why.
    pub fn plan_cache(&mut self, plan: &Plan, target: &Target, live_ingest: bool, sharded: bool) {
        self.cache = plan.run.cache;
        if self.cache.is_hot() {
            return;
        }
        if let Some(why) = super::cache::cold_refusal(target, live_ingest, sharded) {
            self.cache = CacheMode::Hot;
            self.cache_notes.push(why);
        }
    }

    /// What was not done as `[run] cache` asked, and why.
    pub fn cache_notes(&self) -> &[String] {
        &self.cache_notes
    }

    /// The cache states each phase runs in, in order (cold first, as ClickBench does).
    pub fn cache_runs(&self) -> Vec<CacheRun> {
        match self.cache {
            CacheMode::Hot => vec![CacheRun::Hot],
            CacheMode::Cold => vec![CacheRun::Cold],
            CacheMode::Both => vec![CacheRun::Cold, CacheRun::Hot],
        }
    }

    /// The phase as it runs in `run`: a cold run restarts the server and drops the OS cache
    /// first, and has no warmup; with `cache = "both"` its statistics are named `cold:<query>` (`cold:mix:<q>`).
    pub async fn prepare_phase(
        &mut self,
        target: &Target,
        phase: &Phase,
        name: &str,
        run: CacheRun,
        say: &impl Fn(&str),
    ) -> anyhow::Result<(Phase, String)> {
        let mut phase = phase.clone();
        let mut name = name.to_string();
        if run == CacheRun::Cold {
            self.conn = None;
            say(&format!(
                "cold caches for phase {name}: restarting the embedded server"
            ));
            if let Some(note) = super::cache::make_cold(target).await? {
                if !self.cache_notes.contains(&note) {
                    say(&note);
                    self.cache_notes.push(note);
                }
            }
            if self.cache == CacheMode::Both {
                phase.label = format!("cold:{}", phase.label);
                name = format!("cold:{name}");
            }
            // A warmup would warm the caches the restart emptied: a cold run measures from
            // the first execution on, as ClickBench's cold run does.
            phase.warmup = std::time::Duration::ZERO;
        }
        Ok((phase, name))
    }

    /// Prepare the capture of `plan`'s run on `target` (finds or, on the embedded server,
    /// creates pg_stat_statements). `[run] capture = false` gives [`Capture::off`].
    pub async fn start(plan: &Plan, target: &Target) -> Capture {
        if !plan.run.capture {
            return Capture::off();
        }
        let mut c = Capture::off();
        c.enabled = true;
        c.interval = plan.run.stats_interval;
        c.seed = plan.fleet.seed;
        c.ctx = queries::ParamContext::from_plan(plan);
        c.embedded = target.is_embedded();
        c.stat = Some(match target.connect().await {
            Ok(client) => stat_statements::prepare(&client, c.embedded).await,
            Err(e) => Availability::Missing(format!("cannot connect: {e:#}")),
        });
        if let Some(Availability::Missing(why)) = &c.stat {
            c.notes.push(format!("server time: {why}"));
        }
        if !c.embedded {
            c.notes.push(
                "server CPU: not measurable on an external server (bench sees only its own \
                 processes)"
                    .into(),
            );
        }
        c
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Live ingest's running count of committed rows, for the ingest rate per interval.
    pub fn set_ingest(&mut self, rows: Option<Arc<AtomicU64>>) {
        self.ingested = rows;
    }

    /// Before a phase: the statements' counters, and the sampler started. `phase_name` is the
    /// phase as `summary.resources.samples[].phase` names it; `t_offset_s` is where this round
    /// of it starts on its time axis (the measured seconds of its earlier rounds, else 0).
    pub async fn begin(
        &mut self,
        target: &Target,
        phase: &Phase,
        phase_name: &str,
        t_offset_s: f64,
    ) -> PhaseProbe {
        let mut probe = PhaseProbe {
            client: None,
            names: Vec::new(),
            watched: Vec::new(),
            before: None,
            sampler: None,
        };
        if !self.enabled {
            return probe;
        }
        let started = std::time::Instant::now();
        self.phases += 1;
        let client = match self.connection(target).await {
            Ok(c) => Some(c),
            Err(e) => {
                self.notes
                    .push(format!("phase {phase_name}: no capture connection: {e:#}"));
                None
            }
        };
        if let (Some(c), Some(Availability::Ready { view })) = (&client, &self.stat) {
            for (i, q) in phase.queries.iter().enumerate() {
                let sql = queries::sql_for(q);
                let query_id = match self.query_ids.get(&sql) {
                    Some(id) => *id,
                    None => {
                        let mut rng = queries::rng_for(self.seed, QUERY_ID_STREAM + i as u64, 0);
                        let literals: Vec<String> = queries::values_for(q, &self.ctx, &mut rng)
                            .iter()
                            .map(|v| v.sql_literal())
                            .collect();
                        let id = crate::db::plans::query_identifier(c, &sql, &literals)
                            .await
                            .ok()
                            .flatten();
                        self.query_ids.insert(sql.clone(), id);
                        id
                    }
                };
                probe.names.push(format!("{}{}", phase.label, q.name));
                probe.watched.push(Watched { sql, query_id });
            }
            // The first snapshot waits for the end of the warmup (timed from here, just
            // before the phase opens its connections), so the deltas cover the measured stage.
            let (c, view, watched, warmup) =
                (c.clone(), view.clone(), probe.watched.clone(), phase.warmup);
            probe.before = Some(tokio::spawn(async move {
                tokio::time::sleep(warmup).await;
                stat_statements::snapshot(&c, &view, &watched).await
            }));
        }
        let server_pid = target
            .server
            .as_ref()
            .map(|s| s.postmaster_pid())
            .filter(|p| *p > 0);
        probe.sampler = Some(Sampler::start(
            client.clone(),
            SamplerConfig {
                phase: phase_name.to_string(),
                interval: self.interval,
                warmup: phase.warmup,
                t_offset_s,
                server_pid,
                ingested: self.ingested.clone(),
            },
        ));
        probe.client = client;
        self.spent += started.elapsed();
        probe
    }

    /// After a phase: the counters' deltas against the phase's statistics, and the samples.
    pub async fn end(&mut self, probe: PhaseProbe) {
        let started = std::time::Instant::now();
        self.end_inner(probe).await;
        self.spent += started.elapsed();
    }

    async fn end_inner(&mut self, probe: PhaseProbe) {
        if let Some(s) = probe.sampler {
            self.samples.extend(s.stop().await);
        }
        let (Some(c), Some(task), Some(Availability::Ready { view })) =
            (&probe.client, probe.before, &self.stat)
        else {
            return;
        };
        let before = match task.await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                let why = format!("pg_stat_statements could not be read: {e:#}");
                self.notes.push(why.clone());
                self.stat_error.get_or_insert(why);
                return;
            }
            Err(e) => {
                self.notes
                    .push(format!("pg_stat_statements snapshot task failed: {e}"));
                return;
            }
        };
        match stat_statements::snapshot(c, view, &probe.watched).await {
            Ok(after) => {
                for (k, name) in probe.names.iter().enumerate() {
                    let grown = after[k].since(&before[k]);
                    match self.server.iter_mut().find(|(n, _)| n == name) {
                        Some((_, sum)) => sum.add(&grown),
                        None => self.server.push((name.clone(), grown)),
                    }
                }
            }
            Err(e) => {
                let why = format!("pg_stat_statements could not be read: {e:#}");
                self.notes.push(why.clone());
                self.stat_error.get_or_insert(why);
            }
        }
    }

    /// Put the server-time deltas into the queries' evidence and return the resource series
    /// (None when capture was off).
    pub fn finish(self, queries: &mut [QueryStats]) -> Option<ResourceSeries> {
        if !self.enabled {
            return None;
        }
        for q in queries.iter_mut() {
            let ev = q.evidence.get_or_insert_with(QueryEvidence::default);
            let client_mean = (q.count > 0).then_some(q.latency_ms.mean);
            let server = self
                .server
                .iter()
                .find(|(n, _)| n == &q.name)
                .and_then(|(_, c)| Counters::default().delta(c, client_mean));
            match server {
                Some(t) => ev.server = Some(t),
                None => {
                    ev.server_note = Some(match (&self.stat, &self.stat_error) {
                        (Some(Availability::Missing(why)), _) => why.clone(),
                        (_, Some(why)) => why.clone(),
                        _ => "pg_stat_statements recorded no execution of this statement in \
                              the phase"
                            .into(),
                    })
                }
            }
        }
        let mut notes = self.notes;
        notes.push(format!(
            "capture overhead: {:.0} ms around {} phase(s) (query identifiers, \
             pg_stat_statements snapshots, sampler start and stop); the plans come from the \
             checks phase's EXPLAIN ANALYZE",
            self.spent.as_secs_f64() * 1000.0,
            self.phases
        ));
        if self.samples.iter().all(|s| s.wal_bytes.is_none()) && !self.samples.is_empty() {
            notes.push("WAL bytes: pg_current_wal_lsn() not readable on this server".into());
        }
        if self.samples.iter().all(|s| s.checkpoints.is_none()) && !self.samples.is_empty() {
            notes.push(
                "checkpoints and buffer writes: pg_stat_bgwriter not readable (PostgreSQL 17 \
                 moved them to pg_stat_checkpointer, which bench does not read yet)"
                    .into(),
            );
        }
        if self.ingested.is_none() {
            notes.push("ingest rate: no live ingest in this run".into());
        }
        Some(ResourceSeries {
            interval_s: self.interval.as_secs_f64(),
            server_scope: if self.embedded {
                "embedded: postmaster and its children, utime + stime from /proc".into()
            } else {
                "external server: CPU not measurable from bench (server_cpu_pct is null)".into()
            },
            notes,
            samples: self.samples,
        })
    }
}

//! Coordination of one shard with the others, through the database they share (no other
//! service): registration, barriers, liveness and the end of the run.
//!
//! - The **leader** (shard 0) holds the schema's `WriteGuard` like any writing command, then
//!   opens a run in `esp_bench_shard_runs` (the scenario fingerprint, the fleet's end instant,
//!   the number of shards, its own server pid). So a sharded run is one writer as far as the
//!   writer lock goes: any other bench command on the schema still stops at it.
//! - A **follower** (shard K > 0) takes no writer lock. It takes a presence lock of its own
//!   (a second process of the same shard is refused), waits (bounded) for the leader's run,
//!   checks that it runs the same scenario, adopts the fleet's end instant and registers. It
//!   writes only through the write gate (`db::coord::write_gate_sql`): every COPY transaction
//!   first checks that the run is open and its leader alive.
//! - **Barriers**: every shard passes the same numbered barriers in the same order. Each
//!   shard records its arrival; the leader waits for all N, then releases the barrier with a
//!   start instant a little ahead on the server's clock, and every shard starts what follows at
//!   that instant (converted to its own clock), so all shards measure the same window.
//! - **Bounded waits**: a wait ends with an error naming the shard(s) when a shard's session
//!   is gone (its lock vanished from `pg_locks`: killed), when a shard reports a failure, when
//!   its heartbeat (every second) is older than the shard timeout, when a shard has not joined
//!   a timeout after the run opened, or when the leader's run is no longer open; Ctrl-C stops
//!   any wait (exit 130).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::ShardSpec;
use crate::db::coord::{self, RunRecord, ShardRecord};
use crate::db::Target;
use crate::error::BenchError;
use crate::scenario::Plan;

mod barriers;

/// How often a waiting shard polls the coordination tables.
const POLL: Duration = Duration::from_millis(100);
/// How often every shard refreshes its heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Default bound of every wait (`--shard-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// How far ahead of the server's now a released barrier's start lies: enough for every shard
/// to see the release before the start.
pub const START_LEAD: Duration = Duration::from_millis(400);

/// The options of a sharded run (`--shard K/N`, `--run-id`, `--shard-timeout`).
#[derive(Debug, Clone)]
pub struct ShardOptions {
    pub spec: ShardSpec,
    /// The run to open (leader) or join (followers). Leader default: generated; follower
    /// default: the one open run of a live leader in the schema.
    pub run_id: Option<String>,
    /// Bound of every wait for another shard.
    pub timeout: Duration,
}

/// A barrier this shard arrived at.
#[derive(Debug, Clone)]
pub struct Barrier {
    pub number: i32,
    pub name: String,
}

/// This shard's link to the run.
pub struct Coordinator {
    pub spec: ShardSpec,
    pub run: RunRecord,
    schema: String,
    client: Arc<Client>,
    _heartbeat: tokio_util::sync::DropGuard,
    timeout: Duration,
    cancel: CancellationToken,
    next: i32,
    joined: Instant,
    /// The server's clock minus this process's, milliseconds (measured when joining).
    pub clock_offset_ms: f64,
    progress: bool,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("spec", &self.spec)
            .field("run_id", &self.run.run_id)
            .finish()
    }
}

/// Host name of this machine (the pod name on Kubernetes).
pub fn host_name() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn env_error(msg: String) -> anyhow::Error {
    BenchError::Environment(msg).into()
}

async fn clock_offset(client: &Client) -> anyhow::Result<f64> {
    let before = unix_ms();
    let server = coord::server_now_ms(client).await?;
    let after = unix_ms();
    Ok(server - (before + after) / 2.0)
}

fn spawn_heartbeat(
    client: Arc<Client>,
    schema: String,
    run_id: String,
    shard: u32,
) -> tokio_util::sync::DropGuard {
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            // A failed heartbeat shows as a stale one to the others: nothing to do here.
            let _ = coord::heartbeat(&client, &schema, &run_id, shard).await;
        }
    });
    stop.drop_guard()
}

/// A run id for a leader that was given none: scenario, UTC time, pid.
pub fn generated_run_id(plan: &Plan) -> String {
    format!(
        "{}-{}-{}",
        plan.name,
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    )
}

impl Coordinator {
    /// Open the run as its leader. The caller holds `guard` (the schema's writer lock) and
    /// has applied the schema; `command` is `run` or `load`; `reuse` tells followers the data
    /// is complete and verified, so they load nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_leader(
        target: &Target,
        guard: &crate::db::guard::WriteGuard,
        plan: &Plan,
        opts: &ShardOptions,
        command: &str,
        reuse: bool,
        cancel: CancellationToken,
        progress: bool,
    ) -> anyhow::Result<Coordinator> {
        let schema = target.schema.clone();
        let client = Arc::new(target.connect().await?);
        coord::ensure_tables(&client, &schema).await?;
        for old in coord::abandon_open_runs(&client, &schema).await? {
            eprintln!(
                "note: run `{old}` in schema {schema} was still open but its leader is gone: \
                 marked abandoned"
            );
        }
        let leader_pid = guard.backend_pid().await?;
        let run = RunRecord {
            run_id: opts
                .run_id
                .clone()
                .unwrap_or_else(|| generated_run_id(plan)),
            command: command.to_string(),
            scenario: plan.name.clone(),
            fingerprint: crate::scenario::fingerprint(plan),
            load_fingerprint: crate::load::fingerprint(plan),
            fleet_end: plan.fleet.end,
            shards: opts.spec.count,
            reuse,
            leader_pid,
        };
        coord::open_run(&client, &schema, &run).await?;
        coord::register(
            &client,
            &schema,
            &ShardRecord {
                run_id: run.run_id.clone(),
                shard: 0,
                host: host_name(),
                pid: std::process::id(),
                bench_version: env!("CARGO_PKG_VERSION").into(),
                backend_pid: leader_pid,
                lock_class: crate::db::guard::LOCK_CLASS,
                lock_key: crate::db::guard::lock_key(&schema),
            },
        )
        .await?;
        let clock_offset_ms = clock_offset(&client).await?;
        let hb = spawn_heartbeat(client.clone(), schema.clone(), run.run_id.clone(), 0);
        if progress && opts.spec.count > 1 {
            eprintln!(
                "[{}] shard 0/{}: opened run `{}` in schema {schema}; waiting for {} other shard(s)",
                plan.name,
                opts.spec.count,
                run.run_id,
                opts.spec.count - 1
            );
        }
        Ok(Coordinator {
            spec: opts.spec,
            run,
            schema,
            client,
            _heartbeat: hb,
            timeout: opts.timeout,
            cancel,
            next: 0,
            joined: Instant::now(),
            clock_offset_ms,
            progress,
        })
    }

    /// Join the leader's run as follower `opts.spec`. Waits (at most the shard timeout) for
    /// the leader to open it. Adopts the run's fleet end when the scenario says `end = "now"`,
    /// so every shard generates the same fleet; refuses (exit 2, naming the shard) a run of
    /// another scenario, shard count or command.
    pub async fn join_follower(
        target: &Target,
        plan: &mut Plan,
        opts: &ShardOptions,
        command: &str,
        cancel: CancellationToken,
        progress: bool,
    ) -> anyhow::Result<Coordinator> {
        let who = opts.spec.label();
        let schema = target.schema.clone();
        let client = Arc::new(target.connect().await?);
        if !coord::try_presence_lock(&client, &schema, opts.spec.index).await? {
            return Err(BenchError::Config(format!(
                "{who} is already running on schema {schema} (another bench process holds its \
                 lock): each shard index runs once"
            ))
            .into());
        }
        let started = Instant::now();
        let mut said = false;
        let view = loop {
            if coord::tables_exist(&client, &schema).await? {
                let found = match &opts.run_id {
                    Some(id) => match coord::run(&client, &schema, id).await? {
                        Some(v) if v.state != "open" => {
                            return Err(env_error(format!(
                                "{who}: run `{id}` in schema {schema} is {} ({}): it cannot be \
                                 joined",
                                v.state, v.note
                            )))
                        }
                        Some(v) if v.leader_alive => Some(v),
                        _ => None,
                    },
                    None => coord::live_runs(&client, &schema).await?.into_iter().next(),
                };
                if let Some(v) = found {
                    break v;
                }
            }
            if started.elapsed() >= opts.timeout {
                return Err(env_error(format!(
                    "{who}: no leader: no open run{} of a live shard 0/{} in schema {schema} \
                     after {} s. Start shard 0 (the leader) with the same scenario, --schema \
                     and database{}",
                    opts.run_id
                        .as_deref()
                        .map(|r| format!(" `{r}`"))
                        .unwrap_or_default(),
                    opts.spec.count,
                    opts.timeout.as_secs(),
                    if opts.run_id.is_some() {
                        " and --run-id"
                    } else {
                        ""
                    }
                )));
            }
            if progress && !said {
                eprintln!(
                    "[{}] {who}: waiting for the leader (shard 0) to open the run",
                    plan.name
                );
                said = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL * 2) => {}
                _ = cancel.cancelled() => return Err(BenchError::Interrupted.into()),
            }
        };
        let run = view.record;
        let refuse = |what: String| -> anyhow::Error {
            BenchError::Config(format!(
                "{who} refused by run `{}` of schema {schema}: {what}",
                run.run_id
            ))
            .into()
        };
        if run.shards != opts.spec.count {
            return Err(refuse(format!(
                "the leader runs {} shards, this shard was started as one of {}",
                run.shards, opts.spec.count
            )));
        }
        if run.command != command {
            return Err(refuse(format!(
                "the leader runs `bench {}`, this shard `bench {command}`",
                run.command
            )));
        }
        let ours = crate::scenario::fingerprint(plan);
        if ours != run.fingerprint {
            return Err(refuse(format!(
                "its scenario fingerprint is {}, this shard's is {ours} (scenario `{}`): every \
                 shard must run the same scenario file",
                run.fingerprint, plan.name
            )));
        }
        if plan.fleet.end_is_now {
            plan.fleet.end = run.fleet_end;
        }
        let load_fp = crate::load::fingerprint(plan);
        if load_fp != run.load_fingerprint {
            return Err(refuse(format!(
                "its data fingerprint is {}, this shard's is {load_fp}: the fleet's end instant \
                 or the bench version differ",
                run.load_fingerprint
            )));
        }
        let backend_pid = coord::backend_pid(&client).await?;
        let joined = coord::register(
            &client,
            &schema,
            &ShardRecord {
                run_id: run.run_id.clone(),
                shard: opts.spec.index,
                host: host_name(),
                pid: std::process::id(),
                bench_version: env!("CARGO_PKG_VERSION").into(),
                backend_pid,
                lock_class: coord::PRESENCE_CLASS,
                lock_key: coord::presence_key(&schema, opts.spec.index),
            },
        )
        .await?;
        if !joined {
            return Err(refuse(
                "this shard already joined it and that process ended: a shard cannot rejoin a \
                 run in progress; start a new run"
                    .into(),
            ));
        }
        let clock_offset_ms = clock_offset(&client).await?;
        let hb = spawn_heartbeat(
            client.clone(),
            schema.clone(),
            run.run_id.clone(),
            opts.spec.index,
        );
        if progress {
            eprintln!(
                "[{}] {who}: joined run `{}` (wells {:?})",
                plan.name,
                run.run_id,
                super::wells_of(plan.fleet.wells, opts.spec)
            );
        }
        Ok(Coordinator {
            spec: opts.spec,
            run,
            schema,
            client,
            _heartbeat: hb,
            timeout: opts.timeout,
            cancel,
            next: 0,
            joined: Instant::now(),
            clock_offset_ms,
            progress,
        })
    }

    /// The write gate followers check in every write transaction.
    pub fn write_gate(&self) -> String {
        coord::write_gate_sql(&self.schema, &self.run.run_id)
    }

    /// "shard 2/3: " for messages.
    pub fn who(&self) -> String {
        format!("{}: ", self.spec.label())
    }

    /// Record this shard's failure (best effort); the leader also fails the run, so every
    /// waiting follower stops.
    pub async fn fail(&self, note: &str) {
        let note = crate::format::redact(note);
        let _ = coord::fail_shard(
            &self.client,
            &self.schema,
            &self.run.run_id,
            self.spec.index,
            &note,
        )
        .await;
        if self.spec.is_leader() {
            let _ = coord::close_run(
                &self.client,
                &self.schema,
                &self.run.run_id,
                "failed",
                Some(&format!("the leader failed: {note}")),
            )
            .await;
        }
    }

    /// A follower's error, recorded as its failure, with why the run ended when it did (so a
    /// follower stopped by the write gate says which shard failed the run).
    pub async fn failed(&self, err: anyhow::Error) -> anyhow::Error {
        self.fail(&format!("{err:#}")).await;
        match self.ended_because().await {
            Some(why) if !self.spec.is_leader() && !format!("{err:#}").contains(&why) => {
                err.context(format!("{}: {why}", self.spec.label()))
            }
            _ => err,
        }
    }

    /// Why the run is over, when it is: `run `R` is failed: the leader failed: ...`.
    pub async fn ended_because(&self) -> Option<String> {
        let v = coord::run(&self.client, &self.schema, &self.run.run_id)
            .await
            .ok()??;
        (v.state != "open").then(|| {
            format!(
                "run `{}` is {}{}",
                self.run.run_id,
                v.state,
                if v.note.is_empty() {
                    String::new()
                } else {
                    format!(": {}", v.note)
                }
            )
        })
    }

    /// Leader: the run is over (followers' writes in flight finish first).
    pub async fn close(&self) -> anyhow::Result<()> {
        coord::close_run(&self.client, &self.schema, &self.run.run_id, "closed", None).await
    }
}

//! The resource sampler of one query phase: a task on bench's main runtime (the phase runs on
//! its own thread) that ticks on the scenario's stats interval and records, per interval, the
//! server's CPU (embedded: postmaster and children from /proc), bench's CPU and RSS, WAL
//! bytes, checkpoints and buffer writes (pg_stat_bgwriter), and the live-ingest rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::procfs;
use crate::model::report::ResourceSample;

/// The server's cumulative counters at one instant (None: not exposed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerCounters {
    pub wal_bytes: Option<u64>,
    pub checkpoints: Option<u64>,
    pub buffers_checkpoint: Option<u64>,
    pub buffers_clean: Option<u64>,
    pub buffers_backend: Option<u64>,
}

/// Read the counters; a view the server lacks (a standby has no current WAL LSN, PostgreSQL
/// 17 moved checkpoints to pg_stat_checkpointer) leaves its fields None.
pub async fn read_server(client: &Client) -> ServerCounters {
    let mut c = ServerCounters::default();
    if let Ok(r) = client
        .query_one("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint", &[])
        .await
    {
        c.wal_bytes = r.get::<_, Option<i64>>(0).map(|v| v.max(0) as u64);
    }
    if let Ok(r) = client
        .query_one(
            "SELECT checkpoints_timed + checkpoints_req, buffers_checkpoint, buffers_clean, \
             buffers_backend FROM pg_stat_bgwriter",
            &[],
        )
        .await
    {
        let g = |i: usize| r.get::<_, Option<i64>>(i).map(|v| v.max(0) as u64);
        c.checkpoints = g(0);
        c.buffers_checkpoint = g(1);
        c.buffers_clean = g(2);
        c.buffers_backend = g(3);
    }
    c
}

/// Everything read at one tick.
#[derive(Debug, Clone, Copy, Default)]
struct Reading {
    at: Option<Instant>,
    unix_ms: f64,
    server_ticks: Option<u64>,
    bench_ticks: Option<u64>,
    server: ServerCounters,
    ingested: Option<u64>,
}

/// What a sampler needs to know about its phase.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub phase: String,
    pub interval: Duration,
    /// The phase's warmup: `t_s` counts from its end, so samples of the warmup are negative.
    pub warmup: Duration,
    /// Added to every `t_s`: the measured time of the phase's earlier rounds (`[run]
    /// rounds`), so a query's rounds follow each other on one time axis; 0 for one round.
    pub t_offset_s: f64,
    /// The embedded server's postmaster (None on an external server).
    pub server_pid: Option<u32>,
    /// Rows committed by live ingest so far (None without live ingest).
    pub ingested: Option<Arc<AtomicU64>>,
}

/// A running sampler; [`Sampler::stop`] returns its samples.
pub struct Sampler {
    stop: CancellationToken,
    task: Option<JoinHandle<Vec<ResourceSample>>>,
}

impl Sampler {
    /// Start sampling; `client` is the sampler's own connection (None: server counters off).
    pub fn start(client: Option<Arc<Client>>, cfg: SamplerConfig) -> Sampler {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(client, cfg, stop.clone()));
        Sampler {
            stop,
            task: Some(task),
        }
    }

    pub async fn stop(mut self) -> Vec<ResourceSample> {
        self.stop.cancel();
        match self.task.take() {
            Some(t) => t.await.unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

/// A phase that failed never reaches `stop`: the task ends with it.
impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn read(client: Option<&Client>, cfg: &SamplerConfig) -> Reading {
    let server = match client {
        Some(c) => read_server(c).await,
        None => ServerCounters::default(),
    };
    Reading {
        at: Some(Instant::now()),
        unix_ms: chrono::Utc::now().timestamp_millis() as f64,
        server_ticks: cfg.server_pid.and_then(procfs::tree_ticks),
        bench_ticks: procfs::self_ticks(),
        server,
        ingested: cfg.ingested.as_ref().map(|a| a.load(Ordering::Relaxed)),
    }
}

async fn run(
    client: Option<Arc<Client>>,
    cfg: SamplerConfig,
    stop: CancellationToken,
) -> Vec<ResourceSample> {
    let start = Instant::now();
    let mut prev = read(client.as_deref(), &cfg).await;
    let mut out = Vec::new();
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + cfg.interval, cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        let now = read(client.as_deref(), &cfg).await;
        let dt = match (prev.at, now.at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        // The phase's tail: kept when it covers a fair part of an interval.
        if !last || dt > 0.2 * cfg.interval.as_secs_f64() {
            let t_s = now
                .at
                .map_or(0.0, |a| a.duration_since(start).as_secs_f64())
                - cfg.warmup.as_secs_f64()
                + cfg.t_offset_s;
            out.push(sample(&cfg.phase, t_s, dt, &prev, &now));
        }
        if last {
            break;
        }
        prev = now;
    }
    out
}

fn sample(phase: &str, t_s: f64, dt: f64, a: &Reading, b: &Reading) -> ResourceSample {
    let d = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (Some(x), Some(y)) => Some(y.saturating_sub(x)),
        _ => None,
    };
    ResourceSample {
        phase: phase.to_string(),
        t_s,
        unix_ms: b.unix_ms,
        server_cpu_pct: d(a.server_ticks, b.server_ticks).map(|t| procfs::cpu_pct(t, dt)),
        bench_cpu_pct: d(a.bench_ticks, b.bench_ticks).map_or(0.0, |t| procfs::cpu_pct(t, dt)),
        bench_rss_bytes: procfs::self_rss().unwrap_or(0),
        wal_bytes: d(a.server.wal_bytes, b.server.wal_bytes),
        checkpoints: d(a.server.checkpoints, b.server.checkpoints),
        buffers_backend: d(a.server.buffers_backend, b.server.buffers_backend),
        buffers_checkpoint: d(a.server.buffers_checkpoint, b.server.buffers_checkpoint),
        buffers_clean: d(a.server.buffers_clean, b.server.buffers_clean),
        ingest_rows_per_s: d(a.ingested, b.ingested).map(|r| {
            if dt > 0.0 {
                r as f64 / dt
            } else {
                0.0
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a server connection the sampler still records /proc figures (here bench's own
    /// process stands in for the postmaster) and the ingest counter's rate.
    #[tokio::test]
    async fn samples_proc_figures_and_the_ingest_rate_without_a_server() {
        let rows = Arc::new(AtomicU64::new(0));
        let s = Sampler::start(
            None,
            SamplerConfig {
                phase: "p".into(),
                interval: Duration::from_millis(20),
                warmup: Duration::from_millis(10),
                t_offset_s: 0.0,
                server_pid: Some(std::process::id()),
                ingested: Some(rows.clone()),
            },
        );
        for _ in 0..10 {
            rows.fetch_add(100, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let samples = s.stop().await;
        assert!(!samples.is_empty());
        for x in &samples {
            assert_eq!(x.phase, "p");
            assert!(x.server_cpu_pct.is_some() && x.bench_rss_bytes > 0, "{x:?}");
            assert!(x.wal_bytes.is_none() && x.checkpoints.is_none(), "{x:?}");
            assert!(x.ingest_rows_per_s.is_some(), "{x:?}");
        }
        assert!(samples
            .iter()
            .any(|x| x.ingest_rows_per_s.unwrap_or(0.0) > 0.0));
        assert!(samples.windows(2).all(|w| w[1].t_s > w[0].t_s));
    }
}

//! `bench info`: wiring only. Opens the target (an embedded server when no URL is given),
//! detects the server, lists bench's hypertables and the benchmark-relevant settings.

use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;

use super::cli::ServerArgs;
use crate::db::catalog::{self, HypertableInfo, JobInfo};
use crate::db::detect::{self, Setting};
use crate::db::guard::{self, PausedJob};
use crate::db::Target;
use crate::error::Outcome;

/// Arguments of `bench info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `bench info --json` prints.
#[derive(Debug, Serialize)]
pub struct InfoReport {
    /// The server, password redacted.
    pub server: String,
    pub embedded: bool,
    pub postgres_version: String,
    pub postgres_version_num: u32,
    pub timescaledb_version: String,
    /// "apache" or "community".
    pub edition: String,
    pub database: String,
    pub schema: String,
    pub hypertables: Vec<HypertableInfo>,
    pub jobs: Vec<JobInfo>,
    /// Jobs bench switched off and recorded in esp_bench_paused_jobs: by a command that is
    /// still running (it holds the schema's writer lock), or by one that was killed.
    pub paused_by_bench: Vec<PausedJobReport>,
    /// Jobs a killed bench command had left paused, switched back on by this `bench info`.
    pub restored: Vec<PausedJobReport>,
    /// Version-dependent TimescaleDB names bench will call on this server.
    pub api: BTreeMap<String, Option<String>>,
    pub settings: Vec<Setting>,
}

/// A policy job bench paused, as `bench info` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct PausedJobReport {
    pub job_id: i32,
    pub proc_name: String,
    pub hypertable: String,
    /// e.g. "bench run".
    pub command: String,
    /// Operating-system PID of that bench process.
    pub bench_pid: i64,
    pub paused_at: String,
    /// The command still holds the schema's writer lock (it is running).
    pub holder_running: bool,
}

impl PausedJobReport {
    fn of(j: &PausedJob, holder_running: bool) -> PausedJobReport {
        PausedJobReport {
            job_id: j.job_id,
            proc_name: j.proc_name.clone(),
            hypertable: j.hypertable.clone(),
            command: j.command.clone(),
            bench_pid: j.bench_pid,
            paused_at: j.paused_at.clone(),
            holder_running,
        }
    }
}

pub async fn run(args: InfoArgs) -> anyhow::Result<Outcome> {
    let report =
        super::with_target(&args.server, &BTreeMap::new(), async |t| gather(t).await).await?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        render_text(&report)
    };
    write_stdout(&text)?;
    Ok(Outcome::Pass)
}

/// Collect the report from an open target.
pub async fn gather(target: &Target) -> anyhow::Result<InfoReport> {
    let client = target.connect().await?;
    let info = detect::detect(&client).await?;
    let hypertables = catalog::hypertables(&client, &target.schema).await?;
    // Jobs left paused by a bench command that no longer runs are switched back on here (this
    // takes the writer lock for a moment, only when nobody holds it).
    let mut restored = Vec::new();
    let mut paused_by_bench = Vec::new();
    if guard::paused_table_exists(&client, &target.schema).await? {
        let recorded = guard::recorded(&client, &target.schema).await?;
        let running = guard::lock_held(&client, &target.schema).await?;
        if !recorded.is_empty() && !running {
            if let Ok(g) =
                guard::WriteGuard::acquire(target, "bench info", guard::LockWait::NoWait).await
            {
                restored = g
                    .restored
                    .iter()
                    .map(|j| PausedJobReport::of(j, false))
                    .collect();
                g.release().await?;
            }
        }
        let still = guard::recorded(&client, &target.schema).await?;
        let running = guard::lock_held(&client, &target.schema).await?;
        paused_by_bench = still
            .iter()
            .map(|j| PausedJobReport::of(j, running))
            .collect();
    }
    let jobs = catalog::jobs(&client, &target.schema).await?;
    let settings = detect::benchmark_settings(&client).await?;
    let mut api = BTreeMap::new();
    api.insert(
        "hypertable_compression_stats".to_string(),
        info.api.hypertable_compression_stats(),
    );
    api.insert(
        "chunk_compression_stats".to_string(),
        info.api.chunk_compression_stats(),
    );
    api.insert(
        "compress_chunk".to_string(),
        info.api.compress_chunk().map(str::to_string),
    );
    api.insert(
        "add_compression_policy".to_string(),
        info.api.add_compression_policy().map(str::to_string),
    );
    Ok(InfoReport {
        server: target.display_url(),
        embedded: target.is_embedded(),
        postgres_version: info.postgres_version.clone(),
        postgres_version_num: info.postgres_version_num,
        timescaledb_version: info.timescaledb_version.clone(),
        edition: info.edition.to_string(),
        database: info.database.clone(),
        schema: target.schema.clone(),
        hypertables,
        jobs,
        paused_by_bench,
        restored,
        api,
        settings,
    })
}

/// A chunk interval or policy window: "1 d", "6 h", "90 s"; "-" when unset.
fn human_interval(secs: u64) -> String {
    match secs {
        0 => "-".to_string(),
        s => crate::format::fmt_secs(s as f64),
    }
}

/// Write to stdout; a closed pipe (`bench info | head`) is not an error.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}

fn render_text(r: &InfoReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "server:       {}", r.server);
    let _ = writeln!(
        o,
        "PostgreSQL:   {} ({})",
        r.postgres_version, r.postgres_version_num
    );
    let edition_note = if r.edition == "community" {
        "compression and policies available"
    } else {
        "no compression or policies; the community edition has them"
    };
    let _ = writeln!(
        o,
        "TimescaleDB:  {} ({} edition: {edition_note})",
        r.timescaledb_version, r.edition
    );
    let _ = writeln!(o, "database:     {}   schema: {}", r.database, r.schema);
    if r.hypertables.is_empty() {
        let _ = writeln!(
            o,
            "hypertables:  none in schema {} (run `bench schema apply`)",
            r.schema
        );
    } else {
        let _ = writeln!(o, "hypertables:");
        for h in &r.hypertables {
            let _ = writeln!(
                o,
                "  {:<22} chunk interval {:<6} chunks {:<6} compression {}",
                h.name,
                human_interval(h.chunk_interval_s),
                h.num_chunks,
                if h.compression_enabled { "on" } else { "off" }
            );
        }
    }
    if !r.jobs.is_empty() {
        let _ = writeln!(o, "policy jobs:");
        for j in &r.jobs {
            let cfg = j.config.as_ref().map(|c| c.to_string()).unwrap_or_default();
            let state = match r.paused_by_bench.iter().find(|p| p.job_id == j.job_id) {
                Some(p) if p.holder_running => format!(
                    "paused by `{}` (pid {}, running, since {})",
                    p.command, p.bench_pid, p.paused_at
                ),
                Some(p) => format!(
                    "PAUSED by `{}` (pid {}, since {}), which no longer runs",
                    p.command, p.bench_pid, p.paused_at
                ),
                None if j.scheduled => "scheduled".to_string(),
                None => "paused (not by bench)".to_string(),
            };
            let _ = writeln!(
                o,
                "  {:<6} {:<20} {:<20} {state}  {cfg}",
                j.job_id, j.proc_name, j.hypertable
            );
        }
    }
    let _ = writeln!(o, "API:");
    for (k, v) in &r.api {
        let _ = writeln!(o, "  {k:<30} {}", v.as_deref().unwrap_or("(not available)"));
    }
    let _ = writeln!(o, "settings:");
    for s in &r.settings {
        let _ = writeln!(o, "  {:<36} {:<12} ({})", s.name, s.value, s.source);
    }
    o
}

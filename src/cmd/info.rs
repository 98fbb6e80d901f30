//! `bench info`: wiring only. Opens the target (an embedded server when no URL is given),
//! detects the server, lists bench's hypertables and the benchmark-relevant settings.

use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;

use crate::cli::ServerArgs;
use crate::db::catalog::{self, HypertableInfo, JobInfo};
use crate::db::detect::{self, Setting};
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
    /// Version-dependent TimescaleDB names bench will call on this server.
    pub api: BTreeMap<String, Option<String>>,
    pub settings: Vec<Setting>,
}

pub async fn run(args: InfoArgs) -> anyhow::Result<Outcome> {
    let target = Target::open(&args.server, &BTreeMap::new()).await?;
    let gathered = gather(&target).await;
    let closed = target.close().await;
    let report = gathered?;
    closed?;
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
        api,
        settings,
    })
}

fn human_interval(secs: u64) -> String {
    match secs {
        0 => "-".to_string(),
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s => format!("{s} s"),
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
            let _ = writeln!(
                o,
                "  {:<6} {:<20} {:<20} {cfg}",
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

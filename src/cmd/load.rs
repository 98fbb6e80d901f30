//! `bench load`: wiring only. Scenario -> target -> schema -> `load::load_all` -> summary.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::cli::ServerArgs;
use crate::datagen::Fleet;
use crate::db::{detect, schema, Target};
use crate::error::Outcome;
use crate::load::{self, LoadOptions, ProgressMode};
use crate::report::model::LoadResult;

/// Arguments of `bench load`.
///
/// Loads both tables (esp_telemetry, then diagnostic_results) over parallel binary COPY,
/// one transaction per batch, recorded in a ledger table (esp_bench_load_ledger) in bench's
/// schema. Re-running on the same target resumes: batches already loaded are skipped, so
/// nothing is loaded twice. Starting over is never implicit: pass --reset (or run
/// `bench schema reset --yes`).
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Scenario file (TOML).
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    #[command(flatten)]
    pub server: ServerArgs,

    /// Parallel COPY workers, each on its own connection (default: the scenario's
    /// [load] workers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,

    /// Rows per COPY batch, one transaction each; rounded to whole generator blocks
    /// (default: the scenario's [load] batch_size).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,

    /// Empty bench's tables and the load ledger first, then load everything. Without it a
    /// re-run resumes: batches the ledger (esp_bench_load_ledger) records as committed are
    /// skipped, so nothing is loaded twice; data of a different fleet is refused, not mixed.
    #[arg(long)]
    pub reset: bool,

    /// Progress display on stderr: auto (bars on a terminal, a line every 5 s otherwise),
    /// bars, plain, or quiet.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_progress)]
    pub progress: ProgressMode,
}

fn parse_progress(s: &str) -> Result<ProgressMode, String> {
    match s {
        "auto" => Ok(ProgressMode::Auto),
        "bars" => Ok(ProgressMode::Bars),
        "plain" => Ok(ProgressMode::Plain),
        "quiet" => Ok(ProgressMode::Quiet),
        other => Err(format!(
            "unknown progress mode {other:?} (auto, bars, plain, quiet)"
        )),
    }
}

pub async fn run(args: LoadArgs) -> anyhow::Result<Outcome> {
    let mut plan = crate::scenario::load_config(&args.scenario)?;
    if let Some(w) = args.workers {
        plan.load.workers = w;
    }
    if let Some(b) = args.batch_size {
        plan.load.batch_size = b;
    }
    let fleet = Fleet::new(&plan.fleet);
    let target = Target::open(&args.server, &plan.server_settings).await?;
    let result = async {
        let client = target.connect().await?;
        let info = detect::detect(&client).await?;
        schema::apply(&client, &target.schema, &info)
            .await
            .with_context(|| format!("applying the schema in {}", target.schema))?;
        if args.reset {
            load::reset(&target).await?;
            eprintln!(
                "reset: emptied bench's tables and the load ledger in {}",
                target.schema
            );
        }
        let opts = LoadOptions {
            progress: args.progress,
            cancel: crate::shutdown::token(),
            fault: None,
        };
        load::load_all(&target, &plan, &fleet, opts).await
    }
    .await;
    let closed = target.close().await;
    let results = result?;
    closed?;
    print!("{}", summary(&results));
    Ok(Outcome::Pass)
}

/// The per-table summary: rows, seconds, rows/s.
pub fn summary(results: &[LoadResult]) -> String {
    let mut out = format!(
        "{:<20} {:>12} {:>9} {:>12} {:>8} {:>8}\n",
        "table", "rows", "seconds", "rows/s", "workers", "retries"
    );
    for r in results {
        out.push_str(&format!(
            "{:<20} {:>12} {:>9.2} {:>12.0} {:>8} {:>8}\n",
            r.table, r.rows, r.seconds, r.rows_per_sec, r.workers, r.retries
        ));
    }
    out
}

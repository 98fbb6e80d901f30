//! `bench generate`: wiring only. Scenario -> `datagen::Fleet` -> `datagen::stream` -> a file or
//! stdout. No server involved; the output feeds `psql \copy ... from 'file' with (format ...)`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use crate::datagen::stream::{self, Format, StreamOptions, Table};
use crate::datagen::{self, Fleet};
use crate::error::{BenchError, Outcome};

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableArg {
    /// esp_telemetry rows.
    Telemetry,
    /// diagnostic_results rows.
    Diagnostics,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatArg {
    /// PostgreSQL binary COPY format: `\copy ... from 'f' with (format binary)`.
    Binary,
    /// CSV without a header line: `\copy ... from 'f' with (format csv)`.
    Csv,
}

/// Arguments of `bench generate`.
///
/// The output is identical for any --workers; pin --end (or `end` in the scenario) to get
/// identical bytes across invocations, since `end = "now"` moves with the clock.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Scenario file (TOML) whose [fleet], [faults] and [dirty] sections define the data.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    /// Which table's rows to generate.
    #[arg(long, value_enum, default_value = "telemetry")]
    pub table: TableArg,

    /// Output encoding.
    #[arg(long, value_enum, default_value = "binary")]
    pub format: FormatArg,

    /// Output file, or - for stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE", default_value = "-")]
    pub output: String,

    /// Encoding threads (default: the scenario's [load] workers). Never changes the bytes.
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,

    /// Override the end instant of the history (RFC 3339, e.g. 2026-01-01T00:00:00Z).
    #[arg(long, value_name = "INSTANT")]
    pub end: Option<String>,

    /// Override the scenario seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
}

pub async fn run(args: GenerateArgs) -> anyhow::Result<Outcome> {
    let plan = crate::scenario::load_config(&args.scenario)?;
    let mut fleet_plan = plan.fleet.clone();
    if let Some(end) = &args.end {
        let end: DateTime<Utc> = DateTime::parse_from_rfc3339(end)
            .map_err(|e| {
                BenchError::Config(format!("--end {end:?} is not an RFC 3339 instant: {e}"))
            })?
            .with_timezone(&Utc);
        fleet_plan.end = end;
        fleet_plan.end_is_now = false;
    }
    if fleet_plan.end_is_now {
        eprintln!(
            "note: end = \"now\" resolved to {}; pass --end {} to reproduce these bytes",
            fleet_plan
                .end
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            fleet_plan
                .end
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    if let Some(seed) = args.seed {
        fleet_plan.seed = seed;
    }
    let workers = match args.workers {
        Some(0) => return Err(BenchError::Config("--workers must be at least 1".into()).into()),
        Some(n) => n,
        None => plan.load.workers.max(1),
    } as usize;
    let table = match args.table {
        TableArg::Telemetry => Table::Telemetry,
        TableArg::Diagnostics => Table::Diagnostics,
    };
    let format = match args.format {
        FormatArg::Binary => Format::Binary,
        FormatArg::Csv => Format::Csv,
    };
    let output = args.output.clone();
    tokio::task::spawn_blocking(move || generate(&fleet_plan, table, format, workers, &output))
        .await
        .context("the generator thread failed")??;
    Ok(Outcome::Pass)
}

/// Generate one table to a file or stdout ("-"); prints a one-line summary on stderr.
pub fn generate(
    fleet_plan: &crate::scenario::FleetPlan,
    table: Table,
    format: Format,
    workers: usize,
    output: &str,
) -> anyhow::Result<stream::StreamStats> {
    let fleet = Fleet::new(fleet_plan);
    let opts = StreamOptions {
        workers,
        units_per_job: 1,
    };
    let name = match table {
        Table::Telemetry => datagen::TELEMETRY_TABLE,
        Table::Diagnostics => datagen::DIAGNOSTICS_TABLE,
    };
    let token = crate::shutdown::token();
    let stop = move || token.is_cancelled();
    let started = Instant::now();
    let stats = if output == "-" {
        let stdout = std::io::stdout();
        let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
        let s = stream::write_table_until(&fleet, table, format, opts, &mut w, &stop)
            .with_context(|| format!("failed to write {name} rows to stdout"))?;
        if !s.broken_pipe {
            w.flush().context("failed to flush stdout")?;
        }
        s
    } else {
        let file = File::create(output).map_err(|e| {
            BenchError::Environment(format!("cannot create output file {output}: {e}"))
        })?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let s = stream::write_table_until(&fleet, table, format, opts, &mut w, &stop)
            .with_context(|| format!("failed to write {name} rows to {output}"))?;
        w.flush()
            .with_context(|| format!("failed to write {output}"))?;
        s
    };
    let secs = started.elapsed().as_secs_f64();
    if !stats.broken_pipe {
        eprintln!(
            "generated {} {name} rows ({} bytes) in {secs:.2} s ({:.0} rows/s, {workers} workers)",
            stats.rows,
            stats.bytes,
            stats.rows as f64 / secs.max(1e-9)
        );
    }
    Ok(stats)
}

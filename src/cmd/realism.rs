//! `bench realism`: wiring only. Generated data (a scenario or a built-in fleet shape) and real
//! data (CSV) -> `realism` estimator -> a table or JSON. With a server (`--database-url`, or an
//! embedded one from `--pg-bin-dir`), both are also loaded into the bare table shape and the
//! server's own compression figures are reported (`db::realism`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;

use super::cli::ServerArgs;
use crate::datagen::{self, Fleet};
use crate::error::{BenchError, Outcome};
use crate::realism::{self, Layout, Options, SourceReport};
use crate::scenario::FleetPlan;

/// Arguments of `bench realism`.
///
/// Without --scenario the generated data is a built-in fleet shape (--wells, --interval,
/// --span, --seed, default faults and dirty data). Without --real only generated data is
/// estimated.
#[derive(Args, Debug)]
pub struct RealismArgs {
    /// Scenario file whose [fleet], [faults] and [dirty] sections define the generated data.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,

    /// Wells of the built-in fleet shape.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub wells: u32,

    /// Sample interval of the built-in fleet shape.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub interval: humantime::Duration,

    /// History length of the built-in fleet shape.
    #[arg(long, default_value = "1d", value_name = "DURATION")]
    pub span: humantime::Duration,

    /// Seed of the generated data (overrides the scenario's).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// End instant of the generated history (RFC 3339). Default: 2026-01-01T00:00:00Z for the
    /// built-in shape, the scenario's end otherwise.
    #[arg(long, value_name = "INSTANT")]
    pub end: Option<String>,

    /// Real data: a CSV file or a directory of CSV files (timestamp column, then one column
    /// per sensor, empty = NULL), e.g. the 3W instances.
    #[arg(long, value_name = "PATH")]
    pub real: Option<PathBuf>,

    /// Columns of the real data that are not sensors (repeatable).
    #[arg(long = "exclude-column", value_name = "NAME", default_values_t = ["class".to_string()])]
    pub exclude_columns: Vec<String>,

    /// Sampling intervals to report, seconds (whole multiples of the source's interval).
    #[arg(long, value_delimiter = ',', default_values_t = realism::LEVELS_S.to_vec(), value_name = "S,S,...")]
    pub levels: Vec<u64>,

    /// Chunk interval of the estimator's batching model.
    #[arg(long, default_value = "1d", value_name = "DURATION")]
    pub chunk_interval: humantime::Duration,

    /// How the generated wells are laid out in time.
    #[arg(long, value_enum, default_value = "continuous")]
    pub layout: LayoutArg,

    /// With --layout instances: repeat the real instances' lengths N times (N x 20 wells for
    /// the 3W data), for steadier shares of dead and absent sensors.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub copies: u32,

    /// Skip the generated data (estimate only --real).
    #[arg(long)]
    pub no_generated: bool,

    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutArg {
    /// Every well over the whole span (what bench loads).
    Continuous,
    /// One generated well per real instance, with its length, at 1 s, all starting together:
    /// batches fill as the real data's do (lengths from --real, else the 20 3W instances).
    Instances,
}

/// What `bench realism --json` prints.
#[derive(Debug, Serialize)]
pub struct RealismReport {
    /// Modelled figures per source (estimator, no server).
    pub sources: Vec<SourceReport>,
    /// The server's figures, when a server was used.
    pub server: Option<crate::db::realism::ServerFigures>,
}

/// The built-in fleet shape's end instant.
pub const DEFAULT_END: &str = "2026-01-01T00:00:00Z";

fn parse_end(s: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s)
        .map_err(|e| BenchError::Config(format!("--end {s:?} is not an RFC 3339 instant: {e}")))?
        .with_timezone(&Utc))
}

/// The generated data's fleet plan, layout and label from the arguments (`real`: the real
/// data, whose instance lengths the instances layout copies).
pub fn fleet_plan(
    args: &RealismArgs,
    real: Option<&realism::RealData>,
) -> anyhow::Result<(FleetPlan, Layout, String)> {
    let (mut plan, label) = match &args.scenario {
        Some(path) => {
            let p = crate::scenario::load_config(path)?;
            (p.fleet.clone(), format!("scenario {}", path.display()))
        }
        None => {
            let interval: Duration = args.interval.into();
            let span: Duration = args.span.into();
            if interval.as_secs() == 0 || interval.subsec_nanos() != 0 {
                return Err(BenchError::Config(format!(
                    "--interval {} must be a whole number of seconds",
                    args.interval
                ))
                .into());
            }
            if args.wells == 0 || span < interval {
                return Err(BenchError::Config(
                    "--wells must be at least 1 and --span at least one --interval".into(),
                )
                .into());
            }
            (
                FleetPlan {
                    wells: args.wells,
                    sample_interval: interval,
                    span,
                    end: parse_end(DEFAULT_END)?,
                    end_is_now: false,
                    seed: 42,
                    faults: datagen::default_faults(),
                    dirty: datagen::default_dirty(),
                },
                format!("{} wells x {} at {}", args.wells, args.span, args.interval),
            )
        }
    };
    if let Some(end) = &args.end {
        plan.end = parse_end(end)?;
        plan.end_is_now = false;
    }
    if let Some(seed) = args.seed {
        plan.seed = seed;
    }
    if args.layout == LayoutArg::Instances {
        if args.copies == 0 {
            return Err(BenchError::Config("--copies must be at least 1".into()).into());
        }
        let one = match real {
            Some(d) => d.instance_samples(),
            None => realism::reference::INSTANCE_ROWS.to_vec(),
        };
        let lengths: Vec<u64> = (0..args.copies).flat_map(|_| one.iter().copied()).collect();
        let plan = realism::instances_plan(&lengths, &plan);
        let label = format!(
            "{} wells in the layout of the real instances at 1 s, seed {}",
            lengths.len(),
            plan.seed
        );
        return Ok((plan, Layout::Instances(lengths), label));
    }
    let label = format!("{label}, seed {}", plan.seed);
    Ok((plan, Layout::Continuous, label))
}

pub async fn run(args: RealismArgs) -> anyhow::Result<Outcome> {
    let chunk: Duration = args.chunk_interval.into();
    if chunk.as_secs() == 0 {
        return Err(BenchError::Config("--chunk-interval must be at least 1s".into()).into());
    }
    if args.levels.is_empty() || args.levels.contains(&0) {
        return Err(BenchError::Config("--levels must be positive seconds".into()).into());
    }
    if args.no_generated && args.real.is_none() {
        return Err(BenchError::Config(
            "--no-generated needs --real PATH: nothing to estimate".into(),
        )
        .into());
    }
    let opts = Options {
        levels_s: args.levels.clone(),
        chunk_us: chunk.as_micros() as i64,
    };
    let real = match &args.real {
        Some(path) => {
            let excl = args.exclude_columns.clone();
            let p = path.clone();
            let data = tokio::task::spawn_blocking(move || realism::input::read(&p, &excl))
                .await
                .context("the CSV reader thread failed")??;
            if data.rows() == 0 {
                return Err(
                    BenchError::Config(format!("{} holds no data rows", path.display())).into(),
                );
            }
            Some((data, path.display().to_string()))
        }
        None => None,
    };
    let generated = if args.no_generated {
        None
    } else {
        Some(fleet_plan(&args, real.as_ref().map(|(d, _)| d))?)
    };

    let mut sources = Vec::new();
    if let Some((plan, layout, label)) = &generated {
        let (plan, layout, label, o) = (plan.clone(), layout.clone(), label.clone(), opts.clone());
        sources.push(
            tokio::task::spawn_blocking(move || {
                realism::estimate_fleet(&Fleet::new(&plan), &layout, &label, &o)
            })
            .await
            .context("the estimator thread failed")?,
        );
    }
    if let Some((data, label)) = &real {
        let (data2, label, o) = (data.clone(), label.clone(), opts.clone());
        sources.push(
            tokio::task::spawn_blocking(move || realism::estimate_real(&data2, &label, &o))
                .await
                .context("the estimator thread failed")?,
        );
    }

    if let Some(s) = sources.iter().find(|s| s.levels.is_empty()) {
        return Err(BenchError::Config(format!(
            "none of --levels {:?} is a whole multiple of the {} data's {} s interval; pass \
             --levels {}",
            args.levels, s.kind, s.base_interval_s, s.base_interval_s
        ))
        .into());
    }

    let use_server = args
        .server
        .database_url
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty())
        || args.server.pg_bin_dir.is_some();
    let server = if use_server {
        let inputs = crate::db::realism::Inputs {
            generated: generated
                .as_ref()
                .map(|(p, layout, l)| (p.clone(), layout.clone(), l.clone())),
            real: real.as_ref().map(|(d, l)| (d.clone(), l.clone())),
            levels_s: args.levels.clone(),
        };
        let none = std::collections::BTreeMap::new();
        let figures = super::with_target(&args.server, &none, async |target| {
            crate::db::realism::measure(target, &inputs).await
        })
        .await?;
        Some(figures)
    } else {
        None
    };
    let report = RealismReport { sources, server };
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        render(&report)
    };
    crate::cmd::info::write_stdout(&text)?;
    Ok(Outcome::Pass)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".to_string())
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_else(|| "-".to_string())
}

/// The console tables: one per source and interval, then the server's figures.
pub fn render(r: &RealismReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for s in &r.sources {
        let _ = writeln!(
            o,
            "{} data: {} ({} series, {} rows at {} s; batches cut at {} s chunks)",
            s.kind, s.source, s.series, s.rows, s.base_interval_s, s.chunk_interval_s
        );
        for l in &s.levels {
            let _ = writeln!(
                o,
                "\n  at {} s (every {} sample{}): {} rows, {} B/v over all channels, {} NULL, time column {} B/row",
                l.interval_s,
                l.decimation,
                if l.decimation == 1 { "" } else { "s" },
                l.rows,
                opt(l.bytes_per_value, 2),
                pct(l.null_share),
                opt(l.time_bytes_per_row, 3),
            );
            let _ = writeln!(
                o,
                "  {:<24} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
                "channel",
                "B/v",
                "payload",
                "repeat",
                "NULL",
                "p50",
                "p90",
                "p99",
                "<=3",
                ">=256",
                "ac(d)"
            );
            for c in &l.channels {
                let small: Option<f64> = c
                    .step_buckets
                    .iter()
                    .take(3)
                    .map(|b| b.share)
                    .sum::<Option<f64>>();
                let big = c.step_buckets.last().and_then(|b| b.share);
                let q = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    o,
                    "  {:<24} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
                    c.channel,
                    opt(c.bytes_per_value, 2),
                    opt(c.payload_bytes_per_value, 2),
                    pct(c.repeat_share),
                    pct(c.null_share),
                    q(c.step_p50),
                    q(c.step_p90),
                    q(c.step_p99),
                    pct(small),
                    pct(big),
                    opt(c.diff_lag1_autocorr, 2),
                );
            }
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "B/v: modelled compressed bytes per non-null value (TimescaleDB Gorilla); payload: \
         without per-batch headers. Steps in quantisation units (p50/p90/p99 are power-of-two \
         bucket bounds); <=3 and >=256: share of steps that size; ac(d): lag-1 autocorrelation \
         of differences."
    );
    if let Some(sv) = &r.server {
        o.push_str(&crate::db::realism::render(sv));
    }
    o
}

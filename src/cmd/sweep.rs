//! `bench sweep`: wiring only. Scenario -> server target -> `sweep::run_sweep` (one
//! `run_scenario` per fleet size) -> each size's report -> sweep.csv, fit.csv, plots and
//! index.html -> the fitted growth exponents on stdout.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use super::cli::{ServerArgs, WriterArgs};
use crate::capacity::report::write_sweep_outputs;
use crate::error::{BenchError, Outcome};
use crate::sweep::{run_sweep, validate_sizes, SweepOptions};

/// Arguments of `bench sweep`.
///
/// Runs the scenario once per fleet size, each on a fresh schema (<schema>_w<wells>, dropped
/// afterwards unless --keep-schemas), and fits how each query's p95 grows with the number of
/// rows. Writes wells-<N>/ (each size's full report), sweep.csv, fit.csv, sweep-latency.svg,
/// sweep-storage.svg and index.html into --out.
///
/// Exit codes: 0 swept every size, 2 usage/config/environment error, 130 interrupted (the
/// sizes measured so far are written).
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The scenario file (TOML), e.g. scenarios/ci.toml. Its [fleet] wells is replaced by each
    /// size of --wells; everything else (seed included) stays.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    /// Fleet sizes, comma-separated, at least two, e.g. 50,100,200,400.
    #[arg(long, value_delimiter = ',', required = true, value_name = "N,...")]
    pub wells: Vec<u32>,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub writer: WriterArgs,

    /// Output directory. Default: reports/sweep-<scenario>-<UTC timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Keep each size's schema and data instead of dropping it after the size is measured.
    #[arg(long)]
    pub keep_schemas: bool,
}

pub async fn run(args: SweepArgs) -> anyhow::Result<Outcome> {
    let sizes = validate_sizes(&args.wells)?;
    let plan = crate::scenario::load_config(&args.scenario)?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        Path::new("reports").join(format!("sweep-{}-{stamp}", plan.name))
    });
    std::fs::create_dir_all(&out_dir).map_err(|e| {
        BenchError::Config(format!(
            "cannot create output directory {}: {e}",
            out_dir.display()
        ))
    })?;

    let mut opts = SweepOptions {
        keep_schemas: args.keep_schemas,
        ..Default::default()
    };
    opts.run.lock_wait = args.writer.lock_wait();
    let write_size = |wells: u32, summary: &crate::model::report::Summary| {
        let dir = out_dir.join(format!("wells-{wells}"));
        crate::report::write_reports(&dir, summary)
            .with_context(|| format!("writing the report of {wells} wells to {}", dir.display()))?;
        eprintln!("[sweep] {wells} wells measured: {}", dir.display());
        Ok(())
    };
    let swept = super::with_target(&args.server, &plan.server_settings, async |target| {
        run_sweep(target, &plan, &sizes, opts, write_size).await
    })
    .await?;

    if swept.runs.is_empty() {
        eprintln!("interrupted before any fleet size was measured");
        return Ok(Outcome::Interrupted);
    }
    let outputs = write_sweep_outputs(&out_dir, &swept.runs)?;
    print!("{}", outputs.text);
    for s in &swept.kept {
        println!("kept schema {s}");
    }
    println!("sweep: {}", out_dir.display());
    Ok(if swept.interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Pass
    })
}

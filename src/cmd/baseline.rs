//! `bench baseline`: wiring only. `add` appends runs' summary.json to a baseline file (creating
//! it, or converting a one-run summary baseline); `show` lists a baseline's runs and the
//! run-to-run noise the gate measures from them. The format and the method live in `compare`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::compare::{self, Baseline};
use crate::error::Outcome;

/// Arguments of `bench baseline`.
///
/// A baseline holds the summaries of k runs of one scenario, so the regression gate measures
/// each metric's run-to-run noise from them instead of assuming it (docs/ci-gate.md). `bench
/// compare` and `bench run --baseline` read a baseline file or a plain summary.json (a one-run
/// baseline, judged with an assumed default noise).
///
/// Exit codes: 0 done, 2 bad input (unreadable or foreign file, a run of another scenario or
/// configuration, an interrupted run).
#[derive(Args, Debug)]
pub struct BaselineArgs {
    #[command(subcommand)]
    pub command: BaselineCommand,
}

#[derive(Subcommand, Debug)]
pub enum BaselineCommand {
    /// Append runs (summary.json files) to a baseline file, creating it when missing.
    Add(AddArgs),
    /// List a baseline's runs and the run-to-run noise of each query and metric.
    Show(ShowArgs),
}

/// Arguments of `bench baseline add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// The baseline file (e.g. reports/baselines/ci.json). Created when missing; a plain
    /// summary.json there becomes the baseline's first run.
    #[arg(value_name = "BASELINE.json")]
    pub baseline: PathBuf,

    /// Runs to add, oldest first: summary.json files of the same scenario and configuration.
    #[arg(value_name = "SUMMARY.json", required = true)]
    pub runs: Vec<PathBuf>,

    /// Keep only the newest N runs (older ones are dropped).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub keep: u32,
}

/// Arguments of `bench baseline show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The baseline file or summary.json.
    #[arg(value_name = "BASELINE.json")]
    pub baseline: PathBuf,

    /// Metrics to show, e.g. p50,p95,p99. Default: the baseline scenario's [gate], else
    /// p50,p95,p99.
    #[arg(long, value_name = "LIST")]
    pub metrics: Option<compare::MetricList>,
}

pub async fn run(args: BaselineArgs) -> anyhow::Result<Outcome> {
    match args.command {
        BaselineCommand::Add(a) => add(a),
        BaselineCommand::Show(a) => show(a),
    }
}

fn add(args: AddArgs) -> anyhow::Result<Outcome> {
    let mut runs = args.runs.iter();
    let mut baseline = if args.baseline.exists() {
        Baseline::read(&args.baseline)?
    } else {
        let first = runs.next().context("no run to add")?;
        let summary = compare::read_summary_file(first)?;
        Baseline::from_runs(vec![summary], &first.display().to_string())?
    };
    for path in runs {
        let summary = compare::read_summary_file(path)?;
        baseline.add(summary, &path.display().to_string(), args.keep as usize)?;
    }
    // `from_runs` keeps everything; trim a fresh baseline too.
    baseline.keep_newest(args.keep as usize);
    baseline.write(&args.baseline)?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "baseline {}: {} run{} of scenario {}",
        args.baseline.display(),
        baseline.len(),
        if baseline.len() == 1 { "" } else { "s" },
        baseline.latest().scenario.name
    );
    Ok(Outcome::Pass)
}

fn show(args: ShowArgs) -> anyhow::Result<Outcome> {
    let baseline = Baseline::read(&args.baseline)?;
    let metrics = match args.metrics {
        Some(m) => m.0,
        None => compare::gate_metrics_of(baseline.latest())
            .unwrap_or_else(|| crate::scenario::defaults::GATE_METRICS.to_vec()),
    };
    let text = compare::render_baseline(&baseline, &metrics);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing the baseline to stdout")
        }
        _ => Ok(Outcome::Pass),
    }
}

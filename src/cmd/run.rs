//! `bench run`: wiring only. Scenario -> server target -> `run::pipeline::run_scenario` ->
//! optional regression gate against a baseline (`compare::apply_gate`) -> reports -> console
//! table -> exit outcome.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::cli::{ServerArgs, ShardArgs, WriterArgs};
use crate::compare::{self, CompareOptions};
use crate::error::Outcome;
use crate::model::report::Verdict;
use crate::run::pipeline::{self, RunOptions};
use crate::scenario::plan::UnsupportedEffect;

/// What to do with checks this server cannot measure (e.g. compression on the Apache edition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnsupportedArg {
    /// Report them as unsupported; they do not fail the run.
    Skip,
    /// Count them as failures (exit 1).
    Fail,
}

/// Arguments of `bench run`.
///
/// Runs a scenario end to end: detect the server, apply the schema, load the data (skipped when
/// the scenario sets reuse_data and the data is already complete), run the query phases, run the
/// checks, write summary.json, results.csv and one .hgrm per query, and print a summary table.
///
/// Exit codes: 0 every check passed, 1 a check or the regression gate failed or queries failed
/// (degraded run), 2 usage/config/environment error, 130 interrupted (partial report written).
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The scenario file (TOML), e.g. scenarios/ci.toml.
    #[arg(value_name = "SCENARIO")]
    pub scenario: PathBuf,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub writer: WriterArgs,

    #[command(flatten)]
    pub sharding: ShardArgs,

    /// Report directory. Default: reports/<scenario>-<UTC timestamp>/ (with --shard K/N:
    /// reports/<scenario>-<UTC timestamp>-shard<K>of<N>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// A baseline to gate against (regression check): a baseline file of k runs (`bench
    /// baseline add`, `make baseline`) or one previous summary.json.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Largest tolerated slowdown against --baseline, "10%" or "10". Default: the scenario's
    /// [gate].
    #[arg(long, value_name = "PCT", value_parser = compare::parse_percent)]
    pub max_regression: Option<f64>,

    /// Metrics gated against --baseline, e.g. p50_ms,p95_ms. Default: the scenario's [gate].
    #[arg(long, value_name = "LIST")]
    pub metrics: Option<compare::MetricList>,

    /// Run-to-run standard deviation of a metric, "10%" or "10": the assumed noise of a one-run
    /// baseline (default 25%), or a floor under the noise measured from a multi-run baseline
    /// (default: none). See `bench compare --help`.
    #[arg(long, value_name = "PCT", value_parser = compare::parse_percent)]
    pub run_noise: Option<f64>,

    /// Also gate the whole run's shift against --baseline (see `bench compare --help`).
    #[arg(long)]
    pub gate_run_shift: bool,

    /// The statistic of a phase's per-interval values gated against --baseline: `mean` (the
    /// default), `median` or a quantile from 0 to 0.5 (see `bench compare --help`).
    #[arg(long, value_name = "mean|median|Q", value_parser = compare::IntervalValue::parse)]
    pub interval_value: Option<compare::IntervalValue>,

    /// Gate the values as measured, not brought to the baseline's host speed (see `bench
    /// compare --help`).
    #[arg(long)]
    pub no_speed_reference: bool,

    /// Gate against a baseline of a different scenario or configuration anyway (a warning is
    /// recorded in the comparison).
    #[arg(long)]
    pub force: bool,

    /// Empty bench's own tables and load ledger before loading. Needed to re-run a scenario with
    /// `end = "now"` against a server that holds an earlier run's data; never implied.
    #[arg(long)]
    pub reset: bool,

    /// Effect of checks this server cannot measure. Default: the scenario's [checks] unsupported.
    #[arg(long, value_enum, value_name = "skip|fail")]
    pub unsupported: Option<UnsupportedArg>,

    /// Skip the evidence capture (saved plans, pg_stat_statements deltas, resource samples),
    /// as `[run] capture = false` does: to measure what the capture costs.
    #[arg(long)]
    pub no_capture: bool,
}

pub async fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let mut plan = crate::scenario::load_config(&args.scenario)?;
    if let Some(u) = args.unsupported {
        plan.checks.unsupported = match u {
            UnsupportedArg::Skip => UnsupportedEffect::Skip,
            UnsupportedArg::Fail => UnsupportedEffect::Fail,
        };
    }
    if args.no_capture {
        plan.run.capture = false;
    }
    // Read the baseline before spending minutes on a run that could not be gated.
    let baseline = match &args.baseline {
        Some(path) => Some(compare::Baseline::read(path)?),
        None => None,
    };
    args.sharding.check_server(&args.server)?;
    let shard = args.sharding.options();
    if let Some(s) = shard.as_ref().filter(|s| s.spec.count > 1) {
        if args.baseline.is_some() {
            return Err(crate::error::BenchError::Config(format!(
                "--baseline gates one process's statistics, but shard {} measures only part of \
                 the load: run the shards without it, merge their reports (`bench merge`) and \
                 gate the merged summary with `bench compare BASELINE merged/summary.json`",
                s.spec
            ))
            .into());
        }
    }
    if args.reset && shard.as_ref().is_some_and(|s| !s.spec.is_leader()) {
        eprintln!(
            "note: --reset is the leader's (shard 0) job: it empties the tables before the other \
             shards join; this shard resets nothing"
        );
    }
    let out_dir = args.out.clone().unwrap_or_else(|| match &shard {
        Some(s) => default_out_dir(&format!(
            "{}-shard{}of{}",
            plan.name, s.spec.index, s.spec.count
        )),
        None => default_out_dir(&plan.name),
    });

    let mut summary = super::with_target(&args.server, &plan.server_settings, async |target| {
        let opts = RunOptions {
            reset: args.reset,
            lock_wait: args.writer.lock_wait(),
            ..RunOptions::default()
        };
        pipeline::run_scenario_sharded(&plan, target, opts, shard.as_ref()).await
    })
    .await?;

    // A gate that cannot compare (other scenario, bad options) is an error (exit 2), but the
    // run's measurements are still written first.
    let gate_error = match &baseline {
        Some(base) => {
            let mut opts = CompareOptions::from_gate(&plan.gate);
            if let Some(m) = args.max_regression {
                opts.max_regression_pct = m;
            }
            if let Some(m) = &args.metrics {
                opts.metrics = m.0.clone();
            }
            opts.run_noise_pct = args.run_noise;
            opts.gate_run_shift = args.gate_run_shift;
            if let Some(v) = args.interval_value {
                opts.interval_value = v;
            }
            opts.speed_reference = !args.no_speed_reference;
            opts.force = args.force;
            compare::apply_gate(&mut summary, base, &opts).err()
        }
        None => None,
    };

    crate::report::write_reports(&out_dir, &summary)
        .with_context(|| format!("writing reports to {}", out_dir.display()))?;
    let mut text = format!(
        "{}report: {}\n",
        crate::report::console::render(&summary),
        out_dir.display()
    );
    if let Some(s) = &summary.shard {
        text.push_str(&format!(
            "shard {}/{} of run `{}`: this report holds this shard's part of the load{}; merge \
             every shard's report with `bench merge DIR...`\n",
            s.index,
            s.count,
            s.run_id,
            if s.index == 0 {
                " and the checks of the whole fleet"
            } else {
                ""
            }
        ));
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        // A closed pipe (`| head`) is not an error: the reports are on disk.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the summary table to stdout")
        }
        _ => {}
    }
    if let Some(e) = gate_error {
        return Err(e);
    }

    Ok(match summary.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Fail,
        Verdict::Interrupted => Outcome::Interrupted,
    })
}

/// `reports/<scenario>-<UTC timestamp>`.
pub fn default_out_dir(scenario: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    Path::new("reports").join(format!("{scenario}-{stamp}"))
}

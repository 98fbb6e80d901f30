//! `bench compare`: wiring only. Reads a baseline (k runs, or one summary.json) and the current
//! report (and any confirmation runs), resolves the gate options (flags, then the baseline
//! scenario's `[gate]`, then defaults), calls `compare::compare_baseline` (and
//! `compare::confirm`), prints one format.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::compare::{self, CompareOptions};
use crate::error::{BenchError, Outcome};
use crate::report::{self, model::Summary};

/// Output format of `bench compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// Aligned table for a terminal.
    Text,
    /// Markdown table, e.g. for $GITHUB_STEP_SUMMARY.
    Markdown,
    /// The comparison as JSON.
    Json,
    /// JUnit XML: one testcase per query x metric gate.
    Junit,
}

/// Arguments of `bench compare`.
///
/// For each query in both reports and each gated metric, shows the baseline, the current value,
/// the change, the metric's run-to-run noise, the smallest change that could count, a one-sided
/// p-value and a verdict. A gate fails only when the metric is worse by more than
/// --max-regression AND significantly worse at --alpha than the baseline's runs allow. With a
/// baseline of k runs (`bench baseline add`, `make baseline`) the noise of each metric is
/// measured from their spread, moderated across the gates of each metric, and the current run
/// is judged by a t-test as one more run; with a one-run baseline (a plain summary.json) the
/// noise is an assumed default (--run-noise), and the report says so. Error rates use a
/// two-proportion z-test. P-values are Holm-adjusted over all gates, so alpha bounds the chance
/// that noise fails the gate as a whole. Percentiles a phase cannot estimate (fewer than 10
/// queries beyond them: p95 needs 200, p99 1,000) and max are not gated and listed with the
/// reason. With --confirm, a regression counts only when the confirmation run(s) reproduce it;
/// with --confirm and --pool, the runs are tested together on their mean.
/// Queries added or removed are reported, not gated. See docs/ci-gate.md.
///
/// Exit codes: 0 the gate passed, 1 a regression, 2 bad input (unreadable or foreign report,
/// unknown metric or query, different scenarios without --force, nothing gateable).
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The baseline: a baseline file of k runs (e.g. reports/baselines/ci.json) or one
    /// summary.json.
    #[arg(value_name = "BASELINE.json")]
    pub baseline: PathBuf,

    /// The summary.json to judge.
    #[arg(value_name = "CURRENT.json")]
    pub current: PathBuf,

    /// A re-run of the same code (summary.json), judged against the same baseline: a row is a
    /// regression only when it is one in CURRENT and in every --confirm run. Repeatable.
    #[arg(long, value_name = "SUMMARY.json")]
    pub confirm: Vec<PathBuf>,

    /// Pool CURRENT and the --confirm runs instead of intersecting them: each gate is tested on
    /// the mean of their changes (its noise falls with the runs), and a regression must exceed
    /// the threshold in every run.
    #[arg(long, requires = "confirm")]
    pub pool: bool,

    /// Largest tolerated slowdown, "10%" or "10". Default: the baseline scenario's [gate], else
    /// 10%.
    #[arg(long, value_name = "PCT", value_parser = compare::parse_percent)]
    pub max_regression: Option<f64>,

    /// Comma-separated metrics to gate, e.g. p50,p95,p99 or p95_ms,throughput_qps,error_rate.
    /// Default: the baseline scenario's [gate], else p50,p95,p99.
    #[arg(long, value_name = "LIST")]
    pub metrics: Option<compare::MetricList>,

    /// Significance level of the one-sided test. Default: the baseline scenario's [gate], else
    /// 0.05.
    #[arg(long, value_name = "ALPHA")]
    pub alpha: Option<f64>,

    /// Run-to-run standard deviation of a metric, "10%" or "10". With a one-run baseline: the
    /// assumed noise (default 25%). With a baseline of several runs the noise is measured, and
    /// this is a floor under the measurement (default: none).
    #[arg(long, value_name = "PCT", value_parser = compare::parse_percent)]
    pub run_noise: Option<f64>,

    /// Also gate the whole run's shift (every query slower at once, the `(all queries)` rows).
    /// Off by default: on a shared machine that is what a busier neighbour looks like; turn it
    /// on for a dedicated runner or a baseline of runs spread over time.
    #[arg(long)]
    pub gate_run_shift: bool,

    /// The statistic of a phase's per-interval values that is tested: `mean` (their geometric
    /// mean, the default), `median`, or a quantile from 0 to 0.5 (`0.25`: the lower quartile,
    /// the tenth calibration session's method) (docs/ci-gate.md, "What is measured").
    #[arg(long, value_name = "mean|median|Q", value_parser = compare::IntervalValue::parse,
          conflicts_with = "interval_quantile")]
    pub interval_value: Option<compare::IntervalValue>,

    /// Compare the values as measured, even when every run carries the host-speed reference
    /// (`[run] speed_reference`); by default each run's values are then brought to the
    /// baseline's host speed (docs/ci-gate.md, "Speed reference").
    #[arg(long)]
    pub no_speed_reference: bool,

    /// Same as `--interval-value Q` (kept so earlier calibration commands still run).
    #[arg(long, value_name = "Q", hide = true)]
    pub interval_quantile: Option<f64>,

    /// Only these queries (comma-separated). Unknown names are an error.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub queries: Vec<String>,

    /// Compare reports of different scenarios or configurations anyway (a warning is shown).
    #[arg(long)]
    pub force: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,

    /// Also write the comparison as an offline HTML page to FILE (any --format still goes to
    /// stdout).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub async fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let baseline = compare::Baseline::read(&args.baseline)?;
    let current = report::read_summary(&args.current)?;
    let confirmations = args
        .confirm
        .iter()
        .map(|p| report::read_summary(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opts = resolve_options(&args, baseline.latest())?;
    let queries: Vec<String> = args
        .queries
        .iter()
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .collect();
    let baseline = compare::restrict_baseline(&baseline, &current, &queries)?;
    let judge = |cur: &Summary, path: &std::path::Path| {
        let (_, cur) = compare::restrict_to_queries(baseline.latest(), cur, &queries)?;
        compare::compare_baseline(&baseline, &cur, &opts).with_context(|| {
            format!(
                "comparing {} against baseline {}",
                path.display(),
                args.baseline.display()
            )
        })
    };
    let mut cmp = judge(&current, &args.current)?;
    if !confirmations.is_empty() {
        let others = confirmations
            .iter()
            .zip(&args.confirm)
            .map(|(c, p)| judge(c, p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        cmp = if args.pool {
            compare::pool(std::iter::once(cmp).chain(others).collect(), &opts)
        } else {
            compare::confirm(cmp, &others)
        };
    }
    if let Some(path) = &args.html {
        report::html::compare::write_compare_page(path, &cmp.to_json(), Vec::new())
            .with_context(|| format!("writing the comparison page {}", path.display()))?;
    }
    let text = match args.format {
        CompareFormat::Text => cmp.to_text(),
        CompareFormat::Markdown => cmp.to_markdown(),
        CompareFormat::Junit => cmp.to_junit(),
        CompareFormat::Json => format!("{:#}\n", cmp.to_json()),
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => {}
        // A closed pipe (`| head`) is not an error; the verdict still decides the exit code.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e).context("writing the comparison to stdout"),
    }
    Ok(if cmp.failed() {
        Outcome::Fail
    } else {
        Outcome::Pass
    })
}

/// Flags first, then the baseline scenario's `[gate]` table, then the defaults.
fn resolve_options(args: &CompareArgs, baseline: &Summary) -> anyhow::Result<CompareOptions> {
    let gate = baseline.scenario.resolved.get("gate");
    let from_gate_f64 = |key: &str| gate.and_then(|g| g.get(key)).and_then(|v| v.as_f64());
    let defaults = CompareOptions::default();
    let alpha = args
        .alpha
        .or(from_gate_f64("alpha"))
        .unwrap_or(defaults.alpha);
    if !crate::scenario::defaults::alpha_ok(alpha) {
        return Err(BenchError::Config(format!(
            "--alpha must be {}, got {alpha}",
            crate::scenario::defaults::ALPHA_RANGE
        ))
        .into());
    }
    Ok(CompareOptions {
        max_regression_pct: args
            .max_regression
            .or(from_gate_f64("max_regression_pct"))
            .unwrap_or(defaults.max_regression_pct),
        metrics: match &args.metrics {
            Some(list) => list.0.clone(),
            None => compare::gate_metrics_of(baseline).unwrap_or(defaults.metrics),
        },
        alpha,
        force: args.force,
        run_noise_pct: args.run_noise,
        gate_run_shift: args.gate_run_shift,
        interval_value: args
            .interval_value
            .or(args.interval_quantile.map(compare::IntervalValue::Quantile))
            .unwrap_or(defaults.interval_value),
        speed_reference: !args.no_speed_reference,
    })
}

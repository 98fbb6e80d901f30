//! `bench compare`: wiring only. Reads two reports, resolves the gate options (flags, then the
//! baseline scenario's `[gate]`, then defaults), calls `compare::compare`, prints one format.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::compare::{self, CompareOptions};
use crate::error::{BenchError, Outcome};
use crate::report::{self, model::Summary};
use crate::scenario::plan::Metric;

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
/// the change, a one-sided p-value and a verdict. A gate fails only when the metric is worse by
/// more than --max-regression AND the change is statistically significant at --alpha:
/// Welch's t-test on the per-interval samples that each run records (log scale for latency, so
/// the test is about a relative change), widened by --run-noise for shifts of a whole run, and a
/// two-proportion z-test for error_rate; p-values are Holm-adjusted over all gates, so alpha
/// bounds the chance that noise fails the gate as a whole. With fewer than 5 intervals on a
/// side, or for metrics without per-interval samples (p90, p999, max), the change must exceed
/// twice the threshold. Queries added or removed are reported, not gated. See docs/ci-gate.md.
///
/// Exit codes: 0 the gate passed, 1 a regression, 2 bad input (unreadable or foreign report,
/// unknown metric or query, different scenarios without --force).
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The reference summary.json (e.g. reports/baselines/ci.json).
    #[arg(value_name = "BASELINE.json")]
    pub baseline: PathBuf,

    /// The summary.json to judge.
    #[arg(value_name = "CURRENT.json")]
    pub current: PathBuf,

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

    /// Expected run-to-run standard deviation of a metric on this kind of machine, "5%" or "5".
    /// The per-interval samples of one run cannot show a shift of the whole run; the test adds
    /// this as a known variance. Raise it on noisy shared runners, 0 for a quiet dedicated box.
    #[arg(long, value_name = "PCT", value_parser = compare::parse_percent)]
    pub run_noise: Option<f64>,

    /// Only these queries (comma-separated). Unknown names are an error.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub queries: Vec<String>,

    /// Compare reports of different scenarios or configurations anyway (a warning is shown).
    #[arg(long)]
    pub force: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,
}

pub async fn run(args: CompareArgs) -> anyhow::Result<Outcome> {
    let baseline = report::read_summary(&args.baseline)?;
    let current = report::read_summary(&args.current)?;
    let opts = resolve_options(&args, &baseline)?;
    let queries: Vec<String> = args
        .queries
        .iter()
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .collect();
    let (baseline, current) = compare::restrict_to_queries(&baseline, &current, &queries)?;
    let cmp = compare::compare(&baseline, &current, &opts).with_context(|| {
        format!(
            "comparing {} against baseline {}",
            args.current.display(),
            args.baseline.display()
        )
    })?;
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
    let gate_metrics = gate
        .and_then(|g| g.get("metrics"))
        .and_then(|v| v.as_array())
        .and_then(|a| {
            a.iter()
                .map(|m| m.as_str().and_then(Metric::from_name))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|m| !m.is_empty());
    let defaults = CompareOptions::default();
    let alpha = args
        .alpha
        .or(from_gate_f64("alpha"))
        .unwrap_or(defaults.alpha);
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(
            BenchError::Config(format!("--alpha must be between 0 and 1, got {alpha}")).into(),
        );
    }
    Ok(CompareOptions {
        max_regression_pct: args
            .max_regression
            .or(from_gate_f64("max_regression_pct"))
            .unwrap_or(defaults.max_regression_pct),
        metrics: match &args.metrics {
            Some(list) => list.0.clone(),
            None => gate_metrics.unwrap_or(defaults.metrics),
        },
        alpha,
        force: args.force,
        run_noise_pct: args.run_noise.unwrap_or(defaults.run_noise_pct),
    })
}

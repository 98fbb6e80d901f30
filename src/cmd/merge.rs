//! `bench merge`: wiring only. Shard report directories -> `shard::merge` -> reports ->
//! console table -> exit outcome.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::error::Outcome;
use crate::model::report::Verdict;

/// Arguments of `bench merge`.
///
/// Merges the reports of every shard of one sharded run (`bench run --shard K/N`) into one
/// report in the same format (summary.json, results.csv, checks.csv, .hgrm, plots), which
/// `bench compare` and `bench plan` read like any other. Histograms are added (lossless),
/// per-interval samples aligned on wall-clock time, counts and errors summed; checks,
/// verification and storage are the leader's (shard 0, which evaluated them on the whole
/// fleet); environment.shards lists every shard.
///
/// A missing or duplicated shard, shards of different runs or scenarios, or a report written
/// without --shard are errors (exit 2). Exit codes otherwise as `bench run`: 0 the merged
/// verdict passes, 1 it fails, 130 the run was interrupted.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shards' report directories (each holding summary.json), or their summary.json
    /// files: one per shard, in any order.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// Where to write the merged report. Default: reports/<scenario>-merged-<UTC timestamp>/.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub async fn run(args: MergeArgs) -> anyhow::Result<Outcome> {
    let summary = crate::shard::merge::merge_dirs(&args.dirs)?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        crate::cmd::run::default_out_dir(&format!("{}-merged", summary.scenario.name))
    });
    crate::report::write_reports(&out_dir, &summary)
        .with_context(|| format!("writing the merged report to {}", out_dir.display()))?;
    let run_id = summary
        .environment
        .shards
        .first()
        .map(|s| s.run_id.clone())
        .unwrap_or_default();
    let text = format!(
        "{}merged {} shard(s) of run `{run_id}`: {}\n",
        crate::report::console::render(&summary),
        summary.environment.shards.len(),
        out_dir.display()
    );
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing the summary table to stdout")
        }
        _ => {}
    }
    Ok(match summary.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Fail,
        Verdict::Interrupted => Outcome::Interrupted,
    })
}

//! `bench merge`: the shards' summaries of one sharded run -> one summary in the same format.
//! Pure (no I/O but reading the inputs in [`read_inputs`]).
//!
//! - Latency and schedule-lag HdrHistograms are added (lossless), and every percentile is read
//!   from the sum; counts, errors (per SQLSTATE), rows, clients and fixed rates are summed.
//! - Per-interval samples are aligned on wall-clock time: a shard's interval ending at
//!   `measured_from + t_s` (server clock) joins the merged interval whose end is nearest, and
//!   the per-interval histograms of one merged interval are added.
//! - A query's measured window is from the earliest shard's start to the latest shard's end;
//!   throughput is the summed count over that window.
//! - Load rows are summed per table (seconds: the longest shard's, since shards load
//!   concurrently); verification, preparation, storage and checks are the leader's (the leader
//!   verifies the whole fleet and evaluates the checks on the whole fleet's statistics).
//! - `environment` is the leader's, with `shards` listing every shard.
//!
//! A missing shard, a duplicated one, shards of different runs or scenarios, and a report
//! written without `--shard` are errors (exit 2) naming the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hdrhistogram::Histogram;

use crate::error::BenchError;
use crate::model::report::{
    IntervalStats, LoadResult, QueryStats, ShardEnvironment, ShardQueryDetail, ShardReport,
    Summary, Verdict,
};
use crate::stats::{decode_histogram, interval_stats, new_histogram, percentiles_ms};

/// One shard's report as read from disk.
#[derive(Debug, Clone)]
pub struct ShardInput {
    /// The summary.json it came from.
    pub path: PathBuf,
    pub summary: Summary,
}

/// `DIR` (holding summary.json) or a summary.json path itself.
pub fn summary_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("summary.json")
    } else {
        p.to_path_buf()
    }
}

/// Read every input (each a report directory or a summary.json).
pub fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<ShardInput>> {
    if paths.is_empty() {
        return Err(BenchError::Config(
            "bench merge needs the report directories of the shards (one per shard)".into(),
        )
        .into());
    }
    paths
        .iter()
        .map(|p| {
            let path = summary_path(p);
            if !path.exists() {
                return Err(config(format!(
                    "no shard report at {}: that shard did not finish its run (it failed, was \
                     killed or is still running), so there is nothing to merge for it",
                    path.display()
                )));
            }
            let summary = crate::report::read_summary(&path)?;
            Ok(ShardInput { path, summary })
        })
        .collect()
}

fn config(msg: String) -> anyhow::Error {
    BenchError::Config(msg).into()
}

fn shard_of(input: &ShardInput) -> anyhow::Result<&ShardReport> {
    input.summary.shard.as_ref().ok_or_else(|| {
        config(format!(
            "{} is not a shard's report: it has no `shard` section (it was written by a run \
             without --shard K/N, or is already merged)",
            input.path.display()
        ))
    })
}

/// Check that `inputs` are exactly the shards 0..N of one run of one scenario; returns them in
/// shard order.
pub fn order_shards(inputs: &[ShardInput]) -> anyhow::Result<Vec<&ShardInput>> {
    let first = inputs
        .first()
        .ok_or_else(|| config("no shard reports given".into()))?;
    let s0 = shard_of(first)?;
    let mut by_index: BTreeMap<u32, &ShardInput> = BTreeMap::new();
    for input in inputs {
        let s = shard_of(input)?;
        if s.run_id != s0.run_id {
            return Err(config(format!(
                "{} is shard {} of run `{}`, but {} belongs to run `{}`: merge the shards of one run",
                input.path.display(),
                s.index,
                s.run_id,
                first.path.display(),
                s0.run_id
            )));
        }
        if s.count != s0.count {
            return Err(config(format!(
                "{} says the run has {} shards, {} says {}",
                input.path.display(),
                s.count,
                first.path.display(),
                s0.count
            )));
        }
        if input.summary.scenario.fingerprint != first.summary.scenario.fingerprint {
            return Err(config(format!(
                "{} ran scenario fingerprint {}, {} ran {}: the shards did not run the same scenario",
                input.path.display(),
                input.summary.scenario.fingerprint,
                first.path.display(),
                first.summary.scenario.fingerprint
            )));
        }
        if let Some(other) = by_index.insert(s.index, input) {
            return Err(config(format!(
                "shard {}/{} of run `{}` is given twice: {} and {}",
                s.index,
                s.count,
                s.run_id,
                other.path.display(),
                input.path.display()
            )));
        }
    }
    let missing: Vec<String> = (0..s0.count)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{}", s0.count))
        .collect();
    if !missing.is_empty() {
        return Err(config(format!(
            "run `{}` has {} shards but the report of shard {} is missing (a shard that failed or \
             was killed writes none): the merge would not be the whole load",
            s0.run_id,
            s0.count,
            missing.join(", ")
        )));
    }
    Ok(by_index.into_values().collect())
}

/// Merge the shards' reports of one run into one summary.
pub fn merge(inputs: &[ShardInput]) -> anyhow::Result<Summary> {
    let shards = order_shards(inputs)?;
    let leader = &shards[0].summary;
    let parts: Vec<QueryPart<'_>> = shards
        .iter()
        .map(|i| QueryPart {
            path: &i.path,
            shard: i.summary.shard.as_ref().expect("checked in order_shards"),
            queries: &i.summary.queries,
        })
        .collect();
    let queries = merge_queries(&parts)?;

    let mut environment = leader.environment.clone();
    environment.shards = shards
        .iter()
        .map(|i| {
            let s = i.summary.shard.as_ref().expect("checked in order_shards");
            ShardEnvironment {
                index: s.index,
                run_id: s.run_id.clone(),
                host: s.host.clone(),
                pid: s.pid,
                os: i.summary.environment.os.clone(),
                cores: i.summary.environment.cores,
                memory_bytes: i.summary.environment.memory_bytes,
                bench_version: i.summary.bench_version.clone(),
                wells_start: s.wells_start,
                wells_end: s.wells_end,
                clock_offset_ms: s.clock_offset_ms,
                started_at: i.summary.started_at.clone(),
                finished_at: i.summary.finished_at.clone(),
                verdict: i.summary.verdict,
            }
        })
        .collect();

    let interrupted = shards.iter().any(|i| i.summary.interrupted);
    let degraded = shards.iter().any(|i| i.summary.degraded);
    let verdict = if interrupted {
        Verdict::Interrupted
    } else if degraded || leader.verdict == Verdict::Fail {
        Verdict::Fail
    } else {
        leader.verdict
    };
    let started_at = shards
        .iter()
        .map(|i| i.summary.started_at.clone())
        .min()
        .unwrap_or_default();
    let finished_at = shards
        .iter()
        .map(|i| i.summary.finished_at.clone())
        .max()
        .unwrap_or_default();
    Ok(Summary {
        format: leader.format.clone(),
        schema_version: leader.schema_version,
        bench_version: leader.bench_version.clone(),
        scenario: leader.scenario.clone(),
        environment,
        started_at,
        finished_at,
        interrupted,
        degraded,
        load: merge_load(shards.iter().map(|i| i.summary.load.as_slice())),
        verification: leader.verification.clone(),
        preparation: leader.preparation.clone(),
        writes: shards.iter().any(|i| i.summary.writes),
        storage: leader.storage.clone(),
        queries,
        checks: leader.checks.clone(),
        comparison: None,
        verdict,
        shard: None,
        resources: leader.resources.clone(),
        explanations: leader.explanations.clone(),
        what_if: leader.what_if.clone(),
    })
}

/// Per table: rows, workers and retries summed; seconds the longest shard's.
pub fn merge_load<'a>(parts: impl Iterator<Item = &'a [LoadResult]>) -> Vec<LoadResult> {
    let mut out: Vec<LoadResult> = Vec::new();
    for part in parts {
        for l in part {
            match out.iter_mut().find(|o| o.table == l.table) {
                Some(o) => {
                    o.rows += l.rows;
                    o.seconds = o.seconds.max(l.seconds);
                    o.workers += l.workers;
                    o.retries += l.retries;
                }
                None => out.push(l.clone()),
            }
        }
    }
    for o in &mut out {
        o.rows_per_sec = if o.seconds > 0.0 {
            o.rows as f64 / o.seconds
        } else {
            0.0
        };
    }
    out
}

/// One shard's query statistics with what a lossless merge needs.
#[derive(Debug, Clone, Copy)]
pub struct QueryPart<'a> {
    /// Names the shard's report in errors.
    pub path: &'a Path,
    pub shard: &'a ShardReport,
    pub queries: &'a [QueryStats],
}

fn decode(h: &str, path: &Path, what: &str) -> anyhow::Result<Histogram<u64>> {
    decode_histogram(h).map_err(|e| {
        config(format!(
            "{}: the {what} is not a valid histogram: {e:#}",
            path.display()
        ))
    })
}

fn add(into: &mut Histogram<u64>, h: &Histogram<u64>) {
    into.add(h)
        .expect("auto-resizing histograms of equal precision add");
}

/// Merge the shards' statistics query by query (in the order the leader, then the others,
/// list them). Also used by the leader to evaluate checks on the whole fleet.
pub fn merge_queries(parts: &[QueryPart<'_>]) -> anyhow::Result<Vec<QueryStats>> {
    let mut names: Vec<&str> = Vec::new();
    for p in parts {
        if p.shard.queries.len() != p.queries.len()
            || p.shard
                .queries
                .iter()
                .zip(p.queries)
                .any(|(d, q)| d.name != q.name)
        {
            return Err(config(format!(
                "{}: `shard.queries` does not match `queries` (one entry per query, same order)",
                p.path.display()
            )));
        }
        for q in p.queries {
            if !names.contains(&q.name.as_str()) {
                names.push(&q.name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let of: Vec<(&QueryPart<'_>, &QueryStats, &ShardQueryDetail)> = parts
                .iter()
                .filter_map(|p| {
                    let i = p.queries.iter().position(|q| q.name == name)?;
                    Some((p, &p.queries[i], &p.shard.queries[i]))
                })
                .collect();
            merge_query(&of)
        })
        .collect()
}

fn merge_query(
    of: &[(&QueryPart<'_>, &QueryStats, &ShardQueryDetail)],
) -> anyhow::Result<QueryStats> {
    let (p0, q0, _) = of[0];
    let mut out = q0.clone();
    out.clients = 0;
    out.count = 0;
    out.errors = 0;
    out.errors_by_sqlstate.clear();
    out.rows_returned = 0;
    out.rate = None;
    let mut latency = new_histogram();
    let mut lag = new_histogram();
    let mut start = f64::INFINITY;
    let mut end = f64::NEG_INFINITY;
    let step_ms = p0.shard.stats_interval_s * 1000.0;
    for (p, q, _) in of {
        if q.mode != q0.mode {
            return Err(config(format!(
                "query `{}` ran as {} in {} but as {} in {}",
                q.name,
                q.mode,
                p.path.display(),
                q0.mode,
                p0.path.display()
            )));
        }
        if (p.shard.stats_interval_s - p0.shard.stats_interval_s).abs() > 1e-9 {
            return Err(config(format!(
                "{} samples every {} s, {} every {} s",
                p.path.display(),
                p.shard.stats_interval_s,
                p0.path.display(),
                p0.shard.stats_interval_s
            )));
        }
    }
    let mut buckets: BTreeMap<i64, Histogram<u64>> = BTreeMap::new();
    for (p, q, d) in of {
        out.clients += q.clients;
        out.count += q.count;
        out.errors += q.errors;
        for (k, v) in &q.errors_by_sqlstate {
            *out.errors_by_sqlstate.entry(k.clone()).or_default() += v;
        }
        out.rows_returned += q.rows_returned;
        if let Some(r) = q.rate {
            out.rate = Some(out.rate.unwrap_or(0.0) + r);
        }
        add(
            &mut latency,
            &decode(&q.histogram, p.path, &format!("histogram of `{}`", q.name))?,
        );
        if q.rate.is_some() {
            let h = d.lag_histogram.as_deref().ok_or_else(|| {
                config(format!(
                    "{}: fixed-rate query `{}` has no schedule-lag histogram",
                    p.path.display(),
                    q.name
                ))
            })?;
            add(
                &mut lag,
                &decode(h, p.path, &format!("lag histogram of `{}`", q.name))?,
            );
        }
        start = start.min(d.measured_from_ms);
        end = end.max(d.measured_from_ms + q.duration_s * 1000.0);
        if d.interval_histograms.len() != q.intervals.len() {
            return Err(config(format!(
                "{}: query `{}` has {} intervals but {} interval histograms",
                p.path.display(),
                q.name,
                q.intervals.len(),
                d.interval_histograms.len()
            )));
        }
    }
    for (p, q, d) in of {
        for (iv, h) in q.intervals.iter().zip(&d.interval_histograms) {
            let at = d.measured_from_ms + iv.t_s * 1000.0 - start;
            let j = ((at / step_ms.max(1e-9)).round() as i64).max(1);
            let h = decode(h, p.path, &format!("interval histogram of `{}`", q.name))?;
            add(buckets.entry(j).or_insert_with(new_histogram), &h);
        }
    }
    // Plan evidence: the leader's EXPLAINs, with the plan-cache counters of every shard.
    if let Some(plan) = out.plan.as_mut() {
        let sum = |f: fn(&crate::model::report::PlanEvidence) -> Option<u64>| {
            of.iter()
                .map(|(_, q, _)| q.plan.as_ref().and_then(f))
                .try_fold(0u64, |acc, v| v.map(|v| acc + v))
        };
        plan.custom_plans = sum(|p| p.custom_plans);
        plan.generic_plans = sum(|p| p.generic_plans);
    }
    out.duration_s = ((end - start) / 1000.0).max(0.0);
    crate::stats::set_merged_latency(&mut out, &latency);
    out.schedule_lag_ms = out.rate.map(|_| percentiles_ms(&lag));
    out.intervals = buckets
        .iter()
        .map(|(j, h)| interval_stats(*j as f64 * step_ms / 1000.0, h))
        .collect::<Vec<IntervalStats>>();
    Ok(out)
}

/// Read, merge, and say what was merged (for `bench merge`).
pub fn merge_dirs(paths: &[PathBuf]) -> anyhow::Result<Summary> {
    let inputs = read_inputs(paths)?;
    merge(&inputs).context("merging the shards' reports")
}

#[cfg(test)]
mod tests;

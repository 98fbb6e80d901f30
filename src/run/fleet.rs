//! The leader's side of a sharded run's statistics: this shard's `summary.shard` section, and
//! every shard's statistics gathered at the last barrier and merged for the checks.

use tokio_util::sync::CancellationToken;

use crate::error::{is_interrupt, BenchError};
use crate::model::report::{QueryStats, Summary};
use crate::scenario::plan::Plan;
use crate::shard::coord::Coordinator;

/// This shard's `summary.shard` section.
pub(crate) fn shard_report(
    c: &Coordinator,
    plan: &Plan,
    details: &[crate::model::report::ShardQueryDetail],
) -> crate::model::report::ShardReport {
    let wells = crate::shard::wells_of(plan.fleet.wells, c.spec);
    crate::model::report::ShardReport {
        run_id: c.run.run_id.clone(),
        index: c.spec.index,
        count: c.spec.count,
        wells_start: wells.start,
        wells_end: wells.end,
        host: crate::shard::coord::host_name(),
        pid: std::process::id(),
        clock_offset_ms: c.clock_offset_ms,
        stats_interval_s: plan.run.stats_interval.as_secs_f64(),
        queries: details.to_vec(),
    }
}

/// Leader: wait for every shard's report at the last barrier and merge their statistics with
/// its own. Returns the fleet's statistics and whether any follower was degraded.
pub(crate) async fn gather_fleet(
    c: &mut Coordinator,
    own: &crate::model::report::ShardReport,
    queries: &[QueryStats],
    cancel: &CancellationToken,
    say: &impl Fn(&str),
) -> anyhow::Result<(Vec<QueryStats>, bool)> {
    let b = c.arrive("queries done", None).await?;
    say("waiting for every shard's statistics");
    match c.wait_all(&b).await {
        Err(e) if is_interrupt(&e, cancel) => return Err(BenchError::Interrupted.into()),
        r => r?,
    }
    let mut followers: Vec<Summary> = Vec::new();
    for (k, payload) in c.payloads().await? {
        if k == 0 {
            continue;
        }
        let text = payload.ok_or_else(|| {
            BenchError::Environment(format!(
                "shard {k}/{} reached the end without posting its statistics",
                c.spec.count
            ))
        })?;
        let s: Summary = serde_json::from_str(&text).map_err(|e| {
            BenchError::Environment(format!(
                "shard {k}/{} posted statistics bench cannot read: {e}",
                c.spec.count
            ))
        })?;
        followers.push(s);
    }
    let paths: Vec<std::path::PathBuf> = (0..c.spec.count)
        .map(|k| std::path::PathBuf::from(format!("shard {k}/{}", c.spec.count)))
        .collect();
    let mut parts = vec![crate::shard::merge::QueryPart {
        path: &paths[0],
        shard: own,
        queries,
    }];
    for f in &followers {
        let Some(sh) = f.shard.as_ref() else { continue };
        parts.push(crate::shard::merge::QueryPart {
            path: &paths[(sh.index as usize).min(paths.len() - 1)],
            shard: sh,
            queries: &f.queries,
        });
    }
    let merged = crate::shard::merge::merge_queries(&parts)?;
    let degraded = followers.iter().any(|f| f.degraded || f.interrupted);
    Ok((merged, degraded))
}

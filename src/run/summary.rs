//! The `Summary` a run returns: the run's own figures around the parts every summary shares
//! (format, versions, the resolved scenario, the environment, the timestamps).

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::report::{
    CheckResult, Environment, Explanation, LoadResult, Preparation, QueryStats, ResourceSeries,
    ScenarioEcho, ShardReport, Summary, TableStorage, Verdict, Verification, WhatIf, FORMAT_NAME,
    SCHEMA_VERSION,
};
use crate::scenario::plan::Plan;

/// What one run (or one shard of it) measured and concluded.
pub(crate) struct Measured {
    pub interrupted: bool,
    pub degraded: bool,
    pub load: Vec<LoadResult>,
    pub verification: Vec<Verification>,
    pub preparation: Option<Preparation>,
    pub storage: Vec<TableStorage>,
    pub queries: Vec<QueryStats>,
    pub checks: Vec<CheckResult>,
    pub verdict: Verdict,
    pub shard: Option<ShardReport>,
    /// The evidence capture's resource series, and the failed checks' explanations and
    /// measured alternatives (empty for a follower shard).
    pub resources: Option<ResourceSeries>,
    pub explanations: Vec<Explanation>,
    pub what_if: Vec<WhatIf>,
}

/// The summary of `plan`'s run, finished now.
pub(crate) fn summary(
    plan: &Plan,
    environment: Environment,
    started_at: DateTime<Utc>,
    m: Measured,
) -> anyhow::Result<Summary> {
    Ok(Summary {
        format: FORMAT_NAME.to_string(),
        schema_version: SCHEMA_VERSION,
        bench_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: ScenarioEcho {
            name: plan.name.clone(),
            file: plan.file.clone(),
            fingerprint: crate::scenario::fingerprint(plan),
            resolved: serde_json::to_value(plan).context("serialising the resolved scenario")?,
        },
        environment,
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        interrupted: m.interrupted,
        degraded: m.degraded,
        load: m.load,
        verification: m.verification,
        preparation: m.preparation,
        writes: plan.queries.iter().any(|q| q.writes),
        storage: m.storage,
        queries: m.queries,
        checks: m.checks,
        comparison: None,
        verdict: m.verdict,
        shard: m.shard,
        resources: m.resources,
        explanations: m.explanations,
        what_if: m.what_if,
    })
}

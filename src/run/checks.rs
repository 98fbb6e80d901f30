//! The checks phase: measure on the server (through `db::measure`), then judge (through
//! [`crate::checks::eval`]). Runs after the query phase, because compression and retention change the
//! data. Order inside: latency targets, chunk pruning and speedup (read-only), chunk counts and
//! intervals, storage, then compression, policies and retention (which modify the data).
//!
//! A measurement that fails becomes a failed check whose note says what was being done; only
//! failures to read the catalog or storage end the phase with an error. On the Apache edition
//! compression and policies are never attempted: they report `unsupported`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::checks::eval::{self, PlanProbe, QueryPlans};
use crate::checks::pruning::{chunk_scan, plan_chunks};
use crate::db::catalog::{self, HypertableInfo};
use crate::db::detect::ServerInfo;
use crate::db::measure;
use crate::error::BenchError;
use crate::exec::queries;
use crate::model::facts::{ChunkInfo, ChunkScan, CompressionDetails, RetentionState};
use crate::model::report::{CheckResult, CheckStatus, PlanEvidence, QueryStats, TableStorage};
use crate::model::tables::{TableSpec, TABLES};
use crate::scenario::plan::{Plan, PlanCacheMode, QueryPlan};

mod plans;
mod tables;

use plans::*;
use tables::*;

/// What the checks phase produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecksOutcome {
    pub checks: Vec<CheckResult>,
    /// Storage per hypertable (telemetry, then diagnostics), before compression and retention.
    pub storage: Vec<TableStorage>,
    /// Both plans of every query (EXPLAIN ANALYZE, custom and generic), by query name, measured
    /// before compression and retention changed the data.
    pub plans: Vec<(String, QueryPlans)>,
    /// The same plans as EXPLAIN returned them (JSON), by query name: what the report saves
    /// under `plans/` (`probe::evidence`).
    pub plan_documents: Vec<(String, crate::db::plans::PlanDocuments)>,
}

impl ChecksOutcome {
    /// Record each query's plans in its statistics (`plan.custom`, `plan.generic`), in the
    /// query's own phase and in the mix (`mix:<query>`), where the same statement runs.
    pub fn annotate(&self, queries: &mut [QueryStats]) {
        for st in queries.iter_mut() {
            let base = st.name.strip_prefix("mix:").unwrap_or(&st.name);
            let Some((_, plans)) = self.plans.iter().find(|(n, _)| n == base) else {
                continue;
            };
            let (custom, generic, note) = plans.report();
            let ev = st.plan.get_or_insert_with(PlanEvidence::default);
            ev.custom = custom;
            ev.generic = generic;
            ev.note = note;
        }
    }
}

/// Timed runs per variant (pruned / pruning defeated) for the speedup check, after one
/// warm-up run of each; the runs alternate so both see the same cache state.
pub const SPEEDUP_RUNS: usize = 5;
/// Fewer runs (at least 3) when the unpruned query is slow: stop once this much time passed.
pub const SPEEDUP_BUDGET: Duration = Duration::from_secs(20);
const SPEEDUP_MIN_RUNS: usize = 3;

/// RNG stream for the literal parameters of the EXPLAINed queries (apart from the runners').
const EXPLAIN_STREAM: u64 = 0xC4EC_0000;

/// Run every check the plan asks for. `queries` are the query phase's statistics; `client`'s
/// search_path must reach `schema` (as `db::Target::connect` sets it).
pub async fn run_checks_phase(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    plan: &Plan,
    queries: &[QueryStats],
) -> Result<ChecksOutcome> {
    let never = CancellationToken::new();
    run_checks_phase_until(client, info, schema, plan, queries, None, &never).await
}

/// Storage per hypertable (telemetry, then diagnostics) as it stands now. `bench run` takes it
/// right before the steady-state preparation, so the figures describe the data as loaded.
pub async fn measure_storage(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
) -> Result<Vec<TableStorage>> {
    let hts = catalog::hypertables(client, schema)
        .await
        .context("failed to read the hypertables")?;
    let chunks = measure::chunks(client, schema).await?;
    let mut storage = Vec::new();
    for spec in TABLES {
        if let Some(ht) = find(&hts, spec.table) {
            storage.push(table_storage(client, info, schema, ht, &chunks).await?);
        }
    }
    Ok(storage)
}

/// [`run_checks_phase`] that stops when `cancel` fires: the statement in flight is cancelled
/// on the server and the phase returns `BenchError::Interrupted` (exit 130).
pub async fn run_checks_phase_until(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    plan: &Plan,
    queries: &[QueryStats],
    storage: Option<Vec<TableStorage>>,
    cancel: &CancellationToken,
) -> Result<ChecksOutcome> {
    tokio::select! {
        r = phase(client, info, schema, plan, queries, storage) => r,
        _ = cancel.cancelled() => {
            // Best effort: the server stops the statement; the session is discarded anyway.
            let _ = client.cancel_token().cancel_query(tokio_postgres::NoTls).await;
            Err(BenchError::Interrupted.into())
        }
    }
}

async fn phase(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    plan: &Plan,
    queries: &[QueryStats],
    measured_storage: Option<Vec<TableStorage>>,
) -> Result<ChecksOutcome> {
    let mut checks = eval::latency_checks(&plan.queries, queries);

    let hts = catalog::hypertables(client, schema)
        .await
        .context("checks: failed to read the hypertables")?;
    let chunks = measure::chunks(client, schema).await?;

    let mut plans = Vec::with_capacity(plan.queries.len());
    let mut plan_documents = Vec::with_capacity(plan.queries.len());
    for (i, q) in plan.queries.iter().enumerate() {
        let (probes, docs) = query_plans(client, schema, plan, q, i as u64, &chunks).await;
        plan_documents.push((q.name.clone(), docs));
        if q.max_chunks_scanned.is_some() || q.min_pruning_speedup.is_some() {
            let ran = queries
                .iter()
                .find(|s| s.name == q.name)
                .and_then(|s| s.plan.as_ref());
            checks.extend(
                pruning_checks(client, schema, plan, q, i as u64, &chunks, &probes, ran).await,
            );
        }
        plans.push((q.name.clone(), probes));
    }

    let end = plan.fleet.end;
    if plan.checks.chunk_counts {
        for spec in TABLES {
            checks.extend(
                chunk_checks(client, schema, plan, &spec, find(&hts, spec.table), &chunks).await,
            );
        }
    }

    let mut storage = match measured_storage {
        Some(s) => s,
        None => measure_storage(client, info, schema).await?,
    };

    let edition = info.edition.to_string();
    let community = info.edition.is_community();
    for (spec, min) in [
        (TABLES[0], plan.checks.telemetry_min_reduction_pct),
        (TABLES[1], plan.checks.diagnostics_min_reduction_pct),
    ] {
        let Some(min) = min else { continue };
        let name = format!("compression.{}.reduction_pct", spec.table);
        let target = format!(">= {}", eval::fmt_num(min));
        if !community {
            checks.push(eval::unsupported_check(
                name,
                "compression",
                target,
                &edition,
            ));
            continue;
        }
        let r = compression(
            client,
            info,
            schema,
            &spec,
            find(&hts, spec.table),
            &chunks,
            end,
        )
        .await;
        match r {
            Ok(details) => {
                if let Some(st) = storage.iter_mut().find(|s| s.table == spec.table) {
                    st.compressed_before_bytes = Some(details.before.total_bytes);
                    st.compressed_after_bytes = Some(details.after.total_bytes);
                    st.compressed_chunks = Some(details.chunks);
                    st.compression = Some(details.clone());
                }
                checks.push(eval::compression_details_check(
                    spec.table,
                    min,
                    spec.compress_after_s,
                    &details,
                ));
            }
            Err(e) => checks.push(failed(name, "compression", target, &e)),
        }
    }

    if plan.checks.policies {
        checks.extend(policy_checks(client, schema, community, &edition).await);
    }

    if plan.checks.retention {
        for spec in TABLES {
            checks.push(retention(client, info, schema, plan, &spec, find(&hts, spec.table)).await);
        }
    }

    Ok(ChecksOutcome {
        checks,
        storage,
        plans,
        plan_documents,
    })
}

fn find<'a>(hts: &'a [HypertableInfo], table: &str) -> Option<&'a HypertableInfo> {
    hts.iter().find(|h| h.name == table)
}

/// A check that could not be measured because of an error; the note carries the error chain.
fn failed(name: String, kind: &str, target: String, err: &anyhow::Error) -> CheckResult {
    CheckResult {
        name,
        kind: kind.to_string(),
        target,
        measured: None,
        measured_text: None,
        status: CheckStatus::Fail,
        note: Some(format!("measurement failed: {}", error_text(err))),
    }
}

/// An error chain on one line, server messages included (tokio-postgres prints "db error" and
/// keeps the server's message in its source).
fn error_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<tokio_postgres::Error>() {
            Some(pg) => crate::error::pg_error_text(pg),
            None => cause.to_string(),
        };
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    crate::format::redact(&parts.join(": "))
}

/// The query's SQL (with `$n` parameters) and one deterministic draw of its parameter values.
fn sql_and_values(plan: &Plan, q: &QueryPlan, stream: u64) -> (String, Vec<queries::ParamValue>) {
    let ctx = queries::ParamContext::from_plan(plan);
    let mut rng = queries::rng_for(plan.fleet.seed, EXPLAIN_STREAM + stream, 0);
    (queries::sql_for(q), queries::values_for(q, &ctx, &mut rng))
}

/// The query's SQL with one deterministic draw of its parameters inlined as literals, so the
/// planner sees constants and can exclude chunks at plan time.
pub fn literal_sql(plan: &Plan, q: &QueryPlan, stream: u64) -> String {
    let (sql, values) = sql_and_values(plan, q, stream);
    queries::inline_params(&sql, &values)
}

//! The checks phase: measure on the server (through `db::measure`), then judge (through
//! [`super::eval`]). Runs after the query phase, because compression and retention change the
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

use super::eval::{self, PlanProbe, QueryPlans, TableSpec, TABLES};
use super::facts::{ChunkInfo, ChunkScan, CompressionDetails, RetentionState};
use super::pruning::{chunk_scan, plan_chunks};
use crate::db::catalog::{self, HypertableInfo};
use crate::db::detect::ServerInfo;
use crate::db::measure;
use crate::error::BenchError;
use crate::exec::queries;
use crate::report::model::{CheckResult, CheckStatus, PlanEvidence, QueryStats, TableStorage};
use crate::scenario::plan::{Plan, PlanCacheMode, QueryPlan};

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
            Some(pg) => crate::db::pg_error_text(pg),
            None => cause.to_string(),
        };
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    crate::db::redact(&parts.join(": "))
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

/// Both plans of `q`'s prepared statement, run with EXPLAIN ANALYZE on one deterministic draw
/// of its parameters (the custom plan only when it has parameters: without them PostgreSQL
/// always uses the generic plan). Also returns the plans' JSON documents.
async fn query_plans(
    client: &Client,
    schema: &str,
    plan: &Plan,
    q: &QueryPlan,
    index: u64,
    chunks: &[ChunkInfo],
) -> (QueryPlans, crate::db::plans::PlanDocuments) {
    let (sql, values) = sql_and_values(plan, q, index);
    let literals: Vec<String> = values.iter().map(|v| v.sql_literal()).collect();
    let probe = |mode| {
        let (sql, literals) = (&sql, &literals);
        async move {
            match measure::explain_analyze_prepared(client, sql, literals, mode).await {
                Ok(p) => (
                    PlanProbe::Measured(plan_chunks(&p, chunks, schema)),
                    Some(p),
                ),
                Err(e) => (PlanProbe::Failed(error_text(&e)), None),
            }
        }
    };
    let (custom, custom_doc) = if values.is_empty() {
        (None, None)
    } else {
        let (p, d) = probe(PlanCacheMode::ForceCustomPlan).await;
        (Some(p), d)
    };
    let (generic, generic_doc) = probe(PlanCacheMode::ForceGenericPlan).await;
    (
        QueryPlans { custom, generic },
        crate::db::plans::PlanDocuments {
            custom: custom_doc,
            generic: generic_doc,
        },
    )
}

#[allow(clippy::too_many_arguments)]
async fn pruning_checks(
    client: &Client,
    schema: &str,
    plan: &Plan,
    q: &QueryPlan,
    index: u64,
    chunks: &[ChunkInfo],
    plans: &QueryPlans,
    ran: Option<&PlanEvidence>,
) -> Vec<CheckResult> {
    let (param_sql, values) = sql_and_values(plan, q, index);
    let sql = queries::inline_params(&param_sql, &values);
    let mut out = Vec::new();
    if let Some(max) = q.max_chunks_scanned {
        out.push(eval::pruning_check(
            &q.name,
            max,
            q.plan_cache_mode,
            plans,
            ran,
        ));
    }
    if let Some(min) = q.min_pruning_speedup {
        let name = format!("pruning_speedup.{}", q.name);
        let target = format!(">= {}", eval::fmt_num(min));
        let pruned = match measure::explain_json(client, &sql, false).await {
            Ok(p) => Ok(chunk_scan(&p, chunks, schema)),
            Err(e) => Err(e),
        };
        let r = match pruned {
            Ok(p) => speedup(client, schema, &sql, chunks)
                .await
                .map(|(pt, dt, d)| (p, pt, dt, d)),
            Err(e) => Err(e),
        };
        out.push(match r {
            Ok((p, pt, dt, d)) => eval::speedup_check(&q.name, min, &pt, &dt, &p, &d),
            Err(e) => failed(name, "pruning_speedup", target, &e),
        });
    }
    out
}

/// Timings of `sql` with pruning on and defeated, and the defeated plan's chunk scans.
async fn speedup(
    client: &Client,
    schema: &str,
    sql: &str,
    chunks: &[ChunkInfo],
) -> Result<(Vec<Duration>, Vec<Duration>, ChunkScan)> {
    let defeated_plan = measure::explain_json(client, sql, true).await?;
    let defeated = chunk_scan(&defeated_plan, chunks, schema);
    // Warm-up: one run of each, not recorded.
    measure::time_query(client, sql, false).await?;
    measure::time_query(client, sql, true).await?;
    let started = Instant::now();
    let (mut pruned_t, mut defeated_t) = (Vec::new(), Vec::new());
    for i in 0..SPEEDUP_RUNS {
        if i >= SPEEDUP_MIN_RUNS && started.elapsed() > SPEEDUP_BUDGET {
            break;
        }
        pruned_t.push(measure::time_query(client, sql, false).await?);
        defeated_t.push(measure::time_query(client, sql, true).await?);
    }
    Ok((pruned_t, defeated_t, defeated))
}

async fn chunk_checks(
    client: &Client,
    schema: &str,
    plan: &Plan,
    spec: &TableSpec,
    ht: Option<&HypertableInfo>,
    chunks: &[ChunkInfo],
) -> Vec<CheckResult> {
    let count_name = format!("chunks.{}.count", spec.table);
    let Some(ht) = ht else {
        return vec![
            CheckResult {
                name: count_name,
                kind: "chunks".into(),
                target: "span / chunk interval".into(),
                measured: None,
                measured_text: None,
                status: CheckStatus::Fail,
                note: Some(format!(
                    "{} is not a hypertable in schema {schema}",
                    spec.table
                )),
            },
            eval::chunk_interval_check(spec.table, None, spec.chunk_interval_s),
        ];
    };
    let count = chunks.iter().filter(|c| c.hypertable == spec.table).count() as u64;
    let count_check = match measure::data_range(client, schema, spec.table).await {
        Ok(range) => eval::chunk_count_check(
            spec.table,
            count,
            plan.fleet.span.as_secs(),
            ht.chunk_interval_s,
            range,
        ),
        Err(e) => failed(count_name, "chunks", "span / chunk interval".into(), &e),
    };
    vec![
        count_check,
        eval::chunk_interval_check(spec.table, Some(ht.chunk_interval_s), spec.chunk_interval_s),
    ]
}

async fn table_storage(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    ht: &HypertableInfo,
    chunks: &[ChunkInfo],
) -> Result<TableStorage> {
    let size = measure::hypertable_size(client, &info.api, schema, &ht.name).await?;
    let (rows, rows_exact) = measure::row_count(client, &info.api, schema, &ht.name).await?;
    Ok(TableStorage {
        table: ht.name.clone(),
        rows,
        rows_exact,
        chunks: chunks.iter().filter(|c| c.hypertable == ht.name).count() as u64,
        chunk_interval_s: ht.chunk_interval_s,
        total_bytes: size.total,
        heap_bytes: size.heap,
        index_bytes: size.index,
        toast_bytes: size.toast,
        compressed_before_bytes: None,
        compressed_after_bytes: None,
        compressed_chunks: None,
        compression: None,
    })
}

/// Compress the chunks the policy would compress (whole range older than data end −
/// compress_after) and gather their per-chunk compression facts.
async fn compression(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    spec: &TableSpec,
    ht: Option<&HypertableInfo>,
    chunks: &[ChunkInfo],
    end: DateTime<Utc>,
) -> Result<CompressionDetails> {
    let ht =
        ht.ok_or_else(|| anyhow::anyhow!("{} is not a hypertable in schema {schema}", spec.table))?;
    if !ht.compression_enabled {
        anyhow::bail!(
            "compression is not enabled on {schema}.{} (bench schema apply enables it on the \
             community edition)",
            ht.name
        );
    }
    let cutoff = end - chrono::Duration::seconds(spec.compress_after_s as i64);
    let eligible: Vec<&ChunkInfo> = chunks
        .iter()
        .filter(|c| c.hypertable == spec.table && c.range_end <= cutoff)
        .collect();
    for c in eligible.iter().filter(|c| !c.is_compressed) {
        measure::compress_chunk(client, &info.api, c).await?;
    }
    let names: Vec<String> = eligible.iter().map(|c| c.name.clone()).collect();
    if names.is_empty() {
        return Ok(eval::compression_details(spec.value_columns, Vec::new()));
    }
    let per_chunk = measure::compression_details(
        client,
        &info.api,
        schema,
        spec.table,
        &names,
        spec.value_columns,
    )
    .await?;
    Ok(eval::compression_details(spec.value_columns, per_chunk))
}

async fn policy_checks(
    client: &Client,
    schema: &str,
    community: bool,
    edition: &str,
) -> Vec<CheckResult> {
    let expected = |spec: &TableSpec| {
        [
            ("compression", "compress_after", spec.compress_after_s),
            ("retention", "drop_after", spec.drop_after_s),
        ]
    };
    let mut out = Vec::new();
    if !community {
        for spec in TABLES {
            for (kind, key, after) in expected(&spec) {
                out.push(eval::unsupported_check(
                    format!("policies.{}.{kind}", spec.table),
                    "policies",
                    format!("{key} == {}", eval::fmt_secs(after as f64)),
                    edition,
                ));
            }
        }
        return out;
    }
    let jobs = measure::policy_jobs(client, schema).await;
    for spec in TABLES {
        for (kind, key, after) in expected(&spec) {
            out.push(match &jobs {
                Ok(jobs) => eval::policy_check(spec.table, kind, after, jobs),
                Err(e) => failed(
                    format!("policies.{}.{kind}", spec.table),
                    "policies",
                    format!("{key} == {}", eval::fmt_secs(after as f64)),
                    e,
                ),
            });
        }
    }
    out
}

/// Run retention on one table and verify what remains. The community edition runs the
/// retention job when the data ends now (the policy's window is relative to now()); otherwise,
/// and on the Apache edition, `drop_chunks` gets the explicit cutoff data end − drop_after.
async fn retention(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    plan: &Plan,
    spec: &TableSpec,
    ht: Option<&HypertableInfo>,
) -> CheckResult {
    let name = format!("retention.{}", spec.table);
    let interval = ht.map_or(spec.chunk_interval_s, |h| h.chunk_interval_s);
    let target = eval::retention_target(spec.drop_after_s, interval);
    let Some(ht) = ht else {
        return failed(
            name,
            "retention",
            target,
            &anyhow::anyhow!("{} is not a hypertable in schema {schema}", spec.table),
        );
    };
    match retention_state(client, info, schema, plan, spec, ht).await {
        Ok(st) => eval::retention_check(spec.table, spec.drop_after_s, &st),
        Err(e) => failed(name, "retention", target, &e),
    }
}

async fn retention_state(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    plan: &Plan,
    spec: &TableSpec,
    ht: &HypertableInfo,
) -> Result<RetentionState> {
    let end = plan.fleet.end;
    let cutoff = end - chrono::Duration::seconds(spec.drop_after_s as i64);
    let count =
        |cs: Vec<ChunkInfo>| cs.iter().filter(|c| c.hypertable == spec.table).count() as u64;
    let before = count(measure::chunks(client, schema).await?);

    let job = if info.edition.is_community() && plan.fleet.end_is_now {
        measure::policy_jobs(client, schema)
            .await?
            .into_iter()
            .find(|j| j.hypertable == spec.table && j.proc_name == "policy_retention")
    } else {
        None
    };
    let method = match job {
        Some(j) => {
            measure::run_job(client, &info.api, j.job_id).await?;
            format!(
                "run_job({}) (retention policy, window relative to now())",
                j.job_id
            )
        }
        None => {
            measure::drop_chunks_older_than(client, &info.api, schema, spec.table, cutoff).await?;
            let why = if !info.edition.is_community() {
                "Apache edition: no retention policy"
            } else if !plan.fleet.end_is_now {
                "the data ends at the scenario's fixed end, not now(): the policy's \
                 now()-relative window does not apply, so the cutoff is explicit"
            } else {
                "no retention job found"
            };
            format!("drop_chunks(older_than => cutoff) ({why})")
        }
    };

    let after = count(measure::chunks(client, schema).await?);
    Ok(RetentionState {
        cutoff,
        chunks_before_cutoff: measure::chunks_ending_before(client, schema, spec.table, cutoff)
            .await?,
        oldest_row: measure::oldest_row(client, schema, spec.table).await?,
        chunk_interval_s: ht.chunk_interval_s,
        method,
        dropped: before.saturating_sub(after),
    })
}

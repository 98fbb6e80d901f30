//! The plan checks of the checks phase: EXPLAIN of every query, chunk pruning, and the
//! speedup of pruning over a full scan.

use super::*;

/// Both plans of `q`'s prepared statement, run with EXPLAIN ANALYZE on one deterministic draw
/// of its parameters (the custom plan only when it has parameters: without them PostgreSQL
/// always uses the generic plan). Also returns the plans' JSON documents.
pub(super) async fn query_plans(
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
pub(super) async fn pruning_checks(
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
pub(super) async fn speedup(
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

//! All SQL of the checks phase: chunk lists, EXPLAIN plans (with and without ANALYZE, custom
//! and generic), plan-cache counters, timed executions with chunk pruning on and defeated,
//! storage sizes, per-chunk compression facts, policy jobs and retention.
//!
//! Function names that moved between TimescaleDB versions (compression vs columnstore) come
//! from the detected [`Api`]; nothing here assumes one version. TimescaleDB routines are
//! qualified with the extension's schema. Identifiers are quoted.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Client;

use crate::db::detect::Api;
use crate::db::quote_ident;
use crate::model::facts::{ByteSplit, ChunkCompression, ChunkInfo, PolicyJob};
use crate::scenario::plan::PlanCacheMode;

mod compression;
mod policies;
mod storage;

pub use compression::*;
pub use policies::*;
pub use storage::*;

/// Session settings that defeat chunk exclusion for one transaction: TimescaleDB's planner
/// (plan-time and startup chunk exclusion, ChunkAppend) is switched off, so the hypertable is
/// expanded by PostgreSQL's plain inheritance, and PostgreSQL's own constraint exclusion on the
/// chunks' CHECK constraints is switched off too. Every chunk is then scanned (through its
/// indexes when they apply), which is what "the same query without chunk pruning" means.
pub const DEFEAT_PRUNING: &str =
    "SET LOCAL timescaledb.enable_optimizations = off; SET LOCAL constraint_exclusion = off";

/// `schema.table`, both quoted.
pub fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

/// A TimescaleDB routine qualified with the extension's schema.
fn ts_fn(api: &Api, name: &str) -> String {
    format!("{}.{name}", quote_ident(&api.extension_schema))
}

/// Error for a routine this server lacks (reported as a failed check, never a raw SQL error).
fn missing(what: &str) -> anyhow::Error {
    anyhow::anyhow!("this TimescaleDB has no {what}")
}

/// Every chunk of every hypertable in `schema`, oldest first per hypertable.
pub async fn chunks(client: &Client, schema: &str) -> Result<Vec<ChunkInfo>> {
    let rows = client
        .query(
            "SELECT hypertable_name::text, chunk_schema::text, chunk_name::text, \
                    range_start, range_end, is_compressed \
             FROM timescaledb_information.chunks \
             WHERE hypertable_schema = $1 \
             ORDER BY hypertable_name, range_start",
            &[&schema],
        )
        .await
        .with_context(|| {
            format!("failed to list the chunks of the hypertables in schema {schema}")
        })?;
    Ok(rows
        .iter()
        .map(|r| ChunkInfo {
            hypertable: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            range_start: r
                .get::<_, Option<DateTime<Utc>>>(3)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            range_end: r
                .get::<_, Option<DateTime<Utc>>>(4)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            is_compressed: r.get::<_, Option<bool>>(5).unwrap_or(false),
        })
        .collect())
}

/// `EXPLAIN (VERBOSE, FORMAT JSON)` of `sql`, with chunk pruning on or defeated.
pub async fn explain_json(client: &Client, sql: &str, defeat_pruning: bool) -> Result<Value> {
    let explain = format!("EXPLAIN (VERBOSE, FORMAT JSON) {sql}");
    let out = in_tx(client, defeat_pruning, async {
        let row = client.query_one(explain.as_str(), &[]).await?;
        Ok(row.try_get::<_, Value>(0)?)
    })
    .await;
    out.with_context(|| format!("failed to EXPLAIN: {}", one_line(sql)))
}

/// `EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON)` of `sql` as a prepared statement executed with
/// `literals` (SQL literal texts, one per `$n`) under `plan_cache_mode = mode`: with
/// `ForceCustomPlan` the plan made for these values (as the plan cache's first executions get
/// it), with `ForceGenericPlan` the cached generic plan that later executions may reuse. The
/// statement really runs, inside a transaction that is rolled back, so even a writing query
/// leaves nothing behind.
pub async fn explain_analyze_prepared(
    client: &Client,
    sql: &str,
    literals: &[String],
    mode: PlanCacheMode,
) -> Result<Value> {
    const NAME: &str = "esp_bench_check_analyze";
    let args = if literals.is_empty() {
        String::new()
    } else {
        format!("({})", literals.join(", "))
    };
    let run = async {
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL plan_cache_mode = {}; PREPARE {NAME} AS {sql}",
                mode.name()
            ))
            .await?;
        let explain = format!(
            "EXPLAIN (ANALYZE, VERBOSE, BUFFERS, SETTINGS, FORMAT JSON) EXECUTE {NAME}{args}"
        );
        let row = client.query_one(explain.as_str(), &[]).await?;
        Ok::<Value, anyhow::Error>(row.try_get::<_, Value>(0)?)
    };
    let out = run.await;
    // Always roll back; PREPARE is not transactional, so remove it afterwards either way.
    let _ = client.batch_execute("ROLLBACK").await;
    let _ = client.batch_execute(&format!("DEALLOCATE {NAME}")).await;
    out.with_context(|| {
        format!(
            "failed to EXPLAIN ANALYZE the prepared statement ({}): {}",
            mode.name(),
            one_line(sql)
        )
    })
}

/// Custom and generic plans a session's prepared statement has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanCounts {
    pub custom: u64,
    pub generic: u64,
}

/// `pg_prepared_statements.custom_plans` / `generic_plans` (PostgreSQL 14+) of the statements
/// this session prepared over the protocol with the texts `sqls`, in the order they were
/// prepared (the client library's statement names are private, so statements are matched by
/// text; the k-th statement with a text is the k-th one prepared with it). A statement the
/// view does not list counts zero. Fails on servers without the columns.
pub async fn prepared_plan_counts(client: &Client, sqls: &[String]) -> Result<Vec<PlanCounts>> {
    let rows = client
        .query(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements \
             WHERE NOT from_sql ORDER BY prepare_time, length(name), name",
            &[],
        )
        .await
        .context("failed to read pg_prepared_statements")?;
    let mut used = vec![false; rows.len()];
    Ok(sqls
        .iter()
        .map(|sql| {
            let found = rows
                .iter()
                .enumerate()
                .find(|(i, r)| !used[*i] && r.get::<_, String>(0) == *sql);
            match found {
                Some((i, r)) => {
                    used[i] = true;
                    PlanCounts {
                        generic: r_u64(r.get::<_, Option<i64>>(1)),
                        custom: r_u64(r.get::<_, Option<i64>>(2)),
                    }
                }
                None => PlanCounts::default(),
            }
        })
        .collect())
}

/// Wall time of one execution of `sql` (planning included, rows fetched), with chunk pruning on
/// or defeated.
pub async fn time_query(client: &Client, sql: &str, defeat_pruning: bool) -> Result<Duration> {
    let out = in_tx(client, defeat_pruning, async {
        let t0 = Instant::now();
        client.query(sql, &[]).await?;
        Ok(t0.elapsed())
    })
    .await;
    out.with_context(|| format!("failed to run: {}", one_line(sql)))
}

/// Run `f` inside a transaction whose settings defeat pruning when asked; always ends the
/// transaction.
async fn in_tx<T>(
    client: &Client,
    defeat_pruning: bool,
    f: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let setup = if defeat_pruning {
        format!("BEGIN; {DEFEAT_PRUNING}")
    } else {
        "BEGIN".to_string()
    };
    client.batch_execute(&setup).await?;
    match f.await {
        Ok(v) => {
            client.batch_execute("COMMIT").await?;
            Ok(v)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 160 {
        let cut = (0..=157)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}...", &s[..cut])
    } else {
        s
    }
}

#[cfg(test)]
mod tests;

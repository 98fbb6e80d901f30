//! All SQL of the checks phase: chunk lists, EXPLAIN plans, timed executions with chunk
//! pruning on and defeated, storage sizes, compression, policy jobs and retention.
//!
//! Function names that moved between TimescaleDB versions (compression vs columnstore) come
//! from the detected [`Api`]; nothing here assumes one version. TimescaleDB routines are
//! qualified with the extension's schema. Identifiers are quoted.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Client;

use crate::checks::facts::{ChunkInfo, CompressionBytes, PolicyJob};
use crate::db::detect::Api;
use crate::db::quote_ident;

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

/// `EXPLAIN (VERBOSE, FORMAT JSON)` of the *generic* plan of `sql` as a prepared statement
/// (parameters `$1..` left as parameters at planning), executed with `literals` (SQL literal
/// texts, one per parameter). This is the plan clients that prepare statements get once the
/// plan cache switches to a generic plan: chunks are then excluded at executor startup, and
/// excluded chunks do not appear in the plan.
pub async fn explain_generic_json(
    client: &Client,
    sql: &str,
    literals: &[String],
) -> Result<Value> {
    const NAME: &str = "esp_bench_check_generic";
    let out = in_tx(client, false, async {
        client
            .batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
            .await?;
        client
            .batch_execute(&format!("PREPARE {NAME} AS {sql}"))
            .await?;
        let explain = format!(
            "EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {NAME}({})",
            literals.join(", ")
        );
        let row = client.query_one(explain.as_str(), &[]).await?;
        Ok(row.try_get::<_, Value>(0)?)
    })
    .await;
    // PREPARE is not transactional: remove it after the transaction ended either way (an
    // error here only means PREPARE itself had failed).
    let _ = client.batch_execute(&format!("DEALLOCATE {NAME}")).await;
    out.with_context(|| {
        format!(
            "failed to EXPLAIN the prepared statement: {}",
            one_line(sql)
        )
    })
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

/// Sizes of a hypertable (all its chunks), bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SizeBytes {
    pub heap: u64,
    pub index: u64,
    pub toast: u64,
    pub total: u64,
}

/// `hypertable_detailed_size` of `schema.table`.
pub async fn hypertable_size(
    client: &Client,
    api: &Api,
    schema: &str,
    table: &str,
) -> Result<SizeBytes> {
    let f = api
        .hypertable_detailed_size()
        .ok_or_else(|| missing("hypertable_detailed_size"))?;
    let sql = format!(
        "SELECT table_bytes, index_bytes, toast_bytes, total_bytes \
         FROM {f}(format('%I.%I', $1::text, $2::text)::regclass)"
    );
    let row = client
        .query_one(sql.as_str(), &[&schema, &table])
        .await
        .with_context(|| format!("failed to read the size of {schema}.{table}"))?;
    let b = |i: usize| r_u64(row.get::<_, Option<i64>>(i));
    Ok(SizeBytes {
        heap: b(0),
        index: b(1),
        toast: b(2),
        total: b(3),
    })
}

fn r_u64(v: Option<i64>) -> u64 {
    v.unwrap_or(0).max(0) as u64
}

/// Above this approximate row count, rows are not counted exactly (count(*) would take minutes).
pub const EXACT_COUNT_LIMIT: i64 = 50_000_000;

/// Rows of `schema.table`: exact `count(*)` up to [`EXACT_COUNT_LIMIT`] rows, otherwise
/// `approximate_row_count`. Returns (rows, exact).
pub async fn row_count(
    client: &Client,
    api: &Api,
    schema: &str,
    table: &str,
) -> Result<(u64, bool)> {
    let approx_sql = format!(
        "SELECT {}(format('%I.%I', $1::text, $2::text)::regclass)",
        ts_fn(api, "approximate_row_count")
    );
    let approx: i64 = client
        .query_one(approx_sql.as_str(), &[&schema, &table])
        .await
        .with_context(|| format!("failed to estimate the rows of {schema}.{table}"))?
        .get::<_, Option<i64>>(0)
        .unwrap_or(0);
    if approx > EXACT_COUNT_LIMIT {
        return Ok((approx as u64, false));
    }
    let sql = format!("SELECT count(*) FROM {}", qualified(schema, table));
    let n: i64 = client
        .query_one(sql.as_str(), &[])
        .await
        .with_context(|| format!("failed to count the rows of {schema}.{table}"))?
        .get(0);
    Ok((n.max(0) as u64, true))
}

/// First and last `"timestamp"` of `schema.table` (None when empty).
pub async fn data_range(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    let sql = format!(
        "SELECT min(\"timestamp\"), max(\"timestamp\") FROM {}",
        qualified(schema, table)
    );
    let row = client
        .query_one(sql.as_str(), &[])
        .await
        .with_context(|| format!("failed to read the time range of {schema}.{table}"))?;
    let a: Option<DateTime<Utc>> = row.get(0);
    let b: Option<DateTime<Utc>> = row.get(1);
    Ok(a.zip(b))
}

/// Oldest `"timestamp"` of `schema.table` (None when empty).
pub async fn oldest_row(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Option<DateTime<Utc>>> {
    Ok(data_range(client, schema, table).await?.map(|r| r.0))
}

/// Compress one chunk with the routine this server has (`compress_chunk` or
/// `convert_to_columnstore`).
pub async fn compress_chunk(client: &Client, api: &Api, chunk: &ChunkInfo) -> Result<()> {
    let name = qualified(&chunk.schema, &chunk.name);
    let sql = api
        .compress_chunk_sql("$1::text::regclass")
        .ok_or_else(|| missing("compress_chunk or convert_to_columnstore"))?;
    client
        .execute(sql.as_str(), &[&name])
        .await
        .with_context(|| format!("failed to compress chunk {name}"))?;
    Ok(())
}

/// Sum of the compression statistics (`chunk_columnstore_stats` or `chunk_compression_stats`)
/// of the named, compressed chunks of `schema.table`: bytes before (as TimescaleDB measured
/// them at compression time) and after.
pub async fn compressed_bytes(
    client: &Client,
    api: &Api,
    schema: &str,
    table: &str,
    chunk_names: &[String],
) -> Result<CompressionBytes> {
    let f = api
        .chunk_compression_stats()
        .ok_or_else(|| missing("chunk_columnstore_stats or chunk_compression_stats"))?;
    let sql = format!(
        "SELECT count(*), sum(before_compression_total_bytes)::int8, \
                sum(after_compression_total_bytes)::int8 \
         FROM {f}(format('%I.%I', $1::text, $2::text)::regclass) \
         WHERE chunk_name = ANY($3) AND before_compression_total_bytes IS NOT NULL"
    );
    let row = client
        .query_one(sql.as_str(), &[&schema, &table, &chunk_names])
        .await
        .with_context(|| {
            format!("failed to read the compression statistics of {schema}.{table}")
        })?;
    Ok(CompressionBytes {
        chunks: r_u64(row.get::<_, Option<i64>>(0)),
        before_bytes: r_u64(row.get::<_, Option<i64>>(1)),
        after_bytes: r_u64(row.get::<_, Option<i64>>(2)),
    })
}

/// Compression and retention policy jobs of the hypertables in `schema`.
pub async fn policy_jobs(client: &Client, schema: &str) -> Result<Vec<PolicyJob>> {
    let rows = client
        .query(
            "SELECT job_id, proc_name::text, hypertable_name::text, config::text, \
                CASE WHEN jsonb_typeof(config->'compress_after') = 'string' \
                       THEN extract(epoch FROM (config->>'compress_after')::interval)::float8 \
                     WHEN jsonb_typeof(config->'drop_after') = 'string' \
                       THEN extract(epoch FROM (config->>'drop_after')::interval)::float8 \
                END \
             FROM timescaledb_information.jobs \
             WHERE hypertable_schema = $1 \
               AND proc_name IN ('policy_compression', 'policy_retention') \
             ORDER BY job_id",
            &[&schema],
        )
        .await
        .context("failed to read timescaledb_information.jobs")?;
    Ok(rows
        .iter()
        .map(|r| PolicyJob {
            job_id: r.get(0),
            proc_name: r.get(1),
            hypertable: r.get::<_, Option<String>>(2).unwrap_or_default(),
            config: r.get::<_, Option<String>>(3).unwrap_or_default(),
            after_s: r.get(4),
        })
        .collect())
}

/// `CALL run_job(id)`: run a policy job now, in this session.
pub async fn run_job(client: &Client, api: &Api, job_id: i32) -> Result<()> {
    let sql = format!("CALL {}($1)", ts_fn(api, "run_job"));
    client
        .execute(sql.as_str(), &[&job_id])
        .await
        .with_context(|| format!("failed to run job {job_id}"))?;
    Ok(())
}

/// `drop_chunks(schema.table, older_than => cutoff)`; returns the number of chunks dropped.
/// Only chunks whose whole range ends at or before the cutoff are dropped.
pub async fn drop_chunks_older_than(
    client: &Client,
    api: &Api,
    schema: &str,
    table: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64> {
    let sql = format!(
        "SELECT count(*) FROM {}(format('%I.%I', $1::text, $2::text)::regclass, \
                                older_than => $3::timestamptz)",
        ts_fn(api, "drop_chunks")
    );
    let row = client
        .query_one(sql.as_str(), &[&schema, &table, &cutoff])
        .await
        .with_context(|| {
            format!("failed to drop the chunks of {schema}.{table} before {cutoff}")
        })?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

/// Chunks of `schema.table` whose whole range ends at or before `cutoff`.
pub async fn chunks_ending_before(
    client: &Client,
    schema: &str,
    table: &str,
    cutoff: DateTime<Utc>,
) -> Result<u64> {
    let row = client
        .query_one(
            "SELECT count(*) FROM timescaledb_information.chunks \
             WHERE hypertable_schema = $1 AND hypertable_name = $2 AND range_end <= $3",
            &[&schema, &table, &cutoff],
        )
        .await
        .with_context(|| format!("failed to list the chunks of {schema}.{table}"))?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(
            qualified("bench", "esp_telemetry"),
            "\"bench\".\"esp_telemetry\""
        );
        assert_eq!(one_line("SELECT  1\n  FROM x"), "SELECT 1 FROM x");
    }
}

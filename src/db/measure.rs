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

use crate::checks::facts::{ByteSplit, ChunkCompression, ChunkInfo, PolicyJob};
use crate::db::detect::Api;
use crate::db::quote_ident;
use crate::scenario::plan::PlanCacheMode;

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

/// Per-chunk compression facts of the named, compressed chunks of `schema.table`, oldest
/// first: bytes before and after split into table, index and toast (the compression
/// statistics function the [`Api`] names), rows (`count(*)` of the chunk), segments (rows of
/// the compressed chunk's internal table, found through TimescaleDB's chunk catalog) and the
/// bytes of `value_columns` alone before and after (see [`ChunkCompression`]). A chunk whose
/// compressed table cannot be found keeps `segments` and `values_after_bytes` empty.
pub async fn compression_details(
    client: &Client,
    api: &Api,
    schema: &str,
    table: &str,
    chunk_names: &[String],
    value_columns: &[&str],
) -> Result<Vec<ChunkCompression>> {
    let f = api
        .chunk_compression_stats()
        .ok_or_else(|| missing("chunk_columnstore_stats or chunk_compression_stats"))?;
    let sql = format!(
        "SELECT s.chunk_schema::text, s.chunk_name::text, c.range_start, c.range_end, \
                s.before_compression_table_bytes, s.before_compression_index_bytes, \
                s.before_compression_toast_bytes, s.before_compression_total_bytes, \
                s.after_compression_table_bytes, s.after_compression_index_bytes, \
                s.after_compression_toast_bytes, s.after_compression_total_bytes \
         FROM {f}(format('%I.%I', $1::text, $2::text)::regclass) s \
         JOIN timescaledb_information.chunks c \
           ON c.chunk_schema = s.chunk_schema AND c.chunk_name = s.chunk_name \
         WHERE s.chunk_name = ANY($3) AND s.before_compression_total_bytes IS NOT NULL \
         ORDER BY c.range_start"
    );
    let rows = client
        .query(sql.as_str(), &[&schema, &table, &chunk_names])
        .await
        .with_context(|| {
            format!("failed to read the compression statistics of {schema}.{table}")
        })?;
    let widths = column_widths(client, schema, table, value_columns).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let b = |i: usize| r_u64(r.get::<_, Option<i64>>(i));
        let split = |i: usize| ByteSplit {
            table_bytes: b(i),
            index_bytes: b(i + 1),
            toast_bytes: b(i + 2),
            total_bytes: b(i + 3),
        };
        let (chunk_schema, chunk): (String, String) = (r.get(0), r.get(1));
        let (rows, values_before) =
            chunk_rows_and_value_bytes(client, &chunk_schema, &chunk, &widths).await?;
        let compressed = compressed_chunk_of(client, &chunk_schema, &chunk).await?;
        let (segments, values_after) = match &compressed {
            Some((cs, cn)) => {
                let (n, v) = compressed_rows_and_value_bytes(client, cs, cn, value_columns).await?;
                (Some(n), Some(v))
            }
            None => (None, None),
        };
        out.push(ChunkCompression {
            rows_per_segment: segments.filter(|&s| s > 0).map(|s| rows as f64 / s as f64),
            chunk,
            range_start: r
                .get::<_, Option<DateTime<Utc>>>(2)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            range_end: r
                .get::<_, Option<DateTime<Utc>>>(3)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            rows,
            segments,
            before: split(4),
            after: split(8),
            values_before_bytes: Some(values_before),
            values_after_bytes: values_after,
        });
    }
    Ok(out)
}

/// (column, typlen) of `columns` in `schema.table`; typlen -1/-2 for variable-width types.
/// Every column must exist.
async fn column_widths(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &[&str],
) -> Result<Vec<(String, i16)>> {
    let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    let rows = client
        .query(
            "SELECT a.attname::text, t.typlen FROM pg_attribute a \
             JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass \
               AND a.attname = ANY($3) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&schema, &table, &names],
        )
        .await
        .with_context(|| format!("failed to read the columns of {schema}.{table}"))?;
    columns
        .iter()
        .map(|c| {
            rows.iter()
                .find(|r| r.get::<_, String>(0) == *c)
                .map(|r| (c.to_string(), r.get::<_, i16>(1)))
                .ok_or_else(|| anyhow::anyhow!("{schema}.{table} has no column {c}"))
        })
        .collect()
}

/// Rows of a chunk, and the uncompressed bytes of its value columns: count(column) x width
/// for fixed-width types (what the heap stores per non-null value), the sum of
/// `pg_column_size` for variable-width ones.
async fn chunk_rows_and_value_bytes(
    client: &Client,
    schema: &str,
    chunk: &str,
    widths: &[(String, i16)],
) -> Result<(u64, u64)> {
    let mut terms: Vec<String> = widths
        .iter()
        .map(|(c, len)| {
            let c = quote_ident(c);
            if *len > 0 {
                format!("count({c})::int8 * {len}")
            } else {
                format!("coalesce(sum(pg_column_size({c})), 0)::int8")
            }
        })
        .collect();
    if terms.is_empty() {
        terms.push("0::int8".into());
    }
    let sql = format!(
        "SELECT count(*)::int8, ({})::int8 FROM {}",
        terms.join(" + "),
        qualified(schema, chunk)
    );
    let row = client
        .query_one(sql.as_str(), &[])
        .await
        .with_context(|| format!("failed to count the rows of chunk {schema}.{chunk}"))?;
    Ok((
        r_u64(row.get::<_, Option<i64>>(0)),
        r_u64(row.get::<_, Option<i64>>(1)),
    ))
}

/// The internal table holding a compressed chunk's batches (TimescaleDB's chunk catalog,
/// `compressed_chunk_id`, unchanged through 2.x); None when the chunk has none.
async fn compressed_chunk_of(
    client: &Client,
    schema: &str,
    chunk: &str,
) -> Result<Option<(String, String)>> {
    let row = client
        .query_opt(
            "SELECT cc.schema_name::text, cc.table_name::text \
             FROM _timescaledb_catalog.chunk c \
             JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id \
             WHERE c.schema_name = $1 AND c.table_name = $2",
            &[&schema, &chunk],
        )
        .await
        .with_context(|| {
            format!("failed to find the compressed table of chunk {schema}.{chunk}")
        })?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Batches (rows) of a compressed chunk's table and the stored bytes of its value columns.
async fn compressed_rows_and_value_bytes(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &[&str],
) -> Result<(u64, u64)> {
    let mut terms: Vec<String> = columns
        .iter()
        .map(|c| format!("coalesce(sum(pg_column_size({})), 0)::int8", quote_ident(c)))
        .collect();
    if terms.is_empty() {
        terms.push("0::int8".into());
    }
    let sql = format!(
        "SELECT count(*)::int8, ({})::int8 FROM {}",
        terms.join(" + "),
        qualified(schema, table)
    );
    let row = client
        .query_one(sql.as_str(), &[])
        .await
        .with_context(|| format!("failed to measure the compressed table {schema}.{table}"))?;
    Ok((
        r_u64(row.get::<_, Option<i64>>(0)),
        r_u64(row.get::<_, Option<i64>>(1)),
    ))
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

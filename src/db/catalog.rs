//! Catalog queries: hypertables, chunks, indexes and policy jobs in bench's schema.

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::Client;

/// One hypertable in bench's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HypertableInfo {
    pub name: String,
    /// Interval of the time dimension in seconds (0 when not time-partitioned).
    pub chunk_interval_s: u64,
    pub num_chunks: u64,
    pub compression_enabled: bool,
}

/// Hypertables in `schema`, by name.
pub async fn hypertables(client: &Client, schema: &str) -> anyhow::Result<Vec<HypertableInfo>> {
    let rows = client
        .query(
            "SELECT h.hypertable_name::text, \
                    coalesce(extract(epoch FROM d.time_interval), 0)::float8, \
                    h.num_chunks::int8, h.compression_enabled \
             FROM timescaledb_information.hypertables h \
             LEFT JOIN timescaledb_information.dimensions d \
               ON d.hypertable_schema = h.hypertable_schema \
              AND d.hypertable_name = h.hypertable_name AND d.dimension_number = 1 \
             WHERE h.hypertable_schema = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .with_context(|| format!("listing hypertables in schema {schema}"))?;
    Ok(rows
        .iter()
        .map(|r| HypertableInfo {
            name: r.get(0),
            chunk_interval_s: r.get::<_, f64>(1).max(0.0) as u64,
            num_chunks: r.get::<_, i64>(2).max(0) as u64,
            compression_enabled: r.get(3),
        })
        .collect())
}

/// One index on a table in bench's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexInfo {
    pub table: String,
    pub name: String,
    /// `pg_get_indexdef`, e.g. "CREATE INDEX ... USING btree (well_id, \"timestamp\" DESC)".
    pub definition: String,
}

/// Indexes on the tables of `schema` (not on their chunks), by table and name.
pub async fn indexes(client: &Client, schema: &str) -> anyhow::Result<Vec<IndexInfo>> {
    let rows = client
        .query(
            "SELECT tablename::text, indexname::text, indexdef::text FROM pg_indexes \
             WHERE schemaname = $1 ORDER BY 1, 2",
            &[&schema],
        )
        .await
        .with_context(|| format!("listing indexes in schema {schema}"))?;
    Ok(rows
        .iter()
        .map(|r| IndexInfo {
            table: r.get(0),
            name: r.get(1),
            definition: r.get(2),
        })
        .collect())
}

/// One TimescaleDB background job on a hypertable in bench's schema.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobInfo {
    pub job_id: i32,
    /// `policy_compression`, `policy_retention`, ...
    pub proc_name: String,
    pub hypertable: String,
    pub scheduled: bool,
    /// The job's config (e.g. {"drop_after": "30 days"}).
    pub config: Option<serde_json::Value>,
}

/// Policy jobs on hypertables in `schema` (always empty on the Apache edition).
pub async fn jobs(client: &Client, schema: &str) -> anyhow::Result<Vec<JobInfo>> {
    let rows = client
        .query(
            "SELECT job_id, proc_name::text, hypertable_name::text, scheduled, config \
             FROM timescaledb_information.jobs WHERE hypertable_schema = $1 \
             ORDER BY hypertable_name, proc_name",
            &[&schema],
        )
        .await
        .with_context(|| format!("listing TimescaleDB jobs in schema {schema}"))?;
    Ok(rows
        .iter()
        .map(|r| JobInfo {
            job_id: r.get(0),
            proc_name: r.get(1),
            hypertable: r.get(2),
            scheduled: r.get(3),
            config: r.get(4),
        })
        .collect())
}

/// Compression settings of one hypertable, as TimescaleDB reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompressionSettings {
    /// e.g. "well_id, severity"; None when not segmented.
    pub segmentby: Option<String>,
    /// e.g. "\"timestamp\" DESC".
    pub orderby: Option<String>,
}

/// Compression settings of `schema.table` from `timescaledb_information.
/// hypertable_compression_settings` (2.14+); None when compression is not configured.
pub async fn compression_settings(
    client: &Client,
    schema: &str,
    table: &str,
) -> anyhow::Result<Option<CompressionSettings>> {
    let qualified = format!(
        "{}.{}",
        crate::db::quote_ident(schema),
        crate::db::quote_ident(table)
    );
    let row = client
        .query_opt(
            "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings \
             WHERE hypertable = to_regclass($1)",
            &[&qualified],
        )
        .await
        .with_context(|| format!("reading compression settings of {schema}.{table}"))?;
    // The view lists every hypertable; all-NULL settings mean compression is not configured.
    Ok(row
        .map(|r| CompressionSettings {
            segmentby: r.get(0),
            orderby: r.get(1),
        })
        .filter(|c| c.segmentby.is_some() || c.orderby.is_some()))
}

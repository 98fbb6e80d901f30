//! Storage and contents of a hypertable: its size split by part, row counts (exact up to a
//! limit), the data's time range and its oldest row.

use super::*;

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

pub(super) fn r_u64(v: Option<i64>) -> u64 {
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

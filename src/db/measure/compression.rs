//! Compressing chunks and measuring what compression did, per chunk and per value column.

use super::*;

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
pub(super) async fn column_widths(
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
pub(super) async fn chunk_rows_and_value_bytes(
    client: &Client,
    schema: &str,
    chunk: &str,
    widths: &[(String, i16)],
) -> Result<(u64, u64)> {
    let terms: Vec<String> = widths
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
    count_and_sum(client, schema, chunk, terms)
        .await
        .with_context(|| format!("failed to count the rows of chunk {schema}.{chunk}"))
}

/// `count(*)` of `schema.table` and the sum of the byte `terms` over its rows.
async fn count_and_sum(
    client: &Client,
    schema: &str,
    table: &str,
    mut terms: Vec<String>,
) -> Result<(u64, u64)> {
    if terms.is_empty() {
        terms.push("0::int8".into());
    }
    let sql = format!(
        "SELECT count(*)::int8, ({})::int8 FROM {}",
        terms.join(" + "),
        qualified(schema, table)
    );
    let row = client.query_one(sql.as_str(), &[]).await?;
    Ok((
        r_u64(row.get::<_, Option<i64>>(0)),
        r_u64(row.get::<_, Option<i64>>(1)),
    ))
}

/// The internal table holding a compressed chunk's batches (TimescaleDB's chunk catalog,
/// `compressed_chunk_id`, unchanged through 2.x); None when the chunk has none.
pub(super) async fn compressed_chunk_of(
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
pub(super) async fn compressed_rows_and_value_bytes(
    client: &Client,
    schema: &str,
    table: &str,
    columns: &[&str],
) -> Result<(u64, u64)> {
    let terms: Vec<String> = columns
        .iter()
        .map(|c| format!("coalesce(sum(pg_column_size({})), 0)::int8", quote_ident(c)))
        .collect();
    count_and_sum(client, schema, table, terms)
        .await
        .with_context(|| format!("failed to measure the compressed table {schema}.{table}"))
}

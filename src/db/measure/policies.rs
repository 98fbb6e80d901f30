//! Policy jobs and retention: listing jobs, running one, and dropping or finding chunks by
//! age.

use super::*;

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

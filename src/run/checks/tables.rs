//! The per-hypertable checks of the checks phase: chunk counts and intervals, storage, and
//! the steps that change the data (compressing chunks, running policies and retention).

use super::*;

pub(super) async fn chunk_checks(
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

pub(super) async fn table_storage(
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
pub(super) async fn compression(
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

pub(super) async fn policy_checks(
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
pub(super) async fn retention(
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

pub(super) async fn retention_state(
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

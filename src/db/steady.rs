//! Steady state: bring each hypertable to the state its policies keep in production before
//! anything is measured. Production compresses every chunk older than `compress_after` and
//! drops every chunk older than `drop_after`; bench does the same, measured from the data end
//! (the scenario's `end`), not from `now()`, so a fixed-end data set reaches the same state on
//! every run.
//!
//! On the Apache edition there is no compression: retention is applied and the preparation
//! says that history stays uncompressed, unlike production.

use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio_postgres::Client;

use super::detect::ServerInfo;
use super::measure;
use crate::model::report::{Preparation, TablePreparation};

/// The windows one hypertable's policies keep, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub table: &'static str,
    pub compress_after_s: u64,
    pub drop_after_s: u64,
}

/// The windows the schema's policy jobs hold (community edition), falling back to `declared`
/// (production's values from the migration notes) where a table has no such job.
pub async fn policy_windows(
    client: &Client,
    schema: &str,
    declared: &[Windows],
) -> anyhow::Result<Vec<Windows>> {
    let jobs = measure::policy_jobs(client, schema).await?;
    Ok(declared
        .iter()
        .map(|d| {
            let find = |proc_name: &str| {
                jobs.iter()
                    .find(|j| j.hypertable == d.table && j.proc_name == proc_name)
                    .and_then(|j| j.after_s)
                    .filter(|s| *s > 0.0)
                    .map(|s| s as u64)
            };
            Windows {
                table: d.table,
                compress_after_s: find("policy_compression").unwrap_or(d.compress_after_s),
                drop_after_s: find("policy_retention").unwrap_or(d.drop_after_s),
            }
        })
        .collect())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn cutoff(end: DateTime<Utc>, after_s: u64) -> DateTime<Utc> {
    end - chrono::Duration::seconds(i64::try_from(after_s).unwrap_or(i64::MAX / 2))
}

/// Drop, then compress, what the policies would, for each table in `windows`.
pub async fn prepare(
    client: &Client,
    info: &ServerInfo,
    schema: &str,
    windows: &[Windows],
    end: DateTime<Utc>,
) -> anyhow::Result<Preparation> {
    let started = Instant::now();
    let community = info.edition.is_community();
    let mut tables = Vec::new();
    for w in windows {
        let drop_cutoff = cutoff(end, w.drop_after_s);
        let compress_cutoff = cutoff(end, w.compress_after_s);
        let before = table_chunks(client, schema, w.table).await?;

        let t = Instant::now();
        let dropped = if before.iter().any(|c| c.range_end <= drop_cutoff) {
            measure::drop_chunks_older_than(client, &info.api, schema, w.table, drop_cutoff)
                .await
                .with_context(|| format!("steady state: retention on {schema}.{}", w.table))?
        } else {
            0
        };
        let drop_seconds = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let mut compressed = 0;
        if community {
            let chunks = table_chunks(client, schema, w.table).await?;
            for c in chunks
                .iter()
                .filter(|c| c.range_end <= compress_cutoff && !c.is_compressed)
            {
                measure::compress_chunk(client, &info.api, c)
                    .await
                    .with_context(|| format!("steady state: compressing {schema}.{}", w.table))?;
                compressed += 1;
            }
        }
        let compress_seconds = t.elapsed().as_secs_f64();
        let after = table_chunks(client, schema, w.table).await?;
        tables.push(TablePreparation {
            table: w.table.to_string(),
            compress_after_s: w.compress_after_s,
            drop_after_s: w.drop_after_s,
            compress_cutoff: rfc3339(compress_cutoff),
            drop_cutoff: rfc3339(drop_cutoff),
            chunks_before: before.len() as u64,
            chunks_dropped: dropped,
            chunks_compressed: compressed,
            chunks_compressed_total: after.iter().filter(|c| c.is_compressed).count() as u64,
            chunks_after: after.len() as u64,
            compression_applied: community,
            compress_seconds,
            drop_seconds,
        });
    }
    let analyze_seconds = maintain(client, schema, windows, Maintenance::VacuumAnalyze).await?;
    let mut notes = Vec::new();
    if !community {
        notes.push(format!(
            "{} edition: no compression, so history older than the compression windows stays \
             uncompressed, unlike production; retention was applied from the data end",
            info.edition
        ));
    }
    Ok(Preparation {
        state: "steady".into(),
        seconds: started.elapsed().as_secs_f64(),
        analyze_seconds,
        maintenance: Maintenance::VacuumAnalyze.sql().into(),
        tables,
        notes,
    })
}

/// What the preparation runs on each hypertable before the queries (its chunks, compressed
/// ones included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    /// `ANALYZE`: planner statistics only. A production database has them (autovacuum keeps
    /// them), a freshly loaded one has none, and without them the planner picks plans
    /// production never runs (a sort of a whole chunk where an index scan would do).
    Analyze,
    /// `VACUUM (ANALYZE)`: statistics, and the state autovacuum keeps production's settled
    /// chunks in: hint bits set and pages marked all-visible in the visibility map. A fresh load
    /// has neither, so without it autovacuum's first pass over every loaded chunk lands in the
    /// middle of the measured phases: it takes a core for seconds, and the queries before and
    /// after it read pages in different states.
    VacuumAnalyze,
}

impl Maintenance {
    /// The SQL command, as the report names it.
    pub fn sql(self) -> &'static str {
        match self {
            Maintenance::Analyze => "ANALYZE",
            Maintenance::VacuumAnalyze => "VACUUM (ANALYZE)",
        }
    }
}

/// Run `what` on every hypertable of `windows`; returns the seconds it took.
pub async fn maintain(
    client: &Client,
    schema: &str,
    windows: &[Windows],
    what: Maintenance,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    for w in windows {
        let name = measure::qualified(schema, w.table);
        client
            .batch_execute(&format!("{} {name}", what.sql()))
            .await
            .map_err(|e| {
                anyhow::anyhow!("{} {name}: {}", what.sql(), crate::error::pg_error_text(&e))
            })?;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// The preparation record of a `state = "fresh"` run: nothing compressed or dropped before
/// the queries (only planner statistics gathered, `analyze_seconds`).
pub fn fresh(analyze_seconds: f64) -> Preparation {
    Preparation {
        state: "fresh".into(),
        seconds: analyze_seconds,
        analyze_seconds,
        maintenance: Maintenance::Analyze.sql().into(),
        tables: Vec::new(),
        notes: vec![
            "state = \"fresh\": queries measured the data as loaded; production compresses \
             history and drops expired chunks, so history queries here read uncompressed chunks"
                .into(),
        ],
    }
}

async fn table_chunks(
    client: &Client,
    schema: &str,
    table: &str,
) -> anyhow::Result<Vec<crate::model::facts::ChunkInfo>> {
    Ok(measure::chunks(client, schema)
        .await?
        .into_iter()
        .filter(|c| c.hypertable == table)
        .collect())
}

/// One line per table for the console: what the preparation did and how long it took.
pub fn summary_lines(p: &Preparation) -> Vec<String> {
    let mut out: Vec<String> = p
        .tables
        .iter()
        .map(|t| {
            format!(
                "steady state {}: dropped {} chunk(s) ending before {}, compressed {} chunk(s) \
                 ending before {} ({} of {} chunks compressed) in {:.1} s",
                t.table,
                t.chunks_dropped,
                t.drop_cutoff,
                t.chunks_compressed,
                t.compress_cutoff,
                t.chunks_compressed_total,
                t.chunks_after,
                t.drop_seconds + t.compress_seconds
            )
        })
        .collect();
    if !p.maintenance.is_empty() {
        out.push(format!(
            "{} of the hypertables in {:.1} s",
            p.maintenance, p.analyze_seconds
        ));
    }
    out.extend(p.notes.iter().map(|n| format!("note: {n}")));
    out
}

//! bench's namespace and the production schema (`schema.sql`) inside it.
//!
//! Safety rules (issue 7): bench works only inside a schema it marks as its own (a marker
//! comment on the schema, and one on every table it creates). It refuses to create into,
//! load into or reset a schema or table without its marker, naming what it found and the
//! flag that overrides (`--schema`, `--adopt-schema`). Reset is never implicit: only
//! [`reset`] drops anything, and only bench-marked tables.

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::Client;

use super::detect::ServerInfo;
use super::{quote_ident, quote_literal, validate_schema_name};
use crate::error::pg_error_text;
use crate::error::BenchError;
use crate::model::tables::TABLE_NAMES;

/// The production schema, embedded at build time from the top-level `schema.sql`.
pub const SCHEMA_SQL: &str = include_str!("../../schema.sql");

/// Prefix of the comment bench puts on schemas it owns.
pub const SCHEMA_MARKER: &str = "esp-bench owned schema";
const SCHEMA_CREATED: &str =
    "esp-bench owned schema (created by esp-bench; `bench schema reset --yes` drops it)";
const SCHEMA_ADOPTED: &str = "esp-bench owned schema (adopted by esp-bench with --adopt-schema)";
/// Prefix of the comment bench puts on tables it creates.
pub const TABLE_MARKER: &str = "esp-bench owned table";
const TABLE_COMMENT: &str =
    "esp-bench owned table (created by esp-bench; `bench schema reset --yes` drops it)";

const COMMUNITY_ONLY_MARK: &str = "-- requires: community";

mod ownership;
mod statements;

pub use ownership::*;
pub use statements::*;

/// What [`apply`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SchemaReport {
    pub schema: String,
    /// bench created the schema in this call.
    pub created_schema: bool,
    /// Statements run (or already in effect), by summary.
    pub applied: Vec<String>,
    /// Statements not run, with why.
    pub skipped: Vec<Skipped>,
    /// Policy jobs switched off (and recorded) in the same transaction, for
    /// [`apply_paused`]: the caller's `WriteGuard` switches them back on when it finishes.
    pub paused_jobs: Vec<i32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub what: String,
    pub reason: String,
}

impl SchemaReport {
    /// One line per skipped statement: "skipped: <what> (<reason>)".
    pub fn skipped_lines(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|s| format!("skipped: {} ({})", s.what, s.reason))
            .collect()
    }
}

/// Apply schema.sql in `schema` (created and marked when missing). Idempotent. Refuses a
/// schema or table bench did not create. Community-only statements are skipped on the Apache
/// edition; each skip is printed to stderr as one line and listed in the report.
pub async fn apply(
    client: &Client,
    schema: &str,
    info: &ServerInfo,
) -> anyhow::Result<SchemaReport> {
    apply_inner(client, schema, info, None).await
}

/// [`apply`] for a command that holds the schema's `WriteGuard`: in the same transaction
/// that creates the policy jobs, every scheduled job of bench's hypertables is switched off and
/// recorded for `command`, so no policy can fire between its creation and the command's
/// work. Hand `paused_jobs` of the report to the guard (`WriteGuard::note_paused`).
pub async fn apply_paused(
    client: &Client,
    schema: &str,
    info: &ServerInfo,
    guard: &mut super::guard::WriteGuard,
) -> anyhow::Result<SchemaReport> {
    if guard.schema() != schema {
        anyhow::bail!(
            "internal error: the writer lock is for schema {}, not {schema}",
            guard.schema()
        );
    }
    let report = apply_inner(client, schema, info, Some(guard.command())).await?;
    guard.note_paused(report.paused_jobs.clone());
    Ok(report)
}

async fn apply_inner(
    client: &Client,
    schema: &str,
    info: &ServerInfo,
    pause_for: Option<&str>,
) -> anyhow::Result<SchemaReport> {
    validate_schema_name(schema)?;
    if !info.api.has_by_range() {
        return Err(BenchError::Environment(format!(
            "TimescaleDB {} is too old for schema.sql (needs 2.13 or newer for by_range)",
            info.timescaledb_version
        ))
        .into());
    }
    let mut report = SchemaReport {
        schema: schema.to_string(),
        ..Default::default()
    };
    match schema_ownership(client, schema).await? {
        Ownership::Owned => {}
        Ownership::Absent => {
            create_schema(client, schema).await?;
            report.created_schema = true;
        }
        Ownership::Foreign { comment } => {
            let tables = relation_names(client, schema).await?;
            return Err(foreign_schema_error(schema, &comment, &tables));
        }
    }
    for table in TABLE_NAMES {
        if let Ownership::Foreign { comment } = table_ownership(client, schema, table).await? {
            return Err(foreign_table_error(schema, table, &comment));
        }
    }

    let ext = &info.api.extension_schema;
    let mut path = vec![quote_ident(schema)];
    for s in [ext.as_str(), "public"] {
        if s != schema && !path.contains(&quote_ident(s)) {
            path.push(quote_ident(s));
        }
    }
    client
        .batch_execute(&format!("SET search_path TO {}", path.join(", ")))
        .await
        .context("setting search_path for schema.sql")?;

    client.batch_execute("BEGIN").await.context("BEGIN")?;
    let result = async {
        apply_statements(client, schema, info, &mut report).await?;
        super::guard::ensure_paused_table(client, schema).await?;
        mark_table(client, schema, super::guard::PAUSED_JOBS_TABLE).await?;
        if let Some(command) = pause_for {
            report.paused_jobs =
                super::guard::pause_scheduled_jobs(client, schema, command).await?;
        }
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| anyhow::anyhow!("committing schema.sql: {}", pg_error_text(&e)))?,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    }
    for line in report.skipped_lines() {
        eprintln!("{line}");
    }
    Ok(report)
}

async fn apply_statements(
    client: &Client,
    schema: &str,
    info: &ServerInfo,
    report: &mut SchemaReport,
) -> anyhow::Result<()> {
    for st in statements() {
        let what = st.summary();
        if st.community_only && !info.edition.is_community() {
            report.skipped.push(Skipped {
                what,
                reason: "needs TimescaleDB community edition".into(),
            });
            continue;
        }
        let mut sql = st.sql.clone();
        if sql.contains("add_compression_policy(") && !info.api.has("add_compression_policy") {
            // 2.18+ may offer only the columnstore procedure.
            if info.api.has("add_columnstore_policy") {
                sql = sql.replace(
                    "SELECT add_compression_policy(",
                    "CALL add_columnstore_policy(",
                );
            }
        }
        if is_compression_settings(&sql) {
            let table = words(&sql).get(2).cloned().unwrap_or_default();
            if compression_enabled(client, schema, &table).await? {
                report.applied.push(format!("{what} (already enabled)"));
                continue;
            }
        }
        client.batch_execute(&sql).await.map_err(|e| {
            anyhow::anyhow!(
                "applying schema.sql line {} ({what}) in schema {schema}: {}",
                st.line,
                pg_error_text(&e)
            )
        })?;
        report.applied.push(what);
    }
    for table in TABLE_NAMES {
        mark_table(client, schema, table).await?;
    }
    Ok(())
}

fn is_compression_settings(sql: &str) -> bool {
    sql.to_ascii_uppercase().starts_with("ALTER TABLE") && sql.contains("timescaledb.compress")
}

/// Re-running `SET (timescaledb.compress ...)` fails once chunks are compressed, so it is run
/// only while compression is still off.
async fn compression_enabled(client: &Client, schema: &str, table: &str) -> anyhow::Result<bool> {
    let row = client
        .query_opt(
            "SELECT compression_enabled FROM timescaledb_information.hypertables \
             WHERE hypertable_schema = $1 AND hypertable_name = $2",
            &[&schema, &table],
        )
        .await
        .context("reading compression state")?;
    Ok(row.map(|r| r.get::<_, bool>(0)).unwrap_or(false))
}

/// What [`reset`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResetReport {
    pub schema: String,
    pub dropped_tables: Vec<String>,
    /// Relations without bench's marker, left alone.
    pub kept_foreign: Vec<String>,
    pub dropped_schema: bool,
}

/// Drop bench's own tables in `schema`, then the schema itself when bench created it and
/// nothing else is left. Refuses a schema bench does not own. Never called implicitly.
pub async fn reset(client: &Client, schema: &str) -> anyhow::Result<ResetReport> {
    validate_schema_name(schema)?;
    let mut report = ResetReport {
        schema: schema.to_string(),
        ..Default::default()
    };
    let comment = match schema_ownership(client, schema).await? {
        Ownership::Absent => return Ok(report),
        Ownership::Foreign { comment } => {
            let tables = relation_names(client, schema).await?;
            return Err(BenchError::Config(format!(
                "refusing to reset schema \"{schema}\": it was not created by esp-bench ({}; it \
                 holds {} table(s)). Nothing was dropped",
                found(&comment),
                tables.len()
            ))
            .into());
        }
        Ownership::Owned => client
            .query_one(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .await?
            .get::<_, Option<String>>(0)
            .unwrap_or_default(),
    };
    let rows = client
        .query(
            "SELECT c.relname::text, obj_description(c.oid, 'pg_class') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1",
            &[&schema],
        )
        .await
        .with_context(|| format!("listing tables in schema {schema}"))?;
    for r in rows {
        let name: String = r.get(0);
        let owned = r
            .get::<_, Option<String>>(1)
            .is_some_and(|c| c.starts_with(TABLE_MARKER));
        if !owned {
            report.kept_foreign.push(name);
            continue;
        }
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {}.{}",
                quote_ident(schema),
                quote_ident(&name)
            ))
            .await
            .map_err(|e| anyhow::anyhow!("dropping {schema}.{name}: {}", pg_error_text(&e)))?;
        report.dropped_tables.push(name);
    }
    if comment == SCHEMA_CREATED && schema != "public" && report.kept_foreign.is_empty() {
        // RESTRICT: if anything else still lives there, keep the schema.
        if client
            .batch_execute(&format!("DROP SCHEMA {} RESTRICT", quote_ident(schema)))
            .await
            .is_ok()
        {
            report.dropped_schema = true;
        }
    }
    Ok(report)
}

/// Empty bench's data tables (TRUNCATE drops their chunks); refuses unless bench owns them.
pub async fn truncate(client: &Client, schema: &str) -> anyhow::Result<()> {
    ensure_owned(client, schema).await?;
    let list = TABLE_NAMES
        .iter()
        .map(|t| format!("{}.{}", quote_ident(schema), quote_ident(t)))
        .collect::<Vec<_>>()
        .join(", ");
    client
        .batch_execute(&format!("TRUNCATE {list}"))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "truncating bench's tables in {schema}: {}",
                pg_error_text(&e)
            )
        })
}

/// Pause (`false`) or resume (`true`) the TimescaleDB policy jobs on bench's hypertables, so a
/// retention or compression job cannot change the data mid-measurement. Returns the number of
/// jobs changed (0 on the Apache edition, which has no policies).
pub async fn set_jobs_scheduled(
    client: &Client,
    schema: &str,
    scheduled: bool,
) -> anyhow::Result<usize> {
    let rows = client
        .query(
            "SELECT job_id FROM timescaledb_information.jobs WHERE hypertable_schema = $1",
            &[&schema],
        )
        .await
        .context("listing TimescaleDB jobs")?;
    for r in &rows {
        let id: i32 = r.get(0);
        client
            .query("SELECT alter_job($1, scheduled => $2)", &[&id, &scheduled])
            .await
            .map_err(|e| anyhow::anyhow!("alter_job({id}): {}", pg_error_text(&e)))?;
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests;

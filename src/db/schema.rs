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

/// One statement of schema.sql.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    /// Preceded by `-- requires: community`.
    pub community_only: bool,
    /// 1-based line where the statement starts in schema.sql.
    pub line: usize,
}

impl Statement {
    /// A short human description, e.g. "compression policy on esp_telemetry (7 days)".
    pub fn summary(&self) -> String {
        describe(&self.sql)
    }
}

/// Split schema.sql into statements: a statement ends with a line ending in `;`; comment lines
/// are dropped, and `-- requires: community` tags the next statement.
pub fn parse(sql: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut community = false;
    for (i, line) in sql.lines().enumerate() {
        let t = line.trim();
        if cur.is_empty() {
            if t.is_empty() {
                continue;
            }
            if t.starts_with("--") {
                if t.eq_ignore_ascii_case(COMMUNITY_ONLY_MARK) {
                    community = true;
                }
                continue;
            }
            start = i + 1;
        } else if t.starts_with("--") {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            out.push(Statement {
                sql: cur.trim().trim_end_matches(';').trim().to_string(),
                community_only: community,
                line: start,
            });
            cur.clear();
            community = false;
        }
    }
    if !cur.trim().is_empty() {
        out.push(Statement {
            sql: cur.trim().to_string(),
            community_only: community,
            line: start,
        });
    }
    out
}

/// The statements of the embedded schema.sql.
pub fn statements() -> Vec<Statement> {
    parse(SCHEMA_SQL)
}

fn words(sql: &str) -> Vec<String> {
    sql.split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ')')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('\'').to_string())
        .collect()
}

/// Text between `INTERVAL '` and the next quote.
fn interval_of(sql: &str) -> Option<String> {
    let i = sql.find("INTERVAL '")? + "INTERVAL '".len();
    let rest = &sql[i..];
    Some(rest[..rest.find('\'')?].to_string())
}

fn describe(sql: &str) -> String {
    let w = words(sql);
    let upper: Vec<String> = w.iter().map(|s| s.to_ascii_uppercase()).collect();
    let at = |i: usize| w.get(i).cloned().unwrap_or_default();
    let iv = interval_of(sql).unwrap_or_default();
    if upper.starts_with(&["CREATE".into(), "TABLE".into()]) {
        return format!("table {}", at(5));
    }
    if upper.starts_with(&["CREATE".into(), "INDEX".into()]) {
        return format!("index {} on {}", at(5), at(7));
    }
    if upper.starts_with(&["ALTER".into(), "TABLE".into()]) && sql.contains("timescaledb.compress")
    {
        return format!("compression settings on {}", at(2));
    }
    for (f, what) in [
        ("create_hypertable", "hypertable"),
        ("add_compression_policy", "compression policy on"),
        ("add_columnstore_policy", "compression policy on"),
        ("add_retention_policy", "retention policy on"),
    ] {
        if let Some(pos) = w.iter().position(|x| x == f) {
            let table = at(pos + 1);
            return if f == "create_hypertable" {
                format!("hypertable {table} ({iv} chunks)")
            } else {
                format!("{what} {table} (after {iv})")
            };
        }
    }
    let one_line = w.join(" ");
    one_line.chars().take(80).collect()
}

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

/// Who owns a schema or table, judged by bench's marker comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    Absent,
    Owned,
    /// Exists without bench's marker; the comment found, if any.
    Foreign {
        comment: Option<String>,
    },
}

/// Ownership of schema `schema`.
pub async fn schema_ownership(client: &Client, schema: &str) -> anyhow::Result<Ownership> {
    let row = client
        .query_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .await
        .with_context(|| format!("looking up schema {schema}"))?;
    Ok(match row {
        None => Ownership::Absent,
        Some(r) => classify(r.get::<_, Option<String>>(0), SCHEMA_MARKER),
    })
}

/// Ownership of relation `schema.table` (any kind: a view of that name is foreign too).
pub async fn table_ownership(
    client: &Client,
    schema: &str,
    table: &str,
) -> anyhow::Result<Ownership> {
    let row = client
        .query_opt(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &table],
        )
        .await
        .with_context(|| format!("looking up table {schema}.{table}"))?;
    Ok(match row {
        None => Ownership::Absent,
        Some(r) => classify(r.get::<_, Option<String>>(0), TABLE_MARKER),
    })
}

fn classify(comment: Option<String>, marker: &str) -> Ownership {
    match comment {
        Some(c) if c.starts_with(marker) => Ownership::Owned,
        comment => Ownership::Foreign { comment },
    }
}

fn found(comment: &Option<String>) -> String {
    match comment {
        Some(c) => format!("its comment is {c:?}"),
        None => "it has no esp-bench marker comment".to_string(),
    }
}

async fn relation_names(client: &Client, schema: &str) -> anyhow::Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1",
            &[&schema],
        )
        .await
        .with_context(|| format!("listing tables in schema {schema}"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn foreign_schema_error(
    schema: &str,
    comment: &Option<String>,
    tables: &[String],
) -> anyhow::Error {
    let held = if tables.is_empty() {
        "no tables".to_string()
    } else {
        let mut list = tables
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if tables.len() > 5 {
            list.push_str(", ...");
        }
        format!("{} table(s): {list}", tables.len())
    };
    BenchError::Config(format!(
        "schema \"{schema}\" already exists and was not created by esp-bench ({}; it holds {held}); \
         bench will not write into it. Use another --schema NAME, or pass --adopt-schema to let \
         bench use it (bench still never touches tables it did not create)",
        found(comment)
    ))
    .into()
}

fn foreign_table_error(schema: &str, table: &str, comment: &Option<String>) -> anyhow::Error {
    BenchError::Config(format!(
        "table \"{schema}\".\"{table}\" already exists and was not created by esp-bench ({}); \
         bench will not create into, load into or reset it. Use another --schema NAME",
        found(comment)
    ))
    .into()
}

/// Fail unless `schema` exists and is bench's, and each bench table in it is absent or bench's.
/// Loaders call this (or [`apply`], which implies it) before writing.
pub async fn ensure_owned(client: &Client, schema: &str) -> anyhow::Result<()> {
    validate_schema_name(schema)?;
    match schema_ownership(client, schema).await? {
        Ownership::Owned => {}
        Ownership::Absent => {
            return Err(BenchError::Config(format!(
                "schema \"{schema}\" does not exist; run `bench schema apply` first"
            ))
            .into())
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
    Ok(())
}

/// Mark an existing schema as bench's (`--adopt-schema`, or `--allow-public-schema` for
/// `public`); creates it when missing. Tables in it stay foreign unless bench created them.
pub async fn adopt(client: &Client, schema: &str) -> anyhow::Result<()> {
    validate_schema_name(schema)?;
    match schema_ownership(client, schema).await? {
        Ownership::Owned => Ok(()),
        Ownership::Absent => create_schema(client, schema).await,
        Ownership::Foreign { .. } => client
            .batch_execute(&format!(
                "COMMENT ON SCHEMA {} IS {}",
                quote_ident(schema),
                quote_literal(SCHEMA_ADOPTED)
            ))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot mark schema {schema} as bench's: {}",
                    pg_error_text(&e)
                )
            }),
    }
}

/// Make sure `schema` is bench's: create and mark it when missing (returns true), accept it
/// when it carries bench's marker, refuse it otherwise. For tools that keep their own tables
/// beside schema.sql's (e.g. `bench realism`).
pub async fn claim(client: &Client, schema: &str) -> anyhow::Result<bool> {
    validate_schema_name(schema)?;
    match schema_ownership(client, schema).await? {
        Ownership::Owned => Ok(false),
        Ownership::Absent => {
            create_schema(client, schema).await?;
            Ok(true)
        }
        Ownership::Foreign { comment } => {
            let tables = relation_names(client, schema).await?;
            Err(foreign_schema_error(schema, &comment, &tables))
        }
    }
}

/// Drop `schema` if bench created it (not adopted, not public) and nothing is left in it.
pub async fn drop_if_created_and_empty(client: &Client, schema: &str) -> anyhow::Result<bool> {
    validate_schema_name(schema)?;
    let comment: Option<String> = client
        .query_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .await
        .with_context(|| format!("looking up schema {schema}"))?
        .and_then(|r| r.get(0));
    if comment.as_deref() != Some(SCHEMA_CREATED) || schema == "public" {
        return Ok(false);
    }
    if !relation_names(client, schema).await?.is_empty() {
        return Ok(false);
    }
    // RESTRICT: anything else still in it keeps the schema.
    Ok(client
        .batch_execute(&format!("DROP SCHEMA {} RESTRICT", quote_ident(schema)))
        .await
        .is_ok())
}

async fn create_schema(client: &Client, schema: &str) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {q}; COMMENT ON SCHEMA {q} IS {c}",
            q = quote_ident(schema),
            c = quote_literal(SCHEMA_CREATED)
        ))
        .await
        .map_err(|e| anyhow::anyhow!("cannot create schema {schema}: {}", pg_error_text(&e)))
}

/// Mark a table bench created in its schema (for tables created outside schema.sql, such as
/// the loader's ledger), so that [`reset`] drops it and nobody mistakes it for a user's.
pub async fn mark_table(client: &Client, schema: &str, table: &str) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "COMMENT ON TABLE {}.{} IS {}",
            quote_ident(schema),
            quote_ident(table),
            quote_literal(TABLE_COMMENT)
        ))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot mark table {schema}.{table} as bench's: {}",
                pg_error_text(&e)
            )
        })
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

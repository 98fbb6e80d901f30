//! Which schemas and tables are bench's: the comment markers, claiming, adopting and the
//! refusals that keep bench off what it did not create.

use super::*;

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

pub(super) fn classify(comment: Option<String>, marker: &str) -> Ownership {
    match comment {
        Some(c) if c.starts_with(marker) => Ownership::Owned,
        comment => Ownership::Foreign { comment },
    }
}

pub(super) fn found(comment: &Option<String>) -> String {
    match comment {
        Some(c) => format!("its comment is {c:?}"),
        None => "it has no esp-bench marker comment".to_string(),
    }
}

pub(super) async fn relation_names(client: &Client, schema: &str) -> anyhow::Result<Vec<String>> {
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

pub(super) fn foreign_schema_error(
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

pub(super) fn foreign_table_error(
    schema: &str,
    table: &str,
    comment: &Option<String>,
) -> anyhow::Error {
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

pub(super) async fn create_schema(client: &Client, schema: &str) -> anyhow::Result<()> {
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

//! `bench schema`: apply schema.sql into bench's own schema, reset it, or print it.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};

use super::cli::{ServerArgs, WriterArgs};
use crate::cmd::info::write_stdout;
use crate::db::guard::WriteGuard;
use crate::db::{detect, schema};
use crate::error::{BenchError, Outcome};
use std::fmt::Write;

/// Arguments of `bench schema`.
#[derive(Args, Debug)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub action: SchemaAction,
}

#[derive(Subcommand, Debug)]
pub enum SchemaAction {
    /// Create bench's schema (if missing) and apply schema.sql in it. Safe to run twice.
    /// Statements that need the TimescaleDB community edition are skipped, one line each, on
    /// the Apache edition.
    Apply(ApplyArgs),
    /// Drop the tables bench created in its schema, then the schema if bench created it.
    /// Tables bench did not create are never touched. Requires --yes.
    Reset(ResetArgs),
    /// Print schema.sql (the production schema bench applies).
    Show,
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub writer: WriterArgs,
}

#[derive(Args, Debug)]
pub struct ResetArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub writer: WriterArgs,

    /// Confirm dropping bench's tables (and their data).
    #[arg(long)]
    pub yes: bool,
}

pub async fn run(args: SchemaArgs) -> anyhow::Result<Outcome> {
    match args.action {
        SchemaAction::Apply(a) => apply(a).await,
        SchemaAction::Reset(a) => reset(a).await,
        SchemaAction::Show => {
            write_stdout(schema::SCHEMA_SQL)?;
            Ok(Outcome::Pass)
        }
    }
}

async fn apply(args: ApplyArgs) -> anyhow::Result<Outcome> {
    let report = super::with_target(&args.server, &BTreeMap::new(), async |target| {
        let mut guard =
            WriteGuard::acquire(target, "bench schema apply", args.writer.lock_wait()).await?;
        let r = async {
            let client = target.connect().await?;
            let info = detect::detect(&client).await?;
            schema::apply_paused(&client, &target.schema, &info, &mut guard).await
        }
        .await;
        // The jobs apply created (paused in its transaction) are scheduled from here on.
        let resumed = guard.release().await;
        let r = r?;
        resumed?;
        anyhow::Ok(r)
    })
    .await?;
    let mut o = String::new();
    if report.created_schema {
        let _ = writeln!(o, "created schema {}", report.schema);
    }
    for a in &report.applied {
        let _ = writeln!(o, "applied: {a}");
    }
    let _ = writeln!(
        o,
        "schema {}: {} statement(s) applied, {} skipped",
        report.schema,
        report.applied.len(),
        report.skipped.len()
    );
    write_stdout(&o)?;
    Ok(Outcome::Pass)
}

async fn reset(args: ResetArgs) -> anyhow::Result<Outcome> {
    if !args.yes {
        return Err(BenchError::Config(format!(
            "`bench schema reset` drops the tables bench created in schema {} (and their data); \
             pass --yes to confirm",
            args.server.schema
        ))
        .into());
    }
    let report = super::with_target(&args.server, &BTreeMap::new(), async |target| {
        let guard =
            WriteGuard::acquire(target, "bench schema reset", args.writer.lock_wait()).await?;
        let r = async {
            let client = target.connect().await?;
            schema::reset(&client, &target.schema).await
        }
        .await;
        let released = guard.release().await;
        let r = r?;
        released?;
        anyhow::Ok(r)
    })
    .await?;
    let mut o = String::new();
    for t in &report.dropped_tables {
        let _ = writeln!(o, "dropped table {}.{t}", report.schema);
    }
    for t in &report.kept_foreign {
        let _ = writeln!(o, "kept {}.{t} (not created by esp-bench)", report.schema);
    }
    if report.dropped_schema {
        let _ = writeln!(o, "dropped schema {}", report.schema);
    }
    if report.dropped_tables.is_empty() && !report.dropped_schema {
        let _ = writeln!(o, "nothing of bench's to reset in schema {}", report.schema);
    }
    write_stdout(&o)?;
    Ok(Outcome::Pass)
}

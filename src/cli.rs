//! Command-line definitions (clap derive). Doc comments here are the `--help` text.
//! Each subcommand's own arguments live beside its implementation in `src/cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd;

/// esp-bench: load generator and benchmark harness for TimescaleDB with realistic
/// electric-submersible-pump (ESP) telemetry.
///
/// Without --database-url (or DATABASE_URL) every command that needs a server starts a
/// throwaway PostgreSQL+TimescaleDB cluster on loopback and removes it afterwards.
///
/// Exit codes: 0 all checks passed, 1 a check or gate failed, 2 usage/config/environment
/// error, 130 interrupted (partial report written).
#[derive(Parser, Debug)]
#[command(
    name = "bench",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show PostgreSQL/TimescaleDB versions, edition, hypertables and benchmark-relevant settings.
    Info(cmd::info::InfoArgs),
    /// Manage the production schema (schema.sql) in bench's own namespace.
    Schema(cmd::schema::SchemaArgs),
    /// Stream generated telemetry or diagnostics as CSV or binary COPY data (no server needed).
    Generate(cmd::generate::GenerateArgs),
    /// Apply the schema and bulk-load a scenario's data over parallel binary COPY.
    Load(cmd::load::LoadArgs),
    /// Run a scenario end to end: load, queries, checks, reports.
    Run(cmd::run::RunArgs),
    /// Compare a summary.json with a baseline: the CI regression gate.
    Compare(cmd::compare::CompareArgs),
    /// Record and inspect regression-gate baselines (the summaries of k runs).
    Baseline(cmd::baseline::BaselineArgs),
    /// Project storage, ingest headroom and latency for fleet sizes from a measured summary.
    Plan(cmd::plan::PlanArgs),
    /// Run a scenario at several fleet sizes and fit how latency grows with rows.
    Sweep(cmd::sweep::SweepArgs),
    /// Measure how generated and real telemetry move and compress, channel by channel.
    Realism(cmd::realism::RealismArgs),
}

/// Where the database is, shared by every subcommand that talks to a server.
/// `Debug` is hand-written so the URL's password never reaches a log or report.
#[derive(Args, Clone, Default)]
pub struct ServerArgs {
    /// PostgreSQL connection URL of an existing server (postgres://user:pass@host:port/db).
    /// Without it, an embedded throwaway cluster is started and removed afterwards.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Keep the embedded cluster's data directory here (created if missing, reused if present)
    /// instead of a temporary directory that is removed on exit.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Directory holding the PostgreSQL server binaries (initdb, pg_ctl, postgres) for the
    /// embedded server. Default: the newest /usr/lib/postgresql/*/bin, else PATH.
    #[arg(long, env = "PG_BIN_DIR", value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,

    /// Server setting for the embedded server, overriding the scenario's and the defaults
    /// (repeatable), e.g. --pg-setting shared_buffers=1GB.
    #[arg(long = "pg-setting", value_name = "NAME=VALUE")]
    pub pg_settings: Vec<String>,

    /// Schema (namespace) that bench creates and owns in the target database. Bench never
    /// writes to tables it did not create.
    #[arg(long, default_value = "esp_bench", value_name = "NAME")]
    pub schema: String,

    /// Allow --schema public. Bench still refuses tables in it that it did not create.
    #[arg(long)]
    pub allow_public_schema: bool,

    /// Let bench take over an existing schema it did not create (marks it as bench's own).
    /// Bench still refuses to touch tables in it that it did not create.
    #[arg(long)]
    pub adopt_schema: bool,
}

impl std::fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerArgs")
            .field(
                "database_url",
                &self.database_url.as_deref().map(crate::db::redact),
            )
            .field("data_dir", &self.data_dir)
            .field("pg_bin_dir", &self.pg_bin_dir)
            .field("pg_settings", &self.pg_settings)
            .field("schema", &self.schema)
            .field("allow_public_schema", &self.allow_public_schema)
            .field("adopt_schema", &self.adopt_schema)
            .finish()
    }
}

/// How a command that writes into bench's schema behaves when another one holds it. Every
/// writing command (schema apply/reset, load, run, sweep) holds the schema's writer lock for
/// its whole run.
#[derive(Args, Clone, Debug, Default)]
pub struct WriterArgs {
    /// When another bench command is writing into the same schema, wait for it to finish
    /// (printing who holds the schema) instead of stopping.
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,

    /// When another bench command is writing into the same schema, stop at once with exit 2,
    /// naming the holder (the default).
    #[arg(long)]
    pub no_wait: bool,
}

impl WriterArgs {
    pub fn lock_wait(&self) -> crate::db::guard::LockWait {
        if self.wait {
            crate::db::guard::LockWait::Wait
        } else {
            crate::db::guard::LockWait::NoWait
        }
    }
}

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
    /// Merge the reports of the shards of one sharded run (`--shard K/N`) into one report.
    Merge(cmd::merge::MergeArgs),
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
        self.spec()
            .debug_fields(f.debug_struct("ServerArgs"))
            .finish()
    }
}

impl ServerArgs {
    /// The flags as the plain target spec `db` works from (no clap type below this layer).
    pub fn spec(&self) -> crate::db::TargetSpec {
        crate::db::TargetSpec {
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            pg_bin_dir: self.pg_bin_dir.clone(),
            pg_settings: self.pg_settings.clone(),
            schema: self.schema.clone(),
            allow_public_schema: self.allow_public_schema,
            adopt_schema: self.adopt_schema,
        }
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

/// Sharded load generation: `bench run` and `bench load` as one of N coordinated processes
/// sharing one server (docs/sharding.md).
#[derive(Args, Clone, Debug)]
pub struct ShardArgs {
    /// Run as shard K of N (0 <= K < N), e.g. --shard 0/3 for the leader of three processes
    /// and 1/3, 2/3 for the others. Shard K takes its wells and its share of the query
    /// clients, fixed rates and live ingest, so the N shards together apply the scenario's
    /// load. Shard 0 (the leader) holds the schema's writer lock, applies the schema, verifies
    /// the whole fleet and runs the checks; the others join it. All shards need the same
    /// scenario, --schema and --database-url. Merge their reports with `bench merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<crate::shard::ShardSpec>,

    /// Id of the sharded run: the leader opens it (default: scenario, time and pid), the
    /// others join it (default: the one open run of a live leader in the schema).
    #[arg(long, value_name = "ID", requires = "shard")]
    pub run_id: Option<String>,

    /// Bound of every wait for another shard: to join, to answer (heartbeat) and, for
    /// followers, for the leader's run to appear.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_timeout)]
    pub shard_timeout: std::time::Duration,
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))?;
    if d.is_zero() {
        return Err("--shard-timeout must be longer than 0 s".into());
    }
    Ok(d)
}

impl ShardArgs {
    /// The sharding options, `None` for an unsharded run.
    pub fn options(&self) -> Option<crate::shard::coord::ShardOptions> {
        self.shard.map(|spec| crate::shard::coord::ShardOptions {
            spec,
            run_id: self.run_id.clone(),
            timeout: self.shard_timeout,
        })
    }

    /// N > 1 needs a server every shard can reach: refuse the embedded one.
    pub fn check_server(&self, server: &ServerArgs) -> Result<(), crate::error::BenchError> {
        match self.shard {
            Some(spec)
                if spec.count > 1
                    && server
                        .database_url
                        .as_deref()
                        .is_none_or(|u| u.trim().is_empty()) =>
            {
                Err(crate::error::BenchError::Config(format!(
                    "--shard {spec} needs --database-url (or DATABASE_URL): the shards of a run \
                     share one server, and an embedded server is private to one process"
                )))
            }
            _ => Ok(()),
        }
    }
}

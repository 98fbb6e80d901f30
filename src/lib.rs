//! esp-bench library: every subcommand's entry point, callable from `main` and from tests.
//!
//! Data flow: scenario file -> validated plan (`scenario`) -> data generator (`datagen`) ->
//! loader over binary COPY (`load`, through `db`) -> query runner (`exec`, recording into
//! `stats`) -> target checks (`checks`) -> reports (`report`). `server` owns the embedded
//! throwaway cluster; `db` is the only module that talks to PostgreSQL.

pub mod checks;
pub mod cli;
pub mod cmd;
pub mod compare;
pub mod datagen;
pub mod db;
pub mod error;
pub mod exec;
pub mod load;
pub mod plan;
pub mod report;
pub mod scenario;
pub mod server;
pub mod shutdown;
pub mod stats;

use std::process::ExitCode;

use cli::{Cli, Command};
use error::Outcome;

/// Run one parsed command line to completion and return the process exit code.
pub fn main_with(cli: Cli) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            report_error(&err);
            error::exit_code_for(&err)
        }
    }
}

/// Dispatch a subcommand. Tests call this (or the per-command functions) directly.
pub async fn dispatch(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Info(a) => cmd::info::run(a).await,
        Command::Schema(a) => cmd::schema::run(a).await,
        Command::Generate(a) => cmd::generate::run(a).await,
        Command::Load(a) => cmd::load::run(a).await,
        Command::Run(a) => cmd::run::run(a).await,
        Command::Compare(a) => cmd::compare::run(a).await,
        Command::Plan(a) => cmd::plan::run(a).await,
        Command::Sweep(a) => cmd::sweep::run(a).await,
    }
}

/// Print an error with its context chain, passwords redacted.
pub fn report_error(err: &anyhow::Error) {
    let mut msg = format!("error: {err}");
    for cause in err.chain().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{}", db::redact(&msg));
}

//! esp-bench library: every subcommand's entry point, callable from `main` and from tests.
//!
//! Data flow: scenario file -> validated plan (`scenario`) -> data generator (`datagen`) ->
//! loader over binary COPY (`load`, through `db`) -> query runner (`exec`, recording into
//! `stats`) -> target checks (`checks`) -> reports (`report`). `server` owns the embedded
//! throwaway cluster; `db` is the only module that talks to PostgreSQL.

pub mod checks;
/// The clap definitions, at their old path for `main` and the tests.
pub use cmd::cli;
pub mod capacity;
pub mod cmd;
pub mod compare;
pub mod datagen;
pub mod db;
pub mod error;
pub mod exec;
pub mod format;
pub mod load;
pub mod model;
pub mod probe;
pub mod realism;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server;
pub mod shard;
pub mod shutdown;
pub mod stats;
pub mod sweep;

use std::process::ExitCode;

use cli::{Cli, Command};
use error::Outcome;

/// Run one parsed command line to completion and return the process exit code.
///
/// SIGINT/SIGTERM cancel [`shutdown::token`]; the command then gets a grace period to write
/// its partial report and stop its servers. If it has not finished by then (or a second
/// signal arrives) its future is dropped, which stops any embedded server through `Drop`.
pub fn main_with(cli: Cli) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        if let Err(e) = shutdown::install() {
            eprintln!("warning: cannot install SIGINT/SIGTERM handlers: {e}");
        }
        run_until_interrupted(dispatch(cli.command), SHUTDOWN_GRACE).await
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            report_error(&err);
            error::exit_code_for(&err)
        }
    }
}

/// How long a command may take to wind down after the first SIGINT/SIGTERM.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Drive `fut`; after cancellation give it `grace` to finish, then drop it (its destructors
/// stop embedded servers) and return `BenchError::Interrupted`.
pub async fn run_until_interrupted<F>(fut: F, grace: std::time::Duration) -> anyhow::Result<Outcome>
where
    F: std::future::Future<Output = anyhow::Result<Outcome>>,
{
    let token = shutdown::token();
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => return mark_interrupted(r),
        _ = token.cancelled() => {}
    }
    let deadline = tokio::time::Instant::now() + grace;
    let first = shutdown::signal_count();
    loop {
        tokio::select! {
            r = &mut fut => return mark_interrupted(r),
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                if shutdown::signal_count() > first.max(1) {
                    break;
                }
            }
        }
    }
    Err(error::BenchError::Interrupted.into())
}

/// A command that failed after a signal most likely failed because of it (its server was
/// stopped, its connections cut): report it as interrupted (exit 130), keeping the cause.
fn mark_interrupted(r: anyhow::Result<Outcome>) -> anyhow::Result<Outcome> {
    match r {
        Err(e) if shutdown::token().is_cancelled() => {
            if error::is_interrupted(&e) {
                Err(e)
            } else {
                Err(e.context(error::BenchError::Interrupted))
            }
        }
        r => r,
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
        Command::Baseline(a) => cmd::baseline::run(a).await,
        Command::Plan(a) => cmd::plan::run(a).await,
        Command::Sweep(a) => cmd::sweep::run(a).await,
        Command::Realism(a) => cmd::realism::run(a).await,
        Command::Merge(a) => cmd::merge::run(a).await,
    }
}

/// Print an error with its context chain, passwords redacted.
pub fn report_error(err: &anyhow::Error) {
    let mut msg = format!("error: {err}");
    for cause in err.chain().skip(1) {
        msg.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{}", format::redact(&msg));
}

//! Error kinds that decide the exit code, and the exit-code table itself.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; every check (and gate) passed |
//! | 1 | a check or regression gate failed, or a run was degraded by query errors |
//! | 2 | usage, configuration or environment error (bad scenario, unreachable server, ...) |
//! | 130 | interrupted by SIGINT/SIGTERM; a partial report was written where the phase allowed |

use std::process::ExitCode;

/// Errors that map to exit code 2. Wrap them in `anyhow` with context at the edges;
/// `exit_code_for` finds them anywhere in the chain.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad command-line usage or bad input file (scenario, report JSON, ...).
    #[error("{0}")]
    Config(String),
    /// The environment is not usable: server unreachable, binaries or extension missing, ...
    #[error("{0}")]
    Environment(String),
    /// The user interrupted the run (SIGINT / SIGTERM).
    #[error("interrupted")]
    Interrupted,
    /// The stored data is not what bench loaded (rows lost or added behind its back, e.g. a
    /// retention policy dropped them): nothing is measured on it. Exit 1.
    #[error("{0}")]
    Verification(String),
}

/// What a successful command invocation concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed.
    Pass,
    /// At least one check or gate failed (exit 1).
    Fail,
    /// Stopped by a signal after writing what was measured (exit 130).
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Pass => ExitCode::SUCCESS,
            Outcome::Fail => ExitCode::from(1),
            Outcome::Interrupted => ExitCode::from(130),
        }
    }
}

/// Exit code for an error that ended a command: 130 when interrupted, 1 when the data failed
/// its verification, otherwise 2.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        match cause.downcast_ref::<BenchError>() {
            Some(BenchError::Interrupted) => return ExitCode::from(130),
            Some(BenchError::Verification(_)) => return ExitCode::from(1),
            _ => {}
        }
    }
    ExitCode::from(2)
}

/// A PostgreSQL error as one readable line: severity, message, detail and hint for server
/// errors; the error and its causes otherwise.
pub fn pg_error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            s.push_str(&format!(" (detail: {d})"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!(" (hint: {h})"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(&format!(": {c}"));
        }
        src = cause.source();
    }
    s
}

/// Whether `err` is (or was caused by) an interruption: [`BenchError::Interrupted`] anywhere
/// in its chain. The one definition every phase and the exit code use.
pub fn is_interrupted(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        matches!(
            c.downcast_ref::<BenchError>(),
            Some(BenchError::Interrupted)
        )
    })
}

/// Whether a phase that failed with `err` stopped because of an interruption: the run was
/// cancelled (its connections may have been cut), or the error says so.
pub fn is_interrupt(err: &anyhow::Error, cancel: &tokio_util::sync::CancellationToken) -> bool {
    cancel.is_cancelled() || is_interrupted(err)
}

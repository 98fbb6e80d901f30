//! Scenario files: TOML -> raw serde types (unknown keys rejected) -> validated `Plan`.
//! Errors name the file, line, column and field; docs/scenarios.md documents every key.
//!
//! `load` reads a file, `parse` works on text (tests, stdin), `load_config` is the edge helper
//! that turns a bad scenario into a `BenchError::Config` (exit code 2), and `fingerprint` gives
//! the stable hash `compare` uses to refuse comparing different configurations.

pub mod defaults;
mod error;
pub mod plan;
mod raw;
mod sql;
mod validate;

use std::path::Path;

use chrono::{DateTime, Utc};

pub use error::{location_of, ErrorKind, Location, ScenarioError};
pub use plan::*;
pub use validate::{MAX_SPAN, MAX_TELEMETRY_ROWS};

use crate::error::BenchError;

/// An error about a field of a scenario file that was already read, found by its dotted path
/// (`queries[2].params[1]`), else by `fallback`, else at the file's start: for the checks that
/// need the server (the types PostgreSQL infers for a query's parameters).
pub(crate) fn error_at(
    file: &str,
    field: &str,
    fallback: &str,
    message: impl Into<String>,
) -> ScenarioError {
    let src = std::fs::read_to_string(file).unwrap_or_default();
    let at = error::span_of_path(&src, field)
        .or_else(|| error::span_of_path(&src, fallback))
        .map_or(0, |s| s.start);
    ScenarioError::at(ErrorKind::Invalid, file, &src, at, field, message)
}

/// Read and validate a scenario file; "now" resolves to the current time.
pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
    let file = path.display().to_string();
    let src = std::fs::read(path).map_err(|e| ScenarioError::io(&file, &e))?;
    let src = String::from_utf8(src).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        // Position computed on the valid prefix: it ends exactly where the bad byte starts.
        let prefix = &text[..text.len().min(at)];
        ScenarioError::at(
            ErrorKind::Syntax,
            &file,
            prefix,
            at,
            "",
            "the file is not valid UTF-8",
        )
    })?;
    parse(&src, &file, Utc::now())
}

/// `load`, for the edges: errors carry `BenchError::Config` (exit code 2).
pub fn load_config(path: &Path) -> anyhow::Result<Plan> {
    load(path).map_err(|e| anyhow::Error::new(BenchError::from(e)))
}

/// Parse and validate scenario text. `file` names it in errors and in the plan; `now` is the
/// instant `end = "now"` resolves to (truncated to whole seconds).
pub fn parse(src: &str, file: &str, now: DateTime<Utc>) -> Result<Plan, ScenarioError> {
    let doc = toml_edit::ImDocument::parse(src).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        ScenarioError::at(
            ErrorKind::Syntax,
            file,
            src,
            at,
            error::path_near_syntax_error(src, at),
            format!("invalid TOML: {}", error::one_line(e.message())),
        )
    })?;
    if doc.as_table().is_empty() {
        return Err(ScenarioError::at(
            ErrorKind::Empty,
            file,
            src,
            0,
            "",
            "the scenario file is empty: it needs at least a [fleet] section or one [[queries]] entry (see docs/scenarios.md)",
        ));
    }
    let de = toml_edit::de::Deserializer::from(doc);
    let raw = <raw::RawScenario as serde::Deserialize>::deserialize(de).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        ScenarioError::at(
            ErrorKind::Schema,
            file,
            src,
            span.start,
            error::path_at(src, &span),
            error::one_line(e.message()),
        )
    })?;
    validate::validate(raw, &validate::Ctx { file, src }, now)
}

/// Stable hex fingerprint (FNV-1a 64) of the resolved plan's JSON, leaving out `file` (the same
/// scenario may be run from another path), `description` (prose, not configuration) and, when
/// `end = "now"`, the end instant (it differs on every run).
pub fn fingerprint(plan: &Plan) -> String {
    let mut p = plan.clone();
    p.file = String::new();
    p.description = String::new();
    if p.fleet.end_is_now {
        p.fleet.end = DateTime::<Utc>::UNIX_EPOCH;
    }
    // Serialising plain data to JSON cannot fail; an empty string would still hash stably.
    let json = serde_json::to_string(&p).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in json.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests;

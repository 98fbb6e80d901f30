//! Raw scenario -> validated `Plan`: fill defaults, check ranges, names and cross-field rules.
//! Every rejection points at the offending value (or its table when the value is missing).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::plan::*;
use super::raw::*;
use crate::scenario::error::{span_of_path, ErrorKind, ScenarioError};
use crate::scenario::sql::{placeholders, SqlScanError};

/// Rows a scenario may describe at most (wells x samples per well); beyond it counts and
/// progress arithmetic stop being meaningful and the data would not fit anywhere anyway.
pub const MAX_TELEMETRY_ROWS: u128 = 1_000_000_000_000;
/// Longest history a scenario may generate: ten (Julian) years.
pub const MAX_SPAN: Duration = Duration::from_secs(10 * 31_557_600);

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);
const DAY: Duration = Duration::from_secs(86_400);

type R<T> = Result<T, ScenarioError>;

mod checks;
mod ctx;
mod fleet;
mod queries;
mod run;

use checks::*;
pub(crate) use ctx::Ctx;
use ctx::*;
use fleet::*;
use queries::*;
use run::*;

use crate::scenario::defaults;

pub(crate) fn validate(raw: RawScenario, ctx: &Ctx, now: DateTime<Utc>) -> R<Plan> {
    let (name, description) = meta(&raw, ctx)?;
    let server_settings = settings(&raw, ctx)?;
    let fleet = fleet(&raw, ctx, now)?;
    let load = load(&raw, ctx)?;
    let ingest = ingest(&raw, ctx)?;
    let run = run(&raw, ctx)?;
    let has_mix = raw.mix.is_some();
    let queries = queries(&raw, ctx, &fleet, &run, has_mix)?;
    check_rounds(&raw, ctx, &run, &queries)?;
    let mix = mix(&raw, ctx, &run, &queries)?;
    let checks = checks(&raw, ctx)?;
    let gate = gate(&raw, ctx)?;
    Ok(Plan {
        name,
        description,
        file: ctx.file.to_string(),
        server_settings,
        fleet,
        load,
        ingest,
        run,
        queries,
        mix,
        checks,
        gate,
    })
}

fn meta(raw: &RawScenario, ctx: &Ctx) -> R<(String, String)> {
    let m = raw.scenario.as_ref();
    let name = match m.and_then(|m| m.name.as_ref()) {
        Some(n) => {
            if !valid_name(n.get_ref()) {
                return Err(ctx.err(
                    &n.span(),
                    "scenario.name",
                    format!(
                        "invalid name \"{}\": use 1-64 ASCII letters, digits, `_`, `-` or `.` (it names report directories)",
                        n.get_ref()
                    ),
                ));
            }
            n.get_ref().clone()
        }
        None => default_name(ctx.file),
    };
    let description = m
        .and_then(|m| m.description.as_ref())
        .map(|d| d.get_ref().clone())
        .unwrap_or_default();
    Ok((name, description))
}

/// The file stem, made safe for directory names.
fn default_name(file: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_string();
    if cleaned.is_empty() {
        "scenario".to_string()
    } else {
        cleaned
    }
}

fn settings(raw: &RawScenario, ctx: &Ctx) -> R<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(map) = raw.server.as_ref().and_then(|s| s.settings.as_ref()) else {
        return Ok(out);
    };
    // File order, so a duplicate is reported where it is repeated.
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in entries {
        let name = k.get_ref();
        let field = format!("server.settings.{name}");
        if !crate::model::settings::is_setting_name(name) {
            return Err(ctx.err(
                &k.span(),
                &field,
                format!("invalid setting name `{name}`: expected a PostgreSQL parameter name such as `shared_buffers` or `timescaledb.max_background_workers`"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if crate::model::settings::is_managed(&lower) {
            return Err(ctx.err(
                &k.span(),
                &field,
                format!("`{name}` is managed by the embedded server and cannot be set"),
            ));
        }
        let value = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) if f.is_finite() => f.to_string(),
            toml::Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
            other => {
                return Err(ctx.err(
                    &v.span(),
                    &field,
                    format!(
                        "expected a string, number or boolean setting value, got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if value.chars().any(|c| c.is_control()) {
            return Err(ctx.err(
                &v.span(),
                &field,
                "setting values may not contain control characters or newlines",
            ));
        }
        if out.insert(lower.clone(), value).is_some() {
            return Err(ctx.err(
                &k.span(),
                &field,
                format!("setting `{lower}` is given twice (names are case-insensitive)"),
            ));
        }
    }
    Ok(out)
}

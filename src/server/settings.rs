//! Benchmark defaults for the embedded server, and layering of scenario and CLI overrides.

use std::collections::BTreeMap;

use crate::error::BenchError;

/// The embedded server's defaults: (name, value, why). Rendered by `bench info` and the README.
///
/// They aim at a small dedicated benchmark box (a few GB of RAM) while keeping the behaviour
/// that matters for comparing with production: durability (`synchronous_commit`, `fsync`) stays
/// at PostgreSQL's defaults, so ingest numbers are not inflated by skipped flushes.
pub const DEFAULT_SETTINGS_DOC: &[(&str, &str, &str)] = &[
    (
        "shared_preload_libraries",
        "timescaledb,pg_stat_statements",
        "required by TimescaleDB; pg_stat_statements gives the report's server-side time",
    ),
    (
        "pg_stat_statements.track_planning",
        "on",
        "the report splits server time into planning and execution",
    ),
    (
        "timescaledb.telemetry_level",
        "off",
        "no phone-home from a throwaway cluster",
    ),
    (
        "shared_buffers",
        "1GB",
        "PostgreSQL's 128MB default makes every scan an OS-cache read",
    ),
    (
        "effective_cache_size",
        "3GB",
        "planner hint matching a few GB of RAM",
    ),
    (
        "work_mem",
        "32MB",
        "per-well aggregates sort/hash in memory",
    ),
    (
        "maintenance_work_mem",
        "256MB",
        "index builds and compression after a bulk load",
    ),
    (
        "max_wal_size",
        "4GB",
        "bulk COPY would otherwise force checkpoints every few seconds",
    ),
    (
        "checkpoint_timeout",
        "15min",
        "fewer checkpoints during a run, less latency noise",
    ),
    (
        "synchronous_commit",
        "on",
        "production default: ingest numbers include the WAL flush",
    ),
    (
        "jit",
        "off",
        "JIT compile time dominates millisecond queries and varies run to run",
    ),
    ("random_page_cost", "1.1", "SSD storage"),
    (
        "max_connections",
        "200",
        "loader workers + query workers + ingest",
    ),
    (
        "max_worker_processes",
        "16",
        "room for TimescaleDB background workers and parallel query",
    ),
    (
        "timescaledb.max_background_workers",
        "8",
        "compression/retention policy jobs",
    ),
    ("log_min_messages", "warning", "keep the server log small"),
];

/// The documented benchmark settings, as a map (see [`DEFAULT_SETTINGS_DOC`] for the reasons).
pub fn default_settings() -> BTreeMap<String, String> {
    DEFAULT_SETTINGS_DOC
        .iter()
        .map(|(k, v, _)| (k.to_string(), v.to_string()))
        .collect()
}

/// `base` with every entry of `overrides` replacing or adding.
pub fn merge_settings(
    base: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = base.clone();
    for (k, v) in overrides {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Whatever the overrides say, timescaledb must stay preloaded.
pub fn ensure_timescaledb_preloaded(settings: &mut BTreeMap<String, String>) {
    let entry = settings
        .entry("shared_preload_libraries".to_string())
        .or_default();
    let has = entry
        .split(',')
        .map(|s| s.trim().trim_matches('\'').trim_matches('"'))
        .any(|s| s == "timescaledb");
    if !has {
        *entry = if entry.trim().is_empty() {
            "timescaledb".to_string()
        } else {
            format!("timescaledb,{}", entry.trim())
        };
    }
}

/// Parse one `NAME=VALUE` from `--pg-setting`. Names are PostgreSQL GUC names
/// (letters, digits, `_`, and `.` for extension settings).
pub fn parse_setting(s: &str) -> Result<(String, String), BenchError> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(BenchError::Config(format!(
            "--pg-setting {s:?}: expected NAME=VALUE, e.g. shared_buffers=1GB"
        )));
    };
    let name = name.trim().to_ascii_lowercase();
    validate_setting_name(&name)
        .map_err(|e| BenchError::Config(format!("--pg-setting {s:?}: {e}")))?;
    if crate::model::settings::is_managed(&name) {
        return Err(BenchError::Config(format!(
            "--pg-setting {s:?}: {name} is managed by bench for the embedded server"
        )));
    }
    Ok((name, value.trim().to_string()))
}

/// A GUC name, by the one rule of [`crate::model::settings::is_setting_name`].
pub fn validate_setting_name(name: &str) -> Result<(), String> {
    if crate::model::settings::is_setting_name(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid PostgreSQL setting name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_include_the_documented_benchmark_settings() {
        let d = default_settings();
        for k in [
            "shared_buffers",
            "max_wal_size",
            "checkpoint_timeout",
            "synchronous_commit",
            "jit",
            "shared_preload_libraries",
            "timescaledb.telemetry_level",
        ] {
            assert!(d.contains_key(k), "{k} missing");
        }
    }

    #[test]
    fn overrides_layer_and_timescaledb_stays_preloaded() {
        let mut o = BTreeMap::new();
        o.insert("shared_buffers".to_string(), "2GB".to_string());
        o.insert(
            "shared_preload_libraries".to_string(),
            "pg_stat_statements".to_string(),
        );
        let mut m = merge_settings(&default_settings(), &o);
        ensure_timescaledb_preloaded(&mut m);
        assert_eq!(m["shared_buffers"], "2GB");
        assert_eq!(
            m["shared_preload_libraries"],
            "timescaledb,pg_stat_statements"
        );
    }

    #[test]
    fn parse_setting_validates() {
        assert_eq!(
            parse_setting("work_mem=64MB").unwrap(),
            ("work_mem".to_string(), "64MB".to_string())
        );
        assert!(parse_setting("timescaledb.max_background_workers=4").is_ok());
        assert!(parse_setting("work_mem").is_err());
        assert!(parse_setting("bad name=1").is_err());
        assert!(parse_setting("port=5").is_err());
        assert!(parse_setting("=5").is_err());
    }
}

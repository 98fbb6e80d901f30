//! The scenario file as written: serde types mirroring the TOML, every table rejecting unknown
//! keys, every value that validation judges wrapped in `Spanned` so its errors can point at it.
//! Nothing here has defaults or meaning; `validate` turns these into a `Plan`.
//!
//! Only scalar values and keys are `Spanned`: tables and arrays of tables can be implicit
//! (`[server.settings]` creates `server` without a span), and a spanned wrapper would then fail
//! to deserialize. Their positions are looked up in the document instead (`Ctx::locate`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub scenario: Option<RawMeta>,
    pub server: Option<RawServer>,
    pub fleet: Option<RawFleet>,
    pub faults: Option<RawFaults>,
    pub dirty: Option<RawDirty>,
    pub load: Option<RawLoad>,
    pub ingest: Option<RawIngest>,
    pub run: Option<RawRun>,
    pub queries: Option<Vec<RawQuery>>,
    pub mix: Option<RawMix>,
    pub checks: Option<RawChecks>,
    pub gate: Option<RawGate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMeta {
    pub name: Option<S<String>>,
    pub description: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub settings: Option<BTreeMap<S<String>, S<toml::Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFleet {
    pub wells: Option<S<i64>>,
    pub sample_interval: Option<S<toml::Value>>,
    pub span: Option<S<toml::Value>>,
    pub end: Option<S<toml::Value>>,
    pub seed: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFaults {
    pub gas_lock_per_day: Option<S<f64>>,
    pub pump_off_per_day: Option<S<f64>>,
    pub sand_per_day: Option<S<f64>>,
    pub trip_per_day: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirty {
    pub dropout_rate: Option<S<f64>>,
    pub dropout_mean: Option<S<toml::Value>>,
    pub stuck_rate: Option<S<f64>>,
    pub stuck_mean: Option<S<toml::Value>>,
    pub spike_rate: Option<S<f64>>,
    pub duplicate_rate: Option<S<f64>>,
    pub late_rate: Option<S<f64>>,
    pub dead_sensor_fraction: Option<S<f64>>,
    pub missing_sensor_fraction: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoad {
    pub workers: Option<S<i64>>,
    pub batch_size: Option<S<i64>>,
    pub max_retries: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIngest {
    pub enabled: Option<bool>,
    pub rows_per_sec: Option<S<f64>>,
    pub batch_size: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRun {
    pub warmup: Option<S<toml::Value>>,
    pub duration: Option<S<toml::Value>>,
    pub stats_interval: Option<S<toml::Value>>,
    pub statement_timeout: Option<S<toml::Value>>,
    pub reuse_data: Option<bool>,
    pub state: Option<S<String>>,
    pub plan_cache_mode: Option<S<String>>,
    /// Each query's phase split into this many rounds, interleaved across the queries.
    pub rounds: Option<S<i64>>,
    /// Evidence capture (issue 13): `cache`, `capture`, `what_if`.
    pub cache: Option<S<String>>,
    pub capture: Option<bool>,
    pub what_if: Option<S<Vec<S<String>>>>,
    /// The host-speed reference between a closed-loop phase's executions.
    pub speed_reference: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuery {
    pub name: S<String>,
    /// Run a built-in under another name (so one built-in can appear twice).
    pub builtin: Option<S<String>>,
    pub top_n: Option<S<i64>>,
    pub window: Option<S<toml::Value>>,
    pub sql: Option<S<String>>,
    pub params: Option<Vec<RawParam>>,
    pub time_bounded: Option<S<bool>>,
    pub clients: Option<S<i64>>,
    pub rate: Option<S<f64>>,
    pub warmup: Option<S<toml::Value>>,
    pub duration: Option<S<toml::Value>>,
    pub count: Option<S<i64>>,
    pub weight: Option<S<i64>>,
    pub targets: Option<BTreeMap<S<String>, S<f64>>>,
    pub max_chunks_scanned: Option<S<i64>>,
    pub min_pruning_speedup: Option<S<f64>>,
    pub writes: Option<S<bool>>,
    pub plan_cache_mode: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawParam {
    pub kind: S<String>,
    pub min_back: Option<S<toml::Value>>,
    pub value: Option<S<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMix {
    pub clients: Option<S<i64>>,
    pub rate: Option<S<f64>>,
    pub warmup: Option<S<toml::Value>>,
    pub duration: Option<S<toml::Value>>,
    pub count: Option<S<i64>>,
    pub plan_cache_mode: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChecks {
    pub unsupported: Option<S<String>>,
    pub chunk_counts: Option<bool>,
    pub telemetry_min_reduction_pct: Option<S<toml::Value>>,
    pub diagnostics_min_reduction_pct: Option<S<toml::Value>>,
    pub policies: Option<bool>,
    pub retention: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGate {
    pub max_regression: Option<S<toml::Value>>,
    pub metrics: Option<Vec<S<String>>>,
    pub alpha: Option<S<f64>>,
}

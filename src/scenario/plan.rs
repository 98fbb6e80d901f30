//! The validated plan: what a scenario file means once parsed and checked. Every other module
//! consumes these types, never the raw TOML. Field names here are the contract between
//! `scenario` (producer) and `datagen`, `load`, `exec`, `checks`, `report` (consumers).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A whole validated scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `[scenario] name`; defaults to the file stem.
    pub name: String,
    pub description: String,
    /// Path of the scenario file as given.
    pub file: String,
    /// `[server.settings]`: PostgreSQL settings for the embedded server (name -> value).
    pub server_settings: BTreeMap<String, String>,
    pub fleet: FleetPlan,
    pub load: LoadPlan,
    /// `[ingest]`: live ingest during the query phase; None when absent/disabled.
    pub ingest: Option<IngestPlan>,
    pub run: RunPlan,
    /// `[[queries]]` in file order.
    pub queries: Vec<QueryPlan>,
    /// `[mix]`: an optional weighted-mix phase after the per-query phases.
    pub mix: Option<MixPlan>,
    pub checks: ChecksPlan,
    /// `[gate]`: regression gate settings used with `--baseline`.
    pub gate: GatePlan,
}

impl Plan {
    /// The same plan for another fleet size (`bench sweep`); everything else, seed included,
    /// stays as it is. A size of 0 is taken as 1 so the plan stays valid.
    pub fn with_wells(&self, wells: u32) -> Plan {
        let mut plan = self.clone();
        plan.fleet.wells = wells.max(1);
        plan
    }

    /// The query of this name, if any.
    pub fn query(&self, name: &str) -> Option<&QueryPlan> {
        self.queries.iter().find(|q| q.name == name)
    }
}

/// `[fleet]`, `[faults]`, `[dirty]`: everything the data generator needs. Pure data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetPlan {
    pub wells: u32,
    pub sample_interval: Duration,
    /// Length of the generated history.
    pub span: Duration,
    /// End instant of the history (resolved from "now" at validation time, truncated to whole
    /// seconds, so one run uses one instant everywhere).
    pub end: DateTime<Utc>,
    /// True when the file said `end = "now"`.
    pub end_is_now: bool,
    pub seed: u64,
    pub faults: FaultRates,
    pub dirty: DirtyRates,
}

impl FleetPlan {
    /// First instant of the history: `end - span`.
    pub fn start(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.span)
            .ok()
            .and_then(|d| self.end.checked_sub_signed(d))
            .unwrap_or(self.end)
    }

    /// Sample slots per well in the span (`span / sample_interval`, rounded down), before any
    /// dirty-data effects (gaps, duplicates).
    pub fn samples_per_well(&self) -> u64 {
        let step = self.sample_interval.as_nanos().max(1);
        u64::try_from(self.span.as_nanos() / step).unwrap_or(u64::MAX)
    }

    /// Nominal telemetry rows: wells x samples per well (validation caps it at 10^12).
    pub fn nominal_telemetry_rows(&self) -> u64 {
        self.samples_per_well()
            .saturating_mul(u64::from(self.wells))
    }
}

/// Fault episodes per well per day (Poisson arrival rates). `[faults]`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FaultRates {
    pub gas_lock_per_day: f64,
    pub pump_off_per_day: f64,
    pub sand_per_day: f64,
    pub trip_per_day: f64,
}

/// Imperfect-data rates. `[dirty]`. Probabilities are per sample unless named otherwise.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DirtyRates {
    /// Chance that a communication dropout (gap) starts at a sample.
    pub dropout_rate: f64,
    /// Mean dropout length.
    pub dropout_mean: Duration,
    /// Chance that a sensor sticks (repeats its last value) starting at a sample.
    pub stuck_rate: f64,
    /// Mean length of a stuck episode.
    pub stuck_mean: Duration,
    /// Chance of a single-sample spike per channel value.
    pub spike_rate: f64,
    /// Chance a sample is delivered twice (duplicate row).
    pub duplicate_rate: f64,
    /// Chance a sample arrives late (out of order in the stream).
    pub late_rate: f64,
    /// Fraction of (well, channel) pairs whose sensor is dead (reads a constant 0).
    pub dead_sensor_fraction: f64,
    /// Fraction of (well, channel) pairs whose sensor is absent (NULL throughout).
    pub missing_sensor_fraction: f64,
}

/// `[load]`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoadPlan {
    pub workers: u32,
    /// Rows per COPY batch (one transaction each).
    pub batch_size: u32,
    /// Retries per batch after a transient failure before the load fails.
    pub max_retries: u32,
}

/// `[ingest]`: live rows stamped in real time while queries run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestPlan {
    /// Target rows/s; None = every well at its sample interval (wells / interval rows/s).
    pub rows_per_sec: Option<f64>,
    /// Rows per COPY batch for live ingest.
    pub batch_size: u32,
}

/// `[run]`: defaults for the query phase.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunPlan {
    pub warmup: Duration,
    pub duration: Duration,
    /// Width of the per-interval samples recorded for the regression gate.
    pub stats_interval: Duration,
    pub statement_timeout: Duration,
    /// Skip loading when the target already holds this scenario's data (see `load`); the
    /// data is verified against the ledger and the generator before it is measured.
    pub reuse_data: bool,
    /// The state of the hypertables while queries are measured (`[run] state`).
    pub state: DataState,
    /// `[run] plan_cache_mode`: the default of every query phase and of the mix.
    pub plan_cache_mode: PlanCacheMode,
    /// `[run] rounds`: every query's own phase runs as this many rounds, each with its own
    /// warmup and 1/rounds of the measured stage, interleaved across the queries (round 1 of
    /// every query, then round 2, ...), so that what the machine does at one moment of the run
    /// falls on every query alike; the report merges the rounds (`run::rounds`). The mix runs
    /// once. Left out of the resolved scenario when 1, so older fingerprints still match.
    #[serde(skip_serializing_if = "is_one")]
    pub rounds: u32,
    /// `[run] cache`: measure with hot caches, cold ones, or both (`probe::cache`). Left out of
    /// the resolved scenario when hot, so older fingerprints still match.
    #[serde(skip_serializing_if = "CacheMode::is_hot")]
    pub cache: CacheMode,
    /// `[run] capture`: plans, pg_stat_statements and resource samples (`probe`). Not part of
    /// the resolved scenario: it changes what is recorded, not what is measured.
    #[serde(skip)]
    pub capture: bool,
    /// `[run] what_if`: alternatives measured for failing queries (`probe::whatif`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub what_if: Vec<WhatIfKind>,
    /// `[run] speed_reference`: closed-loop phases run a fixed CPU-bound statement on their
    /// own connections between the query's executions (at most one per
    /// [`SPEED_REFERENCE_SPACING`]), and every stats interval records its median latency, so
    /// that the regression gate can divide each interval by how fast the machine ran at that
    /// moment (docs/ci-gate.md, "Speed reference"). Left out of the resolved scenario when
    /// off, so older fingerprints still match.
    #[serde(skip_serializing_if = "is_false")]
    pub speed_reference: bool,
}

/// The host-speed reference statement (`[run] speed_reference`): pure executor work on no
/// table (about 0.3 ms on a 2-core development machine), so that neither the data, nor the
/// schema, nor a query's plan changes its time; only how fast the machine runs the server.
pub const SPEED_REFERENCE_SQL: &str = "SELECT sum(g) FROM generate_series(1, 3000) AS g";

/// The shortest time between two reference executions on one connection: at most a few
/// percent of a phase's time goes to the reference, and a 250 ms interval still holds 10-25 of
/// them (its median is then steady).
pub const SPEED_REFERENCE_SPACING: std::time::Duration = std::time::Duration::from_millis(10);

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `[run] cache`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// Caches as the previous phases left them (the default).
    #[default]
    Hot,
    /// Before each phase: restart the embedded server and drop the OS page cache.
    Cold,
    /// Each phase cold (reported as `cold:<query>`), then again hot (`<query>`).
    Both,
}

impl CacheMode {
    pub fn is_hot(&self) -> bool {
        *self == CacheMode::Hot
    }

    pub fn name(self) -> &'static str {
        match self {
            CacheMode::Hot => "hot",
            CacheMode::Cold => "cold",
            CacheMode::Both => "both",
        }
    }
}

/// One `[run] what_if` entry.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhatIfKind {
    /// A continuous aggregate for the failing fleet and well aggregates.
    Cagg,
}

impl WhatIfKind {
    pub const ALL: [WhatIfKind; 1] = [WhatIfKind::Cagg];

    pub fn name(self) -> &'static str {
        match self {
            WhatIfKind::Cagg => "cagg",
        }
    }
}

/// `[run] state`: what the query phases measure.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DataState {
    /// As production holds it: every chunk older than the compression policy's window is
    /// compressed and every chunk older than the retention window dropped, both measured from
    /// the data end, before any query runs (the default).
    Steady,
    /// As loaded: nothing compressed or dropped before the queries (compression and retention
    /// happen in the checks phase, after the measurements).
    Fresh,
}

impl DataState {
    pub fn name(self) -> &'static str {
        match self {
            DataState::Steady => "steady",
            DataState::Fresh => "fresh",
        }
    }
}

/// PostgreSQL's `plan_cache_mode`, set on the query connections of a phase: whether prepared
/// statements run a custom plan (planned with the parameter values), the generic (cached)
/// plan, or let the plan cache choose (`auto`: 5 custom plans, then the generic one when it is
/// not estimated dearer).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PlanCacheMode {
    #[default]
    Auto,
    ForceCustomPlan,
    ForceGenericPlan,
}

impl PlanCacheMode {
    pub const ALL: [PlanCacheMode; 3] = [
        PlanCacheMode::Auto,
        PlanCacheMode::ForceCustomPlan,
        PlanCacheMode::ForceGenericPlan,
    ];

    /// The setting's value, as in scenario files and `SET plan_cache_mode = ...`.
    pub fn name(self) -> &'static str {
        match self {
            PlanCacheMode::Auto => "auto",
            PlanCacheMode::ForceCustomPlan => "force_custom_plan",
            PlanCacheMode::ForceGenericPlan => "force_generic_plan",
        }
    }

    pub fn from_name(name: &str) -> Option<PlanCacheMode> {
        PlanCacheMode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Can a client in this mode run the custom plan / the generic plan?
    pub fn allows_custom(self) -> bool {
        self != PlanCacheMode::ForceGenericPlan
    }

    pub fn allows_generic(self) -> bool {
        self != PlanCacheMode::ForceCustomPlan
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryPlan {
    /// Unique name in the scenario; a built-in's name unless the file says `builtin = "..."`
    /// to run a built-in under another name (match on `kind`, not on the name).
    pub name: String,
    pub kind: QueryKind,
    pub mode: LoadMode,
    pub warmup: Duration,
    pub stop: StopCondition,
    /// Weight in the `[mix]` phase (0 = not in the mix).
    pub weight: u32,
    /// Latency/throughput targets, each checked after the run.
    pub targets: Vec<Threshold>,
    /// Chunk-pruning check for this query: max chunks scanned (EXPLAIN), or None.
    pub max_chunks_scanned: Option<u64>,
    /// Minimum speedup of the pruned query against the same query with pruning defeated.
    pub min_pruning_speedup: Option<f64>,
    /// The query may write (`writes = true`): it runs outside the read-only transactions of
    /// the query phase, only on bench's embedded throwaway server, and the run is marked as
    /// writing.
    pub writes: bool,
    /// `plan_cache_mode` of this query's own phase (the query's key, else `[run]`'s).
    pub plan_cache_mode: PlanCacheMode,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QueryKind {
    Builtin(Builtin),
    Custom {
        sql: String,
        params: Vec<ParamGen>,
        /// True when the SQL is bounded in time (eligible for pruning checks).
        time_bounded: bool,
    },
}

/// The built-in queries (see docs/scenarios.md for their SQL).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Builtin {
    /// One random well, last 24 h, newest first.
    Latest24h,
    /// Per-well avg/min/max of flow over the last 7 days, GROUP BY well_id.
    Agg7dFleet,
    /// The same for one random well.
    Agg7dWell,
    /// Latest reading per well.
    LastValue,
    /// time_bucket('1 hour') over 7 days for one random well.
    DashboardHourly,
    /// Critical and warning diagnostics in the last 24 h.
    DiagnosticsRecent,
    /// Top-N wells by mean vibration over a window.
    TopVibration { top_n: u32, window: Duration },
    /// One random well's daily buckets over the last 30 days: reads history that production
    /// holds compressed (older than 7 days).
    History30dDaily,
}

impl Builtin {
    /// Every built-in's scenario-file name, in documentation order.
    pub const NAMES: [&'static str; 8] = [
        "latest_24h",
        "agg_7d_fleet",
        "agg_7d_well",
        "last_value",
        "dashboard_hourly",
        "diagnostics_recent",
        "history_30d_daily",
        "top_vibration",
    ];

    /// The name used in scenario files, e.g. "latest_24h".
    pub fn name(&self) -> &'static str {
        match self {
            Builtin::Latest24h => "latest_24h",
            Builtin::Agg7dFleet => "agg_7d_fleet",
            Builtin::Agg7dWell => "agg_7d_well",
            Builtin::LastValue => "last_value",
            Builtin::DashboardHourly => "dashboard_hourly",
            Builtin::DiagnosticsRecent => "diagnostics_recent",
            Builtin::TopVibration { .. } => "top_vibration",
            Builtin::History30dDaily => "history_30d_daily",
        }
    }

    /// True when the query's WHERE clause bounds time, so chunk pruning applies. Every
    /// built-in is bounded (`last_value` looks back 24 h from the data end), so this is true for
    /// all of them today; it exists so a future unbounded built-in cannot get a pruning check.
    pub fn time_bounded(&self) -> bool {
        match self {
            Builtin::Latest24h
            | Builtin::Agg7dFleet
            | Builtin::Agg7dWell
            | Builtin::LastValue
            | Builtin::DashboardHourly
            | Builtin::DiagnosticsRecent
            | Builtin::TopVibration { .. }
            | Builtin::History30dDaily => true,
        }
    }
}

impl QueryKind {
    /// True when the query is bounded in time (eligible for the chunk-pruning checks).
    pub fn time_bounded(&self) -> bool {
        match self {
            QueryKind::Builtin(b) => b.time_bounded(),
            QueryKind::Custom { time_bounded, .. } => *time_bounded,
        }
    }
}

/// Typed parameter generators for custom SQL ($1, $2, ... in order).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamGen {
    /// A random well id (text), uniform over the fleet.
    RandomWell,
    /// A random instant inside the data span (timestamptz), at least `min_back` after the start.
    RandomWindowEnd {
        min_back: Duration,
    },
    /// The end of the data span (the scenario's "now").
    DataEnd,
    FixedText {
        value: String,
    },
    FixedInt {
        value: i64,
    },
    FixedFloat {
        value: f64,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum LoadMode {
    /// `clients` connections, each sending the next query when the previous returns.
    Closed { clients: u32 },
    /// `rate` queries/s spread over `clients` connections; latency from the intended start.
    FixedRate { rate: f64, clients: u32 },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "stop", rename_all = "snake_case")]
pub enum StopCondition {
    Duration { duration: Duration },
    Count { count: u64 },
}

/// A latency/throughput target, e.g. `p95_ms <= 10` (named `Threshold` so it is not confused
/// with `db::Target`, the server bench works on).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    /// Upper bound for latency/error metrics, lower bound for throughput.
    pub threshold: f64,
}

/// The metric vocabulary lives in `model` (the report model needs it too).
pub use crate::model::Metric;

/// `[mix]`: one phase where each client picks the next query by weight.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MixPlan {
    pub mode: LoadMode,
    pub warmup: Duration,
    pub stop: StopCondition,
    /// `plan_cache_mode` of the mix phase (`[mix]`'s key, else `[run]`'s); the queries' own
    /// keys apply to their own phases only.
    pub plan_cache_mode: PlanCacheMode,
}

/// What to do with a check that this server cannot measure (Apache edition).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnsupportedEffect {
    Skip,
    Fail,
}

/// `[checks]`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChecksPlan {
    pub unsupported: UnsupportedEffect,
    /// Chunk counts per hypertable must match span / chunk interval (+1 for a partial chunk).
    pub chunk_counts: bool,
    /// Minimum storage reduction after compressing the chunks the policy would compress, in
    /// percent (90 telemetry, 85 diagnostics in production). None = no compression check.
    pub telemetry_min_reduction_pct: Option<f64>,
    pub diagnostics_min_reduction_pct: Option<f64>,
    /// Compression and retention jobs present with the production settings.
    pub policies: bool,
    /// Run retention (job or drop_chunks) and verify nothing older than the window remains.
    pub retention: bool,
}

/// `[gate]`: defaults for the regression comparison (`--baseline`, `bench compare`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GatePlan {
    /// Maximum tolerated slowdown, percent (10 = 10%).
    pub max_regression_pct: f64,
    /// Metrics compared, e.g. p50_ms, p95_ms, p99_ms.
    pub metrics: Vec<Metric>,
    /// Significance level of the statistical test.
    pub alpha: f64,
}

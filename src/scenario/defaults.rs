//! Every default in one place (docs/scenarios.md lists them).

use std::time::Duration;

use crate::scenario::plan::{DirtyRates, FaultRates, Metric};

pub const WELLS: u32 = 10;
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(60);
pub const SPAN: Duration = Duration::from_secs(32 * 86_400);
pub const SEED: u64 = 42;
pub const LOAD_WORKERS: u32 = 2;
pub const LOAD_BATCH: u32 = 50_000;
pub const INGEST_BATCH: u32 = 1_000;
pub const WARMUP: Duration = Duration::from_secs(2);
pub const DURATION: Duration = Duration::from_secs(10);
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
pub const QUERY_CLIENTS: u32 = 1;
pub const MIX_CLIENTS: u32 = 2;
pub const TOP_N: u32 = 10;
pub const TOP_WINDOW: Duration = Duration::from_secs(86_400);
pub const MIN_BACK: Duration = Duration::from_secs(86_400);
pub const MAX_REGRESSION_PCT: f64 = 10.0;
pub const GATE_METRICS: [Metric; 3] = [Metric::P50Ms, Metric::P95Ms, Metric::P99Ms];
pub const ALPHA: f64 = 0.05;
/// Largest significance level a gate accepts (`[gate] alpha`, `--alpha`): above 0.5 a
/// one-sided test fails on noise more often than not.
pub const ALPHA_MAX: f64 = 0.5;
/// [`ALPHA_MAX`]'s range in words, for error messages.
pub const ALPHA_RANGE: &str = "greater than 0 and at most 0.5";

/// Whether `alpha` is a significance level a gate accepts: 0 < alpha <= [`ALPHA_MAX`].
pub fn alpha_ok(alpha: f64) -> bool {
    alpha > 0.0 && alpha <= ALPHA_MAX
}

/// Fault rates when `[faults]` leaves them out: the data generator's defaults.
pub fn faults() -> FaultRates {
    FaultRates {
        gas_lock_per_day: 0.05,
        pump_off_per_day: 0.08,
        sand_per_day: 0.02,
        trip_per_day: 0.03,
    }
}

/// Imperfect-data rates when `[dirty]` leaves them out: the data generator's defaults.
pub fn dirty() -> DirtyRates {
    DirtyRates {
        dropout_rate: 1e-4,
        dropout_mean: Duration::from_secs(60),
        stuck_rate: 2e-5,
        stuck_mean: Duration::from_secs(600),
        spike_rate: 1e-5,
        duplicate_rate: 1e-4,
        late_rate: 1e-4,
        dead_sensor_fraction: 0.12,
        missing_sensor_fraction: 0.28,
    }
}

//! The data generator: a pure, seeded model of a fleet of ESP wells producing `esp_telemetry`
//! and `diagnostic_results` rows, plus their COPY encodings. No I/O except `stream`, which writes
//! encoded tables to any `io::Write` in a fixed order using worker threads.
//!
//! Determinism contract: every row is a pure function of (fleet plan, well, sample index). Work
//! is split into fixed-size [`Block`]s of `BLOCK_SAMPLES` samples per well (a model constant, not
//! a batch size), so emission order inside a block (duplicates, late rows) never depends on the
//! number of workers or the COPY batch size. See docs/telemetry-model.md for the model.

pub mod encode;
mod episodes;
mod model;
mod rng;
mod sensors;
pub mod stream;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::scenario::{DirtyRates, FaultRates};

pub use episodes::{Episode, EpisodeKind};
pub use model::{Blocks, Fleet};

/// The tables and channel names are schema facts, defined once in `model::tables`.
pub use crate::model::tables::{CHANNELS, CHANNEL_NAMES, DIAGNOSTICS_TABLE, TELEMETRY_TABLE};

/// COPY column list of `esp_telemetry`, in encoding order (the identity `id` is not sent).
pub const TELEMETRY_COLUMNS: &[&str] = &[
    "timestamp",
    "well_id",
    "frequency_hz",
    "motor_current_a",
    "motor_voltage_v",
    "intake_pressure_psi",
    "discharge_pressure_psi",
    "motor_temp_f",
    "intake_temp_f",
    "vibration_g",
    "flow_rate",
];

/// COPY column list of `diagnostic_results`, in encoding order (the identity `id` is not sent).
pub const DIAGNOSTIC_COLUMNS: &[&str] = &[
    "timestamp",
    "well_id",
    "condition",
    "severity",
    "confidence",
    "message",
];

/// Samples per work block (per well). A constant of the model: changing it changes where late
/// rows may land, so it is part of the determinism contract.
pub const BLOCK_SAMPLES: u64 = 4096;

/// Resolution (quantisation step) of each channel, in column order.
/// Pressures and flow are whole numbers, as SCADA historians commonly store them; whole numbers
/// also leave the trailing mantissa bits zero, which is what makes real pressure data compress
/// to about 2 bytes per value (DOMAIN.md). Decimal resolutions cost more, as in real data.
pub const CHANNEL_RESOLUTION: [f64; CHANNELS] = [0.01, 0.1, 1.0, 1.0, 1.0, 0.01, 0.01, 0.001, 0.1];

/// `well_id` text of a 0-based well index: "WELL-001", ..., "WELL-999", "WELL-1000", ...
pub fn well_id(well: u32) -> String {
    WellId::new(well).as_str().to_owned()
}

/// A well id held inline (no allocation), so rows are `Copy`-cheap and encoders need no lookup.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WellId {
    buf: [u8; 16],
    len: u8,
}

impl WellId {
    /// The id of a 0-based well index (number = index + 1, at least three digits).
    pub fn new(well: u32) -> WellId {
        let mut buf = [0u8; 16];
        buf[..5].copy_from_slice(b"WELL-");
        let n = well as u64 + 1;
        let mut digits = [0u8; 10];
        let mut len = 0;
        let mut m = n;
        while m > 0 {
            digits[len] = b'0' + (m % 10) as u8;
            m /= 10;
            len += 1;
        }
        let width = len.max(3);
        for i in 0..width {
            buf[5 + i] = if i < width - len {
                b'0'
            } else {
                digits[width - 1 - i]
            };
        }
        WellId {
            buf,
            len: (5 + width) as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into `buf`.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("WELL-?")
    }
}

impl std::fmt::Debug for WellId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for WellId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `esp_telemetry` row. `None` is SQL NULL (a missing sensor).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelemetryRow {
    /// Sample time, Unix microseconds, UTC.
    pub ts_us: i64,
    /// 0-based well index.
    pub well: u32,
    pub well_id: WellId,
    pub frequency_hz: Option<f64>,
    pub motor_current_a: Option<f64>,
    pub motor_voltage_v: Option<f64>,
    pub intake_pressure_psi: Option<f64>,
    pub discharge_pressure_psi: Option<f64>,
    pub motor_temp_f: Option<f64>,
    pub intake_temp_f: Option<f64>,
    pub vibration_g: Option<f64>,
    /// bbl/day.
    pub flow_rate: Option<f64>,
}

impl TelemetryRow {
    /// The value channels in column order (`CHANNEL_NAMES`).
    #[inline]
    pub fn values(&self) -> [Option<f64>; CHANNELS] {
        [
            self.frequency_hz,
            self.motor_current_a,
            self.motor_voltage_v,
            self.intake_pressure_psi,
            self.discharge_pressure_psi,
            self.motor_temp_f,
            self.intake_temp_f,
            self.vibration_g,
            self.flow_rate,
        ]
    }

    #[inline]
    pub(crate) fn from_values(
        ts_us: i64,
        well: u32,
        well_id: WellId,
        v: [Option<f64>; CHANNELS],
    ) -> Self {
        TelemetryRow {
            ts_us,
            well,
            well_id,
            frequency_hz: v[0],
            motor_current_a: v[1],
            motor_voltage_v: v[2],
            intake_pressure_psi: v[3],
            discharge_pressure_psi: v[4],
            motor_temp_f: v[5],
            intake_temp_f: v[6],
            vibration_g: v[7],
            flow_rate: v[8],
        }
    }
}

/// Diagnostic condition names written to `diagnostic_results.condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// Gas lock: free gas fills the pump; current drops and oscillates, flow collapses.
    GasLock,
    /// Pump-off: the well is pumped down; intake pressure and flow fall, motor heats.
    PumpOff,
    /// Sand or scale: abrasive solids; vibration and current rise.
    Sand,
    /// Trip / shutdown: the drive stopped the motor; a restart follows.
    Trip,
}

impl Condition {
    pub const ALL: [Condition; 4] = [
        Condition::GasLock,
        Condition::PumpOff,
        Condition::Sand,
        Condition::Trip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::GasLock => "gas_lock",
            Condition::PumpOff => "pump_off",
            Condition::Sand => "sand",
            Condition::Trip => "trip",
        }
    }
}

/// Diagnostic severity written to `diagnostic_results.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One `diagnostic_results` row.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticRow {
    /// Unix microseconds, UTC.
    pub ts_us: i64,
    pub well: u32,
    pub well_id: WellId,
    pub condition: Condition,
    pub severity: Severity,
    /// 0..1, two decimals.
    pub confidence: f64,
    pub message: String,
}

/// A deterministic unit of telemetry work: samples `first_sample..end_sample` of one well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Position in the fleet's well-major block order (0-based).
    pub index: u64,
    pub well: u32,
    pub first_sample: u64,
    pub end_sample: u64,
}

impl Block {
    /// Samples in the block (rows before dropouts and duplicates).
    pub fn samples(&self) -> u64 {
        self.end_sample - self.first_sample
    }
}

/// Recommended `[faults]` defaults: episodes per well per day (see docs/telemetry-model.md).
pub fn default_faults() -> FaultRates {
    crate::scenario::defaults::faults()
}

/// Recommended `[dirty]` defaults (see docs/telemetry-model.md); defined once, in
/// `scenario::defaults`, which fills them in when a scenario leaves `[dirty]` out.
pub fn default_dirty() -> DirtyRates {
    crate::scenario::defaults::dirty()
}

/// No faults at all (tests, clean baselines).
pub fn no_faults() -> FaultRates {
    FaultRates {
        gas_lock_per_day: 0.0,
        pump_off_per_day: 0.0,
        sand_per_day: 0.0,
        trip_per_day: 0.0,
    }
}

/// No imperfect data at all (tests, clean baselines).
pub fn clean_dirty() -> DirtyRates {
    DirtyRates {
        dropout_rate: 0.0,
        dropout_mean: Duration::from_secs(60),
        stuck_rate: 0.0,
        stuck_mean: Duration::from_secs(600),
        spike_rate: 0.0,
        duplicate_rate: 0.0,
        late_rate: 0.0,
        dead_sensor_fraction: 0.0,
        missing_sensor_fraction: 0.0,
    }
}

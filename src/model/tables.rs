//! The production schema's vocabulary: the two hypertables, the telemetry channels (value
//! columns), and the chunk, compression and retention windows the production schema sets.
//! The data generator, the loader, the schema code, the checks and the capacity model all
//! name these; this is their one definition.

/// Target table of telemetry rows.
pub const TELEMETRY_TABLE: &str = "esp_telemetry";
/// Target table of diagnostic rows.
pub const DIAGNOSTICS_TABLE: &str = "diagnostic_results";
/// Both hypertables bench creates, telemetry first.
pub const TABLE_NAMES: &[&str] = &[TELEMETRY_TABLE, DIAGNOSTICS_TABLE];

/// Number of telemetry value channels.
pub const CHANNELS: usize = 9;

/// Channel names in column order (the value columns of `TELEMETRY_COLUMNS`).
pub const CHANNEL_NAMES: [&str; CHANNELS] = [
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

/// The production settings the seed's migration notes claim, per hypertable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableSpec {
    pub table: &'static str,
    pub chunk_interval_s: u64,
    pub compress_after_s: u64,
    pub drop_after_s: u64,
    /// The measurement columns whose bytes alone make the "value columns" compression ratio
    /// (not the identity, time or segment-by columns).
    pub value_columns: &'static [&'static str],
}

const DAY: u64 = 86_400;

/// `esp_telemetry`: 1-day chunks, compress after 7 d, drop after 30 d.
pub const TELEMETRY: TableSpec = TableSpec {
    table: TELEMETRY_TABLE,
    chunk_interval_s: DAY,
    compress_after_s: 7 * DAY,
    drop_after_s: 30 * DAY,
    value_columns: &CHANNEL_NAMES,
};

/// `diagnostic_results`: 7-day chunks, compress after 14 d, drop after 90 d.
pub const DIAGNOSTICS: TableSpec = TableSpec {
    table: DIAGNOSTICS_TABLE,
    chunk_interval_s: 7 * DAY,
    compress_after_s: 14 * DAY,
    drop_after_s: 90 * DAY,
    value_columns: &["condition", "confidence", "message"],
};

/// Both hypertables, telemetry first.
pub const TABLES: [TableSpec; 2] = [TELEMETRY, DIAGNOSTICS];

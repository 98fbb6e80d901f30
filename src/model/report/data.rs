//! The stored data's part of the report model: its verification against the ledger and the
//! generator, and the steady-state preparation.

use super::*;

/// One check of the stored data against the ledger and the generator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// "after load" or "before reuse".
    pub stage: String,
    /// Every table matched.
    pub verified: bool,
    /// Time the verification took (generator counting and the server's counts), seconds.
    pub seconds: f64,
    pub tables: Vec<TableVerification>,
}

/// Rows per table and per well in a time window, three ways.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableVerification {
    pub table: String,
    /// The window compared, RFC 3339: the whole generated span after a load; from the
    /// retention cutoff (data end − drop_after) when retention was applied.
    pub window_start: String,
    pub window_end: String,
    /// Rows the generator produces in the window.
    pub expected_rows: u64,
    /// Rows the table holds in the window.
    pub stored_rows: u64,
    /// Rows the ledger records as committed (all batches, whole span).
    pub ledger_rows: u64,
    /// Every work unit of the fleet is in the ledger.
    pub ledger_complete: bool,
    pub wells: u32,
    /// Wells whose stored count differs from the generator's (the first 20 are listed).
    pub wells_mismatched: u32,
    pub mismatches: Vec<WellMismatch>,
    pub ok: bool,
    /// One line: what matched, or what is missing.
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WellMismatch {
    pub well_id: String,
    pub expected: u64,
    pub stored: u64,
}

/// The steady-state preparation (or its absence, for `state = "fresh"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Preparation {
    /// "steady" or "fresh".
    pub state: String,
    /// Wall time of the whole preparation, seconds.
    pub seconds: f64,
    /// Part of it spent in `maintenance` of the hypertables, seconds.
    #[serde(default)]
    pub analyze_seconds: f64,
    /// What ran on every hypertable before the queries: `VACUUM (ANALYZE)` in the steady state
    /// (hint bits, visibility map and planner statistics, as autovacuum keeps a production
    /// database), `ANALYZE` in the fresh one (statistics only). Empty in reports written before
    /// it was recorded (they ran `ANALYZE`).
    #[serde(default)]
    pub maintenance: String,
    pub tables: Vec<TablePreparation>,
    /// What differs from production's state, e.g. history left uncompressed on the Apache
    /// edition.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TablePreparation {
    pub table: String,
    /// The windows applied, seconds, from the schema's policies (or production's values).
    pub compress_after_s: u64,
    pub drop_after_s: u64,
    /// Chunks ending at or before these instants are compressed / dropped (RFC 3339).
    pub compress_cutoff: String,
    pub drop_cutoff: String,
    pub chunks_before: u64,
    pub chunks_dropped: u64,
    /// Chunks compressed by this preparation.
    pub chunks_compressed: u64,
    /// Compressed chunks after the preparation (including those compressed earlier).
    pub chunks_compressed_total: u64,
    pub chunks_after: u64,
    /// False on the Apache edition: retention only.
    pub compression_applied: bool,
    pub compress_seconds: f64,
    pub drop_seconds: f64,
}

//! What each table's work units are and how a unit becomes binary COPY tuples.
//!
//! Telemetry units are the generator's [`Block`]s (well-major, `BLOCK_SAMPLES` samples each);
//! diagnostics units are wells. Both are deterministic, so a retried or resumed unit yields
//! the same rows byte for byte.

use bytes::BytesMut;

use crate::datagen::{self, encode, DiagnosticRow, Fleet, TelemetryRow};
use crate::db::copy::quote_ident;

/// The tables bench loads, in load order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Telemetry,
    Diagnostics,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Telemetry, Table::Diagnostics];

    pub fn name(self) -> &'static str {
        match self {
            Table::Telemetry => datagen::TELEMETRY_TABLE,
            Table::Diagnostics => datagen::DIAGNOSTICS_TABLE,
        }
    }

    /// The COPY column list, quoted.
    pub fn columns(self) -> String {
        let cols = match self {
            Table::Telemetry => datagen::TELEMETRY_COLUMNS,
            Table::Diagnostics => datagen::DIAGNOSTIC_COLUMNS,
        };
        cols.iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What one work unit is called in messages.
    pub fn unit_name(self) -> &'static str {
        match self {
            Table::Telemetry => "blocks",
            Table::Diagnostics => "wells",
        }
    }
}

/// One table's work units over one fleet.
pub struct Source<'a> {
    pub table: Table,
    fleet: &'a Fleet,
    /// Estimated rows per unit (exact for diagnostics, samples per block for telemetry).
    est_rows: Vec<u64>,
}

impl<'a> Source<'a> {
    pub fn new(table: Table, fleet: &'a Fleet) -> Source<'a> {
        match table {
            Table::Telemetry => {
                let est_rows = fleet.blocks_iter().map(|b| b.samples()).collect();
                Source {
                    table,
                    fleet,
                    est_rows,
                }
            }
            Table::Diagnostics => {
                let est_rows = (0..fleet.wells())
                    .map(|w| fleet.diagnostics(w).len() as u64)
                    .collect();
                Source {
                    table,
                    fleet,
                    est_rows,
                }
            }
        }
    }

    pub fn units(&self) -> usize {
        self.est_rows.len()
    }

    pub fn est_rows(&self) -> &[u64] {
        &self.est_rows
    }

    /// The well a work unit belongs to (blocks are well-major; diagnostics units are wells).
    pub fn unit_well(&self, unit: usize) -> u32 {
        match self.table {
            Table::Telemetry => self.fleet.block(unit as u64).map_or(u32::MAX, |b| b.well),
            Table::Diagnostics => unit as u32,
        }
    }

    /// Generate the rows of `unit` into `rows` (cleared first).
    pub fn rows(&self, unit: usize, rows: &mut Rows) {
        match self.table {
            Table::Telemetry => {
                rows.telemetry.clear();
                if let Some(block) = self.fleet.block(unit as u64) {
                    self.fleet.telemetry_block(&block, &mut rows.telemetry);
                }
            }
            Table::Diagnostics => {
                rows.diagnostics = self.fleet.diagnostics(unit as u32);
            }
        }
    }
}

/// Reusable row buffers of one worker.
#[derive(Default)]
pub struct Rows {
    pub telemetry: Vec<TelemetryRow>,
    pub diagnostics: Vec<DiagnosticRow>,
}

impl Rows {
    pub fn len(&self, table: Table) -> usize {
        match table {
            Table::Telemetry => self.telemetry.len(),
            Table::Diagnostics => self.diagnostics.len(),
        }
    }

    pub fn is_empty(&self, table: Table) -> bool {
        self.len(table) == 0
    }

    /// Append row `i` as one binary COPY tuple.
    #[inline]
    pub fn encode(&self, table: Table, i: usize, out: &mut BytesMut) {
        match table {
            Table::Telemetry => encode::telemetry_binary(&self.telemetry[i], out),
            Table::Diagnostics => encode::diagnostic_binary(&self.diagnostics[i], out),
        }
    }
}

//! Did the load put exactly the generator's rows in the table? Row count plus an
//! order-independent digest (wrapping sum of a 64-bit hash of each row's binary COPY tuple),
//! computed from the generator and from the table read back. For test-sized fleets: the
//! database side streams, but reads every row.

use bytes::BytesMut;
use tokio_postgres::Client;

use super::source::{Rows, Source, Table};
use crate::datagen::Fleet;
use crate::db::copy::{self, Digest};

/// Digest of every row the generator produces for `table`.
pub fn generator_digest(fleet: &Fleet, table: Table) -> Digest {
    let units = Source::new(table, fleet).units();
    generator_digest_of(fleet, table, 0..units)
}

/// Digest of the generator's rows of the given work units of `table`.
pub fn generator_digest_of(
    fleet: &Fleet,
    table: Table,
    units: impl IntoIterator<Item = usize>,
) -> Digest {
    let src = Source::new(table, fleet);
    let mut rows = Rows::default();
    let mut tuple = BytesMut::with_capacity(256);
    let mut digest = Digest::default();
    for unit in units {
        src.rows(unit, &mut rows);
        for i in 0..rows.len(table) {
            tuple.clear();
            rows.encode(table, i, &mut tuple);
            digest.add_tuple(&tuple);
        }
    }
    digest
}

/// Digest of the rows in `schema.table` (the generated columns only; `id` is not compared).
pub async fn table_digest(client: &Client, schema: &str, table: Table) -> anyhow::Result<Digest> {
    copy::table_digest(client, schema, table.name(), &table.columns()).await
}

/// Rows the ledger says are committed for `table`.
pub async fn ledger_rows(client: &Client, schema: &str, table: Table) -> anyhow::Result<u64> {
    Ok(copy::ledger_batches(client, schema, table.name())
        .await?
        .iter()
        .map(|b| b.rows)
        .sum())
}

/// Digest of the generator's rows of exactly the units the ledger records as loaded: equal to
/// [`table_digest`] when the ledger and the table agree (after any load, complete or not).
pub async fn ledger_digest(
    client: &Client,
    schema: &str,
    fleet: &Fleet,
    table: Table,
) -> anyhow::Result<Digest> {
    let done = copy::ledger_batches(client, schema, table.name()).await?;
    let units = done
        .iter()
        .flat_map(|b| b.first_unit as usize..(b.first_unit + b.units) as usize);
    Ok(generator_digest_of(fleet, table, units))
}

/// One table's comparison of generator, table and ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    pub table: &'static str,
    /// Every row the generator produces.
    pub generator: Digest,
    /// The rows in the table.
    pub stored: Digest,
    /// The generator's rows of the units the ledger records as loaded.
    pub ledger: Digest,
    /// Sum of the ledger's per-batch row counts (as COPY reported them).
    pub ledger_rows: u64,
}

impl TableCheck {
    /// The table holds exactly the generator's rows: none lost, none duplicated.
    pub fn exact(&self) -> bool {
        self.stored == self.generator && self.consistent()
    }

    /// The table holds exactly what the ledger says was loaded (true after any load,
    /// complete, failed or interrupted).
    pub fn consistent(&self) -> bool {
        self.stored == self.ledger && self.ledger_rows == self.stored.rows
    }

    /// Rows missing from the table (generator rows not stored), when it is a subset.
    pub fn lost(&self) -> u64 {
        self.generator.rows.saturating_sub(self.stored.rows)
    }
}

impl std::fmt::Display for TableCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: generator {} rows (sum {:016x}), table {} rows (sum {:016x}), ledger {} rows \
             (generator sum over ledger units {:016x})",
            self.table,
            self.generator.rows,
            self.generator.sum,
            self.stored.rows,
            self.stored.sum,
            self.ledger_rows,
            self.ledger.sum
        )
    }
}

/// Compare both tables of `schema` against the generator and the ledger. Reads every row:
/// for test-sized fleets.
pub async fn check_tables(
    client: &Client,
    schema: &str,
    fleet: &Fleet,
) -> anyhow::Result<Vec<TableCheck>> {
    let mut out = Vec::new();
    for table in Table::ALL {
        out.push(TableCheck {
            table: table.name(),
            generator: generator_digest(fleet, table),
            stored: table_digest(client, schema, table).await?,
            ledger: ledger_digest(client, schema, fleet, table).await?,
            ledger_rows: ledger_rows(client, schema, table).await?,
        });
    }
    Ok(out)
}

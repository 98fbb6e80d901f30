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

/// Rows per well that the generator produces for `table` with timestamps in
/// `[from_us, to_us)`, indexed by well. Counts without computing values (telemetry), or from
/// the diagnostics list (small).
pub fn expected_per_well(fleet: &Fleet, table: Table, from_us: i64, to_us: i64) -> Vec<u64> {
    let mut out = vec![0u64; fleet.wells() as usize];
    match table {
        Table::Telemetry => {
            for block in fleet.blocks_iter() {
                if let Some(n) = out.get_mut(block.well as usize) {
                    *n += fleet.block_row_count_between(&block, from_us, to_us);
                }
            }
        }
        Table::Diagnostics => {
            for (w, n) in out.iter_mut().enumerate() {
                *n = fleet
                    .diagnostics(w as u32)
                    .iter()
                    .filter(|d| d.ts_us >= from_us && d.ts_us < to_us)
                    .count() as u64;
            }
        }
    }
    out
}

/// Rows per well_id in `schema.table` with timestamps in `[from, to)`.
pub async fn stored_per_well(
    client: &Client,
    schema: &str,
    table: Table,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    let sql = format!(
        "SELECT well_id, count(*) FROM {} WHERE \"timestamp\" >= $1 AND \"timestamp\" < $2 \
         GROUP BY well_id",
        copy::qualified(schema, table.name())
    );
    let rows = client
        .query(sql.as_str(), &[&from, &to])
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "counting the rows of {schema}.{} per well: {}",
                table.name(),
                crate::error::pg_error_text(&e)
            )
        })?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
        .collect())
}

/// Wells listed compactly: consecutive ids become ranges ("WELL-001..003").
pub fn well_ranges(ids: &[String]) -> String {
    fn split(id: &str) -> Option<(&str, u64, usize)> {
        let digits = id.len() - id.bytes().rev().take_while(u8::is_ascii_digit).count();
        let n = id[digits..].parse().ok()?;
        Some((&id[..digits], n, id.len() - digits))
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        if let Some((prefix, n0, _)) = split(&ids[i]) {
            while j + 1 < ids.len() {
                match split(&ids[j + 1]) {
                    Some((p, n, _)) if p == prefix && n == n0 + (j + 1 - i) as u64 => j += 1,
                    _ => break,
                }
            }
            if j > i {
                let (_, _, width) = split(&ids[j]).unwrap_or((prefix, 0, 0));
                let last = &ids[j][ids[j].len() - width..];
                parts.push(format!("{}..{last}", ids[i]));
                i = j + 1;
                continue;
            }
        }
        parts.push(ids[i].clone());
        i += 1;
    }
    parts.join(", ")
}

/// Compare one table's rows per well in `[from, to)` with the generator's, and its total with
/// the ledger's when the window is the whole span (`whole_span`).
#[allow(clippy::too_many_arguments)]
pub fn judge_table(
    table: Table,
    fleet: &Fleet,
    expected: &[u64],
    stored: &std::collections::BTreeMap<String, u64>,
    ledger_rows: u64,
    ledger_complete: bool,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    whole_span: bool,
) -> crate::model::report::TableVerification {
    use crate::model::report::{TableVerification, WellMismatch};
    let mut mismatches = Vec::new();
    let mut missing = Vec::new();
    let mut short = Vec::new();
    let mut extra = Vec::new();
    let mut known = std::collections::BTreeSet::new();
    for (w, &exp) in expected.iter().enumerate() {
        let id = fleet.well_id(w as u32).as_str().to_string();
        let got = stored.get(&id).copied().unwrap_or(0);
        known.insert(id.clone());
        if got != exp {
            if got == 0 {
                missing.push(id.clone());
            } else if got < exp {
                short.push(format!("{id} {} of {exp}", fmt_count(got)));
            } else {
                extra.push(format!("{id} {} of {exp}", fmt_count(got)));
            }
            mismatches.push(WellMismatch {
                well_id: id,
                expected: exp,
                stored: got,
            });
        }
    }
    let strangers: Vec<&String> = stored.keys().filter(|k| !known.contains(*k)).collect();
    let expected_rows: u64 = expected.iter().sum();
    let stored_rows: u64 = stored.values().sum();
    let ledger_ok = ledger_complete && (!whole_span || ledger_rows == stored_rows);
    let ok = mismatches.is_empty() && strangers.is_empty() && ledger_ok;
    let wells_mismatched = mismatches.len() as u32;
    mismatches.truncate(20);
    let mut note = format!(
        "{}: {} rows, generator {}, ledger {}",
        table.name(),
        fmt_count(stored_rows),
        fmt_count(expected_rows),
        fmt_count(ledger_rows)
    );
    if !whole_span {
        note.push_str(&format!(
            " (rows from {} on: retention keeps only those)",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if ok {
        note.push_str(&format!(
            "; all {} wells match",
            fmt_count(expected.len() as u64)
        ));
    } else {
        if !missing.is_empty() {
            note.push_str(&format!("; wells {} missing", well_ranges(&missing)));
        }
        if !short.is_empty() {
            note.push_str(&format!("; short: {}", first_of(&short, 5)));
        }
        if !extra.is_empty() {
            note.push_str(&format!("; too many: {}", first_of(&extra, 5)));
        }
        if !strangers.is_empty() {
            let s: Vec<String> = strangers.iter().map(|s| s.to_string()).collect();
            note.push_str(&format!("; wells not in this fleet: {}", well_ranges(&s)));
        }
        if !ledger_complete {
            note.push_str("; the ledger is incomplete (the load did not finish)");
        } else if whole_span && stored_rows < ledger_rows {
            note.push_str(&format!(
                "; the table holds {} rows fewer than the ledger records as loaded",
                fmt_count(ledger_rows - stored_rows)
            ));
        } else if whole_span && stored_rows > ledger_rows {
            note.push_str(&format!(
                "; the table holds {} rows the ledger does not account for",
                fmt_count(stored_rows - ledger_rows)
            ));
        }
    }
    TableVerification {
        table: table.name().to_string(),
        window_start: from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        window_end: to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        expected_rows,
        stored_rows,
        ledger_rows,
        ledger_complete,
        wells: expected.len() as u32,
        wells_mismatched,
        mismatches,
        ok,
        note,
    }
}

/// The first `n` items joined, then how many more there are.
fn first_of(items: &[String], n: usize) -> String {
    let mut s = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        s.push_str(&format!(" (+{} more wells)", items.len() - n));
    }
    s
}

/// 287985 -> "287,985".
pub use crate::format::thousands as fmt_count;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_ranges_compact_consecutive_ids() {
        let ids: Vec<String> = ["WELL-001", "WELL-002", "WELL-003", "WELL-007", "X"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(well_ranges(&ids), "WELL-001..003, WELL-007, X");
        assert_eq!(well_ranges(&[]), "");
    }

    #[test]
    fn counts_print_with_thousands_separators() {
        assert_eq!(fmt_count(287_985), "287,985");
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(1_000_000), "1,000,000");
    }
}

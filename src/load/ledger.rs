//! The load ledger: which blocks of which table are loaded, under which fleet fingerprint;
//! the account of what a fleet still needs, and resetting bench's tables.

use super::*;

/// Identity of the data a fleet generates, recorded with every ledger batch: a target that
/// holds another fleet's batches is refused instead of resumed.
pub fn fingerprint(plan: &Plan) -> String {
    let fleet = serde_json::to_string(&plan.fleet).unwrap_or_default();
    let text = format!(
        "esp-bench {} block {} fleet {}",
        env!("CARGO_PKG_VERSION"),
        crate::datagen::BLOCK_SAMPLES,
        fleet
    );
    format!("{:016x}", copy::hash64(text.as_bytes()))
}

/// One table's state in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableAccount {
    pub table: &'static str,
    /// Rows committed (all runs), per the ledger.
    pub rows: u64,
    /// Batches committed (all runs).
    pub batches: u64,
    pub units_loaded: u64,
    pub units_total: u64,
    /// Batches a re-run with this batch size would still load.
    pub batches_outstanding: u64,
}

impl TableAccount {
    pub fn complete(&self) -> bool {
        self.units_loaded == self.units_total
    }
}

/// The ledger's account of a target, per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadAccount {
    pub tables: Vec<TableAccount>,
    /// Set when the ledger could not be read and the account comes from the loader's own
    /// record (exact except for `unsettled` batches, whose COMMIT outcome was never learned).
    pub from_memory: Option<String>,
    pub unsettled: Vec<(&'static str, u64)>,
}

impl LoadAccount {
    pub fn complete(&self) -> bool {
        self.tables.iter().all(TableAccount::complete) && self.unsettled.is_empty()
    }
}

impl fmt::Display for LoadAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.tables.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{}: {} rows committed in {} batches, {} batches outstanding ({} of {} units loaded)",
                t.table, t.rows, t.batches, t.batches_outstanding, t.units_loaded, t.units_total
            )?;
        }
        if !self.unsettled.is_empty() {
            let keys: Vec<String> = self
                .unsettled
                .iter()
                .map(|(t, k)| format!("{t} batch {k}"))
                .collect();
            write!(
                f,
                "; COMMIT outcome unknown for {} (the ledger decides on the next run)",
                keys.join(", ")
            )?;
        }
        if let Some(why) = &self.from_memory {
            write!(
                f,
                " [from the loader's own record: the ledger could not be read: {why}]"
            )?;
        }
        Ok(())
    }
}

/// Read the ledger's account of `target` for this plan's fleet (creating the ledger if
/// missing). Errors when the ledger belongs to another fleet. `bench run` uses it to decide
/// whether data can be reused (`account.complete()`).
pub async fn account(target: &Target, plan: &Plan, fleet: &Fleet) -> anyhow::Result<LoadAccount> {
    let client = target.connect().await?;
    prepare_ledger(&client, target, plan).await?;
    let mut tables = Vec::new();
    for table in Table::ALL {
        let src = source::Source::new(table, fleet);
        tables.push(table_account(&client, target, &src, plan.load.batch_size).await?);
    }
    Ok(LoadAccount {
        tables,
        from_memory: None,
        unsettled: Vec::new(),
    })
}

pub(super) async fn table_account(
    client: &tokio_postgres::Client,
    target: &Target,
    src: &source::Source<'_>,
    batch_size: u32,
) -> anyhow::Result<TableAccount> {
    let done = copy::ledger_batches(client, &target.schema, src.table.name()).await?;
    let loaded = batch::loaded_units(src.units(), &done).map_err(|e| {
        BenchError::Config(format!(
            "the load ledger of schema {} does not match this fleet: {e}; \
             use --reset (`bench load --reset` or `bench run --reset`) to start over",
            target.schema
        ))
    })?;
    let outstanding = batch::plan_batches(src.est_rows(), &loaded, u64::from(batch_size));
    Ok(TableAccount {
        table: src.table.name(),
        rows: done.iter().map(|b| b.rows).sum(),
        batches: done.len() as u64,
        units_loaded: loaded.iter().filter(|&&l| l).count() as u64,
        units_total: src.units() as u64,
        batches_outstanding: outstanding.len() as u64,
    })
}

/// Check that bench owns the schema and its tables, create (and mark) the ledger or check
/// that the existing one is bench's, and refuse a ledger written for another fleet.
pub(super) async fn prepare_ledger(
    client: &tokio_postgres::Client,
    target: &Target,
    plan: &Plan,
) -> anyhow::Result<()> {
    schema::ensure_owned(client, &target.schema).await?;
    match schema::table_ownership(client, &target.schema, copy::LEDGER_TABLE).await? {
        schema::Ownership::Owned => {}
        schema::Ownership::Absent => {
            copy::ensure_ledger(client, &target.schema)
                .await
                .map_err(|e| anyhow::anyhow!("creating the load ledger: {}", pg_error_text(&e)))?;
            schema::mark_table(client, &target.schema, copy::LEDGER_TABLE).await?;
        }
        schema::Ownership::Foreign { .. } => {
            return Err(BenchError::Config(format!(
                "table \"{}\".\"{}\" exists but was not created by esp-bench; bench keeps its \
                 load ledger there and will not use a foreign table. Use another --schema",
                target.schema,
                copy::LEDGER_TABLE
            ))
            .into())
        }
    }
    check_fingerprint(client, target, plan).await
}

/// Empty bench's data tables and the ledger in one transaction (`bench load --reset`).
/// Refuses unless bench owns the schema and the tables.
pub async fn reset(target: &Target) -> anyhow::Result<()> {
    let client = target.connect().await?;
    schema::ensure_owned(&client, &target.schema).await?;
    if schema::table_ownership(&client, &target.schema, copy::LEDGER_TABLE).await?
        == schema::Ownership::Absent
    {
        return schema::truncate(&client, &target.schema).await;
    }
    prepare_ledger_unchecked(&client, target).await?;
    copy::reset(&client, &target.schema, crate::model::tables::TABLE_NAMES)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "resetting bench's tables in {}: {}",
                target.schema,
                pg_error_text(&e)
            )
        })
}

pub(super) async fn prepare_ledger_unchecked(
    client: &tokio_postgres::Client,
    target: &Target,
) -> anyhow::Result<()> {
    if let schema::Ownership::Foreign { .. } =
        schema::table_ownership(client, &target.schema, copy::LEDGER_TABLE).await?
    {
        return Err(BenchError::Config(format!(
            "table \"{}\".\"{}\" exists but was not created by esp-bench; not resetting it",
            target.schema,
            copy::LEDGER_TABLE
        ))
        .into());
    }
    Ok(())
}

pub(super) async fn check_fingerprint(
    client: &tokio_postgres::Client,
    target: &Target,
    plan: &Plan,
) -> anyhow::Result<()> {
    let ours = fingerprint(plan);
    let found = copy::ledger_fingerprints(client, &target.schema).await?;
    if let Some(other) = found.iter().find(|f| **f != ours) {
        return Err(BenchError::Config(format!(
            "schema {} already holds data loaded for a different fleet (ledger fingerprint {other}, \
             this scenario's is {ours}: seed, wells, interval, span, end or bench version differ; \
             with end = \"now\" every run is a new fleet). Bench does not mix them: run \
             `bench load --reset` or `bench run --reset` to replace the data, or use another --schema",
            target.schema
        ))
        .into());
    }
    Ok(())
}

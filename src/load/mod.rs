//! The loader: generated rows -> parallel binary COPY, exactly once.
//!
//! `load_all` loads `esp_telemetry`, then `diagnostic_results`. Each table's work units
//! (telemetry blocks, diagnostic wells) are grouped into batches of about
//! `plan.load.batch_size` rows; `plan.load.workers` workers, each on its own connection, run
//! each batch as one transaction that claims the batch in the ledger
//! (`esp_bench_load_ledger`, see `db::copy`) and COPYs its rows. So:
//!
//! - a batch is loaded completely or not at all, and the ledger says which;
//! - a transient failure (connection lost, server restarting, 57P0x, 08xxx, 40001, 53300) is
//!   retried on a new connection, up to `plan.load.max_retries` times per batch; if the
//!   COMMIT's outcome was unknown, the retry's ledger claim finds the earlier commit, so
//!   nothing is loaded twice;
//! - a re-run on the same target resumes: batches already in the ledger are skipped. Starting
//!   over is never implicit: `bench load --reset` (or `bench schema reset --yes`) does it;
//! - a target whose ledger was written for another fleet (other seed, wells, span, end, or
//!   bench version) is refused rather than mixed.
//!
//! On a fatal error or cancellation the error carries an exact account read back from the
//! ledger: rows committed per table and batches outstanding.

pub mod batch;
pub mod fault;
pub mod live;
pub mod progress;
pub mod retry;
pub mod source;
pub mod verify;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::datagen::Fleet;
use crate::db::{copy, schema, Target};
use crate::error::pg_error_text;
use crate::error::BenchError;
use crate::model::report::LoadResult;
use crate::scenario::Plan;

pub use fault::{FaultAction, FaultEvent, FaultHook, FaultPoint};
pub use live::{IngestStats, LiveIngest};
pub use progress::ProgressMode;
pub use source::Table;
pub use worker::{APPLICATION_NAME, CHUNK_BYTES};

mod ledger;

pub use ledger::*;

/// How `load_all` runs, beyond what the plan says.
#[derive(Clone, Default)]
pub struct LoadOptions {
    pub progress: ProgressMode,
    /// Cancelling stops the load: no new batch starts, batches in flight are rolled back
    /// (unless already committing), and `load_all` fails with `BenchError::Interrupted`.
    pub cancel: CancellationToken,
    /// Test-only fault injection.
    pub fault: Option<FaultHook>,
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("progress", &self.progress)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("fault", &self.fault.is_some())
            .finish()
    }
}

/// The part of the fleet one process loads: every well (an unsharded load) or one shard's
/// wells (`--shard K/N`). Units of other wells are left to their shards: they are never
/// batched here, so the shards' ledger batches are disjoint and the ledger stays exactly-once
/// with the shards loading concurrently.
#[derive(Debug, Clone, Default)]
pub struct Partition {
    /// Fleet well numbers loaded; `None`: all.
    pub wells: Option<std::ops::Range<u32>>,
    /// Followers: the write gate each batch's transaction checks first
    /// (`db::coord::write_gate_sql`).
    pub gate: Option<String>,
    /// "shard 2/3: " (prefix of messages), empty when unsharded.
    pub who: String,
}

impl Partition {
    fn owns(&self, well: u32) -> bool {
        self.wells.as_ref().is_none_or(|w| w.contains(&well))
    }
}

/// Load both tables of `fleet` into `target` (whose schema must already be applied).
/// Returns one result per table, for rows loaded by this call (batches found in the ledger
/// are skipped and not counted).
pub async fn load_all(
    target: &Target,
    plan: &Plan,
    fleet: &Fleet,
    opts: LoadOptions,
) -> anyhow::Result<Vec<LoadResult>> {
    load_partition(target, plan, fleet, opts, &Partition::default()).await
}

/// [`load_all`] for one part of the fleet (a shard's wells). Returns the rows this call
/// loaded; the error's account (on failure) covers the whole ledger.
pub async fn load_partition(
    target: &Target,
    plan: &Plan,
    fleet: &Fleet,
    opts: LoadOptions,
    part: &Partition,
) -> anyhow::Result<Vec<LoadResult>> {
    let fp = fingerprint(plan);
    {
        let client = target.connect().await?;
        prepare_ledger(&client, target, plan).await?;
    }
    let verbose = opts.progress != ProgressMode::Quiet;
    let mut results = Vec::new();
    let mut sources = Vec::new();
    let mut memory = Vec::new();
    let mut unsettled = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut interrupted = false;
    for table in Table::ALL {
        let src = source::Source::new(table, fleet);
        if failure.is_none() && !interrupted && opts.cancel.is_cancelled() {
            interrupted = true;
        }
        if failure.is_none() && !interrupted {
            let run = load_table(target, plan, &src, &fp, &opts, verbose, part).await;
            unsettled.extend(run.unsettled.iter().map(|k| (table.name(), *k)));
            memory.push(run.memory);
            match run.end {
                Ok(()) => results.push(run.result),
                Err(err) => {
                    if crate::error::is_interrupted(&err) {
                        interrupted = true;
                    } else {
                        failure = Some(err);
                    }
                }
            }
        }
        sources.push(src);
    }
    if failure.is_none() && !interrupted {
        return Ok(results);
    }
    let account = match ledger_account(target, &sources, plan.load.batch_size).await {
        Ok(tables) => LoadAccount {
            tables,
            from_memory: None,
            unsettled: Vec::new(),
        },
        Err(e) => LoadAccount {
            tables: memory,
            from_memory: Some(crate::format::redact(&format!("{e:#}"))),
            unsettled,
        },
    };
    let resume = "re-run `bench load` on the same target to resume (committed batches are \
                  skipped), or add --reset to start over";
    let account = format!("{}{account}", part.who);
    match failure {
        Some(err) => Err(err.context(format!("load failed: {account}; {resume}"))),
        None => Err(anyhow::Error::new(BenchError::Interrupted)
            .context(format!("load interrupted: {account}; {resume}"))),
    }
}

async fn ledger_account(
    target: &Target,
    sources: &[source::Source<'_>],
    batch_size: u32,
) -> anyhow::Result<Vec<TableAccount>> {
    // The server may be coming back (a restart): give it a few seconds.
    let mut attempt = 0;
    let client = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), target.connect()).await {
            Ok(Ok(c)) => break c,
            Ok(Err(e)) if attempt >= 4 => return Err(e),
            Err(_) if attempt >= 4 => anyhow::bail!("timed out connecting"),
            _ => {}
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    let mut tables = Vec::new();
    for src in sources {
        tables.push(table_account(&client, target, src, batch_size).await?);
    }
    Ok(tables)
}

/// How one table's load ended.
struct TableRun {
    result: LoadResult,
    /// The loader's own account (used when the ledger cannot be read afterwards).
    memory: TableAccount,
    /// Batches whose COMMIT outcome stayed unknown.
    unsettled: Vec<u64>,
    end: anyhow::Result<()>,
}

/// Load one table's outstanding batches.
async fn load_table(
    target: &Target,
    plan: &Plan,
    src: &source::Source<'_>,
    fp: &str,
    opts: &LoadOptions,
    verbose: bool,
    part: &Partition,
) -> TableRun {
    let table = src.table.name();
    let mut run = TableRun {
        result: LoadResult {
            table: table.to_string(),
            rows: 0,
            seconds: 0.0,
            rows_per_sec: 0.0,
            workers: 0,
            batch_size: plan.load.batch_size,
            retries: 0,
        },
        memory: TableAccount {
            table,
            rows: 0,
            batches: 0,
            units_loaded: 0,
            units_total: src.units() as u64,
            batches_outstanding: 0,
        },
        unsettled: Vec::new(),
        end: Ok(()),
    };
    let planned = async {
        let client = target.connect().await?;
        let done = copy::ledger_batches(&client, &target.schema, table).await?;
        let loaded = batch::loaded_units(src.units(), &done).map_err(|e| {
            anyhow::Error::new(BenchError::Config(format!(
                "the load ledger of schema {} does not match this fleet: {e}; \
                 use --reset (`bench load --reset` or `bench run --reset`) to start over",
                target.schema
            )))
        })?;
        // Units of other shards' wells count as taken: never batched here.
        let taken: Vec<bool> = loaded
            .iter()
            .enumerate()
            .map(|(u, &l)| l || !part.owns(src.unit_well(u)))
            .collect();
        let batches = batch::plan_batches(src.est_rows(), &taken, u64::from(plan.load.batch_size));
        anyhow::Ok((batches, done))
    }
    .await;
    let (batches, done) = match planned {
        Ok(p) => p,
        Err(e) => {
            run.end = Err(e.context(format!("reading the load ledger for {table}")));
            return run;
        }
    };
    run.memory.rows = done.iter().map(|b| b.rows).sum();
    run.memory.batches = done.len() as u64;
    run.memory.units_loaded = done.iter().map(|b| b.units).sum();
    run.memory.batches_outstanding = batches.len() as u64;
    if verbose && !done.is_empty() {
        eprintln!(
            "load {table}: resuming: {} batches ({} rows) already in the ledger are skipped",
            run.memory.batches, run.memory.rows
        );
    }
    let est_total: u64 = batches.iter().map(|b| b.est_rows).sum();
    let counters = Arc::new(progress::Counters::default());
    let job = worker::TableJob {
        target,
        source: src,
        columns: src.table.columns(),
        fingerprint: fp,
        gate: part.gate.as_deref(),
        who: &part.who,
        batches: &batches,
        max_retries: plan.load.max_retries,
        cancel: &opts.cancel,
        fault: opts.fault.as_ref(),
        counters: counters.clone(),
        verbose,
        next: AtomicUsize::new(0),
        retries: AtomicU64::new(0),
        failed: CancellationToken::new(),
        failure: Mutex::new(None),
        unsettled: Mutex::new(Vec::new()),
    };
    let workers = (plan.load.workers.max(1) as usize).min(batches.len().max(1));
    let bar = progress::Progress::start(opts.progress, table, est_total, counters.clone());
    let start = Instant::now();
    futures_util::future::join_all((0..workers).map(|_| job.worker())).await;
    let seconds = start.elapsed().as_secs_f64();
    bar.finish().await;

    let rows = counters.rows.load(Ordering::Relaxed);
    let committed = counters.batches.load(Ordering::Relaxed);
    run.result.rows = rows;
    run.result.seconds = seconds;
    run.result.rows_per_sec = if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    };
    run.result.workers = workers as u32;
    run.result.retries = job.retries.load(Ordering::Relaxed);
    run.memory.rows += rows;
    run.memory.batches += committed;
    run.memory.units_loaded += counters.units.load(Ordering::Relaxed);
    run.memory.batches_outstanding -= committed;
    run.unsettled = std::mem::take(&mut *job.unsettled.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(err) = job.failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        run.end = Err(err);
    } else if opts.cancel.is_cancelled() && committed < batches.len() as u64 {
        run.end = Err(BenchError::Interrupted.into());
    }
    run
}

/// Check the stored data against the ledger and the generator: rows per table and per well
/// with timestamps from each table's `from` (the whole span when absent; the retention cutoff
/// after steady state) up to the end of the generated history (live-ingest rows, stamped from
/// the data end on, are not counted). `stage` says when ("after load", "before reuse").
pub async fn verify(
    target: &Target,
    plan: &Plan,
    fleet: &Fleet,
    stage: &str,
    from: &[(Table, chrono::DateTime<chrono::Utc>)],
) -> anyhow::Result<crate::model::report::Verification> {
    let started = Instant::now();
    let account = account(target, plan, fleet).await?;
    let client = target.connect().await?;
    let start = plan.fleet.start();
    let end_us = fleet.sample_time_us(fleet.samples_per_well());
    let end = chrono::DateTime::from_timestamp_micros(end_us).unwrap_or(plan.fleet.end);
    let mut tables = Vec::new();
    for table in Table::ALL {
        let lo = from
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(start, |(_, f)| (*f).max(start));
        let whole_span = lo <= start;
        let lo_us = if whole_span {
            i64::MIN
        } else {
            lo.timestamp_micros()
        };
        // The generator's count (CPU) and the server's (I/O) run side by side.
        let gen = {
            let fleet = fleet.clone();
            tokio::task::spawn_blocking(move || {
                verify::expected_per_well(&fleet, table, lo_us, end_us)
            })
        };
        let stored = verify::stored_per_well(&client, &target.schema, table, lo, end).await?;
        let expected = gen
            .await
            .map_err(|e| anyhow::anyhow!("counting the generator's rows: {e}"))?;
        let acc = account.tables.iter().find(|a| a.table == table.name());
        tables.push(verify::judge_table(
            table,
            fleet,
            &expected,
            &stored,
            acc.map_or(0, |a| a.rows),
            acc.is_some_and(|a| a.complete()),
            if whole_span { start } else { lo },
            end,
            whole_span,
        ));
    }
    Ok(crate::model::report::Verification {
        stage: stage.to_string(),
        verified: tables.iter().all(|t| t.ok),
        seconds: started.elapsed().as_secs_f64(),
        tables,
    })
}

/// The error for a failed verification (exit 1): every table's one-line account.
pub fn verification_error(v: &crate::model::report::Verification) -> anyhow::Error {
    let lines: Vec<&str> = v
        .tables
        .iter()
        .filter(|t| !t.ok)
        .map(|t| t.note.as_str())
        .collect();
    anyhow::Error::new(BenchError::Verification(format!(
        "the data in the schema is not what bench loaded ({}): {}",
        v.stage,
        lines.join("; ")
    )))
}

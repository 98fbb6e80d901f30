//! One table's parallel load: N workers, each with its own connection, take batches from a
//! shared cursor and run each as one transaction (ledger claim + binary COPY + commit),
//! retrying transient failures on a new connection.
//!
//! Rows are generated and encoded in the worker, chunk by chunk, straight into the COPY
//! stream (the client's send queue holds one message), so memory per worker is one block of
//! rows plus one chunk, whatever the batch size or row count.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bytes::BytesMut;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::batch::Batch;
use super::fault::{self, FaultAction, FaultEvent, FaultHook, FaultPoint};
use super::progress::Counters;
use super::retry;
use super::source::{Rows, Source};
use crate::db::copy::{self, BatchSql};
use crate::db::Target;

/// Size at which an encoded chunk is handed to the COPY stream.
pub const CHUNK_BYTES: usize = 128 * 1024;

/// `application_name` of loader sessions.
pub const APPLICATION_NAME: &str = "esp-bench-load";

/// Everything the workers of one table share.
pub(crate) struct TableJob<'a> {
    pub target: &'a Target,
    pub source: &'a Source<'a>,
    pub columns: String,
    pub fingerprint: &'a str,
    /// Sharded followers: the write gate checked in every batch's transaction.
    pub gate: Option<&'a str>,
    /// Names the shard in errors ("shard 2/3: "), empty when unsharded.
    pub who: &'a str,
    pub batches: &'a [Batch],
    pub max_retries: u32,
    pub cancel: &'a CancellationToken,
    pub fault: Option<&'a FaultHook>,
    pub counters: Arc<Counters>,
    pub verbose: bool,
    pub next: AtomicUsize,
    pub retries: AtomicU64,
    /// Set on the first fatal error; the other workers then take no new batch.
    pub failed: CancellationToken,
    pub failure: Mutex<Option<anyhow::Error>>,
    /// Keys of batches whose last attempt ended with an unknown COMMIT outcome and were not
    /// settled by a later attempt.
    pub unsettled: Mutex<Vec<u64>>,
}

/// A loader connection.
struct Conn {
    client: Client,
    pid: i32,
}

/// How an attempt ended without error.
enum Done {
    Committed(u64),
    /// The ledger already held the key: an earlier attempt committed.
    AlreadyLoaded(u64),
}

/// How an attempt failed.
enum AttemptError {
    /// Cancelled before COMMIT: the transaction is rolled back.
    Cancelled,
    /// Failed; `commit_unknown` when the failure hit the COMMIT itself.
    Failed {
        err: anyhow::Error,
        commit_unknown: bool,
    },
}

impl<E: Into<anyhow::Error>> From<E> for AttemptError {
    fn from(e: E) -> Self {
        AttemptError::Failed {
            err: e.into(),
            commit_unknown: false,
        }
    }
}

/// How one batch ended.
enum BatchEnd {
    Loaded,
    Interrupted,
    Fatal(anyhow::Error),
}

impl TableJob<'_> {
    fn table(&self) -> &'static str {
        self.source.table.name()
    }

    fn batch_sql<'b>(&'b self, b: &Batch) -> BatchSql<'b> {
        BatchSql {
            schema: &self.target.schema,
            table: self.table(),
            columns: &self.columns,
            key: b.key(),
            units: b.units,
            fingerprint: self.fingerprint,
            gate: self.gate,
        }
    }

    /// One worker: take batches until none are left, the load is cancelled or has failed.
    pub async fn worker(&self) {
        let mut conn: Option<Conn> = None;
        let mut rows = Rows::default();
        let mut buf = BytesMut::with_capacity(CHUNK_BYTES + 64 * 1024);
        loop {
            if self.cancel.is_cancelled() || self.failed.is_cancelled() {
                break;
            }
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(batch) = self.batches.get(i) else {
                break;
            };
            match self.batch(&mut conn, batch, &mut rows, &mut buf).await {
                BatchEnd::Loaded => {}
                BatchEnd::Interrupted => break,
                BatchEnd::Fatal(err) => {
                    let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                    if f.is_none() {
                        *f = Some(err);
                    }
                    self.failed.cancel();
                    break;
                }
            }
        }
    }

    async fn batch(
        &self,
        conn: &mut Option<Conn>,
        batch: &Batch,
        rows: &mut Rows,
        buf: &mut BytesMut,
    ) -> BatchEnd {
        let mut attempt = 0u32;
        loop {
            match self.attempt(conn, batch, attempt, rows, buf).await {
                Ok(done) => {
                    let n = match done {
                        Done::Committed(n) => n,
                        // Only an earlier attempt of this run can have committed it: the
                        // batch plan excluded everything the ledger held at the start.
                        Done::AlreadyLoaded(n) => n,
                    };
                    self.counters.rows.fetch_add(n, Ordering::Relaxed);
                    self.counters.batches.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .units
                        .fetch_add(batch.units, Ordering::Relaxed);
                    return BatchEnd::Loaded;
                }
                Err(AttemptError::Cancelled) => {
                    *conn = None;
                    return BatchEnd::Interrupted;
                }
                Err(AttemptError::Failed {
                    err,
                    commit_unknown,
                }) => {
                    *conn = None;
                    let what = format!(
                        "{} batch {} ({} {}..{})",
                        self.table(),
                        batch.key(),
                        self.source.table.unit_name(),
                        batch.first_unit,
                        batch.first_unit + batch.units
                    );
                    if !retry::is_transient(&err) {
                        return BatchEnd::Fatal(err.context(format!("loading {what}")));
                    }
                    if attempt >= self.max_retries {
                        if commit_unknown {
                            self.unsettled
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(batch.key());
                        }
                        return BatchEnd::Fatal(err.context(format!(
                            "loading {what}: gave up after {} retries",
                            self.max_retries
                        )));
                    }
                    attempt += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = retry::backoff(attempt, batch.key());
                    if self.verbose {
                        eprintln!(
                            "load: {what}: {}{}; retry {attempt}/{} in {:.1}s",
                            crate::format::redact(&format!("{err:#}")),
                            if commit_unknown {
                                " (COMMIT outcome unknown; the ledger decides)"
                            } else {
                                ""
                            },
                            self.max_retries,
                            wait.as_secs_f64()
                        );
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.cancel.cancelled() => {
                            if commit_unknown {
                                self.unsettled
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push(batch.key());
                            }
                            return BatchEnd::Interrupted;
                        }
                    }
                }
            }
        }
    }

    async fn fault(
        &self,
        conn: &Conn,
        batch: &Batch,
        attempt: u32,
        point: FaultPoint,
    ) -> FaultAction {
        match self.fault {
            None => FaultAction::Continue,
            Some(hook) => {
                hook(FaultEvent {
                    table: self.table(),
                    batch_key: batch.key(),
                    attempt,
                    point,
                    backend_pid: conn.pid,
                })
                .await
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<Conn> {
        let client = self
            .target
            .connect()
            .await
            .map_err(|e| e.context(retry::ConnectFailed))?;
        let pid = copy::identify(&client, APPLICATION_NAME).await?;
        Ok(Conn { client, pid })
    }

    async fn attempt(
        &self,
        conn: &mut Option<Conn>,
        batch: &Batch,
        attempt: u32,
        rows: &mut Rows,
        buf: &mut BytesMut,
    ) -> Result<Done, AttemptError> {
        if self.cancel.is_cancelled() {
            return Err(AttemptError::Cancelled);
        }
        if conn.is_none() {
            *conn = Some(self.connect().await.context("connecting")?);
        }
        let Some(c) = conn.as_ref() else {
            unreachable!("connected above")
        };
        let sql = self.batch_sql(batch);
        let mut open = match copy::begin_batch(&c.client, &sql).await? {
            copy::Begun::Open(open) => open,
            copy::Begun::AlreadyLoaded => {
                let n = copy::ledger_rows(&c.client, sql.schema, sql.table, sql.key)
                    .await?
                    .unwrap_or(0);
                return Ok(Done::AlreadyLoaded(n));
            }
            copy::Begun::Refused => {
                return Err(AttemptError::Failed {
                    err: anyhow::Error::new(crate::error::BenchError::Environment(format!(
                        "{}stopped before writing {} batch {}: the leader's run is no longer \
                         open (the leader ended or failed); nothing of this batch was written",
                        self.who,
                        self.table(),
                        batch.key()
                    ))),
                    commit_unknown: false,
                })
            }
        };
        buf.clear();
        crate::datagen::encode::binary_header(buf);
        let table = self.source.table;
        let mut chunks = 0u64;
        for unit in batch.unit_range() {
            self.source.rows(unit, rows);
            for i in 0..rows.len(table) {
                rows.encode(table, i, buf);
                if buf.len() >= CHUNK_BYTES {
                    if self.cancel.is_cancelled() {
                        drop(open); // CopyFail: the transaction is aborted
                        return Err(AttemptError::Cancelled);
                    }
                    open.send(buf.split().freeze()).await?;
                    chunks += 1;
                    if chunks == 1 {
                        self.fault(c, batch, attempt, FaultPoint::MidCopy).await;
                    }
                }
            }
            // Yield between units so one worker's generation never starves the others.
            tokio::task::yield_now().await;
        }
        crate::datagen::encode::binary_trailer(buf);
        if self.cancel.is_cancelled() {
            drop(open);
            return Err(AttemptError::Cancelled);
        }
        open.send(buf.split().freeze()).await?;
        if chunks == 0 {
            self.fault(c, batch, attempt, FaultPoint::MidCopy).await;
        }
        let n = open.finish(&c.client, &sql).await?;
        self.fault(c, batch, attempt, FaultPoint::BeforeCommit)
            .await;
        if let Err(e) = copy::commit(&c.client).await {
            return Err(AttemptError::Failed {
                err: anyhow::Error::new(e).context("COMMIT"),
                commit_unknown: true,
            });
        }
        if self.fault(c, batch, attempt, FaultPoint::AfterCommit).await
            == FaultAction::LoseCommitAck
        {
            return Err(AttemptError::Failed {
                err: anyhow::Error::new(fault::lost_ack()),
                commit_unknown: true,
            });
        }
        Ok(Done::Committed(n))
    }
}

//! One writer per schema, and policy jobs that never race bench.
//!
//! Every command that writes into bench's schema holds a [`WriteGuard`] for its whole run:
//!
//! - **The writer lock.** A session-level advisory lock keyed by the schema name, held on a
//!   connection of its own. A second writer waits (`--wait`) or stops with exit 2 naming the
//!   holder (`--no-wait`, the default), never with a raw SQL error.
//! - **Paused policy jobs.** The TimescaleDB compression and retention jobs of bench's
//!   hypertables are switched off while bench writes and measures, and each job bench switched
//!   off is recorded in `esp_bench_paused_jobs` (a table bench owns) in the same transaction.
//!   [`WriteGuard::release`] switches them back on and deletes the records: on success, on
//!   error and on Ctrl-C, because every command releases its guard on every path.
//! - **Recovery.** A process killed with SIGKILL cannot release anything, but the server drops
//!   its advisory lock with its connection. The next command that takes the lock finds the
//!   records of jobs nobody holds any more, switches them back on, and says so.
//!
//! A job that was already paused before bench came (by its owner) is never recorded, so bench
//! never switches on what it did not switch off.

use anyhow::Context as _;
use tokio_postgres::Client;

use super::{quote_ident, Target};
use crate::error::pg_error_text;
use crate::error::BenchError;

/// The table (in bench's schema) that records the policy jobs bench paused.
pub const PAUSED_JOBS_TABLE: &str = "esp_bench_paused_jobs";

/// `application_name` of the connection that holds the writer lock; the holder's command
/// follows it, e.g. `esp-bench writer: bench load`.
pub const WRITER_APPLICATION_NAME: &str = "esp-bench writer";

/// First key of the advisory lock (`pg_advisory_lock(int4, int4)`): "ESPB".
pub const LOCK_CLASS: i32 = 0x4553_5042;

/// What a second writer does when the schema's lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockWait {
    /// Stop at once with exit 2, naming the holder.
    #[default]
    NoWait,
    /// Wait for the holder to finish (Ctrl-C stops waiting), printing who it is.
    Wait,
}

/// Second key of the schema's advisory lock: FNV-1a of the schema name, kept positive so
/// it reads the same in `pg_locks.objid` (an oid).
pub fn lock_key(schema: &str) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in schema.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h & 0x7fff_ffff) as i32
}

/// A job that a guard paused, as recorded in [`PAUSED_JOBS_TABLE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PausedJob {
    pub job_id: i32,
    pub hypertable: String,
    pub proc_name: String,
    /// The bench process (operating-system PID) that paused it.
    pub bench_pid: i64,
    /// `bench load`, `bench run`, ...
    pub command: String,
    /// RFC 3339.
    pub paused_at: String,
}

/// The writer lock of one schema, held until [`WriteGuard::release`].
pub struct WriteGuard {
    client: Client,
    schema: String,
    command: String,
    /// Jobs this guard paused (and must switch back on).
    paused: Vec<i32>,
    /// Jobs of a killed bench process that this guard switched back on when it started.
    pub restored: Vec<PausedJob>,
}

impl std::fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteGuard")
            .field("schema", &self.schema)
            .field("command", &self.command)
            .field("paused", &self.paused)
            .finish()
    }
}

impl WriteGuard {
    /// Take the writer lock of `target`'s schema for `command` (e.g. "bench load"), then switch
    /// back on the jobs a killed bench process left paused (listed in `restored`, and printed
    /// to stderr). Jobs are paused by [`WriteGuard::pause_jobs`] (or inside
    /// `schema::apply`, which creates them).
    pub async fn acquire(target: &Target, command: &str, wait: LockWait) -> anyhow::Result<Self> {
        let client = target
            .connect()
            .await
            .context("connecting for the schema's writer lock")?;
        client
            .batch_execute(&format!(
                "SET application_name = '{WRITER_APPLICATION_NAME}: {}'",
                command.replace('\'', "")
            ))
            .await
            .context("naming the writer connection")?;
        let key = lock_key(&target.schema);
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
            .await
            .map_err(|e| anyhow::anyhow!("taking the writer lock: {}", pg_error_text(&e)))?
            .get(0);
        if !got {
            let holder = holder(&client, &target.schema)
                .await
                .unwrap_or_else(|e| format!("(holder unknown: {e})"));
            match wait {
                LockWait::NoWait => {
                    return Err(BenchError::Config(format!(
                        "schema {} is in use by another bench command that writes: {holder}. \
                         One writer per schema: wait for it to finish, pass --wait to queue \
                         behind it, or use another --schema",
                        target.schema
                    ))
                    .into())
                }
                LockWait::Wait => {
                    eprintln!(
                        "waiting for the writer lock on schema {}: {holder} (Ctrl-C stops waiting)",
                        target.schema
                    );
                    let cancel = crate::shutdown::token();
                    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
                        [&LOCK_CLASS, &key];
                    tokio::select! {
                        r = client.execute("SELECT pg_advisory_lock($1, $2)", &params) => {
                            r.map_err(|e| anyhow::anyhow!("waiting for the writer lock: {}", pg_error_text(&e)))?;
                        }
                        _ = cancel.cancelled() => {
                            let _ = client.cancel_token().cancel_query(tokio_postgres::NoTls).await;
                            return Err(BenchError::Interrupted.into());
                        }
                    }
                }
            }
        }
        let mut guard = WriteGuard {
            client,
            schema: target.schema.clone(),
            command: command.to_string(),
            paused: Vec::new(),
            restored: Vec::new(),
        };
        guard.restored = guard.restore_stale().await?;
        for line in restored_lines(&guard.restored) {
            eprintln!("{line}");
        }
        Ok(guard)
    }

    /// Take the lock again on a new connection when its session is gone: a cold-cache phase
    /// (`[run] cache = "cold"`, `probe::cache`) restarts the embedded server, which closes
    /// every session. The paused jobs stay paused (their state is in the database).
    pub async fn reconnect(&mut self, target: &Target) -> anyhow::Result<()> {
        if self.client.simple_query("SELECT 1").await.is_ok() {
            return Ok(());
        }
        let client = target
            .connect()
            .await
            .context("reconnecting for the schema's writer lock after a server restart")?;
        client
            .batch_execute(&format!(
                "SET application_name = '{WRITER_APPLICATION_NAME}: {}'",
                self.command.replace('\'', "")
            ))
            .await
            .context("naming the writer connection")?;
        let got: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_CLASS, &lock_key(&self.schema)],
            )
            .await
            .map_err(|e| anyhow::anyhow!("taking the writer lock again: {}", pg_error_text(&e)))?
            .get(0);
        if !got {
            return Err(BenchError::Environment(format!(
                "another session took the writer lock of schema {} while the server restarted",
                self.schema
            ))
            .into());
        }
        self.client = client;
        Ok(())
    }

    /// The schema this guard holds.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The command recorded with every job this guard pauses.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Server process id of the session holding the lock (sharded runs record it, so
    /// followers can tell that their leader still holds the schema).
    pub async fn backend_pid(&self) -> anyhow::Result<i32> {
        let row = self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(|e| {
                anyhow::anyhow!("reading the writer's backend pid: {}", pg_error_text(&e))
            })?;
        Ok(row.get(0))
    }

    /// Pause every scheduled policy job on the schema's hypertables and record it (one
    /// transaction). Returns how many this call paused. A no-op before the schema exists.
    pub async fn pause_jobs(&mut self) -> anyhow::Result<usize> {
        if !paused_table_exists(&self.client, &self.schema).await? {
            return Ok(0);
        }
        self.client
            .batch_execute("BEGIN")
            .await
            .context("BEGIN (pausing policy jobs)")?;
        let r = pause_scheduled_jobs(&self.client, &self.schema, &self.command).await;
        match r {
            Ok(ids) => {
                self.client
                    .batch_execute("COMMIT")
                    .await
                    .map_err(|e| anyhow::anyhow!("recording paused jobs: {}", pg_error_text(&e)))?;
                let n = ids.len();
                self.note_paused(ids);
                Ok(n)
            }
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(e)
            }
        }
    }

    /// Remember jobs paused on another connection of this command (inside `schema::apply`'s
    /// transaction, where the jobs are created).
    pub fn note_paused(&mut self, ids: Vec<i32>) {
        for id in ids {
            if !self.paused.contains(&id) {
                self.paused.push(id);
            }
        }
    }

    /// Jobs this guard holds paused.
    pub fn paused(&self) -> &[i32] {
        &self.paused
    }

    /// Switch the jobs this guard paused back on, delete their records and drop the lock.
    /// Returns how many jobs were resumed. Call it on every path (success, error, Ctrl-C).
    pub async fn release(self) -> anyhow::Result<usize> {
        let n = resume_recorded(&self.client, &self.schema, Some(&self.paused)).await?;
        let _ = self
            .client
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&LOCK_CLASS, &lock_key(&self.schema)],
            )
            .await;
        Ok(n)
    }

    /// Switch back on every job recorded by a bench process that no longer holds the lock
    /// (we hold it now, so every record is stale).
    async fn restore_stale(&self) -> anyhow::Result<Vec<PausedJob>> {
        if !paused_table_exists(&self.client, &self.schema).await? {
            return Ok(Vec::new());
        }
        let stale = recorded(&self.client, &self.schema).await?;
        if stale.is_empty() {
            return Ok(stale);
        }
        resume_recorded(&self.client, &self.schema, None).await?;
        Ok(stale)
    }
}

/// Lines that say which jobs a killed process had left paused and that they are back on.
pub fn restored_lines(jobs: &[PausedJob]) -> Vec<String> {
    jobs.iter()
        .map(|j| {
            format!(
                "restored policy job {} ({} on {}): it was left paused by an earlier `{}` \
                 (pid {}, paused at {}) that did not finish; it is scheduled again",
                j.job_id, j.proc_name, j.hypertable, j.command, j.bench_pid, j.paused_at
            )
        })
        .collect()
}

/// Who holds the schema's writer lock: backend pid, application, since when, from where.
pub async fn holder(client: &Client, schema: &str) -> anyhow::Result<String> {
    let row = client
        .query_opt(
            "SELECT a.pid, coalesce(a.application_name, ''), \
                    to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    coalesce(host(a.client_addr), 'local socket') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 \
               AND l.objid::bigint = $2 AND l.objsubid = 2 \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&i64::from(LOCK_CLASS), &i64::from(lock_key(schema))],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading pg_locks: {}", pg_error_text(&e)))?;
    Ok(match row {
        Some(r) => format!(
            "held by server pid {} ({}), connected since {} from {}",
            r.get::<_, i32>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, String>(3)
        ),
        None => "held by a session that just ended".to_string(),
    })
}

/// Is the schema's writer lock held by anyone right now?
pub async fn lock_held(client: &Client, schema: &str) -> anyhow::Result<bool> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
               AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2 \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&i64::from(LOCK_CLASS), &i64::from(lock_key(schema))],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading pg_locks: {}", pg_error_text(&e)))?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// Create [`PAUSED_JOBS_TABLE`] in `schema` if missing (inside `schema::apply`).
pub async fn ensure_paused_table(client: &Client, schema: &str) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {}.{} (
                job_id      integer PRIMARY KEY,
                hypertable  text NOT NULL,
                proc_name   text NOT NULL,
                bench_pid   bigint NOT NULL,
                command     text NOT NULL,
                paused_at   timestamptz NOT NULL DEFAULT now()
            )",
            quote_ident(schema),
            quote_ident(PAUSED_JOBS_TABLE)
        ))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "creating {schema}.{PAUSED_JOBS_TABLE}: {}",
                pg_error_text(&e)
            )
        })
}

pub async fn paused_table_exists(client: &Client, schema: &str) -> anyhow::Result<bool> {
    let name = format!("{}.{}", quote_ident(schema), quote_ident(PAUSED_JOBS_TABLE));
    let row = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .context("looking for the paused-jobs table")?;
    Ok(row.get(0))
}

/// Inside an open transaction on `client`: switch off every scheduled job on the schema's
/// hypertables and record it. Returns the job ids paused.
pub async fn pause_scheduled_jobs(
    client: &Client,
    schema: &str,
    command: &str,
) -> anyhow::Result<Vec<i32>> {
    let rows = client
        .query(
            "SELECT job_id, hypertable_name::text, proc_name::text \
             FROM timescaledb_information.jobs \
             WHERE hypertable_schema = $1 AND scheduled ORDER BY job_id",
            &[&schema],
        )
        .await
        .map_err(|e| anyhow::anyhow!("listing policy jobs: {}", pg_error_text(&e)))?;
    let insert = format!(
        "INSERT INTO {}.{} (job_id, hypertable, proc_name, bench_pid, command) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id) DO NOTHING",
        quote_ident(schema),
        quote_ident(PAUSED_JOBS_TABLE)
    );
    let pid = i64::from(std::process::id());
    let mut ids = Vec::new();
    for r in &rows {
        let id: i32 = r.get(0);
        let table: String = r.get(1);
        let proc_name: String = r.get(2);
        client
            .query("SELECT alter_job($1, scheduled => false)", &[&id])
            .await
            .map_err(|e| anyhow::anyhow!("pausing job {id}: {}", pg_error_text(&e)))?;
        client
            .execute(&insert, &[&id, &table, &proc_name, &pid, &command])
            .await
            .map_err(|e| anyhow::anyhow!("recording paused job {id}: {}", pg_error_text(&e)))?;
        ids.push(id);
    }
    Ok(ids)
}

/// Every record in the paused-jobs table.
pub async fn recorded(client: &Client, schema: &str) -> anyhow::Result<Vec<PausedJob>> {
    let rows = client
        .query(
            &format!(
                "SELECT job_id, hypertable, proc_name, bench_pid, command, \
                        to_char(paused_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM {}.{} ORDER BY job_id",
                quote_ident(schema),
                quote_ident(PAUSED_JOBS_TABLE)
            ),
            &[],
        )
        .await
        .map_err(|e| anyhow::anyhow!("reading {PAUSED_JOBS_TABLE}: {}", pg_error_text(&e)))?;
    Ok(rows
        .iter()
        .map(|r| PausedJob {
            job_id: r.get(0),
            hypertable: r.get(1),
            proc_name: r.get(2),
            bench_pid: r.get(3),
            command: r.get(4),
            paused_at: r.get(5),
        })
        .collect())
}

/// Switch on the recorded jobs (only `only`, when given) that still exist, and delete their
/// records, in one transaction. Returns how many were switched on.
async fn resume_recorded(
    client: &Client,
    schema: &str,
    only: Option<&[i32]>,
) -> anyhow::Result<usize> {
    if !paused_table_exists(client, schema).await? {
        // `bench schema reset` dropped the table (and the hypertables with their jobs).
        return Ok(0);
    }
    let jobs: Vec<i32> = recorded(client, schema)
        .await?
        .into_iter()
        .map(|j| j.job_id)
        .filter(|id| only.is_none_or(|o| o.contains(id)))
        .collect();
    if jobs.is_empty() {
        return Ok(0);
    }
    client
        .batch_execute("BEGIN")
        .await
        .context("BEGIN (resuming policy jobs)")?;
    let r = async {
        let mut n = 0;
        for id in &jobs {
            let exists = client
                .query_one(
                    "SELECT count(*) FROM timescaledb_information.jobs WHERE job_id = $1",
                    &[id],
                )
                .await?
                .get::<_, i64>(0)
                > 0;
            if exists {
                client
                    .query("SELECT alter_job($1, scheduled => true)", &[id])
                    .await?;
                n += 1;
            }
            client
                .execute(
                    &format!(
                        "DELETE FROM {}.{} WHERE job_id = $1",
                        quote_ident(schema),
                        quote_ident(PAUSED_JOBS_TABLE)
                    ),
                    &[id],
                )
                .await?;
        }
        Ok::<usize, tokio_postgres::Error>(n)
    }
    .await;
    match r {
        Ok(n) => {
            client.batch_execute("COMMIT").await.map_err(|e| {
                anyhow::anyhow!("committing resumed policy jobs: {}", pg_error_text(&e))
            })?;
            Ok(n)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(anyhow::anyhow!(
                "switching the schema's policy jobs back on: {}",
                pg_error_text(&e)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_positive_and_differ_by_schema() {
        assert!(lock_key("esp_bench") >= 0);
        assert_eq!(lock_key("esp_bench"), lock_key("esp_bench"));
        assert_ne!(lock_key("esp_bench"), lock_key("esp_bench2"));
    }

    #[test]
    fn restored_lines_name_job_command_and_pid() {
        let lines = restored_lines(&[PausedJob {
            job_id: 1002,
            hypertable: "esp_telemetry".into(),
            proc_name: "policy_compression".into(),
            bench_pid: 4242,
            command: "bench run".into(),
            paused_at: "2026-12-01T07:00:00Z".into(),
        }]);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("1002"));
        assert!(lines[0].contains("bench run"));
        assert!(lines[0].contains("4242"));
    }
}

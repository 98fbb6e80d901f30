//! Every statement of the coordination of sharded runs (`--shard K/N`), in two tables of
//! bench's schema that the leader creates while it holds the writer lock:
//!
//! - [`RUNS_TABLE`]: one row per run the leader opened: the scenario fingerprint every shard
//!   must match, the fleet's end instant (so `end = "now"` means one instant for all shards),
//!   how many shards, the leader's server pid (it holds the writer lock), the run's state
//!   (`open`, `closed`, `failed`, `abandoned`) and the last barrier released with its start
//!   instant.
//! - [`SHARDS_TABLE`]: one row per shard that joined: who it is, the barrier it reached, its
//!   state (`active`, `failed`), a heartbeat, the advisory lock its session holds (a shard is
//!   alive while `pg_locks` shows it) and, at the end, its report (JSON) for the leader.
//!
//! Liveness is read from `pg_locks`, so a killed shard (its session ends) is seen at once.

use tokio_postgres::Client;

use super::{quote_ident, quote_literal};
use crate::error::pg_error_text;

/// Runs opened by a leader.
pub const RUNS_TABLE: &str = "esp_bench_shard_runs";
/// Shards that joined a run.
pub const SHARDS_TABLE: &str = "esp_bench_shards";

/// First key of a follower's presence lock: "ESPS" (the writer lock is "ESPB").
pub const PRESENCE_CLASS: i32 = 0x4553_5053;

fn t(schema: &str, table: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(table))
}

fn err(what: &str) -> impl Fn(tokio_postgres::Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {}", pg_error_text(&e))
}

/// SQL that is true when the advisory lock `(class, key)` is held by server process `pid`
/// in this database.
fn lock_held_by(class: &str, key: &str, pid: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted \
           AND l.pid = {pid} AND l.classid::bigint = ({class})::bigint \
           AND l.objid::bigint = ({key})::bigint AND l.objsubid = 2 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
    )
}

/// Second key of the presence lock of shard `index` in `schema`.
pub fn presence_key(schema: &str, index: u32) -> i32 {
    super::guard::lock_key(&format!("{schema}\u{1f}shard {index}"))
}

/// Create both tables if missing and mark them as bench's (the leader, inside its guard).
pub async fn ensure_tables(client: &Client, schema: &str) -> anyhow::Result<()> {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {runs} (
                run_id           text PRIMARY KEY,
                command          text NOT NULL,
                scenario         text NOT NULL,
                fingerprint      text NOT NULL,
                load_fingerprint text NOT NULL,
                fleet_end        timestamptz NOT NULL,
                shards           integer NOT NULL,
                reuse            boolean NOT NULL,
                leader_pid       integer NOT NULL,
                state            text NOT NULL DEFAULT 'open',
                note             text,
                released         integer NOT NULL DEFAULT -1,
                release_at       timestamptz,
                opened_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
                closed_at        timestamptz
            );
            CREATE TABLE IF NOT EXISTS {shards} (
                run_id        text NOT NULL,
                shard         integer NOT NULL,
                host          text NOT NULL,
                pid           bigint NOT NULL,
                bench_version text NOT NULL,
                backend_pid   integer NOT NULL,
                lock_class    integer NOT NULL,
                lock_key      integer NOT NULL,
                arrived       integer NOT NULL DEFAULT -1,
                barrier       text,
                state         text NOT NULL DEFAULT 'active',
                note          text,
                payload       text,
                heartbeat     timestamptz NOT NULL DEFAULT clock_timestamp(),
                joined_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
                PRIMARY KEY (run_id, shard)
            )",
            runs = t(schema, RUNS_TABLE),
            shards = t(schema, SHARDS_TABLE)
        ))
        .await
        .map_err(err("creating the shard coordination tables"))?;
    for table in [RUNS_TABLE, SHARDS_TABLE] {
        super::schema::mark_table(client, schema, table).await?;
    }
    Ok(())
}

/// Do the coordination tables exist (has any leader run here)?
pub async fn tables_exist(client: &Client, schema: &str) -> anyhow::Result<bool> {
    let name = t(schema, SHARDS_TABLE);
    let row = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
            &[&name, &t(schema, RUNS_TABLE)],
        )
        .await
        .map_err(err("looking for the shard coordination tables"))?;
    Ok(row.get(0))
}

/// Mark every run still `open` as `abandoned`: the caller holds the writer lock, so no leader
/// of those runs is alive. Returns their ids.
pub async fn abandon_open_runs(client: &Client, schema: &str) -> anyhow::Result<Vec<String>> {
    let rows = client
        .query(
            &format!(
                "UPDATE {} SET state = 'abandoned', closed_at = clock_timestamp(), \
                 note = 'its leader ended without closing it' WHERE state = 'open' \
                 RETURNING run_id",
                t(schema, RUNS_TABLE)
            ),
            &[],
        )
        .await
        .map_err(err("closing runs of earlier leaders"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// What the leader records when it opens a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    /// `run` or `load`.
    pub command: String,
    pub scenario: String,
    pub fingerprint: String,
    pub load_fingerprint: String,
    pub fleet_end: chrono::DateTime<chrono::Utc>,
    pub shards: u32,
    /// The data is reused (already complete and verified): followers load nothing.
    pub reuse: bool,
    pub leader_pid: i32,
}

/// Insert the run (state `open`). Errors when the id is taken.
pub async fn open_run(client: &Client, schema: &str, r: &RunRecord) -> anyhow::Result<()> {
    let n = client
        .execute(
            &format!(
                "INSERT INTO {} (run_id, command, scenario, fingerprint, load_fingerprint, \
                 fleet_end, shards, reuse, leader_pid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (run_id) DO NOTHING",
                t(schema, RUNS_TABLE)
            ),
            &[
                &r.run_id,
                &r.command,
                &r.scenario,
                &r.fingerprint,
                &r.load_fingerprint,
                &r.fleet_end,
                &(r.shards as i32),
                &r.reuse,
                &r.leader_pid,
            ],
        )
        .await
        .map_err(err("opening the run"))?;
    if n == 0 {
        return Err(crate::error::BenchError::Config(format!(
            "run id `{}` was already used in schema {schema}: give each sharded run its own \
             --run-id",
            r.run_id
        ))
        .into());
    }
    Ok(())
}

/// A run as a follower sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub record: RunRecord,
    pub state: String,
    pub note: String,
    /// Highest barrier released (-1 before the first).
    pub released: i32,
    /// Milliseconds from the server's now to the released barrier's start (negative: past).
    pub release_in_ms: f64,
    /// The leader still holds the writer lock.
    pub leader_alive: bool,
    /// Seconds since the leader's last heartbeat.
    pub leader_heartbeat_age_s: f64,
}

fn run_select(schema: &str) -> String {
    format!(
        "SELECT r.run_id, r.command, r.scenario, r.fingerprint, r.load_fingerprint, r.fleet_end, \
                r.shards, r.reuse, r.leader_pid, r.state, coalesce(r.note, ''), r.released, \
                coalesce(extract(epoch FROM r.release_at - clock_timestamp()) * 1000, 0)::float8, \
                {alive}, \
                coalesce(extract(epoch FROM clock_timestamp() - s.heartbeat), 0)::float8 \
         FROM {runs} r LEFT JOIN {shards} s ON s.run_id = r.run_id AND s.shard = 0",
        alive = lock_held_by(
            &super::guard::LOCK_CLASS.to_string(),
            &super::guard::lock_key(schema).to_string(),
            "r.leader_pid"
        ),
        runs = t(schema, RUNS_TABLE),
        shards = t(schema, SHARDS_TABLE)
    )
}

fn run_view(r: &tokio_postgres::Row) -> RunView {
    RunView {
        record: RunRecord {
            run_id: r.get(0),
            command: r.get(1),
            scenario: r.get(2),
            fingerprint: r.get(3),
            load_fingerprint: r.get(4),
            fleet_end: r.get(5),
            shards: r.get::<_, i32>(6).max(0) as u32,
            reuse: r.get(7),
            leader_pid: r.get(8),
        },
        state: r.get(9),
        note: r.get(10),
        released: r.get(11),
        release_in_ms: r.get(12),
        leader_alive: r.get(13),
        leader_heartbeat_age_s: r.get(14),
    }
}

/// Runs that are `open` with their leader alive, newest first.
pub async fn live_runs(client: &Client, schema: &str) -> anyhow::Result<Vec<RunView>> {
    let rows = client
        .query(
            &format!(
                "{} WHERE r.state = 'open' ORDER BY r.opened_at DESC",
                run_select(schema)
            ),
            &[],
        )
        .await
        .map_err(err("looking for the leader's run"))?;
    Ok(rows
        .iter()
        .map(run_view)
        .filter(|v| v.leader_alive)
        .collect())
}

/// One run by id, whatever its state.
pub async fn run(client: &Client, schema: &str, run_id: &str) -> anyhow::Result<Option<RunView>> {
    let row = client
        .query_opt(
            &format!("{} WHERE r.run_id = $1", run_select(schema)),
            &[&run_id],
        )
        .await
        .map_err(err("reading the run's state"))?;
    Ok(row.as_ref().map(run_view))
}

/// What a shard records when it joins.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRecord {
    pub run_id: String,
    pub shard: u32,
    pub host: String,
    pub pid: u32,
    pub bench_version: String,
    /// The server pid of the session holding the shard's lock, and that lock.
    pub backend_pid: i32,
    pub lock_class: i32,
    pub lock_key: i32,
}

/// Insert the shard's row. False when the shard had already joined this run.
pub async fn register(client: &Client, schema: &str, s: &ShardRecord) -> anyhow::Result<bool> {
    let n = client
        .execute(
            &format!(
                "INSERT INTO {} (run_id, shard, host, pid, bench_version, backend_pid, lock_class, \
                 lock_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                t(schema, SHARDS_TABLE)
            ),
            &[
                &s.run_id,
                &(s.shard as i32),
                &s.host,
                &i64::from(s.pid),
                &s.bench_version,
                &s.backend_pid,
                &s.lock_class,
                &s.lock_key,
            ],
        )
        .await
        .map_err(err("registering the shard"))?;
    Ok(n == 1)
}

/// Take shard `index`'s presence lock on this session (false when another session holds it:
/// the same shard is already running).
pub async fn try_presence_lock(client: &Client, schema: &str, index: u32) -> anyhow::Result<bool> {
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock($1, $2)",
            &[&PRESENCE_CLASS, &presence_key(schema, index)],
        )
        .await
        .map_err(err("taking the shard's presence lock"))?;
    Ok(row.get(0))
}

/// This session's server pid.
pub async fn backend_pid(client: &Client) -> anyhow::Result<i32> {
    let row = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(err("reading the backend pid"))?;
    Ok(row.get(0))
}

/// Server clock as Unix milliseconds.
pub async fn server_now_ms(client: &Client) -> anyhow::Result<f64> {
    let row = client
        .query_one(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8",
            &[],
        )
        .await
        .map_err(err("reading the server's clock"))?;
    Ok(row.get(0))
}

/// Record that shard `shard` reached barrier `barrier` (named `name`), with an optional
/// payload (its report, at the last barrier).
pub async fn arrive(
    client: &Client,
    schema: &str,
    run_id: &str,
    shard: u32,
    barrier: i32,
    name: &str,
    payload: Option<&str>,
) -> anyhow::Result<()> {
    client
        .execute(
            &format!(
                "UPDATE {} SET arrived = $3, barrier = $4, payload = coalesce($5, payload), \
                 heartbeat = clock_timestamp() WHERE run_id = $1 AND shard = $2",
                t(schema, SHARDS_TABLE)
            ),
            &[&run_id, &(shard as i32), &barrier, &name, &payload],
        )
        .await
        .map_err(err("arriving at a barrier"))?;
    Ok(())
}

/// Refresh shard `shard`'s heartbeat.
pub async fn heartbeat(
    client: &Client,
    schema: &str,
    run_id: &str,
    shard: u32,
) -> anyhow::Result<()> {
    client
        .execute(
            &format!(
                "UPDATE {} SET heartbeat = clock_timestamp() WHERE run_id = $1 AND shard = $2",
                t(schema, SHARDS_TABLE)
            ),
            &[&run_id, &(shard as i32)],
        )
        .await
        .map_err(err("heartbeat"))?;
    Ok(())
}

/// Mark shard `shard` failed with `note` (what stopped it).
pub async fn fail_shard(
    client: &Client,
    schema: &str,
    run_id: &str,
    shard: u32,
    note: &str,
) -> anyhow::Result<()> {
    client
        .execute(
            &format!(
                "UPDATE {} SET state = 'failed', note = $3 WHERE run_id = $1 AND shard = $2",
                t(schema, SHARDS_TABLE)
            ),
            &[&run_id, &(shard as i32), &note],
        )
        .await
        .map_err(err("recording the shard's failure"))?;
    Ok(())
}

/// One shard as the leader sees it at a barrier.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardView {
    pub shard: u32,
    pub host: String,
    pub pid: i64,
    pub arrived: i32,
    pub state: String,
    pub note: String,
    pub heartbeat_age_s: f64,
    /// Its session still holds its lock.
    pub alive: bool,
}

/// Every shard of `run_id`.
pub async fn shards(client: &Client, schema: &str, run_id: &str) -> anyhow::Result<Vec<ShardView>> {
    let rows = client
        .query(
            &format!(
                "SELECT s.shard, s.host, s.pid, s.arrived, s.state, coalesce(s.note, ''), \
                        extract(epoch FROM clock_timestamp() - s.heartbeat)::float8, {alive} \
                 FROM {} s WHERE s.run_id = $1 ORDER BY s.shard",
                t(schema, SHARDS_TABLE),
                alive = lock_held_by("s.lock_class", "s.lock_key", "s.backend_pid")
            ),
            &[&run_id],
        )
        .await
        .map_err(err("reading the shards' states"))?;
    Ok(rows
        .iter()
        .map(|r| ShardView {
            shard: r.get::<_, i32>(0).max(0) as u32,
            host: r.get(1),
            pid: r.get(2),
            arrived: r.get(3),
            state: r.get(4),
            note: r.get(5),
            heartbeat_age_s: r.get(6),
            alive: r.get(7),
        })
        .collect())
}

/// The payloads (reports) the shards posted, by shard.
pub async fn payloads(
    client: &Client,
    schema: &str,
    run_id: &str,
) -> anyhow::Result<Vec<(u32, Option<String>)>> {
    let rows = client
        .query(
            &format!(
                "SELECT shard, payload FROM {} WHERE run_id = $1 ORDER BY shard",
                t(schema, SHARDS_TABLE)
            ),
            &[&run_id],
        )
        .await
        .map_err(err("reading the shards' reports"))?;
    Ok(rows
        .iter()
        .map(|r| (r.get::<_, i32>(0).max(0) as u32, r.get(1)))
        .collect())
}

/// Release barrier `barrier`: every shard starts what follows `lead_ms` from the server's now.
pub async fn release(
    client: &Client,
    schema: &str,
    run_id: &str,
    barrier: i32,
    lead_ms: f64,
) -> anyhow::Result<()> {
    client
        .execute(
            &format!(
                "UPDATE {} SET released = $2, \
                 release_at = clock_timestamp() + make_interval(secs => $3::float8 / 1000.0) \
                 WHERE run_id = $1",
                t(schema, RUNS_TABLE)
            ),
            &[&run_id, &barrier, &lead_ms],
        )
        .await
        .map_err(err("releasing a barrier"))?;
    Ok(())
}

/// End the run (`closed` or `failed`, with a note). Waits for followers' write transactions
/// in flight (they hold a share lock on the run's row, see [`write_gate_sql`]).
pub async fn close_run(
    client: &Client,
    schema: &str,
    run_id: &str,
    state: &str,
    note: Option<&str>,
) -> anyhow::Result<()> {
    let runs = t(schema, RUNS_TABLE);
    client
        .batch_execute("BEGIN")
        .await
        .map_err(err("closing the run"))?;
    let r = async {
        client
            .execute(
                &format!("SELECT 1 FROM {runs} WHERE run_id = $1 FOR UPDATE"),
                &[&run_id],
            )
            .await?;
        client
            .execute(
                &format!(
                    "UPDATE {runs} SET state = $2, note = coalesce($3, note), \
                     closed_at = clock_timestamp() WHERE run_id = $1 AND state = 'open'"
                ),
                &[&run_id, &state, &note],
            )
            .await?;
        client.batch_execute("COMMIT").await
    }
    .await;
    if let Err(e) = r {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(err("closing the run")(e));
    }
    Ok(())
}

/// A query, run inside a follower's write transaction before it writes, that returns one row
/// holding `true` while `run_id` is open and its leader holds the writer lock, and takes a
/// share lock on the run's row, so the leader cannot close the run until that transaction
/// ends. No row, or `false`: the follower must not write.
pub fn write_gate_sql(schema: &str, run_id: &str) -> String {
    format!(
        "SELECT r.state = 'open' AND {alive} FROM {runs} r WHERE r.run_id = {id} FOR KEY SHARE OF r",
        alive = lock_held_by(
            &super::guard::LOCK_CLASS.to_string(),
            &super::guard::lock_key(schema).to_string(),
            "r.leader_pid"
        ),
        runs = t(schema, RUNS_TABLE),
        id = quote_literal(run_id)
    )
}

/// Run [`write_gate_sql`] on `client` (inside the caller's transaction): true when the
/// follower may write.
pub async fn write_allowed(client: &Client, gate_sql: &str) -> Result<bool, tokio_postgres::Error> {
    let row = client.query_opt(gate_sql, &[]).await?;
    Ok(row.is_some_and(|r| r.get::<_, Option<bool>>(0) == Some(true)))
}

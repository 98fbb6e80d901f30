//! A query connection of the runner: opened by tokio-postgres on a socket it shares with the
//! connection's wire (`db::wire`), with the phase's settings and statements, and the plan
//! counters read from it.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use tokio_postgres::Client;

use crate::db::measure::{self, PlanCounts};
use crate::db::wire::{Wire, WireError, WireStatement};
use crate::db::ConnectionFuture;
use crate::exec::drive::Driver;
use crate::exec::runner::ExecSettings;
use crate::scenario::plan::PlanCacheMode;

/// What [`Connect::connect`] opens: the client, its connection's I/O (which the worker using
/// the client polls itself, see `exec::drive`) and the wire on the same socket.
pub type Opened = (Client, ConnectionFuture, Wire);

/// Opens a new database session (already in bench's schema). Implemented for `db::Target`.
pub trait Connect {
    fn connect(&self) -> impl Future<Output = anyhow::Result<Opened>> + Send;
}

impl Connect for crate::db::Target {
    fn connect(&self) -> impl Future<Output = anyhow::Result<Opened>> + Send {
        crate::db::Target::connect_wire(self)
    }
}

/// One connection with its prepared statements. The measured executions go through `wire`
/// (bench's own Bind/Execute/Sync on the connection's socket); the setup and the plan
/// counters through `client`.
pub(super) struct Session {
    pub(super) client: Option<Client>,
    /// The connection's I/O, polled during every call on `client`.
    pub(super) driver: Driver,
    pub(super) wire: Wire,
    pub(super) stmts: Vec<WireStatement>,
    /// Plan counters of each statement when the measured stage started (zero for a
    /// connection opened after that: a new connection starts from zero).
    pub(super) base: Vec<PlanCounts>,
}

impl Session {
    /// Close the connection politely: dropping the client makes the connection send
    /// Terminate, and polling it (briefly) lets it do so.
    pub(super) async fn close(mut self) {
        let _ = self.wire.set_blocking(false);
        self.client = None;
        self.driver.close(Duration::from_secs(1)).await;
    }
}

pub(super) async fn open_session<C: Connect>(
    connector: &C,
    sqls: &[String],
    names: &[String],
    settings: &ExecSettings,
    mode: PlanCacheMode,
    blocking: bool,
) -> anyhow::Result<Session> {
    let (client, conn, mut wire) = connector.connect().await?;
    let mut driver = Driver::new(conn);
    let timeout_ms = settings.statement_timeout.as_millis();
    let app = settings.application_name.replace('\'', "");
    let read_only = if settings.read_only { "on" } else { "off" };
    let set = format!(
        "SET application_name = '{app}'; SET statement_timeout = {timeout_ms}; \
         SET default_transaction_read_only = {read_only}; SET plan_cache_mode = {}",
        mode.name()
    );
    driver.drive(client.batch_execute(&set)).await.context(
        "setting application_name, statement_timeout, read-only transactions and plan_cache_mode",
    )?;
    // tokio-postgres prepares first: it checks the SQL and resolves the parameter types (with
    // its look-ups for types it does not know). Its statements are then closed, and the wire
    // prepares the same SQL with those types under names of its own.
    let mut types = Vec::with_capacity(sqls.len());
    for (sql, name) in sqls.iter().zip(names) {
        let stmt = driver
            .drive(client.prepare(sql))
            .await
            .with_context(|| format!("preparing query `{name}`: {sql}"))?;
        types.push(stmt.params().to_vec());
    }
    // A prepare returns before the connection has read its ReadyForQuery; this round trip
    // (which also sends the closes) leaves nothing of tokio-postgres's on the socket.
    driver
        .drive(client.batch_execute(""))
        .await
        .context("closing the checked statements")?;
    let mut stmts = Vec::with_capacity(sqls.len());
    for ((sql, name), types) in sqls.iter().zip(names).zip(&types) {
        let stmt = wire
            .prepare(sql, types)
            .await
            .with_context(|| format!("preparing query `{name}` for execution: {sql}"))?;
        stmts.push(stmt);
    }
    if blocking {
        wire.set_blocking(true)
            .context("switching the query connection to blocking mode")?;
    }
    Ok(Session {
        client: Some(client),
        driver,
        wire,
        base: vec![PlanCounts::default(); stmts.len()],
        stmts,
    })
}

/// The plan counters of a session's statements (`sqls`, in preparation order); None when the
/// server does not report them (PostgreSQL before 14) or the connection is gone.
pub(super) async fn plan_counts(s: &mut Session, sqls: &[String]) -> Option<Vec<PlanCounts>> {
    if s.wire.is_broken() {
        return None;
    }
    let client = s.client.as_ref().filter(|c| !c.is_closed())?;
    // tokio-postgres needs the socket non-blocking; the wire gets its mode back after.
    let blocking = s.wire.is_blocking();
    s.wire.set_blocking(false).ok()?;
    let counts = s
        .driver
        .drive(measure::prepared_plan_counts(client, sqls))
        .await
        .ok();
    if blocking && s.wire.set_blocking(true).is_err() {
        s.client = None;
    }
    counts
}

/// Plans of the measured stage per statement, summed over the sessions (each session's counters
/// now minus when the stage started). None when no session could report them.
pub(super) async fn measured_plan_counts(
    sessions: &mut [Session],
    sqls: &[String],
) -> Option<Vec<PlanCounts>> {
    let mut sum = vec![PlanCounts::default(); sqls.len()];
    let mut any = false;
    for s in sessions {
        let Some(now) = plan_counts(s, sqls).await else {
            continue;
        };
        any = true;
        for (q, (n, b)) in now.iter().zip(&s.base).enumerate() {
            sum[q].custom += n.custom.saturating_sub(b.custom);
            sum[q].generic += n.generic.saturating_sub(b.generic);
        }
    }
    any.then_some(sum)
}

/// The error kind recorded for a failed execution: the SQLSTATE, "timeout" for
/// statement_timeout, "connection" when the connection failed, "parameter" when a drawn value
/// does not fit its parameter's type.
pub fn classify(err: &WireError) -> String {
    match err {
        WireError::Db { code, message } => {
            if code == tokio_postgres::error::SqlState::QUERY_CANCELED.code()
                && message.contains("statement timeout")
            {
                "timeout".to_string()
            } else {
                code.clone()
            }
        }
        WireError::Broken(_) => "connection".to_string(),
        WireError::Encode(_) => "parameter".to_string(),
        WireError::Cancelled => "cancelled".to_string(),
    }
}

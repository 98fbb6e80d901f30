//! Fault injection points for tests of the loader's exactly-once guarantee.
//!
//! A hook is called at fixed points of every batch attempt with the backend pid of the
//! connection doing it. The hook can do anything a client can (typically
//! `pg_terminate_backend(pid)` from its own connection) and can tell the loader to treat a
//! COMMIT that did succeed as if its acknowledgement was lost, which is exactly the case the
//! ledger exists for. Without a hook the loader pays nothing.

use std::sync::Arc;

use futures_util::future::BoxFuture;

/// Where in a batch attempt the hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The COPY has started and its first chunk was sent.
    MidCopy,
    /// COPY finished and the ledger row is written; COMMIT not yet sent.
    BeforeCommit,
    /// COMMIT succeeded.
    AfterCommit,
}

/// What the hook sees.
#[derive(Debug, Clone)]
pub struct FaultEvent {
    pub table: &'static str,
    pub batch_key: u64,
    /// 0 for the first attempt of a batch, then 1, 2, ... for its retries.
    pub attempt: u32,
    pub point: FaultPoint,
    /// `pg_backend_pid()` of the loader connection running the attempt.
    pub backend_pid: i32,
}

/// What the loader does after the hook returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    Continue,
    /// Only meaningful at `AfterCommit`: act as if the connection died before the COMMIT was
    /// acknowledged (the outcome is unknown to the loader; it must consult the ledger).
    LoseCommitAck,
}

/// The hook type carried by `LoadOptions`.
pub type FaultHook = Arc<dyn Fn(FaultEvent) -> BoxFuture<'static, FaultAction> + Send + Sync>;

/// The error the loader raises for an injected lost acknowledgement: an I/O error, as a real
/// lost connection would be, so it takes the same (transient) path.
pub(crate) fn lost_ack() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "connection lost before COMMIT was acknowledged (injected fault)",
    )
}

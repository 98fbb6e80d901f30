//! Which failures a batch survives (transient: retry on a new connection) and how long to
//! wait between attempts.

use std::time::Duration;

/// True when `err` (anywhere in its chain) is a failure that a new connection and a new
/// attempt can get past: the connection closed or reset, the server shutting down or
/// restarting (57P01/57P02/57P03), connection exceptions (08xxx), serialization failures and
/// deadlocks (40001/40P01), too many connections (53300).
pub fn is_transient(err: &anyhow::Error) -> bool {
    // `downcast_ref` sees context markers anywhere in nested contexts; `chain` sees causes.
    err.downcast_ref::<ConnectFailed>().is_some() || err.chain().any(cause_is_transient)
}

/// Marks a failure to (re)connect. `Target::connect` reports those as environment errors
/// with the cause as text, so the loader tags them: a server restarting refuses connections
/// for a while, which a retry with backoff rides out (a wrong password also ends up here and
/// costs `max_retries` attempts before failing, which is bounded).
#[derive(Debug, thiserror::Error)]
#[error("cannot connect (will retry)")]
pub struct ConnectFailed;

fn cause_is_transient(cause: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(pg) = cause.downcast_ref::<tokio_postgres::Error>() {
        if let Some(code) = pg.code() {
            return sqlstate_is_transient(code.code());
        }
        if pg.is_closed() {
            return true;
        }
        // Kind::Io / Kind::Connect carry an io::Error source; anything else without a
        // SQLSTATE (authentication, bad config, protocol errors) is not worth retrying.
        let mut source = std::error::Error::source(pg);
        while let Some(s) = source {
            if s.downcast_ref::<std::io::Error>().is_some() {
                return true;
            }
            source = s.source();
        }
        return false;
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind::*;
        return matches!(
            io.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | BrokenPipe
                | UnexpectedEof
                | TimedOut
                | NotConnected
                | AddrNotAvailable
        );
    }
    false
}

/// The SQLSTATE classes and codes retried.
pub fn sqlstate_is_transient(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "53300"
        )
}

/// Wait before attempt `attempt` (1-based retry number): 200 ms doubling, capped at 5 s, with
/// a deterministic spread from `salt` so workers that failed together do not reconnect in
/// lock step.
pub fn backoff(attempt: u32, salt: u64) -> Duration {
    let base_ms = 200u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(10));
    let capped = base_ms.min(5_000);
    let spread = (crate::db::copy::hash64(&salt.to_le_bytes()) % 100) * capped / 400; // 0-25%
    Duration::from_millis(capped + spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sqlstates() {
        for code in [
            "57P01", "57P02", "57P03", "08006", "08000", "40001", "40P01", "53300",
        ] {
            assert!(sqlstate_is_transient(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "42501", "XX000"] {
            assert!(!sqlstate_is_transient(code), "{code}");
        }
    }

    #[test]
    fn io_errors_in_chain_are_transient() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
            .context("copying batch 3");
        assert!(is_transient(&e));
        let e = anyhow::anyhow!("scenario is wrong");
        assert!(!is_transient(&e));
        // As the loader builds it: the connect error, tagged, then more context.
        let e = anyhow::anyhow!("cannot connect: the database system is starting up")
            .context(ConnectFailed)
            .context("connecting")
            .context("loading batch 8");
        assert!(is_transient(&e));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let a = backoff(1, 7);
        let b = backoff(3, 7);
        assert!(a >= Duration::from_millis(200) && a <= Duration::from_millis(250));
        assert!(b >= Duration::from_millis(800));
        assert!(backoff(30, 1) <= Duration::from_millis(6_250));
        assert_eq!(backoff(2, 9), backoff(2, 9));
    }
}

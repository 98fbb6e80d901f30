//! Process-wide cancellation on SIGINT/SIGTERM.
//!
//! `main_with` calls [`install`] once; long-running phases poll or `select!` on
//! [`token()`]`.cancelled()` and wind down (writing a partial report where they can).
//! Embedded servers are stopped by normal unwinding: `EmbeddedServer`'s `Drop` stops the
//! postmaster, so a command that returns early on cancellation leaves nothing behind.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

static TOKEN: OnceLock<CancellationToken> = OnceLock::new();
static SIGNALS: AtomicU32 = AtomicU32::new(0);

/// The process-wide cancellation token, cancelled on the first SIGINT or SIGTERM.
pub fn token() -> CancellationToken {
    TOKEN.get_or_init(CancellationToken::new).clone()
}

/// How many SIGINT/SIGTERM signals arrived so far (a second one means "stop now").
pub fn signal_count() -> u32 {
    SIGNALS.load(Ordering::SeqCst)
}

/// Install SIGINT and SIGTERM handlers that cancel [`token()`]. Must be called inside a tokio
/// runtime. Returns an error when the handlers cannot be registered.
pub fn install() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let token = token();
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                r = int.recv() => { if r.is_none() { break; } "SIGINT" }
                r = term.recv() => { if r.is_none() { break; } "SIGTERM" }
            };
            let n = SIGNALS.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 1 {
                eprintln!("\n{name} received: stopping (press Ctrl-C again to stop immediately)");
            }
            token.cancel();
        }
    });
    Ok(())
}

/// `Err(BenchError::Interrupted)` once the token is cancelled; for `?` at phase boundaries.
pub fn check() -> anyhow::Result<()> {
    if token().is_cancelled() {
        return Err(crate::error::BenchError::Interrupted.into());
    }
    Ok(())
}

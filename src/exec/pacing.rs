//! Waiting for a fixed-rate query's intended start, precisely and without burning a core.
//!
//! Tokio's timer fires on 1 ms ticks, so `sleep_until(t)` wakes up to 1-2 ms late, and in
//! fixed-rate mode that lateness counts as latency (a 1 ms bias on sub-millisecond queries).
//! Spinning the last 2 ms instead costs up to 2 ms of CPU per query: 40% of a core at 200 q/s,
//! which is more than the server spends on many queries and would make a shard of a sharded run
//! a load of its own.
//!
//! So each worker owns a Linux `timerfd` (nanosecond resolution) registered with the runtime's
//! reactor and sleeps on it until the intended start. Where a timerfd cannot be created, it
//! falls back to Tokio's timer until 2 ms before, and yields for the rest.

use std::io;
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

/// The stretch before the intended start that is spent yielding rather than sleeping. With the
/// timerfd, none: its wake-up through epoll and the runtime is tens of microseconds late, which
/// the schedule lag (`actual start − intended start`) reports, as pgbench's `-R` would count
/// it; a spin of 60 µs already cost 1.5% of a core at 250 q/s.
pub const SPIN_WINDOW: Duration = Duration::ZERO;

/// The fallback's window: Tokio's timer is 1 ms coarse.
const COARSE_SPIN_WINDOW: Duration = Duration::from_millis(2);

/// `TimerFd` with the raw-fd access `AsyncFd` wants.
struct RawTimer(TimerFd);

impl AsRawFd for RawTimer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// One worker's pacer.
pub struct Pacer {
    timer: Option<AsyncFd<RawTimer>>,
}

impl Pacer {
    /// A pacer on the current runtime (must have I/O enabled); falls back to the coarse timer
    /// when no timerfd can be had.
    pub fn new() -> Pacer {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .ok()
        // SAFETY: `RawTimer` owns the timerfd (an `OwnedFd` inside `TimerFd`), so the
        // descriptor stays open and the same for as long as the `AsyncFd` holding it lives, and
        // `as_raw_fd` always returns it.
        .and_then(|t| unsafe { AsyncFd::register(RawTimer(t)) }.ok());
        Pacer { timer }
    }

    /// Whether the precise timer is in use.
    pub fn precise(&self) -> bool {
        self.timer.is_some()
    }

    /// Wait until `t`; false when cancelled first.
    pub async fn wait_until(&self, t: Instant, cancel: &CancellationToken) -> bool {
        let window = if self.precise() {
            SPIN_WINDOW
        } else {
            COARSE_SPIN_WINDOW
        };
        if let Some(coarse) = t.checked_sub(window) {
            if coarse > Instant::now() {
                tokio::select! {
                    r = self.sleep_until(coarse) => {
                        if r.is_err() {
                            // A timerfd error: finish the wait on Tokio's timer.
                            tokio::select! {
                                _ = tokio::time::sleep_until(coarse.into()) => {}
                                _ = cancel.cancelled() => return false,
                            }
                        }
                    }
                    _ = cancel.cancelled() => return false,
                }
            }
        }
        while Instant::now() < t {
            if cancel.is_cancelled() {
                return false;
            }
            tokio::task::yield_now().await;
        }
        true
    }

    async fn sleep_until(&self, t: Instant) -> io::Result<()> {
        let Some(fd) = &self.timer else {
            tokio::time::sleep_until(t.into()).await;
            return Ok(());
        };
        let now = Instant::now();
        if t <= now {
            return Ok(());
        }
        fd.get_ref()
            .0
            .set(
                Expiration::OneShot(TimeSpec::from_duration(t - now)),
                TimerSetTimeFlags::empty(),
            )
            .map_err(io::Error::from)?;
        loop {
            let mut guard = fd.readable().await?;
            let read = guard.try_io(|inner| {
                let mut buf = [0u8; 8];
                nix::unistd::read(inner.get_ref().as_raw_fd(), &mut buf)
                    .map(|_| ())
                    .map_err(io::Error::from)
            });
            match read {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                // Spurious readiness: wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn waits_until_the_instant_and_not_before() {
        let p = Pacer::new();
        assert!(p.precise(), "timerfd is available on Linux");
        let cancel = CancellationToken::new();
        for ms in [0u64, 1, 3, 7] {
            let t = Instant::now() + Duration::from_millis(ms);
            assert!(p.wait_until(t, &cancel).await);
            assert!(Instant::now() >= t, "woke before the intended start");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn cancellation_ends_the_wait() {
        let p = Pacer::new();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            c2.cancel();
        });
        let t = Instant::now() + Duration::from_secs(600);
        assert!(!p.wait_until(t, &cancel).await);
    }
}

//! Reading a long reply with few wake-ups.
//!
//! The server flushes its output every 8 KiB, so a 1,440-row reply of `latest_24h` (about
//! 160 KiB) reaches the socket in about 20 pieces. A client that reads faster than the server
//! writes is woken for each of them: on a shard, these wake-ups were most of bench's CPU
//! (docs/sharding.md).
//!
//! When a statement's replies have been long, the wire asks the kernel not to wake it before
//! most of the next one is in, with `SO_RCVLOWAT`, then reads the rest as it comes, with the
//! low-water mark back at 1:
//! - a statement executed with parameters it has run with before (a well of `latest_24h`)
//!   waits for the length of that reply, less [`SAME_MARGIN`]: the same data gives the same
//!   reply, so it is read in one wake-up;
//! - otherwise it waits for the shortest reply the statement has given, less [`TAIL`]: one
//!   wake-up for the bulk and a few for the tail.
//!
//! Two things keep this from changing what is measured:
//! - **A shorter reply than any before** would leave the wire asleep, since its bytes never
//!   reach the mark. A timer at twice the statement's fastest reply plus 1 ms ends the wait: the
//!   mark goes back to 1 and the rest is read with the kernel's receive timestamps
//!   (`SO_TIMESTAMPNS`). The execution then ends when its last byte reached the socket, not when
//!   the wire read it.
//! - **The server is not held up.** When the wire first arms a mark for a statement, it raises
//!   the mark to twice that for a moment: Linux sizes the receive buffer and window for the
//!   mark (`tcp_set_rcvlowat`), so the whole reply fits in the window and the server writes it
//!   without waiting for the wire. A window that still fills wakes the wire anyway: Linux
//!   signals a reader whose window is down to one segment, whatever its mark.
//!
//! Only TCP sockets are armed (a Unix socket has no low-water mark for stream reads), and only
//! in the async path: a phase's single client on its own thread (blocking mode) reads as before.
//! `ESP_BENCH_WIRE_COALESCE=0` switches it off, to compare.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The bytes of a reply read with the low-water mark at 1, after the mark.
pub(super) const TAIL: usize = 16 * 1024;
/// How much shorter than the last reply to the same parameters a reply may be and still be
/// read in one wake-up.
pub(super) const SAME_MARGIN: usize = 256;
/// Replies remembered by their parameters, per connection (the memory is cleared when full).
const REMEMBERED: usize = 16 * 1024;
/// The shortest reply worth a mark: below it the saving is a wake-up or two.
pub(super) const MIN_REPLY: usize = 48 * 1024;
/// A mark nearer than this to the bytes already read is not worth a system call.
const STEP: usize = 8 * 1024;
/// The largest buffer the wire grows to so that an armed reply is read in one call.
const MAX_BUF: usize = 4 * 1024 * 1024;

/// What the wire knows of one statement's replies: the shortest and the fastest complete,
/// error-free ones.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Seen {
    pub(super) bytes: usize,
    pub(super) latency: Duration,
}

/// How the next reply of a statement is read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Armed {
    /// Bytes to have in before the first wake-up.
    pub(super) mark: usize,
    /// How long after the write to give up waiting for the mark.
    pub(super) patience: Duration,
}

/// The coalescing state of one TCP connection.
#[derive(Debug, Default)]
pub(super) struct Coalescer {
    /// The socket's current low-water mark (1 unless armed).
    lowat: usize,
    /// The largest mark the receive buffer has been sized for.
    reserved: usize,
    /// Per statement, by its number on the wire.
    seen: Vec<Option<Seen>>,
    /// The length of the last reply, by statement and parameters ([`Coalescer::key`]).
    last: std::collections::HashMap<u64, usize>,
}

impl Coalescer {
    /// A coalescer for a TCP socket, unless `ESP_BENCH_WIRE_COALESCE=0`; it turns on the
    /// socket's receive timestamps.
    pub(super) fn for_tcp(fd: RawFd) -> Option<Coalescer> {
        if std::env::var("ESP_BENCH_WIRE_COALESCE").is_ok_and(|v| v.trim() == "0") {
            return None;
        }
        set_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1).ok()?;
        Some(Coalescer {
            lowat: 1,
            ..Coalescer::default()
        })
    }

    /// The memory key of statement `id` bound as `bind` (its encoded Bind message).
    pub(super) fn key(id: usize, bind: &[u8]) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        bind.hash(&mut h);
        h.finish()
    }

    /// How the next reply of statement `id`, bound as `key`, is to be read: armed when its
    /// replies have been long (see the module comment).
    pub(super) fn plan(&self, id: usize, key: u64) -> Option<Armed> {
        let seen = self.seen.get(id).copied().flatten()?;
        let patience = seen.latency * 2 + Duration::from_millis(1);
        if let Some(&bytes) = self.last.get(&key).filter(|&&b| b >= MIN_REPLY) {
            return Some(Armed {
                mark: bytes - SAME_MARGIN,
                patience,
            });
        }
        (seen.bytes >= MIN_REPLY).then(|| Armed {
            mark: seen.bytes - TAIL,
            patience,
        })
    }

    /// A complete, error-free reply of statement `id` bound as `key`: `bytes` long, in
    /// `latency`.
    pub(super) fn saw(&mut self, id: usize, key: u64, bytes: usize, latency: Duration) {
        if self.seen.len() <= id {
            self.seen.resize(id + 1, None);
        }
        let s = self.seen[id].get_or_insert(Seen { bytes, latency });
        s.bytes = s.bytes.min(bytes);
        s.latency = s.latency.min(latency);
        if self.last.len() >= REMEMBERED && !self.last.contains_key(&key) {
            self.last.clear();
        }
        self.last.insert(key, bytes);
    }

    /// The mark to wait for when `read` bytes of a reply armed with `armed` are in (1: read as
    /// the bytes come).
    pub(super) fn want(armed: Option<Armed>, read: usize) -> usize {
        match armed {
            Some(a) if a.mark >= read + STEP => a.mark - read,
            _ => 1,
        }
    }

    /// Set the socket's low-water mark to `mark` (no call when it already is). The first time
    /// a mark is larger than any before, the receive buffer is sized for twice it.
    pub(super) fn set(&mut self, fd: RawFd, mark: usize) -> std::io::Result<()> {
        if mark > self.reserved {
            set_int(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, clamp(mark * 2))?;
            self.reserved = mark;
            self.lowat = 0;
        }
        if mark != self.lowat {
            set_int(fd, libc::SOL_SOCKET, libc::SO_RCVLOWAT, clamp(mark))?;
            self.lowat = mark;
        }
        Ok(())
    }

    /// The buffer size that reads an armed reply in one call.
    pub(super) fn buffer_for(armed: Armed) -> usize {
        (armed.mark + TAIL + STEP).min(MAX_BUF)
    }
}

static ARMED: AtomicU64 = AtomicU64::new(0);
static LATE: AtomicU64 = AtomicU64::new(0);
static UNSTAMPED: AtomicU64 = AtomicU64::new(0);

/// What the low-water marks of this process came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Coalesced {
    /// Replies read with a mark.
    pub armed: u64,
    /// Of those, replies that outlasted the wire's patience and were read late.
    pub late: u64,
    /// Of those, replies whose last read carried no receive timestamp, so that their
    /// execution ended when the wire read them (none on Linux TCP).
    pub unstamped: u64,
}

/// The process's [`Coalesced`] counts so far.
pub fn coalesced() -> Coalesced {
    Coalesced {
        armed: ARMED.load(Ordering::Relaxed),
        late: LATE.load(Ordering::Relaxed),
        unstamped: UNSTAMPED.load(Ordering::Relaxed),
    }
}

/// An armed reply was read: `late` if its patience ran out, `stamped` if it then ended by
/// its receive timestamp.
pub(super) fn count(late: bool, stamped: bool) {
    ARMED.fetch_add(1, Ordering::Relaxed);
    if late {
        LATE.fetch_add(1, Ordering::Relaxed);
        if !stamped {
            UNSTAMPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn clamp(v: usize) -> libc::c_int {
    v.min(libc::c_int::MAX as usize) as libc::c_int
}

fn set_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: `fd` is the wire's open socket, and the option value is a c_int that outlives
    // the call, with its size passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// One non-blocking `recvmsg` into `buf`: the bytes read, and when the last of them reached the
/// socket (the kernel's receive timestamp), as an `Instant`.
pub(super) fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Option<Instant>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_DONTWAIT)
        .map_err(std::io::Error::from)?;
    let mut arrived = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                let at = SystemTime::UNIX_EPOCH
                    + Duration::new(ts.tv_sec().max(0) as u64, ts.tv_nsec().max(0) as u32);
                arrived = Some(instant_of(at));
            }
        }
    }
    Ok((msg.bytes, arrived))
}

/// The `Instant` of a wall-clock moment in the recent past.
fn instant_of(at: SystemTime) -> Instant {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let ago = wall.duration_since(at).unwrap_or_default();
    now.checked_sub(ago).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statements_whose_replies_were_all_long_are_armed() {
        let mut c = Coalescer {
            lowat: 1,
            ..Coalescer::default()
        };
        let (k1, k2, k3) = (
            Coalescer::key(0, b"well 1"),
            Coalescer::key(0, b"well 2"),
            Coalescer::key(0, b"well 3"),
        );
        assert_ne!(
            k1,
            Coalescer::key(1, b"well 1"),
            "the statement is part of the key"
        );
        assert!(c.plan(0, k1).is_none(), "nothing seen yet");
        c.saw(0, k1, 160_000, Duration::from_millis(3));
        c.saw(0, k2, 170_000, Duration::from_millis(2));
        let a = c.plan(0, k3).expect("long replies");
        assert_eq!(
            a.mark,
            160_000 - TAIL,
            "new parameters: the shortest reply sets the mark"
        );
        assert_eq!(
            a.patience,
            Duration::from_millis(5),
            "twice the fastest, plus 1 ms"
        );
        let a = c.plan(0, k2).expect("seen parameters");
        assert_eq!(
            a.mark,
            170_000 - SAME_MARGIN,
            "the same parameters: their last reply"
        );
        c.saw(0, k3, 900, Duration::from_micros(100));
        assert!(
            c.plan(0, k3).is_none(),
            "a short reply disarms its parameters"
        );
        assert!(
            c.plan(0, Coalescer::key(0, b"well 4")).is_none(),
            "and the statement"
        );
        assert_eq!(c.plan(0, k2).unwrap().mark, 170_000 - SAME_MARGIN);
        c.saw(3, k1, 40_000, Duration::from_millis(1));
        assert!(c.plan(3, k1).is_none(), "below MIN_REPLY");
        assert!(c.plan(1, k1).is_none());
    }

    #[test]
    fn the_mark_falls_to_one_near_its_end() {
        let a = Some(Armed {
            mark: 100_000,
            patience: Duration::from_millis(1),
        });
        assert_eq!(Coalescer::want(a, 0), 100_000);
        assert_eq!(Coalescer::want(a, 30_000), 70_000);
        assert_eq!(Coalescer::want(a, 100_000 - STEP + 1), 1);
        assert_eq!(Coalescer::want(a, 200_000), 1);
        assert_eq!(Coalescer::want(None, 0), 1);
    }
}

//! Polling a call on a tokio-postgres client together with its connection's I/O, in the
//! worker's own task.
//!
//! A call and its connection talk through channels: the call hands its request to the
//! connection, the connection hands the reply back. Both are polled in one task, so each hand
//! over wakes the task that is already running. On tokio's current-thread runtime such a
//! self-wake is deferred: the runtime polls the OS for events (an `epoll_wait` with zero
//! timeout) before it polls the task again. That is one system call and one spurious poll per
//! hand-over, twice per query, which on a loopback `SELECT 1` is a measurable part of the
//! query's time. [`Driver`] gives the call and the connection a waker that, while they are
//! being polled, only notes the wake-up and polls them again at once; a wake-up from
//! elsewhere (the socket became readable) goes to the task's waker as usual.
//!
//! The measured executions no longer take this path: they go through the connection's wire
//! (`db::wire`), which has no channels. [`Driver`] serves a session's tokio-postgres calls (the
//! `SET`s, the prepares, the plan counters), and [`absorb_self_wakes`] still serves the stage,
//! whose `FuturesUnordered` wakes itself after polling all its workers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

use crate::db::ConnectionFuture;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

/// How many times in a row a poll is repeated for wake-ups that came while polling, before the
/// task yields to the runtime after all (a future that wakes itself on every poll is asking to
/// yield, and gets to).
const MAX_REPOLLS: u32 = 32;

/// The waker handed to the futures polled by [`Gate::poll`]: while they are being polled, a
/// wake-up is only noted; otherwise it goes to the task.
#[derive(Default)]
struct Gate {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            // Being polled: the poll loop sees WOKEN and polls again.
            Ok(_) | Err(WOKEN) => {}
            // Not being polled (the socket's readiness, from the runtime's driver).
            Err(_) => self.task.wake(),
        }
    }
}

impl Gate {
    /// Call `poll` with `waker` (this gate's) as the context, again at once while it was woken
    /// during the call, at most [`MAX_REPOLLS`] times.
    fn poll<T>(
        &self,
        waker: &Waker,
        cx: &mut Context<'_>,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.task.register(cx.waker());
        let mut inner = Context::from_waker(waker);
        for _ in 0..MAX_REPOLLS {
            self.state.store(POLLING, Ordering::Release);
            let r = poll(&mut inner);
            let was = self.state.swap(IDLE, Ordering::AcqRel);
            if r.is_ready() || was == POLLING {
                return r;
            }
        }
        // Still waking itself: let the runtime run something else first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// `fut`, with the wake-ups it gives itself while being polled handled by polling it again at
/// once instead of through the runtime. For the futures that poll a stage's workers together:
/// `FuturesUnordered` wakes itself whenever it has polled all its futures once (to let other
/// tasks run), which with one client is after every query, and each such wake-up costs a
/// deferred-task `epoll_wait`.
pub async fn absorb_self_wakes<F: Future>(fut: F) -> F::Output {
    let gate = Arc::new(Gate::default());
    let waker = Waker::from(gate.clone());
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| gate.poll(&waker, cx, |inner| fut.as_mut().poll(inner))).await
}

/// One connection's I/O and the waker its calls are polled with.
pub struct Driver {
    /// None once the connection has ended.
    conn: Option<ConnectionFuture>,
    gate: Arc<Gate>,
    waker: Waker,
}

impl Driver {
    pub fn new(conn: ConnectionFuture) -> Driver {
        let gate = Arc::new(Gate::default());
        Driver {
            conn: Some(conn),
            waker: Waker::from(gate.clone()),
            gate,
        }
    }

    /// Await `call` (a call on the connection's client) while polling the connection's I/O in
    /// the same task: a reply is read from the socket and handed to the call in one poll, with
    /// no hop through a connection task of its own (tokio-postgres's default, which costs two
    /// task wake-ups per query) and no deferred self-wake (see the module's text). When the
    /// connection ends first, it is dropped and the call then fails promptly.
    pub async fn drive<F: Future>(&mut self, call: F) -> F::Output {
        let mut call = std::pin::pin!(call);
        std::future::poll_fn(|cx| self.poll_call(call.as_mut(), cx)).await
    }

    fn poll_call<F: Future>(
        &mut self,
        mut call: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        let conn = &mut self.conn;
        self.gate.poll(&self.waker, cx, |inner| {
            if let Poll::Ready(r) = call.as_mut().poll(inner) {
                return Poll::Ready(r);
            }
            if let Some(c) = conn.as_mut() {
                if c.as_mut().poll(inner).is_ready() {
                    // The connection ended: the call fails on its next poll.
                    *conn = None;
                    inner.waker().wake_by_ref();
                }
            }
            Poll::Pending
        })
    }

    /// Let the connection finish (it sends Terminate once its client is dropped), for at most
    /// `limit`.
    pub async fn close(mut self, limit: std::time::Duration) {
        if let Some(conn) = self.conn.take() {
            let _ = tokio::time::timeout(limit, conn).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicUsize};

    /// A future that hands over to a partner through a flag and a waker, like a call and its
    /// connection: the driver must complete it without the task being woken.
    #[tokio::test]
    async fn a_hand_over_inside_the_poll_completes_without_waking_the_task() {
        let polls = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(std::sync::Mutex::new((false, None::<Waker>)));
        let conn_shared = shared.clone();
        let conn_polls = polls.clone();
        // The "connection": on its first poll it sets the flag and wakes the call.
        let conn: ConnectionFuture = Box::pin(std::future::poll_fn(move |_cx| {
            conn_polls.fetch_add(1, Ordering::Relaxed);
            let mut s = conn_shared.lock().unwrap();
            if !s.0 {
                s.0 = true;
                if let Some(w) = s.1.take() {
                    w.wake();
                }
            }
            Poll::<()>::Pending
        }));
        let mut d = Driver::new(conn);
        let call_shared = shared.clone();
        let call = std::future::poll_fn(move |cx| {
            let mut s = call_shared.lock().unwrap();
            if s.0 {
                Poll::Ready(7)
            } else {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        assert_eq!(d.drive(call).await, 7);
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        assert_eq!(d.gate.state.load(Ordering::Relaxed), IDLE);
    }

    /// Counts the wake-ups that reach the task.
    #[derive(Default)]
    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A future that wakes itself during its poll is polled again at once, and the task is
    /// not woken; one that wakes itself forever gets MAX_REPOLLS polls, then the task is woken
    /// (it yields).
    #[test]
    fn self_wakes_are_absorbed_up_to_the_bound() {
        let task = Arc::new(Counter::default());
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);

        let mut polls = 0u32;
        let once = absorb_self_wakes(std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 2 {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        let mut once = std::pin::pin!(once);
        assert!(once.as_mut().poll(&mut cx).is_ready());
        assert_eq!(task.0.load(Ordering::Relaxed), 0);

        let spins = AtomicU32::new(0);
        {
            let forever = absorb_self_wakes(std::future::poll_fn(|cx| {
                spins.fetch_add(1, Ordering::Relaxed);
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            }));
            let mut forever = std::pin::pin!(forever);
            assert!(forever.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(spins.load(Ordering::Relaxed), MAX_REPOLLS);
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
    }

    /// A wake-up from outside the poll (the socket's readiness) reaches the task.
    #[test]
    fn a_wake_up_from_outside_reaches_the_task() {
        let task = Arc::new(Counter::default());
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let saved = std::sync::Mutex::new(None::<Waker>);
        {
            let fut = absorb_self_wakes(std::future::poll_fn(|cx| {
                *saved.lock().unwrap() = Some(cx.waker().clone());
                Poll::<()>::Pending
            }));
            let mut fut = std::pin::pin!(fut);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            assert_eq!(task.0.load(Ordering::Relaxed), 0);
        }
        let w = saved.lock().unwrap().take().expect("polled once");
        w.wake();
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
    }

    /// A connection that ends makes the call be polled again (it then fails promptly).
    #[tokio::test]
    async fn an_ended_connection_is_dropped_and_the_call_polled_again() {
        let conn: ConnectionFuture = Box::pin(async {});
        let mut d = Driver::new(conn);
        let mut polled = 0;
        let call = std::future::poll_fn(|_cx| {
            polled += 1;
            if polled == 2 {
                Poll::Ready("failed")
            } else {
                Poll::Pending
            }
        });
        assert_eq!(d.drive(call).await, "failed");
        assert!(d.conn.is_none());
    }
}

//! bench's own hot path on a query connection: Bind/Execute/Sync written straight to the
//! socket, and the reply scanned in place until ReadyForQuery.
//!
//! A query connection is opened by tokio-postgres ([`Target::connect_wire`]), which does the
//! startup, authentication, `SET`s, type look-ups and the plan counters. It is given a
//! [`SharedStream`], a handle on a socket that the [`Wire`] of the same connection uses as
//! well. Each measured execution goes through the wire:
//!
//! - one `write` of Bind, Execute and Sync;
//! - reads into one reused buffer (grown, up to 4 MiB, to take a long reply in one read);
//! - message headers scanned in place: data rows are skipped without being parsed,
//!   CommandComplete gives the row count, and ErrorResponse gives the SQLSTATE and message.
//!
//! Compared with tokio-postgres's `execute`, this has no request and response channels, no
//! per-message `Bytes` and no hand-over between the call and its connection. Those cost about
//! 2.5 µs of user CPU per `SELECT 1` and 40% of the query thread's CPU on a 1,440-row reply.
//!
//! The two users of the socket never overlap: tokio-postgres's connection is polled only during
//! the runner's tokio-postgres calls, and the wire only runs between them, always reading its
//! reply up to ReadyForQuery. A wire call dropped half-way (a cancelled phase) leaves the wire
//! marked broken, and the runner then opens a new connection.

mod coalesce;
mod scan;
mod socket;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::types::{IsNull, ToSql, Type};

pub use coalesce::{coalesced, Coalesced};
use coalesce::{Armed, Coalescer};
use scan::{Reading, Reply};
pub use socket::{cancel, open_socket, Addr, SharedStream};

/// Why a wire call failed.
#[derive(Debug)]
pub enum WireError {
    /// The server answered with an ErrorResponse; the connection is still usable.
    Db { code: String, message: String },
    /// A parameter could not be encoded for its type; nothing was sent.
    Encode(String),
    /// The socket failed or closed, or the reply made no sense; the wire is broken.
    Broken(String),
    /// A blocking call saw its cancellation token (the wire is broken: the reply is unread).
    Cancelled,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Db { code, message } => write!(f, "{message} (SQLSTATE {code})"),
            WireError::Encode(e) => write!(f, "cannot encode a parameter: {e}"),
            WireError::Broken(e) => write!(f, "connection lost: {e}"),
            WireError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for WireError {}

/// A statement prepared on the wire, under bench's own name.
#[derive(Debug, Clone)]
pub struct WireStatement {
    /// Its number on this wire.
    id: usize,
    name: String,
    params: Vec<Type>,
}

/// The smallest read buffer; a message larger than it (a long error text) grows it.
const READ_BUF: usize = 64 * 1024;

/// The hot path of one connection (see the module comment).
pub struct Wire {
    stream: SharedStream,
    addr: Addr,
    out: BytesMut,
    buf: Vec<u8>,
    /// Set while a call is between its write and its ReadyForQuery, and left set when the call
    /// failed on the socket or was dropped: the wire's position in the stream is then unknown.
    broken: bool,
    /// The socket is in blocking mode ([`Wire::set_blocking`]).
    blocking: bool,
    prepared: usize,
    /// Long replies read with few wake-ups (TCP only; see [`coalesce`]).
    coalesce: Option<Coalescer>,
}

/// A measured execution's outcome.
#[derive(Debug, Clone, Copy)]
pub struct Executed {
    /// The row count of its CommandComplete (else the data rows seen).
    pub rows: u64,
    /// When the reply's last byte reached the socket, if the wire read it later than that on
    /// purpose (see [`coalesce`]): the execution ends then, not when the wire read it.
    pub arrived: Option<Instant>,
}

impl Wire {
    pub fn new(stream: SharedStream, addr: Addr) -> Wire {
        let coalesce = if stream.is_tcp() {
            Coalescer::for_tcp(stream.raw_fd())
        } else {
            None
        };
        Wire {
            coalesce,
            stream,
            addr,
            out: BytesMut::with_capacity(256),
            buf: vec![0; READ_BUF],
            broken: false,
            blocking: false,
            prepared: 0,
        }
    }

    /// Where the socket goes (see [`cancel`]).
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// The socket is in an unknown state (a call failed on it or was abandoned).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Prepare `sql` under a name of bench's with the parameter types `params` (as
    /// tokio-postgres resolved them).
    pub async fn prepare(
        &mut self,
        sql: &str,
        params: &[Type],
    ) -> Result<WireStatement, WireError> {
        let id = self.prepared;
        let name = format!("esp_bench_{id}");
        self.prepared += 1;
        self.out.clear();
        frontend::parse(&name, sql, params.iter().map(Type::oid), &mut self.out)
            .map_err(|e| WireError::Encode(e.to_string()))?;
        frontend::sync(&mut self.out);
        self.round_trip(None).await?;
        Ok(WireStatement {
            id,
            name,
            params: params.to_vec(),
        })
    }

    /// Run `stmt` with `params` (binary, as tokio-postgres binds them; binary results). A
    /// statement whose replies have been long is read with few wake-ups ([`coalesce`]).
    pub async fn execute(
        &mut self,
        stmt: &WireStatement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Executed, WireError> {
        self.encode_execute(stmt, params)?;
        let key = self
            .coalesce
            .as_ref()
            .map(|_| Coalescer::key(stmt.id, &self.out));
        let armed = key.and_then(|k| self.coalesce.as_ref()?.plan(stmt.id, k));
        let trip = self.round_trip(armed).await?;
        if let (Some(c), Some(key)) = (self.coalesce.as_mut(), key) {
            let end = trip.arrived.unwrap_or(trip.read);
            c.saw(
                stmt.id,
                key,
                trip.bytes,
                end.saturating_duration_since(trip.sent),
            );
        }
        Ok(Executed {
            rows: trip.reply.tag_rows.unwrap_or(trip.reply.data_rows),
            arrived: trip.arrived,
        })
    }

    /// [`Wire::execute`] with blocking system calls, on a socket in blocking mode (see
    /// [`Wire::set_blocking`]): one `send` and, for a short reply, one `recv`, with no runtime
    /// in between. It blocks the calling thread until the reply is in, so it is for a thread
    /// whose only client this is. Every [`BLOCKING_TICK`] without a byte it checks `cancel`,
    /// and returns [`WireError::Cancelled`] (the wire is then broken).
    pub fn execute_blocking(
        &mut self,
        stmt: &WireStatement,
        params: &[&(dyn ToSql + Sync)],
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Executed, WireError> {
        if !self.blocking {
            return Err(WireError::Broken(
                "the socket is not in blocking mode".into(),
            ));
        }
        self.encode_execute(stmt, params)?;
        self.start()?;
        let fd = self.stream.raw_fd();
        let mut written = 0;
        while written < self.out.len() {
            match nix::sys::socket::send(
                fd,
                &self.out[written..],
                nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(0) => return Err(WireError::Broken("the socket took no bytes".into())),
                Ok(n) => written += n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) if cancel.is_cancelled() => {
                    return Err(WireError::Cancelled)
                }
                Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(WireError::Broken(e.desc().to_string())),
            }
        }
        let mut reading = Reading::default();
        loop {
            reading.make_room(&mut self.buf);
            let n = match nix::sys::socket::recv(
                fd,
                &mut self.buf[reading.kept..],
                nix::sys::socket::MsgFlags::empty(),
            ) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                // SO_RCVTIMEO expired: nothing yet.
                Err(nix::errno::Errno::EAGAIN) => {
                    if cancel.is_cancelled() {
                        return Err(WireError::Cancelled);
                    }
                    continue;
                }
                Err(e) => return Err(WireError::Broken(e.desc().to_string())),
            };
            if let Some(reply) = reading.took(&mut self.buf, n)? {
                self.broken = false;
                let reply = reply?;
                return Ok(Executed {
                    rows: reply.tag_rows.unwrap_or(reply.data_rows),
                    arrived: None,
                });
            }
        }
    }

    /// Put the socket in blocking mode for [`Wire::execute_blocking`] (`true`, with a receive
    /// and send timeout of [`BLOCKING_TICK`]) or back in the non-blocking mode that
    /// tokio-postgres and [`Wire::execute`] need (`false`).
    pub fn set_blocking(&mut self, on: bool) -> Result<(), WireError> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        use nix::sys::socket::{setsockopt, sockopt};
        let fail =
            |e: nix::errno::Errno| WireError::Broken(format!("switching modes: {}", e.desc()));
        let fd = self.stream.raw_fd();
        let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).map_err(fail)?);
        let mut next = flags;
        next.set(OFlag::O_NONBLOCK, !on);
        if next != flags {
            fcntl(fd, FcntlArg::F_SETFL(next)).map_err(fail)?;
        }
        if on {
            let tick = nix::sys::time::TimeVal::new(0, BLOCKING_TICK.as_micros() as i64);
            self.stream
                .with_fd(|fd| {
                    setsockopt(&fd, sockopt::ReceiveTimeout, &tick)?;
                    setsockopt(&fd, sockopt::SendTimeout, &tick)
                })
                .map_err(fail)?;
        }
        self.blocking = on;
        Ok(())
    }

    /// The socket is in blocking mode.
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }

    /// Encode Bind/Execute/Sync of `stmt` with `params` into `self.out`.
    fn encode_execute(
        &mut self,
        stmt: &WireStatement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), WireError> {
        if params.len() != stmt.params.len() {
            return Err(WireError::Encode(format!(
                "the statement takes {} parameters, {} were given",
                stmt.params.len(),
                params.len()
            )));
        }
        self.out.clear();
        let formats: Vec<i16> = params
            .iter()
            .zip(&stmt.params)
            .map(|(p, ty)| p.encode_format(ty) as i16)
            .collect();
        let mut failed_at = 0;
        let bound = frontend::bind(
            "",
            &stmt.name,
            formats,
            params.iter().zip(&stmt.params).enumerate(),
            |(i, (p, ty)), buf| match p.to_sql_checked(ty, buf) {
                Ok(IsNull::No) => Ok(postgres_protocol::IsNull::No),
                Ok(IsNull::Yes) => Ok(postgres_protocol::IsNull::Yes),
                Err(e) => {
                    failed_at = i;
                    Err(e)
                }
            },
            Some(1),
            &mut self.out,
        );
        match bound {
            Ok(()) => {}
            Err(frontend::BindError::Conversion(e)) => {
                return Err(WireError::Encode(format!(
                    "parameter ${}: {e}",
                    failed_at + 1
                )))
            }
            Err(frontend::BindError::Serialization(e)) => {
                return Err(WireError::Encode(e.to_string()))
            }
        }
        frontend::execute("", 0, &mut self.out).map_err(|e| WireError::Encode(e.to_string()))?;
        frontend::sync(&mut self.out);
        Ok(())
    }

    /// Mark the wire busy until a ReadyForQuery clears it; refuse when an earlier call did not
    /// finish.
    fn start(&mut self) -> Result<(), WireError> {
        if self.broken {
            return Err(WireError::Broken("an earlier call did not finish".into()));
        }
        self.broken = true;
        Ok(())
    }

    /// Write `self.out`, then read and scan the reply up to ReadyForQuery: with `armed`, its
    /// first wake-up waits for the mark, or for the statement's patience to run out.
    async fn round_trip(&mut self, armed: Option<Armed>) -> Result<Trip, WireError> {
        self.start()?;
        let fd = self.stream.raw_fd();
        let broken = |e: std::io::Error| WireError::Broken(e.to_string());
        let armed = armed.filter(|_| self.coalesce.is_some());
        if let (Some(a), Some(c)) = (armed, self.coalesce.as_mut()) {
            // Before the write, so that the reply's first bytes do not wake the wire.
            c.set(fd, Coalescer::want(armed, 0)).map_err(broken)?;
            let size = Coalescer::buffer_for(a);
            if self.buf.len() < size {
                self.buf.resize(size, 0);
            }
        }
        let sent = Instant::now();
        let mut written = 0;
        while written < self.out.len() {
            let n = std::future::poll_fn(|cx| {
                let mut s = self.stream.clone();
                Pin::new(&mut s).poll_write(cx, &self.out[written..])
            })
            .await
            .map_err(broken)?;
            if n == 0 {
                return Err(WireError::Broken("the socket took no bytes".into()));
            }
            written += n;
        }
        // Only an armed reply has a timer (none on the path of a short reply).
        let timer = armed.map(|a| tokio::time::sleep_until((sent + a.patience).into()));
        let mut timer = std::pin::pin!(timer);
        let mut reading = Reading::default();
        let mut bytes = 0;
        // The patience ran out: the rest is read as it comes, with receive timestamps.
        let mut late = false;
        loop {
            let want = if late {
                1
            } else {
                Coalescer::want(armed, bytes)
            };
            if let Some(c) = self.coalesce.as_mut() {
                c.set(fd, want).map_err(broken)?;
            }
            reading.make_room(&mut self.buf);
            let into = &mut self.buf[reading.kept..];
            let (n, arrived) = if let Some(t) = timer.as_mut().as_pin_mut().filter(|_| want > 1) {
                tokio::select! {
                    biased;
                    r = read_some(&self.stream, into) => (r.map_err(broken)?, None),
                    _ = t => {
                        late = true;
                        continue;
                    }
                }
            } else if late {
                std::future::poll_fn(|cx| self.stream.poll_recv_stamped(cx, into))
                    .await
                    .map_err(broken)?
            } else {
                (read_some(&self.stream, into).await.map_err(broken)?, None)
            };
            let read = Instant::now();
            bytes += n;
            if let Some(reply) = reading.took(&mut self.buf, n)? {
                // A reply that came in whole before the mark leaves it set.
                if let Some(c) = self.coalesce.as_mut() {
                    c.set(fd, 1).map_err(broken)?;
                }
                self.broken = false;
                if armed.is_some() {
                    coalesce::count(late, arrived.is_some());
                }
                return Ok(Trip {
                    reply: reply?,
                    bytes,
                    sent,
                    read,
                    arrived: arrived.filter(|_| late).map(|a| a.min(read)),
                });
            }
        }
    }
}

/// One read of whatever the socket has.
async fn read_some(stream: &SharedStream, into: &mut [u8]) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut s = stream.clone();
        let mut rb = ReadBuf::new(into);
        match Pin::new(&mut s).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// A round trip's reply, its length, and its moments.
struct Trip {
    reply: Reply,
    bytes: usize,
    /// Just before the write.
    sent: Instant,
    /// When the wire read the reply's last bytes.
    read: Instant,
    /// When they reached the socket, if the wire read them late on purpose.
    arrived: Option<Instant>,
}

/// How long a blocking call waits for the socket before it looks at its cancellation token.
pub const BLOCKING_TICK: std::time::Duration = std::time::Duration::from_millis(50);

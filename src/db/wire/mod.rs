//! bench's own hot path on a query connection: Bind/Execute/Sync written straight to the
//! socket, and the reply scanned in place until ReadyForQuery.
//!
//! A query connection is opened by tokio-postgres ([`Target::connect_wire`]), which does the
//! startup, authentication, `SET`s, type look-ups and the plan counters. It is given a
//! [`SharedStream`], a handle on a socket that the [`Wire`] of the same connection uses as
//! well. Each measured execution goes through the wire:
//!
//! - one `write` of Bind, Execute and Sync;
//! - reads into one reused buffer;
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

mod scan;
mod socket;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::types::{IsNull, ToSql, Type};

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
}

impl Wire {
    pub fn new(stream: SharedStream, addr: Addr) -> Wire {
        Wire {
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
        let name = format!("esp_bench_{}", self.prepared);
        self.prepared += 1;
        self.out.clear();
        frontend::parse(&name, sql, params.iter().map(Type::oid), &mut self.out)
            .map_err(|e| WireError::Encode(e.to_string()))?;
        frontend::sync(&mut self.out);
        self.round_trip().await?;
        Ok(WireStatement {
            name,
            params: params.to_vec(),
        })
    }

    /// Run `stmt` with `params` (binary, as tokio-postgres binds them; binary results) and
    /// return the row count of its CommandComplete (else the data rows seen).
    pub async fn execute(
        &mut self,
        stmt: &WireStatement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, WireError> {
        self.encode_execute(stmt, params)?;
        let reply = self.round_trip().await?;
        Ok(reply.tag_rows.unwrap_or(reply.data_rows))
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
    ) -> Result<u64, WireError> {
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
                return Ok(reply.tag_rows.unwrap_or(reply.data_rows));
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

    /// Write `self.out`, then read and scan the reply up to ReadyForQuery.
    async fn round_trip(&mut self) -> Result<Reply, WireError> {
        self.start()?;
        let mut written = 0;
        while written < self.out.len() {
            let n = std::future::poll_fn(|cx| {
                let mut s = self.stream.clone();
                Pin::new(&mut s).poll_write(cx, &self.out[written..])
            })
            .await
            .map_err(|e| WireError::Broken(e.to_string()))?;
            if n == 0 {
                return Err(WireError::Broken("the socket took no bytes".into()));
            }
            written += n;
        }
        let mut reading = Reading::default();
        loop {
            reading.make_room(&mut self.buf);
            let kept = reading.kept;
            let n = std::future::poll_fn(|cx| {
                let mut s = self.stream.clone();
                let mut rb = ReadBuf::new(&mut self.buf[kept..]);
                match Pin::new(&mut s).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
            .map_err(|e| WireError::Broken(e.to_string()))?;
            if let Some(reply) = reading.took(&mut self.buf, n)? {
                self.broken = false;
                return reply;
            }
        }
    }
}

/// How long a blocking call waits for the socket before it looks at its cancellation token.
pub const BLOCKING_TICK: std::time::Duration = std::time::Duration::from_millis(50);

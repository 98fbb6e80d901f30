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

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::types::{IsNull, ToSql, Type};

/// The socket of one connection.
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A socket shared by tokio-postgres's connection and the [`Wire`] (never at the same time; the
/// lock is uncontended and only makes the sharing sound).
#[derive(Clone)]
pub struct SharedStream(Arc<Mutex<Socket>>);

impl SharedStream {
    pub fn tcp(s: TcpStream) -> SharedStream {
        SharedStream(Arc::new(Mutex::new(Socket::Tcp(s))))
    }

    pub fn unix(s: UnixStream) -> SharedStream {
        SharedStream(Arc::new(Mutex::new(Socket::Unix(s))))
    }

    fn with<R>(&self, f: impl FnOnce(Pin<&mut dyn AsyncIo>) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *guard {
            Socket::Tcp(s) => f(Pin::new(s as &mut dyn AsyncIo)),
            Socket::Unix(s) => f(Pin::new(s as &mut dyn AsyncIo)),
        }
    }
}

trait AsyncIo: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> AsyncIo for T {}

impl AsyncRead for SharedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for SharedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|s| s.poll_shutdown(cx))
    }
}

/// Where a connection's socket goes: for the cancel request, which needs a socket of its own.
#[derive(Debug, Clone)]
pub enum Addr {
    Tcp(std::net::SocketAddr),
    Unix(std::path::PathBuf),
}

impl Addr {
    async fn connect(&self) -> io::Result<SharedStream> {
        match self {
            Addr::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                s.set_nodelay(true)?;
                Ok(SharedStream::tcp(s))
            }
            Addr::Unix(p) => Ok(SharedStream::unix(UnixStream::connect(p).await?)),
        }
    }
}

/// Open the socket `cfg` names: its hosts in order (with their ports), TCP with `TCP_NODELAY`
/// as tokio-postgres sets it, or a Unix socket in a directory; each within the connect
/// timeout.
pub async fn open_socket(cfg: &tokio_postgres::Config) -> io::Result<(SharedStream, Addr)> {
    use tokio_postgres::config::Host;
    let hosts = cfg.get_hosts();
    let ports = cfg.get_ports();
    let hostaddrs = cfg.get_hostaddrs();
    let timeout = cfg
        .get_connect_timeout()
        .copied()
        .unwrap_or(std::time::Duration::from_secs(10));
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "the URL names no host");
    for (i, host) in hosts.iter().enumerate() {
        let port = ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432);
        let attempt = async {
            match host {
                Host::Unix(dir) => {
                    let path = dir.join(format!(".s.PGSQL.{port}"));
                    let s = UnixStream::connect(&path).await?;
                    Ok((SharedStream::unix(s), Addr::Unix(path)))
                }
                Host::Tcp(name) => {
                    let addrs: Vec<std::net::SocketAddr> = match hostaddrs.get(i) {
                        Some(ip) => vec![std::net::SocketAddr::new(*ip, port)],
                        None => tokio::net::lookup_host((name.as_str(), port))
                            .await?
                            .collect(),
                    };
                    let mut err = io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{name} resolves to no address"),
                    );
                    for a in addrs {
                        match TcpStream::connect(a).await {
                            Ok(s) => {
                                s.set_nodelay(true)?;
                                return Ok((SharedStream::tcp(s), Addr::Tcp(a)));
                            }
                            Err(e) => err = e,
                        }
                    }
                    Err(err)
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(found)) => return Ok(found),
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no connection within {}",
                        humantime::format_duration(timeout)
                    ),
                )
            }
        }
    }
    Err(last)
}

/// Ask the server to cancel what `token`'s connection is running, over a socket of its own to
/// `addr` (best effort, within 2 s).
pub async fn cancel(token: &tokio_postgres::CancelToken, addr: &Addr) {
    let attempt = async {
        let s = addr.connect().await.ok()?;
        token.cancel_query_raw(s, tokio_postgres::NoTls).await.ok()
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), attempt).await;
}

/// Why a wire call failed.
#[derive(Debug)]
pub enum WireError {
    /// The server answered with an ErrorResponse; the connection is still usable.
    Db { code: String, message: String },
    /// A parameter could not be encoded for its type; nothing was sent.
    Encode(String),
    /// The socket failed or closed, or the reply made no sense; the wire is broken.
    Broken(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Db { code, message } => write!(f, "{message} (SQLSTATE {code})"),
            WireError::Encode(e) => write!(f, "cannot encode a parameter: {e}"),
            WireError::Broken(e) => write!(f, "connection lost: {e}"),
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
    prepared: usize,
}

/// What a reply came to.
#[derive(Debug, Default)]
struct Reply {
    /// Data rows seen.
    data_rows: u64,
    /// The row count of the last CommandComplete that carried one.
    tag_rows: Option<u64>,
    error: Option<(String, String)>,
}

impl Wire {
    pub fn new(stream: SharedStream, addr: Addr) -> Wire {
        Wire {
            stream,
            addr,
            out: BytesMut::with_capacity(256),
            buf: vec![0; READ_BUF],
            broken: false,
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
        let reply = self.round_trip().await?;
        Ok(reply.tag_rows.unwrap_or(reply.data_rows))
    }

    /// Write `self.out`, then read and scan the reply up to ReadyForQuery.
    async fn round_trip(&mut self) -> Result<Reply, WireError> {
        if self.broken {
            return Err(WireError::Broken("an earlier call did not finish".into()));
        }
        self.broken = true;
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
        let mut reply = Reply::default();
        let mut scan = Scanner::default();
        // Bytes of `buf` that hold an incomplete message, kept at its start.
        let mut kept = 0;
        loop {
            if kept == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
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
            if n == 0 {
                return Err(WireError::Broken("the server closed the connection".into()));
            }
            let end = kept + n;
            match scan.feed(&self.buf[..end], &mut reply)? {
                Fed::Ready => {
                    self.broken = false;
                    return match reply.error.take() {
                        Some((code, message)) => Err(WireError::Db { code, message }),
                        None => Ok(reply),
                    };
                }
                Fed::More { used } => {
                    self.buf.copy_within(used..end, 0);
                    kept = end - used;
                }
            }
        }
    }
}

/// Where a scan of the bytes read so far ended.
#[derive(Debug, PartialEq)]
enum Fed {
    /// ReadyForQuery was seen (anything after it is not ours: there is nothing after it).
    Ready,
    /// More bytes are needed; `used` bytes were consumed, the rest starts an incomplete message.
    More { used: usize },
}

/// Scans backend messages across reads, skipping data rows without looking inside them.
#[derive(Debug, Default)]
struct Scanner {
    /// Bytes of a data row's body still to skip (the row spans reads).
    skip: usize,
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8], reply: &mut Reply) -> Result<Fed, WireError> {
        let mut at = 0;
        loop {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len() - at);
                self.skip -= n;
                at += n;
                if self.skip > 0 {
                    return Ok(Fed::More { used: at });
                }
            }
            if bytes.len() - at < 5 {
                return Ok(Fed::More { used: at });
            }
            let tag = bytes[at];
            let len =
                u32::from_be_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]])
                    as usize;
            if len < 4 {
                return Err(WireError::Broken(format!(
                    "a message `{}` of length {len}",
                    tag as char
                )));
            }
            let body = len - 4;
            if tag == b'D' {
                reply.data_rows += 1;
                at += 5;
                self.skip = body;
                continue;
            }
            if bytes.len() - at - 5 < body {
                return Ok(Fed::More { used: at });
            }
            let content = &bytes[at + 5..at + 5 + body];
            at += 5 + body;
            match tag {
                b'C' => {
                    if let Some(n) = tag_rows(content) {
                        reply.tag_rows = Some(n);
                    }
                }
                b'E' => reply.error = Some(error_fields(content)),
                b'Z' => return Ok(Fed::Ready),
                // BindComplete, ParseComplete, notices, parameter status, notifications and
                // the like: nothing the count or the outcome depends on.
                _ => {}
            }
        }
    }
}

/// The row count at the end of a CommandComplete tag ("SELECT 1440", "INSERT 0 5").
fn tag_rows(content: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(content.strip_suffix(b"\0").unwrap_or(content)).ok()?;
    text.rsplit(' ').next()?.parse().ok()
}

/// The SQLSTATE and message of an ErrorResponse.
fn error_fields(content: &[u8]) -> (String, String) {
    let mut code = String::from("XX000");
    let mut message = String::new();
    let mut fields = content;
    while let Some((&kind, rest)) = fields.split_first() {
        if kind == 0 {
            break;
        }
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let value = String::from_utf8_lossy(&rest[..end]).into_owned();
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
        fields = rest.get(end + 1..).unwrap_or(&[]);
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn reply_bytes(rows: usize, row_len: usize) -> Vec<u8> {
        let mut v = msg(b'2', b"");
        for _ in 0..rows {
            v.extend(msg(b'D', &vec![7; row_len]));
        }
        v.extend(msg(b'C', format!("SELECT {rows}\0").as_bytes()));
        v.extend(msg(b'Z', b"I"));
        v
    }

    /// Feed `bytes` in pieces of `piece` bytes, keeping the unused tail as the wire does.
    fn scan_in_pieces(bytes: &[u8], piece: usize) -> Reply {
        let mut scan = Scanner::default();
        let mut reply = Reply::default();
        let mut pending: Vec<u8> = Vec::new();
        for chunk in bytes.chunks(piece) {
            pending.extend_from_slice(chunk);
            match scan.feed(&pending, &mut reply).unwrap() {
                Fed::Ready => return reply,
                Fed::More { used } => {
                    pending.drain(..used);
                }
            }
        }
        panic!("no ReadyForQuery in {} bytes", bytes.len());
    }

    #[test]
    fn a_reply_split_anywhere_gives_the_same_count() {
        let bytes = reply_bytes(1440, 97);
        for piece in [1, 2, 3, 5, 7, 64, 8192, bytes.len()] {
            let r = scan_in_pieces(&bytes, piece);
            assert_eq!(r.data_rows, 1440, "piece {piece}");
            assert_eq!(r.tag_rows, Some(1440), "piece {piece}");
            assert!(r.error.is_none());
        }
    }

    #[test]
    fn an_error_reply_gives_its_sqlstate_and_message() {
        let mut bytes = msg(
            b'E',
            b"SERROR\0VERROR\0C57014\0Mcanceling statement due to statement timeout\0\0",
        );
        bytes.extend(msg(b'Z', b"I"));
        let r = scan_in_pieces(&bytes, 3);
        assert_eq!(
            r.error,
            Some((
                "57014".to_string(),
                "canceling statement due to statement timeout".to_string()
            ))
        );
    }

    #[test]
    fn a_short_length_is_a_protocol_error_not_a_hang() {
        let mut scan = Scanner::default();
        let mut reply = Reply::default();
        let bad = [b'C', 0, 0, 0, 2, 0];
        assert!(matches!(
            scan.feed(&bad, &mut reply),
            Err(WireError::Broken(_))
        ));
    }

    #[test]
    fn tags_without_a_count_give_none() {
        assert_eq!(tag_rows(b"SELECT 12\0"), Some(12));
        assert_eq!(tag_rows(b"INSERT 0 5\0"), Some(5));
        assert_eq!(tag_rows(b"SET\0"), None);
    }
}

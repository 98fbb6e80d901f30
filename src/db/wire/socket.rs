//! The socket a query connection's tokio-postgres connection and its wire share, how it is
//! opened, and the cancel request sent over a socket of its own.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// The socket of one connection.
enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A socket shared by tokio-postgres's connection and the [`super::Wire`] (never at the same time; the
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

    pub(super) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*guard {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }

    pub(super) fn with_fd<R>(&self, f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R) -> R {
        use std::os::fd::AsFd;
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*guard {
            Socket::Tcp(s) => f(s.as_fd()),
            Socket::Unix(s) => f(s.as_fd()),
        }
    }

    /// The socket is TCP (not a Unix socket).
    pub(super) fn is_tcp(&self) -> bool {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        matches!(&*guard, Socket::Tcp(_))
    }

    /// Read into `buf` with the kernel's receive timestamp of the last byte read
    /// ([`super::coalesce::recv_stamped`]), when the socket is readable. TCP only: the wire
    /// arms no low-water mark on a Unix socket, so it never reads one late.
    pub(super) fn poll_recv_stamped(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, Option<std::time::Instant>)>> {
        use std::os::fd::AsRawFd;
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *guard {
            Socket::Tcp(s) => loop {
                match s.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
                let fd = s.as_raw_fd();
                match s.try_io(tokio::io::Interest::READABLE, || {
                    super::coalesce::recv_stamped(fd, buf)
                }) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return Poll::Ready(r),
                }
            },
            Socket::Unix(_) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "no receive timestamps on a Unix socket",
            ))),
        }
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
            let candidates: Vec<Addr> = match host {
                Host::Unix(dir) => vec![Addr::Unix(dir.join(format!(".s.PGSQL.{port}")))],
                Host::Tcp(name) => match hostaddrs.get(i) {
                    Some(ip) => vec![Addr::Tcp(std::net::SocketAddr::new(*ip, port))],
                    None => tokio::net::lookup_host((name.as_str(), port))
                        .await?
                        .map(Addr::Tcp)
                        .collect(),
                },
            };
            let mut err =
                io::Error::new(io::ErrorKind::NotFound, "the host resolves to no address");
            for addr in candidates {
                match addr.connect().await {
                    Ok(s) => return Ok((s, addr)),
                    Err(e) => err = e,
                }
            }
            Err(err)
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

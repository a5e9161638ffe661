//! The connection loop: hyper serving the poem endpoint, with the limits a server facing the
//! internet needs and poem's own loop lacks.
//!
//! - **Connections:** at most `max_connections` are served at once; past it, the next is not
//!   accepted until one closes (it waits in the kernel's listen queue), so file descriptors and
//!   memory stay bounded whatever a client opens.
//! - **Request heads:** a request's head (request line and headers) must arrive within
//!   `header_read_timeout` of its first byte, or the connection is closed (slow-header attacks).
//! - **Idle connections:** a connection with no request in progress and no traffic for
//!   `idle_timeout` is closed (silent connections, kept-alive connections nobody uses).
//! - **Bodies and handlers** run under the request timeout of the middleware (`problems.rs`).
//!
//! Graceful shutdown: on the signal, accepting stops, every connection finishes the requests it has
//! (answering `Connection: close`), and after [`DRAIN`] at the most the remaining ones are dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use poem::endpoint::BoxEndpoint;
use poem::{Addr, Endpoint, Request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// How long in-flight requests may take to finish after the shutdown signal.
pub const DRAIN: Duration = Duration::from_secs(30);

/// The connection-level limits (flags of `commerce serve`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// What a connection's watchdog reads: updated by the socket wrapper and by the service.
struct Activity {
    started: Instant,
    /// Milliseconds since `started` of the last byte read or written.
    last_io: AtomicU64,
    /// Milliseconds since `started` (plus one, so 0 means none) of the first byte of a request
    /// head not yet complete.
    head_started: AtomicU64,
    /// Requests whose head has arrived and whose response has not been fully sent.
    in_flight: AtomicUsize,
}

impl Activity {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn read(&self, bytes: usize) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if bytes > 0 && self.in_flight.load(Ordering::Acquire) == 0 {
            let _ = self.head_started.compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// When the watchdog must look again, or `None` when the connection must close now.
    fn next_check(&self, limits: &Limits) -> Option<Instant> {
        let now = self.now();
        let at = |ms: u64| self.started + Duration::from_millis(ms);
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // The request timeout bounds a request in progress.
            return Some(at(now) + limits.idle_timeout);
        }
        let head = self.head_started.load(Ordering::Acquire);
        let header_deadline = (head > 0).then(|| head - 1 + limits.header_read_timeout.as_millis() as u64);
        let idle_deadline = self.last_io.load(Ordering::Relaxed) + limits.idle_timeout.as_millis() as u64;
        let deadline = header_deadline.map_or(idle_deadline, |h| h.min(idle_deadline));
        (deadline > now).then(|| at(deadline))
    }
}

/// The socket, reporting its traffic to the watchdog.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.read(buf.filled().len() - before);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(_)) = polled {
            self.activity.last_io.store(self.activity.now(), Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A response body that tells the watchdog when the response is done (sent or dropped).
struct Tracked {
    inner: BoxBody<Bytes, std::io::Error>,
    activity: Arc<Activity>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.activity.last_io.store(self.activity.now(), Ordering::Relaxed);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `endpoint` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    shutdown: impl Future<Output = ()>,
    limits: Limits,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let endpoint = Arc::new(endpoint);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopped) = watch::channel(false);
    let live = Arc::new(AtomicUsize::new(0));
    let (done, mut all_done) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (socket, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin or stop serving.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        live.fetch_add(1, Ordering::AcqRel);
        let (endpoint, stopped, live, done) = (endpoint.clone(), stopped.clone(), live.clone(), done.clone());
        tokio::spawn(async move {
            connection(socket, local, peer, endpoint, stopped, limits).await;
            drop(permit);
            if live.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = done.send(());
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    if live.load(Ordering::Acquire) > 0 {
        let _ = tokio::time::timeout(DRAIN, async {
            while live.load(Ordering::Acquire) > 0 {
                if all_done.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
    }
    Ok(())
}

async fn connection(
    socket: tokio::net::TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    endpoint: Arc<BoxEndpoint<'static>>,
    mut stopped: watch::Receiver<bool>,
    limits: Limits,
) {
    let activity = Arc::new(Activity {
        started: Instant::now(),
        last_io: AtomicU64::new(0),
        head_started: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
    });
    let io = Watched { inner: socket, activity: activity.clone() };
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            activity.in_flight.fetch_add(1, Ordering::AcqRel);
            activity.head_started.store(0, Ordering::Release);
            let tracked_activity = activity.clone();
            let endpoint = endpoint.clone();
            async move {
                let req = Request::from((
                    req,
                    poem::web::LocalAddr(Addr::SocketAddr(local)),
                    poem::web::RemoteAddr(Addr::SocketAddr(peer)),
                    poem::http::uri::Scheme::HTTP,
                ));
                let response = endpoint.get_response(req).await;
                let response: hyper::Response<BoxBody<Bytes, std::io::Error>> = response.into();
                Ok::<_, std::convert::Infallible>(response.map(|inner| Tracked { inner, activity: tracked_activity }))
            }
        })
    };
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut draining = *stopped.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let Some(next_check) = activity.next_check(&limits) else {
            // A head too slow, or nothing at all for too long: drop the connection.
            return;
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            () = tokio::time::sleep_until(next_check) => {}
            changed = stopped.changed(), if !draining => {
                if changed.is_err() || *stopped.borrow() {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

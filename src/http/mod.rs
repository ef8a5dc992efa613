//! The HTTP server stack of the long-running faces of the engine — `serve` (the "may I?"
//! service) and `proxy` (the guarding RMS proxy): an axum [`Router`] on hyper, bounded by
//! tower / tower-http layers, with a graceful drain.
//!
//! [`start`] binds an address (`127.0.0.1:0` picks a free port: see [`Server::addr`]) and
//! serves a router within [`Limits`]:
//!
//! - a client has [`Limits::header_timeout`] to send a request's headers, counted from when
//!   it connects and, on a kept-alive connection, from the previous answer (hyper's
//!   `header_read_timeout`);
//! - a request body over [`Limits::max_body`] is answered 413 (tower-http's
//!   `RequestBodyLimitLayer`, and axum's `DefaultBodyLimit` set to the same figure);
//! - a request not answered within [`Limits::request_timeout`] is answered 408
//!   (tower-http's `TimeoutLayer`), and a body that stalls for [`Limits::body_timeout`]
//!   fails to read ([`StallTimeoutLayer`]: tower-http's `RequestBodyTimeoutLayer`, but with
//!   no timer armed for a body that is already there);
//! - at most [`Limits::max_in_flight`] requests are handled at once (tower's
//!   `ConcurrencyLimitLayer`: the others wait their turn), and at most
//!   [`Limits::max_connections`] connections are open (more wait in the listen backlog);
//! - [`Server::shutdown`] stops accepting, lets every connection finish and answer the
//!   request it is serving (hyper's graceful shutdown), all within
//!   [`Limits::drain_timeout`], and says whether everything drained ([`Stopped`]).
//!
//! The accept loop is hyper-util's connection builder driven by a tokio listener, as in
//! hyper's own examples; everything about a *request* is a layer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tower::limit::ConcurrencyLimitLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

mod body_timeout;
pub use body_timeout::{BodyStalled, StallTimeoutLayer};

/// How a server bounds its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send a request's headers, from connecting or from the previous answer.
    pub header_timeout: Duration,
    /// Time to answer a request, body read included: 408 after it.
    pub request_timeout: Duration,
    /// Time to send a request's body once its headers are in: a body that stalls longer
    /// fails to read (the request is refused and the connection closed).
    pub body_timeout: Duration,
    /// Largest request body: 413 above it.
    pub max_body: usize,
    /// Requests handled at once; more wait.
    pub max_in_flight: usize,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a stop waits for requests in flight.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            max_body: 16 << 20,
            max_in_flight: 256,
            max_connections: 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// What a stop left undone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open when the drain timeout expired (closed then).
    pub abandoned: usize,
}

/// How a face words the refusals the limit layers give on their own (413 over the body
/// limit, 408 past the request timeout): in its own answer shape, as its clients read
/// every other error (the service's `{"error": …}`, the proxy's RMS `MessageModelList`).
pub type Refusal = fn(axum::http::StatusCode, &str) -> axum::response::Response;

/// The layers' own words: the status with a plain-text reason.
pub fn plain_refusal(status: axum::http::StatusCode, message: &str) -> axum::response::Response {
    let mut response =
        axum::response::Response::new(axum::body::Body::from(format!("{message}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Puts the request limits of [`Limits`] around `router` as tower layers; their own
/// refusals are worded by `refusal`.
pub fn bounded(router: Router, limits: &Limits, refusal: Refusal) -> Router {
    router
        .layer(DefaultBodyLimit::max(limits.max_body))
        .layer(RequestBodyLimitLayer::new(limits.max_body))
        .layer(StallTimeoutLayer::new(limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response_with_state(
            refusal,
            reword_refusal,
        ))
        .layer(ConcurrencyLimitLayer::new(limits.max_in_flight.max(1)))
}

/// A 413 or 408 that is not JSON came from a limit layer (a face answers its own in
/// JSON): worded again by the face, its headers (`connection: close`) kept.
async fn reword_refusal(
    axum::extract::State(refusal): axum::extract::State<Refusal>,
    response: axum::response::Response,
) -> axum::response::Response {
    use axum::http::StatusCode;
    let status = response.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is over the size limit",
        StatusCode::REQUEST_TIMEOUT => "the request was not answered within the request timeout",
        _ => return response,
    };
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return response;
    }
    let mut worded = refusal(status, message);
    for (name, value) in response.headers() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            worded.headers_mut().insert(name.clone(), value.clone());
        }
    }
    worded
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Stopped>>,
}

/// Binds `addr` and serves `router` (with [`bounded`]'s layers) until
/// [`Server::shutdown`].
pub async fn start(addr: SocketAddr, router: Router, limits: Limits) -> std::io::Result<Server> {
    start_with(addr, router, limits, plain_refusal).await
}

/// [`start`], the limit layers' refusals worded by `refusal`.
pub async fn start_with(
    addr: SocketAddr,
    router: Router,
    limits: Limits,
    refusal: Refusal,
) -> std::io::Result<Server> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let router = bounded(router, &limits, refusal);
    let task = tokio::spawn(accept_loop(listener, router, limits, stopped));
    Ok(Server {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

impl Server {
    /// The bound address (the real port when `:0` was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets every connection answer the request it is serving (within the
    /// drain timeout), then closes what is left.
    pub async fn shutdown(mut self) -> Stopped {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => Stopped::default(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The first wait after an accept error that is not about one connection; it doubles up
/// to one second instead of spinning.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stopped: oneshot::Receiver<()>,
) -> Stopped {
    let slots = Arc::new(Semaphore::new(limits.max_connections.clamp(1, 65_536)));
    let open = Arc::new(AtomicUsize::new(0));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut backoff = Duration::ZERO;
    loop {
        let slot = tokio::select! {
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff = Duration::ZERO;
                    stream
                }
                Err(e) if is_connection_error(&e) => continue,
                Err(_) => {
                    backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_START, ACCEPT_BACKOFF_MAX);
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let open = open.clone();
        open.fetch_add(1, Ordering::SeqCst);
        connections.spawn(async move {
            let _slot = slot;
            let _ = connection.await;
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        graceful.shutdown().await;
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    let abandoned = if drained {
        0
    } else {
        open.load(Ordering::SeqCst)
    };
    connections.shutdown().await;
    Stopped { abandoned }
}

/// An accept error about one connection (not about the server).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}

//! The public port: hyper's HTTP/1.1 server with the limits a port open to
//! the internet needs, and the headers every answer carries.
//!
//! `axum::serve` has no timeouts and no connection cap: a client that sends
//! half a request holds a connection (and a file descriptor) for as long as
//! it likes, and five hundred such clients exhaust the process. Here:
//! - a request's headers must arrive within the read timeout (hyper's
//!   `header_read_timeout`, which also closes a connection left idle before
//!   its next request);
//! - its body must arrive, and its answer be ready, within the read timeout
//!   again ([`deadline`]: 408 and the connection closed);
//! - at most `max_connections` are open at once: further clients wait in
//!   the kernel's listen backlog, costing the process nothing, until one
//!   closes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a client has to send a request's headers, and then its body.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The read timeout (`FIRSTWEEK_WEB_READ_TIMEOUT_SECS`).
    pub read_timeout: Duration,
    /// Connections open at once (`FIRSTWEEK_WEB_MAX_CONNECTIONS`).
    pub max_connections: usize,
}

/// The headers on every answer, pages and errors alike, set here rather
/// than in a template an operator's override could drop:
/// - `Cache-Control: no-store`: pages behind a token stay out of shared
///   and browser caches;
/// - `Referrer-Policy: no-referrer`: a token in the URL never leaves in a
///   `Referer`;
/// - `Content-Security-Policy`: no scripts, nothing loaded from elsewhere,
///   forms post only here, and no framing (`frame-ancestors 'none'`: the
///   one-click buttons cannot be clickjacked). Inline styles are allowed:
///   the pages carry their stylesheet inline (and one `style` attribute),
///   and an operator's templates may too; styles run no code;
/// - `X-Content-Type-Options: nosniff`.
pub const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// Adds [`SECURITY_HEADERS`] to an answer, replacing any a handler set.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Bounds reading a request's body and answering it: a client that
/// trickles its body gets 408 and its connection is closed.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("firstweek_web_requests_timed_out_total").increment(1);
            let mut response = (
                StatusCode::REQUEST_TIMEOUT,
                "the request took too long to arrive\n",
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Serves `router` on `listener` until `shutdown`, within `limits`; then
/// finishes the requests in flight (idle connections close at once).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let stop = shutdown.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    }
    while connections.join_next().await.is_some() {}
}

//! What the endpoint answers: one function from a request to a reply, ready at once or,
//! for the debug routes, worked out in the background.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "profile")]
use super::debug::{self, DebugRoute};
use super::{document, health, SupervisorView};
use crate::export::prometheus::{encode, Format};
use crate::{MonitorFactory, Registry};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use vigil_monitor::Clock;

/// The response body: the whole text, built before the response starts.
pub(super) type Body = Full<Bytes>;

/// What every connection's service reads.
pub(super) struct Shared<F: MonitorFactory<C>, C: Clock> {
    pub(super) registry: Arc<Registry<F, C>>,
    pub(super) stuck_after: Duration,
    pub(super) supervisor: Option<Box<dyn SupervisorView>>,
    /// Set by [`Endpoint::profiler`](super::Endpoint::profiler): the debug routes exist.
    #[cfg(feature = "profile")]
    pub(super) profiler: Option<vigil_profile::Profiler>,
}

/// What a request gets.
pub(super) enum Reply {
    /// A response built at once: every route but the debug ones.
    Ready(Response<Body>),
    /// A debug route's response, worked out on a blocking thread (a profile records for
    /// seconds). It completes within [`SLOW_REPLY_LIMIT`](super::server::SLOW_REPLY_LIMIT);
    /// the connection is kept open until it does.
    // Built only by the debug routes (feature `profile`).
    #[cfg_attr(not(feature = "profile"), allow(dead_code))]
    Slow(SlowReply),
}

/// The future of a [`Reply::Slow`].
pub(super) type SlowReply = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

pub(super) const TEXT: &str = "text/plain; charset=utf-8";
pub(super) const JSON: &str = "application/json";

/// The reply to `request`. `HEAD` gets the same head as `GET` (hyper leaves the body out);
/// a request body is never read.
pub(super) fn respond<F, C, B>(shared: &Arc<Shared<F, C>>, request: &Request<B>) -> Reply
where
    F: MonitorFactory<C>,
    C: Clock,
{
    let route = match request.uri().path() {
        "/metrics" => Route::Metrics,
        "/health" => Route::Health,
        "/snapshot.json" => Route::Snapshot,
        other => match debug_route(shared, other) {
            Some(route) => route,
            None => return Reply::Ready(plain(StatusCode::NOT_FOUND, "not found\n".to_owned())),
        },
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Reply::Ready(response);
    }
    Reply::Ready(match route {
        Route::Metrics => {
            let accept = request
                .headers()
                .get(ACCEPT)
                .and_then(|value| value.to_str().ok());
            let format = Format::negotiate(accept);
            let text = encode(&shared.registry.metrics(), format);
            with_type(StatusCode::OK, format.content_type(), text)
        }
        Route::Health => {
            let report = health::check(
                &shared.registry.metrics(),
                shared.stuck_after,
                shared.supervisor.as_deref(),
            );
            let status = if report.is_healthy() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            plain(status, report.to_string())
        }
        Route::Snapshot => {
            let snapshot = shared.registry.metrics();
            let document = document::Document {
                snapshot: &snapshot,
                supervisor: shared
                    .supervisor
                    .as_deref()
                    .map(document::SupervisorSection::of),
            };
            match document::to_json(&document) {
                Ok(json) => with_type(StatusCode::OK, JSON, json),
                Err(error) => plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the snapshot did not serialize: {error}\n"),
                ),
            }
        }
        #[cfg(feature = "profile")]
        Route::Debug(route, profiler) => {
            return debug::respond(shared, profiler, route, request.uri().query());
        }
    })
}

/// The paths served.
enum Route {
    Metrics,
    Health,
    Snapshot,
    /// Only with a profiler.
    #[cfg(feature = "profile")]
    Debug(DebugRoute, vigil_profile::Profiler),
}

/// The debug route at `path`, if the endpoint has a profiler (else those paths are `404`).
#[cfg(feature = "profile")]
fn debug_route<F: MonitorFactory<C>, C: Clock>(shared: &Shared<F, C>, path: &str) -> Option<Route> {
    Some(Route::Debug(DebugRoute::of(path)?, shared.profiler?))
}

/// Without the `profile` feature there are no debug routes.
#[cfg(not(feature = "profile"))]
fn debug_route<F: MonitorFactory<C>, C: Clock>(_: &Shared<F, C>, _: &str) -> Option<Route> {
    None
}

pub(super) fn plain(status: StatusCode, text: String) -> Response<Body> {
    with_type(status, TEXT, text)
}

pub(super) fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Body> {
    bytes(status, content_type, body.into_bytes())
}

pub(super) fn bytes(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

//! What the endpoint answers: one function from a request to a reply, ready at once for
//! what costs nothing, or worked out on a blocking thread for what reads the registry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "profile")]
use super::debug::{self, DebugRoute};
use super::verdicts::{Baselines, VerdictEntry};
use super::{document, health, SupervisorView};
use crate::export::prometheus::{encode, Format};
use crate::{MonitorFactory, Registry};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;
use vigil_monitor::Clock;

/// The response body: the whole text, built before the response starts.
pub(super) type Body = Full<Bytes>;

/// What every connection's service reads.
pub(super) struct Shared<F: MonitorFactory<C>, C: Clock> {
    pub(super) registry: Arc<Registry<F, C>>,
    pub(super) stuck_after: Duration,
    pub(super) supervisor: Option<Box<dyn SupervisorView>>,
    /// Most entries of `instances` in `/snapshot.json`.
    pub(super) snapshot_instance_limit: usize,
    /// One permit: `/metrics` and `/snapshot.json` are built one at a time.
    pub(super) document_builds: Arc<Semaphore>,
    /// One permit: `/health` checks run one at a time, apart from the documents so that a
    /// queue of scrapes does not hold a health probe back.
    pub(super) health_checks: Arc<Semaphore>,
    /// Earlier snapshots of every route, the baselines of the verdicts.
    pub(super) baselines: Baselines,
    /// Set by [`Endpoint::profiler`](super::Endpoint::profiler): the debug routes exist.
    #[cfg(feature = "profile")]
    pub(super) profiler: Option<vigil_profile::Profiler>,
}

/// What a request gets.
pub(super) enum Reply {
    /// A response built at once: errors (`404`, `405`, `400`).
    Ready(Response<Body>),
    /// A response worked out on a blocking thread: every route that reads the registry (a
    /// snapshot of 100k instances takes milliseconds), and the debug routes (a profile
    /// records for seconds). It completes within
    /// [`SLOW_REPLY_LIMIT`](super::server::SLOW_REPLY_LIMIT); the connection is kept open
    /// until it does.
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
    match route {
        Route::Metrics => {
            let accept = request
                .headers()
                .get(ACCEPT)
                .and_then(|value| value.to_str().ok());
            let format = Format::negotiate(accept);
            let for_scrape = Arc::clone(shared);
            off_worker(&shared.document_builds, move || {
                let snapshot = for_scrape.registry.metrics();
                for_scrape.baselines.record(&snapshot);
                let text = encode(&snapshot, format);
                with_type(StatusCode::OK, format.content_type(), text)
            })
        }
        Route::Health => {
            let for_check = Arc::clone(shared);
            off_worker(&shared.health_checks, move || {
                let shared = for_check;
                let snapshot = shared.registry.metrics();
                let lagging = shared.baselines.verdicts(&snapshot);
                let report = health::check(
                    &snapshot,
                    shared.stuck_after,
                    shared.supervisor.as_deref(),
                    &lagging,
                );
                let status = if report.is_healthy() {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                plain(status, report.to_string())
            })
        }
        Route::Snapshot => {
            let for_build = Arc::clone(shared);
            off_worker(&shared.document_builds, move || snapshot(&for_build))
        }
        #[cfg(feature = "profile")]
        Route::Debug(route, profiler) => {
            debug::respond(shared, profiler, route, request.uri().query())
        }
    }
}

/// `/snapshot.json`: a fresh snapshot, at most [`Shared::snapshot_instance_limit`]
/// instances of it, the supervisor's section and the verdicts.
fn snapshot<F: MonitorFactory<C>, C: Clock>(shared: &Shared<F, C>) -> Response<Body> {
    let snapshot = shared.registry.metrics();
    let verdicts = shared.baselines.verdicts(&snapshot);
    let document = document::Document {
        snapshot: snapshot.limited_document(shared.snapshot_instance_limit),
        supervisor: shared
            .supervisor
            .as_deref()
            .map(document::SupervisorSection::of),
        verdicts: verdicts.iter().map(VerdictEntry::from).collect(),
    };
    match document::to_json(&document) {
        Ok(json) => with_type(StatusCode::OK, JSON, json),
        Err(error) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the snapshot did not serialize: {error}\n"),
        ),
    }
}

/// A reply that `build`s its response on one of tokio's blocking threads once `gate` lets
/// it, never on a runtime worker.
///
/// Why off the workers: a snapshot of 100k instances and its document take tens of
/// milliseconds of CPU, and a worker busy with them polls nothing else meanwhile; two
/// scrapes at once would stop a two-worker runtime. Why `spawn_blocking` rather than a
/// thread of our own: tokio keeps its blocking threads alive between scrapes (no thread
/// start per request), the endpoint needs no thread to stop when it is dropped, and the
/// debug routes already work there. Why a gate of one permit: it bounds what scrapes take
/// from the process to one core and one document in memory at a time however many clients
/// ask at once (they queue, in order), and the permit moves into the blocking closure so a
/// client that goes away does not let a second build start beside the first.
fn off_worker(
    gate: &Arc<Semaphore>,
    build: impl FnOnce() -> Response<Body> + Send + 'static,
) -> Reply {
    let gate = Arc::clone(gate);
    Reply::Slow(Box::pin(async move {
        // The semaphore is never closed.
        let Ok(permit) = gate.acquire_owned().await else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the endpoint is shutting down\n".to_owned(),
            );
        };
        let built = tokio::task::spawn_blocking(move || {
            let response = build();
            drop(permit);
            response
        })
        .await;
        built.unwrap_or_else(|_| {
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "building the reply panicked\n".to_owned(),
            )
        })
    }))
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

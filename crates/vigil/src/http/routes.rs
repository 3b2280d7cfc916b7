//! What the endpoint answers: one function from a request to a response.

use std::sync::Arc;
use std::time::Duration;

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
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// The response to `request`. `HEAD` gets the same head as `GET` (hyper leaves the body
/// out); a request body is never read.
pub(super) fn respond<F, C, B>(shared: &Shared<F, C>, request: &Request<B>) -> Response<Body>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    let route = match request.uri().path() {
        "/metrics" => Route::Metrics,
        "/health" => Route::Health,
        "/snapshot.json" => Route::Snapshot,
        _ => return plain(StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match route {
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
    }
}

/// The paths served.
enum Route {
    Metrics,
    Health,
    Snapshot,
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    with_type(status, TEXT, text)
}

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

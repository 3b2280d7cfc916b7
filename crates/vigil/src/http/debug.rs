//! The debug routes of [`Endpoint::profiler`](super::Endpoint::profiler): stuck stacks, CPU
//! profiles (pprof, folded) and flamegraphs, each worked out on a blocking thread.

use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderValue, CONTENT_DISPOSITION};
use hyper::StatusCode;
use vigil_monitor::Clock;
use vigil_profile::{Profile, ProfileError, Profiler, MAX_PROFILE_DURATION};

use super::routes::{self, Body, Reply, Shared};
use super::server::SLOW_REPLY_LIMIT;
use super::stacks;
use crate::MonitorFactory;

/// Length of a profile when the query names none: 30 s, as Go's `net/http/pprof`.
const DEFAULT_PROFILE_SECONDS: u64 = 30;

/// Time a debug reply may take besides the profile itself: symbols are resolved after the
/// recording (the first time, the binary's debug information is loaded).
const RESOLVE_MARGIN: Duration = Duration::from_secs(10);

// A profile of the longest duration, resolved, must fit in the time a connection keeps a
// debug reply alive; else the server would cut the responses it promises.
const _: () = assert!(
    MAX_PROFILE_DURATION.as_secs() + RESOLVE_MARGIN.as_secs() <= SLOW_REPLY_LIMIT.as_secs()
);

const OCTET_STREAM: &str = "application/octet-stream";
#[cfg(feature = "flamegraph")]
const SVG: &str = "image/svg+xml";

/// The debug paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DebugRoute {
    /// `/debug/stacks`
    Stacks,
    /// `/debug/pprof/profile`
    Pprof,
    /// `/debug/pprof/folded`
    Folded,
    /// `/debug/flamegraph.svg`
    #[cfg(feature = "flamegraph")]
    Flamegraph,
}

impl DebugRoute {
    /// The route at `path`, if it is a debug one.
    pub(super) fn of(path: &str) -> Option<Self> {
        match path {
            "/debug/stacks" => Some(Self::Stacks),
            "/debug/pprof/profile" => Some(Self::Pprof),
            "/debug/pprof/folded" => Some(Self::Folded),
            #[cfg(feature = "flamegraph")]
            "/debug/flamegraph.svg" => Some(Self::Flamegraph),
            _ => None,
        }
    }
}

/// The reply to a debug `route` with `query`: `400` at once for a query it cannot take,
/// else a slow reply that works on a blocking thread (`spawn_blocking`), so the connection's
/// task and the runtime's workers stay free while a profile records.
pub(super) fn respond<F, C>(
    shared: &Arc<Shared<F, C>>,
    profiler: Profiler,
    route: DebugRoute,
    query: Option<&str>,
) -> Reply
where
    F: MonitorFactory<C>,
    C: Clock,
{
    let request = match DebugRequest::parse(route, query) {
        Ok(request) => request,
        Err(reason) => return Reply::Ready(routes::plain(StatusCode::BAD_REQUEST, reason)),
    };
    match request {
        DebugRequest::Stacks { json } => {
            let registry = Arc::clone(&shared.registry);
            let stuck_after = shared.stuck_after;
            Reply::Slow(Box::pin(async move {
                let stuck =
                    tokio::task::spawn_blocking(move || profiler.stuck(&registry, stuck_after))
                        .await;
                let Ok(stuck) = stuck else {
                    return panicked("capturing the stacks");
                };
                if !json {
                    return routes::plain(StatusCode::OK, stacks::text(&stuck, stuck_after));
                }
                match stacks::json(&stuck, stuck_after) {
                    Ok(json) => routes::with_type(StatusCode::OK, routes::JSON, json),
                    Err(error) => routes::plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("the stacks did not serialize: {error}\n"),
                    ),
                }
            }))
        }
        DebugRequest::Profile { duration, output } => Reply::Slow(Box::pin(async move {
            // Rendered on the blocking thread too: gzip and SVG take a moment.
            let recorded = tokio::task::spawn_blocking(move || {
                let profile = profiler.profile(duration)?;
                output.render(&profile)
            })
            .await;
            match recorded {
                Ok(Ok(response)) => response,
                Ok(Err(error)) => refused(&error),
                Err(_) => panicked("recording the profile"),
            }
        })),
    }
}

/// What a profile route answers with.
#[derive(Debug, PartialEq, Eq)]
enum Output {
    /// `/debug/pprof/profile`: gzipped `profile.proto`.
    Pprof,
    /// `/debug/pprof/folded`: flamegraph's folded text.
    Folded,
    /// `/debug/flamegraph.svg`, of one service or all.
    #[cfg(feature = "flamegraph")]
    Flamegraph { service: Option<String> },
}

impl Output {
    /// The answer for `profile`.
    fn render(&self, profile: &Profile) -> Result<hyper::Response<Body>, ProfileError> {
        Ok(match self {
            Self::Pprof => {
                let mut response = routes::bytes(StatusCode::OK, OCTET_STREAM, profile.to_pprof());
                // As Go's endpoint sends it: `curl -OJ` saves it under that name.
                response.headers_mut().insert(
                    CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"profile.pb.gz\""),
                );
                response
            }
            Self::Folded => routes::plain(StatusCode::OK, profile.folded()),
            #[cfg(feature = "flamegraph")]
            Self::Flamegraph { service } => routes::bytes(
                StatusCode::OK,
                SVG,
                profile.flamegraph_svg(service.as_deref())?,
            ),
        })
    }
}

/// Why a profile was not recorded, as a status and a line of text.
fn refused(error: &ProfileError) -> hyper::Response<Body> {
    let status = match error {
        ProfileError::Busy => StatusCode::CONFLICT,
        ProfileError::Unsupported => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    routes::plain(status, format!("{error}\n"))
}

/// A blocking task that panicked (a bug in the profiler): say so rather than drop the
/// connection.
fn panicked(what: &str) -> hyper::Response<Body> {
    routes::plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} panicked\n"),
    )
}

/// A debug request: its route and what its query string asks for.
#[derive(Debug, PartialEq, Eq)]
enum DebugRequest {
    /// `/debug/stacks[?format=text|json]`
    Stacks { json: bool },
    /// A profile route with `?seconds=N` (1..=60, default 30) and, for the flamegraph,
    /// `&service=NAME`.
    Profile { duration: Duration, output: Output },
}

impl DebugRequest {
    /// Parses `query` (`application/x-www-form-urlencoded`) for `route`. Unknown keys are
    /// ignored, as Go's pprof endpoint does; a key given twice is an error.
    fn parse(route: DebugRoute, query: Option<&str>) -> Result<Self, String> {
        let pairs: Vec<_> = form_urlencoded::parse(query.unwrap_or("").as_bytes()).collect();
        let value = |wanted: &str| -> Result<Option<&str>, String> {
            let mut values = pairs
                .iter()
                .filter(|(key, _)| key == wanted)
                .map(|(_, value)| value.as_ref());
            let first = values.next();
            match values.next() {
                Some(_) => Err(format!("`{wanted}` is given more than once\n")),
                None => Ok(first),
            }
        };
        let output = match route {
            DebugRoute::Stacks => {
                return match value("format")? {
                    None | Some("text") => Ok(Self::Stacks { json: false }),
                    Some("json") => Ok(Self::Stacks { json: true }),
                    Some(other) => Err(format!("format `{other}` is neither `text` nor `json`\n")),
                };
            }
            DebugRoute::Pprof => Output::Pprof,
            DebugRoute::Folded => Output::Folded,
            #[cfg(feature = "flamegraph")]
            DebugRoute::Flamegraph => Output::Flamegraph {
                service: value("service")?.map(str::to_owned),
            },
        };
        let seconds = match value("seconds")? {
            None => DEFAULT_PROFILE_SECONDS,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|seconds| (1..=MAX_PROFILE_DURATION.as_secs()).contains(seconds))
                .ok_or_else(|| {
                    format!(
                        "seconds `{text}` is not a whole number from 1 to {}\n",
                        MAX_PROFILE_DURATION.as_secs()
                    )
                })?,
        };
        Ok(Self::Profile {
            duration: Duration::from_secs(seconds),
            output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pprof(seconds: u64) -> DebugRequest {
        DebugRequest::Profile {
            duration: Duration::from_secs(seconds),
            output: Output::Pprof,
        }
    }

    #[test]
    fn seconds_default_to_30_and_must_be_1_to_60() {
        let parse = |query| DebugRequest::parse(DebugRoute::Pprof, query);
        assert_eq!(parse(None), Ok(pprof(30)));
        assert_eq!(parse(Some("seconds=1")), Ok(pprof(1)));
        assert_eq!(parse(Some("debug=1&seconds=60")), Ok(pprof(60)));
        assert_eq!(parse(Some("seconds=%36%30")), Ok(pprof(60)));
        for bad in [
            "seconds=0",
            "seconds=61",
            "seconds=abc",
            "seconds=",
            "seconds=-1",
        ] {
            assert!(parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(parse(Some("seconds=1&seconds=2")).is_err());
    }

    #[test]
    fn stacks_take_a_text_or_json_format() {
        let parse = |query| DebugRequest::parse(DebugRoute::Stacks, query);
        assert_eq!(parse(None), Ok(DebugRequest::Stacks { json: false }));
        assert_eq!(
            parse(Some("format=json")),
            Ok(DebugRequest::Stacks { json: true })
        );
        assert_eq!(
            parse(Some("seconds=abc&format=text")),
            Ok(DebugRequest::Stacks { json: false })
        );
        assert!(parse(Some("format=xml")).is_err());
    }

    #[cfg(feature = "flamegraph")]
    #[test]
    fn the_flamegraph_takes_a_service_name() {
        assert_eq!(
            DebugRequest::parse(
                DebugRoute::Flamegraph,
                Some("service=job%20queue&seconds=2")
            ),
            Ok(DebugRequest::Profile {
                duration: Duration::from_secs(2),
                output: Output::Flamegraph {
                    service: Some("job queue".to_owned()),
                },
            })
        );
        // Only the flamegraph keeps one service: the pprof route ignores the key.
        assert_eq!(
            DebugRequest::parse(DebugRoute::Pprof, Some("service=ingest")),
            Ok(pprof(30))
        );
    }
}

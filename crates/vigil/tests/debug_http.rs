//! The profiler's debug routes over real sockets: `/debug/stacks` (text and JSON), CPU
//! profiles as pprof and folded stacks, their errors, and their absence without a profiler.
#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

mod http_client;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prost::Message;
use vigil::http::Endpoint;
use vigil::profile::{pprof, Profiler};
use vigil::{Registry, ServiceObj};

use http_client::{exchange_within, get, loopback, multi_thread};

/// The endpoint's connection lifetime (documented in `vigil::http`).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(10);

/// One profile runs at a time in a process: the tests that record one take turns.
static PROFILES: Mutex<()> = Mutex::new(());

/// Stops the test's services when the test ends, also when it fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[inline(never)]
fn wait_for_the_legacy_lock(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[inline(never)]
fn hash_the_batch(stop: &AtomicBool) -> u64 {
    let mut hash = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for word in 0..512u64 {
            hash = hash.rotate_left(9) ^ word.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    hash
}

/// A registry with the profiler attached, a service blocked inside a poll (`blocked`) and one
/// spinning inside a poll (`spinning`), served with the profiler's routes.
struct Fixture {
    address: SocketAddr,
    // Dropped in this order: the server, then the services are told to stop, then their
    // runtimes shut down.
    _server: vigil::http::ServeHandle,
    _stop: StopOnDrop,
    _server_runtime: tokio::runtime::Runtime,
    _services_runtime: tokio::runtime::Runtime,
}

fn fixture(with_profiler: bool) -> Fixture {
    let profiler = Profiler::install().expect("the profiler installs");
    let registry = Arc::new(Registry::builder().monitor(profiler).build());
    // The two services hold both workers of their runtime for as long as the test runs.
    let runtime = multi_thread();
    let stop = Arc::new(AtomicBool::new(false));
    let blocked = Arc::clone(&stop);
    registry.start_in(
        runtime.handle(),
        ServiceObj::new("blocked", async move { wait_for_the_legacy_lock(&blocked) }),
    );
    let spinning = Arc::clone(&stop);
    registry.start_in(
        runtime.handle(),
        ServiceObj::new("spinning", async move {
            std::hint::black_box(hash_the_batch(&spinning));
        }),
    );
    let mut endpoint = Endpoint::new(Arc::clone(&registry)).stuck_after(Duration::from_millis(100));
    if with_profiler {
        endpoint = endpoint.profiler(profiler);
    }
    // The endpoint gets threads of its own: the fixture's two services hold both workers.
    let server_runtime = multi_thread();
    let server = endpoint
        .spawn(server_runtime.handle(), loopback())
        .expect("bind loopback");
    let address = server.local_addr();
    // Both are inside their long polls past the threshold.
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry
        .metrics()
        .iter()
        .filter(|(_, metrics)| {
            metrics
                .current_poll_duration
                .is_some_and(|in_poll| in_poll > Duration::from_millis(150))
        })
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the services never got stuck");
        std::thread::sleep(Duration::from_millis(10));
    }
    Fixture {
        address,
        _server: server,
        _stop: StopOnDrop(stop),
        _server_runtime: server_runtime,
        _services_runtime: runtime,
    }
}

/// A runtime for the client side: the fixture's workers are both held by its services.
fn client() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn stacks_name_each_stuck_service_and_where_it_is_in_text_and_json() {
    let fixture = fixture(true);
    client().block_on(async {
        let text = get(fixture.address, "/debug/stacks", "").await;
        assert_eq!(text.status_line, "HTTP/1.1 200 OK", "{text:?}");
        assert!(text.headers["content-type"].starts_with("text/plain"));
        assert!(
            text.body.contains("blocked#0 inside one poll for"),
            "{}",
            text.body
        );
        assert!(
            text.body.contains("wait_for_the_legacy_lock"),
            "{}",
            text.body
        );
        assert!(text.body.contains("nanosleep"), "{}", text.body);
        assert!(
            text.body.contains("spinning#0 inside one poll for"),
            "{}",
            text.body
        );
        assert!(text.body.contains("hash_the_batch"), "{}", text.body);

        let json = get(fixture.address, "/debug/stacks?format=json", "").await;
        assert_eq!(json.status_line, "HTTP/1.1 200 OK", "{json:?}");
        assert_eq!(json.headers["content-type"], "application/json");
        let document: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(document["stuck_after_ns"], 100_000_000);
        let stuck = document["stuck"].as_array().unwrap();
        let blocked = stuck
            .iter()
            .find(|entry| entry["id"] == "blocked#0")
            .unwrap();
        assert_eq!(blocked["name"], "blocked");
        assert_eq!(blocked["instance_id"], 0);
        assert!(blocked["in_poll_ns"].as_u64().unwrap() > 100_000_000);
        assert!(blocked["thread_id"].as_i64().unwrap() > 0);
        assert!(blocked["error"].is_null());
        let functions: Vec<&str> = blocked["frames"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|frame| frame["function"].as_str())
            .collect();
        assert!(
            functions
                .iter()
                .any(|f| f.contains("wait_for_the_legacy_lock")),
            "{functions:?}"
        );

        let bad = get(fixture.address, "/debug/stacks?format=xml", "").await;
        assert_eq!(bad.status_line, "HTTP/1.1 400 Bad Request", "{bad:?}");
    });
}

#[test]
fn a_pprof_profile_decodes_with_a_service_label_on_every_sample_and_one_runs_at_a_time() {
    let _turn = PROFILES.lock().unwrap_or_else(PoisonError::into_inner);
    let fixture = fixture(true);
    client().block_on(async {
        let address = fixture.address;
        let first =
            tokio::spawn(async move { get(address, "/debug/pprof/profile?seconds=2", "").await });
        // While it records, a second one is refused.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = get(address, "/debug/pprof/folded?seconds=1", "").await;
        assert_eq!(busy.status_line, "HTTP/1.1 409 Conflict", "{busy:?}");
        let response = first.await.unwrap();
        assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
        assert_eq!(response.headers["content-type"], "application/octet-stream");
        let mut encoded = Vec::new();
        flate2::read::GzDecoder::new(response.bytes.as_slice())
            .read_to_end(&mut encoded)
            .expect("a gzipped body");
        let profile = pprof::Profile::decode(encoded.as_slice()).expect("a profile.proto");
        let strings = &profile.string_table;
        let service_key = strings.iter().position(|s| s == "service").unwrap() as i64;
        let mut spinning = 0;
        for sample in &profile.sample {
            let label = sample
                .label
                .iter()
                .find(|label| label.key == service_key)
                .expect("a service label on every sample");
            if strings[label.str as usize] == "spinning" {
                spinning += sample.value[0];
            }
        }
        // 99 Hz of a thread's CPU time for 2 s: ~200 samples alone on a core, fewer while
        // the other tests' services share the machine's cores.
        assert!(spinning > 10, "{spinning} samples of the spinning service");

        let folded = get(address, "/debug/pprof/folded?seconds=1", "").await;
        assert_eq!(folded.status_line, "HTTP/1.1 200 OK", "{folded:?}");
        assert!(
            folded
                .body
                .lines()
                .any(|line| line.starts_with("spinning;") && line.contains("hash_the_batch")),
            "{}",
            folded.body
        );
    });
}

#[test]
fn a_profile_longer_than_the_connection_lifetime_is_answered_whole() {
    let _turn = PROFILES.lock().unwrap_or_else(PoisonError::into_inner);
    let fixture = fixture(true);
    let seconds = CONNECTION_LIFETIME.as_secs() + 2;
    let started = Instant::now();
    let response = client().block_on(exchange_within(
        fixture.address,
        format!(
            "GET /debug/pprof/folded?seconds={seconds} HTTP/1.1\r\nHost: localhost\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
        Duration::from_secs(seconds + 10),
    ));
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
    assert!(started.elapsed() >= Duration::from_secs(seconds));
    assert_eq!(
        response.headers["content-length"],
        response.bytes.len().to_string()
    );
    assert!(
        response
            .body
            .lines()
            .any(|line| line.starts_with("spinning;")),
        "{}",
        response.body
    );
}

#[test]
fn profile_queries_out_of_range_are_refused_at_once() {
    let fixture = fixture(true);
    client().block_on(async {
        for query in [
            "seconds=0",
            "seconds=61",
            "seconds=abc",
            "seconds=1&seconds=2",
        ] {
            let started = Instant::now();
            let response = get(
                fixture.address,
                &format!("/debug/pprof/profile?{query}"),
                "",
            )
            .await;
            assert_eq!(
                response.status_line, "HTTP/1.1 400 Bad Request",
                "{query}: {response:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(1), "{query} waited");
        }
    });
}

#[test]
fn without_a_profiler_the_debug_routes_do_not_exist() {
    let fixture = fixture(false);
    client().block_on(async {
        for path in [
            "/debug/stacks",
            "/debug/pprof/profile?seconds=1",
            "/debug/pprof/folded",
        ] {
            let response = get(fixture.address, path, "").await;
            assert_eq!(response.status_line, "HTTP/1.1 404 Not Found", "{path}");
        }
    });
}

#[cfg(feature = "flamegraph")]
#[test]
fn a_flamegraph_of_one_service() {
    let _turn = PROFILES.lock().unwrap_or_else(PoisonError::into_inner);
    let fixture = fixture(true);
    client().block_on(async {
        // On a loaded machine one second may catch the spinning service between polls only
        // (its function then absent from every sample): a few more profiles, not a longer
        // one, keep the test short when the machine is quiet.
        for attempt in 1..=5 {
            let response = get(
                fixture.address,
                "/debug/flamegraph.svg?seconds=1&service=spinning",
                "",
            )
            .await;
            assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
            assert_eq!(response.headers["content-type"], "image/svg+xml");
            assert!(response.body.contains("<svg"), "{response:?}");
            if response.body.contains("hash_the_batch") {
                return;
            }
            eprintln!("profile {attempt}: no sample inside hash_the_batch yet");
        }
        panic!("five 1 s profiles of a spinning service never sampled its function");
    });
}

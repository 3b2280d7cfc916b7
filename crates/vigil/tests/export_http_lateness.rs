//! `vigil::http` with 100k live instances: scrapes of `/metrics`, `/snapshot.json` and
//! `/health` over a real socket do not make a 1 ms-periodic service on the same runtime late
//! by more than 5 ms, because the endpoint builds its replies off the runtime's workers.
//!
//! Lateness is what a periodic service feels: the longest gap between two of its ticks,
//! minus its period, over a window of repeated scrapes. The same instrument, with the same
//! documents built on the runtime's workers instead, shows the stall the endpoint avoids;
//! the test prints both figures (`cargo test -p vigil --all-features --test
//! export_http_lateness -- --nocapture`).
//!
//! On a loaded machine (CI runs four builds on two cores) the operating system alone makes
//! a thread that sleeps 1 ms late by several milliseconds now and then. So the bound is
//! checked against that noise, measured during the same window by a canary: a plain thread
//! ticking with the same period, which no scrape can stall, only the machine. And a window
//! whose noise was unlucky is measured again, up to [`ATTEMPTS`] times: a stall of the
//! workers (a document built on one takes 20 ms in a release build, 150 ms in a debug
//! one) shows in every window, noise does not.

// The endpoint exists with feature `http` only; without it this file tests nothing.
#![cfg(feature = "http")]

mod http_client;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil::export::prometheus::{encode, Format};
use vigil::http::{Endpoint, DEFAULT_SNAPSHOT_INSTANCE_LIMIT};
use vigil::{Registry, ServiceObj};

use http_client::{get, loopback};

/// Idle instances the registry holds while it is scraped.
const INSTANCES: usize = 100_000;

/// The periodic service's period.
const PERIOD: Duration = Duration::from_millis(1);

/// The most a scrape may delay the periodic service (issue 18).
const LATENESS_BOUND: Duration = Duration::from_millis(5);

/// How long each measurement scrapes (or builds) without pause.
const WINDOW: Duration = Duration::from_millis(1_000);

/// Windows of scrapes measured before the bound is declared broken (see the module docs).
const ATTEMPTS: usize = 5;

/// Pause of each client between two scrapes: scrapes follow each other closely (a build
/// of 100k instances takes 10 to 150 ms), yet leave the machine's two cores some room, as
/// real clients do (Prometheus scrapes every 15 s, `vigil-top` every second).
const SCRAPE_PAUSE: Duration = Duration::from_millis(10);

/// Clients scraping at once: like a Prometheus server and a `vigil-top`. Two, so that
/// documents built on the workers would occupy both of them.
const SCRAPERS: usize = 2;

/// A periodic task's record: the longest gap between two consecutive ticks since the last
/// [`take`](Ticks::take), counting the gap still open when it is taken (a stall that lasts
/// past the end of a window is seen in that window).
struct Ticks {
    origin: Instant,
    /// Nanoseconds since `origin` of the last tick.
    last_tick_ns: AtomicU64,
    longest_gap_ns: AtomicU64,
    count: AtomicU64,
}

impl Ticks {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_tick_ns: AtomicU64::new(0),
            longest_gap_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Records a tick now.
    fn tick(&self) {
        let now = self.now_ns();
        let last = self.last_tick_ns.swap(now, Ordering::Relaxed);
        self.longest_gap_ns
            .fetch_max(now.saturating_sub(last), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The longest gap since the last call (the one still open included), minus the
    /// period: the worst lateness. Also the ticks seen meanwhile.
    fn take(&self) -> (Duration, u64) {
        let open = self
            .now_ns()
            .saturating_sub(self.last_tick_ns.load(Ordering::Relaxed));
        let closed = self.longest_gap_ns.swap(0, Ordering::Relaxed);
        (
            Duration::from_nanos(closed.max(open)).saturating_sub(PERIOD),
            self.count.swap(0, Ordering::Relaxed),
        )
    }
}

/// A plain thread that ticks every [`PERIOD`] until `stop`, recording its gaps in `ticks`:
/// what the machine alone does to a periodic thread.
fn canary(ticks: Arc<Ticks>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        ticks.tick();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(PERIOD);
            ticks.tick();
        }
    })
}

/// A service that ticks every [`PERIOD`] (tokio's `interval`, which catches up on missed
/// ticks at once, so one stall shows as one long gap) and records its gaps.
async fn periodic(ticks: Arc<Ticks>) {
    let mut interval = tokio::time::interval(PERIOD);
    loop {
        interval.tick().await;
        ticks.tick();
    }
}

/// The routes scraped in turn.
const ROUTES: [&str; 3] = ["/snapshot.json", "/metrics", "/health"];

/// Scrapes `address` from [`SCRAPERS`] clients at once for [`WINDOW`], and until each
/// client has scraped every route (on a loaded machine a debug build takes a quarter of a
/// second per scrape), on a runtime of its own in another thread (the clients stand for other processes: their work must not be
/// counted on the runtime under test). Checks every answer; returns the number of scrapes.
fn scrape_for_a_window(address: SocketAddr) -> usize {
    std::thread::spawn(move || {
        let clients = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        clients.block_on(async move {
            let end = Instant::now() + WINDOW;
            let scrapers = (0..SCRAPERS).map(|scraper| {
                tokio::spawn(async move {
                    let mut scrapes = 0;
                    while scrapes < ROUTES.len() || Instant::now() < end {
                        let route = ROUTES[(scraper + scrapes) % ROUTES.len()];
                        let response = get(address, route, "").await;
                        assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{route}");
                        // Reading a whole document costs the client tens of milliseconds
                        // of CPU, which competes with the runtime under test: once each.
                        if scrapes < ROUTES.len() {
                            check(route, &response);
                        }
                        scrapes += 1;
                        tokio::time::sleep(SCRAPE_PAUSE).await;
                    }
                    scrapes
                })
            });
            let mut scrapes = 0;
            for scraper in scrapers.collect::<Vec<_>>() {
                scrapes += scraper.await.unwrap();
            }
            scrapes
        })
    })
    .join()
    .unwrap()
}

/// Checks that the answer of `route` is whole and says what it should of 100k instances.
fn check(route: &str, response: &http_client::HttpResponse) {
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{route}");
    match route {
        "/snapshot.json" => {
            let document: serde_json::Value = serde_json::from_slice(&response.bytes).unwrap();
            let left_out = INSTANCES + 1 - DEFAULT_SNAPSHOT_INSTANCE_LIMIT;
            assert_eq!(document["truncated"]["instances_left_out"], left_out);
            assert_eq!(
                document["instances"].as_array().unwrap().len(),
                DEFAULT_SNAPSHOT_INSTANCE_LIMIT
            );
            let idle = &document["groups"][0];
            assert_eq!(idle["name"], "idle");
            assert_eq!(idle["instances"], INSTANCES);
        }
        "/metrics" => assert!(
            response.body.contains(&format!(
                "vigil_service_instances{{service=\"idle\"}} {INSTANCES}"
            )),
            "{}",
            &response.body[..response.body.len().min(2_000)]
        ),
        _ => assert_eq!(response.body, "ok\n"),
    }
}

/// What each route builds, built here on a runtime worker: the stall the endpoint avoids.
/// Returns the shortest build.
async fn build_on_the_worker(registry: &Registry, round: usize) -> Duration {
    let started = Instant::now();
    let snapshot = registry.metrics();
    match ROUTES[round % ROUTES.len()] {
        "/snapshot.json" => {
            let document = snapshot.limited_document(DEFAULT_SNAPSHOT_INSTANCE_LIMIT);
            std::hint::black_box(serde_json::to_string(&document).unwrap());
        }
        "/metrics" => {
            std::hint::black_box(encode(&snapshot, Format::Prometheus));
        }
        _ => {
            std::hint::black_box(snapshot.iter().any(|(_, metrics)| metrics.is_in_poll()));
        }
    }
    started.elapsed()
}

#[test]
fn scrapes_of_100k_instances_do_not_make_a_1ms_periodic_service_late() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registry = Arc::new(Registry::new());
    let handle = runtime.handle();
    for _ in 0..INSTANCES {
        registry.start_in(handle, ServiceObj::new("idle", std::future::pending()));
    }
    let ticks = Arc::new(Ticks::new());
    registry.start_in(
        handle,
        ServiceObj::new("periodic", periodic(Arc::clone(&ticks))),
    );
    let server = Endpoint::new(Arc::clone(&registry))
        .spawn(handle, loopback())
        .expect("bind loopback");

    let noise = Arc::new(Ticks::new());
    let stop_canary = Arc::new(AtomicBool::new(false));
    let canary = canary(Arc::clone(&noise), Arc::clone(&stop_canary));
    let take_window = || {
        let (lateness, ticked) = ticks.take();
        (lateness, noise.take().0, ticked)
    };

    // Idle: the lateness the machine itself causes, for the record.
    std::thread::sleep(Duration::from_millis(100));
    take_window();
    std::thread::sleep(WINDOW / 2);
    let (idle_lateness, idle_noise, _) = take_window();

    // Scraped over the socket: every reply built off the workers.
    let mut windows = Vec::new();
    for _ in 0..ATTEMPTS {
        let scrapes = scrape_for_a_window(server.local_addr());
        let (lateness, noise, ticked) = take_window();
        assert!(ticked > 0, "the periodic service never ticked");
        windows.push((lateness, noise, scrapes));
        if lateness <= LATENESS_BOUND + noise {
            break;
        }
    }

    // The same documents built on both workers, one build after another for a window.
    let running = Arc::new(AtomicBool::new(true));
    let builders: Vec<_> = (0..SCRAPERS)
        .map(|builder| {
            let registry = Arc::clone(&registry);
            let running = Arc::clone(&running);
            handle.spawn(async move {
                let mut shortest = Duration::MAX;
                let mut round = builder;
                // At least one build each, however slow the machine.
                loop {
                    shortest = shortest.min(build_on_the_worker(&registry, round).await);
                    round += 1;
                    if !running.load(Ordering::Relaxed) {
                        return shortest;
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    std::thread::sleep(WINDOW);
    running.store(false, Ordering::Relaxed);
    let (on_worker_lateness, on_worker_noise, _) = take_window();
    let shortest_build = runtime
        .block_on(futures_join(builders))
        .into_iter()
        .min()
        .unwrap();
    stop_canary.store(true, Ordering::Relaxed);
    canary.join().unwrap();

    eprintln!(
        "worst lateness of a {PERIOD:?}-periodic service on a 2-worker runtime with \
         {INSTANCES} instances (in brackets, a plain {PERIOD:?}-periodic thread's: the \
         machine's noise):\n  idle: {idle_lateness:?} [{idle_noise:?}]"
    );
    for (lateness, noise, scrapes) in &windows {
        eprintln!(
            "  {scrapes} scrapes by {SCRAPERS} clients, built off the workers: \
             {lateness:?} [{noise:?}]"
        );
    }
    eprintln!(
        "  the same documents built on both workers: {on_worker_lateness:?} \
         [{on_worker_noise:?}] (shortest build {shortest_build:?})"
    );
    let (lateness, noise, _) = windows[windows.len() - 1];
    assert!(
        lateness <= LATENESS_BOUND + noise,
        "scrapes made the periodic service late by {lateness:?} beyond the machine's \
         {noise:?} (bound {LATENESS_BOUND:?}) in {ATTEMPTS} windows out of {ATTEMPTS}: \
         {windows:?}"
    );
    // The instrument sees a stall where there is one: with both workers building, the
    // periodic service waits for a build to end.
    assert!(
        on_worker_lateness >= shortest_build / 2,
        "builds of {shortest_build:?} on both workers went unseen: lateness \
         {on_worker_lateness:?}"
    );
    drop(server);
    runtime.shutdown_background();
}

/// Awaits every handle, in order.
async fn futures_join(handles: Vec<tokio::task::JoinHandle<Duration>>) -> Vec<Duration> {
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

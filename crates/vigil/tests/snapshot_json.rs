//! The `serde` feature on a real registry: the snapshot document of the exporter fixture
//! (every monitor attached) has the contract's layout and reads back into the same snapshot.

mod export_fixture;

use serde_json::{json, Value};
use vigil::monitor::MockClock;
use vigil::registry::SCHEMA_VERSION;
use vigil::{Registry, ServiceObj, ServicesMetrics};

use export_fixture::Fixture;

fn group<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|group| group["name"] == name)
        .unwrap_or_else(|| panic!("no group {name}"))
}

fn instance<'a>(document: &'a Value, name: &str, instance_id: u64) -> &'a Value {
    document["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == name && entry["instance_id"] == instance_id)
        .unwrap_or_else(|| panic!("no instance {name}#{instance_id}"))
}

#[test]
fn a_monitored_registry_round_trips_through_json() {
    let fixture = Fixture::new();
    let snapshot = fixture.registry.metrics();
    let text = serde_json::to_string(&snapshot).unwrap();
    let back: ServicesMetrics = serde_json::from_str(&text).unwrap();
    assert_eq!(back, snapshot);
    assert_eq!(
        back.groups().collect::<Vec<_>>(),
        snapshot.groups().collect::<Vec<_>>()
    );
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
}

#[test]
fn the_document_carries_every_figure_in_nanoseconds() {
    let fixture = Fixture::new();
    let document = serde_json::to_value(fixture.registry.metrics()).unwrap();
    assert_eq!(document["schema_version"], SCHEMA_VERSION);
    assert_eq!(document["taken_at_ns"], 20_000_000);
    assert_eq!(
        document["histogram_bounds_ns"].as_array().unwrap().len(),
        24
    );

    let stuck = instance(&document, "stuck", 0);
    assert_eq!(stuck["current_poll_ns"], 20_000_000);
    assert_eq!(stuck["total_busy_ns"], 20_000_000);
    assert_eq!(stuck["utilization"], 100);
    assert_eq!(group(&document, "stuck")["longest_in_poll_ns"], 20_000_000);

    let worker = instance(&document, "worker", 0);
    assert_eq!(worker["poll_count"], 3);
    assert_eq!(worker["current_poll_ns"], Value::Null);
    assert_eq!(
        worker["slow_polls"],
        json!({
            "slow_poll_count": 2, "total_slow_poll_ns": 7_000_000, "fast_poll_count": 1,
            "total_fast_poll_ns": 1_000_000, "threshold_ns": 1_000_000,
        })
    );
    assert_eq!(
        worker["scheduling"],
        json!({
            "scheduled_count": 2, "total_scheduling_delay_ns": 1_500_000,
            "max_scheduling_delay_ns": 1_000_000, "idle_count": 2, "total_idle_ns": 6_000_000,
            "max_idle_ns": 4_000_000, "first_poll_delay_ns": 1_000_000,
        })
    );
    assert_eq!(worker["poll_histogram"]["max_ns"], 4_000_000);
    assert_eq!(worker["poll_histogram"]["buckets"][14], 2);

    let idle = group(&document, "idle");
    assert_eq!(idle["instances"], 2);
    assert_eq!(idle["starts"], 2);
    assert_eq!(
        idle["endings"],
        json!({"completed": 0, "failed": 0, "panicked": 0, "cancelled": 0})
    );
    assert_eq!(idle["slow_polls"]["fast_poll_count"], 2);
    assert_eq!(idle["poll_histogram"]["buckets"][0], 2);
}

#[test]
fn a_name_without_live_instances_reads_back_with_its_counters() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = Registry::builder().clock(MockClock::new()).build();
    let crasher = registry.start_in(
        runtime.handle(),
        ServiceObj::new("crasher", async { panic!("boom") }),
    );
    assert!(runtime.block_on(crasher).unwrap_err().is_panic());
    let snapshot = registry.metrics();
    let back: ServicesMetrics =
        serde_json::from_str(&serde_json::to_string(&snapshot).unwrap()).unwrap();
    assert_eq!(back, snapshot);
    let group = back.group("crasher").unwrap();
    assert_eq!((group.instances, group.starts), (0, 1));
    assert_eq!(group.endings.panicked, 1);
    assert!(back.is_empty());
}

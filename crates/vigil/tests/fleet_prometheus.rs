//! `deploy/`'s rules and dashboard against a real Prometheus scraping three `top` examples.
//!
//! Every PromQL expression of `deploy/grafana/vigil.json` (panels and template variables,
//! Grafana's variables replaced by values that match everything) and of the rule files
//! (as Prometheus loaded them, from `/api/v1/rules`) must parse; every panel and recording
//! rule must return data; the stuck-poll alert must fire for the demo's `stuck` service in
//! each process within its `for:` plus two scrape intervals of its condition first holding;
//! the demo's crash loop, given-up service and backlogged mailbox must put their alerts in
//! pending (or firing) state; a killed process must be reported down.
//!
//! Needs Prometheus (Debian's `prometheus` package, which `.ci/run` installs): without it
//! the test fails when `CI=true` and skips, saying why, elsewhere. `docs/fleet.md` tells
//! what is checked and why.

mod fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use fleet::prometheus::{binary, workspace_root, Prometheus, Setup};
use fleet::top_example::{build_example, ServingExample};

/// How many `top` processes Prometheus scrapes.
const PROCESSES: usize = 3;

/// Scrape and rule evaluation interval of the test's Prometheus.
const INTERVAL: Duration = Duration::from_secs(1);

/// The scrape job's name: the dashboard's `$job`.
const JOB: &str = "vigil-demo";

/// Longer than any run of this test: the processes are killed at its end.
const EXAMPLE_DURATION: Duration = Duration::from_secs(300);

/// How long the targets may take to be scraped once each.
const UP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long the stuck-poll condition may take to hold at all: `stuck` first blocks 3 s
/// after its start, for 2.5 s, so past 1 s after about 4 s; the rest is slack for a
/// loaded machine.
const STUCK_CONDITION_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the test looks at the server while it waits.
const POLL: Duration = Duration::from_millis(200);

/// Grafana's variables in the dashboard's queries and what the test puts in their place:
/// the values of "All" (the variables' `allValue`), and a rate window of several scrapes.
const VARIABLES: [(&str, &str); 4] = [
    ("__rate_interval", "1m"),
    ("job", ".+"),
    ("instance", ".+"),
    ("service", ".+"),
];

/// The alerts of `deploy/prometheus/vigil-alerts.yml`.
const ALERTS: [&str; 7] = [
    "VigilServiceStuckInPoll",
    "VigilServiceCrashLooping",
    "VigilServiceGivenUp",
    "VigilServiceSaturated",
    "VigilRuntimeSaturated",
    "VigilMailboxBacklogged",
    "VigilEndpointDown",
];

/// A rule as Prometheus loaded it.
#[derive(Debug)]
struct Rule {
    name: String,
    /// `alerting` or `recording`.
    kind: String,
    query: String,
    /// An alert's `for:`.
    hold: Duration,
}

/// A PromQL expression of the dashboard: where it comes from and its text.
#[derive(Debug)]
struct DashboardQuery {
    /// `panel "<title>" target A`, or `variable job`.
    origin: String,
    expression: String,
}

#[test]
fn the_dashboard_and_rules_work_against_prometheus_scraping_three_demos() {
    let Some(prometheus) = binary() else { return };
    let started = Instant::now();
    let example = build_example();
    let mut processes: Vec<ServingExample> = (0..PROCESSES)
        .map(|_| ServingExample::start(&example, EXAMPLE_DURATION))
        .collect();
    let targets: Vec<SocketAddr> = processes.iter().map(|process| process.address).collect();
    let rule_files = [workspace_root().join("deploy/prometheus/*.yml")];
    let server = Prometheus::start(
        prometheus,
        &Setup {
            job: JOB,
            targets: &targets,
            rule_files: &rule_files,
            interval: INTERVAL,
        },
    );
    wait_until_up(&server, &targets);
    eprintln!("{PROCESSES} targets up after {:?}", started.elapsed());

    let rules = loaded_rules(&server);
    let dashboard = dashboard_queries();
    every_expression_parses(&server, &rules, &dashboard);

    let stuck = rules
        .iter()
        .find(|rule| rule.name == "VigilServiceStuckInPoll")
        .expect("the stuck-poll alert is loaded");
    stuck_alert_fires_in_time(&server, stuck, &targets);
    eprintln!(
        "stuck-poll alert fired everywhere after {:?}",
        started.elapsed()
    );

    every_panel_and_recording_returns_data(&server, &rules, &dashboard);
    the_demos_other_troubles_are_pending(&server, &targets);

    // One process dies: its target is down, the others stay up.
    let killed = processes.pop().expect("three processes");
    drop(killed);
    endpoint_down_is_pending(&server, targets[PROCESSES - 1]);
    eprintln!("done after {:?}", started.elapsed());
}

/// Waits until Prometheus has scraped every target successfully.
fn wait_until_up(server: &Prometheus, targets: &[SocketAddr]) {
    let deadline = Instant::now() + UP_TIMEOUT;
    loop {
        let data = server.api("targets", &[("state", "active")]);
        let up: BTreeSet<String> = data["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|target| target["health"] == "up")
            .filter_map(|target| target["labels"]["instance"].as_str().map(str::to_owned))
            .collect();
        if targets
            .iter()
            .all(|target| up.contains(&target.to_string()))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "targets not all up within {UP_TIMEOUT:?}: {data}"
        );
        std::thread::sleep(POLL);
    }
}

/// Every rule of every group loaded from `deploy/prometheus/*.yml`, each healthy.
fn loaded_rules(server: &Prometheus) -> Vec<Rule> {
    let data = server.api("rules", &[]);
    let rules: Vec<Rule> = data["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
        .map(|rule| {
            // "unknown" before its first evaluation; "err" with `lastError` after a failed one.
            assert_ne!(rule["health"], "err", "{rule}");
            Rule {
                name: rule["name"].as_str().expect("a name").to_owned(),
                kind: rule["type"].as_str().expect("a type").to_owned(),
                query: rule["query"].as_str().expect("a query").to_owned(),
                hold: Duration::from_secs_f64(rule["duration"].as_f64().unwrap_or(0.0)),
            }
        })
        .collect();
    let alerts: BTreeSet<&str> = rules
        .iter()
        .filter(|rule| rule.kind == "alerting")
        .map(|rule| rule.name.as_str())
        .collect();
    assert_eq!(alerts, BTreeSet::from(ALERTS), "{data}");
    assert!(
        rules.iter().any(|rule| rule.kind == "recording"),
        "no recording rule loaded: {data}"
    );
    rules
}

/// The expressions of `deploy/grafana/vigil.json`: every panel's targets and every query
/// variable's metric selector (`label_values(<selector>, label)`), variables replaced.
fn dashboard_queries() -> Vec<DashboardQuery> {
    let path = workspace_root().join("deploy/grafana/vigil.json");
    let text = std::fs::read_to_string(&path).expect("read deploy/grafana/vigil.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is valid JSON");
    assert_eq!(dashboard["schemaVersion"], 39);
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        // Rows are panels without targets (collapsed rows would nest theirs).
        let nested = panel["panels"].as_array().into_iter().flatten();
        for panel in std::iter::once(panel).chain(nested) {
            for target in panel["targets"].as_array().into_iter().flatten() {
                assert_eq!(
                    target["datasource"]["uid"], "${datasource}",
                    "{}",
                    panel["title"]
                );
                queries.push(DashboardQuery {
                    origin: format!("panel {} target {}", panel["title"], target["refId"]),
                    expression: substitute(target["expr"].as_str().expect("an expr")),
                });
            }
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        if variable["type"] != "query" {
            continue;
        }
        let definition = variable["query"]["query"].as_str().expect("a query");
        let selector = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .map(|(selector, _label)| selector)
            .expect("label_values(selector, label)");
        queries.push(DashboardQuery {
            origin: format!("variable {}", variable["name"]),
            expression: substitute(selector),
        });
    }
    assert!(queries.len() > 20, "{queries:?}");
    queries
}

/// `expression` with Grafana's variables (`$name`, `${name}`) replaced.
fn substitute(expression: &str) -> String {
    let mut substituted = expression.to_owned();
    for (name, value) in VARIABLES {
        substituted = substituted
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(
        !substituted.contains('$'),
        "a variable the test does not know: {expression}"
    );
    substituted
}

/// Every expression is accepted by Prometheus' parser and evaluates without error.
fn every_expression_parses(server: &Prometheus, rules: &[Rule], dashboard: &[DashboardQuery]) {
    let from_rules = rules
        .iter()
        .map(|rule| (format!("rule {}", rule.name), rule.query.as_str()));
    let from_dashboard = dashboard
        .iter()
        .map(|query| (query.origin.clone(), query.expression.as_str()));
    let failures: Vec<String> = from_rules
        .chain(from_dashboard)
        .filter_map(|(origin, expression)| {
            server
                .query(expression)
                .err()
                .map(|error| format!("{origin}: {error}\n  {expression}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The stuck-poll alert fires for `stuck` in every process within its `for:` plus two
/// scrape intervals of its condition first holding there.
fn stuck_alert_fires_in_time(server: &Prometheus, stuck: &Rule, targets: &[SocketAddr]) {
    let allowed = stuck.hold + 2 * INTERVAL;
    let watching = Instant::now();
    // Per instance: when the condition was first seen holding, and when the alert fired.
    let mut held: BTreeMap<String, Instant> = BTreeMap::new();
    let mut fired: BTreeMap<String, Instant> = BTreeMap::new();
    while fired.len() < targets.len() {
        let now = Instant::now();
        for sample in server
            .query(&stuck.query)
            .expect("the stuck-poll condition")
        {
            if sample["metric"]["service"] == "stuck" {
                let instance = sample["metric"]["instance"].as_str().unwrap_or_default();
                held.entry(instance.to_owned()).or_insert(now);
            }
        }
        for alert in alerts(server, &stuck.name, "firing") {
            if alert["labels"]["service"] == "stuck" {
                let instance = alert["labels"]["instance"].as_str().unwrap_or_default();
                fired.entry(instance.to_owned()).or_insert(now);
            }
        }
        for (instance, since) in &held {
            let late = fired.get(instance).map_or(now, |at| *at) - *since;
            assert!(
                late <= allowed + POLL,
                "{} has not fired for `stuck` on {instance} {late:?} after its condition \
                 first held (allowed: `for:` {:?} + 2 scrape intervals); fired: {fired:?}",
                stuck.name,
                stuck.hold,
            );
        }
        assert!(
            held.len() == targets.len() || now - watching < STUCK_CONDITION_TIMEOUT,
            "the stuck-poll condition never held for `stuck` in some process: {held:?}"
        );
        std::thread::sleep(POLL);
    }
    for (instance, at) in &fired {
        eprintln!(
            "{instance}: `stuck` fired {:?} after its condition held (allowed {allowed:?})",
            *at - held[instance]
        );
    }
}

/// The alerts named `name` in `state` (`pending` or `firing`) now.
fn alerts(server: &Prometheus, name: &str, state: &str) -> Vec<Value> {
    server.api("alerts", &[])["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|alert| alert["labels"]["alertname"] == name && alert["state"] == state)
        .cloned()
        .collect()
}

/// Every dashboard query and every recording rule returns at least one series: the demo
/// exercises every figure the dashboard shows.
fn every_panel_and_recording_returns_data(
    server: &Prometheus,
    rules: &[Rule],
    dashboard: &[DashboardQuery],
) {
    let recordings = rules
        .iter()
        .filter(|rule| rule.kind == "recording")
        .map(|rule| (format!("recording rule {}", rule.name), rule.query.as_str()));
    let from_dashboard = dashboard
        .iter()
        .map(|query| (query.origin.clone(), query.expression.as_str()));
    let empty: Vec<String> = recordings
        .chain(from_dashboard)
        .filter(|(_, expression)| server.query(expression).expect("parsed before").is_empty())
        .map(|(origin, expression)| format!("{origin}: no data\n  {expression}"))
        .collect();
    assert!(empty.is_empty(), "{}", empty.join("\n"));
}

/// The demo's crash loop (`crasher`), given-up service (`flaky_config`) and backlogged
/// mailbox (`orders`) match their alerts' conditions in every process: pending (their
/// `for:` is minutes long) or already firing.
fn the_demos_other_troubles_are_pending(server: &Prometheus, targets: &[SocketAddr]) {
    let all = server.api("alerts", &[]);
    for (alert, service) in [
        ("VigilServiceCrashLooping", "crasher"),
        ("VigilServiceGivenUp", "flaky_config"),
        ("VigilMailboxBacklogged", "orders"),
    ] {
        let instances: BTreeSet<String> = all["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|active| active["labels"]["alertname"] == alert)
            .filter(|active| active["labels"]["service"] == service)
            .filter_map(|active| active["labels"]["instance"].as_str().map(str::to_owned))
            .collect();
        let expected: BTreeSet<String> = targets.iter().map(ToString::to_string).collect();
        assert_eq!(instances, expected, "{alert} for {service}: {all}");
    }
}

/// The killed process's target goes down and `VigilEndpointDown` turns pending for it.
fn endpoint_down_is_pending(server: &Prometheus, killed: SocketAddr) {
    let deadline = Instant::now() + 10 * INTERVAL;
    let instance = killed.to_string();
    loop {
        let down = alerts(server, "VigilEndpointDown", "pending");
        if down
            .iter()
            .any(|alert| alert["labels"]["instance"] == instance.as_str())
        {
            assert_eq!(down.len(), 1, "only the killed process is down: {down:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "VigilEndpointDown not pending for {instance}: {}",
            server.api("alerts", &[])
        );
        std::thread::sleep(POLL);
    }
}

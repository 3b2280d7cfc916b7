//! `--prometheus URL`: a fleet from PromQL, converted into one document per process.
//!
//! Every refresh runs the instant queries of [`QUERIES`] against the server's HTTP API
//! (`GET /api/v1/query`), keeps the answers together as one body (what `--record` writes),
//! and [`decode`]s them into one [`Document`] per scraped process (its `instance` label)
//! with one group per `service`: the rows the screen already shows for an endpoint.
//! Rates come from Prometheus' `rate()` ([`Rates`]); lifetime counters (restarts,
//! endings) stay counters, so the events pane reports restarts and endings as it does
//! for an endpoint; the longest poll in flight marks a service STUCK the same way.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::model::{Document, Endings, Group, Mailbox, Rates, SlowPolls};
use crate::source::{self, FetchError};

/// The instant queries of one refresh: (key in the recorded body, PromQL).
pub(crate) const QUERIES: [(&str, &str); 11] = [
    ("instances", "vigil_service_instances"),
    ("busy", "rate(vigil_service_busy_seconds_total[1m])"),
    ("polls", "rate(vigil_service_polls_total[1m])"),
    ("in_poll", "vigil_service_longest_poll_in_flight_seconds"),
    ("restarts", "vigil_service_restarts_total"),
    ("endings", "vigil_service_endings_total"),
    ("utilization_mean", "vigil_service_utilization_mean_ratio"),
    ("utilization_max", "vigil_service_utilization_max_ratio"),
    ("slow_polls", "vigil_service_slow_polls_total"),
    ("mailbox_depth", "vigil_mailbox_depth"),
    ("mailbox_capacity", "vigil_mailbox_capacity"),
];

/// A client of one Prometheus server's query API.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: source::Client,
    base: String,
    timeout: Duration,
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:9090`; a bare `host:port` gets
    /// `http://`) whose requests give up after `timeout`.
    pub(crate) fn new(base: String, timeout: Duration) -> Self {
        let base = base_url(&base);
        Self {
            http: source::Client::new(base.clone(), timeout),
            base,
            timeout,
        }
    }

    /// The server's base URL.
    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    /// Runs every query of [`QUERIES`]; the body is a JSON object of each query's answer
    /// (a string, as the server sent it) by key.
    pub(crate) fn fetch_body(&self) -> Result<String, FetchError> {
        let url = format!("{}/api/v1/query", self.base);
        let mut answers = BTreeMap::new();
        for (key, query) in QUERIES {
            let (status, body) =
                self.http
                    .get_with_query(&url, &[("query", query)], self.timeout)?;
            if !(200..300).contains(&status) && status != 400 && status != 422 {
                return Err(FetchError::Invalid(format!(
                    "{url} answered HTTP {status} to `{query}`: {}",
                    source::first_line(&body)
                )));
            }
            // 400 and 422 carry the API's own error object: decoded (and shown) below.
            answers.insert(key, String::from_utf8_lossy(&body).into_owned());
        }
        serde_json::to_string(&answers).map_err(|error| FetchError::Invalid(error.to_string()))
    }
}

/// `http://` added to a bare `host:port`, no trailing slash.
pub(crate) fn base_url(target: &str) -> String {
    let target = target.trim().trim_end_matches('/');
    if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    }
}

/// The API's answer to an instant query.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<AnswerData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AnswerData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<Sample>,
}

/// One series of an instant vector: its labels and `[timestamp, "value"]`.
#[derive(Debug, Deserialize)]
struct Sample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// One figure of one (process, service), with the evaluation time.
type Figures = BTreeMap<(String, String), f64>;

/// The recorded body of one refresh, decoded into one document per process, in
/// `instance` order. An answer that is not a vector (or an API error) is an error naming
/// its query.
pub(crate) fn decode(server: &str, body: &str) -> Result<Vec<(String, Document)>, FetchError> {
    let answers: BTreeMap<String, String> = serde_json::from_str(body).map_err(|error| {
        FetchError::Invalid(format!("{server}: malformed Prometheus answers: {error}"))
    })?;
    let mut evaluated_at = 0.0f64;
    let mut figures: BTreeMap<&str, Figures> = BTreeMap::new();
    let mut endings: BTreeMap<(String, String), Endings> = BTreeMap::new();
    for (key, query) in QUERIES {
        let text = answers.get(key).ok_or_else(|| {
            FetchError::Invalid(format!("{server}: no answer to `{query}` in the body"))
        })?;
        let answer: Answer = serde_json::from_str(text).map_err(|error| {
            FetchError::Invalid(format!(
                "{server}: `{query}`: not a Prometheus API answer: {error}"
            ))
        })?;
        if answer.status != "success" {
            return Err(FetchError::Invalid(format!(
                "{server}: `{query}` failed: {}",
                answer.error.unwrap_or(answer.status)
            )));
        }
        let data = answer.data.ok_or_else(|| {
            FetchError::Invalid(format!("{server}: `{query}`: an answer without data"))
        })?;
        if data.result_type != "vector" {
            return Err(FetchError::Invalid(format!(
                "{server}: `{query}` gave a {}, not an instant vector",
                data.result_type
            )));
        }
        let into = figures.entry(key).or_default();
        for sample in data.result {
            let (Some(instance), Some(service)) =
                (sample.metric.get("instance"), sample.metric.get("service"))
            else {
                continue;
            };
            // NaN (a rate over one sample) and garbage read as absent.
            let Some(value) = sample.value.1.parse::<f64>().ok().filter(|v| v.is_finite()) else {
                continue;
            };
            evaluated_at = evaluated_at.max(sample.value.0);
            let at = (instance.clone(), service.clone());
            if key == "endings" {
                let outcome = sample.metric.get("outcome").map_or("", String::as_str);
                let counts = endings.entry(at).or_default();
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // counts
                let count = value.max(0.0).round() as u64;
                match outcome {
                    "completed" => counts.completed = count,
                    "failed" => counts.failed = count,
                    "panicked" => counts.panicked = count,
                    "cancelled" => counts.cancelled = count,
                    _ => {}
                }
            } else {
                into.insert(at, value);
            }
        }
    }
    let get = |key: &str, at: &(String, String)| figures.get(key).and_then(|f| f.get(at)).copied();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // counts and ns, >= 0
    let whole = |value: f64| value.max(0.0).round() as u64;
    let mut documents: BTreeMap<String, Document> = BTreeMap::new();
    // A (process, service) is a row when Prometheus has its live instance count.
    for at in figures
        .get("instances")
        .into_iter()
        .flat_map(BTreeMap::keys)
    {
        let (instance, service) = at;
        let document = documents.entry(instance.clone()).or_default();
        let busy = get("busy", at);
        let polls = get("polls", at);
        let mailbox = match (get("mailbox_depth", at), get("mailbox_capacity", at)) {
            (Some(depth), Some(capacity)) => Some(Mailbox {
                depth: whole(depth),
                capacity: whole(capacity),
                ..Mailbox::default()
            }),
            _ => None,
        };
        document.groups.push(Group {
            name: service.clone(),
            instances: get("instances", at).map_or(0, whole),
            restarts: get("restarts", at).map_or(0, whole),
            endings: endings.get(at).copied().unwrap_or_default(),
            mean_utilization: get("utilization_mean", at).map_or(0.0, |ratio| ratio * 100.0),
            max_utilization: get("utilization_max", at)
                .map_or(0, |ratio| u8::try_from(whole(ratio * 100.0)).unwrap_or(100)),
            longest_in_poll_ns: get("in_poll", at)
                .filter(|seconds| *seconds > 0.0)
                .map(|seconds| whole(seconds * 1e9)),
            slow_polls: get("slow_polls", at).map(|slow| SlowPolls {
                slow_poll_count: whole(slow),
                threshold_ns: 0,
            }),
            mailbox,
            // Before Prometheus holds two samples, rate() has no value: no figure yet.
            rates: busy.zip(polls).map(|(busy, polls)| Rates {
                polls_per_second: polls,
                busy_percent: busy * 100.0,
            }),
            ..Group::default()
        });
    }
    let taken_at_ns = whole(evaluated_at * 1e9);
    Ok(documents
        .into_iter()
        .map(|(instance, mut document)| {
            document.taken_at_ns = taken_at_ns;
            (instance, document)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded body: two processes, `a` with a stuck service, `b` with a mailbox.
    pub(crate) fn sample_body() -> String {
        let vector = |samples: &[(&str, &str, &str)]| {
            let result: Vec<String> = samples
                .iter()
                .map(|(instance, service, value)| {
                    format!(
                        r#"{{"metric":{{"instance":"{instance}","job":"vigil","service":"{service}","outcome":"panicked"}},"value":[1700000000.5,"{value}"]}}"#
                    )
                })
                .collect();
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
                result.join(",")
            )
        };
        let mut answers = BTreeMap::new();
        for (key, _) in QUERIES {
            let samples: Vec<(&str, &str, &str)> = match key {
                "instances" => vec![
                    ("a:1", "ingest", "1"),
                    ("a:1", "stuck", "1"),
                    ("b:2", "orders", "2"),
                ],
                "busy" => vec![
                    ("a:1", "ingest", "0.75"),
                    ("a:1", "stuck", "0.5"),
                    ("b:2", "orders", "0.01"),
                ],
                "polls" => vec![
                    ("a:1", "ingest", "200"),
                    ("a:1", "stuck", "NaN"),
                    ("b:2", "orders", "80"),
                ],
                "in_poll" => vec![("a:1", "stuck", "2.5"), ("a:1", "ingest", "0")],
                "restarts" => vec![("b:2", "orders", "3")],
                "endings" => vec![("b:2", "orders", "4")],
                "mailbox_depth" => vec![("b:2", "orders", "500")],
                "mailbox_capacity" => vec![("b:2", "orders", "500")],
                _ => vec![],
            };
            answers.insert(key, vector(&samples));
        }
        serde_json::to_string(&answers).expect("json")
    }

    #[test]
    fn answers_become_one_document_per_instance_with_one_group_per_service() {
        let documents = decode("http://p:9090", &sample_body()).expect("decoded");
        let names: Vec<&str> = documents.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a:1", "b:2"]);
        let a = &documents[0].1;
        assert_eq!(a.taken_at_ns, 1_700_000_000_500_000_000);
        let ingest = &a.groups[0];
        assert_eq!(ingest.name, "ingest");
        assert_eq!(
            ingest.rates,
            Some(Rates {
                polls_per_second: 200.0,
                busy_percent: 75.0
            })
        );
        assert_eq!(ingest.longest_in_poll_ns, None);
        let stuck = &a.groups[1];
        assert_eq!(stuck.longest_in_poll_ns, Some(2_500_000_000));
        assert_eq!(stuck.rates, None, "a NaN rate is no figure");
        let orders = &documents[1].1.groups[0];
        assert_eq!((orders.instances, orders.restarts), (2, 3));
        assert_eq!(orders.endings.panicked, 4);
        assert_eq!(
            orders.mailbox.map(|m| (m.depth, m.capacity)),
            Some((500, 500))
        );
    }

    #[test]
    fn an_api_error_or_a_foreign_body_names_what_is_wrong() {
        let mut answers: BTreeMap<String, String> =
            serde_json::from_str(&sample_body()).expect("json");
        answers.insert(
            "busy".to_owned(),
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#
                .to_owned(),
        );
        let body = serde_json::to_string(&answers).expect("json");
        let error = decode("http://p:9090", &body).expect_err("an API error");
        assert!(
            error
                .to_string()
                .contains("rate(vigil_service_busy_seconds_total[1m])` failed: parse error"),
            "{error}"
        );
        let error = decode("http://p:9090", "<html>").expect_err("not answers");
        assert!(
            error.to_string().contains("malformed Prometheus answers"),
            "{error}"
        );
    }

    #[test]
    fn bare_addresses_get_a_scheme() {
        assert_eq!(base_url("127.0.0.1:9090/"), "http://127.0.0.1:9090");
        assert_eq!(base_url("https://p"), "https://p");
    }
}

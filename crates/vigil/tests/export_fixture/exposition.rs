//! Exposition text parsed back by `openmetrics-parser`, flattened into samples by name.

use std::collections::BTreeMap;

use openmetrics_parser::{
    HistogramValue, MetricFamily, MetricNumber, MetricsExposition, OpenMetricsValue,
    PrometheusValue, RenderableMetricValue,
};

use super::SeriesKey;

/// Exposition text, parsed back: every sample by name and labels, and the type of every
/// family.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) samples: BTreeMap<SeriesKey, f64>,
    /// Family name (as declared by `# TYPE`) to its type (`counter`, `gauge`, ...).
    pub(crate) types: BTreeMap<String, String>,
}

/// Parses Prometheus text (0.0.4), or OpenMetrics text if it ends with `# EOF`. Panics on
/// text the grammar rejects, so malformed text fails the test.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed {
        samples: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    if text.ends_with("# EOF\n") {
        let text = &without_histogram_units(text);
        let exposition = openmetrics_parser::openmetrics::parse_openmetrics(text)
            .unwrap_or_else(|error| panic!("invalid OpenMetrics text: {error:?}\n{text}"));
        flatten(&mut parsed, exposition, |name, value| match value {
            // OpenMetrics names a counter family without `_total`; its sample has it.
            OpenMetricsValue::Counter(counter) => {
                Flat::One(format!("{name}_total"), number(counter.value))
            }
            OpenMetricsValue::Gauge(value) | OpenMetricsValue::Unknown(value) => {
                Flat::One(name.to_owned(), number(*value))
            }
            OpenMetricsValue::Histogram(histogram) => Flat::Histogram(histogram.clone()),
            other => panic!("unexpected OpenMetrics value {other:?}"),
        });
    } else {
        let exposition = openmetrics_parser::prometheus::parse_prometheus(text)
            .unwrap_or_else(|error| panic!("invalid Prometheus text: {error:?}\n{text}"));
        flatten(&mut parsed, exposition, |name, value| match value {
            PrometheusValue::Counter(counter) => Flat::One(name.to_owned(), number(counter.value)),
            PrometheusValue::Gauge(value) | PrometheusValue::Unknown(value) => {
                Flat::One(name.to_owned(), number(*value))
            }
            PrometheusValue::Histogram(histogram) => Flat::Histogram(histogram.clone()),
            PrometheusValue::Summary(_) => panic!("vigil writes no summary"),
        });
    }
    parsed
}

/// `text` without the `# UNIT` lines of histogram families.
///
/// OpenMetrics 1.0 allows a unit on any family (its own examples give
/// `foo_seconds` histograms one), but `openmetrics-parser` 0.5.1 refuses it on histograms;
/// the units of the other families are still checked.
fn without_histogram_units(text: &str) -> String {
    let histograms: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" histogram"))
        .collect();
    text.lines()
        .filter(|line| {
            let family = line
                .strip_prefix("# UNIT ")
                .and_then(|rest| rest.split(' ').next());
            !family.is_some_and(|family| histograms.contains(&family))
        })
        .flat_map(|line| [line, "\n"])
        .collect()
}

/// One parsed value, as flat samples.
enum Flat {
    One(String, f64),
    Histogram(HistogramValue),
}

fn number(value: MetricNumber) -> f64 {
    match value {
        MetricNumber::Float(value) => value,
        MetricNumber::Int(value) => value as f64,
    }
}

fn flatten<T: std::fmt::Display + Clone, V: RenderableMetricValue + Clone>(
    parsed: &mut Parsed,
    exposition: MetricsExposition<T, V>,
    mut flat: impl FnMut(&str, &V) -> Flat,
) {
    for (name, family) in exposition.families {
        let family: MetricFamily<T, V> = family;
        parsed
            .types
            .insert(name.clone(), family.family_type.to_string());
        for sample in family.iter_samples() {
            let labels: BTreeMap<String, String> = sample
                .get_labelset()
                .expect("samples of a parsed family have label names")
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            let mut insert = |sample_name: String, labels: BTreeMap<String, String>, value| {
                let previous = parsed.samples.insert((sample_name.clone(), labels), value);
                assert!(previous.is_none(), "duplicate sample {sample_name}");
            };
            match flat(&name, &sample.value) {
                Flat::One(sample_name, value) => insert(sample_name, labels, value),
                Flat::Histogram(histogram) => {
                    for bucket in &histogram.buckets {
                        let mut bucket_labels = labels.clone();
                        let le = if bucket.upper_bound == f64::INFINITY {
                            "+Inf".to_owned()
                        } else {
                            bucket.upper_bound.to_string()
                        };
                        bucket_labels.insert("le".to_owned(), le);
                        insert(
                            format!("{name}_bucket"),
                            bucket_labels,
                            number(bucket.count),
                        );
                    }
                    let sum = histogram.sum.map(number).expect("a histogram sum");
                    let count = histogram.count.expect("a histogram count");
                    insert(format!("{name}_sum"), labels.clone(), sum);
                    insert(format!("{name}_count"), labels, count as f64);
                }
            }
        }
    }
}

impl Parsed {
    /// The value of one sample; panics if it is absent.
    #[track_caller]
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:#?}", self.samples.keys()))
    }

    /// The value of one sample, if present.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// Every label name used by any sample.
    pub(crate) fn label_names(&self) -> std::collections::BTreeSet<&str> {
        self.samples
            .keys()
            .flat_map(|(_, labels)| labels.keys().map(String::as_str))
            .collect()
    }
}

//! Exposition text parsed back by `prom_text_format_parser`, flattened into samples by name.
//!
//! The Prometheus text format (0.0.4) goes through the crate's grammar, which rejects
//! malformed lines, a family split in two and a `# TYPE` without samples. No permissively
//! licensed crate parses OpenMetrics, so OpenMetrics text is held to the Prometheus text of
//! the same snapshot instead: both are written by `prometheus-client` from the same families,
//! so they must have the same series ([`openmetrics_samples_match`]); the figures are
//! checked on the Prometheus text, and what is OpenMetrics' own (`# UNIT`, counter families
//! named without `_total`, `# EOF`) by the tests that need it. Prometheus itself checks the served text in
//! `export_promtool.rs` (`promtool check metrics`).

use std::collections::{BTreeMap, BTreeSet};

use prom_text_format_parser::{Scrape, Type, ValueType};

use super::SeriesKey;

/// Exposition text, parsed back: every sample by name and labels, and the type of every
/// family.
///
/// Label values are as written, escapes included (`\"`, `\\`, `\n`): the parser checks
/// them but does not undo them.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) samples: BTreeMap<SeriesKey, f64>,
    /// Family name (as declared by `# TYPE`) to its type (`counter`, `gauge`, ...).
    pub(crate) types: BTreeMap<String, String>,
}

/// Parses Prometheus text (0.0.4). Panics on text the grammar rejects, so malformed text
/// fails the test; panics on OpenMetrics text (see [`openmetrics_samples_match`]).
pub(crate) fn parse(text: &str) -> Parsed {
    assert!(
        !text.ends_with("# EOF\n"),
        "OpenMetrics text: compare it with `openmetrics_samples_match`"
    );
    let scrape = Scrape::parse(text)
        .unwrap_or_else(|error| panic!("invalid Prometheus text: {error:?}\n{text}"));
    let mut parsed = Parsed {
        samples: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    for family in scrape.metrics {
        let previous = parsed
            .types
            .insert(family.name.clone(), family.kind.to_string());
        assert!(previous.is_none(), "family {} written twice", family.name);
        for sample in family.samples {
            // A histogram's samples carry the family name and a suffix by role.
            let suffix = match (family.kind, sample.value.value_type) {
                (Type::Histogram, ValueType::Sample) => "_bucket",
                (_, ValueType::Sum) => "_sum",
                (_, ValueType::Count) => "_count",
                (_, ValueType::Sample) => "",
            };
            let name = format!("{}{suffix}", family.name);
            let labels: BTreeMap<String, String> = sample
                .labels
                .iter()
                .map(|label| (label.key.clone(), label.value.clone()))
                .collect();
            let value = sample.value.value.as_f64();
            let previous = parsed.samples.insert((name.clone(), labels), value);
            assert!(previous.is_none(), "duplicate sample {name}");
        }
    }
    parsed
}

/// Asserts that `openmetrics` is complete OpenMetrics text with the series of
/// `prometheus`, the Prometheus text of the same snapshot (which [`parse`] checks): as many
/// samples of each name.
///
/// Not a parse: the sample lines of the two formats differ in order within a histogram and
/// in how floats are spelled (`2.56e-7` against `2.56e-07`), so only the names before `{`
/// are compared, as sorted lists.
#[track_caller]
pub(crate) fn openmetrics_samples_match(openmetrics: &str, prometheus: &str) {
    assert!(
        openmetrics.ends_with("\n# EOF\n") || openmetrics == "# EOF\n",
        "{openmetrics}"
    );
    let sample_names = |text: &str| -> Vec<String> {
        let mut names: Vec<String> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                line[..end].to_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(sample_names(openmetrics), sample_names(prometheus));
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
    pub(crate) fn label_names(&self) -> BTreeSet<&str> {
        self.samples
            .keys()
            .flat_map(|(_, labels)| labels.keys().map(String::as_str))
            .collect()
    }
}

//! Aligned Markdown tables (readable in a terminal and in `docs/benchmarks.md`) and number
//! formatting.

/// A table: the first column is left-aligned (labels), the others right-aligned (figures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|header| header.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; short rows are padded with empty cells, long ones truncated.
    pub(crate) fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders as a Markdown table with padded columns, ending in a newline.
    pub(crate) fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|column| {
                std::iter::once(&self.headers[column])
                    .chain(self.rows.iter().map(|row| &row[column]))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(3)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, &width))| {
                    if column == 0 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(column, &width)| {
                if column == 0 {
                    "-".repeat(width)
                } else {
                    format!("{}:", "-".repeat(width - 1))
                }
            })
            .collect();
        let mut out = line(&self.headers);
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// Nanoseconds with precision that suits their size: `1.63`, `25.2`, `1234`.
pub(crate) fn ns(value: f64) -> String {
    if value.abs() < 10.0 {
        format!("{value:.2}")
    } else if value.abs() < 1_000.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// A time given in nanoseconds, in the unit that suits its size: `450.0 ns`, `1.23 µs`,
/// `5.40 ms`.
pub(crate) fn time(value_ns: f64) -> String {
    if value_ns.abs() < 1_000.0 {
        format!("{} ns", ns(value_ns))
    } else if value_ns.abs() < 1_000_000.0 {
        format!("{} µs", ns(value_ns / 1_000.0))
    } else {
        format!("{} ms", ns(value_ns / 1_000_000.0))
    }
}

/// A ratio as `0.33x`.
pub(crate) fn ratio(value: f64) -> String {
    format!("{value:.2}x")
}

/// An optional figure, or `n/a` when the benchmark behind it did not run.
pub(crate) fn or_na(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or_else(|| "n/a".to_string(), format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_aligned_markdown_table() {
        let mut table = Table::new(&["variant", "ns/poll"]);
        table.push(vec!["bare".into(), "1.63".into()]);
        table.push(vec!["tokio_metrics".into(), "211.2".into()]);
        table.push(vec!["short".into()]);
        assert_eq!(
            table.render(),
            "\
| variant       | ns/poll |
| ------------- | ------: |
| bare          |    1.63 |
| tokio_metrics |   211.2 |
| short         |         |
"
        );
        assert!(!table.is_empty());
        assert!(Table::new(&["a"]).is_empty());
    }

    #[test]
    fn formats_figures() {
        assert_eq!(ns(1.6295), "1.63");
        assert_eq!(ns(25.18), "25.2");
        assert_eq!(ns(1234.4), "1234");
        assert_eq!(ns(-0.5), "-0.50");
        assert_eq!(ratio(0.3333), "0.33x");
        assert_eq!(time(450.0), "450.0 ns");
        assert_eq!(time(1_234.0), "1.23 µs");
        assert_eq!(time(5_397_600.0), "5.40 ms");
        assert_eq!(or_na(None, ns), "n/a");
        assert_eq!(or_na(Some(2.0), ratio), "2.00x");
    }
}

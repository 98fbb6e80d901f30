//! Renderers of a `Comparison`: plain text (console), markdown (GitHub job summary), JUnit XML
//! (one testcase per query x metric gate). Output is deterministic (no timestamps) so golden
//! files can pin it.

use std::fmt::Write as _;

use super::{fmt_p, Comparison, ComparisonRow, RowVerdict, FALLBACK_MARGIN};
use crate::scenario::plan::Metric;

fn fmt_value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::ErrorRate => format!("{:.3}%", v * 100.0),
        Metric::ThroughputQps => format!("{v:.1} q/s"),
        _ => format!("{v:.3} ms"),
    }
}

fn fmt_change(r: &ComparisonRow) -> String {
    match r.change_pct {
        Some(c) => format!("{c:+.1}%"),
        None if r.current > 0.0 && r.baseline == 0.0 => "new".into(),
        None => "n/a".into(),
    }
}

fn fmt_row_p(r: &ComparisonRow) -> String {
    r.p_value.map_or_else(|| "-".into(), fmt_p)
}

fn fmt_num(v: f64) -> String {
    // Shortest round-trip form: 10 -> "10", 2.5 -> "2.5".
    format!("{v}")
}

impl Comparison {
    fn headline(&self) -> String {
        let n = self.regressions().count();
        if n == 0 {
            "PASS".into()
        } else {
            format!("FAIL ({n} regression{})", if n == 1 { "" } else { "s" })
        }
    }

    fn method_line(&self) -> String {
        format!(
            "A gate fails when the metric is worse by more than {}% AND a one-sided test on the \
             per-interval samples is significant at alpha {} (Welch t-test, log scale for \
             latency, widened by {}% run-to-run noise; two-proportion z-test for error_rate; \
             p-values Holm-adjusted over all gates). Without enough samples the change must \
             exceed {}x the threshold.",
            fmt_num(self.max_regression_pct),
            fmt_num(self.alpha),
            fmt_num(self.run_noise_pct),
            fmt_num(FALLBACK_MARGIN)
        )
    }

    /// Plain-text table for the console.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "regression gate: scenario {}, max regression {}%, alpha {}, run noise {}%: {}",
            self.scenario,
            fmt_num(self.max_regression_pct),
            fmt_num(self.alpha),
            fmt_num(self.run_noise_pct),
            self.headline()
        );
        let header = [
            "query", "metric", "baseline", "current", "change", "p", "verdict",
        ];
        let cells: Vec<[String; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.query.clone(),
                    r.metric.name().to_string(),
                    fmt_value(r.metric, r.baseline),
                    fmt_value(r.metric, r.current),
                    fmt_change(r),
                    fmt_row_p(r),
                    if r.failed() {
                        r.verdict.label().to_uppercase()
                    } else {
                        r.verdict.label().to_string()
                    },
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: [&str; 7]| {
            let mut s = String::new();
            for (i, (c, w)) in cols.iter().zip(width).enumerate() {
                let pad = w.saturating_sub(c.chars().count());
                // Text columns left-aligned, numbers right-aligned.
                if (2..=5).contains(&i) {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < cols.len() {
                        s.push_str(&" ".repeat(pad));
                    }
                }
                if i + 1 < cols.len() {
                    s.push_str("  ");
                }
            }
            s.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(header));
        for row in &cells {
            let refs: [&str; 7] = std::array::from_fn(|i| row[i].as_str());
            let _ = writeln!(out, "{}", line(refs));
        }
        for r in self.rows.iter().filter(|r| r.note.is_some()) {
            let _ = writeln!(
                out,
                "note: {} {}: {}",
                r.query,
                r.metric.name(),
                r.note.as_deref().unwrap_or_default()
            );
        }
        if !self.added.is_empty() {
            let _ = writeln!(out, "added queries (not gated): {}", self.added.join(", "));
        }
        if !self.removed.is_empty() {
            let _ = writeln!(
                out,
                "removed queries (not gated): {}",
                self.removed.join(", ")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }

    /// Markdown for `$GITHUB_STEP_SUMMARY` or a pull-request comment.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.failed() {
            ":x:"
        } else {
            ":white_check_mark:"
        };
        let _ = writeln!(
            out,
            "### {icon} esp-bench regression gate: {}\n",
            self.headline()
        );
        let _ = writeln!(
            out,
            "Scenario `{}`, max regression {}%, alpha {}, run-to-run noise {}%, metrics {}.\n",
            md_code(&self.scenario),
            fmt_num(self.max_regression_pct),
            fmt_num(self.alpha),
            fmt_num(self.run_noise_pct),
            self.metrics
                .iter()
                .map(|m| format!("`{}`", m.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.push_str("| query | metric | baseline | current | change | p | verdict | note |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---|---|\n");
        for r in &self.rows {
            let verdict = match r.verdict {
                RowVerdict::Regression => "**regression** :x:".to_string(),
                RowVerdict::Improvement => "improvement :rocket:".to_string(),
                v => v.label().to_string(),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
                md_code(&r.query),
                r.metric.name(),
                fmt_value(r.metric, r.baseline),
                fmt_value(r.metric, r.current),
                fmt_change(r),
                fmt_row_p(r),
                verdict,
                md_cell(r.note.as_deref().unwrap_or(""))
            );
        }
        out.push('\n');
        let list = |names: &[String]| {
            names
                .iter()
                .map(|n| format!("`{}`", md_code(n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.added.is_empty() {
            let _ = writeln!(
                out,
                "**Added queries** (not gated): {}\n",
                list(&self.added)
            );
        }
        if !self.removed.is_empty() {
            let _ = writeln!(
                out,
                "**Removed queries** (not gated): {}\n",
                list(&self.removed)
            );
        }
        if !self.warnings.is_empty() {
            out.push_str("**Warnings**\n\n");
            for w in &self.warnings {
                let _ = writeln!(out, "- {}", md_cell(w));
            }
            out.push('\n');
        }
        let _ = writeln!(out, "<sub>{}</sub>", self.method_line());
        out
    }

    /// JUnit XML: one testsuite, one testcase per query x metric gate; a regression is a
    /// `<failure>` whose message names the query and the metric.
    pub fn to_junit(&self) -> String {
        let failures = self.regressions().count();
        let skipped = self
            .rows
            .iter()
            .filter(|r| r.verdict == RowVerdict::NoBaselineData)
            .count();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"esp-bench regression gate: {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
            xml(&self.scenario),
            self.rows.len()
        );
        out.push_str("  <properties>\n");
        for (k, v) in [
            ("max_regression_pct", fmt_num(self.max_regression_pct)),
            ("alpha", fmt_num(self.alpha)),
            ("run_noise_pct", fmt_num(self.run_noise_pct)),
            (
                "metrics",
                self.metrics
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ] {
            let _ = writeln!(out, "    <property name=\"{k}\" value=\"{}\"/>", xml(&v));
        }
        out.push_str("  </properties>\n");
        for r in &self.rows {
            let summary = format!(
                "{} {}: baseline {}, current {}, change {}, p {}: {}{}",
                r.query,
                r.metric.name(),
                fmt_value(r.metric, r.baseline),
                fmt_value(r.metric, r.current),
                fmt_change(r),
                fmt_row_p(r),
                r.verdict.label(),
                r.note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
            let _ = write!(
                out,
                "  <testcase classname=\"esp-bench.{}\" name=\"{} {}\"",
                xml(&self.scenario),
                xml(&r.query),
                r.metric.name()
            );
            match r.verdict {
                RowVerdict::Regression => {
                    let _ = writeln!(
                        out,
                        ">\n    <failure type=\"regression\" message=\"regression in query {} metric {}: {} (max {}%)\">{}</failure>\n  </testcase>",
                        xml(&r.query),
                        r.metric.name(),
                        xml(&fmt_change(r)),
                        fmt_num(self.max_regression_pct),
                        xml(&summary)
                    );
                }
                RowVerdict::NoBaselineData => {
                    let _ = writeln!(
                        out,
                        ">\n    <skipped message=\"{}\"/>\n  </testcase>",
                        xml(&summary)
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        ">\n    <system-out>{}</system-out>\n  </testcase>",
                        xml(&summary)
                    );
                }
            }
        }
        let mut notes = Vec::new();
        if !self.added.is_empty() {
            notes.push(format!(
                "added queries (not gated): {}",
                self.added.join(", ")
            ));
        }
        if !self.removed.is_empty() {
            notes.push(format!(
                "removed queries (not gated): {}",
                self.removed.join(", ")
            ));
        }
        notes.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        if !notes.is_empty() {
            let _ = writeln!(out, "  <system-out>{}</system-out>", xml(&notes.join("\n")));
        }
        out.push_str("</testsuite>\n");
        out
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// Inside a markdown table cell: pipes would split the cell, newlines end the row.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Inside backticks: a backtick would end the code span.
fn md_code(s: &str) -> String {
    md_cell(&s.replace('`', "'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;?");
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
        assert_eq!(md_code("x`y"), "x'y");
    }
}

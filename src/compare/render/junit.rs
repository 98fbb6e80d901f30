//! The comparison as JUnit XML, for CI systems that show test reports: one testcase per
//! query x metric gate.

use super::*;
use crate::format::xml_escape as xml;

impl Comparison {
    /// JUnit XML: one testsuite, one testcase per query x metric gate; a regression is a
    /// `<failure>` whose message names the query and the metric; a gate that was not gated is
    /// `<skipped>` with the reason.
    pub fn to_junit(&self) -> String {
        let failures = self.regressions().count();
        let skipped = self.not_gated().count();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"esp-bench regression gate: {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">",
            xml(&self.scenario),
            self.rows.len()
        );
        out.push_str("  <properties>\n");
        let mut props = vec![
            ("max_regression_pct", fmt_exact(self.max_regression_pct)),
            ("alpha", fmt_exact(self.alpha)),
            ("baseline_runs", self.noise.baseline_runs.to_string()),
            ("noise", self.noise.source.label().to_string()),
            ("interval_statistic", self.interval_statistic.to_string()),
        ];
        if let Some(q) = self.interval_quantile {
            props.push(("interval_quantile", fmt_exact(q)));
        }
        if let Some(d) = self.noise.default_pct {
            props.push(("default_run_noise_pct", fmt_exact(d)));
        }
        if let Some(f) = self.noise.floor_pct {
            props.push(("run_noise_floor_pct", fmt_exact(f)));
        }
        if self.confirmation_runs > 0 {
            props.push(("confirmation_runs", self.confirmation_runs.to_string()));
        }
        props.push((
            "metrics",
            self.metrics
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(","),
        ));
        for (k, v) in props {
            let _ = writeln!(out, "    <property name=\"{k}\" value=\"{}\"/>", xml(&v));
        }
        out.push_str("  </properties>\n");
        for r in &self.rows {
            let summary = format!(
                "{} {}: baseline {}, current {}, change {}, net {}, noise {}, detectable {}, p {}: {}{}",
                r.query,
                r.metric.name(),
                fmt_cell_value(r, r.baseline),
                fmt_cell_value(r, r.current),
                fmt_change(r),
                fmt_net(r),
                fmt_noise(r),
                fmt_detectable(r),
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
                        fmt_exact(self.max_regression_pct),
                        xml(&summary)
                    );
                }
                v if v.not_gated() => {
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
        if let Some(p) = self.priors_line() {
            notes.push(format!("noise priors: {p}"));
        }
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

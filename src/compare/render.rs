//! Renderers of a `Comparison`: plain text (console), markdown (GitHub job summary), JUnit XML
//! (one testcase per query x metric gate). Output is deterministic (no timestamps) so golden
//! files can pin it.

use std::fmt::Write as _;

use super::{fmt_p, Comparison, ComparisonRow, NoiseSource, RowVerdict, RUN_SHIFT_QUERY};
use crate::format::fmt_exact;

mod junit;
use crate::scenario::plan::Metric;

fn fmt_value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::ErrorRate => format!("{:.3}%", v * 100.0),
        Metric::ThroughputQps => format!("{v:.1} q/s"),
        _ => format!("{v:.3} ms"),
    }
}

/// Baseline and current values; the whole-run shift rows have none of their own.
fn fmt_cell_value(r: &ComparisonRow, v: f64) -> String {
    if r.query == RUN_SHIFT_QUERY {
        "-".into()
    } else {
        fmt_value(r.metric, v)
    }
}

fn fmt_net(r: &ComparisonRow) -> String {
    r.net_change_pct
        .map_or_else(|| "-".into(), |c| format!("{c:+.1}%"))
}

fn fmt_change(r: &ComparisonRow) -> String {
    let mut s = match r.change_pct {
        Some(c) => format!("{c:+.1}%"),
        None if r.current > 0.0 && r.baseline == 0.0 => "new".into(),
        None => "n/a".into(),
    };
    for c in &r.confirm_change_pct {
        s.push_str(&match c {
            Some(c) => format!(", confirm {c:+.1}%"),
            None => ", confirm n/a".into(),
        });
    }
    s
}

/// The run-to-run noise the test used: "±3.1%", marked when it is not a measurement.
fn fmt_noise(r: &ComparisonRow) -> String {
    match (r.noise_pct, r.noise_source) {
        (Some(n), Some(NoiseSource::Measured)) => format!("±{n:.1}%"),
        (Some(n), Some(src)) => format!("±{n:.1}% ({})", src.label()),
        _ => "-".into(),
    }
}

fn fmt_detectable(r: &ComparisonRow) -> String {
    r.detectable_pct
        .map_or_else(|| "-".into(), |d| format!("{d:+.1}%"))
}

fn fmt_row_p(r: &ComparisonRow) -> String {
    r.p_value.map_or_else(|| "-".into(), fmt_p)
}

impl Comparison {
    fn headline(&self) -> String {
        let n = self.regressions().count();
        let gated = self.rows.iter().filter(|r| !r.verdict.not_gated()).count();
        let not_gated = self.rows.len() - gated;
        let counts = if not_gated == 0 {
            format!("{gated} gated")
        } else {
            format!("{gated} gated, {not_gated} not gated")
        };
        if n == 0 {
            format!("PASS ({counts})")
        } else {
            format!(
                "FAIL ({n} regression{}; {counts})",
                if n == 1 { "" } else { "s" }
            )
        }
    }

    /// "baseline of 3 runs (noise measured)" or the default a one-run baseline assumes.
    fn baseline_line(&self) -> String {
        let n = &self.noise;
        let mut s = match n.source {
            NoiseSource::Default => format!(
                "baseline of 1 run: noise not measured, default {}% run-to-run (--run-noise)",
                fmt_exact(n.default_pct.unwrap_or_default())
            ),
            _ => format!(
                "baseline of {} runs: noise measured per metric{}",
                n.baseline_runs,
                n.floor_pct
                    .map(|f| format!(", floor {}%", fmt_exact(f)))
                    .unwrap_or_default()
            ),
        };
        if self.confirmation_runs > 0 {
            s.push_str(&format!(
                ", {} {} run{}",
                self.confirmation_runs,
                if self.pooled {
                    "pooled"
                } else {
                    "confirmation"
                },
                if self.confirmation_runs == 1 { "" } else { "s" }
            ));
        }
        s.push_str(&format!(", tested on the {}", self.interval_value_name()));
        let normalized = self
            .rows
            .iter()
            .filter(|r| r.speed_reference_ms.is_some())
            .count();
        if normalized > 0 {
            s.push_str(&format!(
                "; {} of {} gates brought to the baseline's host speed (speed reference)",
                normalized,
                self.rows
                    .iter()
                    .filter(|r| r.query != RUN_SHIFT_QUERY)
                    .count()
            ));
        }
        s
    }

    /// The fitted priors, e.g. "p50_ms ±1.2% (df 4.1, 12 gates)".
    fn priors_line(&self) -> Option<String> {
        if self.noise.priors.is_empty() {
            return None;
        }
        Some(
            self.noise
                .priors
                .iter()
                .map(|p| {
                    format!(
                        "{} ±{:.1}% (df {}, {} gates)",
                        p.metric,
                        p.sd_pct,
                        p.df.map_or_else(|| "inf".into(), |d| format!("{d:.1}")),
                        p.gates
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    fn method_line(&self) -> String {
        let noise = match self.noise.source {
            NoiseSource::Default => format!(
                "the baseline has one run, so its noise is the assumed default of {}% \
                 run-to-run plus each run's sampling error (z-test)",
                fmt_exact(self.noise.default_pct.unwrap_or_default())
            ),
            _ => format!(
                "the noise is the spread of the metric over the baseline's {} runs, net of each \
                 run's shift (the median change of the other queries, for metrics gated on at \
                 least 5 queries), moderated across the gates of each metric; each query is \
                 judged on its change net of the current run's shift (t-test of one new run \
                 against the baseline's); the shift itself is the `(all queries)` row, gated \
                 only with --gate-run-shift",
                self.noise.baseline_runs
            ),
        };
        format!(
            "A gate fails when the metric's whole-phase value is worse by more than {}% AND \
             significantly worse at alpha {} than the baseline's runs allow: {noise}; \
             two-proportion z-test for error_rate; p-values Holm-adjusted over all gates. \
             Percentiles with fewer than {} queries beyond them in a phase are not gated.{}",
            fmt_exact(self.max_regression_pct),
            fmt_exact(self.alpha),
            super::MIN_TAIL_QUERIES,
            if self.pooled {
                " Pooled runs: each gate is tested on the mean of the current runs, and a \
                 regression must exceed the threshold in a majority of them (both of two, 2 of 3)."
            } else if self.confirmation_runs > 0 {
                " A regression counts only when every confirmation run reproduces it."
            } else {
                ""
            }
        )
    }

    /// Plain-text table for the console.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "regression gate: scenario {}, {}, max regression {}%, alpha {}: {}",
            self.scenario,
            self.baseline_line(),
            fmt_exact(self.max_regression_pct),
            fmt_exact(self.alpha),
            self.headline()
        );
        const COLS: usize = 10;
        let header: [&str; COLS] = [
            "query",
            "metric",
            "baseline",
            "current",
            "change",
            "net",
            "noise",
            "detectable",
            "p",
            "verdict",
        ];
        let cells: Vec<[String; COLS]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.query.clone(),
                    r.metric.name().to_string(),
                    fmt_cell_value(r, r.baseline),
                    fmt_cell_value(r, r.current),
                    fmt_change(r),
                    fmt_net(r),
                    fmt_noise(r),
                    fmt_detectable(r),
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
        let line = |cols: [&str; COLS]| {
            let mut s = String::new();
            for (i, (c, w)) in cols.iter().zip(width).enumerate() {
                let pad = w.saturating_sub(c.chars().count());
                // Text columns left-aligned, numbers right-aligned.
                if (2..=8).contains(&i) {
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
            let refs: [&str; COLS] = std::array::from_fn(|i| row[i].as_str());
            let _ = writeln!(out, "{}", line(refs));
        }
        for r in self.not_gated() {
            let _ = writeln!(
                out,
                "not gated: {} {}: {}",
                r.query,
                r.metric.name(),
                r.note.as_deref().unwrap_or_default()
            );
        }
        for r in self
            .rows
            .iter()
            .filter(|r| r.note.is_some() && !r.verdict.not_gated())
        {
            let _ = writeln!(
                out,
                "note: {} {}: {}",
                r.query,
                r.metric.name(),
                r.note.as_deref().unwrap_or_default()
            );
        }
        if let Some(p) = self.priors_line() {
            let _ = writeln!(out, "noise priors: {p}");
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
            "Scenario `{}`, {}, max regression {}%, alpha {}, metrics {}.\n",
            md_code(&self.scenario),
            self.baseline_line(),
            fmt_exact(self.max_regression_pct),
            fmt_exact(self.alpha),
            self.metrics
                .iter()
                .map(|m| format!("`{}`", m.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.push_str(
            "| query | metric | baseline | current | change | net | noise | detectable | p | verdict | note |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
        for r in &self.rows {
            let verdict = match r.verdict {
                RowVerdict::Regression => "**regression** :x:".to_string(),
                RowVerdict::Improvement => "improvement :rocket:".to_string(),
                v => v.label().to_string(),
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                md_code(&r.query),
                r.metric.name(),
                fmt_cell_value(r, r.baseline),
                fmt_cell_value(r, r.current),
                fmt_change(r),
                fmt_net(r),
                fmt_noise(r),
                fmt_detectable(r),
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
        let not_gated: Vec<String> = self
            .not_gated()
            .map(|r| format!("{} {}", r.query, r.metric.name()))
            .collect();
        if !not_gated.is_empty() {
            let _ = writeln!(
                out,
                "**Not gated** (reason in the note): {}\n",
                list(&not_gated)
            );
        }
        if let Some(p) = self.priors_line() {
            let _ = writeln!(out, "**Noise priors**: {}\n", md_cell(&p));
        }
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
}

/// `bench baseline show`: the runs of a baseline and each gate's measured noise.
pub fn render_baseline(
    baseline: &super::Baseline,
    metrics: &[crate::scenario::plan::Metric],
) -> String {
    let mut out = String::new();
    let runs = baseline.runs();
    let latest = baseline.latest();
    let _ = writeln!(
        out,
        "baseline: scenario {}, {} run{} (fingerprint {})",
        latest.scenario.name,
        runs.len(),
        if runs.len() == 1 { "" } else { "s" },
        latest.scenario.fingerprint
    );
    for (i, r) in runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "  run {}: {} .. {}, bench {}, {} {} ({}), verdict {:?}{}",
            i + 1,
            r.started_at,
            r.finished_at,
            r.bench_version,
            r.environment.server,
            r.environment.timescaledb_version,
            r.environment.edition,
            r.verdict,
            if r.degraded { ", degraded" } else { "" }
        );
    }
    let (rows, summary) = super::baseline_noise(baseline, metrics);
    if runs.len() < 2 {
        let _ = writeln!(
            out,
            "one run: the gate cannot measure run-to-run noise and assumes {}% (--run-noise); \
             add runs with `bench baseline add`",
            fmt_exact(super::DEFAULT_RUN_NOISE_PCT)
        );
    }
    for r in &rows {
        let values: Vec<String> = r.values.iter().map(|v| fmt_value(r.metric, *v)).collect();
        let noise = match (r.noise_pct, &r.note) {
            (_, Some(n)) => n.clone(),
            (Some(n), None) => format!("noise ±{n:.1}%"),
            (None, None) => "noise not measured".into(),
        };
        let _ = writeln!(
            out,
            "{} {}: {}: {noise}",
            r.query,
            r.metric.name(),
            values.join(", ")
        );
    }
    for p in &summary.priors {
        let _ = writeln!(
            out,
            "prior {}: ±{:.1}% (df {}, {} gates)",
            p.metric,
            p.sd_pct,
            p.df.map_or_else(|| "inf".into(), |d| format!("{d:.1}")),
            p.gates
        );
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
mod tests;

//! The console summary: a table of queries, a table of checks (targets and measured values in
//! the human units of `units`, as on the HTML page), then the verdict line.

use std::fmt::Write as _;

use super::model::{CheckStatus, Summary, Verdict};

/// Render the summary as plain text (no colours, so it reads the same in a log file).
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();

    // What was measured: the data verified, and the state it was in.
    let mut data = Vec::new();
    for v in &summary.verification {
        for t in &v.tables {
            data.push(format!(
                "verified {} ({}): {}",
                t.table,
                v.stage,
                t.note.trim_start_matches(&format!("{}: ", t.table))
            ));
        }
    }
    if let Some(p) = &summary.preparation {
        for t in &p.tables {
            data.push(format!(
                "state {} {}: {} chunks compressed of {}, {} dropped (cutoffs {} / {}), {:.1} s",
                p.state,
                t.table,
                t.chunks_compressed_total,
                t.chunks_after,
                t.chunks_dropped,
                t.compress_cutoff,
                t.drop_cutoff,
                t.compress_seconds + t.drop_seconds
            ));
        }
        if p.tables.is_empty() {
            data.push(format!("state {}", p.state));
        }
        for n in &p.notes {
            data.push(format!("note: {n}"));
        }
    }
    if summary.writes {
        data.push("note: this run includes queries with writes = true".into());
    }
    if !data.is_empty() {
        let _ = writeln!(out, "Data");
        for d in data {
            let _ = writeln!(out, "  {d}");
        }
        out.push('\n');
    }

    if !summary.queries.is_empty() {
        let mut t = Table::new(&[
            "query", "count", "qps", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
        ]);
        for q in &summary.queries {
            let l = &q.latency_ms;
            t.row(vec![
                q.name.clone(),
                q.count.to_string(),
                num(q.throughput_qps, 1),
                num(l.p50, 2),
                num(l.p95, 2),
                num(l.p99, 2),
                num(l.p999, 2),
                num(l.max, 2),
                q.errors.to_string(),
            ]);
        }
        let _ = writeln!(out, "Queries");
        out.push_str(&t.render(&[L, R, R, R, R, R, R, R, R]));
        out.push('\n');
    }
    // Evidence capture (issue 13): plan and server time per query.
    out.push_str(&super::evidence::console_lines(summary));

    if !summary.checks.is_empty() {
        let mut t = Table::new(&["check", "target", "measured", "status", "note"]);
        for c in &summary.checks {
            t.row(vec![
                c.name.clone(),
                super::units::check_target(c),
                super::units::check_measured(c),
                status_word(c.status).to_string(),
                c.note.clone().unwrap_or_default(),
            ]);
        }
        let _ = writeln!(out, "Checks");
        out.push_str(&t.render(&[L, L, R, L, L]));
        out.push('\n');
    }

    // Evidence capture (issue 13): why each failed check failed, and what-if results.
    out.push_str(&super::evidence::console_explanations(summary));
    out.push_str(&verdict_line(summary));
    out.push('\n');
    out
}

/// PASS / FAIL / UNSUPPORTED / SKIPPED.
pub fn status_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Pass => "PASS",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Unsupported => "UNSUPPORTED",
        CheckStatus::Skipped => "SKIPPED",
    }
}

/// e.g. "Verdict: FAIL (9 passed, 2 failed, 2 unsupported)".
pub fn verdict_line(summary: &Summary) -> String {
    let count = |s: CheckStatus| summary.checks.iter().filter(|c| c.status == s).count();
    let mut parts = vec![
        format!("{} passed", count(CheckStatus::Pass)),
        format!("{} failed", count(CheckStatus::Fail)),
    ];
    for (s, word) in [
        (CheckStatus::Unsupported, "unsupported"),
        (CheckStatus::Skipped, "skipped"),
    ] {
        let n = count(s);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let word = match summary.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Interrupted => "INTERRUPTED",
    };
    let mut line = format!("Verdict: {word} ({})", parts.join(", "));
    if summary.degraded {
        line.push_str("; degraded: some queries failed");
    }
    if summary.interrupted {
        line.push_str("; interrupted: figures cover what ran until the signal");
    }
    line
}

fn num(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// Column alignment: text left, numbers right.
#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}
use Align::{Left as L, Right as R};

/// A text table with aligned columns; the last column is never padded.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, align: &[Align]) -> String {
        let n = self.header.len();
        let mut width = vec![0usize; n];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(n) {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = width[i] - c.chars().count();
                if i + 1 == n {
                    line.push_str(c);
                } else if align.get(i) != Some(&R) {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["name", "n", "note"]);
        t.row(vec!["a".into(), "10".into(), "x".into()]);
        t.row(vec!["long".into(), "2".into(), String::new()]);
        assert_eq!(
            t.render(&[L, R, L]),
            "name   n  note\na     10  x\nlong   2\n"
        );
    }
}

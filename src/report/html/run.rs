//! A run's `index.html`: the verdict banner, the failed checks first with the evidence behind
//! each (plan summary, server time, buffers, explanation, what-if), an overview of each
//! query's p95 against its target (`overview`), the other checks, the time series of every
//! phase, and the tables of queries, storage, load, verification, preparation and environment
//! (`run_tables`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Figure, Link, Table};
use crate::report::model::{CheckResult, CheckStatus, QueryStats, Summary, Verdict, WhatIf};
use crate::report::units::{self, count, ms};

/// The view of `index.html`.
#[derive(Debug, Clone, Serialize)]
pub struct RunPage {
    pub title: String,
    pub subtitle: String,
    pub banner: Banner,
    pub links: Vec<Link>,
    /// Checks that make the verdict fail, in check order.
    pub failed: Vec<CheckCard>,
    /// The rest: passed, then unsupported, then skipped.
    pub others: Vec<CheckCard>,
    pub overview: Option<String>,
    pub phases: Vec<Figure>,
    pub percentiles: Vec<Figure>,
    pub what_if: Vec<WhatIfView>,
    pub tables: Vec<Table>,
    pub notes: Vec<String>,
}

/// The verdict at the top of the page: a word, a shape and a sentence, so it reads without
/// colour.
#[derive(Debug, Clone, Serialize)]
pub struct Banner {
    /// "pass", "fail" or "interrupted" (the CSS class and the icon's shape).
    pub class: String,
    pub word: String,
    pub headline: String,
    pub details: Vec<String>,
}

/// One check as a card (failed) or a table row (the others).
#[derive(Debug, Clone, Serialize)]
pub struct CheckCard {
    pub name: String,
    pub kind: String,
    /// "fail", "pass", "unsupported", "skipped".
    pub class: String,
    pub word: String,
    pub target: String,
    pub measured: String,
    pub note: Option<String>,
    pub reason: Option<String>,
    pub next_step: Option<String>,
    /// (label, value) lines of evidence from the check's query.
    pub evidence: Vec<(String, String)>,
    /// Files of the report behind the check: saved plans, the comparison page.
    pub files: Vec<Link>,
    pub what_if: Vec<WhatIfView>,
}

/// A measured alternative (`[run] what_if`).
#[derive(Debug, Clone, Serialize)]
pub struct WhatIfView {
    pub query: String,
    pub kind: String,
    pub baseline: String,
    pub alternative: String,
    pub speedup: String,
    pub note: String,
    pub sql: String,
}

impl From<&WhatIf> for WhatIfView {
    fn from(w: &WhatIf) -> Self {
        WhatIfView {
            query: w.query.clone(),
            kind: w.kind.clone(),
            baseline: ms(w.baseline_p95_ms),
            alternative: ms(w.alternative_p95_ms),
            speedup: if w.alternative_p95_ms > 0.0 {
                units::ratio(w.baseline_p95_ms / w.alternative_p95_ms)
            } else {
                "-".into()
            },
            note: w.note.clone(),
            sql: w.sql.clone(),
        }
    }
}

/// Whether the scenario counts unsupported checks as failures (`[checks] unsupported =
/// "fail"`).
fn unsupported_fails(summary: &Summary) -> bool {
    summary
        .scenario
        .resolved
        .pointer("/checks/unsupported")
        .and_then(|v| v.as_str())
        == Some("fail")
}

/// Whether a check makes the verdict fail: the verdict's own rule (`checks::verdict`).
fn counts_as_failure(c: &CheckResult, unsupported_fail: bool) -> bool {
    use crate::scenario::plan::UnsupportedEffect;
    crate::checks::counts_as_failure(
        c,
        if unsupported_fail {
            UnsupportedEffect::Fail
        } else {
            UnsupportedEffect::Skip
        },
    )
}

/// The checks in the order the page shows them: those that fail the verdict first, then
/// passed, unsupported and skipped; the check order is kept within each group.
pub fn page_order(checks: &[CheckResult], unsupported_fail: bool) -> Vec<&CheckResult> {
    let rank = |c: &CheckResult| {
        if counts_as_failure(c, unsupported_fail) {
            0
        } else {
            match c.status {
                CheckStatus::Pass => 1,
                CheckStatus::Unsupported => 2,
                CheckStatus::Skipped => 3,
                CheckStatus::Fail => 0,
            }
        }
    };
    let mut v: Vec<&CheckResult> = checks.iter().collect();
    v.sort_by_key(|c| rank(c));
    v
}

/// The query a check is about, from its name: `latency.<q>.<metric>`,
/// `pruning.<q>.chunks_scanned`, `pruning_speedup.<q>`.
pub fn query_of_check<'a>(c: &CheckResult, queries: &'a [QueryStats]) -> Option<&'a QueryStats> {
    let rest = c.name.strip_prefix(&format!("{}.", c.kind))?;
    let q = match c.kind.as_str() {
        "latency" | "pruning" => rest.rsplit_once('.').map(|(q, _)| q)?,
        "pruning_speedup" => rest,
        _ => return None,
    };
    queries.iter().find(|s| s.name == q)
}

/// The CSS class and the word of a status (the console's word).
fn status_word(s: CheckStatus) -> (&'static str, &'static str) {
    let class = match s {
        CheckStatus::Pass => "pass",
        CheckStatus::Fail => "fail",
        CheckStatus::Unsupported => "unsupported",
        CheckStatus::Skipped => "skipped",
    };
    (class, crate::report::console::status_word(s))
}

/// The evidence lines of one query phase: the plan's summary, the server's time against the
/// client's, the buffers.
pub fn evidence_lines(q: &QueryStats) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let l = &q.latency_ms;
    out.push((
        "client latency".into(),
        format!(
            "p50 {}, p95 {}, p99 {}, mean {} over {} ({}, {})",
            ms(l.p50),
            ms(l.p95),
            ms(l.p99),
            ms(l.mean),
            units::count_of(q.count as f64, "query"),
            units::count_of(f64::from(q.clients), "client"),
            q.mode.replace('_', " ")
        ),
    ));
    let Some(e) = &q.evidence else {
        if let Some(p) = &q.plan {
            if let Some(c) = p.custom.as_ref().or(p.generic.as_ref()) {
                out.push((
                    "plan".into(),
                    format!(
                        "{} of {} chunks executed (plan_cache_mode {})",
                        c.chunks_executed, c.chunks_total, p.plan_cache_mode
                    ),
                ));
            }
        }
        out.push((
            "evidence".into(),
            "not captured in this report (no plan summary or server time)".into(),
        ));
        return out;
    };
    if let Some(p) = &e.plan {
        let mut line = format!(
            "{} plan, top node {}: {}, {} rows",
            p.plan,
            p.top_node,
            units::count_of(p.chunks_executed as f64, "chunk"),
            count(p.rows as f64)
        );
        if p.workers_launched > 0 {
            line.push_str(&format!(", {} parallel workers", p.workers_launched));
        }
        if let Some(x) = p.execution_ms {
            line.push_str(&format!(", executed in {}", ms(x)));
        }
        if let Some(x) = p.planning_ms {
            line.push_str(&format!(", planned in {}", ms(x)));
        }
        out.push(("plan".into(), line));
        out.push((
            "plan buffers".into(),
            format!(
                "shared hit {}, read {}",
                units::blocks(p.shared_hit_blocks),
                units::blocks(p.shared_read_blocks)
            ),
        ));
    }
    match (&e.server, &e.server_note) {
        (Some(s), _) => {
            let mut line = format!(
                "mean execution {} (σ {}) over {} calls",
                ms(s.mean_exec_ms),
                ms(s.stddev_exec_ms),
                count(s.calls as f64)
            );
            if let Some(p) = s.mean_plan_ms {
                line.push_str(&format!(", planning {}", ms(p)));
            }
            if let Some(d) = s.client_minus_server_ms {
                line.push_str(&format!("; client minus server {}", ms(d)));
            }
            out.push(("server time".into(), line));
            let mut buf = format!(
                "shared hit {}, read {}, written {}",
                units::blocks(s.shared_blks_hit),
                units::blocks(s.shared_blks_read),
                units::blocks(s.shared_blks_written)
            );
            let hits = s.shared_blks_hit + s.shared_blks_read;
            if hits > 0 {
                buf.push_str(&format!(
                    " ({} from cache)",
                    units::pct(s.shared_blks_hit as f64 / hits as f64 * 100.0)
                ));
            }
            if s.calls > 1 {
                buf.push_str(&format!(
                    "; per call hit {}, read {}",
                    count((s.shared_blks_hit as f64 / s.calls as f64).round()),
                    count((s.shared_blks_read as f64 / s.calls as f64).round())
                ));
            }
            if s.temp_blks_read + s.temp_blks_written > 0 {
                buf.push_str(&format!(
                    "; temp read {}, written {}",
                    units::blocks(s.temp_blks_read),
                    units::blocks(s.temp_blks_written)
                ));
            }
            out.push(("server buffers".into(), buf));
        }
        (None, Some(note)) => out.push(("server time".into(), note.clone())),
        (None, None) => {}
    }
    out
}

fn card(c: &CheckResult, summary: &Summary) -> CheckCard {
    let (class, word) = status_word(c.status);
    let q = query_of_check(c, &summary.queries);
    let explanation = summary.explanations.iter().find(|e| e.check == c.name);
    let is_failure = counts_as_failure(c, unsupported_fails(summary));
    let mut note = c.note.clone();
    if c.status == CheckStatus::Unsupported && is_failure {
        note = Some(format!(
            "{}counts as a failure: the scenario sets [checks] unsupported = \"fail\"",
            note.map(|n| format!("{n}; ")).unwrap_or_default()
        ));
    }
    CheckCard {
        name: c.name.clone(),
        kind: c.kind.clone(),
        class: if is_failure { "fail" } else { class }.into(),
        word: word.into(),
        target: units::check_target(c),
        measured: units::check_measured(c),
        note,
        reason: explanation.map(|e| e.reason.clone()),
        next_step: explanation.and_then(|e| e.next_step.clone()),
        evidence: if is_failure {
            q.map(evidence_lines).unwrap_or_default()
        } else {
            Vec::new()
        },
        files: if c.kind == "gate" && summary.comparison.is_some() {
            vec![Link {
                href: "compare.html".into(),
                label: "every gate with its noise and p-value (compare.html)".into(),
            }]
        } else {
            q.and_then(|q| q.evidence.as_ref())
                .map(|e| {
                    e.plan_files
                        .iter()
                        .map(|f| Link {
                            href: f.clone(),
                            label: f.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        },
        what_if: q
            .map(|q| {
                summary
                    .what_if
                    .iter()
                    .filter(|w| w.query == q.name)
                    .map(WhatIfView::from)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn banner(summary: &Summary) -> Banner {
    let n = |s: CheckStatus| summary.checks.iter().filter(|c| c.status == s).count();
    let unsupported_fail = unsupported_fails(summary);
    let failing = summary
        .checks
        .iter()
        .filter(|c| counts_as_failure(c, unsupported_fail))
        .count();
    let total = summary.checks.len();
    let (class, word) = match summary.verdict {
        Verdict::Pass => ("pass", "PASS"),
        Verdict::Fail => ("fail", "FAIL"),
        Verdict::Interrupted => ("interrupted", "INTERRUPTED"),
    };
    let headline = match summary.verdict {
        Verdict::Pass if n(CheckStatus::Pass) == total => format!("all {total} checks passed"),
        Verdict::Pass => format!(
            "{} of {total} checks passed; none failed",
            n(CheckStatus::Pass)
        ),
        Verdict::Fail if failing > 0 => format!(
            "{failing} of {total} check{} failed",
            if total == 1 { "" } else { "s" }
        ),
        Verdict::Fail => "the run failed".to_string(),
        Verdict::Interrupted => {
            "stopped by a signal: the figures cover what ran until then".to_string()
        }
    };
    let mut details = vec![format!(
        "{} passed, {} failed, {} unsupported{}, {} skipped",
        n(CheckStatus::Pass),
        n(CheckStatus::Fail),
        n(CheckStatus::Unsupported),
        match (n(CheckStatus::Unsupported), unsupported_fail) {
            (0, _) => "",
            (_, true) => " (counted as failures: [checks] unsupported = \"fail\")",
            (_, false) => " (not counted: this server cannot measure them)",
        },
        n(CheckStatus::Skipped)
    )];
    if summary.degraded {
        let errors: u64 = summary.queries.iter().map(|q| q.errors).sum();
        details.push(format!(
            "degraded: {} queries failed (see the errors column)",
            count(errors as f64)
        ));
    }
    if summary.writes {
        details.push("this run includes queries with writes = true".into());
    }
    Banner {
        class: class.into(),
        word: word.into(),
        headline,
        details,
    }
}

/// Everything `index.html` shows, built from the summary and the plots already written.
pub fn page(
    summary: &Summary,
    percentile_plots: &[PathBuf],
    phase_plots: &[(String, PathBuf)],
    overview: Option<String>,
    links: Vec<Link>,
) -> anyhow::Result<RunPage> {
    let unsupported_fail = unsupported_fails(summary);
    let (failed, others): (Vec<&CheckResult>, Vec<&CheckResult>) =
        page_order(&summary.checks, unsupported_fail)
            .into_iter()
            .partition(|c| counts_as_failure(c, unsupported_fail));
    let env = &summary.environment;
    let subtitle = format!(
        "{} · {} to {} · PostgreSQL {}, TimescaleDB {} ({}, {} server) · bench {}",
        summary.scenario.file,
        summary.started_at,
        summary.finished_at,
        env.postgres_version,
        env.timescaledb_version,
        env.edition,
        env.server,
        summary.bench_version
    );
    let mut notes = Vec::new();
    if let Some(r) = &summary.resources {
        if !r.server_scope.is_empty() {
            notes.push(format!("server CPU: {}", r.server_scope));
        }
        notes.extend(r.notes.iter().cloned());
    } else {
        notes.push(
            "resource series (CPU, WAL, checkpoints, ingest) were not captured in this report"
                .into(),
        );
    }
    let phases = phase_plots
        .iter()
        .map(|(name, p)| {
            let with_resources = summary
                .resources
                .as_ref()
                .is_some_and(|r| r.samples.iter().any(|s| &s.phase == name));
            Figure::from_file(
                p,
                &format!(
                    "phase {name}: latency percentiles and throughput per stats interval{}",
                    if with_resources {
                        ", with the resources measured in the same intervals (dashed lines: \
                         checkpoints)"
                    } else {
                        " (no resource samples for this phase)"
                    }
                ),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let percentiles = percentile_plots
        .iter()
        .map(|p| Figure::from_file(p, "latency by percentile over the whole measured phase"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(RunPage {
        title: format!("esp-bench: {}", summary.scenario.name),
        subtitle,
        banner: banner(summary),
        links,
        failed: failed.into_iter().map(|c| card(c, summary)).collect(),
        others: others.into_iter().map(|c| card(c, summary)).collect(),
        overview,
        phases,
        percentiles,
        what_if: summary.what_if.iter().map(WhatIfView::from).collect(),
        tables: super::run_tables::tables(summary),
        notes,
    })
}

/// Write `index.html` into `dir`: the overview SVG is rendered from its own template and
/// inlined with the plots already written.
pub fn write_index(
    dir: &Path,
    summary: &Summary,
    percentile_plots: &[PathBuf],
    phase_plots: &[(String, PathBuf)],
    links: Vec<Link>,
) -> anyhow::Result<PathBuf> {
    let overview = match super::overview::overview(summary) {
        Some(o) => Some(super::render("overview.svg", &o)?),
        None => None,
    };
    let view = page(summary, percentile_plots, phase_plots, overview, links)?;
    let path = dir.join("index.html");
    super::write(&path, "index.html", &view)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: CheckStatus) -> CheckResult {
        CheckResult {
            name: name.into(),
            kind: name.split('.').next().unwrap_or("").into(),
            target: "<= 1".into(),
            measured: Some(1.0),
            measured_text: None,
            status,
            note: None,
        }
    }

    #[test]
    fn failed_checks_come_first_and_groups_keep_their_order() {
        use CheckStatus::*;
        let checks = vec![
            check("a", Pass),
            check("b", Skipped),
            check("c", Fail),
            check("d", Unsupported),
            check("e", Pass),
            check("f", Fail),
        ];
        let names = |v: Vec<&CheckResult>| v.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(page_order(&checks, false)),
            ["c", "f", "a", "e", "d", "b"]
        );
        // With `unsupported = "fail"` an unsupported check is one of the failures.
        assert_eq!(
            names(page_order(&checks, true)),
            ["c", "d", "f", "a", "e", "b"]
        );
        assert!(page_order(&[], false).is_empty());
    }

    #[test]
    fn checks_find_their_query() {
        let q = |name: &str| QueryStats {
            name: name.into(),
            mode: "closed".into(),
            clients: 1,
            rate: None,
            count: 1,
            errors: 0,
            errors_by_sqlstate: Default::default(),
            rows_returned: 0,
            duration_s: 1.0,
            throughput_qps: 1.0,
            latency_ms: Default::default(),
            schedule_lag_ms: None,
            histogram: String::new(),
            intervals: vec![],
            plan: None,
            evidence: None,
        };
        let queries = vec![q("latest_24h"), q("agg_7d_fleet")];
        let find = |name: &str| {
            query_of_check(&check(name, CheckStatus::Fail), &queries).map(|q| q.name.clone())
        };
        assert_eq!(
            find("latency.agg_7d_fleet.p95_ms").as_deref(),
            Some("agg_7d_fleet")
        );
        assert_eq!(
            find("pruning.latest_24h.chunks_scanned").as_deref(),
            Some("latest_24h")
        );
        assert_eq!(
            find("pruning_speedup.latest_24h").as_deref(),
            Some("latest_24h")
        );
        assert_eq!(find("chunks.esp_telemetry.count"), None);
        assert_eq!(find("latency.unknown.p95_ms"), None);
    }
}

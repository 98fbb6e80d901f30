//! A run's `index.html`: the verdict banner, the failed checks first with the evidence behind
//! each (plan summary, server time, buffers, explanation, what-if), an overview of each
//! query's p95 against its target, the other checks, the time series of every phase, and the
//! tables of queries, storage, load, verification, preparation and environment.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Figure, Link, Table};
use crate::report::model::{CheckResult, CheckStatus, QueryStats, Summary, Verdict, WhatIf};
use crate::report::units::{self, bytes, count, ms, secs};

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

/// Whether a check makes the verdict fail.
fn counts_as_failure(c: &CheckResult, unsupported_fail: bool) -> bool {
    match c.status {
        CheckStatus::Fail => true,
        CheckStatus::Unsupported => unsupported_fail,
        CheckStatus::Pass | CheckStatus::Skipped => false,
    }
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
        tables: tables(summary),
        notes,
    })
}

/// The tables below the checks.
fn tables(summary: &Summary) -> Vec<Table> {
    let mut out = Vec::new();
    let mut t = Table::new(
        "queries",
        "Queries",
        &[
            ("query", false),
            ("mode", false),
            ("queries", true),
            ("throughput", true),
            ("p50", true),
            ("p95", true),
            ("p99", true),
            ("max", true),
            ("errors", true),
            ("server mean", true),
            ("client − server", true),
            ("cache hit", true),
        ],
    );
    let mut by_sqlstate = Vec::new();
    for q in &summary.queries {
        let l = &q.latency_ms;
        let server = q.evidence.as_ref().and_then(|e| e.server.as_ref());
        let errors = if q.errors == 0 {
            "0".to_string()
        } else {
            let by: Vec<String> = q
                .errors_by_sqlstate
                .iter()
                .map(|(k, v)| format!("{k} ×{}", count(*v as f64)))
                .collect();
            by_sqlstate.push(format!("{}: {}", q.name, by.join(", ")));
            format!(
                "{} ({})",
                count(q.errors as f64),
                units::fraction_pct(q.error_rate())
            )
        };
        t.row(vec![
            q.name.clone(),
            match q.rate {
                Some(r) => format!("{}/s ×{}", units::decimal(r), q.clients),
                None => format!("closed ×{}", q.clients),
            },
            count(q.count as f64),
            format!("{} q/s", units::decimal(q.throughput_qps)),
            ms(l.p50),
            ms(l.p95),
            ms(l.p99),
            ms(l.max),
            errors,
            server.map_or("-".into(), |s| ms(s.mean_exec_ms)),
            server
                .and_then(|s| s.client_minus_server_ms)
                .map_or("-".into(), ms),
            server
                .filter(|s| s.shared_blks_hit + s.shared_blks_read > 0)
                .map_or("-".into(), |s| {
                    units::pct(
                        s.shared_blks_hit as f64 / (s.shared_blks_hit + s.shared_blks_read) as f64
                            * 100.0,
                    )
                }),
        ]);
    }
    t.notes.push(
        "mode: closed ×N is N clients back to back; R/s ×N is a fixed rate of R queries/s \
         over N clients. Server columns: pg_stat_statements over the phase."
            .into(),
    );
    if !by_sqlstate.is_empty() {
        t.notes
            .push(format!("errors by SQLSTATE: {}", by_sqlstate.join("; ")));
    }
    if summary.queries.iter().any(|q| q.schedule_lag_ms.is_some()) {
        t.notes.push(
            "fixed-rate latency is timed from each query's intended start (no coordinated \
             omission)"
                .into(),
        );
    }
    out.push(t);

    let mut t = Table::new(
        "storage",
        "Storage",
        &[
            ("table", false),
            ("rows", true),
            ("chunks", true),
            ("chunk interval", true),
            ("total", true),
            ("heap", true),
            ("indexes", true),
            ("toast", true),
            ("compressed", true),
        ],
    );
    for s in &summary.storage {
        t.row(vec![
            s.table.clone(),
            format!(
                "{}{}",
                if s.rows_exact { "" } else { "≈ " },
                count(s.rows as f64)
            ),
            units::count_of(s.chunks as f64, "chunk"),
            secs(s.chunk_interval_s as f64),
            bytes(s.total_bytes as f64),
            bytes(s.heap_bytes as f64),
            bytes(s.index_bytes as f64),
            bytes(s.toast_bytes as f64),
            match (s.compressed_before_bytes, s.compressed_after_bytes) {
                (Some(b), Some(a)) if a > 0 => format!(
                    "{} → {} ({}, {})",
                    bytes(b as f64),
                    bytes(a as f64),
                    units::ratio(b as f64 / a as f64),
                    units::count_of(s.compressed_chunks.unwrap_or(0) as f64, "chunk")
                ),
                _ => "not measured".into(),
            },
        ]);
    }
    out.push(t);

    let mut t = Table::new(
        "load",
        "Load",
        &[
            ("table", false),
            ("rows", true),
            ("time", true),
            ("rate", true),
            ("workers", true),
            ("batch", true),
            ("retries", true),
        ],
    );
    for l in &summary.load {
        t.row(vec![
            l.table.clone(),
            count(l.rows as f64),
            secs(l.seconds),
            units::rate(l.rows_per_sec, "rows/s"),
            l.workers.to_string(),
            units::count_of(l.batch_size as f64, "row"),
            count(l.retries as f64),
        ]);
    }
    out.push(t);

    if !summary.verification.is_empty() {
        let mut t = Table::new(
            "verification",
            "Verification",
            &[
                ("stage", false),
                ("table", false),
                ("result", false),
                ("stored", true),
                ("expected", true),
                ("ledger", true),
                ("wells off", true),
                ("note", false),
            ],
        );
        for v in &summary.verification {
            for tv in &v.tables {
                t.row(vec![
                    v.stage.clone(),
                    tv.table.clone(),
                    if tv.ok {
                        "✓ verified"
                    } else {
                        "✗ MISMATCH"
                    }
                    .into(),
                    count(tv.stored_rows as f64),
                    count(tv.expected_rows as f64),
                    count(tv.ledger_rows as f64),
                    format!("{} of {}", tv.wells_mismatched, tv.wells),
                    tv.note.clone(),
                ]);
            }
        }
        out.push(t);
    }

    if let Some(p) = &summary.preparation {
        let mut t = Table::new(
            "preparation",
            &format!("Preparation (state {})", p.state),
            &[
                ("table", false),
                ("compress after", true),
                ("drop after", true),
                ("chunks before", true),
                ("dropped", true),
                ("compressed", true),
                ("after", true),
                ("time", true),
            ],
        );
        for tp in &p.tables {
            t.row(vec![
                tp.table.clone(),
                secs(tp.compress_after_s as f64),
                secs(tp.drop_after_s as f64),
                count(tp.chunks_before as f64),
                count(tp.chunks_dropped as f64),
                if tp.compression_applied {
                    format!(
                        "{} ({} in total)",
                        count(tp.chunks_compressed as f64),
                        count(tp.chunks_compressed_total as f64)
                    )
                } else {
                    "not applied".into()
                },
                count(tp.chunks_after as f64),
                secs(tp.compress_seconds + tp.drop_seconds),
            ]);
        }
        t.notes.push(format!(
            "{} in all, of which ANALYZE {}",
            secs(p.seconds),
            secs(p.analyze_seconds)
        ));
        t.notes.extend(p.notes.iter().cloned());
        out.push(t);
    }

    let env = &summary.environment;
    let mut t = Table::new("environment", "Environment", &[("", false), ("", false)]);
    t.row(vec![
        "server".into(),
        format!(
            "PostgreSQL {}, TimescaleDB {} ({} edition, {})",
            env.postgres_version, env.timescaledb_version, env.edition, env.server
        ),
    ]);
    t.row(vec![
        "machine".into(),
        format!(
            "{}, {} cores, {} memory",
            env.os,
            env.cores,
            bytes(env.memory_bytes as f64)
        ),
    ]);
    t.row(vec![
        "scenario".into(),
        format!(
            "{} ({}, fingerprint {})",
            summary.scenario.name, summary.scenario.file, summary.scenario.fingerprint
        ),
    ]);
    for (k, v) in &env.settings {
        t.row(vec![k.clone(), v.clone()]);
    }
    for s in &env.shards {
        t.row(vec![
            format!("shard {}", s.index),
            format!(
                "{} pid {}, wells {}..{}, clock offset {}, {:?}",
                s.host,
                s.pid,
                s.wells_start,
                s.wells_end,
                ms(s.clock_offset_ms),
                s.verdict
            ),
        ]);
    }
    out.push(t);
    out
}

/// Rows of the p95 overview chart: one per query, with the p95 target of its latency check.
#[derive(Debug, Clone, Serialize)]
pub struct OverviewRow {
    pub query: String,
    pub p95: String,
    pub target: Option<String>,
    /// "pass", "fail" or "none" (no p95 target).
    pub class: String,
    pub word: String,
    pub y: f64,
    pub bar: f64,
    pub target_x: Option<f64>,
}

/// The SVG overview of every query's p95 against its target (None without queries).
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub plot_width: f64,
    pub rows: Vec<OverviewRow>,
    pub ticks: Vec<(f64, String)>,
    pub log: bool,
}

/// Lay out the overview chart: a bar per query's p95, its target as a tick, on a log axis when
/// the values span more than a factor of 30.
pub fn overview(summary: &Summary) -> Option<Overview> {
    let queries: Vec<&QueryStats> = summary.queries.iter().filter(|q| q.count > 0).collect();
    if queries.is_empty() {
        return None;
    }
    let target_of = |q: &QueryStats| {
        summary
            .checks
            .iter()
            .find(|c| c.name == format!("latency.{}.p95_ms", q.name))
    };
    let mut values: Vec<f64> = queries.iter().map(|q| q.latency_ms.p95).collect();
    let mut targets = Vec::new();
    for q in &queries {
        if let Some(t) = target_of(q).and_then(|c| parse_threshold(&c.target)) {
            targets.push(t);
            values.push(t);
        }
    }
    let hi = values.iter().copied().fold(0.0f64, f64::max).max(1e-3);
    let lo = values
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min)
        .min(hi);
    let log = hi / lo > 30.0;
    let (left, plot_width, row_h) = (220.0, 640.0, 30.0);
    let (a, b) = if log {
        (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil()),
        )
    } else {
        (0.0, nice_ceiling(hi * 1.1))
    };
    let x = |v: f64| -> f64 {
        let f = if log {
            (v.max(a).log10() - a.log10()) / (b.log10() - a.log10())
        } else {
            (v - a) / (b - a)
        };
        (left + f.clamp(0.0, 1.0) * plot_width).round()
    };
    let ticks: Vec<(f64, String)> = if log {
        let mut t = Vec::new();
        let mut v = a;
        while v <= b * 1.0001 {
            t.push((x(v), ms(v)));
            v *= 10.0;
        }
        t
    } else {
        (0..=5)
            .map(|i| {
                let v = a + (b - a) * i as f64 / 5.0;
                (x(v), ms(v))
            })
            .collect()
    };
    let rows = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let check = target_of(q);
            let t = check.and_then(|c| parse_threshold(&c.target));
            let (class, word) = match check.map(|c| c.status) {
                Some(CheckStatus::Fail) => ("fail", "✗ over target"),
                Some(CheckStatus::Pass) => ("pass", "✓ within target"),
                _ => ("none", "no p95 target"),
            };
            OverviewRow {
                query: q.name.clone(),
                p95: ms(q.latency_ms.p95),
                target: t.map(ms),
                class: class.into(),
                word: word.into(),
                y: 30.0 + i as f64 * row_h,
                bar: x(q.latency_ms.p95) - left,
                target_x: t.map(x),
            }
        })
        .collect::<Vec<_>>();
    Some(Overview {
        width: left + plot_width + 240.0,
        height: 30.0 + rows.len() as f64 * row_h + 40.0,
        left,
        plot_width,
        rows,
        ticks,
        log,
    })
}

/// The number of a "<= 50" target.
fn parse_threshold(target: &str) -> Option<f64> {
    let t = target.trim();
    ["<=", ">=", "<", ">"]
        .iter()
        .find_map(|op| t.strip_prefix(op))
        .and_then(|r| r.trim().parse().ok())
}

/// 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if p * m >= v {
            return p * m;
        }
    }
    p * 10.0
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
    let overview = match overview(summary) {
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

    #[test]
    fn nice_axis_ends() {
        assert_eq!(nice_ceiling(132.0), 200.0);
        assert_eq!(nice_ceiling(45.0), 50.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(parse_threshold("<= 50"), Some(50.0));
        assert_eq!(parse_threshold("in [1, 2]"), None);
    }
}

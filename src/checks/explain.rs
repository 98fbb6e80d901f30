//! Explanations of failed checks (`summary.explanations`): for each failed check, one reason
//! backed by a number from the plan or the server, and a suggested next step. Pure: it reads
//! the parts of a summary, so it is tested without a server.

use crate::db::plans::group;
use crate::model::report::{
    CheckResult, Explanation, PlanChunks, QueryStats, TableStorage, WhatIf,
};
use crate::scenario::plan::UnsupportedEffect;

use super::eval::fmt_num;
use crate::model::units::{check_measured, check_target, ms};

/// What the explanations read.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub checks: &'a [CheckResult],
    pub queries: &'a [QueryStats],
    pub storage: &'a [TableStorage],
    pub what_if: &'a [WhatIf],
    /// Why `[run] what_if` measured nothing (e.g. the Apache edition has no continuous
    /// aggregates), when it was asked for.
    pub what_if_note: Option<&'a str>,
    /// Queries a continuous aggregate can answer (the built-in fleet and well aggregates).
    pub cagg_candidates: &'a [String],
    /// Whether `[run] what_if` asked for "cagg".
    pub cagg_requested: bool,
    pub unsupported: UnsupportedEffect,
}

/// One explanation per failed check, in the checks' order.
pub fn explain(input: &Input) -> Vec<Explanation> {
    input
        .checks
        .iter()
        .filter(|c| super::verdict::counts_as_failure(c, input.unsupported))
        .map(|c| explain_one(input, c))
        .collect()
}

/// The metric of a latency check as read in a sentence: "p95_ms" -> "p95" (the value carries
/// its unit).
fn metric_label(c: &CheckResult) -> &str {
    let m = metric_of(c);
    m.strip_suffix("_ms").unwrap_or(m)
}

fn explain_one(input: &Input, c: &CheckResult) -> Explanation {
    let mut parts = c.name.splitn(3, '.');
    let kind = parts.next().unwrap_or("");
    let subject = parts.next().unwrap_or("");
    let (reason, next_step) = match kind {
        "latency" => latency(input, c, subject),
        "pruning" => pruning(input, subject),
        "pruning_speedup" => speedup(input, c, subject),
        "compression" => compression(input, c, subject),
        _ => (fallback(c), None),
    };
    Explanation {
        check: c.name.clone(),
        reason,
        next_step,
    }
}

fn fallback(c: &CheckResult) -> String {
    let measured = match (c.measured, &c.measured_text) {
        (None, None) => "nothing".into(),
        _ => check_measured(c),
    };
    let target = check_target(c);
    match &c.note {
        Some(n) => format!("measured {measured} against {target}: {n}"),
        None => format!("measured {measured} against {target}"),
    }
}

/// The chunks line of a plan: "executes 31 of 33 chunks (29 compressed)".
fn chunks_text(p: &PlanChunks) -> String {
    format!(
        "executes {} of {} chunks ({} compressed)",
        p.chunks_executed, p.chunks_total, p.chunks_executed_compressed
    )
}

/// The plan chunk facts of the plan the query's phase ran.
fn ran_chunks(q: &QueryStats) -> Option<&PlanChunks> {
    let pe = q.plan.as_ref()?;
    let generic = q
        .evidence
        .as_ref()
        .and_then(|e| e.plan.as_ref())
        .is_some_and(|p| p.plan == "generic");
    if generic {
        pe.generic.as_ref()
    } else {
        pe.custom.as_ref().or(pe.generic.as_ref())
    }
}

fn latency(input: &Input, c: &CheckResult, query: &str) -> (String, Option<String>) {
    let Some(q) = input.queries.iter().find(|q| q.name == query) else {
        return (fallback(c), None);
    };
    let mut why = Vec::new();
    if c.measured.is_some() {
        why.push(format!(
            "{} {} against {}",
            metric_label(c),
            check_measured(c),
            check_target(c)
        ));
    }
    let ev = q.evidence.as_ref();
    let server = ev.and_then(|e| e.server.as_ref());
    let mut outside_server = false;
    match server {
        Some(s) => {
            let server_ms = s.mean_exec_ms + s.mean_plan_ms.unwrap_or(0.0);
            let client = q.latency_ms.mean;
            why.push(format!(
                "server mean {} (execution {} + planning {}) of the client's mean {}",
                ms(server_ms),
                ms(s.mean_exec_ms),
                ms(s.mean_plan_ms.unwrap_or(0.0)),
                ms(client)
            ));
            outside_server = client > 0.0 && server_ms < 0.5 * client;
            if let (Some(per_call_read), Some(per_call_hit)) = (
                s.shared_blks_read.checked_div(s.calls),
                s.shared_blks_hit.checked_div(s.calls),
            ) {
                why.push(format!(
                    "{} shared blocks read and {} hit per call",
                    group(per_call_read),
                    group(per_call_hit)
                ));
            }
        }
        None => {
            if let Some(n) = ev.and_then(|e| e.server_note.as_ref()) {
                why.push(format!("server time unknown ({n})"));
            }
        }
    }
    let chunks = ran_chunks(q);
    let label = ev
        .and_then(|e| e.plan.as_ref())
        .map_or("the", |p| p.plan.as_str());
    if let Some(p) = chunks {
        why.push(format!("{label} plan {}", chunks_text(p)));
    }
    // The phase ran a generic plan that executes more chunks than the custom plan would.
    let generic_worse = match (label, q.plan.as_ref()) {
        ("generic", Some(pe)) => match (&pe.custom, &pe.generic) {
            (Some(c), Some(g)) if c.chunks_executed < g.chunks_executed => Some((c, g)),
            _ => None,
        },
        _ => None,
    };
    if let Some(p) = ev.and_then(|e| e.plan.as_ref()) {
        why.push(format!(
            "top node {}, {} rows, {} parallel worker{}",
            p.top_node,
            group(p.rows),
            p.workers_launched,
            if p.workers_launched == 1 { "" } else { "s" }
        ));
    }

    let next = if let Some((c, g)) = generic_worse {
        Some(format!(
            "the phase ran the generic plan, which executes {} of {} chunks where the custom \
             plan executes {}: set plan_cache_mode = \"force_custom_plan\" on the query (or \
             send the time bound as a literal)",
            g.chunks_executed, g.chunks_total, c.chunks_executed
        ))
    } else if input.cagg_candidates.iter().any(|n| n == query) {
        match input
            .what_if
            .iter()
            .find(|w| w.query == query && w.kind == "cagg")
        {
            Some(w) => Some(format!(
                "a continuous aggregate: measured p95 {} against {} without it ({})",
                ms(w.alternative_p95_ms),
                ms(w.baseline_p95_ms),
                w.note
            )),
            None => match (input.cagg_requested, input.what_if_note) {
                (true, Some(n)) => Some(format!("a continuous aggregate; {n}")),
                _ => Some(
                    "a continuous aggregate: set [run] what_if = [\"cagg\"] to measure it".into(),
                ),
            },
        }
    } else if outside_server {
        Some(
            "most of the latency is outside the server's execution: check the number of \
             clients against the cores (queueing), the rows returned per call, and the network"
                .into(),
        )
    } else if chunks.is_some_and(|p| p.chunks_total > 2 && 2 * p.chunks_executed > p.chunks_total) {
        Some(
            "the query reads most chunks: bound it in time (a predicate on \"timestamp\" the \
             planner can prune on), or precompute it (a continuous aggregate)"
                .into(),
        )
    } else if server.is_some_and(|s| s.shared_blks_read > s.shared_blks_hit) {
        Some(
            "most blocks come from outside shared_buffers: raise shared_buffers, or compare \
             with [run] cache = \"both\""
                .into(),
        )
    } else {
        match ev.and_then(|e| e.plan_files.iter().find(|f| f.ends_with(".txt"))) {
            Some(f) => Some(format!("read {f} for the plan node that takes the time")),
            None => Some("run with [run] capture = true to save the query's plan".into()),
        }
    };
    (why.join("; "), next)
}

fn metric_of(c: &CheckResult) -> &str {
    c.name.rsplit('.').next().unwrap_or("value")
}

fn pruning(input: &Input, query: &str) -> (String, Option<String>) {
    let q = input.queries.iter().find(|q| q.name == query);
    let pe = q.and_then(|q| q.plan.as_ref());
    let custom = pe.and_then(|p| p.custom.as_ref());
    let generic = pe.and_then(|p| p.generic.as_ref());
    let mut why = Vec::new();
    if let Some(c) = custom {
        why.push(format!("the custom plan {}", chunks_text(c)));
    }
    if let Some(g) = generic {
        why.push(format!("the generic plan {}", chunks_text(g)));
    }
    if let Some(p) = pe {
        if let (Some(c), Some(g)) = (p.custom_plans, p.generic_plans) {
            why.push(format!(
                "the phase ran {c} custom and {g} generic executions (plan_cache_mode {})",
                p.plan_cache_mode
            ));
        }
    }
    let next = match (custom, generic) {
        (Some(c), Some(g)) if c.chunks_executed < g.chunks_executed => Some(
            "the generic plan cannot prune at plan time: set plan_cache_mode = \
             \"force_custom_plan\" on the query, or pass the time bound as a literal"
                .into(),
        ),
        _ => Some(
            "bound the query in time with a predicate on \"timestamp\" the planner can compare \
             with chunk ranges"
                .into(),
        ),
    };
    if why.is_empty() {
        why.push("no plan was measured".into());
    }
    (why.join("; "), next)
}

fn speedup(input: &Input, c: &CheckResult, query: &str) -> (String, Option<String>) {
    let q = input.queries.iter().find(|q| q.name == query);
    let p = q.and_then(ran_chunks);
    let mut why = Vec::new();
    if c.measured.is_some() {
        why.push(format!(
            "speedup {} against {}",
            check_measured(c),
            check_target(c)
        ));
    }
    let mut next = None;
    if let Some(p) = p.filter(|p| p.chunks_executed > 0) {
        let bound = p.chunks_total as f64 / p.chunks_executed as f64;
        why.push(format!(
            "the pruned plan {}: pruning can save at most the other {} chunks, a bound of about \
             {}x on the speedup",
            chunks_text(p),
            p.chunks_total - p.chunks_executed.min(p.chunks_total),
            fmt_num((bound * 10.0).round() / 10.0)
        ));
        let min: f64 = c
            .target
            .trim_start_matches(">=")
            .trim()
            .parse()
            .unwrap_or(0.0);
        if min > 0.0 && bound >= min {
            next = Some(format!(
                "the plan prunes (a bound of about {}x), but skipping the other chunks saves \
                 little at this data size: each one is cheap next to the query's fixed cost; \
                 measure on a larger fleet (more wells, a shorter sample_interval)",
                fmt_num((bound * 10.0).round() / 10.0)
            ));
        } else if min > 0.0 && bound < min {
            next = Some(format!(
                "a {}x speedup needs the data to span at least {} times the chunks the query \
                 reads: lengthen [fleet] span or shorten the chunk interval, or lower \
                 min_pruning_speedup",
                fmt_num(min),
                fmt_num(min)
            ));
        }
    }
    if let Some(n) = &c.note {
        why.push(n.clone());
    }
    if next.is_none() {
        next = Some(
            "compare the pruned and unpruned plans: chunks the unpruned query reads compressed \
             are cheap, which shrinks the speedup"
                .into(),
        );
    }
    (why.join("; "), next)
}

fn compression(input: &Input, c: &CheckResult, table: &str) -> (String, Option<String>) {
    let d = input
        .storage
        .iter()
        .find(|s| s.table == table)
        .and_then(|s| s.compression.as_ref());
    let Some(d) = d else {
        return (fallback(c), None);
    };
    let mut why = Vec::new();
    if c.measured.is_some() {
        why.push(format!(
            "reduction {} against {}",
            check_measured(c),
            check_target(c)
        ));
    }
    if let Some(r) = d.ratio {
        why.push(format!(
            "{} chunks compressed {}x overall",
            d.chunks,
            fmt_num((r * 10.0).round() / 10.0)
        ));
    }
    if let Some(v) = d.values_ratio {
        why.push(format!(
            "the value columns alone {}x",
            fmt_num((v * 10.0).round() / 10.0)
        ));
    }
    let index_share = (d.after.total_bytes > 0)
        .then(|| d.after.index_bytes as f64 / d.after.total_bytes as f64 * 100.0);
    if let Some(s) = index_share {
        why.push(format!("indexes are {:.0}% of the compressed bytes", s));
    }
    if let Some(r) = d.rows_per_segment {
        why.push(format!(
            "{} rows per compressed batch (at most 1000)",
            r.round()
        ));
    }
    let next = if d.rows_per_segment.is_some_and(|r| r < 200.0) {
        Some(
            "batches are small: fewer segment_by values per chunk (a longer chunk interval or a \
             coarser segment_by) fill them"
                .into(),
        )
    } else if index_share.is_some_and(|s| s > 30.0) {
        Some("the indexes of the compressed chunks dominate: review compress_segmentby and the indexes kept".into())
    } else {
        let min: f64 = c
            .target
            .trim_start_matches(">=")
            .trim()
            .parse()
            .unwrap_or(0.0);
        match d.ratio {
            Some(r) if min > 0.0 && min < 100.0 => Some(format!(
                "a {}% reduction needs a {}x ratio and this data compresses {}x: review \
                 compress_segmentby and compress_orderby, and how noisy the value columns are \
                 (they compress {}x alone)",
                fmt_num(min),
                fmt_num((1000.0 / (100.0 - min)).round() / 10.0),
                fmt_num((r * 10.0).round() / 10.0),
                d.values_ratio
                    .map_or("?".to_string(), |v| fmt_num((v * 10.0).round() / 10.0))
            )),
            _ => Some("see docs/guarantees.md for what the target assumes".into()),
        }
    };
    (why.join("; "), next)
}

#[cfg(test)]
mod tests;

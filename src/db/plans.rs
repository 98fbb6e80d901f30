//! Saved query plans: the one-line summary of an `EXPLAIN (ANALYZE, VERBOSE, BUFFERS, SETTINGS,
//! FORMAT JSON)` plan (`queries[].evidence.plan`), its indented text rendering
//! (`plans/<query>.txt`), and the statement's query identifier (what pg_stat_statements files
//! its counters under). The plans themselves are taken by the checks phase
//! (`checks::phase`, through `db::measure::explain_analyze_prepared`); this module only reads
//! them, except [`query_identifier`], which plans (without running) the prepared statement.

use anyhow::{Context, Result};
use serde_json::Value;
use tokio_postgres::Client;

use crate::model::report::{PlanChunks, PlanSummary};

/// Both analysed plans of one query as EXPLAIN returned them (None: not measured).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanDocuments {
    pub custom: Option<Value>,
    pub generic: Option<Value>,
}

/// The plan's shape: node labels and relations, without the figures. Two plans with the same
/// shape are the same plan for the report (the generic one is saved only when it differs).
pub fn shape(doc: &Value) -> String {
    fn walk(node: &serde_json::Map<String, Value>, depth: usize, out: &mut String) {
        out.push_str(&format!(
            "{depth}:{}:{}:{};",
            node_label(node),
            node.get("Relation Name")
                .and_then(Value::as_str)
                .unwrap_or(""),
            node.get("Index Name").and_then(Value::as_str).unwrap_or("")
        ));
        if let Some(Value::Array(cs)) = node.get("Plans") {
            for c in cs.iter().filter_map(Value::as_object) {
                walk(c, depth + 1, out);
            }
        }
    }
    let mut out = String::new();
    if let Some(t) = top_plan(doc) {
        walk(t, 0, &mut out);
    }
    out
}

/// The plan object of an EXPLAIN JSON document (`[{"Plan": ..., "Execution Time": ...}]`).
fn root(doc: &Value) -> Option<&serde_json::Map<String, Value>> {
    match doc {
        Value::Array(items) => items.first().and_then(Value::as_object),
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn top_plan(doc: &Value) -> Option<&serde_json::Map<String, Value>> {
    root(doc)?.get("Plan")?.as_object()
}

/// A node's name as EXPLAIN's text format prints it, e.g. "Custom Scan (ChunkAppend)",
/// "Finalize GroupAggregate", "Index Scan Backward".
pub fn node_label(node: &serde_json::Map<String, Value>) -> String {
    let s = |k: &str| node.get(k).and_then(Value::as_str);
    let ty = s("Node Type").unwrap_or("?");
    let mut label = match ty {
        "Aggregate" => {
            let base = match s("Strategy") {
                Some("Sorted") => "GroupAggregate",
                Some("Hashed") => "HashAggregate",
                Some("Mixed") => "MixedAggregate",
                _ => "Aggregate",
            };
            match s("Partial Mode") {
                Some("Partial") => format!("Partial {base}"),
                Some("Finalize") => format!("Finalize {base}"),
                _ => base.to_string(),
            }
        }
        "Custom Scan" => match s("Custom Plan Provider") {
            Some(p) => format!("Custom Scan ({p})"),
            None => ty.to_string(),
        },
        _ => ty.to_string(),
    };
    if s("Scan Direction") == Some("Backward") {
        label.push_str(" Backward");
    }
    label
}

fn num(node: &serde_json::Map<String, Value>, key: &str) -> f64 {
    node.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// "Workers Launched" summed over every Gather / Gather Merge of the plan.
fn workers_launched(v: &Value) -> u64 {
    match v {
        Value::Array(items) => items.iter().map(workers_launched).sum(),
        Value::Object(m) => {
            let own = m
                .get("Workers Launched")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            own + m.get("Plans").map_or(0, workers_launched)
        }
        _ => 0,
    }
}

/// The one-line facts of an analysed plan. `label` is "custom" or "generic"; `chunks` the
/// chunk facts the checks phase read from the same plan.
pub fn summarize(doc: &Value, label: &str, chunks: Option<&PlanChunks>) -> PlanSummary {
    let r = root(doc);
    let top = top_plan(doc);
    let top_node = top.map(node_label).unwrap_or_else(|| "?".into());
    // Actual Rows is per loop; the top node runs once.
    let rows = top.map_or(0.0, |t| {
        num(t, "Actual Rows") * num(t, "Actual Loops").max(1.0)
    });
    let hit = top.map_or(0.0, |t| num(t, "Shared Hit Blocks")) as u64;
    let read = top.map_or(0.0, |t| num(t, "Shared Read Blocks")) as u64;
    let workers = r.and_then(|r| r.get("Plan")).map_or(0, workers_launched);
    let ms = |k: &str| r.and_then(|r| r.get(k)).and_then(Value::as_f64);
    let mut s = PlanSummary {
        plan: label.to_string(),
        top_node,
        rows: rows.round() as u64,
        chunks_executed: chunks.map_or(0, |c| c.chunks_executed),
        shared_hit_blocks: hit,
        shared_read_blocks: read,
        workers_launched: workers,
        execution_ms: ms("Execution Time"),
        planning_ms: ms("Planning Time"),
        line: String::new(),
    };
    s.line = summary_line(&s, chunks);
    s
}

/// "custom plan: Custom Scan (ChunkAppend), 2 of 33 chunks executed (0 compressed), 1 440
/// rows, shared hit 310 / read 0 blocks, 0 workers, 1.9 ms".
pub fn summary_line(s: &PlanSummary, chunks: Option<&PlanChunks>) -> String {
    let chunk_part = match chunks {
        Some(c) if c.chunks_total > 0 => format!(
            "{} of {} chunks executed ({} compressed)",
            c.chunks_executed, c.chunks_total, c.chunks_executed_compressed
        ),
        _ => format!("{} chunks executed", s.chunks_executed),
    };
    let time = s
        .execution_ms
        .map(|t| format!(", {} ms", fmt_ms(t)))
        .unwrap_or_default();
    format!(
        "{} plan: {}, {chunk_part}, {} rows, shared hit {} / read {} blocks, {} worker{}{time}",
        s.plan,
        s.top_node,
        group(s.rows),
        group(s.shared_hit_blocks),
        group(s.shared_read_blocks),
        s.workers_launched,
        if s.workers_launched == 1 { "" } else { "s" },
    )
}

fn fmt_ms(t: f64) -> String {
    if t >= 100.0 {
        format!("{t:.0}")
    } else if t >= 10.0 {
        format!("{t:.1}")
    } else {
        format!("{t:.2}")
    }
}

/// 12480 -> "12 480" (thin grouping, as the report's prose does).
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// The plan as an indented tree, one node per line with its actual time, rows, loops and
/// buffers, then the settings that differ from the defaults and the planning and execution
/// times: what `EXPLAIN (ANALYZE, BUFFERS, SETTINGS)` prints, in a shorter form.
pub fn render_text(doc: &Value) -> String {
    let mut out = String::new();
    if let Some(top) = top_plan(doc) {
        render_node(top, 0, &mut out);
    }
    if let Some(r) = root(doc) {
        if let Some(Value::Object(settings)) = r.get("Settings") {
            let list: Vec<String> = settings
                .iter()
                .map(|(k, v)| format!("{k} = '{}'", v.as_str().unwrap_or(&v.to_string())))
                .collect();
            if !list.is_empty() {
                out.push_str(&format!("Settings: {}\n", list.join(", ")));
            }
        }
        if let Some(id) = r.get("Query Identifier") {
            out.push_str(&format!("Query Identifier: {id}\n"));
        }
        for k in ["Planning Time", "Execution Time"] {
            if let Some(t) = r.get(k).and_then(Value::as_f64) {
                out.push_str(&format!("{k}: {t:.3} ms\n"));
            }
        }
    }
    out
}

fn render_node(node: &serde_json::Map<String, Value>, depth: usize, out: &mut String) {
    // EXPLAIN's text layout: a child's arrow under its parent's details, 6 columns per level.
    let (pad, arrow) = if depth == 0 {
        (String::new(), "")
    } else {
        (" ".repeat(6 * (depth - 1) + 2), "->  ")
    };
    let mut line = format!("{pad}{arrow}{}", node_label(node));
    let s = |k: &str| node.get(k).and_then(Value::as_str);
    if let Some(rel) = s("Relation Name") {
        match s("Schema") {
            Some(sc) => line.push_str(&format!(" on {sc}.{rel}")),
            None => line.push_str(&format!(" on {rel}")),
        }
        if let Some(a) = s("Alias").filter(|a| *a != rel) {
            line.push_str(&format!(" {a}"));
        }
    }
    if let Some(ix) = s("Index Name") {
        line.push_str(&format!(" using {ix}"));
    }
    let loops = num(node, "Actual Loops");
    if node.contains_key("Actual Loops") {
        if loops == 0.0 {
            line.push_str(" (never executed)");
        } else {
            line.push_str(&format!(
                " (actual time={:.3}..{:.3} rows={} loops={})",
                num(node, "Actual Startup Time"),
                num(node, "Actual Total Time"),
                num(node, "Actual Rows"),
                loops
            ));
        }
    }
    out.push_str(&line);
    out.push('\n');
    let detail = " ".repeat(6 * depth + 2);
    for key in [
        "Index Cond",
        "Filter",
        "Group Key",
        "Sort Key",
        "Hash Cond",
        "Join Filter",
    ] {
        match node.get(key) {
            Some(Value::String(v)) => out.push_str(&format!("{detail}{key}: {v}\n")),
            Some(Value::Array(vs)) => {
                let vs: Vec<&str> = vs.iter().filter_map(Value::as_str).collect();
                out.push_str(&format!("{detail}{key}: {}\n", vs.join(", ")));
            }
            _ => {}
        }
    }
    for key in [
        "Rows Removed by Filter",
        "Chunks excluded during startup",
        "Chunks excluded during runtime",
        "Workers Launched",
    ] {
        if let Some(v) = node.get(key).and_then(Value::as_f64) {
            out.push_str(&format!("{detail}{key}: {v}\n"));
        }
    }
    let buf: Vec<String> = [
        ("hit", "Shared Hit Blocks"),
        ("read", "Shared Read Blocks"),
        ("dirtied", "Shared Dirtied Blocks"),
        ("written", "Shared Written Blocks"),
    ]
    .iter()
    .filter_map(|(l, k)| {
        let v = num(node, k);
        (v > 0.0).then(|| format!("{l}={v}"))
    })
    .collect();
    if !buf.is_empty() {
        out.push_str(&format!("{detail}Buffers: shared {}\n", buf.join(" ")));
    }
    let temp: Vec<String> = [
        ("read", "Temp Read Blocks"),
        ("written", "Temp Written Blocks"),
    ]
    .iter()
    .filter_map(|(l, k)| {
        let v = num(node, k);
        (v > 0.0).then(|| format!("{l}={v}"))
    })
    .collect();
    if !temp.is_empty() {
        out.push_str(&format!("{detail}Buffers: temp {}\n", temp.join(" ")));
    }
    if let Some(Value::Array(children)) = node.get("Plans") {
        for c in children.iter().filter_map(Value::as_object) {
            render_node(c, depth + 1, out);
        }
    }
}

/// "Query Identifier" of a VERBOSE plan (PostgreSQL 14+, with `compute_query_id` on, which
/// loading pg_stat_statements does).
pub fn plan_query_id(doc: &Value) -> Option<i64> {
    root(doc)?.get("Query Identifier")?.as_i64()
}

/// The query identifier pg_stat_statements files `sql` under when it runs as a prepared
/// statement with parameters (as the runner sends it): `EXPLAIN (VERBOSE)` of the statement
/// prepared with SQL `PREPARE`, which plans it without running it. None when the server
/// computes no query identifiers.
pub async fn query_identifier(
    client: &Client,
    sql: &str,
    literals: &[String],
) -> Result<Option<i64>> {
    const NAME: &str = "esp_bench_capture_qid";
    let args = if literals.is_empty() {
        String::new()
    } else {
        format!("({})", literals.join(", "))
    };
    let run = async {
        client
            .batch_execute(&format!("BEGIN READ ONLY; PREPARE {NAME} AS {sql}"))
            .await?;
        let row = client
            .query_one(
                format!("EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {NAME}{args}").as_str(),
                &[],
            )
            .await?;
        Ok::<Value, anyhow::Error>(row.try_get::<_, Value>(0)?)
    };
    let out = run.await;
    let _ = client.batch_execute("ROLLBACK").await;
    let _ = client.batch_execute(&format!("DEALLOCATE {NAME}")).await;
    let doc = out.context("planning the statement to read its query identifier")?;
    Ok(plan_query_id(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::json!([{
            "Plan": {
                "Node Type": "Aggregate", "Strategy": "Sorted", "Partial Mode": "Finalize",
                "Actual Rows": 20.0, "Actual Loops": 1.0,
                "Actual Startup Time": 1.0, "Actual Total Time": 118.0,
                "Shared Hit Blocks": 200, "Shared Read Blocks": 12480,
                "Group Key": ["well_id"],
                "Plans": [{
                    "Node Type": "Gather Merge", "Workers Launched": 1,
                    "Actual Rows": 40.0, "Actual Loops": 1.0,
                    "Plans": [{
                        "Node Type": "Custom Scan", "Custom Plan Provider": "ChunkAppend",
                        "Relation Name": "esp_telemetry", "Schema": "esp_bench",
                        "Actual Rows": 100.0, "Actual Loops": 2.0,
                        "Chunks excluded during startup": 0,
                        "Plans": [{
                            "Node Type": "Seq Scan", "Relation Name": "_hyper_1_3_chunk",
                            "Schema": "_timescaledb_internal", "Actual Loops": 0.0
                        }]
                    }]
                }]
            },
            "Settings": {"work_mem": "32MB", "jit": "off"},
            "Query Identifier": 123456789,
            "Planning Time": 0.5,
            "Execution Time": 118.4
        }])
    }

    #[test]
    fn summary_reads_the_top_node_buffers_and_workers() {
        let chunks = PlanChunks {
            chunks_total: 33,
            chunks_executed: 31,
            chunks_executed_compressed: 29,
            ..Default::default()
        };
        let s = summarize(&doc(), "custom", Some(&chunks));
        assert_eq!(s.top_node, "Finalize GroupAggregate");
        assert_eq!(s.rows, 20);
        assert_eq!(s.shared_hit_blocks, 200);
        assert_eq!(s.shared_read_blocks, 12480);
        assert_eq!(s.workers_launched, 1);
        assert_eq!(s.chunks_executed, 31);
        assert_eq!(s.execution_ms, Some(118.4));
        assert_eq!(
            s.line,
            "custom plan: Finalize GroupAggregate, 31 of 33 chunks executed (29 compressed), \
             20 rows, shared hit 200 / read 12 480 blocks, 1 worker, 118 ms"
        );
        assert_eq!(plan_query_id(&doc()), Some(123456789));
    }

    #[test]
    fn text_rendering_is_an_indented_tree() {
        let t = render_text(&doc());
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("Finalize GroupAggregate (actual time=1.000..118.000"));
        assert!(lines[1].starts_with("  Group Key: well_id"), "{t}");
        assert!(t.contains("\n  ->  Gather Merge"));
        assert!(t.contains("\n              ->  Seq Scan"), "{t}");
        assert!(t.contains(
            "        ->  Custom Scan (ChunkAppend) on esp_bench.esp_telemetry (actual time"
        ));
        assert!(
            t.contains("->  Seq Scan on _timescaledb_internal._hyper_1_3_chunk (never executed)")
        );
        assert!(t.contains("Buffers: shared hit=200 read=12480"));
        assert!(t.contains("Settings: jit = 'off', work_mem = '32MB'"));
        assert!(t.contains("Execution Time: 118.400 ms"));
    }

    #[test]
    fn grouping() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1 000");
        assert_eq!(group(1234567), "1 234 567");
    }
}

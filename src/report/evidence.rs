//! The evidence part of a report: the saved plans (`plans/`), and the console's evidence and
//! explanation lines (one per query: its plan and its server time; one per failed check).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::model::Summary;

/// Write the plan files the queries' evidence lists (`plans/<query>.json`, `.txt`, ...).
/// Only paths under `plans/` made by bench are written (a summary read back carries none).
pub fn write_plan_files(dir: &Path, summary: &Summary) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for q in &summary.queries {
        let Some(ev) = &q.evidence else { continue };
        for (rel, text) in &ev.documents {
            let ok = rel.starts_with("plans/")
                && !rel.contains("..")
                && rel[6..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !ok {
                continue;
            }
            let path = dir.join(rel);
            if out.contains(&path) {
                continue;
            }
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("failed to create {}", parent.display()))?;
            }
            fs::write(&path, text)
                .with_context(|| format!("failed to write {}", path.display()))?;
            out.push(path);
        }
    }
    Ok(out)
}

/// One line per query with evidence: its plan summary, then its server time.
pub fn console_lines(summary: &Summary) -> String {
    let mut out = String::new();
    let mut any = false;
    for q in &summary.queries {
        let Some(ev) = &q.evidence else { continue };
        let mut parts = Vec::new();
        if let Some(p) = &ev.plan {
            parts.push(p.line.clone());
        }
        match (&ev.server, &ev.server_note) {
            (Some(s), _) => parts.push(format!(
                "server: {} calls, mean {:.2} ms (sd {:.2}){}, shared hit {} / read {} blocks{}",
                s.calls,
                s.mean_exec_ms,
                s.stddev_exec_ms,
                s.mean_plan_ms
                    .map(|p| format!(" + plan {p:.2} ms"))
                    .unwrap_or_default(),
                crate::db::plans::group(s.shared_blks_hit),
                crate::db::plans::group(s.shared_blks_read),
                s.client_minus_server_ms
                    .map(|d| format!(", client - server {d:.2} ms"))
                    .unwrap_or_default()
            )),
            (None, Some(n)) if !any => parts.push(format!("server: {n}")),
            _ => {}
        }
        if parts.is_empty() {
            continue;
        }
        if !any {
            let _ = writeln!(out, "Evidence");
            any = true;
        }
        let _ = writeln!(out, "  {}: {}", q.name, parts.join("; "));
    }
    if any {
        out.push('\n');
    }
    out
}

/// The explanations of failed checks and the measured alternatives.
pub fn console_explanations(summary: &Summary) -> String {
    let mut out = String::new();
    if !summary.explanations.is_empty() {
        let _ = writeln!(out, "Why");
        for e in &summary.explanations {
            let _ = writeln!(out, "  {}: {}", e.check, e.reason);
            if let Some(n) = &e.next_step {
                let _ = writeln!(out, "    next step: {n}");
            }
        }
        out.push('\n');
    }
    if !summary.what_if.is_empty() {
        let _ = writeln!(out, "What if");
        for w in &summary.what_if {
            let _ = writeln!(
                out,
                "  {} with a {}: p95 {:.2} ms (was {:.2} ms); {}",
                w.query, w.kind, w.alternative_p95_ms, w.baseline_p95_ms, w.note
            );
        }
        out.push('\n');
    }
    out
}

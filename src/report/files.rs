//! The files of a report folder: `summary.json`, `results.csv`, `checks.csv` and one `.hgrm`
//! per query, and reading `summary.json` back. CSV rows are `#[derive(Serialize)]` structs, so
//! each file's columns are declared once (docs/report-format.md documents them).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::html;
use super::model::{CheckResult, CheckStatus, QueryStats, Summary, FORMAT_NAME, SCHEMA_VERSION};
use crate::error::BenchError;

/// Paths of the files written by [`write_reports`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFiles {
    pub summary_json: PathBuf,
    pub results_csv: PathBuf,
    pub checks_csv: PathBuf,
    /// One per query, in the summary's query order.
    pub hgrm: Vec<PathBuf>,
    /// One latency percentile-distribution SVG per query.
    pub plots: Vec<PathBuf>,
    /// One stacked time-series SVG per phase with interval samples (`timeseries-<phase>.svg`).
    pub phase_plots: Vec<PathBuf>,
    /// Offline page: verdict, failed checks with their evidence, plots and tables.
    pub index_html: PathBuf,
    /// The regression gate's page, when the run was compared against a baseline.
    pub compare_html: Option<PathBuf>,
}

/// One row of `results.csv`: one query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryRow {
    pub query: String,
    pub mode: String,
    pub clients: u32,
    pub rate: Option<f64>,
    pub count: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub rows_returned: u64,
    pub duration_s: f64,
    pub throughput_qps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub schedule_lag_p99_ms: Option<f64>,
}

impl From<&QueryStats> for QueryRow {
    fn from(q: &QueryStats) -> Self {
        let l = &q.latency_ms;
        QueryRow {
            query: q.name.clone(),
            mode: q.mode.clone(),
            clients: q.clients,
            rate: q.rate,
            count: q.count,
            errors: q.errors,
            error_rate: q.error_rate(),
            rows_returned: q.rows_returned,
            duration_s: q.duration_s,
            throughput_qps: q.throughput_qps,
            mean_ms: l.mean,
            p50_ms: l.p50,
            p90_ms: l.p90,
            p95_ms: l.p95,
            p99_ms: l.p99,
            p999_ms: l.p999,
            max_ms: l.max,
            schedule_lag_p99_ms: q.schedule_lag_ms.as_ref().map(|p| p.p99),
        }
    }
}

/// One row of `checks.csv`: one check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckRow {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub measured: Option<f64>,
    pub measured_text: Option<String>,
    pub status: CheckStatus,
    pub note: Option<String>,
}

impl From<&CheckResult> for CheckRow {
    fn from(c: &CheckResult) -> Self {
        CheckRow {
            name: c.name.clone(),
            kind: c.kind.clone(),
            target: c.target.clone(),
            measured: c.measured,
            measured_text: c.measured_text.clone(),
            status: c.status,
            note: c.note.clone(),
        }
    }
}

pub use crate::format::file_stem;

/// Write every report file of `summary` into `dir` (created if missing).
pub fn write_reports(dir: &Path, summary: &Summary) -> Result<ReportFiles> {
    fs::create_dir_all(dir)
        .with_context(|| format!("failed to create report folder {}", dir.display()))?;

    let summary_json = dir.join("summary.json");
    let mut text =
        serde_json::to_string_pretty(summary).context("failed to serialise summary.json")?;
    text.push('\n');
    fs::write(&summary_json, text)
        .with_context(|| format!("failed to write {}", summary_json.display()))?;

    let results_csv = dir.join("results.csv");
    write_csv(&results_csv, summary.queries.iter().map(QueryRow::from))?;

    let checks_csv = dir.join("checks.csv");
    write_csv(&checks_csv, summary.checks.iter().map(CheckRow::from))?;

    let mut hgrm: Vec<PathBuf> = Vec::with_capacity(summary.queries.len());
    for q in &summary.queries {
        // Two names may map to one stem ("a:b", "a_b"): number the later ones.
        let stem = file_stem(&q.name);
        let mut path = dir.join(format!("{stem}.hgrm"));
        let mut n = 2;
        while hgrm.contains(&path) {
            path = dir.join(format!("{stem}-{n}.hgrm"));
            n += 1;
        }
        let h = crate::stats::decode_histogram(&q.histogram)
            .with_context(|| format!("failed to decode the histogram of query {}", q.name))?;
        fs::write(&path, crate::stats::hgrm(&h))
            .with_context(|| format!("failed to write {}", path.display()))?;
        hgrm.push(path);
    }

    // Evidence capture (issue 13): the saved plans.
    crate::report::evidence::write_plan_files(dir, summary)?;

    let plots = crate::report::plot::write_run_plots(dir, summary)?;
    let phase_plots = crate::report::timeseries::write_phase_plots(dir, summary)?;
    let mut links = vec![
        html::Link {
            href: "summary.json".into(),
            label: "summary.json".into(),
        },
        html::Link {
            href: "results.csv".into(),
            label: "results.csv".into(),
        },
        html::Link {
            href: "checks.csv".into(),
            label: "checks.csv".into(),
        },
    ];
    // A run gated against a baseline also gets the comparison's own page.
    let compare_html = match &summary.comparison {
        Some(cmp) => {
            let path = dir.join("compare.html");
            let back = vec![html::Link {
                href: "index.html".into(),
                label: "the run's report (index.html)".into(),
            }];
            html::compare::write_compare_page(&path, cmp, back)?;
            links.push(html::Link {
                href: "compare.html".into(),
                label: "regression gate (compare.html)".into(),
            });
            Some(path)
        }
        None => None,
    };
    let index_html = html::run::write_index(dir, summary, &plots, &phase_plots, links)?;

    Ok(ReportFiles {
        summary_json,
        results_csv,
        checks_csv,
        hgrm,
        plots,
        phase_plots: phase_plots.into_iter().map(|(_, p)| p).collect(),
        index_html,
        compare_html,
    })
}

/// Write rows with a header. The header comes from the row type's fields; when there are no
/// rows it is written from [`HeaderOf`], so an empty file still documents its columns (a unit
/// test keeps both in the same order).
fn write_csv<R: Serialize + HeaderOf>(path: &Path, rows: impl Iterator<Item = R>) -> Result<()> {
    let err = || format!("failed to write {}", path.display());
    let mut w = csv::Writer::from_path(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    let mut any = false;
    for r in rows {
        w.serialize(&r).with_context(err)?;
        any = true;
    }
    if !any {
        w.write_record(R::header()).with_context(err)?;
    }
    w.flush().with_context(err)?;
    Ok(())
}

/// Column names of a CSV row type, in declaration order.
pub trait HeaderOf {
    fn header() -> &'static [&'static str];
}

impl HeaderOf for QueryRow {
    fn header() -> &'static [&'static str] {
        &[
            "query",
            "mode",
            "clients",
            "rate",
            "count",
            "errors",
            "error_rate",
            "rows_returned",
            "duration_s",
            "throughput_qps",
            "mean_ms",
            "p50_ms",
            "p90_ms",
            "p95_ms",
            "p99_ms",
            "p999_ms",
            "max_ms",
            "schedule_lag_p99_ms",
        ]
    }
}

impl HeaderOf for CheckRow {
    fn header() -> &'static [&'static str] {
        &[
            "name",
            "kind",
            "target",
            "measured",
            "measured_text",
            "status",
            "note",
        ]
    }
}

fn config_err(msg: String) -> anyhow::Error {
    anyhow::Error::new(BenchError::Config(msg))
}

/// Read a JSON file (`what`: "report", "baseline", ... for the message). An unreadable file or
/// malformed JSON is a configuration error (exit 2) naming the file, line and column.
pub fn read_json_file(path: &Path, what: &str) -> Result<serde_json::Value> {
    let shown = path.display();
    let text = fs::read_to_string(path)
        .map_err(|e| config_err(format!("failed to read {what} {shown}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        config_err(format!(
            "{shown} is not valid JSON: line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

/// Read a `summary.json` written by `bench run`. Foreign JSON (another `format`), another
/// `schema_version` and malformed files are configuration errors (exit 2) that name the file.
pub fn read_summary(path: &Path) -> Result<Summary> {
    let shown = path.display();
    let value = read_json_file(path, "report")?;
    let format = value.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT_NAME) {
        let found = match value.get("format") {
            None => "no `format` field".to_string(),
            Some(f) => format!("format {f}"),
        };
        return Err(config_err(format!(
            "{shown} is not an esp-bench summary ({found}; expected format \"{FORMAT_NAME}\")"
        )));
    }
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(config_err(format!(
                "{shown} has summary schema_version {v}; this bench reads version \
                 {SCHEMA_VERSION} (re-run the benchmark or use a matching bench version)"
            )))
        }
        None => {
            return Err(config_err(format!(
                "{shown} has no numeric `schema_version`"
            )))
        }
    }
    serde_json::from_value(value)
        .map_err(|e| config_err(format!("{shown} is a malformed esp-bench summary: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_header_of<T: Serialize>(row: &T) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        text.lines().next().unwrap().to_string()
    }

    #[test]
    fn headers_match_the_serialised_fields_in_order() {
        let q = QueryRow::from(&QueryStats {
            name: "q".into(),
            mode: "closed".into(),
            clients: 1,
            rate: None,
            count: 0,
            errors: 0,
            errors_by_sqlstate: Default::default(),
            rows_returned: 0,
            duration_s: 0.0,
            throughput_qps: 0.0,
            latency_ms: Default::default(),
            schedule_lag_ms: None,
            histogram: String::new(),
            intervals: vec![],
            plan: None,
            evidence: None,
        });
        assert_eq!(csv_header_of(&q), QueryRow::header().join(","));
        let c = CheckRow {
            name: String::new(),
            kind: String::new(),
            target: String::new(),
            measured: None,
            measured_text: None,
            status: CheckStatus::Pass,
            note: None,
        };
        assert_eq!(csv_header_of(&c), CheckRow::header().join(","));
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("latest_24h"), "latest_24h");
        assert_eq!(file_stem("a/b c"), "a_b_c");
        assert_eq!(file_stem("..x"), "_..x");
        assert_eq!(file_stem(""), "_");
    }
}

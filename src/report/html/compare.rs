//! The page of a regression-gate comparison (`bench compare --html FILE`, and `compare.html`
//! of a `bench run --baseline` report): the gate's verdict, then one row per query x metric
//! gate with the baseline, the current value, the change and its noise band drawn against
//! the threshold, the p-value and the verdict. Regressions first.
//!
//! Built from the comparison's JSON (what `bench compare --format json` prints and what
//! summary.json's `comparison` holds), so the report layer needs nothing of `compare`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Link;
use crate::report::units::{self, change_pct, decimal, ms};

/// The parts of a comparison's JSON the page shows. Unknown fields are ignored: the page
/// reads what it knows of newer comparisons.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct ComparisonJson {
    scenario: String,
    max_regression_pct: f64,
    alpha: f64,
    noise: NoiseJson,
    rows: Vec<RowJson>,
    added: Vec<String>,
    removed: Vec<String>,
    warnings: Vec<String>,
    confirmation_runs: usize,
    pooled: bool,
    failed: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct NoiseJson {
    baseline_runs: usize,
    source: String,
    default_pct: Option<f64>,
    floor_pct: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct RowJson {
    query: String,
    metric: String,
    baseline: f64,
    current: f64,
    change_pct: Option<f64>,
    net_change_pct: Option<f64>,
    noise_pct: Option<f64>,
    noise_source: Option<String>,
    detectable_pct: Option<f64>,
    p_value: Option<f64>,
    n_baseline: u64,
    n_current: u64,
    verdict: String,
    note: Option<String>,
    confirm_change_pct: Vec<Option<f64>>,
}

/// The view of `compare.html`.
#[derive(Debug, Clone, Serialize)]
pub struct ComparePage {
    pub title: String,
    pub subtitle: String,
    pub banner: super::run::Banner,
    pub links: Vec<Link>,
    pub method: String,
    pub axis: Axis,
    pub rows: Vec<GateRow>,
    pub notes: Vec<String>,
}

/// The shared scale of every row's interval drawing, percent change.
#[derive(Debug, Clone, Serialize)]
pub struct Axis {
    pub width: f64,
    pub lo: f64,
    pub hi: f64,
    pub zero_x: f64,
    pub threshold_x: f64,
    pub threshold: String,
    pub ticks: Vec<(f64, String)>,
}

/// One gate (query x metric).
#[derive(Debug, Clone, Serialize)]
pub struct GateRow {
    pub query: String,
    pub metric: String,
    pub baseline: String,
    pub current: String,
    pub change: String,
    pub noise: String,
    pub detectable: String,
    pub p: String,
    /// Queries in the phase: the baseline's (fewest of its runs) / the current run's.
    pub queries: String,
    /// "fail" (regression), "pass" (improvement, within threshold, no significant change),
    /// "info" (not gated, not confirmed).
    pub class: String,
    pub word: String,
    pub note: Option<String>,
    /// The drawing: the change as a point, its noise band (± 2 run-to-run sd), in pixels.
    pub point_x: Option<f64>,
    pub band: Option<(f64, f64)>,
}

fn value(metric: &str, v: f64, shift_row: bool) -> String {
    if shift_row {
        return "-".into();
    }
    match metric {
        "error_rate" => units::fraction_pct(v),
        "throughput_qps" => format!("{} q/s", decimal(v)),
        _ => ms(v),
    }
}

fn verdict_view(v: &str) -> (&'static str, String) {
    match v {
        "regression" => ("fail", "regression".into()),
        "improvement" => ("pass", "improvement".into()),
        "no_significant_change" => ("pass", "no significant change".into()),
        "within_threshold" => ("pass", "within threshold".into()),
        "unconfirmed" => ("info", "not confirmed".into()),
        "no_baseline_data" => ("info", "no baseline data".into()),
        "not_gateable" => ("info", "not gateable".into()),
        other => ("info", other.replace('_', " ")),
    }
}

/// Build the page from a comparison's JSON.
pub fn page(comparison: &serde_json::Value, links: Vec<Link>) -> anyhow::Result<ComparePage> {
    let c: ComparisonJson = serde_json::from_value(comparison.clone())
        .map_err(|e| anyhow::anyhow!("the comparison is malformed: {e}"))?;
    let regressions = c.rows.iter().filter(|r| r.verdict == "regression").count();
    let gated = c
        .rows
        .iter()
        .filter(|r| !matches!(r.verdict.as_str(), "no_baseline_data" | "not_gateable"))
        .count();
    let failed = c.failed || regressions > 0;
    let banner = super::run::Banner {
        class: if failed { "fail" } else { "pass" }.into(),
        word: if failed { "FAIL" } else { "PASS" }.into(),
        headline: if failed {
            format!(
                "{regressions} regression{} in {gated} gated comparisons",
                if regressions == 1 { "" } else { "s" }
            )
        } else {
            format!("no regression in {gated} gated comparisons")
        },
        details: vec![format!(
            "max regression {}%, alpha {}",
            decimal(c.max_regression_pct),
            c.alpha
        )],
    };
    let baseline = match c.noise.source.as_str() {
        "default" => format!(
            "baseline of 1 run: noise not measured, assumed {}% run-to-run (--run-noise)",
            decimal(c.noise.default_pct.unwrap_or_default())
        ),
        _ => format!(
            "baseline of {} runs: noise measured per metric{}",
            c.noise.baseline_runs,
            c.noise
                .floor_pct
                .map(|f| format!(", floor {}%", decimal(f)))
                .unwrap_or_default()
        ),
    };
    let method = format!(
        "A gate fails when the metric is worse by more than {}% and significantly worse at \
         alpha {} than the baseline's run-to-run noise allows (p-values Holm-adjusted over all \
         gates{}). The drawing shows each change net of the run's shift, with a band of ± 2 \
         run-to-run standard deviations, against 0 and the threshold.",
        decimal(c.max_regression_pct),
        c.alpha,
        if c.pooled {
            format!(
                "; each gate tested on the mean of the current run and {} more, a regression \
                 beyond the threshold in every run",
                c.confirmation_runs
            )
        } else if c.confirmation_runs > 0 {
            format!(
                "; a regression counts only when all {} confirmation runs reproduce it",
                c.confirmation_runs
            )
        } else {
            String::new()
        }
    );

    // The drawing's scale: every change and band, 0 and the threshold.
    let mut lo = 0.0f64.min(-c.max_regression_pct);
    let mut hi = c.max_regression_pct * 1.5;
    for r in &c.rows {
        if let Some(ch) = r.net_change_pct.or(r.change_pct) {
            let n = 2.0 * r.noise_pct.unwrap_or(0.0);
            lo = lo.min(ch - n);
            hi = hi.max(ch + n);
        }
    }
    let lo = (lo * 1.05).max(-100.0).floor();
    let hi = (hi * 1.05).min(1000.0).ceil();
    let width = 180.0;
    let x = |v: f64| ((v.clamp(lo, hi) - lo) / (hi - lo) * width).round();
    let axis = Axis {
        width,
        lo,
        hi,
        zero_x: x(0.0),
        threshold_x: x(c.max_regression_pct),
        threshold: format!("+{}%", decimal(c.max_regression_pct)),
        ticks: vec![(x(lo), change_pct(lo)), (x(hi), change_pct(hi))],
    };

    let mut rows: Vec<GateRow> = c
        .rows
        .iter()
        .map(|r| {
            let shift = r.query.starts_with('(');
            let (class, word) = verdict_view(&r.verdict);
            let mut change = match r.change_pct {
                Some(ch) => change_pct(ch),
                None if r.current > 0.0 && r.baseline == 0.0 => "new".into(),
                None => "n/a".into(),
            };
            if let (Some(net), Some(ch)) = (r.net_change_pct, r.change_pct) {
                if (net - ch).abs() >= 0.05 {
                    change.push_str(&format!(" (net {})", change_pct(net)));
                }
            }
            for cc in &r.confirm_change_pct {
                change.push_str(&match cc {
                    Some(v) => format!(", confirm {}", change_pct(*v)),
                    None => ", confirm n/a".into(),
                });
            }
            let judged = r.net_change_pct.or(r.change_pct);
            GateRow {
                query: r.query.clone(),
                metric: r.metric.clone(),
                baseline: value(&r.metric, r.baseline, shift),
                current: value(&r.metric, r.current, shift),
                change,
                noise: match (r.noise_pct, r.noise_source.as_deref()) {
                    // "measured" and "default" are what the subtitle says of every row.
                    (Some(n), Some("measured" | "default")) => format!("±{}%", decimal(n)),
                    (Some(n), Some(src)) => format!("±{}% ({src})", decimal(n)),
                    (Some(n), None) => format!("±{}%", decimal(n)),
                    _ => "-".into(),
                },
                detectable: r.detectable_pct.map_or_else(|| "-".into(), change_pct),
                p: r.p_value.map_or_else(|| "-".into(), fmt_p),
                class: class.into(),
                word,
                queries: format!(
                    "{} / {}",
                    units::count(r.n_baseline as f64),
                    units::count(r.n_current as f64)
                ),
                note: r.note.clone(),
                point_x: judged.map(x),
                band: match (judged, r.noise_pct) {
                    (Some(j), Some(n)) => Some((x(j - 2.0 * n), x(j + 2.0 * n))),
                    _ => None,
                },
            }
        })
        .collect();
    // Regressions first, then the rest in comparison order.
    rows.sort_by_key(|r| if r.class == "fail" { 0 } else { 1 });

    let mut notes = c.warnings.clone();
    if !c.added.is_empty() {
        notes.push(format!(
            "only in the current report (not gated): {}",
            c.added.join(", ")
        ));
    }
    if !c.removed.is_empty() {
        notes.push(format!(
            "only in the baseline (not gated): {}",
            c.removed.join(", ")
        ));
    }
    Ok(ComparePage {
        title: format!("esp-bench regression gate: {}", c.scenario),
        subtitle: baseline,
        banner,
        links,
        method,
        axis,
        rows,
        notes,
    })
}

fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

/// Write the comparison page to `path`.
pub fn write_compare_page(
    path: &Path,
    comparison: &serde_json::Value,
    links: Vec<Link>,
) -> anyhow::Result<()> {
    let view = page(comparison, links)?;
    super::write(path, "compare.html", &view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regressions_come_first_with_their_band() {
        let cmp = json!({
            "scenario": "ci", "max_regression_pct": 10.0, "alpha": 0.05, "failed": true,
            "noise": { "baseline_runs": 3, "source": "measured" },
            "rows": [
                { "query": "a", "metric": "p95_ms", "baseline": 10.0, "current": 10.2,
                  "change_pct": 2.0, "net_change_pct": 2.0, "noise_pct": 3.0,
                  "noise_source": "measured", "p_value": 0.4, "verdict": "no_significant_change" },
                { "query": "b", "metric": "p95_ms", "baseline": 10.0, "current": 15.0,
                  "change_pct": 50.0, "net_change_pct": 50.0, "noise_pct": 3.0,
                  "noise_source": "measured", "p_value": 0.001, "verdict": "regression" }
            ]
        });
        let p = page(&cmp, vec![]).expect("page");
        assert_eq!(p.banner.word, "FAIL");
        assert_eq!(p.rows[0].query, "b");
        assert_eq!(p.rows[0].change, "+50%");
        assert_eq!(p.rows[0].current, "15 ms");
        let (a, b) = p.rows[0].band.expect("band");
        assert!(a < b && p.rows[0].point_x.expect("x") > p.axis.threshold_x);
        let html = super::super::render("compare.html", &p).expect("renders");
        assert!(html.contains("regression"));
    }
}

//! The overview chart of a run's `index.html`: each query's p95 as a bar with the target of
//! its `latency.<query>.p95_ms` check as a tick, laid out here and drawn by the
//! `overview.svg` template.

use serde::Serialize;

use crate::report::model::{CheckStatus, QueryStats, Summary};
use crate::report::units::ms;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_ends() {
        assert_eq!(nice_ceiling(132.0), 200.0);
        assert_eq!(nice_ceiling(45.0), 50.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(parse_threshold("<= 50"), Some(50.0));
        assert_eq!(parse_threshold("in [1, 2]"), None);
    }
}

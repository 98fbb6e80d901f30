//! Parsing what the user hands to the gate: metric lists, percentages and query selections.
//! Every failure is a `BenchError::Config` (exit 2) that names the offending value. Report
//! files are read by `report::read_summary`.

use std::collections::BTreeSet;

use crate::error::BenchError;
use crate::model::report::Summary;
use crate::scenario::plan::Metric;

/// Parse a comma-separated metric list. Accepts the full names (`p95_ms`, `throughput_qps`,
/// `error_rate`), the latency names without `_ms` (`p95`, `mean`, `max`), and `throughput`.
/// Unknown names are an error; duplicates are dropped, order kept.
pub fn parse_metrics(list: &str) -> Result<Vec<Metric>, BenchError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for raw in list.split(',') {
        let name = raw.trim();
        if name.is_empty() {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        let metric = Metric::from_name(&lower)
            .or_else(|| Metric::from_name(&format!("{lower}_ms")))
            .or_else(|| (lower == "throughput" || lower == "qps").then_some(Metric::ThroughputQps))
            .ok_or_else(|| {
                BenchError::Config(format!(
                    "unknown metric `{name}`; known metrics: {} (latency names also without \
                     `_ms`, e.g. p95)",
                    Metric::ALL.map(Metric::name).join(", ")
                ))
            })?;
        if seen.insert(metric) {
            out.push(metric);
        }
    }
    if out.is_empty() {
        return Err(BenchError::Config(format!(
            "no metric given in `{list}`: the gate would check nothing"
        )));
    }
    Ok(out)
}

/// A parsed `--metrics` list, for clap: `Option<Vec<Metric>>` would make clap expect one metric
/// per occurrence (and panic at run time), so flags take `Option<MetricList>` instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricList(pub Vec<Metric>);

impl std::str::FromStr for MetricList {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_metrics(s).map(MetricList)
    }
}

/// Parse a percentage, `10%` or `10` (both mean ten percent). Must be finite and >= 0.
pub fn parse_percent(s: &str) -> Result<f64, BenchError> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(_) => Err(BenchError::Config(format!(
            "percentage `{s}` must be a finite number >= 0"
        ))),
        Err(_) => Err(BenchError::Config(format!(
            "invalid percentage `{s}`: expected e.g. 10% or 10"
        ))),
    }
}

/// Keep only the named queries in both reports (`--queries`). A name found in neither report
/// is an error; an empty list keeps everything.
pub fn restrict_to_queries(
    baseline: &Summary,
    current: &Summary,
    names: &[String],
) -> Result<(Summary, Summary), BenchError> {
    if names.is_empty() {
        return Ok((baseline.clone(), current.clone()));
    }
    let known: BTreeSet<&str> = baseline
        .queries
        .iter()
        .chain(&current.queries)
        .map(|q| q.name.as_str())
        .collect();
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !known.contains(n))
        .collect();
    if !unknown.is_empty() {
        return Err(BenchError::Config(format!(
            "unknown quer{} {} in --queries; the reports hold: {}",
            if unknown.len() == 1 { "y" } else { "ies" },
            unknown.join(", "),
            known.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let keep = |s: &Summary| {
        let mut s = s.clone();
        s.queries.retain(|q| names.contains(&q.name));
        s
    };
    Ok((keep(baseline), keep(current)))
}

/// `restrict_to_queries` for every run of a baseline (names are checked against the newest run
/// and `current`).
pub fn restrict_baseline(
    baseline: &super::Baseline,
    current: &Summary,
    names: &[String],
) -> anyhow::Result<super::Baseline> {
    if names.is_empty() {
        return Ok(baseline.clone());
    }
    restrict_to_queries(baseline.latest(), current, names)?;
    let runs = baseline
        .runs()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.queries.retain(|q| names.contains(&q.name));
            r
        })
        .collect();
    super::Baseline::from_runs(runs, "the baseline")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_accept_short_and_full_names() {
        assert_eq!(
            parse_metrics("p50,p95_ms, P99,p95").unwrap(),
            vec![Metric::P50Ms, Metric::P95Ms, Metric::P99Ms]
        );
        assert_eq!(
            parse_metrics("mean,throughput,error_rate").unwrap(),
            vec![Metric::MeanMs, Metric::ThroughputQps, Metric::ErrorRate]
        );
    }

    #[test]
    fn metric_list_parses_from_str() {
        let l: MetricList = "p95,throughput".parse().unwrap();
        assert_eq!(l.0, vec![Metric::P95Ms, Metric::ThroughputQps]);
        assert!("p96".parse::<MetricList>().is_err());
    }

    #[test]
    fn unknown_or_empty_metrics_are_errors() {
        let e = parse_metrics("p95,p97").unwrap_err().to_string();
        assert!(e.contains("unknown metric `p97`"), "{e}");
        assert!(parse_metrics(" , ").is_err());
    }

    #[test]
    fn percent_with_or_without_sign() {
        assert_eq!(parse_percent("10%").unwrap(), 10.0);
        assert_eq!(parse_percent("2.5").unwrap(), 2.5);
        assert!(parse_percent("-3%").is_err());
        assert!(parse_percent("ten").is_err());
        assert!(parse_percent("inf").is_err());
    }
}

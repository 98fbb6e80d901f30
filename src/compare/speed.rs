//! The host-speed reference in the gate (`[run] speed_reference`): how fast the machine ran
//! each interval of a phase, and how a gate brings every run's values to the baseline's host
//! speed before it tests them (docs/ci-gate.md, "Speed reference").

use crate::model::report::QueryStats;
use crate::model::Metric;

/// How a gate brings a run's values to the baseline's host speed: a value measured while the
/// reference took `own` ms is multiplied by `(reference_ms / own)^exponent`.
///
/// The exponent is how strongly the query's intervals follow the reference, fitted on the
/// baseline's runs alone (the slope of ln value on ln reference within each run, pooled over
/// the runs, clamped to [0, 1]): about 1 for a query that is CPU work on cached data (it slows
/// down exactly as the reference does), about 0 for one that waits (`pg_sleep`, I/O), which
/// the host's CPU speed does not move. Fitted on the baseline only, the current run cannot
/// choose its own correction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedScale {
    /// The baseline's reference: the geometric mean of its runs' [`speed_of`], ms.
    pub reference_ms: f64,
    pub exponent: f64,
}

impl SpeedScale {
    pub fn factor(&self, own_ms: f64) -> f64 {
        (self.reference_ms / own_ms).powf(self.exponent)
    }

    /// The scale for `metric` of a query whose baseline runs are `bqs` and current run `c`;
    /// None when any of them lacks the reference in an interval.
    pub fn fit(bqs: &[&QueryStats], c: &QueryStats, metric: Metric) -> Option<SpeedScale> {
        let own: Vec<f64> = bqs.iter().map(|q| speed_of(q)).collect::<Option<_>>()?;
        speed_of(c)?;
        let reference_ms = (own.iter().map(|r| r.ln()).sum::<f64>() / own.len() as f64).exp();
        // Within-run slope of ln value on ln reference, pooled over the baseline's runs.
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for q in bqs {
            let pts: Vec<(f64, f64)> = q
                .intervals
                .iter()
                .filter_map(|i| match (i.metric(metric), i.ref_p50_ms) {
                    (Some(x), Some(r)) if x > 0.0 && r > 0.0 => Some((r.ln(), x.ln())),
                    _ => None,
                })
                .collect();
            if pts.len() < 2 {
                continue;
            }
            let n = pts.len() as f64;
            let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
            let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
            for (x, y) in pts {
                sxy += (x - mx) * (y - my);
                sxx += (x - mx) * (x - mx);
            }
        }
        // A reference that never moved says nothing about the slope: as measured.
        let exponent = if sxx > 1e-6 {
            (sxy / sxx).clamp(0.0, 1.0)
        } else {
            0.0
        };
        Some(SpeedScale {
            reference_ms,
            exponent,
        })
    }
}

/// How fast the machine ran a phase: the geometric mean of its intervals' host-speed reference
/// medians (`[run] speed_reference`, in ms; lower is faster). None when any interval lacks
/// one (the phase ran without the reference, or a shard merge dropped it).
pub fn speed_of(q: &QueryStats) -> Option<f64> {
    if q.intervals.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    for i in &q.intervals {
        match i.ref_p50_ms {
            Some(r) if r > 0.0 => sum += r.ln(),
            _ => return None,
        }
    }
    Some((sum / q.intervals.len() as f64).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::IntervalStats;

    /// A phase whose intervals have these (p50, reference) pairs, ms.
    fn phase(points: &[(f64, Option<f64>)]) -> QueryStats {
        let mut q: QueryStats = serde_json::from_value(serde_json::json!({
            "name": "q", "mode": "closed", "clients": 1, "rate": null, "count": 1600,
            "errors": 0, "errors_by_sqlstate": {}, "rows_returned": 0, "duration_s": 4.0,
            "throughput_qps": 400.0,
            "latency_ms": {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p95": 1.0, "p99": 1.0,
                           "p999": 1.0, "max": 1.0},
            "schedule_lag_ms": null, "histogram": "", "intervals": []
        }))
        .unwrap();
        q.intervals = points
            .iter()
            .enumerate()
            .map(|(i, &(p50, r))| IntervalStats {
                t_s: 0.25 * (i + 1) as f64,
                count: 100,
                mean_ms: p50,
                p50_ms: p50,
                p95_ms: 2.0 * p50,
                p99_ms: 3.0 * p50,
                ref_p50_ms: r,
            })
            .collect();
        q
    }

    /// Intervals alternating between a fast and a 1.9x slower host.
    fn two_speeds(base: f64, follows: bool, slow_first: bool) -> Vec<(f64, Option<f64>)> {
        (0..16)
            .map(|i| {
                let slow = (i % 2 == 0) == slow_first;
                let r = if slow { 0.57 } else { 0.3 };
                let v = if follows && slow { base * 1.9 } else { base };
                (v, Some(r))
            })
            .collect()
    }

    #[test]
    fn the_speed_of_a_phase_is_the_geometric_mean_of_its_references() {
        let q = phase(&[(1.0, Some(0.2)), (1.0, Some(0.8))]);
        assert!((speed_of(&q).unwrap() - 0.4).abs() < 1e-12);
        // One interval without it: the phase has none.
        assert_eq!(speed_of(&phase(&[(1.0, Some(0.2)), (1.0, None)])), None);
        assert_eq!(speed_of(&phase(&[])), None);
    }

    #[test]
    fn cpu_bound_values_get_exponent_one_and_waiting_ones_zero() {
        let cpu = phase(&two_speeds(2.0, true, true));
        let s = SpeedScale::fit(&[&cpu], &cpu, Metric::P50Ms).unwrap();
        assert!((s.exponent - 1.0).abs() < 1e-9, "{s:?}");
        let sleep = phase(&two_speeds(2.0, false, true));
        let s = SpeedScale::fit(&[&sleep], &sleep, Metric::P50Ms).unwrap();
        assert!(s.exponent.abs() < 1e-9, "{s:?}");
        // A current run without the reference: no scale, the values are compared as measured.
        let bare = phase(&[(2.0, None); 16]);
        assert_eq!(SpeedScale::fit(&[&cpu], &bare, Metric::P50Ms), None);
        assert_eq!(SpeedScale::fit(&[&bare], &cpu, Metric::P50Ms), None);
    }

    #[test]
    fn a_reference_that_never_moved_leaves_the_values_as_measured() {
        let flat = phase(&[(2.0, Some(0.3)); 16]);
        let s = SpeedScale::fit(&[&flat], &flat, Metric::P50Ms).unwrap();
        assert_eq!(s.exponent, 0.0);
        assert_eq!(s.factor(0.6), 1.0);
    }

    #[test]
    fn a_run_on_a_slower_host_is_brought_to_the_baseline_speed() {
        let base = phase(&two_speeds(2.0, true, true));
        let s = SpeedScale::fit(&[&base], &base, Metric::P50Ms).unwrap();
        // Every interval of the current run on the slow host: 1.9x the time, 1.9x the reference.
        let slow = phase(&[(3.8, Some(0.57)); 16]);
        let own = speed_of(&slow).unwrap();
        assert!((3.8 * s.factor(own) - 2.0 * (0.57f64 * 0.3).sqrt() / 0.3).abs() < 1e-9);
        // Against the baseline, brought to its speed: the same value as a fast-host run.
        let fast = phase(&[(2.0, Some(0.3)); 16]);
        let a = 3.8 * s.factor(own);
        let b = 2.0 * s.factor(speed_of(&fast).unwrap());
        assert!((a / b - 1.0).abs() < 1e-9, "{a} vs {b}");
    }
}

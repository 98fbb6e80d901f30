//! `[run] rounds`: a query's phase split into rounds spread over the run, and the rounds'
//! statistics put back together as one phase.
//!
//! Why rounds: a slower stretch of the machine falls on whichever phases run during it, and
//! moves those queries' values in that run only. Interleaved rounds put a part of every query
//! into each stretch, so it becomes a shift of the whole run, which the regression gate
//! removes (docs/ci-gate.md). Measured on the development machine with the same run time, the
//! p95's run-to-run noise net of the run's shift fell from 16% to 11-13% (docs/scenarios.md).

use std::time::Duration;

use crate::exec::runner::Phase;
use crate::model::report::{QueryStats, ShardQueryDetail};
use crate::scenario::plan::{QueryPlan, StopCondition};
use crate::stats::{decode_histogram, encode_histogram, new_histogram, percentiles_ms};

/// Parameter streams of later rounds: far from the queries' own (their index) and the mix's,
/// and below the shards' (`shard::stream_offset`, index << 32).
const ROUND_STREAM_SHIFT: u32 = 16;

/// Round `round` (0-based) of `rounds` of the phase `Phase::single(q, index)`: the same
/// warmup, 1/rounds of the measured stage (the remainder of a count goes to the first rounds),
/// and parameters of its own. Round 0 of 1 is the phase itself.
pub fn round_of(q: &QueryPlan, index: usize, round: u32, rounds: u32) -> Phase {
    let mut phase = Phase::single(q, index);
    let n = rounds.max(1);
    phase.stop = match q.stop {
        StopCondition::Duration { duration } => StopCondition::Duration {
            duration: split_duration(duration, round, n),
        },
        StopCondition::Count { count } => StopCondition::Count {
            count: count / u64::from(n) + u64::from(u64::from(round) < count % u64::from(n)),
        },
    };
    phase.stream += u64::from(round) << ROUND_STREAM_SHIFT;
    phase
}

/// 1/n of `d`, with the rounding left over given to the last round, so the rounds add up.
fn split_duration(d: Duration, round: u32, n: u32) -> Duration {
    let each = d / n;
    if round + 1 == n {
        d - each * (n - 1)
    } else {
        each
    }
}

/// Put the rounds of each query back together: every query's entries, in the order the rounds
/// ran, become one, in the order the queries first appear. Counts, errors and rows add up;
/// histograms (latency, schedule lag, intervals) add losslessly; the measured time is the sum
/// of the rounds', so throughput is the queries over the time spent measuring them; intervals
/// follow each other, each round's shifted by the measured time of the rounds before it.
/// Plan-cache counters add up. `details` is parallel to `stats`, in and out.
pub fn merge_rounds(
    stats: Vec<QueryStats>,
    details: Vec<ShardQueryDetail>,
) -> anyhow::Result<(Vec<QueryStats>, Vec<ShardQueryDetail>)> {
    anyhow::ensure!(
        stats.len() == details.len(),
        "{} query statistics but {} details",
        stats.len(),
        details.len()
    );
    let mut groups: Vec<Vec<(QueryStats, ShardQueryDetail)>> = Vec::new();
    for (s, d) in stats.into_iter().zip(details) {
        match groups.iter_mut().find(|g| g[0].0.name == s.name) {
            Some(g) => g.push((s, d)),
            None => groups.push(vec![(s, d)]),
        }
    }
    let mut out_stats = Vec::with_capacity(groups.len());
    let mut out_details = Vec::with_capacity(groups.len());
    for g in groups {
        let (s, d) = merge_one(g)?;
        out_stats.push(s);
        out_details.push(d);
    }
    Ok((out_stats, out_details))
}

fn merge_one(
    mut rounds: Vec<(QueryStats, ShardQueryDetail)>,
) -> anyhow::Result<(QueryStats, ShardQueryDetail)> {
    if rounds.len() == 1 {
        return Ok(rounds.remove(0));
    }
    let name = rounds[0].0.name.clone();
    let mut latency = new_histogram();
    let mut lag = new_histogram();
    let mut any_lag = false;
    let (mut out, mut detail) = rounds[0].clone();
    out.count = 0;
    out.errors = 0;
    out.errors_by_sqlstate.clear();
    out.rows_returned = 0;
    out.duration_s = 0.0;
    out.intervals.clear();
    detail.interval_histograms.clear();
    let mut custom = Some(0u64);
    let mut generic = Some(0u64);
    for (s, d) in &rounds {
        let offset = out.duration_s;
        out.count += s.count;
        out.errors += s.errors;
        for (k, v) in &s.errors_by_sqlstate {
            *out.errors_by_sqlstate.entry(k.clone()).or_default() += v;
        }
        out.rows_returned += s.rows_returned;
        out.duration_s += s.duration_s;
        let h = decode_histogram(&s.histogram)
            .map_err(|e| anyhow::anyhow!("round of `{name}`: its histogram: {e:#}"))?;
        latency
            .add(&h)
            .map_err(|e| anyhow::anyhow!("round of `{name}`: adding its histogram: {e}"))?;
        if let Some(l) = &d.lag_histogram {
            let h = decode_histogram(l)
                .map_err(|e| anyhow::anyhow!("round of `{name}`: its lag histogram: {e:#}"))?;
            lag.add(&h)
                .map_err(|e| anyhow::anyhow!("round of `{name}`: adding its lag: {e}"))?;
            any_lag = true;
        }
        out.intervals.extend(s.intervals.iter().map(|iv| {
            let mut iv = iv.clone();
            iv.t_s += offset;
            iv
        }));
        detail
            .interval_histograms
            .extend(d.interval_histograms.iter().cloned());
        let plan = s.plan.as_ref();
        custom = custom
            .zip(plan.and_then(|p| p.custom_plans))
            .map(|(a, b)| a + b);
        generic = generic
            .zip(plan.and_then(|p| p.generic_plans))
            .map(|(a, b)| a + b);
    }
    if let Some(p) = out.plan.as_mut() {
        p.custom_plans = custom;
        p.generic_plans = generic;
    }
    crate::stats::set_merged_latency(&mut out, &latency);
    if any_lag {
        out.schedule_lag_ms = Some(percentiles_ms(&lag));
        detail.lag_histogram = Some(encode_histogram(&lag));
    }
    Ok((out, detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::IntervalStats;
    use crate::stats::interval_stats;

    fn round(name: &str, values_us: &[u64], duration_s: f64) -> (QueryStats, ShardQueryDetail) {
        let mut h = new_histogram();
        for v in values_us {
            h.record(*v).unwrap();
        }
        let stats = QueryStats {
            name: name.into(),
            mode: "closed".into(),
            clients: 1,
            rate: None,
            count: values_us.len() as u64,
            errors: 1,
            errors_by_sqlstate: [("57014".to_string(), 1)].into_iter().collect(),
            rows_returned: 10 * values_us.len() as u64,
            duration_s,
            throughput_qps: values_us.len() as f64 / duration_s,
            latency_ms: percentiles_ms(&h),
            schedule_lag_ms: None,
            histogram: encode_histogram(&h),
            intervals: vec![
                interval_stats(duration_s / 2.0, &h),
                interval_stats(duration_s, &h),
            ],
            plan: None,
            evidence: None,
        };
        let detail = ShardQueryDetail {
            name: name.into(),
            measured_from_ms: 1000.0,
            lag_histogram: None,
            interval_histograms: vec![encode_histogram(&h), encode_histogram(&h)],
        };
        (stats, detail)
    }

    #[test]
    fn rounds_add_up_to_one_phase() {
        let (a1, d1) = round("a", &[100, 200, 300], 1.0);
        let (b1, e1) = round("b", &[5000], 1.0);
        let (a2, d2) = round("a", &[400, 5000], 2.0);
        let (s, d) = merge_rounds(vec![a1, b1, a2], vec![d1, e1, d2]).unwrap();
        assert_eq!(
            s.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let a = &s[0];
        assert_eq!(a.count, 5);
        assert_eq!(a.errors, 2);
        assert_eq!(a.errors_by_sqlstate["57014"], 2);
        assert_eq!(a.rows_returned, 50);
        assert!((a.duration_s - 3.0).abs() < 1e-12);
        assert!((a.throughput_qps - 5.0 / 3.0).abs() < 1e-12);
        let mut all = new_histogram();
        for v in [100, 200, 300, 400, 5000] {
            all.record(v).unwrap();
        }
        assert_eq!(decode_histogram(&a.histogram).unwrap(), all);
        assert_eq!(a.latency_ms, percentiles_ms(&all));
        let t: Vec<f64> = a.intervals.iter().map(|i: &IntervalStats| i.t_s).collect();
        assert_eq!(t, [0.5, 1.0, 2.0, 3.0]);
        assert_eq!(d[0].interval_histograms.len(), 4);
        assert_eq!(s[1].count, 1, "a query with one round is kept as it was");
    }

    #[test]
    fn rounds_split_the_stop_and_draw_their_own_parameters() {
        let plan = crate::scenario::parse(
            "[run]\nwarmup = \"250ms\"\nduration = \"1001ms\"\nstats_interval = \"100ms\"\nrounds = 3\n\
             [[queries]]\nname = \"latest_24h\"\n[[queries]]\nname = \"last_value\"\ncount = 10\n",
            "t.toml",
            chrono::Utc::now(),
        )
        .unwrap();
        let (q, c) = (&plan.queries[0], &plan.queries[1]);
        let d: Vec<Duration> = (0..3)
            .map(|r| match round_of(q, 0, r, 3).stop {
                StopCondition::Duration { duration } => duration,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(d.iter().sum::<Duration>(), Duration::from_millis(1001));
        assert_eq!(d[0], Duration::from_millis(1001) / 3);
        let n: Vec<u64> = (0..3)
            .map(|r| match round_of(c, 1, r, 3).stop {
                StopCondition::Count { count } => count,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(n, [4, 3, 3]);
        for r in 0..3 {
            assert_eq!(round_of(q, 0, r, 3).warmup, Duration::from_millis(250));
        }
        let streams: Vec<u64> = (0..3).map(|r| round_of(c, 1, r, 3).stream).collect();
        assert_eq!(
            streams[0], 1,
            "round 1 draws what the phase did without rounds"
        );
        assert!(streams[1] != streams[0] && streams[2] != streams[1]);
        assert!(
            streams.iter().all(|s| *s < 1 << 32),
            "below the shards' streams"
        );
    }

    #[test]
    fn mismatched_details_are_refused() {
        let (a, _) = round("a", &[100], 1.0);
        assert!(merge_rounds(vec![a], vec![]).is_err());
    }
}

//! Pooling runs of the current code (`bench compare CURRENT --confirm RUN... --pool`): every
//! gate is tested on the mean of the runs' changes, whose noise falls with the number of runs,
//! and a regression must still exceed the threshold in a majority of the runs (in both of two,
//! in 2 of 3, in 3 of 5), so one disturbed run cannot fail the gate on its own. Intersecting
//! verdicts (`--confirm` alone) asks each run to be significant by itself, which halves the
//! power for the same false-positive bound.

use super::*;

/// Pool `runs` (each the comparison of one run of the current code against the same baseline,
/// the first being CURRENT) into one comparison. Rows are matched by query and metric; a row
/// missing from a run, or decided without a test (error rates, no data), regresses only when it
/// does in the current run and in a majority of the runs (in both of two, as with [`confirm`]).
pub fn pool(runs: Vec<Comparison>, opts: &CompareOptions) -> Comparison {
    let mut runs = runs.into_iter();
    let Some(mut out) = runs.next() else {
        panic!("pool needs at least one comparison");
    };
    let others: Vec<Comparison> = runs.collect();
    if others.is_empty() {
        return out;
    }
    let m = others.len() + 1;
    for (i, c) in others.iter().enumerate() {
        for w in &c.warnings {
            let w = format!("pooled run {}: {w}", i + 2);
            if !out.warnings.contains(&w) {
                out.warnings.push(w);
            }
        }
    }
    let matching: Vec<Vec<Option<&ComparisonRow>>> = out
        .rows
        .iter()
        .map(|row| {
            others
                .iter()
                .map(|c| {
                    c.rows
                        .iter()
                        .find(|r| r.query == row.query && r.metric == row.metric)
                })
                .collect()
        })
        .collect();

    // A pooled test, with each run's judged worsening and the worsening all of them agree on.
    struct Pooled {
        test: Pending,
        judged: Vec<f64>,
        agreed: f64,
    }
    let mut pooled: Vec<Pooled> = Vec::new();
    let mut disagree: Vec<Option<String>> = vec![None; out.rows.len()];
    let pairs = (m * (m - 1) / 2) as f64;
    for (idx, (row, others)) in out.rows.iter().zip(&matching).enumerate() {
        let bases: Option<Vec<TestBasis>> = std::iter::once(row.basis)
            .chain(others.iter().map(|o| o.and_then(|o| o.basis)))
            .collect();
        let Some(bases) = bases else { continue };
        let first = bases[0];
        let worse = bases.iter().map(|b| b.worse_log).sum::<f64>() / m as f64;
        // One run's noise (the same for every run of a multi-run baseline; with one baseline
        // run it holds each run's own sampling error, so the mean variance is taken).
        let var = bases.iter().map(|b| b.sd_log * b.sd_log).sum::<f64>() / m as f64;
        // Runs that differ from each other beyond their noise (two-sided 1%, Bonferroni over
        // the pairs; the baseline's error is common to both, so a difference has variance
        // 2 sd^2) are not one effect: one of them was disturbed, and a mean would carry the
        // disturbance. Such a gate is intersected instead.
        let crit = significance::t_critical(0.005 / pairs, first.df);
        let spread = bases
            .iter()
            .flat_map(|a| bases.iter().map(move |b| (a.worse_log - b.worse_log).abs()))
            .fold(0.0, f64::max);
        if spread > crit * (2.0 * var).sqrt() {
            disagree[idx] = Some(
                bases
                    .iter()
                    .map(|b| format!("{:+.1}%", b.judged_log.exp_m1() * 100.0))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            continue;
        }
        let k = first.baseline_runs.max(1) as f64;
        let se = (var * (1.0 / m as f64 + 1.0 / k)).sqrt();
        let judged: Vec<f64> = bases.iter().map(|b| b.judged_log).collect();
        pooled.push(Pooled {
            test: Pending::tested(idx, worse, se, first.df, first.run_family),
            agreed: majority_worsening(&judged),
            judged,
        });
    }
    let families = if pooled.iter().any(|p| p.test.run_family) {
        2.0
    } else {
        1.0
    };
    let threshold = opts.max_regression_pct / 100.0;
    let mut tested = vec![false; out.rows.len()];
    for (i, adj, family_size) in holm_by_family(&pooled, |p| p.test.run_family, |p| p.test.p) {
        let Pooled {
            test,
            judged,
            agreed,
        } = &pooled[i];
        tested[test.row] = true;
        let row = &mut out.rows[test.row];
        let adj = (adj * families).min(1.0);
        row.p_raw = Some(test.p);
        let signed = if row.metric.higher_is_better() {
            -test.worse
        } else {
            test.worse
        };
        row.net_change_pct = Some(signed.exp_m1() * 100.0);
        let se = test.se.unwrap_or_default();
        row.detectable_pct = Some(detectable_pct(
            opts.alpha,
            families,
            family_size,
            test.df,
            se,
        ));
        // Judged on the worsening a majority of the runs agree on: beyond the threshold in more
        // than half of them, or no regression.
        row.note = None;
        decide_tested(row, agreed.exp_m1(), adj, threshold, opts.alpha);
        if adj < opts.alpha && test.worse > 0.0 && row.verdict != RowVerdict::Regression {
            row.note = Some(format!(
                "significantly worse over the {m} pooled runs, but not beyond the threshold in \
                 {} (judged changes {})",
                majority_words(m),
                judged
                    .iter()
                    .map(|j| format!("{:+.1}%", j.exp_m1() * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for (((row, others), tested), disagree) in
        out.rows.iter_mut().zip(&matching).zip(tested).zip(disagree)
    {
        row.confirm_change_pct = others
            .iter()
            .map(|o| o.and_then(|o| o.change_pct))
            .collect();
        if tested {
            continue;
        }
        // Not pooled: a regression only when the current run and a majority of all the runs
        // regress, each judged alone (for two runs: both).
        let regressed = 1 + others
            .iter()
            .filter(|o| o.is_some_and(ComparisonRow::failed))
            .count();
        let majority = regressed > m / 2;
        let words = majority_words(m);
        if let Some(changes) = &disagree {
            row.note = Some(format!(
                "the {m} runs disagree beyond their noise ({changes}): not pooled, {}",
                match (row.verdict == RowVerdict::Regression, majority) {
                    (true, true) => format!("a regression in {words}"),
                    (true, false) => format!("regressed in the current run, not in {words}"),
                    _ => "judged on each run alone".to_string(),
                }
            ));
        }
        if row.verdict == RowVerdict::Regression && !majority {
            row.verdict = RowVerdict::Unconfirmed;
            if disagree.is_none() {
                row.note = Some(format!(
                    "regressed in the current run but not in {words} ({m} pooled runs)"
                ));
            }
        }
    }
    out.confirmation_runs = others.len();
    out.pooled = true;
    out
}

/// The change that more than half of the runs agree on, from each run's judged worsening (log
/// scale, positive = worse): the largest worsening exceeded or reached by a majority, if that
/// is a worsening; else the largest improvement a majority reached; else none. For two runs
/// this is the worsening both agree on ([`agreed_worsening`]); for three, the median.
pub(super) fn majority_worsening(judged: &[f64]) -> f64 {
    if judged.is_empty() {
        return 0.0;
    }
    let mut sorted = judged.to_vec();
    sorted.sort_by(f64::total_cmp);
    // The (m/2)-th value from the top and from the bottom: more than half the runs are at
    // least as bad as `worse`, and at least as good as `better`.
    let half = judged.len() / 2;
    let worse = sorted[sorted.len() - 1 - half];
    let better = sorted[half];
    if worse > 0.0 {
        worse
    } else if better < 0.0 {
        better
    } else {
        0.0
    }
}

/// "both runs", "2 of the 3 runs", ...: how many runs a majority is.
pub(super) fn majority_words(m: usize) -> String {
    match m {
        1 => "the run".to_string(),
        2 => "both runs".to_string(),
        _ => format!("{} of the {m} runs", m / 2 + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_of_two_is_both_and_of_three_the_median() {
        for (a, b) in [(0.08, 0.03), (-0.08, -0.10), (0.08, -0.03), (-0.02, 0.0)] {
            assert_eq!(
                majority_worsening(&[a, b]),
                agreed_worsening(a, b),
                "{a} {b}"
            );
        }
        assert_eq!(majority_worsening(&[0.5, 0.02, 0.12]), 0.12);
        assert_eq!(majority_worsening(&[0.5, -0.02, 0.12]), 0.12);
        assert_eq!(majority_worsening(&[0.5, -0.02, 0.0]), 0.0);
        assert_eq!(majority_worsening(&[0.5, -0.02, -0.12]), -0.02);
        // 3 of 5 must reach it: one or two disturbed runs do not move it.
        assert_eq!(majority_worsening(&[0.9, 0.8, 0.07, 0.06, 0.01]), 0.07);
        assert_eq!(majority_worsening(&[0.9, 0.01, 0.0, -0.01, -0.2]), 0.0);
        assert_eq!(majority_worsening(&[0.04]), 0.04);
        assert_eq!(majority_worsening(&[]), 0.0);
        assert_eq!(majority_words(2), "both runs");
        assert_eq!(majority_words(3), "2 of the 3 runs");
        assert_eq!(majority_words(4), "3 of the 4 runs");
    }
}

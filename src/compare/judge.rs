//! Judging a run against a baseline: pair the queries, estimate each gate's noise, test,
//! Holm-adjust over all gates; confirmation runs; the noise table of a baseline.

use super::*;

/// Compare `current` against a one-run baseline (see [`compare_baseline`]).
pub fn compare(
    baseline: &Summary,
    current: &Summary,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    compare_baseline(&Baseline::single(baseline.clone()), current, opts)
}

/// Compare `current` against the runs of `baseline`. Refuses (`BenchError::Config`, exit 2)
/// reports of different scenarios or configurations unless `opts.force`, and comparisons that
/// would check nothing (no query in common, or no gateable metric).
pub fn compare_baseline(
    baseline: &Baseline,
    current: &Summary,
    opts: &CompareOptions,
) -> anyhow::Result<Comparison> {
    opts.validate()?;
    let runs = baseline.runs();
    let k = runs.len();
    let latest = baseline.latest();
    let mut warnings = Vec::new();
    // The runs of a baseline share one configuration (checked when it is built).
    consistency::check_same_scenario(latest, current, opts.force, &mut warnings)?;
    consistency::environment_warnings(latest, current, &mut warnings);
    if current.interrupted {
        warnings.push("the current run was interrupted: its figures cover a partial run".into());
    }
    if current.degraded {
        warnings.push("the current run is degraded: some queries failed".into());
    }
    let degraded = runs.iter().filter(|r| r.degraded).count();
    if degraded > 0 {
        warnings.push(format!(
            "{degraded} of the {k} baseline run(s) degraded: some queries failed"
        ));
    }

    let maps: Vec<BTreeMap<&str, &QueryStats>> = runs
        .iter()
        .map(|r| r.queries.iter().map(|q| (q.name.as_str(), q)).collect())
        .collect();
    let in_all = |name: &str| maps.iter().all(|m| m.contains_key(name));
    let added: Vec<String> = current
        .queries
        .iter()
        .filter(|q| !in_all(&q.name))
        .map(|q| q.name.clone())
        .collect();
    let current_names: BTreeSet<&str> = current.queries.iter().map(|q| q.name.as_str()).collect();
    let removed: Vec<String> = latest
        .queries
        .iter()
        .filter(|q| !current_names.contains(q.name.as_str()))
        .map(|q| q.name.clone())
        .collect();

    let metrics: Vec<Metric> = {
        let mut seen = BTreeSet::new();
        opts.metrics
            .iter()
            .copied()
            .filter(|m| seen.insert(*m))
            .collect()
    };

    let mut rows = Vec::new();
    let mut samples: Vec<(usize, noise::GateSample)> = Vec::new();
    let mut proportions: Vec<(usize, significance::SampleTest)> = Vec::new();
    // Current report order: the order the scenario declares its queries.
    for cq in &current.queries {
        if !in_all(&cq.name) {
            continue;
        }
        let bqs: Vec<&QueryStats> = maps.iter().map(|m| m[cq.name.as_str()]).collect();
        let lq = bqs[k - 1];
        if lq.mode != cq.mode || lq.clients != cq.clients || lq.rate != cq.rate {
            warnings.push(format!(
                "query {}: load differs (baseline {} x{} clients, current {} x{} clients)",
                cq.name, lq.mode, lq.clients, cq.mode, cq.clients
            ));
        }
        for &metric in &metrics {
            let (row, prepared) =
                prepare_row(&bqs, cq, metric, opts.interval_value, opts.speed_reference);
            match prepared {
                Prepared::Sample(s) => samples.push((rows.len(), s)),
                Prepared::Proportion(t) => proportions.push((rows.len(), t)),
                Prepared::Decided => {}
            }
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Err(BenchError::Config(format!(
            "no query in common between the baseline ({}) and the current report ({}): the gate \
             would check nothing",
            names(&latest.queries),
            names(&current.queries)
        ))
        .into());
    }

    let gate_samples: Vec<noise::GateSample> = samples.iter().map(|(_, s)| s.clone()).collect();
    let (noises, shifts, noise_summary) = noise::estimate(
        &gate_samples,
        k,
        if k >= 2 { opts.run_noise_pct } else { None },
        opts.run_noise_pct.unwrap_or(DEFAULT_RUN_NOISE_PCT),
    );

    // One-sided p-values in the direction of the observed (net) change. Two families share
    // alpha: the query gates, and (k >= 2) the whole run's shift per metric; each is
    // Holm-adjusted within itself and the two are Bonferroni-combined, so alpha bounds the
    // chance that noise fails the gate as a whole.
    let inflate = (1.0 + 1.0 / k as f64).sqrt();
    let families = if shifts.is_empty() || !opts.gate_run_shift {
        1.0
    } else {
        2.0
    };
    let mut pending: Vec<Pending> = Vec::new();
    for ((idx, s), n) in samples.iter().zip(&noises) {
        let se = n.sd * inflate;
        // Positive = slower (for throughput, lower is worse).
        let worse_log = if s.metric.higher_is_better() {
            -n.net_log
        } else {
            n.net_log
        };
        let row = &mut rows[*idx];
        row.net_change_pct = Some(n.net_log.exp_m1() * 100.0);
        row.noise_pct = Some(noise::pct(n.sd));
        row.noise_source = Some(n.source);
        row.df = n.df;
        row.method = if k >= 2 {
            Method::RunT
        } else {
            Method::DefaultNoiseZ
        };
        // The shift the noise model removed, and the displayed whole-phase change net of it:
        // a gate fails only when both its tested value (a low quantile of the intervals) and the
        // whole phase worsened beyond the threshold, so a regression never shows a change
        // within it (or an improvement).
        let whole_net = row.change_pct.map(|c| (c / 100.0).ln_1p() - n.shift_log);
        let mut test = Pending::tested(*idx, worse_log, se, n.df, false);
        if let Some(w) = whole_net {
            let whole_worse = if s.metric.higher_is_better() { -w } else { w };
            test.worse = agreed_worsening(worse_log, whole_worse);
            // A note only where the two differ visibly (log interpolation between interval values
            // can leave a sub-0.1% difference that says nothing).
            if (worse_log - test.worse).abs() > 1e-3
                && worse_log.exp_m1() * 100.0 > opts.max_regression_pct
            {
                row.note = Some(format!(
                    "the {} moved {:+.1}% (net of the run's shift), the whole phase {:+.1}%: \
                     judged on the smaller",
                    opts.interval_value.name(),
                    n.net_log.exp_m1() * 100.0,
                    w.exp_m1() * 100.0
                ));
            }
        }
        row.basis = Some(TestBasis {
            worse_log,
            judged_log: test.worse,
            sd_log: n.sd,
            baseline_runs: k,
            df: n.df,
            run_family: false,
        });
        pending.push(test);
    }
    for (idx, t) in &proportions {
        let worse = rows[*idx].change_pct.map_or(f64::INFINITY, |c| c / 100.0);
        let p = if worse >= 0.0 { t.p_greater } else { t.p_less };
        rows[*idx].net_change_pct = rows[*idx].change_pct;
        pending.push(Pending {
            row: *idx,
            worse: worse.ln_1p(),
            p,
            se: None,
            df: None,
            run_family: false,
        });
    }
    for sh in &shifts {
        let mut row = empty_row(RUN_SHIFT_QUERY, sh.metric, 1.0, sh.shift_log.exp());
        row.change_pct = Some(sh.shift_log.exp_m1() * 100.0);
        row.net_change_pct = row.change_pct;
        row.noise_pct = Some(noise::pct(sh.sd));
        row.noise_source = Some(NoiseSource::Measured);
        row.df = Some(sh.df);
        row.method = Method::RunT;
        row.n_baseline = k as u64;
        row.n_current = sh.gates as u64;
        let worse_log = if sh.metric.higher_is_better() {
            -sh.shift_log
        } else {
            sh.shift_log
        };
        if opts.gate_run_shift {
            row.basis = Some(TestBasis {
                worse_log,
                judged_log: worse_log,
                sd_log: sh.sd,
                baseline_runs: k,
                df: Some(sh.df),
                run_family: true,
            });
            pending.push(Pending::tested(
                rows.len(),
                worse_log,
                sh.sd * inflate,
                Some(sh.df),
                true,
            ));
        } else {
            // A shift of every query at once is what a busier or slower machine looks like;
            // baseline runs recorded together cannot say how far a machine drifts.
            row.verdict = RowVerdict::NotGateable;
            row.note = Some(format!(
                "not gated: the current run's shift of every query's {} (median over {} \
                 queries) cannot be told from a slower or busier machine by baseline runs \
                 recorded together; the queries are judged net of it (--gate-run-shift gates \
                 it too)",
                sh.metric.name(),
                sh.gates
            ));
            if worse_log.exp_m1() * 100.0 > opts.max_regression_pct {
                warnings.push(format!(
                    "every query's {} moved by {:+.1}% (median over {} queries, baseline runs \
                     spread ±{:.1}%): a slower machine, or a regression in every query; not \
                     gated",
                    sh.metric.name(),
                    sh.shift_log.exp_m1() * 100.0,
                    sh.gates,
                    noise::pct(sh.sd)
                ));
            }
        }
        rows.push(row);
    }
    let tested = pending.len();
    for (i, adj, family_size) in holm_by_family(&pending, |p| p.run_family, |p| p.p) {
        let p = &pending[i];
        let row = &mut rows[p.row];
        row.p_raw = Some(p.p);
        decide_tested(
            row,
            p.worse.exp_m1(),
            (adj * families).min(1.0),
            opts.max_regression_pct / 100.0,
            opts.alpha,
        );
        if let Some(se) = p.se {
            row.detectable_pct = Some(detectable_pct(opts.alpha, families, family_size, p.df, se));
        }
    }

    if tested == 0 && !rows.iter().any(ComparisonRow::failed) {
        let reasons: Vec<String> = rows
            .iter()
            .take(3)
            .map(|r| {
                format!(
                    "{} {}: {}",
                    r.query,
                    r.metric.name(),
                    r.note.as_deref().unwrap_or("")
                )
            })
            .collect();
        return Err(BenchError::Config(format!(
            "no gate could be tested, the comparison would check nothing ({}{})",
            reasons.join("; "),
            if rows.len() > 3 { "; ..." } else { "" }
        ))
        .into());
    }
    if opts.speed_reference {
        let carries = |s: &Summary| s.queries.iter().any(|q| speed_of(q).is_some());
        let with = runs.iter().filter(|r| carries(r)).count() + usize::from(carries(current));
        if with > 0 && with < k + 1 {
            warnings.push(format!(
                "{with} of the {} runs carry the host-speed reference ([run] speed_reference): \
                 the values are compared as measured, not brought to one host speed",
                k + 1
            ));
        }
    }
    for r in &rows {
        if r.verdict == RowVerdict::NoBaselineData {
            warnings.push(format!(
                "query {} has no successful query in the baseline: {} not gated (refresh the \
                 baseline)",
                r.query,
                r.metric.name()
            ));
        }
    }

    Ok(Comparison {
        scenario: current.scenario.name.clone(),
        max_regression_pct: opts.max_regression_pct,
        alpha: opts.alpha,
        interval_statistic: match opts.interval_value {
            IntervalValue::Mean => "mean",
            IntervalValue::Quantile(_) => "quantile",
        },
        interval_quantile: opts.interval_value.quantile(),
        noise: noise_summary,
        metrics,
        rows,
        added,
        removed,
        warnings,
        confirmation_runs: 0,
        pooled: false,
    })
}

/// Intersect `first` with the comparisons of confirmation runs (the same baseline, re-runs of
/// the same code): a row stays a regression only when it is one in every confirmation; a row
/// that regressed only in `first` becomes [`RowVerdict::Unconfirmed`]. A real slowdown shows
/// in every run; a noisy neighbour rarely hits the same query twice.
pub fn confirm(first: Comparison, confirmations: &[Comparison]) -> Comparison {
    let mut out = first;
    for (i, c) in confirmations.iter().enumerate() {
        for w in &c.warnings {
            let w = format!("confirmation run {}: {w}", i + 1);
            if !out.warnings.contains(&w) {
                out.warnings.push(w);
            }
        }
    }
    for row in &mut out.rows {
        let mut not_reproduced = Vec::new();
        for (i, c) in confirmations.iter().enumerate() {
            let other = c
                .rows
                .iter()
                .find(|r| r.query == row.query && r.metric == row.metric);
            row.confirm_change_pct
                .push(other.and_then(|o| o.change_pct));
            if !other.is_some_and(ComparisonRow::failed) {
                not_reproduced.push(match other {
                    Some(o) => format!(
                        "confirmation run {}: {}{}",
                        i + 1,
                        o.verdict.label(),
                        o.change_pct
                            .map(|c| format!(", {c:+.1}%"))
                            .unwrap_or_default()
                    ),
                    None => format!("confirmation run {}: not compared", i + 1),
                });
            }
        }
        if row.verdict == RowVerdict::Regression && !not_reproduced.is_empty() {
            row.verdict = RowVerdict::Unconfirmed;
            row.note = Some(format!(
                "regressed in the current run but not reproduced ({})",
                not_reproduced.join("; ")
            ));
        }
    }
    out.confirmation_runs = confirmations.len();
    out
}

/// The `[gate] metrics` of the scenario a report ran, if it names any.
pub fn gate_metrics_of(summary: &Summary) -> Option<Vec<Metric>> {
    summary
        .scenario
        .resolved
        .get("gate")
        .and_then(|g| g.get("metrics"))
        .and_then(|v| v.as_array())
        .and_then(|a| {
            a.iter()
                .map(|m| m.as_str().and_then(Metric::from_name))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|m| !m.is_empty())
}

/// One query x metric of a baseline on its own: its runs' values and measured noise.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BaselineNoiseRow {
    pub query: String,
    pub metric: Metric,
    /// Each run's whole-phase value, oldest first.
    pub values: Vec<f64>,
    /// The measured run-to-run standard deviation, percent; None when not gateable.
    pub noise_pct: Option<f64>,
    pub note: Option<String>,
}

/// The run-to-run noise the gate would measure from `baseline` for each query (of the newest
/// run) and metric, with the same gateability rules as [`compare_baseline`].
pub fn baseline_noise(
    baseline: &Baseline,
    metrics: &[Metric],
) -> (Vec<BaselineNoiseRow>, NoiseSummary) {
    let runs = baseline.runs();
    let mut rows = Vec::new();
    let mut samples = Vec::new();
    for q in &baseline.latest().queries {
        let qs: Option<Vec<&QueryStats>> = runs
            .iter()
            .map(|r| r.queries.iter().find(|x| x.name == q.name))
            .collect();
        let Some(qs) = qs else { continue };
        for &metric in metrics.iter().filter(|m| **m != Metric::ErrorRate) {
            // What the gate tests: the default statistic of the intervals, each run brought
            // to the baseline's host speed when all of them carry the reference.
            let speed = SpeedScale::fit(&qs, qs[qs.len() - 1], metric);
            let values: Vec<f64> = qs
                .iter()
                .map(|x| gates::tested_value(x, metric, DEFAULT_INTERVAL_VALUE, speed))
                .collect();
            let fewest = qs.iter().map(|x| x.count).min().unwrap_or(0);
            let note = match min_queries(metric) {
                None => Some("not gateable: a single query's latency".to_string()),
                Some(need) if fewest < need => Some(format!(
                    "not gateable: needs at least {need} queries in the phase, a run has {fewest}"
                )),
                _ if values.iter().any(|v| *v <= 0.0) => Some("not gateable: a zero value".into()),
                _ => None,
            };
            if note.is_none() {
                samples.push((
                    rows.len(),
                    noise::GateSample {
                        metric,
                        baseline_logs: values.iter().map(|v| v.ln()).collect(),
                        current_log: 0.0,
                        within_baseline: 0.0,
                        within_current: 0.0,
                        mixed: q.name.starts_with("mix:"),
                    },
                ));
            }
            rows.push(BaselineNoiseRow {
                query: q.name.clone(),
                metric,
                values,
                noise_pct: None,
                note,
            });
        }
    }
    let gate_samples: Vec<noise::GateSample> = samples.iter().map(|(_, s)| s.clone()).collect();
    let (noises, _, summary) =
        noise::estimate(&gate_samples, runs.len(), None, DEFAULT_RUN_NOISE_PCT);
    for ((idx, _), n) in samples.iter().zip(noises) {
        if runs.len() >= 2 {
            rows[*idx].noise_pct = Some(noise::pct(n.sd));
        }
    }
    (rows, summary)
}

pub(super) fn names(queries: &[QueryStats]) -> String {
    if queries.is_empty() {
        return "no queries".into();
    }
    queries
        .iter()
        .map(|q| q.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

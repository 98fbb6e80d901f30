//! The gate of `bench run --baseline`: compare the run against the baseline, embed the
//! comparison in the summary, add one `gate.regression` check, and fail the verdict when the
//! gate regressed.

use anyhow::Context as _;

use super::{compare_baseline, Baseline, CompareOptions, Comparison};
use crate::model::report::{CheckResult, CheckStatus, Summary, Verdict};

/// Compare against the baseline, embed the comparison and add one `gate` check.
pub fn apply_gate(
    summary: &mut Summary,
    base: &Baseline,
    opts: &CompareOptions,
) -> anyhow::Result<()> {
    if summary.interrupted {
        return Ok(());
    }
    let cmp = compare_baseline(base, summary, opts).context("comparing against the baseline")?;
    let worst = cmp
        .rows
        .iter()
        .filter(|r| !r.verdict.not_gated())
        .filter_map(|r| r.change_pct)
        .fold(None::<f64>, |acc, c| Some(acc.map_or(c, |a| a.max(c))));
    summary.checks.push(CheckResult {
        name: "gate.regression".into(),
        kind: "gate".into(),
        target: format!(
            "<= {}% slower (alpha {}, {})",
            opts.max_regression_pct,
            opts.alpha,
            match base.len() {
                1 => "1 baseline run, default noise".to_string(),
                k => format!("noise from {k} baseline runs"),
            }
        ),
        measured: worst,
        measured_text: None,
        status: if cmp.failed() {
            CheckStatus::Fail
        } else {
            CheckStatus::Pass
        },
        note: Some(gate_note(&cmp)),
    });
    summary.comparison = Some(cmp.to_json());
    // The failed gate's explanation, like every failed check's.
    if cmp.failed() {
        summary
            .explanations
            .push(crate::model::report::Explanation {
            check: "gate.regression".into(),
            reason: gate_note(&cmp),
            next_step: Some(
                "compare the queries' evidence (plans/, server time) with the baseline's report; \
                 `bench compare BASELINE summary.json` lists every gate with its interval"
                    .into(),
            ),
        });
    }
    if cmp.failed() && summary.verdict == Verdict::Pass {
        summary.verdict = Verdict::Fail;
    }
    Ok(())
}

/// The gate check's note: how many gates regressed (which query and metric, the change and
/// the noise), and how many were not gated.
fn gate_note(cmp: &Comparison) -> String {
    let regressed: Vec<String> = cmp
        .regressions()
        .map(|r| {
            let noise = r
                .noise_pct
                .map(|n| format!(" (noise ±{n:.1}%)"))
                .unwrap_or_default();
            match r.change_pct {
                Some(c) => format!("{} {} {c:+.1}%{noise}", r.query, r.metric.name()),
                None => format!("{} {}", r.query, r.metric.name()),
            }
        })
        .collect();
    let not_gated = cmp.not_gated().count();
    let mut note = format!(
        "{} regression(s) over {} gated comparison(s)",
        regressed.len(),
        cmp.rows.len() - not_gated
    );
    if not_gated > 0 {
        note.push_str(&format!(", {not_gated} not gated (see the comparison)"));
    }
    if !regressed.is_empty() {
        note.push_str(": ");
        note.push_str(&regressed.join(", "));
    }
    note
}

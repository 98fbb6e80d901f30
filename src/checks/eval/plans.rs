//! Query plans: chunk pruning read from EXPLAIN, and the speedup of a pruned query over a
//! full scan.

use super::*;

/// One plan of a query as the checks phase measured it (`EXPLAIN ANALYZE`).
#[derive(Debug, Clone, PartialEq)]
pub enum PlanProbe {
    Measured(PlanChunks),
    /// Could not be measured (e.g. PREPARE could not infer a custom query's parameter types).
    Failed(String),
}

/// Both plans of a query's prepared statement, as the query runner sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlans {
    /// The custom plan (`force_custom_plan`: planned with the parameter values, so the planner
    /// excludes chunks). None for a query without parameters, whose only plan is the generic
    /// one.
    pub custom: Option<PlanProbe>,
    /// The generic plan (`force_generic_plan`: parameters unknown at planning, so chunks can
    /// only be excluded at executor startup or at run time).
    pub generic: PlanProbe,
}

impl QueryPlans {
    /// The plans a client in `mode` can run, with their labels: `auto` may run either.
    pub fn reachable(&self, mode: PlanCacheMode) -> Vec<(&'static str, &PlanProbe)> {
        let mut out = Vec::new();
        if let Some(c) = self.custom.as_ref().filter(|_| mode.allows_custom()) {
            out.push(("custom plan", c));
        }
        if mode.allows_generic() || self.custom.is_none() {
            out.push(("generic plan", &self.generic));
        }
        out
    }

    /// The plans as report fields (custom, generic) and a note on those not measured.
    pub fn report(&self) -> (Option<PlanChunks>, Option<PlanChunks>, Option<String>) {
        let mut notes = Vec::new();
        let mut take = |label: &str, p: Option<&PlanProbe>| match p {
            Some(PlanProbe::Measured(c)) => Some(c.clone()),
            Some(PlanProbe::Failed(why)) => {
                notes.push(format!("{label} not measured: {why}"));
                None
            }
            None => None,
        };
        let custom = take("custom plan", self.custom.as_ref());
        let generic = take("generic plan", Some(&self.generic));
        if self.custom.is_none() {
            notes.push("no parameters: the generic plan is the only plan".to_string());
        }
        (
            custom,
            generic,
            (!notes.is_empty()).then(|| notes.join("; ")),
        )
    }
}

/// "generic plan: 32 of 32 chunks executed (32 planned, 0 excluded at startup, 25 compressed;
/// 123 ms)".
pub fn describe_plan(label: &str, p: &PlanChunks) -> String {
    let mut parts = vec![
        format!("{} planned", p.chunks_planned),
        format!("{} excluded at startup", p.chunks_excluded_startup),
    ];
    if p.chunks_excluded_runtime > 0 {
        parts.push(format!(
            "{} excluded at run time",
            p.chunks_excluded_runtime
        ));
    }
    parts.push(format!("{} compressed", p.chunks_executed_compressed));
    let ms = p
        .execution_ms
        .map(|m| format!("; {} ms", fmt_num(m)))
        .unwrap_or_default();
    format!(
        "{label}: {} of {} chunks executed ({}{ms})",
        p.chunks_executed,
        p.chunks_total,
        parts.join(", ")
    )
}

/// `pruning.<query>.chunks_scanned <= max`: chunks actually *executed* (EXPLAIN ANALYZE), by
/// the plans a client in the query's `mode` can run: under `auto` the plan cache may pick the
/// custom or the generic plan, so measured is the larger of the two; a forced mode counts its
/// plan only. `ran` (the query phase's plan counters) is reported, not judged.
pub fn pruning_check(
    query: &str,
    max: u64,
    mode: PlanCacheMode,
    plans: &QueryPlans,
    ran: Option<&PlanEvidence>,
) -> CheckResult {
    let name = format!("pruning.{query}.chunks_scanned");
    let target = format!("<= {max}");
    let mut notes = Vec::new();
    let mut hypertables: Vec<String> = Vec::new();
    let mut executed: Option<u64> = None;
    for (label, probe) in plans.reachable(mode) {
        match probe {
            PlanProbe::Measured(p) => {
                notes.push(describe_plan(label, p));
                if !p.hypertables.is_empty() {
                    executed = Some(executed.unwrap_or(0).max(p.chunks_executed));
                }
                for h in &p.hypertables {
                    if !hypertables.contains(h) {
                        hypertables.push(h.clone());
                    }
                }
            }
            PlanProbe::Failed(why) => notes.push(format!("{label} not measured: {why}")),
        }
    }
    // The plan the mode rules out is still shown, so a reader sees what the setting avoids.
    if let (Some(PlanProbe::Measured(c)), false) = (&plans.custom, mode.allows_custom()) {
        notes.push(format!(
            "not counted under {}: {}",
            mode.name(),
            describe_plan("custom plan", c)
        ));
    }
    if let (PlanProbe::Measured(g), false, true) = (
        &plans.generic,
        mode.allows_generic(),
        plans.custom.is_some(),
    ) {
        notes.push(format!(
            "not counted under {}: {}",
            mode.name(),
            describe_plan("generic plan", g)
        ));
    }
    if let Some(ran) = ran {
        if let (Some(c), Some(g)) = (ran.custom_plans, ran.generic_plans) {
            notes.push(format!(
                "the query phase ran {c} custom and {g} generic plans (plan_cache_mode {})",
                ran.plan_cache_mode
            ));
        }
    }
    hypertables.sort();
    let note_text = if hypertables.is_empty() {
        notes.join("; ")
    } else {
        format!("{}; {}", hypertables.join(", "), notes.join("; "))
    };
    let Some(executed) = executed else {
        let why = if notes.iter().any(|n| n.contains("not measured")) {
            "no plan could be measured"
        } else {
            "the plan touches no hypertable of the bench schema"
        };
        return result(
            name,
            "pruning",
            target,
            None,
            CheckStatus::Fail,
            Some(format!("{why}; {note_text}")),
        );
    };
    result(
        name,
        "pruning",
        target,
        Some(executed as f64),
        pass_if(executed <= max),
        Some(note_text),
    )
}

/// Median of some durations, in milliseconds (None when empty).
pub fn median_ms(samples: &[Duration]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    Some(if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    })
}

/// `pruning_speedup.<query> >= min`: median time with pruning defeated / median time pruned.
/// `pruned` / `defeated` are the chunk scans of both plans, shown in the note so a reader sees
/// that pruning really was defeated.
pub fn speedup_check(
    query: &str,
    min: f64,
    pruned_times: &[Duration],
    defeated_times: &[Duration],
    pruned: &ChunkScan,
    defeated: &ChunkScan,
) -> CheckResult {
    let name = format!("pruning_speedup.{query}");
    let target = format!(">= {}", fmt_num(min));
    let (Some(p), Some(d)) = (median_ms(pruned_times), median_ms(defeated_times)) else {
        return result(
            name,
            "pruning_speedup",
            target,
            None,
            CheckStatus::Fail,
            Some("no timing samples".into()),
        );
    };
    let ratio = if p > 0.0 { d / p } else { f64::INFINITY };
    let mut note = format!(
        "median {} ms pruned ({} of {} chunks) vs {} ms unpruned ({} of {} chunks), {} runs each",
        fmt_num(p),
        pruned.scanned,
        pruned.total,
        fmt_num(d),
        defeated.scanned,
        defeated.total,
        pruned_times.len().min(defeated_times.len())
    );
    let mut status = pass_if(ratio >= min);
    if defeated.scanned < defeated.total {
        // The baseline still pruned: the ratio understates the real speedup and proves nothing.
        note.push_str("; pruning could not be fully defeated, so the ratio is not meaningful");
        status = CheckStatus::Fail;
    }
    result(
        name,
        "pruning_speedup",
        target,
        Some(ratio),
        status,
        Some(note),
    )
}

//! The plan evidence of each query's statistics (`queries[].evidence.plan`, `plan_files`):
//! which of the checks phase's analysed plans the phase ran, summarised on one line, and the
//! plans as files for the report (`plans/<query>.json` and `.txt`, plus
//! `plans/<query>.generic.json` and `.txt` when the generic plan differs from the custom one).

use std::collections::BTreeSet;

use crate::db::plans::{self, PlanDocuments};
use crate::model::report::{PlanEvidence, QueryEvidence, QueryStats};

/// The scenario query behind a statistics name (`cold:mix:q` -> `q`).
pub fn base_name(stats_name: &str) -> &str {
    let s = stats_name.strip_prefix("cold:").unwrap_or(stats_name);
    s.strip_prefix("mix:").unwrap_or(s)
}

/// True when the phase ran the generic plan (by its plan_cache_mode, else by the counts of
/// plans its connections used).
fn ran_generic(ev: Option<&PlanEvidence>) -> bool {
    let Some(ev) = ev else { return false };
    match ev.plan_cache_mode.as_str() {
        "force_generic_plan" => true,
        "force_custom_plan" => false,
        _ => ev.generic_plans.unwrap_or(0) > ev.custom_plans.unwrap_or(0),
    }
}

fn pretty(doc: &serde_json::Value) -> String {
    serde_json::to_string_pretty(doc).unwrap_or_else(|_| doc.to_string())
}

/// Attach the plans of `documents` (by query name) to every statistics entry of `queries`.
/// Plan chunk facts come from `queries[].plan` (which `ChecksOutcome::annotate` filled).
pub fn attach_plans(documents: &[(String, PlanDocuments)], queries: &mut [QueryStats]) {
    let mut written: BTreeSet<String> = BTreeSet::new();
    for q in queries.iter_mut() {
        let base = base_name(&q.name).to_string();
        let Some((_, docs)) = documents.iter().find(|(n, _)| *n == base) else {
            continue;
        };
        let stem = crate::format::file_stem(&base);
        let generic_differs = match (&docs.custom, &docs.generic) {
            (Some(c), Some(g)) => plans::shape(c) != plans::shape(g),
            _ => false,
        };
        // The main files hold the custom plan (the generic one for a query without
        // parameters, whose only plan it is).
        let (main, main_label) = match (&docs.custom, &docs.generic) {
            (Some(c), _) => (c, "custom"),
            (None, Some(g)) => (g, "generic"),
            (None, None) => continue,
        };
        let mut files = vec![
            (format!("plans/{stem}.json"), pretty(main)),
            (format!("plans/{stem}.txt"), plans::render_text(main)),
        ];
        if let (true, Some(g)) = (generic_differs, &docs.generic) {
            files.push((format!("plans/{stem}.generic.json"), pretty(g)));
            files.push((format!("plans/{stem}.generic.txt"), plans::render_text(g)));
        }
        // The plan the phase ran, with the chunk facts of the same plan.
        let generic = ran_generic(q.plan.as_ref()) || main_label == "generic";
        let (doc, label, chunks) = match (generic, &docs.generic) {
            (true, Some(g)) => (
                g,
                "generic",
                q.plan.as_ref().and_then(|p| p.generic.as_ref()),
            ),
            _ => (
                main,
                main_label,
                q.plan.as_ref().and_then(|p| {
                    if main_label == "custom" {
                        p.custom.as_ref()
                    } else {
                        p.generic.as_ref()
                    }
                }),
            ),
        };
        let ev = q.evidence.get_or_insert_with(QueryEvidence::default);
        ev.plan = Some(plans::summarize(doc, label, chunks));
        ev.plan_files = files.iter().map(|(f, _)| f.clone()).collect();
        // One copy of each file, with the first entry of the query.
        if written.insert(base) {
            ev.documents = files;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names() {
        assert_eq!(base_name("cold:mix:agg_7d_fleet"), "agg_7d_fleet");
        assert_eq!(base_name("mix:last_value"), "last_value");
        assert_eq!(base_name("latest_24h"), "latest_24h");
    }

    #[test]
    fn generic_by_mode_then_counts() {
        let ev = |mode: &str, c, g| PlanEvidence {
            plan_cache_mode: mode.into(),
            custom_plans: Some(c),
            generic_plans: Some(g),
            ..Default::default()
        };
        assert!(ran_generic(Some(&ev("force_generic_plan", 9, 0))));
        assert!(!ran_generic(Some(&ev("force_custom_plan", 0, 9))));
        assert!(ran_generic(Some(&ev("auto", 5, 900))));
        assert!(!ran_generic(Some(&ev("auto", 900, 0))));
        assert!(!ran_generic(None));
    }
}

//! Whether two reports may be compared: the same scenario and resolved configuration (or
//! `--force`), and warnings for environment differences (versions, edition, cores, memory,
//! server settings) that make the numbers less comparable.

use std::collections::BTreeSet;

use crate::error::BenchError;
use crate::model::report::Summary;

pub(super) fn check_same_scenario(
    baseline: &Summary,
    current: &Summary,
    force: bool,
    warnings: &mut Vec<String>,
) -> Result<(), BenchError> {
    let (b, c) = (&baseline.scenario, &current.scenario);
    let mut diffs = Vec::new();
    if b.name != c.name {
        diffs.push(format!("scenario name `{}` vs `{}`", b.name, c.name));
    }
    if b.fingerprint != c.fingerprint {
        let paths = resolved_differences(&b.resolved, &c.resolved);
        if paths.is_empty() {
            // Same configuration, hashed by another bench build (the fingerprint follows the
            // plan's serialisation); the resolved scenarios are what the fingerprint stands for.
            warnings.push(format!(
                "scenario fingerprints differ ({} vs {}) but the resolved scenarios are \
                 identical: reports from different bench builds?",
                b.fingerprint, c.fingerprint
            ));
        } else {
            const SHOWN: usize = 6;
            let mut list = paths
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if paths.len() > SHOWN {
                list.push_str(&format!(" and {} more", paths.len() - SHOWN));
            }
            diffs.push(format!(
                "scenario fingerprint {} vs {}: the resolved configurations differ in {list}",
                b.fingerprint, c.fingerprint
            ));
        }
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let what = diffs.join("; ");
    if force {
        warnings.push(format!(
            "compared despite different scenarios (--force): {what}"
        ));
        Ok(())
    } else {
        Err(BenchError::Config(format!(
            "refusing to compare reports of different scenarios or configurations: {what}; \
             pass --force to compare anyway"
        )))
    }
}

/// Paths (`fleet.wells`, `queries[2].mode`) where two resolved scenarios differ, ignoring what
/// the fingerprint ignores: the file path, the description, and the end instant when both
/// scenarios say `end = "now"`.
pub fn resolved_differences(b: &serde_json::Value, c: &serde_json::Value) -> Vec<String> {
    let normalise = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("file");
            o.remove("description");
            if let Some(f) = o.get_mut("fleet").and_then(|f| f.as_object_mut()) {
                if f.get("end_is_now") == Some(&serde_json::Value::Bool(true)) {
                    f.remove("end");
                }
            }
        }
        v
    };
    let mut out = Vec::new();
    json_diff(&normalise(b), &normalise(c), String::new(), &mut out);
    out
}

fn json_diff(b: &serde_json::Value, c: &serde_json::Value, path: String, out: &mut Vec<String>) {
    use serde_json::Value;
    match (b, c) {
        (Value::Object(bo), Value::Object(co)) => {
            let keys: BTreeSet<&String> = bo.keys().chain(co.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (bo.get(k), co.get(k)) {
                    (Some(x), Some(y)) => json_diff(x, y, p, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(ba), Value::Array(ca)) if ba.len() == ca.len() => {
            for (i, (x, y)) in ba.iter().zip(ca).enumerate() {
                json_diff(x, y, format!("{path}[{i}]"), out);
            }
        }
        _ if b == c => {}
        _ => out.push(if path.is_empty() {
            "(root)".into()
        } else {
            path
        }),
    }
}

pub(super) fn environment_warnings(
    baseline: &Summary,
    current: &Summary,
    warnings: &mut Vec<String>,
) {
    let (b, c) = (&baseline.environment, &current.environment);
    let mut diff = |what: &str, bv: String, cv: String| {
        if bv != cv {
            warnings.push(format!(
                "environment differs: {what} {bv} (baseline) vs {cv} (current)"
            ));
        }
    };
    diff(
        "PostgreSQL",
        b.postgres_version.clone(),
        c.postgres_version.clone(),
    );
    diff(
        "TimescaleDB",
        b.timescaledb_version.clone(),
        c.timescaledb_version.clone(),
    );
    diff("edition", b.edition.clone(), c.edition.clone());
    diff("server", b.server.clone(), c.server.clone());
    diff("cores", b.cores.to_string(), c.cores.to_string());
    diff("memory", gib(b.memory_bytes), gib(c.memory_bytes));
    diff("OS", b.os.clone(), c.os.clone());
    let keys: BTreeSet<&String> = b.settings.keys().chain(c.settings.keys()).collect();
    for k in keys {
        let bv = b.settings.get(k).map_or("(unset)", String::as_str);
        let cv = c.settings.get(k).map_or("(unset)", String::as_str);
        diff(&format!("setting {k}"), bv.to_string(), cv.to_string());
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_differences_ignore_now_file_and_description() {
        let a = serde_json::json!({
            "file": "a.toml", "description": "x",
            "fleet": {"wells": 20, "end": "2026-01-01T00:00:00Z", "end_is_now": true},
            "queries": [{"name": "q", "mode": {"clients": 1}}]
        });
        let mut b = a.clone();
        b["file"] = "b.toml".into();
        b["fleet"]["end"] = "2026-02-01T00:00:00Z".into();
        assert!(resolved_differences(&a, &b).is_empty());
        b["fleet"]["wells"] = 40.into();
        b["queries"][0]["mode"]["clients"] = 2.into();
        assert_eq!(
            resolved_differences(&a, &b),
            vec!["fleet.wells", "queries[0].mode.clients"]
        );
        // A fixed end instant is part of the configuration.
        let mut c = a.clone();
        c["fleet"]["end_is_now"] = false.into();
        let mut d = c.clone();
        d["fleet"]["end"] = "2026-03-01T00:00:00Z".into();
        assert_eq!(resolved_differences(&c, &d), vec!["fleet.end"]);
    }
}

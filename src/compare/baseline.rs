//! A regression-gate baseline: the summaries of k runs of one scenario, so the gate can measure
//! each metric's run-to-run noise instead of assuming it.
//!
//! On disk (docs/ci-gate.md, "Baseline files") a baseline is either a plain `summary.json` (a
//! one-run baseline) or a baseline file:
//!
//! ```json
//! {"format": "esp-bench-baseline", "schema_version": 1, "runs": [<summary.json>, ...]}
//! ```
//!
//! holding the runs' summaries verbatim, oldest first. Every run must be a summary of this
//! bench's schema version, of the same scenario and resolved configuration, and not interrupted.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::model::report::{Summary, FORMAT_NAME, SCHEMA_VERSION};

/// `format` of a baseline file.
pub const BASELINE_FORMAT: &str = "esp-bench-baseline";
/// Version of the baseline file layout.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;
/// Runs `make baseline` records by default.
pub const DEFAULT_BASELINE_RUNS: usize = 3;

/// The runs of a baseline, oldest first (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    runs: Vec<Summary>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    format: String,
    schema_version: u32,
    runs: Vec<serde_json::Value>,
}

fn config_err(msg: String) -> anyhow::Error {
    BenchError::Config(msg).into()
}

impl Baseline {
    /// A one-run baseline.
    pub fn single(run: Summary) -> Self {
        Baseline { runs: vec![run] }
    }

    /// A baseline of these runs, oldest first: at least one, all of one scenario and
    /// configuration, none interrupted (`source` names them in errors).
    pub fn from_runs(runs: Vec<Summary>, source: &str) -> anyhow::Result<Self> {
        if runs.is_empty() {
            return Err(config_err(format!(
                "{source}: a baseline needs at least one run"
            )));
        }
        let b = Baseline { runs };
        b.check_consistent(source)?;
        Ok(b)
    }

    /// The runs, oldest first.
    pub fn runs(&self) -> &[Summary] {
        &self.runs
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The newest run.
    pub fn latest(&self) -> &Summary {
        // Construction guarantees at least one run.
        &self.runs[self.runs.len() - 1]
    }

    /// Read a baseline file or a plain summary.json (a one-run baseline). Errors are
    /// `BenchError::Config` (exit 2) naming the file and, in a baseline file, the run.
    pub fn read(path: &Path) -> anyhow::Result<Baseline> {
        let shown = path.display();
        let value = crate::report::files::read_json_file(path, "baseline")?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(BASELINE_FORMAT) => Self::from_file_value(value, &shown.to_string()),
            // A plain summary: the report reader gives its own precise errors.
            _ => Ok(Baseline::single(crate::report::read_summary(path)?)),
        }
    }

    fn from_file_value(value: serde_json::Value, shown: &str) -> anyhow::Result<Baseline> {
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(BASELINE_SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(config_err(format!(
                    "{shown} has baseline schema_version {v}; this bench reads version \
                     {BASELINE_SCHEMA_VERSION} (re-record it with `make baseline`)"
                )))
            }
            None => {
                return Err(config_err(format!(
                    "{shown} has no numeric `schema_version`"
                )))
            }
        }
        let file: BaselineFile = serde_json::from_value(value)
            .map_err(|e| config_err(format!("{shown} is a malformed esp-bench baseline: {e}")))?;
        if file.runs.is_empty() {
            return Err(config_err(format!(
                "{shown} holds no runs: a baseline needs at least one (`bench baseline add`)"
            )));
        }
        let mut runs = Vec::with_capacity(file.runs.len());
        for (i, v) in file.runs.into_iter().enumerate() {
            runs.push(summary_from_value(v, &format!("{shown}: runs[{i}]"))?);
        }
        Self::from_runs(runs, shown)
    }

    /// Every run of the same scenario and configuration, none interrupted.
    fn check_consistent(&self, shown: &str) -> anyhow::Result<()> {
        let first = &self.runs[0];
        for (i, r) in self.runs.iter().enumerate() {
            if r.interrupted {
                return Err(config_err(format!(
                    "{shown}: runs[{i}] was interrupted: a partial run is no baseline"
                )));
            }
            if i == 0 {
                continue;
            }
            if r.scenario.name != first.scenario.name {
                return Err(config_err(format!(
                    "{shown}: runs[{i}] is of scenario `{}`, runs[0] of `{}`: a baseline holds \
                     runs of one scenario",
                    r.scenario.name, first.scenario.name
                )));
            }
            if r.scenario.fingerprint != first.scenario.fingerprint {
                let diffs = super::consistency::resolved_differences(
                    &first.scenario.resolved,
                    &r.scenario.resolved,
                );
                if !diffs.is_empty() {
                    return Err(config_err(format!(
                        "{shown}: runs[{i}] has another configuration than runs[0] (differs in \
                         {}): a baseline holds runs of one configuration",
                        diffs.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Append `run` (a summary read from `source`), keeping the newest `keep` runs. Refuses an
    /// interrupted run and a run of another scenario or configuration.
    pub fn add(&mut self, run: Summary, source: &str, keep: usize) -> anyhow::Result<()> {
        if run.interrupted {
            return Err(config_err(format!(
                "{source} is an interrupted run: a partial run is no baseline"
            )));
        }
        let first = &self.runs[0];
        if run.scenario.name != first.scenario.name {
            return Err(config_err(format!(
                "{source} is a run of scenario `{}`, the baseline's runs are of `{}`",
                run.scenario.name, first.scenario.name
            )));
        }
        if run.scenario.fingerprint != first.scenario.fingerprint {
            let diffs = super::consistency::resolved_differences(
                &first.scenario.resolved,
                &run.scenario.resolved,
            );
            if !diffs.is_empty() {
                return Err(config_err(format!(
                    "{source} has another configuration than the baseline's runs (differs in \
                     {}); record a new baseline instead",
                    diffs.join(", ")
                )));
            }
        }
        self.runs.push(run);
        self.keep_newest(keep);
        Ok(())
    }

    /// Drop all but the newest `keep` runs (at least one stays).
    pub fn keep_newest(&mut self, keep: usize) {
        let keep = keep.max(1);
        if self.runs.len() > keep {
            let drop = self.runs.len() - keep;
            self.runs.drain(..drop);
        }
    }

    /// The baseline file's JSON.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let file = BaselineFile {
            format: BASELINE_FORMAT.into(),
            schema_version: BASELINE_SCHEMA_VERSION,
            runs: self
                .runs
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?,
        };
        Ok(serde_json::to_string_pretty(&file)? + "\n")
    }

    /// Write the baseline file atomically (a temporary file in the same folder, then rename).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let json = self.to_json()?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the folder of {}", path.display()))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "baseline".into()),
            std::process::id()
        ));
        std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("moving {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }
}

/// A run inside a baseline file: the same checks as `report::read_summary` on a file.
fn summary_from_value(v: serde_json::Value, shown: &str) -> anyhow::Result<Summary> {
    let format = v.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT_NAME) {
        return Err(config_err(format!(
            "{shown} is not an esp-bench summary (expected format \"{FORMAT_NAME}\")"
        )));
    }
    match v.get("schema_version").and_then(|s| s.as_u64()) {
        Some(s) if s == u64::from(SCHEMA_VERSION) => {}
        other => {
            return Err(config_err(format!(
                "{shown} has summary schema_version {}; this bench reads version \
                 {SCHEMA_VERSION} (re-record the baseline)",
                other.map_or("(none)".to_string(), |s| s.to_string())
            )))
        }
    }
    serde_json::from_value(v)
        .map_err(|e| config_err(format!("{shown} is a malformed esp-bench summary: {e}")))
}

//! Real sensor data from CSV files in the 3W layout: a header line, a timestamp column, then
//! one column per sensor; an empty field is a missing value (NULL). A directory is read as one
//! instance per `.csv` file, in name order. Columns named in `exclude` (the 3W event label
//! `class` by default) are skipped. The only I/O of the realism module is here.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime};

use crate::error::BenchError;

/// One instance (file) of real data: samples in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// File stem, used as the well id when the data is loaded.
    pub name: String,
    /// Sample times, Unix microseconds, as written in the file.
    pub ts_us: Vec<i64>,
    /// Values, row-major: `values[row * channels + c]`.
    pub values: Vec<Option<f64>>,
    /// The quantisation unit of each value, read from how it is written (see [`text_unit`]).
    pub units: Vec<f64>,
}

/// Real data: the sensor columns shared by every file, and the instances.
#[derive(Debug, Clone, PartialEq)]
pub struct RealData {
    pub channels: Vec<String>,
    pub instances: Vec<Instance>,
}

impl RealData {
    pub fn rows(&self) -> usize {
        self.instances.iter().map(|i| i.ts_us.len()).sum()
    }

    /// Samples each instance spans, in base intervals (first to last sample, inclusive).
    pub fn instance_samples(&self) -> Vec<u64> {
        let base_us = self.base_interval_s() as i64 * 1_000_000;
        self.instances
            .iter()
            .map(|i| match (i.ts_us.first(), i.ts_us.last()) {
                (Some(a), Some(b)) => ((b - a) / base_us) as u64 + 1,
                _ => 0,
            })
            .collect()
    }

    /// The most common step between consecutive timestamps, in whole seconds (at least 1).
    pub fn base_interval_s(&self) -> u64 {
        let mut counts = std::collections::BTreeMap::<i64, u64>::new();
        for inst in &self.instances {
            for w in inst.ts_us.windows(2) {
                *counts.entry(w[1] - w[0]).or_default() += 1;
            }
        }
        let step_us = counts
            .into_iter()
            .max_by_key(|&(step, n)| (n, -step))
            .map(|(s, _)| s)
            .unwrap_or(1_000_000);
        ((step_us as f64 / 1e6).round() as u64).max(1)
    }
}

/// The unit of the last written digit of a decimal number: "3.278878e+07" -> 10,
/// "96.66139" -> 1e-5, "12" -> 1. Real historians write a fixed number of significant digits,
/// so this is the value's quantisation step.
pub fn text_unit(s: &str) -> f64 {
    let s = s.trim().trim_start_matches(['-', '+']);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let decimals = match mantissa.find('.') {
        Some(i) => (mantissa.len() - i - 1) as i32,
        None => 0,
    };
    10f64.powi(exp - decimals)
}

fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Read one CSV file, or every `.csv` file of a directory (name order). All files must have
/// the same sensor columns. Errors name the file, line and field.
pub fn read(path: &Path, exclude: &[String]) -> anyhow::Result<RealData> {
    let meta = std::fs::metadata(path).map_err(|e| {
        BenchError::Environment(format!("cannot read real data {}: {e}", path.display()))
    })?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| {
                BenchError::Environment(format!("cannot list directory {}: {e}", path.display()))
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(BenchError::Config(format!(
                "directory {} holds no .csv files",
                path.display()
            ))
            .into());
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut channels: Option<Vec<String>> = None;
    let mut instances = Vec::with_capacity(files.len());
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| BenchError::Environment(format!("cannot read {}: {e}", f.display())))?;
        let (cols, inst) = parse_file(&text, f, exclude)?;
        match &channels {
            None => channels = Some(cols),
            Some(c) if *c == cols => {}
            Some(c) => {
                return Err(BenchError::Config(format!(
                    "{}: line 1: sensor columns {cols:?} differ from {c:?} in the first file",
                    f.display()
                ))
                .into())
            }
        }
        instances.push(inst);
    }
    Ok(RealData {
        channels: channels.unwrap_or_default(),
        instances,
    })
}

/// Parse one file's text (`file` is only used in messages and for the instance name).
pub fn parse_file(
    text: &str,
    file: &Path,
    exclude: &[String],
) -> anyhow::Result<(Vec<String>, Instance)> {
    let shown = file.display();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .with_context(|| format!("{shown}: line 1: cannot read the header"))?
        .clone();
    if header.len() < 2 {
        return Err(BenchError::Config(format!(
            "{shown}: line 1: expected a timestamp column and at least one sensor column"
        ))
        .into());
    }
    let keep: Vec<usize> = (1..header.len())
        .filter(|&i| !exclude.iter().any(|x| x == &header[i]))
        .collect();
    let channels: Vec<String> = keep.iter().map(|&i| header[i].to_string()).collect();
    let mut inst = Instance {
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "instance".to_string()),
        ts_us: Vec::new(),
        values: Vec::new(),
        units: Vec::new(),
    };
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            BenchError::Config(format!("{shown}: line {line}: {e}"))
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let ts = parse_ts(&rec[0]).ok_or_else(|| {
            BenchError::Config(format!(
                "{shown}: line {line}, field {}: {:?} is not a timestamp",
                &header[0], &rec[0]
            ))
        })?;
        if let Some(&last) = inst.ts_us.last() {
            if ts <= last {
                return Err(BenchError::Config(format!(
                    "{shown}: line {line}, field {}: timestamps must increase",
                    &header[0]
                ))
                .into());
            }
        }
        inst.ts_us.push(ts);
        for &i in &keep {
            let field = rec[i].trim();
            if field.is_empty() {
                inst.values.push(None);
                inst.units.push(0.0);
                continue;
            }
            let v: f64 = field.parse().map_err(|_| {
                BenchError::Config(format!(
                    "{shown}: line {line}, field {}: {field:?} is not a number",
                    &header[i]
                ))
            })?;
            if !v.is_finite() {
                return Err(BenchError::Config(format!(
                    "{shown}: line {line}, field {}: {field:?} is not a finite number",
                    &header[i]
                ))
                .into());
            }
            inst.values.push(Some(v));
            inst.units.push(text_unit(field));
        }
    }
    Ok((channels, inst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_from_text() {
        assert_eq!(text_unit("3.278878e+07"), 10.0);
        assert!((text_unit("96.66139") - 1e-5).abs() < 1e-18);
        assert_eq!(text_unit("12"), 1.0);
        assert!((text_unit("-1.5E-3") - 1e-4).abs() < 1e-18);
    }

    #[test]
    fn parses_3w_layout_and_names_bad_fields() {
        let text = "timestamp,P-A,T-B,class\n\
                    2018-02-06 18:29:17.000000,3.278878e+07,,0\n\
                    2018-02-06 18:29:18.000000,3.278867e+07,9.6e+01,0\n";
        let (cols, inst) =
            parse_file(text, Path::new("x/2_W_1.csv"), &["class".to_string()]).expect("parses");
        assert_eq!(cols, vec!["P-A", "T-B"]);
        assert_eq!(inst.name, "2_W_1");
        assert_eq!(inst.ts_us[1] - inst.ts_us[0], 1_000_000);
        assert_eq!(
            inst.values,
            vec![Some(3.278878e7), None, Some(3.278867e7), Some(96.0)]
        );
        let bad = "timestamp,P-A\n2018-02-06 18:29:17,abc\n";
        let e = parse_file(bad, Path::new("f.csv"), &[]).expect_err("bad number");
        let msg = format!("{e:#}");
        assert!(
            msg.contains("f.csv") && msg.contains("line 2") && msg.contains("P-A"),
            "{msg}"
        );
        let bad_ts = "timestamp,P-A\nyesterday,1\n";
        let msg = format!(
            "{:#}",
            parse_file(bad_ts, Path::new("g.csv"), &[]).expect_err("ts")
        );
        assert!(msg.contains("g.csv: line 2, field timestamp"), "{msg}");
    }
}

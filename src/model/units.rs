//! Human units for everything a report shows: durations (`7 d`, `4.2 ms`), byte sizes
//! (`1.2 GiB`), counts (`33 chunks`, `12,480`), rates, ratios and percentages, and the
//! target and measured value of a check formatted by the check's kind. The HTML pages, the
//! plot axes, the plan tables and the checks' explanations take their units from here (the
//! report layer re-exports it as `report::units`), so a figure reads the same everywhere.
//! Exact figures stay in summary.json and the CSV files.

use super::report::CheckResult;

/// A decimal with about three significant digits and no trailing zeros: 604800 -> "604800",
/// 12.34 -> "12.3", 1.234 -> "1.23", 0.1234 -> "0.123".
pub fn decimal(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "n/a".into()
        } else if v > 0.0 {
            "∞".into()
        } else {
            "-∞".into()
        };
    }
    let a = v.abs();
    let s = if a >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

pub use crate::format::thousands;

/// A count: whole numbers grouped ("12,480"), fractions as [`decimal`].
pub fn count(v: f64) -> String {
    if v.fract() == 0.0 && (0.0..1e15).contains(&v) {
        thousands(v as u64)
    } else {
        decimal(v)
    }
}

/// A count with its noun: (33, "chunk") -> "33 chunks", (1, "chunk") -> "1 chunk",
/// (2, "query") -> "2 queries".
pub fn count_of(v: f64, noun: &str) -> String {
    if v == 1.0 {
        return format!("1 {noun}");
    }
    let plural = match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ => format!("{noun}s"),
    };
    format!("{} {plural}", count(v))
}

/// SI suffixes for large numbers: 2500 -> "2.5k", 3.2e6 -> "3.2M".
pub fn si(v: f64) -> String {
    let a = v.abs();
    for (scale, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if a >= scale {
            return format!("{}{suffix}", decimal(v / scale));
        }
    }
    decimal(v)
}

/// Milliseconds: 0.42 -> "420 µs", 4.2 -> "4.2 ms", 1234 -> "1.23 s", 90000 -> "1.5 min".
pub fn ms(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        decimal(v)
    } else if v == 0.0 {
        "0 ms".into()
    } else if a < 1.0 {
        format!("{} µs", decimal(v * 1000.0))
    } else if a < 1000.0 {
        format!("{} ms", decimal(v))
    } else {
        secs(v / 1000.0)
    }
}

/// Seconds as a duration in the largest unit that reads well: 604800 -> "7 d",
/// 5400 -> "1.5 h", 90 -> "1.5 min", 4.2 -> "4.2 s", 0.5 -> "500 ms".
pub fn secs(s: f64) -> String {
    const UNITS: [(f64, &str); 4] = [(86_400.0, "d"), (3_600.0, "h"), (60.0, "min"), (1.0, "s")];
    let a = s.abs();
    if !s.is_finite() {
        return decimal(s);
    }
    if s == 0.0 {
        return "0 s".into();
    }
    if a < 1.0 {
        return ms(s * 1000.0);
    }
    for (unit, name) in UNITS {
        if a >= unit {
            return format!("{} {name}", decimal(s / unit));
        }
    }
    format!("{} s", decimal(s))
}

/// Bytes in binary units: 1536 -> "1.5 KiB", 1.3e9 -> "1.21 GiB".
pub fn bytes(v: f64) -> String {
    let a = v.abs();
    for (scale, suffix) in [
        (1024f64.powi(5), "PiB"),
        (1024f64.powi(4), "TiB"),
        (1024f64.powi(3), "GiB"),
        (1024f64.powi(2), "MiB"),
        (1024.0, "KiB"),
    ] {
        if a >= scale {
            return format!("{} {suffix}", decimal(v / scale));
        }
    }
    format!("{} B", decimal(v))
}

/// Database blocks (8 KiB pages): 12480 -> "12,480 blocks (97.5 MiB)".
pub fn blocks(n: u64) -> String {
    if n == 0 {
        return "0 blocks".into();
    }
    format!(
        "{} ({})",
        count_of(n as f64, "block"),
        bytes(n as f64 * 8192.0)
    )
}

/// A percentage already in percent: 12.345 -> "12.3%".
pub fn pct(v: f64) -> String {
    format!("{}%", decimal(v))
}

/// A signed change in percent: 12.3 -> "+12.3%", -4 -> "-4%".
pub fn change_pct(v: f64) -> String {
    if v > 0.0 {
        format!("+{}%", decimal(v))
    } else {
        format!("{}%", decimal(v))
    }
}

/// A fraction as a percentage: 0.0123 -> "1.23%".
pub fn fraction_pct(v: f64) -> String {
    pct(v * 100.0)
}

/// A ratio: 1.5 -> "1.5×".
pub fn ratio(v: f64) -> String {
    format!("{}×", decimal(v))
}

/// A rate with its unit: (44800, "rows/s") -> "44.8k rows/s".
pub fn rate(v: f64, unit: &str) -> String {
    format!("{} {unit}", si(v))
}

/// What a check's figures are, from its kind and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckUnit {
    Millis,
    /// A fraction (error_rate) shown as a percentage.
    Fraction,
    QueriesPerSecond,
    Chunks,
    Ratio,
    /// Already in percent (compression reduction).
    Percent,
    /// A signed change in percent (the regression gate).
    Change,
    Seconds,
    Plain,
}

/// The unit of a check, from its `kind` and the last part of its `name`.
pub fn check_unit(kind: &str, name: &str) -> CheckUnit {
    let last = name.rsplit('.').next().unwrap_or("");
    match kind {
        "latency" if last == "error_rate" => CheckUnit::Fraction,
        "latency" if last == "throughput_qps" => CheckUnit::QueriesPerSecond,
        "latency" => CheckUnit::Millis,
        "pruning" => CheckUnit::Chunks,
        "pruning_speedup" => CheckUnit::Ratio,
        "chunks" if last == "interval_s" => CheckUnit::Seconds,
        "chunks" => CheckUnit::Chunks,
        "compression" => CheckUnit::Percent,
        "gate" => CheckUnit::Change,
        "policies" | "retention" => CheckUnit::Seconds,
        _ => CheckUnit::Plain,
    }
}

/// One value in a check's unit.
pub fn in_unit(unit: CheckUnit, v: f64) -> String {
    match unit {
        CheckUnit::Millis => ms(v),
        CheckUnit::Fraction => fraction_pct(v),
        CheckUnit::QueriesPerSecond => format!("{} q/s", decimal(v)),
        CheckUnit::Chunks => count_of(v, "chunk"),
        CheckUnit::Ratio => ratio(v),
        CheckUnit::Percent => pct(v),
        CheckUnit::Change => change_pct(v),
        CheckUnit::Seconds => secs(v),
        CheckUnit::Plain => decimal(v),
    }
}

/// A check's measured value in human units; its `measured_text` where the checks wrote one
/// for a value that is not a plain number (policies, retention), "-" when nothing was measured.
pub fn check_measured(c: &CheckResult) -> String {
    let unit = check_unit(&c.kind, &c.name);
    match (c.measured, &c.measured_text) {
        (Some(v), _) if c.kind == "retention" => {
            format!("oldest row {} before the cutoff", secs(v))
        }
        (_, Some(t)) if c.kind == "policies" => t.clone(),
        (Some(v), _) => in_unit(unit, v),
        (None, Some(t)) => t.clone(),
        (None, None) => "-".into(),
    }
}

/// A check's target in human units: "<= 50" -> "≤ 50 ms", "in [32, 34]" -> "32 to 34
/// chunks", "== 604800" -> "= 7 d". Targets that are sentences keep their words, with the
/// comparison operators as symbols.
pub fn check_target(c: &CheckResult) -> String {
    let unit = check_unit(&c.kind, &c.name);
    let t = c.target.trim();
    let symbol = |op: &'static str| match op {
        "<=" => "≤",
        ">=" => "≥",
        "==" => "=",
        other => other,
    };
    for op in ["<=", ">=", "==", "<", ">"] {
        if let Some(rest) = t.strip_prefix(op) {
            if let Ok(v) = rest.trim().parse::<f64>() {
                return format!("{} {}", symbol(op), in_unit(unit, v));
            }
        }
    }
    if let Some(inner) = t.strip_prefix("in [").and_then(|r| r.strip_suffix(']')) {
        if let Some((a, b)) = inner.split_once(',') {
            if let (Ok(a), Ok(b)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                return match unit {
                    CheckUnit::Chunks => format!("{} to {}", count(a), count_of(b, "chunk")),
                    _ => format!("{} to {}", in_unit(unit, a), in_unit(unit, b)),
                };
            }
        }
    }
    t.replace("<=", "≤").replace(">=", "≥").replace("==", "=")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::CheckStatus;

    #[test]
    fn plain_numbers() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0001, "0"),
            (604_800.0, "604800"),
            (33.0, "33"),
            (12.34, "12.3"),
            (1.234, "1.23"),
            (0.1234, "0.123"),
            (2.5, "2.5"),
            (f64::INFINITY, "∞"),
            (f64::NAN, "n/a"),
        ];
        for (v, want) in cases {
            assert_eq!(decimal(*v), *want, "decimal({v})");
        }
        assert_eq!(thousands(1_728_000), "1,728,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(count(12_480.0), "12,480");
        assert_eq!(count(2.5), "2.5");
        assert_eq!(si(2500.0), "2.5k");
        assert_eq!(si(3_200_000.0), "3.2M");
    }

    #[test]
    fn durations() {
        let cases: &[(f64, &str)] = &[
            (604_800.0, "7 d"),
            (86_400.0, "1 d"),
            (2_592_000.0, "30 d"),
            (43_200.0, "12 h"),
            (5_400.0, "1.5 h"),
            (90.0, "1.5 min"),
            (120.0, "2 min"),
            (4.2, "4.2 s"),
            (0.5, "500 ms"),
            (0.0, "0 s"),
        ];
        for (v, want) in cases {
            assert_eq!(secs(*v), *want, "secs({v})");
        }
        let cases: &[(f64, &str)] = &[
            (4.2, "4.2 ms"),
            (0.42, "420 µs"),
            (120.0, "120 ms"),
            (1234.0, "1.23 s"),
            (90_000.0, "1.5 min"),
            (0.0, "0 ms"),
        ];
        for (v, want) in cases {
            assert_eq!(ms(*v), *want, "ms({v})");
        }
    }

    #[test]
    fn sizes_rates_ratios() {
        let cases: &[(f64, &str)] = &[
            (512.0, "512 B"),
            (1536.0, "1.5 KiB"),
            (1.2 * 1024f64.powi(3), "1.2 GiB"),
            (3.0 * 1024f64.powi(3), "3 GiB"),
        ];
        for (v, want) in cases {
            assert_eq!(bytes(*v), *want, "bytes({v})");
        }
        assert_eq!(blocks(12_480), "12,480 blocks (97.5 MiB)");
        assert_eq!(blocks(1), "1 block (8 KiB)");
        assert_eq!(count_of(33.0, "chunk"), "33 chunks");
        assert_eq!(count_of(1.0, "chunk"), "1 chunk");
        assert_eq!(count_of(1200.0, "query"), "1,200 queries");
        assert_eq!(count_of(2.0, "day"), "2 days");
        assert_eq!(pct(90.04), "90%");
        assert_eq!(fraction_pct(0.0123), "1.23%");
        assert_eq!(change_pct(12.3), "+12.3%");
        assert_eq!(change_pct(-4.0), "-4%");
        assert_eq!(ratio(1.5), "1.5×");
        assert_eq!(rate(44_800.0, "rows/s"), "44.8k rows/s");
    }

    fn check(kind: &str, name: &str, target: &str, measured: Option<f64>) -> CheckResult {
        CheckResult {
            name: name.into(),
            kind: kind.into(),
            target: target.into(),
            measured,
            measured_text: None,
            status: CheckStatus::Fail,
            note: None,
        }
    }

    #[test]
    fn checks_read_in_their_units() {
        // (kind, name, target, measured) -> (target shown, measured shown)
        type Case<'a> = (&'a str, &'a str, &'a str, Option<f64>, &'a str, &'a str);
        let cases: &[Case] = &[
            (
                "latency",
                "latency.agg_7d_fleet.p95_ms",
                "<= 50",
                Some(120.4),
                "≤ 50 ms",
                "120 ms",
            ),
            (
                "latency",
                "latency.q.error_rate",
                "<= 0.01",
                Some(0.002),
                "≤ 1%",
                "0.2%",
            ),
            (
                "latency",
                "latency.q.throughput_qps",
                ">= 100",
                Some(97.5),
                "≥ 100 q/s",
                "97.5 q/s",
            ),
            (
                "pruning",
                "pruning.latest_24h.chunks_scanned",
                "<= 3",
                Some(33.0),
                "≤ 3 chunks",
                "33 chunks",
            ),
            (
                "pruning_speedup",
                "pruning_speedup.latest_24h",
                ">= 10",
                Some(1.5),
                "≥ 10×",
                "1.5×",
            ),
            (
                "chunks",
                "chunks.esp_telemetry.count",
                "in [32, 34]",
                Some(33.0),
                "32 to 34 chunks",
                "33 chunks",
            ),
            (
                "chunks",
                "chunks.esp_telemetry.interval_s",
                "== 604800",
                Some(604_800.0),
                "= 7 d",
                "7 d",
            ),
            (
                "compression",
                "compression.esp_telemetry.reduction_pct",
                ">= 90",
                Some(87.26),
                "≥ 90%",
                "87.3%",
            ),
            (
                "gate",
                "gate.regression",
                "<= 10% slower (alpha 0.05, 1 baseline run, default noise)",
                Some(12.34),
                "≤ 10% slower (alpha 0.05, 1 baseline run, default noise)",
                "+12.3%",
            ),
            (
                "policies",
                "policies.esp_telemetry.compression",
                "compress_after == 7 d",
                Some(604_800.0),
                "compress_after = 7 d",
                "7 d",
            ),
            ("latency", "latency.q.p95_ms", "<= 50", None, "≤ 50 ms", "-"),
        ];
        for (kind, name, target, measured, want_t, want_m) in cases {
            let c = check(kind, name, target, *measured);
            assert_eq!(check_target(&c), *want_t, "target of {name}");
            assert_eq!(check_measured(&c), *want_m, "measured of {name}");
        }
        let mut c = check(
            "retention",
            "retention.t",
            "no chunk before data end - 30 d",
            Some(38_400.0),
        );
        c.measured_text = Some("oldest row 38400 s before the cutoff".into());
        assert_eq!(check_measured(&c), "oldest row 10.7 h before the cutoff");
        // A policy's own text wins over its number.
        let mut c = check(
            "policies",
            "policies.t.retention",
            "drop_after == 30 d",
            Some(604_800.0),
        );
        c.measured_text = Some("drop_after = 7 d (job 1001)".into());
        assert_eq!(check_measured(&c), "drop_after = 7 d (job 1001)");
    }
}

//! Parsers for the plan's command-line quantities: durations ("10s", "30d") and byte sizes
//! ("64GiB", "512MB"), and the labels printed for them.

use std::time::Duration;

/// Parse a positive duration such as "10s", "1h", "30d" or "1d 12h" (humantime syntax).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (examples: 10s, 1h, 30d)"))?;
    if d.is_zero() {
        return Err(format!("invalid duration {s:?}: must be greater than zero"));
    }
    Ok(d)
}

/// Parse a byte size: a number with an optional unit. Binary units (KiB, MiB, GiB, TiB) are
/// powers of 1024, decimal units (kB, MB, GB, TB) powers of 1000, and a bare number is bytes.
/// Units are case-insensitive.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number and a unit, e.g. 64GiB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024f64.powi(2),
        "gib" | "g" => 1024f64.powi(3),
        "tib" | "t" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {other:?} \
                 (use B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)"
            ))
        }
    };
    let bytes = (value * mult).round();
    if bytes.is_nan() || bytes < 1.0 || bytes >= u64::MAX as f64 {
        return Err(format!("invalid size {s:?}: must be at least 1 byte"));
    }
    Ok(bytes as u64)
}

pub use crate::format::duration_label;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").unwrap_err().contains("\"ten\""));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64GiB").unwrap(), 64 * 1024 * 1024 * 1024);
        assert_eq!(parse_bytes("512MB").unwrap(), 512_000_000);
        assert_eq!(parse_bytes("1.5kib").unwrap(), 1536);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("GiB").is_err());
    }

    #[test]
    fn labels() {
        assert_eq!(duration_label(86_400), "1d");
        assert_eq!(duration_label(7 * 86_400), "7d");
        assert_eq!(duration_label(6 * 3_600), "6h");
        assert_eq!(duration_label(90), "90s");
    }
}

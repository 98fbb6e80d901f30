//! The validation context (file and text, for errors that point at the value) and the
//! checks every table uses: integers, floats, durations, names, and their messages.

use super::*;

pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    pub src: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(
        &self,
        span: &Range<usize>,
        field: &str,
        msg: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::at(
            ErrorKind::Invalid,
            self.file,
            self.src,
            span.start,
            field,
            msg,
        )
    }

    /// Position of a table or value by dotted path (`mix`, `queries[1].params`), for errors
    /// about something missing from it; the start of the file when it cannot be found.
    pub(super) fn locate(&self, path: &str) -> Range<usize> {
        span_of_path(self.src, path).unwrap_or(0..0)
    }

    pub(super) fn int(
        &self,
        v: &Option<S<i64>>,
        field: &str,
        default: i64,
        min: i64,
        max: i64,
    ) -> R<i64> {
        let Some(v) = v else { return Ok(default) };
        let n = *v.get_ref();
        if n < min || n > max {
            return Err(self.err(&v.span(), field, range_msg(n, min, max)));
        }
        Ok(n)
    }

    pub(super) fn u32(
        &self,
        v: &Option<S<i64>>,
        field: &str,
        default: u32,
        min: u32,
        max: u32,
    ) -> R<u32> {
        // The bounds are u32, so the checked value converts without loss.
        let n = self.int(v, field, default.into(), min.into(), max.into())?;
        Ok(u32::try_from(n).unwrap_or(max))
    }

    /// A finite float in `[min, max]` (or `(min, max]` when `min_exclusive`).
    pub(super) fn float(
        &self,
        v: &S<f64>,
        field: &str,
        min: f64,
        max: f64,
        min_exclusive: bool,
    ) -> R<f64> {
        let x = *v.get_ref();
        let low_ok = if min_exclusive { x > min } else { x >= min };
        if !x.is_finite() || !low_ok || x > max {
            let low = if min_exclusive {
                format!("greater than {min}")
            } else {
                format!("at least {min}")
            };
            return Err(self.err(
                &v.span(),
                field,
                format!("must be {low} and at most {max}, got {x}"),
            ));
        }
        Ok(x)
    }

    pub(super) fn opt_float(
        &self,
        v: &Option<S<f64>>,
        field: &str,
        default: f64,
        min: f64,
        max: f64,
    ) -> R<f64> {
        match v {
            None => Ok(default),
            Some(v) => self.float(v, field, min, max, false),
        }
    }

    pub(super) fn probability(&self, v: &Option<S<f64>>, field: &str, default: f64) -> R<f64> {
        self.opt_float(v, field, default, 0.0, 1.0)
    }

    /// A duration written as a string such as "10s", "5m", "32d" or "1h 30m".
    pub(super) fn duration(
        &self,
        v: &S<toml::Value>,
        field: &str,
        min: Duration,
        max: Duration,
    ) -> R<Duration> {
        let toml::Value::String(s) = v.get_ref() else {
            return Err(self.err(
                &v.span(),
                field,
                format!(
                    "expected a duration string such as \"10s\", \"5m\" or \"32d\", got {}",
                    type_name(v.get_ref())
                ),
            ));
        };
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            self.err(
                &v.span(),
                field,
                format!("invalid duration \"{s}\": {e} (use e.g. \"10s\", \"5m\", \"32d\")"),
            )
        })?;
        if d < min || d > max {
            return Err(self.err(
                &v.span(),
                field,
                format!(
                    "must be between {} and {}, got {}",
                    fmt_d(min),
                    fmt_d(max),
                    fmt_d(d)
                ),
            ));
        }
        Ok(d)
    }

    pub(super) fn opt_duration(
        &self,
        v: &Option<S<toml::Value>>,
        field: &str,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> R<Duration> {
        match v {
            None => Ok(default),
            Some(v) => self.duration(v, field, min, max),
        }
    }

    /// A percentage written as a number (10) or a string ("10%").
    pub(super) fn percent(
        &self,
        v: &S<toml::Value>,
        field: &str,
        min_excl: f64,
        max: f64,
        max_excl: bool,
    ) -> R<f64> {
        let x = match v.get_ref() {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            toml::Value::String(s) => {
                let t = s.trim();
                let t = t.strip_suffix('%').unwrap_or(t).trim();
                t.parse::<f64>().map_err(|_| {
                    self.err(
                        &v.span(),
                        field,
                        format!("expected a percentage such as 10 or \"10%\", got \"{s}\""),
                    )
                })?
            }
            other => {
                return Err(self.err(
                    &v.span(),
                    field,
                    format!(
                        "expected a percentage such as 10 or \"10%\", got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let high_ok = if max_excl { x < max } else { x <= max };
        if !x.is_finite() || x <= min_excl || !high_ok {
            let high = if max_excl {
                format!("less than {max}")
            } else {
                format!("at most {max}")
            };
            return Err(self.err(
                &v.span(),
                field,
                format!("must be greater than {min_excl}% and {high}%, got {x}%"),
            ));
        }
        Ok(x)
    }
}

pub(super) fn range_msg(n: i64, min: i64, max: i64) -> String {
    if n < min && min == 1 {
        format!("must be at least 1 (and at most {max}), got {n}")
    } else {
        format!("must be between {min} and {max}, got {n}")
    }
}

pub(super) fn fmt_d(d: Duration) -> String {
    if d.is_zero() {
        "0s".to_string()
    } else {
        humantime::format_duration(d).to_string()
    }
}

pub(super) fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a datetime",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// Names used in report file names: ASCII letters, digits, `_`, `-`, `.`.
pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

pub(super) fn whole_seconds(d: Duration) -> bool {
    d.subsec_nanos() == 0
}

pub(super) fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn metric_names() -> Vec<&'static str> {
    Metric::ALL.iter().map(|m| m.name()).collect()
}

pub(super) fn unknown_metric_msg(name: &str) -> String {
    let mut msg = format!(
        "unknown metric `{name}`, expected one of {}",
        list(&metric_names())
    );
    let guess = format!("{name}_ms");
    if Metric::from_name(&guess).is_some() {
        msg.push_str(&format!(" (did you mean `{guess}`?)"));
    }
    msg
}

//! One home for how bench prints things: numbers, durations, and text that may carry a
//! password. Every writer (console, CSV, check details, JUnit, capacity tables) uses these,
//! so the same value reads the same everywhere.

/// A number as the shortest readable text, at most 3 decimals: 10 -> "10", 0.5 -> "0.5",
/// 1/3 -> "0.333". Check details, console tables and capacity figures use it.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// Seconds as a short duration: 86400 -> "1 d", 3600 -> "1 h", 90 -> "90 s".
pub fn fmt_secs(s: f64) -> String {
    let d = 86_400.0;
    if s != 0.0 && (s / d).fract() == 0.0 {
        format!("{} d", fmt_num(s / d))
    } else if s != 0.0 && (s / 3600.0).fract() == 0.0 {
        format!("{} h", fmt_num(s / 3600.0))
    } else {
        format!("{} s", fmt_num(s))
    }
}

/// A number in its shortest round-trip form, every digit kept: 10 -> "10", 2.5 -> "2.5",
/// 1/3 -> "0.3333333333333333". The comparison report prints measured values this way.
pub fn fmt_exact(v: f64) -> String {
    format!("{v}")
}

/// A compact label for a whole number of seconds: "7d", "12h", "90s".
pub fn duration_label(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    for (unit, name) in [(86_400, "d"), (3_600, "h"), (60, "m")] {
        if secs.is_multiple_of(unit) {
            return format!("{}{name}", secs / unit);
        }
    }
    format!("{secs}s")
}

/// Replace any password in a connection URL or key=value connection string inside `text`
/// with `***`. Used on every message that may carry a URL.
pub fn redact(text: &str) -> String {
    // postgres://user:secret@host -> postgres://user:***@host
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority_end = tail[..end].find('/').unwrap_or(end);
        let auth = &tail[..authority_end];
        if let Some(at) = auth.rfind('@') {
            let userinfo = &auth[..at];
            if let Some(colon) = userinfo.find(':') {
                out.push_str(&userinfo[..colon]);
                out.push_str(":***");
                out.push_str(&tail[at..end]);
            } else {
                out.push_str(&tail[..end]);
            }
        } else {
            out.push_str(&tail[..end]);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    // password=secret in key/value strings and URL query parameters (?password=...), with
    // or without quotes, any case.
    redact_password_params(&out)
}

fn redact_password_params(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find(KEY) {
        let key_start = i + found;
        let value_start = key_start + KEY.len();
        out.push_str(&text[i..value_start]);
        let rest = &text[value_start..];
        let value_len = match rest.chars().next() {
            Some(q @ ('\'' | '"')) => {
                // Quoted value: up to the closing quote (backslash escapes allowed).
                let mut len = q.len_utf8();
                let mut escaped = false;
                for c in rest[len..].chars() {
                    len += c.len_utf8();
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == q {
                        break;
                    }
                }
                len
            }
            _ => rest
                .find(|c: char| {
                    c.is_whitespace() || matches!(c, '&' | '"' | '\'' | ',' | ';' | ')')
                })
                .unwrap_or(rest.len()),
        };
        out.push_str("***");
        i = value_start + value_len;
    }
    out.push_str(&text[i..]);
    out
}

/// Text for XML element content and attribute values (JUnit): markup escaped, and the
/// control characters XML 1.0 cannot carry replaced by `?`. (The HTML report has its own
/// escaping in its templates.)
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A query name as a file name: characters other than ASCII letters, digits, `_`, `-` and `.`
/// become `_` (scenario validation already restricts names; this is a second guard).
pub fn file_stem(query: &str) -> String {
    let s: String = query
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// A whole number with thousands separators: 1728000 -> "1,728,000".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations() {
        assert_eq!(fmt_num(10.0), "10");
        assert_eq!(fmt_num(1.0 / 3.0), "0.333");
        assert_eq!(fmt_exact(2.5), "2.5");
        assert_eq!(fmt_secs(86_400.0), "1 d");
        assert_eq!(fmt_secs(7_200.0), "2 h");
        assert_eq!(fmt_secs(90.0), "90 s");
    }

    #[test]
    fn redacts_url_password() {
        assert_eq!(
            redact("failed postgres://u:s3cret@127.0.0.1:5432/db here"),
            "failed postgres://u:***@127.0.0.1:5432/db here"
        );
        assert_eq!(
            redact("host=x password=hunter2 user=y"),
            "host=x password=*** user=y"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://u@h/db?sslmode=disable&password=abc&x=1"),
            "postgres://u@h/db?sslmode=disable&password=***&x=1"
        );
        assert_eq!(
            redact("host=h PASSWORD='a b\\'c' user=u"),
            "host=h PASSWORD=*** user=u"
        );
        assert_eq!(redact("password="), "password=***");
        assert_eq!(redact("no secrets here"), "no secrets here");
    }
}

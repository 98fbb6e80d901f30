//! schema.sql as statements: split, classified (community-only or not) and described for
//! the report.

use super::*;

/// One statement of schema.sql.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sql: String,
    /// Preceded by `-- requires: community`.
    pub community_only: bool,
    /// 1-based line where the statement starts in schema.sql.
    pub line: usize,
}

impl Statement {
    /// A short human description, e.g. "compression policy on esp_telemetry (7 days)".
    pub fn summary(&self) -> String {
        describe(&self.sql)
    }
}

/// Split schema.sql into statements: a statement ends with a line ending in `;`; comment lines
/// are dropped, and `-- requires: community` tags the next statement.
pub fn parse(sql: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut community = false;
    for (i, line) in sql.lines().enumerate() {
        let t = line.trim();
        if cur.is_empty() {
            if t.is_empty() {
                continue;
            }
            if t.starts_with("--") {
                if t.eq_ignore_ascii_case(COMMUNITY_ONLY_MARK) {
                    community = true;
                }
                continue;
            }
            start = i + 1;
        } else if t.starts_with("--") {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            out.push(Statement {
                sql: cur.trim().trim_end_matches(';').trim().to_string(),
                community_only: community,
                line: start,
            });
            cur.clear();
            community = false;
        }
    }
    if !cur.trim().is_empty() {
        out.push(Statement {
            sql: cur.trim().to_string(),
            community_only: community,
            line: start,
        });
    }
    out
}

/// The statements of the embedded schema.sql.
pub fn statements() -> Vec<Statement> {
    parse(SCHEMA_SQL)
}

pub(super) fn words(sql: &str) -> Vec<String> {
    sql.split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ')')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('\'').to_string())
        .collect()
}

/// Text between `INTERVAL '` and the next quote.
pub(super) fn interval_of(sql: &str) -> Option<String> {
    let i = sql.find("INTERVAL '")? + "INTERVAL '".len();
    let rest = &sql[i..];
    Some(rest[..rest.find('\'')?].to_string())
}

pub(super) fn describe(sql: &str) -> String {
    let w = words(sql);
    let upper: Vec<String> = w.iter().map(|s| s.to_ascii_uppercase()).collect();
    let at = |i: usize| w.get(i).cloned().unwrap_or_default();
    let iv = interval_of(sql).unwrap_or_default();
    if upper.starts_with(&["CREATE".into(), "TABLE".into()]) {
        return format!("table {}", at(5));
    }
    if upper.starts_with(&["CREATE".into(), "INDEX".into()]) {
        return format!("index {} on {}", at(5), at(7));
    }
    if upper.starts_with(&["ALTER".into(), "TABLE".into()]) && sql.contains("timescaledb.compress")
    {
        return format!("compression settings on {}", at(2));
    }
    for (f, what) in [
        ("create_hypertable", "hypertable"),
        ("add_compression_policy", "compression policy on"),
        ("add_columnstore_policy", "compression policy on"),
        ("add_retention_policy", "retention policy on"),
    ] {
        if let Some(pos) = w.iter().position(|x| x == f) {
            let table = at(pos + 1);
            return if f == "create_hypertable" {
                format!("hypertable {table} ({iv} chunks)")
            } else {
                format!("{what} {table} (after {iv})")
            };
        }
    }
    let one_line = w.join(" ");
    one_line.chars().take(80).collect()
}

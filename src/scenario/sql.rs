//! Find the `$n` parameter placeholders of a custom query, skipping string literals, quoted
//! identifiers, dollar-quoted strings and comments, so the scenario can check that it gives
//! exactly one parameter generator per placeholder.

use std::collections::BTreeSet;

/// Why a query's placeholders cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SqlScanError {
    /// `$0` or a number PostgreSQL does not accept (1..=65535).
    BadPlaceholder(String),
    /// A string, quoted identifier or comment is never closed.
    Unterminated(&'static str),
}

/// The distinct placeholder numbers used in `sql`.
pub(crate) fn placeholders(sql: &str) -> Result<BTreeSet<u32>, SqlScanError> {
    let b = sql.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' => {
                // E'...' strings take backslash escapes.
                let escapes = i > 0 && matches!(b[i - 1], b'e' | b'E') && !ident_before(b, i - 1);
                i = skip_quoted(b, i + 1, b'\'', escapes)
                    .ok_or(SqlScanError::Unterminated("string literal"))?;
            }
            b'"' => {
                i = skip_quoted(b, i + 1, b'"', false)
                    .ok_or(SqlScanError::Unterminated("quoted identifier"))?;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest in PostgreSQL.
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    if i + 1 >= b.len() {
                        return Err(SqlScanError::Unterminated("block comment"));
                    }
                    if b[i] == b'/' && b[i + 1] == b'*' {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b[i + 1] == b'/' {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' if !ident_before(b, i) => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j > start {
                    let digits = &sql[start..j];
                    match digits.parse::<u32>() {
                        Ok(n) if (1..=65535).contains(&n) => {
                            found.insert(n);
                        }
                        _ => return Err(SqlScanError::BadPlaceholder(format!("${digits}"))),
                    }
                    i = j;
                    continue;
                }
                // Dollar-quoted string: $tag$ ... $tag$ (tag may be empty).
                let mut k = start;
                while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] >= 0x80)
                {
                    k += 1;
                }
                if k < b.len() && b[k] == b'$' {
                    let tag = &sql[i..=k];
                    let body = k + 1;
                    match sql[body..].find(tag) {
                        Some(end) => i = body + end + tag.len(),
                        None => return Err(SqlScanError::Unterminated("dollar-quoted string")),
                    }
                    continue;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(found)
}

/// True when the byte before `i` continues an identifier (so `a$1` is not a placeholder).
fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0
        && (b[i - 1].is_ascii_alphanumeric()
            || b[i - 1] == b'_'
            || b[i - 1] == b'$'
            || b[i - 1] >= 0x80)
}

/// Index just past the closing quote, treating a doubled quote as an escaped one.
fn skip_quoted(b: &[u8], mut i: usize, quote: u8, backslash: bool) -> Option<usize> {
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u32]) -> BTreeSet<u32> {
        v.iter().copied().collect()
    }

    #[test]
    fn finds_placeholders() {
        assert_eq!(
            placeholders("select $1, $2::int, $1").unwrap(),
            set(&[1, 2])
        );
        assert_eq!(placeholders("select 1").unwrap(), set(&[]));
    }

    #[test]
    fn skips_literals_comments_and_dollar_quotes() {
        let sql = "select '$1', \"$2\", $$ $3 $$, $f$ $4 $f$, E'\\' $5', x$6 -- $7\n /* $8 /* $9 */ */ $10";
        assert_eq!(placeholders(sql).unwrap(), set(&[10]));
    }

    #[test]
    fn rejects_bad_numbers_and_unterminated() {
        assert!(matches!(
            placeholders("select $0"),
            Err(SqlScanError::BadPlaceholder(_))
        ));
        assert!(matches!(
            placeholders("select $99999999999"),
            Err(SqlScanError::BadPlaceholder(_))
        ));
        assert!(matches!(
            placeholders("select 'abc"),
            Err(SqlScanError::Unterminated(_))
        ));
        assert!(matches!(
            placeholders("select /* x"),
            Err(SqlScanError::Unterminated(_))
        ));
        assert!(matches!(
            placeholders("select $a$ x"),
            Err(SqlScanError::Unterminated(_))
        ));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "$",
            "'",
            "E'\\",
            "/*",
            "-",
            "$$",
            "é$1",
            "$é$x$é$",
            "\"\"\"",
            "*/",
        ] {
            let _ = placeholders(s);
        }
    }
}

/// Words that would let a custom query leave the read-only transactions of the query phase
/// (`default_transaction_read_only = on` is a session setting a query could change, and
/// dblink or pg_background write through another session).
const READ_ONLY_ESCAPES: [&str; 6] = [
    "set_config",
    "default_transaction_read_only",
    "transaction_read_only",
    "dblink",
    "pg_background",
    "session_authorization",
];

/// Statements that change the session or the transaction rather than read data.
const SESSION_STATEMENTS: [&str; 12] = [
    "set",
    "reset",
    "begin",
    "start",
    "commit",
    "end",
    "rollback",
    "abort",
    "savepoint",
    "release",
    "prepare",
    "discard",
];

/// The first word of `sql` (or a word anywhere in it, strings and comments included) that
/// could switch off the query phase's read-only protection, if any. Conservative on purpose:
/// the server's read-only transactions are the real guard, and this keeps a query from
/// turning them off for the queries after it.
pub(crate) fn read_only_escape(sql: &str) -> Option<&'static str> {
    let lower = sql.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    if let Some(first) = first_keyword(&lower) {
        if let Some(s) = SESSION_STATEMENTS.iter().find(|s| **s == first) {
            return Some(s);
        }
    }
    READ_ONLY_ESCAPES
        .iter()
        .find(|e| words.iter().any(|w| w == *e))
        .copied()
}

/// The first word of the statement, after white space and comments.
fn first_keyword(lower: &str) -> Option<&str> {
    let mut rest = lower;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod read_only_tests {
    use super::read_only_escape;

    #[test]
    fn reads_pass_and_escapes_are_named() {
        assert_eq!(read_only_escape("SELECT count(*) FROM esp_telemetry"), None);
        assert_eq!(
            read_only_escape("WITH x AS (SELECT 1) SELECT * FROM x -- settings"),
            None
        );
        assert_eq!(
            read_only_escape("select set_config('default_transaction_read_only', 'off', false)"),
            Some("set_config")
        );
        assert_eq!(
            read_only_escape("  /* c */ SET default_transaction_read_only = off"),
            Some("set")
        );
        assert_eq!(read_only_escape("COMMIT"), Some("commit"));
        assert_eq!(
            read_only_escape("SELECT * FROM dblink('x', 'DELETE FROM t')"),
            Some("dblink")
        );
        // A column merely named like a keyword is fine.
        assert_eq!(read_only_escape("SELECT settings FROM t"), None);
    }
}

//! The only module that talks to PostgreSQL: connecting, server detection, schema, COPY and
//! catalog queries.

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
    // password=secret in key/value strings
    let mut result = String::with_capacity(out.len());
    let mut words = out.split_inclusive(char::is_whitespace).peekable();
    while let Some(w) = words.next() {
        if let Some(stripped) = w.strip_prefix("password=") {
            let ws: String = stripped.chars().filter(|c| c.is_whitespace()).collect();
            result.push_str("password=***");
            result.push_str(&ws);
        } else {
            result.push_str(w);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_url_password() {
        assert_eq!(
            redact("failed postgres://u:s3cret@127.0.0.1:5432/db here"),
            "failed postgres://u:***@127.0.0.1:5432/db here"
        );
        assert_eq!(redact("host=x password=hunter2 user=y"), "host=x password=*** user=y");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}

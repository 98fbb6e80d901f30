//! The rules for server settings that a scenario's `[server.settings]` and `--pg-setting`
//! share: what a setting name looks like, and which settings the embedded server manages
//! itself (so neither may set them).

/// Settings the embedded server manages itself: its address, sockets and files.
pub const MANAGED_SETTINGS: [&str; 8] = [
    "port",
    "listen_addresses",
    "unix_socket_directories",
    "data_directory",
    "config_file",
    "hba_file",
    "ident_file",
    "external_pid_file",
];

/// Whether `name` (any case) is one of [`MANAGED_SETTINGS`].
pub fn is_managed(name: &str) -> bool {
    MANAGED_SETTINGS.contains(&name.to_ascii_lowercase().as_str())
}

/// A PostgreSQL parameter (GUC) name: at most 63 bytes (NAMEDATALEN - 1), one or more
/// `.`-separated parts, each starting with a letter or `_` and going on with letters, digits
/// or `_` (`shared_buffers`, `timescaledb.max_background_workers`).
pub fn is_setting_name(s: &str) -> bool {
    s.len() <= 63
        && s.split('.').all(|part| {
            let mut cs = part.chars();
            matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_names() {
        for ok in [
            "work_mem",
            "timescaledb.max_background_workers",
            "_x",
            "a.b.c",
        ] {
            assert!(is_setting_name(ok), "{ok}");
        }
        for bad in ["", "bad name", "1x", "a..b", "a.1b", "x;y", &"a".repeat(64)] {
            assert!(!is_setting_name(bad), "{bad}");
        }
        assert!(is_managed("PORT"));
        assert!(is_managed("config_file"));
        assert!(!is_managed("work_mem"));
    }
}

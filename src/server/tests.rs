use super::*;

#[test]
fn start_failures_name_the_fix() {
    let e = classify_start_failure(
        "exit status: 1",
        "FATAL:  could not access file \"timescaledb\": No such file or directory\n",
    );
    let msg = format!("{e:#}");
    assert!(
        msg.contains("make setup") && msg.contains("--database-url"),
        "{msg}"
    );
    assert!(matches!(
        e.downcast_ref::<BenchError>(),
        Some(BenchError::Environment(_))
    ));
    let e = classify_start_failure("exit status: 1", "LOG: could not bind IPv4 address");
    assert!(proc::is_port_conflict(&e));
}

#[test]
fn missing_binaries_are_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = find_bin_dir(Some(dir.path())).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("make setup") && msg.contains("docker compose up -d"),
        "{msg}"
    );
    assert!(matches!(
        e.downcast_ref::<BenchError>(),
        Some(BenchError::Environment(_))
    ));
}

#[test]
fn tail_keeps_the_last_lines() {
    assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
    assert_eq!(tail_lines("", 3), "");
}
